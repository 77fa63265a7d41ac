//! The server log pane: drawn straight from the controller's ring (no copy), following the
//! end until the user scrolls up; search with highlights, a filter, ANSI colours, level
//! colours and switch separators.
//!
//! The scroll position is kept as a line's seq, not an index, so it stays on the same line
//! while the ring rotates under it.

use std::borrow::Cow;
use std::collections::VecDeque;

use ansi_to_tui::IntoText as _;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

use crate::config::theme::Theme;
use crate::server::logs::{LogLine, Source};
use crate::ui::search::{self, Direction, Editor, Found, find_all};

/// What the search or filter prompt is editing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    Search,
    Filter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogView {
    /// At the end, showing new lines as they come.
    pub follow: bool,
    /// While paused: the seq of the top line shown.
    top: u64,
    /// The ring's next seq when following stopped: lines after it are "new".
    paused_at: u64,
    pub search: Option<String>,
    pub filter: Option<String>,
    /// The match `n`/`N` went to: its line's seq and its first byte.
    current: Option<(u64, usize)>,
    /// Which match that is of how many, as of the last search: the title's `[i/n]`.
    pub counter: Option<(usize, usize)>,
    /// The prompt being typed, and its text.
    pub editing: Option<(Prompt, Editor)>,
    /// Rows of the page in the frame ([`LogView::prepare`]), for page keys.
    page: u16,
    /// Long lines continue on the next rows instead of being cut at the edge.
    pub wrap: bool,
    /// Columns of the page in the frame (wrapped lines' heights depend on it).
    width: u16,
    /// The lines the filter kept, by seq, so a frame only checks lines that are new.
    cache: FilterCache,
    /// The page the next frame shows ([`LogView::prepare`]).
    shown: Shown,
}

/// The lines on the page: their indices in the ring, where the page starts and ends among
/// the lines shown (all, or what the filter keeps), and how many those are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Shown {
    lines: Vec<usize>,
    start: usize,
    end: usize,
    of: usize,
}

/// Matches of one filter text, kept as seqs (the ring's seqs are consecutive, so a seq
/// gives its index: `seq - first seq`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FilterCache {
    query: String,
    /// Every line below this seq has been checked.
    checked_to: u64,
    matches: VecDeque<u64>,
}

impl FilterCache {
    fn rows(&mut self, lines: &VecDeque<LogLine>, query: &str) -> Vec<usize> {
        let Some(first) = lines.front().map(|l| l.seq) else {
            return Vec::new();
        };
        if self.query != query {
            *self = FilterCache {
                query: query.to_string(),
                checked_to: first,
                matches: VecDeque::new(),
            };
        }
        while self.matches.front().is_some_and(|&s| s < first) {
            self.matches.pop_front();
        }
        let start = self.checked_to.max(first);
        for line in lines.iter().skip((start - first) as usize) {
            if matches(&line.text, query) {
                self.matches.push_back(line.seq);
            }
        }
        self.checked_to = lines.back().map_or(start, |l| l.seq + 1);
        self.matches.iter().map(|&s| (s - first) as usize).collect()
    }
}

/// What the copy key takes from the log pane (see [`LogView::copy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The lines, one a line, with no newline after the last (pasted at a shell prompt, a
    /// copy must not run the last line).
    pub text: String,
    /// How many lines `text` holds.
    pub lines: usize,
    /// How many there were to copy: more than `lines` when the cap left the oldest out.
    pub of: usize,
}

impl Default for LogView {
    fn default() -> Self {
        Self {
            follow: true,
            top: 0,
            paused_at: 0,
            search: None,
            filter: None,
            current: None,
            counter: None,
            editing: None,
            page: 10,
            wrap: false,
            width: 80,
            cache: FilterCache::default(),
            shown: Shown::default(),
        }
    }
}

