//! The async bridge, JS side. Requests are built from owned values on the JS thread (no GIL)
//! and queued on a loop (pynode-core's `aio`); completions come back through one threadsafe
//! function per JS thread (a [`Sink`]), which delivers everything that accumulated in a single
//! call to js/async.ts's `settle(batch)`.
//!
//! The threadsafe function is unref'd by default: an idle interpreter does not keep Node alive.
//! js/async.ts refs it (`asyncRef(true)`) while anything awaits Python, as pending I/O would.

use crate::api::{array_args, convert_kwargs};
use crate::handle;
use crate::js::{check, invalid, Args, Js, Val, R};
use crate::state::EnvState;
use napi::sys;
use pynode_core::aio::{self, CallSpec, Completion, Delivery, Kind, Payload, Request, Route, StreamSource};
use std::collections::HashMap;
use std::ffi::c_void;
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Completions waiting for the JS thread of one environment.
pub struct Sink {
    inner: Mutex<Inner>,
}

struct Inner {
    items: Vec<Completion>,
    /// This thread's request ids -> the process-wide keys the loops know them by (several JS
    /// threads share the loops), for requests not settled yet: controls name requests by id.
    keys: HashMap<u64, (u64, usize)>,
    /// A threadsafe call is queued and has not drained `items` yet.
    scheduled: bool,
    /// Null once the environment is gone (then completions are dropped).
    tsfn: sys::napi_threadsafe_function,
}

// SAFETY: the threadsafe function handle may be used from any thread (that is its purpose);
// it is only called while `inner` is locked and non-null, and nulled by the finalizer under
// the same lock before Node frees it.
unsafe impl Send for Inner {}

impl Sink {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates the sink and its threadsafe function around `settle` (unref'd).
    fn create(js: Js, settle: Val) -> R<Arc<Sink>> {
        let sink = Arc::new(Sink {
            inner: Mutex::new(Inner {
                items: Vec::new(),
                keys: HashMap::new(),
                scheduled: false,
                tsfn: ptr::null_mut(),
            }),
        });
        let context = Arc::into_raw(Arc::clone(&sink)) as *mut c_void;
        let name = js.string("pynode.async")?;
        let mut tsfn = ptr::null_mut();
        let status =
            // SAFETY: settle/name are values of this env; `context` is an Arc<Sink> reference
            // owned by the threadsafe function and released by `finalize` (exactly once).
            unsafe {
                sys::napi_create_threadsafe_function(
                    js.env,
                    settle,
                    ptr::null_mut(),
                    name,
                    0,
                    1,
                    context,
                    Some(finalize),
                    context,
                    Some(call_js),
                    &mut tsfn,
                )
            };
        if status != sys::Status::napi_ok {
            // SAFETY: creation failed, so the threadsafe function does not own `context`.
            drop(unsafe { Arc::from_raw(context as *const Sink) });
            check(status, "create threadsafe function")?;
        }
        // SAFETY: tsfn was just created on this env's thread.
        let status = unsafe { sys::napi_unref_threadsafe_function(js.env, tsfn) };
        check(status, "unref threadsafe function")?;
        sink.lock().tsfn = tsfn;
        Ok(sink)
    }

    /// Keeps Node alive while something awaits Python (`true`), or lets it exit (`false`).
    fn keep_alive(&self, js: Js, on: bool) -> R<()> {
        let tsfn = self.lock().tsfn;
        if tsfn.is_null() {
            return Ok(());
        }
        // SAFETY: called on the env's own thread with a live threadsafe function.
        let status = unsafe {
            if on {
                sys::napi_ref_threadsafe_function(js.env, tsfn)
            } else {
                sys::napi_unref_threadsafe_function(js.env, tsfn)
            }
        };
        check(status, "ref threadsafe function")
    }
}

impl Sink {
    /// A route for request `id` of this thread on loop `index`, and the key the loops will
    /// know it by.
    fn route(self: &Arc<Self>, id: u64, index: usize, as_object: bool) -> (u64, Route) {
        let key = aio::next_key();
        self.lock().keys.insert(id, (key, index));
        (
            key,
            Route {
                sink: Arc::clone(self) as Arc<dyn Delivery>,
                id,
                as_object,
            },
        )
    }

