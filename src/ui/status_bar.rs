//! The status bar, two rows that are always drawn: the model and its state (with a
//! switch's step, elapsed time and estimate, or a failure's reason) and the URLs; then
//! the mode, its key hints and llws's own message.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

use crate::config::keymap::Section;
use crate::config::theme::Theme;
use crate::server::state::{Step, SwitchProgress};
use crate::server::{Phase, ServerState};
use crate::ui::commands::{KeyAction, Keymap};
use crate::ui::router_feed::RouterView;
use crate::ui::view::{ApiStatus, View};
use crate::ui::widgets::text::fit;

/// The mode the status bar names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeLabel {
    Normal,
    Prefix,
    Locked,
    Scroll,
    Copy,
    Search,
    Filter,
    Picker,
    Help,
    Confirm,
    /// The stop-server question.
    ConfirmStop,
    Details,
    /// The question about a server llws did not start (its box lists the answers).
    Foreign,
}

impl ModeLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Prefix => "PREFIX",
            Self::Locked => "LOCKED",
            Self::Scroll => "SCROLL",
            Self::Copy => "COPY",
            Self::Search => "SEARCH",
            Self::Filter => "FILTER",
            Self::Picker => "PICKER",
            Self::Help => "HELP",
            Self::Confirm | Self::ConfirmStop | Self::Foreign => "CONFIRM",
            Self::Details => "DETAILS",
        }
    }
}

/// A message from llws itself, and how loud it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub level: Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

pub struct Bar<'a> {
    pub mode: ModeLabel,
    /// Whether the claude pane has focus (it takes plain keys).
    pub claude_focused: bool,
    /// Whether the log pane has focus (its own keys, such as copy, apply).
    pub logs_focused: bool,
    /// Whether the log pane shows the router's activity (the log's keys do not apply).
    pub activity_shown: bool,
    pub keymap: &'a Keymap,
    pub theme: &'a Theme,
    pub message: Option<&'a Message>,
}

pub fn phase_colour(theme: &Theme, phase: Phase) -> Color {
    match phase {
        Phase::Running => theme.ok,
        Phase::Starting | Phase::Stopping => theme.warn,
        Phase::Failed => theme.error,
        Phase::Idle => theme.dim,
    }
}

/// `42% of ~6.1 s`, or why there is no estimate.
pub fn progress(switch: &SwitchProgress, now_ms: u64) -> (String, Option<f64>) {
    let elapsed = now_ms.saturating_sub(switch.started_at_ms);
    let secs = elapsed as f64 / 1000.0;
    match switch.estimate_ms {
        Some(est) if est > 0 => {
            let ratio = elapsed as f64 / est as f64;
            let est_s = est as f64 / 1000.0;
            if ratio <= 1.0 {
                (
                    format!("{secs:.1} s · {:.0}% of ~{est_s:.1} s", ratio * 100.0),
                    Some(ratio),
                )
            } else {
                (
                    format!("{secs:.1} s · over the ~{est_s:.1} s estimate"),
                    Some(1.0),
                )
            }
        }
        _ => (format!("{secs:.1} s · first load, no estimate"), None),
    }
}

/// How close the health wait is to giving up, from this many seconds on: early enough to
/// react, late enough not to nag during every ordinary load.
const GIVE_UP_WARNING_S: u64 = 60;

/// `· gives up in 42 s · Ctrl+\ w wait longer` in the last minute of a load's health wait:
/// the original asked "continue anyway?" after the timeout; here the offer comes before it.
fn give_up_spans(
    s: &ServerState,
    now_ms: u64,
    keymap: &Keymap,
    theme: &Theme,
) -> Vec<Span<'static>> {
    let Some(at) = s.load_gives_up_at_ms else {
        return Vec::new();
    };
    let left = at.saturating_sub(now_ms).div_ceil(1000);
    if left > GIVE_UP_WARNING_S {
        return Vec::new();
    }
    let mut spans = vec![Span::styled(
        format!(" · gives up in {left} s"),
        Style::default().fg(theme.warn).add_modifier(Modifier::BOLD),
    )];
    if let Some(key) = keymap.key_for(Section::Prefix, KeyAction::KeepWaiting) {
        spans.push(Span::styled(
            format!(" · {} {} wait longer", keymap.prefix.label(), key.label()),
            Style::default().fg(theme.warn),
        ));
    }
    spans
}

