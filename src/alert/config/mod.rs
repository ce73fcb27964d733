//! The alerting configuration: Alertmanager's `alertmanager.yml`, either inline under
//! `alerting:` in `blackwatch.yml` or in the file `alerting: {config_file: …}` names.
//!
//! `raw` holds the serde structs, `validate` applies Alertmanager's load-time rules (with its
//! error texts, plus file:line:col) and builds the domain types here: the routing tree
//! (`alert::route`), inhibition rules (`alert::inhibit`), named time intervals
//! (`alert::timeinterval`) and receivers with their integrations' settings. The notifiers
//! themselves live in `alert::notify`; this module only validates their settings.

pub mod raw;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use raw::RawAlertingConfig;
use raw::RawHttpConfig;

use crate::alert::inhibit::InhibitRule;
use crate::alert::notify::render::TemplateSet;
use crate::alert::route::Route;
use crate::alert::timeinterval::TimeInterval;
use crate::base::SecretSource;
use crate::base::{ConfigError, ConfigErrors};
use crate::client::raw::RawTlsConfig;
use crate::client::{PemSource, TlsSettings, TlsVersion};

/// A validated alerting configuration.
#[derive(Clone, Debug)]
pub struct AlertingConfig {
    /// The file the alerting config was read from (blackwatch.yml or alertmanager.yml).
    pub source: PathBuf,
    pub global: Global,
    /// The root of the routing tree.
    pub route: Route,
    /// In file order; names are unique.
    pub receivers: Vec<Receiver>,
    pub inhibit_rules: Vec<InhibitRule>,
    /// `time_intervals` and `mute_time_intervals`, by name.
    pub time_intervals: BTreeMap<String, TimeInterval>,
    /// Template file globs, made absolute against the config file's directory.
    pub templates: Vec<PathBuf>,
    /// The built-in templates plus every file the globs matched, parsed when the config
    /// was loaded (a file that does not parse fails the load, as upstream).
    pub template_set: Arc<TemplateSet>,
    /// The parsed document with defaults as YAML, secrets as `<secret>`, for
    /// `/api/v2/status` (`config.original`); rendered once, when the config is loaded.
    pub document: String,
}

impl AlertingConfig {
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// The document as YAML with secrets as `<secret>`.
    pub fn to_yaml(&self) -> String {
        self.document.clone()
    }

    /// Whether `other` would build the same integrations: the same document and the same
    /// template sources. (Comparing [`Self::to_yaml`] alone misses a reload that only
    /// changed a template file.)
    pub fn same_as(&self, other: &AlertingConfig) -> bool {
        self.template_set.same_sources(&other.template_set) && self.document == other.document
    }

    /// The template files the globs match now, sorted per glob; a glob matching nothing
    /// contributes nothing (as upstream).
    pub fn template_files(&self) -> Vec<PathBuf> {
        self.templates
            .iter()
            .flat_map(|p| crate::base::fs::glob(p))
            .collect()
    }
}

/// `global:` as it matters after validation (per-integration defaults are already merged
/// into each integration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    /// EndsAt for alerts posted without one (default 5m).
    pub resolve_timeout: Duration,
    /// blackwatch extension (alertmanager #226, #2754), default on: see `alert::pipeline`.
    pub resolved_after_mute: bool,
}

/// An integration's `http_config.tls_config` as TLS client settings, relative file names
/// taken from `base_dir`. `min_version: TLS10|TLS11` allows TLS 1.2 and 1.3 (rustls has
/// nothing older); validation refuses those as `max_version`.
pub fn tls_settings(t: &RawTlsConfig, base_dir: &Path) -> TlsSettings {
    let abs = |p: &str| {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base_dir.join(p)
        }
    };
    let pem = |inline: &str, file: &str| {
        if !inline.is_empty() {
            Some(PemSource::Inline(inline.to_string()))
        } else if !file.is_empty() {
            Some(PemSource::File(abs(file)))
        } else {
            None
        }
    };
    let version = |v: &str| match v {
        "TLS12" => Some(TlsVersion::Tls12),
        "TLS13" => Some(TlsVersion::Tls13),
        _ => None,
    };
    TlsSettings {
        ca: pem(&t.ca, &t.ca_file),
        cert: pem(&t.cert, &t.cert_file),
        key: (!t.key_file.is_empty()).then(|| SecretSource::File(abs(&t.key_file))),
        key_inline_pem: (!t.key.is_empty()).then(|| t.key.clone()),
        server_name: (!t.server_name.is_empty()).then(|| t.server_name.clone()),
        insecure_skip_verify: t.insecure_skip_verify,
        min_version: version(&t.min_version.value),
        max_version: version(&t.max_version.value),
    }
}

