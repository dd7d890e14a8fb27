//! docs/ARCHITECTURE.md's code map is where a newcomer starts: it must name
//! every module that exists, and nothing that does not (issue 9 item 7). Each
//! top-level entry of the map (`domain/`, `src/`, `tests/`, …) is checked
//! against the Rust files of that directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The map's top-level entry and the directory its files live in.
const SECTIONS: &[(&str, &str)] = &[
    ("domain/", "domain/src"),
    ("channels/", "channels/src"),
    ("ws/", "ws/src"),
    ("simulators/", "simulators/src"),
    ("actors/", "actors/src"),
    ("src/", "src"),
    ("load-tests/", "load-tests/src"),
    ("tests/", "tests"),
];

fn code_map() -> String {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/ARCHITECTURE.md")).expect("docs/ARCHITECTURE.md");
    let start = doc.find("## Code map").expect("a '## Code map' section");
    let block = &doc[start..];
    let open = block.find("```").expect("the code map's code block") + 3;
    let close = block[open..].find("```").expect("the end of the code map's code block");
    block[open..open + close].to_owned()
}

/// The map's text under each top-level entry (lines that do not start with a
/// space begin an entry; its name is the first word).
fn sections(map: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in map.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            let name = line.split_whitespace().next().unwrap_or_default().to_owned();
            out.push((name, String::new()));
        }
        if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

/// Rust files under `dir`, relative to it (node_modules and build output skipped).
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "node_modules" && name != "target" {
                    walk(base, &path, out);
                }
            } else if name.ends_with(".rs") {
                out.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `word` occurs in `text` not as the tail of a longer name (`setup.rs` is
/// not found in `x_setup.rs`).
fn mentions(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        !matches!(before, Some(c) if c.is_alphanumeric() || c == '_' || c == '-')
    })
}

/// The `*.rs` names a section's text mentions.
fn mentioned_files(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '/'))
        .filter(|w| w.ends_with(".rs"))
        .map(|w| w.rsplit('/').next().unwrap_or(w).to_owned())
        .collect()
}

#[test]
fn the_code_map_names_every_module_that_exists() {
    let map = code_map();
    let sections = sections(&map);
    let mut missing = Vec::new();
    for (entry, dir) in SECTIONS {
        let text = sections
            .iter()
            .find(|(name, _)| name == entry)
            .map(|(_, text)| text.as_str())
            .unwrap_or_else(|| panic!("the code map has no `{entry}` entry"));
        for file in rust_files(&Path::new(ROOT).join(dir)) {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            // A crate's root is its entry line; a test helper module is
            // part of the tests that include it.
            if name == "lib.rs" || (*entry == "tests/" && file.components().count() > 1) {
                continue;
            }
            let parent_named = match file.parent().filter(|p| !p.as_os_str().is_empty()) {
                // `mod.rs` is described by its directory's line.
                Some(parent) => mentions(text, &format!("{}/", parent.display())),
                None => true,
            };
            if !parent_named || (name != "mod.rs" && !mentions(text, &name)) {
                missing.push(format!("{dir}/{}", file.display()));
            }
        }
    }
    assert!(missing.is_empty(), "docs/ARCHITECTURE.md's code map does not name: {missing:?}");
}

#[test]
fn the_code_map_names_no_module_that_does_not_exist() {
    let map = code_map();
    let mut stale = Vec::new();
    for (entry, text) in sections(&map) {
        let Some((_, dir)) = SECTIONS.iter().find(|(name, _)| *name == entry) else { continue };
        let existing: BTreeSet<String> =
            rust_files(&Path::new(ROOT).join(dir)).iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
        for name in mentioned_files(&text) {
            if !existing.contains(&name) {
                stale.push(format!("{entry} {name}"));
            }
        }
    }
    assert!(stale.is_empty(), "docs/ARCHITECTURE.md's code map names files that do not exist: {stale:?}");
}

#[test]
fn the_check_sees_a_missing_and_a_stale_name() {
    let map = "domain/   x\n  codes.rs  codes\n  gone.rs   removed\nsrc/  y\n  http/   routes; ari.rs\n";
    let sections = sections(map);
    assert_eq!(sections.len(), 2);
    let domain = &sections[0].1;
    assert!(mentions(domain, "codes.rs"));
    assert!(!mentions(domain, "dates.rs"));
    assert!(!mentions("  x_codes.rs", "codes.rs"));
    assert_eq!(mentioned_files(domain), ["codes.rs", "gone.rs"].iter().map(|s| s.to_string()).collect());
    assert!(mentions(&sections[1].1, "http/") && mentions(&sections[1].1, "ari.rs"));
}
