//! The workspace's commands: one table, one row per command, in the spirit of helix's
//! command table. A row is the command (the enum variant), its name in keymap files, what
//! it does (for the help and the docs), its keys in the default keymap by table, and its
//! handler. The `default` keymap preset is this table's keys; keymap files refer to
//! commands by name; [`KeyAction::run`] is the handler for a key in the panes, while an
//! open overlay (picker, help, dialog, prompt) looks its key up in its own table and acts
//! on the command itself (see `App::overlay_key`).
//!
//! Why these default keys: the prefix is Ctrl+\ because Claude Code, which runs in the
//! main pane, uses Ctrl+B, O, T, R, G and J, Esc, Shift+Tab and Shift+Enter, and shells use
//! most other Ctrl keys; Ctrl+\ (SIGQUIT in a cooked terminal) is almost never typed on
//! purpose. Press it twice to send it to the claude pane. F12 locks the workspace: every
//! key, the prefix included, then goes to claude until F12 is pressed again (the one way
//! out).
//!
//! Within a table, a command's keys are listed in the order hints take the first of. The
//! four main tables list them by key name, the order they had when the default keymap was
//! a TOML file, so the status bar and the help read as they did.
//!
//! To add a command: add a row (a variant, a name, a description, default keys, a
//! handler); the keymap parser, the help overlay, the docs' key tables (held to the code
//! by a test) and `llws check` pick it up from here.

use crossterm::event::KeyEvent;

use crate::config::keymap::{self, Action, Section};
use crate::ui::action::{Effect, Request};
use crate::ui::app::{App, Overlay};
use crate::ui::keys::Mode;
use crate::ui::layout::PaneId;
use crate::ui::panes::logs::Prompt;
use crate::ui::status_bar::Level;
use crate::ui::view::View;

/// The workspace's keymap: keys bound to this table's commands.
pub type Keymap = keymap::Keymap<KeyAction>;

/// A command's handler for a key in the panes: changes the app, may ask for effects.
type Handler = fn(&mut App, &View<'_>) -> Vec<Effect>;

/// Overlay commands do nothing in the panes: their overlay acts on them.
fn in_overlays(_: &mut App, _: &View<'_>) -> Vec<Effect> {
    Vec::new()
}

/// Copy mode's commands do nothing in the panes: copy mode acts on them
/// (`App::copy_key`).
fn in_copy_mode(_: &mut App, _: &View<'_>) -> Vec<Effect> {
    Vec::new()
}

impl KeyAction {
    /// Commands that read or move the server log in the log pane: they have nothing to do
    /// while the pane shows the router's activity instead.
    pub fn reads_the_log(self) -> bool {
        use KeyAction::*;
        matches!(
            self,
            ScrollMode
                | ScrollUp
                | ScrollDown
                | PageUp
                | PageDown
                | Top
                | Bottom
                | Search
                | Filter
                | SearchNext
                | SearchPrev
                | ClearSearch
                | Wrap
                | Copy
        )
    }
}

/// Runs a handler that asks for nothing.
fn quiet(app: &mut App, f: impl FnOnce(&mut App)) -> Vec<Effect> {
    f(app);
    Vec::new()
}

macro_rules! commands {
    ($(
        $variant:ident $name:literal $doc:literal
        [$($section:ident: $($key:literal)*),* $(,)?]
        $run:expr;
    )*) => {
        /// A command a key can be bound to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum KeyAction {
            $($variant,)*
        }

        impl Action for KeyAction {
            const ALL: &'static [KeyAction] = &[$(KeyAction::$variant,)*];
            const PREFIX_KEY: &'static str = "ctrl-\\";
            const LOCK_KEY: &'static str = "f12";

            fn name(self) -> &'static str {
                match self {
                    $(KeyAction::$variant => $name,)*
                }
            }

            fn describe(self) -> &'static str {
                match self {
                    $(KeyAction::$variant => $doc,)*
                }
            }

            fn defaults(self) -> &'static [(Section, &'static [&'static str])] {
                match self {
                    $(KeyAction::$variant => &[$((Section::$section, &[$($key),*])),*],)*
                }
            }
        }

        impl KeyAction {
            /// The command's handler for a key in the panes.
            pub fn run(self, app: &mut App, view: &View<'_>) -> Vec<Effect> {
                let handler: Handler = match self {
                    $(KeyAction::$variant => $run,)*
                };
                handler(app, view)
            }
        }
    };
}

