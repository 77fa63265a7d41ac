//! The activity view, a tab of the log pane: the router's recent requests, one a row,
//! newest at the bottom (as in the log), with the figures llama-server reported for each.
//! The rows come from the router feed's snapshot ([`RouterView`]); drawing reads only it.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use unicode_width::UnicodeWidthStr;

use crate::config::theme::Theme;
use crate::router::activity::Record;
use crate::ui::router_feed::RouterView;
use crate::ui::status_bar::tps_label;
use crate::ui::widgets::text::fit;

/// The columns, left to right; each row's cells in this order.
pub const HEADER: [&str; 11] = [
    "time UTC", "request", "model", "served", "status", "prompt", "cached", "gen", "ttft",
    "pp t/s", "tg t/s",
];
/// The duration, last: the one column a narrow pane cuts first.
const LAST: &str = "took";
/// Between two columns.
const GAP: usize = 2;

/// A record's cells, as the view writes them (`-` where llama-server said nothing).
pub fn cells(r: &Record) -> Vec<String> {
    let secs = r.at_ms / 1000 % 86_400;
    let num = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
    let tps = |t: Option<f64>| t.map_or("-".to_string(), tps_label);
    vec![
        format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
        format!("{} {}", r.method, r.endpoint),
        r.model.clone().unwrap_or_else(|| "-".into()),
        r.profile.clone().unwrap_or_else(|| "-".into()),
        r.status.to_string(),
        num(r.prompt_tokens),
        num(r.cached_tokens),
        num(r.generated_tokens),
        r.ttft_ms.map_or("-".into(), duration),
        tps(r.prompt_tps),
        tps(r.gen_tps),
        duration(r.duration_ms),
    ]
}

/// `850 ms`, `2.3 s`, `95 s`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..10_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} s", ms / 1000),
    }
}

/// Columns a narrow pane leaves out, first to last, until the rest fit: what a glance at
/// the pane needs (the request, who served it, its status and speed) stays longest.
const DROPPED_FIRST: [&str; 8] = [
    "cached", "pp t/s", "prompt", "model", LAST, "time UTC", "ttft", "gen",
];

/// The rows that fit `rows` lines of `width` columns under the header: the newest, oldest
/// first, with the columns a narrow pane has no room for left out.
pub fn lines(view: Option<&RouterView>, rows: usize, width: usize) -> Vec<String> {
    let Some(view) = view else {
        return vec!["no router here: the activity view shows requests through llws's router ([router] enabled, on the machine that runs the server)".into()];
    };
    if view.records.is_empty() {
        return vec!["no request through the router yet".into()];
    }
    let skip = view.records.len().saturating_sub(rows.saturating_sub(1));
    let body: Vec<Vec<String>> = view.records.iter().skip(skip).map(cells).collect();
    let header: Vec<&str> = HEADER.iter().copied().chain([LAST]).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in &body {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.width());
        }
    }
    let mut shown = vec![true; header.len()];
    let total = |shown: &[bool]| -> usize {
        let cols = shown.iter().filter(|s| **s).count();
        let w: usize = widths
            .iter()
            .zip(shown)
            .filter(|(_, s)| **s)
            .map(|(w, _)| w)
            .sum();
        w + GAP * cols.saturating_sub(1)
    };
    for name in DROPPED_FIRST {
        if total(&shown) <= width {
            break;
        }
        if let Some(i) = header.iter().position(|h| *h == name) {
            shown[i] = false;
        }
    }
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    std::iter::once(&header)
        .chain(&body)
        .map(|row| {
            let mut line = String::new();
            let cells = row.iter().zip(&widths).zip(&shown);
            for (c, w) in cells.filter(|(_, shown)| **shown).map(|(cw, _)| cw) {
                if !line.is_empty() {
                    line.push_str(&" ".repeat(GAP));
                }
                line.push_str(c);
                line.push_str(&" ".repeat(w.saturating_sub(c.width())));
            }
            line.trim_end().to_string()
        })
        .collect()
}

