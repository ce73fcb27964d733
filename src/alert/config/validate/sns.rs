//! `sns_configs`: upstream's `SNSConfig.UnmarshalYAML` (exactly one of `target_arn`,
//! `topic_arn`, `phone_number` — or all three, as its chained `!=` lets through) and
//! prometheus/common's `SigV4Config.Validate`; `DefaultSNSConfig`. `api_url` is a template
//! and, as upstream, not checked as a URL.

use super::*;

/// Alertmanager's `DefaultSNSConfig` (0.25 to 0.28).
const SUBJECT: &str = r#"{{ template "sns.default.subject" . }}"#;
const MESSAGE: &str = r#"{{ template "sns.default.message" . }}"#;

/// One `sns_configs` entry (upstream decodes `sigv4` first, so its error wins).
pub(super) fn sns_config(
    cx: &mut Cx,
    p: &str,
    c: &Spanned<RawSnsConfig>,
    global_http: Option<&RawHttpConfig>,
) -> Option<SnsConfig> {
    let v = &c.value;
    let before = cx.errors.len();
    if let Some(h) = &v.http_config {
        http_config(cx, &format!("{p}.http_config"), h);
    }
    let s = &v.sigv4;
    if s.access_key.is_empty() != s.secret_key.is_empty() {
        cx.err(
            &c.referenced,
            &format!("{p}.sigv4"),
            "must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config",
        );
        return None;
    }
    // Upstream's `(a == "") != (b == "") != (c == "")`: an odd number of empty fields fails.
    if (v.target_arn.is_empty() != v.topic_arn.is_empty()) != v.phone_number.is_empty() {
        cx.err(
            &c.referenced,
            p,
            "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config",
        );
        return None;
    }
    if cx.errors.len() > before {
        return None;
    }
    Some(SnsConfig {
        send_resolved: v.send_resolved.unwrap_or(true),
        http_config: v
            .http_config
            .as_ref()
            .map(|h| h.value.clone())
            .or_else(|| global_http.cloned())
            .unwrap_or_default(),
        api_url: v.api_url.clone(),
        sigv4: SigV4Config {
            region: s.region.clone(),
            access_key: s.access_key.clone(),
            secret_key: s.secret_key.clone(),
            profile: s.profile.clone(),
            role_arn: s.role_arn.clone(),
        },
        topic_arn: v.topic_arn.clone(),
        phone_number: v.phone_number.clone(),
        target_arn: v.target_arn.clone(),
        subject: v.subject.clone().unwrap_or_else(|| SUBJECT.into()),
        message: v.message.clone().unwrap_or_else(|| MESSAGE.into()),
        attributes: v.attributes.clone(),
    })
}
