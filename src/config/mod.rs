//! Configuration: one `load` function serves start-up, reload (SIGHUP, `POST /-/reload`) and
//! `--config.check`. A config file is blackbox_exporter's format (`modules:`), so a plain
//! `blackbox.yml` is a valid `blackwatch.yml`. With no file, the modules shipped in
//! `modules/` (embedded at build time) are used.
//!
//! `raw` holds the serde structs, `validate` turns them into domain types and collects every
//! error, `error` formats them as `file:line:col: field.path: message`.

pub mod raw;
pub mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::base::yaml::parse;
use crate::base::{ConfigError, ConfigErrors};
use raw::RawConfig;

use crate::probe::Module;

/// The modules shipped in `modules/`, embedded at build time. `tests/it/config.rs` checks
/// that this list covers every file in the directory.
pub const EMBEDDED_MODULES: &[(&str, &str)] = &[
    ("modules/dns.yml", include_str!("../../modules/dns.yml")),
    ("modules/http.yml", include_str!("../../modules/http.yml")),
    ("modules/icmp.yml", include_str!("../../modules/icmp.yml")),
    ("modules/tcp.yml", include_str!("../../modules/tcp.yml")),
];

/// A loaded, validated configuration.
#[derive(Debug)]
pub struct Config {
    /// Where it came from: a file path, or `<embedded>`.
    pub source: PathBuf,
    pub modules: BTreeMap<String, Arc<Module>>,
    /// Scheduled jobs from `probes:`.
    pub jobs: Vec<Arc<crate::schedule::Job>>,
    /// Rule groups from `rule_files:` and the `global:` rule settings.
    pub rules: crate::rules::RulesConfig,
    /// The validated `alerting:` section (inline or from its `config_file`).
    pub alerting: Option<Arc<crate::alert::config::AlertingConfig>>,
    /// `probe_policy:`: what ad-hoc `/probe` requests may reach.
    pub probe_policy: Arc<crate::probe::policy::ProbePolicy>,
    /// `remote_write:` endpoints.
    pub remote_write: Vec<crate::remote::RemoteWriteConfig>,
    /// `status_pages:`: the public read-only pages.
    pub status_pages: Vec<validate::StatusPage>,
    /// The parsed file with defaults filled in, for `/config`.
    pub raw: RawConfig,
    /// SHA-256 of the file bytes, so a reload of an unchanged file re-parses nothing.
    pub checksum: [u8; 32],
}

impl Config {
    /// The whole config as YAML with defaults expanded and secrets as `<secret>`.
    pub fn to_yaml(&self) -> String {
        crate::base::yaml::to_string(&self.raw)
            .unwrap_or_else(|e| format!("# could not render the configuration: {e}\n"))
    }
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigErrors::single(ConfigError::file_level(
            path,
            format!("error reading YAML file: {e}"),
        ))
    })?;
    let text = crate::base::yaml::utf8_text(bytes, path).map_err(ConfigErrors::single)?;
    load_str(&text, path)
}

/// The checksum `load` would compute for these file bytes.
pub fn checksum(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Validates config text; `file` only names it in errors.
pub fn load_str(text: &str, file: &Path) -> Result<Config, ConfigErrors> {
    let mut raw: RawConfig = parse(text, file)?;
    let mut cx = validate::Cx::new(file);
    let modules = validate::modules(&mut cx, &mut raw);
    let base_dir = file.parent().unwrap_or_else(|| Path::new("."));
    let jobs = validate::jobs(&mut cx, &raw, &modules, base_dir);
    let rules = validate::rules(&mut cx, &raw, base_dir);
    let mut alerting_file = None;
    let alerting = match &raw.alerting {
        None => None,
        Some(section) => match crate::alert::config::from_section(section, file, base_dir) {
            Ok((c, f)) => {
                alerting_file = f;
                Some(Arc::new(c))
            }
            Err(e) => {
                cx.errors.extend(e);
                None
            }
        },
    };
    let probe_policy =
        crate::probe::policy::validate(raw.probe_policy.as_ref(), file, &mut cx.errors);
    let remote_write = validate::remote_write(&mut cx, &raw);
    let status_pages = validate::status_pages(&mut cx, &raw, &jobs);
    if !cx.errors.is_empty() {
        return Err(ConfigErrors::sorted(cx.errors));
    }
    // Rule files are part of what a reload must notice: fold them into the checksum.
    let mut sum = checksum(text.as_bytes());
    if !raw.rule_files.is_empty() {
        let mut h = Sha256::new();
        h.update(sum);
        for g in &rules.groups {
            h.update(g.file.to_string_lossy().as_bytes());
            if let Ok(b) = std::fs::read(&g.file) {
                h.update(&b);
            }
        }
        // Never equal to a plain file checksum, so a reload always re-reads rule files.
        h.update(b"rule_files");
        sum = h.finalize().into();
    }
    // Likewise an alertmanager.yml named by `alerting: {config_file}`.
    if let Some(f) = &alerting_file {
        let mut h = Sha256::new();
        h.update(sum);
        h.update(f.to_string_lossy().as_bytes());
        if let Ok(b) = std::fs::read(f) {
            h.update(&b);
        }
        h.update(b"alerting.config_file");
        sum = h.finalize().into();
    }
    // And the alerting `templates:` files, as the alerting config parsed them.
    if let Some(a) = alerting.as_ref().filter(|a| !a.templates.is_empty()) {
        let mut h = Sha256::new();
        h.update(sum);
        for s in a.template_set.sources() {
            h.update(s.name.as_bytes());
            h.update((s.text.len() as u64).to_le_bytes());
            h.update(s.text.as_bytes());
        }
        h.update(b"alerting.templates");
        sum = h.finalize().into();
    }
    Ok(Config {
        source: file.to_path_buf(),
        modules,
        jobs,
        rules,
        alerting,
        probe_policy: Arc::new(probe_policy),
        remote_write,
        status_pages,
        raw,
        checksum: sum,
    })
}

/// The built-in configuration: every file of `modules/`, merged.
pub fn embedded() -> Result<Config, ConfigErrors> {
    let mut merged = RawConfig::default();
    let mut errors = Vec::new();
    let mut hasher = Sha256::new();
    for (name, text) in EMBEDDED_MODULES {
        hasher.update(text.as_bytes());
        let file = Path::new(name);
        match parse::<RawConfig>(text, file) {
            Ok(raw) => {
                for (module, def) in raw.modules {
                    if merged.modules.contains_key(&module) {
                        errors.push(ConfigError::at(
                            file,
                            def.referenced,
                            format!("modules.{module}"),
                            "module defined in more than one embedded file".to_string(),
                        ));
                    }
                    merged.modules.insert(module, def);
                }
            }
            Err(e) => errors.extend(e.0),
        }
    }
    let source = PathBuf::from("<embedded>");
    let mut cx = validate::Cx::new(&source);
    let modules = validate::modules(&mut cx, &mut merged);
    errors.extend(cx.errors);
    if !errors.is_empty() {
        return Err(ConfigErrors::sorted(errors));
    }
    Ok(Config {
        source,
        modules,
        jobs: Vec::new(),
        rules: Default::default(),
        alerting: None,
        probe_policy: Default::default(),
        remote_write: Vec::new(),
        status_pages: Vec::new(),
        raw: merged,
        checksum: hasher.finalize().into(),
    })
}
