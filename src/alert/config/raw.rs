//! Serde structs one-to-one with Alertmanager's `alertmanager.yml` (the `alerting:` section
//! of `blackwatch.yml`, or the file it names). They hold upstream defaults and no logic:
//! `validate.rs` turns them into the domain types of `super` and checks every rule.
//!
//! Every struct denies unknown fields, as upstream's strict YAML unmarshalling does. Keys
//! upstream knows but blackwatch does not implement (other integrations, OAuth2, …) are
//! accepted as `Unsupported` so validation can reject them by name with "not supported yet".
//! Secrets are `config::raw::Secret` and serialize as `<secret>`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::base::units::PromDuration;
use crate::base::yaml::{unspanned, Unsupported};
use crate::base::Secret;
use crate::client::raw::http_client_config;
use crate::client::raw::RawTlsConfig;

fn is_false(b: &bool) -> bool {
    !*b
}

/// The top level of `alertmanager.yml`. In `blackwatch.yml` the same mapping may instead be
/// `{config_file: path}`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertingConfig {
    /// blackwatch only: load this alertmanager.yml (relative to the config file) instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<Spanned<RawGlobal>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Spanned<RawRoute>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receivers: Vec<Spanned<RawReceiver>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inhibit_rules: Vec<Spanned<RawInhibitRule>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_intervals: Vec<Spanned<RawTimeIntervalSet>>,
    /// Deprecated alias of `time_intervals`, still loaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mute_time_intervals: Vec<Spanned<RawTimeIntervalSet>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<Spanned<String>>,
    /// Accepted and ignored (upstream's OpenTelemetry tracing of itself).
    #[serde(default, skip_serializing)]
    pub tracing: Option<Unsupported>,
}

/// `global:`. Keys of integrations blackwatch does not build are accepted and ignored, as
/// they only matter to those integrations' configs, which are rejected by name.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    #[serde(default = "default_resolve_timeout")]
    pub resolve_timeout: PromDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub smtp_from: String,
    #[serde(default = "localhost")]
    pub smtp_hello: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_smarthost: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub smtp_auth_username: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub smtp_auth_password: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub smtp_auth_password_file: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub smtp_auth_secret: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub smtp_auth_secret_file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub smtp_auth_identity: String,
    #[serde(default = "yes")]
    pub smtp_require_tls: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_tls_config: Option<Spanned<RawTlsConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_force_implicit_tls: Option<bool>,
    /// blackwatch extension (alertmanager #226, #2754): an alert notified as firing that
    /// resolves while inhibited or silenced still gets its resolved notice. `false` restores
    /// upstream's behaviour.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub resolved_after_mute: bool,

    // Other integrations' globals: their URLs are checked as upstream checks them (so a file
    // amtool rejects is rejected), the rest accepted and ignored.
    /// The default `api_url` of `slack_configs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_api_url: Option<Spanned<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_api_url_file: Option<Spanned<String>>,
    // Newer than Alertmanager 0.28 (Slack app tokens): accepted and ignored, like the
    // other integrations' globals below.
    #[serde(default, skip_serializing)]
    pub slack_app_token: Option<Unsupported>,
    #[serde(default, skip_serializing)]
    pub slack_app_token_file: Option<Unsupported>,
    #[serde(default, skip_serializing)]
    pub slack_app_url: Option<Unsupported>,
    #[serde(default, skip_serializing)]
    pub pagerduty_url: Option<Spanned<String>>,
    #[serde(default, skip_serializing)]
    pub opsgenie_api_url: Option<Spanned<String>>,
    /// The default `api_key(_file)` of `opsgenie_configs`.
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub opsgenie_api_key: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub opsgenie_api_key_file: String,
    /// The defaults of `wechat_configs`: `api_url`, `api_secret`, `corp_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_api_url: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_api_secret: Option<Spanned<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_api_corp_id: Option<String>,
    #[serde(default, skip_serializing)]
    pub victorops_api_url: Option<Spanned<String>>,
    /// The default `api_key(_file)` of `victorops_configs`.
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub victorops_api_key: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub victorops_api_key_file: String,
    /// The default `api_url` of `telegram_configs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_api_url: Option<Spanned<String>>,
    /// The default `api_url` of `webex_configs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webex_api_url: Option<Spanned<String>>,
    /// The default `api_url` of `rocketchat_configs` (upstream's default
    /// `https://open.rocket.chat/` applies when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_api_url: Option<Spanned<String>>,
    /// The default `token` / `token_id` of `rocketchat_configs` (each with its `_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_token: Option<Spanned<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_token_file: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_token_id: Option<Spanned<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rocketchat_token_id_file: Option<Spanned<String>>,
    /// The default `api_url` of `jira_configs` (no default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira_api_url: Option<Spanned<String>>,
    #[serde(default, skip_serializing)]
    pub mattermost_webhook_url: Option<Unsupported>,
    #[serde(default, skip_serializing)]
    pub mattermost_webhook_url_file: Option<Unsupported>,
}

