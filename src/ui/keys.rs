//! Where a key goes: through the live keymap and the mode. The claude pane gets every key
//! but the prefix and the lock key; after the prefix one key is a command (the prefix
//! again is sent through); locked, only the lock key is llws's. In copy mode the claude
//! pane's keys are the keymap's `[copy]` table.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

use crate::config::keymap::Section;
use crate::ui::commands::{KeyAction, Keymap};
use crate::ui::layout::PaneId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// The prefix was pressed: the next key is a command.
    Prefix,
    /// Every key goes to claude until the lock key.
    Locked,
    /// The keymap's `[scroll]` table scrolls the focused pane.
    Scroll,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A bound action.
    Action(KeyAction),
    /// A command of the `[copy]` table, for copy mode.
    Copy(KeyAction),
    /// The key goes to the claude pane as it is.
    Claude,
    /// The prefix key itself goes to the claude pane (prefix pressed twice).
    SendPrefix,
    EnterPrefix,
    ToggleLock,
    /// An open overlay or prompt takes the key.
    Overlay,
    /// Not bound here; `after_prefix` says whether a prefix was pending.
    Unbound {
        after_prefix: bool,
    },
    /// A key release or repeat we ignore.
    Ignore,
}

pub struct KeyContext {
    pub mode: Mode,
    pub focus: PaneId,
    /// An overlay (picker, help, dialog) or a search prompt is open.
    pub overlay: bool,
    /// The claude pane is in copy mode.
    pub copy: bool,
}

pub fn resolve(keymap: &Keymap, ctx: &KeyContext, key: &KeyEvent) -> Route {
    if key.kind == KeyEventKind::Release {
        return Route::Ignore;
    }
    if ctx.mode == Mode::Locked {
        return if keymap.lock.matches(key) {
            Route::ToggleLock
        } else {
            Route::Claude
        };
    }
    if ctx.overlay {
        return Route::Overlay;
    }
    if ctx.mode == Mode::Prefix {
        if keymap.prefix.matches(key) {
            return Route::SendPrefix;
        }
        if let Some(action) = keymap.lookup(Section::Prefix, key) {
            return Route::Action(action);
        }
        if key.code == KeyCode::Esc {
            return Route::Action(KeyAction::Cancel);
        }
        return Route::Unbound { after_prefix: true };
    }
    if keymap.lock.matches(key) {
        return Route::ToggleLock;
    }
    if keymap.prefix.matches(key) {
        return Route::EnterPrefix;
    }
    if ctx.mode == Mode::Scroll {
        return keymap
            .lookup(Section::Scroll, key)
            .map(Route::Action)
            .unwrap_or(Route::Unbound {
                after_prefix: false,
            });
    }
    match ctx.focus {
        PaneId::Claude if ctx.copy => keymap
            .lookup(Section::Copy, key)
            .map(Route::Copy)
            .unwrap_or(Route::Unbound {
                after_prefix: false,
            }),
        PaneId::Claude => Route::Claude,
        PaneId::Logs => keymap
            .lookup(Section::Logs, key)
            .or_else(|| keymap.lookup(Section::Panes, key))
            .map(Route::Action)
            .unwrap_or(Route::Unbound {
                after_prefix: false,
            }),
        PaneId::Gpu | PaneId::System => keymap
            .lookup(Section::Panes, key)
            .map(Route::Action)
            .unwrap_or(Route::Unbound {
                after_prefix: false,
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn k(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    fn ctx(mode: Mode, focus: PaneId) -> KeyContext {
        KeyContext {
            mode,
            focus,
            overlay: false,
            copy: false,
        }
    }

    #[test]
    fn claude_keys_reach_claude() {
        let km = Keymap::builtin_default();
        let c = ctx(Mode::Normal, PaneId::Claude);
        for code in ['b', 'o', 't', 'r', 'g', 'j', 'c'] {
            assert_eq!(
                resolve(&km, &c, &k(KeyCode::Char(code), KeyModifiers::CONTROL)),
                Route::Claude,
                "Ctrl+{code}"
            );
        }
        assert_eq!(
            resolve(&km, &c, &k(KeyCode::Esc, KeyModifiers::NONE)),
            Route::Claude
        );
        assert_eq!(
            resolve(&km, &c, &k(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Route::Claude
        );
        assert_eq!(
            resolve(&km, &c, &k(KeyCode::Enter, KeyModifiers::SHIFT)),
            Route::Claude
        );
        assert_eq!(
            resolve(&km, &c, &k(KeyCode::Char('q'), KeyModifiers::NONE)),
            Route::Claude
        );
        assert_eq!(
            resolve(&km, &c, &k(KeyCode::Char('4'), KeyModifiers::CONTROL)),
            Route::EnterPrefix
        );
    }

    #[test]
    fn prefix_twice_sends_it_and_lock_passes_everything() {
        let km = Keymap::builtin_default();
        let p = ctx(Mode::Prefix, PaneId::Claude);
        assert_eq!(
            resolve(&km, &p, &k(KeyCode::Char('\\'), KeyModifiers::CONTROL)),
            Route::SendPrefix
        );
        assert_eq!(
            resolve(&km, &p, &k(KeyCode::Char('m'), KeyModifiers::NONE)),
            Route::Action(KeyAction::Picker)
        );
        assert_eq!(
            resolve(&km, &p, &k(KeyCode::Char('y'), KeyModifiers::NONE)),
            Route::Unbound { after_prefix: true }
        );
        let l = ctx(Mode::Locked, PaneId::Claude);
        assert_eq!(
            resolve(&km, &l, &k(KeyCode::Char('\\'), KeyModifiers::CONTROL)),
            Route::Claude
        );
        assert_eq!(
            resolve(&km, &l, &k(KeyCode::F(12), KeyModifiers::NONE)),
            Route::ToggleLock
        );
    }

    #[test]
    fn other_panes_take_plain_keys() {
        let km = Keymap::builtin_default();
        let c = ctx(Mode::Normal, PaneId::Logs);
        assert_eq!(
            resolve(&km, &c, &k(KeyCode::Char('/'), KeyModifiers::NONE)),
            Route::Action(KeyAction::Search)
        );
        assert_eq!(
            resolve(&km, &c, &k(KeyCode::Char('m'), KeyModifiers::NONE)),
            Route::Action(KeyAction::Picker)
        );
        let g = ctx(Mode::Normal, PaneId::Gpu);
        assert_eq!(
            resolve(&km, &g, &k(KeyCode::Char('/'), KeyModifiers::NONE)),
            Route::Unbound {
                after_prefix: false
            }
        );
    }

    #[test]
    fn copy_mode_takes_the_claude_panes_keys_but_not_the_prefix() {
        let km = Keymap::builtin_default();
        let c = KeyContext {
            copy: true,
            ..ctx(Mode::Normal, PaneId::Claude)
        };
        assert_eq!(
            resolve(&km, &c, &k(KeyCode::Char('?'), KeyModifiers::NONE)),
            Route::Copy(KeyAction::SearchBack)
        );
        assert_eq!(
            resolve(&km, &c, &k(KeyCode::Char('v'), KeyModifiers::NONE)),
            Route::Copy(KeyAction::Select)
        );
        assert_eq!(
            resolve(&km, &c, &k(KeyCode::Char('x'), KeyModifiers::NONE)),
            Route::Unbound {
                after_prefix: false
            }
        );
        assert_eq!(
            resolve(&km, &c, &k(KeyCode::Char('\\'), KeyModifiers::CONTROL)),
            Route::EnterPrefix
        );
    }
}
