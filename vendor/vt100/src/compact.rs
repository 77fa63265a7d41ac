//! llws: rows that have left the screen, kept in a compact form.
//!
//! A [`crate::row::Row`] stores every cell as 32 bytes at the full width of the screen, blank
//! or not: 10,000 rows of scrollback at 90 columns cost 27.6 MiB whatever they hold. A
//! row in the scrollback never changes again, so it is kept as its text (one byte per
//! plain ASCII cell), the runs of one style over it, and nothing for the blank cells at its
//! end. It is turned back into a `Row` only to be read (see `Grid`'s scrollback view).

use crate::attrs::Attrs;
use crate::cell::Cell;

/// Text byte for an empty cell with no flags (a blank inside the row).
const EMPTY: u8 = 0x00;
/// Text byte that starts any other cell: the cell's raw length byte (flags and length)
/// follows, then that many bytes of its contents.
const GENERAL: u8 = 0x01;
/// Bytes of one style run: the column it starts at (u16) and the attributes (2 × 4 for
/// the colours, 1 for the mode).
const RUN_BYTES: usize = 11;

/// A row of the scrollback, in one allocation (none for a blank row): a header with the
/// number of style runs (u16), the runs ([`RUN_BYTES`] each: where each style starts; none
/// when every kept cell has the default style), then the text of the cells up to the last
/// one that is not blank: a printable ASCII byte for a one-column ASCII cell with no flags,
/// [`EMPTY`] for an empty cell, [`GENERAL`] + raw length + contents for anything else.
#[derive(Clone, Debug)]
pub struct CompactRow {
    data: Box<[u8]>,
    cols: u16,
    wrapped: bool,
}

/// A cell that costs nothing when it ends a row: exactly what a new row holds.
fn is_blank(cell: &Cell) -> bool {
    cell.raw_len() == 0 && *cell.attrs() == Attrs::default()
}

fn put_color(out: &mut Vec<u8>, color: crate::Color) {
    out.extend_from_slice(&match color {
        crate::Color::Default => [0, 0, 0, 0],
        crate::Color::Idx(i) => [1, i, 0, 0],
        crate::Color::Rgb(r, g, b) => [2, r, g, b],
    });
}

fn get_color(b: &[u8]) -> crate::Color {
    match b[0] {
        1 => crate::Color::Idx(b[1]),
        2 => crate::Color::Rgb(b[1], b[2], b[3]),
        _ => crate::Color::Default,
    }
}

fn put_run(out: &mut Vec<u8>, start: u16, attrs: Attrs) {
    out.extend_from_slice(&start.to_le_bytes());
    put_color(out, attrs.fgcolor);
    put_color(out, attrs.bgcolor);
    out.push(attrs.mode);
}

fn get_run(b: &[u8]) -> (usize, Attrs) {
    let start = usize::from(u16::from_le_bytes([b[0], b[1]]));
    let attrs = Attrs {
        fgcolor: get_color(&b[2..6]),
        bgcolor: get_color(&b[6..10]),
        mode: b[10],
    };
    (start, attrs)
}

