//! `pynode.JSView`: JS memory lent to Python without a copy (issue 4). It supports the buffer
//! protocol (`memoryview(v)`, `np.frombuffer(v, …)`, writable) and DLPack (`np.from_dlpack(v)`),
//! and keeps the JS memory alive while it lives: its [`JsMemory::keeper`] is dropped only when
//! Python frees the object (the binding's keeper then releases the JS reference on the JS thread).
//!
//! The type is made with `PyType_FromSpec` and a `Py_bf_getbuffer` slot, not a pyo3 class:
//! pyo3 offers buffer slots under abi3 only from 3.11, while CPython accepts the slot from 3.9.

use crate::buffer::Element;
use crate::dlpack;
use crate::error::{Error, Result};
use crate::ffi_ext::{self, Py_buffer};
use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use std::os::raw::c_int;

/// What keeps JS memory alive on the JS side; dropped (with the GIL held, on any thread) when
/// Python frees the view.
pub trait Keeper: Send {
    /// False once the JS environment that lent the memory is gone (a worker thread exited):
    /// the memory was freed with it, so the view refuses new exports.
    fn alive(&self) -> bool;
}

/// JS memory and what keeps it alive on the JS side.
pub struct JsMemory {
    pub data: *mut u8,
    /// Bytes.
    pub len: usize,
    pub element: Element,
    pub keeper: Box<dyn Keeper>,
}

const GONE: &str = "the JS memory behind this JSView is gone: the JS environment (worker thread) that lent it \
                    has exited; keep Python objects made from a worker's view() no longer than the worker";

struct Inner {
    mem: JsMemory,
    shape: [ffi::Py_ssize_t; 1],
    strides: [ffi::Py_ssize_t; 1],
}

#[repr(C)]
struct ViewObject {
    ob_base: ffi::PyObject,
    /// NULL only in an object Python made without pynode (refused by `new_refused`).
    inner: *mut Inner,
}

static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

struct Methods([ffi::PyMethodDef; 3]);
// SAFETY: immutable after construction; CPython only reads method tables.
unsafe impl Sync for Methods {}

static METHODS: Methods = Methods([
    ffi::PyMethodDef {
        ml_name: c"__dlpack__".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionWithKeywords: dlpack_method,
        },
        ml_flags: ffi::METH_VARARGS | ffi::METH_KEYWORDS,
        ml_doc: c"A DLPack capsule over the JS memory (CPU, writable, 1-D).".as_ptr(),
    },
    ffi::PyMethodDef {
        ml_name: c"__dlpack_device__".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunction: dlpack_device,
        },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: c"(1, 0): the CPU.".as_ptr(),
    },
    ffi::PyMethodDef::zeroed(),
]);

