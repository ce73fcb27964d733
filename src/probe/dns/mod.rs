//! The dns prober, after blackbox_exporter's `prober/dns.go`: the target *is* the DNS server
//! (`host[:port]`, port 53 or 853 with DNS-over-TLS). The host goes through
//! `resolve::choose_protocol`; one query `{FQDN(query_name), query_type, query_class}` with a
//! random id, RD = `recursion_desired` and no EDNS record is sent over UDP (one datagram,
//! 512-byte answers, a truncated answer taken as-is), TCP (2-byte length prefix) or TLS over
//! TCP. The answer is then checked: rcode against `valid_rcodes`, then the answer, authority
//! and additional sections against their regex validators.
//!
//! The validators see each record as miekg/dns `RR.String()` prints it
//! (`name.\tTTL\tCLASS\tTYPE\tRDATA`), because users write regexes against that text. So the
//! answer is parsed here from the wire rather than through hickory's typed records, and
//! [`render()`] reproduces miekg's presentation of every common type; the types it does not
//! know are printed in the RFC 3597 `\# len hex` form, as miekg does for types it lacks.
//! Known gaps (printed as RFC 3597 here, in their own syntax by miekg): LOC, CERT, SVCB,
//! HTTPS, IPSECKEY, HIP, APL, ZONEMD, CSYNC, TKEY, TSIG, GPOS, ISDN, NSAP-PTR, NID, L32, L64,
//! LP, TALINK, NINFO, RKEY, UINFO, UID, GID, AMTRELAY; a typed record with empty rdata
//! prints its header only (miekg prints the type's zero value). The conformance suite
//! checks the rendered lines against blackbox_exporter record by record.
//!
//! Metrics: `probe_dns_duration_seconds{phase}` (resolve, connect, request — always present),
//! `probe_dns_answer_rrs`, `probe_dns_authority_rrs`, `probe_dns_additional_rrs`,
//! `probe_dns_query_succeeded`, and `probe_dns_serial` for SOA queries. No TLS metrics for
//! DNS-over-TLS, as upstream.
//!
//! Layout, each file using only those listed before it: `codes.rs` (miekg's type, class and
//! rcode names), `wire.rs` (reading integers, names and rdata fields off the wire),
//! `render.rs` (one record as miekg prints it), `message.rs` (a whole answer:
//! [`parse_response`]), `exchange.rs` (the query and the UDP/TCP/DoT exchange),
//! `validate.rs` (`valid_rcodes` and the RR validators), and this file: the probe, which
//! owns the metrics and the log.

mod codes;
mod exchange;
mod message;
mod render;
mod validate;
mod wire;

use std::net::{IpAddr, SocketAddr};

use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use super::module::DnsModule;
use super::resolve;
use super::{Desc, ProbeCx};
use codes::TYPE_SOA;
use exchange::{build_query, Dial};

pub use codes::{class_code, rcode_code, type_code, CLASSES, RCODES, TYPES};
pub use message::{parse_response, Response, Rr};
pub use render::{render, RrHeader};

/// `probe_dns_duration_seconds{phase}`: resolve, connect, request.
pub const DURATION_SECONDS: Desc = Desc::new(
    "probe_dns_duration_seconds",
    "Duration of DNS request by phase",
);
pub const ANSWER_RRS: Desc = Desc::new(
    "probe_dns_answer_rrs",
    "Returns number of entries in the answer resource record list",
);
pub const AUTHORITY_RRS: Desc = Desc::new(
    "probe_dns_authority_rrs",
    "Returns number of entries in the authority resource record list",
);
pub const ADDITIONAL_RRS: Desc = Desc::new(
    "probe_dns_additional_rrs",
    "Returns number of entries in the additional resource record list",
);
pub const QUERY_SUCCEEDED: Desc = Desc::new(
    "probe_dns_query_succeeded",
    "Displays whether or not the query was executed successfully",
);
/// The serial of the last SOA in the answer, for SOA queries.
pub const SERIAL: Desc = Desc::new("probe_dns_serial", "Returns the serial number of the zone");

