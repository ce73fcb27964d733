//! The e-mail integration (`notify/email/email.go`) over lettre's SMTP connection:
//! implicit TLS when `force_implicit_tls` or (unset) the port is 465, otherwise plain TCP
//! with STARTTLS mandatory unless `require_tls: false` (then no STARTTLS at all, as
//! upstream); `EHLO` with `hello`; AUTH only when the server advertises it and
//! `auth_username` is set, taking the first of the server's mechanisms this build can use
//! (PLAIN with `auth_identity`, LOGIN), refused over a cleartext connection except to
//! loopback; one `RCPT TO` per address of the rendered `to`.
//!
//! The message is written as upstream writes it: the configured headers (defaults
//! `Subject: {{ template "email.default.subject" . }}`, `To`, `From`), each rendered and
//! RFC 2047 Q-encoded when not plain ASCII, then `Message-Id` (unless configured), `Date`
//! (RFC 1123 with numeric zone), `Content-Type: multipart/alternative`, `MIME-Version`, and
//! the parts, quoted-printable and labelled UTF-8: `text` first (if set), then `html` (if
//! set, rendered with `html/template`-style escaping, see `html.rs`). Headers and parts are
//! encoded from the bytes the rendered text stands for (`base::gostr`), so a template file
//! in a legacy encoding (GBK) reaches the recipient byte for byte, as upstream sends it
//! (still labelled UTF-8, as upstream labels it). lettre is only the SMTP transport here:
//! the message is these bytes, which quoted-printable keeps ASCII.
//!
//! Differences from upstream: CRAM-MD5 (`auth_secret`) is not offered by lettre and is
//! skipped; LOGIN is refused over cleartext like PLAIN (upstream sends it); when the
//! server offers both PLAIN and LOGIN, a second `EHLO` is sent to learn the server's order
//! (lettre keeps the mechanisms as a set). lettre is built without its `tracing` feature,
//! which would log SMTP writes, AUTH credentials included, at debug level.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use lettre::address::Envelope;
use lettre::message::{Mailbox, Mailboxes};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, Identity, TlsParameters,
};
use lettre::transport::smtp::commands::Ehlo;
use lettre::transport::smtp::extension::{ClientId, Extension};

