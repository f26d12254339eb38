/**
 * The async bridge, JS half. Calls become requests queued on one of pynode's asyncio loops
 * (crates/pynode-core/src/aio.rs); their completions come back in batches through one
 * threadsafe function, which calls {@link settle}. Nothing here waits for the GIL.
 *
 * Node is kept alive while anything awaits Python (a pending call, a `next()` waiting for an
 * item, a close in progress) and not otherwise: an idle interpreter lets the process exit.
 */
import { InvalidArgumentError, UnsupportedError } from './errors'
import type { Native, NativeHandle } from './native'
import { HANDLE, KwArgs, PyObject } from './object'

enum Op {
  Call = 0,
  Eval = 1,
  IterCall = 3,
  IterObject = 4,
  Group = 5,
}

enum Ctl {
  Cancel = 0,
  Grant = 1,
  Close = 2,
  Throw = 3,
}

enum Kind {
  Resolve = 0,
  Reject = 1,
  Item = 2,
  End = 3,
}

/** Whoever waits on completions for one request id. */
interface Receiver {
  receive(kind: Kind, payload: unknown): void
}

let starter: (() => { native: Native; loops: number }) | undefined
let N: Native | undefined
let loopCount = 1
let nextLoop = 0
let nextId = 1
const receivers = new Map<number, Receiver>()
let holds = 0

/** Called by python.ts: how to start the interpreter and how many loops to ask for. */
export function bindAsync(start: () => { native: Native; loops: number }): void {
  starter = start
}

function native(): Native {
  if (N) return N
  if (!starter) throw new InvalidArgumentError('pynode is not initialised')
  const { native: n, loops } = starter()
  loopCount = n.asyncInit(settle, loops)
  N = n
  return n
}

function pickLoop(): number {
  const lp = nextLoop
  nextLoop = (nextLoop + 1) % loopCount
  return lp
}

function hold(): void {
  if (holds++ === 0) N?.asyncRef(true)
}

function unhold(): void {
  if (--holds === 0) N?.asyncRef(false)
}

/** Completions from the native side: `[id, kind, payload, id, kind, payload, …]`. */
function settle(batch: unknown[]): void {
  for (let i = 0; i < batch.length; i += 3) {
    const receiver = receivers.get(batch[i] as number)
    if (receiver) receiver.receive(batch[i + 1] as Kind, batch[i + 2])
    else discard(batch[i + 2])
  }
}

/** A result nobody waits for any more (an aborted call): release it now, not at GC. */
function discard(value: unknown): void {
  if (value instanceof PyObject) value[Symbol.dispose]()
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError')
}

/** Splits `(...args, kw({...})?, signal?)`. */
export function splitCallArgs(args: unknown[]): {
  pos: unknown[]
  kwargs: Readonly<Record<string, unknown>> | undefined
  signal: AbortSignal | undefined
} {
  let end = args.length
  let signal: AbortSignal | undefined
  let kwargs: Readonly<Record<string, unknown>> | undefined
  if (end > 0 && args[end - 1] instanceof AbortSignal) signal = args[--end] as AbortSignal
  if (end > 0 && args[end - 1] instanceof KwArgs) kwargs = (args[--end] as KwArgs).values
  return { pos: end === args.length ? args : args.slice(0, end), kwargs, signal }
}

class PendingCall implements Receiver {
  resolve!: (value: unknown) => void
  reject!: (reason: unknown) => void
  readonly promise: Promise<unknown>

  constructor(
    readonly id: number,
    readonly loop: number,
    readonly signal: AbortSignal | undefined,
  ) {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
  }

  receive(kind: Kind, payload: unknown): void {
    this.done()
    if (kind === Kind.Resolve) this.resolve(payload)
    else this.reject(payload)
  }

  /** The abort listener (made only for calls that have a signal). */
  abort: (() => void) | undefined

  /** Listens to `signal`: an abort rejects at once (even if Python ignores the cancellation) and cancels the task. */
  listen(signal: AbortSignal): void {
    this.abort = () => {
      if (!receivers.has(this.id)) return
      this.done()
      N?.asyncControl(Ctl.Cancel, this.loop, this.id)
      this.reject(abortReason(signal))
    }
    signal.addEventListener('abort', this.abort, { once: true })
  }

