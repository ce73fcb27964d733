use super::*;
use serde_saphyr::{Location, Spanned};

fn raw(yaml: &str) -> RawOAuth2 {
    serde_saphyr::from_str(yaml).unwrap()
}

fn errors(yaml: &str) -> Vec<String> {
    OAuth2Settings::from_raw(
        &raw(yaml),
        TlsSettings::default(),
        Path::new("/etc/bw"),
        ProxyEnv::default,
    )
    .err()
    .unwrap_or_default()
    .into_iter()
    .map(|e| format!("{}: {}", e.field, e.message))
    .collect()
}

/// prometheus/common `HTTPClientConfig.Validate`'s oauth2 rules (client credentials) and
/// `ProxyConfig.Validate` inside the block, with upstream's texts.
#[test]
fn validation_uses_prometheus_common_texts() {
    assert!(errors("client_id: a\ntoken_url: http://t/\nclient_secret: s\n").is_empty());
    // A public client: no secret at all is allowed.
    assert!(errors("client_id: a\ntoken_url: http://t/\n").is_empty());
    assert_eq!(
        errors("token_url: http://t/\n"),
        ["client_id: oauth2 client_id must be configured"]
    );
    assert_eq!(
        errors("client_id: a\n"),
        ["token_url: oauth2 token_url must be configured"]
    );
    assert_eq!(
        errors("client_id: a\ntoken_url: http://t/\nclient_secret: s\nclient_secret_file: f\n"),
        ["client_secret: at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured"]
    );
    assert_eq!(
        errors("client_id: a\ntoken_url: http://t/\nno_proxy: x\n"),
        ["no_proxy: if no_proxy is configured, proxy_url must also be configured"]
    );
    assert_eq!(
        errors("client_id: a\ntoken_url: http://t/\ngrant_type: urn:ietf:params:oauth:grant-type:jwt-bearer\nclaims: {a: b}\n"),
        [
            "claims: oauth2 claims is not supported yet by blackwatch",
            "grant_type: oauth2 grant_type \"urn:ietf:params:oauth:grant-type:jwt-bearer\" is not supported yet by blackwatch",
        ]
    );
    let s = OAuth2Settings::from_raw(
        &raw("client_id: a\ntoken_url: http://t/\nclient_secret_file: secret\n"),
        TlsSettings::default(),
        Path::new("/etc/bw"),
        ProxyEnv::default,
    )
    .unwrap();
    assert_eq!(
        s.client_secret,
        Some(SecretSource::File("/etc/bw/secret".into()))
    );
}

fn settings(yaml: &str) -> OAuth2Settings {
    OAuth2Settings::from_raw(
        &raw(yaml),
        TlsSettings::default(),
        Path::new("/"),
        ProxyEnv::default,
    )
    .unwrap()
}

/// clientcredentials' form, encoded as Go's `url.Values.Encode` (sorted keys,
/// `QueryEscape`): scopes joined by a space, endpoint params added, `grant_type`
/// overridable.
#[test]
fn token_request_form_is_x_oauth2s() {
    let s = settings(
        "client_id: 'my id'\ntoken_url: http://t/\nscopes: [read, 'write:all']\nendpoint_params: {audience: 'https://api', grant_type: custom, scope: ignored}\n",
    );
    let secret = Secret::new("p&ss~*");
    assert_eq!(
        token_request_body(&s, &secret, AuthStyle::InHeader),
        "audience=https%3A%2F%2Fapi&grant_type=custom&scope=read+write%3Aall"
    );
    assert_eq!(
        token_request_body(&s, &secret, AuthStyle::InParams),
        "audience=https%3A%2F%2Fapi&client_id=my+id&client_secret=p%26ss~%2A&grant_type=custom&scope=read+write%3Aall"
    );
    let bare = settings("client_id: c\ntoken_url: http://t/\n");
    assert_eq!(
        token_request_body(&bare, &Secret::default(), AuthStyle::InParams),
        "client_id=c&grant_type=client_credentials"
    );
}

#[test]
fn token_responses_parse_as_x_oauth2() {
    let t = parse_token_response(
        "application/json; charset=utf-8",
        br#"{"access_token":"abc","token_type":"bearer","expires_in":3600}"#,
    )
    .unwrap();
    assert_eq!(
        (t.access_token.expose(), t.token_type.as_str(), t.expires_in),
        ("abc", "bearer", Some(3600))
    );
    let t = parse_token_response("", br#"{"access_token":"abc","expires_in":"60"}"#).unwrap();
    assert_eq!(t.expires_in, Some(60));
    let t = parse_token_response(
        "application/x-www-form-urlencoded",
        b"access_token=x%2By&token_type=mac&expires_in=5",
    )
    .unwrap();
    assert_eq!(
        (
            t.access_token.expose(),
            token_type(&t.token_type),
            t.expires_in
        ),
        ("x+y", "MAC", Some(5))
    );
    let e = parse_token_response("application/json", br#"{"token_type":"bearer"}"#)
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "oauth2: server response missing access_token"
    );
    let e = parse_token_response("application/json", b"<html>")
        .err()
        .unwrap();
    assert!(
        e.to_string().starts_with("oauth2: cannot parse json: "),
        "{e}"
    );
    assert_eq!(token_type(""), "Bearer");
    assert_eq!(token_type("BEARER"), "Bearer");
    assert_eq!(token_type("DPoP"), "DPoP");
}

/// x/oauth2's `Token.Valid` with its 10 s `expiryDelta`, at explicit instants.
#[test]
fn cached_token_expires_ten_seconds_early() {
    let t0 = Instant::now();
    let token = CachedToken {
        header: Secret::new("Bearer x"),
        expiry: Some(t0 + Duration::from_secs(60)),
    };
    assert!(token.valid_at(t0));
    assert!(token.valid_at(t0 + Duration::from_secs(50)));
    assert!(!token.valid_at(t0 + Duration::from_secs(51)));
    let forever = CachedToken {
        header: Secret::new("Bearer x"),
        expiry: None,
    };
    assert!(forever.valid_at(t0 + Duration::from_secs(1 << 30)));
}

#[test]
fn the_secret_never_prints() {
    let mut r = raw(
        "client_id: a\ntoken_url: http://t/\nclient_secret: hunter2\nproxy_url: http://u:pw1@p:1\n",
    );
    r.proxy_connect_header = Some(Spanned::new(
        [("X".to_string(), vec![Secret::new("hunter3")])].into(),
        Location::UNKNOWN,
        Location::UNKNOWN,
    ));
    let dump = serde_saphyr::to_string(&r).unwrap();
    for s in ["hunter2", "hunter3", "pw1"] {
        assert!(!dump.contains(s), "{dump}");
    }
    assert!(dump.contains("http://u:xxxxx@p:1/"), "{dump}");
    let s = OAuth2Settings::from_raw(
        &r,
        TlsSettings::default(),
        Path::new("/"),
        ProxyEnv::default,
    )
    .unwrap();
    let src = TokenSource::new(s.clone(), "ua").unwrap();
    for shown in [format!("{s:?}"), format!("{src:?}")] {
        for secret in ["hunter2", "hunter3", "pw1"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
