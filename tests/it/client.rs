//! prometheus/common's HTTP client config on receivers, against real peers on loopback:
//! a webhook through Debian's tinyproxy (plain http as a forwarded request, https through
//! CONNECT with `proxy_connect_header`, `no_proxy` going direct) and OAuth2 client
//! credentials against an in-test token endpoint (the grant, the credentials, the scopes,
//! the cached token reused, an expired one refetched, x/oauth2's fallback to credentials in
//! the form, errors without secrets).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blackwatch::alert::config::load_str;
use blackwatch::alert::dedup::Reason;
use blackwatch::alert::notify::build::build_integrations;
use blackwatch::alert::notify::render::TemplateSet;
use blackwatch::alert::notify::{Integration, NotifyContext, NotifyError};
use blackwatch::alert::store::Alert;
use blackwatch::labels::label_set as ls;

use crate::support::tinyproxy::{Tinyproxy, PROXY_PASSWORD, PROXY_USER};
use crate::support::{HttpServer, TestCa, TestRequest, TestResponse};

fn alert() -> Alert {
    Alert {
        labels: ls(&[("alertname", "ProbeDown")]),
        annotations: ls(&[]),
        starts_at: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        ends_at: UNIX_EPOCH,
        generator_url: "http://prom.test/graph".into(),
        updated_at: UNIX_EPOCH,
        timeout: false,
    }
}

/// Builds the webhook integrations of the first receiver of `yaml`, as a reload would.
fn webhooks(yaml: &str) -> (tempfile::TempDir, Vec<Integration>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alertmanager.yml");
    std::fs::write(&path, yaml).unwrap();
    let cfg = load_str(yaml, &path).unwrap_or_else(|e| panic!("config: {e}"));
    let templates = Arc::new(TemplateSet::load(&cfg.template_files()).unwrap());
    let shared = blackwatch::alert::notify::webhook::http_client().unwrap();
    let (built, errors) = build_integrations(&cfg.receivers[0], &shared, dir.path(), &templates);
    assert!(errors.is_empty(), "{errors:?}");
    (dir, built.into_iter().map(|(_, i)| i).collect())
}

async fn send(i: &Integration) -> Result<(), NotifyError> {
    let c = NotifyContext {
        receiver: "r".into(),
        group_key: "{}:{alertname=\"ProbeDown\"}".into(),
        group_labels: ls(&[("alertname", "ProbeDown")]),
        external_url: "http://am.test:9093".into(),
        reason: Reason::FirstNotification,
        now: SystemTime::now(),
    };
    i.notifier.notify(&c, &[alert()]).await
}

/// A loopback server that records every request and answers 200.
fn sink(tls: Option<&TestCa>) -> (HttpServer, Arc<Mutex<Vec<TestRequest>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    let handler = move |req: &TestRequest| {
        rec.lock().unwrap().push(req.clone());
        TestResponse::ok()
    };
    let server = match tls {
        Some(ca) => HttpServer::tls(&ca.localhost(), handler),
        None => HttpServer::plain(handler),
    };
    (server, seen)
}

#[tokio::test]
async fn webhook_goes_through_a_forward_proxy_with_credentials_from_proxy_url() {
    let proxy = Tinyproxy::start().await;
    let (server, seen) = sink(None);
    let yaml = format!(
        "route: {{receiver: r}}\nreceivers:\n- name: r\n  webhook_configs:\n  - url: http://{addr}/hook\n    http_config:\n      proxy_url: {proxy}\n      proxy_connect_header:\n        X-Connect-Only: [not-for-the-target]\n",
        addr = server.addr(),
        proxy = proxy.url(true),
    );
    let (_d, ints) = webhooks(&yaml);
    send(&ints[0]).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let via = seen[0].header("via").unwrap_or_default();
    assert!(via.contains("tinyproxy"), "not proxied: via {via:?}");
    // proxy_connect_header is for CONNECT only, as Go's ProxyConnectHeader.
    assert_eq!(seen[0].header("x-connect-only"), None);
    let logged = proxy.requests();
    assert!(
        logged
            .iter()
            .any(|r| r.starts_with(&format!("POST http://{}/hook", server.addr()))),
        "{logged:?}"
    );
}

