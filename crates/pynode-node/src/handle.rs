//! `PyObject` handles: a JS object holding a type-tagged napi external that owns a
//! [`PyHandle`]. Dispose releases at once; the external's finalizer is only the safety net.

use crate::js::{check, Failure, Js, Val, R};
use crate::state::EnvState;
use napi::sys;
use pynode_core::{Error, PyHandle};
use std::cell::RefCell;

/// Marks externals made by this addon, so a foreign external is never read as ours.
const TAG: sys::napi_type_tag = sys::napi_type_tag {
    lower: 0x7079_6e6f_6465_0001,
    upper: 0x9d3c_51e2_8a47_b06f,
};

/// What a handle's external points at. Only touched on its JS thread.
pub struct Handle {
    obj: RefCell<Option<PyHandle>>,
}

impl Handle {
    /// The live reference, or a DisposedError naming `what` was attempted.
    pub fn get(&self, what: &str) -> R<PyHandle> {
        self.obj
            .borrow()
            .clone()
            .ok_or_else(|| Failure::Core(Error::Disposed(what.to_owned())))
    }

    /// Runs `f` with the live reference without cloning the Arc (the hot path).
    pub fn with<T>(&self, what: &str, f: impl FnOnce(&PyHandle) -> R<T>) -> R<T> {
        match self.obj.borrow().as_ref() {
            Some(h) => f(h),
            None => Err(Failure::Core(Error::Disposed(what.to_owned()))),
        }
    }

    /// Releases the reference now (decref if the GIL is held here, else queued).
    pub fn release(&self) -> bool {
        let taken = self.obj.borrow_mut().take();
        taken.is_some()
    }

    pub fn is_disposed(&self) -> bool {
        self.obj.borrow().is_none()
    }
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut std::ffi::c_void, _hint: *mut std::ffi::c_void) {
    // SAFETY: `data` is the Box<Handle> leaked by `wrap`; finalizers run once.
    let handle = unsafe { Box::from_raw(data.cast::<Handle>()) };
    if let Some(obj) = handle.obj.into_inner() {
        // GC-time release goes through the queue: no Python code (a __del__) runs inside a JS
        // garbage collection. If a call in flight still shares it, its own drop releases.
        if let Ok(only) = std::sync::Arc::try_unwrap(obj) {
            only.release_deferred();
        }
    }
}

/// Makes a JS `PyObject` owning `obj`.
pub fn wrap(js: Js, obj: PyHandle) -> R<Val> {
    let state = EnvState::get(js)?;
    let data = Box::into_raw(Box::new(Handle {
        obj: RefCell::new(Some(obj)),
    }));
    let mut external = std::ptr::null_mut();
    // SAFETY: data is a leaked Box<Handle> that `finalize` frees exactly once. Its owner is the
    // external (and so the PyObject holding it); the Python reference inside is released by
    // dispose (Handle::release) or, as a safety net, by `finalize`.
    let status =
        unsafe { sys::napi_create_external(js.env, data.cast(), Some(finalize), std::ptr::null_mut(), &mut external) };
    if status != sys::Status::napi_ok {
        // SAFETY: napi did not take ownership, so the box is still ours to free.
        drop(unsafe { Box::from_raw(data) });
        return Err(Failure::Napi(status, "create external"));
    }
    check(
        // SAFETY: a fresh external of this env, tagged once.
        unsafe { sys::napi_type_tag_object(js.env, external, &TAG) },
        "tag handle",
    )?;
    let ctor = js.deref(state.py_object)?;
    let token = js.deref(state.token)?;
    js.new_instance(ctor, &[token, external])
}

/// The handle inside `external` (as passed by js/object.ts), or an error if it is not ours.
pub fn from_external<'a>(js: Js, external: Val) -> R<&'a Handle> {
    let mut ours = false;
    if js.type_of(external)? == sys::ValueType::napi_external {
        check(
            // SAFETY: a value of this env; valid out-pointer.
            unsafe { sys::napi_check_object_type_tag(js.env, external, &TAG, &mut ours) },
            "check handle tag",
        )?;
    }
    if !ours {
        return Err(crate::js::invalid("expected a PyObject handle"));
    }
    let mut data = std::ptr::null_mut();
    check(
        // SAFETY: the tag proves this external was made by `wrap`, so data is a live Box<Handle>
        // (finalize only runs once the external is unreachable, and it is reachable here).
        unsafe { sys::napi_get_value_external(js.env, external, &mut data) },
        "read handle",
    )?;
    // SAFETY: see above.
    Ok(unsafe { &*(data as *const Handle) })
}

/// If `value` is a PyObject (or a proxy of one), its handle.
pub fn of_object<'a>(js: Js, value: Val) -> R<Option<&'a Handle>> {
    let key = js.deref(EnvState::get(js)?.handle_key)?;
    let external = js.get(value, key)?;
    if js.type_of(external)? != sys::ValueType::napi_external {
        return Ok(None);
    }
    from_external(js, external).map(Some)
}
