import test from 'ava'
import { ConversionError, DisposedError, InvalidArgumentError, kw, PynodeError, PyObject, PythonError, python } from '../js/index'
import { lineOf, loadFixture, runNode } from './_helpers'

const fixture = loadFixture('errors_fixture')
const FIXTURE_FILE = '<pynode module errors_fixture>'

function pythonError(t: import('ava').ExecutionContext, run: () => unknown): PythonError {
  const err = t.throws(run, { instanceOf: PythonError, code: 'ERR_PYNODE_PYTHON' }) as PythonError
  t.true(err instanceof PynodeError)
  t.true(err instanceof Error)
  t.is(err.name, 'PythonError')
  return err
}

interface Raised {
  source: string
  type: string
  module: string
  message: string
  /** The source line the traceback shows. */
  line: string
  /** The traceback's last line, when it is not `type: message`. */
  tail?: string | (() => string)
}

const raised: Raised[] = [
  {
    source: 'raise ValueError("bad value")',
    type: 'ValueError',
    module: 'builtins',
    message: 'bad value',
    line: 'raise ValueError("bad value")',
  },
  { source: 'x = 1\n{}["missing"]', type: 'KeyError', module: 'builtins', message: "'missing'", line: '{}["missing"]' },
  { source: '1 / 0', type: 'ZeroDivisionError', module: 'builtins', message: 'division by zero', line: '1 / 0' },
  {
    source: 'import no_such_module_xyz',
    type: 'ModuleNotFoundError',
    module: 'builtins',
    message: "No module named 'no_such_module_xyz'",
    line: 'import no_such_module_xyz',
  },
  {
    source: 'undefined_name_xyz + 1',
    type: 'NameError',
    module: 'builtins',
    message: "name 'undefined_name_xyz' is not defined",
    line: 'undefined_name_xyz + 1',
  },
  {
    source: 'raise OSError(2, "nope")',
    type: 'FileNotFoundError',
    module: 'builtins',
    message: '[Errno 2] nope',
    line: 'raise OSError(2, "nope")',
  },
  { source: 'raise Exception()', type: 'Exception', module: 'builtins', message: '', line: 'raise Exception()' },
  { source: 'assert 1 == 2, "nope"', type: 'AssertionError', module: 'builtins', message: 'nope', line: 'assert 1 == 2, "nope"' },
  {
    source: 'import json\njson.loads("{")',
    type: 'JSONDecodeError',
    module: 'json.decoder',
    message: 'Expecting property name enclosed in double quotes: line 1 column 2 (char 1)',
    line: 'json.loads("{")',
  },
  {
    source: 'class E(Exception):\n    def __str__(self):\n        raise RuntimeError\nraise E("x")',
    type: 'E',
    module: '__main__',
    // str() fails: the message falls back to repr(), the traceback says so.
    message: "E('x')",
    line: 'raise E("x")',
    // 3.9 and 3.10's traceback module words it differently.
    tail: () => (python.info.versionInfo[1] >= 11 ? 'E: <exception str() failed>' : 'E: <unprintable E object>'),
  },
]

for (const row of raised) {
  test(`exec raising ${row.type} -> PythonError`, (t) => {
    const err = pythonError(t, () => python.exec(row.source))
    t.is(err.type, row.type)
    t.is(err.module, row.module)
    t.is(err.message, row.message)
    t.is(err.causeKind, null)
    const lineNo = row.source.split('\n').indexOf(row.line) + 1
    t.true(err.traceback.startsWith('Traceback (most recent call last):\n'), err.traceback)
    t.true(err.traceback.includes(`File "<pynode exec>", line ${lineNo}, in <module>\n    ${row.line}\n`), err.traceback)
    const qualified = row.module === 'builtins' || row.module === '__main__' ? row.type : `${row.module}.${row.type}`
    const tail = (typeof row.tail === 'function' ? row.tail() : row.tail) ?? (row.message ? `${qualified}: ${row.message}` : qualified)
    t.true(err.traceback.trimEnd().endsWith(`\n${tail}`), err.traceback)
    t.true(err.stack?.endsWith(`\n\nPython traceback:\n${err.traceback.trimEnd()}`), err.stack)
  })
}

test('eval raising -> PythonError with the <pynode eval> traceback', (t) => {
  const err = pythonError(t, () => python.eval('[1, 2][5]'))
  t.is(err.type, 'IndexError')
  t.is(err.message, 'list index out of range')
  t.true(err.traceback.includes('File "<pynode eval>", line 1, in <module>'), err.traceback)
})

