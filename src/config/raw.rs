//! Serde structs one-to-one with the YAML of blackbox_exporter's `blackbox.yml` (the `modules:`
//! block of `blackwatch.yml`). They hold upstream defaults and no logic: turning them into
//! domain types, and every cross-field rule, lives in `validate.rs`.
//!
//! Every struct denies unknown fields. Values whose validation needs a source position are
//! wrapped in `Spanned`. The same structs serialize back for `/config` and the debug output,
//! with secrets printed as `<secret>`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::base::units::{base2_bytes, go_duration};
use crate::base::yaml::{
    is_empty_spanned, is_false_spanned, keep_default_on_null, spanned_str, unspanned, yes,
    yes_on_null, GoBytes,
};
use crate::client::raw::http_client_config;
pub use crate::client::raw::{RawAuthorization, RawBasicAuth, RawHttpHeader, RawTlsConfig};

fn ip6() -> String {
    "ip6".to_string()
}
fn get() -> Spanned<String> {
    spanned_str("GET")
}
// yaml.v3 leaves a field untouched on null, so these keep upstream's default.
keep_default_on_null!(ip6_on_null, String, ip6);
keep_default_on_null!(get_on_null, Spanned<String>, get);
keep_default_on_null!(ttl64_on_null, Spanned<i64>, ttl64);
keep_default_on_null!(any_on_null, Spanned<String>, any);
keep_default_on_null!(class_in_on_null, Spanned<String>, class_in);
keep_default_on_null!(udp_on_null, Spanned<String>, udp);

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero_dur(d: &Duration) -> bool {
    d.is_zero()
}

/// The top level of a config file.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub modules: BTreeMap<String, Spanned<RawModule>>,
    /// Scheduled probe jobs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<Spanned<RawProbeJob>>,
    /// Rule files in Prometheus format: globs relative to the config file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_files: Vec<Spanned<String>>,
    /// `global:` settings of the rule engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<Spanned<RawGlobal>>,
    /// Alertmanager-format routing: an inline alertmanager.yml, or `{config_file: path}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<Spanned<crate::alert::config::RawAlertingConfig>>,
    /// What ad-hoc `/probe` requests may reach (see `server::allow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_policy: Option<Spanned<crate::probe::policy::RawProbePolicy>>,
    /// Prometheus' `remote_write:` endpoints for scheduled results and rule output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_write: Vec<Spanned<crate::remote::config::RawRemoteWrite>>,
    /// Public read-only status pages (`validate::status_pages`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_pages: Vec<Spanned<RawStatusPage>>,
}

/// `global:` — Prometheus' rule-evaluation settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    /// Default interval of rule groups (Prometheus duration); 15s when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_interval: Option<Spanned<String>>,
    /// Labels added to every alert sent (when absent), and visible to templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawModule {
    pub prober: Spanned<String>,
    #[serde(default, with = "go_duration", skip_serializing_if = "is_zero_dur")]
    pub timeout: Duration,
    #[serde(default = "unspanned")]
    pub http: Spanned<RawHttpProbe>,
    #[serde(default = "unspanned")]
    pub tcp: Spanned<RawTcpProbe>,
    #[serde(default = "unspanned")]
    pub icmp: Spanned<RawIcmpProbe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Spanned<RawDnsProbe>>,
    /// `None` when absent: the module then gets `ip_protocol_fallback: false` (see
    /// `RawGrpcProbe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<Spanned<RawGrpcProbe>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unix: Option<Spanned<RawUnixProbe>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<Spanned<RawWebsocketProbe>>,
}

http_client_config! {
    /// `http:` — blackbox's HTTPProbe with prometheus/common's HTTPClientConfig inlined.
    #[derive(Clone, Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawHttpProbe {
        #[serde(default)]
        pub valid_status_codes: Vec<Spanned<i64>>,
        #[serde(default)]
        pub valid_http_versions: Vec<Spanned<String>>,
        #[serde(default = "ip6", deserialize_with = "ip6_on_null")]
        pub preferred_ip_protocol: String,
        #[serde(default = "yes", deserialize_with = "yes_on_null")]
        pub ip_protocol_fallback: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        pub skip_resolve_phase_with_proxy: bool,
        /// Deprecated upstream; still honoured and wins over `follow_redirects`.
        #[serde(default, skip_serializing)]
        pub no_follow_redirects: Option<bool>,
        #[serde(default)]
        pub fail_if_ssl: bool,
        #[serde(default)]
        pub fail_if_not_ssl: bool,
        #[serde(default = "get", deserialize_with = "get_on_null")]
        pub method: Spanned<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub headers: BTreeMap<String, Spanned<String>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub fail_if_body_matches_regexp: Vec<Spanned<String>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub fail_if_body_not_matches_regexp: Vec<Spanned<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub fail_if_body_json_matches_cel: Option<Spanned<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub fail_if_body_json_not_matches_cel: Option<Spanned<String>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub fail_if_header_matches: Vec<Spanned<RawHeaderMatch>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub fail_if_header_not_matches: Vec<Spanned<RawHeaderMatch>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub body: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub body_file: Option<Spanned<String>>,
        #[serde(default = "unspanned", skip_serializing_if = "is_empty_spanned")]
        pub compression: Spanned<String>,
        #[serde(default, with = "base2_bytes")]
        pub body_size_limit: i64,
        #[serde(default = "unspanned", skip_serializing_if = "is_false_spanned")]
        pub enable_http3: Spanned<bool>,
    }
    tls_config: #[serde(default = "unspanned")] Spanned<RawTlsConfig>;
}

