//! `remote_write:` → `remote::RemoteWriteConfig`, with Prometheus 2.42's texts
//! (`RemoteWriteConfig.UnmarshalYAML`, `validateHeaders`, `Config.UnmarshalYAML`'s name
//! check, `WriteStorage.ApplyConfig`'s duplicate check) and prometheus/common's HTTP client
//! rules through the validators blackbox modules use (`http.rs`, `tls.rs`,
//! `http_client.rs`). `azuread` is refused by name (see README); `sigv4` is
//! validated as Prometheus 2.42 does (its keys, or none and the AWS chain; not with another
//! `Authorization`).

use super::*;
use crate::remote::config::{RawRemoteWrite, DEFAULT_REMOTE_TIMEOUT};
use crate::remote::{QueueConfig, RemoteWriteConfig};

/// Header names Prometheus refuses in `headers` (lower case).
const RESERVED: &[&str] = &[
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

pub(crate) fn remote_write(cx: &mut Cx, raw: &RawConfig) -> Vec<RemoteWriteConfig> {
    let mut out: Vec<RemoteWriteConfig> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, entry) in raw.remote_write.iter().enumerate() {
        let path = format!("remote_write[{i}]");
        let before = cx.errors.len();
        let cfg = one(cx, &path, entry);
        if cx.errors.len() > before {
            continue;
        }
        let Some(cfg) = cfg else { continue };
        if !cfg.name.is_empty() {
            if names.contains(&cfg.name) {
                let at = entry
                    .value
                    .name
                    .as_ref()
                    .map_or(entry.referenced, |n| n.referenced);
                cx.err(
                    &at,
                    format!("{path}.name"),
                    format!(
                        "found multiple remote write configs with job name {:?}",
                        cfg.name
                    ),
                );
                continue;
            }
            names.push(cfg.name.clone());
        } else if out.iter().any(|o| o.name.is_empty() && o.url == cfg.url) {
            cx.err(
                &entry.referenced,
                format!("{path}.url"),
                format!(
                    "duplicate remote write configs are not allowed, found duplicate for URL: {}",
                    crate::client::raw::redact_url(cfg.url.as_str())
                ),
            );
            continue;
        }
        out.push(cfg);
    }
    out
}

fn positive(
    cx: &mut Cx,
    path: &str,
    field: &Option<Spanned<i64>>,
    name: &str,
    default: usize,
) -> usize {
    match field {
        None => default,
        // Go's zero value means "unset" for these `omitempty` ints.
        Some(v) if v.value == 0 => default,
        Some(v) => match usize::try_from(v.value) {
            Ok(n) => n,
            Err(_) => {
                cx.err(
                    &v.referenced,
                    format!("{path}.{name}"),
                    format!("{name} must not be negative, got {}", v.value),
                );
                default
            }
        },
    }
}

