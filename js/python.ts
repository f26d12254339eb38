/**
 * `python`: the interpreter of this process. It starts on first use (or `python.start()`),
 * after discovery picked which Python to load.
 */
import { AsyncQueue, type AsyncQueueOptions, bindAsync, evalAsync, TaskGroup, type TaskGroupOptions } from './async'
import { type FoundPython, findPython } from './discovery'
import { InterpreterError, InvalidArgumentError, makeError } from './errors'
import { loadNative, type Native, type NativeStats } from './native'
import { bindNative, HANDLE, PyObject, TOKEN } from './object'

/** Options for {@link python.configure}. */
export interface PythonOptions {
  /** Path of the python executable to embed (a virtualenv's `bin/python` works). */
  executable?: string
  /**
   * How many asyncio event loops run coroutines (each on its own thread; default 1). Calls are
   * spread over them round-robin; objects bound to a loop (an asyncQueue) stay on theirs.
   * Like `executable`, it must be set before Python is first used.
   */
  loops?: number
}

/** Which Python is running. */
export interface PythonInfo {
  /** e.g. `'3.11.7'`. */
  version: string
  versionInfo: [number, number, number]
  /** `sys.executable`. */
  executable: string
  /** `sys.prefix` (the virtualenv, if one is used). */
  prefix: string
  /** `sys.base_prefix`. */
  basePrefix: string
  /** Whether a virtualenv is in use (`prefix !== basePrefix`). */
  venv: boolean
  /** The shared libpython that was loaded. */
  libpython: string
  /** How the Python was found: `option`, `PYNODE_PYTHON`, `VIRTUAL_ENV`, `CONDA_PREFIX`, `.venv`, `uv` or `PATH`. */
  source: FoundPython['source']
}

let options: PythonOptions = {}
let native: Native | undefined
let info: PythonInfo | undefined
let builtinsHandle: PyObject | undefined

function mustBeString(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') throw new InvalidArgumentError(`${what} must be a string, got ${value === null ? 'null' : typeof value}`)
}

function start(): Native {
  if (native) return native
  const found = findPython(options)
  const n = loadNative(found.libpython)
  n.setup({
    PyObject,
    token: TOKEN,
    makeError,
    handle: HANDLE,
    Map,
    Set,
    objectPrototype: Object.prototype,
    entries: (m: Iterable<unknown>) => Array.from(m),
    newMap: (entries: [unknown, unknown][]) => new Map(entries),
    newSet: (values: unknown[]) => new Set(values),
    setImmediate,
  })
  const started = n.start(found.programName)
  bindNative(n)
  native = n
  info = {
    ...started,
    venv: started.prefix !== started.basePrefix,
    libpython: started.libpython ?? found.libpython,
    source: found.source,
  }
  return n
}

/** The embedded Python interpreter. */
export const python = {
  /**
   * Chooses the Python to embed. Only before first use: one interpreter serves the process.
   * @example python.configure({ executable: '/path/to/venv/bin/python' })
   */
  configure(opts: PythonOptions): void {
    if (native)
      throw new InterpreterError(
        `Python ${info?.version} is already running from ${info?.executable}; configure() must come before first use`,
      )
    if (opts.executable !== undefined) mustBeString(opts.executable, 'executable')
    if (opts.loops !== undefined && (!Number.isInteger(opts.loops) || opts.loops < 1 || opts.loops > 64)) {
      throw new InvalidArgumentError(`loops must be an integer from 1 to 64, got ${String(opts.loops)}`)
    }
    options = { ...options, ...opts }
  },

  /** Starts the interpreter now (otherwise it starts on first use) and returns its info. */
  start(): PythonInfo {
    start()
    return info as PythonInfo
  },

  /** Which Python is loaded (starts it if needed). */
  get info(): PythonInfo {
    start()
    return info as PythonInfo
  },

  /** Runs statements in `__main__`. */
  exec(source: string): void {
    mustBeString(source, 'source')
    start().run(source, false, '<pynode exec>', false)
  },

  /** Evaluates an expression in `__main__` and converts its value. */
  eval(expr: string): unknown {
    mustBeString(expr, 'expression')
    return start().run(expr, true, '<pynode eval>', false)
  },

  /** Evaluates an expression in `__main__`; the value is always a PyObject. */
  evalObject(expr: string): PyObject {
    mustBeString(expr, 'expression')
    return start().run(expr, true, '<pynode eval>', true) as PyObject
  },

  /** Imports a module. @example using np = python.import('numpy') */
  import(name: string): PyObject {
    mustBeString(name, 'module name')
    return start().importModule(name) as PyObject
  },

  /** Creates a module from source, registered in `sys.modules` so Python code can import it. */
  module(name: string, source: string): PyObject {
    mustBeString(name, 'module name')
    mustBeString(source, 'source')
    return start().createModule(name, source) as PyObject
  },

  /** The `builtins` module (one shared handle; do not dispose it). */
  get builtins(): PyObject {
    const n = start()
    if (!builtinsHandle || builtinsHandle.disposed) builtinsHandle = n.builtins() as PyObject
    return builtinsHandle
  },

  /**
   * Evaluates an expression in `__main__` on an asyncio loop and awaits its value if it is
   * awaitable (a coroutine, a task, a future). The JS thread never waits for Python.
   * @example await python.evalAsync('asyncio.sleep(0.1, result=42)')
   */
  evalAsync(expr: string, signal?: AbortSignal): Promise<unknown> {
    mustBeString(expr, 'expression')
    return evalAsync(expr, signal)
  },

  /**
   * An `asyncio.Queue` shared by JS and Python: `put` / `get` / `readAll(signal)`, and
   * `.handle` for Python code. `put` waits for room when `maxsize` is reached.
   */
  asyncQueue(opts: AsyncQueueOptions = {}): AsyncQueue {
    return new AsyncQueue(opts)
  },

  /**
   * A group of calls run concurrently on one loop; `run()` resolves with their results in order.
   * @example
   * const g = python.taskGroup()
   * for (const n of [3, 4, 5]) g.add(compute, n)
   * await g.run() // [9, 16, 25]
   */
  taskGroup(opts: TaskGroupOptions = {}): TaskGroup {
    start()
    return new TaskGroup(opts, (info as PythonInfo).versionInfo)
  },

  /** Counters for diagnostics: references held from JS, releases not yet done, async work in flight. */
  stats(): NativeStats {
    return start().stats()
  },
}

bindAsync(() => ({ native: start(), loops: options.loops ?? 1 }))

export type Python = typeof python
