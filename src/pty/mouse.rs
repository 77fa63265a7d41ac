//! Mouse reports for programs that asked for them (`ESC [ ? 1000 h` and friends): a
//! crossterm mouse event, already made relative to the pane, to the bytes xterm would send.

use crossterm::event::{KeyModifiers, MouseButton, MouseEventKind};
pub use vt100::{MouseProtocolEncoding, MouseProtocolMode};

/// The report for `ev` at the pane-relative cell (`col`, `row`), both 0-based, or `None`
/// when the program's mode does not ask for this kind of event (motion without a button in
/// button-motion mode, releases in press-only mode, anything when reporting is off) or when
/// the position cannot be encoded (past column 223 in the default encoding).
pub fn encode_mouse(
    kind: MouseEventKind,
    modifiers: KeyModifiers,
    col: u16,
    row: u16,
    mode: MouseProtocolMode,
    encoding: MouseProtocolEncoding,
) -> Option<Vec<u8>> {
    use MouseProtocolMode as M;
    let wanted = match kind {
        MouseEventKind::Down(_)
        | MouseEventKind::ScrollUp
        | MouseEventKind::ScrollDown
        | MouseEventKind::ScrollLeft
        | MouseEventKind::ScrollRight => mode != M::None,
        MouseEventKind::Up(_) => matches!(mode, M::PressRelease | M::ButtonMotion | M::AnyMotion),
        MouseEventKind::Drag(_) => matches!(mode, M::ButtonMotion | M::AnyMotion),
        MouseEventKind::Moved => mode == M::AnyMotion,
    };
    if !wanted {
        return None;
    }
    let button_code = |b: MouseButton| match b {
        MouseButton::Left => 0u16,
        MouseButton::Middle => 1,
        MouseButton::Right => 2,
    };
    let (mut code, release) = match kind {
        MouseEventKind::Down(b) => (button_code(b), false),
        MouseEventKind::Up(b) => (button_code(b), true),
        MouseEventKind::Drag(b) => (button_code(b) + 32, false),
        // Motion with no button is "button 3" plus the motion bit.
        MouseEventKind::Moved => (3 + 32, false),
        MouseEventKind::ScrollUp => (64, false),
        MouseEventKind::ScrollDown => (65, false),
        MouseEventKind::ScrollLeft => (66, false),
        MouseEventKind::ScrollRight => (67, false),
    };
    // X10 compatibility mode (?9) reports no modifiers.
    if mode != M::Press {
        if modifiers.contains(KeyModifiers::SHIFT) {
            code += 4;
        }
        if modifiers.intersects(KeyModifiers::ALT | KeyModifiers::META) {
            code += 8;
        }
        if modifiers.contains(KeyModifiers::CONTROL) {
            code += 16;
        }
    }
    let (x, y) = (u32::from(col) + 1, u32::from(row) + 1);
    match encoding {
        MouseProtocolEncoding::Sgr => {
            let last = if release { 'm' } else { 'M' };
            Some(format!("\x1b[<{code};{x};{y}{last}").into_bytes())
        }
        MouseProtocolEncoding::Default | MouseProtocolEncoding::Utf8 => {
            // The legacy encodings cannot say which button was released.
            if release {
                code = (code & !3) | 3;
            }
            let mut out = b"\x1b[M".to_vec();
            out.push(u8::try_from(32 + code).ok()?);
            for v in [x, y] {
                let v = 32 + v;
                if encoding == MouseProtocolEncoding::Utf8 {
                    // 1005: values past 127 as UTF-8, up to 2047.
                    let c = char::from_u32(v).filter(|_| v < 2048)?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                } else {
                    out.push(u8::try_from(v).ok()?);
                }
            }
            Some(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MouseEventKind as K;

    const N: KeyModifiers = KeyModifiers::NONE;

    fn sgr(
        kind: MouseEventKind,
        mods: KeyModifiers,
        col: u16,
        row: u16,
        mode: MouseProtocolMode,
    ) -> Option<String> {
        encode_mouse(kind, mods, col, row, mode, MouseProtocolEncoding::Sgr)
            .map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn sgr_reports_buttons_wheel_release_and_modifiers() {
        let m = MouseProtocolMode::AnyMotion;
        assert_eq!(
            sgr(K::Down(MouseButton::Left), N, 0, 0, m).unwrap(),
            "\x1b[<0;1;1M"
        );
        assert_eq!(
            sgr(K::Up(MouseButton::Left), N, 4, 2, m).unwrap(),
            "\x1b[<0;5;3m"
        );
        assert_eq!(
            sgr(K::Down(MouseButton::Right), N, 9, 9, m).unwrap(),
            "\x1b[<2;10;10M"
        );
        assert_eq!(
            sgr(K::Down(MouseButton::Middle), N, 0, 0, m).unwrap(),
            "\x1b[<1;1;1M"
        );
        assert_eq!(sgr(K::ScrollUp, N, 3, 4, m).unwrap(), "\x1b[<64;4;5M");
        assert_eq!(sgr(K::ScrollDown, N, 3, 4, m).unwrap(), "\x1b[<65;4;5M");
        assert_eq!(
            sgr(K::Drag(MouseButton::Left), N, 1, 1, m).unwrap(),
            "\x1b[<32;2;2M"
        );
        assert_eq!(sgr(K::Moved, N, 1, 1, m).unwrap(), "\x1b[<35;2;2M");
        assert_eq!(
            sgr(K::Down(MouseButton::Left), KeyModifiers::CONTROL, 0, 0, m).unwrap(),
            "\x1b[<16;1;1M"
        );
        assert_eq!(
            sgr(
                K::ScrollUp,
                KeyModifiers::SHIFT | KeyModifiers::ALT,
                0,
                0,
                m
            )
            .unwrap(),
            "\x1b[<76;1;1M"
        );
        // Past the old 223-column limit SGR still works.
        assert_eq!(
            sgr(K::Down(MouseButton::Left), N, 299, 0, m).unwrap(),
            "\x1b[<0;300;1M"
        );
    }

    #[test]
    fn the_mode_filters_event_kinds() {
        use MouseProtocolMode as M;
        let down = K::Down(MouseButton::Left);
        let up = K::Up(MouseButton::Left);
        let drag = K::Drag(MouseButton::Left);
        assert_eq!(sgr(down, N, 0, 0, M::None), None);
        assert_eq!(sgr(K::ScrollUp, N, 0, 0, M::None), None);
        assert!(sgr(down, N, 0, 0, M::Press).is_some());
        assert_eq!(sgr(up, N, 0, 0, M::Press), None);
        assert!(sgr(up, N, 0, 0, M::PressRelease).is_some());
        assert_eq!(sgr(drag, N, 0, 0, M::PressRelease), None);
        assert!(sgr(drag, N, 0, 0, M::ButtonMotion).is_some());
        assert_eq!(sgr(K::Moved, N, 0, 0, M::ButtonMotion), None);
        assert!(sgr(K::Moved, N, 0, 0, M::AnyMotion).is_some());
        // X10 mode reports no modifiers.
        assert_eq!(
            sgr(down, KeyModifiers::CONTROL, 0, 0, M::Press).unwrap(),
            "\x1b[<0;1;1M"
        );
    }

    #[test]
    fn default_encoding_is_three_offset_bytes() {
        let m = MouseProtocolMode::PressRelease;
        let enc = MouseProtocolEncoding::Default;
        assert_eq!(
            encode_mouse(K::Down(MouseButton::Left), N, 0, 0, m, enc).unwrap(),
            b"\x1b[M\x20\x21\x21"
        );
        assert_eq!(
            encode_mouse(K::Up(MouseButton::Right), N, 1, 2, m, enc).unwrap(),
            b"\x1b[M\x23\x22\x23"
        );
        assert_eq!(
            encode_mouse(K::ScrollDown, N, 10, 5, m, enc).unwrap(),
            b"\x1b[M\x61\x2b\x26"
        );
        assert_eq!(
            encode_mouse(K::Down(MouseButton::Left), N, 222, 0, m, enc).unwrap(),
            b"\x1b[M\x20\xff\x21"
        );
        assert_eq!(
            encode_mouse(K::Down(MouseButton::Left), N, 223, 0, m, enc),
            None
        );
    }

    #[test]
    fn utf8_encoding_extends_the_range() {
        let m = MouseProtocolMode::PressRelease;
        let enc = MouseProtocolEncoding::Utf8;
        assert_eq!(
            encode_mouse(K::Down(MouseButton::Left), N, 0, 0, m, enc).unwrap(),
            b"\x1b[M\x20\x21\x21"
        );
        let far = encode_mouse(K::Down(MouseButton::Left), N, 299, 0, m, enc).unwrap();
        assert_eq!(far, "\x1b[M\u{20}\u{14c}\u{21}".as_bytes());
    }
}
