//! `buffer()` and `releaseBuffer()`: Python memory as a JS TypedArray over an external
//! ArrayBuffer (issue 4). Copies nothing when sharing is allowed; copies (into a JS-owned
//! ArrayBuffer) when asked, for read-only buffers, and where Node forbids external buffers.
//!
//! Ownership: each external ArrayBuffer made here owns a [`Lent`] (a Python buffer export or a
//! DLPack tensor). V8 frees the backing store when the last ArrayBuffer using it is collected,
//! or when it is detached (`releaseBuffer`); Node then runs [`finalize_lent`] on the JS thread,
//! which queues the Python-side release (never waiting for the GIL).
//!
//! External memory accounting: V8 itself reports every ArrayBuffer's backing store, external
//! ones included, to its external-memory counter (`ArrayBufferSweeper` calls
//! `AdjustAmountOfExternalAllocatedMemory` with its length when the ArrayBuffer is made, and
//! takes it back when it is freed), so GC pressure already matches the memory a view holds;
//! `napi_adjust_external_memory` on top would count it twice. buffer.spec.ts checks the counter.

use crate::gil::enter;
use crate::handle;
use crate::js::{check, invalid, Args, Failure, Js, Val, R};
use napi::sys;
use pynode_core::buffer::{Element, PyBuffer};
use pynode_core::dlpack::Tensor;
use pynode_core::Error;
use std::ffi::c_void;
use std::ptr;

/// Marks the ArrayBuffers made here, so `releaseBuffer` never detaches someone else's.
const TAG: sys::napi_type_tag = sys::napi_type_tag {
    lower: 0x7079_6e6f_6465_0004,
    upper: 0x4b1f_0c55_93d2_e7a1,
};

/// What an external ArrayBuffer keeps alive.
pub enum Lent {
    Buffer(PyBuffer),
    Tensor(Tensor),
}

impl Lent {
    fn release_deferred(self) {
        match self {
            Lent::Buffer(b) => b.release_deferred(),
            Lent::Tensor(t) => t.release_deferred(),
        }
    }
}

struct Held {
    lent: Lent,
}

pub fn typed_array_type(element: Element) -> sys::napi_typedarray_type {
    use sys::TypedarrayType as T;
    match element {
        Element::I8 => T::int8_array,
        Element::U8 => T::uint8_array,
        Element::I16 => T::int16_array,
        Element::U16 => T::uint16_array,
        Element::I32 => T::int32_array,
        Element::U32 => T::uint32_array,
        Element::I64 => T::bigint64_array,
        Element::U64 => T::biguint64_array,
        Element::F32 => T::float32_array,
        Element::F64 => T::float64_array,
    }
}

pub fn element_of(ty: sys::napi_typedarray_type) -> Element {
    use sys::TypedarrayType as T;
    match ty {
        T::int8_array => Element::I8,
        T::int16_array => Element::I16,
        T::uint16_array => Element::U16,
        T::int32_array => Element::I32,
        T::uint32_array => Element::U32,
        T::float32_array => Element::F32,
        T::float64_array => Element::F64,
        T::bigint64_array => Element::I64,
        T::biguint64_array => Element::U64,
        _ => Element::U8,
    }
}

/// `copy` option: `undefined` → None.
pub fn copy_arg(js: Js, args: &Args, i: usize) -> R<Option<bool>> {
    match args.argv().get(i) {
        Some(&v) if js.type_of(v)? == sys::ValueType::napi_boolean => Ok(Some(js.get_bool(v)?)),
        _ => Ok(None),
    }
}

/// The read-only rule: JS has no read-only memory, so read-only data is copied unless
/// `{ copy: false }` insists on sharing (an error then). Returns whether to share.
pub fn share(copy: Option<bool>, readonly: bool, what: &str) -> R<bool> {
    match copy {
        Some(true) => Ok(false),
        None => Ok(!readonly),
        Some(false) if readonly => Err(Error::buffer(
            "readonly",
            format!(
                "{what} is read-only and JS has no read-only memory, so it cannot be shared; \
                 leave `copy` unset (read-only data is then copied) or pass {{ copy: true }}"
            ),
        )
        .into()),
        Some(false) => Ok(true),
    }
}

/// Refuses memory a TypedArray cannot start at (V8 wants element-aligned data).
pub fn check_aligned(data: *const u8, element: Element, what: &str) -> R<()> {
    if !(data as usize).is_multiple_of(element.size()) {
        return Err(Error::buffer(
            "misaligned",
            format!(
                "{what} starts at an address that is not a multiple of its {}-byte element; pass {{ copy: true }}",
                element.size()
            ),
        )
        .into());
    }
    Ok(())
}

unsafe extern "C" fn finalize_lent(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
    // SAFETY: `hint` is the Box<Held> leaked by `shared_typed_array`; Node calls this once,
    // on the JS thread, when the backing store is freed.
    let held = unsafe { Box::from_raw(hint.cast::<Held>()) };
    held.lent.release_deferred();
}

