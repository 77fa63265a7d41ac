//! The help overlay, generated from the live keymap (television's way): what a user sees
//! is what the keys do, whichever preset or file is loaded.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Widget};

use crate::config::keymap::{Keymap, Section};
use crate::config::theme::Theme;
use crate::ui::view::ApiStatus;

/// The help text for `keymap`, with the endpoints a client needs at the end.
pub fn lines(
    keymap: &Keymap,
    theme: &Theme,
    server_url: &str,
    api: &ApiStatus,
) -> Vec<Line<'static>> {
    let key = Style::default()
        .fg(theme.accent)
        .add_modifier(Modifier::BOLD);
    let head = Style::default()
        .fg(theme.title)
        .add_modifier(Modifier::BOLD);
    let dim = Style::default().fg(theme.dim);
    let text = Style::default().fg(theme.text);
    let prefix = keymap.prefix.label();
    let lock = keymap.lock.label();
    let mut out = vec![
        Line::from(vec![
            Span::styled("Keymap ", dim),
            Span::styled(keymap.name.clone(), text),
            Span::styled(format!("   prefix {prefix}   lock {lock}"), dim),
        ]),
        Line::styled(
            format!("The claude pane takes every key but {prefix} and {lock}."),
            text,
        ),
        Line::styled(
            format!("{prefix} {prefix} sends {prefix} to claude; {lock} locks and unlocks."),
            text,
        ),
        Line::raw(""),
    ];
    let sections = [
        (Section::Prefix, format!("After {prefix}")),
        (
            Section::Panes,
            "In the log, GPU and system panes".to_string(),
        ),
        (Section::Logs, "In the log pane".to_string()),
        (Section::Scroll, "Scroll mode".to_string()),
    ];
    for (section, title) in sections {
        let bindings = keymap.bindings(section);
        if bindings.is_empty() {
            continue;
        }
        out.push(Line::styled(title, head));
        for (action, keys) in bindings {
            let keys: Vec<String> = keys.iter().map(|k| k.label()).collect();
            out.push(Line::from(vec![
                Span::styled(format!("  {:<18}", keys.join(" ")), key),
                Span::styled(action.describe(), text),
            ]));
        }
        out.push(Line::raw(""));
    }
    out.push(Line::styled("Picker", head));
    out.push(Line::styled(
        "  ↑↓ PgUp/PgDn Home/End move · Enter switch · 1-9 pick · b benchmarks · r back · Esc cancel",
        text,
    ));
    out.push(Line::styled("Mouse", head));
    out.push(Line::styled(
        "  click focuses · the wheel scrolls the pane under it · drag a border to resize",
        text,
    ));
    out.push(Line::styled("Endpoints", head));
    let api = match api {
        ApiStatus::Serving(url) => url.clone(),
        ApiStatus::Disabled => "off ([api] enabled = false)".into(),
        ApiStatus::Failed(e) => format!("not serving: {e}"),
    };
    for (what, url) in [
        ("llama-server", server_url.to_string()),
        ("OpenAI API", format!("{server_url}/v1")),
        ("Anthropic API", format!("{server_url}/v1/messages")),
        ("management API", api),
    ] {
        out.push(Line::from(vec![
            Span::styled(format!("  {what:<18}"), dim),
            Span::styled(url, text),
        ]));
    }
    out
}

/// A centred box with a title and scrollable lines; returns the lines that fit.
pub fn draw_box(
    buf: &mut Buffer,
    screen: Rect,
    title: &str,
    lines: &[Line<'_>],
    scroll: &mut u16,
    theme: &Theme,
    max_width: u16,
) {
    let width = screen.width.saturating_sub(4).min(max_width);
    let height = (lines.len() as u16 + 2).min(screen.height.saturating_sub(2));
    let area = Rect {
        x: screen.x + (screen.width - width) / 2,
        y: screen.y + (screen.height - height) / 2,
        width,
        height,
    };
    Clear.render(area, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(Style::default().fg(theme.border_focused))
        .style(Style::default().bg(theme.overlay_bg))
        .title(Span::styled(
            format!(" {title} "),
            Style::default()
                .fg(theme.title)
                .add_modifier(Modifier::BOLD),
        ));
    let inner = block.inner(area);
    block.render(area, buf);
    let max_scroll = (lines.len() as u16).saturating_sub(inner.height);
    *scroll = (*scroll).min(max_scroll);
    for (i, line) in lines
        .iter()
        .skip(usize::from(*scroll))
        .take(usize::from(inner.height))
        .enumerate()
    {
        buf.set_line(inner.x, inner.y + i as u16, line, inner.width);
    }
    if max_scroll > 0 {
        let mark = format!(" {}/{} ↑↓ ", *scroll + 1, max_scroll + 1);
        let x = area.x + area.width.saturating_sub(mark.chars().count() as u16 + 1);
        buf.set_string(
            x,
            area.y + area.height - 1,
            mark,
            Style::default().fg(theme.dim),
        );
    }
}

/// The key tables of docs/workspace.md for one preset, as Markdown.
pub fn markdown(keymap: &Keymap) -> String {
    let mut out = format!(
        "Prefix `{}`, lock `{}`.\n",
        keymap.prefix.label(),
        keymap.lock.label()
    );
    for (section, title) in [
        (Section::Prefix, "After the prefix"),
        (Section::Panes, "In the log, GPU and system panes"),
        (Section::Logs, "In the log pane"),
        (Section::Scroll, "Scroll mode"),
    ] {
        out.push_str(&format!("\n{title}:\n\n| keys | action |\n|---|---|\n"));
        for (action, keys) in keymap.bindings(section) {
            let keys: Vec<String> = keys
                .iter()
                .map(|k| format!("`{}`", k.label().replace('|', "\\|")))
                .collect();
            out.push_str(&format!("| {} | {} |\n", keys.join(" "), action.describe()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/workspace.md lists every binding of both presets, as generated here; when a
    /// preset changes, the failure prints the table to paste.
    #[test]
    fn the_docs_list_every_key_of_both_presets() {
        let docs =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/workspace.md"))
                .unwrap_or_default();
        for name in ["default", "tmux"] {
            let table = markdown(&Keymap::preset(name).unwrap());
            assert!(
                docs.contains(&table),
                "docs/workspace.md lacks the {name} keymap as it is now:\n\n{table}"
            );
        }
    }
}
