// Async bridge: each number next to its floor measured in the same process and run (the
// machine is shared and noisy, so read the ratios).
//
//   node bench/async.bench.mjs                 full
//   BENCH_QUICK=1 node bench/async.bench.mjs   quick (fewer rounds and items)
//
// 1. sequential `await fn.callAsync()` of a trivial coroutine: µs per call
//    (floor: Python's own run_coroutine_threadsafe(...).result() from another thread)
// 2. 10,000 concurrent asyncio.sleep(0.05) through Promise.all vs gathered inside Python
// 3. trivial-coroutine throughput with 10,000 in flight vs gathered inside Python
// 4. async generator items/s through `for await` vs `async for` inside Python
// 5. Node event-loop delay (p99) while the loop thread runs CPU-bound Python and 1000 calls
//    are in flight
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { python } from 'pynode'
import { median, printHeader } from './_common.mjs'

const QUICK = process.env.BENCH_QUICK === '1'
const ROUNDS = QUICK ? 3 : 5
const fmt = (x, digits = 1) => x.toFixed(digits)

const m = python.module(
  'pynode_bench_async',
  `
import asyncio, threading, time

async def trivial():
    return 1

async def nap(s):
    await asyncio.sleep(s)
    return s

async def numbers(n):
    for i in range(n):
        yield i

def spin(seconds):
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n

async def spin_async(seconds):
    return spin(seconds)

async def _gather_sleeps(n, s):
    t = time.perf_counter()
    await asyncio.gather(*[nap(s) for _ in range(n)])
    return (time.perf_counter() - t) * 1000

async def _gather_trivial(n):
    t = time.perf_counter()
    await asyncio.gather(*[trivial() for _ in range(n)])
    return n / (time.perf_counter() - t)

async def _async_for(n):
    t = time.perf_counter()
    k = 0
    async for _ in numbers(n):
        k += 1
    return k / (time.perf_counter() - t)

def threadsafe_roundtrip(n):
    # Python's own cross-thread await: a fresh loop on a thread, calls from this thread.
    loop = asyncio.new_event_loop()
    th = threading.Thread(target=loop.run_forever, daemon=True)
    th.start()
    t = time.perf_counter()
    for _ in range(n):
        asyncio.run_coroutine_threadsafe(trivial(), loop).result()
    per = (time.perf_counter() - t) / n * 1e6
    loop.call_soon_threadsafe(loop.stop)
    th.join()
    loop.close()
    return per
`,
)
const trivial = m.getObject('trivial')
const nap = m.getObject('nap')
const numbers = m.getObject('numbers')
const spinAsync = m.getObject('spin_async')

printHeader(`pynode async bench (${QUICK ? 'quick' : 'full'})`)

// warm-up: start the loop, let V8 optimise
for (let i = 0; i < 2000; i++) await trivial.callAsync()

// 1. sequential latency
{
  const N = QUICK ? 2000 : 10000
  const rounds = []
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint()
    for (let i = 0; i < N; i++) await trivial.callAsync()
    rounds.push(Number(process.hrtime.bigint() - t) / N / 1000)
  }
  const floor = m.callMethod('threadsafe_roundtrip', QUICK ? 2000 : 5000)
  console.log(
    `1. sequential await callAsync(trivial): ${fmt(median(rounds))} µs/call (median of ${ROUNDS}x${N}); Python run_coroutine_threadsafe().result(): ${fmt(floor)} µs`,
  )
}

// 2. 10,000 concurrent sleeps
{
  const N = 10000
  const bridge = []
  const inPython = []
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint()
    await Promise.all(Array.from({ length: N }, () => nap.callAsync(0.05)))
    bridge.push(Number(process.hrtime.bigint() - t) / 1e6)
    inPython.push(await python.evalAsync(`__import__('pynode_bench_async')._gather_sleeps(${N}, 0.05)`))
  }
  const b = median(bridge)
  const p = median(inPython)
  console.log(
    `2. ${N} concurrent asyncio.sleep(0.05): bridge ${fmt(b)} ms, in-Python gather ${fmt(p)} ms, ratio ${fmt(b / p, 2)}x (target <= 1.25x)`,
  )
}

// 3. throughput of trivial coroutines, 10,000 in flight
{
  const N = 10000
  const bridge = []
  const inPython = []
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint()
    await Promise.all(Array.from({ length: N }, () => trivial.callAsync()))
    bridge.push(N / (Number(process.hrtime.bigint() - t) / 1e9))
    inPython.push(await python.evalAsync(`__import__('pynode_bench_async')._gather_trivial(${N})`))
  }
  const b = median(bridge)
  const p = median(inPython)
  console.log(
    `3. trivial coroutines, ${N} in flight: bridge ${fmt(b / 1000)}k/s, in-Python gather ${fmt(p / 1000)}k/s, ratio ${fmt(b / p, 2)} (target >= 0.5)`,
  )
}

// 4. async generator items/s
{
  const N = QUICK ? 300_000 : 2_000_000
  const bridge = []
  const inPython = []
  for (let r = 0; r < ROUNDS; r++) {
    let k = 0
    const t = process.hrtime.bigint()
    for await (const _ of numbers.iterateWith({ prefetch: 4096 }, N)) k++
    bridge.push(k / (Number(process.hrtime.bigint() - t) / 1e9))
    inPython.push(await python.evalAsync(`__import__('pynode_bench_async')._async_for(${N})`))
  }
  let d = 0
  const t = process.hrtime.bigint()
  for await (const _ of numbers.iterate(N)) d++
  const defaultRate = d / (Number(process.hrtime.bigint() - t) / 1e9)
  console.log(
    `4. async generator, ${N} items: for await ${fmt(median(bridge) / 1e6, 2)} M items/s (prefetch 4096), ${fmt(defaultRate / 1e6, 2)} M/s (default prefetch); in-Python async for ${fmt(median(inPython) / 1e6, 2)} M/s (target >= 1 M/s)`,
  )
}

// 5. event-loop delay while Python is busy on the loop thread
{
  const h = monitorEventLoopDelay({ resolution: 1 })
  const busy = spinAsync.callAsync(QUICK ? 1 : 2)
  await sleep(20)
  h.enable()
  const s0 = process.hrtime.bigint()
  const calls = Array.from({ length: 1000 }, () => nap.callAsync(0.001))
  const submitUs = Number(process.hrtime.bigint() - s0) / 1000
  const ticker = setInterval(() => {}, 1)
  await Promise.all([busy, ...calls])
  clearInterval(ticker)
  h.disable()
  console.log(
    `5. event-loop delay while the loop thread spins Python and 1000 calls are in flight: p99 ${fmt(h.percentile(99) / 1e6, 2)} ms, max ${fmt(h.max / 1e6, 2)} ms (target p99 < 2 ms); submitting the 1000 calls while Python held the GIL took ${fmt(submitUs / 1000, 2)} ms`,
  )
}
