//! Thin, checked wrappers over the raw Node-API calls pynode's hot paths use. Raw calls (not
//! napi-rs's typed values) keep a sync call to a few Node-API calls per argument.

use napi::sys;
use std::os::raw::c_char;
use std::ptr;

/// Why a JS-side step failed.
#[derive(Debug)]
pub enum Failure {
    /// A pynode-core error (Python exception, conversion, disposed…): thrown as its JS class.
    Core(pynode_core::Error),
    /// A Node-API call failed; if a JS exception is pending it is left to propagate.
    Napi(sys::napi_status, &'static str),
}

pub type R<T> = Result<T, Failure>;

impl From<pynode_core::Error> for Failure {
    fn from(err: pynode_core::Error) -> Self {
        Failure::Core(err)
    }
}

impl From<pynode_core::ConversionError> for Failure {
    fn from(err: pynode_core::ConversionError) -> Self {
        Failure::Core(err.into())
    }
}

#[inline]
pub fn check(status: sys::napi_status, what: &'static str) -> R<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Failure::Napi(status, what))
    }
}

/// A Node-API environment for the duration of one callback.
#[derive(Clone, Copy)]
pub struct Js {
    pub env: sys::napi_env,
}

pub type Val = sys::napi_value;

macro_rules! out {
    ($js:expr, $what:literal, $f:ident($($arg:expr),*)) => {{
        let mut result = std::mem::MaybeUninit::uninit();
        // SAFETY: env is the live environment of the current callback, the arguments are
        // values of that environment, and `result` is a valid out-pointer.
        check(unsafe { sys::$f($js.env, $($arg,)* result.as_mut_ptr()) }, $what)?;
        // SAFETY: the call succeeded, so it wrote the result.
        unsafe { result.assume_init() }
    }};
}

