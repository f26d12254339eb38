import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { setImmediate as tick } from 'node:timers/promises'
import test from 'ava'
import {
  ConversionError,
  DisposedError,
  InvalidArgumentError,
  kw,
  PyAsyncIterator,
  type PyObject,
  PythonError,
  PythonErrorGroup,
  python,
  UnsupportedError,
} from '../js/index'
import { childJson, DIST, loadFixture, runNode } from './_helpers'

// One module, shared state in it: the tests of this file run one after another.
const serial = test.serial
const m = loadFixture('async_fixture')
const fn = (name: string): PyObject => m.getObject(name)
const state = () => m.get('state') as Record<string, number>
const produced = () => m.get('produced') as { n: number; finally: number; closed_by: string | null }
const pyVersion = m.callMethod('python_version') as number[]
const atLeast311 = pyVersion[0] > 3 || (pyVersion[0] === 3 && pyVersion[1] >= 11)

/** Waits (event-loop turns, not wall-clock assertions) until `check()` holds. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (check()) return
    await new Promise((r) => setTimeout(r, 5))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** The reason `p` rejects with (ava's throwsAsync only accepts Error instances, not DOMException). */
async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected the promise to reject')
}

const isAbortError = (err: unknown) => (err as { name?: string })?.name === 'AbortError'

test.beforeEach(() => {
  m.callMethod('reset')
  m.callMethod('reset_stream')
})

// -- seed scenarios -------------------------------------------------------------------------

serial('seed: slow_add(40, 2) resolves to 42', async (t) => {
  t.is(await fn('slow_add').callAsync(40, 2), 42)
})

serial('seed: three greetings through Promise.all', async (t) => {
  const greet = fn('greet')
  t.deepEqual(await Promise.all(['Ada', 'Grace', 'Linus'].map((n) => greet.callAsync(n))), [
    'Hello, Ada!',
    'Hello, Grace!',
    'Hello, Linus!',
  ])
})

serial('seed: compute_stats with keyword arguments', async (t) => {
  t.deepEqual(await fn('compute_stats').callAsync([1, 2, 3, 4], kw({ scale: 2 })), { sum: 20, mean: 5, n: 4 })
})

serial('seed: fibonacci_stream(8) through for await', async (t) => {
  const out: unknown[] = []
  for await (const x of fn('fibonacci_stream').iterate(8)) out.push(x)
  t.deepEqual(out, [0, 1, 1, 2, 3, 5, 8, 13])
})

serial('seed: range_stream with kwargs start=2, stop=10, step=3', async (t) => {
  const out: unknown[] = []
  for await (const x of fn('range_stream').iterate(kw({ start: 2, stop: 10, step: 3 }))) out.push(x)
  t.deepEqual(out, [2, 5, 8])
})

serial('seed: evalAsync of a pending async_pow(3, 10)', async (t) => {
  python.exec('import async_fixture\n_pending_coro = async_fixture.async_pow(3, 10)')
  t.is(await python.evalAsync('_pending_coro'), 59049)
})

serial('seed: a task group of compute(3), compute(4), compute(5)', async (t) => {
  const g = python.taskGroup()
  for (const n of [3, 4, 5]) g.add(fn('compute'), n)
  t.is(g.size, 3)
  t.deepEqual(await g.run(), [9, 16, 25])
})

// -- where work runs ------------------------------------------------------------------------

serial('coroutines run on one long-lived loop off the main thread', async (t) => {
  const where = fn('where')
  const a = (await where.callAsync()) as { thread: number; loop: number; main: boolean }
  const b = (await where.callAsync()) as { thread: number; loop: number; main: boolean }
  t.false(a.main)
  t.is(a.loop, b.loop)
  t.is(a.thread, b.thread)
  t.is(python.stats().loops, 1)
})

serial('plain functions run on the blocking pool: not the JS thread, not the loop', async (t) => {
  const loopThread = ((await fn('where').callAsync()) as { thread: number }).thread
  const sync = (await fn('where_sync').callAsync()) as { thread: number; main: boolean }
  t.false(sync.main)
  t.not(sync.thread, loopThread)
})

serial('a plain function returning a coroutine: the coroutine is awaited too', async (t) => {
  t.is(await fn('sync_returns_coroutine').callAsync(7), 49)
})

