//! DLPack (https://dmlc.github.io/dlpack/latest/): consuming a producer's tensor for a JS view
//! ([`Tensor`]) and producing capsules over JS memory ([`capsule`], for `view()`). Copies
//! nothing, except [`Tensor::gather`] when a copy is asked for.
//!
//! Both capsule kinds are handled: versioned (`dltensor_versioned`, DLPack ≥ 1.0, with the
//! read-only flag) and legacy (`dltensor`). A consumed capsule is renamed `used_…`, so its own
//! destructor leaves the tensor alone, and the producer's deleter is then called exactly once,
//! when the [`Tensor`] is dropped, on a thread holding the GIL ([`crate::gil`]).

use crate::buffer::Element;
use crate::error::{Error, Result};
use crate::gil;
use crate::PyRef;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::ffi::{c_void, CStr};

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DLDevice {
    pub device_type: i32,
    pub device_id: i32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DLDataType {
    pub code: u8,
    pub bits: u8,
    pub lanes: u16,
}

#[repr(C)]
pub struct DLTensor {
    pub data: *mut c_void,
    pub device: DLDevice,
    pub ndim: i32,
    pub dtype: DLDataType,
    pub shape: *mut i64,
    /// In elements; NULL means C-contiguous (legacy producers).
    pub strides: *mut i64,
    pub byte_offset: u64,
}

#[repr(C)]
pub struct DLManagedTensor {
    pub dl_tensor: DLTensor,
    pub manager_ctx: *mut c_void,
    pub deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

#[repr(C)]
pub struct DLPackVersion {
    pub major: u32,
    pub minor: u32,
}

#[repr(C)]
pub struct DLManagedTensorVersioned {
    pub version: DLPackVersion,
    pub manager_ctx: *mut c_void,
    pub deleter: Option<unsafe extern "C" fn(*mut DLManagedTensorVersioned)>,
    pub flags: u64,
    pub dl_tensor: DLTensor,
}

const FLAG_READ_ONLY: u64 = 1;
const CPU: i32 = 1;
const LEGACY: &CStr = c"dltensor";
const VERSIONED: &CStr = c"dltensor_versioned";
const USED_LEGACY: &CStr = c"used_dltensor";
const USED_VERSIONED: &CStr = c"used_dltensor_versioned";

/// DLPack device types by number (dlpack.h `DLDeviceType`).
fn device_name(device: DLDevice) -> String {
    let name = match device.device_type {
        CPU => return "cpu".into(),
        2 => "cuda",
        3 => "cuda_host",
        4 => "opencl",
        7 => "vulkan",
        8 => "metal",
        9 => "vpi",
        10 => "rocm",
        11 => "rocm_host",
        12 => "ext_dev",
        13 => "cuda_managed",
        14 => "oneapi",
        15 => "webgpu",
        16 => "hexagon",
        17 => "maia",
        other => return format!("device_type_{other}:{}", device.device_id),
    };
    format!("{name}:{}", device.device_id)
}

/// Devices whose memory the CPU can read at the tensor's data pointer.
fn host_accessible(device: DLDevice) -> bool {
    matches!(device.device_type, CPU | 3 | 11)
}

/// The dtype's name (numpy/torch spelling) and the TypedArray element that holds its bits, with
/// how many elements make one item (2 for complex).
fn dtype(dt: DLDataType) -> (String, Option<(Element, usize)>) {
    let (name, element) = match (dt.code, dt.bits) {
        (0, 8) => ("int8".to_owned(), Some((Element::I8, 1))),
        (0, 16) => ("int16".into(), Some((Element::I16, 1))),
        (0, 32) => ("int32".into(), Some((Element::I32, 1))),
        (0, 64) => ("int64".into(), Some((Element::I64, 1))),
        (1, 8) => ("uint8".into(), Some((Element::U8, 1))),
        (1, 16) => ("uint16".into(), Some((Element::U16, 1))),
        (1, 32) => ("uint32".into(), Some((Element::U32, 1))),
        (1, 64) => ("uint64".into(), Some((Element::U64, 1))),
        // Raw bits: the dtype says how to read them (JS has no float16 or bfloat16 here).
        (2, 16) => ("float16".into(), Some((Element::U16, 1))),
        (2, 32) => ("float32".into(), Some((Element::F32, 1))),
        (2, 64) => ("float64".into(), Some((Element::F64, 1))),
        (4, 16) => ("bfloat16".into(), Some((Element::U16, 1))),
        // Interleaved (real, imaginary) pairs.
        (5, 64) => ("complex64".into(), Some((Element::F32, 2))),
        (5, 128) => ("complex128".into(), Some((Element::F64, 2))),
        (6, 8) => ("bool".into(), Some((Element::U8, 1))),
        (7..=14, 8) => {
            let names = [
                "float8_e3m4",
                "float8_e4m3",
                "float8_e4m3b11fnuz",
                "float8_e4m3fn",
                "float8_e4m3fnuz",
                "float8_e5m2",
                "float8_e5m2fnuz",
                "float8_e8m0fnu",
            ];
            (names[usize::from(dt.code - 7)].into(), Some((Element::U8, 1)))
        }
        (code, bits) => {
            let kind = match code {
                0 => "int",
                1 => "uint",
                2 => "float",
                3 => "opaque",
                4 => "bfloat",
                5 => "complex",
                6 => "bool",
                15 => return ("float6_e2m3fn".into(), None),
                16 => return ("float6_e3m2fn".into(), None),
                17 => return ("float4_e2m1fn".into(), None),
                _ => "code",
            };
            (format!("{kind}{bits}"), None)
        }
    };
    if dt.lanes != 1 {
        return (format!("{name}x{}", dt.lanes), None);
    }
    (name, element)
}

enum Managed {
    Legacy(*mut DLManagedTensor),
    Versioned(*mut DLManagedTensorVersioned),
}

// SAFETY: a consumed DLPack tensor may be read from any thread while it is owned; its deleter
// is called once, by `delete`, on a thread holding the GIL.
unsafe impl Send for Managed {}

impl Managed {
    fn tensor(&self) -> &DLTensor {
        // SAFETY: the pointers came from a live capsule and stay valid until `delete`.
        unsafe {
            match self {
                Managed::Legacy(m) => &(**m).dl_tensor,
                Managed::Versioned(m) => &(**m).dl_tensor,
            }
        }
    }
}

impl gil::Release for Managed {
    fn release(self, _py: Python<'_>) {
        // SAFETY: each deleter is the producer's own, called exactly once (self is consumed)
        // with the struct it belongs to; the spec allows a NULL deleter.
        unsafe {
            match self {
                Managed::Legacy(m) => {
                    if let Some(deleter) = (*m).deleter {
                        deleter(m);
                    }
                }
                Managed::Versioned(m) => {
                    if let Some(deleter) = (*m).deleter {
                        deleter(m);
                    }
                }
            }
        }
    }
}

/// What a tensor is, read from its DLTensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub shape: Vec<i64>,
    /// In elements of `dtype` (filled in C order when the producer gave none).
    pub strides: Vec<i64>,
    pub dtype: String,
    /// `cpu`, `cuda:0`, …
    pub device: String,
    /// Whether the CPU can read the data (so JS can get a view).
    pub host: bool,
    /// The TypedArray element holding the data's bits and how many make one item.
    pub element: Option<(Element, usize)>,
    pub readonly: bool,
    pub byte_offset: u64,
}

impl TensorInfo {
    /// Bytes from the first element to the end of the last one, for a view that indexes
    /// `data[Σ index·stride]`; an error for negative strides (which would point before it).
    pub fn span(&self) -> Result<usize> {
        let Some((element, per_item)) = self.element else {
            return Err(self.unsupported());
        };
        if self.shape.contains(&0) {
            return Ok(0);
        }
        let mut last = 0i64;
        for (&dim, &stride) in self.shape.iter().zip(&self.strides) {
            if dim > 1 && stride < 0 {
                return Err(Error::buffer(
                    "strides",
                    format!(
                        "this tensor has negative strides {:?}, which a TypedArray cannot index; pass {{ copy: true }} \
                         or make it contiguous in Python first",
                        self.strides
                    ),
                ));
            }
            last += (dim - 1) * stride;
        }
        Ok((last as usize + 1) * per_item * element.size())
    }

    /// The error for a dtype no TypedArray can hold.
    pub fn unsupported(&self) -> Error {
        Error::buffer(
            "format",
            format!("dtype {} has no TypedArray; convert it in Python first", self.dtype),
        )
    }
}

/// A DLPack tensor consumed from a producer; its deleter runs when this is dropped.
pub struct Tensor {
    managed: gil::Held<Managed>,
}

impl Tensor {
    /// Asks `obj` for a capsule (`__dlpack__(max_version=(1, 1))`, or `__dlpack__()` for a
    /// producer that predates versioned capsules) and consumes it.
    pub fn from_object(obj: &Bound<'_, PyAny>) -> Result<Tensor> {
        let py = obj.py();
        let Ok(method) = obj.getattr(pyo3::intern!(py, "__dlpack__")) else {
            let name = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            return Err(Error::buffer(
                "dlpack",
                format!("{name} has no __dlpack__ (it is not a DLPack tensor); use buffer() for objects with the buffer protocol"),
            ));
        };
        let kwargs = PyDict::new(py);
        kwargs
            .set_item("max_version", (1, 1))
            .map_err(|e| Error::from_py(py, e))?;
        let capsule = match method.call((), Some(&kwargs)) {
            Ok(capsule) => capsule,
            Err(err) if err.is_instance_of::<PyTypeError>(py) => method.call0().map_err(|e| Error::from_py(py, e))?,
            Err(err) => return Err(Error::from_py(py, err)),
        };
        Self::consume(&capsule)
    }

    fn consume(capsule: &Bound<'_, PyAny>) -> Result<Tensor> {
        let cap = capsule.as_ptr();
        // SAFETY: PyCapsule_IsValid accepts any object and sets no exception.
        let (name, used) = if unsafe { ffi::PyCapsule_IsValid(cap, VERSIONED.as_ptr()) } == 1 {
            (VERSIONED, USED_VERSIONED)
        } else if unsafe { ffi::PyCapsule_IsValid(cap, LEGACY.as_ptr()) } == 1 {
            // SAFETY: as above.
            (LEGACY, USED_LEGACY)
        } else {
            return Err(Error::buffer(
                "dlpack",
                "__dlpack__ did not return an unused DLPack capsule (\"dltensor\" or \"dltensor_versioned\")",
            ));
        };
        // SAFETY: the capsule is valid with this name, so its pointer is the producer's
        // managed tensor (non-NULL, PyCapsule_IsValid checked).
        let ptr = unsafe { ffi::PyCapsule_GetPointer(cap, name.as_ptr()) };
        let managed = if name == VERSIONED {
            let m = ptr.cast::<DLManagedTensorVersioned>();
            // SAFETY: ptr is a live DLManagedTensorVersioned (the capsule's contract).
            let major = unsafe { (*m).version.major };
            if major != 1 {
                // Not consumed: the capsule's destructor still owns (and deletes) it.
                return Err(Error::buffer(
                    "dlpack",
                    format!("DLPack version {major}.x is not supported (pynode reads 1.x)"),
                ));
            }
            Managed::Versioned(m)
        } else {
            Managed::Legacy(ptr.cast::<DLManagedTensor>())
        };
        // Renaming marks the capsule consumed: its destructor must not call the deleter now.
        // SAFETY: `used` is a static C string, as PyCapsule_SetName requires.
        if unsafe { ffi::PyCapsule_SetName(cap, used.as_ptr()) } != 0 {
            return Err(Error::fetch(capsule.py()));
        }
        Ok(Tensor {
            managed: gil::Held::new(managed),
        })
    }

    fn managed(&self) -> &Managed {
        self.managed.get()
    }

    /// Shape, strides, dtype and device, as JS will see them.
    pub fn info(&self) -> TensorInfo {
        let t = self.managed().tensor();
        let ndim = t.ndim.max(0) as usize;
        let shape: Vec<i64> = if ndim == 0 || t.shape.is_null() {
            Vec::new()
        } else {
            // SAFETY: a DLTensor has `ndim` shape entries.
            unsafe { std::slice::from_raw_parts(t.shape, ndim) }.to_vec()
        };
        let strides = if ndim > 0 && !t.strides.is_null() {
            // SAFETY: non-NULL strides have `ndim` entries.
            unsafe { std::slice::from_raw_parts(t.strides, ndim) }.to_vec()
        } else {
            c_strides(&shape)
        };
        let (dtype, element) = dtype(t.dtype);
        let readonly = match self.managed() {
            // SAFETY: live versioned tensor.
            Managed::Versioned(m) => (unsafe { (**m).flags } & FLAG_READ_ONLY) != 0,
            Managed::Legacy(_) => false,
        };
        TensorInfo {
            shape,
            strides,
            dtype,
            device: device_name(t.device),
            host: host_accessible(t.device),
            element,
            readonly,
            byte_offset: t.byte_offset,
        }
    }

    /// Address of the first element (data + byte_offset).
    pub fn first_element(&self) -> *mut u8 {
        let t = self.managed().tensor();
        t.data.cast::<u8>().wrapping_add(t.byte_offset as usize)
    }

    /// Copies the items in C order into `dst` (`Π shape` items), whatever the strides.
    pub fn gather(&self, info: &TensorInfo, dst: &mut [u8]) -> Result<()> {
        let Some((element, per_item)) = info.element else {
            return Err(info.unsupported());
        };
        let item = element.size() * per_item;
        let count: i64 = info.shape.iter().product();
        assert_eq!(dst.len() as i64, count * item as i64, "gather needs Π shape items");
        if count == 0 {
            return Ok(());
        }
        let base = self.first_element();
        let mut index = vec![0i64; info.shape.len()];
        for out in dst.chunks_exact_mut(item) {
            let offset: i64 = index.iter().zip(&info.strides).map(|(i, s)| i * s).sum();
            // SAFETY: every index is within the shape, so the item lies in the producer's
            // memory; `out` is `item` bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    base.wrapping_offset(offset as isize * item as isize),
                    out.as_mut_ptr(),
                    item,
                );
            }
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < info.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Ok(())
    }

    /// Calls the deleter through the queue even where the GIL is held: for GC finalizers.
    pub fn release_deferred(self) {
        self.managed.release_deferred();
    }
}