/// Runs one DNS query against the server `target` and checks the answer.
pub async fn probe(target: &str, m: &DnsModule, cx: &mut ProbeCx) -> bool {
    for phase in ["resolve", "connect", "request"] {
        cx.registry
            .set_gauge_labeled(&DURATION_SECONDS, &[("phase", phase)], 0.0);
    }
    for desc in [
        &ANSWER_RRS,
        &AUTHORITY_RRS,
        &ADDITIONAL_RRS,
        &QUERY_SUCCEEDED,
    ] {
        cx.registry.set_gauge(desc, 0.0);
    }
    let Some(question) = question(m, cx) else {
        return false;
    };
    let (host, port) = match split_host_port(target) {
        Some((h, p)) => (h, p),
        None => (
            target.to_string(),
            if m.dns_over_tls { "853" } else { "53" }.to_string(),
        ),
    };
    let resolved = resolve::choose_protocol(&host, m.ip, cx).await;
    let ip = match resolved.ip {
        Ok(ip) => ip,
        Err(e) => {
            cx.log
                .error("Error resolving address", &[("err", &e.to_string())]);
            return false;
        }
    };
    cx.registry.add_gauge_labeled(
        &DURATION_SECONDS,
        &[("phase", "resolve")],
        resolved.lookup_time.as_secs_f64(),
    );
    let Some(dial) = dial(&host, &port, ip, question.tcp, m, cx) else {
        return false;
    };
    let query = match build_query(
        &m.query_name,
        question.qtype,
        question.qclass,
        m.recursion_desired,
    ) {
        Ok(q) => q,
        Err(e) => {
            cx.log
                .error("Error while sending a DNS query", &[("err", &e)]);
            return false;
        }
    };
    cx.log.info(
        "Making DNS query",
        &[
            ("target", &dial.server.to_string()),
            ("dial_protocol", &dial.protocol),
            ("query", &m.query_name),
            ("type", &question.qtype.to_string()),
            ("class", &question.qclass.to_string()),
        ],
    );
    let exchanged = exchange::exchange(dial, &query, cx.deadline).await;
    cx.registry.set_gauge_labeled(
        &DURATION_SECONDS,
        &[("phase", "connect")],
        exchanged.connect,
    );
    cx.registry.set_gauge_labeled(
        &DURATION_SECONDS,
        &[("phase", "request")],
        exchanged.request,
    );
    let response = match exchanged.result {
        Ok(r) => r,
        Err(e) => {
            cx.log
                .error("Error while sending a DNS query", &[("err", &e)]);
            return false;
        }
    };
    cx.log
        .info("Got response", &[("response", &response.summary())]);
    record_response(&response, question.qtype, cx);
    validate::response(&response, m, cx)
}

/// The query's type and class codes and its transport, as the module names them.
struct Question {
    qtype: u16,
    qclass: u16,
    tcp: bool,
}

/// Reads `query_class`, `query_type` and `transport_protocol`, logging the first one that
/// upstream would refuse.
fn question(m: &DnsModule, cx: &mut ProbeCx) -> Option<Question> {
    let Some(qclass) = class_code(&m.query_class) else {
        cx.log
            .error("Invalid query class", &[("Class seen", &m.query_class)]);
        return None;
    };
    let Some(qtype) = type_code(&m.query_type) else {
        cx.log
            .error("Invalid query type", &[("Type seen", &m.query_type)]);
        return None;
    };
    let tcp = match m.transport_protocol.as_str() {
        "" | "udp" => false,
        "tcp" => true,
        other => {
            cx.log.error(
                "Configuration error: Expected transport protocol udp or tcp",
                &[("protocol", other)],
            );
            return None;
        }
    };
    Some(Question { qtype, qclass, tcp })
}