impl Default for RawGlobal {
    fn default() -> Self {
        crate::base::yaml::from_str("{}")
            .unwrap_or_else(|_| unreachable!("`{{}}` is a valid global block"))
    }
}

fn default_resolve_timeout() -> PromDuration {
    PromDuration(Duration::from_secs(300))
}
fn localhost() -> String {
    "localhost".to_string()
}
fn is_true(b: &bool) -> bool {
    *b
}

fn yes() -> bool {
    true
}

http_client_config! {
    /// prometheus/common `HTTPClientConfig` as integrations use it (`http_config:`); no
    /// `tls_config` means the shared client's TLS settings.
    #[derive(Clone, Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawHttpConfig {}
    tls_config: #[serde(default, skip_serializing_if = "Option::is_none")] Option<Spanned<RawTlsConfig>>;
}

impl Default for RawHttpConfig {
    fn default() -> Self {
        crate::base::yaml::from_str("{}")
            .unwrap_or_else(|_| unreachable!("`{{}}` is a valid http_config"))
    }
}

/// One node of the routing tree.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default, rename = "match", skip_serializing_if = "BTreeMap::is_empty")]
    pub match_: BTreeMap<String, Spanned<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_re: BTreeMap<String, Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<Spanned<String>>,
    #[serde(default, rename = "continue", skip_serializing_if = "is_false")]
    pub continue_: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Spanned<RawRoute>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<Spanned<PromDuration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<Spanned<PromDuration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<Spanned<PromDuration>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mute_time_intervals: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_time_intervals: Vec<Spanned<String>>,
    /// Alertmanager 0.34's templated route labels: rejected as not supported yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Spanned<Unsupported>>,
    /// blackwatch extension (alertmanager #1510): flush a group as soon as all of its alerts
    /// are resolved instead of at the next `group_interval` tick. Inherited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_on_resolve: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawReceiver {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<String>>,
    /// 0.33+: labels shown by `GET /api/v2/receivers`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discord_configs: Vec<Spanned<RawDiscordConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email_configs: Vec<Spanned<RawEmailConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_configs: Vec<Spanned<RawWebhookConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slack_configs: Vec<Spanned<RawSlackConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub msteams_configs: Vec<Spanned<RawMSTeamsConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub msteamsv2_configs: Vec<Spanned<RawMSTeamsV2Config>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jira_configs: Vec<Spanned<RawJiraConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rocketchat_configs: Vec<Spanned<RawRocketchatConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pagerduty_configs: Vec<Spanned<RawPagerdutyConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub opsgenie_configs: Vec<Spanned<RawOpsgenieConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub victorops_configs: Vec<Spanned<RawVictorOpsConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wechat_configs: Vec<Spanned<RawWechatConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub telegram_configs: Vec<Spanned<RawTelegramConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webex_configs: Vec<Spanned<RawWebexConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pushover_configs: Vec<Spanned<RawPushoverConfig>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sns_configs: Vec<Spanned<RawSnsConfig>>,

    // Integrations upstream has and blackwatch does not (yet): rejected by name.
    #[serde(default, skip_serializing)]
    pub mattermost_configs: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing)]
    pub incidentio_configs: Option<Spanned<Unsupported>>,
}

