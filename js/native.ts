/**
 * Loads pynode's two native addons in the order they need: the loader first (it makes
 * libpython's symbols global), then the binding, which is built without linking libpython so
 * one binary serves every CPython 3.9+. Types the binding's private functions.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { RawTensor, TypedArray } from './buffer'
import { InterpreterError } from './errors'

/** An opaque native handle (a type-tagged napi external). */
export type NativeHandle = { readonly __pynodeHandle: unique symbol }

export interface StartInfo {
  version: string
  versionInfo: [number, number, number]
  executable: string
  prefix: string
  basePrefix: string
  libpython: string | null
}

/** The binding's functions (crates/pynode-node/src/api.rs). */
export interface Native {
  setup(hooks: object): void
  start(programName?: string): StartInfo
  run(source: string, evalMode: boolean, filename: string, asObject: boolean): unknown
  importModule(name: string): unknown
  createModule(name: string, source: string): unknown
  builtins(): unknown
  getAttr(h: NativeHandle, name: string, asObject: boolean): unknown
  setAttr(h: NativeHandle, name: string, value: unknown): void
  hasAttr(h: NativeHandle, name: string): boolean
  delAttr(h: NativeHandle, name: string): void
  call(h: NativeHandle, ...args: unknown[]): unknown
  callWith(h: NativeHandle, asObject: boolean, kwargs: object | undefined, args: unknown[]): unknown
  callMethod(h: NativeHandle, name: string, asObject: boolean, kwargs: object | undefined, args: unknown[]): unknown
  toJS(h: NativeHandle): unknown
  describe(h: NativeHandle, what: 0 | 1 | 2): string
  getItem(h: NativeHandle, key: unknown, asObject: boolean): unknown
  setItem(h: NativeHandle, key: unknown, value: unknown): void
  delItem(h: NativeHandle, key: unknown): void
  len(h: NativeHandle): number
  iter(h: NativeHandle): unknown
  next(h: NativeHandle, done: symbol): unknown
  release(h: NativeHandle): boolean
  isDisposed(h: NativeHandle): boolean
  stats(): NativeStats
  buffer(h: NativeHandle, copy: boolean | undefined): TypedArray
  releaseBuffer(ab: ArrayBuffer): boolean
  tensor(h: NativeHandle, copy: boolean | undefined): RawTensor
  view(memory: ArrayBufferView | ArrayBuffer): unknown
  asyncInit(settle: (batch: unknown[]) => void, loops: number): number
  asyncSubmit(op: number, loop: number, id: number, asObject: boolean, target: unknown, args: unknown, kwargs: unknown): void
  asyncControl(op: number, loop: number, id: number, n?: number, name?: string, message?: string): void
  asyncRef(on: boolean): void
  asyncSupport(): unknown
}

/** Counters for diagnostics. */
export interface NativeStats {
  /** Python references held from JS (handles) or in flight. */
  liveRefs: number
  /** Releases queued until a thread holds the GIL. */
  pendingReleases: number
  /** asyncio loops running (0 until the first async call). */
  loops: number
  /** Async requests (calls, iterations) not settled yet. */
  asyncInFlight: number
  /** Times a loop was woken to take requests (requests made in one JS turn share a wake-up). */
  asyncWakeups: number
}

interface Loader {
  openGlobal(path: string): void
}

/** The platform suffix napi-rs gives binaries, e.g. `linux-x64-gnu`. */
export function platformSuffix(): string {
  const { platform, arch } = process
  if (platform === 'linux') {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
    const libc = report?.header?.glibcVersionRuntime ? 'gnu' : 'musl'
    return `linux-${arch}-${libc}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/** Where the binaries are looked for: `PYNODE_NATIVE_DIR`, then the package's `native/`. */
function nativePath(name: string): string {
  const file = `${name}.${platformSuffix()}.node`
  const dirs = [process.env.PYNODE_NATIVE_DIR, join(__dirname, '..', 'native')].filter(Boolean) as string[]
  for (const dir of dirs) {
    const path = join(dir, file)
    if (existsSync(path)) return path
  }
  throw new InterpreterError(
    `pynode: native binary ${file} not found in ${dirs.join(', ')}; run \`npm run build\` (or set PYNODE_NATIVE_DIR)`,
    'ERR_PYNODE_NATIVE_NOT_FOUND',
  )
}

let native: Native | undefined

/** Loads libpython (global symbols) and then the binding. Idempotent. */
export function loadNative(libpython: string): Native {
  if (native) return native
  const loader = require(nativePath('pynode-loader')) as Loader
  loader.openGlobal(libpython)
  native = require(nativePath('pynode')) as Native
  return native
}
