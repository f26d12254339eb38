//! The async bridge, Python side: long-lived asyncio event loops, each running forever on its
//! own tokio blocking thread, and the request/completion plumbing around them.
//!
//! **Submitting never waits for the GIL.** A JS thread turns its arguments into owned
//! [`Value`]s, pushes a [`Request`] onto a loop's inbox (a mutex held for a push) and, if the
//! loop is not already due to wake, writes one byte to the loop's socketpair. The loop thread
//! wakes in its selector, drains the whole inbox in one callback (so ten thousand calls made in
//! one JS turn cost one wake-up), builds the Python objects and starts one asyncio task per
//! call. Sync callables go to tokio's blocking pool through pyo3-async-runtimes, which hands
//! the loop an asyncio future for them.
//!
//! **Completions** are emitted by the Python half (`aio_host.py`) through `emit(id, kind,
//! payload)`: the payload is converted to a [`Value`] (or described as an [`Error`]) on the
//! loop thread, with the GIL, and handed to the [`Delivery`] of whoever asked — the binding's
//! per-JS-thread sink, which batches them into one threadsafe-function call.
//!
//! Cancellation, credit for async iteration, `aclose()` and `athrow()` travel as requests
//! too; the loop thread is the only one touching tasks and generators.

use crate::error::{Error, PyResultExt, Result};
use crate::gil::PyHandle;
use crate::ops;
use crate::value::Value;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCFunction, PyDict, PyModule, PyTuple};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// How a request ended, or what a stream produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The call's result (or a throw() reply): settles the request.
    Resolve = 0,
    /// The call raised (or a stream failed): settles the request.
    Reject = 1,
    /// One item of a stream.
    Item = 2,
    /// A stream ended (exhausted, or closed on request).
    End = 3,
}

impl Kind {
    fn from_u8(kind: u8) -> Option<Kind> {
        Some(match kind {
            0 => Kind::Resolve,
            1 => Kind::Reject,
            2 => Kind::Item,
            3 => Kind::End,
            _ => return None,
        })
    }

    /// Whether no more completions follow for this id.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Kind::Item)
    }
}

/// What a completion carries.
#[derive(Debug)]
pub enum Payload {
    None,
    Value(Value),
    Error(Error),
}

/// One result travelling back to the thread that asked.
#[derive(Debug)]
pub struct Completion {
    pub id: u64,
    pub kind: Kind,
    pub payload: Payload,
}

/// Where completions go (the binding implements it per JS thread).
pub trait Delivery: Send + Sync + 'static {
    /// Hands over one completion. Called from any thread (usually a loop thread holding the
    /// GIL); must not block. Returns `false` once the receiver is gone.
    fn deliver(&self, completion: Completion) -> bool;
}

/// Who receives the completions of one request, and how results are converted.
///
/// Requests are keyed on the loops by process-wide keys ([`next_key`]): several JS threads
/// (workers) share the loops, each numbering its own requests. `id` is the requester's own
/// number, the one its completions carry.
#[derive(Clone)]
pub struct Route {
    pub sink: Arc<dyn Delivery>,
    /// The requester's id for this request (what [`Completion::id`] carries).
    pub id: u64,
    /// Results come back as handles whatever their type (`callAsyncObject`).
    pub as_object: bool,
}

/// A callable and its arguments, as owned values.
pub struct CallSpec {
    pub callable: PyHandle,
    pub args: Vec<Value>,
    pub kwargs: Option<Vec<(String, Value)>>,
}

/// What a stream iterates.
pub enum StreamSource {
    /// `fn.iterate(...args)`: the call's result.
    Call(CallSpec),
    /// `for await (x of obj)`: the object itself.
    Object(PyHandle),
}

