//! Target host → one IP address, with blackbox_exporter's `chooseProtocol` rules, shared by
//! every IP prober: the preferred family's first address, else (with fallback) the other
//! family's *last* address; one address only, no retry on another. Writes
//! `probe_dns_lookup_time_seconds`, `probe_ip_protocol` and `probe_ip_addr_hash`, and hands
//! the lookup time back to the prober, which reports it as its `resolve` phase.
//!
//! Like Go's resolver, a name listed in the hosts file resolves to its hosts-file addresses
//! only; other names go to hickory-resolver with the system configuration.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use hickory_resolver::proto::op::Query;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Hosts, TokioResolver};
use tokio::time::Instant;

use super::module::{IpFamily, IpPreference};
use super::{Desc, ProbeCx};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("address {0}: no suitable address found")]
    NoSuitable(String),
    #[error("lookup {host}: {reason}")]
    Lookup { host: String, reason: String },
    #[error("{0}")]
    Refused(String),
}

fn hosts() -> &'static Hosts {
    static HOSTS: OnceLock<Hosts> = OnceLock::new();
    HOSTS.get_or_init(|| Hosts::from_system().unwrap_or_default())
}

fn resolver() -> Result<&'static TokioResolver, String> {
    static RESOLVER: OnceLock<Result<TokioResolver, String>> = OnceLock::new();
    RESOLVER
        .get_or_init(|| {
            TokioResolver::builder_tokio()
                .map_err(|e| format!("reading the system resolver configuration: {e}"))?
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn family(ip: &IpAddr) -> IpFamily {
    match ip {
        IpAddr::V4(_) => IpFamily::V4,
        IpAddr::V6(_) => IpFamily::V6,
    }
}

/// Every address of `host`, in resolver order. IP literals resolve to themselves.
pub async fn lookup_all(host: &str) -> Result<Vec<IpAddr>, ResolveError> {
    if host.is_empty() {
        // Go answers an empty host without asking any server.
        return Err(ResolveError::Lookup {
            host: String::new(),
            reason: "no such host".to_string(),
        });
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let lookup_err = |reason: String| ResolveError::Lookup {
        host: host.to_string(),
        reason,
    };
    let name = Name::from_utf8(host).map_err(|e| lookup_err(e.to_string()))?;
    let mut fqdn = name.clone();
    fqdn.set_fqdn(true);
    let mut from_hosts = Vec::new();
    for rt in [RecordType::A, RecordType::AAAA] {
        if let Some(lookup) = hosts().lookup_static_host(&Query::query(fqdn.clone(), rt)) {
            for record in lookup.answers() {
                match &record.data {
                    RData::A(a) => from_hosts.push(IpAddr::V4(a.0)),
                    RData::AAAA(a) => from_hosts.push(IpAddr::V6(a.0)),
                    _ => {}
                }
            }
        }
    }
    if !from_hosts.is_empty() {
        return Ok(from_hosts);
    }
    let resolver = resolver().map_err(lookup_err)?;
    let lookup = resolver
        .lookup_ip(host)
        .await
        .map_err(|e| lookup_err(e.to_string()))?;
    let ips: Vec<IpAddr> = lookup.iter().collect();
    if ips.is_empty() {
        return Err(lookup_err("no such host".to_string()));
    }
    Ok(ips)
}

/// Picks the address to probe from `ips` under blackbox's rules.
pub fn choose(ips: &[IpAddr], pref: IpPreference) -> Option<IpAddr> {
    if let Some(ip) = ips.iter().find(|ip| family(ip) == pref.preferred) {
        return Some(*ip);
    }
    if pref.fallback {
        // Upstream keeps overwriting its loop variable, so the *last* other-family address wins.
        return ips
            .iter()
            .rev()
            .find(|ip| family(ip) != pref.preferred)
            .copied();
    }
    None
}

/// FNV-1a 32-bit over the address bytes, as `probe_ip_addr_hash`.
pub fn ip_hash(ip: &IpAddr) -> u32 {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Written by [`choose_protocol`]: the time resolution (and the allow-list check) took.
pub const DNS_LOOKUP_TIME_SECONDS: Desc = Desc::new(
    "probe_dns_lookup_time_seconds",
    "Returns the time taken for probe dns lookup in seconds",
);
/// Written by [`choose_protocol`]: 4 or 6, 0 when resolution failed.
pub const IP_PROTOCOL: Desc = Desc::new(
    "probe_ip_protocol",
    "Specifies whether probe ip protocol is IP4 or IP6",
);
/// Written by [`choose_protocol`]: [`ip_hash`] of the chosen address, 0 when none.
pub const IP_ADDR_HASH: Desc = Desc::new(
    "probe_ip_addr_hash",
    "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
);

/// What [`choose_protocol`] measured: the lookup time, which probers report as their
/// `resolve` phase whether or not an address was found, and the address.
#[derive(Debug)]
pub struct Resolved {
    pub lookup_time: Duration,
    pub ip: Result<IpAddr, ResolveError>,
}

/// `chooseProtocol`: resolves `host`, records the three resolution metrics, and logs.
pub async fn choose_protocol(host: &str, pref: IpPreference, cx: &mut ProbeCx) -> Resolved {
    let proto = match pref.preferred {
        IpFamily::V4 => "ip4",
        IpFamily::V6 => "ip6",
    };
    cx.log.info(
        "Resolving target address",
        &[("target", host), ("ip_protocol", proto)],
    );
    let start = Instant::now();
    let mut result = lookup_all(host).await.and_then(|ips| {
        choose(&ips, pref).ok_or_else(|| ResolveError::NoSuitable(host.to_string()))
    });
    // The `/probe` allow-list checks the one address the prober will connect to.
    if let Ok(ip) = result {
        let port = cx.guard.as_ref().and_then(|g| g.port);
        if let Err(m) = cx.check_address(host, ip, port) {
            result = Err(ResolveError::Refused(m));
        }
    }
    let lookup_time = start.elapsed();
    cx.registry
        .set_gauge(&DNS_LOOKUP_TIME_SECONDS, lookup_time.as_secs_f64());
    let (protocol, hash) = match &result {
        Ok(ip @ IpAddr::V4(_)) => (4.0, f64::from(ip_hash(ip))),
        Ok(ip @ IpAddr::V6(_)) => (6.0, f64::from(ip_hash(ip))),
        Err(_) => (0.0, 0.0),
    };
    cx.registry.set_gauge(&IP_PROTOCOL, protocol);
    cx.registry.set_gauge(&IP_ADDR_HASH, hash);
    match &result {
        Ok(ip) => cx.log.info(
            "Resolved target address",
            &[("target", host), ("ip", &ip.to_string())],
        ),
        Err(e) => cx.log.error(
            "Resolution with IP protocol failed",
            &[("target", host), ("err", &e.to_string())],
        ),
    }
    Resolved {
        lookup_time,
        ip: result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_of_loopback_matches_upstream() {
        assert_eq!(ip_hash(&"127.0.0.1".parse().unwrap()), 3_668_918_509);
    }

    #[test]
    fn choose_follows_upstream_rules() {
        let v4a: IpAddr = "10.0.0.1".parse().unwrap();
        let v4b: IpAddr = "10.0.0.2".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        let ip6 = IpPreference {
            preferred: IpFamily::V6,
            fallback: true,
        };
        let ip4 = IpPreference {
            preferred: IpFamily::V4,
            fallback: true,
        };
        assert_eq!(choose(&[v4a, v6], ip6), Some(v6));
        assert_eq!(
            choose(&[v4a, v4b], ip6),
            Some(v4b),
            "last address of the other family"
        );
        assert_eq!(choose(&[v6, v4a, v4b], ip4), Some(v4a));
        let strict = IpPreference {
            preferred: IpFamily::V6,
            fallback: false,
        };
        assert_eq!(choose(&[v4a], strict), None);
    }
}
