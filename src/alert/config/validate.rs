//! `alertmanager.yml` raw structs → validated alerting config. Applies Alertmanager's
//! load-time rules with its error texts (users search for them), keeps going after the
//! first problem and reports every error with file, line, column and field path.

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

const DISCORD_TITLE: &str = r#"{{ template "discord.default.title" . }}"#;
const DISCORD_MESSAGE: &str = r#"{{ template "discord.default.message" . }}"#;
const EMAIL_HTML: &str = r#"{{ template "email.default.html" . }}"#;

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
pub fn alerting(
    raw: RawAlertingConfig,
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
    let global = global(&mut cx, &raw, &global_raw);

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

    let time_intervals = time_intervals(&mut cx, &raw);

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
    let template_set = template_set(&mut cx, &raw, &templates);

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
            raw,
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
    if let Some(t) = &g.smtp_tls_config {
        tls_config(cx, "global.smtp_tls_config", t);
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

/// An HTTP integration's `tls_config`: the field rules, then what upstream checks when it
/// builds the integration at start-up and reload (`amtool check-config` does not): the
/// version order and that the CA, certificate and key files load.
fn http_tls_config(cx: &mut Cx, path: &str, t: &Spanned<RawTlsConfig>) {
    let before = cx.errors.len();
    tls_config(cx, path, t);
    let v = &t.value;
    let rank = |s: &str| {
        ["TLS10", "TLS11", "TLS12", "TLS13"]
            .iter()
            .position(|x| *x == s)
    };
    if let (Some(min), Some(max)) = (rank(&v.min_version.value), rank(&v.max_version.value)) {
        if min > max {
            cx.err(
                &v.max_version.referenced,
                &format!("{path}.max_version"),
                "tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified",
            );
        }
    }
    if matches!(v.max_version.value.as_str(), "TLS10" | "TLS11") {
        cx.err(
            &v.max_version.referenced,
            &format!("{path}.max_version"),
            format!(
                "{} is not supported by blackwatch: TLS 1.0 and 1.1 are out of scope (rustls implements TLS 1.2 and 1.3)",
                v.max_version.value
            ),
        );
    }
    if cx.errors.len() > before {
        return;
    }
    let settings = tls_settings(v, cx.base_dir);
    if let Err(e) = crate::client::tls::client_config(&settings, &[]) {
        cx.err(&t.referenced, path, e.to_string());
    }
}

fn tls_config(cx: &mut Cx, path: &str, t: &Spanned<RawTlsConfig>) {
    let v = &t.value;
    for (what, set) in [
        ("ca_ref", v.ca_ref.is_some()),
        ("cert_ref", v.cert_ref.is_some()),
        ("key_ref", v.key_ref.is_some()),
    ] {
        if set {
            cx.err(
                &t.referenced,
                &format!("{path}.{what}"),
                format!("`{what}` is not supported yet by blackwatch"),
            );
        }
    }
    if !v.ca.is_empty() && !v.ca_file.is_empty() {
        cx.err(
            &t.referenced,
            path,
            "at most one of ca and ca_file must be configured",
        );
    }
    if !v.cert.is_empty() && !v.cert_file.is_empty() {
        cx.err(
            &t.referenced,
            path,
            "at most one of cert and cert_file must be configured",
        );
    }
    if !v.key.is_empty() && !v.key_file.is_empty() {
        cx.err(
            &t.referenced,
            path,
            "at most one of key and key_file must be configured",
        );
    }
    for ver in [&v.min_version, &v.max_version] {
        if !ver.value.is_empty()
            && !matches!(ver.value.as_str(), "TLS10" | "TLS11" | "TLS12" | "TLS13")
        {
            cx.err(
                &ver.referenced,
                path,
                format!("unknown TLS version: {}", ver.value),
            );
        }
    }
}

fn http_config(cx: &mut Cx, path: &str, h: &Spanned<RawHttpConfig>) {
    let v = &h.value;
    if let Some(t) = &v.tls_config {
        http_tls_config(cx, &format!("{path}.tls_config"), t);
    }
    cx.unsupported(&v.oauth2, &format!("{path}.oauth2"), "`oauth2`");
    cx.unsupported(&v.proxy_url, &format!("{path}.proxy_url"), "`proxy_url`");
    cx.unsupported(&v.no_proxy, &format!("{path}.no_proxy"), "`no_proxy`");
    cx.unsupported(
        &v.proxy_from_environment,
        &format!("{path}.proxy_from_environment"),
        "`proxy_from_environment`",
    );
    cx.unsupported(
        &v.proxy_connect_header,
        &format!("{path}.proxy_connect_header"),
        "`proxy_connect_header`",
    );
    let bearer = v.bearer_token.is_some() || v.bearer_token_file.is_some();
    if v.bearer_token.is_some() && v.bearer_token_file.is_some() {
        cx.err(
            &h.referenced,
            path,
            "at most one of bearer_token & bearer_token_file must be configured",
        );
    }
    if v.basic_auth.is_some() && bearer {
        cx.err(
            &h.referenced,
            path,
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        );
    }
    if let Some(b) = &v.basic_auth {
        if !b.value.password.is_empty() && !b.value.password_file.is_empty() {
            cx.err(
                &b.referenced,
                &format!("{path}.basic_auth"),
                "at most one of basic_auth password & password_file must be configured",
            );
        }
        if b.value.username_ref.is_some() || b.value.password_ref.is_some() {
            cx.err(
                &b.referenced,
                &format!("{path}.basic_auth"),
                "`username_ref` and `password_ref` are not supported yet by blackwatch",
            );
        }
    }
    if let Some(a) = &v.authorization {
        if bearer {
            cx.err(
                &a.referenced,
                path,
                "authorization is not compatible with bearer_token & bearer_token_file",
            );
        }
        if v.basic_auth.is_some() {
            cx.err(
                &a.referenced,
                path,
                "at most one of basic_auth, oauth2 & authorization must be configured",
            );
        }
        if !a.value.credentials.is_empty() && !a.value.credentials_file.is_empty() {
            cx.err(
                &a.referenced,
                &format!("{path}.authorization"),
                "at most one of authorization credentials & credentials_file must be configured",
            );
        }
        if a.value.kind.eq_ignore_ascii_case("basic") {
            cx.err(
                &a.referenced,
                &format!("{path}.authorization"),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            );
        }
        if a.value.credentials_ref.is_some() {
            cx.err(
                &a.referenced,
                &format!("{path}.authorization"),
                "`credentials_ref` is not supported yet by blackwatch",
            );
        }
    }
    if let Some(t) = &v.tls_config {
        tls_config(cx, &format!("{path}.tls_config"), t);
    }
}

/// Upstream's URL check for webhook and Discord URLs, without echoing the (secret) URL.
fn check_url(s: &str) -> Result<(), String> {
    let u = url::Url::parse(s).map_err(|e| format!("invalid URL: {e}"))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!("unsupported scheme {:?} for URL", u.scheme()));
    }
    // Go's url.Parse keeps `http:///x` and `http:x` host-less, where WHATWG parsing (the url
    // crate) would take `x` as the host.
    let authority = s.split_once("://").map_or("", |(_, rest)| rest);
    if authority.is_empty() || authority.starts_with('/') || u.host_str().is_none_or(str::is_empty)
    {
        return Err("missing host for URL".to_string());
    }
    Ok(())
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

fn receiver(cx: &mut Cx, i: usize, r: &Spanned<RawReceiver>, g: &RawGlobal) -> Option<Receiver> {
    let path = format!("receivers[{i}]");
    let v = &r.value;
    let name = match &v.name {
        Some(n) if !n.value.is_empty() => n.value.clone(),
        _ => {
            cx.err(&r.referenced, &path, "missing name in receiver");
            return None;
        }
    };
    for (key, field) in v.unsupported() {
        cx.unsupported(
            field,
            &format!("{path}.{key}"),
            &format!("receiver {name:?}: `{key}`"),
        );
    }
    let global_http = g.http_config.as_ref().map(|h| h.value.clone());

    let mut discord = Vec::new();
    for (j, d) in v.discord_configs.iter().enumerate() {
        let p = format!("{path}.discord_configs[{j}]");
        let dv = &d.value;
        if let Some(h) = &dv.http_config {
            http_config(cx, &format!("{p}.http_config"), h);
        }
        let url = url_or_file(
            cx,
            &d.referenced,
            &p,
            &dv.webhook_url,
            &dv.webhook_url_file,
            "webhook_url",
            "no discord webhook URL provided: one of webhook_url or webhook_url_file must be configured",
        );
        if let Some(url) = url {
            discord.push(DiscordConfig {
                send_resolved: dv.send_resolved.unwrap_or(true),
                webhook_url: url,
                title: dv
                    .title
                    .clone()
                    .unwrap_or_else(|| DISCORD_TITLE.to_string()),
                message: dv
                    .message
                    .clone()
                    .unwrap_or_else(|| DISCORD_MESSAGE.to_string()),
                content: dv.content.clone().unwrap_or_default(),
                username: dv.username.clone(),
                avatar_url: dv.avatar_url.clone(),
                digest: dv.digest.unwrap_or(false),
                http_config: dv
                    .http_config
                    .as_ref()
                    .map(|h| h.value.clone())
                    .or_else(|| global_http.clone())
                    .unwrap_or_default(),
            });
        }
    }

    let mut webhook = Vec::new();
    for (j, w) in v.webhook_configs.iter().enumerate() {
        let p = format!("{path}.webhook_configs[{j}]");
        let wv = &w.value;
        if let Some(h) = &wv.http_config {
            http_config(cx, &format!("{p}.http_config"), h);
        }
        cx.unsupported(&wv.payload, &format!("{p}.payload"), "`payload`");
        let url = url_or_file(
            cx,
            &w.referenced,
            &p,
            &wv.url,
            &wv.url_file,
            "url",
            "missing URL in webhook config: one of url or url_file must be configured",
        );
        if let Some(url) = url {
            webhook.push(WebhookConfig {
                send_resolved: wv.send_resolved.unwrap_or(true),
                url,
                max_alerts: wv.max_alerts,
                timeout: wv.timeout.map_or(Duration::ZERO, |t| t.0),
                http_config: wv
                    .http_config
                    .as_ref()
                    .map(|h| h.value.clone())
                    .or_else(|| global_http.clone())
                    .unwrap_or_default(),
            });
        }
    }

    let mut email = Vec::new();
    for (j, e) in v.email_configs.iter().enumerate() {
        let p = format!("{path}.email_configs[{j}]");
        if let Some(ec) = email_config(cx, &p, e, g) {
            email.push(ec);
        }
    }

    Some(Receiver {
        name,
        labels: v.labels.clone(),
        discord,
        email,
        webhook,
    })
}

fn email_config(
    cx: &mut Cx,
    p: &str,
    e: &Spanned<RawEmailConfig>,
    g: &RawGlobal,
) -> Option<EmailConfig> {
    let v = &e.value;
    let before = cx.errors.len();
    cx.unsupported(&v.threading, &format!("{p}.threading"), "`threading`");
    if v.to.is_empty() {
        cx.err(&e.referenced, p, "missing to address in email config");
    }
    let mut headers = BTreeMap::new();
    for (k, val) in &v.headers {
        let canon = crate::base::go::canonical_header(k);
        if headers.insert(canon.clone(), val.clone()).is_some() {
            cx.err(
                &e.referenced,
                &format!("{p}.headers"),
                format!("duplicate header {canon:?} in email config"),
            );
        }
    }
    if !v.auth_password.is_empty() && !v.auth_password_file.is_empty() {
        cx.err(
            &e.referenced,
            p,
            "at most one of auth_password & auth_password_file must be configured",
        );
    }
    if !v.auth_secret.is_empty() && !v.auth_secret_file.is_empty() {
        cx.err(
            &e.referenced,
            p,
            "at most one of auth_secret & auth_secret_file must be configured",
        );
    }
    let smarthost = match &v.smarthost {
        Some(sh) if !sh.value.is_empty() => match host_port(&sh.value) {
            Ok(hp) => Some(hp),
            Err(m) => {
                cx.err(&sh.referenced, &format!("{p}.smarthost"), m);
                None
            }
        },
        _ => match &g.smtp_smarthost {
            Some(sh) if !sh.value.is_empty() => host_port(&sh.value).ok(),
            _ => {
                cx.err(&e.referenced, p, "no global SMTP smarthost set");
                None
            }
        },
    };
    let from = if v.from.is_empty() {
        if g.smtp_from.is_empty() {
            cx.err(&e.referenced, p, "no global SMTP from set");
        }
        g.smtp_from.clone()
    } else {
        v.from.clone()
    };
    if let Some(t) = &v.tls_config {
        tls_config(cx, &format!("{p}.tls_config"), t);
    }
    if cx.errors.len() > before {
        return None;
    }
    let or = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let secret = |inline: &Secret, file: &str| -> Option<SecretSource> {
        if !inline.is_empty() {
            Some(SecretSource::Inline(inline.clone()))
        } else if !file.is_empty() {
            Some(SecretSource::File(cx.file_path(file)))
        } else {
            None
        }
    };
    let auth_password = if v.auth_password.is_empty() && v.auth_password_file.is_empty() {
        secret(&g.smtp_auth_password, &g.smtp_auth_password_file)
    } else {
        secret(&v.auth_password, &v.auth_password_file)
    };
    let auth_secret = if v.auth_secret.is_empty() && v.auth_secret_file.is_empty() {
        secret(&g.smtp_auth_secret, &g.smtp_auth_secret_file)
    } else {
        secret(&v.auth_secret, &v.auth_secret_file)
    };
    Some(EmailConfig {
        send_resolved: v.send_resolved.unwrap_or(false),
        to: v.to.clone(),
        from,
        smarthost: smarthost?,
        hello: or(&v.hello, &g.smtp_hello),
        auth_username: or(&v.auth_username, &g.smtp_auth_username),
        auth_password,
        auth_secret,
        auth_identity: or(&v.auth_identity, &g.smtp_auth_identity),
        require_tls: v.require_tls.unwrap_or(g.smtp_require_tls),
        force_implicit_tls: v.force_implicit_tls.or(g.smtp_force_implicit_tls),
        tls_config: v
            .tls_config
            .as_ref()
            .or(g.smtp_tls_config.as_ref())
            .map(|t| t.value.clone())
            .unwrap_or_default(),
        headers,
        html: v.html.clone().unwrap_or_else(|| EMAIL_HTML.to_string()),
        text: v.text.clone().unwrap_or_default(),
    })
}

fn time_intervals(cx: &mut Cx, raw: &RawAlertingConfig) -> BTreeMap<String, TimeInterval> {
    let mut out = BTreeMap::new();
    let lists = [
        (
            "mute_time_intervals",
            &raw.mute_time_intervals,
            "mute time interval",
        ),
        ("time_intervals", &raw.time_intervals, "time interval"),
    ];
    for (key, list, what) in lists {
        for (i, set) in list.iter().enumerate() {
            let p = format!("{key}[{i}]");
            let name = &set.value.name;
            if name.value.is_empty() {
                cx.err(&set.referenced, &p, format!("missing name in {what}"));
                continue;
            }
            let mut specs = Vec::new();
            for (j, spec) in set.value.time_intervals.iter().enumerate() {
                specs.push(time_interval_spec(
                    cx,
                    &format!("{p}.time_intervals[{j}]"),
                    &spec.value,
                ));
            }
            if out.contains_key(&name.value) {
                cx.err(
                    &name.referenced,
                    &format!("{p}.name"),
                    format!("{what} {:?} is not unique", name.value),
                );
                continue;
            }
            out.insert(
                name.value.clone(),
                TimeInterval {
                    name: name.value.clone(),
                    specs,
                },
            );
        }
    }
    out
}

fn time_interval_spec(cx: &mut Cx, p: &str, s: &RawTimeIntervalSpec) -> TimeIntervalSpec {
    fn ranges(
        cx: &mut Cx,
        p: &str,
        field: &str,
        list: &Option<Vec<Spanned<String>>>,
        parse: fn(&str) -> Result<timeinterval::InclusiveRange, String>,
    ) -> Option<Vec<timeinterval::InclusiveRange>> {
        let list = list.as_ref()?;
        let mut out = Vec::new();
        for (i, item) in list.iter().enumerate() {
            match parse(&item.value) {
                Ok(r) => out.push(r),
                Err(m) => cx.err(&item.referenced, &format!("{p}.{field}[{i}]"), m),
            }
        }
        Some(out)
    }
    let times = s.times.as_ref().map(|list| {
        let mut out = Vec::new();
        for (i, t) in list.iter().enumerate() {
            match timeinterval::parse_time_range(&t.value.start_time, &t.value.end_time) {
                Ok(r) => out.push(r),
                Err(m) => cx.err(&t.referenced, &format!("{p}.times[{i}]"), m),
            }
        }
        out
    });
    let location = s
        .location
        .as_ref()
        .and_then(|l| match timeinterval::parse_location(&l.value) {
            Ok(tz) => Some(tz),
            Err(m) => {
                cx.err(&l.referenced, &format!("{p}.location"), m);
                None
            }
        });
    TimeIntervalSpec {
        times,
        weekdays: ranges(
            cx,
            p,
            "weekdays",
            &s.weekdays,
            timeinterval::parse_weekday_range,
        ),
        days_of_month: ranges(
            cx,
            p,
            "days_of_month",
            &s.days_of_month,
            timeinterval::parse_day_of_month_range,
        ),
        months: ranges(cx, p, "months", &s.months, timeinterval::parse_month_range),
        years: ranges(cx, p, "years", &s.years, timeinterval::parse_year_range),
        location,
    }
}

/// `match` + `match_re` + `matchers` of a route or one side of an inhibit rule, sorted.
fn matcher_set(
    cx: &mut Cx,
    p: &str,
    (match_key, match_): (&str, &BTreeMap<String, Spanned<String>>),
    (match_re_key, match_re): (&str, &BTreeMap<String, Spanned<String>>),
    (matchers_key, matchers): (&str, &[Spanned<String>]),
) -> Matchers {
    let mut out = Vec::new();
    for (name, v) in match_ {
        if !is_valid_label_name(name) {
            cx.err(
                &v.referenced,
                &format!("{p}.{match_key}"),
                format!("invalid label name {name:?}"),
            );
            continue;
        }
        if let Ok(m) = Matcher::new(name, MatchOp::Equal, &v.value) {
            out.push(m);
        }
    }
    for (name, v) in match_re {
        if !is_valid_label_name(name) {
            cx.err(
                &v.referenced,
                &format!("{p}.{match_re_key}"),
                format!("invalid label name {name:?}"),
            );
            continue;
        }
        // Upstream keeps the anchored form of `match_re` values, which route keys show.
        match Matcher::new(name, MatchOp::Regex, format!("^(?:{})$", v.value)) {
            Ok(m) => out.push(m),
            Err(e) => cx.err(&v.referenced, &format!("{p}.{match_re_key}.{name}"), e.0),
        }
    }
    for (i, line) in matchers.iter().enumerate() {
        match parse_matchers(&line.value) {
            Ok(ms) => out.extend(ms),
            Err(e) => cx.err(&line.referenced, &format!("{p}.{matchers_key}[{i}]"), e.0),
        }
    }
    Matchers(out).sorted()
}

#[allow(clippy::too_many_arguments)]
fn route(
    cx: &mut Cx,
    node: &Spanned<RawRoute>,
    p: &str,
    parent: Option<(&RouteOpts, &str, &str)>,
    receivers: &BTreeSet<String>,
    intervals: &BTreeMap<String, TimeInterval>,
    index: &mut usize,
    sibling_index: usize,
) -> Route {
    let r = &node.value;
    let matchers = matcher_set(
        cx,
        p,
        ("match", &r.match_),
        ("match_re", &r.match_re),
        ("matchers", &r.matchers),
    );
    cx.unsupported(&r.labels, &format!("{p}.labels"), "`labels` on routes");

    let mut opts = parent.map_or_else(RouteOpts::default, |(o, _, _)| o.clone());
    if let Some(rcv) = &r.receiver {
        if !rcv.value.is_empty() {
            if !receivers.contains(&rcv.value) {
                cx.err(
                    &rcv.referenced,
                    &format!("{p}.receiver"),
                    format!("undefined receiver {:?} used in route", rcv.value),
                );
            }
            opts.receiver = rcv.value.clone();
        }
    }
    if let Some(gb) = &r.group_by {
        let mut names = BTreeSet::new();
        let mut all = false;
        for (i, l) in gb.value.iter().enumerate() {
            if l.value == "..." {
                all = true;
            } else if !is_valid_label_name(&l.value) {
                cx.err(
                    &l.referenced,
                    &format!("{p}.group_by[{i}]"),
                    format!("invalid label name {:?} in group_by list", l.value),
                );
            } else if !names.insert(l.value.clone()) {
                cx.err(
                    &l.referenced,
                    &format!("{p}.group_by[{i}]"),
                    format!("duplicated label {:?} in group_by", l.value),
                );
            }
        }
        if all && !names.is_empty() {
            // Upstream 0.25 wording (newer releases fixed the doubled "other").
            cx.err(
                &gb.referenced,
                &format!("{p}.group_by"),
                "cannot have wildcard group_by (`...`) and other other labels at the same time",
            );
        }
        if all {
            opts.group_by_all = true;
        } else {
            // An explicit list, even `[]`, replaces the inherited one (upstream main).
            opts.group_by = names;
            opts.group_by_all = false;
        }
    }
    if let Some(d) = &r.group_wait {
        opts.group_wait = d.value.0;
    }
    if let Some(d) = &r.group_interval {
        if d.value.0.is_zero() {
            cx.err(
                &d.referenced,
                &format!("{p}.group_interval"),
                "group_interval cannot be zero",
            );
        }
        opts.group_interval = d.value.0;
    }
    if let Some(d) = &r.repeat_interval {
        if d.value.0.is_zero() {
            cx.err(
                &d.referenced,
                &format!("{p}.repeat_interval"),
                "repeat_interval cannot be zero",
            );
        }
        opts.repeat_interval = d.value.0;
    }
    if let Some(f) = r.flush_on_resolve {
        opts.flush_on_resolve = f;
    }
    for (key, list, target) in [
        (
            "mute_time_intervals",
            &r.mute_time_intervals,
            &mut opts.mute_time_intervals,
        ),
        (
            "active_time_intervals",
            &r.active_time_intervals,
            &mut opts.active_time_intervals,
        ),
    ] {
        target.clear();
        for (i, name) in list.iter().enumerate() {
            if !intervals.contains_key(&name.value) {
                cx.err(
                    &name.referenced,
                    &format!("{p}.{key}[{i}]"),
                    format!("undefined time interval {:?} used in route", name.value),
                );
            }
            target.push(name.value.clone());
        }
    }

    let key = match parent {
        None => matchers.to_string(),
        Some((_, parent_key, _)) => format!("{parent_key}/{matchers}"),
    };
    let id = match parent {
        None => matchers.to_string(),
        Some((_, _, parent_id)) => format!("{parent_id}/{matchers}/{sibling_index}"),
    };
    let my_index = *index;
    *index += 1;
    let mut routes = Vec::new();
    for (i, child) in r.routes.iter().enumerate() {
        routes.push(route(
            cx,
            child,
            &format!("{p}.routes[{i}]"),
            Some((&opts, &key, &id)),
            receivers,
            intervals,
            index,
            i,
        ));
    }
    Route {
        matchers,
        continue_: r.continue_,
        opts,
        routes,
        key,
        id,
        index: my_index,
    }
}

fn inhibit_rule(cx: &mut Cx, p: &str, r: &RawInhibitRule) -> InhibitRule {
    let source = matcher_set(
        cx,
        p,
        ("source_match", &r.source_match),
        ("source_match_re", &r.source_match_re),
        ("source_matchers", &r.source_matchers),
    );
    let target = matcher_set(
        cx,
        p,
        ("target_match", &r.target_match),
        ("target_match_re", &r.target_match_re),
        ("target_matchers", &r.target_matchers),
    );
    let mut equal = Vec::new();
    for (i, l) in r.equal.iter().enumerate() {
        if !is_valid_label_name(&l.value) {
            cx.err(
                &l.referenced,
                &format!("{p}.equal[{i}]"),
                format!("{:?} is not a valid label name", l.value),
            );
        }
        equal.push(l.value.clone());
    }
    InhibitRule {
        name: r.name.clone(),
        source,
        target,
        equal,
    }
}
