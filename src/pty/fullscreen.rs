//! `llws __pane [-- CMD ARGS]`: one terminal pane on the whole screen, for trying the pane
//! (and testing it in tmux) outside the workspace. Ctrl+\ quits; Shift+PgUp/PgDn and the
//! wheel scroll back; after the program exits, `r` restarts it and `q` quits.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::execute;

use super::pane::{CommandSpec, TerminalPane};

enum Msg {
    Input(Event),
    Wake,
}

/// At most this many redraws a second, however fast the program writes.
const FRAME: Duration = Duration::from_millis(16);

pub fn run(spec: CommandSpec, scrollback: usize) -> anyhow::Result<()> {
    // ratatui's init installs a hook that restores the terminal on a real panic; the pane's
    // panic filter goes on top of it and lets those through.
    let mut terminal = ratatui::init();
    let _ = execute!(
        std::io::stdout(),
        event::EnableMouseCapture,
        event::EnableBracketedPaste
    );
    let result = event_loop(&mut terminal, spec, scrollback);
    let _ = execute!(
        std::io::stdout(),
        event::DisableMouseCapture,
        event::DisableBracketedPaste
    );
    ratatui::restore();
    result
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    spec: CommandSpec,
    scrollback: usize,
) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel::<Msg>();
    let wake_tx = tx.clone();
    let waker = Arc::new(move || {
        let _ = wake_tx.send(Msg::Wake);
    });
    std::thread::Builder::new()
        .name("llws-input".into())
        .spawn(move || {
            while let Ok(ev) = event::read() {
                if tx.send(Msg::Input(ev)).is_err() {
                    break;
                }
            }
        })?;
    let size = terminal.size()?;
    let mut pane = TerminalPane::spawn(spec, size.height, size.width, scrollback, waker)?;
    pane.set_exit_hint("r: restart · q: quit");
    draw(terminal, &mut pane)?;
    let mut last_draw = Instant::now();
    loop {
        let Ok(first) = rx.recv() else { return Ok(()) };
        if handle(&mut pane, first, terminal)? {
            return Ok(());
        }
        // Coalesce: take everything that arrives until the next frame is due.
        loop {
            let wait = FRAME.saturating_sub(last_draw.elapsed());
            match rx.recv_timeout(wait) {
                Ok(msg) => {
                    if handle(&mut pane, msg, terminal)? {
                        return Ok(());
                    }
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
        draw(terminal, &mut pane)?;
        last_draw = Instant::now();
    }
}

/// Returns true to quit.
fn handle(
    pane: &mut TerminalPane,
    msg: Msg,
    terminal: &ratatui::DefaultTerminal,
) -> anyhow::Result<bool> {
    let Msg::Input(ev) = msg else {
        return Ok(false);
    };
    match ev {
        Event::Key(key) if key.kind != KeyEventKind::Release => {
            return on_key(pane, &key, terminal);
        }
        Event::Paste(text) => pane.paste(&text),
        Event::Mouse(m) => {
            let size = terminal.size()?;
            pane.handle_mouse(
                &m,
                ratatui::layout::Rect::new(0, 0, size.width, size.height),
            );
        }
        _ => {}
    }
    Ok(false)
}

fn on_key(
    pane: &mut TerminalPane,
    key: &KeyEvent,
    terminal: &ratatui::DefaultTerminal,
) -> anyhow::Result<bool> {
    // A legacy terminal sends Ctrl+\ as 0x1c, which crossterm reports as Ctrl+4.
    if matches!(key.code, KeyCode::Char('\\' | '4'))
        && key.modifiers.contains(KeyModifiers::CONTROL)
    {
        return Ok(true);
    }
    if pane.exit_status().is_some() {
        match key.code {
            KeyCode::Char('r') => pane.restart()?,
            KeyCode::Char('q') => return Ok(true),
            _ => {}
        }
        return Ok(false);
    }
    let half_page = i32::from(terminal.size()?.height / 2).max(1);
    match (key.code, key.modifiers.contains(KeyModifiers::SHIFT)) {
        (KeyCode::PageUp, true) => pane.scroll_lines(half_page),
        (KeyCode::PageDown, true) => pane.scroll_lines(-half_page),
        _ => pane.handle_key(key),
    }
    Ok(false)
}

fn draw(terminal: &mut ratatui::DefaultTerminal, pane: &mut TerminalPane) -> std::io::Result<()> {
    terminal.draw(|f| {
        let area = f.area();
        pane.render(area, f.buffer_mut(), true);
    })?;
    Ok(())
}
