//! The remote-write self-metrics, named as Prometheus 2.42's `storage/remote/queue_manager.go`
//! names them (`prometheus_remote_storage_*`, labelled `remote_name` and `url`), so the
//! dashboards and alerts people have for Prometheus' remote write work unchanged.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// `remote_name` and `url`, Prometheus' constant labels of a queue.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub remote_name: String,
    pub url: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

fn batch_duration() -> Histogram {
    // prometheus.DefBuckets plus 25, 60, 120, 300.
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0, 120.0, 300.0,
    ])
}

#[derive(Clone)]
pub struct RemoteMetrics {
    pub samples: Family<QueueLabels, Counter>,
    pub failed: Family<QueueLabels, Counter>,
    pub retried: Family<QueueLabels, Counter>,
    pub dropped: Family<QueueLabels, Counter>,
    pub bytes: Family<QueueLabels, Counter>,
    pub sent_batch_duration: Family<QueueLabels, Histogram>,
    pub highest_sent: Family<QueueLabels, FloatGauge>,
    pub pending: Family<QueueLabels, Gauge>,
    /// Bytes of the on-disk queue (blackwatch's own).
    pub queue_bytes: Family<QueueLabels, Gauge>,
    /// Highest timestamp handed to remote write, over all queues.
    pub highest_in: FloatGauge,
}

impl RemoteMetrics {
    pub fn register(r: &mut Registry) -> Self {
        let m = Self {
            samples: Family::default(),
            failed: Family::default(),
            retried: Family::default(),
            dropped: Family::default(),
            bytes: Family::default(),
            sent_batch_duration: Family::new_with_constructor(batch_duration),
            highest_sent: Family::default(),
            pending: Family::default(),
            queue_bytes: Family::default(),
            highest_in: FloatGauge::default(),
        };
        r.register(
            "prometheus_remote_storage_samples",
            "Total number of samples sent to remote storage.",
            m.samples.clone(),
        );
        r.register(
            "prometheus_remote_storage_samples_failed",
            "Total number of samples which failed on send to remote storage, non-recoverable errors.",
            m.failed.clone(),
        );
        r.register(
            "prometheus_remote_storage_samples_retried",
            "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.",
            m.retried.clone(),
        );
        r.register(
            "prometheus_remote_storage_samples_dropped",
            "Total number of samples which were dropped before being sent via remote write, by write_relabel_configs or because the queue was over its bound.",
            m.dropped.clone(),
        );
        r.register(
            "prometheus_remote_storage_bytes",
            "The total number of bytes of data (not metadata) sent by the queue after compression.",
            m.bytes.clone(),
        );
        r.register(
            "prometheus_remote_storage_sent_batch_duration_seconds",
            "Duration of send calls to the remote storage.",
            m.sent_batch_duration.clone(),
        );
        r.register(
            "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
            "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch.",
            m.highest_sent.clone(),
        );
        r.register(
            "prometheus_remote_storage_samples_pending",
            "The number of samples pending in the queues shards to be sent to the remote storage.",
            m.pending.clone(),
        );
        r.register(
            "blackwatch_remote_write_queue_bytes",
            "Bytes of the on-disk remote-write queue.",
            m.queue_bytes.clone(),
        );
        r.register(
            "prometheus_remote_storage_highest_timestamp_in_seconds",
            "Highest timestamp that has come into the remote storage via the Appender interface, in seconds since epoch.",
            m.highest_in.clone(),
        );
        m
    }
}