fn state_spans(view: &View<'_>, keymap: &Keymap, theme: &Theme) -> Vec<Span<'static>> {
    let s: &ServerState = view.server;
    let colour = phase_colour(theme, s.phase);
    let bold = Style::default().fg(colour).add_modifier(Modifier::BOLD);
    let dim = Style::default().fg(theme.dim);
    let name = s.profile_name.clone().unwrap_or_default();
    let prefix = keymap.prefix.label();
    let mut spans = Vec::new();
    match (s.phase, &s.switch) {
        (Phase::Starting | Phase::Stopping, Some(sw)) => {
            let (text, ratio) = progress(sw, view.now_ms);
            // While the old server stops, it is the one named (the new one follows).
            let stopping = sw.from_name.as_ref().filter(|_| sw.step == Step::Stopping);
            let shown = stopping.unwrap_or(&sw.target_name);
            spans.push(Span::styled(format!(" ◐ {shown} "), bold));
            spans.push(Span::styled(
                sw.step.label().to_string(),
                Style::default().fg(colour),
            ));
            if stopping.is_some() {
                spans.push(Span::styled(format!(" → {}", sw.target_name), dim));
            }
            // In the last minute the countdown comes first: on a narrow terminal it is what
            // must not be cut off.
            let give_up = give_up_spans(s, view.now_ms, keymap, theme);
            if give_up.is_empty() {
                spans.push(Span::raw(" "));
                if let Some(r) = ratio {
                    let filled = (r * 10.0).round() as usize;
                    spans.push(Span::styled(
                        "█".repeat(filled.min(10)),
                        Style::default().fg(colour),
                    ));
                    spans.push(Span::styled(
                        "░".repeat(10 - filled.min(10)),
                        Style::default().fg(theme.bar_empty),
                    ));
                    spans.push(Span::raw(" "));
                }
            } else {
                spans.extend(give_up);
                spans.push(Span::raw(" · "));
            }
            spans.push(Span::styled(text, Style::default().fg(theme.text)));
        }
        (Phase::Failed, _) => {
            let reason = s
                .failure
                .as_ref()
                .map(|f| f.reason.clone())
                .unwrap_or_else(|| s.message.clone());
            spans.push(Span::styled(format!(" ✖ {name} failed: "), bold));
            spans.push(Span::styled(reason, Style::default().fg(colour)));
            let key = keymap
                .key_for(Section::Prefix, KeyAction::FailureDetails)
                .map(|k| format!(" · {prefix} {} details", k.label()))
                .unwrap_or_default();
            spans.push(Span::styled(key, dim));
        }
        (Phase::Running, _) => {
            spans.push(Span::styled(format!(" ● {name} "), bold));
            spans.push(Span::styled("running", Style::default().fg(colour)));
            if s.adopted {
                spans.push(Span::styled(" (adopted)", dim));
            }
            spans.extend(router_spans(view.router, theme));
        }
        (Phase::Idle, _) if unloaded_idle(view).is_some() => {
            let id = unloaded_idle(view).unwrap_or_default();
            let shown = view
                .profiles
                .set
                .get(id)
                .map(|p| p.display_name().to_string())
                .unwrap_or_else(|| id.to_string());
            spans.push(Span::styled(format!(" ○ {shown} "), bold));
            spans.push(Span::styled("unloaded (idle)", Style::default().fg(colour)));
            spans.push(Span::styled(" · the next request loads it", dim));
        }
        (Phase::Starting | Phase::Stopping, None) => {
            spans.push(Span::styled(format!(" ◐ {name} "), bold));
            spans.push(Span::styled(s.message.clone(), Style::default().fg(colour)));
            spans.extend(give_up_spans(s, view.now_ms, keymap, theme));
        }
        (Phase::Idle, _) => {
            spans.push(Span::styled(" ○ no model ", bold));
            spans.push(Span::styled("idle", Style::default().fg(colour)));
            if !s.message.is_empty() {
                spans.push(Span::styled(format!(" · {}", s.message), dim));
            }
        }
    }
    if !s.backend.reachable {
        spans.push(Span::styled(
            format!(" · {}", s.backend.message),
            Style::default().fg(theme.error),
        ));
    }
    spans
}

/// The profile the router stopped for idleness, if any.
fn unloaded_idle<'v>(view: &'v View<'_>) -> Option<&'v str> {
    view.router?.unloaded_idle.as_deref()
}

/// The router's figures beside a running server: the live generation speed while a reply
/// streams, and the idle unload's countdown in its last minute.
fn router_spans(router: Option<&RouterView>, theme: &Theme) -> Vec<Span<'static>> {
    let Some(r) = router else {
        return Vec::new();
    };
    let mut spans = Vec::new();
    if let Some(tps) = r.live_tps {
        spans.push(Span::styled(
            format!(" · ▸ {} tok/s", tps_label(tps)),
            Style::default().fg(theme.accent),
        ));
    }
    if let Some(left) = r.unload_in_s {
        spans.push(Span::styled(
            format!(" · unloads in {left} s (idle)"),
            Style::default().fg(theme.warn),
        ));
    }
    spans
}

