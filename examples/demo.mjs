// pynode demo: `npm install && npm run demo`.
// Python in-process: a module from source, calls with keyword arguments, Python errors as JS
// errors, numpy through a proxy, big integers, and how cheap a call is.
import { kw, PythonError, proxy, python } from 'pynode'

const { version, executable, venv, libpython } = python.info
console.log(`Python ${version} from ${executable}${venv ? ' (virtualenv)' : ''}\n  libpython: ${libpython}\n`)

const stats = python.module(
  'stats',
  `
import statistics

def describe(values, *, precision=2):
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), precision),
        "stdev": round(statistics.stdev(values), precision),
        "sorted": sorted(values),
    }

def factorial(n):
    out = 1
    for i in range(2, n + 1):
        out *= i
    return out

def fail(x):
    try:
        return 1 / x
    except ZeroDivisionError as e:
        raise ValueError(f"cannot use {x!r}") from e
`,
)

console.log('describe([3, 1, 4, 1, 5, 9], precision=3):', stats.callMethod('describe', [3, 1, 4, 1, 5, 9], kw({ precision: 3 })))
console.log('factorial(25) (beyond 2^53, so a BigInt):', stats.callMethod('factorial', 25))

try {
  stats.callMethod('fail', 0)
} catch (e) {
  if (!(e instanceof PythonError)) throw e
  console.log(`\nPythonError: ${e.type}: ${e.message} (caused by ${e.cause.type}: ${e.cause.message})`)
  console.log(
    e.traceback
      .trimEnd()
      .split('\n')
      .map((l) => `  | ${l}`)
      .join('\n'),
  )
}

const np = proxy(python.import('numpy'))
const a = np.arange(12).reshape(3, 4)
console.log(`\nnumpy: a = np.arange(12).reshape(3, 4) -> shape ${a.shape}, a.sum() = ${a.sum()}, a.T.tolist() =`, a.T.tolist())
a[Symbol.dispose]()

const add = python.module('fast', 'def add(a, b):\n    return a + b').getObject('add')
const n = 1_000_000
const t0 = process.hrtime.bigint()
let acc = 0
for (let i = 0; i < n; i++) acc = add.call(acc, 1)
const ns = Number(process.hrtime.bigint() - t0) / n
console.log(`\n${n.toLocaleString()} sync calls of add(a, b): ${ns.toFixed(0)} ns per call (result ${acc})`)
add[Symbol.dispose]()
stats[Symbol.dispose]()

// Async: coroutines are Promises, async generators are async iterators, AbortSignal cancels.
const feed = python.module(
  'feed',
  `
import asyncio

async def fetch(item):
    await asyncio.sleep(0.05)      # 10,000 of these run concurrently on one asyncio loop
    return {"item": item, "score": len(str(item))}

async def tokens(text):
    try:
        for word in text.split():
            await asyncio.sleep(0.01)
            yield word
    finally:
        print("  (python) tokens() closed")

async def slow():
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        print("  (python) slow() cancelled")
        raise
`,
)
const fetch = feed.getObject('fetch')
const t1 = performance.now()
const results = await Promise.all(Array.from({ length: 10_000 }, (_, i) => fetch.callAsync(i)))
console.log(`\n10,000 concurrent fetch() coroutines (each sleeps 50 ms): ${(performance.now() - t1).toFixed(0)} ms, last =`, results.at(-1))

process.stdout.write('streamed:')
for await (const word of feed.getObject('tokens').iterate('one two three four five')) {
  process.stdout.write(` ${word}`)
  if (word === 'three') {
    console.log(' -> break')
    break
  }
}

try {
  await feed.getObject('slow').callAsync(AbortSignal.timeout(100))
} catch (e) {
  console.log(`slow() rejected with ${e.name} after 100 ms`)
}