impl Js {
    pub fn type_of(self, v: Val) -> R<sys::napi_valuetype> {
        Ok(out!(self, "typeof", napi_typeof(v)))
    }
    pub fn undefined(self) -> R<Val> {
        Ok(out!(self, "get undefined", napi_get_undefined()))
    }
    pub fn null(self) -> R<Val> {
        Ok(out!(self, "get null", napi_get_null()))
    }
    pub fn global(self) -> R<Val> {
        Ok(out!(self, "get global", napi_get_global()))
    }
    pub fn boolean(self, b: bool) -> R<Val> {
        Ok(out!(self, "create boolean", napi_get_boolean(b)))
    }
    pub fn number(self, x: f64) -> R<Val> {
        Ok(out!(self, "create number", napi_create_double(x)))
    }
    pub fn bigint_i64(self, i: i64) -> R<Val> {
        Ok(out!(self, "create bigint", napi_create_bigint_int64(i)))
    }
    pub fn bigint_words(self, negative: bool, words: &[u64]) -> R<Val> {
        Ok(out!(
            self,
            "create bigint",
            napi_create_bigint_words(i32::from(negative), words.len(), words.as_ptr())
        ))
    }
    pub fn string(self, s: &str) -> R<Val> {
        Ok(out!(
            self,
            "create string",
            napi_create_string_utf8(s.as_ptr().cast::<c_char>(), s.len() as isize)
        ))
    }
    pub fn string_utf16(self, units: &[u16]) -> R<Val> {
        Ok(out!(
            self,
            "create string",
            napi_create_string_utf16(units.as_ptr(), units.len() as isize)
        ))
    }
    pub fn buffer_copy(self, bytes: &[u8]) -> R<Val> {
        let mut data = ptr::null_mut();
        Ok(out!(
            self,
            "create buffer",
            napi_create_buffer_copy(bytes.len(), bytes.as_ptr().cast(), &mut data)
        ))
    }
    pub fn date(self, ms: f64) -> R<Val> {
        Ok(out!(self, "create date", napi_create_date(ms)))
    }
    pub fn array(self, len: usize) -> R<Val> {
        Ok(out!(self, "create array", napi_create_array_with_length(len)))
    }
    pub fn object(self) -> R<Val> {
        Ok(out!(self, "create object", napi_create_object()))
    }
    pub fn get_bool(self, v: Val) -> R<bool> {
        Ok(out!(self, "read boolean", napi_get_value_bool(v)))
    }
    pub fn get_f64(self, v: Val) -> R<f64> {
        Ok(out!(self, "read number", napi_get_value_double(v)))
    }
    pub fn get_date(self, v: Val) -> R<f64> {
        Ok(out!(self, "read date", napi_get_date_value(v)))
    }
    pub fn is_array(self, v: Val) -> R<bool> {
        Ok(out!(self, "is array", napi_is_array(v)))
    }
    pub fn is_date(self, v: Val) -> R<bool> {
        Ok(out!(self, "is date", napi_is_date(v)))
    }
    pub fn is_typedarray(self, v: Val) -> R<bool> {
        Ok(out!(self, "is typed array", napi_is_typedarray(v)))
    }
    pub fn is_arraybuffer(self, v: Val) -> R<bool> {
        Ok(out!(self, "is array buffer", napi_is_arraybuffer(v)))
    }
    pub fn is_dataview(self, v: Val) -> R<bool> {
        Ok(out!(self, "is data view", napi_is_dataview(v)))
    }
    pub fn array_len(self, v: Val) -> R<u32> {
        Ok(out!(self, "array length", napi_get_array_length(v)))
    }
    pub fn element(self, v: Val, i: u32) -> R<Val> {
        Ok(out!(self, "get element", napi_get_element(v, i)))
    }
    pub fn set_element(self, v: Val, i: u32, item: Val) -> R<()> {
        // SAFETY: values of this env.
        check(unsafe { sys::napi_set_element(self.env, v, i, item) }, "set element")
    }
    pub fn get(self, obj: Val, key: Val) -> R<Val> {
        Ok(out!(self, "get property", napi_get_property(obj, key)))
    }
    pub fn get_named(self, obj: Val, key: &std::ffi::CStr) -> R<Val> {
        Ok(out!(self, "get property", napi_get_named_property(obj, key.as_ptr())))
    }
    pub fn set_named(self, obj: Val, key: &std::ffi::CStr, value: Val) -> R<()> {
        // SAFETY: values of this env; key is NUL-terminated.
        check(
            unsafe { sys::napi_set_named_property(self.env, obj, key.as_ptr(), value) },
            "set property",
        )
    }
    /// Defines an own data property (no setter runs: safe for keys like `__proto__`).
    pub fn define(self, obj: Val, key: Val, value: Val) -> R<()> {
        let prop = sys::napi_property_descriptor {
            utf8name: ptr::null(),
            name: key,
            method: None,
            getter: None,
            setter: None,
            value,
            attributes: sys::PropertyAttributes::writable
                | sys::PropertyAttributes::enumerable
                | sys::PropertyAttributes::configurable,
            data: ptr::null_mut(),
        };
        // SAFETY: one valid descriptor of this env's values.
        check(
            unsafe { sys::napi_define_properties(self.env, obj, 1, &prop) },
            "define property",
        )
    }
    pub fn own_keys(self, obj: Val) -> R<Val> {
        Ok(out!(
            self,
            "list keys",
            napi_get_all_property_names(
                obj,
                sys::KeyCollectionMode::own_only,
                sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
                sys::KeyConversion::numbers_to_strings
            )
        ))
    }
    pub fn prototype(self, v: Val) -> R<Val> {
        Ok(out!(self, "get prototype", napi_get_prototype(v)))
    }
    pub fn strict_equals(self, a: Val, b: Val) -> R<bool> {
        Ok(out!(self, "compare", napi_strict_equals(a, b)))
    }
    pub fn instance_of(self, v: Val, ctor: Val) -> R<bool> {
        Ok(out!(self, "instanceof", napi_instanceof(v, ctor)))
    }
    pub fn call(self, this: Val, f: Val, args: &[Val]) -> R<Val> {
        Ok(out!(
            self,
            "call function",
            napi_call_function(this, f, args.len(), args.as_ptr())
        ))
    }
    pub fn new_instance(self, ctor: Val, args: &[Val]) -> R<Val> {
        Ok(out!(
            self,
            "construct",
            napi_new_instance(ctor, args.len(), args.as_ptr())
        ))
    }
    pub fn reference(self, v: Val) -> R<sys::napi_ref> {
        Ok(out!(self, "create reference", napi_create_reference(v, 1)))
    }
    pub fn deref(self, r: sys::napi_ref) -> R<Val> {
        Ok(out!(self, "read reference", napi_get_reference_value(r)))
    }
    pub fn throw(self, error: Val) {
        // SAFETY: a value of this env; if throwing fails there is nothing better to do.
        unsafe { sys::napi_throw(self.env, error) };
    }
    pub fn is_exception_pending(self) -> bool {
        let mut pending = false;
        // SAFETY: valid out-pointer.
        unsafe { sys::napi_is_exception_pending(self.env, &mut pending) };
        pending
    }

    /// Reads a JS string as UTF-16 code units (lossless, lone surrogates included).
    pub fn get_utf16(self, v: Val) -> R<Vec<u16>> {
        let mut len = 0usize;
        check(
            // SAFETY: a NULL buffer asks for the length in code units.
            unsafe { sys::napi_get_value_string_utf16(self.env, v, ptr::null_mut(), 0, &mut len) },
            "read string",
        )?;
        let mut units = vec![0u16; len + 1];
        let mut written = 0usize;
        check(
            // SAFETY: the buffer has room for len units plus the NUL terminator napi writes.
            unsafe { sys::napi_get_value_string_utf16(self.env, v, units.as_mut_ptr(), len + 1, &mut written) },
            "read string",
        )?;
        units.truncate(written);
        Ok(units)
    }

    /// Reads a JS string that must be valid Unicode (names, source code).
    pub fn get_string(self, v: Val, what: &str) -> R<String> {
        if self.type_of(v)? != sys::ValueType::napi_string {
            return Err(invalid(format!("{what} must be a string")));
        }
        String::from_utf16(&self.get_utf16(v)?).map_err(|_| invalid(format!("{what} contains a lone surrogate")))
    }

