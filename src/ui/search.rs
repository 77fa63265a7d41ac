//! Search, one code for the log pane and the claude pane's copy mode: the prompt (every
//! `/` starts empty; ↑ and ↓ walk the earlier queries), smartcase matching, the next match
//! either way with wrap-around (said, not silent), and the `[i/n]` counter.
//!
//! A pane hands its text over as [`Lines`] (the log's rows as shown, the claude pane's
//! scrollback and screen); a match is a [`Hit`]: a line and a byte range in its text.

use std::borrow::Cow;

/// How many earlier queries the prompt remembers.
const HISTORY_MAX: usize = 100;

/// Byte ranges of `query` in `text`; case-insensitive unless the query has a capital
/// (smartcase, as in less and vim).
pub fn find_all(text: &str, query: &str) -> Vec<(usize, usize)> {
    if query.is_empty() {
        return Vec::new();
    }
    let sensitive = query.chars().any(char::is_uppercase);
    let (hay, needle): (Cow<'_, str>, Cow<'_, str>) = if sensitive {
        (Cow::Borrowed(text), Cow::Borrowed(query))
    } else {
        (
            Cow::Owned(text.to_lowercase()),
            Cow::Owned(query.to_lowercase()),
        )
    };
    // Lowercasing can change byte lengths (rare: e.g. 'İ'); then highlight nothing rather
    // than the wrong cells.
    if hay.len() != text.len() {
        return Vec::new();
    }
    hay.match_indices(needle.as_ref())
        .map(|(i, m)| (i, i + m.len()))
        .collect()
}

/// The text a search runs over: numbered lines, oldest (top) first.
pub trait Lines {
    fn count(&self) -> usize;
    /// Line `i`'s text as it is drawn (no escapes).
    fn text(&self, i: usize) -> Cow<'_, str>;
}

impl Lines for [String] {
    fn count(&self) -> usize {
        self.len()
    }
    fn text(&self, i: usize) -> Cow<'_, str> {
        Cow::Borrowed(&self[i])
    }
}

/// One match: line `line`, bytes `start..end` of its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    pub line: usize,
    pub start: usize,
    pub end: usize,
}

/// Where a search went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub hit: Hit,
    /// It went past the last match (or the first, going up) and came round.
    pub wrapped: bool,
    /// Which match it is (1-based) of how many there are: the `[i/n]` counter.
    pub index: usize,
    pub total: usize,
}

/// Which way a search goes: down (towards newer lines) or up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Down,
    Up,
}

impl Direction {
    pub fn reverse(self) -> Direction {
        match self {
            Direction::Down => Direction::Up,
            Direction::Up => Direction::Down,
        }
    }

    /// What the status bar says when a search came round the end.
    pub fn wrap_note(self) -> &'static str {
        match self {
            Direction::Down => "search hit the bottom, continued at the top",
            Direction::Up => "search hit the top, continued at the bottom",
        }
    }
}

/// Every match of `query` in `lines`, in order.
pub fn all_hits(lines: &(impl Lines + ?Sized), query: &str) -> Vec<Hit> {
    (0..lines.count())
        .flat_map(|line| {
            find_all(&lines.text(line), query)
                .into_iter()
                .map(move |(start, end)| Hit { line, start, end })
        })
        .collect()
}

/// The match after (`Down`) or before (`Up`) the position `from` = (line, byte), coming
/// round the end when there is none that way; `inclusive` lets a match at `from` count.
/// `None` when nothing matches at all.
pub fn seek(
    lines: &(impl Lines + ?Sized),
    query: &str,
    from: (usize, usize),
    dir: Direction,
    inclusive: bool,
) -> Option<Found> {
    let hits = all_hits(lines, query);
    let total = hits.len();
    let at = |h: &Hit| (h.line, h.start);
    let (i, wrapped) = match dir {
        Direction::Down => match hits
            .iter()
            .position(|h| at(h) > from || (inclusive && at(h) == from))
        {
            Some(i) => (i, false),
            None => (0, true),
        },
        Direction::Up => match hits
            .iter()
            .rposition(|h| at(h) < from || (inclusive && at(h) == from))
        {
            Some(i) => (i, false),
            None => (total.checked_sub(1)?, true),
        },
    };
    let hit = *hits.get(i)?;
    Some(Found {
        hit,
        wrapped,
        index: i + 1,
        total,
    })
}

/// The queries typed before, oldest first; shared by every search prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    queries: Vec<String>,
}

impl History {
    /// Remembers `query` as the newest (once: an earlier copy moves to the end).
    pub fn push(&mut self, query: &str) {
        if query.is_empty() {
            return;
        }
        self.queries.retain(|q| q != query);
        self.queries.push(query.to_string());
        if self.queries.len() > HISTORY_MAX {
            self.queries.remove(0);
        }
    }

