//! The system panel: CPU with its history, load, RAM (used including the page cache, where
//! a memory-mapped model lives, so a model loaded with mmap counts where it sits), swap
//! when it is used, and
//! the server's own CPU and memory.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::config::profiles::ctx_label;
use crate::config::theme::Theme;
use crate::monitor::GpuState;
use crate::server::load_facts::LoadFacts;
use crate::ui::view::View;
use crate::ui::widgets::bar::{bar, level_colour, ram_colour};
use crate::ui::widgets::sparkline::sparkline;
use crate::ui::widgets::text::{GIB, MIB, bytes, fit, put_lines, used_of};

/// Swap below this is noise: a kernel keeps some pages swapped out on any machine with
/// swap, and a line for them would read as a warning.
const SWAP_SHOWN_FROM: u64 = 100 * 1024 * 1024;

pub fn draw(buf: &mut Buffer, area: Rect, view: &View<'_>, theme: &Theme) {
    let (sys, history) = (view.system, view.history);
    let w = usize::from(area.width);
    let dim = Style::default().fg(theme.dim);
    let text = Style::default().fg(theme.text);
    if sys.taken_at.is_none() {
        put_lines(
            buf,
            area,
            &[Line::styled("Waiting for the first sample…", dim)],
        );
        return;
    }
    let mut lines = Vec::new();

    let cpu = f64::from(sys.cpu_percent);
    lines.push(Line::from(vec![
        Span::styled("CPU  ", dim),
        Span::styled(
            format!("{cpu:>3.0}% "),
            Style::default().fg(level_colour(theme, cpu, 70.0, 90.0)),
        ),
        Span::styled(
            sparkline(
                &history.cpu_percent,
                w.saturating_sub(10).min(60),
                Some(100.0),
            ),
            Style::default().fg(theme.sparkline),
        ),
    ]));
    lines.push(Line::from(vec![
        Span::styled("Load ", dim),
        Span::styled(
            format!("{:.2} {:.2} {:.2}", sys.load[0], sys.load[1], sys.load[2]),
            text,
        ),
        Span::styled(format!("  ({} cores)", sys.per_core.len().max(1)), dim),
    ]));

    if sys.mem_total > 0 {
        let pct = sys.used_incl_cache as f64 * 100.0 / sys.mem_total as f64;
        let figures = format!(
            " {} {pct:>3.0}%",
            used_of(sys.used_incl_cache, sys.mem_total)
        );
        let bar_w = w.saturating_sub(5 + figures.chars().count()).clamp(4, 40) as u16;
        let mut spans = vec![Span::styled("RAM  ", dim)];
        spans.extend(bar(theme, pct, bar_w, ram_colour(theme, pct)));
        spans.push(Span::styled(figures, text));
        lines.push(Line::from(spans));
        lines.push(Line::styled(
            fit(
                &format!(
                    "     used {} · cache {} · free {}",
                    short(sys.used_excl_cache),
                    short(sys.cache),
                    short(sys.mem_free)
                ),
                w,
            ),
            dim,
        ));
    }
    if sys.swap_used > SWAP_SHOWN_FROM {
        let colour = if sys.swap_used < 4 * 1024 * 1024 * 1024 {
            theme.warn
        } else {
            theme.error
        };
        lines.push(Line::from(vec![
            Span::styled("Swap ", dim),
            Span::styled(
                format!("{} on disk", used_of(sys.swap_used, sys.swap_total)),
                Style::default().fg(colour),
            ),
        ]));
    } else if sys.swap_total == 0 {
        // The original's dim line (inventory item 32): no swap is worth knowing when a
        // model does not fit in RAM, since nothing will page out; it is not a warning.
        lines.push(Line::styled("Swap: none", dim));
    }
    match &sys.server {
        Some(s) => {
            let mut facts = format!("CPU {:.0}% · mem {}", s.cpu_percent, bytes(s.memory_bytes));
            if let Some(m) = s.mapped_file_bytes {
                facts.push_str(&format!(" (mapped {})", bytes(m)));
            }
            if let Some(l) = s.memory_limit_bytes {
                facts.push_str(&format!(" of {}", bytes(l)));
            }
            lines.push(Line::from(vec![
                Span::styled("Srv  ", dim),
                Span::styled(fit(&facts, w.saturating_sub(5)), text),
            ]));
        }
        None => lines.push(Line::from(vec![
            Span::styled("Srv  ", dim),
            Span::styled("not running", dim),
        ])),
    }
    lines.extend(fact_lines(view.facts, view.gpu, theme, w));
    put_lines(buf, area, &lines);
}