use super::render::{data_value, TemplateSet};
use super::{Batch, FailReason, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::EmailConfig;
use crate::alert::store::Alert;
use crate::base::gostr;
use crate::template::time::GoTime;

const DEFAULT_SUBJECT: &str = r#"{{ template "email.default.subject" . }}"#;

/// A validated `email_configs` entry, ready to send.
pub struct Email {
    conf: EmailConfig,
    templates: Arc<TemplateSet>,
    base_dir: std::path::PathBuf,
    hostname: String,
}

fn err(retryable: bool, reason: FailReason, msg: impl Into<String>) -> NotifyError {
    NotifyError::new(retryable, reason, msg)
}

fn template_error(what: &str, e: impl std::fmt::Display) -> NotifyError {
    err(
        false,
        FailReason::Other,
        format!("execute {what} template: {e}"),
    )
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Go's `mime.QEncoding.Encode("utf-8", s)` of the bytes `s` stands for (see
/// `base::gostr`): unchanged when printable ASCII, else encoded words of at most 75
/// characters, never splitting a character; a byte that is not UTF-8 is one `=XX`.
pub fn q_encode(s: &str) -> String {
    let b = gostr::to_bytes(s);
    if b.iter().all(|&c| (b' '..=b'~').contains(&c) || c == b'\t') {
        return s.to_string();
    }
    const PREFIX: &str = "=?utf-8?q?";
    const MAX: usize = 75 - PREFIX.len() - 2;
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let n = if (b' '..=b'~').contains(&c) && !b"=?_".contains(&c) {
            1
        } else {
            utf8_len_at(&b[i..])
        };
        let mut enc = String::new();
        for &byte in &b[i..i + n] {
            if byte == b' ' {
                enc.push('_');
            } else if (b'!'..=b'~').contains(&byte) && !b"=?_".contains(&byte) {
                enc.push(char::from(byte));
            } else {
                enc.push_str(&format!("={byte:02X}"));
            }
        }
        if cur.len() + enc.len() > MAX {
            words.push(std::mem::take(&mut cur));
        }
        cur.push_str(&enc);
        i += n;
    }
    words.push(cur);
    words
        .iter()
        .map(|w| format!("{PREFIX}{w}?="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The length of the UTF-8 character at the start of `b`, or 1 when it is not one (Go's
/// `utf8.DecodeRune` width).
fn utf8_len_at(b: &[u8]) -> usize {
    let want = match b.first() {
        Some(0xC2..=0xDF) => 2,
        Some(0xE0..=0xEF) => 3,
        Some(0xF0..=0xF4) => 4,
        _ => return 1,
    };
    match b.get(..want) {
        Some(seq) if std::str::from_utf8(seq).is_ok() => want,
        _ => 1,
    }
}

/// Go's `mime/quotedprintable.Writer` (text mode: line breaks become CRLF, lines at most
/// 76 characters with soft breaks, trailing spaces and tabs encoded), over bytes: a body in
/// any encoding decodes back to the same bytes.
pub fn quoted_printable(body: &[u8]) -> String {
    const LINE_MAX: usize = 76;
    let mut out = String::with_capacity(body.len() + body.len() / 8);
    let mut line = String::new();
    let bytes = body;
    let flush_soft = |out: &mut String, line: &mut String| {
        out.push_str(line);
        out.push_str("=\r\n");
        line.clear();
    };
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        if b == b'\n' {
            // Encode a trailing space or tab before the hard break.
            if let Some(last) = line.pop() {
                if last == ' ' || last == '\t' {
                    let enc = format!("={:02X}", last as u8);
                    if line.len() + enc.len() > LINE_MAX {
                        flush_soft(&mut out, &mut line);
                    }
                    line.push_str(&enc);
                } else {
                    line.push(last);
                }
            }
            out.push_str(&line);
            out.push_str("\r\n");
            line.clear();
            i += 1;
            continue;
        }
        let enc = if (b'!'..=b'~').contains(&b) && b != b'=' || b == b' ' || b == b'\t' {
            (b as char).to_string()
        } else {
            format!("={b:02X}")
        };
        if line.len() + enc.len() > LINE_MAX - 1 {
            flush_soft(&mut out, &mut line);
        }
        line.push_str(&enc);
        i += 1;
    }
    if let Some(last) = line.pop() {
        if last == ' ' || last == '\t' {
            line.push_str(&format!("={:02X}", last as u8));
        } else {
            line.push(last);
        }
    }
    out.push_str(&line);
    out
}

fn random_u64() -> u64 {
    let id = uuid::Uuid::new_v4();
    let b = id.as_bytes();
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

fn hostname() -> String {
    crate::base::fs::hostname().unwrap_or_else(|| "localhost".to_string())
}

/// A rendered message: envelope addresses and the RFC 5322 bytes.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub message: String,
}

impl Email {
    pub fn new(conf: EmailConfig, templates: Arc<TemplateSet>, base_dir: &Path) -> Self {
        Self {
            conf,
            templates,
            base_dir: base_dir.to_path_buf(),
            hostname: hostname(),
        }
    }

    /// Renders the envelope and message for `alerts` at `ctx.now`, in the order upstream's
    /// `Email.Notify` builds them (addresses, headers, then the text and HTML parts); one
    /// function so each header's template and error stay next to upstream's.
    pub fn render(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<Rendered, NotifyError> {
        let data = data_value(ctx, alerts);
        let t = |what: &str, text: &str| {
            self.templates
                .render_text(text, &data, ctx.now)
                .map_err(|e| template_error(what, e))
        };
        let from_s = t("from", &self.conf.from)?;
        let from: Mailbox = from_s.trim().parse().map_err(|e| {
            err(
                false,
                FailReason::Other,
                format!("parse 'from' addresses: {e}"),
            )
        })?;
        let to_s = t("to", &self.conf.to)?;
        let to: Mailboxes = to_s.trim().parse().map_err(|e| {
            err(
                false,
                FailReason::Other,
                format!("parse 'to' addresses: {e}"),
            )
        })?;
        let to: Vec<Mailbox> = to.into_iter().collect();
        if to.is_empty() {
            return Err(err(
                false,
                FailReason::Other,
                "parse 'to' addresses: no address",
            ));
        }
        let mut headers: BTreeMap<String, String> = self.conf.headers.clone();
        headers
            .entry("Subject".into())
            .or_insert_with(|| DEFAULT_SUBJECT.to_string());
        headers
            .entry("To".into())
            .or_insert_with(|| self.conf.to.clone());
        headers
            .entry("From".into())
            .or_insert_with(|| self.conf.from.clone());
        let mut msg = String::new();
        // Upstream's order is Go map order (random); ours: From, Subject, To, then the rest
        // sorted.
        let mut names: Vec<&String> = headers.keys().collect();
        let rank = |n: &str| match n {
            "From" => 0,
            "Subject" => 1,
            "To" => 2,
            _ => 3,
        };
        crate::base::sort::sort_by(&mut names, |a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
        for name in names {
            let value = t(&format!("{name:?} header"), &headers[name])?;
            // A header value must not break the header block.
            let value = value.replace(['\r', '\n'], " ");
            msg.push_str(&format!("{name}: {}\r\n", q_encode(&value)));
        }
        if !headers.contains_key("Message-Id") {
            let nanos = ctx
                .now
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            msg.push_str(&format!(
                "Message-Id: <{nanos}.{}@{}>\r\n",
                random_u64(),
                self.hostname
            ));
        }
        let boundary = format!("{:016x}{:016x}", random_u64(), random_u64());
        let date = GoTime::from_system(ctx.now).format("Mon, 02 Jan 2006 15:04:05 -0700");
        msg.push_str(&format!("Date: {date}\r\n"));
        msg.push_str(&format!(
            "Content-Type: multipart/alternative;  boundary={boundary}\r\n"
        ));
        msg.push_str("MIME-Version: 1.0\r\n\r\n");
        let mut parts = 0;
        let mut part = |msg: &mut String, ctype: &str, body: &str| {
            if parts > 0 {
                msg.push_str("\r\n");
            }
            parts += 1;
            msg.push_str(&format!("--{boundary}\r\n"));
            msg.push_str("Content-Transfer-Encoding: quoted-printable\r\n");
            msg.push_str(&format!("Content-Type: {ctype}; charset=UTF-8\r\n\r\n"));
            // The bytes the text stands for: raw bytes from a legacy-encoded template
            // file go out unchanged, as Alertmanager sends them.
            msg.push_str(&quoted_printable(&gostr::to_bytes(body)));
        };
        if !self.conf.text.is_empty() {
            let body = t("text", &self.conf.text)?;
            part(&mut msg, "text/plain", &body);
        }
        if !self.conf.html.is_empty() {
            let body = self
                .templates
                .render_html(&self.conf.html, &data, ctx.now)
                .map_err(|e| template_error("html", e))?;
            part(&mut msg, "text/html", &body);
        }
        if parts > 0 {
            msg.push_str("\r\n");
        }
        msg.push_str(&format!("--{boundary}--\r\n"));
        Ok(Rendered {
            from,
            to,
            message: msg,
        })
    }

    fn implicit_tls(&self) -> bool {
        self.conf
            .force_implicit_tls
            .unwrap_or(self.conf.smarthost.port == "465")
    }

    fn tls_parameters(&self) -> Result<TlsParameters, NotifyError> {
        let t = &self.conf.tls_config;
        let domain = if t.server_name.is_empty() {
            self.conf.smarthost.host.clone()
        } else {
            t.server_name.clone()
        };
        let tls_err = |m: String| err(false, FailReason::Other, format!("TLS setup: {m}"));
        let read = |inline: &str, file: &str, what: &str| -> Result<Option<Vec<u8>>, NotifyError> {
            if !inline.is_empty() {
                return Ok(Some(inline.as_bytes().to_vec()));
            }
            if file.is_empty() {
                return Ok(None);
            }
            let p = if Path::new(file).is_absolute() {
                Path::new(file).to_path_buf()
            } else {
                self.base_dir.join(file)
            };
            std::fs::read(&p)
                .map(Some)
                .map_err(|e| tls_err(format!("reading {what} {}: {e}", p.display())))
        };
        let mut b = TlsParameters::builder(domain);
        if let Some(ca) = read(&t.ca, &t.ca_file, "ca_file")? {
            let cert = Certificate::from_pem(&ca).map_err(|e| tls_err(e.to_string()))?;
            b = b
                .certificate_store(CertificateStore::None)
                .add_root_certificate(cert);
        }
        let cert = read(&t.cert, &t.cert_file, "cert_file")?;
        let key = read(t.key.expose(), &t.key_file, "key_file")?;
        if let (Some(c), Some(k)) = (cert, key) {
            let id = Identity::from_pem(&c, &k)
                .map_err(|_| tls_err("invalid client certificate or key".into()))?;
            b = b.identify_with(id);
        }
        if t.insecure_skip_verify {
            b = b.dangerous_accept_invalid_certs(true);
        }
        b.build_rustls().map_err(|e| tls_err(e.to_string()))
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let rendered = self.render(ctx, &alerts.to_alerts())?;
        let host = self.conf.smarthost.host.clone();
        let port: u16 = self.conf.smarthost.port.parse().map_err(|_| {
            err(
                false,
                FailReason::Other,
                format!("invalid smarthost port {:?}", self.conf.smarthost.port),
            )
        })?;
        let hello = ClientId::Domain(if self.conf.hello.is_empty() {
            "localhost".to_string()
        } else {
            self.conf.hello.clone()
        });
        let smarthost = self.conf.smarthost.to_string();
        let net = |what: &str, e: lettre::transport::smtp::Error| {
            err(true, FailReason::Other, format!("{what}: {e}"))
        };
        let implicit = self.implicit_tls();
        let tls = if implicit || self.conf.require_tls {
            Some(self.tls_parameters()?)
        } else {
            None
        };
        let mut conn = if implicit {
            AsyncSmtpConnection::connect_tokio1(
                (host.as_str(), port),
                None,
                &hello,
                tls.clone(),
                None,
            )
            .await
            .map_err(|e| net("establish TLS connection to server", e))?
        } else {
            AsyncSmtpConnection::connect_tokio1((host.as_str(), port), None, &hello, None, None)
                .await
                .map_err(|e| net("establish connection to server", e))?
        };
        if !implicit && self.conf.require_tls {
            if !conn.server_info().supports_feature(Extension::StartTls) {
                conn.abort().await;
                return Err(err(
                    true,
                    FailReason::Other,
                    format!("'require_tls' is true (default) but {smarthost:?} does not advertise the STARTTLS extension"),
                ));
            }
            if let Some(tp) = tls {
                conn.starttls(tp, &hello)
                    .await
                    .map_err(|e| net("send STARTTLS command", e))?;
            }
        }
        if let Err(e) = self.auth(&mut conn, &hello, &host).await {
            conn.abort().await;
            return Err(e);
        }
        let envelope = Envelope::new(
            Some(rendered.from.email.clone()),
            rendered.to.iter().map(|m| m.email.clone()).collect(),
        )
        .map_err(|e| err(false, FailReason::Other, format!("envelope: {e}")))?;
        let sent = conn.send(&envelope, rendered.message.as_bytes()).await;
        match sent {
            Ok(_) => {
                let _ = conn.quit().await;
                Ok(())
            }
            Err(e) => {
                conn.abort().await;
                let permanent = e.is_permanent();
                Err(err(
                    !permanent,
                    FailReason::Other,
                    format!("send message: {e}"),
                ))
            }
        }
    }

    /// AUTH as upstream decides it (see the module doc).
    async fn auth(
        &self,
        conn: &mut AsyncSmtpConnection,
        hello: &ClientId,
        host: &str,
    ) -> Result<(), NotifyError> {
        if self.conf.auth_username.is_empty() {
            return Ok(());
        }
        let info = conn.server_info();
        let plain = info.supports_auth_mechanism(Mechanism::Plain);
        let login = info.supports_auth_mechanism(Mechanism::Login);
        let any_auth = plain || login || info.supports_auth_mechanism(Mechanism::Xoauth2);
        if !any_auth {
            // Also when the server offers only mechanisms lettre does not parse
            // (CRAM-MD5): there is nothing this build can use.
            return Ok(());
        }
        let Some(password) = &self.conf.auth_password else {
            return Err(err(
                true,
                FailReason::AuthError,
                "find auth mechanism: no password set for the mechanisms the server offers",
            ));
        };
        let password = password.read().map_err(|e| {
            err(
                false,
                FailReason::Other,
                format!("reading auth_password_file: {e}"),
            )
        })?;
        let mech = match (plain, login) {
            (true, true) => {
                // Learn the server's order (lettre keeps a set).
                let resp = conn
                    .command(Ehlo::new(hello.clone()))
                    .await
                    .map_err(|e| err(true, FailReason::Other, format!("EHLO: {e}")))?;
                let order: Vec<String> = resp
                    .message()
                    .filter_map(|l| l.strip_prefix("AUTH "))
                    .flat_map(|l| {
                        l.split_whitespace()
                            .map(str::to_ascii_uppercase)
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let p = order.iter().position(|m| m == "PLAIN");
                let l = order.iter().position(|m| m == "LOGIN");
                match (p, l) {
                    (Some(p), Some(l)) if l < p => Mechanism::Login,
                    _ => Mechanism::Plain,
                }
            }
            (true, false) => Mechanism::Plain,
            (false, true) => Mechanism::Login,
            (false, false) => {
                return Err(err(
                    true,
                    FailReason::AuthError,
                    "find auth mechanism: none of the server's mechanisms is supported",
                ))
            }
        };
        if !conn.is_encrypted() && !is_loopback(host) {
            return Err(err(
                true,
                FailReason::AuthError,
                format!("{mech} auth: unencrypted connection"),
            ));
        }
        let result = if mech == Mechanism::Plain && !self.conf.auth_identity.is_empty() {
            let raw = format!(
                "{}\0{}\0{}",
                self.conf.auth_identity,
                self.conf.auth_username,
                password.expose()
            );
            conn.command(format!(
                "AUTH PLAIN {}\r\n",
                base64::Engine::encode(&crate::base::go::BASE64_STD, raw.as_bytes())
            ))
            .await
            .map(|_| ())
        } else {
            let creds = Credentials::new(
                self.conf.auth_username.clone(),
                password.expose().to_string(),
            );
            conn.auth(&[mech], &creds).await.map(|_| ())
        };
        result.map_err(|e| err(true, FailReason::AuthError, format!("{mech} auth: {e}")))
    }
}

impl Notifier for Email {
    fn name(&self) -> &'static str {
        "email"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_encoding() {
        assert_eq!(q_encode("[FIRING:1] A"), "[FIRING:1] A");
        assert_eq!(q_encode("é x"), "=?utf-8?q?=C3=A9_x?=");
        // Raw GBK bytes ("告警") as Go's QEncoding writes them: one =XX per byte.
        let gbk = crate::base::gostr::from_bytes(b"A \xB8\xE6\xBE\xAF");
        assert_eq!(q_encode(&gbk), "=?utf-8?q?A_=B8=E6=BE=AF?=");
        // Words split between characters, never inside one.
        let long = "é".repeat(40);
        let enc = q_encode(&long);
        for w in enc.split(' ') {
            assert!(w.len() <= 75, "{enc}");
            let body = w
                .strip_prefix("=?utf-8?q?")
                .and_then(|w| w.strip_suffix("?="))
                .unwrap();
            let bytes: Vec<u8> = body
                .split('=')
                .filter(|h| !h.is_empty())
                .map(|h| u8::from_str_radix(h, 16).unwrap())
                .collect();
            assert!(std::str::from_utf8(&bytes).is_ok(), "{w}");
        }
    }

    #[test]
    fn quoted_printable_like_go() {
        assert_eq!(quoted_printable(b"a=b\nc \nd"), "a=3Db\r\nc=20\r\nd");
        let long = "x".repeat(100);
        let qp = quoted_printable(long.as_bytes());
        assert!(qp.starts_with(&format!("{}=\r\n", "x".repeat(75))));
        assert_eq!(quoted_printable("é".as_bytes()), "=C3=A9");
        // "告警" in GBK: not UTF-8, sent as its bytes.
        assert_eq!(quoted_printable(b"\xB8\xE6\xBE\xAF"), "=B8=E6=BE=AF");
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("::1"));
        assert!(is_loopback("localhost"));
        assert!(!is_loopback("mail.example.com"));
    }
}
