//! Where each pane goes: a full layout on large terminals, a compact one (claude above,
//! the other panes as tabs below) from 60×20 up, and a "too small" screen below that.
//! Also the borders a mouse can drag, and which pane a point is in.

use ratatui::layout::{Position, Rect};

/// The smallest terminal the workspace draws in: below it the panes' frames and the
/// status bar leave no row of a pane readable (the dashboard llws replaces drew from the
/// same size, so terminals set up for it fit).
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 20;
/// From this size up the panes sit side by side.
pub const FULL_WIDTH: u16 = 120;
pub const FULL_HEIGHT: u16 = 32;
/// Rows of the status bar.
pub const STATUS_ROWS: u16 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaneId {
    Claude,
    Logs,
    Gpu,
    System,
}

impl PaneId {
    pub const ALL: [PaneId; 4] = [Self::Claude, Self::Logs, Self::Gpu, Self::System];

    pub fn title(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Logs => "server log",
            Self::Gpu => "GPU",
            Self::System => "system",
        }
    }

    pub fn next(self) -> PaneId {
        let i = Self::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    pub fn prev(self) -> PaneId {
        let i = Self::ALL.iter().position(|p| *p == self).unwrap_or(0);
        Self::ALL[(i + Self::ALL.len() - 1) % Self::ALL.len()]
    }
}

/// The split positions, in percent; changed by the resize keys and by dragging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splits {
    /// Full layout: the claude pane's share of the width.
    pub main_full: u16,
    /// Compact layout: the claude pane's share of the height.
    pub main_compact: u16,
    /// Full layout: the log's share of the right column.
    pub logs: u16,
    /// Full layout: the GPU panel's share of what is below the log.
    pub gpu: u16,
}

