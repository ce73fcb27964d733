//! The status page at `/` in a real browser: headless Chromium (Debian package `chromium`)
//! renders the page of the real binary on loopback, with scheduled probes of a loopback
//! target that is up and one that is down, rules that fire and stay pending, and alerting
//! with a webhook receiver. The silence forms are taken from the DOM Chromium built (so a
//! changed form breaks the test) and submitted by Chromium itself (values typed in, then
//! `requestSubmit()`, following the redirect); the silence must then show in API v2 and on
//! the page, and expire through its button. Bad forms and cross-site submissions are
//! checked too.
//!
//! Also: every shipped alerting example (`examples/standalone-discord.yml`,
//! `examples/user-services/`) loads with `config::load` and its rule files pass
//! `promtool check rules`.
//!
//! The browser tests fail (they do not skip) when `chromium` is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::alerting::{client, Daemon};
use crate::support::dedent;
use crate::support::{poll, HttpServer, TestResponse};

const WAIT: Duration = Duration::from_secs(30);

/// The DOM of `url` after Chromium loaded it.
async fn dump_dom(url: &str) -> String {
    dump_dom_with(url, &[]).await
}

/// [`dump_dom`] with extra Chromium flags.
async fn dump_dom_with(url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut cmd = tokio::process::Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
    ])
    .args(extra)
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg("--dump-dom")
    .arg(url)
    .kill_on_drop(true)
    .stdin(std::process::Stdio::null());
    let out = match tokio::time::timeout(Duration::from_secs(90), cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!(
            "running chromium failed ({e}); install the Debian package `chromium` (.ci/run does)"
        ),
        Err(_) => panic!("chromium --dump-dom {url} did not finish in 90s"),
    };
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium --dump-dom {url} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// Undoes the entity escapes Chromium writes when serializing the DOM.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The attributes of one start tag (`name="value"` pairs; boolean ones as `""`).
fn attrs(tag: &str) -> BTreeMap<String, String> {
    let re = regex::Regex::new(r#"([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:="([^"]*)")?"#).expect("regex");
    let inner = tag
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim_end_matches('/');
    let mut out = BTreeMap::new();
    // Skip the tag name.
    let rest = inner.split_once(char::is_whitespace).map_or("", |(_, r)| r);
    for c in re.captures_iter(rest) {
        out.insert(
            c[1].to_ascii_lowercase(),
            c.get(2).map(|m| unescape(m.as_str())).unwrap_or_default(),
        );
    }
    out
}

/// A form found in the DOM: its attributes and its fields in document order.
#[derive(Debug)]
struct Form {
    attrs: BTreeMap<String, String>,
    /// (name, type, value, required)
    fields: Vec<(String, String, String, bool)>,
    submit_buttons: usize,
}

/// Every `<form>…</form>` in `html`.
fn forms(html: &str) -> Vec<Form> {
    let form_re = regex::Regex::new(r"(?s)(<form\b[^>]*>)(.*?)</form>").expect("regex");
    let field_re = regex::Regex::new(r"<(input|textarea|select)\b[^>]*>").expect("regex");
    let button_re = regex::Regex::new(r"<button\b[^>]*>").expect("regex");
    form_re
        .captures_iter(html)
        .map(|c| {
            let fields = field_re
                .find_iter(&c[2])
                .map(|m| {
                    let a = attrs(m.as_str());
                    (
                        a.get("name").cloned().unwrap_or_default(),
                        a.get("type").cloned().unwrap_or_else(|| "text".into()),
                        a.get("value").cloned().unwrap_or_default(),
                        a.contains_key("required"),
                    )
                })
                .collect();
            let submit_buttons = button_re
                .find_iter(&c[2])
                .filter(|m| attrs(m.as_str()).get("type").is_none_or(|t| t == "submit"))
                .count();
            Form {
                attrs: attrs(&c[1]),
                fields,
                submit_buttons,
            }
        })
        .collect()
}

/// The element with `id="…"` up to its closing tag (first `</tag>`; enough for tables).
fn element<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind('<')?;
    let tag: String = html[start + 1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let end = html[start..].find(&format!("</{tag}>"))?;
    Some(&html[start..start + end])
}

/// The `<tr>` rows of a table, as their cell texts (tags stripped, entities undone).
fn rows(table: &str) -> Vec<(String, Vec<String>)> {
    let tr = regex::Regex::new(r"(?s)<tr\b([^>]*)>(.*?)</tr>").expect("regex");
    let td = regex::Regex::new(r"(?s)<td\b[^>]*>(.*?)</td>").expect("regex");
    let tag = regex::Regex::new(r"<[^>]*>").expect("regex");
    tr.captures_iter(table)
        .map(|c| {
            let cells = td
                .captures_iter(&c[2])
                .map(|d| unescape(tag.replace_all(&d[1], "").trim()))
                .collect();
            (c[1].to_string(), cells)
        })
        .collect()
}

/// Resolves a form's `action` against the page URL (absolute, root-relative or `./`).
fn resolve(page: &str, action: &str) -> String {
    url::Url::parse(page)
        .and_then(|u| u.join(action))
        .expect("resolvable action")
        .to_string()
}

async fn get_json(url: &str) -> Value {
    client()
        .get(url)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON")
}

/// Polls `url` (JSON) until `f` holds.
async fn wait_json(what: &str, url: &str, f: impl Fn(&Value) -> bool) -> Value {
    poll::until(what, WAIT, async || {
        let v = get_json(url).await;
        if f(&v) {
            Ok(v)
        } else {
            Err(v)
        }
    })
    .await
}

/// Posts a form's fields (urlencoded, as a browser does) without following the redirect.
async fn submit(url: &str, fields: &[(String, String)]) -> reqwest::Response {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", url.trim_end_matches('/'))
        .header("sec-fetch-site", "same-origin")
        .body(body)
        .send()
        .await
        .expect("POST form")
}

/// Fills the silence form found in `dom` with `values` for its visible fields; every
/// hidden field keeps its value. Panics if the form's visible fields are not exactly the
/// ones `values` names.
fn fill(form: &Form, values: &BTreeMap<&str, &str>) -> Vec<(String, String)> {
    let visible: Vec<&str> = form
        .fields
        .iter()
        .filter(|f| f.1 != "hidden")
        .map(|f| f.0.as_str())
        .collect();
    let mut want: Vec<&str> = values.keys().copied().collect();
    let mut got = visible.clone();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want, "the silence form's visible fields changed");
    form.fields
        .iter()
        .map(|(name, ty, value, _)| {
            let v = if ty == "hidden" {
                value.clone()
            } else {
                values[name.as_str()].to_string()
            };
            (name.clone(), v)
        })
        .collect()
}

