//! The model picker: every profile with its speed, context, size and whether it fits in
//! free VRAM; the highlighted profile's description; a bench page; scrolling past the
//! rows that fit, so every profile is in reach, not only the first nine. Enter switches
//! through the controller.

use std::collections::HashMap;
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

use crate::config::keymap::Section;
use crate::config::theme::Theme;
use crate::config::{Profile, ProfileSet};
use crate::model::advice::{AdviceTable, Family};
use crate::model::{files as model_files, samplers};
use crate::monitor::GpuState;
use crate::server::Phase;
use crate::ui::commands::{KeyAction, Keymap};
use crate::ui::picker_table::{Cell, Col, Layout, Row};
use crate::ui::view::View;
use crate::ui::widgets::overlay;
use crate::ui::widgets::text::{bytes, fit, wrap};

/// The picker's rows besides the profiles: border 2, blank, description 3, message, footer.
const CHROME: u16 = 8;
/// The rows the highlighted profile's description, samplers and client advice get.
const DESCRIPTION_ROWS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Main,
    Bench,
}

/// What loading each model needs (files, KV cache, compute buffers: an estimate), or why
/// its files cannot be read.
pub type Sizes = HashMap<String, Result<u64, Unsized>>;

/// Why the picker has no size for a model: what its row says instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsized {
    /// A part is missing: the row names the file (the full path is in `llws check`).
    #[error("missing: {0}")]
    Missing(String),
    #[error("{0}")]
    Files(model_files::ModelFileError),
}

/// What the picker learns from each profile's model files, off the render path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFacts {
    pub sizes: Sizes,
    /// The sampler line for profiles whose EXTRA_ARGS or GGUF say something
    /// ([`samplers::summary`]).
    pub samplers: HashMap<String, String>,
    /// What a client should send to the profile's model family ([`crate::model::advice`]): the
    /// original's per-family client advice (its lesson 9).
    pub advice: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Picker {
    pub page: Page,
    pub selected: usize,
    offset: usize,
    /// Filled off the render path when the picker opens ([`model_facts`]).
    pub sizes: Option<Sizes>,
    /// The highlighted profile's samplers are shown under its description.
    pub samplers: HashMap<String, String>,
    /// And then its client advice.
    pub advice: HashMap<String, String>,
    /// The last successful load of each profile in this session, in ms (what a switch to
    /// it will likely take).
    pub loads: HashMap<String, u64>,
    /// The last refusal or note, and whether it is an error.
    pub message: Option<(String, bool)>,
    /// Opened at start because nothing ran; closed again if a running server is adopted.
    pub auto_opened: bool,
    /// Rows the frame shows ([`Picker::prepare`]), for PgUp/PgDn.
    rows: usize,
}

pub enum Outcome {
    Stay,
    Close,
    Switch(String),
}

/// Sums every part of every profile's model and reads the first part's GGUF header (file
/// metadata only, never the tensors), and finds each model's family in the client advice
/// table (the built-in one, after `advice_file`'s when one is named); run on the blocking
/// pool.
pub fn model_facts(models_dir: &Path, set: &ProfileSet, advice_file: &Path) -> ModelFacts {
    let mut facts = ModelFacts::default();
    let (table, _) = AdviceTable::load(Some(advice_file));
    // Another machine's profiles name files there: none is read here (a remote chooses
    // their MODEL, which may name any path of this machine).
    for p in set.profiles.iter().filter(|p| !p.is_elsewhere()) {
        let files = model_files::check(models_dir, p);
        let meta = files
            .as_ref()
            .ok()
            .and_then(|f| crate::model::gguf::read_file_metadata(f.first()).ok());
        // What the load needs (all parts, plus the KV cache at the profile's context from
        // the GGUF header), not just the file size: that is what must fit.
        let size = files
            .map(|f| crate::model::estimate::estimate(p, f.total_bytes, meta.as_ref(), 0).total())
            .map_err(|e| match e {
                model_files::ModelFileError::Missing { path, .. } => Unsized::Missing(
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                ),
                other => Unsized::Files(other),
            });
        facts.sizes.insert(p.id.clone(), size);
        if let Some(line) = samplers::summary(&samplers::effective(p, meta.as_ref())) {
            facts.samplers.insert(p.id.clone(), line);
        }
        if let Some(family) = table.for_model(p, meta.as_ref()) {
            facts.advice.insert(p.id.clone(), advice_line(family));
        }
    }
    facts
}

