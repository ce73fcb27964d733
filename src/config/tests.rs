use super::*;
use std::path::Path;

fn show(y: &str) {
    match load_str(y, Path::new("t.yml")) {
        Ok(_) => println!("OK"),
        Err(e) => { for x in e.iter() { println!("{x}"); } }
    }
    println!("---");
}

#[test]
fn scratch() {
    show("modules:\n  a:\n    prober: http\n    http:\n      foo: 1\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      bearer_token: x\n      bearer_token_file: y\n");
    show("modules:\n  a:\n    prober: nope\n");
    show("modules:\n  a:\n    prober: dns\n    dns:\n      query_type: A\n");
    show("modules:\n  a:\n    prober: dns\n    dns:\n      query_name: x\n      query_class: X\n      query_type: B\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      fail_if_header_matches:\n        - header: x\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      fail_if_body_matches_regexp:\n        - ':['\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      valid_status_codes: [200, 1000]\n");
    show("modules:\n  a:\n    prober: http\n    timeout: 1d\n");
    show("modules:\n  a:\n    prober: http\n    timeout: 10\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      body_size_limit: 1000\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      body_size_limit: 1kb\n");
    show("modules:\n  a:\n    prober: http\n  a:\n    prober: tcp\n");
    show("modules:\n  a:\n    prober: http\n    prober: tcp\n");
    show("");
    show("modules:\n  a:\n    prober: icmp\n    icmp:\n      ttl: -1\n");
    show("modules:\n  a:\n    prober: icmp\n    icmp:\n      ttl: 256\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      body: x\n      body_file: y\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      compression: gzip\n      headers:\n        accEpt-enCoding: deflate\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      valid_status_codes: 2xx\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      valid_status_codes: [\"2xx\"]\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      basic_auth:\n        username: a\n      bearer_token: x\n");
    show("modules:\n  a:\n    prober: grpc\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      proxy_url: http://x\n      oauth2:\n        client_id: x\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      tls_config:\n        min_version: TLS9\n");
    show("modules:\n  a:\n    prober: tcp\n    tcp:\n      query_response:\n        - expect: ':['\n        - send: x\n          expect_bytes: y\n          expect: z\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      enable_http3: true\n      valid_http_versions: [HTTP/3.0]\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      valid_http_versions: [HTTP/3.0]\n");
    show("modules:\n  a:\n    prober:\n      - http\n");
    show("modules:\n  a:\n    timeout: 5s\n");
    show("modules: [\n");
    show("modules:\n  a:\n    prober: http\n    http:\n      headers:\n        \"bad header\": x\n      method: \"GE T\"\n");
}
