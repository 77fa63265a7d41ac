//! The pane's lines by number, scrollback and screen alike, for copy mode: their text
//! (with the column of each character), whether a row runs on into the next, and drawing
//! any stretch of them. Line 0 is the oldest line the scrollback keeps; the screen's rows
//! are the last [`History::rows`] lines.
//!
//! Built on vt100's public API only: the view's offset (`Screen::set_scrollback`, through
//! [`Term::scroll_by`]), `Screen::cell` and `Screen::row_wrapped`, so the storage under it
//! may change. Every call leaves the offset as it found it.
//!
//! Lines arriving: while the view is scrolled back (offset > 0), vt100 moves the offset up
//! with each line pushed into the scrollback, so the view stays on the same text. Copy mode
//! keeps the offset at [`PARK`] and reads how far it moved ([`History::arrived`]): that is
//! how many lines came, even once the scrollback is full and its length stops growing.

use std::ops::Range;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use super::term::Term;

/// The offset copy mode keeps the view at while it draws the lines itself (see the module
/// docs): any offset above 0 makes vt100 count arriving lines.
pub const PARK: usize = 1;

/// One line's text as drawn (wide characters once, blank cells as spaces, trailing blanks
/// cut) and where each character sits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineText {
    pub text: String,
    /// Per character: its first byte in `text`, its column, its width in columns.
    pub cells: Vec<(usize, u16, u16)>,
    /// The row runs on into the next (the program wrote past the edge): a copy joins them
    /// without a newline.
    pub wrapped: bool,
}

impl LineText {
    /// The column of the character at byte `byte` (the end of the line past the last).
    pub fn col_of(&self, byte: usize) -> u16 {
        self.cells
            .iter()
            .find(|(b, _, _)| *b >= byte)
            .map(|(_, c, _)| *c)
            .unwrap_or_else(|| self.end_col())
    }

    /// The first byte of the character covering column `col` (the text's length past the
    /// last character).
    pub fn byte_at(&self, col: u16) -> usize {
        self.cells
            .iter()
            .find(|(_, c, w)| col < c + (*w).max(1))
            .map(|(b, _, _)| *b)
            .unwrap_or(self.text.len())
    }

    /// The column after the last character.
    pub fn end_col(&self) -> u16 {
        self.cells.last().map_or(0, |(_, c, w)| c + w)
    }
}

/// The pane's lines, read under the screen's lock (see [`crate::pty::TerminalPane::with_history`]).
pub struct History<'a> {
    term: &'a mut Term,
}

/// How many lines came since the last look, and what the scrollback holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrived {
    /// Lines pushed into the scrollback.
    pub lines: usize,
    /// The oldest lines that fell out of a full scrollback meanwhile: every line number
    /// from before is that much lower now.
    pub dropped: usize,
}