serial('2000 concurrent calls are concurrent asyncio tasks on the loop, not waves', async (t) => {
  const nap = fn('nap')
  const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => nap.callAsync(0.05, i)))
  t.deepEqual(
    results,
    Array.from({ length: 2000 }, (_, i) => i),
  )
  t.true(state().max_tasks >= 2000, `at most ${state().max_tasks} tasks were alive at once`)
  t.is(python.stats().asyncInFlight, 0)
})

serial('calls made in one JS turn reach the loop in batches, not one wake-up each', async (t) => {
  const nap = fn('nap')
  await nap.callAsync(0)
  const before = python.stats().asyncWakeups
  const calls = Array.from({ length: 1000 }, (_, i) => nap.callAsync(0.01, i))
  const submitted = python.stats().asyncWakeups - before
  await Promise.all(calls)
  // The loop may start draining while JS is still submitting (on a busy machine, often); each
  // drain takes everything queued, so wake-ups stay far below one per call.
  t.true(submitted <= 250, `${submitted} wake-ups for 1000 calls made in one turn`)
  t.log(`${submitted} wake-up(s) for 1000 calls`)
})

serial('contextvars are per call', async (t) => {
  const roundtrip = fn('context_roundtrip')
  const results = await Promise.all(['a', 'b', 'c'].map((v) => roundtrip.callAsync(v)))
  t.deepEqual(results, [
    [null, 'a'],
    [null, 'b'],
    [null, 'c'],
  ])
  t.deepEqual(await roundtrip.callAsync('d'), [null, 'd'])
  t.deepEqual(await fn('sync_context').callAsync('e'), [null, 'e'])
  t.deepEqual(await fn('sync_context').callAsync('f'), [null, 'f'])
})

serial('the JS event loop keeps turning while Python is busy on the loop thread', async (t) => {
  const busy = fn('spin_on_loop').callAsync(0.3)
  let turns = 0
  let done = false
  busy.then(() => {
    done = true
  })
  while (!done) {
    turns++
    await tick()
  }
  t.true(turns > 20, `only ${turns} event-loop turns during 300 ms of Python work`)
})

serial('callAsyncObject returns a PyObject; non-data results become PyObjects anyway', async (t) => {
  const obj = await fn('slow_add').callAsyncObject(1, 2)
  t.is(obj.typeName, 'int')
  t.is(obj.toJS(), 3)
  obj[Symbol.dispose]()
  const lock = (await fn('make_object_async').callAsync()) as PyObject
  t.is(lock.typeName, 'lock')
  lock[Symbol.dispose]()
})

// -- errors -------------------------------------------------------------------------------

serial('a coroutine raising rejects with PythonError (type, traceback)', async (t) => {
  const err = await t.throwsAsync(fn('fail').callAsync('boom'), { instanceOf: PythonError })
  t.is(err?.type, 'ValueError')
  t.is(err?.message, 'boom')
  t.regex(err?.traceback ?? '', /in fail/)
  const err2 = await t.throwsAsync(fn('fail_sync').callAsync('key'), { instanceOf: PythonError })
  t.is(err2?.type, 'KeyError')
})

