//! Validated probe modules: what `config::validate` produces and every prober consumes.
//! Regexes are compiled, enums are closed, and a tcp module cannot carry http settings.

use std::path::PathBuf;
use std::time::Duration;

use http::header::HeaderName;
use regex::bytes::Regex;

pub use crate::client::{
    Auth, Header, HttpClientSettings, PemSource, RequestHeaders, TlsSettings, TlsVersion,
};
pub use crate::probe::http::cel::CelProgram;

/// One named module.
#[derive(Debug)]
pub struct Module {
    pub name: String,
    /// 0 means "no module timeout": the scrape timeout alone decides.
    pub timeout: Duration,
    pub prober: Prober,
    /// The module as configured, with defaults filled in, rendered as YAML once at load for
    /// every probe's debug output.
    pub yaml: String,
}

/// The closed set of probers.
#[derive(Debug)]
pub enum Prober {
    Http(HttpModule),
    Tcp(TcpModule),
    Icmp(IcmpModule),
    Dns(DnsModule),
    Grpc(GrpcModule),
    Unix(UnixModule),
    Websocket(WebsocketModule),
}

impl Prober {
    pub fn name(&self) -> &'static str {
        match self {
            Prober::Http(_) => "http",
            Prober::Tcp(_) => "tcp",
            Prober::Icmp(_) => "icmp",
            Prober::Dns(_) => "dns",
            Prober::Grpc(_) => "grpc",
            Prober::Unix(_) => "unix",
            Prober::Websocket(_) => "websocket",
        }
    }
}

/// Address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpFamily {
    V4,
    V6,
}

/// `preferred_ip_protocol` + `ip_protocol_fallback`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpPreference {
    pub preferred: IpFamily,
    pub fallback: bool,
}

impl IpPreference {
    /// Upstream rule: only `""` and `"ip6"` mean IPv6; any other string means IPv4.
    pub fn from_config(preferred: &str, fallback: bool) -> Self {
        let preferred = if preferred.is_empty() || preferred == "ip6" {
            IpFamily::V6
        } else {
            IpFamily::V4
        };
        Self {
            preferred,
            fallback,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Brotli,
    Deflate,
    Identity,
}

impl Compression {
    pub fn token(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Brotli => "br",
            Compression::Deflate => "deflate",
            Compression::Identity => "identity",
        }
    }
}

#[derive(Clone, Debug)]
pub struct HeaderMatch {
    pub header: HeaderName,
    pub regexp: Regex,
    pub allow_missing: bool,
}

#[derive(Clone, Debug)]
pub enum RequestBody {
    Inline(bytes::Bytes),
    File(PathBuf),
}

#[derive(Debug)]
pub struct HttpModule {
    /// Empty means 200–299.
    pub valid_status_codes: Vec<u16>,
    pub valid_http_versions: Vec<String>,
    pub ip: IpPreference,
    pub fail_if_ssl: bool,
    pub fail_if_not_ssl: bool,
    pub method: http::Method,
    /// Headers as configured; a `Host` entry (any case) sets the request host and SNI.
    pub headers: Vec<(String, String)>,
    pub fail_if_body_matches: Vec<Regex>,
    pub fail_if_body_not_matches: Vec<Regex>,
    pub fail_if_header_matches: Vec<HeaderMatch>,
    pub fail_if_header_not_matches: Vec<HeaderMatch>,
    /// `fail_if_body_json_matches_cel`: fails the probe when the program yields true.
    pub fail_if_body_json_matches_cel: Option<CelProgram>,
    /// `fail_if_body_json_not_matches_cel`: fails the probe when the program yields false.
    pub fail_if_body_json_not_matches_cel: Option<CelProgram>,
    pub body: Option<RequestBody>,
    pub compression: Option<Compression>,
    /// 0 means no limit.
    pub body_size_limit: u64,
    /// prometheus/common's client settings: credentials, `http_headers`, `tls_config`,
    /// `follow_redirects` (or the deprecated `no_follow_redirects`), `enable_http2`, the
    /// proxy fields and `oauth2`.
    pub client: HttpClientSettings,
    /// With a proxy (`proxy_url` or `proxy_from_environment`): leave the target's name to
    /// the proxy, no `chooseProtocol` (upstream's `shouldResolveDNSWithProxy`).
    pub skip_resolve_phase_with_proxy: bool,
}

impl HttpModule {
    /// Whether a CEL option is configured (and `probe_failed_due_to_cel` registered).
    pub fn has_cel(&self) -> bool {
        self.fail_if_body_json_matches_cel.is_some()
            || self.fail_if_body_json_not_matches_cel.is_some()
    }