impl RawReceiver {
    /// The integrations that are rejected, with their key names.
    pub fn unsupported(&self) -> [(&'static str, &Option<Spanned<Unsupported>>); 2] {
        [
            ("mattermost_configs", &self.mattermost_configs),
            ("incidentio_configs", &self.incidentio_configs),
        ]
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiscordConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<Spanned<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url_file: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub avatar_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    /// blackwatch extension: one embed per alert within Discord's limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmailConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smarthost: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hello: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth_username: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub auth_password: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth_password_file: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub auth_secret: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth_secret_file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth_identity: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_implicit_tls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<Spanned<RawTlsConfig>>,
    /// 0.30+ e-mail threading: rejected as not supported yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threading: Option<Spanned<Unsupported>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhookConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Spanned<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_file: Option<Spanned<String>>,
    #[serde(default)]
    pub max_alerts: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<PromDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    /// 0.32+ custom payload templates: rejected as not supported yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Spanned<Unsupported>>,
}

/// `slack_configs[i]` (Alertmanager 0.25's `SlackConfig`; 0.28 has the same fields). Template
/// fields left out take upstream's defaults in validation; an explicit `''` stays empty.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<Spanned<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url_file: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretext: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Spanned<RawSlackField>>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub short_fields: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_emoji: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_url: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub link_names: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mrkdwn_in: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Spanned<RawSlackAction>>,

    // Newer than Alertmanager 0.28 (bot tokens, message updates, per-request timeout,
    // top-level text): rejected by name.
    #[serde(default, skip_serializing)]
    pub app_token: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing)]
    pub app_token_file: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing)]
    pub app_url: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing)]
    pub update_message: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing)]
    pub message_text: Option<Spanned<Unsupported>>,
    #[serde(default, skip_serializing)]
    pub timeout: Option<Spanned<Unsupported>>,
}

impl RawSlackConfig {
    /// The keys newer than Alertmanager 0.28, rejected by name.
    pub fn unsupported(&self) -> [(&'static str, &Option<Spanned<Unsupported>>); 6] {
        [
            ("app_token", &self.app_token),
            ("app_token_file", &self.app_token_file),
            ("app_url", &self.app_url),
            ("update_message", &self.update_message),
            ("message_text", &self.message_text),
            ("timeout", &self.timeout),
        ]
    }
}

/// `slack_configs[i].fields[j]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackField {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short: Option<bool>,
}

/// `slack_configs[i].actions[j]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackAction {
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub style: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Spanned<RawSlackConfirm>>,
}

/// `actions[j].confirm`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackConfirm {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ok_text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dismiss_text: String,
}

/// `msteams_configs[i]` (Alertmanager 0.26+; `summary` and `webhook_url_file` 0.27+).
/// Template fields left out take upstream's defaults in validation.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMSTeamsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<Spanned<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url_file: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `msteamsv2_configs[i]` (Alertmanager 0.28: Teams workflows / Power Automate).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMSTeamsV2Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<Spanned<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url_file: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `rocketchat_configs[i]` (Alertmanager 0.28). `short_fields` and `link_names` are always
/// dumped, as upstream's struct has no `omitempty` for them.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRocketchatConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<Spanned<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id_file: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Spanned<Secret>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<RawRocketchatField>,
    #[serde(default)]
    pub short_fields: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub thumb_url: String,
    /// Accepted and unused, as upstream.
    #[serde(default)]
    pub link_names: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<RawRocketchatAction>,
}

/// `rocketchat_configs[i].fields[j]`: upstream's struct has no YAML tags, so the keys are
/// its lower-cased Go field names.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRocketchatField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short: Option<bool>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// `rocketchat_configs[i].actions[j]`, keys as yaml.v2 derives them from upstream's
/// untagged Go struct (`imageurl`, `iswebview`, …). Only `text`, `url` and `msg` are sent
/// (as buttons), as upstream.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRocketchatAction {
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub imageurl: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub iswebview: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub webviewheightratio: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub msg: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub msginchatwindow: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub msgprocessingtype: String,
}

/// `jira_configs[i]` (Alertmanager 0.28). Authentication is `http_config`'s.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawJiraConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issue_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reopen_transition: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resolve_transition: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wont_fix_resolution: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopen_duration: Option<PromDuration>,
    /// Custom and standard issue fields, sent as given (not templated), as upstream.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawInhibitRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_match: BTreeMap<String, Spanned<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_match_re: BTreeMap<String, Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_matchers: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_match: BTreeMap<String, Spanned<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_match_re: BTreeMap<String, Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_matchers: Vec<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equal: Vec<Spanned<String>>,
}

