//! The page's sections, each appended to one `String`: reload state, alerts, silences (with
//! their forms), scheduled targets, failures and blackbox_exporter's recent `/probe` table.

use super::*;

pub(super) async fn reload_section(state: &Arc<Shared>, now: SystemTime, out: &mut String) {
    out.push_str("<h2 id=\"reload\">Configuration</h2>\n");
    let ok = state.metrics.config_last_reload_successful.get() == 1;
    let last_ok = state
        .metrics
        .config_last_reload_success_timestamp_seconds
        .get();
    let file = match &state.settings.config_file {
        Some(p) => escape(&p.display().to_string()),
        None => "the embedded modules".to_string(),
    };
    let last_ok_at = UNIX_EPOCH + Duration::from_secs_f64(last_ok.max(0.0));
    let _ = writeln!(
        out,
        "<table id=\"reload-state\"><tr><th>Config file</th><td>{file}</td></tr>\n\
         <tr><th>Last reload</th><td class=\"{}\">{}</td></tr>\n\
         <tr><th>Last successful load</th><td>{}</td></tr>\n\
         <tr><th>Running config checksum</th><td><code>{}</code></td></tr></table>",
        if ok { "ok" } else { "bad" },
        if ok { "successful" } else { "failed" },
        when(last_ok_at, now),
        state
            .config()
            .checksum
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    );
    if !ok {
        // The failed reload's errors are not kept; loading the file again shows what is
        // wrong with it now (the daemon keeps running the last good config).
        if let Some(path) = state.settings.config_file.clone() {
            let result = tokio::task::spawn_blocking(move || crate::config::load(&path)).await;
            let text = match result {
                Ok(Ok(_)) => {
                    "The file loads now; reload to apply it (POST /-/reload or SIGHUP).".to_string()
                }
                Ok(Err(e)) => e.to_string(),
                Err(e) => format!("checking the config file failed: {e}"),
            };
            let _ = writeln!(
                out,
                "<p>The daemon keeps running the last good config. The config file as it is now:</p>\n<pre id=\"reload-errors\">{}</pre>",
                escape(&text)
            );
        }
    }
}

/// How many unresolved alerts the alert pipeline holds (from the rules and from senders of
/// `POST /api/v2/alerts`).
/// The cluster: every live member, its address and how many scheduled targets it probes
/// (rendezvous shares, as every replica computes them). Nothing for a single instance.
pub(super) fn cluster_section(state: &Shared, out: &mut String) {
    let Some(cluster) = state.cluster() else {
        return;
    };
    out.push_str("<h2 id=\"cluster\">Cluster</h2>\n");
    let _ = writeln!(
        out,
        "<p id=\"cluster-summary\">{} members; this replica is <code>{}</code>; gossip {}.</p>",
        cluster.members().len(),
        escape(cluster.name()),
        if cluster.is_settled() {
            "settled"
        } else {
            "settling"
        }
    );
    let shares = cluster.shares(&state.scheduled_keys());
    out.push_str("<div class=\"scroll\"><table id=\"cluster-table\"><tr><th>Member</th><th>Address</th><th>Targets probed</th></tr>\n");
    for m in cluster.members() {
        let _ = writeln!(
            out,
            "<tr class=\"member\"><td>{}{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            escape(&m.name),
            if m.name == cluster.name() {
                " (this replica)"
            } else {
                ""
            },
            escape(&m.address.to_string()),
            shares.get(&m.name).copied().unwrap_or(0)
        );
    }
    out.push_str("</table></div>\n");
}

pub(super) fn pipeline_line(state: &Shared, out: &mut String) {
    if let Some(a) = state.alerting() {
        let now = a.now().wall;
        let n = a
            .core()
            .alerts
            .iter()
            .filter(|x| !x.resolved_at(now))
            .count();
        let _ = writeln!(
            out,
            "<p class=\"note\" id=\"pipeline-alerts\">The alert pipeline holds {n} active alerts (from the rules and from senders of <code>POST /api/v2/alerts</code>; see <a href=\"api/v2/alerts\">/api/v2/alerts</a>).</p>"
        );
    }
}

