import { inspect } from 'node:util'
import test from 'ava'
import { DisposedError, kw, PynodeError, type PyObject, python } from '../js/index'
import { loadFixture } from './_helpers'

const tracked = loadFixture('tracked')
const identity = python.evalObject('lambda *a, **k: a')
const same = python.evalObject('lambda o: o')

function make(name: string): PyObject {
  return tracked.callMethodObject('Tracked', name)
}

function freed(name: string): boolean {
  return tracked.callMethod('freed', name) as boolean
}

test('using frees the Python object right after the block', (t) => {
  const before = python.stats().liveRefs
  {
    using obj = make('using-1')
    t.is(obj.callMethod('hello'), 'hello using-1')
    t.is(python.stats().liveRefs, before + 1)
    t.false(freed('using-1'))
  }
  t.true(freed('using-1'))
  t.is(python.stats().liveRefs, before)
})

test('using frees the object when the block throws', (t) => {
  t.throws(
    () => {
      using obj = make('using-throw')
      t.is(obj.typeName, 'Tracked')
      throw new Error('boom')
    },
    { message: 'boom' },
  )
  t.true(freed('using-throw'))
})

test('[Symbol.dispose]() frees at once and sets .disposed', (t) => {
  const obj = make('explicit')
  t.false(obj.disposed)
  obj[Symbol.dispose]()
  t.true(obj.disposed)
  t.true(freed('explicit'))
})

test('double dispose is safe and releases only once', (t) => {
  const keep = make('double-keep')
  const obj = make('double')
  const before = python.stats().liveRefs
  obj[Symbol.dispose]()
  t.is(python.stats().liveRefs, before - 1)
  t.notThrows(() => obj[Symbol.dispose]())
  t.notThrows(() => obj[Symbol.dispose]())
  t.true(obj.disposed)
  t.is(python.stats().liveRefs, before - 1)
  t.false(freed('double-keep'))
  t.is(keep.callMethod('hello'), 'hello double-keep')
  keep[Symbol.dispose]()
})

test('disposing one handle leaves other handles on the same object alive', (t) => {
  const a = make('shared')
  const b = same.callObject(a)
  a[Symbol.dispose]()
  t.false(freed('shared'))
  t.is(b.get('name'), 'shared')
  b[Symbol.dispose]()
  t.true(freed('shared'))
})

test('a disposed handle does not free what Python still references', (t) => {
  const obj = make('held')
  tracked.callMethod('hold', obj)
  obj[Symbol.dispose]()
  t.false(freed('held'))
  tracked.callMethod('release_held')
  t.true(freed('held'))
})

const operations: { name: string; what: string; run: (o: PyObject) => unknown }[] = [
  { name: 'get', what: 'get an attribute', run: (o) => o.get('name') },
  { name: 'getObject', what: 'get an attribute', run: (o) => o.getObject('name') },
  { name: 'set', what: 'set an attribute', run: (o) => o.set('name', 'x') },
  { name: 'has', what: 'test an attribute', run: (o) => o.has('name') },
  { name: 'delete', what: 'delete an attribute', run: (o) => o.delete('name') },
  { name: 'call', what: 'call', run: (o) => o.call() },
  { name: 'call with kw()', what: 'call', run: (o) => o.call(kw({ a: 1 })) },
  { name: 'callObject', what: 'call', run: (o) => o.callObject() },
  { name: 'callMethod', what: 'call a method', run: (o) => o.callMethod('hello') },
  { name: 'callMethodObject', what: 'call a method', run: (o) => o.callMethodObject('hello') },
  { name: 'getItem', what: 'get an item', run: (o) => o.getItem(0) },
  { name: 'getItemObject', what: 'get an item', run: (o) => o.getItemObject(0) },
  { name: 'setItem', what: 'set an item', run: (o) => o.setItem(0, 1) },
  { name: 'deleteItem', what: 'delete an item', run: (o) => o.deleteItem(0) },
  { name: 'length', what: 'take the length', run: (o) => o.length },
  { name: 'toJS', what: 'convert', run: (o) => o.toJS() },
  { name: 'repr', what: 'describe', run: (o) => o.repr() },
  { name: 'toString', what: 'describe', run: (o) => String(o) },
  { name: 'typeName', what: 'describe', run: (o) => o.typeName },
  { name: 'iteration', what: 'iterate', run: (o) => [...o] },
  { name: 'passing it as an argument', what: 'pass a PyObject', run: (o) => identity.call(o) },
  { name: 'passing it inside a container', what: 'pass a PyObject', run: (o) => identity.call({ list: [o] }) },
  { name: 'passing it as a keyword argument', what: 'pass a PyObject', run: (o) => identity.call(kw({ o })) },
  { name: 'setting it as an attribute', what: 'pass a PyObject', run: (o) => python.builtins.getObject('len').set('x', o) },
]

for (const row of operations) {
  test(`${row.name} on a disposed handle throws DisposedError`, (t) => {
    const obj = make(`op-${row.name}`)
    t.is(obj.typeName, 'Tracked')
    obj[Symbol.dispose]()
    const err = t.throws(() => row.run(obj), { instanceOf: DisposedError, code: 'ERR_PYNODE_DISPOSED' })
    t.true(err instanceof PynodeError)
    t.is(err?.name, 'DisposedError')
    t.is(err?.message, `cannot ${row.what}: this PyObject was disposed`)
    t.true(obj.disposed)
  })
}

test('util.inspect of a disposed handle', (t) => {
  const obj = make('inspect')
  t.regex(inspect(obj), /^PyObject <tracked.Tracked object at 0x[0-9a-f]+>$/)
  obj[Symbol.dispose]()
  t.is(inspect(obj), 'PyObject <disposed>')
})

test('python.stats().liveRefs goes up per handle and back down on dispose', (t) => {
  const before = python.stats()
  t.is(before.pendingReleases, 0)
  const objs = Array.from({ length: 5 }, (_, i) => make(`stats-${i}`))
  t.is(python.stats().liveRefs, before.liveRefs + 5)
  // Results converted by value hold no reference.
  t.deepEqual(python.eval('[1, {"a": 2}]'), [1, { a: 2 }])
  t.deepEqual(objs[0].get('items'), [1, 2, 3])
  t.is(python.stats().liveRefs, before.liveRefs + 5)
  for (const o of objs) o[Symbol.dispose]()
  t.is(python.stats().liveRefs, before.liveRefs)
  t.is(python.stats().pendingReleases, 0)
  t.deepEqual(
    objs.map((_, i) => freed(`stats-${i}`)),
    [true, true, true, true, true],
  )
})

test('python.builtins comes back after someone disposes it', (t) => {
  const builtins = python.builtins
  builtins[Symbol.dispose]()
  t.true(builtins.disposed)
  const fresh = python.builtins
  t.not(fresh, builtins)
  t.false(fresh.disposed)
  t.is(fresh.callMethod('len', [1, 2]), 2)
})
