use serde_json::Value;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::notify::message::samples;
use crate::notify::robot::testing::client;

const KEY: &str = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa";

fn robot(url: &str, mentions: &[&str]) -> WeCom {
    let mentions: Vec<String> = mentions.iter().map(|m| m.to_string()).collect();
    WeCom::new(Secret::new(url), &mentions).unwrap()
}

fn official() -> WeCom {
    robot(
        &format!("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"),
        &[],
    )
}

fn request(rendered: &Rendered) -> &HttpRequest {
    match rendered {
        Rendered::Http(r) => r,
        Rendered::Email(_) => panic!("wecom renders HTTP requests"),
    }
}

fn content(channel: &WeCom, message: &Message) -> String {
    let value = request(&channel.render(message)).json().unwrap();
    value["markdown"]["content"].as_str().unwrap().to_owned()
}

fn snapshot(name: &str, channel: &WeCom, message: &Message) {
    let rendered = channel.render(message);
    let r = request(&rendered);
    let value = serde_json::json!({
        "url": robot::shown_url(r.url.expose()),
        "headers": r.headers,
        "body": r.json().unwrap(),
    });
    insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "../snapshots" }, {
        insta::assert_json_snapshot!(format!("wecom__{name}"), value);
    });
}

#[test]
fn snapshots_of_every_sample() {
    let channel = official();
    for (name, message) in samples::all() {
        snapshot(name, &channel, &message);
    }
    let mentioning = robot(
        &format!("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"),
        &["zhangsan", "@lisi"],
    );
    snapshot("mentions", &mentioning, &samples::three_failed());
}

#[test]
fn two_hundred_failures_stay_within_4096_bytes() {
    let text = content(&official(), &samples::many_failed());
    assert!(text.len() <= MAX_CONTENT_BYTES, "{}", text.len());
    let shown = text.matches("- **com.acme.CartTest.addsItem").count();
    assert!(shown > 0);
    assert!(
        text.contains(&format!("- … and {} more", 200 - shown)),
        "{text}"
    );
}

#[test]
fn multibyte_content_is_cut_by_bytes_on_char_boundaries() {
    let mut message = samples::many_failed();
    for t in &mut message.failed {
        t.name = format!("测试{}", "名".repeat(150));
        t.message = Some("断言失败".repeat(50));
    }
    let text = content(&official(), &message);
    assert!(text.len() <= MAX_CONTENT_BYTES, "{}", text.len());
    let shown = text.matches("\n- **测试").count();
    assert!(shown >= 1, "{text}");
    assert!(
        text.contains(&format!("- … and {} more", 200 - shown)),
        "{text}"
    );
    assert!(text.ends_with("</font>"), "the footer survives: {text}");
}

#[test]
fn hostile_strings_are_neutralised() {
    let channel = robot(
        &format!("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"),
        &["zhangsan"],
    );
    let text = content(&channel, &samples::hostile());
    // Only the configured mention and our own footer use angle brackets.
    assert_eq!(text.matches('<').count(), 3, "{text}");
    assert!(text.contains("<@zhangsan>"));
    for bad in [
        "<script>",
        "<!channel>",
        "<@U123>",
        "[link](",
        "*bold*",
        "`code`",
        "@all",
        "&amp;",
        "\n> ",
    ] {
        assert!(!text.contains(bad), "{bad} in {text}");
    }
    assert!(!text.contains('\u{1b}') && !text.contains('\r'));
    assert!(text.contains("red next line"), "{text}");
    assert!(text.len() <= MAX_CONTENT_BYTES);
    assert!(text.contains(&format!("{}…", "x".repeat(robot::MAX_NAME_CHARS - 1))));
}

#[test]
fn configuration_is_validated_without_leaking_the_key() {
    let err = WeCom::new(Secret::new(format!("gopher://h/?key={KEY}")), &[]).unwrap_err();
    assert!(matches!(err, WeComError::Url { .. }));
    assert!(!err.to_string().contains(KEY), "{err}");
    let ok = format!("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}");
    for bad in ["@all", "<@x>", ""] {
        let err = WeCom::new(Secret::new(&ok), &[bad.to_string()]).unwrap_err();
        assert!(matches!(err, WeComError::Mention { .. }), "{bad}");
    }
    assert!(!format!("{:?}", official()).contains(KEY));
}

#[test]
fn error_codes_are_classified_from_the_docs() {
    for (code, retryable) in [
        (45009, true),
        (45033, true),
        (-1, true),
        (93000, false),
        (93004, false),
        (40008, false),
        (44004, false),
        (45002, false),
        (40058, false),
        (777, false),
    ] {
        assert_eq!(classify_code(code).0, retryable, "{code}");
    }
}

#[tokio::test]
async fn sends_the_exact_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/webhook/send"))
        .and(query_param("key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"errcode":0,"errmsg":"ok"}"#))
        .expect(1)
        .mount(&server)
        .await;
    let channel = robot(
        &format!("{}/cgi-bin/webhook/send?key={KEY}", server.uri()),
        &[],
    );
    let rendered = channel.render(&samples::three_failed());
    channel.send(&client(), &rendered).await.unwrap();
    let received = server.received_requests().await.unwrap();
    let req = &received[0];
    assert_eq!(
        req.url.query(),
        Some(format!("key={KEY}").as_str()),
        "no signature is added"
    );
    assert_eq!(
        req.headers["content-type"],
        "application/json; charset=utf-8"
    );
    let sent: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(sent, request(&rendered).json().unwrap());
    assert_eq!(sent["msgtype"], "markdown");
}
