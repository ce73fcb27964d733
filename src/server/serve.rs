//! The one accept loop behind every listener, with or without `--web.config.file`: a
//! hyper-util connection per accepted socket (HTTP/1.1 and h2c, or HTTP/2 over TLS), TLS when
//! the web config asks for it (see `tls`), and slowloris protection: a client must send its
//! first bytes and then each request head within [`ServerOptions::header_read_timeout`], or
//! the connection is closed. On shutdown no new connection is accepted and in-flight requests
//! finish.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;

use super::webconfig::Web;

/// Connection limits of the HTTP server; [`Default`] is what the binary uses, tests shorten them.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// A client has this long to send the first bytes of a connection and then each request
    /// head (HTTP/1: also the idle time allowed between keep-alive requests).
    pub header_read_timeout: Duration,
    /// A TLS client has this long to complete its handshake.
    pub tls_handshake_timeout: Duration,
    /// A client has this long, from the end of the request head, to send the whole request
    /// body (at most `MAX_REQUEST_BODY`); then it gets a 408.
    pub request_body_timeout: Duration,
    /// `--web.config.file`, loaded.
    pub web: Option<std::sync::Arc<super::webconfig::Web>>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            tls_handshake_timeout: Duration::from_secs(10),
            request_body_timeout: Duration::from_secs(30),
            web: None,
        }
    }
}

/// Serves `app` until `shutdown`, then lets in-flight requests finish. With `web`, its config
/// is refreshed before each connection and decides TLS and HTTP/2.
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    web: Option<Arc<Web>>,
    shutdown: CancellationToken,
    opts: ServerOptions,
) -> io::Result<()> {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(message = "accept failed", err = %e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        let web = web.clone();
        tokio::spawn(crate::base::task::boxed(async move {
            let (http2, tls) = match web {
                Some(web) => {
                    let refresh_web = Arc::clone(&web);
                    let _ = tokio::task::spawn_blocking(move || refresh_web.refresh()).await;
                    let cfg = web.current();
                    (cfg.http2, cfg.tls.clone())
                }
                None => (true, None),
            };
            let mut builder = auto::Builder::new(TokioExecutor::new());
            if !http2 {
                builder = builder.http1_only();
            }
            // A client that never finishes its request head (slowloris) is dropped.
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(opts.header_read_timeout);
            let result = match tls {
                Some(tls) => {
                    let Some(tls_stream) =
                        super::tls::handshake(tls, stream, opts.tls_handshake_timeout, peer).await
                    else {
                        return;
                    };
                    let io = PrefaceDeadline::new(tls_stream, opts.header_read_timeout);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
                    watcher.watch(conn).await
                }
                None => {
                    let io = PrefaceDeadline::new(stream, opts.header_read_timeout);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
                    watcher.watch(conn).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(message = "connection ended with an error", peer = %peer, err = %e);
            }
        }));
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The HTTP/2 connection preface; hyper-util tells HTTP/1 from h2c by it.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A stream whose reads fail with `TimedOut` once `deadline` passes, until the bytes read so
/// far tell HTTP/1 from HTTP/2 (a byte off the h2 preface, or the whole preface).
///
/// hyper's `header_read_timeout` only starts once hyper-util's version detection is done, and
/// that detection waits for bytes without a timer: a client that connects and sends nothing
/// (or trickles the preface) would otherwise hold the connection forever.
struct PrefaceDeadline<S> {
    inner: S,
    /// `None` once the protocol is known.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Bytes of [`H2_PREFACE`] matched so far.
    matched: usize,
}

impl<S> PrefaceDeadline<S> {
    fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
            matched: 0,
        }
    }

    /// Follows the detection over newly read bytes; disarms the deadline once it is decided.
    fn observe(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.deadline.is_none() {
                return;
            }
            if H2_PREFACE.get(self.matched) == Some(&b) {
                self.matched += 1;
                if self.matched == H2_PREFACE.len() {
                    self.deadline = None;
                }
            } else {
                self.deadline = None;
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for PrefaceDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(deadline) = &mut this.deadline {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client sent no request in time",
                )));
            }
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            if this.deadline.is_some() {
                this.observe(&buf.filled()[before..]);
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PrefaceDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn silent_client_times_out() {
        let (client, server) = tokio::io::duplex(64);
        let mut s = PrefaceDeadline::new(server, Duration::from_secs(1));
        let mut buf = [0u8; 8];
        let err = s.read(&mut buf).await.expect_err("deadline passes");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn http1_first_byte_disarms() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut s = PrefaceDeadline::new(server, Duration::from_secs(1));
        client.write_all(b"G").await.expect("write");
        let mut buf = [0u8; 8];
        assert_eq!(s.read(&mut buf).await.expect("read"), 1);
        tokio::time::sleep(Duration::from_secs(5)).await;
        client.write_all(b"ET").await.expect("write");
        assert_eq!(s.read(&mut buf).await.expect("read after deadline"), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn trickled_h2_preface_times_out_and_full_preface_disarms() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut s = PrefaceDeadline::new(server, Duration::from_secs(1));
        client.write_all(&H2_PREFACE[..10]).await.expect("write");
        let mut buf = [0u8; 64];
        assert_eq!(s.read(&mut buf).await.expect("read"), 10);
        let err = s.read(&mut buf).await.expect_err("still undecided");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);

        let (mut client, server) = tokio::io::duplex(64);
        let mut s = PrefaceDeadline::new(server, Duration::from_secs(1));
        client.write_all(H2_PREFACE).await.expect("write");
        let mut got = 0;
        while got < H2_PREFACE.len() {
            got += s.read(&mut buf).await.expect("read");
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        client.write_all(b"x").await.expect("write");
        assert_eq!(s.read(&mut buf).await.expect("read after deadline"), 1);
    }
}