serial('bad input rejects with typed errors, never throws synchronously', async (t) => {
  const slowAdd = fn('slow_add')
  const p = slowAdd.callAsync(() => 1, 2)
  t.true(p instanceof Promise)
  const conv = await t.throwsAsync(p, { instanceOf: ConversionError })
  t.is(conv?.path, 'args[0]')
  const disposed = fn('slow_add')
  disposed[Symbol.dispose]()
  await t.throwsAsync(disposed.callAsync(1, 2), { instanceOf: DisposedError })
  t.throws(() => disposed.iterate(), { instanceOf: DisposedError })
  await t.throwsAsync(python.evalAsync('1 +'), { instanceOf: PythonError, message: /invalid syntax|was never closed|unexpected EOF/ })
  t.throws(() => python.evalAsync(42 as unknown as string), { instanceOf: InvalidArgumentError })
  t.throws(() => fn('counting').iterateWith({ prefetch: -1 }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(fn('slow_add').callAsync(1), { instanceOf: PythonError, message: /missing 1 required positional argument/ })
})

serial('evalAsync: plain values, awaitables, and Python errors', async (t) => {
  t.is(await python.evalAsync('6 * 7'), 42)
  t.is(await python.evalAsync('__import__("asyncio").sleep(0, result="slept")'), 'slept')
  await t.throwsAsync(python.evalAsync('undefined_name'), { instanceOf: PythonError, message: /undefined_name/ })
})

// -- cancellation ---------------------------------------------------------------------------

serial('an already-aborted signal rejects at once without calling Python', async (t) => {
  const reason = new Error('stop before start')
  t.is(await rejectionOf(fn('counted').callAsync(AbortSignal.abort(reason))), reason)
  t.is(state().calls, 0)
  t.true(isAbortError(await rejectionOf(python.evalAsync('1', AbortSignal.abort()))))
})

serial('abort during a call: Python sees CancelledError, finally runs, the Promise rejects with the reason', async (t) => {
  const ac = new AbortController()
  const p = fn('cancellable').callAsync(30, ac.signal)
  await until(() => python.stats().asyncInFlight === 1, 'the call to start')
  await new Promise((r) => setTimeout(r, 20))
  const reason = new Error('user gave up')
  ac.abort(reason)
  t.is(await rejectionOf(p), reason)
  await until(() => state().finally === 1, 'Python to run its finally block')
  t.is(state().cancelled, 1)
  t.is(python.stats().asyncInFlight, 0)
})

serial('abort rejects promptly even if Python ignores the cancellation', async (t) => {
  const ac = new AbortController()
  const p = fn('stubborn').callAsync(0.5, kw({}), ac.signal)
  await until(() => python.stats().asyncInFlight === 1, 'the call to start')
  await new Promise((r) => setTimeout(r, 20))
  ac.abort()
  t.true(isAbortError(await rejectionOf(p)))
  // Rejected before Python finished (it sleeps another 0.5 s after swallowing the cancel).
  t.is(state().finished, 0)
  await until(() => state().cancelled === 1, 'Python to see the cancellation')
  await until(() => state().finished === 1, 'the stubborn coroutine to end')
})

serial('calls aborted before their task started leave nothing behind', async (t) => {
  const tasks = () => python.eval('(len(__import__("_pynode_aio").hosts[0].tasks), len(__import__("_pynode_aio").hosts[0].streams))')
  const nap = fn('nap')
  for (let round = 0; round < 3; round++) {
    const pending = Array.from({ length: 100 }, (_, i) => {
      const ac = new AbortController()
      const p = nap.callAsync(0.01, i, ac.signal)
      ac.abort() // same turn: the Cancel request follows the Call in the same drain
      return rejectionOf(p)
    })
    const group = new AbortController()
    const g = python.taskGroup().add(nap, 0.01).run(group.signal)
    group.abort()
    const iterAbort = new AbortController()
    const it = fn('counting').iterate(iterAbort.signal)
    const first = it.next()
    iterAbort.abort()
    for (const err of await Promise.all([...pending, rejectionOf(g), rejectionOf(first)])) t.true(isAbortError(err))
  }
  await until(() => python.stats().asyncInFlight === 0, 'every request to settle')
  // The JS promises rejected at once; Python forgets the cancelled tasks as its loop gets to them.
  await until(() => JSON.stringify(tasks()) === '[0,0]', 'the loop to forget every task')
  t.deepEqual(tasks(), [0, 0])
})

serial('a Python-side cancellation rejects the Promise with CancelledError', async (t) => {
  const err = await t.throwsAsync(fn('cancels_itself').callAsync(), { instanceOf: PythonError })
  t.is(err?.type, 'CancelledError')
})

// -- async iteration ------------------------------------------------------------------------

serial('iteration is lazy and prefetch is bounded', async (t) => {
  const it = fn('counting').iterateWith({ prefetch: 4 })
  await new Promise((r) => setTimeout(r, 30))
  t.is(produced().n, 0, 'nothing is pulled before the first next()')
  const got: unknown[] = []
  for (let i = 0; i < 10; i++) got.push((await it.next()).value)
  t.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  await new Promise((r) => setTimeout(r, 50))
  t.true(produced().n <= 10 + 4 + 1, `ran ahead to ${produced().n} items`)
  await it.return()
  t.is(produced().finally, 1)
})

serial('break runs the generator finally (aclose) before the loop exits', async (t) => {
  // prefetch 0: the generator waits at its yield, so break reaches it through aclose().
  for await (const x of fn('counting').iterateWith({ prefetch: 0 })) {
    if (x === 3) break
  }
  t.is(produced().finally, 1)
  t.is(produced().closed_by, 'aclose')
  t.is(produced().n, 4)
  // With prefetch the generator may be busy making the next item: that step is cancelled,
  // and its finally runs all the same before break completes.
  for await (const x of fn('counting').iterate()) {
    if (x === 3) break
  }
  t.is(produced().finally, 2)
  t.true(['aclose', 'cancel'].includes(produced().closed_by as string))
})

serial('an exception in the for await body closes the generator', async (t) => {
  await t.throwsAsync(async () => {
    for await (const x of fn('counting').iterate()) {
      if (x === 2) throw new Error('body failed')
    }
  })
  t.is(produced().finally, 1)
})

serial('return() closes a generator that is waiting for its next item', async (t) => {
  const it = fn('slow_items').iterate(100, 5)
  const first = it.next()
  await new Promise((r) => setTimeout(r, 30))
  t.deepEqual(await it.return('bye'), { value: 'bye', done: true })
  t.deepEqual(await first, { value: undefined, done: true })
  t.is(produced().finally, 1)
  t.deepEqual(await it.next(), { value: undefined, done: true })
})

serial('throw() maps to athrow()', async (t) => {
  const it = fn('catching').iterate()
  t.deepEqual(await it.next(), { value: 0, done: false })
  t.deepEqual(await it.throw(new TypeError('from JS')), { value: 'caught JSError: TypeError: from JS', done: false })
  t.deepEqual(await it.next(), { value: 1, done: false })
  await it.return()
  t.is(produced().finally, 1)
  const plain = fn('fibonacci_stream').iterate(5)
  await plain.next()
  const err = await t.throwsAsync(plain.throw(new Error('not caught')), { instanceOf: PythonError })
  t.is(err?.type, 'JSError')
  t.deepEqual(await plain.next(), { value: undefined, done: true })
})

serial('throw() and return() issued together: neither rejects nor hangs, the generator is closed once', async (t) => {
  for (let round = 0; round < 20; round++) {
    m.callMethod('reset_stream')
    const it = fn('catching').iterate()
    // (return() ends next() calls still waiting; the throw() reaches the generator first.)
    const [, thrown, , returned] = await Promise.all([it.next(), it.throw(new Error('boom')), it.next(), it.return('r')])
    t.is(typeof thrown.done, 'boolean')
    t.deepEqual(returned, { value: 'r', done: true })
    t.is(produced().finally, 1)
  }
  await until(() => python.stats().asyncInFlight === 0, 'the streams to settle')
})

serial('natural exhaustion does not call aclose; break does', async (t) => {
  const ticker = fn('Ticker').callObject(3)
  const all: unknown[] = []
  for await (const x of ticker) all.push(x)
  t.deepEqual(all, [1, 2, 3])
  t.is(ticker.get('acloses'), 0)
  // (Without prefetch, so the iterator is not already exhausted by read-ahead when break comes.)
  const ticker2 = fn('Ticker').callObject(10)
  for await (const x of ticker2.aiter({ prefetch: 0 })) if (x === 2) break
  t.is(ticker2.get('acloses'), 1)
  t.is(ticker2.get('i'), 2)
})

serial('concurrent next() calls are served in order', async (t) => {
  const it = fn('range_stream').iterate(0, 6)
  const results = await Promise.all([it.next(), it.next(), it.next(), it.next(), it.next(), it.next(), it.next()])
  t.deepEqual(
    results.map((r) => (r.done ? 'done' : r.value)),
    [0, 1, 2, 3, 4, 5, 'done'],
  )
})

serial('sync generators iterate off the loop, and break closes them', async (t) => {
  const out: unknown[] = []
  for await (const x of fn('sync_counting').iterate(5)) out.push(x)
  t.deepEqual(out, [0, 10, 20, 30, 40])
  t.is(produced().finally, 1)
  for await (const x of fn('sync_counting').iterate(1000)) if (x === 20) break
  t.is(produced().finally, 2)
  const list: unknown[] = []
  for await (const x of python.evalObject('[1, "two", 3.5]')) list.push(x)
  t.deepEqual(list, [1, 'two', 3.5])
})

serial('an error inside the generator rejects the for await after the items before it', async (t) => {
  const seen: unknown[] = []
  const err = await t.throwsAsync(
    (async () => {
      for await (const x of fn('fails_after').iterate(3)) seen.push(x)
    })(),
    { instanceOf: PythonError },
  )
  t.deepEqual(seen, [0, 1, 2])
  t.is(err?.type, 'RuntimeError')
  const items = fn('unconvertible_items').iterate()
  t.deepEqual(await items.next(), { value: 1, done: false })
  const lock = (await items.next()).value as PyObject
  t.is(lock.typeName, 'lock')
  lock[Symbol.dispose]()
})

serial('abort during iteration rejects and closes the generator', async (t) => {
  const ac = new AbortController()
  const seen: unknown[] = []
  const err = await t.throwsAsync(
    (async () => {
      for await (const x of fn('counting').iterate(ac.signal)) {
        seen.push(x)
        if (x === 2) ac.abort(new Error('enough'))
      }
    })(),
  )
  t.is(err?.message, 'enough')
  t.deepEqual(seen, [0, 1, 2])
  await until(() => produced().finally === 1, 'the generator to be closed')
})

serial('await using / asyncDispose closes the iterator', async (t) => {
  {
    await using it = fn('counting').iterate()
    t.true(it instanceof PyAsyncIterator)
    t.deepEqual(await it.next(), { value: 0, done: false })
  }
  t.is(produced().finally, 1)
})

serial('an abandoned iterator is closed when collected (child process, --expose-gc)', (t) => {
  const result = runNode(
    `
    const { python } = pynode
    const m = python.module('abandon', ${JSON.stringify(
      'import asyncio\nclosed = []\nasync def gen():\n    try:\n        i = 0\n        while True:\n            yield i\n            i += 1\n    finally:\n        closed.append(True)\n',
    )})
    const gen = m.getObject('gen')
    ;(async () => {
      await (async () => {
        const it = gen.iterate()
        await it.next()
        await it.next()
      })()
      for (let i = 0; i < 50 && m.get('closed').length === 0; i++) {
        global.gc()
        await new Promise((r) => setTimeout(r, 20))
      }
      console.log(JSON.stringify({ closed: m.get('closed').length }))
    })()
    `,
    { nodeArgs: ['--expose-gc'] },
  )
  t.is(result.status, 0, result.stderr)
  t.deepEqual(childJson(result), { closed: 1 })
})

// -- queues ---------------------------------------------------------------------------------

serial('asyncQueue: JS put/get, and Python code using the same queue', async (t) => {
  using q = python.asyncQueue()
  await q.put({ a: 1 })
  await q.put('two')
  t.is(q.size, 2)
  t.deepEqual(await q.get(), { a: 1 })
  t.is(await q.get(), 'two')
  t.is(await fn('produce').callAsync(q.handle, [1, 2, 3]), 3)
  t.deepEqual([await q.get(), await q.get(), await q.get()], [1, 2, 3])
  const consumer = fn('consume').callAsync(q.handle, 2)
  await q.put('x')
  await q.put('y')
  t.deepEqual(await consumer, ['x', 'y'])
  t.is(q.handle.typeName, 'Queue')
})

serial('asyncQueue backpressure: put waits for room while the queue is full', async (t) => {
  using q = python.asyncQueue({ maxsize: 2 })
  await q.put(1)
  await q.put(2)
  let third = false
  const p = q.put(3).then(() => {
    third = true
  })
  await new Promise((r) => setTimeout(r, 50))
  t.false(third, 'put into a full queue must wait')
  t.is(await q.get(), 1)
  await p
  t.true(third)
  t.is(q.size, 2)
  t.throws(() => python.asyncQueue({ maxsize: -1 }), { instanceOf: InvalidArgumentError })
})

serial('asyncQueue.readAll streams items as Python produces them and ends on abort', async (t) => {
  using q = python.asyncQueue()
  const ac = new AbortController()
  const producer = fn('produce').callAsync(q.handle, ['a', 'b', 'c'])
  const got: unknown[] = []
  for await (const item of q.readAll(ac.signal)) {
    got.push(item)
    if (got.length === 3) ac.abort()
  }
  await producer
  t.deepEqual(got, ['a', 'b', 'c'])
  // Reading is on demand: what was not read stays in the queue.
  await q.put('left')
  await q.put('over')
  const ac2 = new AbortController()
  for await (const item of q.readAll(ac2.signal)) {
    t.is(item, 'left')
    ac2.abort()
  }
  t.is(q.size, 1)
  t.is(await q.get(), 'over')
})

// -- task groups ----------------------------------------------------------------------------

serial('taskGroup (gather): results in order; the first failure rejects, the others keep running', async (t) => {
  m.set('group_state', { finished: [], cancelled: [] })
  const member = fn('group_member')
  const g = python.taskGroup().add(member, 'a', 0.03).add(member, 'b', 0.01, 'b failed').add(member, 'c', 0.05)
  const err = await t.throwsAsync(g.run(), { instanceOf: PythonError })
  t.is(err?.message, 'b failed')
  await until(() => (m.get('group_state') as { finished: string[] }).finished.length === 2, 'the other members to finish')
  t.deepEqual(m.get('group_state'), { finished: ['a', 'c'], cancelled: [] })
  t.deepEqual(await python.taskGroup().add(member, 'x', 0.02).add(member, 'y', 0).run(), ['x', 'y'])
})

serial('taskGroup (taskgroup mode): the first failure cancels the others; ExceptionGroup -> AggregateError', async (t) => {
  if (!atLeast311) {
    t.throws(() => python.taskGroup({ mode: 'taskgroup' }), { instanceOf: UnsupportedError, message: /3\.11/ })
    return
  }
  m.set('group_state', { finished: [], cancelled: [] })
  const member = fn('group_member')
  const g = python.taskGroup({ mode: 'taskgroup' })
  g.add(member, 'slow', 5).add(member, 'bad1', 0.01, 'first').add(member, 'bad2', 0.01, 'second')
  const err = await t.throwsAsync(g.run())
  t.true(err instanceof AggregateError)
  t.true(err instanceof PythonErrorGroup)
  const group = err as PythonErrorGroup
  t.is(group.type, 'ExceptionGroup')
  t.is(group.code, 'ERR_PYNODE_PYTHON')
  t.is(group.errors.length, 2)
  t.true(group.errors.every((e) => e instanceof PythonError && e.type === 'ValueError'))
  t.deepEqual(group.errors.map((e: PythonError) => e.message).sort(), ['first', 'second'])
  t.deepEqual(m.get('group_state'), { finished: [], cancelled: ['slow'] })
  t.deepEqual(await python.taskGroup({ mode: 'taskgroup' }).add(fn('compute'), 2).add(fn('compute'), 5).run(), [4, 25])
})

serial('an ExceptionGroup from a sync call is an AggregateError too', (t) => {
  if (!atLeast311) return t.pass()
  const err = t.throws(() => python.exec('raise ExceptionGroup("many", [ValueError("v"), KeyError("k")])'))
  t.true(err instanceof PythonErrorGroup)
  t.deepEqual(
    (err as PythonErrorGroup).errors.map((e: PythonError) => e.type),
    ['ValueError', 'KeyError'],
  )
})

serial('taskGroup: abort cancels every member', async (t) => {
  m.set('group_state', { finished: [], cancelled: [] })
  const member = fn('group_member')
  const ac = new AbortController()
  const p = python.taskGroup().add(member, 'p', 5).add(member, 'q', 5).run(ac.signal)
  await new Promise((r) => setTimeout(r, 30))
  ac.abort()
  t.true(isAbortError(await rejectionOf(p)))
  await until(() => (m.get('group_state') as { cancelled: string[] }).cancelled.length === 2, 'members to be cancelled')
  t.throws(() => python.taskGroup().add('not a function' as unknown as PyObject), { instanceOf: InvalidArgumentError })
  t.throws(() => python.taskGroup({ mode: 'race' as 'gather' }), { instanceOf: InvalidArgumentError })
})

// -- process lifetime -----------------------------------------------------------------------

serial('in-flight work keeps Node alive; an idle interpreter does not', (t) => {
  const result = runNode(`
    const { python } = pynode
    const m = python.module('alive', 'import asyncio\\nasync def later(x):\\n    await asyncio.sleep(0.3)\\n    return x\\n')
    m.getObject('later').callAsync('resolved').then((v) => console.log(JSON.stringify({ v, stats: python.stats() })))
  `)
  t.is(result.status, 0, result.stderr)
  const out = childJson<{ v: string; stats: { loops: number; asyncInFlight: number } }>(result)
  t.is(out.v, 'resolved')
  t.is(out.stats.loops, 1)
})

serial('process.exit() with Python work pending exits cleanly', (t) => {
  const result = runNode(`
    const { python } = pynode
    const m = python.module('pending', 'import asyncio\\nasync def forever():\\n    await asyncio.sleep(3600)\\nasync def gen():\\n    while True:\\n        await asyncio.sleep(3600)\\n        yield 1\\n')
    m.getObject('forever').callAsync()
    m.getObject('gen').iterate().next()
    setTimeout(() => { console.log('exiting'); process.exit(7) }, 100)
  `)
  t.is(result.status, 7, result.stderr)
  t.is(result.stdout.trim(), 'exiting')
})

serial('a call never settled does not keep Node alive after its signal aborted', (t) => {
  const result = runNode(`
    const { python } = pynode
    const m = python.module('stuck', 'import asyncio\\nasync def stuck():\\n    while True:\\n        try:\\n            await asyncio.sleep(3600)\\n        except asyncio.CancelledError:\\n            pass\\n')
    const ac = new AbortController()
    m.getObject('stuck').callAsync(ac.signal).catch((e) => console.log(e.name))
    setTimeout(() => ac.abort(), 50)
  `)
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout.trim(), 'AbortError')
})

serial('several loops: calls spread over them (python.configure({ loops }))', (t) => {
  const result = runNode(
    `
    const { python } = pynode
    python.configure({ loops: 3 })
    const m = python.module('multi', 'import asyncio, threading\\nasync def where():\\n    await asyncio.sleep(0.01)\\n    return threading.get_ident()\\n')
    const where = m.getObject('where')
    Promise.all(Array.from({ length: 9 }, () => where.callAsync())).then((ids) => {
      console.log(JSON.stringify({ distinct: new Set(ids).size, loops: python.stats().loops, invalid }))
    })
  `.replace(
      'python.configure({ loops: 3 })',
      'let invalid\n    try { python.configure({ loops: 0 }) } catch (e) { invalid = e.code }\n    python.configure({ loops: 3 })',
    ),
  )
  t.is(result.status, 0, result.stderr)
  t.deepEqual(childJson(result), { distinct: 3, loops: 3, invalid: 'ERR_PYNODE_INVALID_ARG' })
})

serial('async calls from a worker thread', (t) => {
  const workerSource = [
    "const { parentPort } = require('node:worker_threads')",
    `const { python } = require(${JSON.stringify(DIST)})`,
    "const m = python.module('in_worker', 'import asyncio\\nasync def double(x):\\n    await asyncio.sleep(0.01)\\n    return x * 2\\n')",
    "m.getObject('double').callAsync(21).then((v) => parentPort.postMessage(v))",
  ].join('\n')
  const result = runNode(`
    const { Worker } = require('node:worker_threads')
    const w = new Worker(${JSON.stringify(workerSource)}, { eval: true })
    w.on('message', (v) => { console.log(JSON.stringify({ v })); w.terminate() })
    w.on('error', (e) => { console.error(e); process.exit(1) })
  `)
  t.is(result.status, 0, result.stderr)
  t.deepEqual(childJson(result), { v: 42 })
})

for (const version of ['3.9.18', '3.13.0']) {
  const [major, minor] = version.split('.')
  const executable = `/root/.pyenv/versions/${version}/bin/python${major}.${minor}`
  if (!existsSync(executable)) continue
  serial(`the async bridge on CPython ${version} (same binary); TaskGroup mode needs 3.11+`, (t) => {
    const result = runNode(
      `
      const { python, kw } = pynode
      const m = python.module('versions', 'import asyncio\\nasync def add(a, b=0):\\n    await asyncio.sleep(0.01)\\n    return a + b\\nasync def gen(n):\\n    for i in range(n):\\n        yield i\\n')
      ;(async () => {
        const sum = await m.getObject('add').callAsync(40, kw({ b: 2 }))
        const items = []
        for await (const x of m.getObject('gen').iterate(3)) items.push(x)
        const gathered = await python.taskGroup().add(m.getObject('add'), 1).add(m.getObject('add'), 2).run()
        let taskgroup
        try {
          taskgroup = await python.taskGroup({ mode: 'taskgroup' }).add(m.getObject('add'), 5).run()
        } catch (e) {
          taskgroup = e.code
        }
        console.log(JSON.stringify({ version: python.info.version, sum, items, gathered, taskgroup }))
      })()
      `,
      { cwd: tmpdir(), env: { PYNODE_PYTHON: executable } },
    )
    t.is(result.status, 0, result.stderr)
    t.deepEqual(childJson(result), {
      version,
      sum: 42,
      items: [0, 1, 2],
      gathered: [1, 2],
      taskgroup: Number(minor) >= 11 ? [5] : 'ERR_PYNODE_UNSUPPORTED',
    })
  })
}

serial('an idle interpreter with its loop started uses no CPU', (t) => {
  const result = runNode(`
    const { python } = pynode
    const m = python.module('idle', 'async def f():\\n    return 1\\n')
    m.getObject('f').callAsync().then(async () => {
      const before = process.cpuUsage()
      await new Promise((r) => setTimeout(r, 500))
      const used = process.cpuUsage(before)
      console.log(JSON.stringify({ cpuMs: (used.user + used.system) / 1000 }))
    })
  `)
  t.is(result.status, 0, result.stderr)
  const { cpuMs } = childJson<{ cpuMs: number }>(result)
  // A loop spinning on its wake-up socket would use ~500 ms of CPU here.
  t.true(cpuMs < 100, `${cpuMs} ms of CPU while idle for 500 ms`)
})

serial('after the loop started (asyncio imported on its thread), SIGINT still belongs to Node', (t) => {
  const result = runNode(`
    const { python } = pynode
    const m = python.module('sigs', 'import asyncio, signal\\nasync def f():\\n    return repr(signal.getsignal(signal.SIGINT))\\n')
    m.getObject('f').callAsync().then((handler) => {
      console.log(handler)
      process.kill(process.pid, 'SIGINT')
      setTimeout(() => { console.log('survived'); process.exit(0) }, 5000)
    })
  `)
  t.is(result.signal, 'SIGINT')
  t.is(result.stdout, 'None\n')
})

serial('workers number their requests independently; a terminated worker leaves nothing running', (t) => {
  const pySource = [
    'import asyncio, builtins',
    'async def nap(x):',
    '    await asyncio.sleep(0.001 * (x % 5))',
    '    return x',
    'async def gen():',
    '    i = 0',
    '    try:',
    '        while True:',
    '            yield i',
    '            i += 1',
    '    finally:',
    '        builtins.pynode_closed = getattr(builtins, "pynode_closed", 0) + 1',
  ].join('\n')
  const workerSource = [
    "const { parentPort, threadId } = require('node:worker_threads')",
    `const { python } = require(${JSON.stringify(DIST)})`,
    `const m = python.module('w' + threadId, ${JSON.stringify(pySource)})`,
    ';(async () => {',
    "  const it = m.getObject('gen').iterate()",
    '  await it.next()',
    "  const xs = await Promise.all(Array.from({ length: 200 }, (_, i) => m.getObject('nap').callAsync(i)))",
    '  parentPort.postMessage(xs.every((x, i) => x === i))',
    '  await new Promise(() => {}) // keep the stream and a pending call alive until terminated',
    '})()',
  ].join('\n')
  const result = runNode(`
    const { Worker } = require('node:worker_threads')
    const { python } = pynode
    const run = () => new Promise((resolve, reject) => {
      const w = new Worker(${JSON.stringify(workerSource)}, { eval: true })
      w.on('error', reject)
      w.once('message', (ok) => w.terminate().then(() => resolve(ok)))
    })
    ;(async () => {
      const oks = await Promise.all([run(), run(), run()])
      for (let i = 0; i < 100 && (python.stats().asyncInFlight > 0 || python.eval('getattr(__import__("builtins"), "pynode_closed", 0)') < 3); i++) {
        await new Promise((r) => setTimeout(r, 20))
      }
      console.log(JSON.stringify({ oks, inFlight: python.stats().asyncInFlight, closed: python.eval('getattr(__import__("builtins"), "pynode_closed", 0)') }))
    })()
  `)
  t.is(result.status, 0, result.stderr)
  t.deepEqual(childJson(result), { oks: [true, true, true], inFlight: 0, closed: 3 })
})