impl Default for RawHttpProbe {
    fn default() -> Self {
        // The serde defaults are the single source of truth.
        crate::base::yaml::from_str("{}").unwrap_or_else(|_| unreachable_default())
    }
}

/// Only reachable if the literal `{}` stops deserializing, which a unit test guards.
#[cold]
fn unreachable_default<T>() -> T {
    panic!("built-in default configuration failed to deserialize")
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderMatch {
    #[serde(default)]
    pub header: String,
    #[serde(default)]
    pub regexp: String,
    #[serde(default)]
    pub allow_missing: bool,
}

/// `tcp:` — TCPProbe.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTcpProbe {
    #[serde(default = "ip6", deserialize_with = "ip6_on_null")]
    pub preferred_ip_protocol: String,
    #[serde(default = "yes", deserialize_with = "yes_on_null")]
    pub ip_protocol_fallback: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_ip_address: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_response: Vec<Spanned<RawQueryResponse>>,
    #[serde(default)]
    pub tls: bool,
    #[serde(default = "unspanned")]
    pub tls_config: Spanned<RawTlsConfig>,
}

impl Default for RawTcpProbe {
    fn default() -> Self {
        crate::base::yaml::from_str("{}").unwrap_or_else(|_| unreachable_default())
    }
}

/// `unix:` — UnixProbe (blackbox 0.28): the tcp dialogue over a unix socket, no IP keys.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawUnixProbe {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_response: Vec<Spanned<RawQueryResponse>>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls: bool,
    #[serde(default = "unspanned")]
    pub tls_config: Spanned<RawTlsConfig>,
}

impl Default for RawUnixProbe {
    fn default() -> Self {
        crate::base::yaml::from_str("{}").unwrap_or_else(|_| unreachable_default())
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueryResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_bytes: Option<GoBytes>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<RawLabel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<GoBytes>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub starttls: bool,
}

/// `websocket:` — WebsocketProbe (blackbox_exporter master).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebsocketProbe {
    #[serde(default = "unspanned")]
    pub http_config: Spanned<RawWebsocketHttpConfig>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Spanned<RawWebsocketHeader>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_response: Vec<Spanned<RawQueryResponse>>,
    #[serde(default = "ip6", deserialize_with = "ip6_on_null")]
    pub preferred_ip_protocol: String,
    #[serde(default = "yes", deserialize_with = "yes_on_null")]
    pub ip_protocol_fallback: bool,
}

impl Default for RawWebsocketProbe {
    fn default() -> Self {
        crate::base::yaml::from_str("{}").unwrap_or_else(|_| unreachable_default())
    }
}

http_client_config! {
    /// `websocket.http_config:` — prometheus/common's HTTPClientConfig, not inlined.
    #[derive(Clone, Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawWebsocketHttpConfig {}
    tls_config: #[serde(default = "unspanned")] Spanned<RawTlsConfig>;
}

impl Default for RawWebsocketHttpConfig {
    fn default() -> Self {
        crate::base::yaml::from_str("{}").unwrap_or_else(|_| unreachable_default())
    }
}

/// One `websocket.headers` entry: prometheus/common's `Header` (`values`, `secrets`,
/// `files`), or a plain string as one value — upstream's example.yml writes
/// `X-Some-Header: "my_header"`, which prometheus/common itself refuses.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct RawWebsocketHeader(pub RawHttpHeader);