/// Work for a loop thread.
pub enum Request {
    /// `callAsync`: call, await if awaitable, settle `id`.
    Call { id: u64, route: Route, call: CallSpec },
    /// `evalAsync`: evaluate in `__main__`, await if awaitable.
    Eval { id: u64, route: Route, source: String },
    /// Await an existing awaitable object (or settle with it if it is not awaitable).
    Await { id: u64, route: Route, object: PyHandle },
    /// Start an async iteration; items flow as JS grants credit.
    Stream {
        id: u64,
        route: Route,
        source: StreamSource,
    },
    /// A task group: gather (default) or `asyncio.TaskGroup` semantics.
    Group {
        id: u64,
        route: Route,
        calls: Vec<CallSpec>,
        taskgroup: bool,
    },
    /// Cancel a call (`task.cancel()`) or close a stream.
    Cancel { id: u64 },
    /// Let stream `id` produce `n` more items.
    Grant { id: u64, n: u64 },
    /// Stop stream `id` and `aclose()` its iterator; `End` (or `Reject`) follows.
    Close { id: u64 },
    /// `athrow()` a JS error into stream `id`; the reply settles `reply`.
    Throw {
        id: u64,
        reply: u64,
        route: Route,
        name: String,
        message: String,
    },
}

impl Request {
    /// Whether the request settles an id (calls, streams), as opposed to controlling one.
    fn settles(&self) -> bool {
        !matches!(
            self,
            Request::Cancel { .. } | Request::Grant { .. } | Request::Close { .. }
        )
    }

    /// The route of a request that settles something (not the control messages).
    fn into_route(self) -> Option<Route> {
        match self {
            Request::Call { route, .. }
            | Request::Eval { route, .. }
            | Request::Await { route, .. }
            | Request::Stream { route, .. }
            | Request::Group { route, .. }
            | Request::Throw { route, .. } => Some(route),
            Request::Cancel { .. } | Request::Grant { .. } | Request::Close { .. } => None,
        }
    }
}

/// One asyncio loop and its inbox.
struct Loop {
    index: usize,
    inbox: Mutex<Vec<Request>>,
    /// Set when a wake-up byte is written (or the loop is about to drain anyway).
    wake_pending: AtomicBool,
    /// The write end of the loop's socketpair, published once the host exists.
    wake: OnceLock<Socket>,
    /// Requests in flight on this loop: who gets their completions.
    routes: Mutex<HashMap<u64, Route>>,
    host: PyOnceLock<Py<PyAny>>,
    /// Why the loop is not running, once it failed.
    failed: Mutex<Option<Error>>,
    /// When the loop last drained requests (µs since [`epoch`]): it spins only while busy.
    last_drain: AtomicU64,
}

/// How long a loop that was just busy waits (spinning, GIL released) for the next request
/// before sleeping in its selector. `PYNODE_LOOP_SPIN_US` overrides it (0 turns it off).
const SPIN_US: u64 = 100;
/// Spinning only happens within this long after the last drain.
const SPIN_WINDOW_US: u64 = 2_000;

fn spin_budget() -> Duration {
    static BUDGET: OnceLock<Duration> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let us = std::env::var("PYNODE_LOOP_SPIN_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(SPIN_US);
        Duration::from_micros(us.min(10_000))
    })
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_us() -> u64 {
    epoch().elapsed().as_micros() as u64
}