impl Default for Splits {
    fn default() -> Self {
        Self {
            main_full: 58,
            main_compact: 55,
            logs: 50,
            gpu: 55,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutKind {
    Full,
    Compact,
    TooSmall,
}

/// A border the mouse can drag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Border {
    /// Between claude and the rest (vertical in full, horizontal in compact).
    Main,
    /// Between the log and the GPU panel.
    Logs,
    /// Between the GPU and the system panels.
    Gpu,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub kind: LayoutKind,
    pub area: Rect,
    /// The visible panes, with their outer (bordered) areas.
    pub panes: Vec<(PaneId, Rect)>,
    pub status: Rect,
    /// Compact layout: the pane shown in the tab area.
    pub tab: Option<PaneId>,
    /// Draggable borders: which, the cells that grab it, and the span it moves over.
    pub borders: Vec<(Border, Rect, Rect)>,
}

impl Layout {
    pub fn rect(&self, pane: PaneId) -> Option<Rect> {
        self.panes.iter().find(|(p, _)| *p == pane).map(|(_, r)| *r)
    }

    pub fn pane_at(&self, x: u16, y: u16) -> Option<PaneId> {
        self.panes
            .iter()
            .find(|(_, r)| r.contains(Position::new(x, y)))
            .map(|(p, _)| *p)
    }

    pub fn border_at(&self, x: u16, y: u16) -> Option<Border> {
        self.borders
            .iter()
            .find(|(_, grab, _)| grab.contains(Position::new(x, y)))
            .map(|(b, _, _)| *b)
    }

    /// The pane next to `from` in a direction (dx, dy): the nearest pane beyond that edge
    /// that overlaps it, the top-most (or left-most) one when several do, as tmux picks.
    pub fn neighbour(&self, from: PaneId, dx: i32, dy: i32) -> Option<PaneId> {
        let r = self.rect(from)?;
        let overlaps = |a0: u16, a1: u16, b0: u16, b1: u16| a0 < b1 && b0 < a1;
        self.panes
            .iter()
            .filter(|(p, _)| *p != from)
            .filter_map(|(p, o)| {
                let gap = match (dx, dy) {
                    (1, _) if o.x >= r.right() && overlaps(r.y, r.bottom(), o.y, o.bottom()) => {
                        o.x - r.right()
                    }
                    (-1, _) if o.right() <= r.x && overlaps(r.y, r.bottom(), o.y, o.bottom()) => {
                        r.x - o.right()
                    }
                    (_, 1) if o.y >= r.bottom() && overlaps(r.x, r.right(), o.x, o.right()) => {
                        o.y - r.bottom()
                    }
                    (_, -1) if o.bottom() <= r.y && overlaps(r.x, r.right(), o.x, o.right()) => {
                        r.y - o.bottom()
                    }
                    _ => return None,
                };
                Some(((gap, o.y, o.x), *p))
            })
            .min_by_key(|(k, _)| *k)
            .map(|(_, p)| p)
    }
}

fn pct(total: u16, pct: u16) -> u16 {
    ((u32::from(total) * u32::from(pct)) / 100) as u16
}

fn clamp(v: u16, lo: u16, hi: u16) -> u16 {
    v.max(lo).min(hi.max(lo))
}

/// Lays out `area`. `zoom` gives one pane the whole body; `tab` is the pane the compact
/// layout's tab area shows (the focused one, unless claude has focus).
pub fn compute(area: Rect, splits: &Splits, zoom: Option<PaneId>, tab: PaneId) -> Layout {
    let kind = if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        LayoutKind::TooSmall
    } else if area.width >= FULL_WIDTH && area.height >= FULL_HEIGHT {
        LayoutKind::Full
    } else {
        LayoutKind::Compact
    };
    let mut layout = Layout {
        kind,
        area,
        panes: Vec::new(),
        status: Rect::default(),
        tab: None,
        borders: Vec::new(),
    };
    if kind == LayoutKind::TooSmall {
        return layout;
    }
    let body = Rect {
        height: area.height - STATUS_ROWS,
        ..area
    };
    layout.status = Rect {
        y: area.y + body.height,
        height: STATUS_ROWS,
        ..area
    };
    if let Some(pane) = zoom {
        layout.panes.push((pane, body));
        if kind == LayoutKind::Compact && pane != PaneId::Claude {
            layout.tab = Some(pane);
        }
        return layout;
    }
    match kind {
        LayoutKind::Full => {
            let left_w = clamp(pct(body.width, splits.main_full), 30, body.width - 40);
            let claude = Rect {
                width: left_w,
                ..body
            };
            let right = Rect {
                x: body.x + left_w,
                width: body.width - left_w,
                ..body
            };
            let logs_h = clamp(pct(right.height, splits.logs), 5, right.height - 10);
            let rest = right.height - logs_h;
            let gpu_h = clamp(pct(rest, splits.gpu), 5, rest - 5);
            let logs = Rect {
                height: logs_h,
                ..right
            };
            let gpu = Rect {
                y: right.y + logs_h,
                height: gpu_h,
                ..right
            };
            let system = Rect {
                y: gpu.y + gpu_h,
                height: rest - gpu_h,
                ..right
            };
            layout.panes = vec![
                (PaneId::Claude, claude),
                (PaneId::Logs, logs),
                (PaneId::Gpu, gpu),
                (PaneId::System, system),
            ];
            layout.borders = vec![
                (
                    Border::Main,
                    Rect::new(right.x - 1, body.y, 2, body.height),
                    body,
                ),
                (
                    Border::Logs,
                    Rect::new(right.x, gpu.y - 1, right.width, 2),
                    right,
                ),
                (
                    Border::Gpu,
                    Rect::new(right.x, system.y - 1, right.width, 2),
                    Rect::new(right.x, gpu.y, right.width, rest),
                ),
            ];
        }
        LayoutKind::Compact => {
            let top_h = clamp(pct(body.height, splits.main_compact), 5, body.height - 6);
            let claude = Rect {
                height: top_h,
                ..body
            };
            let bottom = Rect {
                y: body.y + top_h,
                height: body.height - top_h,
                ..body
            };
            let shown = if tab == PaneId::Claude {
                PaneId::Logs
            } else {
                tab
            };
            layout.tab = Some(shown);
            layout.panes = vec![(PaneId::Claude, claude), (shown, bottom)];
            layout.borders = vec![(
                Border::Main,
                Rect::new(body.x, bottom.y - 1, body.width, 2),
                body,
            )];
        }
        LayoutKind::TooSmall => {}
    }
    layout
}

/// The inside of a pane's frame (every pane has a border on all four sides).
pub fn inner(rect: Rect) -> Rect {
    ratatui::widgets::Block::bordered().inner(rect)
}

/// The panes the compact layout shows as tabs below claude, in order.
pub const TABS: [PaneId; 3] = [PaneId::Logs, PaneId::Gpu, PaneId::System];

/// Whether `pane`'s title names all the tabs (the compact layout's lower pane, unzoomed).
pub fn shows_tabs(layout: &Layout, pane: PaneId, zoom: Option<PaneId>) -> bool {
    layout.kind == LayoutKind::Compact && pane != PaneId::Claude && zoom.is_none()
}

/// The tab titles on the top border of the pane at `rect`: each tab, its label and the
/// cells it covers (a click there picks it). A `│` separates two labels.
pub fn tab_titles(rect: Rect) -> Vec<(PaneId, String, Rect)> {
    let mut x = rect.x + 1;
    let mut out = Vec::new();
    for (i, tab) in TABS.into_iter().enumerate() {
        if i > 0 {
            x += 1;
        }
        let label = format!(" {} ", tab.title());
        let w = label.chars().count() as u16;
        out.push((tab, label, Rect::new(x, rect.y, w, 1)));
        x += w;
    }
    out
}

/// The split value a drag of `border` to (x, y) asks for.
pub fn drag(layout: &Layout, splits: &mut Splits, border: Border, x: u16, y: u16) {
    let Some((_, _, span)) = layout.borders.iter().find(|(b, _, _)| *b == border) else {
        return;
    };
    let share = |pos: u16, start: u16, len: u16| -> u16 {
        if len == 0 {
            return 50;
        }
        let off = u32::from(pos.saturating_sub(start).min(len));
        ((off * 100 + u32::from(len) / 2) / u32::from(len)).clamp(10, 90) as u16
    };
    match (layout.kind, border) {
        (LayoutKind::Full, Border::Main) => splits.main_full = share(x, span.x, span.width),
        (LayoutKind::Compact, Border::Main) => splits.main_compact = share(y, span.y, span.height),
        (_, Border::Logs) => splits.logs = share(y, span.y, span.height),
        (_, Border::Gpu) => splits.gpu = share(y, span.y, span.height),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_pick_the_layout() {
        let s = Splits::default();
        let l = compute(Rect::new(0, 0, 160, 50), &s, None, PaneId::Claude);
        assert_eq!(l.kind, LayoutKind::Full);
        assert_eq!(l.panes.len(), 4);
        let l = compute(Rect::new(0, 0, 80, 24), &s, None, PaneId::Gpu);
        assert_eq!(l.kind, LayoutKind::Compact);
        assert_eq!(l.tab, Some(PaneId::Gpu));
        assert_eq!(l.status, Rect::new(0, 22, 80, 2));
        let l = compute(Rect::new(0, 0, 59, 30), &s, None, PaneId::Claude);
        assert_eq!(l.kind, LayoutKind::TooSmall);
    }

    #[test]
    fn panes_tile_the_body_without_overlap() {
        let s = Splits::default();
        for (w, h) in [(160, 50), (120, 32), (80, 24), (60, 20), (250, 80)] {
            let l = compute(Rect::new(0, 0, w, h), &s, None, PaneId::Logs);
            let area: u32 = l.panes.iter().map(|(_, r)| r.area()).sum();
            assert_eq!(area, u32::from(w) * u32::from(h - STATUS_ROWS), "{w}x{h}");
            for (i, (_, a)) in l.panes.iter().enumerate() {
                for (_, b) in &l.panes[i + 1..] {
                    assert!(!a.intersects(*b), "{w}x{h}: {a:?} {b:?}");
                }
            }
        }
    }

    #[test]
    fn focus_moves_by_direction() {
        let l = compute(
            Rect::new(0, 0, 160, 50),
            &Splits::default(),
            None,
            PaneId::Claude,
        );
        assert_eq!(l.neighbour(PaneId::Claude, 1, 0), Some(PaneId::Logs));
        assert_eq!(l.neighbour(PaneId::Logs, 0, 1), Some(PaneId::Gpu));
        assert_eq!(l.neighbour(PaneId::Gpu, 0, 1), Some(PaneId::System));
        assert_eq!(l.neighbour(PaneId::System, -1, 0), Some(PaneId::Claude));
        assert_eq!(l.neighbour(PaneId::Logs, 0, -1), None);
    }

    #[test]
    fn dragging_the_main_border_moves_the_split() {
        let l = compute(
            Rect::new(0, 0, 160, 50),
            &Splits::default(),
            None,
            PaneId::Claude,
        );
        let (_, grab, _) = l.borders[0];
        assert_eq!(l.border_at(grab.x, 10), Some(Border::Main));
        let mut s = Splits::default();
        drag(&l, &mut s, Border::Main, 80, 10);
        assert_eq!(s.main_full, 50);
    }
}
