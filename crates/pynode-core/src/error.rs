//! Failures as plain Rust data: Python exceptions (with traceback and cause chain), conversion
//! errors with the path of the bad value, disposed handles and start-up problems. The binding
//! turns these into JS error classes in exactly one place.

use pyo3::prelude::*;
use pyo3::types::PyType;
use pyo3::PyErr;
use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How far a `raise ... from ...` / implicit-context chain is followed.
const MAX_CAUSE_DEPTH: usize = 16;

/// A Python exception, described without holding any Python object.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonErrorInfo {
    /// The exception class's qualified name, e.g. `ValueError` or `Outer.Inner`.
    pub type_name: String,
    /// The module defining the class (`builtins` for built-in exceptions).
    pub module: String,
    /// `str(exc)`, or `repr(exc)` if `str` itself fails.
    pub message: String,
    /// The formatted traceback of this exception alone (its causes are in `cause`).
    pub traceback: String,
    /// `__cause__` (explicit `raise ... from`) or, unless suppressed, `__context__`.
    pub cause: Option<Box<PythonErrorInfo>>,
    /// Whether `cause` came from `__cause__` (true) or `__context__` (false).
    pub cause_is_explicit: bool,
    /// The sub-exceptions of an exception group (`ExceptionGroup`, Python 3.11+); empty otherwise.
    pub exceptions: Vec<PythonErrorInfo>,
}

impl PythonErrorInfo {
    /// Describes `err`, following its cause chain. Never fails: if describing raises, the
    /// description falls back to what could be read.
    pub fn from_err(py: Python<'_>, err: PyErr) -> Self {
        let value = err.into_value(py).into_bound(py).into_any();
        describe(&value, 0)
    }
}

fn describe(exc: &Bound<'_, PyAny>, depth: usize) -> PythonErrorInfo {
    let py = exc.py();
    let ty = exc.get_type();
    let type_name = type_qualname(&ty);
    let module = ty
        .getattr("__module__")
        .and_then(|m| m.extract::<String>())
        .unwrap_or_else(|_| "builtins".to_owned());
    let message = exc
        .str()
        .map(|s| s.to_string_lossy().into_owned())
        .or_else(|_| exc.repr().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|_| String::from("<exception str() failed>"));
    let traceback = crate::interpreter::support(py)
        .and_then(|m| m.call_method1("format_exception", (exc,)))
        .and_then(|s| s.extract::<String>())
        .unwrap_or_else(|_| format!("{type_name}: {message}\n"));
    let (cause, cause_is_explicit) = if depth + 1 >= MAX_CAUSE_DEPTH {
        (None, false)
    } else {
        next_in_chain(exc)
    };
    PythonErrorInfo {
        type_name,
        module,
        message,
        traceback,
        cause: cause.map(|c| Box::new(describe(&c, depth + 1))),
        cause_is_explicit,
        exceptions: group_members(exc, depth),
    }
}

/// The members of a `BaseExceptionGroup` (none for other exceptions, or past the depth limit).
fn group_members(exc: &Bound<'_, PyAny>, depth: usize) -> Vec<PythonErrorInfo> {
    let py = exc.py();
    let Ok(group_type) = py.import("builtins").and_then(|b| b.getattr("BaseExceptionGroup")) else {
        return Vec::new(); // before 3.11
    };
    if depth + 1 >= MAX_CAUSE_DEPTH || !exc.is_instance(&group_type).unwrap_or(false) {
        return Vec::new();
    }
    exc.getattr("exceptions")
        .and_then(|members| members.try_iter().map(|it| it.flatten().collect::<Vec<_>>()))
        .map(|members| members.iter().map(|m| describe(m, depth + 1)).collect())
        .unwrap_or_default()
}

fn type_qualname(ty: &Bound<'_, PyType>) -> String {
    ty.getattr("__qualname__")
        .and_then(|n| n.extract::<String>())
        .unwrap_or_else(|_| String::from("<unknown exception>"))
}

