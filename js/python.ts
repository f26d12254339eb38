/**
 * `python`: the interpreter of this process. It starts on first use (or `python.start()`),
 * after discovery picked which Python to load.
 */
import { type FoundPython, findPython } from './discovery'
import { InterpreterError, InvalidArgumentError, makeError } from './errors'
import { loadNative, type Native } from './native'
import { bindNative, HANDLE, PyObject, TOKEN } from './object'

/** Options for {@link python.configure}. */
export interface PythonOptions {
  /** Path of the python executable to embed (a virtualenv's `bin/python` works). */
  executable?: string
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
  /** How the Python was found: `option`, `PYNODE_PYTHON`, `VIRTUAL_ENV`, `.venv` or `PATH`. */
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

  /** Counters for diagnostics: Python references held from JS, releases not yet done. */
  stats(): { liveRefs: number; pendingReleases: number } {
    return start().stats()
  },
}

export type Python = typeof python
