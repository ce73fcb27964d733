//! Edge-case files (`tests/data/edge/`), each checked by the real Go tool and by blackwatch
//! in the same run: `blackbox/` with `prometheus-blackbox-exporter --config.check` (0.23),
//! `alertmanager/` with `amtool check-config` (0.25), `rules/` with `promtool check rules`
//! (2.42). Null values in every section, `!!binary`, encodings, anchors and merge keys,
//! several documents, quoted numbers and booleans, times like `09:00`, flow style.
//!
//! The verdicts (accepted or refused) must agree. A fixture whose first lines carry
//! `# differs: <why>` is one where blackwatch deliberately follows a newer upstream than the
//! Debian tool: the tool still runs, and blackwatch's verdict must be the opposite of its.
//! A refusal must name the file, so the user finds it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/edge")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    files
}

/// `# differs: …` from the fixture's leading comments (bytes: some fixtures are not UTF-8).
fn differs(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .take_while(|l| l.trim_start_matches('\u{feff}').starts_with('#'))
        .find_map(|l| {
            l.split_once("# differs:")
                .map(|(_, r)| r.trim().to_string())
        })
}

/// Runs a Go tool; Ok when it exits 0, Err(its output) otherwise.
fn tool(env: &str, default: &str, args: &[&str], path: &Path) -> Result<(), String> {
    let bin = std::env::var(env).unwrap_or_else(|_| default.to_owned());
    let out = Command::new(&bin)
        .args(args)
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{bin}` ({e}); .ci/run installs it from Debian's packages")
        });
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Err(text.trim().to_string())
}

fn compare(
    dir: &str,
    upstream: impl Fn(&Path) -> Result<(), String>,
    ours: impl Fn(&Path) -> Result<(), String>,
) {
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    let files = fixtures(dir);
    assert!(files.len() >= 10, "only {} fixtures in {dir}", files.len());
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let up = upstream(path);
        let mine = ours(path);
        let deliberate = differs(path);
        let agree = up.is_ok() == mine.is_ok();
        rows.push(format!(
            "{name:32} upstream {:8} blackwatch {:8}{}",
            if up.is_ok() { "accepts" } else { "refuses" },
            if mine.is_ok() { "accepts" } else { "refuses" },
            deliberate
                .as_deref()
                .map_or(String::new(), |d| format!("  (differs: {d})")),
        ));
        match (&deliberate, agree) {
            (None, false) => {
                failures.push(format!("{name}: upstream {up:?}\n  blackwatch {mine:?}"))
            }
            (Some(why), true) => failures.push(format!(
                "{name}: marked `differs: {why}` but both {}",
                if up.is_ok() { "accept" } else { "refuse" }
            )),
            _ => {}
        }
        if let Err(m) = &mine {
            if !m.contains(&path.display().to_string()) {
                failures.push(format!("{name}: the error does not name the file: {m}"));
            }
        }
    }
    println!("{dir}:\n{}", rows.join("\n"));
    assert!(
        failures.is_empty(),
        "{} disagreements in tests/data/edge/{dir}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn blackbox_edge_files_get_blackbox_exporters_verdict() {
    compare(
        "blackbox",
        |p| {
            tool(
                "BLACKBOX_EXPORTER_BIN",
                "prometheus-blackbox-exporter",
                &["--config.check", "--config.file"],
                p,
            )
        },
        |p| {
            blackwatch::config::load(p)
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    );
}

#[test]
fn alertmanager_edge_files_get_amtools_verdict() {
    compare(
        "alertmanager",
        |p| tool("AMTOOL_BIN", "amtool", &["check-config"], p),
        |p| {
            blackwatch::alert::config::load_file(p)
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    );
}

#[test]
fn rule_edge_files_get_promtools_verdict() {
    compare(
        "rules",
        |p| tool("PROMTOOL_BIN", "promtool", &["check", "rules"], p),
        |p| {
            blackwatch::rules::file::load_file(p)
                .map(|_| ())
                .map_err(|errs| {
                    errs.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                })
        },
    );
}
