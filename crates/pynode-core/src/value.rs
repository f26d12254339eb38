//! Plain data as owned Rust values ([`Value`]), and their conversion to and from Python objects.
//! Conversion copies (strings, bytes, containers); objects that are not plain data travel by
//! reference as [`PyHandle`]s.
//!
//! A `Value` holds no Python object except through a `PyHandle`, so it can be built on a JS
//! thread without the GIL and turned into Python objects later on a Python thread.

use crate::error::{ConversionError, PathSegment};
use crate::ffi_ext;
use crate::gil::{PyHandle, PyRef};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple,
};
use std::sync::Arc;

/// How deep structures may nest before conversion gives up (instead of overflowing the stack).
pub const MAX_DEPTH: usize = 512;

/// Plain data, owned.
#[derive(Clone)]
pub enum Value {
    /// Python `None`; JS `null` (and `undefined` on the way in).
    None,
    Bool(bool),
    /// An integer that fits in i64. JS receives a number when |n| <= 2^53, else a BigInt.
    Int(i64),
    /// Any other integer: JS BigInt <-> Python int.
    BigInt(BigInt),
    Float(f64),
    /// Text that is valid Unicode.
    Str(String),
    /// Text as UTF-16 code units, possibly with lone surrogates (kept as such both ways).
    Utf16(Vec<u16>),
    /// bytes / bytearray <-> Buffer / Uint8Array (copied).
    Bytes(Vec<u8>),
    /// list / tuple <-> Array.
    List(Vec<Value>),
    /// dict with str keys <-> plain object.
    Dict(Vec<(String, Value)>),
    /// dict with other keys <-> Map.
    Map(Vec<(Value, Value)>),
    /// set / frozenset <-> Set.
    Set(Vec<Value>),
    /// datetime <-> Date, as milliseconds since the Unix epoch.
    Date(f64),
    /// Anything else: a reference to the Python object itself.
    Object(PyHandle),
}

/// An arbitrary-precision integer as JS BigInt words: sign and little-endian 64-bit magnitude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigInt {
    pub negative: bool,
    pub words: Vec<u64>,
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(b) => write!(f, "Bool({b})"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::BigInt(b) => write!(f, "BigInt({b:?})"),
            Value::Float(x) => write!(f, "Float({x})"),
            Value::Str(s) => write!(f, "Str({s:?})"),
            Value::Utf16(u) => write!(f, "Utf16({u:?})"),
            Value::Bytes(b) => write!(f, "Bytes({b:?})"),
            Value::List(l) => f.debug_tuple("List").field(l).finish(),
            Value::Dict(d) => f.debug_tuple("Dict").field(d).finish(),
            Value::Map(m) => f.debug_tuple("Map").field(m).finish(),
            Value::Set(s) => f.debug_tuple("Set").field(s).finish(),
            Value::Date(ms) => write!(f, "Date({ms})"),
            Value::Object(h) => write!(f, "Object({:p})", h.as_ptr()),
        }
    }
}

/// JS's largest exactly representable integer.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

impl Value {
    /// A JS number: integers in the safe range become Python ints, everything else (fractions,
    /// NaN, ±Infinity, -0, integers too large to be exact) a Python float.
    pub fn from_f64(x: f64) -> Value {
        if x.fract() == 0.0 && x.abs() <= MAX_SAFE_INTEGER as f64 && !(x == 0.0 && x.is_sign_negative()) {
            Value::Int(x as i64)
        } else {
            Value::Float(x)
        }
    }

    /// Converts this value to a new Python object.
    pub fn to_python<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>, ConversionError> {
        self.to_python_at(py, 0)
    }

