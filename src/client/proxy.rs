//! prometheus/common's `ProxyConfig`, validated: `proxy_url`, `no_proxy`,
//! `proxy_from_environment` and `proxy_connect_header`, and the one decision every client
//! makes with them, [`ProxySettings::proxy_for`]: which proxy, if any, a request URL goes
//! through. The decision follows Go: `http.ProxyURL` when only `proxy_url` is set (every
//! request is proxied, loopback included), golang.org/x/net/http/httpproxy when `no_proxy`
//! or the environment is involved ([`NoProxy`] is httpproxy's matcher, loopback and
//! `localhost` are never proxied).
//!
//! The environment (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, lower-case too, and
//! `REQUEST_METHOD`) is read once, when the settings are built (start-up and reload), as
//! prometheus/common reads it once per client. This module does no I/O and knows no HTTP
//! client: `reqwest_client.rs` turns the settings into reqwest proxies; the http prober
//! (`probe::http::proxy`) connects through what `proxy_for` picks for each hop.

use std::fmt;
use std::net::IpAddr;

use http::HeaderName;
use url::Url;

use super::raw::{redact_url, RawProxyFields};
use super::FieldError;
use crate::base::Secret;

/// Where requests go: directly, or through which proxy.
#[derive(Clone, Default)]
pub struct ProxySettings {
    route: Route,
    /// `proxy_connect_header`: sent on every CONNECT (https targets), never to the target.
    connect_headers: Vec<(HeaderName, Secret)>,
}

#[derive(Clone, Default)]
enum Route {
    /// No proxy settings.
    #[default]
    Direct,
    /// `proxy_url` without `no_proxy`: Go's `http.ProxyURL`, every request is proxied.
    Always(Url),
    /// httpproxy's `Config.ProxyFunc`: `proxy_url` with `no_proxy`, or the environment.
    Selective {
        http: Option<Url>,
        https: Option<Url>,
        no_proxy: NoProxy,
        /// `REQUEST_METHOD` is set: httpproxy refuses `HTTP_PROXY` for http URLs there
        /// (httpoxy); here those requests go direct.
        cgi: bool,
    },
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = |u: &Option<Url>| u.as_ref().map(|u| redact_url(u.as_str()));
        let mut d = f.debug_struct("ProxySettings");
        match &self.route {
            Route::Direct => d.field("route", &"direct"),
            Route::Always(u) => d.field("always", &redact_url(u.as_str())),
            Route::Selective {
                http,
                https,
                no_proxy,
                cgi,
            } => d
                .field("http", &url(http))
                .field("https", &url(https))
                .field("no_proxy", no_proxy)
                .field("cgi", cgi),
        };
        d.field(
            "connect_headers",
            &self
                .connect_headers
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
        )
        .finish()
    }
}

/// The proxy environment variables, as httpproxy's `FromEnvironment` reads them: the
/// upper-case name first, then the lower-case one, an empty value counting as unset.
#[derive(Clone, Debug, Default)]
pub struct ProxyEnv {
    pub http_proxy: String,
    pub https_proxy: String,
    pub no_proxy: String,
    pub cgi: bool,
}

impl ProxyEnv {
    /// Reads the variables through `get` (the process environment in production, a table in
    /// tests).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Self {
        let any = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|n| get(n).filter(|v| !v.is_empty()))
                .unwrap_or_default()
        };
        Self {
            http_proxy: any(["HTTP_PROXY", "http_proxy"]),
            https_proxy: any(["HTTPS_PROXY", "https_proxy"]),
            no_proxy: any(["NO_PROXY", "no_proxy"]),
            cgi: get("REQUEST_METHOD").is_some_and(|v| !v.is_empty()),
        }
    }

    /// The process environment, read now.
    pub fn from_process() -> Self {
        Self::read(|k| std::env::var(k).ok())
    }
}

