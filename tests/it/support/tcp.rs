//! Raw TCP (and TLS-over-TCP) loopback listeners for tcp prober tests.
//!
//! [`TcpServer::spawn`] runs an async closure for every accepted connection;
//! [`TcpServer::spawn_tls`] does the TLS handshake first (handshake failures are
//! counted, not passed on); [`TcpServer::accept_and_close`] accepts and
//! immediately closes every connection.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::{bind_loopback, spawn_cancellable, ShutdownOnDrop};

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicUsize,
    handshake_failures: AtomicUsize,
}

/// A running loopback TCP server; dropped → listener and connections shut down.
#[derive(Debug)]
pub struct TcpServer {
    addr: SocketAddr,
    counters: Arc<Counters>,
    _shutdown: ShutdownOnDrop,
}

impl TcpServer {
    /// Runs `handler` on every accepted connection (each in its own task).
    /// Must be called inside a tokio runtime.
    pub fn spawn<F, Fut>(handler: F) -> Self
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self::start(move |stream, _counters| handler(stream))
    }

    /// Accepts every connection and closes it straight away.
    pub fn accept_and_close() -> Self {
        Self::spawn(|stream| async move { drop(stream) })
    }

    /// TLS server (see [`super::tls::server_config`]): runs `handler` on each
    /// connection whose handshake succeeded.
    pub fn spawn_tls<F, Fut>(config: Arc<rustls::ServerConfig>, handler: F) -> Self
    where
        F: Fn(TlsStream<TcpStream>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let acceptor = TlsAcceptor::from(config);
        let handler = Arc::new(handler);
        Self::start(move |stream, counters: Arc<Counters>| {
            let acceptor = acceptor.clone();
            let handler = Arc::clone(&handler);
            async move {
                match acceptor.accept(stream).await {
                    Ok(tls) => handler(tls).await,
                    Err(_) => {
                        counters.handshake_failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        })
    }

    fn start<F, Fut>(per_connection: F) -> Self
    where
        F: Fn(TcpStream, Arc<Counters>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (listener, addr) = bind_loopback();
        let shutdown = ShutdownOnDrop::new();
        let counters = Arc::new(Counters::default());
        let token = shutdown.token.clone();
        let loop_counters = Arc::clone(&counters);
        shutdown.spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _peer)) => stream,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                loop_counters.connections.fetch_add(1, Ordering::SeqCst);
                spawn_cancellable(
                    token.clone(),
                    per_connection(stream, Arc::clone(&loop_counters)),
                );
            }
        });
        Self {
            addr,
            counters,
            _shutdown: shutdown,
        }
    }

    /// Listening address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:PORT`, the form a tcp probe target takes.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// `localhost:PORT` (for TLS hostname verification against `localhost`).
    pub fn localhost_target(&self) -> String {
        format!("localhost:{}", self.addr.port())
    }

    /// Connections accepted so far.
    pub fn connection_count(&self) -> usize {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// Failed TLS handshakes (only for [`TcpServer::spawn_tls`]).
    pub fn handshake_failures(&self) -> usize {
        self.counters.handshake_failures.load(Ordering::SeqCst)
    }
}
