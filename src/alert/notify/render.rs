//! Template rendering for notifiers: Alertmanager's template data model as template values
//! ([`data_value`]: `Data{Receiver, Status, Alerts, GroupLabels, CommonLabels,
//! CommonAnnotations, ExternalURL, GroupKey}` and `Alert{Status, Labels, Annotations,
//! StartsAt, EndsAt, GeneratorURL, Fingerprint}`, with `.Alerts.Firing`/`.Resolved`), and the
//! template set of one configuration ([`TemplateSet`]): Alertmanager 0.25's `default.tmpl`
//! and `email.tmpl` (embedded verbatim, Apache-2.0, as Debian ships them), then the user's
//! `templates:` files, so user `define`s override the defaults.
//!
//! Text fields render with `text/template` semantics (`missingkey=zero`, as upstream); the
//! e-mail `html` field renders through [`super::html`], an approximation of Go's
//! `html/template` contextual escaping. Template files are read as bytes (Go strings are
//! bytes): rendered text may carry raw non-UTF-8 bytes as `base::gostr` characters, which
//! the e-mail writer turns back into bytes and JSON payloads into U+FFFD.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Data, NotifyContext};
use crate::alert::store::Alert;
use crate::base::gostr;
use crate::template::am::Kv;
use crate::template::time::GoTime;
use crate::template::{FuncMap, JsonRepr, MissingKey, Object, Templates, Value};

/// Upstream's `template/default.tmpl`: Alertmanager 0.25's, plus what 0.28 adds for its newer
/// integrations (`__text_alert_list_markdown`, `msteams.*`, `msteamsv2.*`, `jira.*`,
/// `rocketchat.*`), appended verbatim.
pub const DEFAULT_TMPL: &str = include_str!("templates/default.tmpl");
/// Upstream's `template/email.tmpl` (Alertmanager 0.25, the inlined HTML mail).
pub const EMAIL_TMPL: &str = include_str!("templates/email.tmpl");

/// Why a template could not be loaded or rendered. Messages are Go's template errors; they
/// name template files and positions, never secrets.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RenderError {
    #[error("reading template file {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Exec(String),
}

