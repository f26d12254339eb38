//! Python buffers (PEP 3118) held from outside Python, so a JS TypedArray can look at their
//! memory (issue 4). Copies nothing, except [`PyBuffer::copy_into`] when a copy is asked for.
//!
//! A [`PyBuffer`] is one export (`PyObject_GetBuffer`): while it lives, the exporter keeps its
//! memory where it is (a bytearray refuses to resize, a numpy array to reshape in place), and
//! the export holds a reference to the exporter. Dropping it releases the export where the GIL
//! is held, or through [`crate::gil`]'s queue anywhere else.

use crate::error::{Error, Result};
use crate::ffi_ext::{self, Py_buffer};
use crate::gil;
use pyo3::prelude::*;
use std::ffi::CStr;

/// The element types a JS TypedArray can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl Element {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Element::I8 | Element::U8 => 1,
            Element::I16 | Element::U16 => 2,
            Element::I32 | Element::U32 | Element::F32 => 4,
            Element::I64 | Element::U64 | Element::F64 => 8,
        }
    }

    /// The `struct` format code this element exports as (memoryview's `format`).
    pub fn format(self) -> &'static CStr {
        match self {
            Element::I8 => c"b",
            Element::U8 => c"B",
            Element::I16 => c"h",
            Element::U16 => c"H",
            Element::I32 => c"i",
            Element::U32 => c"I",
            Element::I64 => c"q",
            Element::U64 => c"Q",
            Element::F32 => c"f",
            Element::F64 => c"d",
        }
    }

    /// The element a buffer's `struct` format describes, or why no TypedArray can hold it.
    /// Never reinterprets: a format JS cannot express is an error naming it.
    pub fn from_format(format: &str, itemsize: usize) -> Result<Element> {
        let unsupported = |why: &str| {
            Error::buffer(
                "format",
                format!("buffer format {format:?} (itemsize {itemsize}) has no TypedArray: {why}"),
            )
        };
        let (order, rest) = match format.as_bytes() {
            [order @ (b'@' | b'=' | b'<' | b'>' | b'!'), rest @ ..] => (*order, rest),
            rest => (b'@', rest),
        };
        let code = match rest {
            [code] => *code,
            [b'Z', ..] => {
                return Err(unsupported(
                    "complex numbers have no TypedArray; view them as float pairs in Python (a.view('float64')) or use tensor()",
                ))
            }
            _ => {
                return Err(unsupported(
                    "only single-element formats map to TypedArrays (no structs, repeat counts or padding); \
                     convert it in Python first",
                ))
            }
        };
        let native = if cfg!(target_endian = "little") { b'<' } else { b'>' };
        let foreign = match order {
            b'@' | b'=' => false,
            b'!' => native != b'>',
            other => other != native,
        };
        if foreign && itemsize > 1 {
            return Err(unsupported(
                "its byte order is not this machine's; byte-swap it in Python first (numpy: a.astype(a.dtype.newbyteorder('=')))",
            ));
        }
        let element = match (code, itemsize) {
            (b'b', 1) => Element::I8,
            (b'B' | b'c' | b'?', 1) => Element::U8,
            (b'h' | b'i' | b'l' | b'q' | b'n', 2) => Element::I16,
            (b'H' | b'I' | b'L' | b'Q' | b'N', 2) => Element::U16,
            (b'h' | b'i' | b'l' | b'q' | b'n', 4) => Element::I32,
            (b'H' | b'I' | b'L' | b'Q' | b'N', 4) => Element::U32,
            (b'h' | b'i' | b'l' | b'q' | b'n', 8) => Element::I64,
            (b'H' | b'I' | b'L' | b'Q' | b'N', 8) => Element::U64,
            (b'f', 4) => Element::F32,
            (b'd', 8) => Element::F64,
            (b'e', _) => {
                return Err(unsupported(
                    "float16 has no TypedArray in this Node; view it as uint16 in Python (a.view('uint16')) or use tensor()",
                ))
            }
            _ => return Err(unsupported("no TypedArray holds this element type")),
        };
        Ok(element)
    }
}

/// The export itself; Send so its release can be queued for a thread holding the GIL.
struct Export(Box<Py_buffer>);

// SAFETY: the export is only released (PyBuffer_Release) with the GIL held, by `release`; its
// memory may be read anywhere as long as the export lives, which is the point of holding it.
unsafe impl Send for Export {}

impl gil::Release for Export {
    fn release(mut self, _py: Python<'_>) {
        // SAFETY: `_py` proves the GIL is held; the view was filled by a successful
        // PyObject_GetBuffer and is released exactly once (self is consumed).
        unsafe { ffi_ext::PyBuffer_Release(&mut *self.0) };
    }
}

/// One buffer export of a Python object, released on drop (or [`PyBuffer::release_deferred`]).
pub struct PyBuffer {
    export: gil::Held<Export>,
}

impl PyBuffer {
    /// Exports `obj`'s buffer with strides and format (no suboffsets). An object without the
    /// buffer protocol raises Python's own TypeError.
    pub fn get(obj: &Bound<'_, PyAny>) -> Result<PyBuffer> {
        // The view stays in this box from the export to the release: exporters may point
        // `shape` into the view itself (PyBuffer_FillInfo does), so it must not move.
        // SAFETY: Py_buffer is plain C data; all-zero is a valid "empty" value.
        let mut view: Box<Py_buffer> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: obj is a live object (GIL held through `obj`); view is a valid, owned struct.
        let rc = unsafe { ffi_ext::PyObject_GetBuffer(obj.as_ptr(), &mut *view, ffi_ext::PYBUF_RECORDS_RO) };
        if rc != 0 {
            return Err(Error::fetch(obj.py()));
        }
        Ok(PyBuffer {
            export: gil::Held::new(Export(view)),
        })
    }