fn one(cx: &mut Cx, path: &str, entry: &Spanned<RawRemoteWrite>) -> Option<RemoteWriteConfig> {
    let r = &entry.value;
    let loc = entry.referenced;
    let url = match &r.url {
        None => {
            cx.err(&loc, format!("{path}.url"), "url for remote_write is empty");
            None
        }
        Some(u) => match url::Url::parse(&u.value) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
                Some(parsed)
            }
            Ok(parsed) => {
                cx.err(
                    &u.referenced,
                    format!("{path}.url"),
                    format!("unsupported scheme {:?} for URL", parsed.scheme()),
                );
                None
            }
            Err(e) => {
                cx.err(
                    &u.referenced,
                    format!("{path}.url"),
                    format!("parse {:?}: {e}", crate::client::raw::redact_url(&u.value)),
                );
                None
            }
        },
    };
    for (j, rl) in r.write_relabel_configs.iter().enumerate() {
        if rl.value.is_none() {
            cx.err(
                &rl.referenced,
                format!("{path}.write_relabel_configs[{j}]"),
                "empty or null relabeling rule in remote write config",
            );
        }
    }
    let mut headers = Vec::new();
    for (name, v) in &r.headers {
        let p = format!("{path}.headers.{name}");
        let lower = name.to_ascii_lowercase();
        if lower == "authorization" {
            cx.err(&v.referenced, p, "authorization header must be changed via the basic_auth, authorization, oauth2, or sigv4 parameter");
            continue;
        }
        if RESERVED.contains(&lower.as_str()) {
            cx.err(
                &v.referenced,
                p,
                format!("{name} is a reserved header. It must not be changed"),
            );
            continue;
        }
        match (
            ::http::HeaderName::from_bytes(name.as_bytes()),
            ::http::HeaderValue::from_str(&v.value),
        ) {
            (Ok(n), Ok(_)) => headers.push((n, v.value.clone())),
            (Err(_), _) => cx.err(
                &v.referenced,
                p,
                format!("invalid HTTP header name {name:?}"),
            ),
            (_, Err(_)) => cx.err(
                &v.referenced,
                p,
                format!("invalid HTTP header value {:?}", v.value),
            ),
        }
    }
    let sigv4 = r.sigv4.as_ref().and_then(|s| {
        let v = &s.value;
        let p = format!("{path}.sigv4");
        // 2.42 checks after `Validate` has turned `bearer_token(_file)` into `authorization`.
        if r.basic_auth.is_some()
            || r.authorization.is_some()
            || r.oauth2.is_some()
            || r.bearer_token.is_some()
            || r.bearer_token_file.is_some()
        {
            cx.err(
                &s.referenced,
                path,
                "at most one of basic_auth, authorization, oauth2, & sigv4 must be configured",
            );
            return None;
        }
        if v.access_key.is_empty() != v.secret_key.is_empty() {
            cx.err(
                &s.referenced,
                p,
                "must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config",
            );
            return None;
        }
        Some(crate::alert::config::SigV4Config {
            region: v.region.clone(),
            access_key: v.access_key.clone(),
            secret_key: v.secret_key.clone(),
            profile: v.profile.clone(),
            role_arn: v.role_arn.clone(),
        })
    });
    if let Some(s) = &r.azuread {
        cx.err(&s.referenced, format!("{path}.azuread"), "azuread is not supported by blackwatch (Prometheus 2.42 has no azuread either; it came in 2.45)");
    }
    let auth_fields = r.auth_fields();
    let auth = super::http::http_auth(cx, path, auth_fields, crate::remote::send::user_agent());
    let tls = match &r.tls_config {
        Some(t) => tls_settings(cx, &format!("{path}.tls_config"), t),
        None => None,
    };
    let proxy = http_client::proxy_settings(cx, path, &loc, r.proxy_fields());
    let extra = super::http::http_headers(cx, path, &r.http_headers);

    let mut rules = Vec::new();
    for (j, rl) in r.write_relabel_configs.iter().enumerate() {
        if let Some(raw) = &rl.value {
            match crate::relabel::Rule::from_raw(raw) {
                Ok(rule) => rules.push(rule),
                Err(m) => cx.err(
                    &rl.referenced,
                    format!("{path}.write_relabel_configs[{j}]"),
                    m,
                ),
            }
        }
    }

    let d = QueueConfig::default();
    let queue = match &r.queue_config {
        None => d,
        Some(q) => {
            let qp = format!("{path}.queue_config");
            let v = &q.value;
            let pick = |o: &Option<crate::base::units::PromDuration>, d: std::time::Duration| {
                o.filter(|x| !x.0.is_zero()).map_or(d, |x| x.0)
            };
            let qc = QueueConfig {
                capacity: positive(cx, &qp, &v.capacity, "capacity", d.capacity),
                max_shards: positive(cx, &qp, &v.max_shards, "max_shards", d.max_shards),
                min_shards: positive(cx, &qp, &v.min_shards, "min_shards", d.min_shards),
                max_samples_per_send: positive(
                    cx,
                    &qp,
                    &v.max_samples_per_send,
                    "max_samples_per_send",
                    d.max_samples_per_send,
                ),
                batch_send_deadline: pick(&v.batch_send_deadline, d.batch_send_deadline),
                min_backoff: pick(&v.min_backoff, d.min_backoff),
                max_backoff: pick(&v.max_backoff, d.max_backoff),
                retry_on_http_429: v.retry_on_http_429,
            };
            if qc.min_backoff > qc.max_backoff {
                cx.err(
                    &q.referenced,
                    format!("{qp}.min_backoff"),
                    "min_backoff must not be greater than max_backoff",
                );
            }
            qc
        }
    };
    let url = url?;
    Some(RemoteWriteConfig {
        name: r.name.as_ref().map(|n| n.value.clone()).unwrap_or_default(),
        url,
        remote_timeout: r
            .remote_timeout
            .filter(|t| !t.0.is_zero())
            .map_or(DEFAULT_REMOTE_TIMEOUT, |t| t.0),
        headers,
        write_relabel_configs: rules,
        client: HttpClientSettings {
            headers: RequestHeaders {
                auth,
                headers: extra,
            },
            tls,
            follow_redirects: r.follow_redirects,
            enable_http2: r.enable_http2,
            proxy,
        },
        sigv4,
        queue,
        yaml: format!(
            "{}# {}",
            crate::base::yaml::to_string(r).unwrap_or_default(),
            secrets_digest(r)
        ),
    })
}