pub fn draw(buf: &mut Buffer, area: Rect, view: Option<&RouterView>, theme: &Theme) {
    let lines = lines(view, usize::from(area.height), usize::from(area.width));
    let has_header = view.is_some_and(|v| !v.records.is_empty());
    for (i, line) in lines.iter().enumerate().take(usize::from(area.height)) {
        let style = if has_header && i == 0 {
            Style::default().fg(theme.dim).add_modifier(Modifier::BOLD)
        } else if !has_header {
            Style::default().fg(theme.dim)
        } else {
            Style::default().fg(theme.text)
        };
        let text = fit(line, usize::from(area.width));
        buf.set_stringn(
            area.x,
            area.y + i as u16,
            text,
            usize::from(area.width),
            style,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at_ms: u64, gen_tps: Option<f64>) -> Record {
        Record {
            at_ms,
            method: "POST".into(),
            endpoint: "/v1/chat/completions".into(),
            model: Some("opus".into()),
            profile: Some("tiny-a".into()),
            status: 200,
            stream: true,
            prompt_tokens: Some(12),
            cached_tokens: Some(4),
            generated_tokens: Some(64),
            ttft_ms: Some(120),
            prompt_tps: Some(350.25),
            gen_tps,
            duration_ms: 1830,
        }
    }

    #[test]
    fn a_row_has_every_figure() {
        // 2026-12-02 14:02:11 UTC.
        let at = 1_796_220_131_000;
        assert_eq!(
            cells(&record(at, Some(41.24))),
            [
                "14:02:11",
                "POST /v1/chat/completions",
                "opus",
                "tiny-a",
                "200",
                "12",
                "4",
                "64",
                "120 ms",
                "350",
                "41.2",
                "1.8 s"
            ]
        );
        let mut bare = record(at, None);
        bare.prompt_tokens = None;
        bare.model = None;
        let c = cells(&bare);
        assert_eq!(
            (c[2].as_str(), c[5].as_str(), c[10].as_str()),
            ("-", "-", "-")
        );
    }

    #[test]
    fn the_newest_rows_fit_under_the_header() {
        let mut view = RouterView::default();
        for i in 0..10 {
            view.records.push_back(record(i * 1000, Some(i as f64)));
        }
        let l = lines(Some(&view), 4, 200);
        assert_eq!(l.len(), 4);
        assert!(l[0].starts_with("time UTC  request"), "{}", l[0]);
        assert!(
            l[1].starts_with("00:00:07") && l[3].starts_with("00:00:09"),
            "{l:?}"
        );
        // Columns line up: every row's status sits under the header's.
        let at = l[0].find("status").unwrap();
        assert!(l.iter().skip(1).all(|r| &r[at..at + 3] == "200"), "{l:?}");
    }

    #[test]
    fn without_a_router_or_rows_it_says_so() {
        assert!(lines(None, 5, 80)[0].starts_with("no router here"));
        assert_eq!(
            lines(Some(&RouterView::default()), 5, 80),
            ["no request through the router yet"]
        );
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(2345), "2.3 s");
        assert_eq!(duration(95_000), "95 s");
    }

    #[test]
    fn a_narrow_pane_leaves_out_the_least_needed_columns_first() {
        let mut view = RouterView::default();
        view.records.push_back(record(0, Some(41.0)));
        let wide = lines(Some(&view), 3, 200);
        assert!(
            wide[0].contains("cached") && wide[0].ends_with("took"),
            "{}",
            wide[0]
        );
        let narrow = lines(Some(&view), 3, 80);
        assert!(narrow.iter().all(|l| l.width() <= 80), "{narrow:?}");
        for kept in ["request", "served", "status", "tg t/s"] {
            assert!(narrow[0].contains(kept), "{kept} kept in {}", narrow[0]);
        }
        for gone in ["cached", "pp t/s"] {
            assert!(
                !narrow[0].contains(gone),
                "{gone} left out of {}",
                narrow[0]
            );
        }
        // The cells still sit under their headers.
        let at = narrow[0].find("tg t/s").unwrap();
        assert_eq!(&narrow[1][at..at + 4], "41.0", "{narrow:?}");
        let tiny = lines(Some(&view), 3, 40);
        let columns: Vec<&str> = tiny[0].split("  ").filter(|c| !c.is_empty()).collect();
        assert_eq!(
            columns,
            ["request", "served", "status", "tg t/s"],
            "{}",
            tiny[0]
        );
    }
}
