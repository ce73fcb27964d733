//! `remote_write:` as written (`RawRemoteWrite`: Prometheus 2.42's `RemoteWriteConfig`
//! fields, prometheus/common's HTTP client fields inlined through `http_client_config!`) and
//! validated (`RemoteWriteConfig`), with `DefaultRemoteWriteConfig` and `DefaultQueueConfig`'s
//! values. Validation itself is `config::validate::remote_write`, next to the HTTP client
//! validators it shares with blackbox modules.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::base::units::PromDuration;
use crate::base::yaml::Unsupported;
use crate::client::raw::{http_client_config, RawTlsConfig};
use crate::client::HttpClientSettings;
use crate::relabel::{RawRelabelConfig, Rule};

http_client_config! {
    /// One `remote_write:` entry.
    #[derive(Clone, Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawRemoteWrite {
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            serialize_with = "crate::client::raw::redacted_url"
        )]
        pub url: Option<Spanned<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub remote_timeout: Option<PromDuration>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub headers: BTreeMap<String, Spanned<String>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub write_relabel_configs: Vec<Spanned<Option<RawRelabelConfig>>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub name: Option<Spanned<String>>,
        #[serde(default)]
        pub send_exemplars: bool,
        #[serde(default)]
        pub send_native_histograms: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub queue_config: Option<Spanned<RawQueueConfig>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub metadata_config: Option<Spanned<RawMetadataConfig>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub sigv4: Option<Spanned<crate::alert::config::raw::RawSigV4Config>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub azuread: Option<Spanned<Unsupported>>,
    }
    tls_config: #[serde(default, skip_serializing_if = "Option::is_none")] Option<Spanned<RawTlsConfig>>;
}

/// `queue_config:`; absent fields take `DefaultQueueConfig`'s values.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueueConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Spanned<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_shards: Option<Spanned<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_shards: Option<Spanned<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_samples_per_send: Option<Spanned<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_send_deadline: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_backoff: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<PromDuration>,
    #[serde(default)]
    pub retry_on_http_429: bool,
}

/// `metadata_config:` — accepted; blackwatch sends no metadata (see README).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetadataConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_interval: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_samples_per_send: Option<i64>,
}

/// `DefaultRemoteWriteConfig.RemoteTimeout`.
pub const DEFAULT_REMOTE_TIMEOUT: Duration = Duration::from_secs(30);

/// `QueueConfig`, validated.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueConfig {
    pub capacity: usize,
    pub max_shards: usize,
    pub min_shards: usize,
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub retry_on_http_429: bool,
}

impl Default for QueueConfig {
    /// Prometheus 2.42's `DefaultQueueConfig`.
    fn default() -> Self {
        Self {
            capacity: 2500,
            max_shards: 200,
            min_shards: 1,
            max_samples_per_send: 500,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
        }
    }
}

/// One validated `remote_write:` entry.
#[derive(Clone, Debug)]
pub struct RemoteWriteConfig {
    /// `name`, or empty.
    pub name: String,
    pub url: url::Url,
    pub remote_timeout: Duration,
    /// `headers`, sent on every request.
    pub headers: Vec<(http::HeaderName, String)>,
    pub write_relabel_configs: Vec<Rule>,
    pub client: HttpClientSettings,
    /// `sigv4`: requests signed for the `aps` service (Amazon Managed Service for Prometheus).
    pub sigv4: Option<crate::alert::config::SigV4Config>,
    pub queue: QueueConfig,
    /// The entry as written (secrets redacted), to tell a changed entry on reload.
    pub yaml: String,
}

impl RemoteWriteConfig {
    /// The queue's name: `name`, or the first 6 hex digits of the hash of the URL (Prometheus
    /// hashes the whole config; the URL alone keeps the queue, and its pending data, when
    /// other settings change). The `remote_name` label and the queue directory's name.
    pub fn queue_name(&self) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        use sha2::Digest;
        let d = sha2::Sha256::digest(self.url.as_str().as_bytes());
        d.iter().take(3).map(|b| format!("{b:02x}")).collect()
    }
}
