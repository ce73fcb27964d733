//! `status_pages:` → [`StatusPage`]s: each page's path (absolute, plain characters, unique,
//! clear of the built-in endpoints), title, groups of targets that must name a scheduled
//! job and, when the job lists its targets statically, one of them (a job with `file_sd`
//! may gain the instance later, so any instance is accepted there), and what to hide. The
//! pages themselves are rendered by `server::public`.

use super::*;
use crate::schedule::Job;

/// Paths the HTTP surface serves itself: a status page may not take these, nor anything
/// under the prefixes in [`RESERVED_PREFIXES`].
pub const RESERVED_PATHS: &[&str] = &[
    "/", "/probe", "/metrics", "/config", "/logs", "/target", "/-", "/api", "/badge",
];

/// Prefixes of built-in endpoints (`/-/healthy`, `/api/v1/…`, `/badge/…`).
pub const RESERVED_PREFIXES: &[&str] = &["/-/", "/api/", "/badge/"];

/// A public status page.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusPage {
    pub path: String,
    pub title: String,
    pub description: Option<String>,
    pub groups: Vec<StatusGroup>,
    pub hide: StatusHide,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StatusGroup {
    pub name: String,
    pub targets: Vec<StatusTarget>,
}

/// One target as a page shows it; `module` is its job's.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusTarget {
    pub job: String,
    pub instance: String,
    pub module: String,
    /// The display name (the instance when none is configured and addresses are shown).
    pub name: String,
}

/// What a page leaves out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusHide {
    /// The reason of a current failure.
    pub failure_reasons: bool,
    /// The response-time chart and figures.
    pub response_time: bool,
    /// The reasons in the incident list.
    pub incident_reasons: bool,
    /// Target addresses (instances).
    pub addresses: bool,
}

impl StatusPage {
    /// Whether the page shows `job`/`instance`.
    pub fn shows(&self, job: &str, instance: &str) -> bool {
        self.groups
            .iter()
            .flat_map(|g| &g.targets)
            .any(|t| t.job == job && t.instance == instance)
    }
}

/// Why `path` cannot be a status page's path, if it cannot.
fn path_problem(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some("must start with \"/\"".into());
    }
    if let Some(c) = path
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~')))
    {
        return Some(format!(
            "may hold only letters, digits and / - _ . ~ (found {c:?})"
        ));
    }
    if path.contains("//") || path.split('/').any(|s| s == "." || s == "..") {
        return Some("must not hold empty, \".\" or \"..\" segments".into());
    }
    if path.len() > 1 && path.ends_with('/') {
        return Some("must not end with \"/\"".into());
    }
    if RESERVED_PATHS.contains(&path) || RESERVED_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return Some("collides with a built-in endpoint".into());
    }
    None
}

pub(crate) fn status_pages(cx: &mut Cx, raw: &RawConfig, jobs: &[Arc<Job>]) -> Vec<StatusPage> {
    let mut out: Vec<StatusPage> = Vec::new();
    for (i, page) in raw.status_pages.iter().enumerate() {
        let path = format!("status_pages[{i}]");
        let before = cx.errors.len();
        let p = &page.value;
        let url = p.path.value.trim().to_string();
        if let Some(why) = path_problem(&url) {
            cx.err(
                &p.path.referenced,
                format!("{path}.path"),
                format!("{url:?} {why}"),
            );
        } else if out.iter().any(|o| o.path == url) {
            cx.err(
                &p.path.referenced,
                format!("{path}.path"),
                format!("{url:?} is the path of another status page"),
            );
        }
        if p.title.value.trim().is_empty() {
            cx.err(
                &p.title.referenced,
                format!("{path}.title"),
                "must not be empty",
            );
        }
        if p.groups.is_empty() {
            cx.err(
                &page.referenced,
                format!("{path}.groups"),
                "a status page needs at least one group",
            );
        }
        let hide = StatusHide {
            failure_reasons: p.hide.failure_reasons,
            response_time: p.hide.response_time,
            incident_reasons: p.hide.incident_reasons,
            addresses: p.hide.addresses,
        };
        let mut groups = Vec::new();
        for (g_i, group) in p.groups.iter().enumerate() {
            let gpath = format!("{path}.groups[{g_i}]");
            let g = &group.value;
            if g.name.value.trim().is_empty() {
                cx.err(
                    &g.name.referenced,
                    format!("{gpath}.name"),
                    "must not be empty",
                );
            }
            let mut targets = Vec::new();
            for (t_i, target) in g.targets.iter().enumerate() {
                let tpath = format!("{gpath}.targets[{t_i}]");
                if let Some(t) = status_target(cx, &tpath, &target.value, jobs, hide) {
                    targets.push(t);
                }
            }
            groups.push(StatusGroup {
                name: g.name.value.clone(),
                targets,
            });
        }
        if cx.errors.len() > before {
            continue;
        }
        out.push(StatusPage {
            path: url,
            title: p.title.value.clone(),
            description: p.description.clone(),
            groups,
            hide,
        });
    }
    out
}

