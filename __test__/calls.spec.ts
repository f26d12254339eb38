import { inspect } from 'node:util'
import test from 'ava'
import { kw, PyObject, PythonError, python } from '../js/index'
import { loadFixture } from './_helpers'

const m = loadFixture('calls_fixture')

test('exec and eval share __main__', (t) => {
  python.exec('calls_answer = 41\ndef calls_inc(v):\n    return v + 1\n')
  t.is(python.eval('calls_inc(calls_answer)'), 42)
  t.is(python.eval('__name__'), '__main__')
  using main = python.import('__main__')
  t.is(main.get('calls_answer'), 41)
  main.set('calls_answer', 1)
  t.is(python.eval('calls_answer'), 1)
})

test('exec returns undefined; eval converts; evalObject always gives a PyObject', (t) => {
  t.is(python.exec('1 + 1'), undefined)
  t.deepEqual(python.eval('[1, "a"]'), [1, 'a'])
  using obj = python.evalObject('[1, "a"]')
  t.true(obj instanceof PyObject)
  t.is(obj.typeName, 'list')
  t.deepEqual(obj.toJS(), [1, 'a'])
})

test('python.module registers the module in sys.modules for later imports', (t) => {
  using mod = python.module('calls_registered', 'VALUE = 7\ndef double(x):\n    return 2 * x\n')
  t.is(mod.typeName, 'module')
  t.is(mod.get('__name__'), 'calls_registered')
  t.is(mod.get('__file__'), '<pynode module calls_registered>')
  t.true(python.eval('"calls_registered" in __import__("sys").modules') as boolean)
  python.exec('from calls_registered import VALUE, double')
  t.is(python.eval('double(VALUE)'), 14)
  using again = python.import('calls_registered')
  t.true(python.evalObject('lambda a, b: a is b').call(mod, again) as boolean)
  // A later module imports it like any other.
  using user = python.module('calls_user', 'import calls_registered\ndef triple():\n    return 3 * calls_registered.VALUE\n')
  t.is(user.callMethod('triple'), 21)
})

test('a module whose source raises is not registered', (t) => {
  const err = t.throws(() => python.module('calls_broken', 'X = 1\nraise ImportError("broken")'), { instanceOf: PythonError })
  t.is(err?.type, 'ImportError')
  t.false(python.eval('"calls_broken" in __import__("sys").modules') as boolean)
  t.throws(() => python.import('calls_broken'), { instanceOf: PythonError, message: "No module named 'calls_broken'" })
})

test('redefining a module replaces it; a failed redefinition keeps the earlier one', (t) => {
  python.module('calls_versioned', 'V = 1')[Symbol.dispose]()
  t.throws(() => python.module('calls_versioned', 'V = 2\nraise RuntimeError("v2 broken")'), {
    instanceOf: PythonError,
    message: 'v2 broken',
  })
  t.is(python.eval('__import__("calls_versioned").V'), 1)
  python.module('calls_versioned', 'V = 3')[Symbol.dispose]()
  t.is(python.eval('__import__("calls_versioned").V'), 3)
})

test('module code sees the builtins', (t) => {
  using mod = python.module('calls_builtins', 'def size(x):\n    return len(x) + sum(range(3))\n')
  t.is(mod.callMethod('size', [1, 2]), 5)
  t.true(python.eval('__import__("calls_builtins").__builtins__ is __import__("builtins")') as boolean)
})

test('python.import gives module handles', (t) => {
  using json = python.import('json')
  t.is(json.typeName, 'module')
  t.is(json.callMethod('dumps', { a: [1, 'x'] }), '{"a": [1, "x"]}')
  using path = python.import('os.path')
  t.is(path.callMethod('join', 'a', 'b'), 'a/b')
  const err = t.throws(() => python.import('no_such_module_xyz'), { instanceOf: PythonError })
  t.is(err?.type, 'ModuleNotFoundError')
})

test('python.builtins: len, sum and one shared handle', (t) => {
  const builtins = python.builtins
  t.is(builtins, python.builtins)
  t.is(builtins.callMethod('len', [1, 2, 3]), 3)
  t.is(builtins.callMethod('sum', [1, 2, 3]), 6)
  t.is(builtins.callMethod('sum', [1, 2, 3], 10), 16)
  t.is(builtins.getObject('len').call('🎉'), 1)
  t.deepEqual(builtins.callMethod('sorted', [3, 1, 2], kw({ reverse: true })), [3, 2, 1])
})

