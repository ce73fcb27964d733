//! The `dns:` prober block: the query (name, type, class, transport), the expected rcodes
//! and the record-set validators.

use super::*;

/// DNS record type names that miekg/dns knows and blackbox accepts.
fn valid_query_type(t: &str) -> bool {
    crate::probe::dns::type_code(t).is_some()
}

const DNS_CLASSES: &[&str] = &["IN", "CS", "CH", "HS", "NONE", "ANY"];

const DNS_RCODES: &[&str] = &[
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "BADSIG",
    "BADVERS",
    "BADKEY",
    "BADTIME",
    "BADMODE",
    "BADNAME",
    "BADALG",
    "BADTRUNC",
    "BADCOOKIE",
];

fn rr_validator(cx: &mut Cx, path: &str, v: &RawRrValidator) -> RrValidator {
    RrValidator {
        fail_if_matches_regexp: regexes(
            cx,
            &format!("{path}.fail_if_matches_regexp"),
            &v.fail_if_matches_regexp,
        ),
        fail_if_all_match_regexp: regexes(
            cx,
            &format!("{path}.fail_if_all_match_regexp"),
            &v.fail_if_all_match_regexp,
        ),
        fail_if_not_matches_regexp: regexes(
            cx,
            &format!("{path}.fail_if_not_matches_regexp"),
            &v.fail_if_not_matches_regexp,
        ),
        fail_if_none_matches_regexp: regexes(
            cx,
            &format!("{path}.fail_if_none_matches_regexp"),
            &v.fail_if_none_matches_regexp,
        ),
    }
}

pub(super) fn dns(cx: &mut Cx, path: &str, block: &Spanned<RawDnsProbe>) -> Option<DnsModule> {
    let d = &block.value;
    if d.query_name.is_empty() {
        cx.err(
            &block.referenced,
            format!("{path}.query_name"),
            "query name must be set for DNS module",
        );
    }
    if !valid_query_type(&d.query_type.value) {
        cx.err(
            &d.query_type.referenced,
            format!("{path}.query_type"),
            format!("query type '{}' is not valid", d.query_type.value),
        );
    }
    if !DNS_CLASSES.contains(&d.query_class.value.as_str()) {
        cx.err(
            &d.query_class.referenced,
            format!("{path}.query_class"),
            format!("query class '{}' is not valid", d.query_class.value),
        );
    }
    if !matches!(d.transport_protocol.value.as_str(), "udp" | "tcp") {
        cx.err(
            &d.transport_protocol.referenced,
            format!("{path}.transport_protocol"),
            format!(
                "transport protocol '{}' is not valid: must be udp or tcp",
                d.transport_protocol.value
            ),
        );
    }
    if d.dns_over_tls.value && d.transport_protocol.value != "tcp" {
        cx.err(
            &d.dns_over_tls.referenced,
            format!("{path}.dns_over_tls"),
            "dns_over_tls requires transport_protocol: tcp",
        );
    }
    if let Some(rcodes) = &d.valid_rcodes {
        for (i, r) in rcodes.iter().enumerate() {
            if !DNS_RCODES.contains(&r.value.as_str()) {
                cx.err(
                    &r.referenced,
                    format!("{path}.valid_rcodes[{i}]"),
                    format!("rcode '{}' is not valid", r.value),
                );
            }
        }
    }
    let tls_config = tls_settings(cx, &format!("{path}.tls_config"), &d.tls_config);
    Some(DnsModule {
        query_name: d.query_name.clone(),
        query_type: d.query_type.value.clone(),
        query_class: d.query_class.value.clone(),
        transport_protocol: d.transport_protocol.value.clone(),
        dns_over_tls: d.dns_over_tls.value,
        tls_config: tls_config?,
        source_ip_address: (!d.source_ip_address.is_empty()).then(|| d.source_ip_address.clone()),
        ip: IpPreference::from_config(&d.preferred_ip_protocol, d.ip_protocol_fallback),
        recursion_desired: d.recursion_desired,
        valid_rcodes: d
            .valid_rcodes
            .as_ref()
            .map(|v| v.iter().map(|s| s.value.clone()).collect()),
        validate_answer_rrs: rr_validator(
            cx,
            &format!("{path}.validate_answer_rrs"),
            &d.validate_answer_rrs,
        ),
        validate_authority_rrs: rr_validator(
            cx,
            &format!("{path}.validate_authority_rrs"),
            &d.validate_authority_rrs,
        ),
        validate_additional_rrs: rr_validator(
            cx,
            &format!("{path}.validate_additional_rrs"),
            &d.validate_additional_rrs,
        ),
    })
}
