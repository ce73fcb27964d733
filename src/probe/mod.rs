//! Probing: one function, `run`, used by both `/probe` and (later) the scheduler. It owns what
//! every probe shares — the timeout, `probe_success`, `probe_duration_seconds` — and
//! dispatches on the closed `Prober` enum. Each protocol lives in its own file (or, for http
//! and dns, its own directory) with the same `probe` signature, declares its own
//! `probe_<proto>_*` metrics once as `Desc` constants and writes them into the per-probe
//! registry.
//!
//! A failed probe is data: `false` plus a reason in the probe log, never an error or panic.
//! This module never touches alert state.

pub mod dns;
pub mod grpc;
pub mod http;
pub mod icmp;
pub mod log;
pub mod module;
pub mod policy;
pub mod registry;
pub mod resolve;
pub mod tcp;
pub mod tls;
pub mod unix;
pub mod websocket;

use std::time::Duration;

use tokio::time::Instant;

pub use log::ProbeLog;
pub use module::{Module, Prober};
pub use registry::{Desc, Registry};

/// Whether the probe succeeded, written by `run` for every probe.
pub const SUCCESS: Desc = Desc::new(
    "probe_success",
    "Displays whether or not the probe was a success",
);
/// How long the probe took, written by `run` for every probe.
pub const DURATION_SECONDS: Desc = Desc::new(
    "probe_duration_seconds",
    "Returns how long the probe took to complete in seconds",
);
/// The effective timeout, written by `run` for every probe.
pub const TIMEOUT_SECONDS: Desc = Desc::new(
    "probe_timeout_seconds",
    "Returns how long the probe timeout is in seconds",
);
/// Whether a regular expression failed the probe: the http and tcp probers both write it,
/// with the same name and help text, as upstream's two declarations have.
pub const FAILED_DUE_TO_REGEX: Desc = Desc::new(
    "probe_failed_due_to_regex",
    "Indicates if probe failed due to regex",
);

/// Everything a prober needs besides its target and module: the registry it writes metrics
/// into, the log the debug output shows, and request-level overrides.
pub struct ProbeCx {
    pub registry: Registry,
    pub log: ProbeLog,
    /// `hostname` URL parameter: the Host header (and SNI) for http, server name for tcp.
    pub hostname: Option<String>,
    /// The effective timeout (already derived from the scrape timeout and the module).
    pub timeout: Duration,
    /// When the probe must be over: set by `run` to its start plus `timeout`. Probers that
    /// need socket deadlines (tcp, icmp, dns) read it; `run` enforces it regardless.
    pub deadline: Instant,
    /// The `/probe` allow-list's check of each address about to be connected to; `None` for
    /// scheduled probes and when no allow-list is configured.
    pub guard: Option<TargetGuard>,
    /// Set when `guard` refused an address: the probe failed because of the policy.
    pub refused: Option<String>,
}

/// Checks `(host, address, port)` before a connection is made (see `server::allow`).
#[derive(Clone)]
pub struct TargetGuard {
    /// The port of the original target, for the first connection.
    pub port: Option<u16>,
    #[allow(clippy::type_complexity)]
    pub check: std::sync::Arc<
        dyn Fn(&str, std::net::IpAddr, Option<u16>) -> Result<(), String> + Send + Sync,
    >,
}

impl std::fmt::Debug for TargetGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetGuard")
            .field("port", &self.port)
            .finish()
    }
}

impl ProbeCx {
    /// Applies `guard` to an address; on refusal records it and returns the message.
    pub fn check_address(
        &mut self,
        host: &str,
        ip: std::net::IpAddr,
        port: Option<u16>,
    ) -> Result<(), String> {
        let Some(g) = &self.guard else {
            return Ok(());
        };
        match (g.check)(host, ip, port) {
            Ok(()) => Ok(()),
            Err(m) => {
                self.log.error("Refused by probe_policy", &[("err", &m)]);
                self.refused = Some(m.clone());
                Err(m)
            }
        }
    }
}

