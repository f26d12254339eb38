//! `view(typedArray)`: JS memory lent to Python without a copy, as a `pynode.JSView` (issue 4).
//!
//! The JSView holds a strong napi reference to the ArrayBuffer, so V8 keeps the memory while
//! Python holds the view. Python may free the view on any thread (a GC'd handle is released by
//! pynode's release thread), but a napi reference may only be deleted on its JS thread: the
//! [`Keeper`] therefore sends it to a per-environment threadsafe function, unref'd so it never
//! keeps Node alive. At environment teardown (a worker thread exiting) the threadsafe function is
//! finalized, references still held by Python die with the environment, and so does the memory:
//! from then on the JSView refuses new exports (`Keeper::alive`). Exports made before (a numpy
//! array over a worker's memory) cannot be recalled; the README says not to keep them.
//!
//! Detaching is handled in js/buffer.ts: a detached ArrayBuffer is refused there (Node-API's
//! detached test cannot tell it from an empty one), and a shared one is marked untransferable.

use crate::buffer::element_of;
use crate::gil::enter;
use crate::handle;
use crate::js::{check, invalid, Args, Js, Val, R};
use napi::sys;
use pynode_core::buffer::Element;
use pynode_core::view::{self, JsMemory};
use pynode_core::PyRef;
use std::ffi::c_void;
use std::ptr;
use std::sync::{Arc, Mutex};

/// One environment's threadsafe function for deleting references; None once it is finalized.
struct Releaser {
    tsfn: Mutex<Option<Tsfn>>,
}

struct Tsfn(sys::napi_threadsafe_function);
// SAFETY: napi_call_threadsafe_function may be called from any thread; the handle is only used
// under the Releaser's lock, and cleared (by `finalized`) before Node frees it.
unsafe impl Send for Tsfn {}

/// The releasers of live environments, by env address.
static RELEASERS: Mutex<Vec<(usize, Arc<Releaser>)>> = Mutex::new(Vec::new());

/// What a JSView holds: the reference keeping the ArrayBuffer alive.
struct Keeper {
    reference: sys::napi_ref,
    releaser: Arc<Releaser>,
}

// SAFETY: the reference is never used off its JS thread: Drop only hands it to the threadsafe
// function, whose callback deletes it on that thread.
unsafe impl Send for Keeper {}

impl view::Keeper for Keeper {
    fn alive(&self) -> bool {
        self.releaser.tsfn.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        let tsfn = self.releaser.tsfn.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Tsfn(f)) = &*tsfn {
            // SAFETY: `f` is live while the lock shows it; nonblocking never waits (the queue
            // is unbounded). If the env is closing, the reference dies with it.
            unsafe { sys::napi_call_threadsafe_function(*f, self.reference.cast(), 0) };
        }
    }
}

unsafe extern "C" fn delete_reference(env: sys::napi_env, _f: sys::napi_value, _ctx: *mut c_void, data: *mut c_void) {
    if !env.is_null() {
        // SAFETY: `data` is a reference of this env sent by Keeper::drop, deleted once here.
        unsafe { sys::napi_delete_reference(env, data.cast()) };
    }
}

unsafe extern "C" fn finalized(env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the Arc<Releaser> leaked by `releaser`, released once here.
    let releaser = unsafe { Arc::from_raw(data.cast::<Releaser>()) };
    *releaser.tsfn.lock().unwrap_or_else(|e| e.into_inner()) = None;
    RELEASERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(e, _)| *e != env as usize);
}

fn releaser(js: Js) -> R<Arc<Releaser>> {
    let mut all = RELEASERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, r)) = all.iter().find(|(e, _)| *e == js.env as usize) {
        return Ok(r.clone());
    }
    let releaser = Arc::new(Releaser { tsfn: Mutex::new(None) });
    let name = js.string("pynode view release")?;
    let mut tsfn = ptr::null_mut();
    let data = Arc::into_raw(releaser.clone()) as *mut c_void;
    // SAFETY: no JS function (call_js does the work); `data` is an Arc freed by `finalized`.
    let status = unsafe {
        sys::napi_create_threadsafe_function(
            js.env,
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            data,
            Some(finalized),
            ptr::null_mut(),
            Some(delete_reference),
            &mut tsfn,
        )
    };
    if status != sys::Status::napi_ok {
        // SAFETY: not taken by napi.
        drop(unsafe { Arc::from_raw(data.cast::<Releaser>()) });
        return Err(crate::js::Failure::Napi(status, "create threadsafe function"));
    }
    check(
        // SAFETY: a live threadsafe function of this env; unref'd so it never keeps Node running.
        unsafe { sys::napi_unref_threadsafe_function(js.env, tsfn) },
        "unref threadsafe function",
    )?;
    *releaser.tsfn.lock().unwrap_or_else(|e| e.into_inner()) = Some(Tsfn(tsfn));
    all.push((js.env as usize, releaser.clone()));
    Ok(releaser)
}

/// The memory of a TypedArray, DataView or ArrayBuffer: (data, bytes, element, ArrayBuffer).
fn memory_of(js: Js, value: Val) -> R<(*mut c_void, usize, Element, Val)> {
    let (mut data, mut ab) = (ptr::null_mut(), ptr::null_mut());
    let mut offset = 0usize;
    if js.is_typedarray(value)? {
        let (mut ty, mut length) = (0, 0usize);
        check(
            // SAFETY: valid out-pointers.
            unsafe {
                sys::napi_get_typedarray_info(js.env, value, &mut ty, &mut length, &mut data, &mut ab, &mut offset)
            },
            "read typed array",
        )?;
        let element = element_of(ty);
        return Ok((data, length * element.size(), element, ab));
    }
    let mut bytes = 0usize;
    if js.is_dataview(value)? {
        check(
            // SAFETY: as above.
            unsafe { sys::napi_get_dataview_info(js.env, value, &mut bytes, &mut data, &mut ab, &mut offset) },
            "read data view",
        )?;
    } else if js.is_arraybuffer(value)? {
        check(
            // SAFETY: as above.
            unsafe { sys::napi_get_arraybuffer_info(js.env, value, &mut data, &mut bytes) },
            "read array buffer",
        )?;
        ab = value;
    } else {
        return Err(invalid("view() takes a TypedArray, DataView or ArrayBuffer"));
    }
    Ok((data, bytes, Element::U8, ab))
}

/// `view(memory)` -> PyObject (a `pynode.JSView`).
pub fn view(js: Js, args: &Args) -> R<Val> {
    let (data, len, element, ab) = memory_of(js, args.at(0, "memory")?)?;
    let keeper = Keeper {
        reference: js.reference(ab)?,
        releaser: releaser(js)?,
    };
    let mem = JsMemory {
        data: data.cast(),
        len,
        element,
        keeper: Box::new(keeper),
    };
    let py = enter(js)?;
    let obj = view::new(py, mem)?;
    handle::wrap(js, Arc::new(PyRef::new(obj)))
}