std::thread_local! {
    /// Where a row's text and runs are gathered before the one exact allocation.
    static SCRATCH: std::cell::RefCell<(Vec<u8>, Vec<u8>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

impl CompactRow {
    /// The compact form of `row`.
    pub fn new(row: &crate::row::Row) -> Self {
        let cells = row.cell_slice();
        let kept =
            cells.len() - cells.iter().rev().take_while(|c| is_blank(c)).count();
        let data = if kept == 0 {
            Box::default()
        } else {
            SCRATCH.with_borrow_mut(|(text, runs)| {
                text.clear();
                runs.clear();
                let mut current = Attrs::default();
                for (col, cell) in cells[..kept].iter().enumerate() {
                    let attrs = cell.attrs();
                    if *attrs != current {
                        current = *attrs;
                        // Rows are at most u16::MAX columns wide (see Size).
                        let start = u16::try_from(col).unwrap_or(u16::MAX);
                        put_run(runs, start, current);
                    }
                    let raw = cell.raw_len();
                    let bytes = cell.content_bytes();
                    match bytes {
                        [b] if raw == 1 && (0x20..0x7f).contains(b) => {
                            text.push(*b);
                        }
                        [] if raw == 0 => text.push(EMPTY),
                        _ => {
                            text.push(GENERAL);
                            text.push(raw);
                            text.extend_from_slice(bytes);
                        }
                    }
                }
                let n_runs = u16::try_from(runs.len() / RUN_BYTES)
                    .unwrap_or(u16::MAX);
                let mut data = Vec::with_capacity(2 + runs.len() + text.len());
                data.extend_from_slice(&n_runs.to_le_bytes());
                data.extend_from_slice(runs);
                data.extend_from_slice(text);
                data.into_boxed_slice()
            })
        };
        Self {
            data,
            cols: row.cols(),
            wrapped: row.wrapped(),
        }
    }

    /// The row as it was: `cols` cells, the blank ones at the end restored.
    pub fn expand(&self) -> crate::row::Row {
        let mut cells = Vec::with_capacity(usize::from(self.cols));
        if !self.data.is_empty() {
            let n_runs = usize::from(u16::from_le_bytes([self.data[0], self.data[1]]));
            let (runs, text) = self.data[2..].split_at(n_runs * RUN_BYTES);
            let mut runs = runs.chunks_exact(RUN_BYTES).map(get_run).peekable();
            let mut attrs = Attrs::default();
            let mut i = 0;
            while i < text.len() {
                let col = cells.len();
                while let Some((_, a)) = runs.next_if(|(start, _)| *start <= col) {
                    attrs = a;
                }
                let b = text[i];
                i += 1;
                let cell = match b {
                    EMPTY => Cell::from_raw(0, &[], attrs),
                    GENERAL => {
                        let raw = text[i];
                        let len = Cell::raw_content_len(raw);
                        let cell = Cell::from_raw(raw, &text[i + 1..i + 1 + len], attrs);
                        i += 1 + len;
                        cell
                    }
                    b => Cell::from_raw(1, &[b], attrs),
                };
                cells.push(cell);
            }
        }
        cells.resize(usize::from(self.cols), Cell::new());
        crate::row::Row::from_cells(cells, self.wrapped)
    }

    /// Whether the row wraps onto the next one.
    pub fn wrapped(&self) -> bool {
        self.wrapped
    }

    /// Each kept cell in order, read in place (no `Row` is built): its column, contents
    /// (empty for an empty cell), and whether it is wide or the second half of a wide
    /// cell. The blank cells that ended the row are not kept, so not visited.
    pub fn for_each_cell(&self, mut visit: impl FnMut(u16, &str, bool, bool)) {
        if self.data.is_empty() {
            return;
        }
        let n_runs = usize::from(u16::from_le_bytes([self.data[0], self.data[1]]));
        let text = &self.data[2 + n_runs * RUN_BYTES..];
        let mut i = 0;
        let mut col: u16 = 0;
        while i < text.len() {
            let b = text[i];
            i += 1;
            match b {
                EMPTY => visit(col, "", false, false),
                GENERAL => {
                    let raw = text[i];
                    let len = Cell::raw_content_len(raw);
                    let contents =
                        std::str::from_utf8(&text[i + 1..i + 1 + len]).unwrap_or("");
                    visit(
                        col,
                        contents,
                        Cell::raw_is_wide(raw),
                        Cell::raw_is_wide_continuation(raw),
                    );
                    i += 1 + len;
                }
                // A printable ASCII byte: one column, its own contents.
                _ => visit(
                    col,
                    std::str::from_utf8(&text[i - 1..i]).unwrap_or(""),
                    false,
                    false,
                ),
            }
            col = col.saturating_add(1);
        }
    }

    /// Heap bytes this row holds.
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        self.data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_after(input: &[u8], cols: u16) -> Vec<crate::row::Row> {
        let mut parser = crate::Parser::new(3, cols, 0);
        parser.process(input);
        parser.screen().grid().drawing_rows().cloned().collect()
    }

    fn same(a: &crate::row::Row, b: &crate::row::Row) -> bool {
        a.cols() == b.cols()
            && a.wrapped() == b.wrapped()
            && a.cell_slice().iter().zip(b.cell_slice()).all(|(x, y)| {
                x == y && x.raw_len() == y.raw_len()
            })
    }

    #[test]
    fn reading_in_place_sees_what_expanding_gives() {
        let inputs: &[&[u8]] = &[
            b"plain text",
            b"\x1b[31mred\x1b[0m then \x1b[1;44mbold\x1b[0m",
            "wide \u{6f22}\u{5b57} and e\u{301} combining, \u{1F600}".as_bytes(),
            b"a\x1b[5Cb",
            b"",
        ];
        for input in inputs {
            for row in rows_after(input, 30) {
                let compact = CompactRow::new(&row);
                let mut seen = Vec::new();
                compact.for_each_cell(|col, s, wide, cont| {
                    seen.push((col, s.to_string(), wide, cont));
                });
                let expected: Vec<_> = row
                    .cell_slice()
                    .iter()
                    .enumerate()
                    .take(seen.len())
                    .map(|(col, c)| {
                        (
                            col as u16,
                            c.contents().to_string(),
                            c.is_wide(),
                            c.is_wide_continuation(),
                        )
                    })
                    .collect();
                assert_eq!(seen, expected, "{:?}", String::from_utf8_lossy(input));
                let rest = &row.cell_slice()[seen.len()..];
                assert!(rest.iter().all(is_blank), "only blanks are left out");
                assert_eq!(compact.wrapped(), row.wrapped());
            }
        }
    }

    #[test]
    fn rows_come_back_exactly() {
        let inputs: &[&[u8]] = &[
            b"",
            b"plain text",
            b"\x1b[31mred\x1b[0m then \x1b[1;44mbold on blue\x1b[0m",
            "wide 漢字 and e\u{301} combining, \u{1F600}".as_bytes(),
            b"\x1b[42m\x1b[K",
            b"a\x1b[5Cb\x1b[41m \x1b[0m",
            b"wrapped line that is longer than twenty columns wide",
            "\x1b[38;2;1;2;3m漢\x1b[48;5;200mx\x1b[7my\x1b[0m    ".as_bytes(),
            "0123456789012345678漢".as_bytes(),
        ];
        for input in inputs {
            for row in rows_after(input, 20) {
                let back = CompactRow::new(&row).expand();
                assert!(same(&row, &back), "{input:?}: {row:?} != {back:?}");
            }
        }
    }

    #[test]
    fn blank_space_costs_nothing() {
        let rows = rows_after(b"", 90);
        assert_eq!(CompactRow::new(&rows[0]).heap_bytes(), 0);
        // The run count, then one byte a cell.
        let rows = rows_after(b"short", 90);
        assert_eq!(CompactRow::new(&rows[0]).heap_bytes(), 2 + 5);
        // A coloured background to the end of the row is content, and is kept as a run.
        let rows = rows_after(b"\x1b[44m\x1b[K", 90);
        let c = CompactRow::new(&rows[0]);
        assert_eq!(c.heap_bytes(), 2 + RUN_BYTES + 90);
    }

    #[test]
    fn random_input_round_trips() {
        let mut seed = 0x9e37_79b9_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let pieces: &[&str] = &[
            "a", "Z", " ", "漢", "\u{301}", "\u{1F600}", "\x1b[31m", "\x1b[0m", "\x1b[1m",
            "\x1b[44m", "\x1b[K", "\x1b[3C", "\x1b[2D", "\r\n", "\t", "\x1b[@", "\x1b[P",
            "\x1b[38;2;9;8;7m", "\x1b[X", "\x1b[7m", "é",
        ];
        for _ in 0..300 {
            let mut input = String::new();
            for _ in 0..(next() % 80) {
                input.push_str(pieces[(next() as usize) % pieces.len()]);
            }
            for cols in [10, 33] {
                for row in rows_after(input.as_bytes(), cols) {
                    let back = CompactRow::new(&row).expand();
                    assert!(same(&row, &back), "{input:?}");
                }
            }
        }
    }
}
