//! The alert pipeline (Alertmanager's job): the alert store, routing, grouping, inhibition,
//! silences, dedup against the notification log, and the notifiers.
//!
//! The entry point for producers is [`AlertSink`]: the rule engine and `POST /api/v2/alerts`
//! both hand over [`PostableAlert`]s through it.

pub mod dedup;
pub mod dispatch;
pub mod metrics;
pub mod nflog;
pub mod notify;
pub mod peer;
pub mod persist;
pub mod pipeline;
pub mod retry;
pub mod store;

use std::time::SystemTime;

use crate::labels::LabelSet;

/// An alert as a producer posts it: the `PostableAlert` of Alertmanager's API v2.
/// `None` times mean "not set" (Alertmanager fills them in on ingest).
#[derive(Clone, Debug, PartialEq)]
pub struct PostableAlert {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: Option<SystemTime>,
    pub ends_at: Option<SystemTime>,
    pub generator_url: String,
}

/// Where producers deliver alerts. `now` is the receive time used for ingest defaults.
pub trait AlertSink: Send + Sync {
    fn put(&self, alerts: Vec<PostableAlert>, now: SystemTime);
}

pub mod config;
pub mod inhibit;
pub mod route;
pub mod silence;
pub mod stages;
pub mod timeinterval;
