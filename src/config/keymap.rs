//! Keymaps: which key does what in the workspace, as TOML. The presets in `keymaps/` are
//! built into the binary; `ui.keymap` names one of them or a file layered over one.
//!
//! A file has two chords and four tables:
//! ```toml
//! preset = "default"    # user files only: the preset this file changes
//! prefix_key = "ctrl-\\" # opens llws's commands, even while the claude pane has focus
//! lock_key = "f12"      # LOCKED: every key (the prefix too) goes to the claude pane
//! [prefix]              # one key after the prefix
//! "m" = "picker"
//! [panes]               # plain keys while the logs, GPU or system pane has focus
//! [logs]                # plain keys in the log pane (before [panes])
//! [scroll]              # scroll mode (the prefix's `[`)
//! ```
//! `"key" = "none"` removes a binding of the preset.

use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use toml::de::DeValue;

use super::diag::Diagnostic;
use super::layered::{self, Document, Spec};

/// What a key can be bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyAction {
    Picker,
    Help,
    Quit,
    Lock,
    SendPrefix,
    FocusLeft,
    FocusRight,
    FocusUp,
    FocusDown,
    FocusNext,
    FocusPrev,
    FocusClaude,
    FocusLogs,
    FocusGpu,
    FocusSystem,
    Zoom,
    ResizeLeft,
    ResizeRight,
    ResizeUp,
    ResizeDown,
    ScrollMode,
    ScrollUp,
    ScrollDown,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Search,
    Filter,
    SearchNext,
    SearchPrev,
    ClearSearch,
    Wrap,
    Copy,
    ThemeNext,
    FailureDetails,
    RestartClaude,
    RestartServer,
    StopServer,
    KeepWaiting,
    Cancel,
}

impl KeyAction {
    pub const ALL: &'static [KeyAction] = &[
        Self::Picker,
        Self::Help,
        Self::Quit,
        Self::Lock,
        Self::SendPrefix,
        Self::FocusLeft,
        Self::FocusRight,
        Self::FocusUp,
        Self::FocusDown,
        Self::FocusNext,
        Self::FocusPrev,
        Self::FocusClaude,
        Self::FocusLogs,
        Self::FocusGpu,
        Self::FocusSystem,
        Self::Zoom,
        Self::ResizeLeft,
        Self::ResizeRight,
        Self::ResizeUp,
        Self::ResizeDown,
        Self::ScrollMode,
        Self::ScrollUp,
        Self::ScrollDown,
        Self::PageUp,
        Self::PageDown,
        Self::Top,
        Self::Bottom,
        Self::Search,
        Self::Filter,
        Self::SearchNext,
        Self::SearchPrev,
        Self::ClearSearch,
        Self::Wrap,
        Self::Copy,
        Self::ThemeNext,
        Self::FailureDetails,
        Self::RestartClaude,
        Self::RestartServer,
        Self::StopServer,
        Self::KeepWaiting,
        Self::Cancel,
    ];

    /// The name used in keymap files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Picker => "picker",
            Self::Help => "help",
            Self::Quit => "quit",
            Self::Lock => "lock",
            Self::SendPrefix => "send-prefix",
            Self::FocusLeft => "focus-left",
            Self::FocusRight => "focus-right",
            Self::FocusUp => "focus-up",
            Self::FocusDown => "focus-down",
            Self::FocusNext => "focus-next",
            Self::FocusPrev => "focus-prev",
            Self::FocusClaude => "focus-claude",
            Self::FocusLogs => "focus-logs",
            Self::FocusGpu => "focus-gpu",
            Self::FocusSystem => "focus-system",
            Self::Zoom => "zoom",
            Self::ResizeLeft => "resize-left",
            Self::ResizeRight => "resize-right",
            Self::ResizeUp => "resize-up",
            Self::ResizeDown => "resize-down",
            Self::ScrollMode => "scroll-mode",
            Self::ScrollUp => "scroll-up",
            Self::ScrollDown => "scroll-down",
            Self::PageUp => "page-up",
            Self::PageDown => "page-down",
            Self::Top => "top",
            Self::Bottom => "bottom",
            Self::Search => "search",
            Self::Filter => "filter",
            Self::SearchNext => "search-next",
            Self::SearchPrev => "search-prev",
            Self::ClearSearch => "clear-search",
            Self::Wrap => "wrap",
            Self::Copy => "copy",
            Self::ThemeNext => "theme-next",
            Self::FailureDetails => "failure-details",
            Self::RestartClaude => "restart-claude",
            Self::RestartServer => "restart-server",
            Self::StopServer => "stop-server",
            Self::KeepWaiting => "keep-waiting",
            Self::Cancel => "cancel",
        }
    }

    /// What it does, for the help overlay and the docs.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Picker => "switch model (picker)",
            Self::Help => "this help",
            Self::Quit => "quit (asks first)",
            Self::Lock => "lock: all keys go to claude",
            Self::SendPrefix => "send the prefix key to claude",
            Self::FocusLeft => "focus the pane to the left",
            Self::FocusRight => "focus the pane to the right",
            Self::FocusUp => "focus the pane above",
            Self::FocusDown => "focus the pane below",
            Self::FocusNext => "focus the next pane",
            Self::FocusPrev => "focus the previous pane",
            Self::FocusClaude => "focus claude",
            Self::FocusLogs => "focus the server log",
            Self::FocusGpu => "focus the GPU panel",
            Self::FocusSystem => "focus the system panel",
            Self::Zoom => "zoom the focused pane / back",
            Self::ResizeLeft => "move the split left",
            Self::ResizeRight => "move the split right",
            Self::ResizeUp => "move the split up",
            Self::ResizeDown => "move the split down",
            Self::ScrollMode => "scroll mode (focused pane)",
            Self::ScrollUp => "scroll up a line",
            Self::ScrollDown => "scroll down a line",
            Self::PageUp => "scroll up a page",
            Self::PageDown => "scroll down a page",
            Self::Top => "go to the top",
            Self::Bottom => "go to the end and follow",
            Self::Search => "search the log",
            Self::Filter => "show only matching lines",
            Self::SearchNext => "next match",
            Self::SearchPrev => "previous match",
            Self::ClearSearch => "clear search and filter",
            Self::Wrap => "wrap long lines / cut them",
            Self::Copy => "copy the lines shown",
            Self::ThemeNext => "next theme",
            Self::FailureDetails => "failure details",
            Self::RestartClaude => "restart claude's program",
            Self::RestartServer => "restart the server",
            Self::StopServer => "stop the server",
            Self::KeepWaiting => "keep waiting for a slow load",
            Self::Cancel => "leave this mode",
        }
    }

    pub fn from_name(name: &str) -> Option<KeyAction> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }
}

