//! The one integration-test crate: real loopback servers, the real binary, and the real
//! blackbox_exporter and promtool where a comparison is asked for.

mod alerting; // the alert pipeline through the binary: webhook sink, API v2, amtool, kill -9
mod amconfig; // alertmanager.yml validation and routing compared with amtool
mod cel; // CEL body matching in the http prober: upstream http_test.go CEL cases (0.23 has no CEL)
mod cli; // the real binary: --config.check, listening on, probes, SIGHUP reload, SIGTERM
mod client; // receivers' http_config: proxies via tinyproxy (CONNECT, no_proxy), OAuth2 tokens
mod cluster; // HA: real replicas gossiping on loopback, each notification once, shared silences
mod cluster_am; // the HA tests against a real Alertmanager 0.25 cluster: lost and duplicates, side by side
mod cluster_partition; // HA under partitions: replicas in network namespaces, nftables drops, heal and converge
mod cluster_shard; // HA: scheduled targets sharded over replicas, moved on kill -9 without an alert flap
mod config; // every shipped config loads, exact messages for tests/data/bad, unknown keys
mod conformance; // the http prober side by side with the real blackbox_exporter
mod conformance_dns; // the dns prober side by side with the real blackbox_exporter
mod conformance_icmp; // the icmp prober side by side with the real blackbox_exporter
mod conformance_tcp; // the tcp prober side by side with the real blackbox_exporter
mod dns;
mod edge; // edge-case YAML files: the real blackbox_exporter, amtool and promtool give the verdicts // the dns prober vs an in-process DNS server (UDP, TCP, DoT) and dnsmasq
mod example; // upstream's example.yml: loads unchanged, every module probes a loopback peer
mod fuzz; // time-bounded proptest runs of the fuzz targets in fuzz/targets.rs
mod grpc; // the grpc prober vs grpcio health servers, side by side with the real blackbox_exporter
mod handler; // the HTTP surface: /probe, /logs, /, /-/healthy, /-/ready, /-/reload, /metrics
mod hostile; // hostile targets: every prober ends by its timeout, body/head caps
mod http; // the http prober vs loopback servers: upstream's http_test.go scenarios and more
mod icmp; // the icmp prober against 127.0.0.1, 127.0.0.2 and ::1
mod layers; // src/'s module graph is acyclic and ARCHITECTURE.md's codemap is in its order
mod limits; // --alerts.limit and --silences.max-silences through the API
mod logs; // the process log through the binary: logfmt and json lines at start-up, reloads, shutdown parse strictly
mod notify; // Discord and e-mail notifiers vs loopback servers, aiosmtpd and Alertmanager 0.25
mod promql; // the rule-expression evaluator vs promtool 2.42, tables in tests/data/promql
mod proxy_probe; // the http prober through tinyproxy, microsocks and an https proxy, and with OAuth2, vs blackbox_exporter 0.23
mod receivers; // Slack (and the receivers after it) vs Alertmanager 0.25 through support/recorder.rs; error paths, secrets
mod receivers_r1; // Telegram, Webex and WeChat vs Alertmanager 0.25 (recorder.rs); 0.28 fields and answers, error paths, secrets
mod receivers_r2; // PagerDuty v1/v2 (v1 through support/mitm.rs), VictorOps, Opsgenie vs Alertmanager 0.25; error paths, secrets
mod receivers_r3; // Pushover (through support/mitm.rs) and Amazon SNS (SigV4 checked with botocore) vs Alertmanager 0.25
mod receivers_r4; // msteams, msteamsv2, Rocket.Chat and Jira (newer than 0.25): payloads vs upstream 0.28 test data, loopback servers, error paths
mod remote_write; // remote_write into a real Prometheus 2.42 (receiver down, restart with pending data), headers, auth, relabelling, 4xx
mod rules; // rule unit-test files vs promtool; alerts pending, firing, resolving in a daemon
mod schedule; // scheduled probes on /metrics: staleness, file_sd, reload, a real Prometheus
mod slowloris; // the HTTP server closes connections that do not send a request head in time
mod status_page; // the status page at / in headless Chromium; alerting examples load
mod status_pages; // uptime bars, response-time chart and incidents on / and /target, public status pages and badges; headless Chromium screenshots
mod support; // the shared helpers: loopback servers, certificates, daemons, polling, scraping
mod support_selftest; // the loopback test servers in support/ work
mod tcp; // the tcp prober vs loopback peers: upstream's tcp_test.go scenarios, shipped modules
mod unix; // the unix prober vs unix-socket peers in a temp dir: upstream's unix_test.go, dialogue, TLS (0.23 has no unix prober)
mod uptime; // the uptime history: restarts and kill -9 of the binary, a corrupted store, the API's 400s, figures vs a real Prometheus 2.42
mod websec; // --web.config.file: TLS, client certs, basic auth, headers, reload, Prometheus
mod websocket; // the websocket prober vs a tokio-tungstenite server (ws, wss): upstream websocket_test.go cases (newer than 0.23)