    fn to_python_at<'py>(&self, py: Python<'py>, depth: usize) -> Result<Bound<'py, PyAny>, ConversionError> {
        if depth > MAX_DEPTH {
            return Err(ConversionError::new(format!(
                "value nests deeper than {MAX_DEPTH} levels"
            )));
        }
        let py_err = |e: PyErr| ConversionError::new(python_error_text(py, e));
        Ok(match self {
            Value::None => py.None().into_bound(py),
            Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Value::Int(i) => i.into_pyobject(py).map_err(|e| match e {})?.into_any(),
            Value::Float(x) => PyFloat::new(py, *x).into_any(),
            Value::BigInt(b) => bigint_to_python(py, b).map_err(py_err)?,
            Value::Str(s) => PyString::new(py, s).into_any(),
            Value::Utf16(units) => utf16_to_python(py, units).map_err(py_err)?,
            Value::Bytes(b) => PyBytes::new(py, b).into_any(),
            Value::List(items) => {
                let list = PyList::empty(py);
                for (i, item) in items.iter().enumerate() {
                    let obj = item
                        .to_python_at(py, depth + 1)
                        .map_err(|e| e.at(PathSegment::Index(i)))?;
                    list.append(obj).map_err(py_err)?;
                }
                list.into_any()
            }
            Value::Dict(entries) => {
                let dict = PyDict::new(py);
                for (key, item) in entries {
                    let obj = item
                        .to_python_at(py, depth + 1)
                        .map_err(|e| e.at(PathSegment::Key(key.clone())))?;
                    dict.set_item(key, obj).map_err(py_err)?;
                }
                dict.into_any()
            }
            Value::Map(entries) => {
                let dict = PyDict::new(py);
                for (i, (key, item)) in entries.iter().enumerate() {
                    let at = || PathSegment::Key(format!("<key {i}>"));
                    let k = key.to_python_at(py, depth + 1).map_err(|e| e.at(at()))?;
                    let v = item
                        .to_python_at(py, depth + 1)
                        .map_err(|e| e.at(PathSegment::Index(i)))?;
                    dict.set_item(k, v).map_err(|e| py_err(e).at(at()))?;
                }
                dict.into_any()
            }
            Value::Set(items) => {
                let set = PySet::empty(py).map_err(py_err)?;
                for (i, item) in items.iter().enumerate() {
                    let obj = item
                        .to_python_at(py, depth + 1)
                        .map_err(|e| e.at(PathSegment::Index(i)))?;
                    set.add(obj).map_err(|e| py_err(e).at(PathSegment::Index(i)))?;
                }
                set.into_any()
            }
            Value::Date(ms) => {
                if !ms.is_finite() {
                    return Err(ConversionError::new("an Invalid Date cannot be converted to datetime"));
                }
                let support = crate::interpreter::support(py).map_err(py_err)?;
                support.call_method1("date_from_ms", (*ms,)).map_err(py_err)?
            }
            Value::Object(handle) => handle.bind(py).to_owned(),
        })
    }

    /// Converts a Python object to a value: plain data by value, anything else as a handle.
    pub fn from_python(obj: &Bound<'_, PyAny>) -> Result<Value, ConversionError> {
        let mut ancestors = Vec::new();
        from_python_at(obj, &mut ancestors)
    }

    /// A handle to `obj` itself, whatever its type.
    pub fn object(obj: &Bound<'_, PyAny>) -> Value {
        Value::Object(Arc::new(PyRef::new(obj.clone())))
    }
}

fn python_error_text(py: Python<'_>, err: PyErr) -> String {
    let info = crate::error::PythonErrorInfo::from_err(py, err);
    format!("Python raised {}: {}", info.type_name, info.message)
}