pub(super) fn alerts_section(state: &Shared, now: SystemTime, out: &mut String) {
    out.push_str("<h2 id=\"alerts\">Alerts</h2>\n");
    pipeline_line(state, out);
    let manager = state.rules();
    if state.config().rules.groups.is_empty() {
        out.push_str("<p class=\"muted\" id=\"alerts-not-configured\">No rules configured (<code>rule_files</code>).</p>\n");
        return;
    }
    let (alerts, errors) = alert_rows(manager);
    let alerting = state.alerting();
    let firing = alerts
        .iter()
        .filter(|a| a.state == AlertState::Firing)
        .count();
    let _ = writeln!(
        out,
        "<p>{firing} firing, {} pending.</p>",
        alerts.len() - firing
    );
    if !errors.is_empty() {
        out.push_str(
            "<table id=\"rule-errors\"><tr><th>Rule</th><th>Last evaluation error</th></tr>\n",
        );
        for (rule, err) in &errors {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"bad\">{}</td></tr>",
                escape(rule),
                escape(err)
            );
        }
        out.push_str("</table>\n");
    }
    if alerts.is_empty() {
        return;
    }
    let silences = alerting.as_ref().map(|a| (a.now().wall, a.silences()));
    out.push_str("<div class=\"scroll\"><table class=\"stack\" id=\"alerts-table\"><tr><th>State</th><th>Alert</th><th>Labels</th><th class=\"wide\">Summary</th><th>Since</th><th class=\"wide\">Value</th><th></th></tr>\n");
    let mut shown = (0, 0);
    for a in &alerts {
        let count = if a.state == AlertState::Firing {
            &mut shown.0
        } else {
            &mut shown.1
        };
        *count += 1;
        if *count > MAX_ALERT_ROWS {
            continue;
        }
        let name = a.labels.get("alertname").map(String::as_str).unwrap_or("");
        let summary = a
            .annotations
            .get("summary")
            .or_else(|| a.annotations.get("description"))
            .map(String::as_str)
            .unwrap_or("");
        let muted = silences
            .as_ref()
            .map(|(t, s)| s.mutes(&a.labels, *t))
            .unwrap_or_default();
        let action = if !muted.is_empty() {
            format!("silenced by {}", escape(&muted.join(", ")))
        } else if alerting.is_some() {
            format!(
                "<a href=\"?matchers={}#new-silence\">Silence</a>",
                query_value(&matchers_for(&a.labels))
            )
        } else {
            String::new()
        };
        let (class, state) = match a.state {
            AlertState::Firing => ("bad", "firing"),
            _ => ("pending", "pending"),
        };
        let _ = writeln!(
            out,
            "<tr class=\"alert\"><td class=\"{class}\">{state}</td><td>{}</td><td>{}</td><td class=\"wide\">{}</td><td>{}</td><td class=\"num wide\">{}</td><td>{action}</td></tr>",
            escape(name),
            label_chips(&a.labels, &["alertname"]),
            escape(summary),
            when(from_ms(a.active_at), now),
            escape(&crate::rules::api::go_float_e(a.value)),
        );
    }
    out.push_str("</table></div>\n");
    for (n, what) in [(shown.0, "firing"), (shown.1, "pending")] {
        if n > MAX_ALERT_ROWS {
            let _ = writeln!(
                out,
                "<p class=\"note\">… and {} more {what} alerts (see <a href=\"api/v1/alerts\">/api/v1/alerts</a>).</p>",
                n - MAX_ALERT_ROWS
            );
        }
    }
}

