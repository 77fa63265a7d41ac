//! One frame: the layout, each pane in its frame, the status bar, and the overlay on top.
//! Only draws from the [`View`]; nothing here waits on anything.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Widget};

use crate::ui::app::{App, Overlay};
use crate::ui::dialog;
use crate::ui::help;
use crate::ui::keys::Mode;
use crate::ui::layout::{self, LayoutKind, MIN_HEIGHT, MIN_WIDTH, PaneId};
use crate::ui::panes::claude::ClaudePane;
use crate::ui::panes::{gpu, system};
use crate::ui::status_bar::{self, Bar};
use crate::ui::view::View;

pub fn render(frame: &mut Frame<'_>, app: &mut App, view: &View<'_>, claude: &mut ClaudePane) {
    let area = frame.area();
    draw(frame.buffer_mut(), area, app, view, claude);
}

/// Draws into a buffer (the event loop's frame, or a test's).
pub fn draw(buf: &mut Buffer, area: Rect, app: &mut App, view: &View<'_>, claude: &mut ClaudePane) {
    // A program asking for the claude pane's colours (OSC 10/11/12) gets the current
    // theme's, also right after the theme key changed it and while the pane is hidden.
    claude.set_colors(app.theme.pane_colors());
    // The mark of a bell or notification stays until the user looks at the pane.
    if app.claude_in_view() {
        app.claude_alert = None;
    }
    let tab = if app.focus == PaneId::Claude {
        app.tab
    } else {
        app.focus
    };
    app.layout = layout::compute(area, &app.splits, app.zoom, tab);
    if app.layout.kind == LayoutKind::TooSmall {
        let text = format!(
            "Terminal too small ({}x{}). Need {MIN_WIDTH}x{MIN_HEIGHT}.",
            area.width, area.height
        );
        let w = text.chars().count() as u16;
        let x = area.x + area.width.saturating_sub(w) / 2;
        let y = area.y + area.height / 2;
        buf.set_stringn(
            x,
            y,
            &text,
            usize::from(area.width),
            Style::default().fg(app.theme.warn),
        );
        return;
    }
    let panes = app.layout.panes.clone();
    app.tab_hits.clear();
    let overlay_open = app.overlay != Overlay::None;
    for (pane, rect) in panes {
        let focused = app.focus == pane;
        let inner = frame_pane(buf, rect, pane, app, claude, focused);
        match pane {
            PaneId::Claude => {
                app.claude_inner = inner;
                claude.render(
                    inner,
                    buf,
                    focused && !overlay_open && app.logs.editing.is_none(),
                );
            }
            PaneId::Logs => {
                let pos = app
                    .logs
                    .draw(buf, inner, view.logs, view.log_next_seq, &app.theme);
                // The position goes in the frame's top-right corner.
                let label = format!(" {pos} ");
                let x = rect.x + rect.width.saturating_sub(label.chars().count() as u16 + 1);
                buf.set_string(x, rect.y, label, Style::default().fg(app.theme.dim));
            }
            PaneId::Gpu => gpu::draw(buf, inner, view.gpu, view.history, &app.theme),
            PaneId::System => system::draw(buf, inner, view, &app.theme),
        }
    }
    let bar = Bar {
        mode: app.mode_label(),
        claude_focused: app.focus == PaneId::Claude,
        logs_focused: app.focus == PaneId::Logs,
        keymap: &app.keymap,
        theme: &app.theme,
        message: app.message.as_ref(),
    };
    status_bar::draw(buf, app.layout.status, view, &bar);

    let theme = app.theme.clone();
    match &mut app.overlay {
        Overlay::None => {}
        Overlay::Picker(p) => p.draw(buf, area, &view.profiles.set, view.server, view.gpu, &theme),
        Overlay::Help { scroll } => {
            let lines = help::lines(&app.keymap, &theme, view.server_url, view.api);
            help::draw(buf, area, &lines, scroll, &theme);
        }
        Overlay::ConfirmQuit => dialog::draw_quit(buf, area, app.on_exit, view.server, &theme),
        Overlay::Failure { scroll } => {
            let lines = dialog::failure_lines(view.server.failure.as_ref(), view.server, &theme);
            // The title says how to copy the report: the last line may be scrolled off.
            let title = if view.server.failure.is_some() {
                "Failure details · y copies"
            } else {
                "Failure details"
            };
            help::draw_box(buf, area, title, &lines, scroll, &theme, 120);
        }
    }
}

/// Draws a pane's frame and title; returns the inner area.
fn frame_pane(
    buf: &mut Buffer,
    rect: Rect,
    pane: PaneId,
    app: &mut App,
    claude: &ClaudePane,
    focused: bool,
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
            if app.mode == Mode::Scroll && focused {
                title.push(Span::styled(
                    " SCROLL ",
                    Style::default().fg(theme.mode_fg).bg(theme.mode_other),
                ));
            }
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
                    format!("/{s} "),
                    Style::default().fg(theme.accent),
                ));
            }
        }
        _ => {}
    }
    if app.zoom == Some(pane) {
        title.push(Span::styled("[zoom] ", Style::default().fg(theme.accent)));
    }
    // Compact layout: the tab pane's title names all three tabs.
    let is_tab =
        app.layout.kind == LayoutKind::Compact && pane != PaneId::Claude && app.zoom.is_none();
    if is_tab {
        title.clear();
        let mut x = rect.x + 1;
        for (i, tab) in [PaneId::Logs, PaneId::Gpu, PaneId::System]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                title.push(Span::styled("│", Style::default().fg(border)));
                x += 1;
            }
            let label = format!(" {} ", tab.title());
            let style = if tab == pane {
                title_style.add_modifier(Modifier::REVERSED)
            } else {
                Style::default().fg(theme.dim)
            };
            let w = label.chars().count() as u16;
            app.tab_hits.push((tab, Rect::new(x, rect.y, w, 1)));
            x += w;
            title.push(Span::styled(label, style));
        }
        if pane == PaneId::Logs {
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
                    format!("/{s} "),
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