/// `clients (Qwen3): a; b`: the family's advice on one line.
pub fn advice_line(family: &Family) -> String {
    format!("clients ({}): {}", family.name, family.advice.join("; "))
}

fn page_profiles(set: &ProfileSet, page: Page) -> Vec<&Profile> {
    match page {
        Page::Main => set.production().collect(),
        Page::Bench => set.bench().collect(),
    }
}

/// A line of the picker's table: a host's header, or the profile at this index of the
/// page's list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TableLine {
    Host(String),
    Profile(usize),
}

/// The page's profiles grouped by host (they come this machine first, then each remote,
/// from the switchboard), a header over each group once any profile is a remote's; with
/// this machine alone, the plain list.
fn lines(list: &[&Profile]) -> Vec<TableLine> {
    let remote = |p: &Profile| crate::hosts::host_of(&p.id).map(str::to_string);
    if !list.iter().any(|p| remote(p).is_some()) {
        return (0..list.len()).map(TableLine::Profile).collect();
    }
    let mut out = Vec::new();
    let mut group: Option<Option<String>> = None;
    for (i, p) in list.iter().enumerate() {
        let host = remote(p);
        if group.as_ref() != Some(&host) {
            out.push(TableLine::Host(match &host {
                Some(name) => format!("remote {name}"),
                None => "this machine".into(),
            }));
            group = Some(host);
        }
        out.push(TableLine::Profile(i));
    }
    out
}

impl Picker {
    /// Opens on the page of the current profile with it highlighted.
    pub fn open(set: &ProfileSet, current: Option<&str>, auto_opened: bool) -> Picker {
        let mut picker = Picker {
            page: Page::Main,
            selected: 0,
            offset: 0,
            sizes: None,
            samplers: HashMap::new(),
            advice: HashMap::new(),
            loads: HashMap::new(),
            message: None,
            auto_opened,
            rows: 10,
        };
        if let Some(id) = current {
            for page in [Page::Main, Page::Bench] {
                if let Some(i) = page_profiles(set, page).iter().position(|p| p.id == id) {
                    picker.page = page;
                    picker.selected = i;
                }
            }
        }
        picker
    }

    /// A key in the picker: `action` is what the keymap's `[picker]` table binds it to; a
    /// digit 1–9 picks that row as it is.
    pub fn handle(
        &mut self,
        action: Option<KeyAction>,
        key: &KeyEvent,
        set: &ProfileSet,
    ) -> Outcome {
        use KeyAction as A;
        self.auto_opened = false;
        let list = page_profiles(set, self.page);
        let n = list.len();
        let last = n.saturating_sub(1);
        let page = self.rows.max(1);
        match action {
            Some(A::Cancel) => return Outcome::Close,
            Some(A::ScrollUp) => self.selected = self.selected.saturating_sub(1),
            Some(A::ScrollDown) => self.selected = (self.selected + 1).min(last),
            Some(A::PageUp) => self.selected = self.selected.saturating_sub(page),
            Some(A::PageDown) => self.selected = (self.selected + page).min(last),
            Some(A::Top) => self.selected = 0,
            Some(A::Bottom) => self.selected = last,
            Some(A::BenchPage) if self.page == Page::Main && set.bench().next().is_some() => {
                self.page = Page::Bench;
                self.selected = 0;
                self.offset = 0;
            }
            Some(A::MainPage) if self.page == Page::Bench => {
                self.page = Page::Main;
                self.selected = 0;
                self.offset = 0;
            }
            Some(A::Confirm) => return self.choose(list.get(self.selected).copied()),
            // Only a plain digit: Ctrl+4 is how a legacy terminal sends the prefix Ctrl+\.
            None if key.modifiers.difference(KeyModifiers::SHIFT).is_empty() => {
                if let KeyCode::Char(c @ '1'..='9') = key.code {
                    let i = c as usize - '1' as usize;
                    if i < n {
                        self.selected = i;
                        return self.choose(list.get(i).copied());
                    }
                }
            }
            None | Some(_) => {}
        }
        Outcome::Stay
    }