test('an exception from a module function names the file, line and source', (t) => {
  const err = pythonError(t, () => fixture.callMethod('fail_custom', 'boom'))
  t.is(err.type, 'AppError')
  t.is(err.module, 'errors_fixture')
  t.is(err.message, 'boom')
  const line = lineOf('errors_fixture.py', 'raise AppError(message)')
  t.true(err.traceback.includes(`File "${FIXTURE_FILE}", line ${line}, in fail_custom\n    raise AppError(message)\n`), err.traceback)
  t.true(err.traceback.trimEnd().endsWith('errors_fixture.AppError: boom'), err.traceback)
  t.true(err.stack?.includes(`Python traceback:\n${err.traceback.trimEnd()}`))
})

test('a nested custom exception class gives its qualname', (t) => {
  const err = pythonError(t, () => fixture.getObject('fail_nested').call())
  t.is(err.type, 'Outer.Inner')
  t.is(err.module, 'errors_fixture')
  t.is(err.message, 'nested')
})

test('raise X from Y: cause is a PythonError of Y, causeKind "cause"', (t) => {
  const err = pythonError(t, () => fixture.callMethod('parse', 'abc'))
  t.is(err.type, 'AppError')
  t.is(err.message, "bad number 'abc'")
  t.is(err.causeKind, 'cause')
  const cause = err.cause as PythonError
  t.true(cause instanceof PythonError)
  t.is(cause.type, 'ValueError')
  t.is(cause.module, 'builtins')
  t.is(cause.message, "invalid literal for int() with base 10: 'abc'")
  t.is(cause.code, 'ERR_PYNODE_PYTHON')
  t.is(cause.causeKind, null)
  t.is(cause.cause, undefined)
  t.true(cause.traceback.includes(`line ${lineOf('errors_fixture.py', 'return int(text)')}, in parse`), cause.traceback)
  // Each traceback holds its own exception only; the chain lives in `cause`.
  t.false(err.traceback.includes('direct cause'), err.traceback)
})

test('implicit chaining: cause is the context, causeKind "context"', (t) => {
  const err = pythonError(t, () => fixture.callMethod('cleanup_fails'))
  t.is(err.type, 'RuntimeError')
  t.is(err.causeKind, 'context')
  const cause = err.cause as PythonError
  t.true(cause instanceof PythonError)
  t.is(cause.type, 'KeyError')
  t.is(cause.message, "'missing'")
})

test('raise ... from None: no cause', (t) => {
  const err = pythonError(t, () => fixture.callMethod('hidden_context'))
  t.is(err.type, 'LookupError')
  t.is(err.causeKind, null)
  t.is(err.cause, undefined)
  t.false('cause' in err)
})

test('a long cause chain is followed 16 deep', (t) => {
  const err = pythonError(t, () => fixture.callMethod('chain', 30))
  const messages: string[] = []
  for (let e: unknown = err; e instanceof PythonError; e = e.cause) messages.push(e.message)
  t.is(messages.length, 16)
  t.deepEqual(messages.slice(0, 3), ['30', '29', '28'])
})

const exits: { name: string; run: () => unknown; type: string; message: string }[] = [
  { name: 'raise SystemExit(3) in exec', run: () => python.exec('raise SystemExit(3)'), type: 'SystemExit', message: '3' },
  { name: 'sys.exit(3) in a module function', run: () => fixture.callMethod('exit_with', 3), type: 'SystemExit', message: '3' },
  { name: 'raise KeyboardInterrupt in exec', run: () => python.exec('raise KeyboardInterrupt'), type: 'KeyboardInterrupt', message: '' },
]

for (const row of exits) {
  test(`${row.name} is a PythonError and the process keeps running`, (t) => {
    const err = pythonError(t, row.run)
    t.is(err.type, row.type)
    t.is(err.message, row.message)
    t.is(python.eval('6 * 7'), 42)
  })
}

test('SystemExit does not end a child process', (t) => {
  const result = runNode(`
    try { pynode.python.exec('raise SystemExit(3)') } catch (e) { console.log(e.type) }
    try { pynode.python.exec('import sys; sys.exit(4)') } catch (e) { console.log(e.type) }
    try { pynode.python.exec('raise KeyboardInterrupt') } catch (e) { console.log(e.type) }
    console.log('alive', pynode.python.eval('1 + 1'))
  `)
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout, 'SystemExit\nSystemExit\nKeyboardInterrupt\nalive 2\n')
})

// 3.9's parser says "unexpected EOF while parsing" where 3.10+ name what is missing.
const syntax: { name: string; run: () => unknown; file: string; message: RegExp }[] = [
  { name: 'exec', run: () => python.exec('x = ('), file: '<pynode exec>', message: /'\(' was never closed|^unexpected EOF while parsing/ },
  { name: 'eval', run: () => python.eval('1 +'), file: '<pynode eval>', message: /^invalid syntax|^unexpected EOF while parsing/ },
  { name: 'evalObject', run: () => python.evalObject('def f(): pass'), file: '<pynode eval>', message: /^invalid syntax/ },
  { name: 'a statement passed to eval', run: () => python.eval('x = 1'), file: '<pynode eval>', message: /^invalid syntax/ },
  {
    name: 'module source',
    run: () => python.module('syntax_bad', 'def f(:\n    pass'),
    file: '<pynode module syntax_bad>',
    message: /invalid syntax|was never closed/,
  },
]

