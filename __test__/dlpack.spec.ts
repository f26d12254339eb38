// obj.tensor(): DLPack tensors as { data, shape, strides, dtype, device, byteOffset } (issue 4).
import test from 'ava'
import { BufferError, DisposedError, type PyObject, PythonError, python, Tensor } from '../js/index'
import { loadFixture } from './_helpers'

const fx = loadFixture('buffer_fixture')
python.exec('import numpy as np, buffer_fixture')
const np = python.import('numpy')
const tick = () => new Promise((resolve) => setImmediate(resolve))

interface Case {
  expr: string
  dtype: string
  ctor: string
  shape: number[]
  strides: number[]
  values: unknown[]
}

const cases: Case[] = [
  { expr: "np.array([1, -2, 3], 'int32')", dtype: 'int32', ctor: 'Int32Array', shape: [3], strides: [1], values: [1, -2, 3] },
  { expr: "np.array([1.5, 2], 'float32')", dtype: 'float32', ctor: 'Float32Array', shape: [2], strides: [1], values: [1.5, 2] },
  { expr: "np.array([1.5, 2], 'float64')", dtype: 'float64', ctor: 'Float64Array', shape: [2], strides: [1], values: [1.5, 2] },
  { expr: 'np.array([True, False, True])', dtype: 'bool', ctor: 'Uint8Array', shape: [3], strides: [1], values: [1, 0, 1] },
  { expr: "np.array([-5, 7], 'int64')", dtype: 'int64', ctor: 'BigInt64Array', shape: [2], strides: [1], values: [-5n, 7n] },
  { expr: "np.array([5, 7], 'uint16')", dtype: 'uint16', ctor: 'Uint16Array', shape: [2], strides: [1], values: [5, 7] },
  {
    expr: "np.arange(6, dtype='float64').reshape(2, 3)",
    dtype: 'float64',
    ctor: 'Float64Array',
    shape: [2, 3],
    strides: [3, 1],
    values: [0, 1, 2, 3, 4, 5],
  },
  {
    expr: "np.arange(6, dtype='int32').reshape(2, 3)",
    dtype: 'int32',
    ctor: 'Int32Array',
    shape: [2, 3],
    strides: [3, 1],
    values: [0, 1, 2, 3, 4, 5],
  },
  { expr: "np.zeros((2, 0), 'float32')", dtype: 'float32', ctor: 'Float32Array', shape: [2, 0], strides: [0, 1], values: [] },
  // Raw bits, with the dtype saying how to read them: 1.0 is 0x3c00 in float16.
  { expr: "np.array([1.0], 'float16')", dtype: 'float16', ctor: 'Uint16Array', shape: [1], strides: [1], values: [0x3c00] },
  // Interleaved (real, imaginary).
  { expr: "np.array([1+2j], 'complex128')", dtype: 'complex128', ctor: 'Float64Array', shape: [1], strides: [1], values: [1, 2] },
]

for (const c of cases) {
  test(`tensor() of ${c.expr}: ${c.dtype} ${JSON.stringify(c.shape)} on the CPU`, (t) => {
    using obj = python.evalObject(c.expr)
    using tensor = obj.tensor()
    t.true(tensor instanceof Tensor)
    t.is(tensor.dtype, c.dtype)
    t.is(tensor.device, 'cpu')
    t.deepEqual(tensor.shape, c.shape)
    // numpy reports strides for every dimension; a zero-size dimension's may be anything.
    if (!c.shape.includes(0)) t.deepEqual(tensor.strides, c.strides)
    t.is(tensor.byteOffset, 0)
    t.is(tensor.data?.constructor.name, c.ctor)
    t.deepEqual([...(tensor.data ?? [])], c.values)
  })
}

test('tensor() shares memory: writes through data are visible in numpy and back', (t) => {
  using a = python.evalObject("np.zeros((2, 2), 'float32')")
  using tensor = a.tensor()
  const data = tensor.data as Float32Array
  data[tensor.strides[0] * 1 + tensor.strides[1] * 0] = 5
  t.deepEqual(a.callMethod('tolist'), [
    [0, 0],
    [5, 0],
  ])
  a.callMethod('fill', 1)
  t.deepEqual([...data], [1, 1, 1, 1])
})

test('tensor() of a transposed array keeps its strides: data[i*s0 + j*s1] is element [i, j]', (t) => {
  using a = python.evalObject("np.arange(6, dtype='int32').reshape(2, 3).T")
  using tensor = a.tensor()
  t.deepEqual(tensor.shape, [3, 2])
  t.deepEqual(tensor.strides, [1, 3])
  const at = (i: number, j: number) => (tensor.data as Int32Array)[i * tensor.strides[0] + j * tensor.strides[1]]
  t.deepEqual([at(0, 0), at(0, 1), at(2, 1)], [0, 3, 5])
})

test('negative strides are a BufferError (reason strides); { copy: true } gives a C-ordered copy', (t) => {
  using a = python.evalObject("np.arange(4, dtype='float64')[::-1]")
  t.is(t.throws(() => a.tensor(), { instanceOf: BufferError })?.reason, 'strides')
  using copy = a.tensor({ copy: true })
  t.deepEqual([...(copy.data as Float64Array)], [3, 2, 1, 0])
  t.deepEqual(copy.strides, [1])
})