  private done(): void {
    receivers.delete(this.id)
    unhold()
    if (this.abort) this.signal?.removeEventListener('abort', this.abort)
  }
}

/** Submits one request that settles a Promise. */
function request(
  op: Op,
  loop: number | undefined,
  target: unknown,
  args: unknown,
  kwargs: unknown,
  asObject: boolean,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  if (signal?.aborted) return Promise.reject(abortReason(signal))
  try {
    const n = native()
    const id = nextId++
    const lp = loop ?? pickLoop()
    n.asyncSubmit(op, lp, id, asObject, target, args, kwargs)
    const pending = new PendingCall(id, lp, signal)
    receivers.set(id, pending)
    hold()
    if (signal) pending.listen(signal)
    return pending.promise
  } catch (err) {
    return Promise.reject(err)
  }
}

/** `fn.callAsync(...args)`: see PyObject.callAsync. */
export function callAsync(fn: NativeHandle, args: unknown[], asObject: boolean, loop?: number): Promise<unknown> {
  const last = args.length > 0 ? args[args.length - 1] : undefined
  // The common case (no kw(), no signal) skips the split.
  if (!(last instanceof KwArgs) && !(last instanceof AbortSignal)) return request(Op.Call, loop, fn, args, undefined, asObject, undefined)
  const { pos, kwargs, signal } = splitCallArgs(args)
  return request(Op.Call, loop, fn, pos, kwargs, asObject, signal)
}

/** `python.evalAsync(expr)`. */
export function evalAsync(source: string, signal: AbortSignal | undefined): Promise<unknown> {
  return request(Op.Eval, undefined, source, undefined, undefined, false, signal)
}

/** Options for async iteration. */
export interface IterateOptions {
  /**
   * How many items may be pulled ahead of the consumer (the window grows from 1 up to this
   * while the consumer keeps up). 0 pulls strictly on demand. Default 256.
   */
  prefetch?: number
  /** Aborting closes the Python iterator (aclose) and rejects the pending `next()`. */
  signal?: AbortSignal
}

const DEFAULT_PREFETCH = 256

type Waiter = { resolve: (r: IteratorResult<unknown>) => void; reject: (e: unknown) => void }

/** The state of one async iteration (kept apart from the iterator users hold, so that an
 * abandoned iterator can be collected and its Python generator closed). */
class Stream implements Receiver {
  private items: unknown[] = []
  private head = 0
  private waiters: Waiter[] = []
  private closers: { resolve: () => void; reject: (e: unknown) => void }[] = []
  /** Items granted and not yet received. */
  private outstanding = 0
  private prefetch = 0
  /** 'open' → items may arrive; 'closing' → close requested; 'ended' → nothing more comes. */
  private state: 'open' | 'closing' | 'ended' = 'open'
  private error: unknown
  private errorPending = false
  /** Between throw() and its reply: prefetched items from before the throw are dropped. */
  private throwing = false
  private held = false

  constructor(
    readonly id: number,
    readonly loop: number,
    private readonly maxPrefetch: number,
    /** readAll(): an abort ends the iteration instead of rejecting. */
    private readonly abortEnds: boolean,
    private readonly signal: AbortSignal | undefined,
  ) {
    signal?.addEventListener('abort', this.abort, { once: true })
  }

