//! Copy mode in the claude pane, after tmux's: a cursor over the pane's scrollback and
//! screen, moved with the usual keys, search either way with the shared search
//! ([`crate::ui::search`]), a selection by keys or mouse, and a yank to the clipboard.
//!
//! The state is positions only (line numbers as [`History`] counts them: 0 is the oldest
//! line kept); the text is read from the pane when a key needs it. While copy mode is on,
//! the pane's own view is parked (see [`crate::pty::history`]) and copy mode draws the
//! lines itself, so lines the program keeps writing are counted: every position moves
//! with its text ([`CopyMode::follow`]) and the cursor stays on its line.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use crate::config::theme::Theme;
use crate::pty::history::{History, LineText};
use crate::ui::search::{self, Direction, Editor, Found, Hit};

/// A place in the pane's lines: a line number and a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: u16,
}

/// What is selected: from `anchor` to the cursor, by characters or by whole lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub anchor: Pos,
    pub lines: bool,
}

/// How copy mode was entered: with the wheel it leaves again when scrolled back to the
/// bottom (tmux's `copy-mode -e`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entered {
    Keys,
    Wheel,
    Mouse,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyMode {
    /// The first line in view.
    pub top: usize,
    pub cursor: Pos,
    pub selection: Option<Selection>,
    /// The query in force, and which way `n` goes.
    pub search: Option<String>,
    pub dir: Direction,
    /// The match the cursor went to, and its `[i/n]`.
    pub current: Option<Hit>,
    pub counter: Option<(usize, usize)>,
    /// The search prompt being typed, and which way it will go.
    pub editing: Option<(Direction, Editor)>,
    pub entered: Entered,
    /// A mouse button is down: a drag moves the selection's end.
    pub dragging: bool,
    /// Every line (scrollback and screen) and the screen's size as of the last look.
    len: usize,
    rows: u16,
    cols: u16,
    /// Where the pane's view is parked, and the scrollback's length then (to count the
    /// lines that arrive).
    parked: usize,
    history: usize,
    /// The scrollback's text from its oldest line on, as far as a search has read it: a
    /// line in the scrollback never changes, so the next search reads only what came.
    texts: Vec<String>,
}

/// Moves the cursor can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    Up(usize),
    Down(usize),
    Left,
    Right,
    WordNext,
    WordPrev,
    LineStart,
    LineEnd,
    Top,
    Bottom,
    /// The view and the cursor together, by lines (negative is up).
    Page(i64),
}

impl CopyMode {
    /// Enters copy mode on the pane's view as it is (scrolled back, or the live screen
    /// with the cursor where the program's is).
    pub fn enter(h: &mut History<'_>, entered: Entered) -> CopyMode {
        let history = h.scrollback_len();
        let rows = h.rows();
        let offset = h.offset().min(history);
        let top = history - offset;
        let cursor = if offset == 0 {
            let (row, col) = h.cursor();
            Pos {
                line: history + usize::from(row),
                col,
            }
        } else {
            Pos {
                line: top + usize::from(rows) - 1,
                col: 0,
            }
        };
        let parked = h.park();
        CopyMode {
            top,
            cursor,
            selection: None,
            search: None,
            dir: Direction::Up,
            current: None,
            counter: None,
            editing: None,
            entered,
            dragging: false,
            len: history + usize::from(rows),
            rows,
            cols: h.cols(),
            parked,
            history,
            texts: Vec::new(),
        }
    }

    /// Catches up with the pane: lines that arrived move every position with their text
    /// (the view stays where it was, as tmux's does), and a resize keeps them in range.
    /// Called before each key and each frame.
    pub fn follow(&mut self, h: &mut History<'_>) {
        let arrived = h.arrived(self.parked, self.history);
        self.parked = h.offset();
        self.history = h.scrollback_len();
        self.rows = h.rows();
        self.cols = h.cols();
        self.len = self.history + usize::from(self.rows);
        if self.texts.len() > self.history {
            // A fresh screen (the program restarted, the parser reset): read it anew.
            self.texts.clear();
        }
        if arrived.dropped > 0 {
            let d = arrived.dropped;
            self.texts.drain(..d.min(self.texts.len()));
            self.top = self.top.saturating_sub(d);
            self.cursor.line = self.cursor.line.saturating_sub(d);
            if let Some(s) = &mut self.selection {
                s.anchor.line = s.anchor.line.saturating_sub(d);
            }
            if let Some(hit) = &mut self.current {
                hit.line = hit.line.saturating_sub(d);
            }
        }
        self.clamp();
    }

