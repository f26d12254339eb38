import { inspect } from 'node:util'
import test from 'ava'
import { DisposedError, kw, PyObject, PythonError, proxy, python, unproxy } from '../js/index'
import { loadFixture } from './_helpers'

const tracked = loadFixture('tracked')
const np = proxy(python.import('numpy'))
const ns = python.import('types').getObject('SimpleNamespace')

test('proxy(np).arange(5).sum() === 10', (t) => {
  const total = np.arange(5).sum()
  t.is(total, 10)
  t.is(typeof total, 'number')
  t.is(np.arange(12).reshape(3, 4).T.shape.toString(), '4,3')
  t.deepEqual(
    np
      .arange(12)
      .reshape(3, 4)
      .sum(kw({ axis: 0 }))
      .tolist(),
    [12, 15, 18, 21],
  )
  t.is(np.array([1, 2], kw({ dtype: 'float32' })).dtype.name, 'float32')
})

test('results that are not plain data come back proxied; plain data by value', (t) => {
  const a = np.arange(3)
  t.is(typeof a, 'function')
  t.true(unproxy(a) instanceof PyObject)
  t.is(unproxy(a)?.typeName, 'ndarray')
  t.deepEqual(a.tolist(), [0, 1, 2])
  t.deepEqual(np.__name__, 'numpy')
  t.is(np.pi, Math.PI)
})

test('attribute get, set, has and delete through the proxy', (t) => {
  const p = proxy(ns.callObject(kw({ x: 1 })))
  t.is(p.x, 1)
  t.true('x' in p)
  t.false('y' in p)
  p.y = { list: [1, 2] }
  t.true('y' in p)
  t.deepEqual(p.y, { list: [1, 2] })
  t.true(unproxy(p)?.has('y'))
  t.true(delete p.y)
  t.false('y' in p)
  t.false(unproxy(p)?.has('y'))
  const missing = t.throws(() => p.y, { instanceOf: PythonError })
  t.is(missing?.type, 'AttributeError')
  t.is(t.throws(() => delete p.y, { instanceOf: PythonError })?.type, 'AttributeError')
  // Symbols are not Python attributes.
  t.false(Symbol.iterator in p)
  t.is(p[Symbol('x')], undefined)
  t.throws(
    () => {
      p[Symbol('x')] = 1
    },
    { instanceOf: TypeError },
  )
})

test('calls, methods and keyword arguments through the proxy', (t) => {
  const builtins = proxy(python.builtins)
  t.is(builtins.len([1, 2, 3]), 3)
  t.deepEqual(builtins.sorted([3, 1, 2], kw({ reverse: true })), [3, 2, 1])
  const obj = proxy(tracked.callMethodObject('Tracked', 'proxy-call'))
  t.is(obj.hello(), 'hello proxy-call')
  t.is(obj(), 'proxy-call')
  t.throws(() => builtins.len(5), { instanceOf: PythonError, message: "object of type 'int' has no len()" })
})

test('await proxy(obj) resolves to the proxy itself: it is not thenable', async (t) => {
  // biome-ignore lint/suspicious/noThenProperty: a Python attribute named then must not make the proxy thenable.
  const p = proxy(ns.callObject(kw({ then: 1 })))
  t.is(p.then, undefined)
  t.is(await p, p)
  t.is(await Promise.resolve(p), p)
})

test('unproxy gives the PyObject back, undefined for anything else', (t) => {
  const obj = python.evalObject('object()')
  const p = proxy(obj)
  t.is(unproxy(p), obj)
  t.is(unproxy(proxy(obj)), obj)
  for (const value of [obj, {}, null, undefined, 1, 'x', () => 1, new Proxy(() => 1, {})]) t.is(unproxy(value), undefined)
})

test('proxies pass as arguments, keeping identity', (t) => {
  const same = proxy(python.evalObject('lambda a, b: a is b'))
  const p = proxy(python.evalObject('object()'))
  t.true(same(p, p))
  t.true(same(p, unproxy(p)))
  t.false(same(p, proxy(python.evalObject('object()'))))
  t.true(python.evalObject('lambda xs, d: xs[0] is d["p"]').call([p], { p }) as boolean)
  t.is(np.asarray([1, 2, 3]).sum(), 6)
  t.is(np.add(np.arange(3), np.arange(3)).sum(), 6)
})

test('iteration and primitive conversion', (t) => {
  t.deepEqual([...np.arange(3)], [0, 1, 2])
  const objs = [...proxy(python.evalObject('[object(), 1]'))]
  t.true(unproxy(objs[0]) instanceof PyObject)
  t.is(objs[1], 1)
  t.is(`${np.float64(2.5)}`, '2.5')
  t.is(+np.float64(2.5), 2.5)
  t.is(np.arange(4).sum() + 1, 7)
})

test('Symbol.dispose on a proxy disposes the underlying object', (t) => {
  const obj = tracked.callMethodObject('Tracked', 'proxy-dispose')
  const p = proxy(obj)
  t.is(p.name, 'proxy-dispose')
  p[Symbol.dispose]()
  t.true(obj.disposed)
  t.true(tracked.callMethod('freed', 'proxy-dispose') as boolean)
  t.is(t.throws(() => p.name, { instanceOf: DisposedError })?.code, 'ERR_PYNODE_DISPOSED')
  t.throws(() => p(), { instanceOf: DisposedError })
})

test('using with a proxy frees the object at block end', (t) => {
  {
    using p = proxy(tracked.callMethodObject('Tracked', 'proxy-using'))
    // (p.hello() would leave a bound-method proxy, which references the object, to the GC.)
    t.is(p.name, 'proxy-using')
    t.false(tracked.callMethod('freed', 'proxy-using') as boolean)
  }
  t.true(tracked.callMethod('freed', 'proxy-using') as boolean)
})

test('util.inspect of a proxy shows PyProxy and the repr', (t) => {
  const p = proxy(tracked.callMethodObject('Tracked', 'proxy-inspect'))
  t.regex(inspect(p), /^PyProxy <tracked\.Tracked object at 0x[0-9a-f]+>$/)
})
