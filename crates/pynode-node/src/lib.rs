//! # pynode-node: the napi-rs binding of pynode
//!
//! A thin cdylib over `pynode-core`: it reads JS arguments into owned `Value`s, enters a GIL
//! burst, runs one core operation and turns the result back into JS. PyObject handles are
//! type-tagged externals (see [`handle`]); errors become JS classes in one place ([`error`]).
//!
//! The exported functions are raw Node-API callbacks registered in `module_exports`, typed by
//! hand in js/native.ts: the hot path (`call`) then costs a handful of Node-API calls, and the
//! public, documented API lives in the TypeScript layer.
//!
//! This library is built without linking libpython (`PYO3_BUILD_EXTENSION_MODULE`); the
//! `pynode-loader` addon must have loaded libpython with `RTLD_GLOBAL` before this one loads.

mod aio;
mod api;
mod convert;
mod error;
mod gil;
mod handle;
mod js;
mod state;

use js::{Args, Js, Val, R};
use napi::sys;
use napi::JsValue;
use std::ffi::CStr;

type Native = fn(Js, &Args) -> R<Val>;

unsafe extern "C" fn trampoline(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let js = Js { env };
    let mut data = std::ptr::null_mut();
    // SAFETY: env/info are the current callback's; only the data pointer is read.
    unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut data,
        )
    };
    // SAFETY: `data` is the `Native` fn pointer `make_function` registered with this function.
    let f: Native = unsafe { std::mem::transmute::<*mut std::ffi::c_void, Native>(data) };
    let outcome = std::panic::catch_unwind(|| {
        // SAFETY: env and info are those of the current callback.
        let args = unsafe { Args::read(js, info) }?;
        f(js, &args)
    });
    match outcome {
        Ok(Ok(value)) => value,
        Ok(Err(failure)) => {
            error::throw(js, failure);
            std::ptr::null_mut()
        }
        Err(panic) => {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            error::throw(
                js,
                js::invalid(format!("internal error in pynode (please report): {text}")),
            );
            std::ptr::null_mut()
        }
    }
}

pub(crate) fn make_function(js: Js, name: &CStr, f: Native) -> R<Val> {
    let mut out = std::ptr::null_mut();
    js::check(
        // SAFETY: name is NUL-terminated; the data pointer is a plain fn pointer, valid forever.
        unsafe {
            sys::napi_create_function(
                js.env,
                name.as_ptr(),
                name.to_bytes().len() as isize,
                Some(trampoline),
                f as *mut std::ffi::c_void,
                &mut out,
            )
        },
        "create function",
    )?;
    Ok(out)
}

const EXPORTS: &[(&CStr, Native)] = &[
    (c"setup", api::setup),
    (c"start", api::start),
    (c"run", api::run),
    (c"importModule", api::import_module),
    (c"createModule", api::create_module),
    (c"builtins", api::builtins),
    (c"getAttr", api::get_attr),
    (c"setAttr", api::set_attr),
    (c"hasAttr", api::has_attr),
    (c"delAttr", api::del_attr),
    (c"call", api::call),
    (c"callWith", api::call_full),
    (c"callMethod", api::call_method),
    (c"toJS", api::to_js_value),
    (c"describe", api::describe),
    (c"getItem", api::get_item),
    (c"setItem", api::set_item),
    (c"delItem", api::del_item),
    (c"len", api::len),
    (c"iter", api::iter),
    (c"next", api::next),
    (c"release", api::release),
    (c"isDisposed", api::is_disposed),
    (c"stats", api::stats),
    (c"endBurst", api::end_burst),
    (c"asyncInit", aio::init),
    (c"asyncSubmit", aio::submit),
    (c"asyncControl", aio::control),
    (c"asyncRef", aio::keep_alive),
    (c"asyncSupport", aio::support),
];

#[napi_derive::napi(module_exports)]
pub fn init(exports: napi::bindgen_prelude::Object<'_>, env: napi::Env) -> napi::Result<()> {
    let js = Js { env: env.raw() };
    for (name, f) in EXPORTS {
        let func =
            make_function(js, name, *f).map_err(|_| napi::Error::from_reason("could not create pynode's functions"))?;
        // SAFETY: exports and func are values of this env; name is NUL-terminated.
        let status = unsafe { sys::napi_set_named_property(env.raw(), exports.raw(), name.as_ptr(), func) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason("could not export pynode's functions"));
        }
    }
    Ok(())
}
