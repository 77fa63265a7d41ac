//! What the claude pane's program sends to the user's terminal (clipboard writes, the bell,
//! desktop notifications: [`Outbound`]) on its way out: the event loop drains the pane's
//! queue every loop and writes [`Passthrough::escapes`] to the real terminal between
//! frames, unless `[claude] passthrough = false`.

use std::time::{Duration, Instant};

use crate::pty::term::Outbound;

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
