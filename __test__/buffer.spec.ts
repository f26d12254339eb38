// obj.buffer(): Python buffers as TypedArrays over Python's memory (issue 4).
import { join } from 'node:path'
import test from 'ava'
import { BufferError, DisposedError, InvalidArgumentError, PythonError, python, releaseBuffer } from '../js/index'
import { childJson, FIXTURES, loadFixture, runNodeFile } from './_helpers'

const fx = loadFixture('buffer_fixture')
python.exec('import array, numpy as np, buffer_fixture')
const tick = () => new Promise((resolve) => setImmediate(resolve))

interface Mapping {
  expr: string
  ctor: string
  values: unknown[]
}

const mappings: Mapping[] = [
  { expr: "np.array([-1, 2], 'int8')", ctor: 'Int8Array', values: [-1, 2] },
  { expr: "np.array([255, 2], 'uint8')", ctor: 'Uint8Array', values: [255, 2] },
  { expr: "np.array([-300, 2], 'int16')", ctor: 'Int16Array', values: [-300, 2] },
  { expr: "np.array([65535, 2], 'uint16')", ctor: 'Uint16Array', values: [65535, 2] },
  { expr: "np.array([-70000, 2], 'int32')", ctor: 'Int32Array', values: [-70000, 2] },
  { expr: "np.array([4000000000, 2], 'uint32')", ctor: 'Uint32Array', values: [4000000000, 2] },
  { expr: "np.array([-2**62, 2], 'int64')", ctor: 'BigInt64Array', values: [-(2n ** 62n), 2n] },
  { expr: "np.array([2**64 - 1, 2], 'uint64')", ctor: 'BigUint64Array', values: [2n ** 64n - 1n, 2n] },
  { expr: "np.array([1.5, -2], 'float32')", ctor: 'Float32Array', values: [1.5, -2] },
  { expr: "np.array([1.5, -2], 'float64')", ctor: 'Float64Array', values: [1.5, -2] },
  { expr: 'np.array([True, False])', ctor: 'Uint8Array', values: [1, 0] },
  { expr: "np.array([1, 2], '<i4')", ctor: 'Int32Array', values: [1, 2] },
  { expr: "np.array([1, 2], '>u1')", ctor: 'Uint8Array', values: [1, 2] },
  { expr: "array.array('b', [-1, 2])", ctor: 'Int8Array', values: [-1, 2] },
  { expr: "array.array('B', [1, 2])", ctor: 'Uint8Array', values: [1, 2] },
  { expr: "array.array('h', [-1, 2])", ctor: 'Int16Array', values: [-1, 2] },
  { expr: "array.array('H', [1, 2])", ctor: 'Uint16Array', values: [1, 2] },
  { expr: "array.array('i', [-1, 2])", ctor: 'Int32Array', values: [-1, 2] },
  { expr: "array.array('I', [1, 2])", ctor: 'Uint32Array', values: [1, 2] },
  { expr: "array.array('l', [-1, 2])", ctor: 'BigInt64Array', values: [-1n, 2n] },
  { expr: "array.array('L', [1, 2])", ctor: 'BigUint64Array', values: [1n, 2n] },
  { expr: "array.array('q', [-1, 2])", ctor: 'BigInt64Array', values: [-1n, 2n] },
  { expr: "array.array('Q', [1, 2])", ctor: 'BigUint64Array', values: [1n, 2n] },
  { expr: "array.array('f', [0.5, 2])", ctor: 'Float32Array', values: [0.5, 2] },
  { expr: "array.array('d', [0.5, 2])", ctor: 'Float64Array', values: [0.5, 2] },
  { expr: "bytearray(b'hi')", ctor: 'Uint8Array', values: [104, 105] },
  { expr: "b'hi'", ctor: 'Uint8Array', values: [104, 105] },
  { expr: "memoryview(bytearray(b'hi'))", ctor: 'Uint8Array', values: [104, 105] },
  { expr: "memoryview(bytearray(8)).cast('d')", ctor: 'Float64Array', values: [0] },
]

