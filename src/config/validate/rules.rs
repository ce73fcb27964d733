//! `rule_files:` and `global:`: rule groups loaded by `rules::file`, and the evaluation
//! settings.

use super::*;

/// `rule_files:` and `global:`: loads every rule file (globs relative to `base_dir`).
pub(crate) fn rules(cx: &mut Cx, raw: &RawConfig, base_dir: &Path) -> crate::rules::RulesConfig {
    let mut out = crate::rules::RulesConfig {
        evaluation_interval: std::time::Duration::from_secs(15),
        ..Default::default()
    };
    if let Some(g) = &raw.global {
        if let Some(iv) = &g.value.evaluation_interval {
            match crate::rules::file::parse_duration(&iv.value) {
                Ok(d) if !d.is_zero() => out.evaluation_interval = d,
                Ok(_) => cx.err(
                    &iv.referenced,
                    "global.evaluation_interval",
                    "must be greater than 0",
                ),
                Err(m) => cx.err(&iv.referenced, "global.evaluation_interval", m),
            }
        }
        for k in g.value.external_labels.keys() {
            if !crate::base::names::is_label_name(k) {
                cx.err(
                    &g.referenced,
                    format!("global.external_labels.{k}"),
                    format!("{k:?} is not a valid label name"),
                );
            }
        }
        out.external_labels = g.value.external_labels.clone();
    }
    let globs: Vec<String> = raw.rule_files.iter().map(|g| g.value.clone()).collect();
    match crate::rules::file::load_globs(base_dir, &globs) {
        Ok(groups) => out.groups = groups.into_iter().map(Arc::new).collect(),
        Err(errors) => cx.errors.extend(errors),
    }
    out
}