/// The text of a line without escape sequences and with tabs as spaces: what is matched
/// and what the columns of highlights count in. The escapes are parsed by `vte` (the
/// parser the claude pane's emulator runs on), so every sequence a terminal would swallow
/// is dropped whole, not only the CSI and OSC forms.
pub fn plain(text: &str) -> Cow<'_, str> {
    if !text.contains(['\x1b', '\t']) && !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    /// Keeps what a terminal would print, and a tab as four spaces.
    struct Printed(String);
    impl vte::Perform for Printed {
        fn print(&mut self, c: char) {
            if !c.is_control() {
                self.0.push(c);
            }
        }
        fn execute(&mut self, byte: u8) {
            if byte == b'\t' {
                self.0.push_str("    ");
            }
        }
    }
    let mut out = Printed(String::with_capacity(text.len()));
    vte::Parser::new().advance(&mut out, text.as_bytes());
    Cow::Owned(out.0)
}

/// The lines shown (all, or what the filter keeps) as text for a search.
struct RowTexts<'a> {
    lines: &'a VecDeque<LogLine>,
    rows: &'a [usize],
}

impl search::Lines for RowTexts<'_> {
    fn count(&self) -> usize {
        self.rows.len()
    }
    fn text(&self, i: usize) -> Cow<'_, str> {
        plain(&self.lines[self.rows[i]].text)
    }
}

fn matches(text: &str, query: &str) -> bool {
    !find_all(&plain(text), query).is_empty()
}

/// llama-server's level letter: `0.00.014.780 W srv ...` (timestamp, then E/W/I/D).
pub fn level(text: &str) -> Option<char> {
    let mut words = text.split(' ');
    let stamp = words.next()?;
    if stamp.is_empty() || !stamp.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let mut letter = words.next()?.chars();
    match (letter.next(), letter.next()) {
        (Some(c @ ('E' | 'W' | 'I' | 'D')), None) => Some(c),
        _ => None,
    }
}

/// The indices of the lines shown: all, or those the filter keeps.
pub fn rows(lines: &VecDeque<LogLine>, filter: Option<&str>) -> Vec<usize> {
    match filter {
        Some(f) if !f.is_empty() => (0..lines.len())
            .filter(|&i| matches(&lines[i].text, f))
            .collect(),
        _ => (0..lines.len()).collect(),
    }
}

/// The rows a line takes: one, or as many as its wrapped text needs.
fn line_height(line: &LogLine, width: u16, wrap: bool) -> usize {
    if !wrap || line.is_separator() || width == 0 {
        return 1;
    }
    let w: usize = plain(&line.text)
        .chars()
        .map(|c| c.width().unwrap_or(0))
        .sum();
    w.div_ceil(usize::from(width)).max(1)
}

impl LogView {
    /// The first row of the last page: the page that ends with the newest line.
    fn last_page(&self, lines: &VecDeque<LogLine>, rows: &[usize]) -> usize {
        let page = usize::from(self.page.max(1));
        if !self.wrap {
            return rows.len().saturating_sub(page);
        }
        let mut used = 0;
        for (r, &i) in rows.iter().enumerate().rev() {
            used += line_height(&lines[i], self.width, true);
            if used > page {
                return (r + 1).min(rows.len().saturating_sub(1));
            }
        }
        0
    }

    /// The rows on the page: [start, end).
    fn window(&self, lines: &VecDeque<LogLine>, rows: &[usize]) -> (usize, usize) {
        let bottom = self.last_page(lines, rows);
        let start = if self.follow {
            bottom
        } else {
            rows.partition_point(|&i| lines[i].seq < self.top)
                .min(bottom)
        };
        let page = usize::from(self.page.max(1));
        let mut used = 0;
        let mut end = start;
        while end < rows.len() && used < page {
            used += line_height(&lines[rows[end]], self.width, self.wrap);
            end += 1;
        }
        (start, end)
    }

    /// The indices of the lines shown (all, or what the filter keeps).
    fn rows(&mut self, lines: &VecDeque<LogLine>) -> Vec<usize> {
        match self.active_filter().map(str::to_string) {
            Some(f) if !f.is_empty() => self.cache.rows(lines, &f),
            _ => (0..lines.len()).collect(),
        }
    }