/// One receiver: a name and its integrations (index = position within its kind).
#[derive(Clone, Debug)]
pub struct Receiver {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub discord: Vec<DiscordConfig>,
    pub email: Vec<EmailConfig>,
    pub webhook: Vec<WebhookConfig>,
    pub slack: Vec<SlackConfig>,
    pub msteams: Vec<MSTeamsConfig>,
    pub msteamsv2: Vec<MSTeamsV2Config>,
    pub rocketchat: Vec<RocketchatConfig>,
    pub jira: Vec<JiraConfig>,
    pub pagerduty: Vec<PagerdutyConfig>,
    pub opsgenie: Vec<OpsgenieConfig>,
    pub victorops: Vec<VictorOpsConfig>,
    pub wechat: Vec<WechatConfig>,
    pub telegram: Vec<TelegramConfig>,
    pub webex: Vec<WebexConfig>,
    pub pushover: Vec<PushoverConfig>,
    pub sns: Vec<SnsConfig>,
}

impl Receiver {
    /// Number of integrations.
    pub fn integrations(&self) -> usize {
        self.discord.len()
            + self.email.len()
            + self.webhook.len()
            + self.slack.len()
            + self.msteams.len()
            + self.msteamsv2.len()
            + self.rocketchat.len()
            + self.jira.len()
            + self.pagerduty.len()
            + self.opsgenie.len()
            + self.victorops.len()
            + self.wechat.len()
            + self.telegram.len()
            + self.webex.len()
            + self.pushover.len()
            + self.sns.len()
    }
}

/// `slack_configs[i]` with upstream's defaults and `global.slack_api_url(_file)` merged;
/// every text is still unexpanded template text.
#[derive(Clone, Debug)]
pub struct SlackConfig {
    pub send_resolved: bool,
    /// `api_url`, `api_url_file` or the global pair (a file is re-read on every send).
    pub api_url: SecretSource,
    pub http_config: RawHttpConfig,
    pub channel: String,
    pub username: String,
    pub color: String,
    pub title: String,
    pub title_link: String,
    pub pretext: String,
    pub text: String,
    pub fields: Vec<SlackField>,
    pub short_fields: bool,
    pub footer: String,
    pub fallback: String,
    pub callback_id: String,
    pub icon_emoji: String,
    pub icon_url: String,
    pub image_url: String,
    pub thumb_url: String,
    pub link_names: bool,
    /// Empty = upstream's `["fallback", "pretext", "text"]`.
    pub mrkdwn_in: Vec<String>,
    pub actions: Vec<SlackAction>,
}

/// `telegram_configs[i]` with upstream's defaults and `global.telegram_api_url` merged.
#[derive(Clone, Debug)]
pub struct TelegramConfig {
    pub send_resolved: bool,
    pub http_config: RawHttpConfig,
    /// The API base URL as written (`/bot<token>/sendMessage` is appended).
    pub api_url: String,
    /// `bot_token` or `bot_token_file` (re-read and trimmed on every send).
    pub bot_token: SecretSource,
    pub chat_id: i64,
    /// 0 = none (0.28+).
    pub message_thread_id: i64,
    /// Template text.
    pub message: String,
    pub disable_notifications: bool,
    /// `""`, `Markdown`, `MarkdownV2` or `HTML` (rendered with html/template escaping).
    pub parse_mode: String,
}

/// `webex_configs[i]` with upstream's defaults and `global.webex_api_url` merged; the token
/// is `http_config.authorization`.
#[derive(Clone, Debug)]
pub struct WebexConfig {
    pub send_resolved: bool,
    pub http_config: RawHttpConfig,
    pub api_url: String,
    /// Template text.
    pub message: String,
    /// Template text (0.28; 0.25 sends it as written).
    pub room_id: String,
}

/// `wechat_configs[i]` with upstream's defaults and the `global.wechat_*` values merged;
/// every text but `message_type` is template text.
#[derive(Clone, Debug)]
pub struct WechatConfig {
    pub send_resolved: bool,
    pub http_config: RawHttpConfig,
    /// Ends with `/` (`gettoken` and `message/send` are appended).
    pub api_url: String,
    /// Template text, rendered when a token is fetched.
    pub api_secret: crate::base::Secret,
    /// Template text, rendered when a token is fetched.
    pub corp_id: String,
    pub message: String,
    pub to_user: String,
    pub to_party: String,
    pub to_tag: String,
    pub agent_id: String,
    /// `text` or `markdown`.
    pub message_type: String,
}

