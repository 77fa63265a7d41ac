//! Keymaps: which key does what in the workspace, as TOML. `ui.keymap` names a built-in
//! preset or a file layered over one. The actions themselves (name, description, default
//! keys, handler) are one table that the UI declares (`ui::commands`): this module only
//! knows them through the [`Action`] trait, so config imports nothing above it. The
//! `default` preset is that table's default keys; `tmux` is a file in `keymaps/`, built
//! into the binary, over the table's defaults for the overlays' keys.
//!
//! A file has two chords and nine tables:
//! ```toml
//! preset = "default"    # user files only: the preset this file changes
//! prefix_key = "ctrl-\\" # opens llws's commands, even while the claude pane has focus
//! lock_key = "f12"      # LOCKED: every key (the prefix too) goes to the claude pane
//! [prefix]              # one key after the prefix
//! "m" = "picker"
//! [panes]               # plain keys while the logs, GPU or system pane has focus
//! [logs]                # plain keys in the log pane (before [panes])
//! [scroll]              # scroll mode in the log (the prefix's `[`)
//! [copy]                # copy mode in the claude pane (the prefix's `[`, the wheel)
//! [picker]              # in the model picker (digits pick a row as they are)
//! [dialog]              # in the help and the failure details
//! [confirm]             # in the quit question
//! [prompt]              # while typing a log search or filter (text is typed as it is)
//! ```
//! `"key" = "none"` removes a binding of the preset.

use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use toml::de::DeValue;

use super::diag::Diagnostic;
use super::layered::{self, Document, Layered};

/// What a key can be bound to: one row of the UI's command table per action.
pub trait Action: Copy + Eq + std::fmt::Debug + 'static {
    /// Every action, in the order the help and the docs list them.
    const ALL: &'static [Self];
    /// The prefix and lock keys of the default preset.
    const PREFIX_KEY: &'static str;
    const LOCK_KEY: &'static str;
    /// The name used in keymap files.
    fn name(self) -> &'static str;
    /// What it does, for the help overlay and the docs.
    fn describe(self) -> &'static str;
    /// Its keys in the default preset, by table, first key first (hints show the first).
    fn defaults(self) -> &'static [(Section, &'static [&'static str])];

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }
}

/// Why a key name in a keymap file names no key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    #[error("`{0}` names no key")]
    Empty(String),
    #[error("`{0}` is not a key (write e.g. `ctrl-b`, `alt-x`, `f12`, `pgup`, `enter`, `%`)")]
    Unknown(String),
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
    pub fn parse(text: &str) -> Result<KeySpec, KeyParseError> {
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
            (None, _) => return Err(KeyParseError::Empty(text.to_string())),
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
                _ => return Err(KeyParseError::Unknown(text.to_string())),
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
    Copy,
    Picker,
    Dialog,
    Confirm,
    Prompt,
}

impl Section {
    pub const ALL: [Section; 9] = [
        Self::Prefix,
        Self::Panes,
        Self::Logs,
        Self::Scroll,
        Self::Copy,
        Self::Picker,
        Self::Dialog,
        Self::Confirm,
        Self::Prompt,
    ];
    /// The tables a preset file that leaves them out gets the defaults of: the overlays'
    /// and copy mode's.
    pub const OVERLAYS: [Section; 5] = [
        Self::Copy,
        Self::Picker,
        Self::Dialog,
        Self::Confirm,
        Self::Prompt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Prefix => "prefix",
            Self::Panes => "panes",
            Self::Logs => "logs",
            Self::Scroll => "scroll",
            Self::Copy => "copy",
            Self::Picker => "picker",
            Self::Dialog => "dialog",
            Self::Confirm => "confirm",
            Self::Prompt => "prompt",
        }
    }

    fn from_name(name: &str) -> Option<Section> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Keymap<A> {
    /// The preset name, or the file, for the help title.
    pub name: String,
    pub prefix: KeySpec,
    pub lock: KeySpec,
    /// One table per [`Section`], in binding order.
    tables: [Vec<(KeySpec, A)>; Section::ALL.len()],
}

/// The keymaps shipped as files in `keymaps/`, built into the binary (`default` is the
/// command table's own keys).
pub const PRESET_FILES: &[(&str, &str)] = &[("tmux", include_str!("../../keymaps/tmux.toml"))];

/// Every preset's name.
pub fn preset_names() -> impl Iterator<Item = &'static str> {
    std::iter::once("default").chain(PRESET_FILES.iter().map(|(n, _)| *n))
}

impl<A: Action> Keymap<A> {
    fn table(&self, section: Section) -> &Vec<(KeySpec, A)> {
        &self.tables[section.index()]
    }

    fn table_mut(&mut self, section: Section) -> &mut Vec<(KeySpec, A)> {
        &mut self.tables[section.index()]
    }

    /// The action `key` has in `section`.
    pub fn lookup(&self, section: Section, key: &KeyEvent) -> Option<A> {
        let spec = KeySpec::from_event(key);
        self.table(section)
            .iter()
            .find(|(k, _)| *k == spec)
            .map(|(_, a)| *a)
    }