/// C-order strides in elements.
pub fn c_strides(shape: &[i64]) -> Vec<i64> {
    let mut strides = vec![1i64; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1].max(1);
    }
    strides
}

/// A capsule's payload for [`capsule`]: the managed struct first, so its address is the box's.
#[repr(C)]
struct Exported<M> {
    managed: M,
    shape: [i64; 1],
    strides: [i64; 1],
    /// Keeps the exporting object (and so the memory) alive until the consumer deletes this.
    owner: Option<PyRef>,
}

/// Leaks a capsule payload and points its tensor's shape and strides into it.
fn leak<M>(managed: M, len: usize, owner: Option<PyRef>, tensor: fn(&mut M) -> &mut DLTensor) -> *mut c_void {
    let boxed = Box::into_raw(Box::new(Exported {
        managed,
        shape: [len as i64],
        strides: [1],
        owner,
    }));
    // SAFETY: a fresh, leaked allocation, freed only by its deleter; shape and strides live in
    // it for as long.
    let payload = unsafe { &mut *boxed };
    let t = tensor(&mut payload.managed);
    t.shape = payload.shape.as_mut_ptr();
    t.strides = payload.strides.as_mut_ptr();
    boxed.cast()
}

unsafe extern "C" fn delete_legacy(m: *mut DLManagedTensor) {
    // SAFETY: `m` is the Box<Exported<_>> leaked by `capsule`; deleters run once. Dropping the
    // PyRef decrefs now with the GIL, or queues it (consumers may delete on any thread).
    drop(unsafe { Box::from_raw(m.cast::<Exported<DLManagedTensor>>()) });
}