    fn clamp(&mut self) {
        let last = self.len.saturating_sub(1);
        self.cursor.line = self.cursor.line.min(last);
        self.cursor.col = self.cursor.col.min(self.cols.saturating_sub(1));
        self.top = self.top.min(self.bottom_top());
        if let Some(s) = &mut self.selection {
            s.anchor.line = s.anchor.line.min(last);
        }
        self.show_cursor();
    }

    /// The top line of the last page: the live screen.
    fn bottom_top(&self) -> usize {
        self.len.saturating_sub(usize::from(self.rows))
    }

    /// Whether the view is at the live screen.
    pub fn at_bottom(&self) -> bool {
        self.top >= self.bottom_top()
    }

    /// Lines back from the live screen, and how many the scrollback holds: tmux's
    /// `[offset/size]`.
    pub fn position(&self) -> (usize, usize) {
        (
            self.bottom_top() - self.top.min(self.bottom_top()),
            self.history,
        )
    }

    /// Scrolls the view so the cursor is on it.
    fn show_cursor(&mut self) {
        let rows = usize::from(self.rows.max(1));
        if self.cursor.line < self.top {
            self.top = self.cursor.line;
        } else if self.cursor.line >= self.top + rows {
            self.top = self.cursor.line + 1 - rows;
        }
        self.top = self.top.min(self.bottom_top());
    }

    fn line(h: &mut History<'_>, n: usize) -> LineText {
        h.lines(n..n + 1).pop().unwrap_or_default()
    }

    /// Moves the cursor (and the view with it when it leaves the view).
    pub fn go(&mut self, h: &mut History<'_>, m: Move) {
        let last = self.len.saturating_sub(1);
        let cols = self.cols;
        let bottom_top = self.bottom_top();
        let word = match m {
            Move::WordNext => Some(self.word_next(h)),
            Move::WordPrev => Some(self.word_prev(h)),
            _ => None,
        };
        let c = &mut self.cursor;
        match m {
            Move::Up(n) => c.line = c.line.saturating_sub(n),
            Move::Down(n) => c.line = (c.line + n).min(last),
            Move::Left => c.col = c.col.saturating_sub(1),
            Move::Right => c.col = (c.col + 1).min(cols.saturating_sub(1)),
            Move::LineStart => c.col = 0,
            Move::LineEnd => {
                c.col = Self::line(h, c.line).end_col().saturating_sub(1);
            }
            Move::Top => *c = Pos { line: 0, col: 0 },
            Move::Bottom => {
                c.line = last;
                c.col = 0;
            }
            Move::WordNext | Move::WordPrev => *c = word.unwrap_or(*c),
            Move::Page(n) => {
                let top = (self.top as i64 + n).clamp(0, bottom_top as i64) as usize;
                let moved = top as i64 - self.top as i64;
                self.top = top;
                // The cursor keeps its row in the view; at either end it goes all the way.
                let line = if moved == 0 {
                    (c.line as i64 + n).clamp(0, last as i64)
                } else {
                    (c.line as i64 + moved).clamp(0, last as i64)
                };
                c.line = line as usize;
            }
        }
        self.show_cursor();
    }

    /// Scrolls the view by `n` lines (negative is up), the cursor staying on its line
    /// unless it would leave the view (the wheel).
    pub fn scroll(&mut self, n: i64) {
        self.top = (self.top as i64 + n).clamp(0, self.bottom_top() as i64) as usize;
        let rows = usize::from(self.rows.max(1));
        let c = &mut self.cursor;
        c.line = c.line.clamp(self.top, self.top + rows - 1);
        c.line = c.line.min(self.len.saturating_sub(1));
    }

