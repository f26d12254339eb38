//! Starting the one interpreter of the process, and what it reports about itself.
//!
//! Start-up sets the program name to the chosen python executable (so a virtualenv's
//! `pyvenv.cfg` is honoured exactly as by its own python: `sys.prefix` is the venv), calls
//! `Py_InitializeEx(0)` (no signal handlers: Ctrl-C and SIGTERM keep their Node behaviour),
//! makes stdout/stderr unbuffered so Python's output interleaves with Node's, and creates the
//! private support module `_pynode`.

use crate::error::{Error, PyResultExt, Result};
use crate::ffi_ext;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The oldest CPython this build serves (the abi3 floor).
pub const MIN_VERSION: (u32, u32) = (3, 9);

/// How to start the interpreter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// Path of the python executable whose environment to use (a virtualenv's python makes
    /// `sys.prefix` the venv). `None` lets libpython decide from its own location.
    pub program_name: Option<String>,
}

/// Which Python is running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// `sys.version` up to the first space, e.g. `3.11.7`.
    pub version: String,
    pub version_info: (u32, u32, u32),
    pub executable: String,
    pub prefix: String,
    pub base_prefix: String,
    /// Path of the loaded libpython, as the dynamic loader reports it.
    pub libpython: Option<String>,
}

static STARTED: Mutex<Option<(StartOptions, Info)>> = Mutex::new(None);
/// Set once start-up succeeded: a lock-free check for every sync call.
static RUNNING: AtomicBool = AtomicBool::new(false);

/// Python source of the private `_pynode` module: small helpers that are clearer in Python.
const SUPPORT_SOURCE: &CStr = c"
import datetime as _dt, sys as _sys, traceback as _tb

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_MS = _dt.timedelta(milliseconds=1)
datetime_type = _dt.datetime

def date_from_ms(ms):
    return _EPOCH + _dt.timedelta(milliseconds=ms)

def date_to_ms(d):
    # A naive datetime means local time, as datetime.timestamp() reads it.
    if d.tzinfo is None or d.utcoffset() is None:
        d = d.astimezone()
    return (d - _EPOCH) / _MS

def format_exception(e):
    return ''.join(_tb.format_exception(type(e), e, e.__traceback__, chain=False))

_SCALARS = (bool, int, float, str, bytes)

def scalar_item(o):
    # numpy scalars (int64, bool_, ...) that are not Python int/float subclasses convert by
    # value; None means 'not a scalar we know'.
    np = _sys.modules.get('numpy')
    if np is not None and isinstance(o, np.generic):
        v = o.item()
        if type(v) in _SCALARS:
            return (v,)
    return None

def unbuffer_stdio():
    import io, os
    def reopen(stream, fd):
        try:
            if stream is None or stream.fileno() != fd:
                return stream
            raw = io.FileIO(fd, 'w', closefd=False)
            # UTF-8 whatever the locale, as Node writes: a C/POSIX locale must not make print('é') fail.
            return io.TextIOWrapper(raw, encoding='utf-8', errors=stream.errors,
                                    newline=None if os.name == 'nt' else '\\n',
                                    line_buffering=True, write_through=True)
        except Exception:
            return stream
    _sys.stdout = _sys.__stdout__ = reopen(_sys.stdout, 1)
    _sys.stderr = _sys.__stderr__ = reopen(_sys.stderr, 2)
";

static SUPPORT: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The `_pynode` support module (created at start-up).
pub fn support(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    SUPPORT
        .get_or_try_init(py, || {
            PyModule::from_code(py, SUPPORT_SOURCE, c"<pynode-support>", c"_pynode").map(Bound::unbind)
        })
        .map(|m| m.bind(py))
}

/// Parses the `3.11.7` of a `Py_GetVersion()` string such as `3.11.7 (main, ...)`.
pub fn parse_version(full: &str) -> Option<(u32, u32, u32)> {
    let head = full.split_whitespace().next()?;
    let mut parts = head.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let micro_text: String = parts
        .next()
        .unwrap_or("0")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor, micro_text.parse().unwrap_or(0)))
}

/// Starts the interpreter on the calling thread (which becomes Python's main thread) and
/// leaves the GIL released. Starting again with the same options returns the same info;
/// with different options it is an error (one interpreter per process).
pub fn start(options: &StartOptions) -> Result<Info> {
    let mut started = STARTED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((previous, info)) = started.as_ref() {
        if previous.program_name.is_some() && options.program_name.is_some() && previous != options {
            return Err(Error::Interpreter(format!(
                "Python is already running from {}; one interpreter serves the whole process, so it \
                 cannot be restarted with {}",
                info.executable,
                options.program_name.as_deref().unwrap_or("another python")
            )));
        }
        return Ok(info.clone());
    }
    // SAFETY: Py_GetVersion may be called before initialization; it returns a static string.
    let version_text = unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }
        .to_string_lossy()
        .into_owned();
    let version = parse_version(&version_text)
        .ok_or_else(|| Error::Interpreter(format!("could not read the Python version from {version_text:?}")))?;
    if (version.0, version.1) < MIN_VERSION {
        return Err(Error::Interpreter(format!(
            "Python {}.{}.{} is too old: pynode needs CPython {}.{} or newer",
            version.0, version.1, version.2, MIN_VERSION.0, MIN_VERSION.1
        )));
    }
    // SAFETY: no preconditions.
    if unsafe { ffi::Py_IsInitialized() } != 0 {
        return Err(Error::Interpreter(
            "a Python interpreter was already started in this process by something other than pynode".into(),
        ));
    }
    if let Some(name) = &options.program_name {
        set_program_name(name)?;
    }
    // SAFETY: not initialized yet (checked above, under the STARTED lock); 0 = do not install
    // signal handlers.
    unsafe { ffi::Py_InitializeEx(0) };
    // SAFETY: Py_InitializeEx leaves this thread attached, so a token is valid until we park.
    let py = unsafe { Python::assume_attached() };
    let info = after_start(py);
    crate::gil::park_after_start();
    let info = info?;
    *started = Some((options.clone(), info.clone()));
    RUNNING.store(true, Ordering::Release);
    Ok(info)
}