unsafe extern "C" fn delete_versioned(m: *mut DLManagedTensorVersioned) {
    // SAFETY: as in delete_legacy.
    drop(unsafe { Box::from_raw(m.cast::<Exported<DLManagedTensorVersioned>>()) });
}

/// Called when a capsule dies: deletes the tensor only if no consumer took it.
unsafe extern "C" fn capsule_destructor(cap: *mut ffi::PyObject) {
    // SAFETY: `cap` is the dying capsule; IsValid/GetPointer set no exception for a valid name.
    unsafe {
        if ffi::PyCapsule_IsValid(cap, VERSIONED.as_ptr()) == 1 {
            delete_versioned(ffi::PyCapsule_GetPointer(cap, VERSIONED.as_ptr()).cast());
        } else if ffi::PyCapsule_IsValid(cap, LEGACY.as_ptr()) == 1 {
            delete_legacy(ffi::PyCapsule_GetPointer(cap, LEGACY.as_ptr()).cast());
        }
    }
}

/// A DLPack capsule over `len` writable elements at `data` on the CPU, keeping `owner` alive
/// until the consumer's deleter runs. Versioned (1.0) if `versioned`, else legacy.
pub fn capsule<'py>(
    owner: &Bound<'py, PyAny>,
    data: *mut u8,
    len: usize,
    element: Element,
    versioned: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let (code, bits) = match element {
        Element::I8 | Element::I16 | Element::I32 | Element::I64 => (0, element.size() * 8),
        Element::U8 | Element::U16 | Element::U32 | Element::U64 => (1, element.size() * 8),
        Element::F32 | Element::F64 => (2, element.size() * 8),
    };
    let tensor = DLTensor {
        data: data.cast(),
        device: DLDevice {
            device_type: CPU,
            device_id: 0,
        },
        ndim: 1,
        dtype: DLDataType {
            code,
            bits: bits as u8,
            lanes: 1,
        },
        shape: std::ptr::null_mut(),
        strides: std::ptr::null_mut(),
        byte_offset: 0,
    };
    let py = owner.py();
    let owner = Some(PyRef::new(owner.clone()));
    let (ptr, name): (*mut c_void, &CStr) = if versioned {
        let managed = DLManagedTensorVersioned {
            version: DLPackVersion { major: 1, minor: 0 },
            manager_ctx: std::ptr::null_mut(),
            deleter: Some(delete_versioned),
            flags: 0,
            dl_tensor: tensor,
        };
        (leak(managed, len, owner, |m| &mut m.dl_tensor), VERSIONED)
    } else {
        let managed = DLManagedTensor {
            dl_tensor: tensor,
            manager_ctx: std::ptr::null_mut(),
            deleter: Some(delete_legacy),
        };
        (leak(managed, len, owner, |m| &mut m.dl_tensor), LEGACY)
    };
    // SAFETY: ptr is non-NULL and name static; the destructor deletes the payload unless a
    // consumer renamed the capsule (then the consumer calls the deleter).
    let cap = unsafe { ffi::PyCapsule_New(ptr, name.as_ptr(), Some(capsule_destructor)) };
    if cap.is_null() {
        // SAFETY: no capsule was made, so the payload is still ours to delete, once.
        unsafe {
            if versioned {
                delete_versioned(ptr.cast());
            } else {
                delete_legacy(ptr.cast());
            }
        }
        return Err(PyErr::fetch(py));
    }
    // SAFETY: a new, non-NULL reference.
    Ok(unsafe { Bound::from_owned_ptr(py, cap) })
}
