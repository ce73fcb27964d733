//! alertmanager.yml validation, side by side with the real `amtool check-config`
//! (Debian `prometheus-alertmanager` 0.25, or `AMTOOL_BIN`).
//!
//! Every fixture in `tests/data/alertmanager/valid` must be accepted and every one in
//! `invalid` rejected by both; for rejects, blackwatch's message must contain amtool's.
//! A fixture's leading comments can relax that:
//! - `# amtool: skip: <reason>` with `# expect: valid` or `# expect: invalid: <text>` for
//!   fields newer than 0.25 and deliberate differences (amtool is not run);
//! - `# compare: accept-reject-only: <reason>` where only the wording differs (Go's YAML and
//!   regex error texts).

use std::path::{Path, PathBuf};
use std::process::Command;

use blackwatch::alert::config::{load_file, load_str};
use blackwatch::base::SecretSource;

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/alertmanager")
        .join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    out.sort();
    assert!(out.len() >= 5, "too few fixtures in {}", root.display());
    out
}

/// `amtool check-config FILE`: Ok on SUCCESS, Err(upstream message) on FAILED.
fn amtool(path: &Path) -> Result<(), String> {
    let bin = std::env::var("AMTOOL_BIN").unwrap_or_else(|_| "amtool".to_owned());
    let out = Command::new(&bin)
        .arg("check-config")
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run amtool `{bin}` ({e}); install the Debian package \
                 prometheus-alertmanager (or set AMTOOL_BIN). This test fails instead of skipping."
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if text.contains("SUCCESS") && out.status.success() {
        return Ok(());
    }
    let msg = text
        .split_once("FAILED: ")
        .map(|(_, m)| m.lines().next().unwrap_or_default().trim().to_string())
        .unwrap_or_else(|| panic!("unexpected amtool output for {}:\n{text}", path.display()));
    Err(msg)
}

struct Header {
    skip_amtool: Option<String>,
    expect: Option<Result<(), String>>,
    accept_reject_only: bool,
}

fn header(path: &Path) -> Header {
    let text = std::fs::read_to_string(path).unwrap();
    let mut h = Header {
        skip_amtool: None,
        expect: None,
        accept_reject_only: false,
    };
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        let l = line.trim_start_matches('#').trim();
        if let Some(r) = l.strip_prefix("amtool: skip:") {
            h.skip_amtool = Some(r.trim().to_string());
        } else if l == "expect: valid" {
            h.expect = Some(Ok(()));
        } else if let Some(m) = l.strip_prefix("expect: invalid:") {
            h.expect = Some(Err(m.trim().to_string()));
        } else if l.starts_with("compare: accept-reject-only:") {
            h.accept_reject_only = true;
        }
    }
    if h.skip_amtool.is_some() {
        assert!(
            h.expect.is_some(),
            "{}: a skipped fixture needs `# expect:`",
            path.display()
        );
    }
    h
}

fn check_dir(dir: &str, want_valid: bool) {
    let mut failures = Vec::new();
    let mut compared = 0;
    for path in fixtures(dir) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let h = header(&path);
        let upstream = match &h.skip_amtool {
            Some(_) => h.expect.clone().unwrap(),
            None => {
                compared += 1;
                amtool(&path)
            }
        };
        if upstream.is_ok() != want_valid {
            failures.push(format!(
                "{name}: amtool/expectation says {upstream:?}, fixture is in {dir}/"
            ));
            continue;
        }
        let ours = load_file(&path).map(|_| ()).map_err(|e| e.to_string());
        match (&upstream, &ours) {
            (Ok(()), Ok(())) => {}
            (Err(up), Err(mine)) => {
                if !h.accept_reject_only && !mine.contains(up.as_str()) {
                    failures.push(format!(
                        "{name}: message differs\n  upstream: {up}\n  ours:     {mine}"
                    ));
                }
                if !mine.contains(&path.display().to_string()) {
                    failures.push(format!("{name}: our error does not name the file: {mine}"));
                }
            }
            _ => failures.push(format!("{name}: upstream {upstream:?}, ours {ours:?}")),
        }
    }
    assert!(
        compared >= 3,
        "amtool compared only {compared} fixtures in {dir}"
    );
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn valid_fixtures_are_accepted_by_amtool_and_blackwatch() {
    check_dir("valid", true);
}

