//! An intercepting forward proxy on loopback, for integrations whose API URL cannot be
//! configured (Alertmanager's Pushover and PagerDuty v1 post to fixed `https://` hosts): both
//! Alertmanager and blackwatch get `http_config: {proxy_url: <MitmProxy::url>, tls_config:
//! {ca_file: <MitmProxy::ca_file>}}`, the proxy answers each `CONNECT host:443` itself,
//! terminates TLS with a certificate for `host` issued by its own test CA, and forwards the
//! decrypted bytes to a plain-HTTP `upstream` (a recorder) — so the recorder sees the request
//! as the integration sent it, `Host` header and path included. A plain `http://` request
//! (absolute-form) is forwarded unchanged. Nothing leaves the machine: every tunnel ends at
//! `upstream`, whatever host was asked for.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tempfile::TempPath;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::certs::{LeafSpec, TestCa};
use super::tcp::TcpServer;
use super::tls::{server_config, TlsOptions};

/// A running intercepting proxy; dropped → it stops.
pub struct MitmProxy {
    server: TcpServer,
    ca_file: TempPath,
    targets: Arc<Mutex<Vec<String>>>,
    heads: Arc<Mutex<Vec<String>>>,
}

/// TLS acceptors by host name, issued on first use.
type Acceptors = Arc<Mutex<HashMap<String, TlsAcceptor>>>;

impl MitmProxy {
    /// Starts the proxy; every tunnel and request is forwarded to `upstream`.
    /// Must be called inside a tokio runtime.
    pub fn start(upstream: SocketAddr) -> Self {
        let ca = Arc::new(TestCa::new("MITM test CA"));
        let ca_file = ca.write_ca_file();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let acceptors: Acceptors = Arc::default();
        let (seen, seen_heads) = (targets.clone(), heads.clone());
        let server = TcpServer::spawn(move |stream| {
            let (ca, acceptors) = (ca.clone(), acceptors.clone());
            let (seen, seen_heads) = (seen.clone(), seen_heads.clone());
            async move {
                let _ = serve(stream, upstream, &ca, &acceptors, &seen, &seen_heads).await;
            }
        });
        Self {
            server,
            ca_file,
            targets,
            heads,
        }
    }

    /// `http://127.0.0.1:PORT`, for `proxy_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The CA that signs every intercepted host's certificate, for `tls_config.ca_file`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The `CONNECT` authorities and plain request targets seen, in order.
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }

    /// The request heads received (CONNECT or plain request, with their headers), in order.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// Reads up to the end of the request head (`\r\n\r\n`); returns the head and any bytes
/// read past it.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if buf.len() > 64 * 1024 {
            return Err(std::io::Error::other("request head too long"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    ca: &TestCa,
    acceptors: &Acceptors,
    seen: &Mutex<Vec<String>>,
    heads: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let (head, rest) = read_head(&mut client).await?;
    heads.lock().unwrap().push(head.clone());
    let mut words = head.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    seen.lock().unwrap().push(target.to_string());
    let mut up = TcpStream::connect(upstream).await?;
    if method != "CONNECT" {
        up.write_all(head.as_bytes()).await?;
        up.write_all(&rest).await?;
        tokio::io::copy_bidirectional(&mut client, &mut up).await?;
        return Ok(());
    }
    let host = target
        .rsplit_once(':')
        .map_or(target, |(h, _)| h)
        .to_string();
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    let acceptor = {
        let mut map = acceptors.lock().unwrap();
        map.entry(host.clone())
            .or_insert_with(|| {
                let cert = ca.issue(&LeafSpec::dns(&[host.as_str()]));
                TlsAcceptor::from(server_config(&cert, &TlsOptions::default().http11_only()))
            })
            .clone()
    };
    let mut tls = acceptor.accept(client).await?;
    tokio::io::copy_bidirectional(&mut tls, &mut up).await?;
    Ok(())
}