/// A digest of the entry's inline secrets (printed `<secret>` in the YAML), so a changed
/// password restarts the queue on reload too.
fn secrets_digest(r: &RawRemoteWrite) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut add = |s: &crate::base::Secret| {
        h.update(s.expose().as_bytes());
        h.update([0]);
    };
    if let Some(b) = &r.basic_auth {
        add(&b.value.password);
    }
    if let Some(a) = &r.authorization {
        add(&a.value.credentials);
    }
    if let Some(t) = &r.bearer_token {
        add(&t.value);
    }
    if let Some(o) = &r.oauth2 {
        add(&o.value.client_secret);
    }
    if let Some(t) = &r.tls_config {
        add(&t.value.key);
    }
    for hdr in r.http_headers.values() {
        hdr.value.secrets.iter().for_each(&mut add);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use crate::config::load_str;
    use std::path::Path;

    fn errors(yaml: &str) -> String {
        match load_str(yaml, Path::new("bw.yml")) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn prometheus_texts_with_positions() {
        let e = errors("remote_write:\n  - name: a\n");
        assert!(
            e.contains("bw.yml:2:5: remote_write[0].url: url for remote_write is empty"),
            "{e}"
        );
        let e = errors("remote_write:\n  - url: http://x/\n    headers: {User-Agent: me}\n");
        assert!(e.contains("bw.yml:3:27: remote_write[0].headers.User-Agent: User-Agent is a reserved header. It must not be changed"), "{e}");
        let e = errors("remote_write:\n  - url: http://x/\n    headers: {authorization: me}\n");
        assert!(e.contains("authorization header must be changed via the basic_auth, authorization, oauth2, or sigv4 parameter"), "{e}");
        let e = errors(
            "remote_write:\n  - {url: 'http://x/', name: a}\n  - {url: 'http://y/', name: a}\n",
        );
        assert!(
            e.contains(
                "remote_write[1].name: found multiple remote write configs with job name \"a\""
            ),
            "{e}"
        );
        let e = errors("remote_write:\n  - {url: 'http://x/'}\n  - {url: 'http://x/'}\n");
        assert!(e.contains("duplicate remote write configs are not allowed, found duplicate for URL: http://x/"), "{e}");
        let e = errors("remote_write:\n  - url: http://x/\n    write_relabel_configs:\n      - {action: hashmod, target_label: x}\n      -\n");
        assert!(e.contains("bw.yml:4:9: remote_write[0].write_relabel_configs[0]: relabel configuration for hashmod requires non-zero modulus"), "{e}");
        assert!(e.contains("remote_write[0].write_relabel_configs[1]: empty or null relabeling rule in remote write config"), "{e}");
        let e = errors("remote_write:\n  - url: http://x/\n    basic_auth: {username: a}\n    bearer_token: t\n");
        assert!(e.contains("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"), "{e}");
        assert_eq!(
            errors("remote_write:\n  - url: http://x/\n    sigv4: {region: eu-west-1}\n"),
            ""
        );
        let e = errors("remote_write:\n  - url: http://x/\n    sigv4: {access_key: AK}\n");
        assert!(e.contains("bw.yml:3:12: remote_write[0].sigv4: must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config"), "{e}");
        let e = errors("remote_write:\n  - url: http://x/\n    bearer_token: t\n    sigv4: {}\n");
        assert!(e.contains("remote_write[0]: at most one of basic_auth, authorization, oauth2, & sigv4 must be configured"), "{e}");
        let e = errors("remote_write:\n  - url: http://x/\n    sigv4: {regoin: x}\n");
        assert!(e.contains("unknown field `regoin`"), "{e}");
        let e = errors("remote_write:\n  - url: http://x/\n    queue_config: {max_backof: 1s}\n");
        assert!(e.contains("unknown field `max_backof`"), "{e}");
        let e = errors("remote_write:\n  - url: http://x/\n    remote_timeout: 5 minutes\n");
        assert!(e.contains("remote_write[0].remote_timeout"), "{e}");
    }

    #[test]
    fn defaults_are_prometheus_242s_and_secrets_are_hidden() {
        let c = load_str(
            "remote_write:\n  - url: https://u:pw@x/push\n    basic_auth: {username: a, password: hunter2}\n    queue_config: {max_shards: 5}\n",
            Path::new("bw.yml"),
        )
        .unwrap();
        let r = &c.remote_write[0];
        assert_eq!(r.remote_timeout, std::time::Duration::from_secs(30));
        let q = &r.queue;
        assert_eq!(
            (
                q.capacity,
                q.max_shards,
                q.min_shards,
                q.max_samples_per_send
            ),
            (2500, 5, 1, 500)
        );
        assert_eq!(q.batch_send_deadline, std::time::Duration::from_secs(5));
        assert_eq!(
            (q.min_backoff.as_millis(), q.max_backoff.as_millis()),
            (30, 5000)
        );
        assert_eq!(r.queue_name().len(), 6);
        let shown = c.to_yaml();
        assert!(
            !shown.contains("hunter2") && !shown.contains(":pw@"),
            "{shown}"
        );
        assert!(
            shown.contains("<secret>") && shown.contains("xxxxx"),
            "{shown}"
        );
    }
}