impl ProxySettings {
    /// Validates prometheus/common's `ProxyConfig` and builds the settings, reading the
    /// environment through `env` when `proxy_from_environment` is set. Errors carry
    /// upstream's texts, in upstream's order, with the field they are about.
    pub fn from_raw(
        raw: RawProxyFields<'_>,
        env: impl FnOnce() -> ProxyEnv,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let url_text = raw
            .proxy_url
            .map(|u| u.value.trim())
            .filter(|u| !u.is_empty());
        let no_proxy = raw.no_proxy.map(|n| n.value.as_str()).unwrap_or_default();
        let from_env = raw.proxy_from_environment.is_some_and(|b| b.value);
        let headers = raw.proxy_connect_header.map(|h| &h.value);
        let has_headers = headers.is_some_and(|h| !h.is_empty());

        if has_headers && !from_env && url_text.is_none() {
            errors.push(FieldError::new(
                "proxy_connect_header",
                "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured",
            ));
        }
        if from_env && url_text.is_some() {
            errors.push(FieldError::new(
                "proxy_from_environment",
                "if proxy_from_environment is configured, proxy_url must not be configured",
            ));
        }
        if from_env && !no_proxy.is_empty() {
            errors.push(FieldError::new(
                "proxy_from_environment",
                "if proxy_from_environment is configured, no_proxy must not be configured",
            ));
        }
        if url_text.is_none() && !no_proxy.is_empty() {
            errors.push(FieldError::new(
                "no_proxy",
                "if no_proxy is configured, proxy_url must also be configured",
            ));
        }
        let url = match url_text.map(parse_proxy_url).transpose() {
            Ok(u) => u,
            Err(e) => {
                errors.push(FieldError::new("proxy_url", e));
                None
            }
        };
        let mut connect_headers = Vec::new();
        for (name, values) in headers.into_iter().flatten() {
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(n) => {
                    for v in values {
                        if http::HeaderValue::from_str(v.expose()).is_err() {
                            errors.push(FieldError::new(
                                "proxy_connect_header",
                                format!("invalid value for header {name:?}"),
                            ));
                        }
                        connect_headers.push((n.clone(), v.clone()));
                    }
                }
                Err(_) => errors.push(FieldError::new(
                    "proxy_connect_header",
                    format!("invalid header name {name:?}"),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let route = if from_env {
            let env = env();
            Route::Selective {
                http: parse_env_proxy(&env.http_proxy),
                https: parse_env_proxy(&env.https_proxy),
                no_proxy: NoProxy::parse(&env.no_proxy),
                cgi: env.cgi,
            }
        } else {
            match url {
                None => Route::Direct,
                Some(u) if no_proxy.is_empty() => Route::Always(u),
                Some(u) => Route::Selective {
                    http: Some(u.clone()),
                    https: Some(u),
                    no_proxy: NoProxy::parse(no_proxy),
                    cgi: false,
                },
            }
        };
        Ok(Self {
            route,
            connect_headers,
        })
    }

    /// No proxy is configured: every request goes direct.
    pub fn is_direct(&self) -> bool {
        matches!(self.route, Route::Direct)
    }

    /// The proxy a request to `target` goes through, or `None` for a direct connection.
    pub fn proxy_for(&self, target: &Url) -> Option<Url> {
        match &self.route {
            Route::Direct => None,
            Route::Always(u) => Some(u.clone()),
            Route::Selective {
                http,
                https,
                no_proxy,
                cgi,
            } => {
                let proxy = match target.scheme() {
                    "https" => https.as_ref()?,
                    "http" if *cgi => return None,
                    "http" => http.as_ref()?,
                    _ => return None,
                };
                let host = target.host_str()?;
                let host = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host);
                let port = target.port_or_known_default().unwrap_or(0);
                no_proxy
                    .use_proxy(host, &port.to_string())
                    .then(|| proxy.clone())
            }
        }
    }

    /// `proxy_connect_header`, in file order (values of one name in their order).
    pub fn connect_headers(&self) -> &[(HeaderName, Secret)] {
        &self.connect_headers
    }
}

/// `proxy_url` as written: a URL with a host and a scheme Go's transport can proxy through.
fn parse_proxy_url(text: &str) -> Result<Url, String> {
    let u = Url::parse(text)
        .map_err(|e| format!("parse {}: {e}", crate::base::go::quote(&redact_url(text))))?;
    if !matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h") {
        return Err(format!(
            "unsupported proxy scheme {}: use http, https or socks5",
            crate::base::go::quote(u.scheme())
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "proxy_url {} has no host",
            crate::base::go::quote(&redact_url(text))
        ));
    }
    Ok(u)
}

/// httpproxy's `parseProxy`: a URL, or `host[:port]` meaning `http://host[:port]`; an
/// unusable value means no proxy.
fn parse_env_proxy(v: &str) -> Option<Url> {
    if v.is_empty() {
        return None;
    }
    match Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https" | "socks5") && u.has_host() => Some(u),
        _ => Url::parse(&format!("http://{v}")).ok(),
    }
}

