//! `--cluster.tls-config`: Alertmanager's TLS file for gossip — exporter-toolkit's
//! `tls_server_config` (as in `--web.config.file`) and prometheus/common's
//! `tls_client_config`, both required for mutual TLS between replicas. Relative file names
//! are taken from the file's directory, as Alertmanager does.

use std::path::Path;

use serde::Deserialize;

use super::raw::RawTlsServerConfig;
use super::{file_error, tls, Cx};
use crate::base::{ConfigError, ConfigErrors};
use crate::client::raw::RawTlsConfig;
use crate::cluster::ClusterTls;
use serde_saphyr::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClusterTls {
    #[serde(default)]
    tls_server_config: Option<Spanned<RawTlsServerConfig>>,
    #[serde(default)]
    tls_client_config: Option<Spanned<RawTlsConfig>>,
}

/// Reads and validates the cluster's TLS file.
pub fn load_cluster_tls(path: &Path) -> Result<ClusterTls, ConfigErrors> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| file_error(path, format!("error reading cluster TLS config file: {e}")))?;
    let raw: RawClusterTls = crate::base::yaml::parse(&text, path)?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let (Some(server), Some(client)) = (&raw.tls_server_config, &raw.tls_client_config) else {
        return Err(file_error(
            path,
            "both tls_server_config and tls_client_config are required for gossip over TLS"
                .to_string(),
        ));
    };
    let mut cx = Cx {
        file: path,
        errors: Vec::new(),
    };
    let mut inputs = Vec::new();
    let (server_config, _) = tls::tls_config(&mut cx, &server.value, base, false, &mut inputs);
    if !cx.errors.is_empty() {
        return Err(ConfigErrors::sorted(cx.errors));
    }
    let Some(server_config) = server_config else {
        return Err(file_error(
            path,
            "tls_server_config: cert_file and key_file are required".to_string(),
        ));
    };
    let mut client_raw = client.value.clone();
    for f in [
        &mut client_raw.ca_file,
        &mut client_raw.cert_file,
        &mut client_raw.key_file,
    ] {
        if !f.is_empty() && Path::new(f.as_str()).is_relative() {
            *f = base.join(&*f).display().to_string();
        }
    }
    let block = Spanned::new(client_raw, client.referenced, client.defined);
    let settings = crate::config::validate::client_tls_settings(path, "tls_client_config", &block)?
        .unwrap_or_default();
    let server_name = settings.server_name.clone();
    let (client_config, _) = crate::client::tls::client_config(&settings, &[]).map_err(|e| {
        ConfigErrors::single(ConfigError::at(
            path,
            client.referenced,
            "tls_client_config".to_string(),
            e.to_string(),
        ))
    })?;
    Ok(ClusterTls {
        server: server_config,
        client: client_config,
        server_name,
    })
}