/// A key with its modifiers, compared in a normal form (see [`KeySpec::from_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySpec {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl KeySpec {
    pub const fn new(code: KeyCode, mods: KeyModifiers) -> Self {
        Self { code, mods }
    }

    /// The normal form of a key event, so that the spec `ctrl-\` matches what every
    /// terminal sends:
    /// - a character carries its own shift (`N`, `%`), so SHIFT is dropped for characters;
    /// - a legacy terminal sends Ctrl+\ as 0x1c, which crossterm reports as Ctrl+4 (and
    ///   Ctrl+] as Ctrl+5, Ctrl+^ as Ctrl+6, Ctrl+_ as Ctrl+7);
    /// - Shift+Tab arrives as BackTab, with or without SHIFT.
    pub fn from_event(key: &KeyEvent) -> KeySpec {
        let mut mods =
            key.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let mut code = key.code;
        match code {
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                if mods.contains(KeyModifiers::CONTROL) {
                    code = KeyCode::Char(match c {
                        '4' => '\\',
                        '5' => ']',
                        '6' => '^',
                        '7' => '_',
                        c => c.to_ascii_lowercase(),
                    });
                }
            }
            KeyCode::BackTab => mods.remove(KeyModifiers::SHIFT),
            _ => {}
        }
        KeySpec { code, mods }
    }

    pub fn matches(&self, key: &KeyEvent) -> bool {
        Self::from_event(key) == *self
    }

    /// Parses `ctrl-b`, `alt-x`, `shift-up`, `f12`, `pgup`, `%`, `N`, `ctrl-\`, `space`.
    pub fn parse(text: &str) -> Result<KeySpec, String> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            let lower = rest.to_ascii_lowercase();
            let (m, len) = if lower.starts_with("ctrl-") {
                (KeyModifiers::CONTROL, 5)
            } else if lower.starts_with("alt-") {
                (KeyModifiers::ALT, 4)
            } else if lower.starts_with("shift-") {
                (KeyModifiers::SHIFT, 6)
            } else {
                break;
            };
            // A lone "-" after a modifier is the minus key itself (`ctrl--`).
            if rest.len() == len {
                break;
            }
            mods |= m;
            rest = &rest[len..];
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (None, _) => return Err(format!("`{text}` names no key")),
            (Some(c), None) => KeyCode::Char(c),
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "space" => KeyCode::Char(' '),
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" | "ins" => KeyCode::Insert,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pgup" | "pageup" => KeyCode::PageUp,
                "pgdn" | "pagedown" => KeyCode::PageDown,
                "minus" => KeyCode::Char('-'),
                f if f.starts_with('f')
                    && f[1..].parse::<u8>().is_ok_and(|n| (1..=24).contains(&n)) =>
                {
                    KeyCode::F(f[1..].parse().unwrap_or(1))
                }
                _ => {
                    return Err(format!(
                        "`{text}` is not a key (write e.g. `ctrl-b`, `alt-x`, `f12`, `pgup`, `enter`, `%`)"
                    ));
                }
            },
        };
        // Shift+Tab is BackTab; a shifted letter is its capital.
        let event = KeyEvent::new(
            if code == KeyCode::Tab && mods.contains(KeyModifiers::SHIFT) {
                KeyCode::BackTab
            } else if let (KeyCode::Char(c), true) = (code, mods.contains(KeyModifiers::SHIFT)) {
                KeyCode::Char(c.to_ascii_uppercase())
            } else {
                code
            },
            mods,
        );
        Ok(Self::from_event(&event))
    }

    /// How the help and the status bar write it: `Ctrl+\`, `F12`, `PgUp`, `N`.
    pub fn label(&self) -> String {
        let mut out = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            out.push_str("Ctrl+");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            out.push_str("Alt+");
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            out.push_str("Shift+");
        }
        match self.code {
            KeyCode::Char(' ') => out.push_str("Space"),
            KeyCode::Char(c) => out.push(c),
            KeyCode::Enter => out.push_str("Enter"),
            KeyCode::Esc => out.push_str("Esc"),
            KeyCode::Tab => out.push_str("Tab"),
            KeyCode::BackTab => out.push_str("Shift+Tab"),
            KeyCode::Backspace => out.push_str("Backspace"),
            KeyCode::Delete => out.push_str("Del"),
            KeyCode::Insert => out.push_str("Ins"),
            KeyCode::Up => out.push('↑'),
            KeyCode::Down => out.push('↓'),
            KeyCode::Left => out.push('←'),
            KeyCode::Right => out.push('→'),
            KeyCode::Home => out.push_str("Home"),
            KeyCode::End => out.push_str("End"),
            KeyCode::PageUp => out.push_str("PgUp"),
            KeyCode::PageDown => out.push_str("PgDn"),
            KeyCode::F(n) => out.push_str(&format!("F{n}")),
            other => out.push_str(&format!("{other:?}")),
        }
        out
    }
}