fn from_python_at(obj: &Bound<'_, PyAny>, ancestors: &mut Vec<*mut ffi::PyObject>) -> Result<Value, ConversionError> {
    let py = obj.py();
    let py_err = |e: PyErr| ConversionError::new(python_error_text(py, e));
    // Exact types first: the common case costs a pointer comparison.
    if obj.is_none() {
        return Ok(Value::None);
    }
    if obj.is_exact_instance_of::<PyInt>() {
        return int_from_python(obj).map_err(py_err);
    }
    if obj.is_exact_instance_of::<PyFloat>() {
        // SAFETY: obj is exactly a float.
        return Ok(Value::Float(unsafe { ffi::PyFloat_AsDouble(obj.as_ptr()) }));
    }
    if obj.is_exact_instance_of::<PyString>() {
        return str_from_python(obj).map_err(py_err);
    }
    if let Ok(b) = obj.cast_exact::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    // Subclasses (IntEnum, str subclasses, OrderedDict...) convert like their base.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return int_from_python(obj).map_err(py_err);
    }
    if obj.is_instance_of::<PyFloat>() {
        return obj.extract::<f64>().map(Value::Float).map_err(py_err);
    }
    if obj.is_instance_of::<PyString>() {
        return str_from_python(obj).map_err(py_err);
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Value::Bytes(b.as_bytes().to_vec()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Value::Bytes(b.to_vec()));
    }
    let is_list = obj.is_instance_of::<PyList>();
    let is_tuple = !is_list && obj.is_instance_of::<PyTuple>();
    let is_dict = !is_list && !is_tuple && obj.is_instance_of::<PyDict>();
    let is_set =
        !is_list && !is_tuple && !is_dict && (obj.is_instance_of::<PySet>() || obj.is_instance_of::<PyFrozenSet>());
    if is_list || is_tuple || is_dict || is_set {
        let ptr = obj.as_ptr();
        if ancestors.contains(&ptr) {
            return Err(ConversionError::new(format!(
                "circular reference: this {} contains itself",
                obj.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            )));
        }
        if ancestors.len() >= MAX_DEPTH {
            return Err(ConversionError::new(format!(
                "value nests deeper than {MAX_DEPTH} levels"
            )));
        }
        ancestors.push(ptr);
        let result = container_from_python(obj, is_dict, is_set, ancestors);
        ancestors.pop();
        return result;
    }
    let support = crate::interpreter::support(py).map_err(py_err)?;
    let datetime_type = support.getattr("datetime_type").map_err(py_err)?;
    if obj.is_instance(&datetime_type).map_err(py_err)? {
        let ms: f64 = support
            .call_method1("date_to_ms", (obj,))
            .and_then(|v| v.extract())
            .map_err(py_err)?;
        return Ok(Value::Date(ms));
    }
    let item = support.call_method1("scalar_item", (obj,)).map_err(py_err)?;
    if let Ok(tuple) = item.cast::<PyTuple>() {
        let inner = tuple.get_item(0).map_err(py_err)?;
        return from_python_at(&inner, ancestors);
    }
    Ok(Value::object(obj))
}

fn container_from_python(
    obj: &Bound<'_, PyAny>,
    is_dict: bool,
    is_set: bool,
    ancestors: &mut Vec<*mut ffi::PyObject>,
) -> Result<Value, ConversionError> {
    let py = obj.py();
    let py_err = |e: PyErr| ConversionError::new(python_error_text(py, e));
    if is_dict {
        let dict = obj.cast::<PyDict>().map_err(|e| py_err(e.into()))?;
        let mut str_entries: Vec<(String, Value)> = Vec::with_capacity(dict.len());
        let mut map_entries: Option<Vec<(Value, Value)>> = None;
        for (key, item) in dict.iter() {
            if let Some(entries) = map_entries.as_mut() {
                let k = from_python_at(&key, ancestors).map_err(|e| e.at(PathSegment::Key(repr_key(&key))))?;
                let v = from_python_at(&item, ancestors).map_err(|e| e.at(PathSegment::Key(repr_key(&key))))?;
                entries.push((k, v));
                continue;
            }
            if key.is_instance_of::<PyString>() {
                let k: String = match str_from_python(&key).map_err(py_err)? {
                    Value::Str(s) => s,
                    // A key with lone surrogates cannot be a JS property name exactly: use a Map.
                    other => {
                        map_entries = Some(promote(&mut str_entries));
                        let v = from_python_at(&item, ancestors).map_err(|e| e.at(PathSegment::Key(repr_key(&key))))?;
                        if let Some(entries) = map_entries.as_mut() {
                            entries.push((other, v));
                        }
                        continue;
                    }
                };
                let v = from_python_at(&item, ancestors).map_err(|e| e.at(PathSegment::Key(k.clone())))?;
                str_entries.push((k, v));
            } else {
                let mut entries = promote(&mut str_entries);
                let k = from_python_at(&key, ancestors).map_err(|e| e.at(PathSegment::Key(repr_key(&key))))?;
                let v = from_python_at(&item, ancestors).map_err(|e| e.at(PathSegment::Key(repr_key(&key))))?;
                entries.push((k, v));
                map_entries = Some(entries);
            }
        }
        return Ok(match map_entries {
            Some(entries) => Value::Map(entries),
            None => Value::Dict(str_entries),
        });
    }
    let mut items = Vec::with_capacity(obj.len().unwrap_or(0));
    for (i, item) in obj.try_iter().map_err(py_err)?.enumerate() {
        let item = item.map_err(py_err)?;
        items.push(from_python_at(&item, ancestors).map_err(|e| e.at(PathSegment::Index(i)))?);
    }
    Ok(if is_set { Value::Set(items) } else { Value::List(items) })
}

