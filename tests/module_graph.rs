//! The crate's module graph has no cycle, at the top level and among the files of each module,
//! and the storage engine (`log`) depends on nothing but leaves.
//!
//! Method: every `crate::a::b` and `super::a` path in `src/` (outside `#[cfg(test)]` code) is an
//! edge from the file's module to the module the path names. `cargo test --test module_graph --
//! --nocapture` prints the top-level graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// A module path per source file: `src/log/partition.rs` -> ["log", "partition"].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments and without its `#[cfg(test)]` tail.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap();
    text.lines().map(|l| l.split("//").next().unwrap()).collect::<Vec<_>>().join("\n")
}

/// The first segment of each path after `prefix::` (`prefix::{a, b::c}` gives a and b).
fn heads_after<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
    let ident = |s: &'a str| -> &'a str {
        let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
        &s[..end]
    };
    let mut heads = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue; // part of a longer path, e.g. `self::super::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            heads.extend(inner.split(',').map(|s| ident(s.trim())).filter(|s| !s.is_empty()));
        } else {
            heads.push(ident(rest));
        }
    }
    heads
}

/// Edges between top-level modules, and between sibling files of each module.
fn graphs() -> (Graph, BTreeMap<String, Graph>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    // Names the crate root re-exports (`pub use broker::Broker;`) resolve to their module.
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let reexports: BTreeMap<String, String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub use ")?.strip_suffix(';'))
        .flat_map(|l| {
            let (m, items) = l.split_once("::").unwrap();
            let items = items.trim_start_matches('{').trim_end_matches('}');
            items.split(',').map(move |i| (i.trim().rsplit("::").next().unwrap().to_string(), m.to_string())).collect::<Vec<_>>()
        })
        .collect();
    let mut top = Graph::new();
    let mut inner: BTreeMap<String, Graph> = BTreeMap::new();
    for f in &files {
        let me = module_of(&src, f);
        if me.is_empty() || f.file_name().unwrap() == "main.rs" {
            continue; // the crate root only declares modules; main.rs is the binary
        }
        let text = code(&std::fs::read_to_string(f).unwrap());
        for head in heads_after(&text, "crate::") {
            let target = reexports.get(head).cloned().unwrap_or_else(|| head.to_string());
            if target != me[0] {
                top.entry(me[0].clone()).or_default().insert(target);
            }
        }
        // Within a module: `super::x` and `crate::m::x` naming a sibling file x.
        if f.file_name().unwrap() == "mod.rs" || me.len() < 2 {
            continue;
        }
        let parent = &me[..me.len() - 1];
        let mut refs: Vec<Vec<String>> = heads_after(&text, "super::").into_iter().map(|h| [parent, &[h.to_string()]].concat()).collect();
        if me.len() == 2 {
            refs.extend(heads_after(&text, &format!("crate::{}::", me[0])).into_iter().map(|h| vec![me[0].clone(), h.to_string()]));
        }
        for r in refs {
            if r[..r.len() - 1] == *parent && modules.contains(&r) && r != me {
                inner.entry(parent.join("::")).or_default().entry(me[me.len() - 1].clone()).or_default().insert(r[r.len() - 1].clone());
            }
        }
    }
    (top, inner)
}

/// A cycle in `g`, if there is one.
fn find_cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(n: &str, g: &Graph, state: &mut BTreeMap<String, u8>, stack: &mut Vec<String>) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|s| s == n).unwrap();
                let mut cycle = stack[at..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    g.keys().find_map(|n| visit(n, g, &mut state, &mut Vec::new()))
}

#[test]
fn the_module_graph_has_no_cycle() {
    let (top, inner) = graphs();
    for (m, deps) in &top {
        println!("{m} -> {}", deps.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    assert!(top.contains_key("api") && top.contains_key("server"), "the scan found the crate's modules: {top:?}");
    if let Some(c) = find_cycle(&top) {
        panic!("module cycle: {}", c.join(" -> "));
    }
    for (scope, g) in &inner {
        if let Some(c) = find_cycle(g) {
            panic!("cycle among the files of {scope}: {}", c.join(" -> "));
        }
    }
}

#[test]
fn the_log_depends_only_on_leaves() {
    let (top, _) = graphs();
    let log = top.get("log").cloned().unwrap_or_default();
    for dep in &log {
        let leaf = top.get(dep).is_none_or(|d| d.is_empty());
        assert!(leaf, "log imports {dep}, which imports {:?}", top.get(dep));
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let g: Graph = [("a", "b"), ("b", "c"), ("c", "a")].iter().map(|(x, y)| (x.to_string(), BTreeSet::from([y.to_string()]))).collect();
    assert_eq!(find_cycle(&g), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    let dag: Graph = [("a", "b"), ("b", "c")].iter().map(|(x, y)| (x.to_string(), BTreeSet::from([y.to_string()]))).collect();
    assert_eq!(find_cycle(&dag), None);
    assert_eq!(heads_after("use crate::{log::x, util};", "crate::"), vec!["log", "util"]);
}