    pub fn len(&self) -> usize {
        self.queries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }
}

/// The line being typed at a search prompt. It starts empty; ↑ brings back the earlier
/// queries, newest first, and ↓ walks forward again to what was being typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Editor {
    pub text: String,
    /// Which earlier query is shown (an index into the history), if one is.
    browsing: Option<usize>,
    /// What was typed before ↑, given back by ↓ past the newest query.
    draft: String,
}

impl Editor {
    /// A prompt holding `text` (the filter prompt starts from the filter in force).
    pub fn with_text(text: impl Into<String>) -> Editor {
        Editor {
            text: text.into(),
            ..Editor::default()
        }
    }

    pub fn push(&mut self, c: char) {
        self.text.push(c);
        self.browsing = None;
    }

    pub fn push_str(&mut self, s: &str) {
        self.text.push_str(s);
        self.browsing = None;
    }

    pub fn pop(&mut self) {
        self.text.pop();
        self.browsing = None;
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.browsing = None;
    }

    /// ↑: the query before the one shown (the newest first).
    pub fn older(&mut self, history: &History) {
        let next = match self.browsing {
            None if history.is_empty() => return,
            None => {
                self.draft = self.text.clone();
                history.len() - 1
            }
            Some(0) => 0,
            Some(i) => i - 1,
        };
        self.browsing = Some(next);
        self.text = history.queries[next].clone();
    }

    /// ↓: the query after the one shown, then what was being typed.
    pub fn newer(&mut self, history: &History) {
        match self.browsing {
            None => {}
            Some(i) if i + 1 < history.len() => {
                self.browsing = Some(i + 1);
                self.text = history.queries[i + 1].clone();
            }
            Some(_) => {
                self.browsing = None;
                self.text = std::mem::take(&mut self.draft);
            }
        }
    }
}

/// The counter for a title: `[3/17]`, or `[0/0]` when the last search found nothing.
pub fn counter(found: Option<(usize, usize)>) -> String {
    let (i, n) = found.unwrap_or((0, 0));
    format!("[{i}/{n}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn smartcase_search() {
        assert_eq!(find_all("Error error", "error"), vec![(0, 5), (6, 11)]);
        assert_eq!(find_all("Error error", "Error"), vec![(0, 5)]);
        assert!(find_all("abc", "").is_empty());
    }

    #[test]
    fn seek_goes_either_way_counts_and_says_when_it_wraps() {
        let text = lines(&["a x b x", "none", "x"]);
        let t = text.as_slice();
        // Down from the start: the first x, 1 of 3.
        let f = seek(t, "x", (0, 0), Direction::Down, false).unwrap();
        assert_eq!((f.hit.line, f.hit.start, f.index, f.total), (0, 2, 1, 3));
        assert!(!f.wrapped);
        // Down from the second x: the third, on line 2.
        let f = seek(t, "x", (0, 6), Direction::Down, false).unwrap();
        assert_eq!((f.hit.line, f.index, f.wrapped), (2, 3, false));
        // Down past the last: round to the first, and it says so.
        let f = seek(t, "x", (2, 0), Direction::Down, false).unwrap();
        assert_eq!(
            (f.hit.line, f.hit.start, f.index, f.wrapped),
            (0, 2, 1, true)
        );
        // Up from the first: round to the last.
        let f = seek(t, "x", (0, 2), Direction::Up, false).unwrap();
        assert_eq!((f.hit.line, f.index, f.wrapped), (2, 3, true));
        // Inclusive: a match at the position itself counts.
        let f = seek(t, "x", (0, 2), Direction::Down, true).unwrap();
        assert_eq!((f.hit.start, f.index), (2, 1));
        assert_eq!(seek(t, "zzz", (0, 0), Direction::Up, false), None);
        assert_eq!(counter(Some((3, 17))), "[3/17]");
        assert_eq!(counter(None), "[0/0]");
    }

    #[test]
    fn the_prompt_starts_empty_and_up_brings_back_earlier_queries() {
        let mut h = History::default();
        h.push("slot");
        h.push("GPU");
        h.push("slot");
        let mut e = Editor::default();
        assert_eq!(e.text, "");
        e.push('q');
        e.older(&h);
        assert_eq!(e.text, "slot", "the newest first");
        e.older(&h);
        assert_eq!(e.text, "GPU");
        e.older(&h);
        assert_eq!(e.text, "GPU", "stays at the oldest");
        e.newer(&h);
        assert_eq!(e.text, "slot");
        e.newer(&h);
        assert_eq!(e.text, "q", "what was being typed comes back");
        e.newer(&h);
        assert_eq!(e.text, "q");
        let mut empty = Editor::default();
        empty.older(&History::default());
        assert_eq!(empty.text, "");
    }
}
