/**
 * Zero-copy memory between Python and JS (issue 4).
 *
 * - `obj.buffer()`: a Python buffer (bytes, bytearray, memoryview, array.array, numpy…) as a
 *   TypedArray over Python's memory.
 * - `obj.tensor()`: an object with `__dlpack__` as a {@link Tensor}.
 * - {@link view}: JS memory lent to Python as a `pynode.JSView` (buffer protocol and DLPack).
 *
 * The rules (README, "Zero-copy memory"): read-only Python memory is copied unless
 * `{ copy: false }` (then an error); non-contiguous buffers are an error unless
 * `{ copy: true }`; formats no TypedArray can hold are an error; an ArrayBuffer lent to
 * Python is marked untransferable, so it can never be detached under Python's feet.
 */
import { markAsUntransferable } from 'node:worker_threads'
import { BufferError, InvalidArgumentError } from './errors'
import type { Native, NativeHandle } from './native'
import { HANDLE, type PyObject } from './object'

/** Every TypedArray kind pynode hands out or accepts. */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array

/** Options of `buffer()` and `tensor()`. */
export interface BufferOptions {
  /**
   * `true`: always copy into JS-owned memory (also works for non-contiguous buffers).
   * `false`: always share; read-only memory is then an error.
   * Unset (default): share writable memory, copy read-only memory.
   */
  copy?: boolean
}

/** What the binding returns for `tensor()`. */
export interface RawTensor {
  data: TypedArray | null
  shape: number[]
  strides: number[]
  dtype: string
  device: string
  byteOffset: number
  source: PyObject
}

let N: Native | undefined

/** ArrayBuffers lent to Python by view(): never detached by releaseBuffer() (Python points into them). */
const lent = new WeakSet<object>()

/** Called once the binding is loaded (by object.ts's bindNative). */
export function bindBufferNative(native: Native): void {
  N = native
}

function native(): Native {
  if (!N) {
    // Required here, not imported at the top: python.ts imports (through object.ts) this module,
    // and a top-level import would run python.ts before the modules it needs are initialized.
    const { python } = require('./python') as typeof import('./python')
    python.start()
  }
  return N as Native
}

function copyOption(options: BufferOptions | undefined): boolean | undefined {
  if (options === undefined) return undefined
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object like { copy: true }')
  if (options.copy !== undefined && typeof options.copy !== 'boolean') throw new InvalidArgumentError('options.copy must be a boolean')
  return options.copy
}

/** @internal `obj.buffer(options)`. */
export function bufferOf(handle: NativeHandle, options?: BufferOptions): TypedArray {
  return native().buffer(handle, copyOption(options))
}

/** @internal `obj.tensor(options)`. */
export function tensorOf(handle: NativeHandle, options?: BufferOptions): Tensor {
  return new Tensor(native().tensor(handle, copyOption(options)))
}

/**
 * A DLPack tensor seen from JS, from `obj.tensor()`. Element `[i, j, …]` is
 * `data[i * strides[0] + j * strides[1] + …]` (strides count elements of `dtype`; complex
 * dtypes take two `data` entries per element, real then imaginary; float16/bfloat16/float8
 * come as raw bits in a Uint16Array/Uint8Array). `data` is `null` for tensors on a device the
 * CPU cannot read (`'cuda:0'`…). Passed back to a Python call, a Tensor is its source object,
 * so `np.from_dlpack(t)` / `torch.from_dlpack(t)` take it without a copy.
 *
 * @example
 * using t = np.callMethodObject('ones', [2, 3]).tensor()
 * t.shape   // [2, 3]
 * t.dtype   // 'float64'
 * t.data    // Float64Array(6) over numpy's memory
 */
export class Tensor implements Disposable {
  declare readonly [HANDLE]: NativeHandle
  /** The elements (shared with Python unless copied), or `null` off the CPU. */
  readonly data: TypedArray | null
  readonly shape: readonly number[]
  /** In elements of `dtype`, not bytes. */
  readonly strides: readonly number[]
  /** `'float32'`, `'int64'`, `'bool'`, `'bfloat16'`, `'complex64'`… */
  readonly dtype: string
  /** The DLPack device: `'cpu'`, `'cuda:0'`, `'rocm:1'`… */
  readonly device: string
  /** DLPack's `byte_offset`: where the first element lies from the producer's data pointer. */
  readonly byteOffset: number
  readonly #source: PyObject

  /** @internal Tensors are made by `obj.tensor()`. */
  constructor(raw: RawTensor) {
    this.data = raw.data
    this.shape = Object.freeze(raw.shape)
    this.strides = Object.freeze(raw.strides)
    this.dtype = raw.dtype
    this.device = raw.device
    this.byteOffset = raw.byteOffset
    this.#source = raw.source
    Object.defineProperty(this, HANDLE, { value: raw.source[HANDLE] })
  }

