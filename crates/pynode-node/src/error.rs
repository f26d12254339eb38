//! The one place failures become JS errors: `makeError(kind, message, details)` from
//! js/errors.ts builds the right class (PythonError, ConversionError, DisposedError, …).

use crate::js::{Failure, Js, Val, R};
use crate::state::EnvState;
use napi::sys;
use pynode_core::{Error, PythonErrorInfo};

/// Throws `failure` as a JS error (or leaves an already pending JS exception alone).
pub fn throw(js: Js, failure: Failure) {
    if js.is_exception_pending() {
        return;
    }
    let (kind, message, details) = match &failure {
        Failure::Napi(status, what) => (
            "internal",
            format!("Node-API call failed: {what} (status {status})"),
            None,
        ),
        Failure::Core(err) => describe(err),
    };
    if let Ok(error) = make(js, kind, &message, details.as_ref()) {
        js.throw(error);
        return;
    }
    if !js.is_exception_pending() {
        let text = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
        // SAFETY: text is NUL-terminated; throwing a plain Error is the last resort.
        unsafe { sys::napi_throw_error(js.env, std::ptr::null(), text.as_ptr()) };
    }
}

/// The JS error for `err`, as a value (for rejecting a promise rather than throwing).
pub fn value(js: Js, err: &Error) -> R<Val> {
    let (kind, message, details) = describe(err);
    make(js, kind, &message, details.as_ref())
}

enum Details<'a> {
    Python(&'a PythonErrorInfo),
    Conversion { path: String },
}

fn describe(err: &Error) -> (&'static str, String, Option<Details<'_>>) {
    match err {
        Error::Python(info) => ("python", info.message.clone(), Some(Details::Python(info))),
        Error::Conversion(c) => (
            "conversion",
            c.to_string(),
            Some(Details::Conversion { path: c.path() }),
        ),
        Error::Disposed(what) => ("disposed", format!("cannot {what}: this PyObject was disposed"), None),
        Error::Interpreter(msg) => ("interpreter", msg.clone(), None),
        Error::InvalidArgument(msg) => ("invalid-argument", msg.clone(), None),
    }
}

fn make(js: Js, kind: &str, message: &str, details: Option<&Details<'_>>) -> R<Val> {
    let state = EnvState::get(js)?;
    let details = match details {
        None => js.undefined()?,
        Some(Details::Python(info)) => python_details(js, info)?,
        Some(Details::Conversion { path }) => {
            let obj = js.object()?;
            js.set_named(obj, c"path", js.string(path)?)?;
            obj
        }
    };
    let undefined = js.undefined()?;
    let args = [js.string(kind)?, js.string(message)?, details];
    js.call(undefined, js.deref(state.make_error)?, &args)
}

fn python_details(js: Js, info: &PythonErrorInfo) -> R<Val> {
    let obj = js.object()?;
    js.set_named(obj, c"type", js.string(&info.type_name)?)?;
    js.set_named(obj, c"module", js.string(&info.module)?)?;
    js.set_named(obj, c"message", js.string(&info.message)?)?;
    js.set_named(obj, c"traceback", js.string(&info.traceback)?)?;
    js.set_named(obj, c"causeExplicit", js.boolean(info.cause_is_explicit)?)?;
    let cause = match &info.cause {
        Some(cause) => python_details(js, cause)?,
        None => js.null()?,
    };
    js.set_named(obj, c"cause", cause)?;
    if !info.exceptions.is_empty() {
        let members = js.array(info.exceptions.len())?;
        for (i, member) in info.exceptions.iter().enumerate() {
            js.set_element(members, i as u32, python_details(js, member)?)?;
        }
        js.set_named(obj, c"exceptions", members)?;
    }
    Ok(obj)
}
