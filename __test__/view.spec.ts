// view(): JS memory lent to Python without a copy, as a pynode.JSView (issue 4).
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MessageChannel } from 'node:worker_threads'
import test, { type ExecutionContext } from 'ava'
import { BufferError, InvalidArgumentError, PythonError, python, releaseBuffer, view } from '../js/index'
import { childJson, FIXTURES, loadFixture, runNode, runNodeFile } from './_helpers'

loadFixture('buffer_fixture')
python.exec('import numpy as np')
const np = python.import('numpy')
const describe = python.evalObject(
  'lambda v: (memoryview(v).format, memoryview(v).itemsize, memoryview(v).tolist(), memoryview(v).readonly)',
)
const typeName = python.evalObject('lambda v: type(v).__qualname__ + " " + type(v).__module__')

const kinds: [string, ArrayBufferView | ArrayBuffer, string, number, unknown[]][] = [
  ['Int8Array', new Int8Array([-1, 2]), 'b', 1, [-1, 2]],
  ['Uint8Array', new Uint8Array([255, 2]), 'B', 1, [255, 2]],
  ['Uint8ClampedArray', new Uint8ClampedArray([255, 2]), 'B', 1, [255, 2]],
  ['Int16Array', new Int16Array([-300, 2]), 'h', 2, [-300, 2]],
  ['Uint16Array', new Uint16Array([65535, 2]), 'H', 2, [65535, 2]],
  ['Int32Array', new Int32Array([-70000, 2]), 'i', 4, [-70000, 2]],
  ['Uint32Array', new Uint32Array([4e9, 2]), 'I', 4, [4e9, 2]],
  ['Float32Array', new Float32Array([1.5, 2]), 'f', 4, [1.5, 2]],
  ['Float64Array', new Float64Array([1.5, 2]), 'd', 8, [1.5, 2]],
  ['BigInt64Array', new BigInt64Array([-(2n ** 62n), 2n]), 'q', 8, [-(2n ** 62n), 2]],
  ['BigUint64Array', new BigUint64Array([2n ** 64n - 1n, 2n]), 'Q', 8, [2n ** 64n - 1n, 2]],
  ['ArrayBuffer', new Uint8Array([7, 8]).buffer, 'B', 1, [7, 8]],
  ['DataView (its window only)', new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2), 'B', 1, [2, 3]],
  ['subarray (its window only)', new Float64Array([1, 2, 3, 4]).subarray(1, 3), 'd', 8, [2, 3]],
  ['empty Float64Array', new Float64Array(0), 'd', 8, []],
]

for (const [name, memory, format, itemsize, values] of kinds) {
  test(`view(${name}) is a writable buffer of format '${format}'`, (t) => {
    using v = view(memory)
    t.is(typeName.call(v), 'JSView pynode')
    t.deepEqual(describe.call(v), [format, itemsize, values, false])
  })
}

test('writes are visible both ways through np.frombuffer (no copy)', (t) => {
  const xs = new Float64Array([1, 2, 3])
  using v = view(xs)
  using arr = np.callMethodObject('frombuffer', v)
  t.true(arr.getObject('flags').get('writeable') as boolean)
  t.is(arr.callMethod('sum'), 6)
  arr.setItem(0, 10)
  t.is(xs[0], 10)
  xs[2] = 30
  t.is(arr.callMethod('sum'), 42)
})

test('np.from_dlpack(view) shares the memory with the element type; __dlpack_device__ is the CPU', (t) => {
  const xs = new Int32Array([1, 2, 3])
  using v = view(xs)
  using arr = np.callMethodObject('from_dlpack', v)
  t.is(arr.getObject('dtype').toString(), 'int32')
  // Shared both ways: a JS write is seen by the numpy array...
  xs[0] = 7
  t.is(arr.callMethod('__getitem__', 0), 7)
  // ...and a numpy write by JS, where numpy makes the imported array writable (numpy ≥ 2.1;
  // older numpy marks every DLPack import read-only).
  if (python.eval(`__import__('numpy').lib.NumpyVersion(__import__('numpy').__version__) >= '2.1.0'`)) {
    arr.setItem(1, -5)
    t.deepEqual([...xs], [7, -5, 3])
  } else {
    t.false(arr.getObject('flags').get('writeable') as boolean)
  }
  t.deepEqual(v.callMethod('__dlpack_device__'), [1, 0])
})

