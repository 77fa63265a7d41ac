//! One frame: each pane in its frame, the status bar, and the overlay on top, drawn from
//! the [`App`] as [`App::prepare_frame`] left it and the [`View`]. Drawing reads and
//! writes only the buffer, so one frame of a state is always the same frame; nothing here
//! waits on anything.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Widget};

use crate::config::keymap::Section;
use crate::ui::app::{App, Overlay};
use crate::ui::commands::KeyAction;
use crate::ui::copy_mode::CopyMode;
use crate::ui::dialog;
use crate::ui::help;
use crate::ui::keys::Mode;
use crate::ui::layout::{self, LayoutKind, MIN_HEIGHT, MIN_WIDTH, PaneId};
use crate::ui::panes::claude::ClaudePane;
use crate::ui::panes::{activity, gpu, system};
use crate::ui::search::{self, Direction};
use crate::ui::status_bar::{self, Bar};
use crate::ui::view::View;

/// One whole frame of `area` into `buf`: the app works out the frame
/// ([`App::prepare_frame`]), the claude pane is brought in line with it (size, focus,
/// the theme's colours), then [`draw`]. The event loop and the tests draw this way.
pub fn frame(
    buf: &mut Buffer,
    area: Rect,
    app: &mut App,
    view: &View<'_>,
    claude: &mut ClaudePane,
) {
    app.prepare_frame(area, view);
    claude.sync(
        app.claude_inner,
        app.claude_focused(),
        app.theme.pane_colors(),
    );
    // Copy mode catches up with what the program wrote since (and with the new size).
    if let Some(copy) = &mut app.copy {
        claude.history(|h| copy.follow(h));
    }
    draw(buf, app, view, claude);
}

/// Draws the frame [`App::prepare_frame`] prepared into `buf` (the event loop's frame, or
/// a test's). Reads the app, the view and the claude pane; writes only the buffer.
pub fn draw(buf: &mut Buffer, app: &App, view: &View<'_>, claude: &ClaudePane) {
    let area = app.layout.area;
    let theme = &app.theme;
    if app.layout.kind == LayoutKind::TooSmall {
        // Keys wait too (`App::on_event`): nothing acts unseen.
        let size = format!(
            "Terminal too small ({}x{}). Need {MIN_WIDTH}x{MIN_HEIGHT}.",
            area.width, area.height
        );
        for (dy, text) in [(0, size.as_str()), (1, "Keys wait until then.")] {
            let w = text.chars().count() as u16;
            let x = area.x + area.width.saturating_sub(w) / 2;
            let y = area.y + area.height / 2 + dy;
            if y < area.y + area.height {
                buf.set_stringn(
                    x,
                    y,
                    text,
                    usize::from(area.width),
                    Style::default().fg(theme.warn),
                );
            }
        }
        return;
    }
    for &(pane, rect) in &app.layout.panes {
        let focused = app.focus == pane;
        let inner = frame_pane(buf, rect, pane, app, claude, focused, view.now_ms);
        match pane {
            PaneId::Claude => match &app.copy {
                Some(copy) => draw_copy_mode(buf, rect, inner, app, copy, claude),
                None => claude.draw(inner, buf, app.claude_focused(), app.banner.as_deref()),
            },
            PaneId::Logs if app.show_activity => {
                activity::draw(buf, inner, view.router, theme);
            }
            PaneId::Logs => {
                let keys = prompt_keys(app);
                let pos = app
                    .logs
                    .draw(buf, inner, view.logs, view.log_next_seq, &keys, theme);
                // The position goes in the frame's top-right corner.
                let label = format!(" {pos} ");
                let x = rect.x + rect.width.saturating_sub(label.chars().count() as u16 + 1);
                buf.set_string(x, rect.y, label, Style::default().fg(theme.dim));
            }
            PaneId::Gpu => gpu::draw(buf, inner, view.gpu, view.history, theme),
            PaneId::System => system::draw(buf, inner, view, theme),
        }
    }
    let bar = Bar {
        mode: app.mode_label(),
        claude_focused: app.focus == PaneId::Claude,
        logs_focused: app.focus == PaneId::Logs,
        activity_shown: app.show_activity,
        keymap: &app.keymap,
        theme,
        message: app.message.as_ref(),
    };
    status_bar::draw(buf, app.layout.status, view, &bar);

    match &app.overlay {
        Overlay::None => {}
        Overlay::Picker(p) => p.draw(buf, area, view, &app.keymap, theme),
        Overlay::Help { scroll } => {
            let lines = help::lines(&app.keymap, theme, view.server_url, view.api);
            help::draw(buf, area, &lines, *scroll, theme);
        }
        Overlay::ConfirmQuit => {
            dialog::draw_quit(buf, area, app.on_exit, view.server, &app.keymap, theme)
        }
        Overlay::ConfirmStop => dialog::draw_stop(buf, area, view.server, &app.keymap, theme),
        Overlay::Failure { scroll } => {
            dialog::draw_failure(buf, area, view.server, *scroll, &app.keymap, theme)
        }
        Overlay::Foreign => dialog::draw_foreign(buf, area, view.server, &app.keymap, theme),
    }
}