    /// The key of this thread's unsettled request `id`.
    fn key(&self, id: u64) -> Option<u64> {
        self.lock().keys.get(&id).map(|&(key, _)| key)
    }
}

impl Delivery for Sink {
    fn deliver(&self, completion: Completion) -> bool {
        let mut inner = self.lock();
        if completion.kind.is_terminal() {
            inner.keys.remove(&completion.id);
        }
        if inner.tsfn.is_null() {
            drop(inner);
            drop(completion); // outside the lock: dropping may run Python code
            return false;
        }
        inner.items.push(completion);
        if !inner.scheduled {
            inner.scheduled = true;
            // SAFETY: tsfn is live (non-null under the lock); nonblocking never waits.
            let status = unsafe {
                sys::napi_call_threadsafe_function(
                    inner.tsfn,
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                )
            };
            if status != sys::Status::napi_ok {
                // Closing: the environment is going away; nothing will read these.
                inner.tsfn = ptr::null_mut();
                let dropped = std::mem::take(&mut inner.items);
                drop(inner);
                drop(dropped);
                return false;
            }
        }
        true
    }
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the Arc<Sink> reference handed over at creation; finalize runs once.
    let sink = unsafe { Arc::from_raw(data as *const Sink) };
    let (dropped, unsettled) = {
        let mut inner = sink.lock();
        inner.tsfn = ptr::null_mut();
        (std::mem::take(&mut inner.items), std::mem::take(&mut inner.keys))
    };
    drop(dropped);
    // Nobody will read what this thread (a terminated worker, say) still waits for: cancel its
    // calls and close its streams rather than leave them running on the loops.
    for (key, index) in unsettled.into_values() {
        aio::submit(index, Request::Cancel { id: key });
    }
}

unsafe extern "C" fn call_js(env: sys::napi_env, settle: sys::napi_value, context: *mut c_void, _data: *mut c_void) {
    if env.is_null() {
        return; // the environment is being torn down
    }
    // SAFETY: `context` is the Arc<Sink> the threadsafe function owns until `finalize`.
    let sink = unsafe { &*(context as *const Sink) };
    let items = {
        let mut inner = sink.lock();
        inner.scheduled = false;
        std::mem::take(&mut inner.items)
    };
    if items.is_empty() {
        return;
    }
    let js = Js { env };
    let mut scope = ptr::null_mut();
    // SAFETY: env is live during this callback.
    if unsafe { sys::napi_open_handle_scope(env, &mut scope) } != sys::Status::napi_ok {
        return;
    }
    if let Ok(batch) = batch(js, items) {
        if let Ok(undefined) = js.undefined() {
            // An exception thrown by settle propagates as an uncaught exception, as usual.
            let _ = js.call(undefined, settle, &[batch]);
        }
    }
    // SAFETY: the scope opened above, on this thread.
    unsafe { sys::napi_close_handle_scope(env, scope) };
}

/// `[id, kind, payload, id, kind, payload, …]`.
fn batch(js: Js, items: Vec<Completion>) -> R<Val> {
    let array = js.array(items.len() * 3)?;
    for (i, completion) in items.into_iter().enumerate() {
        let (kind, payload) = match completion.payload {
            Payload::None => (completion.kind, js.undefined()?),
            Payload::Error(err) => (Kind::Reject, crate::error::value(js, &err)?),
            Payload::Value(value) => match crate::convert::to_js(js, value) {
                Ok(v) => (completion.kind, v),
                Err(crate::js::Failure::Core(err)) => (Kind::Reject, crate::error::value(js, &err)?),
                Err(other) => return Err(other),
            },
        };
        let base = (i * 3) as u32;
        js.set_element(array, base, js.number(completion.id as f64)?)?;
        js.set_element(array, base + 1, js.number(f64::from(kind as u8))?)?;
        js.set_element(array, base + 2, payload)?;
    }
    Ok(array)
}

fn sink(js: Js) -> R<Arc<Sink>> {
    EnvState::get(js)?
        .aio
        .get()
        .cloned()
        .ok_or_else(|| invalid("pynode's async bridge was used before asyncInit()"))
}

fn number(js: Js, args: &Args, i: usize, name: &str) -> R<f64> {
    js.get_f64(args.at(i, name)?)
}

/// `asyncInit(settle, loops)`: this thread's sink (once) and the process's loops (once).
pub fn init(js: Js, args: &Args) -> R<Val> {
    let settle = args.at(0, "settle")?;
    let loops = number(js, args, 1, "loops")?;
    if !(1.0..=64.0).contains(&loops) || loops.fract() != 0.0 {
        return Err(invalid("loops must be an integer from 1 to 64"));
    }
    let state = EnvState::get(js)?;
    if state.aio.get().is_none() {
        let created = Sink::create(js, settle)?;
        let _ = state.aio.set(created);
    }
    let running = aio::start(loops as usize)?;
    js.number(running as f64)
}

fn call_spec(js: Js, target: Val, args: Val, kwargs: Val) -> R<CallSpec> {
    let callable = handle::from_external(js, target)?.get("call")?;
    let kwargs = convert_kwargs(js, kwargs)?;
    let args = array_args(js, args)?;
    Ok(CallSpec { callable, args, kwargs })
}

/// `asyncSubmit(op, loop, id, asObject, target, args, kwargs)`; `op`: 0 call, 1 eval,
/// 2 await an object, 3 iterate a call's result, 4 iterate an object, 5 group (`target` is
/// `[[handle, args, kwargs], …]`, `args` is the TaskGroup flag).
pub fn submit(js: Js, args: &Args) -> R<Val> {
    let op = number(js, args, 0, "op")? as u32;
    let index = number(js, args, 1, "loop")? as usize;
    let id = number(js, args, 2, "id")? as u64;
    let as_object = js.get_bool(args.at(3, "asObject")?)?;
    let target = args.at(4, "target")?;
    let sink = sink(js)?;
    let (id, route) = sink.route(id, index, as_object);
    let request = match op {
        0 => Request::Call {
            id,
            route,
            call: call_spec(js, target, args.at(5, "args")?, args.at(6, "kwargs")?)?,
        },
        1 => Request::Eval {
            id,
            route,
            source: js.get_string(target, "Python source")?,
        },
        2 => Request::Await {
            id,
            route,
            object: handle::from_external(js, target)?.get("await")?,
        },
        3 => Request::Stream {
            id,
            route,
            source: StreamSource::Call(call_spec(js, target, args.at(5, "args")?, args.at(6, "kwargs")?)?),
        },
        4 => Request::Stream {
            id,
            route,
            source: StreamSource::Object(handle::from_external(js, target)?.get("iterate")?),
        },
        5 => {
            let count = js.array_len(target)?;
            let mut calls = Vec::with_capacity(count as usize);
            for i in 0..count {
                let entry = js.element(target, i)?;
                calls.push(call_spec(
                    js,
                    js.element(entry, 0)?,
                    js.element(entry, 1)?,
                    js.element(entry, 2)?,
                )?);
            }
            Request::Group {
                id,
                route,
                calls,
                taskgroup: js.get_bool(args.at(5, "taskgroup")?)?,
            }
        }
        _ => {
            drop(route);
            return Err(invalid("unknown async operation"));
        }
    };
    aio::submit(index, request);
    js.undefined()
}

/// `asyncControl(op, loop, id, n, name, message)`; `op`: 0 cancel, 1 grant `n` items,
/// 2 close, 3 throw (`n` is the reply id; `name`/`message` describe the JS error).
pub fn control(js: Js, args: &Args) -> R<Val> {
    let op = number(js, args, 0, "op")? as u32;
    let index = number(js, args, 1, "loop")? as usize;
    let local = number(js, args, 2, "id")? as u64;
    let sink = sink(js)?;
    // A request that already settled has no key any more: cancelling, granting or closing it is
    // a no-op. A throw() still needs its reply, so it goes to key 0 (never a request), where the
    // loop finds no stream and rejects the reply with the thrown error.
    let key = sink.key(local);
    let request = match (op, key) {
        (0, Some(id)) => Request::Cancel { id },
        (1, Some(id)) => Request::Grant {
            id,
            n: number(js, args, 3, "n")? as u64,
        },
        (2, Some(id)) => Request::Close { id },
        (3, key) => {
            let (reply, route) = sink.route(number(js, args, 3, "reply")? as u64, index, false);
            Request::Throw {
                id: key.unwrap_or(0),
                reply,
                route,
                name: js.get_string(args.at(4, "name")?, "error name")?,
                message: js.get_string(args.at(5, "message")?, "error message")?,
            }
        }
        (0..=2, None) => return js.undefined(),
        _ => return Err(invalid("unknown async control")),
    };
    aio::submit(index, request);
    js.undefined()
}

/// `asyncRef(on)`.
pub fn keep_alive(js: Js, args: &Args) -> R<Val> {
    let on = js.get_bool(args.at(0, "on")?)?;
    sink(js)?.keep_alive(js, on)?;
    js.undefined()
}

/// `asyncSupport()` -> the `_pynode_aio` module (a sync API: takes the GIL).
pub fn support(js: Js, _args: &Args) -> R<Val> {
    let py = crate::gil::enter(js)?;
    let module = aio::support(py)?;
    handle::wrap(js, Arc::new(pynode_core::PyRef::new(module.into_any())))
}