/// httpproxy's `NO_PROXY` matcher: comma-separated entries, each `*` (everything), an IP
/// or CIDR, `[IPv6]:port` / `IPv4:port`, or a domain (`example.com` matches it and its
/// subdomains, `.example.com` and `*.example.com` only the subdomains), optionally with a
/// port. Malformed entries are ignored, as upstream ignores them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    ips: Vec<IpMatch>,
    domains: Vec<DomainMatch>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum IpMatch {
    Cidr(ipnet::IpNet),
    Ip { ip: IpAddr, port: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct DomainMatch {
    /// With a leading dot.
    host: String,
    port: String,
    /// The entry had no leading dot: the domain itself matches too.
    match_host: bool,
}

impl NoProxy {
    /// httpproxy's `config.init` for the `NoProxy` list.
    pub fn parse(list: &str) -> Self {
        let mut out = Self::default();
        for p in list.split(',') {
            let p = p.trim().to_lowercase();
            if p.is_empty() {
                continue;
            }
            if p == "*" {
                return Self {
                    all: true,
                    ..Self::default()
                };
            }
            if let Ok(net) = p.parse::<ipnet::IpNet>() {
                out.ips.push(IpMatch::Cidr(net));
                continue;
            }
            let (mut phost, pport) = match crate::base::go::split_host_port(&p) {
                Ok((h, port)) => {
                    if h.is_empty() {
                        continue;
                    }
                    (h.to_string(), port.to_string())
                }
                Err(_) => (p.clone(), String::new()),
            };
            if phost.starts_with('[') && phost.ends_with(']') && phost.len() >= 2 {
                phost = phost[1..phost.len() - 1].to_string();
            }
            if let Ok(ip) = phost.parse::<IpAddr>() {
                out.ips.push(IpMatch::Ip { ip, port: pport });
                continue;
            }
            if phost.is_empty() {
                continue;
            }
            if let Some(rest) = phost.strip_prefix("*.") {
                phost = format!(".{rest}");
            }
            let match_host = !phost.starts_with('.');
            if match_host {
                phost = format!(".{phost}");
            }
            if !phost.is_ascii() {
                if let Ok(url::Host::Domain(d)) = url::Host::parse(&phost[1..]) {
                    phost = format!(".{d}");
                }
            }
            out.domains.push(DomainMatch {
                host: phost,
                port: pport,
                match_host,
            });
        }
        out
    }

    /// httpproxy's `useProxy` for `host` (no brackets) and `port` (the URL's, or its
    /// scheme's default): `false` for `localhost`, loopback addresses and matching entries.
    pub fn use_proxy(&self, host: &str, port: &str) -> bool {
        if host == "localhost" {
            return false;
        }
        let ip = host.parse::<IpAddr>().ok().map(|i| i.to_canonical());
        if ip.is_some_and(|i| i.is_loopback()) {
            return false;
        }
        if self.all {
            return false;
        }
        let host = host.trim().to_lowercase();
        if let Some(ip) = ip {
            for m in &self.ips {
                let hit = match m {
                    IpMatch::Cidr(net) => net.contains(&ip),
                    IpMatch::Ip { ip: want, port: p } => {
                        want.to_canonical() == ip && (p.is_empty() || p == port)
                    }
                };
                if hit {
                    return false;
                }
            }
        }
        for m in &self.domains {
            let hit = host.ends_with(&m.host) || (m.match_host && host == m.host[1..]);
            if hit && (m.port.is_empty() || m.port == port) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests;