fn view_type(py: Python<'_>) -> Result<&Bound<'_, PyType>> {
    let tp = TYPE.get_or_try_init(py, || {
        let mut slots = [
            ffi::PyType_Slot {
                slot: ffi_ext::PY_BF_GETBUFFER,
                pfunc: get_buffer as *mut _,
            },
            ffi::PyType_Slot {
                slot: ffi::Py_tp_dealloc,
                pfunc: dealloc as *mut _,
            },
            ffi::PyType_Slot {
                slot: ffi::Py_tp_new,
                pfunc: new_refused as *mut _,
            },
            ffi::PyType_Slot {
                slot: ffi::Py_tp_methods,
                pfunc: METHODS.0.as_ptr() as *mut _,
            },
            ffi::PyType_Slot {
                slot: ffi::Py_tp_doc,
                pfunc: c"JS memory lent to Python by pynode's view(), without a copy: supports the buffer \
                         protocol and DLPack, is writable, and keeps the JS memory alive while it lives."
                    .as_ptr() as *mut _,
            },
            ffi::PyType_Slot::default(),
        ];
        let mut spec = ffi::PyType_Spec {
            // tp_name keeps pointing at this string: it must be static.
            name: c"pynode.JSView".as_ptr(),
            basicsize: std::mem::size_of::<ViewObject>() as c_int,
            itemsize: 0,
            flags: ffi::Py_TPFLAGS_DEFAULT as _,
            slots: slots.as_mut_ptr(),
        };
        // SAFETY: the spec and slots are valid for the call (CPython copies what it keeps, but
        // the name and method table, which are static).
        let tp = unsafe { ffi::PyType_FromSpec(&mut spec) };
        if tp.is_null() {
            return Err(Error::fetch(py));
        }
        // SAFETY: a new reference to a type object.
        Ok(unsafe { Bound::from_owned_ptr(py, tp) }
            .cast_into::<PyType>()
            .map_err(|e| Error::from_py(py, e.into()))?
            .unbind())
    })?;
    Ok(tp.bind(py))
}

/// A new `pynode.JSView` over `mem`.
pub fn new(py: Python<'_>, mem: JsMemory) -> Result<Bound<'_, PyAny>> {
    let tp = view_type(py)?;
    let items = (mem.len / mem.element.size()) as ffi::Py_ssize_t;
    let inner = Box::new(Inner {
        shape: [items],
        strides: [mem.element.size() as ffi::Py_ssize_t],
        mem,
    });
    // SAFETY: tp is our heap type; GenericAlloc zero-fills and increfs the type.
    let obj = unsafe { ffi::PyType_GenericAlloc(tp.as_ptr().cast(), 0) };
    if obj.is_null() {
        return Err(Error::fetch(py));
    }
    // SAFETY: obj is a fresh ViewObject; from here `dealloc` owns `inner`.
    unsafe { (*obj.cast::<ViewObject>()).inner = Box::into_raw(inner) };
    // SAFETY: a new, non-NULL reference.
    Ok(unsafe { Bound::from_owned_ptr(py, obj) })
}

/// The memory of a JSView, if `obj` is one.
fn inner_of<'a>(obj: *mut ffi::PyObject) -> Option<&'a Inner> {
    // SAFETY: only called with our own instances (slots and methods of this type); inner is
    // NULL or a live Box owned by the object, which outlives the call.
    unsafe { (*obj.cast::<ViewObject>()).inner.as_ref() }
}

unsafe extern "C" fn new_refused(
    _tp: *mut ffi::PyTypeObject,
    _args: *mut ffi::PyObject,
    _kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the GIL is held in a tp_new slot.
    let py = unsafe { Python::assume_attached() };
    to_python(
        py,
        Err(pyo3::exceptions::PyTypeError::new_err(
            "pynode.JSView objects are made from JS, by pynode's view()",
        )),
    )
}

/// A slot's or method's return value: a new reference, or NULL with the exception set.
fn to_python(py: Python<'_>, result: PyResult<Bound<'_, PyAny>>) -> *mut ffi::PyObject {
    match result {
        Ok(obj) => obj.into_ptr(),
        Err(err) => {
            err.restore(py);
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: obj is a dying ViewObject of our heap type; its inner box (if any) is ours to
    // free, and heap-type instances own a reference to their type, released last.
    unsafe {
        let tp = ffi::Py_TYPE(obj);
        let inner = (*obj.cast::<ViewObject>()).inner;
        if !inner.is_null() {
            drop(Box::from_raw(inner));
        }
        let free = ffi::PyType_GetSlot(tp, ffi::Py_tp_free);
        let free: ffi::freefunc = std::mem::transmute::<*mut std::ffi::c_void, ffi::freefunc>(free);
        free(obj.cast());
        ffi::Py_DECREF(tp.cast());
    }
}

unsafe extern "C" fn get_buffer(obj: *mut ffi::PyObject, view: *mut Py_buffer, flags: c_int) -> c_int {
    // SAFETY: the GIL is held in a bf_getbuffer slot.
    let py = unsafe { Python::assume_attached() };
    let Some(inner) = inner_of(obj) else {
        PyBufferError::new_err("this JSView has no memory").restore(py);
        return -1;
    };
    if view.is_null() {
        PyBufferError::new_err("NULL view").restore(py);
        return -1;
    }
    if !inner.mem.keeper.alive() {
        PyBufferError::new_err(GONE).restore(py);
        return -1;
    }
    let mem = &inner.mem;
    // An empty typed array may have a NULL data pointer; consumers expect a real address.
    let data = if mem.data.is_null() {
        std::ptr::NonNull::<u64>::dangling().as_ptr().cast()
    } else {
        mem.data
    };
    // SAFETY: `view` is the caller's struct to fill; the memory stays valid while the view's
    // `obj` reference keeps this JSView (and so its keeper) alive. The JSView is writable.
    unsafe {
        ffi::Py_INCREF(obj);
        *view = Py_buffer {
            buf: data.cast(),
            obj,
            len: mem.len as ffi::Py_ssize_t,
            itemsize: mem.element.size() as ffi::Py_ssize_t,
            readonly: 0,
            ndim: 1,
            format: if flags & ffi_ext::PYBUF_FORMAT != 0 {
                mem.element.format().as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            },
            shape: if flags & ffi_ext::PYBUF_ND == ffi_ext::PYBUF_ND {
                inner.shape.as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            },
            strides: if flags & ffi_ext::PYBUF_STRIDES == ffi_ext::PYBUF_STRIDES {
                inner.strides.as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            },
            suboffsets: std::ptr::null_mut(),
            internal: std::ptr::null_mut(),
        };
    }
    0
}

unsafe extern "C" fn dlpack_method(
    obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: the GIL is held in a method call.
    let py = unsafe { Python::assume_attached() };
    to_python(py, export(py, obj, args, kwargs))
}

/// `__dlpack__(*, stream=None, max_version=None, dl_device=None, copy=None)`.
fn export(
    py: Python<'_>,
    obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> PyResult<Bound<'_, PyAny>> {
    // SAFETY: borrowed references from the call, alive for its duration.
    let (owner, args) = unsafe { (Bound::from_borrowed_ptr(py, obj), Bound::from_borrowed_ptr(py, args)) };
    if args.cast::<PyTuple>().map(|t| !t.is_empty()).unwrap_or(false) {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "__dlpack__() takes keyword arguments only",
        ));
    }
    let mut versioned = false;
    if !kwargs.is_null() {
        // SAFETY: as above.
        let kwargs = unsafe { Bound::from_borrowed_ptr(py, kwargs) }.cast_into::<PyDict>()?;
        if let Some(v) = kwargs.get_item("max_version")? {
            if !v.is_none() {
                let (major, _minor): (u32, u32) = v.extract()?;
                versioned = major >= 1;
            }
        }
        if let Some(d) = kwargs.get_item("dl_device")? {
            if !d.is_none() && d.extract::<(i32, i32)>()? != (1, 0) {
                return Err(PyBufferError::new_err(
                    "a JSView is on the CPU (1, 0); it cannot move to another device",
                ));
            }
        }
        if let Some(c) = kwargs.get_item("copy")? {
            if c.is_truthy()? {
                return Err(PyBufferError::new_err(
                    "a JSView shares JS memory and does not copy; copy the result in Python instead",
                ));
            }
        }
    }
    let Some(inner) = inner_of(obj) else {
        return Err(PyBufferError::new_err("this JSView has no memory"));
    };
    if !inner.mem.keeper.alive() {
        return Err(PyBufferError::new_err(GONE));
    }
    let mem = &inner.mem;
    let data = if mem.data.is_null() {
        std::ptr::NonNull::<u64>::dangling().as_ptr().cast()
    } else {
        mem.data
    };
    dlpack::capsule(&owner, data, mem.len / mem.element.size(), mem.element, versioned)
}

unsafe extern "C" fn dlpack_device(_obj: *mut ffi::PyObject, _args: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the GIL is held in a method call.
    let py = unsafe { Python::assume_attached() };
    to_python(py, (1i32, 0i32).into_pyobject(py).map(|t| t.into_any()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::python;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    struct Flag(Arc<AtomicBool>);
    impl Keeper for Flag {
        fn alive(&self) -> bool {
            true
        }
    }
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn rust_memory_through_buffer_protocol_and_dlpack() {
        python();
        let mut data = vec![1.5f64, 2.5, 3.5];
        let dropped = Arc::new(AtomicBool::new(false));
        Python::attach(|py| {
            let v = new(
                py,
                JsMemory {
                    data: data.as_mut_ptr().cast(),
                    len: 24,
                    element: Element::F64,
                    keeper: Box::new(Flag(dropped.clone())),
                },
            )
            .unwrap();
            let locals = PyDict::new(py);
            locals.set_item("v", &v).unwrap();
            drop(v);
            py.run(
                c"m = memoryview(v)\nassert (m.format, m.shape, m.readonly) == ('d', (3,), False)\nm[0] = 9.0\n\
                  assert v.__dlpack_device__() == (1, 0)\nc = v.__dlpack__(max_version=(1, 0))\n\
                  assert 'dltensor_versioned' in repr(c)\ndel m, c",
                None,
                Some(&locals),
            )
            .unwrap();
            assert!(!dropped.load(Ordering::SeqCst));
            locals.del_item("v").unwrap();
        });
        assert_eq!(data[0], 9.0);
        assert!(
            dropped.load(Ordering::SeqCst),
            "keeper dropped when Python freed the view"
        );
    }
}