#[tokio::test]
async fn no_proxy_goes_direct() {
    let proxy = Tinyproxy::start().await;
    let (server, seen) = sink(None);
    let yaml = format!(
        "route: {{receiver: r}}\nreceivers:\n- name: r\n  webhook_configs:\n  - url: http://{addr}/hook\n    http_config:\n      proxy_url: {proxy}\n      no_proxy: example.org,127.0.0.0/8\n",
        addr = server.addr(),
        proxy = proxy.url(true),
    );
    let (_d, ints) = webhooks(&yaml);
    send(&ints[0]).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("via"), None);
    assert_eq!(proxy.requests(), Vec::<String>::new());
}

#[tokio::test]
async fn https_goes_through_connect_with_proxy_connect_header() {
    let proxy = Tinyproxy::start().await;
    let ca = TestCa::new("proxy test CA");
    let ca_file = ca.write_ca_file();
    let (server, seen) = sink(Some(&ca));
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{PROXY_USER}:{PROXY_PASSWORD}"),
    );
    let hook = |connect_header: &str| {
        format!(
            "route: {{receiver: r}}\nreceivers:\n- name: r\n  webhook_configs:\n  - url: https://localhost:{port}/hook\n    http_config:\n      tls_config: {{ca_file: {ca}}}\n      proxy_url: {proxy}\n{connect_header}",
            port = server.addr().port(),
            ca = ca_file.display(),
            proxy = proxy.url(false),
        )
    };
    let with = hook(&format!(
        "      proxy_connect_header:\n        Proxy-Authorization: ['Basic {basic}']\n"
    ));
    let (_d, ints) = webhooks(&with);
    send(&ints[0]).await.unwrap();
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].is_tls());
        // The tunnel's header stays with the proxy.
        assert_eq!(seen[0].header("proxy-authorization"), None);
    }
    let logged = proxy.requests();
    let connect = format!("CONNECT localhost:{} HTTP/1.1", server.addr().port());
    assert!(logged.contains(&connect), "{logged:?}");

    // Without the header, tinyproxy refuses the CONNECT (407): the header is what it saw.
    let (_d, ints) = webhooks(&hook(""));
    let err = send(&ints[0]).await.unwrap_err();
    assert_eq!(seen.lock().unwrap().len(), 1, "{err:?}");
}

/// A client-credentials token endpoint: checks the request as clientcredentials sends it
/// and hands out `tok-1`, `tok-2`, … valid for `expires_in` seconds. With `params_only` it
/// refuses credentials in the header (as some servers do) and wants them in the form.
struct TokenEndpoint {
    server: HttpServer,
    requests: Arc<Mutex<Vec<TestRequest>>>,
}

const CLIENT_ID: &str = "bw-client";
const CLIENT_SECRET: &str = "cl1ent-s3cret";

impl TokenEndpoint {
    fn start(expires_in: u64, params_only: bool) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let rec = requests.clone();
        let server = HttpServer::plain(move |req: &TestRequest| {
            let mut reqs = rec.lock().unwrap();
            reqs.push(req.clone());
            let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let basic = format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("{CLIENT_ID}:{CLIENT_SECRET}")
                )
            );
            let in_header = req.header("authorization") == Some(basic.as_str());
            let in_form =
                get("client_id") == Some(CLIENT_ID) && get("client_secret") == Some(CLIENT_SECRET);
            let ok = req.method == http::Method::POST
                && req.path() == "/oauth2/token"
                && req.header("content-type") == Some("application/x-www-form-urlencoded")
                && get("grant_type") == Some("client_credentials")
                && get("scope") == Some("alerts:write read")
                && get("audience") == Some("https://hooks.test")
                && if params_only {
                    in_form && req.header("authorization").is_none()
                } else {
                    in_header
                };
            if !ok {
                return TestResponse::text(401, r#"{"error":"invalid_client"}"#);
            }
            let issued = reqs.len();
            TestResponse::new(200)
                .with_header("content-type", "application/json")
                .with_body(format!(
                    r#"{{"access_token":"tok-{issued}","token_type":"bearer","expires_in":{expires_in}}}"#
                ))
        });
        TokenEndpoint { server, requests }
    }

    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

