//! Small overlays: the quit confirmation, the question about a server llws did not start,
//! and the failure details.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::config::keymap::Section;
use crate::config::settings::OnExit;
use crate::config::theme::Theme;
use crate::server::ServerState;
use crate::server::foreign::ForeignAction;
use crate::server::state::Failure;
use crate::ui::commands::{KeyAction, Keymap};
use crate::ui::widgets::overlay::{self, draw_box};

pub fn draw_quit(
    buf: &mut Buffer,
    screen: Rect,
    on_exit: OnExit,
    server: &ServerState,
    keymap: &Keymap,
    theme: &Theme,
) {
    let name = server.profile_name.clone();
    // Two short lines: a long profile name must not push the setting off the box.
    let (what, why) = match (on_exit, name) {
        (_, None) => ("No server is running.".to_string(), String::new()),
        (OnExit::Stop, Some(n)) => (
            format!("Quitting stops the server: {n}"),
            "(on_exit = \"stop\" in llws.toml)".to_string(),
        ),
        (OnExit::Keep, Some(n)) => (
            format!("Quitting leaves the server running: {n}"),
            "(on_exit = \"keep\"; the next llws adopts it)".to_string(),
        ),
    };
    let key = Style::default()
        .fg(theme.accent)
        .add_modifier(Modifier::BOLD);
    let lines = vec![
        Line::styled(
            "Quit llws?",
            Style::default().fg(theme.text).add_modifier(Modifier::BOLD),
        ),
        Line::styled(what, Style::default().fg(theme.text)),
        Line::styled(why, Style::default().fg(theme.dim)),
        Line::raw(""),
        // The keys as the keymap's [confirm] table binds them: `y quit   n/Esc stay`.
        Line::from(
            [
                Span::styled(keymap.label(Section::Confirm, KeyAction::Confirm), key),
                Span::raw(" quit   "),
            ]
            .into_iter()
            .chain(stay_keys(keymap, key))
            .chain([Span::raw(" stay")])
            .collect::<Vec<_>>(),
        ),
    ];
    draw_box(buf, screen, "Quit", &lines, 0, theme, 64);
}

/// The widest the question about a server llws did not start is drawn.
const FOREIGN_WIDTH: u16 = 76;

/// The question a start that a server llws did not start blocked (inventory item 17; the
/// original asked "Stop it and continue? [y/N]"): what is there, and the keys for what llws
/// may do about it (replace, adopt where the container runs llws's image, or leave it).
pub fn draw_foreign(
    buf: &mut Buffer,
    screen: Rect,
    server: &ServerState,
    keymap: &Keymap,
    theme: &Theme,
) {
    let Some(blocked) = &server.foreign else {
        return;
    };
    let foreign = &blocked.server;
    let name = server
        .profile_name
        .clone()
        .unwrap_or_else(|| blocked.profile.clone());
    let text = Style::default().fg(theme.text);
    let dim = Style::default().fg(theme.dim);
    let key = Style::default()
        .fg(theme.accent)
        .add_modifier(Modifier::BOLD);
    let width = usize::from(FOREIGN_WIDTH.min(screen.width.saturating_sub(4))).saturating_sub(2);
    let mut lines = vec![Line::styled(
        format!("Cannot start {name}:"),
        Style::default().fg(theme.text).add_modifier(Modifier::BOLD),
    )];
    lines.extend(
        crate::ui::widgets::text::wrap(&foreign.describe(), width)
            .into_iter()
            .map(|l| Line::styled(l, text)),
    );
    lines.push(Line::raw(""));
    let offers = foreign.offers();
    for action in &offers {
        let (binding, then) = match action {
            ForeignAction::Replace => (KeyAction::Replace, format!(", then start {name}")),
            ForeignAction::Adopt => (KeyAction::Adopt, " instead".to_string()),
        };
        let Some(k) = keymap.key_for(Section::Confirm, binding) else {
            continue;
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<6}", k.label()), key),
            Span::styled(format!("{}{then}", foreign.action_label(*action)), text),
        ]));
    }
    if offers.is_empty() {
        let why = foreign.refusal(ForeignAction::Replace).unwrap_or_default();
        lines.extend(
            crate::ui::widgets::text::wrap(&why, width)
                .into_iter()
                .map(|l| Line::styled(l, dim)),
        );
        lines.push(Line::raw(""));
    }
    let mut leave = stay_keys(keymap, key);
    let used: usize = leave.iter().map(|s| s.content.chars().count()).sum();
    leave.push(Span::raw(" ".repeat(6usize.saturating_sub(used))));
    leave.push(Span::styled("leave it as it is", text));
    lines.push(Line::from(leave));
    draw_box(
        buf,
        screen,
        "A server llws did not start",
        &lines,
        0,
        theme,
        FOREIGN_WIDTH,
    );
}

