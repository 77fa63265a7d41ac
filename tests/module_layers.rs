//! The shape of the code, held to docs/ARCHITECTURE.md:
//! - every `crate::` path in src/ crosses only the layer edges the "Layers" table allows,
//!   and those edges have no cycle (config depends on nothing);
//! - the "Module map" names every source file, and only files that exist.
//!
//! Both read the source as text: a `use` or a path in code counts, a comment does not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn architecture() -> String {
    std::fs::read_to_string(repo().join("docs/ARCHITECTURE.md")).unwrap()
}

/// The lines of the section that starts with `heading`, up to the next `## `.
fn section<'a>(doc: &'a str, heading: &str) -> Vec<&'a str> {
    doc.lines()
        .skip_while(|l| l.trim() != heading)
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .collect()
}

/// module → the modules it may use, from the "Layers" table.
fn allowed() -> BTreeMap<String, BTreeSet<String>> {
    let doc = architecture();
    let mut out = BTreeMap::new();
    for line in section(&doc, "## Layers") {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| module | may use |`: cells[0] and the last are empty.
        if cells.len() != 4 || cells[1] == "module" || cells[1].starts_with("---") {
            continue;
        }
        let uses = cells[2]
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(String::from)
            .collect();
        out.insert(cells[1].to_string(), uses);
    }
    assert!(
        !out.is_empty(),
        "docs/ARCHITECTURE.md has no \"## Layers\" table"
    );
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under src/ belongs to (`src/ui/panes/gpu.rs` → `ui`).
fn top_module(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file without its comments (line comments and doc comments; block comments
/// are not used in this code base).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string literal ("http://...") is not a comment: keep lines
            // where the `//` follows an odd number of quotes.
            Some(i) if line[..i].matches('"').count() % 2 == 0 => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `text` refers to through `crate::NAME` (also inside `use crate::{…}`
/// groups).
fn uses(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = code(text);
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c}`: every first segment in the group.
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if modules.contains(&name) {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if modules.contains(&name) {
                out.insert(name);
            }
        }
    }
    out
}

/// The top-level modules lib.rs declares.
fn declared_modules() -> BTreeSet<String> {
    std::fs::read_to_string(repo().join("src/lib.rs"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect()
}

#[test]
fn every_top_level_module_has_a_row_in_the_layer_table() {
    let allowed = allowed();
    let declared = declared_modules();
    let rows: BTreeSet<String> = allowed.keys().cloned().collect();
    assert_eq!(
        declared, rows,
        "src/lib.rs's modules and docs/ARCHITECTURE.md's Layers table differ"
    );
}

#[test]
fn imports_follow_the_layer_table() {
    let allowed = allowed();
    let modules = declared_modules();
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = top_module(rel);
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let may = allowed.get(&module).cloned().unwrap_or_default();
        for used in uses(&text, &modules) {
            if used != module && !may.contains(&used) {
                violations.push(format!("src/{} ({module}) uses {used}", rel.display()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports the Layers table in docs/ARCHITECTURE.md does not allow (move the type to \
         the lower module, or the adapter above both):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_layer_table_has_no_cycle_and_config_depends_on_nothing() {
    let allowed = allowed();
    assert!(
        allowed["config"].is_empty(),
        "config must import no other module"
    );
    // Kahn's algorithm: repeatedly remove the modules whose uses are all removed.
    let mut left = allowed.clone();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|(_, uses)| uses.iter().all(|u| !left.contains_key(u)))
            .map(|(m, _)| m.clone())
            .collect();
        assert!(
            !ready.is_empty(),
            "the Layers table has a cycle among: {:?}",
            left.keys().collect::<Vec<_>>()
        );
        for m in ready {
            left.remove(&m);
        }
    }
}

/// The files the "Module map" names: `src/x.rs` lines, and `name.rs` (or `a.rs, b.rs`)
/// lines under a `src/folder/` line.
fn mapped_files() -> BTreeSet<PathBuf> {
    let doc = architecture();
    let mut out = BTreeSet::new();
    let mut folder: Option<String> = None;
    for line in section(&doc, "## Module map") {
        let trimmed = line.trim_start();
        let indented = trimmed.len() != line.len();
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let Some(first) = words.first() else { continue };
        if !indented {
            folder = None;
            if first.starts_with("src/") {
                if first.ends_with('/') {
                    folder = Some(first.to_string());
                } else if first.ends_with(".rs") {
                    out.insert(PathBuf::from(first));
                }
            }
            continue;
        }
        let Some(folder) = &folder else { continue };
        // `keys.rs, mouse.rs   description`: every name up to the first that has no comma.
        for word in &words {
            let name = word.trim_end_matches(',');
            if !name.ends_with(".rs") {
                break;
            }
            out.insert(PathBuf::from(format!("{folder}{name}")));
            if !word.ends_with(',') {
                break;
            }
        }
    }
    out
}

#[test]
fn the_module_map_names_every_source_file() {
    let mut files = Vec::new();
    rust_files(&repo().join("src"), &mut files);
    let actual: BTreeSet<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(repo()).unwrap().to_path_buf())
        .collect();
    let mapped = mapped_files();
    let missing: Vec<_> = actual.difference(&mapped).collect();
    let stale: Vec<_> = mapped.difference(&actual).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/ARCHITECTURE.md's Module map is out of date\n  not listed: {missing:?}\n  listed but gone: {stale:?}"
    );
}

#[test]
fn the_checks_see_what_they_check() {
    // The scanner itself: comments do not count, groups do, strings with // are not cut.
    let modules: BTreeSet<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
    let text = "use crate::a::x;\n// crate::b\n/// see crate::b\nuse crate::{c::y, d};\nlet u = \"http://x\"; crate::a::z();\n";
    assert_eq!(
        uses(text, &modules),
        ["a", "c", "d"].iter().map(|s| s.to_string()).collect()
    );
    // The map parser finds the multi-name lines.
    let mapped = mapped_files();
    assert!(mapped.contains(Path::new("src/pty/mouse.rs")));
    assert!(mapped.contains(Path::new("src/main.rs")));
}