test('__dlpack__ gives a versioned capsule when asked for max_version ≥ 1 and a legacy one otherwise', (t) => {
  using v = view(new Float32Array(2))
  const repr = python.evalObject('lambda v, **kw: repr(v.__dlpack__(**kw))')
  t.regex(repr.call(v) as string, /"dltensor"/)
  t.regex(python.evalObject('lambda v: repr(v.__dlpack__(max_version=(1, 0)))').call(v) as string, /"dltensor_versioned"/)
})

test('__dlpack__(copy=True) and another dl_device are a Python BufferError: a JSView never copies', (t) => {
  using v = view(new Float32Array(2))
  const copy = t.throws(() => python.evalObject('lambda v: v.__dlpack__(copy=True)').call(v), { instanceOf: PythonError })
  t.is(copy?.type, 'BufferError')
  const device = t.throws(() => python.evalObject('lambda v: v.__dlpack__(dl_device=(2, 0))').call(v), { instanceOf: PythonError })
  t.is(device?.type, 'BufferError')
})

test('a JSView cannot be made from Python', (t) => {
  using v = view(new Uint8Array(1))
  const err = t.throws(() => python.evalObject('lambda v: type(v)()').call(v), { instanceOf: PythonError })
  t.is(err?.type, 'TypeError')
  t.regex(err?.message ?? '', /view\(\)/)
})

test('a SharedArrayBuffer (and a typed array over one) can be lent', (t) => {
  const sab = new SharedArrayBuffer(16)
  using v = view(sab)
  t.deepEqual(describe.call(v), ['B', 1, Array(16).fill(0), false])
  using f = view(new Float64Array(sab))
  np.callMethodObject('frombuffer', f).setItem(1, 2.5)
  t.is(new Float64Array(sab)[1], 2.5)
})

test('plain Buffer/Uint8Array arguments still convert to bytes by copy', (t) => {
  const bytes = new Uint8Array([1, 2])
  const back = python.evalObject('lambda b: (type(b).__name__, b)').call(bytes) as [string, Uint8Array]
  t.is(back[0], 'bytes')
  bytes[0] = 9
  t.deepEqual([...back[1]], [1, 2])
})

/** Runs a transfer of a lent buffer: Node 20 copies it instead, Node 22+ refuses (DataCloneError). */
function transferOrRefuse(t: ExecutionContext, transfer: () => void): void {
  try {
    transfer()
  } catch (err) {
    t.is((err as { name?: string }).name, 'DataCloneError')
  }
}

test('a lent ArrayBuffer is never detached: structuredClone and postMessage copy it or refuse to transfer it', (t) => {
  const xs = new Float64Array([1, 2, 3])
  using v = view(xs)
  transferOrRefuse(t, () => {
    const clone = structuredClone(xs.buffer, { transfer: [xs.buffer] })
    t.is(clone.byteLength, 24)
  })
  t.is(xs.length, 3)
  const { port1, port2 } = new MessageChannel()
  transferOrRefuse(t, () => port1.postMessage(xs.buffer, [xs.buffer]))
  port1.close()
  port2.close()
  t.is(xs.buffer.byteLength, 24)
  t.deepEqual(python.evalObject('lambda v: memoryview(v).tolist()').call(v), [1, 2, 3])
})

test('ArrayBuffer.prototype.transfer() (Node 22+) refuses a lent buffer and still works for others', (t) => {
  const proto = ArrayBuffer.prototype as unknown as { transfer?: (this: ArrayBuffer) => ArrayBuffer }
  const xs = new Float64Array([1, 2, 3])
  using v = view(xs)
  if (typeof proto.transfer !== 'function') {
    t.log(`Node ${process.version} has no ArrayBuffer.prototype.transfer: nothing else can detach it`)
    t.is(xs.buffer.byteLength, 24)
    return
  }
  const err = t.throws(() => proto.transfer?.call(xs.buffer), { instanceOf: TypeError })
  t.regex(err?.message ?? '', /lent to Python/)
  t.is(xs.buffer.byteLength, 24)
  t.deepEqual(python.evalObject('lambda v: memoryview(v).tolist()').call(v), [1, 2, 3])
  const other = new ArrayBuffer(8)
  t.is(proto.transfer.call(other).byteLength, 8)
  t.is(other.byteLength, 0)
})

