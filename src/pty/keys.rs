//! Keyboard input for the program in the pane: crossterm key events to the bytes an xterm
//! would send, so readline, vim and Claude Code see the keys they expect.
//!
//! The forms are xterm's: `ESC [ 1 ; m X` for modified cursor keys, `ESC [ n ; m ~` for
//! the editing and function keys, SS3 (`ESC O X`) for unmodified cursor keys in
//! application-cursor mode and for F1–F4. Alt is an ESC prefix (xterm's `metaSendsEscape`).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// The terminal modes that change what a key sends, read from the pane's screen state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TermModes {
    /// DECCKM (`ESC [ ? 1 h`): unmodified cursor keys send `ESC O A` instead of `ESC [ A`.
    pub application_cursor: bool,
    /// `ESC [ ? 2004 h`: pastes are wrapped in `ESC [ 200 ~` … `ESC [ 201 ~`.
    pub bracketed_paste: bool,
    /// The program asked for keys that a legacy encoding cannot tell apart (kitty keyboard
    /// flags pushed with `ESC [ > n u`, or xterm modifyOtherKeys set with `ESC [ > 4 ; n m`).
    /// Only Shift+Enter and Ctrl+Enter change with it; see [`encode_key`].
    pub extended_keys: bool,
}

/// The bytes `key` sends to the program, or `None` for events that send nothing (key
/// releases, lone modifiers, media keys).
///
/// Shift+Enter: with `extended_keys` it is the CSI-u form `ESC [ 13 ; 2 u` (what kitty and
/// xterm's modifyOtherKeys send); otherwise `ESC CR`, the Meta+Enter that Claude Code's own
/// `/terminal-setup` maps Shift+Enter to and that Claude Code reads as "insert a newline".
/// A plain CR would submit the prompt, and LF stopped meaning newline in Claude Code 2.1.82.
pub fn encode_key(key: &KeyEvent, modes: &TermModes) -> Option<Vec<u8>> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let mods = key.modifiers;
    let alt = mods.intersects(KeyModifiers::ALT | KeyModifiers::META);
    let ctrl = mods.contains(KeyModifiers::CONTROL);
    let shift = mods.contains(KeyModifiers::SHIFT);
    // xterm's modifier parameter: 1 + (shift 1 | alt 2 | ctrl 4).
    let param = 1 + u8::from(shift) + 2 * u8::from(alt) + 4 * u8::from(ctrl);

    let with_alt = |mut bytes: Vec<u8>| {
        if alt {
            bytes.insert(0, 0x1b);
        }
        bytes
    };

    let bytes = match key.code {
        KeyCode::Char(c) => return Some(encode_char(c, ctrl, alt)),
        KeyCode::Enter => {
            if shift && !ctrl && !alt {
                if modes.extended_keys {
                    b"\x1b[13;2u".to_vec()
                } else {
                    b"\x1b\r".to_vec()
                }
            } else if ctrl && modes.extended_keys {
                format!("\x1b[13;{param}u").into_bytes()
            } else {
                with_alt(vec![b'\r'])
            }
        }
        KeyCode::Tab if shift => csi_final(b'Z', if ctrl || alt { param } else { 1 }),
        KeyCode::BackTab => csi_final(b'Z', if ctrl || alt { param } else { 1 }),
        KeyCode::Tab => with_alt(vec![b'\t']),
        // DEL, as every modern terminal sends; Ctrl+Backspace is ^H, which readline and
        // Claude Code treat as "delete the previous word" or a plain backspace.
        KeyCode::Backspace => with_alt(vec![if ctrl { 0x08 } else { 0x7f }]),
        KeyCode::Esc => with_alt(vec![0x1b]),
        KeyCode::Up => cursor_key(b'A', param, modes),
        KeyCode::Down => cursor_key(b'B', param, modes),
        KeyCode::Right => cursor_key(b'C', param, modes),
        KeyCode::Left => cursor_key(b'D', param, modes),
        KeyCode::Home => cursor_key(b'H', param, modes),
        KeyCode::End => cursor_key(b'F', param, modes),
        KeyCode::Insert => tilde(2, param),
        KeyCode::Delete => tilde(3, param),
        KeyCode::PageUp => tilde(5, param),
        KeyCode::PageDown => tilde(6, param),
        KeyCode::F(n @ 1..=4) => {
            let last = b"PQRS"[usize::from(n - 1)];
            if param == 1 {
                vec![0x1b, b'O', last]
            } else {
                csi_final(last, param)
            }
        }
        KeyCode::F(n @ 5..=12) => {
            let code = [15, 17, 18, 19, 20, 21, 23, 24][usize::from(n - 5)];
            tilde(code, param)
        }
        KeyCode::Null => vec![0],
        _ => return None,
    };
    Some(bytes)
}