/// One attachment field; `short: None` takes the config's `short_fields`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackField {
    pub title: String,
    pub value: String,
    pub short: Option<bool>,
}

/// One attachment action (button). As upstream's `UnmarshalYAML` leaves it: with a `url`,
/// `name`, `value` and `confirm` are cleared; otherwise `name` is set and `url` empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackAction {
    pub kind: String,
    pub text: String,
    pub url: String,
    pub style: String,
    pub name: String,
    pub value: String,
    pub confirm: Option<SlackConfirm>,
}

/// An action's confirmation dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackConfirm {
    pub text: String,
    pub title: String,
    pub ok_text: String,
    pub dismiss_text: String,
}

/// `msteams_configs[i]` (Alertmanager 0.26+) with upstream's defaults and `global.http_config`
/// merged; texts are unexpanded template text.
#[derive(Clone, Debug)]
pub struct MSTeamsConfig {
    pub send_resolved: bool,
    /// `webhook_url` or `webhook_url_file` (re-read and trimmed on every send).
    pub webhook_url: SecretSource,
    pub http_config: RawHttpConfig,
    pub title: String,
    pub summary: String,
    pub text: String,
}

/// `msteamsv2_configs[i]` (Alertmanager 0.28, Teams workflows).
#[derive(Clone, Debug)]
pub struct MSTeamsV2Config {
    pub send_resolved: bool,
    pub webhook_url: SecretSource,
    pub http_config: RawHttpConfig,
    pub title: String,
    pub text: String,
}

/// `rocketchat_configs[i]` (Alertmanager 0.28) with `global.rocketchat_*` merged.
#[derive(Clone, Debug)]
pub struct RocketchatConfig {
    pub send_resolved: bool,
    pub http_config: RawHttpConfig,
    /// `api_url`, `global.rocketchat_api_url` or `https://open.rocket.chat/`.
    pub api_url: String,
    /// Read once when the integration is built (upstream reads them in `New`).
    pub token_id: SecretSource,
    pub token: SecretSource,
    /// Sent as is (not a template in 0.28.0).
    pub channel: String,
    pub color: String,
    pub title: String,
    pub title_link: String,
    pub text: String,
    pub fields: Vec<RocketchatField>,
    pub short_fields: bool,
    pub emoji: String,
    pub icon_url: String,
    pub image_url: String,
    pub thumb_url: String,
    /// Accepted and unused, as upstream.
    pub link_names: bool,
    pub actions: Vec<RocketchatAction>,
}

/// One attachment field; `short: None` takes the config's `short_fields`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RocketchatField {
    pub short: Option<bool>,
    pub title: String,
    pub value: String,
}

/// One attachment button: what upstream sends of an action (templates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RocketchatAction {
    pub text: String,
    pub url: String,
    pub msg: String,
}

/// `jira_configs[i]` (Alertmanager 0.28) with `global.jira_api_url` merged.
#[derive(Clone, Debug)]
pub struct JiraConfig {
    pub send_resolved: bool,
    pub http_config: RawHttpConfig,
    /// The REST API base, e.g. `https://x.atlassian.net/rest/api/2`.
    pub api_url: String,
    pub project: String,
    pub summary: String,
    pub description: String,
    pub labels: Vec<String>,
    pub priority: String,
    pub issue_type: String,
    pub reopen_transition: String,
    pub resolve_transition: String,
    pub wont_fix_resolution: String,
    /// Zero: no limit.
    pub reopen_duration: Duration,
    /// Sent as given, merged over the standard fields.
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// Which PagerDuty API a `pagerduty_configs` entry uses: Events API v1 when a service key
/// is set (upstream's choice when both keys are), else v2. Keys are inline or a file
/// re-read (and trimmed) on every send; both are templates.
#[derive(Clone, Debug)]
pub enum PagerdutyKey {
    /// `service_key(_file)`: posts to upstream's fixed v1 URL.
    Service(SecretSource),
    /// `routing_key(_file)`: posts to `url`.
    Routing(SecretSource),
}

/// `pagerduty_configs[i]` with upstream's defaults (`details` merged with the four default
/// keys, `source` from `client`) and `global.pagerduty_url` merged; texts unexpanded.
#[derive(Clone, Debug)]
pub struct PagerdutyConfig {
    pub send_resolved: bool,
    pub http_config: RawHttpConfig,
    pub key: PagerdutyKey,
    /// The v2 endpoint (`url` or `global.pagerduty_url`).
    pub url: String,
    pub client: String,
    pub client_url: String,
    pub description: String,
    pub details: BTreeMap<String, String>,
    pub images: Vec<PagerdutyImage>,
    pub links: Vec<PagerdutyLink>,
    pub source: String,
    /// Empty = `error` (upstream sets it at the first v2 send).
    pub severity: String,
    pub class: String,
    pub component: String,
    pub group: String,
}

/// A PagerDuty image (v2); dropped from a request when `src` renders empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PagerdutyImage {
    pub src: String,
    pub alt: String,
    pub href: String,
}