    /// Enter or a number on `profile`: the controller decides whether the switch may run
    /// (busy, files missing, already running) and its answer is shown here
    /// ([`Picker::refused`]) or closes the picker.
    fn choose(&mut self, profile: Option<&Profile>) -> Outcome {
        match profile {
            Some(p) => Outcome::Switch(p.id.clone()),
            None => Outcome::Stay,
        }
    }

    /// The controller refused the switch: `why`, where the user chose.
    pub fn refused(&mut self, why: String) {
        self.message = Some((why, true));
    }

    /// Where the picker goes on `screen` when its inside is `width` columns wide (cut to
    /// the screen), and its inside.
    fn geometry(&self, screen: Rect, set: &ProfileSet, width: usize) -> (Rect, Rect) {
        let rows = lines(&page_profiles(set, self.page)).len().max(1) as u16;
        let width = u16::try_from(width + 2)
            .unwrap_or(u16::MAX)
            .min(screen.width.saturating_sub(4));
        let height = (rows + CHROME).min(screen.height.saturating_sub(2));
        let area = overlay::centred(screen, width, height);
        (area, overlay::inner(area))
    }

    /// Fits the picker to the frame about to be drawn: how many rows show, and the
    /// scroll offset that keeps the highlighted row among them.
    pub fn prepare(&mut self, screen: Rect, set: &ProfileSet) {
        // The rows that show depend on the height only.
        let (_, inner) = self.geometry(screen, set, usize::from(screen.width));
        let list = page_profiles(set, self.page);
        let n = list.len();
        let rows = usize::from(inner.height.saturating_sub(CHROME - 2)).max(1);
        self.rows = rows;
        self.selected = self.selected.min(n.saturating_sub(1));
        // The offset counts table lines (host headers too): the selected profile's line,
        // with its host's header when that fits.
        let lines = lines(&list);
        let at = lines
            .iter()
            .position(|l| *l == TableLine::Profile(self.selected))
            .unwrap_or(0);
        let header = usize::from(at > 0 && matches!(lines[at - 1], TableLine::Host(_)));
        if at.saturating_sub(header) < self.offset {
            self.offset = at.saturating_sub(header);
        } else if at >= self.offset + rows {
            self.offset = at + 1 - rows;
        }
    }

