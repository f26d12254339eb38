//! Who holds the GIL, and releasing Python references without waiting for it. No data copied.
//!
//! **Bursts.** Taking and dropping the GIL costs 80–250 ns per call on the machines we measured
//! (../shared/SPIKES.md, 7), as much as the call itself. So a JS thread that makes a sync call
//! attaches once and stays attached for the rest of its event-loop turn: [`begin_burst`]
//! reports that a burst started, the binding schedules [`end_burst`] for the end of the turn
//! (`setImmediate`), and every sync call in between pays nothing for the GIL. Python threads
//! waiting meanwhile get the GIL when the turn ends, or earlier whenever Python code runs on
//! the JS thread (CPython's switch interval applies then as usual).
//!
//! **Releases.** A [`PyRef`] dropped on a thread that holds the GIL is decref'd at once.
//! Anywhere else (a GC finalizer, an idle JS thread, a tokio thread) the pointer is queued;
//! the queue is drained by the next burst, by [`drain_pending`] calls from Python threads, and
//! by a small release thread woken for it, so no JS thread ever blocks on the GIL to release.
//! Buffer exports and DLPack tensors held by JS go through the same queue ([`defer`]).

use crate::ffi_ext;
use pyo3::ffi;
use pyo3::prelude::*;
use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

thread_local! {
    /// The thread state this thread parked when its last burst ended; null if it never attached.
    static PARKED: Cell<*mut ffi::PyThreadState> = const { Cell::new(ptr::null_mut()) };
    /// Whether this thread is inside a burst (attached, and will detach at end of turn).
    static IN_BURST: Cell<bool> = const { Cell::new(false) };
}

/// Records the thread state the interpreter's start-up left on this thread, released, as this
/// thread's parked state. Called once, by `interpreter::start`, with the GIL held.
pub(crate) fn park_after_start() {
    // SAFETY: called right after Py_InitializeEx on this thread, which holds the GIL with its
    // main thread state; PyEval_SaveThread releases it and returns that state.
    let tstate = unsafe { ffi::PyEval_SaveThread() };
    PARKED.set(tstate);
    IN_BURST.set(false);
}

/// Attaches the calling thread for a burst. Returns `true` if a burst started now: the caller
/// must then arrange for [`end_burst`] to run when its current event-loop turn ends.
///
/// Blocks while another thread holds the GIL (this is the sync API's contract).
pub fn begin_burst() -> bool {
    if IN_BURST.get() {
        return false;
    }
    let parked = PARKED.get();
    if parked.is_null() {
        // First attach of this thread (a worker thread, or a test thread): PyGILState_Ensure
        // creates a thread state bound to it. Its counter stays at 1 for the thread's life, so
        // nested PyGILState_Ensure/Release pairs (pyo3's attach) never tear it down.
        // SAFETY: the interpreter is initialized (callers start it first); Ensure may be called
        // on any thread that does not hold the GIL, which IN_BURST == false guarantees here.
        unsafe { ffi::PyGILState_Ensure() };
    } else {
        // SAFETY: `parked` came from PyEval_SaveThread on this thread and was not restored since.
        unsafe { ffi::PyEval_RestoreThread(parked) };
        PARKED.set(ptr::null_mut());
    }
    IN_BURST.set(true);
    // Run pyo3's own attach once per burst so its deferred-decref pool drains too.
    Python::attach(drain_pending);
    true
}

/// Detaches the calling thread if it is in a burst (end of its event-loop turn).
pub fn end_burst() {
    if !IN_BURST.get() {
        return;
    }
    // SAFETY: IN_BURST means this thread holds the GIL through a state begin_burst attached
    // (or start-up left); no Python frame is running on it at the end of a turn.
    let tstate = unsafe { ffi::PyEval_SaveThread() };
    PARKED.set(tstate);
    IN_BURST.set(false);
}