fn oauth_yaml(sink: &HttpServer, token: &TokenEndpoint, secret: &str) -> String {
    format!(
        "route: {{receiver: r}}\nreceivers:\n- name: r\n  webhook_configs:\n  - url: http://{sink}/hook\n    http_config:\n      oauth2:\n        client_id: {CLIENT_ID}\n        {secret}\n        token_url: http://{token}/oauth2/token\n        scopes: ['alerts:write', read]\n        endpoint_params: {{audience: 'https://hooks.test'}}\n",
        sink = sink.addr(),
        token = token.server.addr(),
    )
}

fn authorizations(seen: &Mutex<Vec<TestRequest>>) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn oauth2_token_is_fetched_once_and_reused_until_it_expires() {
    let token = TokenEndpoint::start(3600, false);
    let (server, seen) = sink(None);
    let (_d, ints) = webhooks(&oauth_yaml(
        &server,
        &token,
        &format!("client_secret: {CLIENT_SECRET}"),
    ));
    send(&ints[0]).await.unwrap();
    send(&ints[0]).await.unwrap();
    assert_eq!(authorizations(&seen), ["Bearer tok-1", "Bearer tok-1"]);
    assert_eq!(token.count(), 1);
    let ua = token.requests.lock().unwrap()[0]
        .header("user-agent")
        .unwrap_or_default()
        .to_string();
    assert!(ua.starts_with("blackwatch/"), "{ua}");
}

#[tokio::test]
async fn oauth2_expired_token_is_refetched() {
    // x/oauth2 treats a token as expired 10 s before `expires_in` runs out: a 5 s token is
    // stale as soon as it arrives, so every notification fetches (no sleeping needed).
    let token = TokenEndpoint::start(5, false);
    let (server, seen) = sink(None);
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{CLIENT_SECRET}\n")).unwrap();
    let (_d, ints) = webhooks(&oauth_yaml(
        &server,
        &token,
        &format!("client_secret_file: {}", secret_file.display()),
    ));
    send(&ints[0]).await.unwrap();
    send(&ints[0]).await.unwrap();
    assert_eq!(authorizations(&seen), ["Bearer tok-1", "Bearer tok-2"]);
    assert_eq!(token.count(), 2);
}

#[tokio::test]
async fn oauth2_falls_back_to_credentials_in_the_form_and_remembers_it() {
    let token = TokenEndpoint::start(5, true);
    let (server, seen) = sink(None);
    let (_d, ints) = webhooks(&oauth_yaml(
        &server,
        &token,
        &format!("client_secret: {CLIENT_SECRET}"),
    ));
    send(&ints[0]).await.unwrap();
    // The header attempt (refused), then the form.
    assert_eq!(token.count(), 2);
    send(&ints[0]).await.unwrap();
    // The form straight away.
    assert_eq!(token.count(), 3);
    assert_eq!(authorizations(&seen), ["Bearer tok-2", "Bearer tok-3"]);
}

#[tokio::test]
async fn oauth2_failure_is_retryable_and_leaks_no_secret() {
    let token = TokenEndpoint::start(3600, false);
    let (server, seen) = sink(None);
    let (_d, ints) = webhooks(&oauth_yaml(&server, &token, "client_secret: wr0ng-s3cret"));
    let err = send(&ints[0]).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("oauth2: cannot fetch token: 401"), "{text}");
    assert!(!text.contains("wr0ng-s3cret"), "{text}");
    assert!(seen.lock().unwrap().is_empty());
    // Both styles were tried.
    assert_eq!(token.count(), 2);
}