/// How to end a search prompt, from the keymap: `Enter keep · Esc cancel · ↑ earlier`.
fn prompt_keys(app: &App) -> String {
    let k = |a| app.keymap.label(Section::Prompt, a);
    format!(
        "{} keep · {} cancel · {} earlier",
        k(KeyAction::Confirm),
        k(KeyAction::Cancel),
        k(KeyAction::HistoryPrev)
    )
}

/// The claude pane in copy mode: the lines in view with matches, selection and cursor
/// (see [`CopyMode::draw`]), the search prompt on the last row while it is typed, and
/// tmux's `[lines back/scrollback]` in the frame's top-right corner.
fn draw_copy_mode(
    buf: &mut Buffer,
    rect: Rect,
    inner: Rect,
    app: &App,
    copy: &CopyMode,
    claude: &ClaudePane,
) {
    let theme = &app.theme;
    claude.history(|h| copy.draw(h, inner, buf, theme));
    if let Some((dir, editor)) = &copy.editing
        && inner.height > 0
    {
        let label = match dir {
            Direction::Down => "search down: ",
            Direction::Up => "search up: ",
        };
        let line = Line::from(vec![
            Span::styled(label, Style::default().fg(theme.accent)),
            Span::raw(editor.text.clone()),
            Span::styled("█", Style::default().fg(theme.accent)),
            Span::styled(
                format!("  {}", prompt_keys(app)),
                Style::default().fg(theme.dim),
            ),
        ]);
        let y = inner.y + inner.height - 1;
        buf.set_style(
            Rect {
                y,
                height: 1,
                ..inner
            },
            Style::default().bg(theme.overlay_bg),
        );
        buf.set_line(inner.x, y, &line, inner.width);
    }
    let (back, of) = copy.position();
    let label = format!(" [{back}/{of}] ");
    let x = rect.x + rect.width.saturating_sub(label.chars().count() as u16 + 1);
    buf.set_string(x, rect.y, label, Style::default().fg(theme.dim));
}

