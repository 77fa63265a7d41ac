//! The picker's table: one row per profile, each column as wide as its widest cell, laid
//! out in the width the picker has. The picker grows with the terminal, so at 120 columns
//! and wider every column shows whole; narrower, whole columns go in a fixed order (the id
//! first: the description line names it), never a word cut off. Only a picker narrower
//! than even the name and the size needs shortens the name.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

use crate::ui::widgets::text::fit;

/// The columns after the number, left to right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Name,
    Id,
    Speed,
    /// The generation speed the router measured (empty, so hidden, until it has).
    Measured,
    Ctx,
    Size,
    Fit,
    Load,
}

const COLS: usize = 8;

/// Least important first: the order whole columns go when the picker is too narrow.
/// The hand-typed speed goes before the measured one: a measurement says more.
pub const DROP_ORDER: [Col; 6] = [
    Col::Id,
    Col::Speed,
    Col::Measured,
    Col::Load,
    Col::Ctx,
    Col::Fit,
];

/// The number column: the running mark, the number, `) `.
pub const NUMBER_W: usize = 5;
/// Between two columns.
const GAP: usize = 2;
/// The narrowest a name is cut to, as the last resort.
const NAME_MIN: usize = 8;

/// A cell's text and style; `right` aligns it to the right of its column (sizes).
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub text: String,
    pub style: Style,
    pub right: bool,
}

impl Cell {
    pub fn new(text: impl Into<String>, style: Style) -> Cell {
        Cell {
            text: text.into(),
            style,
            right: false,
        }
    }

    pub fn right(mut self) -> Cell {
        self.right = true;
        self
    }
}

/// One profile's row. `error` (a model file that cannot be read) takes the place of the
/// size, fit and load columns, and may run to the row's end.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub number: Cell,
    pub cells: [Option<Cell>; COLS],
    pub error: Option<Cell>,
}

impl Row {
    pub fn set(&mut self, col: Col, cell: Cell) {
        self.cells[col as usize] = Some(cell);
    }
}

/// Which columns show, and how wide each is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub widths: [usize; COLS],
    pub shown: [bool; COLS],
}