fn next_in_chain<'py>(exc: &Bound<'py, PyAny>) -> (Option<Bound<'py, PyAny>>, bool) {
    if let Ok(cause) = exc.getattr("__cause__") {
        if !cause.is_none() {
            return (Some(cause), true);
        }
    }
    let suppressed = exc
        .getattr("__suppress_context__")
        .and_then(|s| s.is_truthy())
        .unwrap_or(false);
    if !suppressed {
        if let Ok(context) = exc.getattr("__context__") {
            if !context.is_none() {
                return (Some(context), false);
            }
        }
    }
    (None, false)
}

/// One step of the path to a value inside a structure: `args[1].items[3]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// The root: `args`, `kwargs`, `value`, `result`.
    Root(String),
    /// An array or list index.
    Index(usize),
    /// An object key or dict key.
    Key(String),
}

/// A value that has no equivalent on the other side, and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionError {
    /// Innermost segment first (segments are added while the error travels outwards).
    segments: Vec<PathSegment>,
    /// What was wrong and what would be right.
    pub message: String,
}

impl ConversionError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            segments: Vec::new(),
            message: message.into(),
        }
    }

    /// Records that the failing value sat at `segment` of the enclosing structure.
    #[must_use]
    pub fn at(mut self, segment: PathSegment) -> Self {
        self.segments.push(segment);
        self
    }

    /// The path as JS code would spell it, e.g. `args[1].items[3]`; empty for the top value.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for segment in self.segments.iter().rev() {
            match segment {
                PathSegment::Root(name) => out.push_str(name),
                PathSegment::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
                PathSegment::Key(key) if is_identifier(key) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
                PathSegment::Key(key) => {
                    out.push('[');
                    out.push_str(&quote(key));
                    out.push(']');
                }
            }
        }
        out
    }
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c == '_' || c == '$' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c == '$' || c.is_alphanumeric())
}

fn quote(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    out.push('"');
    for c in key.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        if path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{} (at {path})", self.message)
        }
    }
}

/// Everything that can go wrong in pynode-core.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A Python exception was raised.
    Python(Box<PythonErrorInfo>),
    /// A value could not be converted.
    Conversion(ConversionError),
    /// A handle was used after `[Symbol.dispose]()`; the string names the operation.
    Disposed(String),
    /// The interpreter could not be started (wrong version, already started differently…).
    Interpreter(String),
    /// An argument had the wrong type or value (a module name with a NUL byte…).
    InvalidArgument(String),
}

impl Error {
    /// Takes the current Python exception (or a SystemError if, wrongly, none is set).
    pub fn fetch(py: Python<'_>) -> Self {
        let err = PyErr::take(py).unwrap_or_else(|| {
            pyo3::exceptions::PySystemError::new_err("a Python C API call failed without setting an exception")
        });
        Self::from_py(py, err)
    }

    pub fn from_py(py: Python<'_>, err: PyErr) -> Self {
        Error::Python(Box::new(PythonErrorInfo::from_err(py, err)))
    }
}

impl From<ConversionError> for Error {
    fn from(err: ConversionError) -> Self {
        Error::Conversion(err)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Python(info) => write!(f, "{}: {}", info.type_name, info.message),
            Error::Conversion(err) => err.fmt(f),
            Error::Disposed(what) => write!(f, "{what}: this PyObject was disposed"),
            Error::Interpreter(msg) | Error::InvalidArgument(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

/// Converts a `PyResult` into ours, describing the exception while the GIL is held.
pub trait PyResultExt<T> {
    fn or_py(self, py: Python<'_>) -> Result<T>;
}

impl<T> PyResultExt<T> for PyResult<T> {
    fn or_py(self, py: Python<'_>) -> Result<T> {
        self.map_err(|err| Error::from_py(py, err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_spells_like_js() {
        let err = ConversionError::new("bad")
            .at(PathSegment::Index(3))
            .at(PathSegment::Key("items".into()))
            .at(PathSegment::Index(1))
            .at(PathSegment::Root("args".into()));
        assert_eq!(err.path(), "args[1].items[3]");
        assert_eq!(err.to_string(), "bad (at args[1].items[3])");
    }

    #[test]
    fn odd_keys_are_quoted() {
        let err = ConversionError::new("bad")
            .at(PathSegment::Key("a \"b\"".into()))
            .at(PathSegment::Root("value".into()));
        assert_eq!(err.path(), "value[\"a \\\"b\\\"\"]");
        assert_eq!(ConversionError::new("top").path(), "");
    }
}