for (const { expr, ctor, values } of mappings) {
  test(`buffer() maps ${expr} to ${ctor}`, (t) => {
    using obj = python.evalObject(expr)
    const view = obj.buffer()
    t.is(view.constructor.name, ctor)
    t.deepEqual([...view], values)
  })
}

test('buffer() shares memory: writes are visible both ways, and two views see each other', (t) => {
  using a = python.evalObject("np.arange(4, dtype='float64')")
  const first = a.buffer() as Float64Array
  const second = a.buffer() as Float64Array
  first[1] = 42
  t.is(second[1], 42)
  t.deepEqual(a.callMethod('tolist'), [0, 42, 2, 3])
  a.callMethod('fill', 7)
  t.deepEqual([...first], [7, 7, 7, 7])
  using ba = python.evalObject("bytearray(b'abc')")
  const bytes = ba.buffer()
  bytes[0] = 'z'.charCodeAt(0)
  t.is(ba.callMethod('decode'), 'zbc')
})

test('buffer() of an N-D C-contiguous array is its elements, flat, in C order', (t) => {
  using a = python.evalObject("np.arange(24, dtype='int32').reshape(2, 3, 4)")
  const view = a.buffer() as Int32Array
  t.is(view.length, 24)
  t.deepEqual([...view.slice(0, 5)], [0, 1, 2, 3, 4])
  view[23] = -1
  t.is(a.callMethod('item', 23), -1)
})

test('read-only buffers (bytes, read-only numpy) are copied by default: JS writes never reach Python', (t) => {
  python.exec("ro = np.arange(3, dtype='float64'); ro.flags.writeable = False; bs = b'abc'")
  using bs = python.evalObject('bs')
  const copy = bs.buffer()
  copy[0] = 0
  t.is(python.eval("bs == b'abc'"), true)
  using ro = python.evalObject('ro')
  const roCopy = ro.buffer() as Float64Array
  roCopy[0] = 99
  t.deepEqual(python.eval('ro.tolist()'), [0, 1, 2])
})

test('read-only buffers with { copy: false } are a BufferError (reason readonly)', (t) => {
  using bs = python.evalObject("b'abc'")
  const err = t.throws(() => bs.buffer({ copy: false }), { instanceOf: BufferError })
  t.is(err?.code, 'ERR_PYNODE_BUFFER')
  t.is(err?.name, 'BufferError')
  t.is(err?.reason, 'readonly')
  t.regex(err?.message ?? '', /read-only.*copy/)
})

test('{ copy: false } shares writable memory; { copy: true } gives an independent copy', (t) => {
  using a = python.evalObject("np.zeros(3, 'float64')")
  const shared = a.buffer({ copy: false }) as Float64Array
  const copied = a.buffer({ copy: true }) as Float64Array
  shared[0] = 1
  copied[1] = 2
  t.deepEqual(a.callMethod('tolist'), [1, 0, 0])
  t.deepEqual([...copied], [0, 2, 0])
})

for (const expr of [
  "np.arange(10, dtype='float64')[::2]",
  "np.arange(6, dtype='int32').reshape(2, 3).T",
  'memoryview(bytearray(8))[::2]',
]) {
  test(`non-contiguous ${expr}: BufferError without a copy, C-ordered with { copy: true }`, (t) => {
    using obj = python.evalObject(expr)
    const err = t.throws(() => obj.buffer(), { instanceOf: BufferError })
    t.is(err?.reason, 'not-contiguous')
    t.regex(err?.message ?? '', /copy: true/)
    const copy = obj.buffer({ copy: true })
    const expected = python.eval(`list(memoryview(${expr}).tobytes())`) as number[]
    t.deepEqual([...new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength)], expected)
  })
}

for (const [expr, hint] of [
  ["np.zeros(2, 'float16')", /float16/],
  ["np.zeros(2, 'complex128')", /complex/],
  ["np.zeros(2, dtype=[('a', 'i4'), ('b', 'f8')])", /struct/],
  ["np.zeros(2, '>f8')", /byte order/],
  ["np.zeros(2, 'longdouble')", /no TypedArray/],
] as const) {
  test(`unsupported format ${expr} is a BufferError (reason format), never a reinterpretation`, (t) => {
    using obj = python.evalObject(expr)
    const err = t.throws(() => obj.buffer(), { instanceOf: BufferError })
    t.is(err?.reason, 'format')
    t.regex(err?.message ?? '', hint)
    // Asking for a copy does not make an unsupported format readable either.
    t.is(t.throws(() => obj.buffer({ copy: true }), { instanceOf: BufferError })?.reason, 'format')
  })
}