    /// Draws the picker centred over `screen`, as [`Picker::prepare`] fitted it.
    pub fn draw(
        &self,
        buf: &mut Buffer,
        screen: Rect,
        view: &View<'_>,
        keymap: &Keymap,
        theme: &Theme,
    ) {
        let (set, server, gpu) = (&view.profiles.set, view.server, view.gpu);
        let list = page_profiles(set, self.page);
        let bench_count = set.bench().count();
        let free = free_vram(gpu);
        let title = match self.page {
            // Nothing to switch from: the first choice of the day.
            Page::Main if server.profile.is_none() || server.phase == Phase::Idle => {
                "Start a model"
            }
            Page::Main => "Switch model",
            Page::Bench => "Benchmark profiles",
        };
        // Free VRAM once in the title; each row then says only whether it fits.
        let title = match free {
            Some(f) => format!("{title} · {} VRAM free", bytes(f)),
            None => title.to_string(),
        };
        let table: Vec<Row> = list
            .iter()
            .enumerate()
            .map(|(i, p)| {
                row_cells(
                    p,
                    i,
                    server.profile.as_deref() == Some(p.id.as_str()),
                    (
                        self.sizes.as_ref(),
                        self.loads.get(&p.id),
                        view.router.and_then(|r| r.measured.get(&p.id).copied()),
                    ),
                    free,
                    gpu,
                    theme,
                )
            })
            .collect();
        let footer = self.footer(keymap, bench_count, theme);
        // As wide as the table, the footer and the title need; the screen cuts it.
        let layout = Layout::of(&table);
        let want = layout
            .width(&table)
            .max(footer.width())
            .max(title.width() + 4);
        let (area, inner) = self.geometry(screen, set, want);
        let layout = layout.fit_to(&table, usize::from(inner.width));
        let inner = overlay::frame(buf, area, &title, theme);
        if inner.height < 3 || inner.width < 20 {
            return;
        }
        let rows = self.rows;
        let w = usize::from(inner.width);
        if list.is_empty() {
            buf.set_string(
                inner.x,
                inner.y,
                "No profiles in models.conf.",
                Style::default().fg(theme.dim),
            );
        }
        let lines = lines(&list);
        for (row, line) in lines.iter().skip(self.offset).take(rows).enumerate() {
            let y = inner.y + row as u16;
            let i = match line {
                TableLine::Profile(i) => *i,
                TableLine::Host(name) => {
                    let head = format!("── {name} ");
                    let rule = "─".repeat(w.saturating_sub(head.chars().count()));
                    buf.set_string(
                        inner.x,
                        y,
                        fit(&format!("{head}{rule}"), w),
                        Style::default().fg(theme.accent),
                    );
                    continue;
                }
            };
            let Some(cells) = table.get(i) else { continue };
            let selected = i == self.selected;
            let line = layout.line(cells, w);
            buf.set_line(inner.x, y, &line, inner.width);
            if selected {
                for x in inner.x..inner.x + inner.width {
                    buf[(x, y)].set_style(
                        Style::default()
                            .fg(theme.selection_fg)
                            .bg(theme.selection_bg),
                    );
                }
            }
        }
        // A scroll mark when rows are hidden (in table lines, headers too).
        if lines.len() > rows {
            let mark = format!(
                " {}-{} of {} ",
                self.offset + 1,
                (self.offset + rows).min(lines.len()),
                lines.len()
            );
            let x = area.x + area.width.saturating_sub(mark.chars().count() as u16 + 2);
            buf.set_string(
                x,
                area.y + area.height - 1,
                mark,
                Style::default().fg(theme.dim),
            );
        }
        let y = inner.y + rows as u16 + 1;
        let desc = list
            .get(self.selected)
            .map(|p| {
                let mut d = format!("[{}] ", p.id);
                d.push_str(p.description().unwrap_or("(no description)"));
                if let Some(line) = self.samplers.get(&p.id) {
                    d.push_str(" · ");
                    d.push_str(line);
                }
                if let Some(line) = self.advice.get(&p.id) {
                    d.push_str(" · ");
                    d.push_str(line);
                }
                d
            })
            .unwrap_or_default();
        for (y, l) in (y..).zip(wrap(&desc, w).into_iter().take(DESCRIPTION_ROWS)) {
            buf.set_string(inner.x, y, l, Style::default().fg(theme.text));
        }
        let y = inner.y + inner.height - 2;
        if let Some((msg, error)) = &self.message {
            let style = Style::default().fg(if *error { theme.error } else { theme.warn });
            buf.set_string(inner.x, y, fit(msg, w), style);
        } else if server.is_busy() {
            buf.set_string(
                inner.x,
                y,
                fit(&format!("a switch is running: {}", server.message), w),
                Style::default().fg(theme.warn),
            );
        }
        buf.set_line(inner.x, inner.y + inner.height - 1, &footer, inner.width);
    }
    /// The keys, as the keymap's `[picker]` table binds them.
    fn footer(&self, keymap: &Keymap, bench_count: usize, theme: &Theme) -> Line<'static> {
        let key = Style::default()
            .fg(theme.accent)
            .add_modifier(Modifier::BOLD);
        let dim = Style::default().fg(theme.dim);
        let k = |a| keymap.label(Section::Picker, a);
        let mut footer = vec![
            Span::styled(
                format!(
                    "{}{} {}/{}",
                    k(KeyAction::ScrollUp),
                    k(KeyAction::ScrollDown),
                    k(KeyAction::PageUp),
                    k(KeyAction::PageDown)
                ),
                key,
            ),
            Span::styled(" move  ", dim),
            Span::styled(k(KeyAction::Confirm), key),
            Span::styled(" switch  ", dim),
            Span::styled("1-9", key),
            Span::styled(" pick  ", dim),
        ];
        match self.page {
            Page::Main if bench_count > 0 => {
                footer.push(Span::styled(k(KeyAction::BenchPage), key));
                footer.push(Span::styled(format!(" benchmarks ({bench_count})  "), dim));
            }
            Page::Bench => {
                footer.push(Span::styled(k(KeyAction::MainPage), key));
                footer.push(Span::styled(" back  ", dim));
            }
            Page::Main => {}
        }
        footer.push(Span::styled(k(KeyAction::Cancel), key));
        footer.push(Span::styled(" cancel", dim));
        Line::from(footer)
    }
}