test('attributes: get, getObject, set, has, delete', (t) => {
  using p = m.callMethodObject('Point', 1, 2)
  t.is(p.get('x'), 1)
  t.is(p.get('dims'), 2)
  t.true(p.has('x'))
  t.false(p.has('z'))
  p.set('z', { nested: [1, null] })
  t.true(p.has('z'))
  t.deepEqual(p.get('z'), { nested: [1, null] })
  using z = p.getObject('z')
  t.is(z.typeName, 'dict')
  p.delete('z')
  t.false(p.has('z'))
  const missing = t.throws(() => p.get('z'), { instanceOf: PythonError })
  t.is(missing?.type, 'AttributeError')
  t.is(missing?.message, "'Point' object has no attribute 'z'")
  t.is(t.throws(() => p.delete('z'), { instanceOf: PythonError })?.type, 'AttributeError')
  // getObject wraps even plain data.
  using x = p.getObject('x')
  t.is(x.typeName, 'int')
  t.is(x.toJS(), 1)
})

test('call with positional and keyword arguments', (t) => {
  using describe = m.getObject('describe')
  t.deepEqual(describe.call(), { args: [], kwargs: {} })
  t.deepEqual(describe.call(1, 'a', null), { args: [1, 'a', null], kwargs: {} })
  t.deepEqual(describe.call(1, kw({ scale: 2, name: 'n' })), { args: [1], kwargs: { scale: 2, name: 'n' } })
  t.deepEqual(describe.call(kw({ only: true })), { args: [], kwargs: { only: true } })
  // kw() only counts as the last argument.
  t.throws(() => describe.call(kw({ a: 1 }), 2), { code: 'ERR_PYNODE_CONVERSION', message: /KwArgs/ })
  using Point = m.getObject('Point')
  t.throws(() => Point.call(1), { instanceOf: PythonError, message: /missing 1 required positional argument: 'y'/ })
})

test('callObject returns a PyObject whatever the result', (t) => {
  using describe = m.getObject('describe')
  using result = describe.callObject(1, kw({ k: 'v' }))
  t.true(result instanceof PyObject)
  t.is(result.typeName, 'dict')
  t.deepEqual(result.toJS(), { args: [1], kwargs: { k: 'v' } })
  using p = m.getObject('Point').callObject(3, 4)
  t.is(p.typeName, 'Point')
})

test('callMethod with kwargs, and callMethodObject', (t) => {
  using p = m.callMethodObject('Point', 1, 2)
  t.deepEqual(p.callMethod('scaled', 10), [10, 20])
  t.deepEqual(p.callMethod('scaled', 10, kw({ offset: 1 })), [11, 21])
  using scaled = p.callMethodObject('scaled', 2, kw({ offset: 0 }))
  t.is(scaled.typeName, 'list')
  const err = t.throws(() => p.callMethod('scaled', 1, kw({ bad: 1 })), { instanceOf: PythonError })
  t.is(err?.type, 'TypeError')
  t.regex(err?.message ?? '', /got an unexpected keyword argument 'bad'/)
  t.is(t.throws(() => p.callMethod('nope'), { instanceOf: PythonError })?.type, 'AttributeError')
})

test('items: getItem, getItemObject, setItem, deleteItem, length', (t) => {
  using d = python.evalObject('{"a": 1}')
  t.is(d.getItem('a'), 1)
  t.is(d.length, 1)
  d.setItem('b', [1, 2])
  d.setItem(3, 'int key')
  t.is(d.length, 3)
  t.deepEqual(
    d.toJS(),
    new Map<unknown, unknown>([
      ['a', 1],
      ['b', [1, 2]],
      [3, 'int key'],
    ]),
  )
  using b = d.getItemObject('b')
  t.is(b.typeName, 'list')
  d.deleteItem('a')
  t.is(d.length, 2)
  const missing = t.throws(() => d.getItem('a'), { instanceOf: PythonError })
  t.is(missing?.type, 'KeyError')
  t.is(missing?.message, "'a'")
  t.is(t.throws(() => d.deleteItem('a'), { instanceOf: PythonError })?.type, 'KeyError')

  using l = python.evalObject('[10, 20, 30]')
  t.is(l.getItem(0), 10)
  t.is(l.getItem(-1), 30)
  l.setItem(1, 'x')
  l.deleteItem(0)
  t.deepEqual(l.toJS(), ['x', 30])
  t.is(t.throws(() => l.getItem(5), { instanceOf: PythonError })?.type, 'IndexError')
  using n = python.evalObject('1')
  t.is(t.throws(() => n.length, { instanceOf: PythonError })?.message, "object of type 'int' has no len()")
})

test('for...of iterates a Python list, converting items', (t) => {
  using l = python.evalObject('[1, "two", [3], {"k": None}]')
  const items: unknown[] = []
  for (const x of l) items.push(x)
  t.deepEqual(items, [1, 'two', [3], { k: null }])
  using d = python.evalObject('{"a": 1, "b": 2}')
  t.deepEqual([...d], ['a', 'b'])
  using s = python.evalObject('"hé🎉"')
  t.deepEqual([...s], ['h', 'é', '🎉'])
})