    /// The start of the next word (a run of non-blanks), on this line or a later one.
    fn word_next(&self, h: &mut History<'_>) -> Pos {
        let mut line = self.cursor.line;
        let mut from = Self::line(h, line).byte_at(self.cursor.col);
        let mut first = true;
        // A few screens at most: past that, stay.
        let end = (line + 4 * usize::from(self.rows.max(1))).min(self.len);
        while line < end {
            let l = Self::line(h, line);
            let text = &l.text;
            let mut i = from.min(text.len());
            if first {
                // Skip the rest of the word under the cursor.
                while let Some(ch) = text[i..].chars().next().filter(|c| !c.is_whitespace()) {
                    i += ch.len_utf8();
                }
            }
            while let Some(ch) = text[i..].chars().next().filter(|c| c.is_whitespace()) {
                i += ch.len_utf8();
            }
            if i < text.len() {
                return Pos {
                    line,
                    col: l.col_of(i),
                };
            }
            line += 1;
            from = 0;
            first = false;
        }
        self.cursor
    }

    /// The start of this word, or of the one before (on this line or an earlier one).
    fn word_prev(&self, h: &mut History<'_>) -> Pos {
        let mut line = self.cursor.line;
        let mut before = Self::line(h, line).byte_at(self.cursor.col);
        let stop = line.saturating_sub(4 * usize::from(self.rows.max(1)));
        loop {
            let l = Self::line(h, line);
            let text = &l.text[..before.min(l.text.len())];
            let trimmed = text.trim_end();
            if !trimmed.is_empty() {
                let start = trimmed.rfind(char::is_whitespace).map_or(0, |i| {
                    i + trimmed[i..].chars().next().map_or(1, char::len_utf8)
                });
                return Pos {
                    line,
                    col: l.col_of(start),
                };
            }
            if line == stop || line == 0 {
                return self.cursor;
            }
            line -= 1;
            before = usize::MAX;
        }
    }

    /// `v` / space (`lines`: `V`): starts a selection at the cursor, or drops the one there
    /// is when it is of the same kind.
    pub fn toggle_selection(&mut self, lines: bool) {
        self.selection = match self.selection {
            Some(s) if s.lines == lines => None,
            Some(s) => Some(Selection { lines, ..s }),
            None => Some(Selection {
                anchor: self.cursor,
                lines,
            }),
        };
    }

    /// The selection's ends in order (inclusive), or the cursor's line when nothing is
    /// selected.
    fn span(&self) -> (Pos, Pos, bool) {
        match self.selection {
            Some(s) => {
                let (a, b) = if s.anchor <= self.cursor {
                    (s.anchor, self.cursor)
                } else {
                    (self.cursor, s.anchor)
                };
                (a, b, s.lines)
            }
            None => (self.cursor, self.cursor, true),
        }
    }

    /// Whether the cell at `pos` is selected.
    fn selected(&self, pos: Pos) -> bool {
        if self.selection.is_none() {
            return false;
        }
        let (a, b, lines) = self.span();
        if pos.line < a.line || pos.line > b.line {
            return false;
        }
        lines
            || ((pos.line > a.line || pos.col >= a.col) && (pos.line < b.line || pos.col <= b.col))
    }

    /// The text a yank takes: the selection (or the cursor's line), as the program wrote
    /// it: rows it ran past the edge joined, trailing blanks cut, no newline after the
    /// last line. Past `max` bytes it is cut (a copy holds that much at most); returns
    /// the text and how many lines it spans.
    pub fn selected_text(&self, h: &mut History<'_>, max: usize) -> (String, usize) {
        let (a, b, whole) = self.span();
        let lines = h.lines(a.line..b.line + 1);
        let mut out = String::new();
        for (i, l) in lines.iter().enumerate() {
            let n = a.line + i;
            let from = if whole || n != a.line {
                0
            } else {
                l.byte_at(a.col)
            };
            let to = if whole || n != b.line {
                l.text.len()
            } else {
                let end = l.byte_at(b.col);
                // Through the character under the end column.
                l.text[end..]
                    .chars()
                    .next()
                    .map_or(l.text.len(), |c| end + c.len_utf8())
            };
            out.push_str(&l.text[from.min(to)..to]);
            if n != b.line && !l.wrapped {
                out.push('\n');
            }
        }
        if out.len() > max {
            out.truncate(out.floor_char_boundary(max));
        }
        (out, lines.len())
    }

