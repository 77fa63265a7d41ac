//! The GPU panel: per GPU a VRAM bar (green, yellow from 70 %, red from 90 %), utilization
//! with its history, temperature, power and clocks, and the processes on it with the
//! model's marked. No GPU is a calm message, not an error. A GPU that cannot be read says
//! why (its last reading stays below); readings NVML stopped refreshing say how old they
//! are; MIG and MPS, whose per-instance figures NVML's whole-GPU view does not show, are
//! named.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::config::theme::Theme;
use crate::monitor::{GpuSample, GpuState, History, NO_GPU};
use crate::ui::widgets::bar::{bar, vram_colour};
use crate::ui::widgets::sparkline::sparkline;
use crate::ui::widgets::text::{bytes, fit, put_lines, used_of};

/// How much to show per GPU; less when the pane is short.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Detail {
    Minimal,
    NoProcesses,
    Full,
}

pub fn draw(buf: &mut Buffer, area: Rect, gpu: &GpuState, history: &History, theme: &Theme) {
    let dim = Style::default().fg(theme.dim);
    let lines = match gpu {
        GpuState::Waiting => vec![Line::styled("Waiting for GPU data…", dim)],
        GpuState::Unavailable { reason } => {
            let detail = reason
                .strip_prefix(NO_GPU)
                .map(|d| d.trim_start_matches(':').trim())
                .unwrap_or(reason);
            let mut lines = vec![
                Line::styled(NO_GPU, Style::default().fg(theme.text)),
                Line::styled("the server runs on the CPU", dim),
            ];
            if !detail.is_empty() {
                lines.push(Line::styled(fit(detail, usize::from(area.width)), dim));
            }
            lines
        }
        GpuState::Ready(snapshot) if snapshot.gpus.is_empty() => {
            vec![Line::styled(NO_GPU, Style::default().fg(theme.text))]
        }
        GpuState::Ready(snapshot) => {
            let warn = Style::default().fg(theme.error);
            let stale: Vec<Line<'static>> = snapshot
                .stale
                .iter()
                .map(|st| {
                    Line::styled(
                        fit(
                            &format!("⚠ readings {} s old: {}", st.age_ms / 1000, st.reason),
                            usize::from(area.width),
                        ),
                        warn,
                    )
                })
                .collect();
            let mut chosen = Vec::new();
            for detail in [Detail::Full, Detail::NoProcesses, Detail::Minimal] {
                chosen = stale.clone();
                chosen.extend(
                    snapshot
                        .gpus
                        .iter()
                        .flat_map(|g| gpu_lines(g, history, theme, area.width, detail)),
                );
                if chosen.len() <= usize::from(area.height) {
                    break;
                }
            }
            chosen
        }
    };
    put_lines(buf, area, &lines);
}

