//! A one-key question on the terminal, for the launchers that run inside the pane before
//! the real program starts ("bwrap is missing: `[r] retry [u] unsandboxed [q] quit`").

use std::io::{IsTerminal, Read, Write};

/// Prints `question` and waits for one of `keys` (case-insensitive). Returns `None` when
/// stdin is not a terminal or reaches end-of-file, so scripts fail instead of hanging.
pub fn choose(question: &str, keys: &[char]) -> Option<char> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return None;
    }
    let mut out = std::io::stdout();
    let _ = write!(out, "{question} ");
    let _ = out.flush();
    let raw = crossterm::terminal::enable_raw_mode().is_ok();
    let mut answer = None;
    let mut byte = [0u8; 1];
    while let Ok(1) = stdin.lock().read(&mut byte) {
        let c = char::from(byte[0]).to_ascii_lowercase();
        if keys.contains(&c) {
            answer = Some(c);
            break;
        }
        // Ctrl+C and Ctrl+D mean "quit" whatever the keys are.
        if byte[0] == 0x03 || byte[0] == 0x04 {
            break;
        }
    }
    if raw {
        let _ = crossterm::terminal::disable_raw_mode();
    }
    let _ = writeln!(out, "{}", answer.map(String::from).unwrap_or_default());
    answer
}
