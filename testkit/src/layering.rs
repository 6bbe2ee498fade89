//! The import-rule scanner. The compiler lets any module `use crate::…` any other, so each
//! crate's layering test (the library's `src/layering.rs`, the service's
//! `server/src/layering.rs`) states its rules and checks them on the sources with this.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A crate's source folder (`src/`).
#[derive(Debug, Clone)]
pub struct Sources {
    src: PathBuf,
}

impl Sources {
    /// The sources under `src`.
    pub fn new(src: impl Into<PathBuf>) -> Self {
        Self { src: src.into() }
    }

    /// The `.rs` files of module `name`: `name.rs`, and every file below the folder `name/`.
    /// Panics when there is none, so a misspelt rule cannot check nothing.
    pub fn files_of(&self, name: &str) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let single = self.src.join(format!("{name}.rs"));
        if single.is_file() {
            files.push(single);
        }
        let mut dirs = vec![self.src.join(name)];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        assert!(!files.is_empty(), "no sources for module {name} in {}", self.src.display());
        files.sort();
        files
    }

    /// Every top-level module (a `.rs` file or a folder) but `lib`, `main` and those in `but`.
    pub fn modules_except(&self, but: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(&self.src)
            .unwrap_or_else(|e| panic!("{}: {e}", self.src.display()))
            .flatten()
            .filter_map(|e| {
                let path = e.path();
                let name = path.file_stem()?.to_str()?.to_string();
                (path.is_dir() || path.extension().is_some_and(|x| x == "rs")).then_some(name)
            })
            .filter(|n| n != "lib" && n != "main" && !but.contains(&n.as_str()))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The rule "no file of `layer` names `crate::<m>` for any `m` in `forbidden`": one line
    /// per breach, naming the file, the line and `why`.
    pub fn check(&self, layer: &[&str], forbidden: &[&str], why: &str) -> Vec<String> {
        let mut broken = Vec::new();
        for module in layer {
            for file in self.files_of(module) {
                for (line, name) in names(&file, "crate") {
                    if forbidden.contains(&name.as_str()) {
                        broken.push(format!("{}:{line} uses crate::{name}: {why}", file.display()));
                    }
                }
            }
        }
        broken
    }

    /// The rule "no file of `layer` names the crate `root` (e.g. `lit_session_signer`)".
    pub fn check_crate(&self, layer: &[&str], root: &str, why: &str) -> Vec<String> {
        let mut broken = Vec::new();
        for module in layer {
            for file in self.files_of(module) {
                for (line, name) in names(&file, root) {
                    broken.push(format!("{}:{line} uses {root}::{name}: {why}", file.display()));
                }
            }
        }
        broken
    }
    /// The modules each module imports (`crate::<m>`, its own name left out), for every module
    /// but `lib` and `main`.
    pub fn graph(&self) -> BTreeMap<String, BTreeSet<String>> {
        let modules = self.modules_except(&[]);
        let mut graph = BTreeMap::new();
        for module in &modules {
            let imports: BTreeSet<String> = self
                .files_of(module)
                .iter()
                .flat_map(|f| names(f, "crate"))
                .map(|(_, name)| name)
                .filter(|name| name != module && modules.contains(name))
                .collect();
            graph.insert(module.clone(), imports);
        }
        graph
    }

    /// An import cycle among the modules, as the path `a → b → … → a`, if there is one.
    pub fn cycle(&self) -> Option<Vec<String>> {
        fn visit(
            node: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(at) = path.iter().position(|n| n == node) {
                let mut cycle = path[at..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            if done.contains(node) {
                return None;
            }
            path.push(node.to_string());
            for next in graph.get(node).into_iter().flatten() {
                if let Some(cycle) = visit(next, graph, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            done.insert(node.to_string());
            None
        }
        let graph = self.graph();
        let mut done = BTreeSet::new();
        graph.keys().find_map(|start| visit(start, &graph, &mut Vec::new(), &mut done))
    }
}

/// Every path `file` starts with `root::` (e.g. `crate`), as (line, first segment), on lines
/// that are not comments, up to its unit tests (a `#[cfg(test)]` line, or a whole file under
/// `#![cfg(test)]`: tests may use anything). A group `root::{a, b::c}` names `a` and `b`.
pub fn names(file: &Path, root: &str) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    // The code, one entry per line kept, with its line number.
    let mut code: Vec<(usize, &str)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed == "#![cfg(test)]" {
            return Vec::new();
        }
        if trimmed == "#[cfg(test)]" {
            break;
        }
        if !trimmed.starts_with("//") {
            code.push((n + 1, line));
        }
    }
    let joined: String = code.iter().map(|(_, l)| *l).collect::<Vec<_>>().join("\n");
    let line_of = |offset: usize| {
        let newlines = joined[..offset].bytes().filter(|b| *b == b'\n').count();
        code[newlines].0
    };
    let needle = format!("{root}::");
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect() };
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = joined[from..].find(&needle) {
        let at = from + found;
        from = at + needle.len();
        let before = joined[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &joined[from..];
        let line = line_of(at);
        match rest.strip_prefix('{') {
            None => out.push((line, ident(rest))),
            Some(group) => {
                // The first segment of each top-level item of the group.
                let mut depth = 0usize;
                let mut item_start = 0;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            out.push((line, ident(group[item_start..i].trim_start())));
                            break;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.push((line, ident(group[item_start..i].trim_start())));
                            item_start = i + 1;
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    out.retain(|(_, name)| !name.is_empty() && name != "self");
    out
}