fn status_target(
    cx: &mut Cx,
    path: &str,
    t: &RawStatusTarget,
    jobs: &[Arc<Job>],
    hide: StatusHide,
) -> Option<StatusTarget> {
    let Some(job) = jobs.iter().find(|j| j.name == t.job.value) else {
        cx.err(
            &t.job.referenced,
            format!("{path}.job"),
            format!("no scheduled job {:?} (see probes:)", t.job.value),
        );
        return None;
    };
    let instance = &t.instance.value;
    if job.file_sd.is_empty() && !job.targets.iter().any(|x| &x.target == instance) {
        cx.err(
            &t.instance.referenced,
            format!("{path}.instance"),
            format!("job {:?} has no target {instance:?}", job.name),
        );
        return None;
    }
    let name = match &t.name {
        Some(n) if !n.value.trim().is_empty() => n.value.clone(),
        Some(n) => {
            cx.err(&n.referenced, format!("{path}.name"), "must not be empty");
            return None;
        }
        None if hide.addresses => {
            cx.err(
                &t.instance.referenced,
                format!("{path}.name"),
                "a display name is required when hide.addresses is true",
            );
            return None;
        }
        None => instance.clone(),
    };
    Some(StatusTarget {
        job: job.name.clone(),
        instance: instance.clone(),
        module: job.module.clone(),
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::path_problem;
    use std::path::Path;

    const HEAD: &str = "modules:
  http_2xx:
    prober: http
probes:
  - job: web
    module: http_2xx
    targets: [\"http://a.example/\", \"http://b.example/\"]
  - job: sd
    module: http_2xx
    file_sd:
      - files: [\"/nonexistent/*.json\"]
";

    fn errors(pages: &str) -> Vec<String> {
        match crate::config::load_str(&format!("{HEAD}{pages}"), Path::new("t.yml")) {
            Ok(_) => panic!("expected errors for\n{pages}"),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_page_loads_with_its_groups_names_and_hide_options() {
        let c = crate::config::load_str(
            &format!(
                "{HEAD}status_pages:
  - path: /status/public
    title: Example status
    description: Our services
    hide: {{failure_reasons: true, addresses: true}}
    groups:
      - name: Web
        targets:
          - {{job: web, instance: \"http://a.example/\", name: Site}}
          - {{job: sd, instance: anything, name: Discovered}}
"
            ),
            Path::new("t.yml"),
        )
        .expect("loads");
        let p = &c.status_pages[0];
        assert_eq!(p.path, "/status/public");
        assert_eq!(p.description.as_deref(), Some("Our services"));
        assert!(p.hide.failure_reasons && p.hide.addresses);
        assert!(!p.hide.response_time && !p.hide.incident_reasons);
        let t = &p.groups[0].targets[0];
        assert_eq!(
            (t.job.as_str(), t.module.as_str(), t.name.as_str()),
            ("web", "http_2xx", "Site")
        );
        assert!(p.shows("sd", "anything"));
        assert!(!p.shows("web", "http://b.example/"));
    }

    #[test]
    fn bad_pages_are_positioned_errors() {
        let e = errors(
            "status_pages:
  - path: /metrics
    title: A
    groups:
      - name: G
        targets:
          - {job: nope, instance: x}
          - {job: web, instance: \"http://c.example/\"}
  - path: /status
    title: B
    hide: {addresses: true}
    groups:
      - name: G
        targets:
          - {job: web, instance: \"http://a.example/\"}
  - path: /status
    title: C
    groups: []
",
        );
        assert_eq!(
            e,
            vec![
                "t.yml:13:11: status_pages[0].path: \"/metrics\" collides with a built-in endpoint",
                "t.yml:18:19: status_pages[0].groups[0].targets[0].job: no scheduled job \"nope\" (see probes:)",
                "t.yml:19:34: status_pages[0].groups[0].targets[1].instance: job \"web\" has no target \"http://c.example/\"",
                "t.yml:26:34: status_pages[1].groups[0].targets[0].name: a display name is required when hide.addresses is true",
                "t.yml:27:5: status_pages[2].groups: a status page needs at least one group",
            ]
        );
        let e = errors(
            "status_pages:
  - path: /s
    title: A
    groups: [{name: G}]
  - path: /s
    title: B
    groups: [{name: G}]
",
        );
        assert_eq!(
            e,
            vec!["t.yml:16:11: status_pages[1].path: \"/s\" is the path of another status page"]
        );
    }

    #[test]
    fn paths_must_be_plain_and_clear_of_built_in_endpoints() {
        assert_eq!(path_problem("/status/public"), None);
        assert_eq!(path_problem("/status"), None);
        for bad in [
            "status",
            "/",
            "/metrics",
            "/api/v1/status",
            "/-/status",
            "/badge/x",
            "/a//b",
            "/a/../b",
            "/a/",
            "/a?b",
            "/a b",
        ] {
            assert!(path_problem(bad).is_some(), "{bad}");
        }
    }
}
