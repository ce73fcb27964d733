//! Every helper the integration tests share.
//!
//! * [`poll`]: waiting for a condition on real processes and sockets, with a deadline.
//! * [`yaml`]: configs written inline in tests.
//! * [`probe`]: in-process probes and their [`Outcome`].
//! * [`scrape`]: the metrics text parser ([`Metrics`]) assertions read series from.
//! * [`daemon`]: in-process daemons built through `blackwatch::daemon::Daemon`, and the
//!   HTTP/1.1 client tests talk to them with.
//! * [`process`]: the `blackwatch` binary started as a daemon.
//! * [`prometheus`]: a real Prometheus 2.42 process.
//! * [`am`]: a real Alertmanager 0.25 process; [`recorder`]: the differential harness that
//!   sends the same alerts through it and through a blackwatch integration and compares
//!   the requests both make.
//! * [`killtest`]: the kill -9 schedule of issue 17, run against blackwatch replicas
//!   (`cluster.rs`) and Alertmanager 0.25 (`cluster_am.rs`), and its counting.
//!
//! Loopback test servers and certificate fixtures:
//!
//! * [`certs`]: rcgen-generated CAs, leaves, self-signed, expired and
//!   "chain with an older root" certificates, plus temp-file helpers.
//! * [`tls`]: rustls server configs (ALPN, protocol versions, client auth).
//! * [`http`]: a hyper 1 HTTP/1.1 + HTTP/2 server (plain or TLS) driven by a test
//!   closure, recording every request it receives.
//! * [`tcp`]: raw TCP (optionally TLS) listeners running a closure per connection.
//! * [`tinyproxy`]: Debian's tinyproxy, a real forward proxy with basic auth.
//!
//! Every server binds `127.0.0.1:0`, runs as tokio tasks on the current runtime
//! (so constructors must be called from within a tokio runtime, e.g. inside
//! `#[tokio::test]`), and shuts down — listener and all connections — when its
//! handle is dropped.

// Not every test uses every helper.
#![allow(dead_code, unused_imports)]

pub mod am;
pub mod certs;
pub mod daemon;
pub mod http;
pub mod killtest;
pub mod logs;
pub mod mitm;
pub mod poll;
pub mod probe;
pub mod process;
pub mod prometheus;
pub mod recorder;
pub mod scrape;
pub mod tcp;
pub mod tinyproxy;
pub mod tls;
pub mod yaml;

use std::future::Future;
use std::net::SocketAddr;

use tokio_util::sync::{CancellationToken, DropGuard};

pub use certs::{
    now_unix, self_signed_localhost, write_pem_bundle, Cert, LeafSpec, OlderRootChain, ServerCert,
    TestCa, Validity, DAY,
};
pub use daemon::{http_request, try_http_request, Daemon, HttpResponse};
pub use http::{handlers, Encoding, HttpServer, TestRequest, TestResponse};
pub use probe::{probe_http, probe_with, run_probe, Outcome};
pub use scrape::{Metrics, Sample};
pub use tcp::TcpServer;
pub use tls::{Alpn, TlsOptions, TlsVersions};
pub use yaml::{dedent, http_module_yaml, indent, module_config, MODULE};

/// Installs the ring provider as rustls' process default (idempotent).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Binds a tokio listener on `127.0.0.1:0`.
///
/// Binding goes through std so it is synchronous; registering with tokio requires
/// a runtime context.
fn bind_loopback() -> (tokio::net::TcpListener, SocketAddr) {
    let std_listener =
        std::net::TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0 for a test server");
    std_listener
        .set_nonblocking(true)
        .expect("setting the test listener non-blocking");
    let addr = std_listener
        .local_addr()
        .expect("reading the test listener's address");
    let listener = tokio::net::TcpListener::from_std(std_listener)
        .expect("test servers must be started inside a tokio runtime");
    (listener, addr)
}

/// Owns a server's background tasks; dropping it cancels all of them.
#[derive(Debug)]
struct ShutdownOnDrop {
    token: CancellationToken,
    _guard: DropGuard,
}

impl ShutdownOnDrop {
    fn new() -> Self {
        let token = CancellationToken::new();
        Self {
            _guard: token.clone().drop_guard(),
            token,
        }
    }

    /// Spawns `fut` on the current runtime; it is dropped once the server is.
    fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        spawn_cancellable(self.token.clone(), fut);
    }
}

fn spawn_cancellable<F>(token: CancellationToken, fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        tokio::select! {
            () = token.cancelled() => {}
            () = fut => {}
        }
    });
}

/// A hyper executor that spawns onto tokio, cancelled together with its server
/// (HTTP/2 streams are run as separate tasks).
#[derive(Clone, Debug)]
struct CancellableExecutor(CancellationToken);

impl<F> hyper::rt::Executor<F> for CancellableExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        spawn_cancellable(self.0.clone(), async move {
            fut.await;
        });
    }
}