/// A PagerDuty link (v2); dropped from a request when `href` renders empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PagerdutyLink {
    pub href: String,
    pub text: String,
}

/// `opsgenie_configs[i]` with upstream's defaults and `global.opsgenie_api_url` /
/// `opsgenie_api_key(_file)` merged; texts unexpanded.
#[derive(Clone, Debug)]
pub struct OpsgenieConfig {
    pub send_resolved: bool,
    pub http_config: RawHttpConfig,
    /// Inline or a file re-read on every send, untrimmed (as 0.25 to 0.28.0); a template.
    pub api_key: SecretSource,
    /// Its path ends with `/` (upstream appends one).
    pub api_url: String,
    pub message: String,
    pub description: String,
    pub source: String,
    pub details: BTreeMap<String, String>,
    pub entity: String,
    pub responders: Vec<OpsgenieResponder>,
    pub actions: String,
    pub tags: String,
    pub note: String,
    pub priority: String,
    pub update_alerts: bool,
}

/// An Opsgenie responder as configured (its `type` is not lowercased: upstream's check
/// lowercases a copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpsgenieResponder {
    pub id: String,
    pub name: String,
    pub username: String,
    pub kind: String,
}

/// `victorops_configs[i]` with upstream's defaults and `global.victorops_api_url` /
/// `victorops_api_key(_file)` merged; texts unexpanded.
#[derive(Clone, Debug)]
pub struct VictorOpsConfig {
    pub send_resolved: bool,
    pub http_config: RawHttpConfig,
    /// Inline or a file re-read (and trimmed) on every send; not a template.
    pub api_key: SecretSource,
    /// Its path ends with `/` (upstream appends one).
    pub api_url: String,
    pub routing_key: String,
    pub message_type: String,
    pub state_message: String,
    pub entity_display_name: String,
    pub monitoring_tool: String,
    pub custom_fields: BTreeMap<String, String>,
}

/// `pushover_configs[i]` with upstream's defaults; texts are unexpanded template text.
#[derive(Clone, Debug)]
pub struct PushoverConfig {
    pub send_resolved: bool,
    pub http_config: RawHttpConfig,
    /// `user_key` or `user_key_file` (read untrimmed on every send, then templated).
    pub user_key: SecretSource,
    /// `token` or `token_file` (likewise).
    pub token: SecretSource,
    pub title: String,
    pub message: String,
    pub url: String,
    pub url_title: String,
    pub device: String,
    pub sound: String,
    pub priority: String,
    pub retry: Duration,
    pub expire: Duration,
    /// Zero = no `ttl` parameter.
    pub ttl: Duration,
    pub html: bool,
}

/// `sns_configs[i]` with upstream's defaults; texts are unexpanded template text.
#[derive(Clone, Debug)]
pub struct SnsConfig {
    pub send_resolved: bool,
    pub http_config: RawHttpConfig,
    /// Template; empty = `https://sns.<region>.amazonaws.com`.
    pub api_url: String,
    pub sigv4: SigV4Config,
    pub topic_arn: String,
    pub phone_number: String,
    pub target_arn: String,
    /// Empty = no `Subject` parameter.
    pub subject: String,
    pub message: String,
    /// Template keys and values.
    pub attributes: BTreeMap<String, String>,
}

/// `sns_configs[i].sigv4`: empty fields come from the environment (see `notify::sns`).
#[derive(Clone, Debug, Default)]
pub struct SigV4Config {
    pub region: String,
    pub access_key: String,
    pub secret_key: crate::base::Secret,
    pub profile: String,
    pub role_arn: String,
}

