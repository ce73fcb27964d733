use super::*;

fn sigv4(ak: &str, sk: &str, profile: &str) -> SigV4Config {
    SigV4Config {
        region: "eu-west-1".into(),
        access_key: ak.into(),
        secret_key: Secret::new(sk),
        profile: profile.into(),
        role_arn: String::new(),
    }
}

#[test]
fn endpoint_as_the_sdk_builds_it() {
    assert_eq!(
        endpoint("", "eu-west-1"),
        "https://sns.eu-west-1.amazonaws.com/"
    );
    assert_eq!(
        endpoint("", "cn-north-1"),
        "https://sns.cn-north-1.amazonaws.com.cn/"
    );
    assert_eq!(
        endpoint("http://127.0.0.1:9/sns", "x"),
        "http://127.0.0.1:9/sns/"
    );
    assert_eq!(endpoint("sns.example.org", "x"), "https://sns.example.org/");
    assert_eq!(endpoint("http://h/sns/", "x"), "http://h/sns/");
}

#[test]
fn credentials_chain_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("credentials");
    std::fs::write(
        &file,
        "[default]\naws_access_key_id = DEF\naws_secret_access_key = defsecret\n\n# c\n[prod]\naws_access_key_id=PROD\naws_secret_access_key=prodsecret\naws_session_token = tok\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let env = |vars: &'static [(&'static str, &'static str)], path: String| {
        move |k: &str| {
            if k == "AWS_SHARED_CREDENTIALS_FILE" {
                return Some(path.clone());
            }
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let with_env = env(
        &[
            ("AWS_ACCESS_KEY_ID", "ENV"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
        ],
        path.clone(),
    );
    // Static keys first.
    let c = base_credentials(&sigv4("AK", "SK", "prod"), &with_env).unwrap();
    assert_eq!((c.access_key.as_str(), c.secret_key.expose()), ("AK", "SK"));
    // A named profile before the environment.
    let c = base_credentials(&sigv4("", "", "prod"), &with_env).unwrap();
    assert_eq!(c.access_key, "PROD");
    assert_eq!(c.session_token.unwrap().expose(), "tok");
    // Then the environment, then the file's AWS_PROFILE / default.
    let c = base_credentials(&sigv4("", "", ""), &with_env).unwrap();
    assert_eq!(c.access_key, "ENV");
    let c = base_credentials(&sigv4("", "", ""), &env(&[], path.clone())).unwrap();
    assert_eq!(c.access_key, "DEF");
    let c = base_credentials(
        &sigv4("", "", ""),
        &env(&[("AWS_PROFILE", "prod")], path.clone()),
    )
    .unwrap();
    assert_eq!(c.access_key, "PROD");
    let e = base_credentials(&sigv4("", "", "nope"), &env(&[], "/nonexistent".into())).unwrap_err();
    assert!(e.message.starts_with("no AWS credentials"), "{}", e.message);
    assert!(!format!("{c:?}").contains("prodsecret"));
}

#[test]
fn form_encoding_as_go_url_values() {
    let p = vec![
        ("Message".to_string(), b"a b*~\n\xe2\x82".to_vec()),
        (
            "TopicArn".to_string(),
            b"arn:aws:sns:us-east-1:1:t".to_vec(),
        ),
    ];
    assert_eq!(
        encode(&p),
        "Message=a+b%2A~%0A%E2%82&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A1%3At"
    );
}

#[test]
fn answers_as_the_sdk_reports_them() {
    let resp = |status: u16, body: &str| HttpResponse {
        status,
        content_type: "text/xml".into(),
        retry_after: None,
        body: body.into(),
    };
    let err = |code: &str, msg: &str| {
        format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{msg}</Message></Error><RequestId>x</RequestId></ErrorResponse>")
    };
    assert!(check_answer(&resp(200, "<PublishResponse/>")).is_ok());
    let e = check_answer(&resp(
        400,
        &err("InvalidParameter", "Invalid parameter: TopicArn"),
    ))
    .unwrap_err();
    assert_eq!(
        e.message,
        "unexpected status code 400: Invalid parameter: TopicArn"
    );
    assert!(!e.retryable);
    let e = check_answer(&resp(400, &err("Throttling", "Rate exceeded"))).unwrap_err();
    assert!(e.retryable);
    let e = check_answer(&resp(500, &err("InternalError", "a &amp; b"))).unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.message, "unexpected status code 500: a & b");
    let e = check_answer(&resp(403, "")).unwrap_err();
    assert_eq!(e.message, "unexpected status code 403");
}

#[test]
fn assume_role_answer() {
    let xml = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s3</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>";
    let (c, exp) = parse_assume_role(xml).unwrap();
    assert_eq!(c.access_key, "ASIA1");
    assert_eq!(c.session_token.unwrap().expose(), "tok");
    assert_eq!(
        exp.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1_893_553_445
    );
}

/// The headers signed are aws-sdk-go v1's (the signature itself is recomputed with botocore
/// for real requests in tests/it/receivers_r3.rs).
#[test]
fn signed_headers_are_the_sdks() {
    let creds = AwsCredentials {
        access_key: "AKIDEXAMPLE".into(),
        secret_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        session_token: Some(Secret::new("session")),
    };
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 20150830T123600Z
    let h = sign_headers(
        "https://sns.us-east-1.amazonaws.com/",
        "us-east-1",
        "sns",
        &creds,
        "application/x-www-form-urlencoded; charset=utf-8",
        b"Action=Publish",
        t,
    )
    .unwrap();
    let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(get("x-amz-date"), Some("20150830T123600Z"));
    assert_eq!(get("x-amz-security-token"), Some("session"));
    let auth = get("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sns/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-security-token, Signature="),
        "{auth}"
    );
}
