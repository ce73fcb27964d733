//! The `/probe` target policy (`probe_policy:` in the config): a switch for ad-hoc probes and
//! an optional allow-list of host names (exact or `*.suffix`), CIDRs and ports, so a daemon
//! exposed inside a cluster cannot be used to reach arbitrary hosts. Scheduled probes from
//! `probes:` are written by the operator and are not subject to it.
//!
//! Checking happens twice. Before the probe, the target's host name (or literal IP) and port
//! are checked without any DNS lookup; a target no rule can match is refused at once. Then the
//! probe runs with a [`TargetGuard`] that checks the address each connection is actually
//! made to — after the prober's own resolution, and again for every HTTP redirect hop — so a
//! name that resolves (or re-resolves: DNS rebinding) to an address outside the allowed CIDRs
//! is never connected to. Either refusal answers 403 with the reason and counts
//! `blackwatch_probe_refused_total{reason}`.

use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::base::ConfigError;
use crate::probe::{Prober, TargetGuard};

/// `probe_policy:` as written.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbePolicy {
    /// `false` refuses every ad-hoc `/probe` request; scheduled probes still run.
    #[serde(default = "yes")]
    pub allow_adhoc: bool,
    /// When non-empty, an ad-hoc target must match at least one rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_targets: Vec<Spanned<RawAllowRule>>,
}

fn yes() -> bool {
    true
}

/// One allow rule: every condition it sets must hold; an unset one matches anything.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAllowRule {
    /// Host names: `name` exactly, or `*.suffix` for any name below `suffix`. Literal IP
    /// targets match a host entry only when written identically.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<Spanned<String>>,
    /// Networks the connected address must be in (`10.0.0.0/8`, `fd00::/8`, or one address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidrs: Vec<Spanned<String>>,
    /// Destination ports. ICMP targets have no port and never match a rule with ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.example.com` → `.example.com`.
    Suffix(String),
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        let host = normalize(host);
        match self {
            HostPattern::Exact(h) => *h == host,
            HostPattern::Suffix(s) => host.len() > s.len() && host.ends_with(s.as_str()),
        }
    }
}

fn normalize(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

#[derive(Clone, Debug, Default)]
struct Rule {
    hosts: Vec<HostPattern>,
    cidrs: Vec<ipnet::IpNet>,
    ports: Vec<u16>,
}

/// A refusal: the counter's `reason` label and the text of the 403.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

/// The validated policy. The default allows every target.
#[derive(Clone, Debug)]
pub struct ProbePolicy {
    pub allow_adhoc: bool,
    rules: Vec<Rule>,
}

impl Default for ProbePolicy {
    fn default() -> Self {
        Self {
            allow_adhoc: true,
            rules: Vec::new(),
        }
    }
}

/// A target split into what the policy looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetParts {
    pub host: String,
    pub port: Option<u16>,
}

/// Host and port of a `/probe` target as each prober reads it.
pub fn target_parts(prober: &Prober, target: &str) -> Option<TargetParts> {
    match prober {
        Prober::Http(_) => {
            let with_scheme = if target.contains("://") {
                target.to_string()
            } else {
                format!("http://{target}")
            };
            let url = url::Url::parse(&with_scheme).ok()?;
            let host = url.host_str()?.to_string();
            Some(TargetParts {
                host: normalize(&host),
                port: url.port_or_known_default(),
            })
        }
        Prober::Tcp(_) => split_host_port(target).map(|(h, p)| TargetParts {
            host: h,
            port: Some(p),
        }),
        Prober::Dns(_) => match split_host_port(target) {
            Some((h, p)) => Some(TargetParts {
                host: h,
                port: Some(p),
            }),
            None if !target.is_empty() => Some(TargetParts {
                host: normalize(target),
                port: Some(53),
            }),
            None => None,
        },
        Prober::Grpc(g) => super::grpc::target_host_port(target, g.tls).map(|(h, p)| TargetParts {
            host: normalize(&h),
            port: Some(p),
        }),
        Prober::Icmp(_) => (!target.is_empty()).then(|| TargetParts {
            host: normalize(target),
            port: None,
        }),
        // A socket path has no host or port: an allow-list refuses ad-hoc unix probes.
        Prober::Unix(_) => None,
        Prober::Websocket(_) => {
            let url = url::Url::parse(target).ok()?;
            Some(TargetParts {
                host: normalize(url.host_str()?),
                port: url.port_or_known_default(),
            })
        }
    }
}

/// `host:port` / `[v6]:port` as Go's `net.SplitHostPort` (a bare IPv6 address has no port).
fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = crate::base::go::split_host_port(s).ok()?;
    Some((normalize(host), port.parse().ok()?))
}

impl ProbePolicy {
    /// Whether any allow-list is configured.
    pub fn restricts(&self) -> bool {
        !self.allow_adhoc || !self.rules.is_empty()
    }