#[test]
fn invalid_fixtures_are_rejected_by_both_with_upstream_wording() {
    check_dir("invalid", false);
}

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/alertmanager")
        .join(rel)
}

#[test]
fn errors_carry_line_column_and_field_path() {
    let cases = [
        (
            "invalid/undefined_receiver.yml",
            r#":5:17: route.routes[0].receiver: undefined receiver "nobody" used in route"#,
        ),
        (
            "invalid/group_by_duplicate.yml",
            r#":3:25: route.group_by[1]: duplicated label "alertname" in group_by"#,
        ),
        (
            "invalid/ti_times_order.yml",
            ":5:31: time_intervals[0].time_intervals[0].times[0]: start time cannot be equal or greater than end time",
        ),
        (
            "invalid/email_no_to.yml",
            ":9:9: receivers[0].email_configs[0]: missing to address in email config",
        ),
        (
            "invalid/unknown_route_field.yml",
            ":4:3: route.recever: unknown field `recever`",
        ),
    ];
    for (file, want) in cases {
        let e = load_file(&data(file)).unwrap_err().to_string();
        assert!(e.contains(want), "{file}: {e}\nwanted: {want}");
    }
}

#[test]
fn all_errors_are_reported_at_once() {
    let yaml =
        "route:\n  receiver: nobody\n  group_interval: 0s\nreceivers:\n  - name: a\n  - name: a\n";
    let e = load_str(yaml, Path::new("am.yml")).unwrap_err();
    let text: Vec<String> = e.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        vec![
            r#"am.yml:2:13: route.receiver: undefined receiver "nobody" used in route"#,
            "am.yml:3:19: route.group_interval: group_interval cannot be zero",
            r#"am.yml:6:11: receivers[1].name: notification config name "a" is not unique"#,
        ]
    );
}

#[test]
fn full_fixture_is_validated_into_domain_types_without_leaking_secrets() {
    let c = load_file(&data("valid/full.yml")).unwrap();
    assert_eq!(c.global.resolve_timeout, std::time::Duration::from_secs(60));
    assert_eq!(c.receivers.len(), 4);
    let mail = c.receiver("mail").unwrap();
    assert_eq!(mail.email.len(), 2);
    let e0 = &mail.email[0];
    assert_eq!(
        e0.from, "alertmanager@example.org",
        "global smtp_from inherited"
    );
    assert_eq!(e0.smarthost.to_string(), "smtp.example.org:587");
    assert_eq!(e0.hello, "localhost");
    assert_eq!(e0.auth_username, "am");
    assert!(matches!(&e0.auth_password, Some(SecretSource::Inline(s)) if s.expose() == "s3cret"));
    assert!(e0.send_resolved);
    assert_eq!(e0.headers["Subject"], "Alert {{ .GroupLabels.alertname }}");
    let e1 = &mail.email[1];
    assert_eq!(e1.smarthost.host, "::1");
    assert!(!e1.require_tls);
    assert!(!e1.send_resolved, "e-mail send_resolved defaults to false");
    assert!(
        matches!(&e1.auth_password, Some(SecretSource::File(p)) if p == Path::new("/run/secrets/smtp"))
    );
    let discord = &c.receiver("discord").unwrap().discord[0];
    assert!(!discord.send_resolved);
    assert_eq!(
        discord.message,
        r#"{{ template "discord.default.message" . }}"#
    );
    let hook = &c.receiver("hook").unwrap().webhook[0];
    assert!(hook.send_resolved, "webhook send_resolved defaults to true");
    assert_eq!(hook.max_alerts, 10);
    assert_eq!(c.inhibit_rules.len(), 3);
    assert_eq!(
        c.inhibit_rules[1].target.to_string(),
        r#"{alertname=~"^(?:Instance.*)$"}"#
    );
    assert_eq!(
        c.time_intervals.keys().collect::<Vec<_>>(),
        ["business", "legacy", "offhours"]
    );
    assert!(c.templates[0].ends_with("templates/*.tmpl") && c.templates[0].is_absolute());
    assert!(
        c.template_files().is_empty(),
        "a glob matching nothing is ignored"
    );
    // Secrets never show in the rendered config or in Debug output.
    let rendered = c.to_yaml();
    let debug = format!("{c:?}");
    for secret in [
        "s3cret",
        "discord.com/api/webhooks/123/abc",
        "127.0.0.1:5001",
    ] {
        assert!(!rendered.contains(secret), "{secret} in {rendered}");
        assert!(!debug.contains(secret), "{secret} in debug output");
    }
    assert!(rendered.contains("<secret>"));
    // The rendered document is itself a valid alertmanager.yml for blackwatch.
    let dir = tempfile::tempdir().unwrap();
    let again = load_str(
        &rendered.replace("<secret>", "https://example.org/x"),
        &dir.path().join("a.yml"),
    );
    assert!(again.is_ok(), "{again:?}\n{rendered}");
}