/// The keys that answer "stay" to the quit question, the first two the keymap binds, as
/// `n/Esc`.
fn stay_keys(keymap: &Keymap, key: Style) -> Vec<Span<'static>> {
    let keys = keymap
        .bindings(Section::Confirm)
        .into_iter()
        .find(|(a, _)| *a == KeyAction::Cancel)
        .map(|(_, keys)| keys)
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, k) in keys.iter().take(2).enumerate() {
        if i > 0 {
            out.push(Span::raw("/"));
        }
        out.push(Span::styled(k.label(), key));
    }
    out
}

/// The widest the failure details are drawn.
const FAILURE_WIDTH: u16 = 120;

/// The failure details overlay, scrolled to `scroll`. The title says how to copy the
/// report: its last line may be scrolled off.
pub fn draw_failure(
    buf: &mut Buffer,
    screen: Rect,
    server: &ServerState,
    scroll: u16,
    keymap: &Keymap,
    theme: &Theme,
) {
    let lines = failure_lines(server.failure.as_ref(), server, theme);
    let title = match keymap.key_for(Section::Dialog, KeyAction::Copy) {
        Some(k) if server.failure.is_some() => format!("Failure details · {} copies", k.label()),
        _ => "Failure details".to_string(),
    };
    draw_box(buf, screen, &title, &lines, scroll, theme, FAILURE_WIDTH);
}

/// How far the failure details can scroll on `screen`.
pub fn failure_max_scroll(screen: Rect, server: &ServerState) -> u16 {
    let lines = failure_lines(server.failure.as_ref(), server, &Theme::builtin_default());
    overlay::box_max_scroll(screen, lines.len(), FAILURE_WIDTH)
}

/// The failure details as plain text, as the overlay shows them, for the clipboard;
/// `None` when nothing has failed.
pub fn failure_report(failure: Option<&Failure>, server: &ServerState) -> Option<String> {
    failure?;
    // Built from the overlay's own lines, so the copy never says other than the screen.
    let lines = failure_lines(failure, server, &Theme::builtin_default());
    let text: Vec<String> = lines
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect();
    Some(text.join("\n"))
}

/// Exit code, signal, OOM, restarts and the log tail of a failure.
pub fn failure_lines(
    failure: Option<&Failure>,
    server: &ServerState,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let text = Style::default().fg(theme.text);
    let dim = Style::default().fg(theme.dim);
    let Some(f) = failure else {
        return vec![Line::styled(
            if server.message.is_empty() {
                "Nothing has failed.".to_string()
            } else {
                format!("No failure. Last message: {}", server.message)
            },
            text,
        )];
    };
    let mut out = vec![
        Line::from(vec![
            Span::styled("Profile  ", dim),
            Span::styled(
                server
                    .profile_name
                    .clone()
                    .or(server.profile.clone())
                    .unwrap_or_default(),
                text,
            ),
        ]),
        Line::from(vec![
            Span::styled("Reason   ", dim),
            Span::styled(f.reason.clone(), Style::default().fg(theme.error)),
        ]),
    ];
    let mut facts = Vec::new();
    if let Some(c) = f.exit_code {
        facts.push(format!("exit code {c}"));
    }
    if let Some(s) = f.signal {
        facts.push(format!("signal {s}"));
    }
    if f.oom_killed {
        facts.push("killed for lack of memory (OOM)".into());
    }
    if let Some(r) = f.restart_count {
        facts.push(format!("{r} restarts"));
    }
    if !facts.is_empty() {
        out.push(Line::from(vec![
            Span::styled("Exit     ", dim),
            Span::styled(facts.join(", "), text),
        ]));
    }
    out.push(Line::raw(""));
    out.push(Line::styled(
        format!("Last {} log lines:", f.log_tail.len()),
        dim,
    ));
    for l in &f.log_tail {
        let plain = crate::ui::panes::logs::plain(l).into_owned();
        out.push(Line::styled(plain, text));
    }
    out
}
