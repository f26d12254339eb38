//! JS values <-> owned [`Value`]s. Copies: strings, bytes and containers are copied; PyObject
//! handles pass by reference. Runs without the GIL, so async paths can use it too.

use crate::handle;
use crate::js::{Failure, Js, Val, R};
use crate::state::EnvState;
use napi::sys;
use pynode_core::value::{MAX_DEPTH, MAX_SAFE_INTEGER};
use pynode_core::{BigInt, ConversionError, PathSegment, Value};

/// Converts a JS value; errors name the path below the value (the caller adds the root).
pub fn to_value(js: Js, v: Val) -> R<Value> {
    let mut ancestors = Vec::new();
    to_value_at(js, v, &mut ancestors)
}

fn conversion(message: impl Into<String>) -> Failure {
    Failure::Core(ConversionError::new(message).into())
}

/// Adds a path segment to a conversion error travelling outwards.
pub fn at(err: Failure, segment: PathSegment) -> Failure {
    match err {
        Failure::Core(pynode_core::Error::Conversion(c)) => Failure::Core(c.at(segment).into()),
        other => other,
    }
}

fn to_value_at(js: Js, v: Val, ancestors: &mut Vec<Val>) -> R<Value> {
    use sys::ValueType as T;
    match js.type_of(v)? {
        T::napi_undefined | T::napi_null => Ok(Value::None),
        T::napi_boolean => Ok(Value::Bool(js.get_bool(v)?)),
        T::napi_number => Ok(Value::from_f64(js.get_f64(v)?)),
        T::napi_string => {
            let units = js.get_utf16(v)?;
            Ok(match String::from_utf16(&units) {
                Ok(s) => Value::Str(s),
                Err(_) => Value::Utf16(units),
            })
        }
        T::napi_bigint => {
            let (negative, words) = js.get_bigint(v)?;
            Ok(match words.as_slice() {
                [] => Value::Int(0),
                [w] if *w <= i64::MAX as u64 => Value::Int(if negative { -(*w as i64) } else { *w as i64 }),
                _ => Value::BigInt(BigInt { negative, words }),
            })
        }
        T::napi_symbol => Err(conversion("a Symbol has no Python equivalent")),
        T::napi_function => match handle::of_object(js, v)? {
            Some(h) => Ok(Value::Object(h.get("pass a PyObject")?)),
            None => Err(conversion(
                "a JS function cannot be passed to Python (callbacks are not supported yet); pass data or a PyObject",
            )),
        },
        T::napi_object => object_to_value(js, v, ancestors),
        _ => Err(conversion(
            "this kind of JS value (an external) has no Python equivalent",
        )),
    }
}

fn object_to_value(js: Js, v: Val, ancestors: &mut Vec<Val>) -> R<Value> {
    if js.is_array(v)? {
        return nested(js, v, ancestors, |js, ancestors| {
            let len = js.array_len(v)?;
            let mut items = Vec::with_capacity(len as usize);
            for i in 0..len {
                let item = js.element(v, i)?;
                items.push(to_value_at(js, item, ancestors).map_err(|e| at(e, PathSegment::Index(i as usize)))?);
            }
            Ok(Value::List(items))
        });
    }
    if js.is_typedarray(v)? || js.is_dataview(v)? || js.is_arraybuffer(v)? {
        let (kind, bytes) = js.bytes_of(v)?;
        return match kind {
            None | Some(sys::TypedarrayType::uint8_array) | Some(sys::TypedarrayType::uint8_clamped_array) => {
                Ok(Value::Bytes(bytes.to_vec()))
            }
            Some(_) => Err(conversion(
                "only Uint8Array, Buffer, DataView and ArrayBuffer convert to bytes; pass a Uint8Array over the same memory \
                 (new Uint8Array(a.buffer, a.byteOffset, a.byteLength)) to send raw bytes",
            )),
        };
    }
    if js.is_date(v)? {
        let ms = js.get_date(v)?;
        if !ms.is_finite() {
            return Err(conversion("an Invalid Date cannot be converted to datetime"));
        }
        return Ok(Value::Date(ms));
    }
    if let Some(h) = handle::of_object(js, v)? {
        return Ok(Value::Object(h.get("pass a PyObject")?));
    }
    let state = EnvState::get(js)?;
    if js.instance_of(v, js.deref(state.map_ctor)?)? {
        return nested(js, v, ancestors, |js, ancestors| {
            let entries = js.call(v, js.deref(state.entries)?, &[v])?;
            let len = js.array_len(entries)?;
            let mut out = Vec::with_capacity(len as usize);
            for i in 0..len {
                let pair = js.element(entries, i)?;
                let seg = || PathSegment::Key(format!("<key {i}>"));
                let key = to_value_at(js, js.element(pair, 0)?, ancestors).map_err(|e| at(e, seg()))?;
                let value = to_value_at(js, js.element(pair, 1)?, ancestors)
                    .map_err(|e| at(e, PathSegment::Index(i as usize)))?;
                out.push((key, value));
            }
            Ok(Value::Map(out))
        });
    }
    if js.instance_of(v, js.deref(state.set_ctor)?)? {
        return nested(js, v, ancestors, |js, ancestors| {
            let values = js.call(v, js.deref(state.entries)?, &[v])?;
            let len = js.array_len(values)?;
            let mut out = Vec::with_capacity(len as usize);
            for i in 0..len {
                let item = js.element(values, i)?;
                out.push(to_value_at(js, item, ancestors).map_err(|e| at(e, PathSegment::Index(i as usize)))?);
            }
            Ok(Value::Set(out))
        });
    }
    let proto = js.prototype(v)?;
    let plain =
        js.type_of(proto)? == sys::ValueType::napi_null || js.strict_equals(proto, js.deref(state.object_proto)?)?;
    if !plain {
        let name = constructor_name(js, v).unwrap_or_else(|| "non-plain".to_owned());
        return Err(conversion(format!(
            "a {name} object has no Python equivalent; pass a plain object, Array, Map, Set, Date, Buffer or PyObject"
        )));
    }
    nested(js, v, ancestors, |js, ancestors| {
        let keys = js.own_keys(v)?;
        let len = js.array_len(keys)?;
        let mut out = Vec::with_capacity(len as usize);
        let mut all_unicode = true;
        for i in 0..len {
            let key = js.element(keys, i)?;
            let units = js.get_utf16(key)?;
            let name = String::from_utf16(&units).map_err(|_| units.clone());
            let label = String::from_utf16_lossy(&units);
            let value = to_value_at(js, js.get(v, key)?, ancestors).map_err(|e| at(e, PathSegment::Key(label)))?;
            all_unicode &= name.is_ok();
            out.push((name, value));
        }
        if all_unicode {
            return Ok(Value::Dict(
                out.into_iter().map(|(k, v)| (k.unwrap_or_default(), v)).collect(),
            ));
        }
        // A key with a lone surrogate is kept exactly, as a str key of a dict built from a Map.
        Ok(Value::Map(
            out.into_iter()
                .map(|(k, v)| (k.map_or_else(Value::Utf16, Value::Str), v))
                .collect(),
        ))
    })
}

