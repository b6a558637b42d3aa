//! The library's top-level modules import each other one way only: each names only modules of a
//! lower layer, so there is no import cycle, and a new module must choose its layer here.

use std::path::{Path, PathBuf};

/// The top-level modules, lowest first: a module may name (`crate::x`) only modules to its left.
const LAYERS: &[&str] = &[
    "secret", "exit", "schema", "ddl", "dbt", "stream", "plan", "cpu", "convert", "fetch", "write", "commit", "error",
    "export", "ops", "config",
];

#[test]
fn modules_import_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    for (module, text) in sources(&src) {
        let rank = rank(&module).unwrap_or_else(|| panic!("module {module:?}: add it to LAYERS"));
        for used in crate_paths(&text) {
            let Some(r) = rank_of_use(&used) else { panic!("{module} names crate::{used}: not a module of LAYERS") };
            if used != module && r >= rank {
                bad.push(format!("{module} → {used}"));
            }
        }
    }
    bad.sort();
    bad.dedup();
    assert!(bad.is_empty(), "imports against the layering {LAYERS:?}: {bad:?}");
}

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == module)
}

/// `crate::Error` is the re-export of `error::Error`.
fn rank_of_use(used: &str) -> Option<usize> {
    if used == "Error" { rank("error") } else { rank(used) }
}

/// (top-level module, its non-test code) of every source file but `lib.rs`, `main.rs` and
/// `tests.rs` files.
fn sources(src: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut out = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).expect("under src");
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if rel.components().count() == 1 && (name == "lib.rs" || name == "main.rs") || name == "tests.rs" {
            continue;
        }
        let first = rel.components().next().expect("a component").as_os_str().to_string_lossy().into_owned();
        let module = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        let text = std::fs::read_to_string(&file).expect("readable source");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String =
            code.lines().filter(|l| !l.trim_start().starts_with("//")).map(|l| format!("{l}\n")).collect();
        out.push((module, code));
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The first segment of every `crate::…` path, including each name of `crate::{a, b::c}`.
fn crate_paths(code: &str) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        if code[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(group.split(',').map(|p| ident(p.trim())).filter(|p| !p.is_empty()));
        } else {
            out.push(ident(rest));
        }
    }
    out
}