/// A speed as the status bar, the picker and the activity view write it: a tenth below
/// 100 tok/s, whole above.
pub fn tps_label(tps: f64) -> String {
    if tps < 100.0 {
        format!("{tps:.1}")
    } else {
        format!("{tps:.0}")
    }
}

/// How much of the URLs the first row has room for, widest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Urls {
    Full,
    /// Without the scheme and the loopback host (`:8080`).
    Short,
    /// The server's short URL alone: kept at every width (inventory item 35).
    ServerOnly,
}

/// The server's URL, shortened to `:8080` for the loopback host.
fn short_url(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_start_matches("127.0.0.1")
        .to_string()
}

/// The URLs at `level`.
fn url_spans(view: &View<'_>, theme: &Theme, level: Urls) -> Vec<Span<'static>> {
    if level == Urls::ServerOnly {
        return vec![
            Span::styled(short_url(view.server_url), Style::default().fg(theme.text)),
            Span::raw(" "),
        ];
    }
    let short = level == Urls::Short;
    let dim = Style::default().fg(theme.dim);
    let text = Style::default().fg(theme.text);
    let shorten = |url: &str| -> String {
        if short {
            url.trim_start_matches("http://")
                .trim_start_matches("127.0.0.1")
                .to_string()
        } else {
            url.to_string()
        }
    };
    let mut spans = vec![
        Span::styled("server ", dim),
        Span::styled(shorten(view.server_url), text),
    ];
    match view.api {
        ApiStatus::Serving(url) => {
            spans.push(Span::styled("  api ", dim));
            spans.push(Span::styled(shorten(url), text));
        }
        ApiStatus::Disabled => spans.push(Span::styled("  api off", dim)),
        ApiStatus::Failed(e) => {
            spans.push(Span::styled("  api ", dim));
            spans.push(Span::styled(e.clone(), Style::default().fg(theme.error)));
        }
    }
    spans.push(Span::raw(" "));
    spans
}

/// `⚠ 2 config errors: keymap.toml:3: … · theme.toml:5: …` (file names without folders;
/// `/status` and the log have the full paths).
fn config_warning(errors: &[String]) -> Option<String> {
    let short = |e: &String| {
        let path_end = e.find(": ").unwrap_or(e.len());
        let start = e[..path_end].rfind('/').map(|i| i + 1).unwrap_or(0);
        e[start..].to_string()
    };
    match errors {
        [] => None,
        [one] => Some(format!("⚠ config error: {}", short(one))),
        all => Some(format!(
            "⚠ {} config errors: {}",
            all.len(),
            all.iter().map(short).collect::<Vec<_>>().join(" · ")
        )),
    }
}

/// `spans` cut to `max` columns, the last one kept ending in `…` when cut.
fn cut_spans(spans: Vec<Span<'static>>, max: usize) -> Vec<Span<'static>> {
    if width(&spans) <= max {
        return spans;
    }
    let mut out = Vec::new();
    let mut used = 0;
    for span in spans {
        let w = span.content.width();
        if used + w < max {
            used += w;
            out.push(span);
        } else {
            let text = fit(&span.content, max.saturating_sub(used + 1));
            out.push(Span::styled(text, span.style));
            out.push(Span::raw(" "));
            break;
        }
    }
    out
}

fn width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(|s| s.content.width()).sum()
}

/// The moving keys of a table as one hint: `↑↓ PgUp/PgDn Home/End`.
pub fn moves(k: &Keymap, section: Section) -> String {
    let l = |a| k.label(section, a);
    format!(
        "{}{} {}/{} {}/{}",
        l(KeyAction::ScrollUp),
        l(KeyAction::ScrollDown),
        l(KeyAction::PageUp),
        l(KeyAction::PageDown),
        l(KeyAction::Top),
        l(KeyAction::Bottom)
    )
}

/// The hints for a mode, most important first (the bar cuts from the end).
pub fn hints(bar: &Bar<'_>) -> Vec<(String, String)> {
    let k = bar.keymap;
    let prefix = k.prefix.label();
    let pk = |a: KeyAction| {
        k.key_for(Section::Prefix, a)
            .map(|s| format!("{prefix} {}", s.label()))
    };
    let pane = |a: KeyAction| k.key_for(Section::Panes, a).map(|s| s.label());
    let mut out: Vec<(Option<String>, &str)> = Vec::new();
    match bar.mode {
        ModeLabel::Normal if bar.claude_focused => {
            out.push((Some(prefix.clone()), "commands"));
            out.push((pk(KeyAction::Help), "help"));
            out.push((pk(KeyAction::Picker), "model"));
            out.push((pk(KeyAction::FocusNext), "focus"));
            out.push((pk(KeyAction::Zoom), "zoom"));
            out.push((Some(k.lock.label()), "lock"));
            out.push((pk(KeyAction::Quit), "quit"));
        }
        ModeLabel::Normal => {
            out.push((
                pane(KeyAction::Help).or_else(|| pk(KeyAction::Help)),
                "help",
            ));
            out.push((
                pane(KeyAction::Picker).or_else(|| pk(KeyAction::Picker)),
                "model",
            ));
            out.push((pane(KeyAction::FocusNext), "focus"));
            // The log's own keys work only there (the GPU and system panes take the
            // `[panes]` table alone).
            if bar.logs_focused && bar.activity_shown {
                out.push((
                    k.key_for(Section::Logs, KeyAction::Activity)
                        .map(|s| s.label()),
                    "server log",
                ));
            } else if bar.logs_focused {
                out.push((
                    k.key_for(Section::Logs, KeyAction::Search)
                        .map(|s| s.label()),
                    "search",
                ));
                out.push((
                    k.key_for(Section::Logs, KeyAction::Copy).map(|s| s.label()),
                    "copy",
                ));
            }
            out.push((pane(KeyAction::Zoom), "zoom"));
            out.push((
                pane(KeyAction::Quit).or_else(|| pk(KeyAction::Quit)),
                "quit",
            ));
            out.push((Some(prefix.clone()), "commands"));
        }
        ModeLabel::Prefix => {
            for (a, what) in [
                (KeyAction::Help, "help"),
                (KeyAction::Picker, "model"),
                (KeyAction::Zoom, "zoom"),
                (KeyAction::FocusNext, "focus"),
                (KeyAction::ScrollMode, "scroll"),
                (KeyAction::ThemeNext, "theme"),
                (KeyAction::Quit, "quit"),
            ] {
                out.push((k.key_for(Section::Prefix, a).map(|s| s.label()), what));
            }
            out.push((Some(prefix.clone()), "send it"));
            out.push((Some("Esc".into()), "cancel"));
        }
        ModeLabel::Locked => {
            out.push((Some(k.lock.label()), "unlock"));
            out.push((None, "every key goes to claude"));
        }
        ModeLabel::Scroll => {
            out.push((Some(moves(k, Section::Scroll)), "scroll"));
            out.push((
                k.key_for(Section::Scroll, KeyAction::Cancel)
                    .map(|s| s.label()),
                "leave",
            ));
        }
        ModeLabel::Copy => {
            let c = |a| k.key_for(Section::Copy, a).map(|s| s.label());
            out.push((c(KeyAction::Search), "search"));
            out.push((c(KeyAction::SearchBack), "search up"));
            out.push((c(KeyAction::Select), "select"));
            out.push((c(KeyAction::CopySelection), "copy"));
            out.push((c(KeyAction::Cancel), "leave"));
        }
        ModeLabel::Search | ModeLabel::Filter => {
            out.push((
                k.key_for(Section::Prompt, KeyAction::Confirm)
                    .map(|s| s.label()),
                "keep",
            ));
            out.push((
                k.key_for(Section::Prompt, KeyAction::Cancel)
                    .map(|s| s.label()),
                "cancel",
            ));
        }
        ModeLabel::Picker => {
            out.push((
                k.key_for(Section::Picker, KeyAction::Confirm)
                    .map(|s| s.label()),
                "switch",
            ));
            out.push((Some("1-9".into()), "pick"));
            out.push((
                k.key_for(Section::Picker, KeyAction::Cancel)
                    .map(|s| s.label()),
                "cancel",
            ));
        }
        ModeLabel::Help | ModeLabel::Details => {
            let up = k.label(Section::Dialog, KeyAction::ScrollUp);
            let down = k.label(Section::Dialog, KeyAction::ScrollDown);
            out.push((Some(format!("{up}{down}")), "scroll"));
            out.push((
                k.key_for(Section::Dialog, KeyAction::Cancel)
                    .map(|s| s.label()),
                "close",
            ));
        }
        ModeLabel::Foreign => {
            out.push((
                k.key_for(Section::Confirm, KeyAction::Cancel)
                    .map(|s| s.label()),
                "leave it",
            ));
        }
        ModeLabel::Confirm | ModeLabel::ConfirmStop => {
            let (yes, no) = if bar.mode == ModeLabel::Confirm {
                ("quit", "stay")
            } else {
                ("stop", "keep it")
            };
            out.push((
                k.key_for(Section::Confirm, KeyAction::Confirm)
                    .map(|s| s.label()),
                yes,
            ));
            out.push((
                k.key_for(Section::Confirm, KeyAction::Cancel)
                    .map(|s| s.label()),
                no,
            ));
        }
    }
    out.into_iter()
        .filter_map(|(k, what)| match k {
            Some(k) => Some((k, what.to_string())),
            None if !what.is_empty() => Some((String::new(), what.to_string())),
            None => None,
        })
        .collect()
}

pub fn draw(buf: &mut Buffer, area: Rect, view: &View<'_>, bar: &Bar<'_>) {
    let theme = bar.theme;
    let w = usize::from(area.width);
    if area.height == 0 {
        return;
    }
    // Row 1: state on the left, URLs on the right, as much of them as fits; the server's
    // short URL stays at any width, the state giving way for it.
    let left = state_spans(view, bar.keymap, theme);
    let lw = width(&left);
    let right = [Urls::Full, Urls::Short, Urls::ServerOnly]
        .into_iter()
        .map(|level| url_spans(view, theme, level))
        .find(|r| lw + width(r) < w)
        .unwrap_or_else(|| url_spans(view, theme, Urls::ServerOnly));
    let rw = width(&right);
    if rw + 10 < w {
        let mut left = cut_spans(left, w - rw);
        let lw = width(&left);
        left.push(Span::raw(" ".repeat(w - lw - rw)));
        left.extend(right);
        buf.set_line(area.x, area.y, &Line::from(left), area.width);
    } else {
        buf.set_line(area.x, area.y, &Line::from(left), area.width);
    }
    if area.height < 2 {
        return;
    }

    // Row 2: the mode, then the hints (cut from the end), then llws's message.
    let mode_bg = match bar.mode {
        ModeLabel::Normal => theme.mode_normal,
        ModeLabel::Prefix => theme.mode_prefix,
        ModeLabel::Locked => theme.mode_locked,
        _ => theme.mode_other,
    };
    let mut spans = vec![Span::styled(
        format!(" {} ", bar.mode.as_str()),
        Style::default()
            .fg(theme.mode_fg)
            .bg(mode_bg)
            .add_modifier(Modifier::BOLD),
    )];
    let msg = bar.message.map(|m| {
        let colour = match m.level {
            Level::Info => theme.info,
            Level::Warn => theme.warn,
            Level::Error => theme.error,
        };
        (m.text.clone(), colour)
    });
    // Config errors stay until the files are fixed, after any passing message.
    let msg = match (msg, config_warning(&view.server.config_errors)) {
        (Some((text, colour)), Some(config)) => Some((format!("{text} · {config}"), colour)),
        (None, Some(config)) => Some((config, theme.warn)),
        (msg, None) => msg,
    };
    // The message gets up to half the row (an error two thirds); hints get the rest.
    let share = match bar.message.map(|m| m.level) {
        Some(Level::Error) => w * 2 / 3,
        _ => w / 2,
    };
    let msg_w = msg
        .as_ref()
        .map(|(t, _)| (t.width() + 2).min(share))
        .unwrap_or(0);
    let mut used = width(&spans);
    let key = Style::default()
        .fg(theme.accent)
        .add_modifier(Modifier::BOLD);
    let dim = Style::default().fg(theme.dim);
    for (k, what) in hints(bar) {
        let piece = k.width() + what.width() + 3;
        if used + piece + msg_w > w {
            break;
        }
        spans.push(Span::raw(" "));
        if !k.is_empty() {
            spans.push(Span::styled(k, key));
            spans.push(Span::raw(" "));
        }
        spans.push(Span::styled(what, dim));
        spans.push(Span::raw(" "));
        used += piece;
    }
    if let Some((text, colour)) = msg {
        let room = w.saturating_sub(used + 1);
        let text = fit(&text, room);
        let pad = w.saturating_sub(used + text.width());
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(text, Style::default().fg(colour)));
    }
    buf.set_line(area.x, area.y + 1, &Line::from(spans), area.width);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::state::Step;

    #[test]
    fn progress_against_the_estimate() {
        let sw = SwitchProgress {
            target: "a".into(),
            target_name: "A".into(),
            step: Step::Loading,
            started_at_ms: 1_000,
            estimate_ms: Some(6_100),
            from_name: None,
        };
        assert_eq!(progress(&sw, 3_562).0, "2.6 s · 42% of ~6.1 s");
        assert_eq!(progress(&sw, 10_000).0, "9.0 s · over the ~6.1 s estimate");
        let first = SwitchProgress {
            estimate_ms: None,
            ..sw
        };
        assert_eq!(progress(&first, 1_500).0, "0.5 s · first load, no estimate");
    }

    /// Every hint in every mode and pane names keys that do what it says there: followed
    /// through the keymap as the workspace routes a key ([`resolve`]), each key reaches a
    /// handler (an action of the pane's or mode's table, the prefix, the lock), never
    /// "unbound". (Issue 14: `/ search` was offered in the GPU pane, where `/` does nothing.)
    #[test]
    fn every_hint_names_keys_that_act_where_it_is_shown() {
        use crate::config::keymap::KeySpec;
        use crate::ui::keys::{KeyContext, Mode, Route, resolve};
        use crate::ui::layout::PaneId;
        use crossterm::event::KeyEvent;
        use std::collections::HashMap;

        for preset in crate::config::keymap::preset_names() {
            let km = Keymap::preset(preset).unwrap();
            // Every key label the keymap can show, back to its key.
            let mut by_label: HashMap<String, KeySpec> = HashMap::new();
            for section in Section::ALL {
                for (_, keys) in km.bindings(section) {
                    for key in keys {
                        by_label.insert(key.label(), key);
                    }
                }
            }
            by_label.insert(km.prefix.label(), km.prefix);
            by_label.insert(km.lock.label(), km.lock);
            // A hint's keys: `Ctrl+\ ?` (prefix, then ?), `↑↓ PgUp/PgDn`, `Esc`.
            let keys_of = |hint: &str| -> Vec<Vec<KeySpec>> {
                let mut seqs = Vec::new();
                let prefix = km.prefix.label();
                if let Some(rest) = hint.strip_prefix(&format!("{prefix} ")) {
                    seqs.push(vec![km.prefix, by_label[rest]]);
                    return seqs;
                }
                for word in hint.split(' ').flat_map(|w| w.split('/')) {
                    match by_label.get(word) {
                        Some(k) => seqs.push(vec![*k]),
                        None => {
                            for c in word.chars() {
                                let k = by_label.get(&c.to_string()).unwrap_or_else(|| {
                                    panic!("[{preset}] `{word}` in `{hint}` is no key")
                                });
                                seqs.push(vec![*k]);
                            }
                        }
                    }
                }
                seqs
            };
            let theme = Theme::builtin_default();
            let panes = [PaneId::Claude, PaneId::Logs, PaneId::Gpu, PaneId::System];
            let plain = [
                (ModeLabel::Normal, Mode::Normal, false),
                (ModeLabel::Prefix, Mode::Prefix, false),
                (ModeLabel::Locked, Mode::Locked, false),
                (ModeLabel::Scroll, Mode::Scroll, false),
                (ModeLabel::Copy, Mode::Normal, true),
            ];
            for (label, mode, copy) in plain {
                for focus in panes {
                    // Scroll mode moves the focus off the GPU and system panes; copy mode
                    // is the claude pane's.
                    if (mode == Mode::Scroll && matches!(focus, PaneId::Gpu | PaneId::System))
                        || (copy && focus != PaneId::Claude)
                    {
                        continue;
                    }
                    let bar = Bar {
                        mode: label,
                        claude_focused: focus == PaneId::Claude,
                        logs_focused: focus == PaneId::Logs,
                        activity_shown: false,
                        keymap: &km,
                        theme: &theme,
                        message: None,
                    };
                    for (hint, what) in hints(&bar) {
                        if hint.is_empty() {
                            continue;
                        }
                        for seq in keys_of(&hint) {
                            let mut m = mode;
                            for (i, key) in seq.iter().enumerate() {
                                let ctx = KeyContext {
                                    mode: m,
                                    focus,
                                    overlay: false,
                                    copy,
                                };
                                let ev = KeyEvent::new(key.code, key.mods);
                                let route = resolve(&km, &ctx, &ev);
                                let last = i + 1 == seq.len();
                                let ok = match route {
                                    Route::EnterPrefix if !last => {
                                        m = Mode::Prefix;
                                        true
                                    }
                                    Route::EnterPrefix => what == "commands",
                                    Route::Action(_)
                                    | Route::Copy(_)
                                    | Route::SendPrefix
                                    | Route::ToggleLock => last,
                                    _ => false,
                                };
                                assert!(
                                    ok,
                                    "[{preset}] {label:?} in {focus:?}: `{hint} {what}`: {} goes to {route:?}",
                                    key.label()
                                );
                            }
                        }
                    }
                }
            }
            // Overlays and prompts: the overlay's own table binds each key.
            let overlays = [
                (ModeLabel::Picker, Section::Picker),
                (ModeLabel::Help, Section::Dialog),
                (ModeLabel::Details, Section::Dialog),
                (ModeLabel::Confirm, Section::Confirm),
                (ModeLabel::ConfirmStop, Section::Confirm),
                (ModeLabel::Search, Section::Prompt),
                (ModeLabel::Filter, Section::Prompt),
            ];
            for (label, section) in overlays {
                let bar = Bar {
                    mode: label,
                    claude_focused: false,
                    logs_focused: false,
                    activity_shown: false,
                    keymap: &km,
                    theme: &theme,
                    message: None,
                };
                for (hint, what) in hints(&bar) {
                    if hint == "1-9" {
                        continue; // the picker's digits, which no table binds
                    }
                    for seq in keys_of(&hint) {
                        let key = seq[0];
                        assert!(
                            km.lookup(section, &KeyEvent::new(key.code, key.mods))
                                .is_some(),
                            "[{preset}] {label:?}: `{hint} {what}`: [{}] does not bind {}",
                            section.name(),
                            key.label()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn config_errors_are_all_named() {
        assert_eq!(config_warning(&[]), None);
        let errors = vec![
            "/home/u/.config/llws/keymap.toml:3: unknown action `zap`".to_string(),
            "/home/u/.config/llws/theme.toml:5: `#zz0000` is not a colour".to_string(),
        ];
        assert_eq!(
            config_warning(&errors).unwrap(),
            "⚠ 2 config errors: keymap.toml:3: unknown action `zap` · theme.toml:5: `#zz0000` is not a colour"
        );
    }
}