/// The selector's pre-sleep wait: `true` if a request arrived (it then polls, not sleeps).
fn spin(py: Python<'_>, lp: &Loop) -> bool {
    if lp.wake_pending.load(Ordering::Acquire) {
        return true;
    }
    let budget = spin_budget();
    if budget.is_zero() || now_us().saturating_sub(lp.last_drain.load(Ordering::Relaxed)) > SPIN_WINDOW_US {
        return false;
    }
    py.detach(|| {
        let start = Instant::now();
        loop {
            for _ in 0..64 {
                if lp.wake_pending.load(Ordering::Acquire) {
                    return true;
                }
                std::hint::spin_loop();
            }
            if start.elapsed() >= budget {
                return false;
            }
        }
    })
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

static LOOPS: OnceLock<Vec<Arc<Loop>>> = OnceLock::new();
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// A process-wide key for a request (see [`Route`]).
pub fn next_key() -> u64 {
    NEXT_KEY.fetch_add(1, Ordering::Relaxed)
}
/// Wake-up bytes written (for tests: many requests in one JS turn cost one wake-up).
static WAKEUPS: AtomicUsize = AtomicUsize::new(0);
static STARTED_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Python source of the `_pynode_aio` module.
const HOST_SOURCE: &str = include_str!("aio_host.py");

/// The `_pynode_aio` module (created on first use, registered in `sys.modules`).
pub fn host_module(py: Python<'_>) -> Result<Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = MODULE
        .get_or_try_init(py, || {
            let source = std::ffi::CString::new(HOST_SOURCE).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
            PyModule::from_code(py, &source, c"_pynode_aio.py", c"_pynode_aio").map(Bound::unbind)
        })
        .or_py(py)?;
    Ok(module.bind(py).clone())
}

/// Starts the loops (once per process; later calls keep the first count) and returns how many
/// run. Spawns threads only: it never waits for the GIL.
pub fn start(count: usize) -> Result<usize> {
    if !crate::interpreter::is_running() {
        return Err(Error::Interpreter("Python is not started".into()));
    }
    let loops = LOOPS.get_or_init(|| {
        (0..count.clamp(1, 64))
            .map(|index| {
                Arc::new(Loop {
                    index,
                    inbox: Mutex::new(Vec::new()),
                    wake_pending: AtomicBool::new(false),
                    wake: OnceLock::new(),
                    routes: Mutex::new(HashMap::new()),
                    host: PyOnceLock::new(),
                    failed: Mutex::new(None),
                    last_drain: AtomicU64::new(0),
                })
            })
            .collect()
    });
    if STARTED_THREADS
        .compare_exchange(0, loops.len(), Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(1).thread_name("pynode-tokio").enable_all();
        pyo3_async_runtimes::tokio::init(builder);
        let runtime = pyo3_async_runtimes::tokio::get_runtime();
        for lp in loops {
            let lp = Arc::clone(lp);
            runtime.spawn_blocking(move || run_loop(&lp));
        }
    }
    Ok(loops.len())
}

/// How many loops run (0 before [`start`]).
pub fn loop_count() -> usize {
    LOOPS.get().map_or(0, Vec::len)
}

/// Requests not settled yet, whether still queued or running: for tests and diagnostics.
pub fn in_flight() -> usize {
    LOOPS.get().map_or(0, |loops| {
        loops
            .iter()
            .map(|lp| {
                let queued = lock(&lp.inbox).iter().filter(|r| r.settles()).count();
                queued + lock(&lp.routes).len()
            })
            .sum()
    })
}

/// How many times a loop was woken to drain requests (one wake-up can carry many).
pub fn wakeups() -> usize {
    WAKEUPS.load(Ordering::Relaxed)
}

/// The `_pynode_aio` module with every loop's host created (so `hosts[0].loop` exists):
/// for sync APIs such as `python.asyncQueue()`, which run with the GIL.
pub fn support(py: Python<'_>) -> Result<Bound<'_, PyModule>> {
    let loops = LOOPS
        .get()
        .ok_or_else(|| Error::Interpreter("pynode's asyncio loops are not started".into()))?;
    for lp in loops {
        host(py, lp)?;
    }
    host_module(py)
}

fn run_loop(lp: &Arc<Loop>) {
    let outcome = Python::attach(|py| -> Result<()> {
        let host = host(py, lp)?.clone_ref(py);
        // run_forever returns only if Python code stops the loop: start it again.
        loop {
            host.call_method0(py, "run").or_py(py)?;
        }
    });
    if let Err(err) = outcome {
        fail(lp, err);
    }
}

/// Marks the loop failed and rejects everything that was waiting on it.
fn fail(lp: &Loop, err: Error) {
    *lock(&lp.failed) = Some(err.clone());
    let queued = std::mem::take(&mut *lock(&lp.inbox));
    let routes: Vec<Route> = lock(&lp.routes).drain().map(|(_, route)| route).collect();
    for route in routes
        .into_iter()
        .chain(queued.into_iter().filter_map(Request::into_route))
    {
        reject_now(&route, err.clone());
    }
}

/// The loop's Python `Host` (created by whichever thread needs it first, with the GIL).
fn host<'a>(py: Python<'_>, lp: &'a Arc<Loop>) -> Result<&'a Py<PyAny>> {
    lp.host.get_or_try_init(py, || -> Result<Py<PyAny>> {
        let module = host_module(py)?;
        let emit = loop_callable(py, lp, c"emit", emit)?;
        let blocking = loop_callable(py, lp, c"blocking", blocking)?;
        let drain = loop_callable(py, lp, c"drain", drain_callback)?;
        let spin = loop_callable(py, lp, c"spin", spin_callback)?;
        let host = module
            .getattr("Host")
            .and_then(|cls| cls.call1((lp.index, emit, blocking, drain, spin)))
            .or_py(py)?;
        let fd = host
            .getattr("wsock")
            .and_then(|s| s.call_method0("fileno"))
            .and_then(|fd| fd.extract::<i64>())
            .or_py(py)?;
        module
            .getattr("hosts")
            .and_then(|hosts| hosts.set_item(lp.index, &host))
            .or_py(py)?;
        // The host's socket lives as long as the host, which lives forever.
        let _ = lp.wake.set(Socket(fd));
        Ok(host.unbind())
    })
}

/// A Python callable that runs `f` for this loop (the Host's emit, blocking, drain, spin).
fn loop_callable<'py>(
    py: Python<'py>,
    lp: &Arc<Loop>,
    name: &'static std::ffi::CStr,
    f: fn(&Loop, &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>>,
) -> Result<Bound<'py, PyCFunction>> {
    let lp = Arc::clone(lp);
    PyCFunction::new_closure(py, Some(name), None, move |args, _kw| f(&lp, args)).or_py(py)
}

/// `drain(fd=None)`: reads the wake-up bytes when called by the selector, then drains.
fn drain_callback(lp: &Loop, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
    if let Some(fd) = args.iter().next() {
        Socket(fd.extract::<i64>()?).consume();
    }
    drain(args.py(), lp);
    Ok(args.py().None())
}

/// `spin() -> bool`: see [`spin`].
fn spin_callback(lp: &Loop, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
    Ok(py_bool(args.py(), spin(args.py(), lp)))
}

fn py_bool(py: Python<'_>, b: bool) -> Py<PyAny> {
    pyo3::types::PyBool::new(py, b).to_owned().into_any().unbind()
}

/// Queues `request` for loop `index` and wakes the loop if needed. Never waits for the GIL.
pub fn submit(index: usize, request: Request) {
    let Some(lp) = LOOPS.get().and_then(|loops| loops.get(index % loops.len().max(1))) else {
        if let Some(route) = request.into_route() {
            reject_now(
                &route,
                Error::Interpreter("pynode's asyncio loops are not started".into()),
            );
        }
        return;
    };
    if let Some(err) = lock(&lp.failed).clone() {
        if let Some(route) = request.into_route() {
            reject_now(&route, err);
        }
        return;
    }
    lock(&lp.inbox).push(request);
    if !lp.wake_pending.swap(true, Ordering::SeqCst) {
        // Before the host exists there is no socket yet: its first drain picks the request up.
        if let Some(socket) = lp.wake.get() {
            WAKEUPS.fetch_add(1, Ordering::Relaxed);
            socket.wake();
        }
    }
}

fn reject_now(route: &Route, err: Error) {
    route.sink.deliver(Completion {
        id: route.id,
        kind: Kind::Reject,
        payload: Payload::Error(err),
    });
}

/// The loop's drain callback: every queued request, in order.
fn drain(py: Python<'_>, lp: &Loop) {
    lp.wake_pending.store(false, Ordering::SeqCst);
    let requests = std::mem::take(&mut *lock(&lp.inbox));
    if requests.is_empty() {
        return;
    }
    lp.last_drain.store(now_us(), Ordering::Relaxed);
    let Some(host) = lp.host.get(py) else { return };
    let host = host.bind(py);
    for request in requests {
        if let Err((id, err)) = handle(py, lp, host, request) {
            let route = lock(&lp.routes).remove(&id);
            if let Some(route) = route {
                reject_now(&route, err);
            }
        }
    }
}

type Handled = std::result::Result<(), (u64, Error)>;

/// Calls `host.method(*args)`; Rust tuples go by vectorcall (no argument tuple per request).
fn call_host<'py>(
    host: &Bound<'py, PyAny>,
    id: u64,
    method: &Bound<'py, pyo3::types::PyString>,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> Handled {
    host.call_method1(method, args)
        .map(drop)
        .or_py(host.py())
        .map_err(|e| (id, e))
}

