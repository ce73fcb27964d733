//! The `grpc:` prober block: service, TLS, IP preference and outgoing metadata.
//!
//! Upstream validates nothing here beyond the shared `tls_config` rules; metadata keys and
//! values are checked by grpc-go on every call, so a bad key fails each probe (status 13)
//! rather than the load, and the prober does the same.

use super::*;

pub(super) fn grpc(cx: &mut Cx, path: &str, block: &Spanned<RawGrpcProbe>) -> Option<GrpcModule> {
    let g = &block.value;
    let tls_config = tls_settings(cx, &format!("{path}.tls_config"), &g.tls_config)?;
    Some(GrpcModule {
        service: g.service.clone(),
        tls: g.tls,
        tls_config,
        ip: IpPreference::from_config(&g.preferred_ip_protocol, g.ip_protocol_fallback),
        metadata: g
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}
