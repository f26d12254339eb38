//! `tensor()`: an object with `__dlpack__` as `{ data, shape, strides, dtype, device,
//! byteOffset, source }` (issue 4). A CPU tensor's `data` shares the producer's memory (an
//! external ArrayBuffer owning the consumed DLPack tensor, see [`crate::buffer`]); a read-only
//! one is copied unless `{ copy: false }`; a tensor on another device has `data: null` and its
//! DLPack tensor is released at once (`source` hands it back to Python without a copy).

use crate::buffer::{check_aligned, copied_typed_array, copy_arg, share, shared_typed_array, Lent};
use crate::gil::enter;
use crate::handle;
use crate::js::{Args, Js, Val, R};
use pynode_core::dlpack::{c_strides, Tensor};
use pynode_core::PyRef;
use std::sync::Arc;

fn numbers(js: Js, values: &[i64]) -> R<Val> {
    let array = js.array(values.len())?;
    for (i, &v) in values.iter().enumerate() {
        js.set_element(array, i as u32, js.number(v as f64)?)?;
    }
    Ok(array)
}

/// `tensor(h, copy)`.
pub fn tensor(js: Js, args: &Args) -> R<Val> {
    let h = handle::from_external(js, args.at(0, "handle")?)?;
    let copy = copy_arg(js, args, 1)?;
    let py = enter(js)?;
    h.with("get a tensor", |obj| {
        let source = obj.bind(py).to_owned();
        let tensor = Tensor::from_object(&source)?;
        let mut info = tensor.info();
        let data = if !info.host {
            drop(tensor);
            js.null()?
        } else {
            let (element, per_item) = info.element.ok_or_else(|| info.unsupported())?;
            if share(copy, info.readonly, "this tensor")? {
                let span = info.span()?;
                let first = tensor.first_element();
                check_aligned(first, element, "this tensor")?;
                shared_typed_array(js, element, first, span, Lent::Tensor(tensor))?
            } else {
                let items: i64 = info.shape.iter().product();
                let bytes = items.max(0) as usize * per_item * element.size();
                let copied = copied_typed_array(js, element, bytes, |dst| Ok(tensor.gather(&info, dst)?))?;
                // The copy is C-ordered and starts at its first element.
                info.strides = c_strides(&info.shape);
                info.byte_offset = 0;
                copied
            }
        };
        let out = js.object()?;
        js.set_named(out, c"data", data)?;
        js.set_named(out, c"shape", numbers(js, &info.shape)?)?;
        js.set_named(out, c"strides", numbers(js, &info.strides)?)?;
        js.set_named(out, c"dtype", js.string(&info.dtype)?)?;
        js.set_named(out, c"device", js.string(&info.device)?)?;
        js.set_named(out, c"byteOffset", js.number(info.byte_offset as f64)?)?;
        js.set_named(out, c"source", handle::wrap(js, Arc::new(PyRef::new(source)))?)?;
        Ok(out)
    })
}