/// A printable key: UTF-8, with Ctrl mapped to its C0 control where one exists and Alt as
/// an ESC prefix.
fn encode_char(c: char, ctrl: bool, alt: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    if alt {
        out.push(0x1b);
    }
    match ctrl.then(|| control_byte(c)).flatten() {
        Some(b) => out.push(b),
        None => {
            let mut utf8 = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
    }
    out
}

/// The C0 control Ctrl+`c` produces on an xterm, including the digit aliases
/// (Ctrl+2 = NUL, Ctrl+3..7 = ESC, FS, GS, RS, US, Ctrl+8 = DEL).
fn control_byte(c: char) -> Option<u8> {
    Some(match c {
        'a'..='z' => c as u8 - b'a' + 1,
        'A'..='Z' => c as u8 - b'A' + 1,
        ' ' | '@' | '2' => 0x00,
        '[' | '3' => 0x1b,
        '\\' | '4' => 0x1c,
        ']' | '5' => 0x1d,
        '^' | '~' | '6' => 0x1e,
        '_' | '-' | '/' | '7' => 0x1f,
        '?' | '8' => 0x7f,
        _ => return None,
    })
}

fn cursor_key(last: u8, param: u8, modes: &TermModes) -> Vec<u8> {
    match (param, modes.application_cursor) {
        (1, true) => vec![0x1b, b'O', last],
        (1, false) => vec![0x1b, b'[', last],
        _ => csi_final(last, param),
    }
}

/// `ESC [ X` unmodified, `ESC [ 1 ; m X` modified.
fn csi_final(last: u8, param: u8) -> Vec<u8> {
    if param == 1 {
        vec![0x1b, b'[', last]
    } else {
        let mut v = format!("\x1b[1;{param}").into_bytes();
        v.push(last);
        v
    }
}

/// `ESC [ n ~` unmodified, `ESC [ n ; m ~` modified.
fn tilde(code: u8, param: u8) -> Vec<u8> {
    if param == 1 {
        format!("\x1b[{code}~").into_bytes()
    } else {
        format!("\x1b[{code};{param}~").into_bytes()
    }
}

/// Pasted text as the program should receive it: wrapped in bracketed-paste markers when the
/// program enabled them, so editors and Claude Code take it as one paste rather than typed
/// keys (a newline in it would otherwise submit). Line endings become CR, as a terminal
/// sends them. ESC bytes inside a bracketed paste are dropped: a pasted `ESC [ 201 ~` would
/// otherwise end the paste early and let the rest run as keystrokes.
pub fn encode_paste(text: &str, bracketed: bool) -> Vec<u8> {
    let normalized = text.replace("\r\n", "\r").replace('\n', "\r");
    if !bracketed {
        return normalized.into_bytes();
    }
    let mut out = Vec::with_capacity(normalized.len() + 12);
    out.extend_from_slice(b"\x1b[200~");
    out.extend(normalized.bytes().filter(|&b| b != 0x1b));
    out.extend_from_slice(b"\x1b[201~");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventState;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers: mods,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }
    }

    const N: KeyModifiers = KeyModifiers::NONE;
    const S: KeyModifiers = KeyModifiers::SHIFT;
    const A: KeyModifiers = KeyModifiers::ALT;
    const C: KeyModifiers = KeyModifiers::CONTROL;

    /// Every key the pane forwards, in normal mode: (key, modifiers, bytes).
    #[test]
    fn key_table_normal_mode() {
        let cs = C.union(S);
        let ca = C.union(A);
        let sa = S.union(A);
        let csa = cs.union(A);
        let table: Vec<(KeyCode, KeyModifiers, &[u8])> = vec![
            // Text: UTF-8, Shift gives the character crossterm already shifted.
            (KeyCode::Char('a'), N, b"a"),
            (KeyCode::Char('A'), S, b"A"),
            (KeyCode::Char('é'), N, "é".as_bytes()),
            (KeyCode::Char('中'), N, "中".as_bytes()),
            (KeyCode::Char('😀'), N, "😀".as_bytes()),
            (KeyCode::Char(' '), N, b" "),
            // Alt is an ESC prefix.
            (KeyCode::Char('x'), A, b"\x1bx"),
            (KeyCode::Char('é'), A, "\x1bé".as_bytes()),
            (KeyCode::Char('X'), sa, b"\x1bX"),
            // Ctrl+letter, Ctrl+space, Ctrl+[\]^_ and the digit aliases.
            (KeyCode::Char('a'), C, b"\x01"),
            (KeyCode::Char('c'), C, b"\x03"),
            (KeyCode::Char('z'), C, b"\x1a"),
            (KeyCode::Char('A'), cs, b"\x01"),
            (KeyCode::Char(' '), C, b"\x00"),
            (KeyCode::Char('@'), C, b"\x00"),
            (KeyCode::Char('2'), C, b"\x00"),
            (KeyCode::Char('['), C, b"\x1b"),
            (KeyCode::Char('\\'), C, b"\x1c"),
            (KeyCode::Char(']'), C, b"\x1d"),
            (KeyCode::Char('^'), C, b"\x1e"),
            (KeyCode::Char('6'), C, b"\x1e"),
            (KeyCode::Char('_'), C, b"\x1f"),
            (KeyCode::Char('/'), C, b"\x1f"),
            (KeyCode::Char('?'), C, b"\x7f"),
            (KeyCode::Char('b'), ca, b"\x1b\x02"),
            // Ctrl with a key that has no control code sends the key.
            (KeyCode::Char('1'), C, b"1"),
            // Enter, Tab, Backspace, Esc.
            (KeyCode::Enter, N, b"\r"),
            (KeyCode::Enter, A, b"\x1b\r"),
            (KeyCode::Enter, S, b"\x1b\r"),
            (KeyCode::Enter, C, b"\r"),
            (KeyCode::Tab, N, b"\t"),
            (KeyCode::Tab, A, b"\x1b\t"),
            (KeyCode::Tab, S, b"\x1b[Z"),
            (KeyCode::BackTab, S, b"\x1b[Z"),
            (KeyCode::BackTab, N, b"\x1b[Z"),
            (KeyCode::BackTab, cs, b"\x1b[1;6Z"),
            (KeyCode::Backspace, N, b"\x7f"),
            (KeyCode::Backspace, A, b"\x1b\x7f"),
            (KeyCode::Backspace, C, b"\x08"),
            (KeyCode::Esc, N, b"\x1b"),
            (KeyCode::Esc, A, b"\x1b\x1b"),
            (KeyCode::Null, N, b"\x00"),
            // Cursor keys, plain and modified.
            (KeyCode::Up, N, b"\x1b[A"),
            (KeyCode::Down, N, b"\x1b[B"),
            (KeyCode::Right, N, b"\x1b[C"),
            (KeyCode::Left, N, b"\x1b[D"),
            (KeyCode::Up, S, b"\x1b[1;2A"),
            (KeyCode::Down, A, b"\x1b[1;3B"),
            (KeyCode::Right, sa, b"\x1b[1;4C"),
            (KeyCode::Left, C, b"\x1b[1;5D"),
            (KeyCode::Up, cs, b"\x1b[1;6A"),
            (KeyCode::Down, ca, b"\x1b[1;7B"),
            (KeyCode::Right, csa, b"\x1b[1;8C"),
            (KeyCode::Home, N, b"\x1b[H"),
            (KeyCode::End, N, b"\x1b[F"),
            (KeyCode::Home, C, b"\x1b[1;5H"),
            (KeyCode::End, S, b"\x1b[1;2F"),
            // Editing keys.
            (KeyCode::Insert, N, b"\x1b[2~"),
            (KeyCode::Delete, N, b"\x1b[3~"),
            (KeyCode::PageUp, N, b"\x1b[5~"),
            (KeyCode::PageDown, N, b"\x1b[6~"),
            (KeyCode::Delete, C, b"\x1b[3;5~"),
            (KeyCode::PageUp, S, b"\x1b[5;2~"),
            (KeyCode::PageDown, A, b"\x1b[6;3~"),
            (KeyCode::Insert, S, b"\x1b[2;2~"),
            // Function keys.
            (KeyCode::F(1), N, b"\x1bOP"),
            (KeyCode::F(2), N, b"\x1bOQ"),
            (KeyCode::F(3), N, b"\x1bOR"),
            (KeyCode::F(4), N, b"\x1bOS"),
            (KeyCode::F(5), N, b"\x1b[15~"),
            (KeyCode::F(6), N, b"\x1b[17~"),
            (KeyCode::F(7), N, b"\x1b[18~"),
            (KeyCode::F(8), N, b"\x1b[19~"),
            (KeyCode::F(9), N, b"\x1b[20~"),
            (KeyCode::F(10), N, b"\x1b[21~"),
            (KeyCode::F(11), N, b"\x1b[23~"),
            (KeyCode::F(12), N, b"\x1b[24~"),
            (KeyCode::F(1), S, b"\x1b[1;2P"),
            (KeyCode::F(4), C, b"\x1b[1;5S"),
            (KeyCode::F(5), S, b"\x1b[15;2~"),
            (KeyCode::F(12), cs, b"\x1b[24;6~"),
        ];
        let modes = TermModes::default();
        let mut failures = Vec::new();
        for (code, mods, want) in &table {
            let got = encode_key(&key(*code, *mods), &modes);
            if got.as_deref() != Some(*want) {
                failures.push(format!("{code:?} {mods:?}: want {want:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn application_cursor_mode_changes_only_unmodified_cursor_keys() {
        let modes = TermModes {
            application_cursor: true,
            ..TermModes::default()
        };
        let table: Vec<(KeyCode, KeyModifiers, &[u8])> = vec![
            (KeyCode::Up, N, b"\x1bOA"),
            (KeyCode::Down, N, b"\x1bOB"),
            (KeyCode::Right, N, b"\x1bOC"),
            (KeyCode::Left, N, b"\x1bOD"),
            (KeyCode::Home, N, b"\x1bOH"),
            (KeyCode::End, N, b"\x1bOF"),
            (KeyCode::Up, C, b"\x1b[1;5A"),
            (KeyCode::PageUp, N, b"\x1b[5~"),
            (KeyCode::F(1), N, b"\x1bOP"),
        ];
        for (code, mods, want) in table {
            assert_eq!(
                encode_key(&key(code, mods), &modes).as_deref(),
                Some(want),
                "{code:?} {mods:?}"
            );
        }
    }

    #[test]
    fn extended_keys_send_csi_u_for_modified_enter() {
        let modes = TermModes {
            extended_keys: true,
            ..TermModes::default()
        };
        assert_eq!(
            encode_key(&key(KeyCode::Enter, S), &modes).unwrap(),
            b"\x1b[13;2u"
        );
        assert_eq!(
            encode_key(&key(KeyCode::Enter, C), &modes).unwrap(),
            b"\x1b[13;5u"
        );
        assert_eq!(encode_key(&key(KeyCode::Enter, N), &modes).unwrap(), b"\r");
    }

    #[test]
    fn releases_and_unknown_keys_send_nothing() {
        let mut release = key(KeyCode::Char('a'), N);
        release.kind = KeyEventKind::Release;
        assert_eq!(encode_key(&release, &TermModes::default()), None);
        let mut repeat = key(KeyCode::Char('a'), N);
        repeat.kind = KeyEventKind::Repeat;
        assert_eq!(encode_key(&repeat, &TermModes::default()).unwrap(), b"a");
        assert_eq!(
            encode_key(&key(KeyCode::CapsLock, N), &TermModes::default()),
            None
        );
        assert_eq!(
            encode_key(&key(KeyCode::F(13), N), &TermModes::default()),
            None
        );
    }

    #[test]
    fn paste_is_bracketed_only_when_asked_and_cannot_break_out() {
        assert_eq!(encode_paste("a\nb", false), b"a\rb");
        assert_eq!(encode_paste("a\r\nb", true), b"\x1b[200~a\rb\x1b[201~");
        assert_eq!(
            encode_paste("x\x1b[201~rm -rf /\n", true),
            b"\x1b[200~x[201~rm -rf /\r\x1b[201~"
        );
        assert_eq!(encode_paste("中", true), "\x1b[200~中\x1b[201~".as_bytes());
    }
}