    /// Opens the search prompt going `dir`.
    pub fn start_search(&mut self, dir: Direction) {
        self.editing = Some((dir, Editor::default()));
    }

    /// Ends the prompt: `commit` searches for what was typed (and remembers it in
    /// `history`). Returns what the search found.
    pub fn end_search(
        &mut self,
        h: &mut History<'_>,
        commit: bool,
        history: &mut search::History,
    ) -> Option<Found> {
        let (dir, editor) = self.editing.take()?;
        if !commit || editor.text.is_empty() {
            return None;
        }
        history.push(&editor.text);
        self.search = Some(editor.text);
        self.dir = dir;
        self.current = None;
        self.seek(h, dir)
    }

    /// `n` (the way the search went) or `N` (`reverse`: the other way): the next match
    /// from the cursor, coming round the end when there is none that way.
    pub fn search_again(&mut self, h: &mut History<'_>, reverse: bool) -> Option<Found> {
        let dir = if reverse {
            self.dir.reverse()
        } else {
            self.dir
        };
        self.seek(h, dir)
    }

    fn seek(&mut self, h: &mut History<'_>, dir: Direction) -> Option<Found> {
        let query = self.search.clone()?;
        let known = self.texts.len();
        let read = h.lines(known..self.history);
        self.texts.extend(read.into_iter().map(|l| l.text));
        // The screen's rows change in place: read every time.
        let screen: Vec<String> = h
            .lines(self.history..self.len)
            .into_iter()
            .map(|l| l.text)
            .collect();
        let texts = Joined(&self.texts, &screen);
        let from = (
            self.cursor.line,
            Self::line(h, self.cursor.line).byte_at(self.cursor.col),
        );
        let Some(found) = search::seek(&texts, &query, from, dir, false) else {
            self.current = None;
            self.counter = Some((0, 0));
            return None;
        };
        let hit = found.hit;
        self.current = Some(hit);
        self.counter = Some((found.index, found.total));
        self.cursor = Pos {
            line: hit.line,
            col: Self::line(h, hit.line).col_of(hit.start),
        };
        // A match off the view is put a third down, so what led to it shows.
        let rows = usize::from(self.rows.max(1));
        if self.cursor.line < self.top || self.cursor.line >= self.top + rows {
            self.top = self
                .cursor
                .line
                .saturating_sub(rows / 3)
                .min(self.bottom_top());
        }
        Some(found)
    }

    /// The line and column under the screen cell (`x`, `y`) of a pane drawn at `inner`.
    pub fn pos_at(&self, inner: Rect, x: u16, y: u16) -> Pos {
        let row = y.saturating_sub(inner.y).min(self.rows.saturating_sub(1));
        Pos {
            line: (self.top + usize::from(row)).min(self.len.saturating_sub(1)),
            col: x.saturating_sub(inner.x).min(self.cols.saturating_sub(1)),
        }
    }

    /// Moves the cursor to `pos` (a click), the view following when it is past an edge.
    pub fn put_cursor(&mut self, pos: Pos) {
        self.cursor = pos;
        self.show_cursor();
    }

    /// Draws the lines in view into `area` (the pane's inner area), then the search's
    /// matches, the selection and the cursor over them.
    pub fn draw(&self, h: &mut History<'_>, area: Rect, buf: &mut Buffer, theme: &Theme) {
        h.draw(self.top, area, buf);
        let rows = usize::from(area.height);
        let lines = h.lines(self.top..self.top + rows);
        let query = self.search.as_deref().filter(|q| !q.is_empty());
        let matched = Style::default().fg(theme.match_fg).bg(theme.match_bg);
        let current = Style::default()
            .fg(theme.match_fg)
            .bg(theme.current_match_bg);
        let selected = Style::default()
            .fg(theme.selection_fg)
            .bg(theme.selection_bg);
        for (i, l) in lines.iter().enumerate() {
            let line = self.top + i;
            let y = area.y + i as u16;
            let paint = |buf: &mut Buffer, from: u16, to: u16, style: Style| {
                for col in from..to.min(area.width) {
                    buf[(area.x + col, y)].set_style(style);
                }
            };
            if let Some(q) = query {
                for (start, end) in search::find_all(&l.text, q) {
                    let is_current = self
                        .current
                        .is_some_and(|h| h.line == line && h.start == start);
                    let style = if is_current { current } else { matched };
                    paint(buf, l.col_of(start), l.col_of(end), style);
                }
            }
            if self.selection.is_some() {
                for col in 0..area.width {
                    if self.selected(Pos { line, col }) {
                        paint(buf, col, col + 1, selected);
                    }
                }
            }
            if line == self.cursor.line && self.cursor.col < area.width {
                buf[(area.x + self.cursor.col, y)]
                    .set_style(Style::default().add_modifier(Modifier::REVERSED));
            }
        }
    }
}