/// `discord_configs[i]`; templates are still unexpanded template text.
#[derive(Clone, Debug)]
pub struct DiscordConfig {
    pub send_resolved: bool,
    pub webhook_url: SecretSource,
    pub title: String,
    pub message: String,
    pub content: String,
    pub username: String,
    pub avatar_url: String,
    pub http_config: RawHttpConfig,
    /// blackwatch extension (`digest: true`): one embed per alert.
    pub digest: bool,
}

/// `host:port` of an SMTP smarthost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: String,
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// `email_configs[i]` with the `global.smtp_*` defaults merged in.
#[derive(Clone, Debug)]
pub struct EmailConfig {
    pub send_resolved: bool,
    /// Template text; comma-separated addresses after expansion.
    pub to: String,
    pub from: String,
    pub smarthost: HostPort,
    pub hello: String,
    pub auth_username: String,
    pub auth_password: Option<SecretSource>,
    pub auth_secret: Option<SecretSource>,
    pub auth_identity: String,
    pub require_tls: bool,
    /// `None`: implicit TLS iff the port is 465.
    pub force_implicit_tls: Option<bool>,
    pub tls_config: RawTlsConfig,
    /// Canonical header names (`Subject`, `X-Foo`) → template text.
    pub headers: BTreeMap<String, String>,
    /// Empty = no HTML part.
    pub html: String,
    /// Empty = no text part.
    pub text: String,
}

/// `webhook_configs[i]`.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub send_resolved: bool,
    pub url: SecretSource,
    /// 0 = no limit.
    pub max_alerts: u64,
    /// Zero = no per-request timeout.
    pub timeout: Duration,
    pub http_config: RawHttpConfig,
}

/// Reads and validates a standalone `alertmanager.yml`.
pub fn load_file(path: &Path) -> Result<AlertingConfig, ConfigErrors> {
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigErrors::single(ConfigError::file_level(
            path,
            format!("error reading alerting config file: {e}"),
        ))
    })?;
    let text = crate::base::yaml::utf8_text(bytes, path).map_err(ConfigErrors::single)?;
    load_str(&text, path)
}

/// Validates `alertmanager.yml` text; `file` names it in errors and anchors relative paths.
pub fn load_str(text: &str, file: &Path) -> Result<AlertingConfig, ConfigErrors> {
    let raw: RawAlertingConfig = crate::base::yaml::parse(text, file)?;
    let mut errors = Vec::new();
    if let Some(cf) = &raw.config_file {
        errors.push(ConfigError::at(file, cf.referenced, "config_file".to_string(), "field config_file not found in type config.plain (`config_file` is only valid under `alerting:` in blackwatch.yml)".to_string()));
    }
    let base_dir = file.parent().unwrap_or_else(|| Path::new("."));
    match validate::alerting(&raw, file, base_dir, "", serde_saphyr::Location::UNKNOWN) {
        Ok(cfg) if errors.is_empty() => Ok(cfg),
        Ok(_) => Err(ConfigErrors::sorted(errors)),
        Err(e) => {
            errors.extend(e);
            Err(ConfigErrors::sorted(errors))
        }
    }
}