/// `time_intervals[i]`: a name and the specs it ORs.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeIntervalSet {
    #[serde(default = "unspanned")]
    pub name: Spanned<String>,
    #[serde(default)]
    pub time_intervals: Vec<Spanned<RawTimeIntervalSpec>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeIntervalSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<Vec<Spanned<RawTimeRange>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<Vec<Spanned<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_of_month: Option<Vec<Spanned<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months: Option<Vec<Spanned<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<Vec<Spanned<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Spanned<String>>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeRange {
    #[serde(default)]
    pub start_time: String,
    #[serde(default)]
    pub end_time: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_deserialize() {
        let g = RawGlobal::default();
        assert_eq!(g.resolve_timeout.0, Duration::from_secs(300));
        assert_eq!(g.smtp_hello, "localhost");
        assert!(g.smtp_require_tls);
        let h = RawHttpConfig::default();
        assert!(h.follow_redirects && h.enable_http2);
    }
}

/// `pagerduty_configs[i]` (Alertmanager 0.25's `PagerdutyConfig`; 0.28 has the same fields).
/// Template fields left out take upstream's defaults in validation; an explicit `''` stays
/// empty.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagerdutyConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub service_key: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_key_file: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub routing_key: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub routing_key_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<RawPagerdutyImage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<RawPagerdutyLink>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub severity: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub class: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub component: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
}

/// `config.PagerdutyImage`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagerdutyImage {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub src: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alt: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub href: String,
}

/// `config.PagerdutyLink`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagerdutyLink {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub href: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
}

/// `opsgenie_configs[i]` (Alertmanager 0.25's `OpsGenieConfig`; 0.28 has the same fields).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpsgenieConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub api_key: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_key_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub entity: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responders: Vec<Spanned<RawOpsgenieResponder>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub actions: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tags: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub priority: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub update_alerts: bool,
}

/// `config.OpsGenieConfigResponder`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpsgenieResponder {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
}

/// `victorops_configs[i]` (Alertmanager 0.25's `VictorOpsConfig`; 0.28 has the same fields).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawVictorOpsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub api_key: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_key_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<Spanned<String>>,
    #[serde(default)]
    pub routing_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring_tool: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: BTreeMap<String, String>,
}

/// `telegram_configs[i]` (Alertmanager 0.28's `TelegramConfig`: `bot_token_file` is 0.26+,
/// `message_thread_id` 0.28+). `message` and `parse_mode` left out take upstream's defaults;
/// an explicit `parse_mode: ''` means plain text.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelegramConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub bot_token: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bot_token_file: String,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub chat_id: i64,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub message_thread_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable_notifications: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<String>,
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// `webex_configs[i]` (the same fields in 0.25 and 0.28). The bearer token is the
/// receiver's own `http_config.authorization`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebexConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default)]
    pub room_id: String,
}

/// `wechat_configs[i]` (the same fields in 0.25 and 0.28; no `_file` variant). Template
/// fields left out take upstream's defaults.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWechatConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub api_secret: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub corp_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<Spanned<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_party: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message_type: String,
}

/// `pushover_configs[i]` (Alertmanager 0.28's `PushoverConfig`: 0.25's fields plus
/// `user_key_file`, `token_file`, `device` and `ttl`). Template fields left out take
/// upstream's defaults in validation; an explicit `''` stays empty.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPushoverConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub user_key: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_key_file: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub token: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token_file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url_title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sound: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(
        default,
        with = "crate::base::units::opt_go_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry: Option<Duration>,
    #[serde(
        default,
        with = "crate::base::units::opt_go_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub expire: Option<Duration>,
    #[serde(
        default,
        with = "crate::base::units::opt_go_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl: Option<Duration>,
    #[serde(default)]
    pub html: bool,
    /// 0.29+ (`monospace`): rejected by name.
    #[serde(default, skip_serializing)]
    pub monospace: Option<Spanned<Unsupported>>,
}

/// `sns_configs[i]` (Alertmanager 0.25 and 0.28 alike). `sigv4` is always dumped, as
/// upstream's field has no `omitempty`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSnsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_resolved: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_config: Option<Spanned<RawHttpConfig>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_url: String,
    #[serde(default)]
    pub sigv4: RawSigV4Config,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic_arn: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phone_number: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// prometheus/common `sigv4.SigV4Config` (sigv4/v0.1.0, what Alertmanager 0.25 to 0.28 use).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSigV4Config {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access_key: String,
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub secret_key: Secret,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub profile: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role_arn: String,
}
