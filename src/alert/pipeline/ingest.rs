//! What comes into the pipeline: posted alerts (`POST /api/v2/alerts` and the rule engine
//! through [`AlertSink`]) stored, handed to inhibition and the dispatcher, and the
//! `--alerts.limit` check; changes to silences noted for the persister.
//!
//! It does not flush, send or write anything: the driver loop (`driver.rs`) is woken and
//! the persister is marked dirty.

use std::time::SystemTime;

use super::{Alerting, Core};
use crate::alert::metrics::{ReasonLabel, ReceivedLabels, VersionLabel};
use crate::alert::store::{ingest, Alert, InvalidAlert};
use crate::alert::{AlertSink, PostableAlert};
use crate::clock::Now;

impl Alerting {
    /// Ingests posted alerts at wall time `now` (Alertmanager's `postAlertsHandler`): valid
    /// alerts are stored even if others are invalid; the invalid ones are returned. New
    /// fingerprints beyond `Options::max_alerts` active alerts are refused and reported as
    /// one [`InvalidAlert::Limit`]; updates to stored alerts always pass.
    pub fn ingest(&self, posted: Vec<PostableAlert>, now: SystemTime) -> Vec<InvalidAlert> {
        let resolve_timeout = self.runtime().config.global.resolve_timeout;
        let mut invalid = Vec::new();
        let clock = self.now();
        let tick = Now {
            mono: clock.mono,
            wall: now,
        };
        let limit = self.options.max_alerts;
        let mut refused = 0;
        {
            let mut core = self.core();
            let core = &mut *core;
            // Active alerts are never more than stored ones: while the store plus this batch
            // stays within the limit nothing can be refused, and the (full) count is skipped.
            let limited = limit > 0 && core.alerts.len() + posted.len() > limit;
            // Counted once per batch, then kept up to date as new alerts come in.
            let mut active = if limited { core.alerts.active(now) } else { 0 };
            for p in posted {
                match ingest(p, now, resolve_timeout) {
                    Ok(a) if limited && core.alerts.get(a.fingerprint()).is_none() => {
                        if active >= limit {
                            refused += 1;
                            continue;
                        }
                        if a.ends_at > now {
                            active += 1;
                        }
                        self.store_alert(core, &a, now, tick);
                    }
                    Ok(a) => self.store_alert(core, &a, now, tick),
                    Err(e) => {
                        self.metrics
                            .alerts_invalid
                            .get_or_create(&VersionLabel { version: "v2" })
                            .inc();
                        invalid.push(e);
                    }
                }
            }
            if refused > 0 {
                self.metrics
                    .alerts_refused
                    .get_or_create(&ReasonLabel { reason: "limit" })
                    .inc_by(refused as u64);
                invalid.push(InvalidAlert::Limit {
                    count: refused,
                    active,
                    limit,
                });
            }
        }
        self.wake.notify_one();
        if let Some(p) = &self.persister {
            p.mark_dirty();
        }
        invalid
    }

    fn store_alert(&self, core: &mut Core, a: &Alert, now: SystemTime, tick: Now) {
        let status = if a.ends_at > now {
            "firing"
        } else {
            "resolved"
        };
        self.metrics
            .alerts_received
            .get_or_create(&ReceivedLabels {
                status,
                version: "v2",
            })
            .inc();
        let stored = core.alerts.put(a, now);
        core.inhibitor.observe(&a.labels, stored.ends_at);
        core.dispatcher.insert(&stored, &a.labels, tick);
        core.version += 1;
    }

    /// Notes a silence change for the persister.
    pub fn silences_changed(&self) {
        if let Some(p) = &self.persister {
            p.mark_dirty();
        }
        self.publish();
    }
}

impl AlertSink for Alerting {
    fn put(&self, alerts: Vec<PostableAlert>, now: SystemTime) {
        for e in self.ingest(alerts, now) {
            match e {
                InvalidAlert::Limit { .. } => {
                    tracing::warn!(message = "Rule alerts dropped: --alerts.limit reached", error = %e)
                }
                _ => tracing::warn!(message = "Invalid alert", error = %e),
            }
        }
    }
}
