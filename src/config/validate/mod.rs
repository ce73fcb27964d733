//! Raw blackwatch.yml → domain types, one file per section: the probe modules (`http`, `tls`,
//! `tcp` with `unix`, `icmp`, `dns`, `websocket`), scheduled jobs (`jobs`) and rule settings
//! (`rules`). It keeps going after the first problem and returns every error with its file,
//! line, column and field path.
//! Messages reuse blackbox_exporter's wording where one exists, so users can search for them.
//! Other sections have their own validators (`probe::policy`, `alert::config`).

mod dns;
mod grpc;
mod http;
mod http_client;
mod icmp;
mod jobs;
mod remote_write;
mod rules;
mod status_pages;
pub(crate) use status_pages::status_pages;
pub use status_pages::{StatusGroup, StatusHide, StatusPage, StatusTarget};
mod tcp;
mod tls;
pub use tls::client_tls_settings;
mod websocket;

use dns::dns;
use grpc::grpc;
use http::http;
pub use http::is_encoding_acceptable;
use icmp::icmp;
pub(crate) use jobs::jobs;
pub(crate) use remote_write::remote_write;
pub(crate) use rules::rules;
use tcp::{tcp, unix};
use tls::tls_settings;
use websocket::websocket;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ::http::header::HeaderName;
use regex::bytes::{Regex, RegexBuilder};
use serde_saphyr::{Location, Spanned};

use super::raw::*;
use crate::base::go::canonical_header;
use crate::base::{ConfigError, SecretSource};
use crate::probe::module::*;

/// Collects errors for one file.
pub(crate) struct Cx {
    file: PathBuf,
    pub(crate) errors: Vec<ConfigError>,
}

impl Cx {
    pub(crate) fn new(file: &Path) -> Self {
        Self {
            file: file.to_path_buf(),
            errors: Vec::new(),
        }
    }

    fn err(&mut self, loc: &Location, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::at(
            &self.file,
            *loc,
            path.into(),
            message.into(),
        ));
    }
}

/// Compiles a regex with RE2-compatible settings: unanchored, size-limited, Go's ASCII
/// Perl classes and word boundaries (`base::goregex`).
pub fn compile_regex(re: &str) -> Result<Regex, String> {
    RegexBuilder::new(&crate::base::goregex::to_rust(re))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or_default().trim();
            let last = last.strip_prefix("error: ").unwrap_or(last);
            format!("could not compile regular expression {re:?}: {last}")
        })
}

fn regexes(cx: &mut Cx, path: &str, list: &[Spanned<String>]) -> Vec<Regex> {
    let mut out = Vec::new();
    for (i, re) in list.iter().enumerate() {
        match compile_regex(&re.value) {
            Ok(r) => out.push(r),
            Err(m) => cx.err(&re.referenced, format!("{path}[{i}]"), m),
        }
    }
    out
}

fn unspanned_default<T: Default>() -> Spanned<T> {
    Spanned::new(T::default(), Location::UNKNOWN, Location::UNKNOWN)
}

/// Validates every module; returns the domain modules, or pushes errors into `cx`.
pub(crate) fn modules(
    cx: &mut Cx,
    raw: &mut RawConfig,
) -> BTreeMap<String, Arc<crate::probe::Module>> {
    let mut out = BTreeMap::new();
    for (name, m) in raw.modules.iter_mut() {
        let path = format!("modules.{name}");
        if let Some(module) = module(cx, &path, name, m) {
            out.insert(name.clone(), Arc::new(module));
        }
    }
    out
}

fn module(
    cx: &mut Cx,
    path: &str,
    name: &str,
    m: &mut Spanned<RawModule>,
) -> Option<crate::probe::Module> {
    let before = cx.errors.len();
    let raw = &mut m.value;
    let prober_loc = raw.prober.referenced;
    let prober = match raw.prober.value.as_str() {
        "http" => http(cx, &format!("{path}.http"), &raw.http).map(Prober::Http),
        "tcp" => tcp(cx, &format!("{path}.tcp"), &raw.tcp).map(Prober::Tcp),
        "icmp" => icmp(cx, &format!("{path}.icmp"), &raw.icmp).map(Prober::Icmp),
        "dns" => {
            let d = raw.dns.get_or_insert_with(|| {
                // Upstream quirk: with no `dns:` block at all the probe asks for `.`.
                let d = RawDnsProbe {
                    query_name: ".".to_string(),
                    ..RawDnsProbe::default()
                };
                Spanned::new(d, Location::UNKNOWN, Location::UNKNOWN)
            });
            dns(cx, &format!("{path}.dns"), d).map(Prober::Dns)
        }
        "grpc" => {
            let g = raw.grpc.get_or_insert_with(|| {
                // Upstream quirk: with no `grpc:` block there is no IP protocol fallback.
                let g = RawGrpcProbe {
                    ip_protocol_fallback: false,
                    ..RawGrpcProbe::default()
                };
                Spanned::new(g, Location::UNKNOWN, Location::UNKNOWN)
            });
            grpc(cx, &format!("{path}.grpc"), g).map(Prober::Grpc)
        }
        "unix" => {
            // No `unix:` block is upstream's zero UnixProbe, which its module dump omits.
            let default = unspanned_default();
            let u = raw.unix.as_ref().unwrap_or(&default);
            unix(cx, &format!("{path}.unix"), u).map(Prober::Unix)
        }
        "websocket" => {
            let default = unspanned_default();
            let w = raw.websocket.as_ref().unwrap_or(&default);
            websocket(cx, &format!("{path}.websocket"), w).map(Prober::Websocket)
        }
        other => {
            cx.err(
                &prober_loc,
                format!("{path}.prober"),
                format!("prober '{other}' is not valid"),
            );
            None
        }
    };
    if cx.errors.len() > before {
        return None;
    }
    Some(crate::probe::Module {
        name: name.to_string(),
        timeout: raw.timeout,
        prober: prober?,
        yaml: crate::base::yaml::to_string(&*raw)
            .unwrap_or_else(|e| format!("# could not render the module: {e}\n")),
    })
}
