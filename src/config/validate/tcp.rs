//! The `tcp:` and `unix:` prober blocks: TLS on connect and the `query_response` dialogue
//! they share.

use super::*;

pub(super) fn tcp(cx: &mut Cx, path: &str, block: &Spanned<RawTcpProbe>) -> Option<TcpModule> {
    let t = &block.value;
    let steps = query_response(cx, path, &t.query_response);
    let tls_config = tls_settings(cx, &format!("{path}.tls_config"), &t.tls_config);
    Some(TcpModule {
        ip: IpPreference::from_config(&t.preferred_ip_protocol, t.ip_protocol_fallback),
        source_ip_address: (!t.source_ip_address.is_empty()).then(|| t.source_ip_address.clone()),
        query_response: steps,
        tls: t.tls,
        tls_config: tls_config?,
    })
}

pub(super) fn unix(cx: &mut Cx, path: &str, block: &Spanned<RawUnixProbe>) -> Option<UnixModule> {
    let u = &block.value;
    let steps = query_response(cx, path, &u.query_response);
    let tls_config = tls_settings(cx, &format!("{path}.tls_config"), &u.tls_config);
    Some(UnixModule {
        query_response: steps,
        tls: u.tls,
        tls_config: tls_config?,
    })
}

/// `query_response` of a tcp, unix (or websocket) block: `expect` regexes compiled.
pub(super) fn query_response(
    cx: &mut Cx,
    path: &str,
    list: &[Spanned<RawQueryResponse>],
) -> Vec<QueryStep> {
    let mut steps = Vec::new();
    for (i, q) in list.iter().enumerate() {
        let p = format!("{path}.query_response[{i}]");
        let v = &q.value;
        if v.expect.is_some() && v.expect_bytes.is_some() {
            cx.err(
                &q.referenced,
                &p,
                "expect and expect_bytes are mutually exclusive",
            );
        }
        let expect = match &v.expect {
            Some(re) => match compile_regex(&re.value) {
                Ok(r) => Some(r),
                Err(e) => {
                    cx.err(&re.referenced, format!("{p}.expect"), e);
                    None
                }
            },
            None => None,
        };
        steps.push(QueryStep {
            expect,
            expect_bytes: v.expect_bytes.as_ref().map(|b| b.0.clone()),
            labels: v
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect(),
            send: v.send.as_ref().map(|b| b.0.clone()),
            starttls: v.starttls,
        });
    }
    steps
}