    fn active_filter(&self) -> Option<&str> {
        match &self.editing {
            Some((Prompt::Filter, e)) => Some(e.text.as_str()),
            _ => self.filter.as_deref(),
        }
    }

    fn active_search(&self) -> Option<&str> {
        match &self.editing {
            Some((Prompt::Search, e)) => Some(e.text.as_str()),
            _ => self.search.as_deref(),
        }
    }

    /// Lines that arrived since following stopped.
    pub fn new_lines(&self, next_seq: u64) -> u64 {
        if self.follow {
            0
        } else {
            next_seq.saturating_sub(self.paused_at)
        }
    }

    fn go_to(&mut self, lines: &VecDeque<LogLine>, rows: &[usize], start: usize, next_seq: u64) {
        let bottom = self.last_page(lines, rows);
        if start >= bottom {
            self.follow = true;
            return;
        }
        if self.follow {
            self.paused_at = next_seq;
        }
        self.follow = false;
        self.top = lines[rows[start]].seq;
    }

    /// Scrolls by `delta` rows (negative is up). Reaching the end follows again.
    pub fn scroll(&mut self, lines: &VecDeque<LogLine>, next_seq: u64, delta: i64) {
        let rows = self.rows(lines);
        let (start, _) = self.window(lines, &rows);
        let target = (start as i64 + delta).clamp(0, self.last_page(lines, &rows) as i64);
        self.go_to(lines, &rows, target as usize, next_seq);
    }

    pub fn page(&mut self, lines: &VecDeque<LogLine>, next_seq: u64, pages: i64) {
        let step = i64::from(self.page.max(2) - 1);
        self.scroll(lines, next_seq, pages * step);
    }

    pub fn top(&mut self, lines: &VecDeque<LogLine>, next_seq: u64) {
        let rows = self.rows(lines);
        if rows.len() > usize::from(self.page) {
            self.go_to(lines, &rows, 0, next_seq);
        }
    }

    pub fn bottom(&mut self) {
        self.follow = true;
        self.current = None;
    }

    /// Opens a prompt: a search starts empty (↑ brings back earlier queries), the filter
    /// from the one in force, to refine it.
    pub fn start_prompt(&mut self, prompt: Prompt) {
        let editor = match prompt {
            Prompt::Search => Editor::default(),
            Prompt::Filter => Editor::with_text(self.filter.clone().unwrap_or_default()),
        };
        self.editing = Some((prompt, editor));
    }

    /// Ends the prompt: `commit` keeps what was typed (an empty text clears it), and a
    /// search goes to its first match; what it found is returned (`None`: nothing found,
    /// or no search). A kept query goes into `history`.
    pub fn end_prompt(
        &mut self,
        lines: &VecDeque<LogLine>,
        next_seq: u64,
        commit: bool,
        history: &mut search::History,
    ) -> Option<Found> {
        let (prompt, editor) = self.editing.take()?;
        if !commit {
            return None;
        }
        let text = editor.text;
        history.push(&text);
        let value = (!text.is_empty()).then_some(text);
        match prompt {
            Prompt::Filter => {
                self.filter = value;
                self.follow = true;
                None
            }
            Prompt::Search => {
                self.search = value;
                self.current = None;
                self.counter = None;
                // The newest match at or above the end of the page.
                self.jump(lines, next_seq, Direction::Up, true)
            }
        }
    }

    pub fn clear(&mut self) {
        self.search = None;
        self.filter = None;
        self.current = None;
        self.counter = None;
        self.editing = None;
    }

