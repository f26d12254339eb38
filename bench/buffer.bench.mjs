// Zero-copy memory (issue 4): how long buffer() and tensor() take for numpy float64 arrays of
// 1e3, 1e6 and 1e8 elements (target: < 20 µs and flat across sizes), next to the copy a peer
// makes (pymport-style: `tobytes()` -> Buffer) in the same run; and a round trip JS
// Float64Array(1e7) -> numpy sum -> JS through view() against copying it through bytes.
//
//   node bench/buffer.bench.mjs                 full
//   BENCH_QUICK=1 node bench/buffer.bench.mjs   quick: fewer repetitions, no 1e8
//
// Each figure is the median (and min) of per-call times, each call timed alone with
// process.hrtime; views are released (detached) after each timed call so 1e8-element views do
// not pile up. The 1e8 array takes 800 MB, its copy another 800 MB.
//
// V8 counts every ArrayBuffer's backing store, external ones included, as external memory and
// reacts to a jump of hundreds of MB with GC work inside the call that made it: the `major GCs`
// column counts mark-compacts during each scenario, and `new ArrayBuffer(n)` (then detached) is
// V8's own allocation of the same size under the same heuristic, for comparison.
import { constants, PerformanceObserver } from 'node:perf_hooks'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { python, releaseBuffer, view } from 'pynode'
import { median, printHeader, printTable } from './_common.mjs'

const QUICK = process.env.BENCH_QUICK === '1'
const SIZES = QUICK ? [1e3, 1e6] : [1e3, 1e6, 1e8]
/** Timed calls per scenario: many for the cheap ones, a few for copies of big arrays. */
const reps = (elements, copies) => (copies && elements >= 1e8 ? 5 : copies && elements >= 1e6 ? 50 : QUICK ? 200 : 2000)

python.exec('import numpy as np')
const np = python.import('numpy')

let majorGCs = 0
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorGCs++
}).observe({ entryTypes: ['gc'] })

/** [name, µs[], major GCs] for a scenario. */
async function scenario(name, n, call, after) {
  await nextTurn()
  const before = majorGCs
  const us = await time(n, call, after)
  await nextTurn() // GC entries are delivered asynchronously
  return [name, us, majorGCs - before]
}

const detach = (ab) => structuredClone(ab, { transfer: [ab] })

/** Per-call µs of `call()`, each timed alone; `after(result)` runs untimed. */
async function time(n, call, after) {
  const us = []
  for (let i = 0; i < Math.min(n, 20); i++) after(call()) // warm-up
  for (let i = 0; i < n; i++) {
    if (i % 100 === 0) await nextTurn() // a new burst now and then, as real code would
    const t0 = process.hrtime.bigint()
    const result = call()
    us.push(Number(process.hrtime.bigint() - t0) / 1e3)
    after(result)
  }
  return us
}

const rows = []
for (const elements of SIZES) {
  const a = python.evalObject(`np.ones(${elements})`)
  const check = a.buffer()
  if (check.length !== elements || check[elements - 1] !== 1) throw new Error('buffer() does not show the array')
  releaseBuffer(check)
  const label = elements.toExponential(0).replace('+', '')
  const n = reps(elements, false)
  rows.push(await scenario(`buffer()             ${label}`, n, () => a.buffer(), releaseBuffer))
  rows.push(
    await scenario(
      `tensor()             ${label}`,
      n,
      () => a.tensor(),
      (t) => t[Symbol.dispose](),
    ),
  )
  rows.push(await scenario(`V8: new ArrayBuffer  ${label}`, n, () => new ArrayBuffer(elements * 8), detach))
  rows.push(
    await scenario(
      `copy: tobytes()      ${label}`,
      reps(elements, true),
      () => a.callMethod('tobytes'),
      () => {},
    ),
  )
  a[Symbol.dispose]()
  await nextTurn()
}

// Round trip: JS memory -> numpy sum -> JS.
const N = QUICK ? 1e6 : 1e7
const xs = new Float64Array(N).map((_, i) => i % 7)
const expected = xs.reduce((s, x) => s + x, 0)
const sumOf = python.evalObject('lambda b: float(np.frombuffer(b, dtype="float64").sum())')
const bytesOf = new Uint8Array(xs.buffer)
const roundTrips = [
  [
    `view(): Float64Array(${N.toExponential(0).replace('+', '')}) -> np.sum -> JS`,
    () => {
      const v = view(xs)
      try {
        return sumOf.call(v)
      } finally {
        v[Symbol.dispose]()
      }
    },
  ],
  [`copy: same through bytes`, () => sumOf.call(bytesOf)],
]
for (const [name, run] of roundTrips) {
  if (run() !== expected) throw new Error(`${name}: wrong sum`)
  rows.push(await scenario(name, QUICK ? 10 : 30, run, () => {}))
}

printHeader(`pynode buffer bench (${QUICK ? 'quick' : 'full'})`, `, numpy ${np.get('__version__')}`)
const f = (x) => (x >= 1000 ? x.toFixed(0) : x.toFixed(2))
const table = [['scenario', 'median µs', 'min µs', 'calls', 'major GCs']]
for (const [name, us, gcs] of rows) table.push([name, f(median(us)), f(Math.min(...us)), String(us.length), String(gcs)])
printTable(table)
console.log('(µs per call, each timed alone; buffer()/tensor() include creating the JS view, not releasing it)')
