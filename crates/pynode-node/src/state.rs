//! Per-environment state (main thread and each worker thread): references to the JS pieces
//! the TypeScript layer hands over at setup, kept as Node-API instance data.

use crate::js::{check, invalid, Js, Val, R};
use napi::sys;
use std::ffi::CStr;

/// What `setup(hooks)` receives from js/native.ts.
pub struct EnvState {
    /// `class PyObject` of js/object.ts: results that are not plain data become instances.
    pub py_object: sys::napi_ref,
    /// The token PyObject's constructor requires, so users cannot forge handles.
    pub token: sys::napi_ref,
    /// `(kind, message, details) => Error`: the one place JS errors are made.
    pub make_error: sys::napi_ref,
    /// The symbol under which a PyObject keeps its native handle.
    pub handle_key: sys::napi_ref,
    pub map_ctor: sys::napi_ref,
    pub set_ctor: sys::napi_ref,
    pub object_proto: sys::napi_ref,
    /// `(m) => Array.from(m)` for Map entries and Set values.
    pub entries: sys::napi_ref,
    /// `(entries) => new Map(entries)` / `(values) => new Set(values)`.
    pub new_map: sys::napi_ref,
    pub new_set: sys::napi_ref,
    /// `setImmediate` and the native `endBurst`, to park the GIL when the turn ends.
    pub set_immediate: sys::napi_ref,
    pub end_burst: sys::napi_ref,
    /// This thread's async completion sink (created by `asyncInit`).
    pub aio: std::cell::OnceCell<std::sync::Arc<crate::aio::Sink>>,
}

impl EnvState {
    pub fn get(js: Js) -> R<&'static EnvState> {
        let mut data = std::ptr::null_mut();
        check(
            // SAFETY: valid out-pointer.
            unsafe { sys::napi_get_instance_data(js.env, &mut data) },
            "read instance data",
        )?;
        if data.is_null() {
            return Err(invalid("pynode's native module was used before setup()"));
        }
        // SAFETY: set by `install` to a leaked Box<EnvState> that lives until env teardown.
        Ok(unsafe { &*(data as *const EnvState) })
    }

    /// Stores the hooks for this environment (replacing any previous ones).
    pub fn install(js: Js, hooks: Val, end_burst: Val) -> R<()> {
        let field = |name: &CStr| -> R<sys::napi_ref> {
            let value = js.get_named(hooks, name)?;
            if js.type_of(value)? == sys::ValueType::napi_undefined {
                return Err(invalid(format!("setup hooks lack {}", name.to_string_lossy())));
            }
            js.reference(value)
        };
        let state = Box::new(EnvState {
            py_object: field(c"PyObject")?,
            token: field(c"token")?,
            make_error: field(c"makeError")?,
            handle_key: field(c"handle")?,
            map_ctor: field(c"Map")?,
            set_ctor: field(c"Set")?,
            object_proto: field(c"objectPrototype")?,
            entries: field(c"entries")?,
            new_map: field(c"newMap")?,
            new_set: field(c"newSet")?,
            set_immediate: field(c"setImmediate")?,
            end_burst: js.reference(end_burst)?,
            aio: std::cell::OnceCell::new(),
        });
        // SAFETY: the pointer is a leaked Box freed by `finalize` when the env goes away.
        check(
            unsafe {
                sys::napi_set_instance_data(
                    js.env,
                    Box::into_raw(state).cast(),
                    Some(finalize),
                    std::ptr::null_mut(),
                )
            },
            "set instance data",
        )
    }
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut std::ffi::c_void, _hint: *mut std::ffi::c_void) {
    // SAFETY: `data` is the Box<EnvState> leaked by `install`; the env is being torn down, so
    // its references die with it and only the box itself is freed here.
    drop(unsafe { Box::from_raw(data.cast::<EnvState>()) });
}