/// A struct-like template object: named fields, printed as Go prints a struct (`{a b}`);
/// `json` maps Go field names to their JSON tags, in declaration order (`toJson`).
#[derive(Debug)]
struct Struct {
    type_name: &'static str,
    fields: Vec<(&'static str, Value)>,
    json: &'static [(&'static str, &'static str)],
}

/// `template.Alert`'s JSON tags.
const ALERT_JSON: &[(&str, &str)] = &[
    ("Status", "status"),
    ("Labels", "labels"),
    ("Annotations", "annotations"),
    ("StartsAt", "startsAt"),
    ("EndsAt", "endsAt"),
    ("GeneratorURL", "generatorURL"),
    ("Fingerprint", "fingerprint"),
];

/// `template.Data`'s JSON tags (Alertmanager 0.25's fields; `GroupKey` is not one of them).
const DATA_JSON: &[(&str, &str)] = &[
    ("Receiver", "receiver"),
    ("Status", "status"),
    ("Alerts", "alerts"),
    ("GroupLabels", "groupLabels"),
    ("CommonLabels", "commonLabels"),
    ("CommonAnnotations", "commonAnnotations"),
    ("ExternalURL", "externalURL"),
];

impl Object for Struct {
    fn type_name(&self) -> String {
        self.type_name.to_string()
    }
    fn method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| Ok(v.clone()))
    }
    fn string(&self) -> Option<String> {
        let parts: Vec<String> = self.fields.iter().map(|(_, v)| v.to_go_string()).collect();
        Some(format!("{{{}}}", parts.join(" ")))
    }
    fn json(&self) -> Option<JsonRepr> {
        let fields = self
            .json
            .iter()
            .filter_map(|(field, tag)| {
                let v = self.fields.iter().find(|(n, _)| n == field)?;
                Some((*tag, v.1.clone()))
            })
            .collect();
        Some(JsonRepr::Fields(fields))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Alertmanager's `template.Alerts` (a list with `Firing` and `Resolved`).
#[derive(Debug)]
struct Alerts {
    list: Value,
}

impl Alerts {
    fn value(items: Vec<Value>) -> Value {
        Value::Object(Arc::new(Alerts {
            list: Value::from(items),
        }))
    }

    fn with_status(&self, status: &str) -> Value {
        let items = match &self.list {
            Value::List(l) => l
                .iter()
                .filter(|a| match a {
                    Value::Object(o) => matches!(
                        o.method("Status", &[]),
                        Some(Ok(Value::String(s))) if &*s == status
                    ),
                    _ => false,
                })
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        Alerts::value(items)
    }
}

impl Object for Alerts {
    fn type_name(&self) -> String {
        "template.Alerts".to_string()
    }
    fn method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Firing" => Some(Ok(self.with_status("firing"))),
            "Resolved" => Some(Ok(self.with_status("resolved"))),
            _ => None,
        }
    }
    fn underlying(&self) -> Option<&Value> {
        Some(&self.list)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Go's zero `time.Time`, which firing alerts carry as `EndsAt`.
fn go_time(t: SystemTime) -> Value {
    let t = if t == UNIX_EPOCH {
        GoTime::utc(-62_135_596_800, 0)
    } else {
        GoTime::from_system(t)
    };
    Value::Object(Arc::new(t))
}

/// The template data for `alerts` at `ctx.now`, as upstream's `template.Data`.
pub fn data_value(ctx: &NotifyContext, alerts: &[Alert]) -> Value {
    let data = Data::new(ctx, alerts);
    let items: Vec<Value> = data
        .alerts
        .iter()
        .zip(alerts)
        .map(|(d, a)| {
            Value::Object(Arc::new(Struct {
                type_name: "template.Alert",
                json: ALERT_JSON,
                fields: vec![
                    ("Status", Value::from(d.status)),
                    ("Labels", Kv::value(&d.labels)),
                    ("Annotations", Kv::value(&d.annotations)),
                    ("StartsAt", go_time(a.starts_at)),
                    ("EndsAt", go_time(a.ends_at)),
                    ("GeneratorURL", Value::from(d.generator_url.as_str())),
                    ("Fingerprint", Value::from(d.fingerprint.as_str())),
                ],
            }))
        })
        .collect();
    Value::Object(Arc::new(Struct {
        type_name: "*template.Data",
        json: DATA_JSON,
        fields: vec![
            ("Receiver", Value::from(data.receiver.as_str())),
            ("Status", Value::from(data.status)),
            ("Alerts", Alerts::value(items)),
            ("GroupLabels", Kv::value(&data.group_labels)),
            ("CommonLabels", Kv::value(&data.common_labels)),
            ("CommonAnnotations", Kv::value(&data.common_annotations)),
            ("ExternalURL", Value::from(data.external_url.as_str())),
            ("GroupKey", Value::from(ctx.group_key.as_str())),
        ],
    }))
}

/// The function map templates are executed with; `now` feeds `since`.
pub fn funcs(now: SystemTime) -> FuncMap {
    crate::template::am::funcs(GoTime::from_system(now))
}

/// One template source, kept for the HTML escaper (which re-parses to derive copies).
#[derive(Clone, Debug)]
pub(crate) struct Source {
    pub(crate) name: String,
    pub(crate) text: Arc<str>,
}

/// The parsed templates of one configuration: defaults first, then user files.
#[derive(Clone, Debug)]
pub struct TemplateSet {
    text: Templates,
    sources: Vec<Source>,
}

impl TemplateSet {
    /// Only the built-in defaults.
    pub fn defaults() -> Self {
        let mut set = TemplateSet {
            text: Templates::new(MissingKey::Zero),
            sources: Vec::new(),
        };
        for (name, text) in [("default.tmpl", DEFAULT_TMPL), ("email.tmpl", EMAIL_TMPL)] {
            // The embedded files are known to parse (a unit test checks).
            let _ = set.add(name, text);
        }
        set
    }

    /// The defaults plus `files` (in order; later definitions win).
    pub fn load(files: &[PathBuf]) -> Result<Self, RenderError> {
        let mut set = Self::defaults();
        for f in files {
            set.add_file(f)?;
        }
        Ok(set)
    }

    /// Reads and parses one user template file, named by its base name as Go's
    /// `ParseGlob` names it (so errors read `template: NAME.tmpl:LINE: …`). The file is
    /// bytes, as in Go: text in a legacy encoding (GBK, Latin-1) is kept byte for byte
    /// (`base::gostr`) and reaches the e-mail unchanged.
    pub fn add_file(&mut self, f: &Path) -> Result<(), RenderError> {
        let bytes = std::fs::read(f).map_err(|e| RenderError::Read {
            path: f.to_path_buf(),
            message: e.to_string(),
        })?;
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.add(&name, &gostr::from_bytes(&bytes))
    }

    fn add(&mut self, name: &str, text: &str) -> Result<(), RenderError> {
        let f = funcs(UNIX_EPOCH);
        self.text
            .parse(name, text, &[&f, &super::html::escaper_funcs()])
            .map_err(|e| RenderError::Parse(e.to_string()))?;
        self.sources.push(Source {
            name: name.to_string(),
            text: Arc::from(text),
        });
        Ok(())
    }

    /// Whether a template of this name is defined (built-in or from a user file).
    pub fn has(&self, name: &str) -> bool {
        self.text.has(name)
    }

    /// Whether both sets were parsed from the same sources (names and texts, in order).
    pub fn same_sources(&self, other: &TemplateSet) -> bool {
        self.sources.len() == other.sources.len()
            && self
                .sources
                .iter()
                .zip(&other.sources)
                .all(|(a, b)| a.name == b.name && a.text == b.text)
    }

    pub(crate) fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Upstream's `ExecuteTextString`: `text` parsed as an anonymous template next to the
    /// set and executed with `data`; empty text renders empty.
    pub fn render_text(
        &self,
        text: &str,
        data: &Value,
        now: SystemTime,
    ) -> Result<String, RenderError> {
        if text.is_empty() {
            return Ok(String::new());
        }
        let f = funcs(now);
        let mut t = self.text.clone();
        t.parse("", text, &[&f])
            .map_err(|e| RenderError::Parse(e.to_string()))?;
        t.execute("", data, &[&f])
            .map_err(|e| RenderError::Exec(e.to_string()))
    }

    /// Upstream's `ExecuteHTMLString`: as [`Self::render_text`] with `html/template`
    /// escaping (see [`super::html`]).
    pub fn render_html(
        &self,
        text: &str,
        data: &Value,
        now: SystemTime,
    ) -> Result<String, RenderError> {
        if text.is_empty() {
            return Ok(String::new());
        }
        super::html::render(self, text, data, now)
    }
}

/// Builds the Discord and e-mail integrations of receiver `r` (the webhook ones are built
/// by the pipeline); failures to build are returned as messages naming the integration.
pub fn build_discord_email(
    r: &crate::alert::config::Receiver,
    client: &reqwest::Client,
    base_dir: &std::path::Path,
    templates: &Arc<TemplateSet>,
) -> (
    Vec<(crate::alert::nflog::IntegrationId, super::Integration)>,
    Vec<String>,
) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let id = |integration: &str, index: usize| crate::alert::nflog::IntegrationId {
        receiver: r.name.clone(),
        integration: integration.into(),
        index,
    };
    for (index, d) in r.discord.iter().enumerate() {
        match super::discord::Discord::new(d.clone(), templates.clone(), client, base_dir) {
            Ok(n) => out.push((
                id("discord", index),
                super::Integration {
                    notifier: Arc::new(n),
                    index,
                    send_resolved: d.send_resolved,
                },
            )),
            Err(e) => errors.push(format!(
                "receiver {:?}: discord_configs[{index}]: {e}",
                r.name
            )),
        }
    }
    for (index, e) in r.email.iter().enumerate() {
        let n = super::email::Email::new(e.clone(), templates.clone(), base_dir);
        out.push((
            id("email", index),
            super::Integration {
                notifier: Arc::new(n),
                index,
                send_resolved: e.send_resolved,
            },
        ));
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::dedup::Reason;
    use std::time::Duration;

    use crate::labels::label_set as ls;

    fn alert(labels: &[(&str, &str)], resolved: bool) -> Alert {
        Alert {
            labels: ls(labels),
            annotations: ls(&[("summary", "down")]),
            starts_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            ends_at: if resolved {
                UNIX_EPOCH + Duration::from_secs(1_800_000_060)
            } else {
                UNIX_EPOCH
            },
            generator_url: "http://prom/graph".into(),
            updated_at: UNIX_EPOCH,
            timeout: false,
        }
    }

    fn ctx() -> NotifyContext {
        NotifyContext {
            receiver: "team".into(),
            group_key: "{}:{alertname=\"A\"}".into(),
            group_labels: ls(&[("alertname", "A")]),
            external_url: "http://am:9093".into(),
            reason: Reason::FirstNotification,
            now: UNIX_EPOCH + Duration::from_secs(1_800_000_100),
        }
    }

    #[test]
    fn defaults_parse_and_define_discord_and_email() {
        let set = TemplateSet::load(&[]).unwrap();
        for n in [
            "__subject",
            "discord.default.title",
            "discord.default.message",
            "email.default.subject",
            "email.default.html",
        ] {
            assert!(set.text.has(n), "{n}");
        }
    }

    #[test]
    fn subject_and_fields() {
        let set = TemplateSet::defaults();
        let alerts = [
            alert(&[("alertname", "A"), ("sev", "page"), ("i", "1")], false),
            alert(&[("alertname", "A"), ("sev", "page"), ("i", "2")], true),
        ];
        let d = data_value(&ctx(), &alerts);
        let s = set
            .render_text(r#"{{ template "__subject" . }}"#, &d, ctx().now)
            .unwrap();
        assert_eq!(s, "[FIRING:1] A (page)");
        let s = set
            .render_text(
                "{{ range .Alerts }}{{ .Status }} {{ .EndsAt.IsZero }} {{ .StartsAt.Unix }} {{ .Labels.i }};{{ end }}{{ .Alerts.Resolved | len }} {{ .GroupKey }}",
                &d,
                ctx().now,
            )
            .unwrap();
        assert_eq!(
            s,
            "firing true 1800000000 1;resolved false 1800000000 2;1 {}:{alertname=\"A\"}"
        );
        assert_eq!(set.render_text("", &d, ctx().now).unwrap(), "");
        assert!(!set
            .render_text("{{ .Missing.X }}", &d, ctx().now)
            .unwrap_err()
            .to_string()
            .is_empty());
    }

    #[test]
    fn user_templates_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mine.tmpl");
        std::fs::write(
            &p,
            r#"{{ define "__subject" }}custom {{ .Status }}{{ end }}"#,
        )
        .unwrap();
        let set = TemplateSet::load(&[p]).unwrap();
        let d = data_value(&ctx(), &[alert(&[("alertname", "A")], false)]);
        let s = set
            .render_text(r#"{{ template "discord.default.title" . }}"#, &d, ctx().now)
            .unwrap();
        assert_eq!(s, "custom firing");
    }

    #[test]
    fn to_json_of_alerts_uses_the_json_tags() {
        // Shapes from Alertmanager v0.34.0's template_test.go ("toJson with Alerts",
        // "Compose json array using list and append"), on this data.
        let set = TemplateSet::defaults();
        let alerts = [
            alert(&[("alertname", "A")], false),
            alert(&[("alertname", "A"), ("i", "2")], true),
        ];
        let d = data_value(&ctx(), &alerts);
        let r = |t: &str| set.render_text(t, &d, ctx().now).unwrap();
        let firing = r("{{ .Alerts.Firing | toJson }}");
        assert!(
            firing.starts_with(r#"[{"status":"firing","labels":{"alertname":"A"},"annotations":{"summary":"down"},"startsAt":"2027-01-15T08:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":""#),
            "{firing}"
        );
        assert_eq!(
            r(
                r#"{{- $newList := list -}}{{ range .Alerts }}{{ $m := dict "status" .Status "labels" .Labels }}{{ $newList = append $newList $m }}{{ end }}{{ toJson $newList }}"#
            ),
            r#"[{"labels":{"alertname":"A"},"status":"firing"},{"labels":{"alertname":"A","i":"2"},"status":"resolved"}]"#
        );
        let whole: serde_json::Value = serde_json::from_str(&r("{{ toJson . }}")).unwrap();
        let keys: Vec<&str> = whole
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "alerts",
                "commonAnnotations",
                "commonLabels",
                "externalURL",
                "groupLabels",
                "receiver",
                "status"
            ]
        );
    }

    #[test]
    fn template_files_are_bytes() {
        // "告警" (alert) in GBK, in text and in a define: kept byte for byte.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gbk.tmpl");
        std::fs::write(
            &p,
            b"{{ define \"t\" }}\xB8\xE6\xBE\xAF: {{ .Status }}{{ end }}",
        )
        .unwrap();
        let set = TemplateSet::load(&[p]).unwrap();
        let d = data_value(&ctx(), &[alert(&[("alertname", "A")], false)]);
        let s = set
            .render_text(r#"{{ template "t" . }}"#, &d, ctx().now)
            .unwrap();
        assert_eq!(&*gostr::to_bytes(&s), b"\xB8\xE6\xBE\xAF: firing");
        let h = set
            .render_html(r#"<p>{{ template "t" . }}</p>"#, &d, ctx().now)
            .unwrap();
        assert_eq!(&*gostr::to_bytes(&h), b"<p>\xB8\xE6\xBE\xAF: firing</p>");
    }
}
