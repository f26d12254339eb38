/**
 * `proxy(obj)`: attribute access and calls through a JS Proxy, for code that reads like Python
 * (`np.arange(5).sum()`). Results that are not plain data come back proxied too. A proxy is
 * never thenable (`await` returns it as is) and is disposable like its PyObject.
 */
import { inspect } from 'node:util'
import { HANDLE, PyObject } from './object'

/** What a proxy offers: any attribute, callable, disposable. */
// biome-ignore lint/suspicious/noExplicitAny: a proxy's attributes are whatever Python has.
export type PyProxy = any

const TARGET = Symbol('pynode.proxyTarget')

function wrap(value: unknown): unknown {
  return value instanceof PyObject ? proxy(value) : value
}

/** Wraps `obj` in a Proxy: `p.attr`, `p.attr = v`, `'attr' in p`, `p(...args)`, `p.method(...)`. */
export function proxy(obj: PyObject): PyProxy {
  // The target is a function so the Proxy can be called.
  // util.inspect looks at a Proxy's target without its traps, so the inspector lives there.
  const target = Object.assign(() => undefined, {
    [TARGET]: obj,
    [inspect.custom]: () => `PyProxy ${obj.disposed ? '<disposed>' : obj.repr()}`,
  })
  return new Proxy(target, {
    get(_t, prop) {
      if (prop === HANDLE) return obj[HANDLE]
      if (prop === TARGET) return obj
      if (prop === 'then') return undefined
      if (prop === Symbol.dispose) return () => obj[Symbol.dispose]()
      if (prop === Symbol.iterator)
        return function* () {
          for (const item of obj) yield wrap(item)
        }
      if (prop === Symbol.toPrimitive) return (hint: string) => (hint === 'number' ? Number(obj.toJS()) : obj.toString())
      if (prop === inspect.custom) return () => `PyProxy ${obj.disposed ? '<disposed>' : obj.repr()}`
      if (typeof prop === 'symbol') return undefined
      return wrap(obj.get(prop))
    },
    set(_t, prop, value) {
      if (typeof prop === 'symbol') return false
      obj.set(prop, value)
      return true
    },
    has(_t, prop) {
      return typeof prop === 'string' && obj.has(prop)
    },
    deleteProperty(_t, prop) {
      if (typeof prop === 'symbol') return false
      obj.delete(prop)
      return true
    },
    apply(_t, _this, args) {
      return wrap(obj.call(...args))
    },
  })
}

/** The PyObject behind a proxy (or `undefined` if `value` is not one). */
export function unproxy(value: unknown): PyObject | undefined {
  if (typeof value !== 'function') return undefined
  const obj = (value as unknown as Record<symbol, unknown>)[TARGET]
  return obj instanceof PyObject ? obj : undefined
}
