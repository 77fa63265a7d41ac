//! The help overlay, generated from the live keymap (television's way): what a user sees
//! is what the keys do, whichever preset or file is loaded.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::config::keymap::{Action, Section};
use crate::config::theme::Theme;
use crate::ui::commands::{KeyAction, Keymap};
use crate::ui::status_bar::moves;
use crate::ui::view::ApiStatus;
use crate::ui::widgets::overlay;

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
            format!("claude gets every key but {prefix} and {lock}."),
            text,
        ),
        Line::styled(
            format!("{prefix} twice sends it; {lock} locks and unlocks."),
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
        (Section::Scroll, "Scroll mode (log)".to_string()),
        (Section::Copy, "Copy mode (claude)".to_string()),
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
    let pk = |a| keymap.label(Section::Picker, a);
    for l in [
        format!("  {} move", moves(keymap, Section::Picker)),
        format!("  {} switch · 1-9 pick", pk(KeyAction::Confirm)),
        format!(
            "  {} benchmarks · {} back · {} cancel",
            pk(KeyAction::BenchPage),
            pk(KeyAction::MainPage),
            pk(KeyAction::Cancel)
        ),
    ] {
        out.push(Line::styled(l, text));
    }
    out.push(Line::raw(""));
    out.push(Line::styled("Mouse", head));
    for l in [
        "  a click focuses a pane",
        "  the wheel scrolls the pane under it",
        "  drag a border to resize",
    ] {
        out.push(Line::styled(l, text));
    }
    out.push(Line::raw(""));
    out.push(Line::styled("Endpoints", head));
    let api = match api {
        ApiStatus::Serving(url) => url.clone(),
        ApiStatus::Disabled => "off ([api] enabled = false)".into(),
        ApiStatus::Failed(e) => format!("not serving: {e}"),
    };
    for (what, url) in [
        ("server", server_url.to_string()),
        ("OpenAI", format!("{server_url}/v1")),
        ("Anthropic", format!("{server_url}/v1/messages")),
        ("management", api),
    ] {
        out.push(Line::from(vec![
            Span::styled(format!("  {what:<12}"), dim),
            Span::styled(url, text),
        ]));
    }
    out
}

/// The help's columns when the screen can show all of it at once in two to four of them
/// (a help that needs scrolling hides keys): the column width and each column's lines.
#[allow(clippy::type_complexity)]
fn columns<'a, 'l>(screen: Rect, lines: &'a [Line<'l>]) -> Option<(u16, Vec<Vec<&'a Line<'l>>>)> {
    let inner_w = width(screen).saturating_sub(2);
    let max_rows = usize::from(screen.height.saturating_sub(4));
    // Sections end at blank lines; a column never cuts one.
    let mut sections: Vec<&[Line<'_>]> = Vec::new();
    let mut start = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.width() == 0 {
            sections.push(&lines[start..=i]);
            start = i + 1;
        }
    }
    if start < lines.len() {
        sections.push(&lines[start..]);
    }
    for n in 2..=4u16 {
        let col_w = inner_w.saturating_sub(3 * (n - 1)) / n;
        if col_w < 46 {
            break;
        }
        if let Some(columns) = (lines.len().div_ceil(usize::from(n))..=max_rows)
            .find_map(|cap| pack(&sections, usize::from(n), cap))
        {
            return Some((col_w, columns));
        }
    }
    None
}

fn width(screen: Rect) -> u16 {
    screen.width.saturating_sub(4).min(200)
}

/// The widest the help is drawn as one scrollable column.
const BOX_WIDTH: u16 = 100;

/// How far the help can scroll on `screen`: nothing when it fits in columns.
pub fn max_scroll(screen: Rect, lines: &[Line<'_>]) -> u16 {
    match columns(screen, lines) {
        Some(_) => 0,
        None => overlay::box_max_scroll(screen, lines.len(), BOX_WIDTH),
    }
}

/// The help: in as many columns (up to four) as it takes to show all of it at once when
/// the screen allows, else one column scrolled to `scroll`.
pub fn draw(buf: &mut Buffer, screen: Rect, lines: &[Line<'_>], scroll: u16, theme: &Theme) {
    let Some((col_w, columns)) = columns(screen, lines) else {
        overlay::draw_box(buf, screen, "Help", lines, scroll, theme, BOX_WIDTH);
        return;
    };
    let rows = columns.iter().map(Vec::len).max().unwrap_or(0) as u16;
    let area = overlay::centred(screen, width(screen), rows + 2);
    let inner = overlay::frame(buf, area, "Help", theme);
    for (c, column) in columns.iter().enumerate() {
        let x = inner.x + c as u16 * (col_w + 3);
        for (i, line) in column.iter().enumerate() {
            buf.set_line(x, inner.y + i as u16, line, col_w);
        }
    }
}

/// Packs sections into `n` columns of at most `cap` lines, in order; `None` if they do
/// not fit.
fn pack<'a, 'l>(
    sections: &[&'a [Line<'l>]],
    n: usize,
    cap: usize,
) -> Option<Vec<Vec<&'a Line<'l>>>> {
    let mut columns: Vec<Vec<&Line<'_>>> = vec![Vec::new()];
    for section in sections {
        if section.len() > cap {
            return None;
        }
        if columns
            .last()
            .is_some_and(|c| c.len() + section.len() > cap)
        {
            if columns.len() == n {
                return None;
            }
            columns.push(Vec::new());
        }
        columns.last_mut()?.extend(section.iter());
    }
    Some(columns)
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
        (Section::Scroll, "Scroll mode (the log)"),
        (Section::Copy, "Copy mode (the claude pane)"),
        (Section::Picker, "In the model picker (1-9 pick a row)"),
        (Section::Dialog, "In the help and the failure details"),
        (
            Section::Confirm,
            "In the questions (quitting; a server llws did not start)",
        ),
        (Section::Prompt, "While typing a search or filter"),
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