/// The scrollback's lines, then the screen's, as one [`search::Lines`].
struct Joined<'a>(&'a [String], &'a [String]);

impl search::Lines for Joined<'_> {
    fn count(&self) -> usize {
        self.0.len() + self.1.len()
    }
    fn text(&self, i: usize) -> std::borrow::Cow<'_, str> {
        let s = match self.0.get(i) {
            Some(s) => s,
            None => &self.1[i - self.0.len()],
        };
        std::borrow::Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pty::term::Term;

    /// A 5 × 30 screen with 40 numbered lines written to it, and a scrollback of 100.
    fn term() -> Term {
        let mut t = Term::new(5, 30, 100);
        for i in 0..40 {
            t.process(format!("word{i} alpha beta\r\n").as_bytes());
        }
        t
    }

    fn with<R>(t: &mut Term, f: impl FnOnce(&mut History<'_>) -> R) -> R {
        f(&mut History::new(t))
    }

    #[test]
    fn entering_puts_the_cursor_where_the_programs_is() {
        let mut t = term();
        let c = with(&mut t, |h| CopyMode::enter(h, Entered::Keys));
        // 40 lines and the cursor's empty row: 36 in the scrollback, the cursor on the
        // screen's last row.
        assert_eq!(c.top, 36);
        assert_eq!(c.cursor, Pos { line: 40, col: 0 });
        assert!(c.at_bottom());
        assert_eq!(c.position(), (0, 36));
    }

    #[test]
    fn moves_words_lines_and_pages() {
        let mut t = term();
        let mut c = with(&mut t, |h| CopyMode::enter(h, Entered::Keys));
        with(&mut t, |h| {
            c.go(h, Move::Up(1));
            assert_eq!(c.cursor, Pos { line: 39, col: 0 });
            c.go(h, Move::WordNext);
            assert_eq!(c.cursor.col, 7, "word39 alpha: alpha");
            c.go(h, Move::WordNext);
            assert_eq!(c.cursor.col, 13);
            c.go(h, Move::WordPrev);
            assert_eq!(c.cursor.col, 7);
            c.go(h, Move::LineEnd);
            assert_eq!(c.cursor.col, 16, "on the last character");
            c.go(h, Move::LineStart);
            assert_eq!(c.cursor.col, 0);
            c.go(h, Move::WordPrev);
            assert_eq!(
                c.cursor,
                Pos { line: 38, col: 13 },
                "back onto the line above"
            );
            c.go(h, Move::Page(-4));
            assert_eq!((c.top, c.cursor.line), (32, 34));
            c.go(h, Move::Top);
            assert_eq!((c.top, c.cursor), (0, Pos { line: 0, col: 0 }));
            c.go(h, Move::Bottom);
            assert_eq!((c.top, c.cursor.line), (36, 40));
        });
    }

    #[test]
    fn search_finds_goes_round_and_counts() {
        let mut t = term();
        let mut c = with(&mut t, |h| CopyMode::enter(h, Entered::Keys));
        let mut history = search::History::default();
        c.start_search(Direction::Up);
        c.editing.as_mut().unwrap().1.push_str("word3");
        // word3, word30..word39: 11 matches; up from the bottom, the last is word39.
        let f = with(&mut t, |h| c.end_search(h, true, &mut history)).unwrap();
        assert_eq!((f.index, f.total, f.wrapped), (11, 11, false));
        assert_eq!(c.cursor, Pos { line: 39, col: 0 });
        // n keeps going up; N goes down again, and past the last comes round.
        let f = with(&mut t, |h| c.search_again(h, false)).unwrap();
        assert_eq!((c.cursor.line, f.index), (38, 10));
        with(&mut t, |h| c.search_again(h, true));
        let f = with(&mut t, |h| c.search_again(h, true)).unwrap();
        assert_eq!((c.cursor.line, f.index, f.wrapped), (3, 1, true));
        assert!(c.top <= 3, "the view went to the match");
        assert_eq!(c.counter, Some((1, 11)));
        // A second search starts empty; the first is in the history.
        c.start_search(Direction::Down);
        assert_eq!(c.editing.as_ref().unwrap().1.text, "");
        assert_eq!(history.len(), 1);
    }

    #[test]
    fn a_selection_yanks_the_text_as_written() {
        let mut t = Term::new(5, 10, 100);
        // A line the program wrote past the edge runs on into the next row.
        t.process(b"one two\r\nabcdefghijKLM\r\nlast\r\n");
        let mut c = with(&mut t, |h| CopyMode::enter(h, Entered::Keys));
        with(&mut t, |h| {
            c.put_cursor(Pos { line: 0, col: 4 });
            c.toggle_selection(false);
            c.go(h, Move::Down(3));
            c.go(h, Move::Left);
            c.go(h, Move::Left);
            let (text, lines) = c.selected_text(h, usize::MAX);
            assert_eq!(text, "two\nabcdefghijKLM\nlas");
            assert_eq!(lines, 4);
            c.toggle_selection(true);
            assert_eq!(
                c.selected_text(h, usize::MAX).0,
                "one two\nabcdefghijKLM\nlast"
            );
            assert_eq!(c.selected_text(h, 5).0, "one t", "cut at the cap");
            c.toggle_selection(true);
            assert_eq!(c.selection, None);
            // Nothing selected: the cursor's line.
            assert_eq!(c.selected_text(h, usize::MAX).0, "last");
        });
    }

    #[test]
    fn the_cursor_stays_on_its_line_while_the_program_writes() {
        // A full scrollback (20 lines), so its length no longer grows.
        let mut t = Term::new(5, 30, 20);
        for i in 0..60 {
            t.process(format!("old {i}\r\n").as_bytes());
        }
        let mut c = with(&mut t, |h| CopyMode::enter(h, Entered::Keys));
        with(&mut t, |h| c.go(h, Move::Up(10)));
        let before = with(&mut t, |h| CopyMode::line(h, c.cursor.line).text);
        assert_eq!(before, "old 50");
        let top_text = with(&mut t, |h| CopyMode::line(h, c.top).text);
        for i in 60..63 {
            t.process(format!("new {i}\r\n").as_bytes());
        }
        with(&mut t, |h| c.follow(h));
        assert_eq!(
            with(&mut t, |h| CopyMode::line(h, c.cursor.line).text),
            "old 50"
        );
        assert_eq!(with(&mut t, |h| CopyMode::line(h, c.top).text), top_text);
        // A search reads the scrollback once; what arrives after is read on the next one,
        // and what fell out is gone from it.
        let mut history = search::History::default();
        c.start_search(Direction::Up);
        c.editing.as_mut().unwrap().1.push_str("old 4");
        let f = with(&mut t, |h| c.end_search(h, true, &mut history)).unwrap();
        let text = |t: &mut Term, c: &CopyMode| with(t, |h| CopyMode::line(h, c.cursor.line).text);
        assert_eq!(text(&mut t, &c), "old 49");
        assert_eq!((f.index, f.total), (10, 10));
        // Five more: "old 39" to "old 43" fall out of the scrollback.
        for i in 63..68 {
            t.process(format!("new {i}\r\n").as_bytes());
        }
        with(&mut t, |h| c.follow(h));
        let f = with(&mut t, |h| c.search_again(h, false)).unwrap();
        assert_eq!(text(&mut t, &c), "old 48");
        assert_eq!((f.index, f.total), (5, 6));
        // A line that arrived after the first search, on the screen.
        c.search = Some("new 67".into());
        let f = with(&mut t, |h| c.search_again(h, false)).unwrap();
        assert_eq!(text(&mut t, &c), "new 67");
        assert!(f.wrapped);
    }
}