/// Submits a form in the browser: a page on another loopback port (same site, another
/// origin, like a bookmark or a dashboard link) holds `form_html` exactly as it was in the
/// status page's DOM, sets its action to `action`, types `values` into its fields and calls
/// `requestSubmit()` (so `required` fields are checked as a user would meet them). Chromium
/// follows the redirect; the DOM of the page it lands on is returned.
async fn browser_submit(form_html: &str, action: &str, values: &BTreeMap<&str, &str>) -> String {
    let page = submitting_page(form_html, action, values);
    let server = HttpServer::plain(move |_req: &crate::support::TestRequest| {
        TestResponse::new(200)
            .with_header("content-type", "text/html; charset=utf-8")
            .with_body(page.clone())
    });
    dump_dom_with(&server.url("/form"), &["--virtual-time-budget=10000"]).await
}

/// As [`browser_submit`] from a page of another site (a local file): what a hostile page
/// could do. Returns the DOM Chromium ends on.
async fn cross_site_browser_submit(
    form_html: &str,
    action: &str,
    values: &BTreeMap<&str, &str>,
) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("evil.html");
    std::fs::write(&path, submitting_page(form_html, action, values)).expect("write page");
    dump_dom_with(
        &format!("file://{}", path.display()),
        &["--virtual-time-budget=10000"],
    )
    .await
}

