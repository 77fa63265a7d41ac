//! The panic filter keeps contained parser panics off the screen and lets every other panic
//! through to the hook that was there before (its own process, since hooks are global).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use llws::pty::contain::{contained, install_panic_filter};

#[test]
fn contained_panics_are_silent_and_others_reach_the_previous_hook() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    // What a UI does first: its own hook (restore the terminal, then report).
    std::panic::set_hook(Box::new(move |_| {
        s.fetch_add(1, Ordering::SeqCst);
    }));
    install_panic_filter();

    let r = contained(|| panic!("inside the parser"));
    assert!(r.unwrap_err().0.starts_with("inside the parser"));
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "a contained panic is not reported"
    );

    // A real panic elsewhere (here: another thread) still reaches the UI's hook.
    let joined = std::thread::spawn(|| panic!("a real bug")).join();
    assert!(joined.is_err());
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    // And on the same thread, once outside `contained`.
    let _ = std::panic::catch_unwind(|| panic!("also real"));
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}
