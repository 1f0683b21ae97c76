//! Tests of the `webhook` channel: payload snapshots, signature vectors, the exact request
//! (wiremock) and settings; answer classification and secret hygiene are in
//! `notify::conformance`, shared by every channel.

use std::time::Duration;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::http::{build_client, HttpConfig};
use crate::notify::message::samples;

/// The Standard Webhooks spec's example secret.
const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const URL_TOKEN: &str = "T0K3N-in-the-path-42";

fn request(rendered: Rendered) -> HttpRequest {
    match rendered {
        Rendered::Http(r) => r,
        Rendered::Email(e) => panic!("{e:?}"),
    }
}

fn signed(url: &str) -> Webhook {
    Webhook::new(Secret::new(url))
        .unwrap()
        .with_secret(Secret::new(SPEC_SECRET))
        .unwrap()
        .with_github_secret(Secret::new(GITHUB_SECRET))
        .unwrap()
        .with_header("Authorization", "Bearer static-header-token")
        .unwrap()
}

fn client(timeout_ms: u64) -> reqwest::Client {
    build_client(&HttpConfig {
        timeout: Duration::from_millis(timeout_ms),
        connect_timeout: Duration::from_millis(timeout_ms),
        ca_file: None,
    })
    .unwrap()
}

#[test]
fn standard_webhooks_spec_vector() {
    let key = decode_secret(SPEC_SECRET).unwrap();
    assert_eq!(
        sign_standard(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#
        ),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
    // The prefix is optional; the key is what counts.
    assert_eq!(
        decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
        key
    );
}

#[test]
fn github_documented_vector() {
    assert_eq!(
        sign_github(GITHUB_SECRET.as_bytes(), b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
}

#[test]
fn snapshots_of_every_sample() {
    let channel = signed("https://hooks.example.com/cimon");
    for (name, m) in samples::all() {
        let req = request(channel.render(&m));
        assert_eq!(
            request(channel.render(&m)).body,
            req.body,
            "render is deterministic"
        );
        let names: Vec<&str> = req.headers.iter().map(|(k, _)| k.as_str()).collect();
        let shown = serde_json::json!({ "headers": names, "body": req.json().unwrap() });
        insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "../snapshots" }, {
            insta::assert_json_snapshot!(format!("webhook__{name}"), shown);
        });
    }
}

#[test]
fn the_payload_is_versioned_and_limited() {
    let m = samples::many_failed();
    let payload = render_payload(&m);
    assert_eq!(payload.kind, "cimon.notification.v1");
    assert_eq!(payload.message.failed.len(), MAX_LISTED);
    assert_eq!(payload.message.failed[..], m.failed[..MAX_LISTED]);
    assert_eq!(
        payload.omitted,
        Omitted {
            failed: 150,
            flaky: 0
        }
    );
    let json: serde_json::Value = serde_json::from_slice(&render_body(&m)).unwrap();
    assert_eq!(json["type"], "cimon.notification.v1");
    assert_eq!(json["event"], "failure");
    assert_eq!(json["omitted"]["failed"], 150);
    assert_eq!(json["message"]["tests"]["failed"], 200);
}

#[test]
fn hostile_strings_round_trip_exactly() {
    let m = samples::hostile();
    let body = render_body(&m);
    let back: Payload = serde_json::from_slice(&body).unwrap();
    assert_eq!(back.message, m);
    assert_eq!(back.title, m.title());
    assert_eq!(back.omitted, Omitted::default());
    // JSON escaping keeps the body one valid document whatever the strings hold.
    assert!(!body.contains(&b'\r') && !body.contains(&0x1b));
}

#[test]
fn message_ids_are_stable_and_distinct() {
    let channel = signed("https://hooks.example.com/cimon");
    let id = |m: &Message| {
        let req = request(channel.render(m));
        req.headers
            .iter()
            .find(|(k, _)| k == "webhook-id")
            .unwrap()
            .1
            .clone()
    };
    let a = id(&samples::three_failed());
    assert_eq!(a, id(&samples::three_failed()));
    assert_ne!(a, id(&samples::many_failed()));
    assert!(a.starts_with("msg_") && a.len() == 36, "{a}");
}

#[test]
fn settings_are_validated_without_showing_secrets() {
    let ok = Webhook::new(Secret::new("https://hooks.example.com/x")).unwrap();
    let table: Vec<(Result<Webhook, WebhookError>, &str)> = vec![
        (
            Webhook::new(Secret::new("not a url")),
            "`url` is not a valid",
        ),
        (
            Webhook::new(Secret::new("ftp://example.com/T0K3N")),
            "scheme \"ftp\"",
        ),
        (
            ok.clone().with_secret(Secret::new("whsec_%%%not-base64")),
            "not valid base64",
        ),
        (ok.clone().with_secret(Secret::new("whsec_")), "empty"),
        (
            ok.clone().with_github_secret(Secret::new("")),
            "`github_secret` is empty",
        ),
        (ok.clone().with_header("Bad Name", "v"), "invalid"),
        (
            ok.clone().with_header("X-Token", "a\r\nInjected: 1"),
            "control characters",
        ),
        (
            ok.clone().with_header("Webhook-Signature", "v1,forged"),
            "cannot be overridden",
        ),
        (
            ok.clone().with_header("content-type", "text/plain"),
            "cannot be overridden",
        ),
    ];
    for (got, want) in table {
        let err = got.unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} lacks {want:?}");
        for secret in ["T0K3N", "%%%not-base64", "Injected", "forged"] {
            assert!(!err.contains(secret), "{err:?} shows a secret");
        }
    }
}

