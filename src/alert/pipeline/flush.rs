//! One flush of one aggregation group: the stages of `alert::stages` called as a straight
//! line in Alertmanager's order (inhibit → active/mute time intervals → silences), then per
//! integration in parallel: dedup and the send filter (`stages::select`) → send with retry
//! → record in the notification log (only on success, written at once when persisting).
//!
//! It does not decide anything itself (the stages do, at the job's tick time), own timers
//! (the dispatcher and the driver loop do) or know file formats (`persist.rs` does).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Alerting;
use crate::alert::dispatch::FlushJob;
use crate::alert::metrics::ReasonLabel;
use crate::alert::nflog::IntegrationId;
use crate::alert::notify::{Batch, Integration, NotifyContext};
use crate::alert::retry::{notify_batch_with_retry, RetryError};
use crate::alert::stages::{self, Fate, MutedBy, Muter};

/// Why a flush did not deliver everything; the dispatcher flushes the group again at its
/// next tick.
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error("unknown receiver {0:?}")]
    UnknownReceiver(String),
    #[error("{failed} integration(s) failed")]
    Notify { failed: usize },
}

impl Alerting {
    /// Runs one flush of one group: the stages of `alert::stages` in upstream's order, then
    /// every integration of the receiver in parallel. `Ok` if every integration succeeded
    /// or nothing had to be sent.
    pub async fn flush(self: &Arc<Self>, job: &Arc<FlushJob>) -> Result<(), FlushError> {
        // GossipSettle: a replica that just joined first learns what was already sent.
        self.settled().await;
        let rt = self.runtime();
        let now = job.now.wall;
        // What each alert became. Indices, not copies: a flush may carry many alerts.
        let mut fates = vec![Fate::Kept; job.alerts.len()];
        let inhibited = {
            let core = self.core();
            stages::mute(
                &job.alerts,
                &mut fates,
                Muter::Inhibitor(&core.inhibitor),
                now,
            )
        };
        self.suppressed(MutedBy::Inhibition, inhibited);
        if let Some(by) = stages::time_muted(&job.opts, &rt.config.time_intervals, now) {
            self.suppressed(by, stages::kept(&fates));
            return Ok(());
        }
        let silenced = {
            let silences = self.silences();
            stages::mute(&job.alerts, &mut fates, Muter::Silences(&silences), now)
        };
        self.suppressed(MutedBy::Silence, silenced);
        if !stages::any_to_send(&job.alerts, &fates, rt.resolved_after_mute) {
            return Ok(());
        }
        let Some(integrations) = rt.receivers.get(&job.opts.receiver) else {
            tracing::error!(message = "Unknown receiver", receiver = %job.opts.receiver);
            return Err(FlushError::UnknownReceiver(job.opts.receiver.clone()));
        };
        let fates: Arc<[Fate]> = fates.into();
        let mut tasks = JoinSet::new();
        for (id, integration) in integrations {
            let (id, integration) = (id.clone(), integration.clone());
            let me = Arc::clone(self);
            let (fates, job) = (fates.clone(), job.clone());
            let resolved_after_mute = rt.resolved_after_mute;
            tasks.spawn(crate::base::task::boxed(async move {
                me.notify_integration(&job, &id, &integration, &fates, resolved_after_mute)
                    .await
            }));
        }
        let mut failed = 0;
        while let Some(r) = tasks.join_next().await {
            // A panicked task counts as a failed integration.
            if !matches!(r, Ok(Ok(()))) {
                failed += 1;
            }
        }
        match failed {
            0 => Ok(()),
            failed => Err(FlushError::Notify { failed }),
        }
    }

    /// Counts alerts a stage muted.
    fn suppressed(&self, by: MutedBy, n: usize) {
        if n > 0 {
            self.metrics
                .suppressed
                .get_or_create(&ReasonLabel {
                    reason: by.reason(),
                })
                .inc_by(n as u64);
        }
    }

    /// One integration's part of a flush: the dedup stage and the send filter
    /// ([`stages::select`]), the send with retry, and the notification log (only on success).
    async fn notify_integration(
        &self,
        job: &FlushJob,
        id: &IntegrationId,
        integration: &Integration,
        fates: &[Fate],
        resolved_after_mute: bool,
    ) -> Result<(), RetryError> {
        let now = job.now.wall;
        let key = id.state_key(&job.group_key);
        // WaitStage: the group's owner goes first; the others wait their rank × peer
        // timeout and then find the owner's send in the gossiped notification log.
        let wait = self.peer_wait(&job.group_key);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let entry = self.nflog().query(&key, now).cloned();
        if !wait.is_zero() {
            let newer = entry.as_ref().is_some_and(|e| e.timestamp > now);
            tracing::debug!(
                message = "Waited for peers",
                group_key = %job.group_key,
                wait = ?wait,
                logged = entry.is_some(),
                newer
            );
            // A peer notified after this flush's alerts were taken: what it sent is at
            // least as new as what this flush holds (which may be stale: a firing alert
            // that has resolved since). The group's next flush decides on fresh state.
            if newer {
                return Ok(());
            }
        }
        let Some(selection) = stages::select(
            &job.alerts,
            fates,
            entry.as_ref(),
            resolved_after_mute,
            integration.send_resolved,
            job.opts.repeat_interval,
            now,
        ) else {
            return Ok(());
        };
        if !selection.send.is_empty() {
            // Shared stored alerts: the notifier builds its payload from them.
            let to_send = Batch::Stored(
                selection
                    .send
                    .iter()
                    .map(|&i| job.alerts[i].clone())
                    .collect(),
            );
            let ctx = NotifyContext {
                receiver: job.opts.receiver.clone(),
                group_key: job.group_key.clone(),
                group_labels: job.group_labels.clone(),
                external_url: self.options.external_url.clone(),
                reason: selection.reason,
                now,
            };
            let deadline = Instant::now() + job.opts.group_interval.max(Duration::from_secs(10));
            if let Err(e) = notify_batch_with_retry(
                integration,
                &ctx,
                &to_send,
                deadline,
                &self.options.jitter,
                &self.metrics,
            )
            .await
            {
                tracing::error!(
                    message = "Notify for alerts failed",
                    receiver = %id.receiver,
                    integration = %format!("{}[{}]", id.integration, id.index),
                    num_alerts = to_send.len(),
                    error = %e
                );
                return Err(e);
            }
            tracing::debug!(
                message = "Notify success",
                receiver = %id.receiver,
                integration = %format!("{}[{}]", id.integration, id.index),
                reason = selection.reason.as_str()
            );
        }
        // Upstream logs the time the send finished, not the tick time; at a tick exactly
        // `repeat_interval` later this decides the same way Alertmanager does.
        let logged_at = self.now().wall.max(now);
        let logged = {
            let mut log = self.nflog();
            let (firing, resolved) = (selection.firing, selection.resolved);
            log.log(key, firing, resolved, job.opts.repeat_interval, logged_at);
            log.version()
        };
        self.publish();
        if let Some(p) = &self.persister {
            // Written before the flush returns, so a crash right after a send does not
            // send it again.
            self.commit_nflog(p, logged).await;
        }
        Ok(())
    }
}