test('an object without the buffer protocol raises Python’s TypeError', (t) => {
  using obj = python.evalObject('42')
  const err = t.throws(() => obj.buffer(), { instanceOf: PythonError })
  t.is(err?.type, 'TypeError')
})

test('a buffer that is not aligned to its element is a BufferError (reason misaligned) unless copied', (t) => {
  using obj = python.evalObject("np.frombuffer(bytearray(17), dtype='float64', offset=1)")
  t.is(t.throws(() => obj.buffer(), { instanceOf: BufferError })?.reason, 'misaligned')
  t.is(obj.buffer({ copy: true }).length, 2)
})

test('an empty buffer is an empty TypedArray', (t) => {
  using obj = python.evalObject("np.zeros(0, 'float32')")
  const view = obj.buffer()
  t.is(view.constructor.name, 'Float32Array')
  t.is(view.length, 0)
})

test('the export pins Python memory: a bytearray cannot resize while JS holds its view', async (t) => {
  using ba = python.evalObject('bytearray(b"abc")')
  const view = ba.buffer()
  t.false(fx.callMethod('bytearray_resizable', ba))
  t.true(releaseBuffer(view))
  t.is(view.length, 0)
  // The export is released from the finalizer Node runs after the detach.
  for (let i = 0; i < 20 && !fx.callMethod('bytearray_resizable', ba); i++) await tick()
  t.true(fx.callMethod('bytearray_resizable', ba))
})

test('releaseBuffer() ignores memory pynode did not lend, and a second release', (t) => {
  t.false(releaseBuffer(new Float64Array(4)))
  t.false(releaseBuffer(new ArrayBuffer(8)))
  using a = python.evalObject("np.zeros(2, 'float64')")
  const view = a.buffer()
  t.true(releaseBuffer(view.buffer))
  t.false(releaseBuffer(view))
  // A copy is ordinary JS memory.
  t.false(releaseBuffer(a.buffer({ copy: true })))
})

test('buffer() on a disposed handle is a DisposedError; bad options are an InvalidArgumentError', (t) => {
  const a = python.evalObject("bytearray(b'x')")
  t.throws(() => a.buffer({ copy: 1 as unknown as boolean }), { instanceOf: InvalidArgumentError })
  a[Symbol.dispose]()
  t.throws(() => a.buffer(), { instanceOf: DisposedError })
})

test('the view outlives the Python name: deleting the variable does not free memory JS sees', (t) => {
  python.exec("keep = buffer_fixture.track('outlive', np.full(1000, 2.5))")
  const view = python.evalObject('keep').buffer() as Float64Array
  python.exec('del keep')
  t.true(fx.callMethod('alive', 'outlive'))
  t.is(
    view.reduce((s, x) => s + x, 0),
    2500,
  )
  releaseBuffer(view)
})

test('GC (child process, --expose-gc): collected views release their Python buffers and external memory', (t) => {
  const result = runNodeFile(join(FIXTURES, 'buffer-gc-child.js'), { nodeArgs: ['--expose-gc'], args: ['buffer'] })
  t.is(result.status, 0, result.stderr)
  const r = childJson<{
    count: number
    aliveWhileHeld: number
    sum: number
    aliveAfterGc: number
    externalGrowth: number
    externalAfter: number
  }>(result)
  t.is(r.aliveWhileHeld, r.count)
  t.is(r.sum, r.count * 1e6)
  t.is(r.aliveAfterGc, 0)
  // V8 counts the 8 MB each view references as external memory, and uncounts it once freed.
  // (Within 5%: other external memory of the process may be freed meanwhile.)
  t.true(r.externalGrowth >= r.count * 8e6 * 0.95, `external memory grew by ${r.externalGrowth}`)
  t.true(r.externalAfter < r.count * 8e6, `external memory after GC: ${r.externalAfter}`)
})
