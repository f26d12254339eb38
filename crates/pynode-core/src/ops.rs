//! The operations of the sync API, on Python objects with the GIL held. No data copied here;
//! converting results is the caller's choice (`Value::from_python` or a handle).

use crate::error::{ConversionError, Error, PathSegment, PyResultExt, Result};
use crate::ffi_ext;
use crate::value::Value;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};
use std::ffi::CString;

/// Compiles `source` as statements (`exec`) or an expression (`eval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Exec,
    Eval,
}

fn c_text(what: &str, text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::InvalidArgument(format!("{what} contains a NUL character")))
}

/// The `__main__` module's namespace.
pub fn main_dict(py: Python<'_>) -> Result<Bound<'_, PyDict>> {
    let main = py.import("__main__").or_py(py)?;
    main.dict()
        .into_any()
        .cast_into::<PyDict>()
        .map_err(|e| Error::from_py(py, e.into()))
}

/// Registers `source` with linecache so tracebacks show the lines of inline code.
fn remember_source(py: Python<'_>, filename: &str, source: &str) {
    let registered = py.import("linecache").and_then(|lc| {
        let lines = PyModule::import(py, "builtins")?
            .getattr("str")?
            .call_method1("splitlines", (source, true))?;
        lc.getattr("cache")?
            .set_item(filename, (source.len(), py.None(), lines, filename))
    });
    // A missing traceback line is cosmetic; never fail the call for it.
    drop(registered);
}

/// Compiles and runs `source` in `globals` (`__main__` when `None`).
pub fn run<'py>(
    py: Python<'py>,
    source: &str,
    mode: Mode,
    filename: &str,
    globals: Option<&Bound<'py, PyDict>>,
) -> Result<Bound<'py, PyAny>> {
    let c_source = c_text("Python source", source)?;
    let c_filename = c_text("filename", filename)?;
    let start = match mode {
        Mode::Exec => ffi::Py_file_input,
        Mode::Eval => ffi::Py_eval_input,
    };
    remember_source(py, filename, source);
    let main;
    let globals = match globals {
        Some(g) => g,
        None => {
            main = main_dict(py)?;
            &main
        }
    };
    // SAFETY: both strings are NUL-terminated; the result is a new reference or NULL.
    let code = unsafe { ffi::Py_CompileString(c_source.as_ptr(), c_filename.as_ptr(), start) };
    // SAFETY: as above.
    let code = unsafe { Bound::from_owned_ptr_or_err(py, code) }.or_py(py)?;
    // SAFETY: code is a code object, globals a dict; the result is a new reference or NULL.
    let result = unsafe { ffi::PyEval_EvalCode(code.as_ptr(), globals.as_ptr(), globals.as_ptr()) };
    // SAFETY: as above.
    unsafe { Bound::from_owned_ptr_or_err(py, result) }.or_py(py)
}

/// Imports a module by its dotted name.
pub fn import<'py>(py: Python<'py>, name: &str) -> Result<Bound<'py, PyAny>> {
    if name.contains('\0') {
        return Err(Error::InvalidArgument(
            "a module name cannot contain a NUL character".into(),
        ));
    }
    py.import(name).map(Bound::into_any).or_py(py)
}

/// Creates module `name` from `source`, registered in `sys.modules` so Python code can import
/// it. If running the source raises, the module is not registered.
pub fn module<'py>(py: Python<'py>, name: &str, source: &str) -> Result<Bound<'py, PyAny>> {
    if name.is_empty() || name.contains('\0') {
        return Err(Error::InvalidArgument(format!("invalid module name {name:?}")));
    }
    let types = py.import("types").or_py(py)?;
    let module = types.getattr("ModuleType").and_then(|t| t.call1((name,))).or_py(py)?;
    let filename = format!("<pynode module {name}>");
    module.setattr("__file__", &filename).or_py(py)?;
    // Python 3.9 does not fill in __builtins__ for code run in a fresh module's namespace (3.10+
    // does); without it `len` is a NameError and every global lookup takes the slow path.
    let builtins = py.import("builtins").or_py(py)?;
    module.setattr("__builtins__", builtins).or_py(py)?;
    let modules = py.import("sys").and_then(|s| s.getattr("modules")).or_py(py)?;
    let previous = modules.get_item(name).ok();
    modules.set_item(name, &module).or_py(py)?;
    let dict = module
        .getattr("__dict__")
        .and_then(|d| Ok(d.cast_into::<PyDict>()?))
        .or_py(py)?;
    if let Err(err) = run(py, source, Mode::Exec, &filename, Some(&dict)) {
        let restored = match previous {
            Some(prev) => modules.set_item(name, prev),
            None => modules.del_item(name),
        };
        drop(restored);
        return Err(err);
    }
    Ok(module)
}

/// Positional arguments and an optional keyword dict, as Python objects.
pub type CallArgs<'py> = (Vec<Bound<'py, PyAny>>, Option<Bound<'py, PyDict>>);