/// Where and how to send the query to `ip`: DNS-over-TLS settings, the source address and
/// the port, checked in upstream's order, the first problem logged.
fn dial(
    host: &str,
    port: &str,
    ip: IpAddr,
    tcp: bool,
    m: &DnsModule,
    cx: &mut ProbeCx,
) -> Option<Dial> {
    let transport = if tcp { "tcp" } else { "udp" };
    let mut protocol = format!("{transport}{}", if ip.is_ipv4() { "4" } else { "6" });
    let mut tls = None;
    if m.dns_over_tls {
        if !tcp {
            cx.log.error(
                "Configuration error: Expected transport protocol tcp for DoT",
                &[("protocol", transport)],
            );
            return None;
        }
        protocol.push_str("-tls");
        tls = Some(dot_connector(host, m, cx)?);
    }
    let source = match &m.source_ip_address {
        None => None,
        Some(s) => match s.parse::<IpAddr>() {
            Ok(ip) => {
                cx.log.info("Using local address", &[("srcIP", s)]);
                Some(ip)
            }
            Err(_) => {
                cx.log
                    .error("Error parsing source ip address", &[("srcIP", s)]);
                return None;
            }
        },
    };
    let port: u16 = match port {
        "" => 0,
        p => match p.parse() {
            Ok(p) => p,
            Err(_) => {
                cx.log.error(
                    "Error while sending a DNS query",
                    &[("err", &format!("dial {protocol}: unknown port {p}"))],
                );
                return None;
            }
        },
    };
    Some(Dial {
        server: SocketAddr::new(ip, port),
        source,
        tcp,
        tls,
        protocol,
    })
}

/// The TLS connector and server name (`tls_config.server_name`, else the target host) for
/// DNS-over-TLS.
fn dot_connector(
    host: &str,
    m: &DnsModule,
    cx: &mut ProbeCx,
) -> Option<(TlsConnector, ServerName<'static>)> {
    let config = match crate::client::tls::client_config(&m.tls_config, &[]) {
        Ok((config, _chain)) => config,
        Err(e) => {
            cx.log.error(
                "Failed to create TLS configuration",
                &[("err", &e.to_string())],
            );
            return None;
        }
    };
    let name = m
        .tls_config
        .server_name
        .clone()
        .unwrap_or_else(|| host.to_string());
    match ServerName::try_from(name.clone()) {
        Ok(n) => Some((TlsConnector::from(config), n)),
        Err(e) => {
            cx.log.error(
                "Failed to create TLS configuration",
                &[("server_name", &name), ("err", &e.to_string())],
            );
            None
        }
    }
}

/// The section counts, `probe_dns_query_succeeded` and (for SOA queries) the serial.
fn record_response(response: &Response, qtype: u16, cx: &mut ProbeCx) {
    cx.registry
        .set_gauge(&ANSWER_RRS, response.answer.len() as f64);
    cx.registry
        .set_gauge(&AUTHORITY_RRS, response.authority.len() as f64);
    cx.registry
        .set_gauge(&ADDITIONAL_RRS, response.additional.len() as f64);
    cx.registry.set_gauge(&QUERY_SUCCEEDED, 1.0);
    if qtype == TYPE_SOA {
        let serial = response
            .answer
            .iter()
            .filter_map(|rr| rr.soa_serial)
            .next_back()
            .unwrap_or(0);
        cx.registry.set_gauge(&SERIAL, f64::from(serial));
    }
}

/// Go's `net.SplitHostPort`: `None` when the target has no port (or is malformed), in which
/// case upstream uses the whole target as the host and the default port.
fn split_host_port(target: &str) -> Option<(String, String)> {
    let (host, port) = crate::base::go::split_host_port(target).ok()?;
    Some((host.to_string(), port.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_split_is_go_like() {
        let s = |t: &str| split_host_port(t);
        assert_eq!(s("127.0.0.1:53"), Some(("127.0.0.1".into(), "53".into())));
        assert_eq!(s("[::1]:5353"), Some(("::1".into(), "5353".into())));
        assert_eq!(s("localhost"), None);
        assert_eq!(s("::1"), None);
        assert_eq!(s("[::1]"), None);
    }
}