/// Draws a pane's frame and title; returns the inner area.
fn frame_pane(
    buf: &mut Buffer,
    rect: Rect,
    pane: PaneId,
    app: &App,
    claude: &ClaudePane,
    focused: bool,
    now_ms: u64,
) -> Rect {
    let theme = &app.theme;
    let border = if focused {
        theme.border_focused
    } else {
        theme.border
    };
    let title_style = if focused {
        Style::default()
            .fg(theme.title)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default().fg(theme.dim)
    };
    let mut title = vec![Span::styled(format!(" {} ", pane.title()), title_style)];
    match pane {
        PaneId::Claude => {
            let t = claude.title();
            if !t.is_empty() {
                title.push(Span::styled(
                    format!("{} ", crate::ui::widgets::text::fit(&t, 40)),
                    Style::default().fg(theme.dim),
                ));
            }
            if let Some(what) = &app.claude_alert {
                title.push(Span::styled(
                    format!(" ! {} ", crate::ui::widgets::text::fit(what, 30)),
                    Style::default()
                        .fg(theme.mode_fg)
                        .bg(theme.warn)
                        .add_modifier(Modifier::BOLD),
                ));
            }
            if app.mode == Mode::Locked {
                title.push(Span::styled(
                    " LOCKED ",
                    Style::default().fg(theme.mode_fg).bg(theme.mode_locked),
                ));
            }
            if let Some(copy) = &app.copy {
                title.push(Span::styled(
                    " COPY ",
                    Style::default().fg(theme.mode_fg).bg(theme.mode_other),
                ));
                if let Some(s) = &copy.search {
                    title.push(Span::styled(
                        format!(" /{s} {} ", search::counter(copy.counter)),
                        Style::default().fg(theme.accent),
                    ));
                }
            }
        }
        PaneId::Logs if app.show_activity => {
            title.clear();
            title.push(Span::styled(" router activity ", title_style));
        }
        PaneId::Logs => {
            let (label, colour) = if app.logs.follow {
                ("following", theme.dim)
            } else {
                ("paused", theme.warn)
            };
            title.push(Span::styled(
                format!("{label} "),
                Style::default().fg(colour),
            ));
            if app.logs.wrap {
                title.push(Span::styled("wrap ", Style::default().fg(theme.dim)));
            }
            if let Some(f) = &app.logs.filter {
                title.push(Span::styled(
                    format!("filter \"{f}\" "),
                    Style::default().fg(theme.accent),
                ));
            }
            if let Some(s) = &app.logs.search {
                title.push(Span::styled(
                    format!("/{s} {} ", search::counter(app.logs.counter)),
                    Style::default().fg(theme.accent),
                ));
            }
        }
        _ => {}
    }
    // Across hosts: whose log and samples these are, and whether they stopped coming.
    let host_pane = matches!(pane, PaneId::Gpu | PaneId::System)
        || (pane == PaneId::Logs && !app.show_activity);
    let host_note = app.panels.title_note(now_ms).filter(|_| host_pane);
    if let Some((note, stale)) = &host_note {
        // Right after the pane's name: the log's position label may cover the title's end.
        let colour = if *stale { theme.warn } else { theme.accent };
        title.insert(
            1.min(title.len()),
            Span::styled(format!("· {note} "), Style::default().fg(colour)),
        );
    }
    if app.zoom == Some(pane) {
        title.push(Span::styled("[zoom] ", Style::default().fg(theme.accent)));
    }
    // Compact layout: the tab pane's title names all three tabs.
    if layout::shows_tabs(&app.layout, pane, app.zoom) {
        title.clear();
        for (i, (tab, label, _)) in layout::tab_titles(rect).into_iter().enumerate() {
            if i > 0 {
                title.push(Span::styled("│", Style::default().fg(border)));
            }
            let style = if tab == pane {
                title_style.add_modifier(Modifier::REVERSED)
            } else {
                Style::default().fg(theme.dim)
            };
            title.push(Span::styled(label, style));
        }
        if let Some((note, stale)) = &host_note {
            let colour = if *stale { theme.warn } else { theme.accent };
            title.push(Span::styled(
                format!(" · {note}"),
                Style::default().fg(colour),
            ));
        }
        if pane == PaneId::Logs && app.show_activity {
            title.push(Span::styled(" activity ", Style::default().fg(theme.dim)));
        } else if pane == PaneId::Logs {
            let extra = if app.logs.follow {
                " following "
            } else {
                " paused "
            };
            title.push(Span::styled(extra, Style::default().fg(theme.dim)));
            if let Some(f) = &app.logs.filter {
                title.push(Span::styled(
                    format!("filter \"{f}\" "),
                    Style::default().fg(theme.accent),
                ));
            }
            if let Some(s) = &app.logs.search {
                title.push(Span::styled(
                    format!("/{s} {} ", search::counter(app.logs.counter)),
                    Style::default().fg(theme.accent),
                ));
            }
        }
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Rounded
        })
        .border_style(Style::default().fg(border))
        .title(Line::from(title))
        .title_alignment(Alignment::Left);
    let inner = block.inner(rect);
    block.render(rect, buf);
    inner
}