  /** The Python object the tensor came from (shared with this Tensor: disposed with it). */
  get source(): PyObject {
    return this.#source
  }

  /** Whether `[Symbol.dispose]()` has run. */
  get disposed(): boolean {
    return this.#source.disposed
  }

  /** Releases the tensor now: `data` is detached (length 0) and the producer's memory freed. */
  [Symbol.dispose](): void {
    if (this.data) releaseBuffer(this.data)
    this.#source[Symbol.dispose]()
  }
}

/**
 * Releases the Python memory behind a TypedArray from `buffer()` or `tensor()` now, instead of
 * when it is garbage collected: its ArrayBuffer is detached (every view of it then has length
 * 0). Returns `false`, and does nothing, for any other TypedArray or ArrayBuffer, and for one
 * lent back to Python with `view()` (Python points into it; it is released when collected).
 */
export function releaseBuffer(memory: ArrayBufferView | ArrayBufferLike): boolean {
  const ab = ArrayBuffer.isView(memory) ? memory.buffer : memory
  // No pynode buffer exists before the binding is loaded: nothing to release, nothing to start.
  if (!(ab instanceof ArrayBuffer) || lent.has(ab) || !N) return false
  return N.releaseBuffer(ab)
}

/** Whether `ab` is detached (Node 20 has no `ArrayBuffer.prototype.detached`). */
function isDetached(ab: ArrayBuffer): boolean {
  if (ab.byteLength !== 0) return false
  try {
    new Uint8Array(ab)
    return false
  } catch {
    return true
  }
}

/**
 * Lends JS memory to Python without a copy, as a `pynode.JSView`: it supports the buffer
 * protocol (`memoryview(v)`, `np.frombuffer(v, dtype)`, writable) and DLPack
 * (`np.from_dlpack(v)`), with the TypedArray's element type (`Float64Array` → format `'d'`;
 * ArrayBuffer and DataView → bytes). Python's object keeps the memory alive, however long it
 * is held. The ArrayBuffer is marked untransferable for good (`postMessage`/`structuredClone`
 * then copy it instead of detaching it), and a detached or resizable ArrayBuffer is refused.
 *
 * @example
 * const xs = new Float64Array([1, 2, 3])
 * using v = view(xs)
 * np.callMethod('sum', np.callMethodObject('frombuffer', v))  // 6, no copy
 */
export function view(memory: ArrayBufferView | ArrayBuffer | SharedArrayBuffer): PyObject {
  let ab: ArrayBufferLike
  if (ArrayBuffer.isView(memory)) ab = memory.buffer
  else if (memory instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && memory instanceof SharedArrayBuffer)) ab = memory
  else throw new InvalidArgumentError('view() takes a TypedArray, DataView, ArrayBuffer or SharedArrayBuffer')
  const shared = !(ab instanceof ArrayBuffer)
  if (!shared && isDetached(ab as ArrayBuffer)) {
    throw new BufferError('this ArrayBuffer is detached (it was transferred); it has no memory to share', 'detached')
  }
  if ((ab as ArrayBuffer & { resizable?: boolean }).resizable) {
    throw new BufferError(
      'a resizable ArrayBuffer cannot be lent to Python: resizing would move or drop memory Python still points at; copy it into a fixed-length one',
      'resizable',
    )
  }
  const v = native().view(
    ArrayBuffer.isView(memory) || !shared ? (memory as ArrayBufferView | ArrayBuffer) : new Uint8Array(ab),
  ) as PyObject
  // Never detach memory Python points at: postMessage/structuredClone now copy it instead.
  if (!shared) {
    markAsUntransferable(ab)
    lent.add(ab)
    guardTransfer()
  }
  return v
}

let transferGuarded = false

/**
 * `ArrayBuffer.prototype.transfer()` / `transferToFixedLength()` (Node 22+) detach a buffer
 * whatever `markAsUntransferable` says, and Node-API cannot pin one. Once memory has been lent
 * to Python they throw a TypeError for lent buffers (others are untouched), so Python never
 * points at memory that moved.
 */
function guardTransfer(): void {
  if (transferGuarded) return
  transferGuarded = true
  const proto = ArrayBuffer.prototype as unknown as Record<string, unknown>
  for (const name of ['transfer', 'transferToFixedLength']) {
    const original = proto[name]
    if (typeof original !== 'function') continue
    Object.defineProperty(proto, name, {
      configurable: true,
      writable: true,
      value: {
        [name](this: ArrayBuffer, ...args: unknown[]) {
          if (lent.has(this)) {
            throw new TypeError(
              `pynode: this ArrayBuffer is lent to Python with view(), so it cannot be detached by ${name}(); copy it instead (buffer.slice())`,
            )
          }
          return (original as (...a: unknown[]) => unknown).apply(this, args)
        },
      }[name],
    })
  }
}
