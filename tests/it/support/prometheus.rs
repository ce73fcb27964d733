//! A real Prometheus 2.42 process (Debian package `prometheus`, or `PROMETHEUS_BIN`) for the
//! tests that compare with or are driven by it: started on a free loopback port with a config
//! written into its own temp dir, killed and reaped on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Prometheus {
    pub child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Writes `config` as prometheus.yml (and `files` beside it, for rule files) and starts
    /// Prometheus with `extra_args`. Fails, rather than skips, when it is not installed.
    pub fn start(config: &str, files: &[(&str, &str)], extra_args: &[&str]) -> Self {
        let binary = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".to_owned());
        let dir = tempfile::tempdir().expect("temp dir for prometheus");
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).expect("write prometheus file");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free loopback port")
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = dir.path().join("prometheus.log");
        let out = std::fs::File::create(&log).expect("prometheus log file");
        let err = out.try_clone().expect("clone log file");
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run prometheus `{binary}` ({e}); install the Debian package \
                     prometheus (or set PROMETHEUS_BIN). This test fails instead of skipping."
                )
            });
        Self {
            child,
            addr,
            log,
            _dir: dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log when the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("prometheus exited with {status}; log:\n{}", self.log());
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
