//! Entering Python from a JS thread: a burst starts at the first sync call of an event-loop
//! turn and ends in a `setImmediate` callback, so the GIL is taken once per turn, not per call
//! (pynode-core's `gil` module explains the trade-off).

use crate::js::{Js, R};
use crate::state::EnvState;
use pynode_core::{gil, Error};
use pyo3::Python;

/// Attaches this JS thread (starting a burst if needed) and returns a token for the burst.
pub fn enter(js: Js) -> R<Python<'static>> {
    if !pynode_core::interpreter::is_running() {
        return Err(
            Error::Interpreter("Python is not started: call python.start() or any python.* API first".into()).into(),
        );
    }
    if gil::begin_burst() {
        if let Err(err) = schedule_end(js) {
            // Without an end-of-turn hook the GIL would stay taken: give it back now.
            gil::end_burst();
            return Err(err);
        }
    }
    // SAFETY: begin_burst ran on this thread and the burst lasts until the scheduled endBurst,
    // which cannot run before this synchronous callback returns.
    Ok(unsafe { gil::burst_python() })
}

fn schedule_end(js: Js) -> R<()> {
    let state = EnvState::get(js)?;
    let set_immediate = js.deref(state.set_immediate)?;
    let end = js.deref(state.end_burst)?;
    let global = js.global()?;
    js.call(global, set_immediate, &[end])?;
    Ok(())
}