impl<'a> History<'a> {
    pub fn new(term: &'a mut Term) -> History<'a> {
        History { term }
    }

    /// The screen's rows.
    pub fn rows(&self) -> u16 {
        self.term.size().0
    }

    pub fn cols(&self) -> u16 {
        self.term.size().1
    }

    /// The view's offset: lines scrolled back from the live screen.
    pub fn offset(&self) -> usize {
        self.term.scrollback()
    }

    /// Moves the view to `offset` (clamped to the scrollback).
    pub fn set_offset(&mut self, offset: usize) {
        let now = self.offset() as i64;
        let delta = (offset as i64 - now).clamp(i64::from(i32::MIN), i64::from(i32::MAX));
        self.term.scroll_by(delta as i32);
    }

    /// Lines the scrollback keeps now.
    pub fn scrollback_len(&mut self) -> usize {
        let offset = self.offset();
        self.term.scroll_by(i32::MAX);
        let len = self.offset();
        self.set_offset(offset);
        len
    }

    /// Every line: the scrollback's and the screen's.
    pub fn len(&mut self) -> usize {
        self.scrollback_len() + usize::from(self.rows())
    }

    /// Whether the screen holds no line at all (never: a screen has rows).
    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// The program's cursor on the screen (row, col).
    pub fn cursor(&self) -> (u16, u16) {
        self.term.screen().cursor_position()
    }

    /// Whether the program takes mouse events (then clicks and the wheel are its own).
    pub fn wants_mouse(&self) -> bool {
        self.term.screen().mouse_protocol_mode() != vt100::MouseProtocolMode::None
    }

    /// Whether the program is on the alternate screen, which has no scrollback.
    pub fn alternate_screen(&self) -> bool {
        self.term.screen().alternate_screen()
    }

    /// Lines `range`, clamped to what there is. Scrollback lines are read in place from
    /// their compact form (the view does not move for them); screen lines from the live
    /// screen.
    pub fn lines(&mut self, range: Range<usize>) -> Vec<LineText> {
        let history = self.term.screen().scrollback_rows();
        let rows = usize::from(self.rows());
        let end = range.end.min(history + rows);
        let mut out = Vec::with_capacity(end.saturating_sub(range.start));
        let screen = self.term.screen();
        for line in range.start..end.min(history) {
            let mut text = LineText::default();
            text.wrapped = screen
                .scrollback_row_text(line, |col, contents, wide, continuation| {
                    push_cell(&mut text, col, contents, wide, continuation);
                })
                .unwrap_or(false);
            out.push(trimmed(text));
        }
        if end > history {
            let saved = self.offset();
            self.set_offset(0);
            for line in range.start.max(history)..end {
                out.push(self.row_text((line - history) as u16));
            }
            self.set_offset(saved);
        }
        out
    }

    /// Row `row` of the view as it is now.
    fn row_text(&self, row: u16) -> LineText {
        let screen = self.term.screen();
        let mut line = LineText {
            wrapped: screen.row_wrapped(row),
            ..LineText::default()
        };
        let cells = screen.row_cells(row).unwrap_or_default();
        for (col, cell) in (0..self.cols()).zip(cells) {
            push_cell(
                &mut line,
                col,
                cell.contents(),
                cell.is_wide(),
                cell.is_wide_continuation(),
            );
        }
        trimmed(line)
    }

    /// Draws the screenful of lines from `top` into `area` (the pane's size), with the
    /// program's colours and no cursor.
    pub fn draw(&mut self, top: usize, area: Rect, buf: &mut Buffer) {
        let saved = self.offset();
        let history = self.scrollback_len();
        self.set_offset(history.saturating_sub(top));
        self.term.render(area, buf, false);
        self.set_offset(saved);
    }

    /// Parks the view at [`PARK`] (when there is scrollback) so that arriving lines can be
    /// counted; returns the offset it is at.
    pub fn park(&mut self) -> usize {
        self.set_offset(PARK);
        self.offset()
    }

    /// The lines that came since the view was parked at `parked` with `history` lines of
    /// scrollback (see the module docs); parks it again.
    pub fn arrived(&mut self, parked: usize, history: usize) -> Arrived {
        let now = self.scrollback_len();
        let offset = self.offset();
        let lines = if parked == 0 {
            // Nothing to park on: the scrollback was empty, and grows by what came.
            now.saturating_sub(history)
        } else {
            // Below the parked offset, someone else moved the view (a key sent to the
            // program, a fresh screen): no way to tell; assume nothing came.
            offset.saturating_sub(parked)
        };
        let dropped = (history + lines).saturating_sub(now);
        self.park();
        Arrived { lines, dropped }
    }
}

/// One cell onto a line's text: its contents (a space for an empty cell) and where it sits;
/// the second half of a wide cell adds nothing.
fn push_cell(line: &mut LineText, col: u16, contents: &str, wide: bool, continuation: bool) {
    if continuation {
        return;
    }
    line.cells
        .push((line.text.len(), col, if wide { 2 } else { 1 }));
    match contents {
        "" => line.text.push(' '),
        s => line.text.push_str(s),
    }
}

/// Trailing blanks are the screen's, not the program's text.
fn trimmed(mut line: LineText) -> LineText {
    let kept = line.text.trim_end_matches(' ').len();
    line.text.truncate(kept);
    line.cells.retain(|(b, _, _)| *b < kept);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(rows: u16, cols: u16, cap: usize, lines: usize) -> Term {
        let mut t = Term::new(rows, cols, cap);
        for i in 0..lines {
            t.process(format!("line {i}\r\n").as_bytes());
        }
        t
    }

    #[test]
    fn lines_by_number_across_scrollback_and_screen() {
        let mut t = term(4, 20, 100, 10);
        let mut h = History::new(&mut t);
        // 10 lines and the cursor's empty row: 7 in the scrollback, 4 on the screen.
        assert_eq!(h.scrollback_len(), 7);
        assert_eq!(h.len(), 11);
        let texts: Vec<String> = h.lines(0..11).into_iter().map(|l| l.text).collect();
        assert_eq!(texts[0], "line 0");
        assert_eq!(texts[6], "line 6");
        assert_eq!(texts[9], "line 9");
        assert_eq!(texts[10], "");
        assert_eq!(h.lines(5..6)[0].text, "line 5");
        assert_eq!(h.offset(), 0, "reading leaves the view where it was");
    }

    #[test]
    fn wide_characters_and_columns() {
        let mut t = Term::new(3, 20, 10);
        t.process("a界b  c".as_bytes());
        let mut h = History::new(&mut t);
        let l = &h.lines(0..1)[0];
        assert_eq!(l.text, "a界b  c");
        assert_eq!(l.col_of(1), 1);
        assert_eq!(l.col_of(4), 3, "b after the wide character");
        assert_eq!(l.byte_at(2), 1, "the wide character's second column");
        assert_eq!(l.end_col(), 7);
    }

    #[test]
    fn arriving_lines_are_counted_while_parked_even_when_the_scrollback_is_full() {
        // A scrollback of 20 lines, already full.
        let mut t = term(4, 20, 20, 40);
        let (parked, history) = {
            let mut h = History::new(&mut t);
            let history = h.scrollback_len();
            (h.park(), history)
        };
        assert_eq!((parked, history), (1, 20));
        for i in 40..45 {
            t.process(format!("line {i}\r\n").as_bytes());
        }
        let mut h = History::new(&mut t);
        let arrived = h.arrived(parked, history);
        assert_eq!(
            arrived,
            Arrived {
                lines: 5,
                dropped: 5
            }
        );
        assert_eq!(h.offset(), PARK, "parked again");
        // Not full yet: nothing dropped.
        let mut t = term(4, 20, 100, 10);
        let (history, parked) = {
            let mut h = History::new(&mut t);
            (h.scrollback_len(), h.park())
        };
        t.process(b"more\r\nand more\r\n");
        let arrived = History::new(&mut t).arrived(parked, history);
        assert_eq!(
            arrived,
            Arrived {
                lines: 2,
                dropped: 0
            }
        );
    }
}
