use super::*;
use crate::client::raw::RawProxyHeader;
use serde_saphyr::{Location, Spanned};

fn sp<T>(v: T) -> Spanned<T> {
    Spanned::new(v, Location::UNKNOWN, Location::UNKNOWN)
}

/// golang.org/x/net/http/httpproxy's `TestUseProxy`, row for row: its `noProxy` list and
/// each host with port 80.
#[test]
fn no_proxy_matches_as_httpproxy_use_proxy() {
    let no_proxy = NoProxy::parse(
        "foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, 10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, 2002:db8:a::45/64",
    );
    let table: &[(&str, bool)] = &[
        // Never proxy localhost:
        ("localhost", false),
        ("127.0.0.1", false),
        ("127.0.0.2", false),
        ("[::1]", false),
        ("[::2]", true),                       // not a loopback address
        ("192.168.1.1", false),                // matches exact IPv4
        ("192.168.1.2", true),                 // ports do not match
        ("192.168.1.3", false),                // matches exact IPv4:port
        ("192.168.1.4", true),                 // no match
        ("10.0.0.2", false),                   // matches IPv4/CIDR
        ("[2001:db8::52:0:1]", false),         // matches exact IPv6
        ("[2001:db8::52:0:2]", true),          // no match
        ("[2001:db8::52:0:3]", false),         // matches exact [IPv6]:port
        ("[2002:db8:a::123]", false),          // matches IPv6/CIDR
        ("[fe80::424b:c8be:1643:a1b6]", true), // no match
        ("barbaz.net", true),                  // does not match as .barbaz.net
        ("www.barbaz.net", false),             // does match as .barbaz.net
        ("foobar.com", false),                 // does match as foobar.com
        ("www.foobar.com", false),             // match because NO_PROXY includes "foobar.com"
        ("foofoobar.com", true),               // not match as a part of foobar.com
        ("baz.com", true),                     // not match as a part of barbaz.com
        ("localhost.net", true),               // not match as suffix of address
        ("local.localhost", true),             // not match as prefix as address
        ("barbarbaz.net", true),               // not match, wrong domain
        ("wildcard.io", true),                 // does not match as *.wildcard.io
        ("nested.wildcard.io", false),         // match as *.wildcard.io
        ("awildcard.io", true),                // not a match because of '*'
    ];
    let all = NoProxy::parse("*");
    for (host, want) in table {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        assert_eq!(no_proxy.use_proxy(bare, "80"), *want, "{host}");
        // httpproxy's `TestAllNoProxy`.
        assert!(!all.use_proxy(bare, "80"), "* must match {host}");
    }
    // httpproxy's `TestInvalidNoProxy`: a malformed entry is ignored, not a panic.
    assert!(NoProxy::parse(":1").use_proxy("example.com", "80"));
    // Entries are case-insensitive and trimmed; a port restricts a domain too.
    let np = NoProxy::parse(" Example.COM:8080 ,,");
    assert!(!np.use_proxy("api.example.com", "8080"));
    assert!(np.use_proxy("api.example.com", "443"));
}

fn fields<'a>(
    url: Option<&'a Spanned<String>>,
    no_proxy: Option<&'a Spanned<String>>,
    from_env: Option<&'a Spanned<bool>>,
    headers: Option<&'a Spanned<RawProxyHeader>>,
) -> RawProxyFields<'a> {
    RawProxyFields {
        proxy_url: url,
        no_proxy,
        proxy_from_environment: from_env,
        proxy_connect_header: headers,
    }
}

fn messages(r: Result<ProxySettings, Vec<FieldError>>) -> Vec<String> {
    r.err()
        .unwrap_or_default()
        .into_iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect()
}

