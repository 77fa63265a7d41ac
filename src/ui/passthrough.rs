//! What the claude pane's program sends to the user's terminal (clipboard writes, the bell,
//! desktop notifications: [`Outbound`]) on its way out: the event loop drains the pane's
//! queue every loop and writes [`Passthrough::escapes`] to the real terminal between
//! frames, unless `[claude] passthrough = false`.
//!
//! llws's own copies (the log pane's and the failure details' `y`) leave by the same write
//! as [`Outbound::Clipboard`] items made by [`copy`], but not through [`Passthrough`]:
//! `passthrough` limits what the program in the pane may send, while a copy is something
//! the user asked llws for with a key.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::pty::term::{CLIPBOARD_MAX, Outbound};

/// The most text, in bytes, llws copies at once. Its base64 (4 bytes for every 3) and the
/// `52;c;` before it stay under 1 MiB: tmux drops an escape whose string outgrows its
/// input buffer (`input-buffer-size`, 1 MiB), and the pane holds its program to the same
/// [`CLIPBOARD_MAX`].
pub const COPY_MAX: usize = (CLIPBOARD_MAX - 64) / 4 * 3;

/// The clipboard write that puts `text` on the user's clipboard (selection `c`).
pub fn copy(text: &str) -> Outbound {
    Outbound::Clipboard {
        selection: "c".into(),
        data: STANDARD.encode(text),
    }
}

/// The shortest time between two bells passed on. A program that rings in a loop (a shell
/// completing in a tight loop, `yes $'\a'`) would otherwise make the user's terminal beep
/// or flash without pause; one a second still says "something happened".
pub const BELL_INTERVAL: Duration = Duration::from_secs(1);

pub struct Passthrough {
    enabled: bool,
    last_bell: Option<Instant>,
}

impl Passthrough {
    pub fn new(enabled: bool) -> Passthrough {
        Passthrough {
            enabled,
            last_bell: None,
        }
    }

    /// The bytes to write to the user's terminal for `items`, drained at `now`: each item's
    /// escape in order, bells closer than [`BELL_INTERVAL`] to the last one passed on
    /// left out. Nothing when passthrough is off.
    pub fn escapes(&mut self, items: &[Outbound], now: Instant) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.enabled {
            return out;
        }
        for item in items {
            if *item == Outbound::Bell {
                if self
                    .last_bell
                    .is_some_and(|last| now.saturating_duration_since(last) < BELL_INTERVAL)
                {
                    continue;
                }
                self.last_bell = Some(now);
            }
            out.extend(item.escape());
        }
        out
    }
}

/// A sandboxed pane's clipboard writes, on their way out: removed from `items` unless
/// `allowed` (`[claude] passthrough`), and either way the user is told, since a sandbox is
/// for a program that may be turned against them. `None` when there was none to tell of.
pub fn clipboard_note(
    items: &mut Vec<Outbound>,
    allowed: bool,
    sandboxed: bool,
) -> Option<&'static str> {
    let had = items
        .iter()
        .any(|o| matches!(o, Outbound::Clipboard { .. }));
    if !allowed {
        items.retain(|o| !matches!(o, Outbound::Clipboard { .. }));
    }
    match (had && sandboxed, allowed) {
        (false, _) => None,
        (true, true) => Some("clipboard set by claude"),
        (true, false) => Some("claude tried to set the clipboard (blocked: [claude] passthrough)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify(text: &str) -> Outbound {
        Outbound::Notify {
            text: text.into(),
            bel: true,
        }
    }

    #[test]
    fn items_are_written_in_order_as_their_escapes() {
        let mut p = Passthrough::new(true);
        let items = [
            Outbound::Clipboard {
                selection: "c".into(),
                data: "aGVsbG8=".into(),
            },
            Outbound::Bell,
            notify("done"),
            Outbound::NotifyTitled {
                title: "Claude".into(),
                body: "waiting".into(),
                bel: false,
            },
        ];
        assert_eq!(
            String::from_utf8(p.escapes(&items, Instant::now())).unwrap(),
            "\x1b]52;c;aGVsbG8=\x1b\\\x07\x1b]9;done\x07\x1b]777;notify;Claude;waiting\x1b\\"
        );
    }

    #[test]
    fn bells_are_passed_on_at_most_once_a_second() {
        let mut p = Passthrough::new(true);
        let t0 = Instant::now();
        let bell = [Outbound::Bell];
        assert_eq!(p.escapes(&bell, t0), b"\x07");
        assert!(p.escapes(&bell, t0 + Duration::from_millis(300)).is_empty());
        // A notification in the same drain still goes.
        assert_eq!(
            p.escapes(
                &[Outbound::Bell, notify("x")],
                t0 + Duration::from_millis(999)
            ),
            b"\x1b]9;x\x07"
        );
        assert_eq!(p.escapes(&bell, t0 + BELL_INTERVAL), b"\x07");
        assert!(p.escapes(&bell, t0 + BELL_INTERVAL).is_empty());
    }

    #[test]
    fn a_copy_is_base64_on_the_clipboard_and_the_largest_fits_the_limit() {
        assert_eq!(copy("hello").escape(), b"\x1b]52;c;aGVsbG8=\x1b\\".to_vec());
        let Outbound::Clipboard { data, .. } = copy(&"x".repeat(COPY_MAX)) else {
            panic!("a copy is a clipboard write");
        };
        assert!(data.len() + "52;c;".len() < CLIPBOARD_MAX, "{}", data.len());
    }

    #[test]
    fn a_sandboxed_panes_clipboard_writes_are_shown_and_kept_back_unless_allowed() {
        let clip = || Outbound::Clipboard {
            selection: "c".into(),
            data: "aGk=".into(),
        };
        let mut items = vec![clip(), Outbound::Bell];
        assert_eq!(
            clipboard_note(&mut items, false, true),
            Some("claude tried to set the clipboard (blocked: [claude] passthrough)")
        );
        assert_eq!(items, [Outbound::Bell]);
        let mut items = vec![clip()];
        assert_eq!(
            clipboard_note(&mut items, true, true),
            Some("clipboard set by claude")
        );
        assert_eq!(items.len(), 1);
        let mut items = vec![clip()];
        assert_eq!(clipboard_note(&mut items, true, false), None);
        assert_eq!(items.len(), 1);
    }

    #[test]
    fn nothing_is_written_when_passthrough_is_off() {
        let mut p = Passthrough::new(false);
        let items = [
            Outbound::Clipboard {
                selection: "c".into(),
                data: "aGk=".into(),
            },
            Outbound::Bell,
            notify("done"),
        ];
        assert!(p.escapes(&items, Instant::now()).is_empty());
    }
}
