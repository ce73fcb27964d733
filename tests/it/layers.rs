//! The layering of `src/`: the top-level modules' dependency graph (every `crate::x` path in
//! production code, unit tests excluded) has no cycle, `base` imports nothing from the
//! crate, and ARCHITECTURE.md's codemap lists the modules in dependency order (each module
//! uses only modules listed before it, or on the same line).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level module name → the top-level modules its production code names, with one file
/// that names each (for the failure message).
type Graph = BTreeMap<String, BTreeMap<String, PathBuf>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The crate's top-level modules: `src/x.rs` and `src/x/` (not `lib.rs`, `main.rs`).
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(src).expect("src/ is readable") {
        let e = e.expect("directory entry");
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            out.insert(name);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            if stem != "lib" && stem != "main" {
                out.insert(stem.to_string());
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable directory") {
        let p = e.expect("directory entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The production part of a source file: line comments removed, and nothing from a
/// `#[cfg(test)]` module on. Files that are themselves unit-test modules give nothing.
fn production_code(path: &Path, text: &str) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|n| n.trim_start().starts_with("mod "))
        {
            break;
        }
        let code = match line.find("//") {
            // A `//` inside a string literal (a URL) is rare in paths we look for; cutting
            // there only drops text after it.
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The first segments after every `crate::` in `code`, including each item of a
/// `crate::{a, b::c}` group.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(i) = code[from..].find("crate::") {
        let start = from + i;
        from = start + "crate::".len();
        let before = start.checked_sub(1).map(|j| bytes[j]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue; // `mycrate::`, not `crate::`
        }
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of the group, up to its closing brace.
            let mut depth = 0;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                    _ if depth == 0 => item.push(c),
                    _ => {}
                }
            }
            items.push(item);
            for it in items {
                let name: String = it
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn graph() -> Graph {
    let src = src();
    let modules = top_level_modules(&src);
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src/");
        let first = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let owner = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        if !modules.contains(&owner) {
            continue; // lib.rs, main.rs
        }
        let text = std::fs::read_to_string(&f).expect("source is UTF-8");
        for used in crate_paths(&production_code(&f, &text)) {
            if used != owner && modules.contains(&used) {
                graph
                    .get_mut(&owner)
                    .expect("every module has an entry")
                    .entry(used)
                    .or_insert_with(|| rel.to_path_buf());
            }
        }
    }
    graph
}

/// A cycle, as the list of modules along it, if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        m: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(m) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let at = stack.iter().position(|s| s == m).unwrap_or(0);
                let mut cycle = stack[at..].to_vec();
                cycle.push(m.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(m.to_string(), Mark::Open);
        stack.push(m.to_string());
        for next in graph.get(m).into_iter().flat_map(|d| d.keys()) {
            if let Some(c) = visit(next, graph, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(m.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for m in graph.keys() {
        let mut stack = Vec::new();
        if let Some(c) = visit(m, graph, &mut marks, &mut stack) {
            return Some(c);
        }
    }
    None
}

fn describe(graph: &Graph, path: &[String]) -> String {
    path.windows(2)
        .map(|w| {
            let file = &graph[&w[0]][&w[1]];
            format!("{} -> {} ({})", w[0], w[1], file.display())
        })
        .collect::<Vec<_>>()
        .join("\n  ")
}

#[test]
fn module_graph_has_no_cycle() {
    let g = graph();
    if let Some(cycle) = find_cycle(&g) {
        panic!(
            "the top-level modules of src/ form a cycle:\n  {}",
            describe(&g, &cycle)
        );
    }
}

#[test]
fn base_imports_nothing_from_the_crate() {
    let g = graph();
    assert!(
        g["base"].is_empty(),
        "base must stay the bottom layer, but it uses: {:?}",
        g["base"]
    );
}

/// The codemap's module lines in order: each `- ` bullet of the "## Codemap" section that
/// names `src/<module>` gives the modules it names (several on one line share a rank).
fn codemap_ranks(modules: &BTreeSet<String>) -> Vec<Vec<String>> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md is readable");
    let section = doc
        .split("## Codemap")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("ARCHITECTURE.md has a Codemap section");
    let mut ranks = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("- ")) {
        let head = line.split(" — ").next().unwrap_or(line);
        let named: Vec<String> = head
            .split('`')
            .filter_map(|tok| tok.strip_prefix("src/"))
            .map(|p| p.trim_end_matches('/').trim_end_matches(".rs").to_string())
            .filter(|m| modules.contains(m))
            .collect();
        if !named.is_empty() {
            ranks.push(named);
        }
    }
    ranks
}

#[test]
fn codemap_is_in_dependency_order_and_complete() {
    let g = graph();
    let modules: BTreeSet<String> = g.keys().cloned().collect();
    let ranks = codemap_ranks(&modules);
    let mut rank_of = BTreeMap::new();
    for (i, names) in ranks.iter().enumerate() {
        for n in names {
            assert!(
                rank_of.insert(n.clone(), i).is_none(),
                "ARCHITECTURE.md's codemap lists src/{n} twice"
            );
        }
    }
    let missing: Vec<_> = modules
        .iter()
        .filter(|m| !rank_of.contains_key(*m))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's codemap does not list: {missing:?}"
    );
    let mut wrong = Vec::new();
    for (m, deps) in &g {
        for (d, file) in deps {
            if rank_of[d] > rank_of[m] {
                wrong.push(format!(
                    "{m} uses {d} ({}), but the codemap lists {d} after {m}",
                    file.display()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "codemap order:\n  {}", wrong.join("\n  "));
}

#[test]
fn the_checker_sees_paths_groups_and_cycles() {
    let code = "use crate::a::b;\nuse crate::{c, d::{e, f}};\nlet x = $crate::g::h();\nmycrate::z;";
    let found: Vec<_> = crate_paths(code).into_iter().collect();
    assert_eq!(found, ["a", "c", "d", "g"]);
    let prod = production_code(
        Path::new("x.rs"),
        "use crate::a; // crate::b\n#[cfg(test)]\nmod tests {\n use crate::c;\n}\n",
    );
    assert_eq!(crate_paths(&prod).into_iter().collect::<Vec<_>>(), ["a"]);
    let mut g: Graph = BTreeMap::new();
    for (a, b) in [("x", "y"), ("y", "z"), ("z", "x")] {
        g.entry(a.into())
            .or_default()
            .insert(b.into(), PathBuf::from(format!("{a}.rs")));
    }
    let cycle = find_cycle(&g).expect("x -> y -> z -> x is a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
    g.get_mut("z").unwrap().clear();
    assert!(find_cycle(&g).is_none());
}
