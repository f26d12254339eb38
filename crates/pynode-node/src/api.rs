//! The functions js/native.ts calls. Each reads its JS arguments, enters a GIL burst, does one
//! pynode-core operation and converts the result; failures go to `error::throw`.

use crate::convert::{at, to_js, to_value};
use crate::gil::enter;
use crate::handle::{self, Handle};
use crate::js::{invalid, Args, Js, Val, R};
use napi::sys;
use pynode_core::error::PyResultExt;
use pynode_core::interpreter::{self, StartOptions};
use pynode_core::ops::{self, Mode};
use pynode_core::{gil, PathSegment, PyRef, Value};
use pyo3::prelude::*;
use std::sync::Arc;

fn handle_arg<'a>(js: Js, args: &Args, i: usize) -> R<&'a Handle> {
    handle::from_external(js, args.at(i, "handle")?)
}

fn bool_arg(js: Js, args: &Args, i: usize) -> R<bool> {
    match args.argv().get(i) {
        Some(&v) if js.type_of(v)? == sys::ValueType::napi_boolean => js.get_bool(v),
        _ => Ok(false),
    }
}

/// Converts a Python result: by value, or as a handle when `as_object`.
fn result(js: Js, obj: &Bound<'_, PyAny>, as_object: bool) -> R<Val> {
    let value = if as_object {
        Value::object(obj)
    } else {
        ops::to_value(obj)?
    };
    to_js(js, value)
}

fn new_handle(js: Js, obj: Bound<'_, PyAny>) -> R<Val> {
    handle::wrap(js, Arc::new(PyRef::new(obj)))
}

fn value_arg(js: Js, v: Val, root: &str) -> R<Value> {
    to_value(js, v).map_err(|e| at(e, PathSegment::Root(root.into())))
}

/// `setup(hooks)`: per-environment hooks (classes, error factory, setImmediate).
pub fn setup(js: Js, args: &Args) -> R<Val> {
    let end = crate::make_function(js, c"endBurst", end_burst)?;
    crate::state::EnvState::install(js, args.at(0, "hooks")?, end)?;
    js.undefined()
}

/// `endBurst()`: parks the GIL at the end of an event-loop turn.
pub fn end_burst(js: Js, _args: &Args) -> R<Val> {
    gil::end_burst();
    js.undefined()
}

/// `start(programName?)`: starts the interpreter (once) and returns what it reports.
pub fn start(js: Js, args: &Args) -> R<Val> {
    let program_name = match args.argv().first() {
        Some(&v) if js.type_of(v)? == sys::ValueType::napi_string => Some(js.get_string(v, "programName")?),
        _ => None,
    };
    let info = interpreter::start(&StartOptions { program_name })?;
    let obj = js.object()?;
    js.set_named(obj, c"version", js.string(&info.version)?)?;
    let vi = js.array(3)?;
    for (i, part) in [info.version_info.0, info.version_info.1, info.version_info.2]
        .into_iter()
        .enumerate()
    {
        js.set_element(vi, i as u32, js.number(f64::from(part))?)?;
    }
    js.set_named(obj, c"versionInfo", vi)?;
    js.set_named(obj, c"executable", js.string(&info.executable)?)?;
    js.set_named(obj, c"prefix", js.string(&info.prefix)?)?;
    js.set_named(obj, c"basePrefix", js.string(&info.base_prefix)?)?;
    let lib = match &info.libpython {
        Some(path) => js.string(path)?,
        None => js.null()?,
    };
    js.set_named(obj, c"libpython", lib)?;
    Ok(obj)
}

/// `run(source, mode, filename, asObject)`: exec (mode 0) or eval (mode 1) in `__main__`.
pub fn run(js: Js, args: &Args) -> R<Val> {
    let source = js.get_string(args.at(0, "source")?, "Python source")?;
    let mode = if bool_arg(js, args, 1)? { Mode::Eval } else { Mode::Exec };
    let filename = js.get_string(args.at(2, "filename")?, "filename")?;
    let as_object = bool_arg(js, args, 3)?;
    let py = enter(js)?;
    let out = ops::run(py, &source, mode, &filename, None)?;
    match mode {
        Mode::Exec => js.undefined(),
        Mode::Eval => result(js, &out, as_object),
    }
}

/// `importModule(name)` -> PyObject.
pub fn import_module(js: Js, args: &Args) -> R<Val> {
    let name = js.get_string(args.at(0, "name")?, "module name")?;
    let py = enter(js)?;
    new_handle(js, ops::import(py, &name)?)
}

/// `createModule(name, source)` -> PyObject.
pub fn create_module(js: Js, args: &Args) -> R<Val> {
    let name = js.get_string(args.at(0, "name")?, "module name")?;
    let source = js.get_string(args.at(1, "source")?, "Python source")?;
    let py = enter(js)?;
    new_handle(js, ops::module(py, &name, &source)?)
}