    /// Goes to the next match below (`Down`) or above the current one (or, with
    /// `from_page_end`, the page's end), coming round the end of the log when there is
    /// none that way. Returns where it went; `None` when nothing matches.
    pub fn jump(
        &mut self,
        lines: &VecDeque<LogLine>,
        next_seq: u64,
        dir: Direction,
        from_page_end: bool,
    ) -> Option<Found> {
        let query = self.search.clone()?;
        let rows = self.rows(lines);
        let (start, end) = self.window(lines, &rows);
        let height = end - start;
        let row_of = |seq: u64| rows.partition_point(|&i| lines[i].seq < seq);
        let from = match self.current {
            // The current match's line may have left the ring (or the filter): from where
            // it would be.
            Some((seq, byte)) if !from_page_end => {
                let r = row_of(seq);
                let here = rows.get(r).is_some_and(|&i| lines[i].seq == seq);
                (r, if here { byte } else { 0 })
            }
            _ if from_page_end || dir == Direction::Up => (end, 0),
            _ => (start, 0),
        };
        // From the page's top, a match on its first line counts.
        let inclusive = self.current.is_none() && dir == Direction::Down && !from_page_end;
        let found = search::seek(
            &RowTexts { lines, rows: &rows },
            &query,
            from,
            dir,
            inclusive,
        );
        let Some(found) = found else {
            self.current = None;
            self.counter = Some((0, 0));
            return None;
        };
        let r = found.hit.line;
        self.current = Some((lines[rows[r]].seq, found.hit.start));
        self.counter = Some((found.index, found.total));
        if r < start || r >= end {
            // Put the match a third down the page, so what led to it is visible.
            let target = r.saturating_sub(height / 3);
            self.go_to(lines, &rows, target, next_seq);
            if self.follow && r < self.last_page(lines, &rows) {
                self.follow = false;
            }
        }
        Some(found)
    }

    /// The lines the pane shows, as text for the clipboard: with a filter, every line it
    /// keeps (the user picked those lines, and they seldom fit one page), else the lines on
    /// the page (as of the last draw). Each is as drawn: escapes removed, tabs as spaces.
    /// Past `max` bytes the oldest lines are left out, since a log is read from its end.
    pub fn copy(&mut self, lines: &VecDeque<LogLine>, max: usize) -> Copied {
        let rows = self.rows(lines);
        let shown = if self.active_filter().is_some_and(|f| !f.is_empty()) {
            &rows[..]
        } else {
            let (start, end) = self.window(lines, &rows);
            &rows[start..end]
        };
        let mut taken = Vec::new();
        let mut size = 0;
        for &i in shown.iter().rev() {
            let text = plain(&lines[i].text);
            let add = text.len() + usize::from(!taken.is_empty());
            if size + add > max {
                break;
            }
            size += add;
            taken.push(text);
        }
        taken.reverse();
        Copied {
            text: taken.join("\n"),
            lines: taken.len(),
            of: shown.len(),
        }
    }

    /// Fits the view to the frame about to be drawn in `area` (the pane's inner area): the
    /// page's height and width (the page keys and wrapping use them), and the lines on the
    /// page. The filter's cache is brought up to date here, so drawing reads only.
    pub fn prepare(&mut self, area: Rect, lines: &VecDeque<LogLine>, next_seq: u64) {
        let text_area = self.text_area(area, next_seq);
        self.page = text_area.height.max(1);
        self.width = text_area.width;
        let rows = self.rows(lines);
        let (start, end) = self.window(lines, &rows);
        self.shown = Shown {
            lines: rows[start..end].to_vec(),
            start,
            end,
            of: rows.len(),
        };
    }

    /// The rows of `area` the lines go in: all but the last when the prompt or the "new
    /// lines" bar takes it.
    fn text_area(&self, area: Rect, next_seq: u64) -> Rect {
        let prompt_rows = u16::from(self.editing.is_some() || self.new_lines(next_seq) > 0);
        Rect {
            height: area.height.saturating_sub(prompt_rows),
            ..area
        }
    }