/// Free VRAM over all GPUs, counting what the running model holds as free (a switch
/// unloads it first); `None` without a GPU.
fn free_vram(gpu: &GpuState) -> Option<u64> {
    match gpu {
        GpuState::Ready(s) if !s.gpus.is_empty() => Some(
            s.gpus
                .iter()
                .map(|g| g.memory_free_bytes.unwrap_or(0) + g.model_memory_bytes.unwrap_or(0))
                .sum(),
        ),
        _ => None,
    }
}

/// A profile's row, cell by cell: the table lays the cells out in the picker's width.
fn row_cells(
    p: &Profile,
    i: usize,
    current: bool,
    // What was read or measured of it: sizes, last load time, measured speed.
    (sizes, load_ms, measured_tps): (Option<&Sizes>, Option<&u64>, Option<f64>),
    free: Option<u64>,
    gpu: &GpuState,
    theme: &Theme,
) -> Row {
    // The running profile's mark leads the row, where a narrow picker cannot cut it.
    let mark = if current { "*" } else { " " };
    let number = if i < 9 {
        format!("{mark}{:>2}) ", i + 1)
    } else {
        format!("{mark}    ")
    };
    let name_style = if current {
        Style::default().fg(theme.text).add_modifier(Modifier::BOLD)
    } else {
        Style::default().fg(theme.text)
    };
    let extra = Style::default().fg(if current { theme.ok } else { theme.dim });
    let mut row = Row {
        number: Cell::new(
            number,
            Style::default()
                .fg(theme.accent)
                .add_modifier(Modifier::BOLD),
        ),
        ..Row::default()
    };
    row.set(Col::Name, Cell::new(p.display_name(), name_style));
    row.set(
        Col::Id,
        Cell::new(p.id.clone(), Style::default().fg(theme.dim)),
    );
    row.set(Col::Speed, Cell::new(p.speed().unwrap_or("-"), extra));
    if let Some(tps) = measured_tps {
        row.set(
            Col::Measured,
            Cell::new(
                format!("measured {} t/s", crate::ui::status_bar::tps_label(tps)),
                Style::default().fg(theme.accent),
            ),
        );
    }
    row.set(Col::Ctx, Cell::new(p.ctx_label(), extra));
    match sizes.and_then(|s| s.get(&p.id)) {
        None => row.set(Col::Size, Cell::new("…", Style::default().fg(theme.dim))),
        Some(Err(e)) => {
            row.error = Some(Cell::new(e.to_string(), Style::default().fg(theme.error)))
        }
        Some(Ok(size)) => {
            row.set(
                Col::Size,
                Cell::new(format!("≈{}", bytes(*size)), extra).right(),
            );
            let (hint, colour) = match (free, gpu) {
                (Some(free), _) if *size <= free => ("fits in VRAM", theme.ok),
                (Some(_), _) => ("> free VRAM: CPU offload", theme.warn),
                (None, GpuState::Waiting) => ("…", theme.dim),
                (None, _) => ("no GPU: runs on CPU", theme.dim),
            };
            row.set(Col::Fit, Cell::new(hint, Style::default().fg(colour)));
            if let Some(ms) = load_ms {
                row.set(
                    Col::Load,
                    Cell::new(format!("loads ~{:.1} s", *ms as f64 / 1000.0), extra),
                );
            }
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gguf::Value;
    use crate::model::gguf::tests::header;

    /// A remote's profile names a file on its machine; the same name here is not read
    /// (a hostile remote could name any path of this machine).
    #[test]
    fn a_remotes_profiles_read_no_file_here() {
        let dir = tempfile::tempdir().unwrap();
        let plain = header(&[("general.architecture", Value::Str("llama".into()))]);
        std::fs::write(dir.path().join("here.gguf"), &plain).unwrap();
        let set = ProfileSet {
            path: "models.conf".into(),
            profiles: vec![
                Profile::served_elsewhere("here".into(), &[("MODEL", "here.gguf")]),
                Profile::served_elsewhere("there@box".into(), &[("MODEL", "here.gguf")]),
            ],
            warnings: Vec::new(),
        };
        let facts = model_facts(dir.path(), &set, Path::new("/nonexistent"));
        assert!(facts.sizes.contains_key("here"));
        assert!(!facts.sizes.contains_key("there@box"));
        assert!(set.profiles[1].is_elsewhere() && !set.profiles[0].is_elsewhere());
    }

    /// Real files in a models folder: one whose header recommends samplers, one that does
    /// not, one missing.
    #[test]
    fn model_facts_read_sizes_and_samplers_from_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let recommends = header(&[
            ("general.architecture", Value::Str("qwen3".into())),
            ("general.sampling.temp", Value::Float(0.6)),
            ("general.sampling.top_k", Value::Uint(20)),
        ]);
        std::fs::write(dir.path().join("q.gguf"), &recommends).unwrap();
        let plain = header(&[("general.architecture", Value::Str("llama".into()))]);
        std::fs::write(dir.path().join("l.gguf"), &plain).unwrap();
        let conf = "[q]\nMODEL=q.gguf\n\n[l]\nMODEL=l.gguf\nEXTRA_ARGS=--temp 0.2\n\n\
                    [plain]\nMODEL=l.gguf\n\n[gone]\nMODEL=gone.gguf\n";
        let set = crate::config::profiles::parse(conf, Path::new("models.conf")).unwrap();
        let facts = model_facts(dir.path(), &set, Path::new(""));
        assert_eq!(
            facts.samplers.get("q").map(String::as_str),
            Some("samplers: temp 0.6 · top-k 20 (model file)")
        );
        assert_eq!(
            facts.samplers.get("l").map(String::as_str),
            Some("samplers: temp 0.2 (profile)")
        );
        assert!(!facts.samplers.contains_key("plain"));
        // Qwen3's client advice, from the header's architecture (lesson 9).
        assert!(
            facts.advice["q"].starts_with("clients (Qwen3): thinking: temperature 0.6"),
            "{:?}",
            facts.advice
        );
        assert!(!facts.advice.contains_key("l"));
        assert!(facts.sizes["q"].is_ok());
        assert_eq!(
            facts.sizes["gone"].as_ref().unwrap_err().to_string(),
            "missing: gone.gguf"
        );
    }
}
