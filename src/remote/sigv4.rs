//! `sigv4:` on a remote-write endpoint, as Prometheus 2.42 signs (prometheus/common's sigv4
//! round tripper on aws-sdk-go v1): every request signed with AWS Signature Version 4 for
//! the service `aps` (Amazon Managed Service for Prometheus) in `sigv4.region`, else the
//! environment's `AWS_REGION` / `AWS_DEFAULT_REGION`. Credentials are `access_key` +
//! `secret_key`, else the AWS chain (a named `profile`, the environment, the shared
//! credentials file); with `role_arn` they call STS `AssumeRole` and the temporary
//! credentials are kept until a minute before they expire. The chain, the signer and STS's
//! answer are the SNS notifier's (`alert::notify::sns`). A request that cannot be signed is
//! retried like a network error, as Prometheus does; no credential is ever in an error.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use http::header::{HeaderName, CONTENT_TYPE};

use crate::alert::config::SigV4Config;
use crate::alert::notify::sns::{self, AwsCredentials};

/// The service name Prometheus signs remote writes for.
const SERVICE: &str = "aps";

/// Temporary credentials are renewed this long before they expire.
const EXPIRY_WINDOW: Duration = Duration::from_secs(60);

/// Signs one endpoint's requests.
pub struct Signer {
    conf: SigV4Config,
    /// `AssumeRole`'s credentials and when they expire.
    assumed: Mutex<Option<(AwsCredentials, SystemTime)>>,
}

impl Signer {
    pub fn new(conf: SigV4Config) -> Self {
        Signer {
            conf,
            assumed: Mutex::new(None),
        }
    }

    /// The headers that sign a `POST` of `body` (a snappy `WriteRequest`) to `url`.
    pub async fn headers(
        &self,
        http: &reqwest::Client,
        url: &str,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, String)>, String> {
        let region = self.region()?;
        let creds = self.credentials(http).await?;
        sns::sign_headers(
            url,
            &region,
            SERVICE,
            &creds,
            "application/x-protobuf",
            body,
            crate::clock::Now::read().wall,
        )
        .map_err(|e| e.message)
    }

    fn region(&self) -> Result<String, String> {
        if !self.conf.region.is_empty() {
            return Ok(self.conf.region.clone());
        }
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .filter_map(|k| std::env::var(k).ok())
            .find(|v| !v.is_empty())
            .ok_or_else(|| "region not configured in sigv4 or in default credentials chain".into())
    }

    /// `AssumeRole`'s credentials when `role_arn` is set (renewed before they expire), else
    /// the chain's.
    async fn credentials(&self, http: &reqwest::Client) -> Result<AwsCredentials, String> {
        let base =
            sns::base_credentials(&self.conf, &|k| std::env::var(k).ok()).map_err(|e| e.message)?;
        if self.conf.role_arn.is_empty() {
            return Ok(base);
        }
        let wall = crate::clock::Now::read().wall;
        if let Some((creds, expires)) = crate::base::sync::lock(&self.assumed).as_ref() {
            if wall + EXPIRY_WINDOW < *expires {
                return Ok(creds.clone());
            }
        }
        let body = sns::assume_role_body(&self.conf.role_arn, wall);
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let signed = sns::sign_headers(
            sns::STS_URL,
            "us-east-1",
            "sts",
            &base,
            content_type,
            body.as_bytes(),
            wall,
        )
        .map_err(|e| e.message)?;
        let mut req = http.post(sns::STS_URL).header(CONTENT_TYPE, content_type);
        for (name, value) in signed {
            req = req.header(name, value);
        }
        let failed = |m: String| format!("sts AssumeRole: {m}");
        let resp = req
            .body(body)
            .send()
            .await
            .map_err(|e| failed(super::send::without_url(&e)))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| failed(super::send::without_url(&e)))?;
        if !status.is_success() {
            let first = text.lines().next().unwrap_or_default();
            return Err(failed(format!("HTTP status {status}: {first}")));
        }
        let (creds, expires) = sns::parse_assume_role(&text)
            .ok_or_else(|| failed("no credentials in the answer".into()))?;
        *crate::base::sync::lock(&self.assumed) = Some((creds.clone(), expires));
        Ok(creds)
    }
}
