//! C API functions that libpython 3.9–3.13 all export but that are outside the limited API
//! pyo3 declares under abi3. Symbols resolve at run time against the libpython that
//! pynode-loader made global, so declaring them here is enough.

use pyo3::ffi::{PyObject, Py_ssize_t};
use std::os::raw::{c_char, c_int};

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