/// The tables of a keymap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Prefix,
    Panes,
    Logs,
    Scroll,
}

impl Section {
    pub const ALL: [Section; 4] = [Self::Prefix, Self::Panes, Self::Logs, Self::Scroll];

    pub fn name(self) -> &'static str {
        match self {
            Self::Prefix => "prefix",
            Self::Panes => "panes",
            Self::Logs => "logs",
            Self::Scroll => "scroll",
        }
    }

    fn from_name(name: &str) -> Option<Section> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    /// The preset name, or the file, for the help title.
    pub name: String,
    pub prefix: KeySpec,
    pub lock: KeySpec,
    prefix_keys: Vec<(KeySpec, KeyAction)>,
    pane_keys: Vec<(KeySpec, KeyAction)>,
    log_keys: Vec<(KeySpec, KeyAction)>,
    scroll_keys: Vec<(KeySpec, KeyAction)>,
}

/// The built-in keymaps, shipped in `keymaps/`.
pub const PRESETS: &[(&str, &str)] = &[
    ("default", include_str!("../../keymaps/default.toml")),
    ("tmux", include_str!("../../keymaps/tmux.toml")),
];

impl Keymap {
    fn table(&self, section: Section) -> &Vec<(KeySpec, KeyAction)> {
        match section {
            Section::Prefix => &self.prefix_keys,
            Section::Panes => &self.pane_keys,
            Section::Logs => &self.log_keys,
            Section::Scroll => &self.scroll_keys,
        }
    }