    /// The configured `Host` header, if any (matched case-insensitively, as upstream).
    pub fn host_header(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct QueryStep {
    pub expect: Option<Regex>,
    pub expect_bytes: Option<Vec<u8>>,
    pub labels: Vec<(String, String)>,
    pub send: Option<Vec<u8>>,
    pub starttls: bool,
}

#[derive(Debug)]
pub struct TcpModule {
    pub ip: IpPreference,
    pub source_ip_address: Option<String>,
    pub query_response: Vec<QueryStep>,
    pub tls: bool,
    pub tls_config: TlsSettings,
}

/// `unix:` (blackbox 0.28): the tcp dialogue over a unix socket; the target is its path.
#[derive(Debug)]
pub struct UnixModule {
    pub query_response: Vec<QueryStep>,
    pub tls: bool,
    pub tls_config: TlsSettings,
}

/// `websocket:` (blackbox_exporter master): an upgrade to a `ws://` or `wss://` target, then
/// `query_response` with one message per `expect` and one text message per `send`.
#[derive(Debug)]
pub struct WebsocketModule {
    pub ip: IpPreference,
    /// `http_config`'s `basic_auth` / `authorization` (or `bearer_token*`).
    pub auth: Option<Auth>,
    /// `http_config.tls_config`.
    pub tls_config: TlsSettings,
    /// `headers`: values, secrets, and files read at every probe.
    pub headers: Vec<Header>,
    /// Only `expect` and `send` (validation refuses the other keys).
    pub query_response: Vec<QueryStep>,
}

#[derive(Debug)]
pub struct IcmpModule {
    pub ip: IpPreference,
    pub source_ip_address: Option<String>,
    pub payload_size: usize,
    pub dont_fragment: bool,
    pub ttl: u8,
}

/// The four regex lists applied to one DNS section, compiled at load (upstream compiles them
/// at probe time, so there a bad regex fails every probe instead of the load).
#[derive(Clone, Debug, Default)]
pub struct RrValidator {
    pub fail_if_matches_regexp: Vec<Regex>,
    pub fail_if_all_match_regexp: Vec<Regex>,
    pub fail_if_not_matches_regexp: Vec<Regex>,
    pub fail_if_none_matches_regexp: Vec<Regex>,
}

#[derive(Debug)]
pub struct DnsModule {
    pub query_name: String,
    pub query_type: String,
    pub query_class: String,
    pub transport_protocol: String,
    pub dns_over_tls: bool,
    pub tls_config: TlsSettings,
    pub source_ip_address: Option<String>,
    pub ip: IpPreference,
    pub recursion_desired: bool,
    /// `None` means `[NOERROR]`; `Some(empty)` makes every probe fail, as upstream.
    pub valid_rcodes: Option<Vec<String>>,
    pub validate_answer_rrs: RrValidator,
    pub validate_authority_rrs: RrValidator,
    pub validate_additional_rrs: RrValidator,
}

/// `grpc:` — a `grpc.health.v1.Health/Check` call.
#[derive(Debug)]
pub struct GrpcModule {
    /// The service asked about; empty means the whole server.
    pub service: String,
    pub tls: bool,
    pub tls_config: TlsSettings,
    /// `ip_protocol_fallback` is false when the module has no `grpc:` block (upstream quirk).
    pub ip: IpPreference,
    /// Outgoing metadata as configured, keys as written: grpc-go checks them on every call
    /// (a key outside `[0-9a-z-_.]` fails the call with INTERNAL), and so does the prober.
    pub metadata: Vec<(String, Vec<String>)>,
}
