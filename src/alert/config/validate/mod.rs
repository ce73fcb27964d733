//! `alertmanager.yml` raw structs → validated alerting config, one file per section
//! (`http`, `receivers`, `routes`, `time_intervals`; `global:` and templates here). Applies
//! Alertmanager's load-time rules with its error texts (users search for them), keeps going
//! after the first problem and reports every error with file, line, column and field path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_saphyr::{Location, Spanned};

use super::raw::*;
use super::*;
use crate::alert::inhibit::InhibitRule;
use crate::alert::notify::render::RenderError;
use crate::alert::route::{Route, RouteOpts};
use crate::alert::timeinterval::{self, TimeInterval, TimeIntervalSpec};
use crate::base::names::is_label_name as is_valid_label_name;
use crate::base::ConfigError;
use crate::base::Secret;
use crate::client::raw::RawTlsConfig;
use crate::labels::{parse_matchers, MatchOp, Matcher, Matchers};

mod http;
mod incident;
mod jira;
mod msteams;
mod pushover;
mod receivers;
mod rocketchat;
mod routes;
mod sns;
mod telegram;
mod time_intervals;
mod webex;
mod wechat;

use http::{http_config, tls_config};
use receivers::receiver;
use routes::{inhibit_rule, route};
use time_intervals::time_intervals;

struct Cx<'a> {
    file: &'a Path,
    base_dir: &'a Path,
    prefix: &'a str,
    errors: Vec<ConfigError>,
}

impl Cx<'_> {
    fn err(&mut self, loc: &Location, path: &str, message: impl Into<String>) {
        let path = match (self.prefix.is_empty(), path.is_empty()) {
            (true, _) => path.to_string(),
            (false, true) => self.prefix.to_string(),
            (false, false) => format!("{}.{path}", self.prefix),
        };
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line: loc.line(),
            column: loc.column(),
            path,
            message: message.into(),
        });
    }

    fn unsupported<T>(&mut self, field: &Option<Spanned<T>>, path: &str, what: &str) {
        if let Some(f) = field {
            self.err(
                &f.referenced,
                path,
                format!("{what} is not supported yet by blackwatch"),
            );
        }
    }

    fn file_path(&self, p: &str) -> PathBuf {
        self.base_dir.join(p)
    }
}

/// Validates a parsed document. `prefix` is prepended to field paths (`alerting` when the
/// document is inline in blackwatch.yml).
/// One sequence on purpose: it is upstream's `Config.UnmarshalYAML` order (global
/// defaults, receivers, routes, inhibit rules, time intervals), which decides which error
/// comes first.
pub fn alerting(
    raw: &RawAlertingConfig,
    file: &Path,
    base_dir: &Path,
    prefix: &str,
    doc: Location,
) -> Result<AlertingConfig, Vec<ConfigError>> {
    let mut cx = Cx {
        file,
        base_dir,
        prefix,
        errors: Vec::new(),
    };
    let global_raw = raw
        .global
        .as_ref()
        .map(|g| g.value.clone())
        .unwrap_or_default();
    let global = global(&mut cx, raw, &global_raw);

    let mut names = BTreeSet::new();
    let mut receivers = Vec::new();
    for (i, r) in raw.receivers.iter().enumerate() {
        if let Some(rcv) = receiver(&mut cx, i, r, &global_raw) {
            if !names.insert(rcv.name.clone()) {
                let loc = r.value.name.as_ref().map_or(r.referenced, |n| n.referenced);
                cx.err(
                    &loc,
                    &format!("receivers[{i}].name"),
                    format!("notification config name {:?} is not unique", rcv.name),
                );
            }
            receivers.push(rcv);
        }
    }

    let time_intervals = time_intervals(&mut cx, raw);

    let route = match &raw.route {
        None => {
            cx.err(&doc, "route", "no routes provided");
            None
        }
        Some(root) => {
            let r = &root.value;
            if r.receiver.as_ref().is_none_or(|s| s.value.is_empty()) {
                cx.err(
                    &root.referenced,
                    "route",
                    "root route must specify a default receiver",
                );
            }
            if !r.match_.is_empty() || !r.match_re.is_empty() || !r.matchers.is_empty() {
                cx.err(
                    &root.referenced,
                    "route",
                    "root route must not have any matchers",
                );
            }
            if r.continue_ {
                cx.err(
                    &root.referenced,
                    "route",
                    "cannot have continue in root route",
                );
            }
            if let Some(m) = r.mute_time_intervals.first() {
                cx.err(
                    &m.referenced,
                    "route.mute_time_intervals",
                    "root route must not have any mute time intervals",
                );
            }
            if let Some(m) = r.active_time_intervals.first() {
                cx.err(
                    &m.referenced,
                    "route.active_time_intervals",
                    "root route must not have any active time intervals",
                );
            }
            let mut index = 0;
            Some(route(
                &mut cx,
                root,
                "route",
                None,
                &names,
                &time_intervals,
                &mut index,
                0,
            ))
        }
    };

    let mut inhibit_rules = Vec::new();
    for (i, r) in raw.inhibit_rules.iter().enumerate() {
        inhibit_rules.push(inhibit_rule(
            &mut cx,
            &format!("inhibit_rules[{i}]"),
            &r.value,
        ));
    }

    let mut templates = Vec::new();
    for (i, t) in raw.templates.iter().enumerate() {
        let p = cx.file_path(&t.value);
        if let Err(e) = glob::Pattern::new(&p.to_string_lossy()) {
            cx.err(
                &t.referenced,
                &format!("templates[{i}]"),
                format!("invalid template glob {:?}: {e}", t.value),
            );
        }
        templates.push(p);
    }
    let template_set = template_set(&mut cx, raw, &templates);

    match route {
        Some(route) if cx.errors.is_empty() => Ok(AlertingConfig {
            source: file.to_path_buf(),
            global,
            route,
            receivers,
            inhibit_rules,
            time_intervals,
            templates,
            template_set: Arc::new(template_set),
            document: crate::base::yaml::to_string(raw)
                .unwrap_or_else(|e| format!("# could not render the configuration: {e}\n")),
        }),
        _ => Err(cx.errors),
    }
}