    /// The bindings of a table, grouped by action in the order of [`Action::ALL`].
    pub fn bindings(&self, section: Section) -> Vec<(A, Vec<KeySpec>)> {
        let table = self.table(section);
        A::ALL
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

    /// The first key bound to `action` in `section` that reaches it, for hints. In the
    /// panes and scroll mode the prefix and the lock key are taken before the table is
    /// looked at (tmux's scroll table binds Ctrl+B, its prefix), so they are skipped there.
    pub fn key_for(&self, section: Section, action: A) -> Option<KeySpec> {
        let shadowed = matches!(
            section,
            Section::Panes | Section::Logs | Section::Scroll | Section::Copy
        );
        self.table(section)
            .iter()
            .filter(|(k, _)| !(shadowed && (*k == self.prefix || *k == self.lock)))
            .find(|(_, a)| *a == action)
            .map(|(k, _)| *k)
    }

    /// The label of the first key bound to `action` in `section`, or "" (for hints that
    /// must say something even when a user file unbound the key).
    pub fn label(&self, section: Section, action: A) -> String {
        self.key_for(section, action)
            .map(|k| k.label())
            .unwrap_or_default()
    }

    /// The command table's default keys for `sections`, with the default chords. Panics
    /// only if the table names a key that does not parse, which a unit test rules out.
    fn from_defaults(sections: &[Section]) -> Keymap<A> {
        let parse = |k: &str| KeySpec::parse(k).expect("the command table's keys parse");
        let mut keymap = Keymap {
            name: "default".to_string(),
            prefix: parse(A::PREFIX_KEY),
            lock: parse(A::LOCK_KEY),
            tables: Default::default(),
        };
        for &action in A::ALL {
            for (section, keys) in action.defaults() {
                if sections.contains(section) {
                    for key in *keys {
                        keymap.table_mut(*section).push((parse(key), action));
                    }
                }
            }
        }
        keymap
    }

    /// A built-in preset. Panics only if a shipped preset is broken, which a unit test
    /// rules out.
    pub fn preset(name: &str) -> Option<Keymap<A>> {
        if name == "default" {
            return Some(Self::from_defaults(&Section::ALL));
        }
        let (_, text) = PRESET_FILES.iter().find(|(n, _)| *n == name)?;
        let path = PathBuf::from(format!("keymaps/{name}.toml"));
        let mut out = Vec::new();
        // A preset file sets its own main tables; the overlays keep the defaults unless
        // it names them.
        let base = Self::from_defaults(&Section::OVERLAYS);
        let keymap = parse_layer(Some(base), &path, text, &mut out)?;
        debug_assert!(out.is_empty(), "built-in keymap {name}: {out:?}");
        Some(Keymap {
            name: name.to_string(),
            ..keymap
        })
    }

    pub fn builtin_default() -> Keymap<A> {
        Self::preset("default").expect("the default keymap is built in")
    }
}

impl<A: Action> Layered for Keymap<A> {
    const KIND: &'static str = "keymap";
    const SETTING: &'static str = "ui.keymap";

    fn preset_names() -> Vec<&'static str> {
        preset_names().collect()
    }

    fn preset(name: &str) -> Option<Self> {
        Keymap::preset(name)
    }

    fn builtin_default() -> Self {
        Keymap::builtin_default()
    }

    fn apply(base: Self, doc: &Document<'_>, out: &mut Vec<Diagnostic>) -> Option<Self> {
        apply(Some(base), doc, out)
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }
}

/// The keymap `ui.keymap` names, and what was wrong with it (see `layered::load`).
pub fn load<A: Action>(value: &str) -> (Keymap<A>, Vec<Diagnostic>) {
    layered::load(value)
}

/// Only the diagnostics (for `llws check`).
pub fn diagnostics<A: Action>(value: &str) -> Vec<Diagnostic> {
    load::<A>(value).1
}

fn parse_layer<A: Action>(
    base: Option<Keymap<A>>,
    path: &Path,
    text: &str,
    out: &mut Vec<Diagnostic>,
) -> Option<Keymap<A>> {
    match Document::parse(path, text) {
        Ok(doc) => apply(base, &doc, out),
        Err(d) => {
            out.push(d);
            None
        }
    }
}

/// Applies a document's chords and tables over `base` (or over nothing, for a preset).
fn apply<A: Action>(
    base: Option<Keymap<A>>,
    doc: &Document<'_>,
    out: &mut Vec<Diagnostic>,
) -> Option<Keymap<A>> {
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
            tables: Default::default(),
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
                        .with_fix("a keymap has preset, prefix_key, lock_key, [prefix], [panes], [logs], [scroll], [copy], [picker], [dialog], [confirm] and [prompt]"),
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

fn bind<A: Action>(
    keymap: &mut Keymap<A>,
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
        match A::from_name(name) {
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
}