  receive(kind: Kind, payload: unknown): void {
    if (kind === Kind.Item) {
      if (this.throwing || this.state !== 'open') {
        discard(payload)
        return
      }
      this.outstanding--
      const waiter = this.waiters.shift()
      if (waiter) waiter.resolve({ value: payload, done: false })
      else this.items.push(payload)
      this.refill()
      return
    }
    receivers.delete(this.id)
    const closing = this.state === 'closing'
    this.state = 'ended'
    this.signal?.removeEventListener('abort', this.abort)
    const closers = this.closers.splice(0)
    if (kind === Kind.Reject && closing && closers.length) {
      for (const c of closers) c.reject(payload)
    } else {
      for (const c of closers) c.resolve()
      if (kind === Kind.Reject && !closing) this.fail(payload)
    }
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true })
    this.updateHold()
  }

  /** The first waiter (or the next `next()`) sees the error; later ones see the end. */
  private fail(error: unknown): void {
    const first = this.waiters.shift()
    if (first) first.reject(error)
    else {
      this.error = error
      this.errorPending = true
    }
  }

  private buffered(): number {
    return this.items.length - this.head
  }

  private shift(): unknown {
    const value = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head > 1024) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return value
  }

  private clearBuffer(): void {
    for (let i = this.head; i < this.items.length; i++) discard(this.items[i])
    this.items = []
    this.head = 0
  }

  /** Grants credit so that waiting `next()` calls are covered and up to `prefetch` items run ahead. */
  private refill(): void {
    if (this.state !== 'open' || this.throwing) return
    const have = this.outstanding + this.buffered()
    const want = this.waiters.length + this.prefetch
    if (have >= want) return
    if (this.waiters.length <= this.outstanding && have > want / 2) return
    const n = want - have
    this.outstanding += n
    N?.asyncControl(Ctl.Grant, this.loop, this.id, n)
    this.prefetch = Math.min(this.maxPrefetch, Math.max(1, this.prefetch * 2))
    this.updateHold()
  }

  private updateHold(): void {
    const need = this.waiters.length > 0 || this.closers.length > 0 || this.throwing
    if (need === this.held) return
    this.held = need
    if (need) hold()
    else unhold()
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.buffered() > 0) {
      const value = this.shift()
      this.refill()
      return Promise.resolve({ value, done: false })
    }
    if (this.errorPending) {
      this.errorPending = false
      return Promise.reject(this.error)
    }
    if (this.state !== 'open') return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject })
      this.refill()
      this.updateHold()
    })
  }

  /** return(): stops the pump and aclose()s the generator; resolves once its `finally` ran. */
  close(): Promise<void> {
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true })
    this.clearBuffer()
    this.errorPending = false
    if (this.state === 'ended') {
      this.updateHold()
      return Promise.resolve()
    }
    this.requestClose()
    return new Promise((resolve, reject) => {
      this.closers.push({ resolve, reject })
      this.updateHold()
    })
  }

  /** Asks Python to stop the pump and aclose() the iterator; End (or Reject) follows. */
  private requestClose(): void {
    if (this.state !== 'open') return
    this.state = 'closing'
    N?.asyncControl(Ctl.Close, this.loop, this.id)
  }

  /** throw(err): athrow() into the generator; the reply says what it yielded next (or done). */
  throw(err: unknown): Promise<IteratorResult<unknown>> {
    if (this.state !== 'open' || this.throwing) return Promise.reject(err)
    this.clearBuffer()
    this.throwing = true
    this.outstanding = 0
    const reply = nextId++
    const name = err instanceof Error ? err.name : 'Error'
    const message = err instanceof Error ? err.message : String(err)
    return new Promise((resolve, reject) => {
      receivers.set(reply, {
        receive: (kind, payload) => {
          receivers.delete(reply)
          unhold()
          this.throwing = false
          if (kind === Kind.Resolve) {
            const [done, value] = payload as [boolean, unknown]
            resolve({ value, done })
            this.refill()
          } else reject(payload)
          this.updateHold()
        },
      })
      hold()
      N?.asyncControl(Ctl.Throw, this.loop, this.id, reply, name, message)
    })
  }

  private readonly abort = (): void => {
    const reason = abortReason(this.signal as AbortSignal)
    const waiters = this.waiters.splice(0)
    this.clearBuffer()
    this.requestClose()
    if (this.abortEnds) {
      for (const w of waiters) w.resolve({ value: undefined, done: true })
    } else if (waiters.length > 0) {
      waiters[0].reject(reason)
      for (const w of waiters.slice(1)) w.resolve({ value: undefined, done: true })
    } else {
      this.error = reason
      this.errorPending = true
    }
    this.updateHold()
  }

  /** The iterator was collected without being closed: close the Python side, nobody waits. */
  abandon(): void {
    if (this.state !== 'open') return
    receivers.delete(this.id)
    this.state = 'ended'
    this.clearBuffer()
    try {
      N?.asyncControl(Ctl.Close, this.loop, this.id)
    } catch {
      // The process is going away.
    }
  }
}