test('for...of iterates a generator to the end', (t) => {
  using gen = m.callMethodObject('countdown', 3)
  t.is(gen.typeName, 'generator')
  t.deepEqual([...gen], [3, 2, 1])
  t.deepEqual([...gen], [])
  t.true((m.get('log') as string[]).includes('countdown closed'))
})

test('breaking out of for...of disposes the iterator handle; the generator closes when its own handle is disposed', (t) => {
  python.exec('import calls_fixture\ncalls_fixture.log.clear()')
  const gen = m.callMethodObject('countdown', 10)
  const before = python.stats().liveRefs
  const seen: unknown[] = []
  for (const x of gen) {
    seen.push(x)
    if (x === 8) break
  }
  t.deepEqual(seen, [10, 9, 8])
  // The iterator's handle is gone again...
  t.is(python.stats().liveRefs, before)
  // ...but iter(generator) is the generator itself, still held by `gen`: not closed yet.
  t.deepEqual(m.get('log'), [])
  // A new loop resumes where the last one stopped.
  for (const x of gen) {
    t.is(x, 7)
    break
  }
  t.deepEqual(m.get('log'), [])
  gen[Symbol.dispose]()
  t.deepEqual(m.get('log'), ['countdown closed'])
  t.is(python.stats().liveRefs, before - 1)
})

test('an exception inside iteration is a PythonError and the iterator handle is released', (t) => {
  using gen = m.callMethodObject('broken', 2)
  const before = python.stats().liveRefs
  const seen: unknown[] = []
  const err = t.throws(
    () => {
      for (const x of gen) seen.push(x)
    },
    { instanceOf: PythonError },
  )
  t.is(err?.type, 'ValueError')
  t.is(err?.message, 'generator broke')
  t.deepEqual(seen, [0, 1])
  t.is(python.stats().liveRefs, before)
  using n = python.evalObject('5')
  t.is(t.throws(() => [...n], { instanceOf: PythonError })?.message, "'int' object is not iterable")
})

test('toJS converts by value; an object that is not plain data gives a new PyObject', (t) => {
  using l = python.evalObject('[1, {"a": (2, 3)}]')
  t.deepEqual(l.toJS(), [1, { a: [2, 3] }])
  using o = python.evalObject('object()')
  using copy = o.toJS() as PyObject
  t.true(copy instanceof PyObject)
  t.not(copy, o)
  t.true(m.callMethod('same', o, copy) as boolean)
})

test('repr, toString, template strings and typeName', (t) => {
  using p = m.callMethodObject('Point', 1, 2)
  t.is(p.repr(), 'Point(1, 2)')
  t.is(p.toString(), '(1, 2)')
  t.is(`${p}`, '(1, 2)')
  t.is(String(p), '(1, 2)')
  t.is(p.typeName, 'Point')
  using s = python.evalObject('"hi"')
  t.is(s.repr(), "'hi'")
  t.is(s.toString(), 'hi')
  using nested = python.evalObject('type("Outer", (), {"Inner": type("Inner", (), {"__qualname__": "Outer.Inner"})}).Inner()')
  t.is(nested.typeName, 'Outer.Inner')
})

test('util.inspect shows the repr', (t) => {
  using p = m.callMethodObject('Point', 5, 6)
  t.is(inspect(p), 'PyObject Point(5, 6)')
  t.is(inspect({ p }), '{ p: PyObject Point(5, 6) }')
  using bad = python.evalObject('type("BadRepr", (), {"__repr__": lambda self: 1 / 0})()')
  t.is(inspect(bad), 'PyObject <repr failed>')
  t.is(t.throws(() => bad.repr(), { instanceOf: PythonError })?.type, 'ZeroDivisionError')
})

test('passing a PyObject as an argument keeps its identity', (t) => {
  using p = m.callMethodObject('Point', 1, 2)
  using q = m.callMethodObject('Point', 1, 2)
  t.true(m.callMethod('same', p, p) as boolean)
  t.false(m.callMethod('same', p, q) as boolean)
  // Inside containers and keyword arguments too.
  t.true(python.evalObject('lambda xs, d: xs[0] is xs[1] is d["p"]').call([p, p], { p }) as boolean)
  t.true(python.evalObject('lambda *, o, p: o is p').call(kw({ o: p, p })) as boolean)
  // And stored by Python, it is the same object JS mutates.
  const count = m.callMethod('keep', p)
  p.set('x', 100)
  t.is(python.eval(`__import__("calls_fixture").kept[${(count as number) - 1}].x`), 100)
  // A returned object is a new handle on the same Python object.
  using back = python.evalObject('lambda o: o').call(p) as PyObject
  t.not(back, p)
  t.true(m.callMethod('same', back, p) as boolean)
})