for (const row of syntax) {
  test(`a syntax error in ${row.name} is a PythonError SyntaxError`, (t) => {
    const err = pythonError(t, row.run)
    t.is(err.type, 'SyntaxError')
    t.is(err.module, 'builtins')
    t.regex(err.message, row.message)
    t.true(err.message.includes(`(${row.file}, line 1)`), err.message)
    t.true(err.traceback.includes(`File "${row.file}", line 1`), err.traceback)
  })
}

test('a module whose source raises throws the PythonError and is not registered', (t) => {
  const err = pythonError(t, () => python.module('raises_on_import', 'x = 1\nraise RuntimeError("no import")'))
  t.is(err.type, 'RuntimeError')
  t.is(err.message, 'no import')
  t.true(err.traceback.includes('File "<pynode module raises_on_import>", line 2, in <module>'), err.traceback)
  t.false(python.eval('"raises_on_import" in __import__("sys").modules'))
})

/** A value of the wrong type, passed where the types forbid it. */
const wrong = (value: unknown) => value as never

const invalid: { name: string; run: () => unknown; message: string | RegExp }[] = [
  { name: 'python.eval(123)', run: () => python.eval(wrong(123)), message: 'expression must be a string, got number' },
  { name: 'python.evalObject({})', run: () => python.evalObject(wrong({})), message: 'expression must be a string, got object' },
  { name: 'python.exec(null)', run: () => python.exec(wrong(null)), message: 'source must be a string, got null' },
  { name: 'python.import(5)', run: () => python.import(wrong(5)), message: 'module name must be a string, got number' },
  { name: 'python.module(5, "")', run: () => python.module(wrong(5), ''), message: 'module name must be a string, got number' },
  {
    name: 'python.module("m", undefined)',
    run: () => python.module('m', wrong(undefined)),
    message: 'source must be a string, got undefined',
  },
  { name: 'python.module("", ...)', run: () => python.module('', 'x = 1'), message: 'invalid module name ""' },
  { name: 'a NUL in exec source', run: () => python.exec('x = "\0"'), message: 'Python source contains a NUL character' },
  { name: 'a NUL in a module name', run: () => python.import('a\0b'), message: 'a module name cannot contain a NUL character' },
  { name: 'kw(null)', run: () => kw(wrong(null)), message: /^kw\(\) takes a plain object of keyword arguments/ },
  { name: 'kw([1])', run: () => kw(wrong([1])), message: /^kw\(\) takes a plain object/ },
  { name: 'an attribute name that is not a string', run: () => python.builtins.get(wrong(5)), message: 'attribute name must be a string' },
  {
    name: 'a method name that is not a string',
    run: () => python.builtins.callMethod(wrong(5)),
    message: 'attribute name must be a string',
  },
]

for (const row of invalid) {
  test(`InvalidArgumentError for ${row.name}`, (t) => {
    const err = t.throws(row.run, { instanceOf: InvalidArgumentError, code: 'ERR_PYNODE_INVALID_ARG' })
    t.true(err instanceof PynodeError)
    t.is(err?.name, 'InvalidArgumentError')
    if (typeof row.message === 'string') t.is(err?.message, row.message)
    else t.regex(err?.message ?? '', row.message)
  })
}

test('new PyObject(...) by user code throws InvalidArgumentError', (t) => {
  // biome-ignore lint/suspicious/noExplicitAny: forging a handle on purpose.
  const Ctor = PyObject as any
  for (const args of [[], [Symbol('token'), {}], [Symbol.for('pynode.token'), {}]]) {
    const err = t.throws(() => new Ctor(...args), { instanceOf: InvalidArgumentError, code: 'ERR_PYNODE_INVALID_ARG' })
    t.regex(err?.message ?? '', /^PyObject cannot be constructed directly/)
  }
})

test('every error class is a PynodeError with its own name and code', (t) => {
  const conversion = t.throws(() => python.builtins.callMethod('len', Symbol('s')), { instanceOf: ConversionError })
  t.is(conversion?.code, 'ERR_PYNODE_CONVERSION')
  const obj = python.evalObject('object()')
  obj[Symbol.dispose]()
  const disposed = t.throws(() => obj.repr(), { instanceOf: DisposedError })
  t.is(disposed?.code, 'ERR_PYNODE_DISPOSED')
  for (const err of [conversion, disposed]) {
    t.true(err instanceof PynodeError)
    t.true(err instanceof Error)
    t.is(err?.name, err?.constructor.name)
  }
})