pub(super) fn silences_section(state: &Shared, form: &Form, out: &mut String) {
    out.push_str("<h2 id=\"silences\">Silences</h2>\n");
    let Some(alerting) = state.alerting() else {
        out.push_str("<p class=\"muted\" id=\"silences-not-configured\">Alerting is not configured (no <code>alerting:</code> section), so there are no silences.</p>\n");
        return;
    };
    let now = alerting.now().wall;
    {
        let silences = alerting.silences();
        let mut list: Vec<&Silence> = silences
            .list()
            .filter(|s| s.state(now) != SilenceState::Expired)
            .collect();
        crate::base::sort::sort_by(&mut list, |a, b| {
            (a.state(now), a.ends_at, &a.id).cmp(&(b.state(now), b.ends_at, &b.id))
        });
        if list.is_empty() {
            out.push_str("<p class=\"muted\">No active or pending silences.</p>\n");
        } else {
            out.push_str("<div class=\"scroll\"><table class=\"stack\" id=\"silences-table\"><tr><th>State</th><th>Matchers</th><th>Ends</th><th class=\"wide\">Created by</th><th class=\"wide\">Comment</th><th></th></tr>\n");
            for s in list {
                let st = s.state(now);
                let _ = writeln!(
                    out,
                    "<tr class=\"silence\" data-id=\"{id}\"><td class=\"{}\">{}</td><td><code>{}</code></td><td>{}</td><td class=\"wide\">{}</td><td class=\"wide\">{}</td>\
                     <td><form class=\"inline\" method=\"post\" action=\"./\"><input type=\"hidden\" name=\"op\" value=\"expire\"><input type=\"hidden\" name=\"id\" value=\"{id}\"><button type=\"submit\">Expire</button></form></td></tr>",
                    if st == SilenceState::Active { "ok" } else { "pending" },
                    st.as_str(),
                    escape(&s.matchers.to_string()),
                    when(s.ends_at, now),
                    escape(&s.created_by),
                    escape(&s.comment),
                    id = escape(&s.id),
                );
            }
            out.push_str("</table></div>\n");
        }
    }
    let duration = if form.duration.is_empty() {
        "2h"
    } else {
        form.duration.as_str()
    };
    let _ = writeln!(
        out,
        "<h3 id=\"new-silence\">New silence</h3>\n\
         <form class=\"silence\" id=\"silence-form\" method=\"post\" action=\"./\">\n\
         <input type=\"hidden\" name=\"op\" value=\"create\">\n\
         <label>Matchers <input type=\"text\" name=\"matchers\" value=\"{}\" placeholder='alertname=\"BlackboxProbeFailed\", instance=~\".*example.*\"' required></label>\n\
         <label>Duration <input type=\"text\" name=\"duration\" value=\"{}\" placeholder=\"2h\" required></label>\n\
         <label>Created by <input type=\"text\" name=\"created_by\" value=\"{}\" required></label>\n\
         <label>Comment <input type=\"text\" name=\"comment\" value=\"{}\"></label>\n\
         <button type=\"submit\">Create silence</button>\n</form>\n\
         <p class=\"note\">Matchers use Alertmanager's syntax (<code>=</code>, <code>!=</code>, <code>=~</code>, <code>!~</code>); the duration is a Prometheus duration (<code>30m</code>, <code>2h</code>, <code>1d</code>). The silence starts now.</p>",
        escape(&form.matchers),
        escape(duration),
        escape(&form.created_by),
        escape(&form.comment),
    );
}

/// Writes the scheduled-targets table; returns the failing rows shown (for "Recent failures").
/// `rows` are `target_rows`' (`None` without jobs); `info` their uptime history.
pub(super) fn targets_section(
    state: &Shared,
    now: SystemTime,
    rows: Option<TargetRows>,
    info: &UptimeInfo,
    out: &mut String,
) -> Vec<TargetRow> {
    out.push_str("<h2 id=\"targets\">Scheduled targets</h2>\n");
    let Some((failing, healthy, nf, nh)) = rows.filter(|_| !state.config().jobs.is_empty()) else {
        out.push_str("<p class=\"muted\" id=\"targets-not-configured\">No scheduled probes configured (<code>probes:</code>).</p>\n");
        return Vec::new();
    };
    let _ = writeln!(
        out,
        "<p id=\"targets-summary\">{nf} failing, {nh} succeeding (targets with a result so far).</p>"
    );
    if nf + nh > 0 {
        out.push_str("<div class=\"scroll\"><table class=\"stack\" id=\"targets-table\"><tr><th>Result</th><th>Job</th><th>Target</th><th class=\"wide\">Module</th><th>Duration</th><th>Last probe</th><th class=\"wide\">Uptime (90 days)</th><th class=\"wide\">Last failure</th></tr>\n");
        for r in failing.iter().chain(healthy.iter()) {
            let _ = writeln!(
                out,
                "<tr class=\"target {}\"><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td class=\"wide\">{}</td><td class=\"num\">{}</td><td>{}</td>{}</tr>",
                if r.success { "up" } else { "down" },
                if r.success { "ok" } else { "bad" },
                if r.success { "success" } else { "failure" },
                escape(&r.job),
                instance_cell(info, r),
                escape(&r.module),
                r.duration
                    .map(crate::server::charts::seconds)
                    .unwrap_or_default(),
                when(r.at, now),
                uptime::row_cells(info, r),
            );
        }
        out.push_str("</table></div>\n");
    }
    if nf > failing.len() {
        let _ = writeln!(
            out,
            "<p class=\"note\">… and {} more failing targets (all results are on <a href=\"metrics\">/metrics</a>).</p>",
            nf - failing.len()
        );
    }
    if nh > healthy.len() {
        let _ = writeln!(
            out,
            "<p class=\"note\" id=\"healthy-more\">… and {} more succeeding targets (all results are on <a href=\"metrics\">/metrics</a>).</p>",
            nh - healthy.len()
        );
    }
    failing
}