/// Converts a container, refusing cycles and runaway depth.
fn nested(js: Js, v: Val, ancestors: &mut Vec<Val>, f: impl FnOnce(Js, &mut Vec<Val>) -> R<Value>) -> R<Value> {
    for &a in ancestors.iter() {
        if js.strict_equals(a, v)? {
            return Err(conversion("circular reference: this object contains itself"));
        }
    }
    if ancestors.len() >= MAX_DEPTH {
        return Err(conversion(format!("value nests deeper than {MAX_DEPTH} levels")));
    }
    ancestors.push(v);
    let result = f(js, ancestors);
    ancestors.pop();
    result
}

fn constructor_name(js: Js, v: Val) -> Option<String> {
    let ctor = js.get_named(v, c"constructor").ok()?;
    if js.type_of(ctor).ok()? != sys::ValueType::napi_function {
        return None;
    }
    let name = js.get_named(ctor, c"name").ok()?;
    js.get_string(name, "name").ok().filter(|n| !n.is_empty())
}

/// Makes the JS form of `value`.
pub fn to_js(js: Js, value: Value) -> R<Val> {
    match value {
        Value::None => js.null(),
        Value::Bool(b) => js.boolean(b),
        Value::Int(i) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) => js.number(i as f64),
        Value::Int(i) => js.bigint_i64(i),
        Value::BigInt(b) => js.bigint_words(b.negative, &b.words),
        Value::Float(x) => js.number(x),
        Value::Str(s) => js.string(&s),
        Value::Utf16(u) => js.string_utf16(&u),
        Value::Bytes(b) => js.buffer_copy(&b),
        Value::Date(ms) => js.date(ms),
        Value::List(items) => {
            let array = js.array(items.len())?;
            for (i, item) in items.into_iter().enumerate() {
                let v = to_js(js, item)?;
                js.set_element(array, i as u32, v)?;
            }
            Ok(array)
        }
        Value::Dict(entries) => {
            let obj = js.object()?;
            for (key, item) in entries {
                let k = js.string(&key)?;
                let v = to_js(js, item)?;
                // Define, not assign: a key like "__proto__" must become an own property.
                js.define(obj, k, v)?;
            }
            Ok(obj)
        }
        Value::Map(entries) => {
            let state = EnvState::get(js)?;
            let pairs = js.array(entries.len())?;
            for (i, (key, item)) in entries.into_iter().enumerate() {
                let pair = js.array(2)?;
                let k = to_js(js, key)?;
                js.set_element(pair, 0, k)?;
                let v = to_js(js, item)?;
                js.set_element(pair, 1, v)?;
                js.set_element(pairs, i as u32, pair)?;
            }
            let undefined = js.undefined()?;
            js.call(undefined, js.deref(state.new_map)?, &[pairs])
        }
        Value::Set(items) => {
            let state = EnvState::get(js)?;
            let array = to_js(js, Value::List(items))?;
            let undefined = js.undefined()?;
            js.call(undefined, js.deref(state.new_set)?, &[array])
        }
        Value::Object(h) => handle::wrap(js, h),
    }
}