/// prometheus/common `ProxyConfig.Validate`, each rule with its text.
#[test]
fn validation_uses_prometheus_common_texts() {
    let url = sp("http://proxy.example:3128".to_string());
    let np = sp("example.com".to_string());
    let yes = sp(true);
    let hdr = sp(RawProxyHeader::from([(
        "Proxy-Authorization".to_string(),
        vec![Secret::new("Basic abc")],
    )]));
    let cases: Vec<(RawProxyFields<'_>, Vec<&str>)> = vec![
        (
            fields(None, None, None, Some(&hdr)),
            vec!["proxy_connect_header: if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured"],
        ),
        (
            fields(Some(&url), None, Some(&yes), None),
            vec!["proxy_from_environment: if proxy_from_environment is configured, proxy_url must not be configured"],
        ),
        (
            fields(None, Some(&np), Some(&yes), None),
            vec![
                "proxy_from_environment: if proxy_from_environment is configured, no_proxy must not be configured",
                "no_proxy: if no_proxy is configured, proxy_url must also be configured",
            ],
        ),
        (
            fields(None, Some(&np), None, None),
            vec!["no_proxy: if no_proxy is configured, proxy_url must also be configured"],
        ),
        (fields(Some(&url), Some(&np), None, Some(&hdr)), vec![]),
        (fields(None, None, Some(&yes), Some(&hdr)), vec![]),
    ];
    for (f, want) in cases {
        assert_eq!(
            messages(ProxySettings::from_raw(f, ProxyEnv::default)),
            want
        );
    }
    let bad = |u: &str| {
        let u = sp(u.to_string());
        messages(ProxySettings::from_raw(
            fields(Some(&u), None, None, None),
            ProxyEnv::default,
        ))
    };
    assert_eq!(
        bad("ftp://proxy:21"),
        ["proxy_url: unsupported proxy scheme \"ftp\": use http, https or socks5"]
    );
    // Text that does not parse is hidden whole when it may hold a password.
    assert_eq!(
        bad("http://user:hunter2@[::1"),
        ["proxy_url: parse \"<secret>\": invalid IPv6 address"]
    );
    assert_eq!(
        bad("http://[::1"),
        ["proxy_url: parse \"http://[::1\": invalid IPv6 address"]
    );
    assert!(bad("socks5://127.0.0.1:1080").is_empty());
    let bad_header = sp(RawProxyHeader::from([(
        "bad name".to_string(),
        vec![Secret::new("x")],
    )]));
    assert_eq!(
        messages(ProxySettings::from_raw(
            fields(Some(&url), None, None, Some(&bad_header)),
            ProxyEnv::default
        )),
        ["proxy_connect_header: invalid header name \"bad name\""]
    );
}

fn target(u: &str) -> Url {
    Url::parse(u).unwrap()
}

#[test]
fn proxy_url_alone_proxies_everything_as_http_proxy_url() {
    let url = sp("http://user:pw@proxy.example:3128".to_string());
    let s =
        ProxySettings::from_raw(fields(Some(&url), None, None, None), ProxyEnv::default).unwrap();
    for t in [
        "http://127.0.0.1:9/",
        "https://localhost/",
        "http://example.org/",
    ] {
        assert_eq!(
            s.proxy_for(&target(t)).map(|u| u.to_string()),
            Some("http://user:pw@proxy.example:3128/".to_string()),
            "{t}"
        );
    }
    assert!(!format!("{s:?}").contains("pw@"), "{s:?}");
}

#[test]
fn no_proxy_uses_httpproxy_rules_with_the_target_port() {
    let url = sp("http://proxy.example:3128".to_string());
    let np = sp("internal.example, 10.0.0.0/8, api.example.org:8443".to_string());
    let s = ProxySettings::from_raw(fields(Some(&url), Some(&np), None, None), ProxyEnv::default)
        .unwrap();
    let via = |t: &str| s.proxy_for(&target(t)).is_some();
    assert!(via("http://example.org/"));
    assert!(!via("http://db.internal.example/"));
    assert!(!via("https://10.1.2.3/"));
    // Loopback is never proxied once httpproxy decides.
    assert!(!via("http://127.0.0.1:8080/"));
    assert!(!via("http://[::1]:8080/"));
    assert!(!via("https://api.example.org:8443/"));
    // The scheme's default port counts: https is 443, not 8443.
    assert!(via("https://api.example.org/"));
}

#[test]
fn environment_is_read_once_as_httpproxy_from_environment() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move || {
            ProxyEnv::read(|k| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
        }
    };
    let yes = sp(true);
    let f = fields(None, None, Some(&yes), None);
    let s = ProxySettings::from_raw(
        f,
        env(&[
            ("HTTP_PROXY", "proxy.example:3128"),
            ("https_proxy", "https://secure.example:443"),
            ("HTTPS_PROXY", ""),
            ("no_proxy", ".corp"),
        ]),
    )
    .unwrap();
    let via = |t: &str| s.proxy_for(&target(t)).map(|u| u.to_string());
    // A bare host:port means http://host:port (httpproxy's parseProxy).
    assert_eq!(
        via("http://example.org/").as_deref(),
        Some("http://proxy.example:3128/")
    );
    // The upper-case name wins unless it is empty.
    assert_eq!(
        via("https://example.org/").as_deref(),
        Some("https://secure.example/")
    );
    assert_eq!(via("https://git.corp/"), None);
    // Nothing set: direct.
    let none = ProxySettings::from_raw(f, env(&[])).unwrap();
    assert_eq!(none.proxy_for(&target("http://example.org/")), None);
    // REQUEST_METHOD set (CGI): HTTP_PROXY is not used for http URLs.
    let cgi = ProxySettings::from_raw(
        f,
        env(&[("HTTP_PROXY", "proxy:1"), ("REQUEST_METHOD", "GET")]),
    )
    .unwrap();
    assert_eq!(cgi.proxy_for(&target("http://example.org/")), None);
}