impl<'de> Deserialize<'de> for RawWebsocketHeader {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawWebsocketHeader;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a header value or a mapping with `values`, `secrets` and `files`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawWebsocketHeader, E> {
                Ok(RawWebsocketHeader(RawHttpHeader {
                    values: vec![v.to_string()],
                    ..RawHttpHeader::default()
                }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawWebsocketHeader, A::Error> {
                RawHttpHeader::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawWebsocketHeader)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabel {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// `grpc:` — GRPCProbe. Upstream's module defaults leave GRPCProbe out, so only a present
/// block gets `ip_protocol_fallback: true`; without one, fallback is false.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawGrpcProbe {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls: bool,
    #[serde(default = "unspanned")]
    pub tls_config: Spanned<RawTlsConfig>,
    #[serde(
        default = "yes",
        deserialize_with = "yes_on_null",
        skip_serializing_if = "is_false"
    )]
    pub ip_protocol_fallback: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub preferred_ip_protocol: String,
    /// grpc-go's `metadata.MD`: each key with its list of values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, Vec<String>>,
}

impl Default for RawGrpcProbe {
    fn default() -> Self {
        crate::base::yaml::from_str("{}").unwrap_or_else(|_| unreachable_default())
    }
}

/// `icmp:` — ICMPProbe.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawIcmpProbe {
    #[serde(default = "ip6", deserialize_with = "ip6_on_null")]
    pub preferred_ip_protocol: String,
    #[serde(default = "yes", deserialize_with = "yes_on_null")]
    pub ip_protocol_fallback: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_ip_address: String,
    #[serde(default = "unspanned")]
    pub payload_size: Spanned<i64>,
    #[serde(default)]
    pub dont_fragment: bool,
    #[serde(default = "ttl64", deserialize_with = "ttl64_on_null")]
    pub ttl: Spanned<i64>,
}

fn ttl64() -> Spanned<i64> {
    Spanned::new(
        64,
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}

impl Default for RawIcmpProbe {
    fn default() -> Self {
        crate::base::yaml::from_str("{}").unwrap_or_else(|_| unreachable_default())
    }
}

/// `dns:` — DNSProbe.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDnsProbe {
    #[serde(default)]
    pub query_name: String,
    #[serde(default = "any", deserialize_with = "any_on_null")]
    pub query_type: Spanned<String>,
    #[serde(default = "class_in", deserialize_with = "class_in_on_null")]
    pub query_class: Spanned<String>,
    #[serde(default = "udp", deserialize_with = "udp_on_null")]
    pub transport_protocol: Spanned<String>,
    #[serde(default = "unspanned")]
    pub dns_over_tls: Spanned<bool>,
    #[serde(default = "unspanned")]
    pub tls_config: Spanned<RawTlsConfig>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_ip_address: String,
    #[serde(default = "ip6", deserialize_with = "ip6_on_null")]
    pub preferred_ip_protocol: String,
    #[serde(default = "yes", deserialize_with = "yes_on_null")]
    pub ip_protocol_fallback: bool,
    #[serde(default = "yes", deserialize_with = "yes_on_null")]
    pub recursion_desired: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_rcodes: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub validate_answer_rrs: RawRrValidator,
    #[serde(default)]
    pub validate_authority_rrs: RawRrValidator,
    #[serde(default)]
    pub validate_additional_rrs: RawRrValidator,
}

fn any() -> Spanned<String> {
    spanned_str("ANY")
}
fn class_in() -> Spanned<String> {
    spanned_str("IN")
}
fn udp() -> Spanned<String> {
    spanned_str("udp")
}

impl Default for RawDnsProbe {
    fn default() -> Self {
        crate::base::yaml::from_str("{}").unwrap_or_else(|_| unreachable_default())
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRrValidator {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_matches_regexp: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_all_match_regexp: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_not_matches_regexp: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_none_matches_regexp: Vec<Spanned<String>>,
}

/// One scheduled job under `probes:`: a module run against a list of targets on an interval.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbeJob {
    pub job: Spanned<String>,
    pub module: Spanned<String>,
    #[serde(
        default,
        with = "crate::base::units::opt_go_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    #[serde(
        default,
        with = "crate::base::units::opt_go_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// At most this many of the job's probes run at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Spanned<i64>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Spanned<RawTarget>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_sd: Vec<Spanned<RawFileSd>>,
}

/// A target: a plain string, or `{target, labels}`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum RawTarget {
    Plain(String),
    WithLabels(RawTargetWithLabels),
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawTargetWithLabels {
    pub target: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl<'de> Deserialize<'de> for RawTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawTarget;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a target string or a mapping with `target` and `labels`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawTarget, E> {
                Ok(RawTarget::Plain(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawTarget, A::Error> {
                RawTargetWithLabels::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawTarget::WithLabels)
            }
        }
        d.deserialize_any(V)
    }
}

/// `file_sd`: Prometheus file_sd files (JSON or YAML lists of `{targets, labels}`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawFileSd {
    /// Paths; the last path element may contain `*`, `?` and `[...]` (Go's `filepath.Glob`).
    /// Relative paths are relative to the config file's directory.
    pub files: Vec<String>,
    #[serde(
        default,
        with = "crate::base::units::opt_go_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_interval: Option<Duration>,
}

/// One entry of `status_pages:`: a public read-only page at its own path.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatusPage {
    pub path: Spanned<String>,
    pub title: Spanned<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub groups: Vec<Spanned<RawStatusGroup>>,
    #[serde(default)]
    pub hide: RawStatusHide,
}

/// A titled group of targets on a status page.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatusGroup {
    pub name: Spanned<String>,
    #[serde(default)]
    pub targets: Vec<Spanned<RawStatusTarget>>,
}

/// A scheduled target (`job` and `instance` as on `/metrics`) and the name shown for it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatusTarget {
    pub job: Spanned<String>,
    pub instance: Spanned<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
}

/// What a status page leaves out.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatusHide {
    #[serde(default)]
    pub failure_reasons: bool,
    #[serde(default)]
    pub response_time: bool,
    #[serde(default)]
    pub incident_reasons: bool,
    #[serde(default)]
    pub addresses: bool,
}