fn handle(py: Python<'_>, lp: &Loop, host: &Bound<'_, PyAny>, request: Request) -> Handled {
    let registered = |id: u64, route: Route| {
        lock(&lp.routes).insert(id, route);
    };
    match request {
        Request::Call { id, route, call } => {
            registered(id, route);
            let (f, args, kwargs) = call_objects(py, &call).map_err(|e| (id, e))?;
            call_host(host, id, pyo3::intern!(py, "call"), (id, f, args, kwargs))
        }
        Request::Eval { id, route, source } => {
            registered(id, route);
            let value = ops::run(py, &source, ops::Mode::Eval, "<pynode evalAsync>", None).map_err(|e| (id, e))?;
            call_host(host, id, pyo3::intern!(py, "settle"), (id, value))
        }
        Request::Await { id, route, object } => {
            registered(id, route);
            call_host(host, id, pyo3::intern!(py, "settle"), (id, object.bind(py)))
        }
        Request::Stream { id, route, source } => {
            registered(id, route);
            let args = match source {
                StreamSource::Call(call) => {
                    let (f, args, kwargs) = call_objects(py, &call).map_err(|e| (id, e))?;
                    tuple(py, id, (id, f, args, kwargs))?
                }
                StreamSource::Object(object) => {
                    let args = tuple(py, id, (object.bind(py),))?;
                    tuple(py, id, (id, py.None(), args, py.None()))?
                }
            };
            call_host(host, id, pyo3::intern!(py, "stream"), args)
        }
        Request::Group {
            id,
            route,
            calls,
            taskgroup,
        } => {
            registered(id, route);
            let mut entries = Vec::with_capacity(calls.len());
            for (i, call) in calls.iter().enumerate() {
                let entry = call_objects(py, call).map_err(|e| (id, in_call(e, i)))?;
                entries.push(tuple(py, id, entry)?);
            }
            let calls = pyo3::types::PyList::new(py, entries).or_py(py).map_err(|e| (id, e))?;
            call_host(host, id, pyo3::intern!(py, "group"), (id, calls, taskgroup))
        }
        Request::Cancel { id } => call_host(host, id, pyo3::intern!(py, "cancel"), (id,)),
        Request::Grant { id, n } => call_host(host, id, pyo3::intern!(py, "grant"), (id, n)),
        Request::Close { id } => call_host(host, id, pyo3::intern!(py, "close"), (id,)),
        Request::Throw {
            id,
            reply,
            route,
            name,
            message,
        } => {
            registered(reply, route);
            let exc = host_module(py)
                .and_then(|m| m.getattr("JSError").and_then(|c| c.call1((message, name))).or_py(py))
                .map_err(|e| (reply, e))?;
            call_host(host, reply, pyo3::intern!(py, "throw"), (id, reply, exc))
        }
    }
}

