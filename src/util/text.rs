//! Text from elsewhere (server log lines) made safe to print on the user's terminal.
//!
//! A log line can carry bytes someone else chose: llama-server logs request paths at higher
//! verbosity, percent-decoded, so any local process (or a web page posting to the port)
//! can put escape sequences there. Printed raw, OSC 52 sets the user's clipboard, OSC 0
//! their window title, `CSI 2J` clears their screen, and some terminals answer queries by
//! typing into the shell. [`terminal_safe`] removes every escape sequence and control
//! character but tab, and keeps the text.

use std::borrow::Cow;

/// Whether `c` is a control character a terminal acts on: C0 but tab, DEL, and C1.
fn is_control(c: char) -> bool {
    (c.is_control() && c != '\t') || ('\u{80}'..='\u{9f}').contains(&c)
}

/// `line` without escape sequences (CSI, OSC, DCS, SOS, PM, APC and two-byte escapes,
/// whole) and without other control characters; tab stays. Borrowed when already clean.
pub fn terminal_safe(line: &str) -> Cow<'_, str> {
    if !line.chars().any(is_control) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                // CSI: parameters and intermediates, then one final byte (0x40..=0x7e).
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            break;
                        }
                    }
                }
                // String sequences, up to BEL (OSC) or ST (ESC \), or the end of the line.
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // A two-byte escape (ESC c, ESC 7, charset selections...): drop both.
                Some(_) | None => {}
            },
            // C1 introducers of the same sequences.
            '\u{9b}' => {
                for c in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&c) {
                        break;
                    }
                }
            }
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if is_control(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\x07' | '\u{9c}' => return,
            '\x1b' if chars.peek() == Some(&'\\') => {
                chars.next();
                return;
            }
            _ => {}
        }
    }
}

/// How the CLI prints server log lines: filtered when they go to a terminal, as they are
/// when they go to a pipe or a file (grep and log collectors get the bytes) or with `--raw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPrinter {
    filter: bool,
}

impl LogPrinter {
    /// For output to stdout (`stderr: false`) or stderr; `raw` is the user's `--raw`.
    pub fn new(raw: bool, stderr: bool) -> LogPrinter {
        use std::io::IsTerminal;
        let tty = if stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        LogPrinter {
            filter: tty && !raw,
        }
    }

    /// Always filtered (the relay of a sandbox's output, tests).
    pub fn filtering(filter: bool) -> LogPrinter {
        LogPrinter { filter }
    }

    /// The line as it should be printed.
    pub fn line<'a>(&self, line: &'a str) -> Cow<'a, str> {
        if self.filter {
            terminal_safe(line)
        } else {
            Cow::Borrowed(line)
        }
    }
}

/// `--raw` of the command that runs (`llws logs`, `up`, `serve`, `selftest`): set once by
/// the command line, read by [`for_stdout`] and [`for_stderr`].
static RAW: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints server log lines as they are, even to a terminal (`--raw`).
pub fn set_raw(raw: bool) {
    RAW.store(raw, std::sync::atomic::Ordering::Relaxed);
}

/// A server log line as it should be printed on stdout.
pub fn for_stdout(line: &str) -> Cow<'_, str> {
    static PRINTER: std::sync::OnceLock<LogPrinter> = std::sync::OnceLock::new();
    PRINTER
        .get_or_init(|| LogPrinter::new(RAW.load(std::sync::atomic::Ordering::Relaxed), false))
        .line(line)
}

/// A server log line as it should be printed on stderr.
pub fn for_stderr(line: &str) -> Cow<'_, str> {
    static PRINTER: std::sync::OnceLock<LogPrinter> = std::sync::OnceLock::new();
    PRINTER
        .get_or_init(|| LogPrinter::new(RAW.load(std::sync::atomic::Ordering::Relaxed), true))
        .line(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_go_and_text_stays() {
        assert!(matches!(terminal_safe("plain\ttext"), Cow::Borrowed(_)));
        let hostile = "GET /\x1b]52;c;cm0gLXJmIH4=\x07a\x1b]0;pwned\x1b\\b\x1b[2J\x1b[31mred\x1b[0m \r\x08\x7f\u{9b}2Jc\u{9d}0;t\u{9c}d\x1bce";
        assert_eq!(terminal_safe(hostile), "GET /abred cde");
        // A sequence left open at the end of the line swallows the rest of it, never more.
        assert_eq!(terminal_safe("ok \x1b]52;c;AAAA"), "ok ");
        assert_eq!(terminal_safe("é ✓ \u{1F600}"), "é ✓ \u{1F600}");
    }

    #[test]
    fn the_printer_filters_only_when_told() {
        let line = "a\x1b[2Jb";
        assert_eq!(LogPrinter::filtering(true).line(line), "ab");
        assert_eq!(LogPrinter::filtering(false).line(line), line);
    }
}