/// A page holding `form_html` that fills in `values` and submits it to `action` on load.
fn submitting_page(form_html: &str, action: &str, values: &BTreeMap<&str, &str>) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>{form_html}<script>\n\
         const f = document.forms[0];\n\
         f.action = {};\n\
         for (const [k, v] of Object.entries({})) f.elements[k].value = v;\n\
         f.requestSubmit();\n\
         </script></body></html>",
        serde_json::to_string(action).expect("json"),
        serde_json::to_string(values).expect("json"),
    )
}

/// The raw markup of the first `<form>…</form>` that contains `marker`.
fn form_html<'a>(html: &'a str, marker: &str) -> &'a str {
    let re = regex::Regex::new(r"(?s)<form\b[^>]*>.*?</form>").expect("regex");
    let found = re
        .find_iter(html)
        .map(|m| m.as_str())
        .find(|f| f.contains(marker));
    found.unwrap_or_else(|| panic!("no form with {marker:?}"))
}

fn rule_file() -> &'static str {
    r#"
    groups:
      - name: status-page
        interval: 1s
        rules:
          - alert: TargetDown
            expr: probe_success == 0
            labels:
              severity: page
            annotations:
              summary: "{{ $labels.instance }} is <down> & out"
          - alert: TargetDownForAnHour
            expr: probe_success == 0
            for: 1h
            annotations:
              summary: "still down"
    "#
}

