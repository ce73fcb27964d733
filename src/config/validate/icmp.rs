//! The `icmp:` prober block: protocol preference, source address, payload size, TTL.

use super::*;

pub(super) fn icmp(cx: &mut Cx, path: &str, block: &Spanned<RawIcmpProbe>) -> Option<IcmpModule> {
    let i = &block.value;
    let ttl = i.ttl.value;
    if ttl < 0 {
        cx.err(
            &i.ttl.referenced,
            format!("{path}.ttl"),
            "\"ttl\" cannot be negative",
        );
    } else if ttl > 255 {
        cx.err(
            &i.ttl.referenced,
            format!("{path}.ttl"),
            "\"ttl\" cannot exceed 255",
        );
    }
    let payload_size = i.payload_size.value;
    if !(0..=65_000).contains(&payload_size) {
        cx.err(
            &i.payload_size.referenced,
            format!("{path}.payload_size"),
            "\"payload_size\" must be between 0 and 65000",
        );
    }
    Some(IcmpModule {
        ip: IpPreference::from_config(&i.preferred_ip_protocol, i.ip_protocol_fallback),
        source_ip_address: (!i.source_ip_address.is_empty()).then(|| i.source_ip_address.clone()),
        payload_size: usize::try_from(payload_size).unwrap_or(0),
        dont_fragment: i.dont_fragment,
        ttl: u8::try_from(ttl).unwrap_or(64),
    })
}