test('a read-only tensor (versioned flag) is copied by default and a BufferError with { copy: false }', (t) => {
  python.exec("ro = np.arange(3, dtype='float64'); ro.flags.writeable = False")
  using ro = python.evalObject('ro')
  if (!python.eval(`__import__('numpy').lib.NumpyVersion(__import__('numpy').__version__) >= '2.1.0'`)) {
    // numpy < 2.1 cannot signal read-only through DLPack and refuses to export: a PythonError.
    t.is(t.throws(() => ro.tensor(), { instanceOf: PythonError })?.type, 'BufferError')
    return
  }
  using tensor = ro.tensor()
  ;(tensor.data as Float64Array)[0] = 99
  t.deepEqual(python.eval('ro.tolist()'), [0, 1, 2])
  t.is(t.throws(() => ro.tensor({ copy: false }), { instanceOf: BufferError })?.reason, 'readonly')
})

test('np.from_dlpack(tensor) hands the tensor back to Python without a copy', (t) => {
  using a = python.evalObject("np.arange(4, dtype='float64')")
  using tensor = a.tensor()
  using back = np.callMethodObject('from_dlpack', tensor)
  t.true(np.callMethod('shares_memory', back, a) as boolean)
})

test('dispose releases at once: data is detached and the tensor can no longer be passed', (t) => {
  using a = python.evalObject("np.arange(4, dtype='float64')")
  const tensor = a.tensor()
  tensor[Symbol.dispose]()
  t.true(tensor.disposed)
  t.is(tensor.data?.length, 0)
  t.throws(() => np.callMethod('from_dlpack', tensor), { instanceOf: DisposedError })
})

test('an object without __dlpack__ is a BufferError (reason dlpack) that points to buffer()', (t) => {
  using obj = python.evalObject("bytearray(b'x')")
  const err = t.throws(() => obj.tensor(), { instanceOf: BufferError })
  t.is(err?.reason, 'dlpack')
  t.regex(err?.message ?? '', /bytearray has no __dlpack__.*buffer\(\)/)
})

function producer(name: string, options: string): PyObject {
  return python.evalObject(`buffer_fixture.Producer(${JSON.stringify(name)}, np.arange(6, dtype='float64').reshape(2, 3), ${options})`)
}

async function deletions(name: string, expected: number): Promise<string[]> {
  for (let i = 0; i < 50 && (fx.callMethod('deletions', name) as string[]).length < expected; i++) await tick()
  return fx.callMethod('deletions', name) as string[]
}

test('a legacy capsule (producer without max_version) works, and its deleter runs exactly once on dispose', async (t) => {
  using p = producer('legacy', 'legacy=True')
  const tensor = p.tensor()
  t.deepEqual([...(tensor.data as Float64Array)], [0, 1, 2, 3, 4, 5])
  t.deepEqual(await deletions('legacy', 0), [])
  tensor[Symbol.dispose]()
  const threads = await deletions('legacy', 1)
  await tick()
  t.is((fx.callMethod('deletions', 'legacy') as string[]).length, 1, `deleter ran on ${threads}`)
})

test('a versioned capsule’s deleter runs exactly once, also when the copy path releases it at once', async (t) => {
  using p = producer('versioned-ro', 'readonly=True')
  using tensor = p.tensor()
  t.deepEqual(tensor.strides, [3, 1])
  t.is((await deletions('versioned-ro', 1)).length, 1)
})

test('a tensor on another device has no host view (data null), names its device, and is released at once', async (t) => {
  using p = producer('cuda', 'device=(2, 1)')
  using tensor = p.tensor()
  t.is(tensor.data, null)
  t.is(tensor.device, 'cuda:1')
  t.deepEqual(tensor.shape, [2, 3])
  t.is((await deletions('cuda', 1)).length, 1)
  // Passed back to Python, it is its source (the producer), for from_dlpack on its device.
  t.is(python.builtins.getObject('id').call(tensor), python.builtins.getObject('id').call(p))
})

test('bfloat16 comes as raw bits in a Uint16Array with dtype bfloat16', (t) => {
  using p = producer('bf16', 'dtype=(4, 16)')
  using tensor = p.tensor()
  t.is(tensor.dtype, 'bfloat16')
  t.is(tensor.data?.constructor.name, 'Uint16Array')
})

test('a DLPack major version pynode cannot read is a BufferError (reason dlpack), not a guess', (t) => {
  using p = producer('v2', 'version=(2, 0)')
  const err = t.throws(() => p.tensor(), { instanceOf: BufferError })
  t.is(err?.reason, 'dlpack')
  t.regex(err?.message ?? '', /version 2/)
})

test('a dtype no TypedArray holds (float4) is a BufferError (reason format)', (t) => {
  using p = producer('f4', 'dtype=(17, 4)')
  const err = t.throws(() => p.tensor(), { instanceOf: BufferError })
  t.is(err?.reason, 'format')
  t.regex(err?.message ?? '', /dtype float4_e2m1fn has no TypedArray/)
})