fn gpu_lines(
    g: &GpuSample,
    history: &History,
    theme: &Theme,
    width: u16,
    detail: Detail,
) -> Vec<Line<'static>> {
    let w = usize::from(width);
    let dim = Style::default().fg(theme.dim);
    let text = Style::default().fg(theme.text);
    let mut out = Vec::new();

    // The server's CUDA number when it differs from NVML's (a `gpus` list, or a GPU the
    // server does not get at all).
    let cuda = match g.cuda {
        Some(n) if n != g.index => format!(" = CUDA{n}"),
        _ => String::new(),
    };
    let mut head = vec![Span::styled(
        fit(
            &format!(
                "GPU {}{cuda} {}",
                g.index,
                g.name.as_deref().unwrap_or("(unnamed)")
            ),
            w.saturating_sub(18),
        ),
        text.add_modifier(Modifier::BOLD),
    )];
    let mut tail = Vec::new();
    if let Some(t) = g.temperature_c {
        tail.push(format!("{t}°C"));
    }
    if let Some(p) = g.pstate {
        tail.push(format!("P{p}"));
    }
    if let Some(f) = g.fan_percent {
        tail.push(format!("fan {f}%"));
    }
    if !tail.is_empty() {
        head.push(Span::styled(format!("  {}", tail.join("  ")), dim));
    }
    out.push(Line::from(head));
    if let Some(error) = &g.error {
        let last = if g.read_at.is_some() {
            "; last reading below"
        } else {
            ""
        };
        out.push(Line::styled(
            fit(&format!(" ⚠ cannot be read: {error}{last}"), w),
            Style::default().fg(theme.error),
        ));
    }
    let mut notes = Vec::new();
    if g.mig_enabled == Some(true) {
        notes.push("MIG on: whole-GPU figures, not per instance");
    }
    if g.mps {
        notes.push("MPS: CUDA clients run inside nvidia-cuda-mps-server");
    }
    if !notes.is_empty() && detail != Detail::Minimal {
        out.push(Line::styled(
            fit(&format!(" {}", notes.join(" · ")), w),
            dim,
        ));
    }

    if let (Some(used), Some(total)) = (g.memory_used_bytes, g.memory_total_bytes) {
        let pct = if total > 0 {
            used as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        let figures = format!(" {} {pct:>3.0}%", used_of(used, total));
        let bar_w = w.saturating_sub(5 + figures.chars().count()).clamp(4, 40) as u16;
        let mut spans = vec![Span::styled("VRAM ", dim)];
        spans.extend(bar(theme, pct, bar_w, vram_colour(theme, pct)));
        spans.push(Span::styled(figures, text));
        out.push(Line::from(spans));
    }
    if detail == Detail::Minimal {
        return out;
    }

    let util = g.utilization_gpu_percent;
    let mut spans = vec![
        Span::styled("Util ", dim),
        Span::styled(
            util.map(|u| format!("{u:>3}% "))
                .unwrap_or_else(|| "  –  ".into()),
            text,
        ),
    ];
    if let Some(h) = history.gpu(g.index) {
        let spark_w = w.saturating_sub(10).min(60);
        spans.push(Span::styled(
            sparkline(&h.utilization_percent, spark_w, Some(100.0)),
            Style::default().fg(theme.sparkline),
        ));
    }
    out.push(Line::from(spans));

    let mut facts = Vec::new();
    match (g.power_draw_w, g.power_limit_w) {
        (Some(d), Some(l)) => facts.push(format!("Power {d:.0}/{l:.0} W")),
        (Some(d), None) => facts.push(format!("Power {d:.0} W")),
        _ => {}
    }
    match (g.clock_sm_mhz, g.clock_mem_mhz) {
        (Some(s), Some(m)) => facts.push(format!("Clock {s}/{m} MHz")),
        (Some(s), None) => facts.push(format!("Clock {s} MHz")),
        _ => {}
    }
    if let Some(m) = g.model_memory_bytes {
        facts.push(format!("model {}", bytes(m)));
    }
    if !facts.is_empty() {
        out.push(Line::styled(fit(&facts.join("  "), w), dim));
    }
    if detail == Detail::Full {
        for p in &g.processes {
            let name = p.name.as_deref().unwrap_or("?");
            let mem = p.used_memory_bytes.map(bytes).unwrap_or_default();
            let (mark, style) = if p.is_model {
                (
                    "◆",
                    Style::default().fg(theme.ok).add_modifier(Modifier::BOLD),
                )
            } else {
                ("·", dim)
            };
            let label = if p.is_model { "  model" } else { "" };
            out.push(Line::styled(
                fit(&format!(" {mark} {:>7} {name} {mem}{label}", p.pid), w),
                style,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::{GpuSnapshot, Stale};
    use std::time::SystemTime;

    fn text(gpu: &GpuState, height: u16) -> String {
        let area = Rect::new(0, 0, 90, height);
        let mut buf = Buffer::empty(area);
        draw(
            &mut buf,
            area,
            gpu,
            &History::new(10),
            &Theme::builtin_default(),
        );
        (0..height)
            .map(|y| {
                (0..area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn sample(index: u32) -> GpuSample {
        GpuSample {
            index,
            cuda: Some(index),
            name: Some(format!("Card {index}")),
            read_at: Some(SystemTime::now()),
            memory_used_bytes: Some(1 << 30),
            memory_total_bytes: Some(8 << 30),
            ..GpuSample::default()
        }
    }

    #[test]
    fn a_broken_gpu_says_why_and_the_others_draw() {
        let lost = GpuSample {
            error: Some("the GPU has fallen off the bus (GPU lost)".into()),
            ..sample(1)
        };
        let mig = GpuSample {
            mig_enabled: Some(true),
            cuda: Some(0),
            ..sample(2)
        };
        let state = GpuState::Ready(GpuSnapshot {
            gpus: vec![sample(0), lost, mig],
            driver_version: None,
            taken_at: SystemTime::now(),
            stale: Some(Stale {
                age_ms: 12_400,
                reason: "NVML has not answered for 12 s".into(),
            }),
        });
        let t = text(&state, 30);
        assert!(
            t.starts_with("⚠ readings 12 s old: NVML has not answered for 12 s"),
            "{t}"
        );
        assert!(t.contains("GPU 0 Card 0"), "{t}");
        assert!(
            t.contains(
                "⚠ cannot be read: the GPU has fallen off the bus (GPU lost); last reading below"
            ),
            "{t}"
        );
        assert!(t.contains("GPU 2 = CUDA0 Card 2"), "{t}");
        assert!(t.contains("MIG on: whole-GPU figures"), "{t}");
    }
}