/// Converts call arguments, naming the bad one (`args[1].items[3]`, `kwargs.scale`).
pub fn call_args<'py>(py: Python<'py>, args: &[Value], kwargs: Option<&[(String, Value)]>) -> Result<CallArgs<'py>> {
    let mut objs = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        objs.push(
            arg.to_python(py)
                .map_err(|e| at_root(e, "args", PathSegment::Index(i)))?,
        );
    }
    let kw = match kwargs {
        None => None,
        Some(entries) => {
            let dict = PyDict::new(py);
            for (key, value) in entries {
                let obj = value
                    .to_python(py)
                    .map_err(|e| at_root(e, "kwargs", PathSegment::Key(key.clone())))?;
                dict.set_item(key, obj).or_py(py)?;
            }
            Some(dict)
        }
    };
    Ok((objs, kw))
}

fn at_root(err: ConversionError, root: &str, segment: PathSegment) -> Error {
    Error::Conversion(err.at(segment).at(PathSegment::Root(root.into())))
}

/// Calls `callable(*args, **kwargs)` through vectorcall (no argument tuple is built).
pub fn call<'py>(
    callable: &Bound<'py, PyAny>,
    args: &[Bound<'py, PyAny>],
    kwargs: Option<&Bound<'py, PyDict>>,
) -> Result<Bound<'py, PyAny>> {
    let py = callable.py();
    // `Bound` is a transparent pointer wrapper, so the slice is an array of PyObject pointers.
    let ptrs = args.as_ptr().cast::<*mut ffi::PyObject>();
    let kw = kwargs.map_or(std::ptr::null_mut(), |k| k.as_ptr());
    // SAFETY: callable and every arg are live for the call; `ptrs` points at args.len() object
    // pointers (Bound<PyAny> is repr(transparent) over NonNull<PyObject>); kw is a dict or NULL.
    let result = unsafe { ffi_ext::PyObject_VectorcallDict(callable.as_ptr(), ptrs, args.len(), kw) };
    // SAFETY: a new reference, or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, result) }.or_py(py)
}

/// Converts a result by value (plain data) or as a handle (everything else), naming the path
/// of a value that cannot convert (a list containing itself) from `result`.
pub fn to_value(obj: &Bound<'_, PyAny>) -> Result<Value> {
    Value::from_python(obj).map_err(|e| Error::Conversion(e.at(PathSegment::Root("result".into()))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::python;

    #[test]
    fn exec_eval_call() {
        python();
        Python::attach(|py| {
            run(py, "def add(a, b):\n    return a + b\n", Mode::Exec, "<test>", None).unwrap();
            let add = run(py, "add", Mode::Eval, "<test>", None).unwrap();
            let (args, _) = call_args(py, &[Value::Int(1), Value::Int(2)], None).unwrap();
            let out = call(&add, &args, None).unwrap();
            assert_eq!(out.extract::<i64>().unwrap(), 3);
            let kwargs = vec![("b".to_owned(), Value::Str("y".into()))];
            let (args, kw) = call_args(py, &[Value::Str("x".into())], Some(&kwargs)).unwrap();
            assert_eq!(
                call(&add, &args, kw.as_ref()).unwrap().extract::<String>().unwrap(),
                "xy"
            );
        });
    }

    #[test]
    fn errors_carry_type_traceback_and_cause() {
        python();
        Python::attach(|py| {
            let src = "def boom():\n    try:\n        1/0\n    except ZeroDivisionError as e:\n        raise ValueError('bad value') from e\nboom()\n";
            let Err(Error::Python(info)) = run(py, src, Mode::Exec, "<boom>", None) else {
                panic!("expected a Python error")
            };
            assert_eq!(info.type_name, "ValueError");
            assert_eq!(info.message, "bad value");
            assert!(
                info.traceback.contains("File \"<boom>\", line 5, in boom"),
                "{}",
                info.traceback
            );
            assert!(
                info.traceback.contains("raise ValueError('bad value') from e"),
                "{}",
                info.traceback
            );
            let cause = info.cause.as_ref().unwrap();
            assert!(info.cause_is_explicit);
            assert_eq!(cause.type_name, "ZeroDivisionError");
            let Err(Error::Python(exit)) = run(py, "raise SystemExit(3)", Mode::Exec, "<exit>", None) else {
                panic!()
            };
            assert_eq!(exit.type_name, "SystemExit");
        });
    }

    #[test]
    fn modules_register_and_unregister() {
        python();
        Python::attach(|py| {
            let m = module(py, "pynode_test_mod", "X = 41\ndef f():\n    return X + len([1])\n").unwrap();
            assert_eq!(m.call_method0("f").unwrap().extract::<i64>().unwrap(), 42);
            assert_eq!(m.getattr("X").unwrap().extract::<i64>().unwrap(), 41);
            assert!(import(py, "pynode_test_mod").is_ok());
            assert!(module(py, "pynode_test_bad", "raise RuntimeError('no')").is_err());
            assert!(import(py, "pynode_test_bad").is_err());
            assert!(matches!(import(py, "a\0b"), Err(Error::InvalidArgument(_))));
        });
    }

    #[test]
    fn argument_paths() {
        python();
        Python::attach(|py| {
            let bad = Value::Dict(vec![("items".into(), Value::List(vec![Value::Date(f64::NAN)]))]);
            let Err(Error::Conversion(err)) = call_args(py, &[Value::None, bad], None) else {
                panic!()
            };
            assert_eq!(err.path(), "args[1].items[0]");
        });
    }
}