impl ProbeCx {
    pub fn new(module: &str, target: &str, timeout: Duration, log_level: log::Level) -> Self {
        Self {
            registry: Registry::new(),
            log: ProbeLog::new(module, target, log_level),
            hostname: None,
            timeout,
            deadline: Instant::now() + timeout,
            guard: None,
            refused: None,
        }
    }
}

/// Runs one probe with its timeout and records the metrics every probe has.
pub async fn run(target: &str, module: &Module, cx: &mut ProbeCx) -> bool {
    let timeout = cx.timeout;
    cx.log.info(
        "Beginning probe",
        &[
            ("probe", module.prober.name()),
            ("timeout_seconds", &timeout.as_secs_f64().to_string()),
        ],
    );
    let start = Instant::now();
    cx.deadline = start + timeout;
    let fut = async {
        match &module.prober {
            Prober::Http(m) => http::probe(target, m, cx).await,
            Prober::Tcp(m) => tcp::probe(target, m, cx).await,
            Prober::Icmp(m) => icmp::probe(target, m, cx).await,
            Prober::Dns(m) => dns::probe(target, m, cx).await,
            Prober::Grpc(m) => grpc::probe(target, m, cx).await,
            Prober::Unix(m) => unix::probe(target, m, cx).await,
            Prober::Websocket(m) => websocket::probe(target, m, cx).await,
        }
    };
    let success = match tokio::time::timeout(timeout, fut).await {
        Ok(ok) => ok,
        Err(_) => {
            cx.log.error(
                "Probe timed out",
                &[("timeout_seconds", &timeout.as_secs_f64().to_string())],
            );
            false
        }
    };
    let elapsed = start.elapsed().as_secs_f64();
    if success {
        cx.log.info(
            "Probe succeeded",
            &[("duration_seconds", &elapsed.to_string())],
        );
    } else {
        cx.log.error(
            "Probe failed",
            &[("duration_seconds", &elapsed.to_string())],
        );
    }
    cx.registry
        .set_gauge(&SUCCESS, if success { 1.0 } else { 0.0 });
    cx.registry.set_gauge(&DURATION_SECONDS, elapsed);
    cx.registry
        .set_gauge(&TIMEOUT_SECONDS, timeout.as_secs_f64());
    success
}

/// blackbox_exporter's timeout derivation (`getTimeout`): the scrape timeout header (or 120 s)
/// minus the offset, unless the module's own timeout is smaller and positive — or the result
/// is negative, in which case the module timeout wins even when it is 0.
pub fn effective_timeout(
    module_timeout: Duration,
    scrape_timeout: Option<f64>,
    offset: f64,
) -> Duration {
    let mut t = scrape_timeout.unwrap_or(0.0);
    if t == 0.0 {
        t = 120.0;
    }
    let max = t - offset;
    let module = module_timeout.as_secs_f64();
    let chosen = if (module > 0.0 && module < max) || max < 0.0 {
        module
    } else {
        max
    };
    Duration::from_secs_f64(chosen.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_table_matches_upstream() {
        let s = Duration::from_secs_f64;
        for (module, header, offset, want) in [
            (0.0, Some(15.0), 0.5, 14.5),
            (20.0, Some(15.0), 0.5, 14.5),
            (5.0, Some(15.0), 0.5, 5.0),
            (10.0, None, 0.5, 10.0),
            (10.0, Some(10.0), 0.5, 9.5),
            (9.5, None, 1.0, 9.5),
            (0.0, None, 0.5, 119.5),
            (0.0, None, 0.0, 120.0),
            (0.0, Some(0.3), 0.5, 0.0),
            (5.0, Some(0.3), 0.5, 5.0),
            (2.0, Some(0.0), 0.5, 2.0),
            (0.0, Some(1.0), 0.5, 0.5),
        ] {
            assert_eq!(
                effective_timeout(s(module), header, offset),
                s(want),
                "{module} {header:?} {offset}"
            );
        }
    }
}
