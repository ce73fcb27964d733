//! `blackwatch probe TARGET`: one probe through the same `probe::run` as `/probe` and the
//! scheduler, printed as a short human summary (or as the metrics `/probe` would return),
//! with an exit code scripts and uptime checkers can use: 0 success, 1 failure, 2 bad usage.
//!
//! The module defaults to `http_2xx` for `http://` and `https://` targets and to
//! `tcp_connect` for anything else; modules come from `--config.file` or the built-in ones.
//! The timeout is `--timeout`, else the module's `timeout`, else [`DEFAULT_TIMEOUT`].

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::base::ConfigErrors;
use crate::cli::{ProbeArgs, ProbeOutput};
use crate::clock;
use crate::config::Config;
use crate::probe::log::Level;
use crate::probe::{self, Module, ProbeCx};

/// The timeout when neither `--timeout` nor the module sets one. blackbox_exporter's 120 s
/// (for a probe without a scrape timeout) is too long for a command someone waits on.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a probe could not be run at all (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("{0}")]
    Config(ConfigErrors),
    #[error("unknown module {name:?} in {file}; known modules: {known}")]
    UnknownModule {
        name: String,
        file: String,
        known: String,
    },
    #[error("the target is empty")]
    EmptyTarget,
}

/// The module a target gets when `--module` is not given.
pub fn default_module(target: &str) -> &'static str {
    let lower = target.trim_start().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        "http_2xx"
    } else {
        "tcp_connect"
    }
}

/// A probe ready to run: the chosen module and timeout.
#[derive(Debug)]
pub struct Plan {
    pub target: String,
    pub module_name: String,
    pub module: Arc<Module>,
    pub timeout: Duration,
    pub hostname: Option<String>,
}

/// Picks the module and timeout for `args` from a loaded configuration.
pub fn plan(args: &ProbeArgs, config: &Config) -> Result<Plan, UsageError> {
    let target = args.target.trim();
    if target.is_empty() {
        return Err(UsageError::EmptyTarget);
    }
    let module_name = args
        .module
        .clone()
        .unwrap_or_else(|| default_module(target).to_string());
    let Some(module) = config.modules.get(&module_name).cloned() else {
        let known: Vec<&str> = config.modules.keys().map(String::as_str).collect();
        return Err(UsageError::UnknownModule {
            name: module_name,
            file: config.source.display().to_string(),
            known: known.join(", "),
        });
    };
    let timeout = match args.timeout {
        Some(t) => t,
        None if !module.timeout.is_zero() => module.timeout,
        None => DEFAULT_TIMEOUT,
    };
    Ok(Plan {
        target: target.to_string(),
        module_name,
        module,
        timeout,
        hostname: args.hostname.clone().filter(|h| !h.is_empty()),
    })
}

/// Runs the planned probe; the context holds its metrics and (debug-level) log.
pub async fn run(plan: &Plan) -> (bool, ProbeCx) {
    let mut cx = ProbeCx::new(&plan.module_name, &plan.target, plan.timeout, Level::Debug);
    cx.hostname = plan.hostname.clone();
    let success = probe::run(&plan.target, &plan.module, &mut cx).await;
    (success, cx)
}

/// The whole command: load, plan, probe, print. `config_file` is `--config.file` (of the
/// subcommand, or the one given before it).
pub fn main(args: &ProbeArgs, config_file: Option<&Path>) -> ExitCode {
    let planned = super::check::load(config_file)
        .map_err(UsageError::Config)
        .and_then(|config| plan(args, &config));
    let plan = match planned {
        Ok(p) => p,
        Err(e) => {
            eprintln!("blackwatch probe: {e}");
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("blackwatch probe: starting the runtime: {e}");
            return ExitCode::from(super::EXIT_FAILURE);
        }
    };
    let (success, cx) = runtime.block_on(run(&plan));
    match args.output {
        ProbeOutput::Metrics => print!("{}", cx.registry.encode_text()),
        ProbeOutput::Summary => {
            let now = clock::Now::read().unix_seconds();
            print!("{}", summary(&plan, success, &cx, now, args.verbose));
        }
    }
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILURE)
    }
}