commands! {
    Picker "picker" "switch model (picker)"
        [Prefix: "m" "r", Panes: "m" "r"]
        |app, view| app.open_picker(view, false);
    Help "help" "this help"
        [Prefix: "?", Panes: "?"]
        |app, _| quiet(app, |a| a.overlay = Overlay::Help { scroll: 0 });
    Quit "quit" "quit (asks first)"
        [Prefix: "q", Panes: "q"]
        |app, _| quiet(app, |a| a.overlay = Overlay::ConfirmQuit);
    Lock "lock" "lock: all keys go to claude"
        []
        |app, view| app.toggle_lock(view.now_ms);
    SendPrefix "send-prefix" "send the prefix key to claude"
        [Prefix: "ctrl-\\"]
        |app, _| vec![Effect::ClaudeKey(KeyEvent::new(app.keymap.prefix.code, app.keymap.prefix.mods))];
    FocusLeft "focus-left" "focus the pane to the left"
        [Prefix: "h" "left", Panes: "alt-left" "left"]
        |app, _| quiet(app, |a| a.focus_dir(-1, 0));
    FocusRight "focus-right" "focus the pane to the right"
        [Prefix: "l" "right", Panes: "alt-right" "right"]
        |app, _| quiet(app, |a| a.focus_dir(1, 0));
    FocusUp "focus-up" "focus the pane above"
        [Prefix: "k" "up", Panes: "alt-up"]
        |app, _| quiet(app, |a| a.focus_dir(0, -1));
    FocusDown "focus-down" "focus the pane below"
        [Prefix: "down" "j", Panes: "alt-down"]
        |app, _| quiet(app, |a| a.focus_dir(0, 1));
    FocusNext "focus-next" "focus the next pane"
        [Prefix: "o" "tab", Panes: "tab"]
        |app, _| quiet(app, |a| a.focus_to(a.focus.next()));
    FocusPrev "focus-prev" "focus the previous pane"
        [Prefix: "backtab", Panes: "backtab"]
        |app, _| quiet(app, |a| a.focus_to(a.focus.prev()));
    FocusClaude "focus-claude" "focus claude"
        [Prefix: "1", Panes: "1" "i"]
        |app, _| quiet(app, |a| a.focus_to(PaneId::Claude));
    FocusLogs "focus-logs" "focus the server log"
        [Prefix: "2", Panes: "2"]
        |app, _| quiet(app, |a| a.focus_to(PaneId::Logs));
    FocusGpu "focus-gpu" "focus the GPU panel"
        [Prefix: "3", Panes: "3"]
        |app, _| quiet(app, |a| a.focus_to(PaneId::Gpu));
    FocusSystem "focus-system" "focus the system panel"
        [Prefix: "4", Panes: "4"]
        |app, _| quiet(app, |a| a.focus_to(PaneId::System));
    Zoom "zoom" "zoom the focused pane / back"
        [Prefix: "z", Panes: "z"]
        |app, _| quiet(app, |a| a.zoom = match a.zoom {
            Some(_) => None,
            None => Some(a.focus),
        });
    ResizeLeft "resize-left" "move the split left"
        [Prefix: "H", Panes: "H"]
        |app, _| app.resize(-1, 0);
    ResizeRight "resize-right" "move the split right"
        [Prefix: "L", Panes: "L"]
        |app, _| app.resize(1, 0);
    ResizeUp "resize-up" "move the split up"
        [Prefix: "K", Panes: "K"]
        |app, _| app.resize(0, -1);
    ResizeDown "resize-down" "move the split down"
        [Prefix: "J", Panes: "J"]
        |app, _| app.resize(0, 1);
    ScrollMode "scroll-mode" "copy mode (claude) / scroll mode (log)"
        [Prefix: "["]
        |app, view| {
            if app.focus == PaneId::Claude {
                return app.enter_copy_mode(view);
            }
            quiet(app, |a| {
                if matches!(a.focus, PaneId::Gpu | PaneId::System) {
                    a.focus_to(PaneId::Logs);
                }
                a.mode = Mode::Scroll;
            })
        };
    ScrollUp "scroll-up" "scroll up a line"
        [Logs: "k" "up", Scroll: "k" "up", Picker: "up" "k", Dialog: "up" "k"]
        |app, view| app.scroll_focused(KeyAction::ScrollUp, view);
    ScrollDown "scroll-down" "scroll down a line"
        [Logs: "down" "j", Scroll: "down" "j", Picker: "down" "j", Dialog: "down" "j"]
        |app, view| app.scroll_focused(KeyAction::ScrollDown, view);
    PageUp "page-up" "scroll up a page"
        [Logs: "pgup", Scroll: "ctrl-u" "pgup", Copy: "pgup" "ctrl-b", Picker: "pgup", Dialog: "pgup"]
        |app, view| app.scroll_focused(KeyAction::PageUp, view);
    PageDown "page-down" "scroll down a page"
        [Logs: "pgdn", Scroll: "ctrl-d" "pgdn", Copy: "pgdn" "ctrl-f", Picker: "pgdn", Dialog: "pgdn" "space"]
        |app, view| app.scroll_focused(KeyAction::PageDown, view);
    Top "top" "go to the top"
        [Logs: "g" "home", Scroll: "g" "home", Copy: "g", Picker: "home", Dialog: "home" "g"]
        |app, view| app.scroll_focused(KeyAction::Top, view);
    Bottom "bottom" "go to the end and follow"
        [Logs: "G" "end", Scroll: "G" "end", Copy: "G", Picker: "end", Dialog: "end" "G"]
        |app, view| app.scroll_focused(KeyAction::Bottom, view);
    Search "search" "search (down in copy mode)"
        [Prefix: "/", Logs: "/", Scroll: "/", Copy: "/"]
        |app, _| quiet(app, |a| a.start_prompt(Prompt::Search));
    Filter "filter" "show only matching lines"
        [Logs: "f"]
        |app, _| quiet(app, |a| a.start_prompt(Prompt::Filter));
    SearchBack "search-back" "search up"
        [Copy: "?"]
        in_copy_mode;
    SearchNext "search-next" "next match"
        [Logs: "n", Scroll: "n", Copy: "n"]
        |app, view| quiet(app, |a| a.search_again(true, view));
    SearchPrev "search-prev" "previous match"
        [Logs: "N", Scroll: "N", Copy: "N"]
        |app, view| quiet(app, |a| a.search_again(false, view));
    ClearSearch "clear-search" "clear search and filter"
        [Logs: "esc"]
        |app, _| quiet(app, |a| a.logs.clear());
    Wrap "wrap" "wrap long lines / cut them"
        [Logs: "w"]
        |app, view| quiet(app, |a| {
            a.logs.wrap = !a.logs.wrap;
            let how = if a.logs.wrap {
                "long log lines wrap"
            } else {
                "long log lines are cut at the edge"
            };
            a.say(Level::Info, how, Some(view.now_ms));
        });
    Activity "activity" "router activity / server log (log pane)"
        [Prefix: "a", Logs: "a"]
        |app, _| quiet(app, |a| {
            a.show_activity = !a.show_activity;
            if a.show_activity && a.zoom.is_none() {
                a.focus_to(PaneId::Logs);
            }
        });
    Hosts "hosts" "log, GPU and system panes: next host ([[remote]])"
        [Prefix: "n", Panes: "n"]
        |app, view| quiet(app, |a| {
            a.panels.cycle();
            let shown = a.panels.name().unwrap_or("this machine").to_string();
            let how = if a.panels.count() < 2 {
                "one host only: add a [[remote]] to llws.toml (docs/remote.md)".to_string()
            } else {
                format!("log, GPU and system panes: {shown}")
            };
            a.say(Level::Info, how, Some(view.now_ms));
        });
    Copy "copy" "copy the lines shown"
        [Logs: "y", Dialog: "y"]
        |app, view| app.copy_log(view);
    ThemeNext "theme-next" "next theme"
        [Prefix: "t", Panes: "t"]
        |app, view| app.theme_next(view.now_ms);
    FailureDetails "failure-details" "failure details"
        [Prefix: "e", Panes: "e"]
        |app, view| quiet(app, |a| {
            // A start a server llws did not start blocked: its question again.
            a.overlay = if view.server.foreign.is_some() {
                Overlay::Foreign
            } else {
                Overlay::Failure { scroll: 0 }
            }
        });
    RestartClaude "restart-claude" "restart claude's program"
        [Prefix: "c"]
        |_, _| vec![Effect::RestartClaude];
    RestartServer "restart-server" "restart the server"
        [Prefix: "R"]
        |_, _| vec![Effect::Control(Request::RestartServer)];
    StopServer "stop-server" "stop the server (asks first)"
        [Prefix: "S"]
        |app, view| app.ask_stop(view);
    KeepWaiting "keep-waiting" "keep waiting for a slow load"
        [Prefix: "w"]
        |_, _| vec![Effect::Control(Request::KeepWaiting)];
    CursorUp "cursor-up" "cursor up"
        [Copy: "k" "up"]
        in_copy_mode;
    CursorDown "cursor-down" "cursor down"
        [Copy: "j" "down"]
        in_copy_mode;
    CursorLeft "cursor-left" "cursor left"
        [Copy: "h" "left"]
        in_copy_mode;
    CursorRight "cursor-right" "cursor right"
        [Copy: "l" "right"]
        in_copy_mode;
    WordNext "word-next" "next word"
        [Copy: "w"]
        in_copy_mode;
    WordPrev "word-prev" "previous word"
        [Copy: "b"]
        in_copy_mode;
    LineStart "line-start" "start of the line"
        [Copy: "0" "home"]
        in_copy_mode;
    LineEnd "line-end" "end of the line"
        [Copy: "$" "end"]
        in_copy_mode;
    HalfPageUp "half-page-up" "up half a page"
        [Copy: "ctrl-u"]
        in_copy_mode;
    HalfPageDown "half-page-down" "down half a page"
        [Copy: "ctrl-d"]
        in_copy_mode;
    Select "select" "start (or drop) a selection"
        [Copy: "v" "space"]
        in_copy_mode;
    SelectLine "select-line" "select whole lines"
        [Copy: "V"]
        in_copy_mode;
    CopySelection "copy-selection" "copy the selection (or the line) and leave"
        [Copy: "enter" "y"]
        in_copy_mode;
    Cancel "cancel" "leave this mode"
        [Scroll: "esc" "q", Copy: "q" "esc", Picker: "esc" "q" "ctrl-c", Dialog: "esc" "q" "?" "enter",
         Confirm: "n" "esc" "N" "q", Prompt: "esc" "ctrl-c"]
        |app, _| {
            let back = app.mode == Mode::Scroll && app.focus == PaneId::Claude;
            app.mode = Mode::Normal;
            if back {
                vec![Effect::ClaudeScroll(crate::ui::action::Scroll::Bottom)]
            } else {
                Vec::new()
            }
        };
    Confirm "confirm" "yes: switch, quit, keep what was typed"
        [Picker: "enter", Confirm: "y" "Y" "enter", Prompt: "enter"]
        in_overlays;
    Replace "replace" "stop the server llws did not start, then start"
        [Confirm: "r" "R"]
        in_overlays;
    Adopt "adopt" "adopt the server llws did not start"
        [Confirm: "a" "A"]
        in_overlays;
    BenchPage "bench-page" "the benchmark profiles"
        [Picker: "b"]
        in_overlays;
    MainPage "main-page" "back to the main profiles"
        [Picker: "r"]
        in_overlays;
    ClearLine "clear-line" "clear what was typed"
        [Prompt: "ctrl-u"]
        in_overlays;
    DeleteBack "delete-back" "delete the last character"
        [Prompt: "backspace"]
        in_overlays;
    HistoryPrev "history-prev" "the query before (search)"
        [Prompt: "up"]
        in_overlays;
    HistoryNext "history-next" "the query after (search)"
        [Prompt: "down"]
        in_overlays;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keymap::{KeySpec, load};
    use crossterm::event::{KeyCode, KeyModifiers};
    use std::path::Path;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn every_default_key_parses_and_no_table_binds_a_key_twice() {
        let k = Keymap::builtin_default();
        for section in Section::ALL {
            let keys: Vec<KeySpec> = k
                .bindings(section)
                .into_iter()
                .flat_map(|(_, keys)| keys)
                .collect();
            for (i, spec) in keys.iter().enumerate() {
                assert!(
                    !keys[i + 1..].contains(spec),
                    "[{}] binds {} twice",
                    section.name(),
                    spec.label()
                );
            }
        }
        for name in keymap::preset_names() {
            let k = Keymap::preset(name).unwrap();
            assert!(
                k.lookup(
                    Section::Prefix,
                    &key(KeyCode::Char('m'), KeyModifiers::NONE)
                )
                .is_some(),
                "{name}"
            );
            // The overlays' keys are there in every preset.
            assert_eq!(
                k.lookup(
                    Section::Confirm,
                    &key(KeyCode::Char('y'), KeyModifiers::NONE)
                ),
                Some(KeyAction::Confirm),
                "{name}"
            );
        }
    }

    #[test]
    fn a_user_file_changes_one_key_of_its_preset() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys.toml");
        std::fs::write(
            &file,
            "preset = \"tmux\"\n[prefix]\n\"m\" = \"none\"\n\"s\" = \"picker\"\n[confirm]\n\"j\" = \"confirm\"\n",
        )
        .unwrap();
        let (k, diags) = load::<KeyAction>(file.to_str().unwrap());
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(k.prefix, KeySpec::parse("ctrl-b").unwrap());
        let prefix = |c| k.lookup(Section::Prefix, &key(KeyCode::Char(c), KeyModifiers::NONE));
        assert_eq!(prefix('m'), None);
        assert_eq!(prefix('s'), Some(KeyAction::Picker));
        assert_eq!(prefix('z'), Some(KeyAction::Zoom));
        let confirm = |c| k.lookup(Section::Confirm, &key(KeyCode::Char(c), KeyModifiers::NONE));
        assert_eq!(confirm('j'), Some(KeyAction::Confirm));
        assert_eq!(
            confirm('y'),
            Some(KeyAction::Confirm),
            "the rest of the table stays"
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
        let (k, diags) = load::<KeyAction>(file.to_str().unwrap());
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
        let diagnostics = |v: &str| keymap::diagnostics::<KeyAction>(v);
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
        let _ = Path::new("");
    }
}