const abandoned = new FinalizationRegistry<Stream>((stream) => stream.abandon())

/**
 * An async iterator over a Python async iterator / generator (or a sync one, pulled on the
 * blocking pool). `break`, `return()` and `[Symbol.asyncDispose]()` aclose() the generator, so
 * its `finally` blocks run; `throw()` maps to `athrow()`.
 */
export class PyAsyncIterator implements AsyncIterableIterator<unknown>, AsyncDisposable {
  readonly #stream: Stream

  /** @internal */
  constructor(stream: Stream) {
    this.#stream = stream
    abandoned.register(this, stream, this)
  }

  next(): Promise<IteratorResult<unknown>> {
    return this.#stream.next()
  }

  async return(value?: unknown): Promise<IteratorResult<unknown>> {
    abandoned.unregister(this)
    await this.#stream.close()
    return { value, done: true }
  }

  throw(err?: unknown): Promise<IteratorResult<unknown>> {
    return this.#stream.throw(err)
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.return()
  }
}

function prefetchOption(options: IterateOptions | undefined): number {
  const p = options?.prefetch ?? DEFAULT_PREFETCH
  if (!Number.isInteger(p) || p < 0) throw new InvalidArgumentError(`prefetch must be a non-negative integer, got ${String(p)}`)
  return p
}

/** Starts a stream: `op` IterCall (`fn(*args)` gives the iterable) or IterObject (`target` is it). */
function openStream(
  op: Op.IterCall | Op.IterObject,
  target: NativeHandle,
  args: unknown[] | undefined,
  kwargs: unknown,
  options: { prefetch: number; signal: AbortSignal | undefined; abortEnds: boolean; loop?: number },
): PyAsyncIterator {
  const n = native()
  const id = nextId++
  const lp = options.loop ?? pickLoop()
  const stream = new Stream(id, lp, options.prefetch, options.abortEnds, options.signal)
  if (options.signal?.aborted) {
    stream.close().catch(() => {})
    return new PyAsyncIterator(stream)
  }
  n.asyncSubmit(op, lp, id, false, target, args, kwargs)
  receivers.set(id, stream)
  return new PyAsyncIterator(stream)
}

/** `fn.iterate(...args)`. */
export function iterateCall(fn: NativeHandle, args: unknown[], options?: IterateOptions): PyAsyncIterator {
  const split = splitCallArgs(args)
  const signal = options?.signal ?? split.signal
  return openStream(Op.IterCall, fn, split.pos, split.kwargs, { prefetch: prefetchOption(options), signal, abortEnds: false })
}

/** `for await (const x of obj)`. */
export function iterateObject(obj: NativeHandle, options?: IterateOptions): PyAsyncIterator {
  return openStream(Op.IterObject, obj, undefined, undefined, {
    prefetch: prefetchOption(options),
    signal: options?.signal,
    abortEnds: false,
  })
}

let supportModule: PyObject | undefined

/** The `_pynode_aio` module (helpers for queues), with every loop's host created. */
function support(): PyObject {
  if (!supportModule) supportModule = native().asyncSupport() as PyObject
  return supportModule
}

/** Options for {@link python.asyncQueue}. */
export interface AsyncQueueOptions {
  /** Room in the queue; `put` waits while it is full. 0 (default) means unbounded. */
  maxsize?: number
}

/**
 * An `asyncio.Queue` shared by JS and Python (it lives on pynode's first loop). `put` waits
 * for room when the queue is full; `readAll` iterates until aborted (or, on Python 3.13, until
 * the queue is shut down). Python code gets the queue itself through `.handle`.
 */
export class AsyncQueue implements Disposable {
  /** The `asyncio.Queue`: pass it to Python code (coroutines called with callAsync). */
  readonly handle: PyObject
  readonly #put: PyObject
  readonly #get: PyObject
  readonly #readAll: PyObject

