//! Amazon SNS as Alertmanager 0.28 sends it (`notify/sns/sns.go` on aws-sdk-go v1): one
//! `Publish` call of the AWS Query protocol — a form body (`Action=Publish`, `Message`,
//! `MessageAttributes.entry.N.*`, `Subject`, `TopicArn` / `PhoneNumber` / `TargetArn`,
//! `Version=2010-03-31`, keys sorted as Go's `url.Values.Encode`) `POST`ed to `api_url` (a
//! template) or `https://sns.<region>.amazonaws.com`, with a `/` appended to the path as the
//! SDK does, signed with AWS Signature Version 4 (service `sns`) by the `aws-sigv4` crate.
//!
//! - FIFO topics (a templated `topic_arn` ending in `.fifo`) get `MessageGroupId` and
//!   `MessageDeduplicationId`, both the SHA-256 of the group key (upstream's `Key.Hash`).
//! - The message is cut at 262144 bytes (1600 when `phone_number` is set) with no marker, as
//!   upstream, and the attribute `truncated=true` added; an attribute-less request still
//!   carries `MessageAttributes=` as the SDK sends it.
//! - Credentials: `sigv4.access_key` + `secret_key`; else, as the SDK's default chain, the
//!   shared credentials file's `sigv4.profile` when one is named, the environment
//!   (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, or the legacy
//!   `AWS_ACCESS_KEY` / `AWS_SECRET_KEY`), then the shared credentials file
//!   (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`, profile `AWS_PROFILE` or
//!   `default`). EC2 / ECS instance roles, SSO and `credential_process` are not supported.
//!   With `role_arn` those credentials call STS `AssumeRole` (the global endpoint
//!   `sts.amazonaws.com`, as aws-sdk-go v1) and the temporary credentials are kept until
//!   a minute before they expire. The region is `sigv4.region`, else `AWS_REGION`, else
//!   `AWS_DEFAULT_REGION`.
//!
//! Answers: 2xx success; 5xx, 429 and the `Throttling` error code retryable (the SDK retries
//! those itself three times before Alertmanager sees them; here the retry loop does, and a
//! 429's `Retry-After` is honoured); any other status final, with AWS's error `Message` as
//! upstream reports it (`unexpected status code 400: Invalid parameter: TopicArn`).
//! Template errors are final and name the field as 0.28 does (`execute 'topic_arn'
//! template: …`; 0.28 marks them retryable, but retrying renders the same text, and 0.25
//! sent the request with the field empty). No credential is ever in an error or a log line.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use sha2::{Digest, Sha256};

use super::http_api::{HttpResponse, JsonClient, TmplText};
use super::render::TemplateSet;
use super::{Batch, FailReason, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::{SigV4Config, SnsConfig};
use crate::alert::store::Alert;
use crate::base::{gostr, Secret};

/// `Publish`'s message limit (256 KiB) and an SMS's (1600 bytes, upstream counts bytes).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
pub const MAX_SMS_BYTES: usize = 1600;

/// The STS endpoint aws-sdk-go v1 uses by default (signed for `us-east-1`).
pub const STS_URL: &str = "https://sts.amazonaws.com/";

/// Temporary credentials are renewed this long before they expire.
const EXPIRY_WINDOW: Duration = Duration::from_secs(60);

/// AWS credentials for one request. `Debug` shows the access key id only.
#[derive(Clone)]
pub struct AwsCredentials {
    pub access_key: String,
    pub secret_key: Secret,
    pub session_token: Option<Secret>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AwsCredentials({})", self.access_key)
    }
}

/// A validated `sns_configs` entry, ready to send.
pub struct Sns {
    conf: SnsConfig,
    templates: Arc<TemplateSet>,
    http: JsonClient,
    /// `AssumeRole`'s credentials and when they expire.
    assumed: Mutex<Option<(AwsCredentials, SystemTime)>>,
}

/// What one `Publish` sends: the endpoint, the region to sign for and the form pairs (values
/// as bytes: a message cut inside a rune is sent as Go sends it).
#[derive(Clone, Debug, PartialEq)]
pub struct Publish {
    pub url: String,
    pub region: String,
    pub params: Vec<(String, Vec<u8>)>,
}

impl Sns {
    pub fn new(
        conf: SnsConfig,
        templates: Arc<TemplateSet>,
        shared: &reqwest::Client,
        base_dir: &Path,
    ) -> Result<Self, NotifyError> {
        let http = JsonClient::new(&conf.http_config, shared, base_dir)?;
        Ok(Self {
            conf,
            templates,
            http,
            assumed: Mutex::new(None),
        })
    }