#[tokio::test]
async fn status_page_in_chromium_shows_targets_alerts_and_silence_forms_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let up = HttpServer::plain(|_req: &crate::support::TestRequest| TestResponse::ok());
    let down_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let sink = HttpServer::plain(|_req: &crate::support::TestRequest| TestResponse::ok());
    let up_url = up.url("/up");
    let down_url = format!("http://127.0.0.1:{down_port}/down");
    std::fs::write(dir.path().join("alerts.yml"), dedent(rule_file())).expect("write rules");
    let config = format!(
        r#"
        global:
          evaluation_interval: 1s
        rule_files: [alerts.yml]
        modules:
          http_2xx:
            prober: http
            timeout: 2s
            http:
              preferred_ip_protocol: ip4
        probes:
          - job: web
            module: http_2xx
            interval: 1s
            targets: ["{up_url}", "{down_url}"]
        alerting:
          route:
            receiver: hook
            group_by: [alertname]
            group_wait: 1s
            group_interval: 1s
            repeat_interval: 1h
          receivers:
            - name: hook
              webhook_configs:
                - url: {}
        "#,
        sink.url("/hook")
    );
    let d = Daemon::start(dir.path(), &config).await;
    let page_url = d.url("/");

    wait_json("TargetDown firing", &d.url("/api/v1/alerts"), |v| {
        v["data"]["alerts"].as_array().is_some_and(|a| {
            a.iter()
                .any(|a| a["labels"]["alertname"] == "TargetDown" && a["state"] == "firing")
                && a.iter().any(|a| {
                    a["labels"]["alertname"] == "TargetDownForAnHour" && a["state"] == "pending"
                })
        })
    })
    .await;
    // Both targets have a result (the down one is what fired; wait for the up one too).
    poll::until("the up target to succeed", WAIT, async || {
        let metrics = client()
            .get(d.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("body");
        if metrics
            .lines()
            .any(|l| l.starts_with("probe_success{") && l.contains(&up_url) && l.ends_with(" 1"))
        {
            Ok(())
        } else {
            Err(format!("/metrics:\n{metrics}"))
        }
    })
    .await;

    wait_json(
        "TargetDown in the alert pipeline",
        &d.url("/api/v2/alerts"),
        |v| {
            v.as_array()
                .is_some_and(|a| a.iter().any(|a| a["labels"]["alertname"] == "TargetDown"))
        },
    )
    .await;

    let dom = dump_dom(&page_url).await;
    assert!(
        element(&dom, "pipeline-alerts").is_some_and(|p| p.contains("holds 1 active alerts")),
        "{dom}"
    );
    assert!(
        dom.contains("name=\"viewport\""),
        "readable on a phone: viewport meta"
    );
    assert!(!dom.contains("<script"), "the page needs no JavaScript");

    // Scheduled targets: the failing one first, then the succeeding one.
    let targets = rows(element(&dom, "targets-table").expect("targets table"));
    let data: Vec<&(String, Vec<String>)> = targets
        .iter()
        .filter(|(a, _)| a.contains("target"))
        .collect();
    assert_eq!(data.len(), 2, "{targets:?}");
    assert!(data[0].0.contains("down"), "{targets:?}");
    assert_eq!(data[0].1[0], "failure");
    assert_eq!(data[0].1[1], "web");
    assert_eq!(data[0].1[2], down_url);
    assert_eq!(data[0].1[3], "http_2xx");
    assert!(data[1].0.contains("up"), "{targets:?}");
    assert_eq!(data[1].1[0], "success");
    assert_eq!(data[1].1[2], up_url);
    // Formatted for people (`2.76 ms`), since the uptime pages (status_pages.rs).
    assert!(
        regex::Regex::new(r"^\d+(\.\d+)? (µs|ms|s|min)$")
            .expect("regex")
            .is_match(&data[1].1[4]),
        "duration cell: {:?}",
        data[1].1
    );
    assert!(data[1].1[5].ends_with(" ago"), "{:?}", data[1].1);
    assert!(
        element(&dom, "targets-summary").is_some_and(|s| s.contains("1 failing, 1 succeeding")),
        "{dom}"
    );
    // Recent failures: the down target with a debug-probe link.
    let failing = element(&dom, "failing-debug").expect("failing list");
    assert!(failing.contains(&down_url), "{failing}");
    assert!(
        failing.contains(&format!(
            "probe?target={}&amp;module=http_2xx&amp;debug=true",
            url::form_urlencoded::byte_serialize(down_url.as_bytes()).collect::<String>()
        )),
        "{failing}"
    );

    // Alerts: firing before pending; annotations escaped (the summary has < and &).
    let alerts = rows(element(&dom, "alerts-table").expect("alerts table"));
    let alert_rows: Vec<&Vec<String>> = alerts
        .iter()
        .filter(|(a, _)| a.contains("alert"))
        .map(|(_, c)| c)
        .collect();
    assert_eq!(alert_rows.len(), 2, "{alerts:?}");
    assert_eq!(alert_rows[0][0], "firing");
    assert_eq!(alert_rows[0][1], "TargetDown");
    assert!(alert_rows[0][2].contains(&format!("instance=\"{down_url}\"")));
    assert_eq!(alert_rows[0][3], format!("{down_url} is <down> & out"));
    assert_eq!(alert_rows[0][6], "Silence");
    assert_eq!(alert_rows[1][0], "pending");
    assert_eq!(alert_rows[1][1], "TargetDownForAnHour");
    assert!(dom.contains("is &lt;down&gt; &amp; out"), "escaped summary");

    // Config reload state.
    let reload = rows(element(&dom, "reload-state").expect("reload state"));
    assert!(
        reload
            .iter()
            .any(|(_, c)| c.first().is_some_and(|v| v == "successful")),
        "{reload:?}"
    );
    assert!(dom.contains("No active or pending silences."));

    // The alert's "Silence" link prefills the form with matchers selecting exactly it.
    let link = regex::Regex::new(r#"href="(\?matchers=[^"]*)""#)
        .expect("regex")
        .captures(element(&dom, "alerts-table").expect("alerts"))
        .map(|c| unescape(&c[1]))
        .expect("silence link");
    let prefilled = dump_dom(&resolve(&page_url, &link)).await;
    let form = forms(&prefilled)
        .into_iter()
        .find(|f| f.attrs.get("id").is_some_and(|i| i == "silence-form"))
        .expect("silence form");
    let matchers = &form
        .fields
        .iter()
        .find(|f| f.0 == "matchers")
        .expect("matchers field")
        .2;
    let parsed = blackwatch::labels::Matchers::parse(matchers).expect("prefilled matchers parse");
    assert!(matchers.contains("alertname=\"TargetDown\""), "{matchers}");
    assert_eq!(
        parsed.len(),
        5,
        "alertname, instance, job, module, severity: {matchers}"
    );

    // Create a silence with the form as rendered.
    assert_eq!(form.attrs.get("method").map(String::as_str), Some("post"));
    assert_eq!(form.submit_buttons, 1);
    assert!(
        form.fields
            .iter()
            .filter(|f| f.1 != "hidden" && f.0 != "comment")
            .all(|f| f.3),
        "matchers, duration and author are required: {form:?}"
    );
    let action = resolve(&page_url, form.attrs.get("action").expect("action"));
    // The visible fields are exactly the ones typed below (hidden ones keep their values).
    let fields = fill(
        &form,
        &BTreeMap::from([
            ("matchers", "alertname=\"TargetDown\""),
            ("duration", "2h"),
            ("created_by", "status-page-test"),
            ("comment", ""),
        ]),
    );
    let typed = BTreeMap::from([
        ("matchers", "alertname=\"TargetDown\", severity=~\"pa.e\""),
        ("duration", "2h"),
        ("created_by", "status-page-test"),
        ("comment", "maintenance <window> & more"),
    ]);
    let after = browser_submit(
        form_html(&prefilled, "id=\"silence-form\""),
        &action,
        &typed,
    )
    .await;

    // API v2 has it, with the semantics of a silence posted there.
    let silences = get_json(&d.url("/api/v2/silences")).await;
    let list = silences.as_array().expect("silence list");
    assert_eq!(list.len(), 1, "{silences}");
    let s = &list[0];
    let id = s["id"].as_str().expect("id").to_string();
    assert_eq!(s["status"]["state"], "active");
    assert_eq!(s["createdBy"], "status-page-test");
    assert_eq!(s["comment"], "maintenance <window> & more");
    assert_eq!(
        s["matchers"],
        serde_json::json!([
            {"name": "alertname", "value": "TargetDown", "isRegex": false, "isEqual": true},
            {"name": "severity", "value": "pa.e", "isRegex": true, "isEqual": true},
        ])
    );
    let starts = rfc3339_secs(s["startsAt"].as_str().expect("startsAt"));
    let ends = rfc3339_secs(s["endsAt"].as_str().expect("endsAt"));
    assert!((ends - starts - 7200.0).abs() < 1.0, "{s}");
    wait_json("the alert silenced", &d.url("/api/v2/alerts"), |v| {
        v.as_array().is_some_and(|a| {
            a.iter().any(|a| {
                a["labels"]["alertname"] == "TargetDown"
                    && a["status"]["silencedBy"] == serde_json::json!([id])
            })
        })
    })
    .await;

    // The page Chromium was redirected to: notice, the silence row, the alert silenced.
    let dom = after;
    assert!(
        element(&dom, "notice").is_some_and(|n| n.contains(&format!("Created silence {id}."))),
        "{dom}"
    );
    let table = element(&dom, "silences-table").expect("silences table");
    let srows: Vec<(String, Vec<String>)> = rows(table)
        .into_iter()
        .filter(|(a, _)| a.contains("silence"))
        .collect();
    assert_eq!(srows.len(), 1, "{srows:?}");
    assert!(srows[0].0.contains(&id), "{srows:?}");
    assert_eq!(srows[0].1[0], "active");
    assert_eq!(
        srows[0].1[1],
        "{alertname=\"TargetDown\",severity=~\"pa.e\"}"
    );
    assert!(srows[0].1[2].starts_with("in 1h59m") || srows[0].1[2].starts_with("in 2h0m"));
    assert_eq!(srows[0].1[3], "status-page-test");
    assert_eq!(srows[0].1[4], "maintenance <window> & more");
    let alerts = rows(element(&dom, "alerts-table").expect("alerts table"));
    assert!(
        alerts.iter().any(|(_, c)| c.len() > 6
            && c[1] == "TargetDown"
            && c[6] == format!("silenced by {id}")),
        "{alerts:?}"
    );

    // A bad form re-renders the page with the error and what was typed; nothing is stored.
    let bad = fill(
        &form,
        &BTreeMap::from([
            ("matchers", "alertname=~\"(\""),
            ("duration", "2h"),
            ("created_by", "someone"),
            ("comment", "kept"),
        ]),
    );
    let resp = submit(&action, &bad).await;
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.expect("body");
    assert!(
        element(&body, "error").is_some_and(|e| e.contains("bad matchers")),
        "{body}"
    );
    assert!(
        body.contains("value=\"alertname=~&quot;(&quot;\""),
        "{body}"
    );
    let bad = fill(
        &form,
        &BTreeMap::from([
            ("matchers", "alertname=\"X\""),
            ("duration", "soon"),
            ("created_by", "someone"),
            ("comment", ""),
        ]),
    );
    assert_eq!(submit(&action, &bad).await.status(), 400);
    // Cross-site browser submissions are refused.
    let resp = reqwest::Client::new()
        .post(&action)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&fields)
                .finish(),
        )
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 403);
    // The same refusal for a real browser submitting from a page of another site.
    let refused = cross_site_browser_submit(
        form_html(&prefilled, "id=\"silence-form\""),
        &action,
        &typed,
    )
    .await;
    assert!(
        element(&refused, "error")
            .is_some_and(|e| e.contains("cross-site form submissions are refused")),
        "{refused}"
    );
    assert_eq!(
        get_json(&d.url("/api/v2/silences"))
            .await
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Expire it with the row's button.
    let expire = forms(table)
        .into_iter()
        .find(|f| f.fields.iter().any(|x| x.0 == "id" && x.2 == id))
        .expect("expire form in the silence row");
    assert_eq!(expire.submit_buttons, 1);
    assert!(expire.fields.iter().all(|f| f.1 == "hidden"), "{expire:?}");
    let fields: Vec<(String, String)> = expire
        .fields
        .iter()
        .map(|f| (f.0.clone(), f.2.clone()))
        .collect();
    let action = resolve(&page_url, expire.attrs.get("action").expect("action"));
    let expired = browser_submit(
        form_html(table, &format!("value=\"{id}\"")),
        &action,
        &BTreeMap::new(),
    )
    .await;
    assert!(
        element(&expired, "notice").is_some_and(|n| n.contains(&format!("Expired silence {id}."))),
        "{expired}"
    );
    let silence = get_json(&d.url(&format!("/api/v2/silence/{id}"))).await;
    assert_eq!(silence["status"]["state"], "expired", "{silence}");
    let dom = dump_dom(&page_url).await;
    assert!(element(&dom, "silences-table").is_none(), "{dom}");
    assert!(dom.contains("No active or pending silences."));
    // Expiring it again, or an unknown ID, answers as API v2 does.
    let again = submit(&action, &fields).await;
    let api = client()
        .delete(d.url(&format!("/api/v2/silence/{id}")))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(
        again.status().is_success() || again.status() == 303,
        api.status().is_success(),
        "the form and API v2 agree on expiring an expired silence"
    );
    let unknown: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| {
            let v = if k == "id" {
                "no-such-silence".to_string()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    let resp = submit(&action, &unknown).await;
    let api = client()
        .delete(d.url("/api/v2/silence/no-such-silence"))
        .send()
        .await
        .expect("DELETE");
    assert_eq!(resp.status(), 404);
    assert_eq!(api.status(), 404);
}

/// Seconds since the epoch of an RFC 3339 timestamp (API v2's form).
fn rfc3339_secs(s: &str) -> f64 {
    let t: jiff::Timestamp = s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"));
    t.as_millisecond() as f64 / 1000.0
}

#[tokio::test]
async fn status_page_without_rules_or_alerting_says_not_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(
        dir.path(),
        r#"
        modules:
          http_2xx:
            prober: http
        "#,
    )
    .await;
    let dom = dump_dom(&d.url("/")).await;
    for id in [
        "alerts-not-configured",
        "silences-not-configured",
        "targets-not-configured",
    ] {
        assert!(element(&dom, id).is_some(), "{id} missing:\n{dom}");
    }
    assert!(forms(&dom).is_empty(), "no silence form without alerting");
    assert!(element(&dom, "pipeline-alerts").is_none());
    let resp = submit(
        &d.url("/"),
        &[
            ("op".into(), "create".into()),
            ("matchers".into(), "a=\"b\"".into()),
        ],
    )
    .await;
    assert_eq!(resp.status(), 404);
    assert!(element(&resp.text().await.expect("body"), "error").is_some());
}

/// A failed reload shows as failed, with the file's errors.
#[tokio::test]
async fn status_page_shows_a_failed_reload_with_its_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start(
        dir.path(),
        r#"
        modules:
          http_2xx:
            prober: http
        "#,
    )
    .await;
    std::fs::write(
        dir.path().join("blackwatch.yml"),
        "modules:\n  http_2xx:\n    prober: htp\n",
    )
    .expect("write");
    let resp = client()
        .post(d.url("/-/reload"))
        .send()
        .await
        .expect("reload");
    assert_eq!(resp.status(), 500);
    let dom = dump_dom(&d.url("/")).await;
    let reload = rows(element(&dom, "reload-state").expect("reload state"));
    assert!(
        reload
            .iter()
            .any(|(_, c)| c.first().is_some_and(|v| v == "failed")),
        "{reload:?}"
    );
    let errors = unescape(element(&dom, "reload-errors").expect("errors"));
    assert!(errors.contains("blackwatch.yml:3:"), "{errors}");
    assert!(errors.contains("htp"), "{errors}");
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

#[test]
fn shipped_alerting_examples_load_and_their_rules_pass_promtool() {
    let dir = examples();
    for (file, receivers) in [
        ("standalone-discord.yml", vec!["discord"]),
        (
            "user-services/blackwatch.yml",
            vec!["discord", "discord-and-mail"],
        ),
    ] {
        let path = dir.join(file);
        let c = blackwatch::config::load(&path)
            .unwrap_or_else(|e| panic!("{} does not load:\n{e}", path.display()));
        assert!(!c.jobs.is_empty(), "{file}: no probes");
        let names: Vec<String> = c
            .rules
            .groups
            .iter()
            .flat_map(|g| {
                g.rules.iter().filter_map(|r| match &r.kind {
                    blackwatch::rules::file::RuleKind::Alert { name, .. } => Some(name.clone()),
                    _ => None,
                })
            })
            .collect();
        for want in [
            "BlackboxProbeFailed",
            "BlackboxSlowProbe",
            "BlackboxProbeHttpFailure",
            "BlackboxSslCertificateWillExpireSoon",
            "BlackboxSslCertificateWillExpireVerySoon",
            "BlackboxSslCertificateExpired",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{file}: no {want} in {names:?}"
            );
        }
        let alerting = c
            .alerting
            .as_ref()
            .unwrap_or_else(|| panic!("{file}: no alerting"));
        let got: Vec<&str> = alerting.receivers.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(got, receivers, "{file}");
    }
    // Every example directory's configs load too (files named blackwatch*.yml).
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            for f in std::fs::read_dir(&p).expect("dir") {
                let f = f.expect("entry").path();
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with("blackwatch") && name.ends_with(".yml") {
                    blackwatch::config::load(&f)
                        .unwrap_or_else(|e| panic!("{} does not load:\n{e}", f.display()));
                }
            }
        }
    }
    let rule_files = [
        dir.join("rules/blackbox.yml"),
        dir.join("user-services/blackbox.rules.yml"),
    ];
    let out = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .args(&rule_files)
        .output()
        .expect("promtool (Debian package prometheus) runs");
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