test('memory from buffer() lent back with view() is not detached by releaseBuffer() while Python may use it', (t) => {
  using a = python.evalObject("np.arange(3, dtype='float64')")
  const xs = a.buffer() as Float64Array
  using v = view(xs)
  t.false(releaseBuffer(xs))
  t.is(xs.length, 3)
  t.deepEqual(python.evalObject('lambda v: memoryview(v).tolist()').call(v), [0, 1, 2])
})

test('a detached ArrayBuffer is a BufferError (reason detached)', (t) => {
  const ab = new ArrayBuffer(8)
  structuredClone(ab, { transfer: [ab] })
  t.is(ab.byteLength, 0)
  const err = t.throws(() => view(ab), { instanceOf: BufferError })
  t.is(err?.reason, 'detached')
  // An empty view of a live buffer is not "detached".
  using empty = view(new Float64Array(new ArrayBuffer(8)).subarray(0, 0))
  t.deepEqual(describe.call(empty), ['d', 8, [], false])
})

test('a resizable ArrayBuffer is a BufferError (reason resizable)', (t) => {
  const ab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer)(8, { maxByteLength: 16 })
  const err = t.throws(() => view(new Float64Array(ab)), { instanceOf: BufferError })
  t.is(err?.reason, 'resizable')
})

test('view() of anything else is an InvalidArgumentError', (t) => {
  t.throws(() => view([1, 2] as unknown as ArrayBuffer), { instanceOf: InvalidArgumentError })
  t.throws(() => view('x' as unknown as ArrayBuffer), { instanceOf: InvalidArgumentError })
})

test('GC (child process, --expose-gc): Python keeps the JS memory alive, and frees it when done', (t) => {
  const result = runNodeFile(join(FIXTURES, 'buffer-gc-child.js'), { nodeArgs: ['--expose-gc'], args: ['view'] })
  t.is(result.status, 0, result.stderr)
  const r = childJson<{ collectedWhileHeld: boolean; sumWhileHeld: number; collectedAfterRelease: boolean }>(result)
  t.false(r.collectedWhileHeld)
  t.is(r.sumWhileHeld, 3e6)
  t.true(r.collectedAfterRelease)
})

test('a worker that lent memory exits: Python gets a BufferError instead of freed memory; drops on Python threads release JS memory', (t) => {
  const result = runNodeFile(join(FIXTURES, 'view-worker-child.js'), { nodeArgs: ['--expose-gc'] })
  t.is(result.status, 0, result.stderr)
  const r = childJson<{ sumInWorker: number; afterExit: string; collectedAfterPythonThreadDrop: boolean }>(result)
  t.is(r.sumInWorker, 6)
  t.regex(r.afterExit, /JS memory behind this JSView is gone.*worker/)
  t.true(r.collectedAfterPythonThreadDrop)
})

// The JSView type uses a buffer slot the limited API names only from 3.11: check that the same
// binary serves it (and buffer()) on every other CPython here (their pyenv builds have no numpy).
for (const version of ['3.9.18', '3.10.13', '3.12.1', '3.13.0']) {
  const [major, minor] = version.split('.')
  const executable = `/root/.pyenv/versions/${version}/bin/python${major}.${minor}`
  if (!existsSync(executable)) continue
  test(`view() and buffer() on CPython ${version} (same binary)`, (t) => {
    const result = runNode(
      `
      const { python, view } = pynode
      const xs = new Float64Array([1.5, 2, 3])
      const m = python.module('versions', 'import array\\ndef poke(v):\\n    m = memoryview(v)\\n    m[1] = 7.0\\n    return [m.format, m.tolist(), type(v.__dlpack__(max_version=(1, 0))).__name__]\\na = array.array("i", [1, 2, 3])')
      const poked = m.callMethod('poke', view(xs))
      const ints = m.getObject('a').buffer()
      ints[0] = 9
      console.log(JSON.stringify({ version: python.info.version, poked, js: [...xs], kind: ints.constructor.name, a0: python.eval('__import__("versions").a[0]') }))
      `,
      { cwd: tmpdir(), env: { PYNODE_PYTHON: executable } },
    )
    t.is(result.status, 0, result.stderr)
    t.deepEqual(childJson(result), { version, poked: ['d', [1.5, 7, 3], 'PyCapsule'], js: [1.5, 7, 3], kind: 'Int32Array', a0: 9 })
  })
}