/// Validates the `alerting:` section of blackwatch.yml (`file`, relative paths against
/// `base_dir`): an inline alertmanager.yml document, or `{config_file: path}` naming one
/// (relative to `base_dir`; its errors name that file). Returns the config and, for
/// `config_file`, the path read, so a reload can notice changes to it.
pub fn from_section(
    section: &serde_saphyr::Spanned<RawAlertingConfig>,
    file: &Path,
    base_dir: &Path,
) -> Result<(AlertingConfig, Option<PathBuf>), Vec<ConfigError>> {
    let raw = &section.value;
    let Some(cf) = &raw.config_file else {
        return validate::alerting(raw, file, base_dir, "alerting", section.referenced)
            .map(|c| (c, None));
    };
    let inline_keys = raw.global.is_some()
        || raw.route.is_some()
        || !raw.receivers.is_empty()
        || !raw.inhibit_rules.is_empty()
        || !raw.time_intervals.is_empty()
        || !raw.mute_time_intervals.is_empty()
        || !raw.templates.is_empty()
        || raw.tracing.is_some();
    if inline_keys {
        return Err(vec![ConfigError {
            file: file.to_path_buf(),
            line: cf.referenced.line(),
            column: cf.referenced.column(),
            path: "alerting.config_file".to_string(),
            message: "`config_file` cannot be combined with inline alertmanager.yml keys"
                .to_string(),
        }]);
    }
    if cf.value.is_empty() {
        return Err(vec![ConfigError::at(
            file,
            cf.referenced,
            "alerting.config_file".to_string(),
            "`config_file` must name a file".to_string(),
        )]);
    }
    let path = base_dir.join(&cf.value);
    match load_file(&path) {
        Ok(c) => Ok((c, Some(path))),
        Err(e) => Err(e.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_errors_do_not_echo_the_secret() {
        let yaml = "route: {receiver: r}\nreceivers:\n  - name: r\n    webhook_configs:\n      - url: 'ftp://user:hunter2@example.org/x'\n    discord_configs:\n      - webhook_url: 'https://discord.com/api/webhooks/1/hunter2 x'\n";
        let e = load_str(yaml, Path::new("am.yml")).unwrap_err().to_string();
        assert!(e.contains("unsupported scheme \"ftp\""), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    /// `http_config`'s oauth2 and proxy rules with prometheus/common's texts, each at its
    /// field.
    #[test]
    fn http_config_oauth2_and_proxy_rules() {
        let errs = |http_config: &str| {
            let yaml = format!(
                "route: {{receiver: r}}\nreceivers:\n  - name: r\n    webhook_configs:\n      - url: http://hook.test/\n        http_config:\n{http_config}"
            );
            match load_str(&yaml, Path::new("am.yml")) {
                Ok(_) => Vec::new(),
                Err(e) => {
                    e.0.iter()
                        .map(|e| format!("{}: {}", e.path, e.message))
                        .collect()
                }
            }
        };
        let p = "receivers[0].webhook_configs[0].http_config";
        let ok = "          oauth2: {client_id: a, client_secret: s, token_url: 'http://t/'}\n";
        assert_eq!(errs(ok), Vec::<String>::new());
        assert_eq!(
            errs("          oauth2: {client_id: a, token_url: 'http://t/'}\n          bearer_token: x\n"),
            [format!("{p}: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured")]
        );
        assert_eq!(
            errs("          oauth2: {client_id: a, token_url: 'http://t/'}\n          basic_auth: {username: u}\n"),
            [format!("{p}: at most one of basic_auth, oauth2 & authorization must be configured")]
        );
        assert_eq!(
            errs("          oauth2: {client_id: a, token_url: 'http://t/'}\n          authorization: {credentials: c}\n"),
            [format!("{p}: at most one of basic_auth, oauth2 & authorization must be configured")]
        );
        assert_eq!(
            errs("          oauth2: {token_url: 'http://t/', client_secret: s, client_secret_file: f}\n"),
            [
                format!("{p}.oauth2.client_id: oauth2 client_id must be configured"),
                format!("{p}.oauth2.client_secret: at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured"),
            ]
        );
        assert_eq!(
            errs("          oauth2: {client_id: a, token_url: 'http://t/', no_proxy: x}\n"),
            [format!(
                "{p}.oauth2.no_proxy: if no_proxy is configured, proxy_url must also be configured"
            )]
        );
        assert_eq!(
            errs("          proxy_url: 'http://p:3128'\n          proxy_from_environment: true\n"),
            [format!("{p}.proxy_from_environment: if proxy_from_environment is configured, proxy_url must not be configured")]
        );
        assert_eq!(
            errs("          proxy_from_environment: true\n          no_proxy: a\n"),
            [
                format!("{p}.proxy_from_environment: if proxy_from_environment is configured, no_proxy must not be configured"),
                format!("{p}.no_proxy: if no_proxy is configured, proxy_url must also be configured"),
            ]
        );
        assert_eq!(
            errs("          proxy_connect_header: {X-A: [b]}\n"),
            [format!("{p}.proxy_connect_header: if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured")]
        );
        assert_eq!(
            errs("          proxy_url: 'socks4://p:1080'\n"),
            [format!(
                "{p}.proxy_url: unsupported proxy scheme \"socks4\": use http, https or socks5"
            )]
        );
        assert_eq!(
            errs("          proxy_url: 'socks5://p:1080'\n          no_proxy: '.corp,10.0.0.0/8'\n          proxy_connect_header: {Proxy-Authorization: [x]}\n"),
            Vec::<String>::new()
        );
    }
}