/// Parses the built-in templates and every file the `templates:` globs match, as upstream
/// does at load time (`template.FromGlobs`): a file that cannot be read or parsed is an
/// error at its glob, naming the file and quoting Go's template error.
fn template_set(cx: &mut Cx, raw: &RawAlertingConfig, globs: &[PathBuf]) -> TemplateSet {
    let mut set = TemplateSet::defaults();
    for (i, (t, pattern)) in raw.templates.iter().zip(globs).enumerate() {
        for f in crate::base::fs::glob(pattern) {
            match set.add_file(&f) {
                Ok(()) => {}
                Err(e @ RenderError::Read { .. }) => {
                    cx.err(&t.referenced, &format!("templates[{i}]"), e.to_string())
                }
                Err(e) => cx.err(
                    &t.referenced,
                    &format!("templates[{i}]"),
                    format!("parsing template file {}: {e}", f.display()),
                ),
            }
        }
    }
    set
}

fn global(cx: &mut Cx, raw: &RawAlertingConfig, g: &RawGlobal) -> Global {
    let loc = raw
        .global
        .as_ref()
        .map_or(Location::UNKNOWN, |g| g.referenced);
    if !g.smtp_auth_password.is_empty() && !g.smtp_auth_password_file.is_empty() {
        cx.err(
            &loc,
            "global",
            "at most one of smtp_auth_password & smtp_auth_password_file must be configured",
        );
    }
    if !g.smtp_auth_secret.is_empty() && !g.smtp_auth_secret_file.is_empty() {
        cx.err(
            &loc,
            "global",
            "at most one of smtp_auth_secret & smtp_auth_secret_file must be configured",
        );
    }
    if let Some(sh) = &g.smtp_smarthost {
        if let Err(m) = host_port(&sh.value) {
            cx.err(&sh.referenced, "global.smtp_smarthost", m);
        }
    }
    if let Some(h) = &g.http_config {
        http_config(cx, "global.http_config", h);
    }
    let urls = [
        ("pagerduty_url", &g.pagerduty_url),
        ("opsgenie_api_url", &g.opsgenie_api_url),
        ("wechat_api_url", &g.wechat_api_url),
        ("victorops_api_url", &g.victorops_api_url),
        ("telegram_api_url", &g.telegram_api_url),
        ("webex_api_url", &g.webex_api_url),
        ("rocketchat_api_url", &g.rocketchat_api_url),
        ("jira_api_url", &g.jira_api_url),
    ];
    for (name, url) in urls {
        if let Some(u) = url {
            if let Err(m) = check_url(&u.value) {
                cx.err(&u.referenced, &format!("global.{name}"), m);
            }
        }
    }
    if let Some(u) = &g.slack_api_url {
        if let Err(m) = check_url(u.value.expose()) {
            cx.err(&u.referenced, "global.slack_api_url", m);
        }
    }
    if g.slack_api_url.is_some() && g.slack_api_url_file.is_some() {
        cx.err(
            &loc,
            "global",
            "at most one of slack_api_url & slack_api_url_file must be configured",
        );
    }
    if let Some(t) = &g.smtp_tls_config {
        tls_config(cx, "global.smtp_tls_config", t);
    }
    rocketchat::global_checks(cx, &loc, g);
    if !g.opsgenie_api_key.is_empty() && !g.opsgenie_api_key_file.is_empty() {
        cx.err(
            &loc,
            "global",
            "at most one of opsgenie_api_key & opsgenie_api_key_file must be configured",
        );
    }
    if !g.victorops_api_key.is_empty() && !g.victorops_api_key_file.is_empty() {
        cx.err(
            &loc,
            "global",
            "at most one of victorops_api_key & victorops_api_key_file must be configured",
        );
    }
    Global {
        resolve_timeout: g.resolve_timeout.0,
        resolved_after_mute: g.resolved_after_mute,
    }
}