    /// The check before any lookup: the switch, then host name / literal IP and port.
    pub fn check_target(&self, prober: &Prober, target: &str) -> Result<(), Refusal> {
        if !self.allow_adhoc {
            return Err(Refusal {
                reason: "adhoc_disabled",
                message: "ad-hoc probes are disabled (probe_policy.allow_adhoc: false)".into(),
            });
        }
        if self.rules.is_empty() {
            return Ok(());
        }
        let Some(parts) = target_parts(prober, target) else {
            return Err(Refusal {
                reason: "target",
                message: format!(
                    "target {target:?} cannot be checked against probe_policy.allow_targets"
                ),
            });
        };
        let literal = parts.host.parse::<IpAddr>().ok();
        let may_match = self.rules.iter().any(|r| {
            r.host_ok(&parts.host)
                && r.port_ok(parts.port)
                && literal.is_none_or(|ip| r.cidr_ok(ip))
        });
        if may_match {
            Ok(())
        } else {
            Err(Refusal {
                reason: "target",
                message: format!(
                    "target {target:?} (host {:?}, port {}) is not in probe_policy.allow_targets",
                    parts.host,
                    parts.port.map_or("none".to_string(), |p| p.to_string())
                ),
            })
        }
    }

    /// The check of an address about to be connected to.
    pub fn check_address(&self, host: &str, ip: IpAddr, port: Option<u16>) -> Result<(), Refusal> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let host = normalize(host);
        if self
            .rules
            .iter()
            .any(|r| r.host_ok(&host) && r.port_ok(port) && r.cidr_ok(ip))
        {
            Ok(())
        } else {
            Err(Refusal {
                reason: "address",
                message: format!(
                    "connecting to {host:?} at {ip} port {} is not allowed by probe_policy.allow_targets",
                    port.map_or("none".to_string(), |p| p.to_string())
                ),
            })
        }
    }

    /// The guard handed to the prober for an ad-hoc probe of a target with `port`.
    pub fn guard(self: &Arc<Self>, port: Option<u16>) -> Option<TargetGuard> {
        if self.rules.is_empty() {
            return None;
        }
        let policy = Arc::clone(self);
        Some(TargetGuard {
            port,
            check: Arc::new(move |host, ip, port| {
                policy.check_address(host, ip, port).map_err(|r| r.message)
            }),
        })
    }
}

impl Rule {
    fn host_ok(&self, host: &str) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|p| p.matches(host))
    }
    fn port_ok(&self, port: Option<u16>) -> bool {
        self.ports.is_empty() || port.is_some_and(|p| self.ports.contains(&p))
    }
    fn cidr_ok(&self, ip: IpAddr) -> bool {
        // An IPv4-mapped IPv6 address is checked as the IPv4 address it reaches.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.cidrs.is_empty() || self.cidrs.iter().any(|n| n.contains(&ip))
    }
}