/// `builtins()` -> PyObject (the builtins module).
pub fn builtins(js: Js, _args: &Args) -> R<Val> {
    let py = enter(js)?;
    new_handle(js, ops::import(py, "builtins")?)
}

fn name_arg(js: Js, args: &Args, i: usize) -> R<String> {
    js.get_string(args.at(i, "name")?, "attribute name")
}

/// `getAttr(h, name, asObject)`.
pub fn get_attr(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let name = name_arg(js, args, 1)?;
    let as_object = bool_arg(js, args, 2)?;
    let py = enter(js)?;
    h.with("get an attribute", |obj| {
        let value = obj.bind(py).getattr(name.as_str()).or_py(py)?;
        result(js, &value, as_object)
    })
}

/// `setAttr(h, name, value)`.
pub fn set_attr(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let name = name_arg(js, args, 1)?;
    let value = value_arg(js, args.at(2, "value")?, "value")?;
    let py = enter(js)?;
    h.with("set an attribute", |obj| {
        let v = value
            .to_python(py)
            .map_err(|e| at(crate::js::Failure::from(e), PathSegment::Root("value".into())))?;
        obj.bind(py).setattr(name.as_str(), v).or_py(py)?;
        js.undefined()
    })
}

/// `hasAttr(h, name)`.
pub fn has_attr(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let name = name_arg(js, args, 1)?;
    let py = enter(js)?;
    h.with("test an attribute", |obj| {
        js.boolean(obj.bind(py).hasattr(name.as_str()).or_py(py)?)
    })
}

/// `delAttr(h, name)`.
pub fn del_attr(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let name = name_arg(js, args, 1)?;
    let py = enter(js)?;
    h.with("delete an attribute", |obj| {
        obj.bind(py).delattr(name.as_str()).or_py(py)?;
        js.undefined()
    })
}

fn convert_args(js: Js, argv: &[Val]) -> R<Vec<Value>> {
    let mut values = Vec::with_capacity(argv.len());
    for (i, &v) in argv.iter().enumerate() {
        values.push(to_value(js, v).map_err(|e| at(at(e, PathSegment::Index(i)), PathSegment::Root("args".into())))?);
    }
    Ok(values)
}

pub(crate) fn convert_kwargs(js: Js, v: Val) -> R<Option<Vec<(String, Value)>>> {
    match js.type_of(v)? {
        sys::ValueType::napi_undefined | sys::ValueType::napi_null => Ok(None),
        _ => match value_arg(js, v, "kwargs")? {
            Value::Dict(entries) => Ok(Some(entries)),
            _ => Err(invalid("keyword arguments must be a plain object: kw({ name: value })")),
        },
    }
}

fn call_with(
    py: Python<'_>,
    js: Js,
    callable: &Bound<'_, PyAny>,
    values: &[Value],
    kwargs: Option<&[(String, Value)]>,
    as_object: bool,
) -> R<Val> {
    let (objs, kw) = ops::call_args(py, values, kwargs)?;
    let out = ops::call(callable, &objs, kw.as_ref())?;
    result(js, &out, as_object)
}

/// `call(h, ...args)`: the hot path — positional args, converted result.
pub fn call(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let values = convert_args(js, &args.argv()[1..])?;
    let py = enter(js)?;
    h.with("call", |obj| call_with(py, js, &obj.bind(py), &values, None, false))
}

/// `callWith(h, asObject, kwargs, argsArray)`.
pub fn call_full(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let as_object = bool_arg(js, args, 1)?;
    let kwargs = convert_kwargs(js, args.at(2, "kwargs")?)?;
    let values = array_args(js, args.at(3, "args")?)?;
    let py = enter(js)?;
    h.with("call", |obj| {
        call_with(py, js, &obj.bind(py), &values, kwargs.as_deref(), as_object)
    })
}

/// `callMethod(h, name, asObject, kwargs, argsArray)`.
pub fn call_method(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let name = name_arg(js, args, 1)?;
    let as_object = bool_arg(js, args, 2)?;
    let kwargs = convert_kwargs(js, args.at(3, "kwargs")?)?;
    let values = array_args(js, args.at(4, "args")?)?;
    let py = enter(js)?;
    h.with("call a method", |obj| {
        let method = obj.bind(py).getattr(name.as_str()).or_py(py)?;
        call_with(py, js, &method, &values, kwargs.as_deref(), as_object)
    })
}

pub(crate) fn array_args(js: Js, array: Val) -> R<Vec<Value>> {
    if !js.is_array(array)? {
        return Err(invalid("call arguments must be an array"));
    }
    let len = js.array_len(array)?;
    let mut argv = Vec::with_capacity(len as usize);
    for i in 0..len {
        argv.push(js.element(array, i)?);
    }
    convert_args(js, &argv)
}