    fn table_mut(&mut self, section: Section) -> &mut Vec<(KeySpec, KeyAction)> {
        match section {
            Section::Prefix => &mut self.prefix_keys,
            Section::Panes => &mut self.pane_keys,
            Section::Logs => &mut self.log_keys,
            Section::Scroll => &mut self.scroll_keys,
        }
    }

    /// The action `key` has in `section`.
    pub fn lookup(&self, section: Section, key: &KeyEvent) -> Option<KeyAction> {
        let spec = KeySpec::from_event(key);
        self.table(section)
            .iter()
            .find(|(k, _)| *k == spec)
            .map(|(_, a)| *a)
    }

    /// The bindings of a table, grouped by action in the order of [`KeyAction::ALL`].
    pub fn bindings(&self, section: Section) -> Vec<(KeyAction, Vec<KeySpec>)> {
        let table = self.table(section);
        KeyAction::ALL
            .iter()
            .filter_map(|&action| {
                let keys: Vec<KeySpec> = table
                    .iter()
                    .filter(|(_, a)| *a == action)
                    .map(|(k, _)| *k)
                    .collect();
                (!keys.is_empty()).then_some((action, keys))
            })
            .collect()
    }

    /// The first key bound to `action` in `section`, for hints.
    pub fn key_for(&self, section: Section, action: KeyAction) -> Option<KeySpec> {
        self.table(section)
            .iter()
            .find(|(_, a)| *a == action)
            .map(|(k, _)| *k)
    }

    /// A built-in preset. Panics only if a shipped preset is broken, which a unit test
    /// rules out.
    pub fn preset(name: &str) -> Option<Keymap> {
        let (_, text) = PRESETS.iter().find(|(n, _)| *n == name)?;
        let path = PathBuf::from(format!("keymaps/{name}.toml"));
        let mut out = Vec::new();
        let keymap = parse_layer(None, &path, text, &mut out)?;
        debug_assert!(out.is_empty(), "built-in keymap {name}: {out:?}");
        Some(Keymap {
            name: name.to_string(),
            ..keymap
        })
    }

    pub fn builtin_default() -> Keymap {
        Self::preset("default").expect("the default keymap is built in")
    }
}

/// The keymap `ui.keymap` names, and what was wrong with it. On any error the built-in
/// default preset is used (the diagnostics say so), so a broken file never locks a user
/// out of the workspace.
pub fn load(value: &str) -> (Keymap, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let keymap = match Spec::parse(value) {
        Spec::Preset(name) => Keymap::preset(&name).or_else(|| {
            out.push(unknown_preset(&name));
            None
        }),
        Spec::File(path) => match layered::read(&path) {
            Ok(text) => load_file(&path, &text, &mut out),
            Err(d) => {
                out.push(d);
                None
            }
        },
    };
    match keymap {
        Some(k) if !out.iter().any(Diagnostic::is_error) => (k, out),
        _ => (Keymap::builtin_default(), out),
    }
}

/// Only the diagnostics (for `llws check`).
pub fn diagnostics(value: &str) -> Vec<Diagnostic> {
    load(value).1
}

fn unknown_preset(name: &str) -> Diagnostic {
    let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
    Diagnostic::error(
        Path::new("ui.keymap"),
        None,
        format!("no built-in keymap named `{name}`"),
    )
    .with_fix(format!(
        "use one of {} or a path to a .toml file",
        names.join(", ")
    ))
}

fn load_file(path: &Path, text: &str, out: &mut Vec<Diagnostic>) -> Option<Keymap> {
    let doc = match Document::parse(path, text) {
        Ok(doc) => doc,
        Err(d) => {
            out.push(d);
            return None;
        }
    };
    let base_name = doc.string("preset", out);
    let base = match &base_name {
        Some(name) => match Keymap::preset(name.get_ref()) {
            Some(k) => k,
            None => {
                out.push(
                    doc.error(
                        name.span(),
                        format!("no built-in keymap named `{}`", name.get_ref()),
                    )
                    .with_fix("use \"default\" or \"tmux\""),
                );
                return None;
            }
        },
        None => Keymap::builtin_default(),
    };
    let mut keymap = apply(Some(base), &doc, out)?;
    keymap.name = path.display().to_string();
    Some(keymap)
}