    fn view(&self) -> &Py_buffer {
        &self.export.get().0
    }

    /// Start of the exported memory.
    pub fn as_ptr(&self) -> *mut u8 {
        self.view().buf.cast()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.view().len.max(0) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn readonly(&self) -> bool {
        self.view().readonly != 0
    }

    pub fn itemsize(&self) -> usize {
        self.view().itemsize.max(0) as usize
    }

    /// The `struct` format (`"B"` when the exporter gave none, as PEP 3118 says).
    pub fn format(&self) -> String {
        let format = self.view().format;
        if format.is_null() {
            return "B".into();
        }
        // SAFETY: a non-null format is a NUL-terminated string owned by the live export.
        unsafe { CStr::from_ptr(format) }.to_string_lossy().into_owned()
    }

    /// The element type, or a `format` error.
    pub fn element(&self) -> Result<Element> {
        Element::from_format(&self.format(), self.itemsize())
    }

    fn dims(&self) -> (&[isize], Option<&[isize]>) {
        let view = self.view();
        let ndim = view.ndim.max(0) as usize;
        if ndim == 0 || view.shape.is_null() {
            return (&[], None);
        }
        // SAFETY: with PYBUF_STRIDES requested, a successful export has `ndim` shape entries
        // and either `ndim` strides or NULL (C-contiguous), owned by the live export.
        let shape = unsafe { std::slice::from_raw_parts(view.shape, ndim) };
        let strides = (!view.strides.is_null()).then(|| {
            // SAFETY: see above.
            unsafe { std::slice::from_raw_parts(view.strides, ndim) }
        });
        (shape, strides)
    }

    /// The shape in elements (`[len / itemsize]` for a 0-d or shapeless export).
    pub fn shape(&self) -> Vec<usize> {
        let (shape, _) = self.dims();
        if shape.is_empty() {
            return vec![self.len() / self.itemsize().max(1)];
        }
        shape.iter().map(|&d| d.max(0) as usize).collect()
    }

    /// Whether the elements lie in C order with no gaps (what a flat TypedArray shows).
    pub fn is_c_contiguous(&self) -> bool {
        let (shape, strides) = self.dims();
        let Some(strides) = strides else { return true };
        if shape.contains(&0) {
            return true;
        }
        let mut expected = self.itemsize() as isize;
        for (&dim, &stride) in shape.iter().zip(strides).rev() {
            if dim > 1 && stride != expected {
                return false;
            }
            expected *= dim;
        }
        true
    }

    /// Copies the elements, in C order, into `dst` (which must be [`len`](Self::len) bytes).
    pub fn copy_into(&self, py: Python<'_>, dst: &mut [u8]) -> Result<()> {
        assert_eq!(dst.len(), self.len(), "copy_into needs exactly len() bytes");
        if dst.is_empty() {
            return Ok(());
        }
        // SAFETY: dst has len() writable bytes; the view is a live export; the GIL is held (py).
        let rc = unsafe {
            ffi_ext::PyBuffer_ToContiguous(dst.as_mut_ptr().cast(), self.view(), dst.len() as isize, b'C' as _)
        };
        if rc != 0 {
            return Err(Error::fetch(py));
        }
        Ok(())
    }

    /// Releases through the queue even where the GIL is held: for GC finalizers.
    pub fn release_deferred(self) {
        self.export.release_deferred();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::python;

    #[test]
    fn formats_map_without_reinterpreting() {
        assert_eq!(Element::from_format("d", 8).unwrap(), Element::F64);
        assert_eq!(Element::from_format("<f", 4).unwrap(), Element::F32);
        assert_eq!(Element::from_format("l", 8).unwrap(), Element::I64);
        assert_eq!(Element::from_format("=l", 4).unwrap(), Element::I32);
        assert_eq!(Element::from_format("?", 1).unwrap(), Element::U8);
        assert_eq!(Element::from_format(">B", 1).unwrap(), Element::U8);
        for (bad, size) in [
            ("e", 2),
            ("Zd", 16),
            (">d", 8),
            ("T{i:a:}", 4),
            ("2d", 16),
            ("g", 16),
            ("P", 8),
        ] {
            match Element::from_format(bad, size) {
                Err(Error::Buffer(err)) => assert_eq!(err.reason, "format", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn exports_hold_and_release() {
        python();
        Python::attach(|py| {
            let obj = py.eval(c"bytearray(b'abcdef')", None, None).unwrap();
            let buf = PyBuffer::get(&obj).unwrap();
            assert_eq!(
                (buf.len(), buf.readonly(), buf.element().unwrap()),
                (6, false, Element::U8)
            );
            // An export pins the bytearray's memory: resizing it must fail while we hold it.
            assert!(obj.call_method1("extend", (b"x",)).is_err());
            drop(buf);
            obj.call_method1("extend", (b"x",)).unwrap();
            let strided = py.eval(c"memoryview(bytearray(8))[::2]", None, None).unwrap();
            let buf = PyBuffer::get(&strided).unwrap();
            assert!(!buf.is_c_contiguous());
            let mut out = vec![0u8; buf.len()];
            buf.copy_into(py, &mut out).unwrap();
            assert_eq!(out.len(), 4);
        });
    }
}
