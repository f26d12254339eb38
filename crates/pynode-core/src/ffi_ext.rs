//! C API functions that libpython 3.9–3.13 all export but that are outside the limited API
//! pyo3 declares under abi3. Symbols resolve at run time against the libpython that
//! pynode-loader made global, so declaring them here is enough.

use pyo3::ffi::{PyObject, Py_ssize_t};
use std::os::raw::{c_char, c_int, c_void};

// wchar_t is 4 bytes on Linux and macOS, 2 on Windows.
#[cfg(windows)]
pub type WChar = u16;
#[cfg(not(windows))]
pub type WChar = i32;

extern "C" {
    /// Calls `callable` with positional args in a C array and an optional keyword dict, using
    /// vectorcall when the callable supports it (no argument tuple is built). Exported since 3.9.
    pub fn PyObject_VectorcallDict(
        callable: *mut PyObject,
        args: *const *mut PyObject,
        nargsf: usize,
        kwdict: *mut PyObject,
    ) -> *mut PyObject;

    /// UTF-8 view of a str, cached in the object; fails (UnicodeEncodeError) on lone surrogates.
    pub fn PyUnicode_AsUTF8AndSize(unicode: *mut PyObject, size: *mut Py_ssize_t) -> *const c_char;

    /// Deprecated since 3.11 but present through 3.13; the only pre-initialization way to set
    /// the program name that works with one binary for every version (PyConfig's layout
    /// changes between versions, ../shared/SPIKES.md, 3).
    pub fn Py_SetProgramName(name: *const WChar);

    /// Decodes a locale-encoded C string to a newly allocated wide string; usable before start-up.
    pub fn Py_DecodeLocale(arg: *const c_char, size: *mut usize) -> *mut WChar;

    /// 1 if the calling thread holds the GIL.
    pub fn PyGILState_Check() -> c_int;
}

/// The buffer protocol's view struct (PEP 3118). In the limited API only from 3.11, but its
/// layout is the same in every CPython 3.9–3.13, and so is the ABI of the functions below.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct Py_buffer {
    pub buf: *mut c_void,
    pub obj: *mut PyObject,
    pub len: Py_ssize_t,
    pub itemsize: Py_ssize_t,
    pub readonly: c_int,
    pub ndim: c_int,
    pub format: *mut c_char,
    pub shape: *mut Py_ssize_t,
    pub strides: *mut Py_ssize_t,
    pub suboffsets: *mut Py_ssize_t,
    pub internal: *mut c_void,
}

/// `PyObject_GetBuffer` flags (Include/pybuffer.h).
pub const PYBUF_WRITABLE: c_int = 0x0001;
pub const PYBUF_FORMAT: c_int = 0x0004;
pub const PYBUF_ND: c_int = 0x0008;
pub const PYBUF_STRIDES: c_int = 0x0010 | PYBUF_ND;
/// Strides and format, no suboffsets: what `buffer()` asks for.
pub const PYBUF_RECORDS_RO: c_int = PYBUF_STRIDES | PYBUF_FORMAT;

/// Type slot numbers for the buffer protocol (Include/typeslots.h; accepted by
/// `PyType_FromSpec` on 3.9 although the limited API names them only from 3.11).
pub const PY_BF_GETBUFFER: c_int = 1;

extern "C" {
    /// Exports `obj`'s buffer into `view` (which the caller owns and must release once).
    pub fn PyObject_GetBuffer(obj: *mut PyObject, view: *mut Py_buffer, flags: c_int) -> c_int;

    /// Releases an export made by `PyObject_GetBuffer`. Needs the GIL.
    pub fn PyBuffer_Release(view: *mut Py_buffer);

    /// Copies `len` bytes of a (possibly strided) export into `buf` in `order` ('C').
    pub fn PyBuffer_ToContiguous(buf: *mut c_void, view: *const Py_buffer, len: Py_ssize_t, order: c_char) -> c_int;
}
