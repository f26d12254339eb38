/**
 * pynode's error classes. Every error pynode throws is a `PynodeError` with a stable `code`;
 * `name` equals the class name. The native layer builds them through {@link makeError}.
 */

/** Base class of every error pynode throws. */
export class PynodeError extends Error {
  /** A stable, machine-readable code such as `ERR_PYNODE_PYTHON`. */
  readonly code: string

  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** What the native layer reports about a Python exception. */
export interface PythonErrorDetails {
  type: string
  module: string
  message: string
  traceback: string
  causeExplicit: boolean
  cause: PythonErrorDetails | null
  /** Members of an exception group. */
  exceptions?: PythonErrorDetails[]
}

/**
 * A Python exception raised by pynode's call, as a JS error.
 *
 * @example
 * try { python.exec('raise ValueError("bad")') } catch (e) {
 *   if (e instanceof PythonError && e.type === 'ValueError') console.log(e.traceback)
 * }
 */
export class PythonError extends PynodeError {
  /** The Python exception class's (qualified) name, e.g. `'ValueError'`. */
  readonly type: string
  /** The module defining the exception class (`'builtins'` for built-in exceptions). */
  readonly module: string
  /** The formatted Python traceback of this exception (also appended to `stack`). */
  readonly traceback: string
  /** How `cause` is linked: `'cause'` for `raise … from …`, `'context'` for implicit chaining. */
  readonly causeKind: 'cause' | 'context' | null

  constructor(details: PythonErrorDetails) {
    const cause = details.cause ? new PythonError(details.cause) : undefined
    super(details.message, 'ERR_PYNODE_PYTHON', cause ? { cause } : undefined)
    this.type = details.type
    this.module = details.module
    this.traceback = details.traceback
    this.causeKind = cause ? (details.causeExplicit ? 'cause' : 'context') : null
    appendTraceback(this, details.traceback)
  }
}

/** Puts the Python traceback under the JS stack, where error reporters show it. */
function appendTraceback(error: Error, traceback: string): void {
  if (error.stack) error.stack += `\n\nPython traceback:\n${traceback.trimEnd()}`
}

/** A value that has no equivalent on the other side; `path` says where it was (`args[1].items[3]`). */
export class ConversionError extends PynodeError {
  /** Where the bad value sat, as JS would spell it; empty for a top-level value. */
  readonly path: string

  constructor(message: string, path: string) {
    super(message, 'ERR_PYNODE_CONVERSION')
    this.path = path
  }
}

/** A PyObject was used after `[Symbol.dispose]()`. */
export class DisposedError extends PynodeError {
  constructor(message: string) {
    super(message, 'ERR_PYNODE_DISPOSED')
  }
}

/** Python could not be found or started. The message lists what was tried and how to fix it. */
export class InterpreterError extends PynodeError {
  constructor(message: string, code = 'ERR_PYNODE_INTERPRETER') {
    super(message, code)
  }
}

/** Python could not be found: `tried` lists every place looked at, and why each was rejected. */
export class PythonNotFoundError extends InterpreterError {
  readonly tried: readonly { source: string; path: string; problem: string }[]

  constructor(message: string, tried: readonly { source: string; path: string; problem: string }[]) {
    super(message, 'ERR_PYNODE_PYTHON_NOT_FOUND')
    this.tried = tried
  }
}

/** An argument had the wrong type or value. */
export class InvalidArgumentError extends PynodeError {
  constructor(message: string) {
    super(message, 'ERR_PYNODE_INVALID_ARG')
  }
}

/** Why memory could not be shared (see {@link BufferError}). */
export type BufferErrorReason = 'format' | 'not-contiguous' | 'readonly' | 'misaligned' | 'strides' | 'dlpack' | 'detached' | 'resizable'

/**
 * Memory could not be shared as asked by `buffer()`, `tensor()` or `view()`. `reason` says why:
 * a format no TypedArray holds, a non-contiguous buffer without `{ copy: true }`, read-only
 * memory with `{ copy: false }`, a detached or resizable ArrayBuffer, no `__dlpack__`…
 */
export class BufferError extends PynodeError {
  readonly reason: BufferErrorReason

  constructor(message: string, reason: BufferErrorReason) {
    super(message, 'ERR_PYNODE_BUFFER')
    this.reason = reason
  }
}

/** A feature the running Python does not have (e.g. asyncio.TaskGroup before 3.11). */
export class UnsupportedError extends PynodeError {
  constructor(message: string) {
    super(message, 'ERR_PYNODE_UNSUPPORTED')
  }
}

/**
 * A Python exception group (`ExceptionGroup`, e.g. from `asyncio.TaskGroup`) as a JS
 * `AggregateError`: `errors` holds one {@link PythonError} per member.
 */
export class PythonErrorGroup extends AggregateError {
  readonly code = 'ERR_PYNODE_PYTHON'
  /** The group's class name, e.g. `'ExceptionGroup'`. */
  readonly type: string
  readonly module: string
  readonly traceback: string

  constructor(details: PythonErrorDetails) {
    super((details.exceptions ?? []).map(makePythonError), details.message)
    this.name = 'PythonErrorGroup'
    this.type = details.type
    this.module = details.module
    this.traceback = details.traceback
    appendTraceback(this, details.traceback)
  }
}

function makePythonError(details: PythonErrorDetails): Error {
  return details.exceptions ? new PythonErrorGroup(details) : new PythonError(details)
}

/** Builds the error for a native failure (called by the Rust binding). */
export function makeError(kind: string, message: string, details: unknown): Error {
  switch (kind) {
    case 'python':
      return makePythonError(details as PythonErrorDetails)
    case 'conversion':
      return new ConversionError(message, (details as { path: string }).path)
    case 'disposed':
      return new DisposedError(message)
    case 'interpreter':
      return new InterpreterError(message)
    case 'invalid-argument':
      return new InvalidArgumentError(message)
    case 'buffer':
      return new BufferError(message, (details as { reason: BufferErrorReason }).reason)
    default:
      return new PynodeError(message, 'ERR_PYNODE_INTERNAL')
  }
}