fn parse_layer(
    base: Option<Keymap>,
    path: &Path,
    text: &str,
    out: &mut Vec<Diagnostic>,
) -> Option<Keymap> {
    match Document::parse(path, text) {
        Ok(doc) => apply(base, &doc, out),
        Err(d) => {
            out.push(d);
            None
        }
    }
}

/// Applies a document's chords and tables over `base` (or over nothing, for a preset).
fn apply(base: Option<Keymap>, doc: &Document<'_>, out: &mut Vec<Diagnostic>) -> Option<Keymap> {
    let errors_before = out.iter().filter(|d| d.is_error()).count();
    let chord = |key: &str, out: &mut Vec<Diagnostic>| -> Option<KeySpec> {
        let value = doc.string(key, out)?;
        match KeySpec::parse(value.get_ref()) {
            Ok(spec) => Some(spec),
            Err(e) => {
                out.push(doc.error(value.span(), format!("`{key}`: {e}")));
                None
            }
        }
    };
    let prefix = chord("prefix_key", out);
    let lock = chord("lock_key", out);
    let mut keymap = match base {
        Some(mut k) => {
            if let Some(p) = prefix {
                k.prefix = p;
            }
            if let Some(l) = lock {
                k.lock = l;
            }
            k
        }
        None => Keymap {
            name: String::new(),
            prefix: prefix.unwrap_or(KeySpec::new(KeyCode::Char('\\'), KeyModifiers::CONTROL)),
            lock: lock.unwrap_or(KeySpec::new(KeyCode::F(12), KeyModifiers::NONE)),
            prefix_keys: Vec::new(),
            pane_keys: Vec::new(),
            log_keys: Vec::new(),
            scroll_keys: Vec::new(),
        },
    };
    for (key, key_span, value, value_span) in doc.entries(&doc.table) {
        match key {
            "preset" | "prefix_key" | "lock_key" => {}
            _ => match (Section::from_name(key), value) {
                (Some(section), DeValue::Table(table)) => {
                    for (k, k_span, v, v_span) in doc.entries(table) {
                        bind(&mut keymap, section, doc, (k, k_span), (v, v_span), out);
                    }
                }
                (Some(_), _) => out.push(doc.error(value_span, format!("`{key}` must be a table of \"key\" = \"action\""))),
                (None, _) => out.push(
                    doc.error(key_span, format!("unknown key or table `{key}`"))
                        .with_fix("a keymap has preset, prefix_key, lock_key, [prefix], [panes], [logs] and [scroll]"),
                ),
            },
        }
    }
    if keymap.prefix == keymap.lock {
        out.push(Diagnostic::error(
            doc.path,
            None,
            "`prefix_key` and `lock_key` are the same key; the lock could never be left",
        ));
    }
    let errors_after = out.iter().filter(|d| d.is_error()).count();
    (errors_after == errors_before).then_some(keymap)
}