    /// The request for `alerts`, rendered and checked in upstream 0.28's order (which
    /// decides which template error is reported).
    pub fn publish(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<Publish, NotifyError> {
        let c = &self.conf;
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let api_url = t.text(&c.api_url);
        check(&t, "api_url")?;
        let region = region(&c.sigv4)?;
        let url = endpoint(&api_url, &region);

        let mut attributes = BTreeMap::new();
        for (k, v) in &c.attributes {
            let k = t.text(k);
            attributes.insert(k, t.text(v));
        }
        check(&t, "attributes")?;
        let mut p: Vec<(String, Vec<u8>)> = vec![
            ("Action".into(), b"Publish".to_vec()),
            ("Version".into(), b"2010-03-31".to_vec()),
        ];
        let mut limit = MAX_MESSAGE_BYTES;
        if !c.topic_arn.is_empty() {
            let topic = t.text(&c.topic_arn);
            check(&t, "topic_arn")?;
            if topic.ends_with(".fifo") {
                let hash = format!("{:x}", Sha256::digest(ctx.group_key.as_bytes()));
                p.push(("MessageDeduplicationId".into(), hash.clone().into_bytes()));
                p.push(("MessageGroupId".into(), hash.into_bytes()));
            }
            p.push(("TopicArn".into(), bytes(&topic)));
        }
        if !c.phone_number.is_empty() {
            let phone = t.text(&c.phone_number);
            check(&t, "phone_number")?;
            p.push(("PhoneNumber".into(), bytes(&phone)));
            limit = MAX_SMS_BYTES;
        }
        if !c.target_arn.is_empty() {
            let target = t.text(&c.target_arn);
            check(&t, "target_arn")?;
            p.push(("TargetArn".into(), bytes(&target)));
        }
        let message = t.text(&c.message);
        check(&t, "message")?;
        let mut message = gostr::to_bytes(&message).into_owned();
        if std::str::from_utf8(&message).is_err() {
            return Err(NotifyError::new(
                false,
                FailReason::ClientError,
                "non utf8 encoded message string",
            ));
        }
        if message.len() > limit {
            // Upstream keeps the first `limit` bytes, no marker, even inside a rune.
            message.truncate(limit);
            attributes.insert("truncated".into(), "true".into());
            tracing::warn!(
                message = "Truncated field",
                integration = "sns",
                field = "message",
                key = %ctx.group_key,
                max_bytes = limit
            );
        }
        p.push(("Message".into(), message));
        if attributes.is_empty() {
            p.push(("MessageAttributes".into(), Vec::new()));
        }
        for (n, (k, v)) in attributes.iter().enumerate() {
            let e = format!("MessageAttributes.entry.{}", n + 1);
            p.push((format!("{e}.Name"), bytes(k)));
            p.push((format!("{e}.Value.DataType"), b"String".to_vec()));
            p.push((format!("{e}.Value.StringValue"), bytes(v)));
        }
        if !c.subject.is_empty() {
            let subject = t.text(&c.subject);
            check(&t, "subject")?;
            p.push(("Subject".into(), bytes(&subject)));
        }
        crate::base::sort::sort_by(&mut p, |a, b| a.0.cmp(&b.0));
        Ok(Publish {
            url,
            region,
            params: p,
        })
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let publish = self.publish(ctx, &alerts.to_alerts())?;
        let creds = self.credentials(ctx.now).await?;
        let body = encode(&publish.params);
        let resp = self
            .signed_post(&publish.url, &publish.region, "sns", &creds, body, ctx.now)
            .await?;
        check_answer(&resp)
    }

    /// The credentials to sign with: `AssumeRole`'s when `role_arn` is set (renewed before
    /// they expire), else the base chain's.
    async fn credentials(&self, now: SystemTime) -> Result<AwsCredentials, NotifyError> {
        let base = base_credentials(&self.conf.sigv4, &|k| std::env::var(k).ok())?;
        if self.conf.sigv4.role_arn.is_empty() {
            return Ok(base);
        }
        let wall = crate::clock::Now::read().wall;
        if let Ok(guard) = self.assumed.lock() {
            if let Some((creds, expires)) = guard.as_ref() {
                if wall + EXPIRY_WINDOW < *expires {
                    return Ok(creds.clone());
                }
            }
        }
        let body = assume_role_body(&self.conf.sigv4.role_arn, wall);
        let resp = self
            .signed_post(STS_URL, "us-east-1", "sts", &base, body, now)
            .await?;
        check_answer(&resp).map_err(|mut e| {
            e.message = format!("sts AssumeRole: {}", e.message);
            e
        })?;
        let (creds, expires) = parse_assume_role(&resp.body).ok_or_else(|| {
            NotifyError::new(
                true,
                FailReason::Other,
                "sts AssumeRole: no credentials in the answer",
            )
        })?;
        if let Ok(mut guard) = self.assumed.lock() {
            *guard = Some((creds.clone(), expires));
        }
        Ok(creds)
    }

    /// `POST url` with a form `body`, signed with SigV4 for `service` in `region` at the
    /// current wall time (a retry minutes after the flush still signs a fresh time).
    async fn signed_post(
        &self,
        url: &str,
        region: &str,
        service: &str,
        creds: &AwsCredentials,
        body: String,
        now: SystemTime,
    ) -> Result<HttpResponse, NotifyError> {
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let signed = sign_headers(
            url,
            region,
            service,
            creds,
            content_type,
            body.as_bytes(),
            crate::clock::Now::read().wall,
        )?;
        let mut headers = vec![
            (http::header::CONTENT_TYPE, content_type.to_string()),
            (http::header::CONTENT_LENGTH, body.len().to_string()),
        ];
        headers.extend(signed);
        self.http.post(url, &headers, body, None, now).await
    }
}

/// 0.28's template check between fields: the first error, named after the field.
fn check(t: &TmplText<'_>, field: &str) -> Result<(), NotifyError> {
    match t.failed() {
        None => Ok(()),
        Some(e) => Err(NotifyError::new(
            false,
            FailReason::ClientError,
            format!("execute '{field}' template: {e}"),
        )),
    }
}

fn bytes(s: &str) -> Vec<u8> {
    gostr::to_bytes(s).into_owned()
}

/// The region: `sigv4.region`, else the environment (`AWS_REGION`, `AWS_DEFAULT_REGION`).
pub fn region(s: &SigV4Config) -> Result<String, NotifyError> {
    if !s.region.is_empty() {
        return Ok(s.region.clone());
    }
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .ok_or_else(|| {
            NotifyError::new(
                false,
                FailReason::Other,
                "region not configured in sns.sigv4.region or in default credentials chain",
            )
        })
}

/// STS `AssumeRole`'s form body for `role_arn`, with the session named after the time as
/// aws-sdk-go v1's `stscreds` names it.
pub fn assume_role_body(role_arn: &str, wall: SystemTime) -> String {
    let session = wall
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
        .to_string();
    encode(&[
        ("Action".into(), b"AssumeRole".to_vec()),
        ("RoleArn".into(), bytes(role_arn)),
        ("RoleSessionName".into(), session.into_bytes()),
        ("Version".into(), b"2011-06-15".to_vec()),
    ])
}

/// The SDK's endpoint: `api_url` (`https://` added when it has no scheme) or the regional
/// default, with the operation's path `/` appended unless the path already ends in one.
pub fn endpoint(api_url: &str, region: &str) -> String {
    let base = if api_url.is_empty() {
        let domain = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("https://sns.{region}.{domain}")
    } else if api_url.contains("://") {
        api_url.to_string()
    } else {
        format!("https://{api_url}")
    };
    if base.ends_with('/') {
        base
    } else {
        format!("{base}/")
    }
}

/// The credentials chain (see the module doc); `env` reads an environment variable.
pub fn base_credentials(
    s: &SigV4Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AwsCredentials, NotifyError> {
    if !s.access_key.is_empty() && !s.secret_key.is_empty() {
        return Ok(AwsCredentials {
            access_key: s.access_key.clone(),
            secret_key: s.secret_key.clone(),
            session_token: None,
        });
    }
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    let from_env = || {
        let ak = var("AWS_ACCESS_KEY_ID").or_else(|| var("AWS_ACCESS_KEY"))?;
        let sk = var("AWS_SECRET_ACCESS_KEY").or_else(|| var("AWS_SECRET_KEY"))?;
        Some(AwsCredentials {
            access_key: ak,
            secret_key: Secret::new(sk),
            session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
        })
    };
    let file = var("AWS_SHARED_CREDENTIALS_FILE")
        .or_else(|| var("HOME").map(|h| format!("{h}/.aws/credentials")));
    let from_file = |profile: &str| -> Result<Option<AwsCredentials>, NotifyError> {
        let Some(file) = &file else {
            return Ok(None);
        };
        match std::fs::read_to_string(file) {
            Ok(text) => Ok(shared_profile(&text, profile)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(NotifyError::new(
                false,
                FailReason::Other,
                format!("reading the shared credentials file {file}: {e}"),
            )),
        }
    };
    let found = if !s.profile.is_empty() {
        // An explicit profile is read before the environment (aws-sdk-go #2727).
        from_file(&s.profile)?.or_else(from_env)
    } else {
        match from_env() {
            Some(c) => Some(c),
            None => from_file(&var("AWS_PROFILE").unwrap_or_else(|| "default".into()))?,
        }
    };
    found.ok_or_else(|| {
        NotifyError::new(
            false,
            FailReason::Other,
            "no AWS credentials: set sigv4.access_key and sigv4.secret_key, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in the shared credentials file (instance and container roles are not supported)",
        )
    })
}

/// `profile`'s keys in a shared credentials file (INI: `[name]`, `key = value`).
fn shared_profile(text: &str, profile: &str) -> Option<AwsCredentials> {
    let mut in_profile = false;
    let (mut ak, mut sk, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_string();
            match k.trim() {
                "aws_access_key_id" => ak = Some(v),
                "aws_secret_access_key" => sk = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
    }
    Some(AwsCredentials {
        access_key: ak.filter(|v| !v.is_empty())?,
        secret_key: Secret::new(sk.filter(|v| !v.is_empty())?),
        session_token: token.filter(|v| !v.is_empty()).map(Secret::new),
    })
}

/// The SigV4 headers (`Authorization`, `X-Amz-Date`, and `X-Amz-Security-Token` with
/// temporary credentials) for a `POST` of `body` to `url`. Signed: `content-length`,
/// `content-type`, `host` and `x-amz-date`, as aws-sdk-go v1 signs them.
pub fn sign_headers(
    url: &str,
    region: &str,
    service: &str,
    creds: &AwsCredentials,
    content_type: &str,
    body: &[u8],
    time: SystemTime,
) -> Result<Vec<(http::HeaderName, String)>, NotifyError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        NotifyError::new(false, FailReason::Other, format!("signing: {what}: {e}"))
    };
    let identity = Credentials::new(
        &creds.access_key,
        creds.secret_key.expose(),
        creds.session_token.as_ref().map(|t| t.expose().to_string()),
        None,
        "sns_configs",
    )
    .into();
    let mut settings = SigningSettings::default();
    // aws-sdk-go v1 signs the path as it is, without normalising or re-encoding it.
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| failed("parameters", &e))?
        .into();
    let length = body.len().to_string();
    let headers = [
        ("content-length", length.as_str()),
        ("content-type", content_type),
    ];
    let signable =
        SignableRequest::new("POST", url, headers.into_iter(), SignableBody::Bytes(body))
            .map_err(|e| failed("request", &e))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| failed("request", &e))?
        .into_parts();
    instructions
        .headers()
        .map(|(k, v)| {
            http::HeaderName::from_bytes(k.as_bytes())
                .map(|name| (name, v.to_string()))
                .map_err(|e| failed("header", &e))
        })
        .collect()
}

