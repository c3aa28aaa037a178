//! The source tree follows the pipeline: each top-level module of `src/`
//! uses only the modules below it, so there is no import cycle between
//! them. This reads every `crate::…` path in `src/` and fails on a use that
//! points up the pipeline or closes a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::repo;

/// What each top-level module may use. `cmd` and `ui` sit on top; `fsutil`,
/// `tls` and `cli` use nothing of missive's.
const MAY_USE: &[(&str, &[&str])] = &[
    ("fsutil", &[]),
    ("tls", &[]),
    ("cli", &[]),
    ("project", &["fsutil"]),
    ("compose", &["project", "fsutil"]),
    ("curate", &["project", "compose", "fsutil", "tls"]),
    ("list", &["project", "fsutil"]),
    ("send", &["project", "compose", "list", "fsutil", "tls"]),
    ("bounces", &["project", "list", "send", "fsutil", "tls"]),
    (
        "web",
        &[
            "project", "compose", "curate", "list", "send", "bounces", "fsutil",
        ],
    ),
    (
        "stats",
        &["project", "compose", "list", "send", "web", "fsutil"],
    ),
    (
        "doctor",
        &["project", "compose", "list", "send", "fsutil", "tls"],
    ),
    (
        "ui",
        &[
            "project", "compose", "curate", "list", "send", "bounces", "doctor", "stats", "fsutil",
        ],
    ),
    (
        "cmd",
        &[
            "project", "compose", "curate", "list", "send", "bounces", "doctor", "web", "stats",
            "ui", "fsutil", "cli",
        ],
    ),
];

/// The top-level module a file of `src/` belongs to (`None` for the crate
/// root files).
fn top_module(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" => None,
        f => Some(f.trim_end_matches(".rs").to_string()),
    }
}

/// The top-level modules named in `crate::…` paths of `code` (comments
/// left out), `use crate::{a, b}` groups included.
fn uses(code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .collect()
            } else {
                vec![rest]
            };
            for name in names {
                let word: String = name
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if known.contains(&word) {
                    found.insert(word);
                }
            }
        }
    }
    found
}

/// The import graph of the top-level modules of `src/`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = repo().join("src");
    let known: BTreeSet<String> = MAY_USE.iter().map(|(m, _)| (*m).to_string()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap();
            let Some(module) = top_module(relative) else {
                continue;
            };
            assert!(
                known.contains(&module),
                "src/{} is in a top-level module the layering does not know: {module}",
                relative.display()
            );
            let code = std::fs::read_to_string(&path).unwrap();
            let edges = graph.entry(module.clone()).or_default();
            for used in uses(&code, &known) {
                if used != module {
                    edges.insert(used);
                }
            }
        }
    }
    graph
}

/// A cycle in `graph`, if there is one, as the modules around it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
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
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

#[test]
fn top_level_modules_use_only_the_modules_below_them() {
    let graph = graph();
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" → "));
    }
    let allowed: BTreeMap<&str, &[&str]> = MAY_USE.iter().copied().collect();
    let mut wrong = Vec::new();
    for (module, used) in &graph {
        for u in used {
            if !allowed[module.as_str()].contains(&u.as_str()) {
                wrong.push(format!("{module} uses {u}"));
            }
        }
    }
    assert!(wrong.is_empty(), "uses against the pipeline: {wrong:?}");
    // The pipeline is really there: each layer uses the one below it.
    for (module, below) in [
        ("compose", "project"),
        ("send", "compose"),
        ("send", "list"),
        ("web", "send"),
        ("cmd", "web"),
    ] {
        assert!(
            graph[module].contains(below),
            "{module} does not use {below}"
        );
    }
}

#[test]
fn the_check_finds_a_cycle() {
    let known: BTreeSet<String> = ["send", "web", "compose"].map(String::from).into();
    assert_eq!(
        uses(
            "use crate::{send::x, web};\n// crate::compose\nlet a = crate::compose::f();",
            &known
        ),
        known
    );
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph
        .entry("send".into())
        .or_default()
        .insert("compose".into());
    graph.entry("web".into()).or_default().insert("send".into());
    assert_eq!(find_cycle(&graph), None);
    graph
        .entry("compose".into())
        .or_default()
        .insert("web".into());
    let cycle = find_cycle(&graph).expect("compose → web → send → compose");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
}
