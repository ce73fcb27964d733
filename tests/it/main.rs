//! The one integration-test crate: real loopback servers, the real binary, and the real
//! blackbox_exporter and promtool where a comparison is asked for.

mod alerting; // the alert pipeline through the binary: webhook sink, API v2, amtool, kill -9
mod amconfig;
mod cli;
mod config;
mod conformance;
mod conformance_dns;
mod conformance_icmp;
mod conformance_tcp;
mod dns;
mod fuzz; // time-bounded proptest runs of the fuzz targets in fuzz/targets.rs
mod handler;
mod hostile; // hostile targets: every prober ends by its timeout, body/head caps
mod http;
mod icmp;
mod layers; // src/'s module graph is acyclic and ARCHITECTURE.md's codemap is in its order
mod limits; // --alerts.limit and --silences.max-silences through the API
mod notify; // Discord and e-mail notifiers vs loopback servers, aiosmtpd and Alertmanager 0.25
mod promql; // the rule-expression evaluator vs promtool 2.42
mod rules;
mod schedule;
mod slowloris; // the HTTP server closes connections that do not send a request head in time
mod status_page; // the status page at / in headless Chromium; alerting examples load
mod support;
mod support_selftest;
mod tcp;
mod websec; // --web.config.file: TLS, client certs, basic auth, headers, reload, Prometheus
