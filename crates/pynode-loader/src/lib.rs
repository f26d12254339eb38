//! pynode's loader addon: makes libpython's symbols global before `pynode-node` loads.
//!
//! `pynode-node` is built without linking libpython (one binary serves every CPython), so its
//! data relocations (`_Py_NoneStruct`, `PyExc_*`, type objects) must resolve against a
//! libpython that is already loaded with `RTLD_GLOBAL` when Node `dlopen`s it. Node's own
//! `process.dlopen` cannot do this for a plain shared library (../shared/SPIKES.md, 2), so this
//! addon does nothing but that `dlopen` and keeps the handle for the life of the process.

use napi::{Error, Result, Status};
use napi_derive::napi;
use std::ffi::{CStr, CString};

/// Loads the shared library at `path` with `RTLD_NOW | RTLD_GLOBAL` and never unloads it.
/// Loading the same library twice is harmless (the loader counts references).
#[napi]
pub fn open_global(path: String) -> Result<()> {
    let c_path = CString::new(path.clone()).map_err(|_| {
        Error::new(
            Status::InvalidArg,
            format!("libpython path contains a NUL byte: {path:?}"),
        )
    })?;
    // SAFETY: `c_path` is a valid NUL-terminated string; dlopen has no other preconditions.
    // The handle is intentionally leaked: libpython must stay loaded for the whole process.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns NULL or a pointer to a NUL-terminated string owned by libc,
        // valid until the next dl* call on this thread; we copy it out at once.
        let reason = unsafe {
            let msg = libc::dlerror();
            if msg.is_null() {
                "unknown dlopen error".to_owned()
            } else {
                CStr::from_ptr(msg).to_string_lossy().into_owned()
            }
        };
        return Err(Error::new(
            Status::GenericFailure,
            format!("could not load libpython {path}: {reason}"),
        ));
    }
    Ok(())
}