impl Layout {
    /// The columns whose cells are all empty take no room (no load time yet, no size).
    pub fn of(rows: &[Row]) -> Layout {
        let mut widths = [0; COLS];
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(&row.cells) {
                if let Some(c) = cell {
                    *w = (*w).max(c.text.width());
                }
            }
        }
        let shown = widths.map(|w| w > 0);
        let mut layout = Layout { widths, shown };
        layout.shown[Col::Name as usize] = true;
        layout
    }

    /// The width of the shown columns before column `end`, with the number.
    fn cols_width(&self, end: usize) -> usize {
        NUMBER_W
            + (0..end)
                .filter(|&i| self.shown[i])
                .map(|i| self.widths[i] + if i == 0 { 0 } else { GAP })
                .sum::<usize>()
    }

    /// The width the rows need as laid out, an error's whole text included.
    pub fn width(&self, rows: &[Row]) -> usize {
        let before_size = self.cols_width(Col::Size as usize);
        let errors = rows
            .iter()
            .filter_map(|r| r.error.as_ref())
            .map(|e| before_size + GAP + e.text.width())
            .max()
            .unwrap_or(0);
        self.cols_width(COLS).max(errors)
    }

    /// Drops whole columns in [`DROP_ORDER`] until the columns fit `width`; then, only if
    /// they still do not, shortens the name. A long error does not take columns from the
    /// other rows: it is cut at the row's end.
    pub fn fit_to(mut self, _rows: &[Row], width: usize) -> Layout {
        for col in DROP_ORDER {
            if self.cols_width(COLS) <= width {
                return self;
            }
            self.shown[col as usize] = false;
        }
        let over = self.cols_width(COLS).saturating_sub(width);
        let name = &mut self.widths[Col::Name as usize];
        *name = name.saturating_sub(over).max(NAME_MIN.min(*name));
        self
    }

    pub fn shows(&self, col: Col) -> bool {
        self.shown[col as usize]
    }

    /// The row as a line of `width` columns at most.
    pub fn line(&self, row: &Row, width: usize) -> Line<'static> {
        let mut spans = vec![Span::styled(row.number.text.clone(), row.number.style)];
        let mut used = row.number.text.width();
        let last = if row.error.is_some() {
            Col::Size as usize
        } else {
            COLS
        };
        for i in (0..last).filter(|&i| self.shown[i]) {
            let w = self.widths[i];
            let gap = if i == 0 { 0 } else { GAP };
            let (text, style) = match &row.cells[i] {
                Some(c) => {
                    let text = fit(&c.text, w);
                    let pad = " ".repeat(w.saturating_sub(text.width()));
                    let text = if c.right {
                        format!("{pad}{text}")
                    } else {
                        format!("{text}{pad}")
                    };
                    (text, c.style)
                }
                None => (" ".repeat(w), Style::default()),
            };
            spans.push(Span::styled(format!("{}{text}", " ".repeat(gap)), style));
            used += gap + w;
        }
        if let Some(e) = &row.error {
            let room = width.saturating_sub(used + GAP);
            spans.push(Span::styled(
                format!("{}{}", " ".repeat(GAP), fit(&e.text, room)),
                e.style,
            ));
        }
        Line::from(spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, id: &str, load: Option<&str>) -> Row {
        let mut r = Row {
            number: Cell::new("  1) ", Style::default()),
            ..Row::default()
        };
        let s = Style::default();
        r.set(Col::Name, Cell::new(name, s));
        r.set(Col::Id, Cell::new(id, s));
        r.set(Col::Speed, Cell::new("~48 t/s", s));
        r.set(Col::Ctx, Cell::new("131072", s));
        r.set(Col::Size, Cell::new("≈18.6 GiB", s).right());
        r.set(Col::Fit, Cell::new("no GPU: runs on CPU", s));
        if let Some(l) = load {
            r.set(Col::Load, Cell::new(l, s));
        }
        r
    }

    fn text(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn every_column_shows_whole_when_there_is_room() {
        let rows = vec![
            row("Qwen3 Coder 30B-A3B", "qwen3-coder", Some("loads ~6.1 s")),
            row("GLM", "glm", None),
        ];
        let layout = Layout::of(&rows);
        let need = layout.width(&rows);
        let l = layout.fit_to(&rows, need);
        let line = text(&l.line(&rows[0], need));
        assert_eq!(
            line,
            "  1) Qwen3 Coder 30B-A3B  qwen3-coder  ~48 t/s  131072  ≈18.6 GiB  no GPU: runs on CPU  loads ~6.1 s"
        );
        assert_eq!(line.width(), need);
    }

    #[test]
    fn the_measured_speed_sits_next_to_the_typed_one_and_outlives_it() {
        let mut measured = row("Qwen3 Coder 30B-A3B", "qwen3-coder", None);
        measured.set(
            Col::Measured,
            Cell::new("measured 41.2 t/s", Style::default()),
        );
        let rows = vec![measured, row("GLM", "glm", None)];
        let layout = Layout::of(&rows);
        let need = layout.width(&rows);
        let l = layout.clone().fit_to(&rows, need);
        assert_eq!(
            text(&l.line(&rows[0], need)),
            "  1) Qwen3 Coder 30B-A3B  qwen3-coder  ~48 t/s  measured 41.2 t/s  131072  ≈18.6 GiB  no GPU: runs on CPU"
        );
        // The row with nothing measured leaves the column blank, aligned.
        assert!(text(&l.line(&rows[1], need)).contains("~48 t/s                     131072"));
        // Narrower: the typed speed goes before the measured one.
        let l = layout.fit_to(&rows, need - 14);
        assert!(!l.shows(Col::Speed) && l.shows(Col::Measured), "{l:?}");
    }

    #[test]
    fn nothing_measured_takes_no_room() {
        let rows = vec![row("GLM", "glm", None)];
        assert!(!Layout::of(&rows).shows(Col::Measured));
    }

    #[test]
    fn narrower_drops_whole_columns_in_order() {
        let rows = vec![row(
            "Qwen3 Coder 30B-A3B",
            "qwen3-coder",
            Some("loads ~6.1 s"),
        )];
        let full = Layout::of(&rows).width(&rows);
        // One column short: the id goes first.
        let l = Layout::of(&rows).fit_to(&rows, full - 1);
        assert!(!l.shows(Col::Id) && l.shows(Col::Speed) && l.shows(Col::Load));
        // Narrower still: speed, then the load time.
        let l = Layout::of(&rows).fit_to(&rows, 70);
        assert!(!l.shows(Col::Speed) && !l.shows(Col::Load), "{l:?}");
        let line = text(&l.line(&rows[0], 70));
        assert!(line.contains("no GPU: runs on CPU"), "{line}");
        assert!(line.width() <= 70, "{line}");
        // The narrowest: only the name, cut, and the size.
        let l = Layout::of(&rows).fit_to(&rows, 30);
        let line = text(&l.line(&rows[0], 30));
        assert!(line.ends_with("≈18.6 GiB"), "{line}");
        assert!(line.width() <= 30, "{line}");
    }

    #[test]
    fn an_error_runs_to_the_end_of_the_row() {
        let mut bad = row("Deleted", "gone", None);
        bad.cells[Col::Size as usize] = None;
        bad.cells[Col::Fit as usize] = None;
        bad.error = Some(Cell::new("missing: gone.gguf", Style::default()));
        let rows = vec![row("Qwen3 Coder 30B-A3B", "qwen3-coder", None), bad];
        let l = Layout::of(&rows);
        let w = l.width(&rows);
        let line = text(&l.line(&rows[1], w));
        assert!(line.ends_with("131072  missing: gone.gguf"), "{line}");
        // Narrower than a long error: the error is cut, the columns stay.
        let mut rows = rows;
        rows[1].error = Some(Cell::new(
            format!("missing: {}-00001-of-00002.gguf", "a-long-name".repeat(5)),
            Style::default(),
        ));
        let l = Layout::of(&rows);
        let w = l.width(&rows) - 10;
        let cut = l.clone().fit_to(&rows, w);
        assert_eq!(cut, l);
        let line = text(&cut.line(&rows[1], w));
        assert!(line.ends_with('…'), "{line}");
        assert_eq!(line.width(), w);
    }
}
