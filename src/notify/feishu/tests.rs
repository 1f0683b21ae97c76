use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::notify::message::samples;
use crate::notify::robot::testing::client;

const TOKEN: &str = "0123abcd-4567-89ef-0123-456789abcdef";
const SECRET: &str = "feishuSigningSecret42";

fn bot(url: &str, secret: Option<&str>, mentions: &[&str]) -> Feishu {
    let mentions: Vec<String> = mentions.iter().map(|m| m.to_string()).collect();
    Feishu::new(Secret::new(url), secret.map(Secret::new), &mentions).unwrap()
}

fn official() -> Feishu {
    bot(
        &format!("https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}"),
        Some(SECRET),
        &[],
    )
}

fn request(rendered: &Rendered) -> &HttpRequest {
    match rendered {
        Rendered::Http(r) => r,
        Rendered::Email(_) => panic!("feishu renders HTTP requests"),
    }
}

fn markdown(value: &Value) -> String {
    value["card"]["elements"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn snapshot(name: &str, channel: &Feishu, message: &Message) {
    let rendered = channel.render(message);
    let r = request(&rendered);
    let value = serde_json::json!({
        "url": robot::shown_url(r.url.expose()),
        "headers": r.headers,
        "body": r.json().unwrap(),
    });
    insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "../snapshots" }, {
        insta::assert_json_snapshot!(format!("feishu__{name}"), value);
    });
}

#[test]
fn signature_matches_the_documented_vector() {
    assert_eq!(
        sign("demo", 1_599_360_473),
        "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
    );
}

#[test]
fn the_signature_goes_into_the_body() {
    let signed = signed_body(
        br#"{"msg_type":"text"}"#,
        &Secret::new("demo"),
        1_599_360_473,
    )
    .unwrap();
    let value: Value = serde_json::from_slice(&signed).unwrap();
    assert_eq!(value["timestamp"], "1599360473");
    assert_eq!(
        value["sign"],
        "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
    );
    assert_eq!(value["msg_type"], "text");
    assert!(signed_body(b"[1]", &Secret::new("demo"), 1).is_err());
}

#[test]
fn snapshots_of_every_sample() {
    let channel = official();
    for (name, message) in samples::all() {
        snapshot(name, &channel, &message);
    }
    let mentioning = bot(
        &format!("https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}"),
        None,
        &["ou_18eac85d35a26f989317ad4f02e8bbbb"],
    );
    snapshot("mentions", &mentioning, &samples::three_failed());
}

#[test]
fn headers_are_coloured_by_event() {
    let colour = |m: &Message| {
        request(&official().render(m)).json().unwrap()["card"]["header"]["template"].clone()
    };
    assert_eq!(colour(&samples::three_failed()), "red");
    assert_eq!(colour(&samples::success()), "green");
    assert_eq!(colour(&samples::flaky_only()), "orange");
    assert_eq!(colour(&samples::gate_failed()), "carmine");
}

#[test]
fn two_hundred_failures_stay_within_20_kb() {
    let rendered = official().render(&samples::many_failed());
    let r = request(&rendered);
    let signed = signed_body(&r.body, &Secret::new(SECRET), 1_599_360_473).unwrap();
    assert!(signed.len() <= MAX_BODY_BYTES, "{}", signed.len());
    let text = markdown(&r.json().unwrap());
    assert_eq!(
        text.matches("\n- **com.acme.CartTest.addsItem").count(),
        10,
        "{text}"
    );
    assert!(text.contains("- … and 190 more"), "{text}");
}

#[test]
fn escaped_lists_are_cut_by_json_bytes() {
    let mut message = samples::many_failed();
    for t in &mut message.failed {
        t.name = format!("com.acme.{}", "<*>".repeat(60));
        t.message = Some("\"quoted\" [x](y) ".repeat(12));
    }
    for t in message.failed.iter_mut().take(10) {
        t.name.push_str("中文");
    }
    let rendered = official().render(&message);
    let r = request(&rendered);
    let signed = signed_body(&r.body, &Secret::new(SECRET), 1_599_360_473).unwrap();
    assert!(signed.len() <= MAX_BODY_BYTES, "{}", signed.len());
    let text = markdown(&r.json().unwrap());
    let shown = text.matches("\n- **com.acme.").count();
    assert!(shown >= 1);
    assert!(
        text.contains(&format!("- … and {} more", 200 - shown)),
        "{text}"
    );
}

