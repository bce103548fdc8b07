//! The data plane's modules depend only downward: no module uses one that
//! uses it back, however far round, and the fleet bus uses nothing of the
//! crate at all. Read from the sources' `crate::` paths, so a new import
//! that closes a circle fails here with the circle named.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

/// Top-level module → the other top-level modules its files name.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The first path segment of each item of a `crate::` path that starts at
/// `rest` (`x::…`, or a `{a::…, b, …}` group).
fn segments(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    let Some(group) = rest.strip_prefix('{') else {
        return vec![ident(rest)];
    };
    let (mut depth, mut items, mut item) = (0, Vec::new(), String::new());
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    items.push(item);
    items
        .iter()
        .map(|i| ident(i.trim()))
        .filter(|i| !i.is_empty())
        .collect()
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let module_of = |path: &Path| -> String {
        let rel = path.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a component");
        first.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned()
    };
    let modules: BTreeSet<String> = files.iter().map(|p| module_of(p)).collect();
    // Items the crate root re-exports (`pub use gateway::{Gateway, Limits};`).
    let lib = fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let mut reexported = BTreeMap::new();
    for line in lib.lines().filter_map(|l| l.trim().strip_prefix("pub use ")) {
        let (module, items) = line.split_once("::").expect("pub use module::items");
        for item in segments(items.trim_end_matches(';')) {
            reexported.insert(item, module.to_owned());
        }
    }
    let mut graph = Graph::new();
    for file in &files {
        let me = module_of(file);
        let text = fs::read_to_string(file).expect("read a source file");
        let edges = graph.entry(me.clone()).or_default();
        for (at, _) in text.match_indices("crate::") {
            for seg in segments(&text[at + "crate::".len()..]) {
                let target = if modules.contains(&seg) {
                    Some(seg)
                } else {
                    reexported.get(&seg).cloned()
                };
                if let Some(t) = target.filter(|t| *t != me) {
                    edges.insert(t);
                }
            }
        }
    }
    graph
}

/// A circle through `graph`, if there is one.
fn circle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(n: &str, graph: &Graph, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == n) {
            let mut found = path[at..].to_vec();
            found.push(n.to_owned());
            return Some(found);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_owned());
        for next in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_uses_one_that_uses_it_back() {
    let graph = graph();
    assert!(graph.len() > 10, "read the modules: {graph:?}");
    if let Some(c) = circle(&graph) {
        panic!("the data plane's modules use each other in a circle: {}", c.join(" → "));
    }
}

#[test]
fn the_fleet_bus_uses_nothing_else_of_the_crate() {
    let graph = graph();
    assert_eq!(graph.get("fleet"), Some(&BTreeSet::new()), "{graph:#?}");
}

#[test]
fn the_reader_finds_grouped_paths_and_circles() {
    assert_eq!(
        segments("{Gateway, dispatch::{self, Reply}, error::X};"),
        ["Gateway", "dispatch", "error"]
    );
    assert_eq!(segments("fleet::Notice"), ["fleet"]);
    let mut g = Graph::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(circle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(circle(&g), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}