    /// Reads a BigInt as (negative, little-endian words).
    pub fn get_bigint(self, v: Val) -> R<(bool, Vec<u64>)> {
        let mut count = 0usize;
        let mut sign = 0i32;
        check(
            // SAFETY: NULL sign and words ask for the word count (Node-API wants both NULL or both set).
            unsafe { sys::napi_get_value_bigint_words(self.env, v, ptr::null_mut(), &mut count, ptr::null_mut()) },
            "read bigint",
        )?;
        let mut words = vec![0u64; count];
        check(
            // SAFETY: words has room for `count` words.
            unsafe { sys::napi_get_value_bigint_words(self.env, v, &mut sign, &mut count, words.as_mut_ptr()) },
            "read bigint",
        )?;
        Ok((sign != 0, words))
    }

    /// The bytes of a TypedArray / Buffer / DataView / ArrayBuffer, and the typed array kind
    /// (`None` for DataView and ArrayBuffer).
    pub fn bytes_of(self, v: Val) -> R<(Option<sys::napi_typedarray_type>, &'static [u8])> {
        let mut data: *mut std::ffi::c_void = ptr::null_mut();
        let mut byte_len = 0usize;
        let mut kind = None;
        if self.is_typedarray(v)? {
            let mut ty = 0;
            let mut length = 0usize;
            let mut offset = 0usize;
            check(
                // SAFETY: out-pointers are valid; the array buffer out-param may be NULL.
                unsafe {
                    sys::napi_get_typedarray_info(
                        self.env,
                        v,
                        &mut ty,
                        &mut length,
                        &mut data,
                        ptr::null_mut(),
                        &mut offset,
                    )
                },
                "read typed array",
            )?;
            let width = match ty {
                sys::TypedarrayType::int8_array
                | sys::TypedarrayType::uint8_array
                | sys::TypedarrayType::uint8_clamped_array => 1,
                sys::TypedarrayType::int16_array | sys::TypedarrayType::uint16_array => 2,
                sys::TypedarrayType::int32_array
                | sys::TypedarrayType::uint32_array
                | sys::TypedarrayType::float32_array => 4,
                _ => 8,
            };
            byte_len = length * width;
            kind = Some(ty);
        } else if self.is_dataview(v)? {
            let mut offset = 0usize;
            check(
                // SAFETY: as above.
                unsafe {
                    sys::napi_get_dataview_info(self.env, v, &mut byte_len, &mut data, ptr::null_mut(), &mut offset)
                },
                "read data view",
            )?;
        } else {
            check(
                // SAFETY: as above.
                unsafe { sys::napi_get_arraybuffer_info(self.env, v, &mut data, &mut byte_len) },
                "read array buffer",
            )?;
        }
        if data.is_null() || byte_len == 0 {
            return Ok((kind, &[]));
        }
        // SAFETY: napi reported `byte_len` readable bytes at `data`; the slice is only used
        // within the current callback, before any JS can run and detach the buffer.
        Ok((kind, unsafe { std::slice::from_raw_parts(data.cast::<u8>(), byte_len) }))
    }
}

pub fn invalid(message: impl Into<String>) -> Failure {
    Failure::Core(pynode_core::Error::InvalidArgument(message.into()))
}

/// How many arguments are read without allocating.
const INLINE_ARGS: usize = 8;

/// The arguments of a callback (up to eight kept on the stack: the hot path allocates nothing).
pub struct Args {
    inline: [Val; INLINE_ARGS],
    heap: Vec<Val>,
    len: usize,
}

impl Args {
    /// # Safety
    /// `env` and `info` must be those of the current Node-API callback.
    pub unsafe fn read(js: Js, info: sys::napi_callback_info) -> R<Args> {
        let mut args = Args {
            inline: [ptr::null_mut(); INLINE_ARGS],
            heap: Vec::new(),
            len: INLINE_ARGS,
        };
        check(
            // SAFETY: `inline` has room for `len` values; the caller guarantees env/info are current.
            unsafe {
                sys::napi_get_cb_info(
                    js.env,
                    info,
                    &mut args.len,
                    args.inline.as_mut_ptr(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            },
            "read arguments",
        )?;
        if args.len > INLINE_ARGS {
            args.heap = vec![ptr::null_mut(); args.len];
            check(
                // SAFETY: as above, with room for all arguments now.
                unsafe {
                    sys::napi_get_cb_info(
                        js.env,
                        info,
                        &mut args.len,
                        args.heap.as_mut_ptr(),
                        ptr::null_mut(),
                        ptr::null_mut(),
                    )
                },
                "read arguments",
            )?;
        }
        Ok(args)
    }

    /// All arguments passed.
    pub fn argv(&self) -> &[Val] {
        if self.heap.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.heap[..self.len]
        }
    }

    /// Argument `i`, or an error naming it.
    pub fn at(&self, i: usize, name: &str) -> R<Val> {
        self.argv()
            .get(i)
            .copied()
            .ok_or_else(|| invalid(format!("missing argument: {name}")))
    }
}
