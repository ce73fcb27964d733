//! Go text/template, the subset Prometheus rule files and Alertmanager templates use.