fn promote(entries: &mut Vec<(String, Value)>) -> Vec<(Value, Value)> {
    entries.drain(..).map(|(k, v)| (Value::Str(k), v)).collect()
}

fn repr_key(key: &Bound<'_, PyAny>) -> String {
    key.repr()
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "<key>".into())
}

fn int_from_python(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let mut overflow = 0;
    // SAFETY: obj is an int (or subclass); the call only reads it.
    let small = unsafe { ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
    if overflow == 0 {
        if small == -1 {
            if let Some(err) = PyErr::take(obj.py()) {
                return Err(err);
            }
        }
        return Ok(Value::Int(small));
    }
    // Big: read it through its hex spelling, which the limited API offers.
    let hex = obj.call_method0("__index__")?;
    // SAFETY: PyNumber_ToBase returns a new reference to a str, or NULL with an exception set.
    let text = unsafe { Bound::from_owned_ptr_or_err(obj.py(), ffi::PyNumber_ToBase(hex.as_ptr(), 16))? };
    let text: String = text.extract()?;
    Ok(Value::BigInt(parse_hex_bigint(&text)))
}

/// Parses `0x1f` / `-0x1f` into JS BigInt words.
fn parse_hex_bigint(text: &str) -> BigInt {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let digits = digits.trim_start_matches("0x");
    let mut words = Vec::with_capacity(digits.len() / 16 + 1);
    let bytes = digits.as_bytes();
    let mut end = bytes.len();
    while end > 0 {
        let start = end.saturating_sub(16);
        let chunk = std::str::from_utf8(&bytes[start..end]).unwrap_or("0");
        words.push(u64::from_str_radix(chunk, 16).unwrap_or(0));
        end = start;
    }
    BigInt { negative, words }
}

fn bigint_to_python<'py>(py: Python<'py>, big: &BigInt) -> PyResult<Bound<'py, PyAny>> {
    let mut text = String::with_capacity(big.words.len() * 16 + 2);
    if big.negative {
        text.push('-');
    }
    match big.words.iter().rposition(|w| *w != 0) {
        None => text.push('0'),
        Some(top) => {
            text.push_str(&format!("{:x}", big.words[top]));
            for w in big.words[..top].iter().rev() {
                text.push_str(&format!("{w:016x}"));
            }
        }
    }
    let c_text = std::ffi::CString::new(text).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    // SAFETY: c_text is NUL-terminated; PyLong_FromString returns a new reference or NULL.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyLong_FromString(c_text.as_ptr(), std::ptr::null_mut(), 16)) }
}

fn str_from_python(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: obj is a str; the returned buffer is owned by obj and valid while it lives.
    let data = unsafe { ffi_ext::PyUnicode_AsUTF8AndSize(obj.as_ptr(), &mut size) };
    if !data.is_null() {
        // SAFETY: CPython guarantees `size` bytes of valid UTF-8 at `data`.
        let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size as usize) };
        // SAFETY: see above: the buffer is valid UTF-8.
        return Ok(Value::Str(unsafe { std::str::from_utf8_unchecked(bytes) }.to_owned()));
    }
    // Lone surrogates cannot be UTF-8: keep them exactly, as UTF-16 code units.
    drop(PyErr::take(obj.py()));
    let encoded = obj.call_method1("encode", ("utf-16-le", "surrogatepass"))?;
    let bytes = encoded.cast::<PyBytes>().map_err(PyErr::from)?.as_bytes();
    Ok(Value::Utf16(
        bytes
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect(),
    ))
}