fn tuple<'py>(
    py: Python<'py>,
    id: u64,
    items: impl IntoPyObject<'py, Target = PyTuple, Output = Bound<'py, PyTuple>, Error = PyErr>,
) -> std::result::Result<Bound<'py, PyTuple>, (u64, Error)> {
    items.into_pyobject(py).map_err(|e| (id, Error::from_py(py, e)))
}

/// A conversion error inside the i-th call of a group: `calls[i].args[0]`.
fn in_call(err: Error, i: usize) -> Error {
    match err {
        Error::Conversion(c) => Error::Conversion(
            c.at(crate::PathSegment::Index(i))
                .at(crate::PathSegment::Root("calls".into())),
        ),
        other => other,
    }
}

type CallObjects<'py> = (Bound<'py, PyAny>, Bound<'py, PyTuple>, Option<Bound<'py, PyDict>>);

fn call_objects<'py>(py: Python<'py>, call: &CallSpec) -> Result<CallObjects<'py>> {
    let (args, kwargs) = ops::call_args(py, &call.args, call.kwargs.as_deref())?;
    let args = PyTuple::new(py, args).or_py(py)?;
    Ok((call.callable.bind(py).to_owned(), args, kwargs))
}

/// `emit(id, kind, payload) -> bool`, called by the Python half on the loop thread.
fn emit(lp: &Loop, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
    let py = args.py();
    let (id, kind, payload): (u64, u8, Bound<'_, PyAny>) = args.extract()?;
    let kind = Kind::from_u8(kind).ok_or_else(|| PyRuntimeError::new_err("bad completion kind"))?;
    let route = {
        let mut routes = lock(&lp.routes);
        if kind.is_terminal() {
            routes.remove(&id)
        } else {
            routes.get(&id).cloned()
        }
    };
    let Some(route) = route else {
        return Ok(py_bool(py, false));
    };
    let was_item = kind == Kind::Item;
    let (kind, payload) = match kind {
        Kind::Resolve | Kind::Item => {
            let value = if route.as_object {
                Ok(Value::object(&payload))
            } else {
                ops::to_value(&payload)
            };
            match value {
                Ok(value) => (kind, Payload::Value(value)),
                Err(err) => {
                    if kind == Kind::Item {
                        lock(&lp.routes).remove(&id);
                    }
                    (Kind::Reject, Payload::Error(err))
                }
            }
        }
        Kind::Reject => (kind, Payload::Error(Error::from_py(py, PyErr::from_value(payload)))),
        Kind::End => (kind, Payload::None),
    };
    let failed_item = was_item && kind == Kind::Reject;
    let delivered = route.sink.deliver(Completion {
        id: route.id,
        kind,
        payload,
    });
    // `false` tells a stream's pump to stop: nobody listens, or the item could not convert.
    Ok(py_bool(py, delivered && !failed_item))
}

/// `blocking(fn, args, kwargs)`: runs `fn(*args, **kwargs)` on tokio's blocking pool, in a
/// copy of the caller's context, and returns an asyncio future on this loop for its result.
fn blocking(lp: &Loop, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
    let py = args.py();
    let (f, call_args, kwargs): (Py<PyAny>, Py<PyTuple>, Option<Py<PyDict>>) = args.extract()?;
    let context = py.import("contextvars")?.call_method0("copy_context")?;
    let event_loop = lp
        .host
        .get(py)
        .ok_or_else(|| PyRuntimeError::new_err("pynode loop host missing"))?
        .bind(py)
        .getattr("loop")?;
    let run = context.getattr("run")?.unbind();
    let locals = pyo3_async_runtimes::TaskLocals::new(event_loop).with_context(context);
    let future = pyo3_async_runtimes::tokio::future_into_py_with_locals(py, locals, async move {
        let joined = tokio::task::spawn_blocking(move || {
            Python::attach(|py| -> PyResult<Py<PyAny>> {
                let mut all = Vec::with_capacity(call_args.bind(py).len() + 1);
                all.push(f.into_bound(py));
                all.extend(call_args.bind(py).iter());
                let all = PyTuple::new(py, all)?;
                Ok(run.bind(py).call(all, kwargs.as_ref().map(|k| k.bind(py)))?.unbind())
            })
        })
        .await;
        joined.map_err(|e| PyRuntimeError::new_err(format!("pynode's blocking pool lost a call: {e}")))?
    })?;
    Ok(future.unbind())
}

/// One end of a loop's socketpair (a file descriptor, or a SOCKET on Windows).
struct Socket(i64);

impl Socket {
    fn wake(&self) {
        let byte = [1u8];
        #[cfg(unix)]
        // SAFETY: the descriptor is the host's non-blocking socket, open for the process's life;
        // a failed write (EAGAIN: bytes already pending) still leaves the loop due to wake.
        unsafe {
            libc::write(self.0 as libc::c_int, byte.as_ptr().cast(), 1);
        }
        #[cfg(windows)]
        // SAFETY: as above, with the host's SOCKET handle.
        unsafe {
            winsock::send(self.0 as usize, byte.as_ptr().cast(), 1, 0);
        }
    }

    /// Reads (and discards) the wake-up bytes pending on the read end. One byte per wake-up is
    /// the rule; if more remain, the selector reports the socket again.
    fn consume(&self) {
        let mut buf = [0u8; 64];
        #[cfg(unix)]
        // SAFETY: the descriptor is the host's non-blocking read socket; `buf` has room for 64
        // bytes. EAGAIN (nothing pending) is fine.
        unsafe {
            libc::read(self.0 as libc::c_int, buf.as_mut_ptr().cast(), buf.len());
        }
        #[cfg(windows)]
        // SAFETY: as above, with the host's SOCKET handle.
        unsafe {
            winsock::recv(self.0 as usize, buf.as_mut_ptr().cast(), buf.len() as i32, 0);
        }
    }
}

#[cfg(windows)]
mod winsock {
    #[link(name = "ws2_32")]
    extern "system" {
        pub fn send(s: usize, buf: *const i8, len: i32, flags: i32) -> i32;
        pub fn recv(s: usize, buf: *mut i8, len: i32, flags: i32) -> i32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::python;
    use std::sync::Condvar;
    use std::time::Duration;

    #[derive(Default)]
    struct Collect {
        items: Mutex<Vec<Completion>>,
        arrived: Condvar,
    }

    impl Delivery for Collect {
        fn deliver(&self, completion: Completion) -> bool {
            lock(&self.items).push(completion);
            self.arrived.notify_all();
            true
        }
    }

    impl Collect {
        fn wait_for(&self, n: usize) -> Vec<Completion> {
            let mut items = lock(&self.items);
            while items.len() < n {
                let (next, timeout) = self
                    .arrived
                    .wait_timeout(items, Duration::from_secs(10))
                    .unwrap_or_else(|e| e.into_inner());
                items = next;
                assert!(!timeout.timed_out(), "completions did not arrive");
            }
            std::mem::take(&mut *items)
        }
    }

    fn function(name: &str, source: &str) -> PyHandle {
        Python::attach(|py| {
            let module = ops::module(py, name, source).unwrap();
            Arc::new(crate::PyRef::new(module.getattr("f").unwrap()))
        })
    }

    #[test]
    fn calls_and_streams_complete_through_the_delivery() {
        python();
        assert_eq!(start(1).unwrap(), 1);
        let sink = Arc::new(Collect::default());
        let route = |id| Route {
            sink: sink.clone(),
            id,
            as_object: false,
        };
        let add = function(
            "aio_test_add",
            "import asyncio\nasync def f(a, b):\n    await asyncio.sleep(0)\n    return a + b\n",
        );
        submit(
            0,
            Request::Call {
                id: 1,
                route: route(1),
                call: CallSpec {
                    callable: add,
                    args: vec![Value::Int(40), Value::Int(2)],
                    kwargs: None,
                },
            },
        );
        let done = sink.wait_for(1);
        assert_eq!((done[0].id, done[0].kind), (1, Kind::Resolve));
        assert!(matches!(done[0].payload, Payload::Value(Value::Int(42))));

        let gen = function(
            "aio_test_gen",
            "async def f(n):\n    for i in range(n):\n        yield i\n",
        );
        let call = CallSpec {
            callable: gen,
            args: vec![Value::Int(3)],
            kwargs: None,
        };
        submit(
            0,
            Request::Stream {
                id: 2,
                route: route(2),
                source: StreamSource::Call(call),
            },
        );
        submit(0, Request::Grant { id: 2, n: 10 });
        let items = sink.wait_for(4);
        let kinds: Vec<Kind> = items.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [Kind::Item, Kind::Item, Kind::Item, Kind::End]);
        assert_eq!(in_flight(), 0);
    }
}