#[test]
fn errors_show_only_the_origin() {
    assert_eq!(
        shown_url(&format!(
            "https://u:p@hooks.example.com:8443/in/{URL_TOKEN}?token=abc"
        )),
        "https://hooks.example.com:8443/…"
    );
    assert_eq!(shown_url("http://127.0.0.1/"), "http://127.0.0.1/");
    assert_eq!(shown_url("::"), "<invalid URL>");
}

#[tokio::test]
async fn the_exact_request_is_signed_both_ways() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/hooks/{URL_TOKEN}")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let channel = signed(&format!("{}/hooks/{URL_TOKEN}", server.uri()));
    let rendered = channel.render(&samples::three_failed());
    let before = chrono::Utc::now().timestamp();
    channel.send(&client(5_000), &rendered).await.unwrap();
    let after = chrono::Utc::now().timestamp();

    let received = server.received_requests().await.unwrap();
    let req = &received[0];
    let header = |name: &str| {
        req.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(req.url.path(), format!("/hooks/{URL_TOKEN}"));
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(header("authorization"), "Bearer static-header-token");
    assert_eq!(req.body, request(rendered).body);
    let payload: Payload = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(payload.message, samples::three_failed());

    // Standard Webhooks, recomputed from the spec's definition.
    let id = header("webhook-id");
    assert_eq!(id, message_id(&req.body));
    let ts: i64 = header("webhook-timestamp").parse().unwrap();
    assert!(
        (before..=after).contains(&ts),
        "{ts} not in {before}..={after}"
    );
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap())
            .unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&req.body);
    let want = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    assert_eq!(header("webhook-signature"), want);

    // GitHub.
    let mut mac = Hmac::<Sha256>::new_from_slice(GITHUB_SECRET.as_bytes()).unwrap();
    mac.update(&req.body);
    assert_eq!(
        header("x-hub-signature-256"),
        format!("sha256={}", hex(&mac.finalize().into_bytes()))
    );
}

#[tokio::test]
async fn unsigned_channels_send_no_signature_headers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let channel = Webhook::new(Secret::new(server.uri())).unwrap();
    channel
        .send(&client(5_000), &channel.render(&samples::success()))
        .await
        .unwrap();
    let req = &server.received_requests().await.unwrap()[0];
    assert!(req.headers.get("webhook-id").is_some());
    for name in [
        "webhook-timestamp",
        "webhook-signature",
        "x-hub-signature-256",
    ] {
        assert!(req.headers.get(name).is_none(), "{name}");
    }
}

#[tokio::test]
async fn an_email_is_refused() {
    let channel = signed("https://hooks.example.com/x");
    let rendered = Rendered::Email(crate::notify::Email {
        from: "a@example.com".into(),
        to: vec!["b@example.com".into()],
        subject: String::new(),
        text: String::new(),
        html: String::new(),
    });
    let err = channel.send(&client(1_000), &rendered).await.unwrap_err();
    assert!(!err.retryable);
}
