use super::*;
use wiremock::matchers::{basic_auth, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[test]
fn mask_url_removes_userinfo_and_token_values() {
    let table = [
        (
            "https://api.github.com/repos/o/r",
            "https://api.github.com/repos/o/r",
        ),
        (
            "https://user:pa55@host.example/a?b=1",
            "https://host.example/a?b=1",
        ),
        ("https://tok@host/x@y", "https://host/x@y"),
        (
            "https://h/p?private_token=abc&per_page=100",
            "https://h/p?private_token=***&per_page=100",
        ),
        (
            "https://h/p?access_token=abc#frag",
            "https://h/p?access_token=***#frag",
        ),
        (
            "https://h/p?token=a&key=b&sig=c",
            "https://h/p?token=***&key=***&sig=***",
        ),
        (
            "https://h/p?X-Amz-Signature=s&x=1",
            "https://h/p?X-Amz-Signature=***&x=1",
        ),
        (
            "https://h/p?password=&page=2",
            "https://h/p?password=&page=2",
        ),
        (
            "https://h/cb#access_token=t&state=1",
            "https://h/cb#access_token=***&state=1",
        ),
        ("not a url?token=zz", "not a url?token=***"),
        ("", ""),
    ];
    for (input, want) in table {
        assert_eq!(mask_url(input), want, "{input}");
    }
}

#[test]
fn secrets_never_print() {
    let s = Secret::new("glpat-very-secret");
    assert_eq!(format!("{s} {s:?}"), "*** ***");
    assert_eq!(s.expose(), "glpat-very-secret");
    assert_eq!(s.redact("x glpat-very-secret y"), "x *** y");
    assert_eq!(Secret::new("a").redact("a cat"), "a cat");
}

#[test]
fn link_headers_and_origins() {
    let link = r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#;
    assert_eq!(
        next_link(link).as_deref(),
        Some("https://api.github.com/x?page=2")
    );
    assert_eq!(next_link(r#"<https://a/x?page=1>; rel="prev""#), None);
    assert_eq!(next_link("garbage"), None);
    assert!(same_origin(
        "https://a.example/x",
        "https://a.example:443/y?z"
    ));
    assert!(!same_origin(
        "https://a.example/x",
        "https://evil.example/x"
    ));
    assert!(!same_origin("https://a.example/x", "http://a.example/x"));
}

#[test]
fn clients_build_and_bad_ca_files_are_reported() {
    assert!(build_client(&HttpConfig::default()).is_ok());
    assert!(client_for(&HttpConfig::default()).is_ok());
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let config = HttpConfig {
        ca_file: Some(bad.clone()),
        ..HttpConfig::default()
    };
    let err = build_client(&config).unwrap_err().to_string();
    assert!(
        err.contains("ca.pem") && err.contains("no PEM certificate"),
        "{err}"
    );
    let missing = HttpConfig {
        ca_file: Some(dir.path().join("missing.pem")),
        ..HttpConfig::default()
    };
    assert!(matches!(
        build_client(&missing),
        Err(HttpError::CaFile { .. })
    ));
}

#[derive(serde::Deserialize, Debug)]
struct Thing {
    a: u32,
}

#[tokio::test]
async fn get_json_sends_auth_and_reports_failures_with_masked_urls() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/ok"))
        .and(header("user-agent", USER_AGENT))
        .and(header("private-token", "glpat-secret"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"a": 7}"#)
                .insert_header("link", "<http://x/ok?page=2>; rel=\"next\""),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/basic"))
        .and(basic_auth("alice", "api-token-1"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"a": 1}"#))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/limited"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "60"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bad"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{nope"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;

    let timeout = Duration::from_millis(300);
    let client = build_client(&HttpConfig {
        timeout,
        ..HttpConfig::default()
    })
    .unwrap();
    let base = server.uri();
    let token = Secret::new("glpat-secret");

    let page: JsonPage<Thing> = get_json(
        &client,
        &format!("{base}/ok"),
        Auth::Header("PRIVATE-TOKEN", &token),
        &[],
        timeout,
    )
    .await
    .unwrap();
    assert_eq!(page.body.a, 7);
    assert_eq!(page.next.as_deref(), Some("http://x/ok?page=2"));

    let user_token = Secret::new("api-token-1");
    let basic: JsonPage<Thing> = get_json(
        &client,
        &format!("{base}/basic"),
        Auth::Basic("alice", &user_token),
        &[],
        timeout,
    )
    .await
    .unwrap();
    assert_eq!(basic.body.a, 1);

    let url = format!("{base}/limited?private_token=glpat-secret");
    let err = get_json::<Thing>(&client, &url, Auth::None, &[], timeout)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(429));
    let text = err.to_string();
    assert!(text.contains("HTTP 429 Too Many Requests"), "{text}");
    assert!(text.contains("Retry-After: 60"), "{text}");
    assert!(
        text.contains("private_token=***") && !text.contains("glpat-secret"),
        "{text}"
    );

    let err = get_json::<Thing>(&client, &format!("{base}/bad"), Auth::None, &[], timeout)
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Decode { .. }), "{err}");

    let err = get_json::<Thing>(&client, &format!("{base}/slow"), Auth::None, &[], timeout)
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }), "{err}");

    let err = get_json::<Thing>(&client, "http://127.0.0.1:1/x", Auth::None, &[], timeout)
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Transport { .. }), "{err}");
}
