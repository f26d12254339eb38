/**
 * `PyObject`: a handle on a Python object. It owns one reference, released at once by
 * `[Symbol.dispose]()` (so `using` works) or, as a safety net only, when it is collected.
 */
import { inspect } from 'node:util'
import { callAsync, type IterateOptions, iterateCall, iterateObject, type PyAsyncIterator } from './async'
import { InvalidArgumentError } from './errors'
import type { Native, NativeHandle } from './native'

/** Where a PyObject keeps its native handle (read by the binding to pass it to Python). */
export const HANDLE: unique symbol = Symbol('pynode.handle')
/** Proves a PyObject is made by pynode, not by user code. */
export const TOKEN: unique symbol = Symbol('pynode.token')
const DONE: unique symbol = Symbol('pynode.done')

let N: Native

/** Called once the binding is loaded. */
export function bindNative(native: Native): void {
  N = native
}

/** Keyword arguments for a call: `fn.call(1, kw({ scale: 2 }))`. */
export class KwArgs {
  constructor(readonly values: Readonly<Record<string, unknown>>) {}
}

/** Marks `values` as keyword arguments; pass it as the last argument of `call`. */
export function kw(values: Record<string, unknown>): KwArgs {
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new InvalidArgumentError('kw() takes a plain object of keyword arguments, e.g. kw({ scale: 2 })')
  }
  return new KwArgs(values)
}

function split(args: unknown[]): [unknown[], Readonly<Record<string, unknown>> | undefined] {
  const last = args[args.length - 1]
  return last instanceof KwArgs ? [args.slice(0, -1), last.values] : [args, undefined]
}

/** A Python object held from JS. */
export class PyObject implements Disposable, Iterable<unknown>, AsyncIterable<unknown> {
  declare readonly [HANDLE]: NativeHandle

  /** @internal PyObjects are made by pynode (python.import, python.eval, call results…). */
  constructor(token: symbol, handle: NativeHandle) {
    if (token !== TOKEN) {
      throw new InvalidArgumentError('PyObject cannot be constructed directly; get one from python.import(), python.eval(), or a call')
    }
    Object.defineProperty(this, HANDLE, { value: handle })
  }

  /** Attribute `name`, converted by value (plain data) or as a PyObject. */
  get(name: string): unknown {
    return N.getAttr(this[HANDLE], name, false)
  }

  /** Attribute `name` as a PyObject, whatever its type. */
  getObject(name: string): PyObject {
    return N.getAttr(this[HANDLE], name, true) as PyObject
  }

  /** Sets attribute `name` (the value is converted to Python). */
  set(name: string, value: unknown): void {
    N.setAttr(this[HANDLE], name, value)
  }

  /** Whether attribute `name` exists (`hasattr`). */
  has(name: string): boolean {
    return N.hasAttr(this[HANDLE], name)
  }

  /** Deletes attribute `name` (`delattr`). */
  delete(name: string): void {
    N.delAttr(this[HANDLE], name)
  }

  /**
   * Calls the object. A trailing `kw({...})` gives keyword arguments. The result is converted
   * by value (plain data) or returned as a PyObject.
   *
   * @example
   * const add = python.module('m', 'def add(a, b):\n    return a + b').getObject('add')
   * add.call(1, 2) // 3
   */
  call(...args: unknown[]): unknown {
    const last = args[args.length - 1]
    if (last instanceof KwArgs) return N.callWith(this[HANDLE], false, last.values, args.slice(0, -1))
    return N.call(this[HANDLE], ...args)
  }

  /** Like `call`, but the result is always a PyObject. */
  callObject(...args: unknown[]): PyObject {
    const [pos, kwargs] = split(args)
    return N.callWith(this[HANDLE], true, kwargs, pos) as PyObject
  }

  /** Calls method `name` (no intermediate handle for the bound method). */
  callMethod(name: string, ...args: unknown[]): unknown {
    const [pos, kwargs] = split(args)
    return N.callMethod(this[HANDLE], name, false, kwargs, pos)
  }

  /** Like `callMethod`, but the result is always a PyObject. */
  callMethodObject(name: string, ...args: unknown[]): PyObject {
    const [pos, kwargs] = split(args)
    return N.callMethod(this[HANDLE], name, true, kwargs, pos) as PyObject
  }

