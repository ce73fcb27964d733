//! In-process probes from inline YAML ([`probe_http`], [`probe_with`], [`run_probe`]),
//! run the way `/probe` runs them; each returns an [`Outcome`] with the per-probe registry,
//! its parsed exposition and the probe log.

use std::sync::Arc;
use std::time::Duration;

use blackwatch::config::Config;
use blackwatch::probe::log::Level;
use blackwatch::probe::{self, Module, ProbeCx, Registry};

use super::scrape::Metrics;
use super::yaml::{http_module_yaml, module_config, MODULE};

/// Timeout used for in-process probes whose module sets none.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// What one probe produced.
#[derive(Debug)]
pub struct Outcome {
    /// `probe::run`'s verdict.
    pub success: bool,
    /// The per-probe registry.
    pub registry: Registry,
    /// The registry's text exposition, parsed.
    pub metrics: Metrics,
    /// The probe log (debug level and up).
    pub log: String,
    /// Wall time of `probe::run`.
    pub elapsed: Duration,
}

impl Outcome {
    /// Value of an unlabelled metric; panics with the exposition when absent.
    pub fn value(&self, name: &str) -> f64 {
        self.metrics.value(name)
    }

    /// Value of one labelled series; panics with the exposition when absent.
    pub fn value_with(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.metrics.value_with(name, labels)
    }

    /// A readable dump for assertion messages.
    pub fn dump(&self) -> String {
        format!(
            "success={}\n--- metrics ---\n{}--- log ---\n{}",
            self.success,
            self.registry.encode_text(),
            self.log
        )
    }

    /// Asserts the verdict, printing everything on mismatch.
    #[track_caller]
    pub fn assert_success(&self, want: bool) {
        assert_eq!(
            self.success,
            want,
            "unexpected probe result\n{}",
            self.dump()
        );
        let expected = if want { 1.0 } else { 0.0 };
        assert_eq!(self.value("probe_success"), expected, "{}", self.dump());
    }
}

/// Runs `module` of `config` against `target` in-process, as `/probe` would.
pub async fn run_probe(
    config: &Config,
    module: &str,
    target: &str,
    hostname: Option<&str>,
) -> Outcome {
    super::install_crypto();
    let module: Arc<Module> = config
        .modules
        .get(module)
        .unwrap_or_else(|| panic!("no module {module:?} in the test config"))
        .clone();
    let timeout = if module.timeout.is_zero() {
        DEFAULT_PROBE_TIMEOUT
    } else {
        module.timeout
    };
    let mut cx = ProbeCx::new(&module.name, target, timeout, Level::Debug);
    cx.hostname = hostname.map(str::to_string);
    let start = tokio::time::Instant::now();
    // A hung prober must not hang the test run.
    let success = tokio::time::timeout(
        timeout + Duration::from_secs(30),
        probe::run(target, &module, &mut cx),
    )
    .await
    .expect("probe::run did not return within its own timeout + 30s");
    let elapsed = start.elapsed();
    let text = cx.registry.encode_text();
    Outcome {
        success,
        metrics: Metrics::parse(&text),
        registry: cx.registry,
        log: cx.log.text().to_string(),
        elapsed,
    }
}

/// Probes `target` with a module given as YAML (the body of one `modules:` entry).
pub async fn probe_with(module_yaml: &str, target: &str) -> Outcome {
    let cfg = module_config(module_yaml);
    run_probe(&cfg, MODULE, target, None).await
}

/// Probes `target` with an http module whose `http:` block is `http_yaml`.
pub async fn probe_http(http_yaml: &str, target: &str) -> Outcome {
    probe_with(&http_module_yaml(http_yaml), target).await
}