/// The human summary: one `key  value` line per fact the probe produced, then the probe
/// log when the probe failed (or `verbose`). `now` (Unix seconds) dates the certificate.
pub fn summary(plan: &Plan, success: bool, cx: &ProbeCx, now: f64, verbose: bool) -> String {
    let reg = &cx.registry;
    let mut lines: Vec<(&str, String)> = vec![
        (
            "result",
            if success { "success" } else { "FAILURE" }.to_string(),
        ),
        ("target", plan.target.clone()),
        (
            "module",
            format!("{} ({})", plan.module_name, plan.module.prober.name()),
        ),
    ];
    if let Some(d) = reg.get("probe_duration_seconds") {
        lines.push((
            "duration",
            format!("{} (timeout {})", secs(d), secs(plan.timeout.as_secs_f64())),
        ));
    }
    if let Some(phases) = phases(cx) {
        lines.push(("phases", phases));
    }
    if let Some(proto) = reg.get("probe_ip_protocol").filter(|p| *p > 0.0) {
        lines.push(("ip protocol", format!("ip{proto}")));
    }
    if let Some(status) = reg.get("probe_http_status_code") {
        let mut s = format!("{status}");
        if let Some(v) = reg.get("probe_http_version").filter(|v| *v > 0.0) {
            let _ = write!(s, " (HTTP/{v})");
        }
        if let Some(r) = reg.get("probe_http_redirects").filter(|r| *r > 0.0) {
            let _ = write!(s, ", {r} redirect(s)");
        }
        lines.push(("http status", s));
    }
    if let Some(tls) = tls_line(cx, now) {
        lines.push(("tls", tls));
    }
    if let Some(a) = reg.get("probe_dns_answer_rrs") {
        let au = reg.get("probe_dns_authority_rrs").unwrap_or(0.0);
        let ad = reg.get("probe_dns_additional_rrs").unwrap_or(0.0);
        lines.push((
            "dns records",
            format!("{a} answer, {au} authority, {ad} additional"),
        ));
    }
    let mut out = String::new();
    for (k, v) in lines {
        let _ = writeln!(out, "{k:<12} {v}");
    }
    if !success || verbose {
        out.push_str("log:\n");
        for line in cx.log.text().lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// `resolve 1.2ms, connect 0.3ms, ...` from the prober's `probe_*_duration_seconds{phase}`.
fn phases(cx: &ProbeCx) -> Option<String> {
    let mut parts = Vec::new();
    for (name, family) in cx.registry.families() {
        if name == "probe_duration_seconds" || !name.ends_with("_duration_seconds") {
            continue;
        }
        for (labels, value) in &family.samples {
            if let Some((_, phase)) = labels.iter().find(|(k, _)| k == "phase") {
                parts.push(format!("{phase} {}", secs(*value)));
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// TLS version and the earliest certificate expiry, when the probe used TLS.
fn tls_line(cx: &ProbeCx, now: f64) -> Option<String> {
    let reg = &cx.registry;
    let version = reg.families().find_map(|(name, family)| {
        (name == "probe_tls_version_info")
            .then(|| family.samples.first())
            .flatten()
            .and_then(|(labels, _)| labels.iter().find(|(k, _)| k == "version"))
            .map(|(_, v)| v.clone())
    });
    let expiry = reg.get("probe_ssl_earliest_cert_expiry");
    if version.is_none() && expiry.is_none() {
        return None;
    }
    let mut parts = Vec::new();
    if let Some(v) = version {
        parts.push(v);
    }
    if let Some(e) = expiry {
        let when = UNIX_EPOCH + Duration::from_secs_f64(e.max(0.0));
        let days = (e - now) / 86_400.0;
        let rel = if days >= 0.0 {
            format!("in {days:.1} days")
        } else {
            format!("EXPIRED {:.1} days ago", -days)
        };
        parts.push(format!(
            "certificate expires {} ({rel})",
            clock::rfc3339(when)
        ));
    }
    Some(parts.join(", "))
}

/// Seconds as `850µs` below a millisecond, `12.3ms` below a second and `1.234s` above.
fn secs(s: f64) -> String {
    if s < 0.001 {
        format!("{:.0}µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1}ms", s * 1000.0)
    } else {
        format!("{s:.3}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn args(target: &str, module: Option<&str>) -> ProbeArgs {
        ProbeArgs {
            target: target.to_string(),
            module: module.map(str::to_string),
            config_file: None,
            timeout: None,
            hostname: None,
            output: ProbeOutput::Summary,
            verbose: false,
        }
    }

    #[test]
    fn default_module_follows_the_scheme() {
        assert_eq!(default_module("https://example.org/"), "http_2xx");
        assert_eq!(default_module("HTTP://example.org/"), "http_2xx");
        assert_eq!(default_module("example.org:443"), "tcp_connect");
        assert_eq!(default_module("10.0.0.1"), "tcp_connect");
    }

    #[test]
    fn plan_picks_module_and_timeout() {
        let config = config::embedded().expect("embedded modules load");
        let p = plan(&args("https://example.org/", None), &config).expect("a plan");
        assert_eq!(p.module_name, "http_2xx");
        assert_eq!(p.timeout, DEFAULT_TIMEOUT);
        let mut a = args("example.org:22", Some("ssh_banner"));
        a.timeout = Some(Duration::from_millis(1500));
        let p = plan(&a, &config).expect("a plan");
        assert_eq!(p.module.prober.name(), "tcp");
        assert_eq!(p.timeout, Duration::from_millis(1500));
    }

    #[test]
    fn plan_rejects_unknown_modules_and_empty_targets() {
        let config = config::embedded().expect("embedded modules load");
        let e = plan(&args("x:1", Some("nope")), &config).expect_err("unknown module");
        let msg = e.to_string();
        assert!(
            msg.starts_with("unknown module \"nope\" in <embedded>"),
            "{msg}"
        );
        assert!(msg.contains("tcp_connect"), "{msg}");
        assert!(matches!(
            plan(&args("  ", None), &config),
            Err(UsageError::EmptyTarget)
        ));
    }

    #[test]
    fn summary_shows_phases_status_and_certificate() {
        let config = config::embedded().expect("embedded modules load");
        let p = plan(&args("https://example.org/", None), &config).expect("a plan");
        let mut cx = ProbeCx::new("http_2xx", "https://example.org/", p.timeout, Level::Debug);
        let r = &mut cx.registry;
        r.set("probe_duration_seconds", "d", 0.25);
        for (phase, v) in [("resolve", 0.000_04), ("connect", 0.002), ("tls", 0.0105)] {
            r.set_labeled("probe_http_duration_seconds", "p", &[("phase", phase)], v);
        }
        r.set("probe_http_status_code", "s", 503.0);
        r.set("probe_http_version", "v", 1.1);
        r.set("probe_ip_protocol", "i", 4.0);
        r.set_labeled(
            "probe_tls_version_info",
            "t",
            &[("version", "TLS 1.3")],
            1.0,
        );
        let now = 1_763_719_200.0; // 2025-11-21T10:00:00Z
        r.set("probe_ssl_earliest_cert_expiry", "e", now + 10.5 * 86_400.0);
        cx.log.error(
            "Invalid HTTP response status code",
            &[("status_code", "503")],
        );

        let text = summary(&p, false, &cx, now, false);
        for want in [
            "result       FAILURE\n",
            "target       https://example.org/\n",
            "module       http_2xx (http)\n",
            "duration     250.0ms (timeout 10.000s)\n",
            "phases       resolve 40µs, connect 2.0ms, tls 10.5ms\n",
            "ip protocol  ip4\n",
            "http status  503 (HTTP/1.1)\n",
            "tls          TLS 1.3, certificate expires 2025-12-01T22:00:00.000Z (in 10.5 days)\n",
            "log:\n",
            "msg=\"Invalid HTTP response status code\" status_code=503",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        let ok = summary(&p, true, &cx, now + 11.0 * 86_400.0, false);
        assert!(ok.contains("result       success\n"), "{ok}");
        assert!(ok.contains("(EXPIRED 0.5 days ago)"), "{ok}");
        assert!(!ok.contains("log:"), "{ok}");
    }
}