#[test]
fn hostile_strings_are_neutralised() {
    let channel = bot(
        &format!("https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}"),
        None,
        &["ou_alice"],
    );
    let value = request(&channel.render(&samples::hostile()))
        .json()
        .unwrap();
    let text = markdown(&value);
    // The only tags are the configured mention and our footer.
    assert_eq!(text.matches('<').count(), 4, "{text}");
    assert!(text.contains("<at id=ou_alice></at>"));
    for bad in [
        "<at id=all>",
        "<script>",
        "<!channel>",
        "<@U123>",
        "[link](",
        "*bold*",
        "`code`",
        "@all",
        "~strike~",
        "&amp;",
    ] {
        assert!(!text.contains(bad), "{bad} in {text}");
    }
    assert!(text.contains("&#60;script&#62;"), "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\r'));
    let title = value["card"]["header"]["title"]["content"]
        .as_str()
        .unwrap();
    assert!(!title.contains('\n') && !title.contains('\u{1b}'));
    assert!(text.contains(&format!("{}…", "x".repeat(robot::MAX_NAME_CHARS - 1))));
}

#[test]
fn configuration_is_validated_without_leaking_the_token() {
    let err = Feishu::new(Secret::new(format!("file:///hook/{TOKEN}")), None, &[]).unwrap_err();
    assert!(matches!(err, FeishuError::Url { .. }));
    assert!(!err.to_string().contains(TOKEN), "{err}");
    let ok = format!("https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}");
    assert_eq!(
        Feishu::new(Secret::new(&ok), Some(Secret::new("")), &[]).unwrap_err(),
        FeishuError::EmptySecret
    );
    for bad in ["all", "@all", "<at id=all>"] {
        let err = Feishu::new(Secret::new(&ok), None, &[bad.to_string()]).unwrap_err();
        assert!(matches!(err, FeishuError::Mention { .. }), "{bad}");
    }
    let debug = format!("{:?}", official());
    assert!(!debug.contains(TOKEN) && !debug.contains(SECRET), "{debug}");
}

#[test]
fn error_codes_are_classified_from_the_docs() {
    let table: &[(i64, &str, bool)] = &[
        (11232, "frequency limited", true),
        (99991400, "request trigger frequency limit", true),
        (9499, "too many request", true),
        (9499, "Bad Request", false),
        (
            19021,
            "sign match fail or timestamp is not within one hour from current time",
            false,
        ),
        (19022, "Ip Not Allowed", false),
        (19024, "Key Words Not Found", false),
        (
            19001,
            "param invalid: incoming webhook access token invalid",
            false,
        ),
        (424242, "new", false),
    ];
    for &(code, msg, retryable) in table {
        assert_eq!(classify_code(code, msg).0, retryable, "{code} {msg}");
    }
}

#[tokio::test]
async fn sends_the_exact_signed_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/open-apis/bot/v2/hook/{TOKEN}")))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"code":0,"data":{},"msg":"success"}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    let channel = bot(
        &format!("{}/open-apis/bot/v2/hook/{TOKEN}", server.uri()),
        Some(SECRET),
        &[],
    );
    let rendered = channel.render(&samples::three_failed());
    channel.send(&client(), &rendered).await.unwrap();
    let received = server.received_requests().await.unwrap();
    let req = &received[0];
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(req.url.query(), None, "Feishu signs the body, not the URL");
    assert_eq!(
        req.headers["content-type"],
        "application/json; charset=utf-8"
    );
    let mut sent: Value = serde_json::from_slice(&req.body).unwrap();
    let ts = sent["timestamp"]
        .as_str()
        .expect("timestamp is a string")
        .to_owned();
    let seconds: i64 = ts.parse().unwrap();
    assert!(
        (chrono::Utc::now().timestamp() - seconds).abs() < 60,
        "seconds, not ms: {ts}"
    );
    assert_eq!(sent["sign"], sign(SECRET, seconds));
    let object = sent.as_object_mut().unwrap();
    object.remove("timestamp");
    object.remove("sign");
    assert_eq!(sent, request(&rendered).json().unwrap());
    assert_eq!(sent["msg_type"], "interactive");
}