pub(super) fn failures_section(state: &Shared, failing: &[TargetRow], out: &mut String) {
    out.push_str("<h2 id=\"failures\">Recent failures</h2>\n");
    if !failing.is_empty() {
        out.push_str("<p class=\"note\">Debug logs of scheduled probes are not kept. A debug probe runs the same module against the target now and shows its log.</p>\n<ul id=\"failing-debug\">\n");
        for r in failing.iter().take(50) {
            let _ = writeln!(
                out,
                "<li>{} {} — <a href=\"probe?target={}&amp;module={}&amp;debug=true\">debug probe now</a></li>",
                escape(&r.job),
                escape(&r.instance),
                query_value(&r.instance),
                query_value(&r.module),
            );
        }
        out.push_str("</ul>\n");
    }
    let history = crate::base::sync::lock(&state.history);
    let failed: Vec<_> = history
        .list()
        .into_iter()
        .filter(|e| !e.success)
        .take(10)
        .collect();
    if failed.is_empty() && failing.is_empty() {
        out.push_str("<p class=\"muted\">No failures.</p>\n");
        return;
    }
    if failed.is_empty() {
        return;
    }
    out.push_str("<p>Failed <code>/probe</code> requests:</p>\n");
    for e in failed {
        let _ = writeln!(
            out,
            "<details class=\"failure\"><summary>{} {} — <a href=\"logs?id={}\">Logs</a></summary><pre>{}</pre></details>",
            escape(&e.module),
            escape(&e.target),
            e.id,
            escape(&e.debug_output()),
        );
    }
}

/// blackbox_exporter's table of recent `/probe` requests, newest first.
pub(super) fn history_section(state: &Shared, out: &mut String) {
    out.push_str("<h2 id=\"recent\">Recent Probes</h2>\n<p class=\"note\">Requests to <code>/probe</code>, as blackbox_exporter lists them. Try <a href=\"probe?target=prometheus.io&amp;module=http_2xx\">Probe prometheus.io for http_2xx</a> or <a href=\"probe?target=prometheus.io&amp;module=http_2xx&amp;debug=true\">Debug probe prometheus.io for http_2xx</a>.</p>\n");
    out.push_str("<div class=\"scroll\"><table id=\"history-table\">\n<tr><th>Module</th><th>Target</th><th>Result</th><th>Debug</th></tr>\n");
    {
        let h = crate::base::sync::lock(&state.history);
        for e in h.list().into_iter().take(MAX_HISTORY_ROWS) {
            let result = if e.success {
                "Success"
            } else {
                "<strong>Failure</strong>"
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{result}</td><td><a href=\"logs?id={}\">Logs</a></td></tr>",
                escape(&e.module),
                escape(&e.target),
                e.id
            );
        }
    }
    out.push_str("</table></div>\n");
}

/// The target's name, linked to its detail view when there is history.
fn instance_cell(info: &UptimeInfo, r: &TargetRow) -> String {
    if info.enabled {
        format!(
            "<a href=\"{}\">{}</a>",
            uptime::detail_href(&r.job, &r.instance, &r.module),
            escape(&r.instance)
        )
    } else {
        escape(&r.instance)
    }
}