fn bind(
    keymap: &mut Keymap,
    section: Section,
    doc: &Document<'_>,
    (key, key_span): (&str, std::ops::Range<usize>),
    (value, value_span): (&DeValue<'_>, std::ops::Range<usize>),
    out: &mut Vec<Diagnostic>,
) {
    let spec = match KeySpec::parse(key) {
        Ok(spec) => spec,
        Err(e) => {
            out.push(doc.error(key_span, format!("[{}]: {e}", section.name())));
            return;
        }
    };
    let Some(name) = value.as_str() else {
        out.push(doc.error(
            value_span,
            format!(
                "[{}] \"{key}\": the action must be a string",
                section.name()
            ),
        ));
        return;
    };
    let action = if name == "none" {
        None
    } else {
        match KeyAction::from_name(name) {
            Some(a) => Some(a),
            None => {
                out.push(
                    doc.error(
                        value_span,
                        format!("[{}] \"{key}\": unknown action `{name}`", section.name()),
                    )
                    .with_fix("see docs/workspace.md for the actions, or use \"none\" to unbind"),
                );
                return;
            }
        }
    };
    let table = keymap.table_mut(section);
    table.retain(|(k, _)| *k != spec);
    if let Some(action) = action {
        table.push((spec, action));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn presets_parse_without_diagnostics() {
        for (name, text) in PRESETS {
            let mut out = Vec::new();
            let k = parse_layer(None, Path::new(name), text, &mut out);
            assert!(out.is_empty(), "{name}: {out:?}");
            let k = k.unwrap();
            assert!(
                k.lookup(
                    Section::Prefix,
                    &key(KeyCode::Char('m'), KeyModifiers::NONE)
                )
                .is_some()
            );
        }
    }

    #[test]
    fn key_specs_match_what_terminals_send() {
        let prefix = KeySpec::parse("ctrl-\\").unwrap();
        assert!(
            prefix.matches(&key(KeyCode::Char('4'), KeyModifiers::CONTROL)),
            "legacy 0x1c"
        );
        assert!(
            prefix.matches(&key(KeyCode::Char('\\'), KeyModifiers::CONTROL)),
            "kitty"
        );
        assert_eq!(prefix.label(), "Ctrl+\\");
        let n = KeySpec::parse("N").unwrap();
        assert!(n.matches(&key(KeyCode::Char('N'), KeyModifiers::SHIFT)));
        assert!(!n.matches(&key(KeyCode::Char('n'), KeyModifiers::NONE)));
        assert_eq!(KeySpec::parse("shift-n").unwrap(), n);
        let pct = KeySpec::parse("%").unwrap();
        assert!(pct.matches(&key(KeyCode::Char('%'), KeyModifiers::SHIFT)));
        assert!(
            KeySpec::parse("shift-tab")
                .unwrap()
                .matches(&key(KeyCode::BackTab, KeyModifiers::SHIFT))
        );
        assert_eq!(KeySpec::parse("f12").unwrap().code, KeyCode::F(12));
        assert_eq!(KeySpec::parse("ctrl--").unwrap().code, KeyCode::Char('-'));
        assert!(
            KeySpec::parse("ctrl-B")
                .unwrap()
                .matches(&key(KeyCode::Char('b'), KeyModifiers::CONTROL))
        );
        assert!(KeySpec::parse("hyper-x").is_err());
        assert!(KeySpec::parse("").is_err());
    }

    #[test]
    fn a_user_file_changes_one_key_of_its_preset() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.toml");
        std::fs::write(
            &file,
            "preset = \"tmux\"\n[prefix]\n\"m\" = \"none\"\n\"s\" = \"picker\"\n",
        )
        .unwrap();
        let (k, diags) = load(file.to_str().unwrap());
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(k.prefix, KeySpec::parse("ctrl-b").unwrap());
        assert_eq!(
            k.lookup(
                Section::Prefix,
                &key(KeyCode::Char('m'), KeyModifiers::NONE)
            ),
            None
        );
        assert_eq!(
            k.lookup(
                Section::Prefix,
                &key(KeyCode::Char('s'), KeyModifiers::NONE)
            ),
            Some(KeyAction::Picker)
        );
        assert_eq!(
            k.lookup(
                Section::Prefix,
                &key(KeyCode::Char('z'), KeyModifiers::NONE)
            ),
            Some(KeyAction::Zoom)
        );
    }

    #[test]
    fn a_broken_file_falls_back_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(
            &file,
            "preset = \"default\"\n[prefix]\n\"m\" = \"explode\"\n\"hyper-q\" = \"quit\"\n",
        )
        .unwrap();
        let (k, diags) = load(file.to_str().unwrap());
        assert_eq!(k, Keymap::builtin_default());
        let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|d| d.contains("bad.toml:3") && d.contains("unknown action `explode`")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|d| d.contains("bad.toml:4") && d.contains("hyper-q")),
            "{text:?}"
        );

        std::fs::write(&file, "[prefix\n").unwrap();
        let diags = diagnostics(file.to_str().unwrap());
        assert!(diags[0].to_string().contains("bad.toml:1"), "{diags:?}");
        std::fs::write(&file, "prefix_key = \"f12\"\n").unwrap();
        assert!(
            diagnostics(file.to_str().unwrap())[0]
                .message
                .contains("same key")
        );
        assert!(
            diagnostics("emacs")[0]
                .message
                .contains("no built-in keymap")
        );
        assert!(
            diagnostics(dir.path().join("nope.toml").to_str().unwrap())[0]
                .message
                .contains("cannot read")
        );
    }
}