/// `toJS(h)`: the object converted by value.
pub fn to_js_value(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let py = enter(js)?;
    h.with("convert", |obj| result(js, &obj.bind(py), false))
}

/// `describe(h, what)`: 0 = repr, 1 = str, 2 = type name.
pub fn describe(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let what = js.get_f64(args.at(1, "what")?)? as u32;
    let py = enter(js)?;
    h.with("describe", |obj| {
        let obj = obj.bind(py);
        let text = match what {
            0 => obj.repr().or_py(py)?.to_string(),
            1 => obj.str().or_py(py)?.to_string(),
            _ => obj
                .get_type()
                .getattr("__qualname__")
                .and_then(|n| n.extract::<String>())
                .or_py(py)?,
        };
        js.string(&text)
    })
}

/// `getItem(h, key, asObject)`.
pub fn get_item(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let key = value_arg(js, args.at(1, "key")?, "key")?;
    let as_object = bool_arg(js, args, 2)?;
    let py = enter(js)?;
    h.with("get an item", |obj| {
        let k = key
            .to_python(py)
            .map_err(|e| at(crate::js::Failure::from(e), PathSegment::Root("key".into())))?;
        let value = obj.bind(py).get_item(k).or_py(py)?;
        result(js, &value, as_object)
    })
}

/// `setItem(h, key, value)`.
pub fn set_item(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let key = value_arg(js, args.at(1, "key")?, "key")?;
    let value = value_arg(js, args.at(2, "value")?, "value")?;
    let py = enter(js)?;
    h.with("set an item", |obj| {
        let k = key
            .to_python(py)
            .map_err(|e| at(crate::js::Failure::from(e), PathSegment::Root("key".into())))?;
        let v = value
            .to_python(py)
            .map_err(|e| at(crate::js::Failure::from(e), PathSegment::Root("value".into())))?;
        obj.bind(py).set_item(k, v).or_py(py)?;
        js.undefined()
    })
}

/// `delItem(h, key)`.
pub fn del_item(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let key = value_arg(js, args.at(1, "key")?, "key")?;
    let py = enter(js)?;
    h.with("delete an item", |obj| {
        let k = key
            .to_python(py)
            .map_err(|e| at(crate::js::Failure::from(e), PathSegment::Root("key".into())))?;
        obj.bind(py).del_item(k).or_py(py)?;
        js.undefined()
    })
}

/// `len(h)`.
pub fn len(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let py = enter(js)?;
    h.with("take the length", |obj| js.number(obj.bind(py).len().or_py(py)? as f64))
}

/// `iter(h)` -> PyObject iterator.
pub fn iter(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let py = enter(js)?;
    h.with("iterate", |obj| {
        new_handle(js, obj.bind(py).try_iter().or_py(py)?.into_any())
    })
}

/// `next(h, done)`: the next item converted, or `done` (a sentinel) when exhausted.
pub fn next(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    let done = args.at(1, "done")?;
    let py = enter(js)?;
    h.with("iterate", |obj| {
        let obj = obj.bind(py);
        // SAFETY: obj is a live object; PyIter_Next returns a new reference, or NULL at the
        // end (no exception) or on error (exception set).
        let item = unsafe { pyo3::ffi::PyIter_Next(obj.as_ptr()) };
        if item.is_null() {
            if let Some(err) = PyErr::take(py) {
                return Err(pynode_core::Error::from_py(py, err).into());
            }
            return Ok(done);
        }
        // SAFETY: non-null new reference.
        let item = unsafe { Bound::from_owned_ptr(py, item) };
        result(js, &item, false)
    })
}

/// `release(h)`: dispose. Returns whether it was live.
pub fn release(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    js.boolean(h.release())
}

/// `isDisposed(h)`.
pub fn is_disposed(js: Js, args: &Args) -> R<Val> {
    let h = handle_arg(js, args, 0)?;
    js.boolean(h.is_disposed())
}

/// `stats()`: `{ liveRefs, pendingReleases, loops, asyncInFlight, asyncWakeups }`.
pub fn stats(js: Js, _args: &Args) -> R<Val> {
    let s = gil::stats();
    let obj = js.object()?;
    js.set_named(obj, c"liveRefs", js.number(s.live_refs as f64)?)?;
    js.set_named(obj, c"pendingReleases", js.number(s.pending_releases as f64)?)?;
    js.set_named(obj, c"loops", js.number(pynode_core::aio::loop_count() as f64)?)?;
    js.set_named(obj, c"asyncInFlight", js.number(pynode_core::aio::in_flight() as f64)?)?;
    js.set_named(obj, c"asyncWakeups", js.number(pynode_core::aio::wakeups() as f64)?)?;
    Ok(obj)
}
