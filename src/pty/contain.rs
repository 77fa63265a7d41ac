//! Running code that may panic (vt100 0.16 on hostile output) without taking llws down and
//! without the default panic message scribbling over the full-screen UI.
//!
//! A panic hook is process-wide, so the filter is a thread-local flag: while a thread runs
//! [`contained`], its panics are recorded instead of printed; every other panic still goes
//! to the hook that was installed before (the default one, or the UI's terminal-restoring
//! hook when that was installed first).

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the filtering hook once. The hook found at that moment keeps handling every
/// panic outside [`contained`]; a UI that wants its own hook should install it first.
pub fn install_panic_filter() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let payload = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                LAST.with(|l| *l.borrow_mut() = Some(format!("{payload}{location}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// A panic caught by [`contained`]: its message and where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Panicked(pub String);

/// Runs `f`, turning a panic into `Err(message)` without printing it.
///
/// `AssertUnwindSafe` is sound here because every caller throws away the state `f` touched
/// (the vt100 parser) when it gets `Err`.
pub fn contained<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    install_panic_filter();
    let was_quiet = QUIET.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was_quiet));
    result.map_err(|_| {
        Panicked(
            LAST.with(|l| l.borrow_mut().take())
                .unwrap_or_else(|| "panic".into()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contained_panic_becomes_an_error_with_its_message() {
        let r: Result<(), Panicked> = contained(|| panic!("boom {}", 7));
        let msg = r.unwrap_err().0;
        assert!(msg.starts_with("boom 7 at "), "{msg}");
        assert_eq!(contained(|| 5), Ok(5));
    }
}