/// Whether the calling thread is inside a burst.
pub fn in_burst() -> bool {
    IN_BURST.get()
}

/// A token for code running inside a burst.
///
/// # Safety
/// The caller must be inside a burst ([`begin_burst`] returned on this thread and
/// [`end_burst`] has not run since), and must not let the token outlive the burst.
pub unsafe fn burst_python() -> Python<'static> {
    debug_assert!(IN_BURST.get(), "burst_python outside a burst");
    // SAFETY: the caller guarantees this thread is attached for as long as the token is used.
    unsafe { Python::assume_attached() }
}

pub(crate) fn holds_gil() -> bool {
    // SAFETY: PyGILState_Check only reads thread-local state.
    IN_BURST.get() || unsafe { ffi_ext::PyGILState_Check() } == 1
}

/// An owned (strong) reference to a Python object that can be held and dropped anywhere.
///
/// Dropping it decrefs at once on a thread that holds the GIL; otherwise the decref is queued
/// (see the module docs). Shared through [`PyHandle`] between a JS handle and work in flight.
pub struct PyRef {
    ptr: NonNull<ffi::PyObject>,
}

/// The shared form of [`PyRef`]: a JS `PyObject` and any call in flight each hold one.
pub type PyHandle = Arc<PyRef>;

// SAFETY: a PyRef is an owned reference; it is only dereferenced with the GIL held (bind takes
// a Python token) and its release is routed through the GIL-aware queue.
unsafe impl Send for PyRef {}
// SAFETY: shared access only reads the pointer; see Send.
unsafe impl Sync for PyRef {}

static LIVE: AtomicUsize = AtomicUsize::new(0);

impl PyRef {
    /// Takes ownership of `obj`'s reference.
    pub fn new(obj: Bound<'_, PyAny>) -> Self {
        LIVE.fetch_add(1, Ordering::Relaxed);
        // SAFETY: into_ptr returns a valid, non-null owned reference.
        let ptr = unsafe { NonNull::new_unchecked(obj.into_ptr()) };
        Self { ptr }
    }

    /// The object, borrowed for the life of `py`'s attachment.
    pub fn bind<'a, 'py>(&'a self, py: Python<'py>) -> pyo3::Borrowed<'a, 'py, PyAny> {
        // SAFETY: self owns a strong reference, alive at least as long as &self.
        unsafe { pyo3::Borrowed::from_ptr(py, self.ptr.as_ptr()) }
    }

    pub fn as_ptr(&self) -> *mut ffi::PyObject {
        self.ptr.as_ptr()
    }

    /// Releases through the queue even where the GIL is held: for GC finalizers, which must
    /// not run Python code (a `__del__`) in the middle of a JS garbage collection.
    pub fn release_deferred(self) {
        let ptr = self.ptr;
        std::mem::forget(self);
        LIVE.fetch_sub(1, Ordering::Relaxed);
        queue_decref(ptr);
    }
}

impl Drop for PyRef {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
        if holds_gil() {
            // SAFETY: this thread holds the GIL and we own the reference.
            unsafe { ffi::Py_DECREF(self.ptr.as_ptr()) };
        } else {
            queue_decref(self.ptr);
        }
    }
}