/// A TypedArray of `element` over `bytes` bytes at `data`, which `lent` keeps alive. Falls back
/// to a copy where this Node forbids external ArrayBuffers (`napi_no_external_buffers_allowed`).
pub fn shared_typed_array(js: Js, element: Element, data: *mut u8, bytes: usize, lent: Lent) -> R<Val> {
    if bytes == 0 {
        return copied_typed_array(js, element, 0, |_| Ok(()));
    }
    let held = Box::into_raw(Box::new(Held { lent }));
    let mut ab = ptr::null_mut();
    // SAFETY: `data` is valid for `bytes` bytes while `held` lives. Owner of the ArrayBuffer's
    // memory: the Python export or DLPack tensor in `held`; released by `finalize_lent` when V8
    // frees the backing store (collection or releaseBuffer's detach).
    let status = unsafe {
        sys::napi_create_external_arraybuffer(js.env, data.cast(), bytes, Some(finalize_lent), held.cast(), &mut ab)
    };
    if status != sys::Status::napi_ok {
        // SAFETY: napi did not take the box, so it is ours again.
        let held = unsafe { Box::from_raw(held) };
        if status != sys::Status::napi_no_external_buffers_allowed {
            return Err(Failure::Napi(status, "create external arraybuffer"));
        }
        return copied_typed_array(js, element, bytes, |dst| {
            // SAFETY: `data` is valid for `bytes` bytes while `held` lives (until after this).
            dst.copy_from_slice(unsafe { std::slice::from_raw_parts(data, bytes) });
            drop(held);
            Ok(())
        });
    }
    check(
        // SAFETY: a fresh ArrayBuffer of this env, tagged once.
        unsafe { sys::napi_type_tag_object(js.env, ab, &TAG) },
        "tag arraybuffer",
    )?;
    typed_array(js, element, bytes, ab)
}

/// A TypedArray over a new JS-owned ArrayBuffer of `bytes` bytes, filled by `fill`.
pub fn copied_typed_array(js: Js, element: Element, bytes: usize, fill: impl FnOnce(&mut [u8]) -> R<()>) -> R<Val> {
    let mut data: *mut c_void = ptr::null_mut();
    let mut ab = ptr::null_mut();
    check(
        // SAFETY: valid out-pointers.
        unsafe { sys::napi_create_arraybuffer(js.env, bytes, &mut data, &mut ab) },
        "create arraybuffer",
    )?;
    let dst = if bytes == 0 || data.is_null() {
        &mut [][..]
    } else {
        // SAFETY: napi allocated `bytes` writable bytes at `data`; no JS runs while we fill them.
        unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), bytes) }
    };
    fill(dst)?;
    typed_array(js, element, bytes, ab)
}

fn typed_array(js: Js, element: Element, bytes: usize, ab: Val) -> R<Val> {
    let mut out = ptr::null_mut();
    check(
        // SAFETY: ab is an ArrayBuffer of at least `bytes` bytes; offset 0 is aligned.
        unsafe {
            sys::napi_create_typedarray(
                js.env,
                typed_array_type(element),
                bytes / element.size(),
                ab,
                0,
                &mut out,
            )
        },
        "create typed array",
    )?;
    Ok(out)
}

/// `buffer(h, copy)`: the object's buffer as a TypedArray (see js/buffer.ts for the rules).
pub fn buffer(js: Js, args: &Args) -> R<Val> {
    let h = handle::from_external(js, args.at(0, "handle")?)?;
    let copy = copy_arg(js, args, 1)?;
    let py = enter(js)?;
    h.with("get a buffer", |obj| {
        let buf = PyBuffer::get(&obj.bind(py))?;
        let element = buf.element()?;
        if !buf.is_c_contiguous() && copy != Some(true) {
            return Err(Error::buffer(
                "not-contiguous",
                format!(
                    "this buffer is not C-contiguous (shape {:?}), so no flat TypedArray can show it without a copy; \
                     pass {{ copy: true }} for a C-ordered copy",
                    buf.shape()
                ),
            )
            .into());
        }
        if share(copy, buf.readonly(), "this buffer")? {
            check_aligned(buf.as_ptr(), element, "this buffer")?;
            let (data, bytes) = (buf.as_ptr(), buf.len());
            shared_typed_array(js, element, data, bytes, Lent::Buffer(buf))
        } else {
            copied_typed_array(js, element, buf.len(), |dst| Ok(buf.copy_into(py, dst)?))
        }
    })
}

/// `releaseBuffer(arrayBuffer)`: detaches an ArrayBuffer made by `buffer()`/`tensor()`, so V8
/// frees its backing store and the Python side is released. Returns false for others.
pub fn release_buffer(js: Js, args: &Args) -> R<Val> {
    let ab = args.at(0, "arrayBuffer")?;
    if !js.is_arraybuffer(ab)? {
        return Err(invalid(
            "releaseBuffer() takes a TypedArray or ArrayBuffer returned by buffer() or tensor()",
        ));
    }
    let mut ours = false;
    check(
        // SAFETY: a value of this env; valid out-pointer.
        unsafe { sys::napi_check_object_type_tag(js.env, ab, &TAG, &mut ours) },
        "check arraybuffer tag",
    )?;
    let mut detached = false;
    check(
        // SAFETY: as above.
        unsafe { sys::napi_is_detached_arraybuffer(js.env, ab, &mut detached) },
        "is detached",
    )?;
    if !ours || detached {
        return js.boolean(false);
    }
    check(
        // SAFETY: an external ArrayBuffer this addon made; detaching drops V8's backing store,
        // whose deleter schedules finalize_lent.
        unsafe { sys::napi_detach_arraybuffer(js.env, ab) },
        "detach arraybuffer",
    )?;
    js.boolean(true)
}