  /**
   * Calls the object without blocking the event loop and returns a Promise of its result.
   * A coroutine function is awaited as an asyncio task on one of pynode's loops; any other
   * callable runs on a blocking-pool thread (its result is awaited too if it is awaitable).
   * A trailing `kw({...})` gives keyword arguments; a trailing `AbortSignal` cancels the call:
   * Python sees `CancelledError` (its `finally` blocks run) and the Promise rejects at once
   * with the signal's reason. Python exceptions reject with {@link PythonError}.
   *
   * @example
   * const fetch = python.module('m', 'import asyncio\nasync def slow_add(a, b):\n    await asyncio.sleep(0.01)\n    return a + b').getObject('slow_add')
   * await fetch.callAsync(40, 2) // 42
   */
  callAsync(...args: unknown[]): Promise<unknown> {
    return callAsync(this[HANDLE], args, false)
  }

  /** Like `callAsync`, but the result is always a PyObject. */
  callAsyncObject(...args: unknown[]): Promise<PyObject> {
    return callAsync(this[HANDLE], args, true) as Promise<PyObject>
  }

  /**
   * Calls an async generator function (or a sync generator function, or anything returning an
   * iterable) and iterates what it returns, with `for await`. Items are pulled lazily with a
   * bounded prefetch; `break` runs the generator's `finally` (aclose). A trailing
   * `kw({...})` and/or `AbortSignal` work as in `callAsync`.
   *
   * @example
   * for await (const n of gen.iterate(8)) console.log(n)
   */
  iterate(...args: unknown[]): PyAsyncIterator {
    return iterateCall(this[HANDLE], args)
  }

  /** Like `iterate`, with options (`prefetch`, `signal`) first. */
  iterateWith(options: IterateOptions, ...args: unknown[]): PyAsyncIterator {
    return iterateCall(this[HANDLE], args, options)
  }

  /** Iterates the object itself asynchronously (an async iterable, or a sync one pulled off-thread). */
  aiter(options?: IterateOptions): PyAsyncIterator {
    return iterateObject(this[HANDLE], options)
  }

  /** `for await (const x of obj)`: see {@link PyObject.aiter}. */
  [Symbol.asyncIterator](): PyAsyncIterator {
    return iterateObject(this[HANDLE])
  }

  /** `obj[key]`, converted. */
  getItem(key: unknown): unknown {
    return N.getItem(this[HANDLE], key, false)
  }

  /** `obj[key]` as a PyObject. */
  getItemObject(key: unknown): PyObject {
    return N.getItem(this[HANDLE], key, true) as PyObject
  }

  /** `obj[key] = value`. */
  setItem(key: unknown, value: unknown): void {
    N.setItem(this[HANDLE], key, value)
  }

  /** `del obj[key]`. */
  deleteItem(key: unknown): void {
    N.delItem(this[HANDLE], key)
  }

  /** `len(obj)`. */
  get length(): number {
    return N.len(this[HANDLE])
  }

  /** The object converted by value; an object that is not plain data comes back as a new PyObject. */
  toJS(): unknown {
    return N.toJS(this[HANDLE])
  }

  /** `repr(obj)`. */
  repr(): string {
    return N.describe(this[HANDLE], 0)
  }

  /** `str(obj)`. */
  toString(): string {
    return N.describe(this[HANDLE], 1)
  }

  /** The name of the object's Python type, e.g. `'ndarray'`. */
  get typeName(): string {
    return N.describe(this[HANDLE], 2)
  }

  /** Whether `[Symbol.dispose]()` has released this handle. */
  get disposed(): boolean {
    return N.isDisposed(this[HANDLE])
  }

  /** Iterates the object (`iter(obj)`), converting each item. */
  *[Symbol.iterator](): Iterator<unknown> {
    const it = N.iter(this[HANDLE]) as PyObject
    try {
      for (;;) {
        const item = N.next(it[HANDLE], DONE)
        if (item === DONE) return
        yield item
      }
    } finally {
      it[Symbol.dispose]()
    }
  }

  /** Releases the Python reference now. Safe to call more than once. */
  [Symbol.dispose](): void {
    N.release(this[HANDLE])
  }

  [inspect.custom](): string {
    if (this.disposed) return 'PyObject <disposed>'
    try {
      return `PyObject ${this.repr()}`
    } catch {
      return 'PyObject <repr failed>'
    }
  }
}