/// A release waiting for a thread that holds the GIL.
enum Queued {
    Decref(NonNull<ffi::PyObject>),
    /// Any other release that needs the GIL: a `PyBuffer_Release`, a DLPack deleter (issue 4).
    Run(Box<dyn FnOnce(Python<'_>) + Send>),
}
// SAFETY: a queued pointer is only decref'd by a thread holding the GIL (drain_pending); `Run`
// closures are Send themselves.
unsafe impl Send for Queued {}

struct Pending {
    queue: Mutex<Vec<Queued>>,
    wake: Condvar,
}

static PENDING: Pending = Pending {
    queue: Mutex::new(Vec::new()),
    wake: Condvar::new(),
};
static PENDING_LEN: AtomicUsize = AtomicUsize::new(0);
static RELEASE_THREAD: OnceLock<()> = OnceLock::new();

fn queue_decref(ptr: NonNull<ffi::PyObject>) {
    queue(Queued::Decref(ptr));
}

/// Runs `release` later, on a thread that holds the GIL (the next burst or the release thread).
/// For GC finalizers and any thread that must not wait for the GIL.
pub fn defer(release: impl FnOnce(Python<'_>) + Send + 'static) {
    queue(Queued::Run(Box::new(release)));
}

/// Runs `release` now if this thread holds the GIL, else [`defer`]s it.
pub fn release_with_gil(release: impl FnOnce(Python<'_>) + Send + 'static) {
    if holds_gil() {
        // SAFETY: this thread holds the GIL (checked just above).
        release(unsafe { Python::assume_attached() });
    } else {
        defer(release);
    }
}

fn queue(item: Queued) {
    let mut queue = PENDING.queue.lock().unwrap_or_else(|e| e.into_inner());
    queue.push(item);
    PENDING_LEN.store(queue.len(), Ordering::Release);
    drop(queue);
    RELEASE_THREAD.get_or_init(spawn_release_thread);
    PENDING.wake.notify_one();
}

fn spawn_release_thread() {
    let spawned = std::thread::Builder::new()
        .name("pynode-release".into())
        .spawn(|| loop {
            {
                let mut queue = PENDING.queue.lock().unwrap_or_else(|e| e.into_inner());
                while queue.is_empty() {
                    queue = PENDING.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
                }
            }
            Python::attach(drain_pending);
        });
    // If the thread cannot be spawned, queued releases still drain on the next burst.
    drop(spawned);
}

/// Something owned outside Python that must be released once, with the GIL held (a buffer
/// export, a DLPack tensor).
pub trait Release: Send + 'static {
    fn release(self, py: Python<'_>);
}

/// Owns a [`Release`] and releases it when dropped: at once where the GIL is held, else queued.
pub struct Held<T: Release>(Option<T>);

impl<T: Release> Held<T> {
    pub fn new(value: T) -> Self {
        Held(Some(value))
    }

    pub fn get(&self) -> &T {
        match &self.0 {
            Some(value) => value,
            None => unreachable!("a Held is only emptied when it is consumed"),
        }
    }

    /// Releases through the queue even where the GIL is held: for GC finalizers, which must
    /// not run Python code in the middle of a JS garbage collection.
    pub fn release_deferred(mut self) {
        if let Some(value) = self.0.take() {
            defer(move |py| value.release(py));
        }
    }
}

impl<T: Release> Drop for Held<T> {
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            release_with_gil(move |py| value.release(py));
        }
    }
}

/// Runs every queued release. Cheap when the queue is empty (one atomic load).
pub fn drain_pending(py: Python<'_>) {
    if PENDING_LEN.load(Ordering::Acquire) == 0 {
        return;
    }
    let batch = {
        let mut queue = PENDING.queue.lock().unwrap_or_else(|e| e.into_inner());
        PENDING_LEN.store(0, Ordering::Release);
        std::mem::take(&mut *queue)
    };
    // Release outside the lock: a `__del__` may drop more PyRefs, which queue or decref anew.
    for item in batch {
        match item {
            // SAFETY: `py` proves the GIL is held; each queued pointer is an owned reference.
            Queued::Decref(ptr) => unsafe { ffi::Py_DECREF(ptr.as_ptr()) },
            Queued::Run(release) => release(py),
        }
    }
}

/// Counters for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// `PyRef`s alive (handles held from JS, values in flight).
    pub live_refs: usize,
    /// Releases queued and not yet done.
    pub pending_releases: usize,
}

pub fn stats() -> Stats {
    Stats {
        live_refs: LIVE.load(Ordering::Relaxed),
        pending_releases: PENDING_LEN.load(Ordering::Acquire),
    }
}
