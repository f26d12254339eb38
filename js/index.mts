// ESM entry: re-exports the CommonJS build, so `import` and `require` share one interpreter
// binding and one set of classes (no dual-package hazard).
import pynode from './index.js'

export const {
  AsyncQueue,
  PyAsyncIterator,
  TaskGroup,
  candidates,
  findPython,
  ConversionError,
  DisposedError,
  InterpreterError,
  InvalidArgumentError,
  PynodeError,
  PythonError,
  PythonErrorGroup,
  PythonNotFoundError,
  UnsupportedError,
  KwArgs,
  kw,
  PyObject,
  proxy,
  unproxy,
  python,
} = pynode
export type * from './index.js'