/// A form body as `url.Values.Encode` writes sorted pairs (`QueryEscape` of the bytes).
pub fn encode(params: &[(String, Vec<u8>)]) -> String {
    let mut out = String::new();
    for (k, v) in params {
        if !out.is_empty() {
            out.push('&');
        }
        escape_into(&mut out, k.as_bytes());
        out.push('=');
        escape_into(&mut out, v);
    }
    out
}

fn escape_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// An AWS Query-protocol answer: 2xx success; else the error with AWS's `Message` (as the
/// SDK's `RequestFailure` carries it), retryable for 5xx, 429 and `Throttling`.
pub fn check_answer(resp: &HttpResponse) -> Result<(), NotifyError> {
    if resp.is_success() {
        return Ok(());
    }
    let message = xml_text(&resp.body, "Message").unwrap_or_default();
    let code = xml_text(&resp.body, "Code").unwrap_or_default();
    let mut err = NotifyError::from_status(resp.status, &message);
    if message.is_empty() {
        err.message = format!("unexpected status code {}", resp.status);
    }
    if resp.status == 429 || code == "Throttling" || code == "ThrottlingException" {
        err.retryable = true;
        err.reason = FailReason::RateLimited;
        err.retry_after = resp.retry_after;
    }
    Err(err)
}

/// The text of the first `<tag>…</tag>` in `xml`, entities decoded.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// `AssumeRole`'s credentials and their expiry.
pub fn parse_assume_role(xml: &str) -> Option<(AwsCredentials, SystemTime)> {
    let expires = xml_text(xml, "Expiration")?;
    let expires: jiff::Timestamp = expires.parse().ok()?;
    let creds = AwsCredentials {
        access_key: xml_text(xml, "AccessKeyId")?,
        secret_key: Secret::new(xml_text(xml, "SecretAccessKey")?),
        session_token: xml_text(xml, "SessionToken").map(Secret::new),
    };
    Some((creds, SystemTime::from(expires)))
}

impl Notifier for Sns {
    fn name(&self) -> &'static str {
        "sns"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests;