#[test]
fn newer_fields_become_secret_sources_and_labels() {
    let c = load_file(&data("valid/newer_fields.yml")).unwrap();
    let d = &c.receiver("discord").unwrap();
    assert_eq!(d.labels["team"], "web");
    assert!(matches!(&d.discord[0].webhook_url, SecretSource::File(p) if p.ends_with("discord")));
    assert_eq!(d.discord[0].username, "blackwatch");
    let m = &c.receiver("mail").unwrap().email[0];
    assert_eq!(m.force_implicit_tls, Some(false));
    assert!(m.auth_secret.is_some());
    let h = &c.receiver("hook").unwrap().webhook[0];
    assert_eq!(h.timeout, std::time::Duration::from_secs(10));
}

/// Route keys are built from each route's sorted matchers printed upstream's way; amtool's
/// tree view prints exactly that string for every route.
#[test]
fn route_matchers_print_like_amtool_routes_show() {
    let path = data("valid/matchers_display.yml");
    let bin = std::env::var("AMTOOL_BIN").unwrap_or_else(|_| "amtool".to_owned());
    let out = Command::new(&bin)
        .args(["config", "routes", "show", "--config.file"])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run amtool `{bin}` ({e}); install prometheus-alertmanager")
        });
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let upstream: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once("── ").map(|(_, r)| r))
        .filter(|r| !r.starts_with("default-route"))
        .map(|r| {
            r.split("  receiver:")
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let c = load_file(&path).unwrap();
    let ours: Vec<String> = c
        .route
        .routes
        .iter()
        .map(|r| r.matchers.to_string())
        .collect();
    assert!(upstream.len() >= 10, "amtool printed:\n{text}");
    assert_eq!(ours, upstream);
    for r in &c.route.routes {
        assert_eq!(r.key, format!("{{}}/{}", r.matchers));
    }
}

/// Must-match item 1 (depth-first, first matching child wins unless `continue`, a node no
/// child of which matched is the result): the receivers blackwatch routes each label set to,
/// in order, are the ones `amtool config routes test` prints.
#[test]
fn routing_matches_amtool_routes_test() {
    let path = data("valid/routing_tree.yml");
    let c = load_file(&path).unwrap();
    let bin = std::env::var("AMTOOL_BIN").unwrap_or_else(|_| "amtool".to_owned());
    let label_sets: &[&[&str]] = &[
        &["owner=team-A"],
        &["owner=team-A", "env=unset"],
        &["owner=team-C"],
        &["owner=team-B", "env=production"],
        &["owner=team-A", "env=testing"],
        &["owner=team-A", "env=production"],
        &["owner=team-A", "env=production", "job=x"],
        &["owner=team-A", "env=producer"],
        &["group_by=role"],
        &["env=testing", "group_by=role"],
        &["env=testing", "group_by=role", "wait=long"],
        &["chain=1"],
        &["chain=1", "sev=critical"],
        &["chain=2", "sev=critical"],
        &["chain=2"],
        &["chain=3"],
        &["chain=3", "sev=critical"],
        &["chain=4"],
        &["chain=4", "sev=critical"],
        &["owner=team-A", "chain=1"],
        &["nothing=matches"],
    ];
    let mut failures = Vec::new();
    for labels in label_sets {
        let out = Command::new(&bin)
            .args(["config", "routes", "test", "--config.file"])
            .arg(&path)
            .args(labels.iter())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run amtool `{bin}` ({e}); install prometheus-alertmanager")
            });
        let upstream = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let set: blackwatch::labels::LabelSet = labels
            .iter()
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        let ours: Vec<String> = c
            .route
            .match_routes(&set)
            .iter()
            .map(|r| r.opts.receiver.clone())
            .collect();
        if ours.join(",") != upstream {
            failures.push(format!("{labels:?}: amtool {upstream:?}, ours {ours:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same documents inline under `alerting:` in blackwatch.yml: same verdicts, same
/// messages, positions shifted by the indentation and field paths under `alerting.`.
#[test]
fn inline_alerting_section_behaves_like_the_standalone_file() {
    let mut checked = 0;
    for dir in ["valid", "invalid"] {
        for path in fixtures(dir) {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut inline = String::from("alerting:\n");
            for line in text.lines() {
                inline.push_str("  ");
                inline.push_str(line);
                inline.push('\n');
            }
            // Same directory, so relative paths resolve alike.
            let bw = path.with_file_name("inline-blackwatch.yml");
            let standalone = load_file(&path);
            let embedded = blackwatch::config::load_str(&inline, &bw);
            let name = path.display().to_string();
            match (standalone, embedded) {
                (Ok(a), Ok(b)) => {
                    let b = b.alerting.expect("alerting section");
                    assert_eq!(a.route.walk().len(), b.route.walk().len(), "{name}");
                    assert_eq!(a.receivers.len(), b.receivers.len(), "{name}");
                }
                (Err(a), Err(b)) => {
                    let a: Vec<_> = a.iter().collect();
                    let b: Vec<_> = b.iter().collect();
                    assert_eq!(a.len(), b.len(), "{name}: {a:?} vs {b:?}");
                    for (x, y) in a.iter().zip(&b) {
                        assert_eq!(x.message, y.message, "{name}");
                        let want_path = if x.path.is_empty() {
                            "alerting".to_string()
                        } else {
                            format!("alerting.{}", x.path)
                        };
                        assert_eq!(y.path, want_path, "{name}");
                        assert_eq!(y.file, bw, "{name}");
                        if x.line > 0 {
                            assert_eq!((y.line, y.column), (x.line + 1, x.column + 2), "{name}");
                        }
                    }
                }
                (a, b) => panic!("{name}: standalone {:?}, inline {:?}", a.err(), b.err()),
            }
            checked += 1;
        }
    }
    assert!(checked > 50);
}

/// How a matcher string is compared with amtool 0.25 (classic grammar only).
enum Cmp {
    /// Same verdict; same printed matchers, or our error contains amtool's.
    Same,
    /// Same verdict; the error wording differs (Go's RE2 messages).
    Verdict,
    /// 0.27+ behaviour (UTF-8 grammar) on purpose: we print this, amtool 0.25 differs.
    Newer(&'static str),
}

/// Matcher strings in a route's `matchers:` list, each checked with `amtool check-config`
/// and printed with `amtool config routes show`.
#[test]
fn matcher_strings_parse_like_amtool() {
    use Cmp::*;
    let cases: &[(&str, Cmp)] = &[
        ("foo", Same),
        ("foo=", Same),
        ("foo=bar", Same),
        ("=bar", Same),
        ("foo==bar", Same),
        ("foo=~", Same),
        ("foo!=", Same),
        ("foo~=bar", Same),
        (r#"foo = "bar""#, Same),
        (r#"foo="bar"#, Same),
        (r#"foo=bar""#, Same),
        (r#"foo="ba"r""#, Same),
        ("{foo=bar}", Same),
        ("{foo=bar", Same),
        ("foo=bar}", Same),
        ("foo=bar,", Same),
        (",foo=bar", Same),
        ("foo=bar,,x=y", Same),
        ("a=b c=d", Same),
        (r#"foo="a\"b""#, Same),
        ("foo='bar'", Same),
        ("foo=`bar`", Same),
        (r"foo=b\\ar", Same),
        (r#"{a="1", b=~"x|y", c!~"z"}"#, Same),
        (r#"foo=~"[a""#, Verdict),
        (r#"foo!~"*""#, Verdict),
        ("1foo=bar", Newer(r#"{1foo="bar"}"#)),
        ("foo-bar=x", Newer(r#"{foo-bar="x"}"#)),
        ("föo=bar", Newer(r#"{föo="bar"}"#)),
        (r#"foo="\u00e9""#, Newer(r#"{foo="é"}"#)),
    ];
    let bin = std::env::var("AMTOOL_BIN").unwrap_or_else(|_| "amtool".to_owned());
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (m, cmp) in cases {
        let yaml = format!(
            "route:\n  receiver: r\n  routes:\n    - matchers:\n        - '{}'\nreceivers: [{{name: r}}]\n",
            m.replace('\'', "''")
        );
        let path = dir.path().join("m.yml");
        std::fs::write(&path, &yaml).unwrap();
        let ours = load_file(&path)
            .map(|c| c.route.routes[0].matchers.to_string())
            .map_err(|e| e.to_string());
        if let Newer(want) = cmp {
            if ours.as_deref() != Ok(*want) {
                failures.push(format!("{m:?}: ours {ours:?}, want {want}"));
            }
            continue;
        }
        let upstream = amtool(&path).map(|()| {
            let out = Command::new(&bin)
                .args(["config", "routes", "show", "--config.file"])
                .arg(&path)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|l| l.split_once("── {").map(|(_, r)| format!("{{{r}")))
                .map(|r| {
                    r.split("  receiver:")
                        .next()
                        .unwrap_or_default()
                        .to_string()
                })
                .unwrap_or_else(|| "{}".to_string())
        });
        let agree = match (&upstream, &ours, cmp) {
            (Ok(a), Ok(b), _) => a == b,
            (Err(a), Err(b), Same) => b.contains(a.as_str()),
            (Err(_), Err(_), _) => true,
            _ => false,
        };
        if !agree {
            failures.push(format!("{m:?}: amtool {upstream:?}, ours {ours:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// `templates:` parsed at load time
// ---------------------------------------------------------------------------

/// amtool 0.25 prints only Go's error (`template: unclosed_action.tmpl:2: unclosed action
/// started at unclosed_action.tmpl:1`, checked against amtool by the `invalid/template_*`
/// fixtures above); blackwatch prefixes the config position, the glob's field path and the
/// template file's full path, since Go's text names only its base name.
#[test]
fn template_parse_errors_name_the_glob_and_the_file() {
    let path = data("invalid/template_unclosed_action.yml");
    let e = load_file(&path).unwrap_err().to_string();
    let want = format!(
        "{}:9:5: templates[0]: parsing template file {}: template: unclosed_action.tmpl:2: \
         unclosed action started at unclosed_action.tmpl:1",
        path.display(),
        data("invalid/tmpl/unclosed_action.tmpl").display()
    );
    assert!(e.contains(&want), "{e}\nwanted: {want}");

    // A glob matching a directory: the file cannot be read (Go: `read …: is a directory`).
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub.tmpl")).unwrap();
    let am = dir.path().join("am.yml");
    std::fs::write(
        &am,
        "route: {receiver: r}\nreceivers: [{name: r}]\ntemplates: ['*.tmpl']\n",
    )
    .unwrap();
    let e = load_file(&am).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "templates[0]: reading template file {}",
            dir.path().join("sub.tmpl").display()
        )),
        "{e}"
    );
}

#[test]
fn every_template_file_is_parsed_once_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let tmpl = dir.path().join("tmpl");
    std::fs::create_dir(&tmpl).unwrap();
    std::fs::write(tmpl.join("a.tmpl"), r#"{{ define "custom.a" }}a{{ end }}"#).unwrap();
    std::fs::write(
        tmpl.join("b.tmpl"),
        r#"{{ define "custom.b" }}{{ .Status | toUpper }}{{ end }}"#,
    )
    .unwrap();
    let am = dir.path().join("am.yml");
    std::fs::write(
        &am,
        "route: {receiver: r}\nreceivers: [{name: r}]\ntemplates: ['tmpl/*.tmpl', 'none/*.tmpl']\n",
    )
    .unwrap();
    let c = load_file(&am).unwrap();
    assert!(c.same_as(&load_file(&am).unwrap()));
    // A changed template alone makes a different config (for reloads).
    std::fs::write(tmpl.join("a.tmpl"), r#"{{ define "custom.a" }}A{{ end }}"#).unwrap();
    let changed = load_file(&am).unwrap();
    assert_eq!(changed.to_yaml(), c.to_yaml());
    assert!(!c.same_as(&changed));
    // What the load parsed stays with the config even when the files go away.
    std::fs::remove_dir_all(&tmpl).unwrap();
    for name in ["custom.a", "custom.b", "__subject", "email.default.html"] {
        assert!(c.template_set.has(name), "{name} not defined");
    }
    assert!(!c.template_set.has("custom.c"));

    // Every broken file is reported, not only the first.
    std::fs::create_dir(&tmpl).unwrap();
    std::fs::write(tmpl.join("a.tmpl"), "{{ end }}").unwrap();
    std::fs::write(tmpl.join("b.tmpl"), "{{ nope }}").unwrap();
    let e = load_file(&am).unwrap_err();
    let text: Vec<String> = e.iter().map(|e| e.message.clone()).collect();
    assert_eq!(text.len(), 2, "{text:?}");
    assert!(
        text[0].ends_with("template: a.tmpl:1: unexpected {{end}}"),
        "{text:?}"
    );
    assert!(
        text[1].ends_with(r#"template: b.tmpl:1: function "nope" not defined"#),
        "{text:?}"
    );
}

const BIN: &str = env!("CARGO_BIN_EXE_blackwatch");

/// `blackwatch check config FILE`: exit success and stderr.
fn check_config(file: &Path) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["check", "config"])
        .arg(file)
        .output()
        .expect("run blackwatch check config");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A Discord webhook sink on loopback answering 204; the embed titles it received.
fn discord_titles(sink: &crate::support::HttpServer) -> Vec<String> {
    sink.requests()
        .iter()
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body_str()).ok())
        .filter_map(|v| v["embeds"][0]["title"].as_str().map(str::to_string))
        .collect()
}

/// A broken template file is refused by `check config`, at start-up and by `/-/reload`,
/// which keeps the running config and its templates: notifications still render with the
/// templates parsed before.
#[tokio::test]
async fn broken_templates_fail_check_start_up_and_reload_keeps_the_running_ones() {
    use crate::support::{poll, HttpServer, TestResponse};
    let sink = HttpServer::plain(|_r: &crate::support::TestRequest| TestResponse::new(204));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmpl")).unwrap();
    let title = dir.path().join("tmpl/title.tmpl");
    std::fs::write(
        &title,
        r#"{{ define "custom.title" }}v1 {{ .CommonLabels.alertname }}{{ end }}"#,
    )
    .unwrap();
    let config = format!(
        r#"
        alerting:
          route:
            receiver: chat
            group_by: [alertname]
            group_wait: 0s
            group_interval: 1s
          receivers:
            - name: chat
              discord_configs:
                - webhook_url: {}
                  title: '{{{{ template "custom.title" . }}}}'
          templates:
            - tmpl/*.tmpl
        "#,
        sink.url("/discord")
    );
    let d = crate::alerting::Daemon::start(dir.path(), &config).await;
    let file = dir.path().join("blackwatch.yml");
    let (ok, stderr) = check_config(&file);
    assert!(ok, "{stderr}");
    let client = crate::alerting::client();
    let post = |name: &'static str| {
        client
            .post(d.url("/api/v2/alerts"))
            .json(&serde_json::json!([{"labels": {"alertname": name}}]))
            .send()
    };
    let wait_for_titles = |n: usize| {
        let sink = &sink;
        let d = &d;
        async move {
            let what = format!("notification {n}");
            poll::until(&what, std::time::Duration::from_secs(20), async || {
                let titles = discord_titles(sink);
                if titles.len() >= n {
                    Ok(())
                } else {
                    Err(format!(
                        "sink got {titles:?}; daemon stderr:\n{}",
                        d.stderr_text()
                    ))
                }
            })
            .await;
        }
    };
    // The pipeline is running with the templates.
    assert_eq!(post("Disk").await.unwrap().status(), 200);
    wait_for_titles(1).await;
    assert_eq!(discord_titles(&sink), ["v1 Disk"]);

    // Only the template changes; blackwatch.yml stays byte for byte the same.
    std::fs::write(
        &title,
        "{{ define \"custom.title\" }}v2 {{ .CommonLabels.alertname }}\n",
    )
    .unwrap();
    let want = format!(
        "templates[0]: parsing template file {}: template: title.tmpl:2: unexpected EOF",
        title.display()
    );
    let (ok, stderr) = check_config(&file);
    assert!(!ok, "check config accepted a broken template");
    assert!(stderr.contains(&want), "{stderr}\nwanted: {want}");

    let resp = client.post(d.url("/-/reload")).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    let body = resp.text().await.unwrap();
    assert!(body.contains(&want), "{body}");
    let metrics = d.metrics().await;
    assert!(
        metrics.contains("blackbox_exporter_config_last_reload_successful 0"),
        "{metrics}"
    );

    // The running config keeps its templates: a new group renders with v1.
    assert_eq!(post("Net").await.unwrap().status(), 200);
    wait_for_titles(2).await;
    assert_eq!(discord_titles(&sink), ["v1 Disk", "v1 Net"]);

    // Start-up refuses the same files.
    let mut cmd = Command::new(BIN);
    cmd.arg("--web.listen-address=127.0.0.1:0")
        .arg(format!("--config.file={}", file.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data2").display()
        ));
    let mut spawned =
        crate::support::process::spawn_listening(cmd, std::time::Duration::from_secs(20)).await;
    if spawned.addr.is_some() {
        let _ = spawned.child.kill();
    }
    let status = spawned.child.wait().unwrap();
    let stderr = spawned.stderr.lock().unwrap().join("\n");
    assert!(
        spawned.addr.is_none() && !status.success(),
        "started with a broken template: {stderr}"
    );
    assert!(stderr.contains(&want), "{stderr}");

    // A fixed template (blackwatch.yml still unchanged) reloads and is used at once.
    std::fs::write(
        &title,
        r#"{{ define "custom.title" }}v3 {{ .CommonLabels.alertname }}{{ end }}"#,
    )
    .unwrap();
    let resp = client.post(d.url("/-/reload")).send().await.unwrap();
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    assert_eq!(post("Cpu").await.unwrap().status(), 200);
    wait_for_titles(3).await;
    assert!(
        discord_titles(&sink).contains(&"v3 Cpu".to_string()),
        "{:?}",
        discord_titles(&sink)
    );
}