  /** @internal Made by python.asyncQueue(). */
  constructor(options: AsyncQueueOptions = {}) {
    const maxsize = options.maxsize ?? 0
    if (!Number.isInteger(maxsize) || maxsize < 0)
      throw new InvalidArgumentError(`maxsize must be a non-negative integer, got ${String(maxsize)}`)
    const mod = support()
    this.handle = mod.callMethodObject('make_queue', maxsize)
    this.#put = this.handle.getObject('put')
    this.#get = this.handle.getObject('get')
    this.#readAll = mod.getObject('read_all')
  }

  /** `await queue.put(value)`: waits while the queue is full. */
  put(value: unknown, signal?: AbortSignal): Promise<void> {
    return request(Op.Call, 0, this.#put[HANDLE], [value], undefined, false, signal) as Promise<void>
  }

  /** `await queue.get()`: the next item, waiting for one if the queue is empty. */
  get(signal?: AbortSignal): Promise<unknown> {
    return request(Op.Call, 0, this.#get[HANDLE], [], undefined, false, signal)
  }

  /**
   * Every item, as it arrives, until `signal` aborts (the iteration then ends normally). Items
   * are taken from the queue only when asked for, so what is not read stays in the queue.
   */
  readAll(signal?: AbortSignal): PyAsyncIterator {
    return openStream(Op.IterCall, this.#readAll[HANDLE], [this.handle], undefined, { prefetch: 0, signal, abortEnds: true, loop: 0 })
  }

  /** `queue.qsize()`. */
  get size(): number {
    return this.handle.callMethod('qsize') as number
  }

  /** Releases the queue's handles. */
  [Symbol.dispose](): void {
    this.#put[Symbol.dispose]()
    this.#get[Symbol.dispose]()
    this.#readAll[Symbol.dispose]()
    this.handle[Symbol.dispose]()
  }
}

/** Options for {@link python.taskGroup}. */
export interface TaskGroupOptions {
  /**
   * `'gather'` (default): `asyncio.gather` — the first failure rejects `run()`, the other calls
   * keep running. `'taskgroup'` (Python 3.11+): `asyncio.TaskGroup` — the first failure cancels
   * the others and `run()` rejects with an AggregateError of every failure.
   */
  mode?: 'gather' | 'taskgroup'
}

/** Calls run together on one loop, with results in the order they were added. */
export class TaskGroup {
  readonly mode: 'gather' | 'taskgroup'
  readonly #calls: [NativeHandle, unknown[], Readonly<Record<string, unknown>> | undefined][] = []

  /** @internal Made by python.taskGroup(). */
  constructor(options: TaskGroupOptions, pythonVersion: readonly number[]) {
    const mode = options.mode ?? 'gather'
    if (mode !== 'gather' && mode !== 'taskgroup')
      throw new InvalidArgumentError(`taskGroup mode must be 'gather' or 'taskgroup', got ${String(mode)}`)
    if (mode === 'taskgroup' && (pythonVersion[0] < 3 || (pythonVersion[0] === 3 && pythonVersion[1] < 11))) {
      throw new UnsupportedError(
        `taskGroup({ mode: 'taskgroup' }) needs asyncio.TaskGroup, new in Python 3.11; this is Python ${pythonVersion.join('.')}. Use the default 'gather' mode or a newer Python.`,
      )
    }
    this.mode = mode
  }

  /** Adds `fn(...args)` (a trailing `kw({...})` gives keyword arguments). Returns the group. */
  add(fn: PyObject, ...args: unknown[]): this {
    if (!(fn instanceof PyObject)) throw new InvalidArgumentError('taskGroup().add() takes a PyObject callable first')
    const { pos, kwargs, signal } = splitCallArgs(args)
    if (signal) throw new InvalidArgumentError('pass the AbortSignal to run(), not to add()')
    this.#calls.push([fn[HANDLE], pos, kwargs])
    return this
  }

  /** How many calls were added. */
  get size(): number {
    return this.#calls.length
  }

  /** Runs every call concurrently; resolves with their results in the order they were added. */
  run(signal?: AbortSignal): Promise<unknown[]> {
    return request(Op.Group, undefined, this.#calls, this.mode === 'taskgroup', undefined, false, signal) as Promise<unknown[]>
  }
}
