// Sync-call overhead: ns per call made from JS, next to the same call timed inside Python with
// timeit, in one process and one run (same interpreter, same machine state), so the ratio is the
// cost pynode adds on top of Python's own call.
//
//   node bench/sync-call.bench.mjs                 full: 7 rounds of 1,000,000 calls
//   BENCH_QUICK=1 node bench/sync-call.bench.mjs   quick: 7 rounds of 100,000 calls
//
// Another Python with the same binary: run from a directory without a .venv, e.g.
//   cd /tmp && PYNODE_PYTHON=/path/to/python3.12 node /work/main/bench/sync-call.bench.mjs
// ('pynode' resolves by package self-reference from this file's location, whatever the cwd.)
import { setImmediate as nextTurn } from 'node:timers/promises'
import { python } from 'pynode'
import { median, printHeader, printTable } from './_common.mjs'

const QUICK = process.env.BENCH_QUICK === '1'
const CALLS = QUICK ? 100_000 : 1_000_000
const ROUNDS = 7
const WARMUP = 200_000 // enough for V8 to optimise the loops and for CPython 3.11+ to specialise

const min = (xs) => Math.min(...xs)

const m = python.module(
  'pynode_bench_sync',
  `
def add(a, b):
    return a + b

def echo(s):
    return s

def noop():
    pass
`,
)
const add = m.getObject('add')
const echo = m.getObject('echo')
const noop = m.getObject('noop')

// 100 printable ASCII characters; set on the module so Python's timeit echoes the very same string.
const S = Array.from({ length: 100 }, (_, i) => String.fromCharCode(33 + ((i * 7) % 94))).join('')
m.set('S', S)

// Check the calls do what we time before timing them.
if (add.call(1, 2) !== 3) throw new Error('add(1, 2) !== 3')
if (echo.call(S) !== S) throw new Error('echo(s) did not round-trip')
if (noop.call() !== null) throw new Error('noop() !== null')

// Each body runs its own loop (no per-call closure) and returns something derived from every
// result so the work cannot be dropped. Between rounds we yield to the event loop: pynode holds
// the GIL for a burst of sync calls in one turn and releases it in a setImmediate, so each round
// pays one GIL acquire/release, as a real burst of calls in one turn would.
async function timeJs(body) {
  body(WARMUP)
  const ns = []
  let sink = 0
  for (let r = 0; r < ROUNDS; r++) {
    await nextTurn()
    const t0 = process.hrtime.bigint()
    sink += body(CALLS)
    ns.push(Number(process.hrtime.bigint() - t0) / CALLS)
  }
  if (Number.isNaN(sink)) throw new Error('unreachable')
  return ns
}

// The same statement under timeit.repeat (number=CALLS, repeat=ROUNDS) after a warm-up. timeit
// turns the garbage collector off while it times; the statement calls the very function objects
// JS calls. Its loop overhead (a few ns per iteration) is included, as it is on the JS side.
function timePython(stmt) {
  python.exec(`
import timeit as _timeit, pynode_bench_sync as _m
_g = {'add': _m.add, 'echo': _m.echo, 'noop': _m.noop, 's': _m.S}
_timeit.timeit(${JSON.stringify(stmt)}, globals=_g, number=${WARMUP})
_bench_secs = _timeit.repeat(${JSON.stringify(stmt)}, globals=_g, number=${CALLS}, repeat=${ROUNDS})
`)
  return python.eval('_bench_secs').map((secs) => (secs * 1e9) / CALLS)
}

const scenarios = [
  {
    name: 'add(1, 2)',
    js: (n) => {
      let acc = 0
      for (let i = 0; i < n; i++) acc += add.call(1, 2)
      return acc
    },
    py: 'add(1, 2)',
  },
  {
    name: 'echo(s), s = 100 ASCII chars',
    js: (n) => {
      let acc = 0
      for (let i = 0; i < n; i++) acc += echo.call(S).length
      return acc
    },
    py: 'echo(s)',
  },
  {
    name: 'noop() (no arguments, returns None)',
    js: (n) => {
      let acc = 0
      for (let i = 0; i < n; i++) acc += noop.call() === null ? 1 : 0
      return acc
    },
    py: 'noop()',
  },
  {
    // The JS -> native -> JS floor: a handle getter that crosses into the addon but takes no
    // GIL and runs no Python (python.stats() builds an object, so it is no floor). No Python twin.
    name: 'floor: fn.disposed (napi only, no Python)',
    js: (n) => {
      let acc = 0
      for (let i = 0; i < n; i++) acc += add.disposed ? 0 : 1
      return acc
    },
  },
]

const rows = []
for (const s of scenarios) {
  const js = await timeJs(s.js)
  const py = s.py ? timePython(s.py) : undefined
  rows.push({ name: s.name, js, py })
}

// Header: what ran, and the exact command to run it again.
printHeader(`pynode sync-call bench (${QUICK ? 'quick' : 'full'}): ${ROUNDS} rounds x ${CALLS.toLocaleString('en-US')} calls`)

// Ratio = JS median / in-Python median. Both medians: the Python min is shown too because it is
// what `python -m timeit` reports and it is the least noisy on a shared machine.
const f = (x) => (x === undefined ? '-' : x.toFixed(1))
const table = [['scenario', 'JS median', 'JS min', 'Py median', 'Py min', 'ratio (median)']]
for (const r of rows) {
  const pm = r.py && median(r.py)
  table.push([r.name, f(median(r.js)), f(min(r.js)), f(pm), f(r.py && min(r.py)), pm ? `${(median(r.js) / pm).toFixed(2)}x` : '-'])
}
printTable(table)
console.log('(ns per call; Python = timeit.repeat inside the same interpreter)')

for (const h of [add, echo, noop, m]) h[Symbol.dispose]()