/// What the server's log said: graph splits, slots and context, the last reply's speed,
/// each device's buffers, and alerts (CUDA errors, out of memory).
fn fact_lines(f: &LoadFacts, gpu: &GpuState, theme: &Theme, w: usize) -> Vec<Line<'static>> {
    let dim = Style::default().fg(theme.dim);
    let text = Style::default().fg(theme.text);
    let mut out = Vec::new();
    let mut facts = Vec::new();
    if let Some(n) = f.graph_splits {
        facts.push(format!("{n} graph splits"));
    }
    match (f.slots, f.n_ctx_slot) {
        (Some(s), Some(c)) => facts.push(format!(
            "{s} slot{} × {}",
            if s == 1 { "" } else { "s" },
            ctx_label(c)
        )),
        (None, Some(c)) => facts.push(ctx_label(c)),
        _ => {}
    }
    if let Some(r) = &f.last_request {
        facts.push(format!("last reply {:.1} t/s", r.generation_tokens_per_s));
    }
    if !facts.is_empty() {
        out.push(Line::from(vec![
            Span::styled("Mdl  ", dim),
            Span::styled(fit(&facts.join(" · "), w.saturating_sub(5)), text),
        ]));
    }
    let mib = |m: Option<f64>| m.map(|m| short((m * MIB) as u64));
    for d in &f.devices {
        let parts: Vec<String> = [
            ("model", d.model_mib),
            ("KV", d.kv_mib),
            ("compute", d.compute_mib),
        ]
        .into_iter()
        .filter_map(|(what, v)| mib(v).map(|v| format!("{what} {v}")))
        .collect();
        out.push(Line::styled(
            fit(
                &format!(
                    "     {} {}",
                    device_label(&d.device, gpu),
                    parts.join(" · ")
                ),
                w,
            ),
            dim,
        ));
    }
    if let Some(alert) = f.alerts.last() {
        let more = if f.alerts.len() > 1 {
            format!(" (+{})", f.alerts.len() - 1)
        } else {
            String::new()
        };
        out.push(Line::styled(
            fit(
                &format!("  ⚠ {}{more}", crate::ui::panes::logs::plain(alert)),
                w,
            ),
            Style::default().fg(theme.error),
        ));
    }
    out
}

/// `CUDA0` as the log names it, with the GPU it is when the numbers differ (`gpus = "1"`
/// makes GPU 1 the server's CUDA0).
fn device_label(device: &str, gpu: &GpuState) -> String {
    let Some(n) = device
        .strip_prefix("CUDA")
        .and_then(|n| n.parse::<u32>().ok())
    else {
        return device.to_string();
    };
    match gpu {
        GpuState::Ready(s) => match s.gpus.iter().find(|g| g.cuda == Some(n)) {
            Some(g) if g.index != n => format!("{device} (GPU {})", g.index),
            _ => device.to_string(),
        },
        _ => device.to_string(),
    }
}

/// `8.1G` / `850M`: the breakdown row is tight.
fn short(b: u64) -> String {
    let f = b as f64;
    if f >= GIB {
        format!("{:.1}G", f / GIB)
    } else {
        format!("{:.0}M", f / MIB)
    }
}