fn set_program_name(name: &str) -> Result<()> {
    let c_name = CString::new(name)
        .map_err(|_| Error::InvalidArgument(format!("python executable path contains a NUL byte: {name:?}")))?;
    // SAFETY: c_name is NUL-terminated; Py_DecodeLocale may run before initialization and
    // returns a PyMem_RawMalloc'd wide string (or NULL).
    let wide = unsafe { ffi_ext::Py_DecodeLocale(c_name.as_ptr(), std::ptr::null_mut()) };
    if wide.is_null() {
        return Err(Error::InvalidArgument(format!(
            "could not decode python executable path {name:?}"
        )));
    }
    // SAFETY: Python keeps the pointer (not a copy) for the life of the process, so the wide
    // string is deliberately never freed.
    unsafe { ffi_ext::Py_SetProgramName(wide) };
    Ok(())
}

fn after_start(py: Python<'_>) -> Result<Info> {
    let support = support(py).or_py(py)?;
    support.call_method0("unbuffer_stdio").or_py(py)?;
    let sys = py.import("sys").or_py(py)?;
    if sys
        .getattr("argv")
        .map(|a| a.is_truthy().unwrap_or(false))
        .unwrap_or(false)
    {
        // keep what start-up set
    } else {
        sys.setattr("argv", vec![String::new()]).or_py(py)?;
    }
    let text = |name: &str| -> Result<String> {
        let value = sys.getattr(name).or_py(py)?;
        if value.is_none() {
            Ok(String::new())
        } else {
            value.extract::<String>().or_py(py)
        }
    };
    let version_info: (u32, u32, u32) = {
        let vi = sys.getattr("version_info").or_py(py)?;
        (
            vi.get_item(0).and_then(|v| v.extract()).or_py(py)?,
            vi.get_item(1).and_then(|v| v.extract()).or_py(py)?,
            vi.get_item(2).and_then(|v| v.extract()).or_py(py)?,
        )
    };
    Ok(Info {
        version: format!("{}.{}.{}", version_info.0, version_info.1, version_info.2),
        version_info,
        executable: text("executable")?,
        prefix: text("prefix")?,
        base_prefix: text("base_prefix")?,
        libpython: libpython_path(),
    })
}

/// Asks the dynamic loader which file `Py_IsInitialized` came from.
fn libpython_path() -> Option<String> {
    #[cfg(unix)]
    {
        // SAFETY: Dl_info is plain C data for which all-zero is a valid value.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: dladdr only reads loader tables; info is a valid out-pointer.
        let found = unsafe { libc::dladdr(ffi::Py_IsInitialized as *const libc::c_void, &mut info) };
        if found != 0 && !info.dli_fname.is_null() {
            // SAFETY: dli_fname is a NUL-terminated path owned by the loader.
            return Some(unsafe { CStr::from_ptr(info.dli_fname) }.to_string_lossy().into_owned());
        }
        None
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Whether the interpreter has been started (cheap: one atomic load).
pub fn is_running() -> bool {
    RUNNING.load(Ordering::Acquire)
}

/// The info of the running interpreter, if started.
pub fn info() -> Option<Info> {
    STARTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|(_, info)| info.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("3.11.7 (main, Jan  1 2024)"), Some((3, 11, 7)));
        assert_eq!(parse_version("3.13.0rc1 (main)"), Some((3, 13, 0)));
        assert_eq!(parse_version("3.9"), Some((3, 9, 0)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn starts_once_and_reports_itself() {
        let info = crate::test_support::python();
        assert!(info.version_info >= (3, 9, 0));
        assert!(!info.executable.is_empty());
        let again = start(&StartOptions::default()).unwrap();
        assert_eq!(again, info);
        // No SIGINT handler at the OS level: Node keeps Ctrl-C. (Python's `signal.getsignal`
        // may still name its default handler; what matters is what the kernel would call.)
        #[cfg(target_os = "linux")]
        {
            let mask = crate::test_support::caught_signals_after_start().expect("SigCgt readable");
            assert_eq!(mask & (1 << (libc::SIGINT - 1)), 0, "SIGINT is caught: {mask:x}");
        }
    }
}
