//! # pynode-core: the Python side of pynode
//!
//! pynode embeds CPython in a Node.js process. This crate holds everything that talks to
//! Python and nothing that talks to JavaScript (no napi types), so it can be tested with
//! `cargo test` alone. The napi-rs binding (`pynode-node`) turns its values and errors into JS.
//!
//! ```text
//! JS / TS user code
//!   js/                  PyObject handles, dispose, error classes, discovery of Python
//!   crates/pynode-node   JS values <-> `Value`, handles as napi externals, errors -> JS
//!   crates/pynode-core   interpreter start-up, GIL bursts, `Value` <-> Python, errors (here)
//! libpython (loaded at run time with RTLD_GLOBAL by crates/pynode-loader)
//! ```
//!
//! - [`interpreter`] starts the one interpreter of the process (no signal handlers, a
//!   virtualenv honoured through the program name, unbuffered stdio).
//! - [`gil`] decides who holds the GIL: a JS thread keeps it across a burst of sync calls and
//!   parks it when its event-loop turn ends; references dropped without the GIL are queued and
//!   released by the next holder or a small release thread, never by blocking a JS thread.
//! - [`value`] is the owned, GIL-free representation of plain data (`Value`) and its
//!   conversion to and from Python objects; everything else travels as a [`PyRef`] handle.
//! - [`error`] describes a Python exception (type, message, traceback, cause chain) as plain
//!   Rust data, and the other failures (conversion paths, disposed handles, start-up).
//! - [`ops`] are the operations the sync API offers: exec, eval, import, module, attributes,
//!   items, calls.
//!
//! This crate is compiled against the stable ABI (abi3, Python 3.9+) so one binary serves every
//! CPython 3.9–3.13; the few non-limited but exported functions it needs for speed are
//! declared in [`ffi_ext`].

pub mod aio;
pub mod error;
pub mod ffi_ext;
pub mod gil;
pub mod interpreter;
pub mod ops;
pub mod value;

pub use error::{ConversionError, Error, PathSegment, PythonErrorInfo, Result};
pub use gil::{PyHandle, PyRef};
pub use value::{BigInt, Value};

#[cfg(test)]
pub(crate) mod test_support {
    use crate::interpreter::{start, Info, StartOptions};
    use std::sync::OnceLock;

    /// Starts the interpreter once for all tests of this crate and returns its info.
    pub fn python() -> Info {
        static INFO: OnceLock<Info> = OnceLock::new();
        INFO.get_or_init(|| start(&StartOptions::default()).expect("Python starts"))
            .clone()
    }
}