fn utf16_to_python<'py>(py: Python<'py>, units: &[u16]) -> PyResult<Bound<'py, PyAny>> {
    // Native byte order given explicitly, so a leading U+FEFF is kept, not taken as a BOM.
    let mut byteorder: std::os::raw::c_int = if cfg!(target_endian = "little") { -1 } else { 1 };
    // SAFETY: `units` is a valid buffer of units.len() * 2 bytes; the call copies it.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_DecodeUTF16(
                units.as_ptr().cast(),
                (units.len() * 2) as ffi::Py_ssize_t,
                c"surrogatepass".as_ptr(),
                &mut byteorder,
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::python;

    fn round_trip(py: Python<'_>, v: &Value) -> Value {
        Value::from_python(&v.to_python(py).unwrap()).unwrap()
    }

    #[test]
    fn js_numbers_pick_int_or_float() {
        assert!(matches!(Value::from_f64(3.0), Value::Int(3)));
        assert!(matches!(Value::from_f64(-0.0), Value::Float(x) if x == 0.0 && x.is_sign_negative()));
        assert!(matches!(Value::from_f64(2f64.powi(60)), Value::Float(_)));
        assert!(matches!(Value::from_f64(1.5), Value::Float(_)));
        assert!(matches!(Value::from_f64(f64::NAN), Value::Float(x) if x.is_nan()));
    }

    #[test]
    fn scalars_round_trip() {
        python();
        Python::attach(|py| {
            for v in [
                Value::None,
                Value::Bool(true),
                Value::Int(-7),
                Value::Float(0.25),
                Value::Str("héllo 🎉".into()),
            ] {
                assert_eq!(format!("{:?}", round_trip(py, &v)), format!("{v:?}"));
            }
            let big = Value::BigInt(BigInt {
                negative: true,
                words: vec![5, 1],
            });
            let obj = big.to_python(py).unwrap();
            assert_eq!(obj.to_string(), "-18446744073709551621");
            assert_eq!(format!("{:?}", round_trip(py, &big)), format!("{big:?}"));
        });
    }

    #[test]
    fn lone_surrogates_survive() {
        python();
        Python::attach(|py| {
            let v = Value::Utf16(vec![0x61, 0xD800, 0x62]);
            let obj = v.to_python(py).unwrap();
            assert_eq!(obj.len().unwrap(), 3);
            assert!(matches!(Value::from_python(&obj).unwrap(), Value::Utf16(u) if u == vec![0x61, 0xD800, 0x62]));
            let bom = Value::Utf16(vec![0xFEFF, 0x41]);
            assert_eq!(bom.to_python(py).unwrap().len().unwrap(), 2);
        });
    }

    #[test]
    fn containers_and_paths() {
        python();
        Python::attach(|py| {
            let obj = py.eval(c"{'a': [1, (2, 3)], 'b': {1: 'x'}}", None, None).unwrap();
            let v = Value::from_python(&obj).unwrap();
            let Value::Dict(entries) = v else {
                panic!("expected dict")
            };
            assert!(matches!(&entries[0].1, Value::List(l) if l.len() == 2));
            assert!(matches!(&entries[1].1, Value::Map(m) if m.len() == 1));
            let cyclic = py.eval(c"(lambda l: (l.append(l), l)[1])([])", None, None).unwrap();
            let err = Value::from_python(&cyclic)
                .unwrap_err()
                .at(PathSegment::Root("result".into()));
            assert!(err.to_string().contains("circular"), "{err}");
            assert_eq!(err.path(), "result[0]");
            let unhashable = Value::Set(vec![Value::List(vec![])]).to_python(py).unwrap_err();
            assert!(unhashable.to_string().contains("unhashable"), "{unhashable}");
        });
    }

    #[test]
    fn dates_are_exact_milliseconds() {
        python();
        Python::attach(|py| {
            let obj = Value::Date(1_700_000_000_123.0).to_python(py).unwrap();
            assert_eq!(obj.str().unwrap().to_string(), "2023-11-14 22:13:20.123000+00:00");
            assert!(matches!(Value::from_python(&obj).unwrap(), Value::Date(ms) if ms == 1_700_000_000_123.0));
            assert!(Value::Date(f64::NAN).to_python(py).is_err());
        });
    }

    #[test]
    fn other_objects_are_handles() {
        python();
        Python::attach(|py| {
            let obj = py.eval(c"object()", None, None).unwrap();
            assert!(matches!(Value::from_python(&obj).unwrap(), Value::Object(_)));
        });
    }
}
