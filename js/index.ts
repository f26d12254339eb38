/**
 * pynode: CPython embedded in Node.js.
 *
 * @example
 * import { python, kw } from 'pynode'
 * const m = python.module('demo', 'def scale(x, factor=1):\n    return x * factor')
 * m.callMethod('scale', 21, kw({ factor: 2 })) // 42
 */

export {
  AsyncQueue,
  type AsyncQueueOptions,
  type IterateOptions,
  PyAsyncIterator,
  TaskGroup,
  type TaskGroupOptions,
} from './async'
export { type BufferOptions, releaseBuffer, Tensor, type TypedArray, view } from './buffer'
export {
  type Candidate,
  candidates,
  type Discovery,
  discover,
  type FoundPython,
  findPython,
  onPath,
  type PythonSource,
  type TriedPython,
} from './discovery'
export {
  BufferError,
  type BufferErrorReason,
  ConversionError,
  DisposedError,
  InterpreterError,
  InvalidArgumentError,
  PynodeError,
  PythonError,
  type PythonErrorDetails,
  PythonErrorGroup,
  PythonNotFoundError,
  UnsupportedError,
} from './errors'
export { KwArgs, kw, PyObject } from './object'
export { type PyProxy, proxy, unproxy } from './proxy'
export { type Python, type PythonInfo, type PythonOptions, python } from './python'
