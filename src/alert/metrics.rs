//! The alert pipeline's self-metrics, with Alertmanager's names and labels (§4.4), registered
//! into the daemon registry. Families with known label values are pre-initialised to 0 so
//! `rate()` and the mixin's ratio alerts work from the first scrape.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceivedLabels {
    pub status: &'static str,
    pub version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    pub version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntegrationLabel {
    pub integration: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailedLabels {
    pub integration: String,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// Failure reasons of `alertmanager_notifications_failed_total`.
pub const FAIL_REASONS: &[&str] = &[
    "other",
    "clientError",
    "serverError",
    "contextCanceled",
    "contextDeadlineExceeded",
    "authError",
    "rateLimited",
];

/// The integrations built in; their series exist from the start.
pub const INTEGRATIONS: &[&str] = &["discord", "email", "webhook"];

fn latency_histogram() -> Histogram {
    Histogram::new([1.0, 5.0, 10.0, 15.0, 20.0])
}

#[derive(Clone)]
pub struct AlertMetrics {
    pub alerts: Family<StateLabel, Gauge>,
    pub alerts_received: Family<ReceivedLabels, Counter>,
    pub alerts_invalid: Family<VersionLabel, Counter>,
    /// `blackwatch_alerts_refused_total{reason}`: new alerts refused (`--alerts.limit`).
    pub alerts_refused: Family<ReasonLabel, Counter>,
    pub notifications: Family<IntegrationLabel, Counter>,
    pub notifications_failed: Family<FailedLabels, Counter>,
    pub notification_requests: Family<IntegrationLabel, Counter>,
    pub notification_requests_failed: Family<IntegrationLabel, Counter>,
    pub notification_latency: Family<IntegrationLabel, Histogram>,
    pub suppressed: Family<ReasonLabel, Counter>,
    pub aggregation_groups: Gauge,
    pub silences: Family<StateLabel, Gauge>,
    pub nflog_snapshot_size_bytes: Gauge,
    pub silences_snapshot_size_bytes: Gauge,
    pub nflog_maintenance: Counter,
    pub nflog_maintenance_errors: Counter,
    pub receivers: Gauge,
    pub integrations: Gauge,
    pub inhibition_rules: Gauge,
    pub cluster_enabled: Gauge,
    pub config_hash: Gauge<f64, AtomicU64>,
}

impl AlertMetrics {
    /// Registers every Alertmanager metric blackwatch exposes, one statement each (a long
    /// but flat list: each name and help text is upstream's).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            alerts: Family::default(),
            alerts_received: Family::default(),
            alerts_invalid: Family::default(),
            alerts_refused: Family::default(),
            notifications: Family::default(),
            notifications_failed: Family::default(),
            notification_requests: Family::default(),
            notification_requests_failed: Family::default(),
            notification_latency: Family::new_with_constructor(
                latency_histogram as fn() -> Histogram,
            ),
            suppressed: Family::default(),
            aggregation_groups: Gauge::default(),
            silences: Family::default(),
            nflog_snapshot_size_bytes: Gauge::default(),
            silences_snapshot_size_bytes: Gauge::default(),
            nflog_maintenance: Counter::default(),
            nflog_maintenance_errors: Counter::default(),
            receivers: Gauge::default(),
            integrations: Gauge::default(),
            inhibition_rules: Gauge::default(),
            cluster_enabled: Gauge::default(),
            config_hash: Gauge::default(),
        };
        let r = registry;
        r.register(
            "alertmanager_alerts",
            "How many alerts by state.",
            m.alerts.clone(),
        );
        r.register(
            "alertmanager_alerts_received",
            "The total number of received alerts.",
            m.alerts_received.clone(),
        );
        r.register(
            "alertmanager_alerts_invalid",
            "The total number of received alerts that were invalid.",
            m.alerts_invalid.clone(),
        );
        r.register(
            "blackwatch_alerts_refused",
            "The total number of new alerts refused because the store held --alerts.limit active alerts.",
            m.alerts_refused.clone(),
        );
        r.register(
            "alertmanager_notifications",
            "The total number of attempted notifications.",
            m.notifications.clone(),
        );
        r.register(
            "alertmanager_notifications_failed",
            "The total number of failed notifications.",
            m.notifications_failed.clone(),
        );
        r.register(
            "alertmanager_notification_requests",
            "The total number of attempted notification requests.",
            m.notification_requests.clone(),
        );
        r.register(
            "alertmanager_notification_requests_failed",
            "The total number of failed notification requests.",
            m.notification_requests_failed.clone(),
        );
        r.register(
            "alertmanager_notification_latency_seconds",
            "The latency of notifications in seconds.",
            m.notification_latency.clone(),
        );
        r.register(
            "alertmanager_notifications_suppressed",
            "The total number of notifications suppressed for being silenced, inhibited, outside of active time intervals or within muted time intervals.",
            m.suppressed.clone(),
        );
        r.register(
            "alertmanager_dispatcher_aggregation_groups",
            "Number of active aggregation groups",
            m.aggregation_groups.clone(),
        );
        r.register(
            "alertmanager_silences",
            "How many silences by state.",
            m.silences.clone(),
        );
        r.register(
            "alertmanager_nflog_snapshot_size_bytes",
            "Size of the last notification log snapshot in bytes.",
            m.nflog_snapshot_size_bytes.clone(),
        );
        r.register(
            "alertmanager_silences_snapshot_size_bytes",
            "Size of the last silence snapshot in bytes.",
            m.silences_snapshot_size_bytes.clone(),
        );
        r.register(
            "alertmanager_nflog_maintenance",
            "How many maintenances were executed for the notification log.",
            m.nflog_maintenance.clone(),
        );
        r.register(
            "alertmanager_nflog_maintenance_errors",
            "How many maintenances were executed for the notification log that failed.",
            m.nflog_maintenance_errors.clone(),
        );
        r.register(
            "alertmanager_receivers",
            "Number of configured receivers.",
            m.receivers.clone(),
        );
        r.register(
            "alertmanager_integrations",
            "Number of configured integrations.",
            m.integrations.clone(),
        );
        r.register(
            "alertmanager_inhibition_rules",
            "Number of configured inhibition rules.",
            m.inhibition_rules.clone(),
        );
        r.register(
            "alertmanager_cluster_enabled",
            "Indicates whether the clustering is enabled or not.",
            m.cluster_enabled.clone(),
        );
        r.register(
            "alertmanager_config_hash",
            "Hash of the currently loaded alertmanager configuration.",
            m.config_hash.clone(),
        );
        m.preinit();
        m
    }

    fn preinit(&self) {
        for state in ["active", "suppressed", "unprocessed"] {
            let _ = self.alerts.get_or_create(&StateLabel { state });
        }
        for status in ["firing", "resolved"] {
            let _ = self.alerts_received.get_or_create(&ReceivedLabels {
                status,
                version: "v2",
            });
        }
        let _ = self
            .alerts_invalid
            .get_or_create(&VersionLabel { version: "v2" });
        for i in INTEGRATIONS {
            self.preinit_integration(i);
        }
        for reason in [
            "silence",
            "inhibition",
            "mute_time_interval",
            "active_time_interval",
        ] {
            let _ = self.suppressed.get_or_create(&ReasonLabel { reason });
        }
        let _ = self
            .alerts_refused
            .get_or_create(&ReasonLabel { reason: "limit" });
        for state in ["active", "pending", "expired"] {
            let _ = self.silences.get_or_create(&StateLabel { state });
        }
    }

    fn preinit_integration(&self, integration: &str) {
        let l = IntegrationLabel {
            integration: integration.to_string(),
        };
        let _ = self.notifications.get_or_create(&l);
        let _ = self.notification_requests.get_or_create(&l);
        let _ = self.notification_requests_failed.get_or_create(&l);
        let _ = self.notification_latency.get_or_create(&l);
        for reason in FAIL_REASONS {
            let _ = self.notifications_failed.get_or_create(&FailedLabels {
                integration: integration.to_string(),
                reason,
            });
        }
    }

    pub fn integration(integration: &str) -> IntegrationLabel {
        IntegrationLabel {
            integration: integration.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_preinitialised() {
        let mut r = Registry::default();
        let _m = AlertMetrics::register(&mut r);
        let (text, _) = crate::base::expo::encode_registry(&r, None);
        for want in [
            "alertmanager_notifications_total{integration=\"webhook\"} 0",
            "alertmanager_notifications_failed_total{integration=\"discord\",reason=\"rateLimited\"} 0",
            "alertmanager_alerts{state=\"active\"} 0",
            "alertmanager_alerts_received_total{status=\"firing\",version=\"v2\"} 0",
            "alertmanager_silences{state=\"expired\"} 0",
            "alertmanager_notification_latency_seconds_bucket{le=\"20.0\",integration=\"email\"} 0",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }
}
