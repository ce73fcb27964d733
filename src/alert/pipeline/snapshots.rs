//! The pipeline's side of persistence: taking [`Snapshot`]s of the alert store, the
//! silences and the notification log under their locks, handing them to the [`Persister`],
//! and setting the snapshot metrics from what it wrote; the group commit of the
//! notification log after a send.
//!
//! It does not know files, formats or the debounce: `persist.rs` owns those.

use super::Alerting;
use crate::alert::persist::{PersistError, Persister, Snapshot};

impl Alerting {
    /// Writes the notification log up to version `logged` at least (after a send). Whoever
    /// holds the commit lock writes everything logged so far; the flushes waiting behind it
    /// find their entry already written. A failed write is counted and logged, and a later
    /// commit or debounced write tries again; the send itself succeeded.
    pub(super) async fn commit_nflog(&self, p: &Persister, logged: u64) {
        let _turn = self.nflog_commit.lock().await;
        if p.written().nflog >= logged {
            return;
        }
        if let Err(e) = self.write_nflog(p).await {
            self.metrics.nflog_maintenance_errors.inc();
            tracing::error!(message = "Writing the notification log failed", error = %e);
        }
    }

    /// Writes the notification log if it changed since it was last written.
    async fn write_nflog(&self, p: &Persister) -> Result<(), PersistError> {
        let snapshot = {
            let log = self.nflog();
            (log.version() > p.written().nflog).then(|| Snapshot {
                version: log.version(),
                content: log.snapshot(),
            })
        };
        if let Some(snapshot) = snapshot {
            if let Some(size) = p.write_nflog(snapshot).await? {
                self.metrics.nflog_snapshot_size_bytes.set(size as i64);
                self.metrics.nflog_maintenance.inc();
            }
        }
        Ok(())
    }

    /// Writes every state file whose state changed since it was last written: the alerts
    /// (shared with the store, serialised off the runtime), the silences, the notification
    /// log. Stops at the first failure.
    pub(super) async fn write_changed(&self, p: &Persister) -> Result<(), PersistError> {
        let alerts = {
            let core = self.core();
            (core.version > p.written().alerts).then(|| Snapshot {
                version: core.version,
                content: core.alerts.iter().cloned().collect(),
            })
        };
        if let Some(snapshot) = alerts {
            p.write_alerts(snapshot).await?;
        }
        let silences = {
            let s = self.silences();
            (s.version() > p.written().silences).then(|| Snapshot {
                version: s.version(),
                content: s.snapshot(),
            })
        };
        if let Some(snapshot) = silences {
            if let Some(size) = p.write_silences(snapshot).await? {
                self.metrics.silences_snapshot_size_bytes.set(size as i64);
            }
        }
        self.write_nflog(p).await
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::alert::metrics::AlertMetrics;
    use crate::alert::pipeline::Options;

    #[tokio::test]
    async fn a_failed_nflog_commit_is_counted_and_the_next_commit_writes() {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        let cfg = crate::alert::config::load_str(
            "route: {receiver: r}\nreceivers: [{name: r}]\n",
            Path::new("alertmanager.yml"),
        )
        .unwrap();
        let mut options = Options::new("http://bw.test".into(), Duration::from_secs(3600));
        options.storage_path = Some(storage.clone());
        let registry = &mut prometheus_client::registry::Registry::default();
        let alerting =
            Alerting::new(Arc::new(cfg), options, AlertMetrics::register(registry)).unwrap();
        let p = alerting.persister.clone().unwrap();
        let now = alerting.now().wall;
        let logged = {
            let mut log = alerting.nflog();
            let firing = [1].into_iter().collect();
            log.log(
                "g:r/webhook/0".into(),
                firing,
                Default::default(),
                Duration::ZERO,
                now,
            );
            log.version()
        };
        let (errors, writes) = (
            &alerting.metrics.nflog_maintenance_errors,
            &alerting.metrics.nflog_maintenance,
        );
        // A file where the directory should be: the write fails, and is reported.
        std::fs::write(&storage, b"").unwrap();
        alerting.commit_nflog(&p, logged).await;
        assert_eq!((errors.get(), writes.get()), (1, 0));
        assert_eq!(p.written().nflog, 0);
        // The next commit writes the log.
        std::fs::remove_file(&storage).unwrap();
        alerting.commit_nflog(&p, logged).await;
        assert_eq!((errors.get(), writes.get()), (1, 1));
        assert_eq!(p.written().nflog, logged);
        assert_eq!(p.load().unwrap().nflog.len(), 1);
        // Already on disk: a later commit of the same version writes nothing.
        alerting.commit_nflog(&p, logged).await;
        assert_eq!(writes.get(), 1);
    }
}