    /// Draws the page [`LogView::prepare`] chose into `area`; returns the title's position
    /// label, e.g. `[120-160/5000]`. `prompt_keys` says how to end a prompt
    /// (`Enter keep · Esc cancel`, from the keymap).
    pub fn draw(
        &self,
        buf: &mut Buffer,
        area: Rect,
        lines: &VecDeque<LogLine>,
        next_seq: u64,
        prompt_keys: &str,
        theme: &Theme,
    ) -> String {
        let text_area = self.text_area(area, next_seq);
        let Shown {
            lines: page,
            start,
            end,
            of,
        } = &self.shown;
        if *of == 0 {
            let msg = if lines.is_empty() {
                "No server output yet."
            } else {
                "No line matches the filter."
            };
            buf.set_string(area.x, area.y, msg, Style::default().fg(theme.dim));
        }
        let search = self.active_search();
        let mut y = text_area.y;
        let bottom = text_area.y + text_area.height;
        for line in page.iter().filter_map(|&i| lines.get(i)) {
            if y >= bottom {
                break;
            }
            let room = Rect {
                y,
                height: bottom - y,
                ..text_area
            };
            let used = draw_line(buf, room, line, theme, self.wrap);
            if let Some(q) = search {
                let current = self
                    .current
                    .filter(|(seq, _)| *seq == line.seq)
                    .map(|(_, byte)| byte);
                highlight(buf, room, &line.text, q, theme, current, self.wrap);
            }
            y += used;
        }
        if text_area.height < area.height {
            let y = area.y + area.height - 1;
            let line = match &self.editing {
                Some((prompt, editor)) => {
                    let label = match prompt {
                        Prompt::Search => "search: ",
                        Prompt::Filter => "filter: ",
                    };
                    Line::from(vec![
                        Span::styled(label, Style::default().fg(theme.accent)),
                        Span::raw(editor.text.clone()),
                        Span::styled("█", Style::default().fg(theme.accent)),
                        Span::styled(format!("  {prompt_keys}"), Style::default().fg(theme.dim)),
                    ])
                }
                None => {
                    let n = self.new_lines(next_seq);
                    let lines = if n == 1 { "line" } else { "lines" };
                    Line::from(Span::styled(
                        format!(" ↓ {n} new {lines} (End follows) "),
                        Style::default().fg(theme.mode_fg).bg(theme.warn),
                    ))
                }
            };
            buf.set_line(area.x, y, &line, area.width);
        }
        if *of == 0 {
            format!("[0/{}]", lines.len())
        } else {
            format!("[{}-{}/{}]", start + 1, (*end).max(start + 1), of)
        }
    }
}

fn level_style(theme: &Theme, level: Option<char>) -> Style {
    match level {
        Some('E') => Style::default().fg(theme.error),
        Some('W') => Style::default().fg(theme.warn),
        Some('D') => Style::default().fg(theme.dim),
        _ => Style::default().fg(theme.text),
    }
}

/// Draws one log line from the top of `area`; returns the rows it used (more than one
/// only when wrapping).
fn draw_line(buf: &mut Buffer, area: Rect, line: &LogLine, theme: &Theme, wrap: bool) -> u16 {
    let (x, y, width) = (area.x, area.y, area.width);
    if line.is_separator() {
        let text = line.text.trim_matches(|c| c == '-' || c == ' ');
        let label = format!("── {text} ");
        let fill = usize::from(width).saturating_sub(label.chars().count());
        let styled = Line::from(Span::styled(
            format!("{label}{}", "─".repeat(fill)),
            Style::default()
                .fg(theme.separator)
                .add_modifier(Modifier::BOLD),
        ));
        buf.set_line(x, y, &styled, width);
        return 1;
    }
    let styled = if line.source == Source::Llws {
        Line::from(Span::styled(
            plain(&line.text).into_owned(),
            Style::default()
                .fg(theme.info)
                .add_modifier(Modifier::ITALIC),
        ))
    } else {
        // The program's own colours; tabs become spaces first so columns match `plain`.
        let coloured = line
            .text
            .contains('\x1b')
            .then(|| line.text.replace('\t', "    "))
            .and_then(|raw| raw.as_bytes().into_text().ok())
            .and_then(|text| text.lines.into_iter().next());
        coloured.unwrap_or_else(|| {
            let text = plain(&line.text).into_owned();
            let style = level_style(theme, level(&text));
            Line::from(Span::styled(text, style))
        })
    };
    if !wrap {
        buf.set_line(x, y, &styled, width);
        return 1;
    }
    let chunks = wrap_line(&styled, width);
    let rows = (chunks.len() as u16).min(area.height).max(1);
    for (dy, chunk) in chunks.iter().take(usize::from(rows)).enumerate() {
        buf.set_line(x, y + dy as u16, chunk, width);
    }
    rows
}