/// Go's `net.SplitHostPort` plus upstream's "port cannot be empty".
fn host_port(s: &str) -> Result<HostPort, String> {
    if s.is_empty() {
        return Ok(HostPort {
            host: String::new(),
            port: String::new(),
        });
    }
    let (host, port) = crate::base::go::split_host_port(s).map_err(|e| e.to_string())?;
    if port.is_empty() {
        return Err(format!("address {s:?}: port cannot be empty"));
    }
    Ok(HostPort {
        host: host.to_string(),
        port: port.to_string(),
    })
}

/// Upstream's URL check (`config.parseURL`) for webhook, Discord and the global integration
/// URLs, without echoing the (secret) URL: the scheme as Go's `url.Parse` finds it must be
/// http or https, and the URL must have a host.
fn check_url(s: &str) -> Result<(), String> {
    let scheme = go_url_scheme(s)?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("unsupported scheme {scheme:?} for URL"));
    }
    let u = url::Url::parse(s).map_err(|e| format!("invalid URL: {e}"))?;
    // Go's url.Parse keeps `http:///x` and `http:x` host-less, where WHATWG parsing (the url
    // crate) would take `x` as the host.
    let authority = s.split_once("://").map_or("", |(_, rest)| rest);
    if authority.is_empty() || authority.starts_with('/') || u.host_str().is_none_or(str::is_empty)
    {
        return Err("missing host for URL".to_string());
    }
    Ok(())
}

/// The scheme of a URL as Go's `url.getScheme` finds it, lower-cased: `""` when the text has
/// no `scheme:` prefix (`url`, `/path`, `host:80` is `host`).
fn go_url_scheme(s: &str) -> Result<String, String> {
    for (i, c) in s.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err("missing protocol scheme".to_string()),
            ':' => return Ok(s[..i].to_ascii_lowercase()),
            _ => return Ok(String::new()),
        }
    }
    Ok(String::new())
}

/// One of `url` / `url_file` (both upstream rules), returning the secret source.
#[allow(clippy::too_many_arguments)]
fn url_or_file(
    cx: &mut Cx,
    loc: &Location,
    path: &str,
    url: &Option<Spanned<Secret>>,
    file: &Option<Spanned<String>>,
    url_key: &str,
    missing_msg: &str,
) -> Option<SecretSource> {
    match (url, file) {
        (Some(_), Some(_)) => {
            cx.err(
                loc,
                path,
                format!("at most one of {url_key} & {url_key}_file must be configured"),
            );
            None
        }
        (None, None) => {
            cx.err(loc, path, missing_msg);
            None
        }
        (Some(u), None) => match check_url(u.value.expose()) {
            Ok(()) => Some(SecretSource::Inline(u.value.clone())),
            Err(m) => {
                cx.err(&u.referenced, &format!("{path}.{url_key}"), m);
                None
            }
        },
        (None, Some(f)) => Some(SecretSource::File(cx.file_path(&f.value))),
    }
}