/// Validates `probe_policy:`; errors are pushed with positions.
pub fn validate(
    raw: Option<&Spanned<RawProbePolicy>>,
    file: &std::path::Path,
    errors: &mut Vec<ConfigError>,
) -> ProbePolicy {
    let Some(raw) = raw else {
        return ProbePolicy::default();
    };
    let err =
        |errors: &mut Vec<ConfigError>, at: &serde_saphyr::Location, path: String, m: String| {
            errors.push(ConfigError {
                file: file.to_path_buf(),
                line: at.line(),
                column: at.column(),
                path,
                message: m,
            })
        };
    let mut rules = Vec::new();
    for (i, r) in raw.value.allow_targets.iter().enumerate() {
        let base = format!("probe_policy.allow_targets[{i}]");
        let mut rule = Rule {
            ports: r.value.ports.clone(),
            ..Rule::default()
        };
        if r.value.hosts.is_empty() && r.value.cidrs.is_empty() && r.value.ports.is_empty() {
            err(
                errors,
                &r.referenced,
                base.clone(),
                "a rule needs at least one of hosts, cidrs or ports".into(),
            );
        }
        if r.value.ports.contains(&0) {
            err(
                errors,
                &r.referenced,
                format!("{base}.ports"),
                "port 0 is not a valid port".into(),
            );
        }
        for (j, h) in r.value.hosts.iter().enumerate() {
            let path = format!("{base}.hosts[{j}]");
            let v = h.value.trim().trim_end_matches('.').to_ascii_lowercase();
            let (pattern, name) = match v.strip_prefix("*.") {
                Some(rest) => (HostPattern::Suffix(format!(".{rest}")), rest.to_string()),
                None => (HostPattern::Exact(normalize(&v)), normalize(&v)),
            };
            let valid = !name.is_empty()
                && !name.contains('*')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
            if !valid {
                err(
                    errors,
                    &h.referenced,
                    path,
                    format!(
                        "invalid host pattern {:?}: use a host name, an IP address, or *.suffix",
                        h.value
                    ),
                );
                continue;
            }
            rule.hosts.push(pattern);
        }
        for (j, c) in r.value.cidrs.iter().enumerate() {
            let path = format!("{base}.cidrs[{j}]");
            let v = c.value.trim();
            let net = v
                .parse::<ipnet::IpNet>()
                .or_else(|_| v.parse::<IpAddr>().map(ipnet::IpNet::from));
            match net {
                Ok(n) => rule.cidrs.push(n.trunc()),
                Err(_) => err(
                    errors,
                    &c.referenced,
                    path,
                    format!("invalid CIDR {:?}", c.value),
                ),
            }
        }
        rules.push(rule);
    }
    ProbePolicy {
        allow_adhoc: raw.value.allow_adhoc,
        rules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> Result<ProbePolicy, Vec<String>> {
        let raw: Spanned<RawProbePolicy> =
            crate::base::yaml::parse(yaml, std::path::Path::new("p.yml"))
                .map_err(|e| e.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
        let mut errors = Vec::new();
        let p = validate(Some(&raw), std::path::Path::new("p.yml"), &mut errors);
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(errors.iter().map(|e| e.to_string()).collect())
        }
    }

    #[test]
    fn config_file_section_is_validated_with_positions() {
        let file = std::path::Path::new("bw.yml");
        let e = crate::config::load_str(
            "modules: {}\nprobe_policy:\n  allow_targets:\n    - ports: [0]\n      cidrs: [nope]\n",
            file,
        )
        .err()
        .map(|e| e.iter().map(|e| e.to_string()).collect::<Vec<_>>())
        .unwrap_or_default();
        assert_eq!(
            e,
            vec![
                "bw.yml:4:7: probe_policy.allow_targets[0].ports: port 0 is not a valid port",
                "bw.yml:5:15: probe_policy.allow_targets[0].cidrs[0]: invalid CIDR \"nope\"",
            ]
        );
        let c = crate::config::load_str("modules: {}\nprobe_policy: {allow_adhoc: false}\n", file);
        assert!(c.is_ok_and(|c| !c.probe_policy.allow_adhoc));
        let c = crate::config::load_str("modules: {}\n", file);
        assert!(c.is_ok_and(|c| !c.probe_policy.restricts()));
    }

    #[test]
    fn splits_targets_like_the_probers() {
        assert_eq!(split_host_port("[::1]:53"), Some(("::1".to_string(), 53)));
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(
            split_host_port("Example.COM.:80"),
            Some(("example.com".into(), 80))
        );
        assert_eq!(split_host_port("h:x"), None);
    }

    #[test]
    fn grpc_targets_default_their_port_by_tls() {
        let grpc = |tls| {
            Prober::Grpc(crate::probe::module::GrpcModule {
                service: String::new(),
                tls,
                tls_config: Default::default(),
                ip: crate::probe::module::IpPreference::from_config("ip4", true),
                metadata: Vec::new(),
            })
        };
        let parts = |host: &str, port| {
            Some(TargetParts {
                host: host.to_string(),
                port: Some(port),
            })
        };
        assert_eq!(
            target_parts(&grpc(false), "Svc.example"),
            parts("svc.example", 80)
        );
        assert_eq!(
            target_parts(&grpc(true), "svc.example"),
            parts("svc.example", 443)
        );
        assert_eq!(
            target_parts(&grpc(true), "https://10.0.0.1:8443/x"),
            parts("10.0.0.1", 8443)
        );
        assert_eq!(target_parts(&grpc(false), "h:x"), None);
    }

    #[test]
    fn validation_errors_name_the_position() {
        let e = policy(
            "allow_targets:\n  - hosts: ['*.ok', 'bad host']\n    cidrs: [10.0.0.0/33]\n  - {}\n",
        )
        .err()
        .unwrap_or_default();
        assert_eq!(
            e,
            vec![
                "p.yml:2:21: probe_policy.allow_targets[0].hosts[1]: invalid host pattern \"bad host\": use a host name, an IP address, or *.suffix",
                "p.yml:3:13: probe_policy.allow_targets[0].cidrs[0]: invalid CIDR \"10.0.0.0/33\"",
                "p.yml:4:5: probe_policy.allow_targets[1]: a rule needs at least one of hosts, cidrs or ports",
            ]
        );
    }

    #[test]
    fn address_checks() {
        let p = policy(
            "allow_targets:\n  - hosts: ['*.svc.local']\n    cidrs: [10.0.0.0/8]\n    ports: [80, 443]\n  - cidrs: ['192.0.2.7']\n",
        )
        .expect("valid");
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert!(p
            .check_address("a.svc.local", ip("10.1.2.3"), Some(80))
            .is_ok());
        assert!(p
            .check_address("A.SVC.LOCAL.", ip("10.1.2.3"), Some(443))
            .is_ok());
        assert!(p
            .check_address("a.svc.local", ip("10.1.2.3"), Some(22))
            .is_err());
        assert!(p
            .check_address("a.svc.local", ip("127.0.0.1"), Some(80))
            .is_err());
        assert!(p
            .check_address("svc.local", ip("10.1.2.3"), Some(80))
            .is_err());
        assert!(p
            .check_address("evil.com", ip("192.0.2.7"), Some(1))
            .is_ok());
        assert!(p
            .check_address("evil.com", ip("::ffff:192.0.2.7"), None)
            .is_ok());
        assert!(p
            .check_address("evil.com", ip("192.0.2.8"), Some(1))
            .is_err());
    }
}