/// Cuts a styled line into rows of at most `width` columns (by character, the same rule
/// [`cells`] places highlights by).
fn wrap_line(line: &Line<'_>, width: u16) -> Vec<Line<'static>> {
    let mut out = vec![Line::default()];
    let mut col = 0u16;
    for span in &line.spans {
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0) as u16;
            if col + w > width && col > 0 {
                out.push(Line::default());
                col = 0;
            }
            let row = out.last_mut().expect("one row at least");
            match row.spans.last_mut() {
                Some(last) if last.style == span.style => last.content.to_mut().push(c),
                _ => row.spans.push(Span::styled(c.to_string(), span.style)),
            }
            col += w;
        }
    }
    out
}

/// Where each character of `text` lands: (byte index, row, column, width).
fn cells(text: &str, width: u16, wrap: bool) -> impl Iterator<Item = (usize, u16, u16, u16)> + '_ {
    let (mut row, mut col) = (0u16, 0u16);
    text.char_indices().map_while(move |(i, c)| {
        let w = c.width().unwrap_or(0) as u16;
        if col + w > width && col > 0 {
            if !wrap {
                return None;
            }
            row += 1;
            col = 0;
        }
        let at = (i, row, col, w);
        col += w;
        Some(at)
    })
}

/// Colours the matches of `query` in a line drawn at the top of `area`.
fn highlight(
    buf: &mut Buffer,
    area: Rect,
    text: &str,
    query: &str,
    theme: &Theme,
    current: Option<usize>,
    wrap: bool,
) {
    let text = plain(text);
    let ranges = find_all(&text, query);
    if ranges.is_empty() {
        return;
    }
    let style = |current: bool| {
        Style::default().fg(theme.match_fg).bg(if current {
            theme.current_match_bg
        } else {
            theme.match_bg
        })
    };
    for (i, row, col, w) in cells(&text, area.width, wrap) {
        if row >= area.height {
            break;
        }
        if let Some(&(start, _)) = ranges.iter().find(|&&(start, end)| i >= start && i < end) {
            let style = style(current == Some(start));
            for dx in 0..w {
                if col + dx < area.width {
                    buf[(area.x + col + dx, area.y + row)].set_style(style);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::logs::LogRing;

    fn ring(n: usize) -> std::sync::Arc<LogRing> {
        let ring = LogRing::new(100);
        for i in 0..n {
            ring.push(Source::Stderr, format!("0.00.{i:03} I line {i}"));
        }
        ring
    }

    #[test]
    fn plain_strips_escapes_and_expands_tabs() {
        assert_eq!(plain("\x1b[31mred\x1b[0m\tx\x1b]0;t\x07!"), "red    x!");
        // An OSC ended by ST, a DCS, a charset switch, a stray control: all gone.
        assert_eq!(
            plain("a\x1b]8;;http://x\x1b\\b\x1bP1$r\x1b\\c\x1b(0d\x07\re"),
            "abcde"
        );
        assert_eq!(plain("naïve ✓"), "naïve ✓");
        assert!(matches!(plain("ok"), Cow::Borrowed(_)));
    }

    #[test]
    fn levels_from_llama_server_lines() {
        assert_eq!(
            level("0.00.014.780 W srv  llama_server: security"),
            Some('W')
        );
        assert_eq!(level("0.00.002.714 I srv  x"), Some('I'));
        assert_eq!(level("E this is not a level"), None);
        assert_eq!(level("build: 1 E x"), None);
    }

    #[test]
    fn the_filter_cache_follows_the_ring_as_it_rotates() {
        let ring = LogRing::new(50);
        let mut v = LogView {
            filter: Some("7".into()),
            ..LogView::default()
        };
        for i in 0..300 {
            ring.push(Source::Stderr, format!("line {i}"));
            if i % 37 == 0 {
                ring.with_lines(|lines| {
                    assert_eq!(v.rows(lines), rows(lines, Some("7")), "after {i}")
                });
            }
        }
        v.filter = Some("1".into());
        ring.with_lines(|lines| assert_eq!(v.rows(lines), rows(lines, Some("1"))));
    }

    #[test]
    fn wrapped_lines_fill_the_page_from_the_end() {
        let ring = LogRing::new(100);
        for i in 0..20 {
            // 25 columns: three rows each at width 10.
            ring.push(Source::Stderr, format!("{i:02}-{}", "x".repeat(22)));
        }
        let mut v = LogView {
            wrap: true,
            ..LogView::default()
        };
        let area = Rect::new(0, 0, 10, 10);
        let mut buf = Buffer::empty(area);
        let pos = ring.with_lines(|lines| {
            v.prepare(area, lines, 20);
            v.draw(&mut buf, area, lines, 20, "", &Theme::builtin_default())
        });
        // Three whole lines (9 rows) and the start of no fourth: the newest is at the end.
        assert_eq!(pos, "[18-20/20]");
        let row = |y: u16| {
            (0..10)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        };
        assert_eq!(row(0), "17-xxxxxxx");
        assert_eq!(row(6), "19-xxxxxxx");
        assert_eq!(row(8), "xxxxx     ");
        // Scrolling moves by lines; the end follows again.
        ring.with_lines(|lines| v.scroll(lines, 20, -2));
        assert!(!v.follow);
        ring.with_lines(|lines| v.scroll(lines, 20, 5));
        assert!(v.follow);
    }

    #[test]
    fn wrapping_keeps_styles_and_highlights_on_the_right_rows() {
        let line = Line::from(vec![
            Span::styled("abc", Style::default().fg(ratatui::style::Color::Red)),
            Span::raw("defgh"),
        ]);
        let rows = wrap_line(&line, 4);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].spans[0].content, "abc");
        assert_eq!(rows[0].spans[1].content, "d");
        assert_eq!(rows[1].spans[0].content, "efgh");
        let at: Vec<(u16, u16)> = cells("abcdefgh", 4, true)
            .map(|(_, r, c, _)| (r, c))
            .collect();
        assert_eq!(at[4], (1, 0));
        assert_eq!(cells("abcdefgh", 4, false).count(), 4);
    }

    #[test]
    fn copy_takes_the_page_or_every_line_the_filter_keeps() {
        let ring = ring(60);
        let mut v = LogView {
            page: 3,
            ..LogView::default()
        };
        // Following: the last page, as drawn (no escapes, tabs as spaces).
        ring.push(Source::Stderr, "\x1b[31mred\x1b[0m\tend");
        let c = ring.with_lines(|lines| v.copy(lines, usize::MAX));
        assert_eq!(c.text, "0.00.058 I line 58\n0.00.059 I line 59\nred    end");
        assert_eq!((c.lines, c.of), (3, 3));
        // Scrolled up: the page where the user is.
        ring.with_lines(|lines| v.scroll(lines, 61, -58));
        let c = ring.with_lines(|lines| v.copy(lines, usize::MAX));
        assert_eq!(
            c.text,
            "0.00.000 I line 0\n0.00.001 I line 1\n0.00.002 I line 2"
        );
        // A filter: every line it keeps, far more than a page.
        v.filter = Some("line 1".into());
        let c = ring.with_lines(|lines| v.copy(lines, usize::MAX));
        assert_eq!((c.lines, c.of), (11, 11));
        assert!(
            c.text
                .starts_with("0.00.001 I line 1\n0.00.010 I line 10\n")
        );
        assert!(c.text.ends_with("0.00.019 I line 19"));
        // Nothing matches: nothing to copy.
        v.filter = Some("no such text".into());
        let c = ring.with_lines(|lines| v.copy(lines, usize::MAX));
        assert_eq!((c.text.as_str(), c.lines, c.of), ("", 0, 0));
    }

    #[test]
    fn copy_past_the_cap_keeps_the_newest_lines() {
        let ring = ring(30);
        let mut v = LogView {
            filter: Some("line".into()),
            ..LogView::default()
        };
        // 18 bytes a line ("0.00.020 I line 20") and a newline between two: three fit
        // in 56 bytes, not four.
        let c = ring.with_lines(|lines| v.copy(lines, 56));
        assert_eq!(
            c.text,
            "0.00.027 I line 27\n0.00.028 I line 28\n0.00.029 I line 29"
        );
        assert_eq!((c.lines, c.of), (3, 30));
        let c = ring.with_lines(|lines| v.copy(lines, 17));
        assert_eq!((c.lines, c.of), (0, 30));
    }

    #[test]
    fn scrolling_up_pauses_and_end_follows() {
        let ring = ring(50);
        let mut v = LogView {
            page: 10,
            ..LogView::default()
        };
        ring.with_lines(|lines| v.scroll(lines, 50, -5));
        assert!(!v.follow);
        ring.push(Source::Stderr, "new");
        assert_eq!(v.new_lines(ring.next_seq()), 1);
        ring.with_lines(|lines| v.scroll(lines, 51, 100));
        assert!(v.follow, "scrolling to the end follows again");
        ring.with_lines(|lines| v.top(lines, 51));
        assert!(!v.follow);
        v.bottom();
        assert!(v.follow);
    }

    #[test]
    fn search_jumps_between_matches_and_filter_keeps_matching_lines() {
        let ring = ring(60);
        let mut v = LogView {
            page: 10,
            ..LogView::default()
        };
        let mut history = search::History::default();
        v.editing = Some((Prompt::Search, Editor::with_text("line 1")));
        let found = ring.with_lines(|lines| v.end_prompt(lines, 60, true, &mut history));
        // The newest match: "line 19" (lines 1 and 10-19 contain "line 1"), 11 of 11.
        assert_eq!(v.current.unwrap().0, 19);
        assert_eq!(found.map(|f| (f.index, f.total)), Some((11, 11)));
        assert_eq!(v.counter, Some((11, 11)));
        assert!(!v.follow);
        let up = ring.with_lines(|lines| v.jump(lines, 60, Direction::Up, false));
        assert_eq!(v.current.unwrap().0, 18);
        assert_eq!(up.map(|f| (f.index, f.wrapped)), Some((10, false)));
        // Down twice from 18: 19, then past the newest round to the oldest (line 1),
        // which says it wrapped.
        ring.with_lines(|lines| v.jump(lines, 60, Direction::Down, false));
        let round = ring.with_lines(|lines| v.jump(lines, 60, Direction::Down, false));
        assert_eq!(v.current.unwrap().0, 1);
        assert_eq!(round.map(|f| (f.index, f.wrapped)), Some((1, true)));
        // A second `/` starts empty; the query is in the history.
        v.start_prompt(Prompt::Search);
        assert_eq!(v.editing.as_ref().unwrap().1.text, "");
        let mut e = Editor::default();
        e.older(&history);
        assert_eq!(e.text, "line 1");
        v.editing = Some((Prompt::Filter, Editor::with_text("line 5")));
        ring.with_lines(|lines| {
            v.end_prompt(lines, 60, true, &mut history);
            assert_eq!(rows(lines, v.filter.as_deref()).len(), 11);
        });
        // The filter prompt starts from the filter in force.
        v.start_prompt(Prompt::Filter);
        assert_eq!(v.editing.as_ref().unwrap().1.text, "line 5");
    }

    #[test]
    fn a_search_with_no_match_says_zero_of_zero() {
        let ring = ring(20);
        let mut v = LogView {
            editing: Some((Prompt::Search, Editor::with_text("nowhere"))),
            ..LogView::default()
        };
        let found =
            ring.with_lines(|lines| v.end_prompt(lines, 20, true, &mut search::History::default()));
        assert_eq!(found, None);
        assert_eq!(v.counter, Some((0, 0)));
    }
}
