use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::notify::message::samples;
use crate::notify::robot::testing::client;

const TOKEN: &str = "tok0123456789abcdef";
const SECRET: &str = "SECsigning0123456789";

fn robot(url: &str, secret: Option<&str>, mentions: &[&str], format: DingTalkFormat) -> DingTalk {
    let mentions: Vec<String> = mentions.iter().map(|m| m.to_string()).collect();
    DingTalk::new(Secret::new(url), secret.map(Secret::new), &mentions, format).unwrap()
}

fn official() -> DingTalk {
    robot(
        &format!("https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"),
        Some(SECRET),
        &[],
        DingTalkFormat::Markdown,
    )
}

fn request(rendered: &Rendered) -> &HttpRequest {
    match rendered {
        Rendered::Http(r) => r,
        Rendered::Email(_) => panic!("dingtalk renders HTTP requests"),
    }
}

fn body(channel: &DingTalk, message: &Message) -> Value {
    request(&channel.render(message)).json().unwrap()
}

fn snapshot(name: &str, channel: &DingTalk, message: &Message) {
    let rendered = channel.render(message);
    let r = request(&rendered);
    let value = serde_json::json!({
        "url": robot::shown_url(r.url.expose()),
        "headers": r.headers,
        "body": r.json().unwrap(),
    });
    insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "../snapshots" }, {
        insta::assert_json_snapshot!(format!("dingtalk__{name}"), value);
    });
}

#[test]
fn signature_matches_the_documented_vector() {
    assert_eq!(
        sign("SECtest", 1_599_360_473_000),
        "9uMBwWNha8Pcr4QQCL9YQitwL0E0g2JIxycWz23gAkE%3D"
    );
}

#[test]
fn signed_urls_append_timestamp_and_sign() {
    let secret = Secret::new("SECtest");
    assert_eq!(
        signed_url("https://h/robot/send?access_token=t", &secret, 1_599_360_473_000),
        "https://h/robot/send?access_token=t&timestamp=1599360473000&sign=9uMBwWNha8Pcr4QQCL9YQitwL0E0g2JIxycWz23gAkE%3D"
    );
    assert!(
        signed_url("https://h/hook", &secret, 1).starts_with("https://h/hook?timestamp=1&sign=")
    );
}

#[test]
fn snapshots_of_every_sample() {
    let channel = official();
    for (name, message) in samples::all() {
        snapshot(name, &channel, &message);
    }
    let card = robot(
        &format!("https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"),
        None,
        &[],
        DingTalkFormat::ActionCard,
    );
    snapshot("action_card", &card, &samples::three_failed());
    let mentioning = robot(
        &format!("https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"),
        None,
        &["13800000000", "@manager4711"],
        DingTalkFormat::Markdown,
    );
    snapshot("mentions", &mentioning, &samples::three_failed());
}

#[test]
fn two_hundred_failures_stay_within_the_limit() {
    let value = body(&official(), &samples::many_failed());
    let text = value["markdown"]["text"].as_str().unwrap();
    assert!(text.len() <= MAX_TEXT_BYTES);
    assert_eq!(text.matches("- **com.acme.CartTest.addsItem").count(), 10);
    assert!(text.contains("- … and 190 more"), "{text}");
}

#[test]
fn long_lists_are_cut_by_bytes_with_the_right_count() {
    let mut message = samples::many_failed();
    for t in &mut message.failed {
        t.name = format!("测试{}", "名".repeat(400));
        t.message = Some("断言".repeat(300));
    }
    let value = body(&official(), &message);
    let text = value["markdown"]["text"].as_str().unwrap();
    assert!(text.len() <= MAX_TEXT_BYTES, "{}", text.len());
    let shown = text.matches("\n- **测试").count();
    assert!(
        text.contains(&format!("- … and {} more", 200 - shown)),
        "{text}"
    );
}

#[test]
fn hostile_strings_are_neutralised() {
    let channel = robot(
        &format!("https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"),
        None,
        &["13800000000"],
        DingTalkFormat::Markdown,
    );
    let value = body(&channel, &samples::hostile());
    let text = value["markdown"]["text"].as_str().unwrap();
    let title = value["markdown"]["title"].as_str().unwrap();
    // The only `@` is the configured mention, and everyone is never notified.
    assert_eq!(text.matches('@').count(), 1, "{text}");
    assert!(text.contains("@13800000000"));
    assert_eq!(value["at"]["isAtAll"], false);
    assert_eq!(value["at"]["atMobiles"], serde_json::json!(["13800000000"]));
    for bad in [
        "<script>",
        "<!channel>",
        "<@U123>",
        "[link](",
        "*bold*",
        "`code`",
        "_it_",
        "&amp;",
    ] {
        assert!(!text.contains(bad), "{bad} in {text}");
    }
    for c in ['\u{1b}', '\r'] {
        assert!(!text.contains(c) && !title.contains(c));
    }
    assert!(!title.contains('\n'));
    assert!(text.contains("red next line"), "{text}");
    // The 10 kB name is cut.
    assert!(text.len() < 3_000, "{}", text.len());
    assert!(text.contains(&format!("{}…", "x".repeat(robot::MAX_NAME_CHARS - 1))));
}

#[test]
fn configuration_is_validated_without_leaking_the_token() {
    let url = |u: &str| Secret::new(u);
    let ok = format!("https://oapi.dingtalk.com/robot/send?access_token={TOKEN}");
    let err = DingTalk::new(
        url(&format!("ftp://h/x?access_token={TOKEN}")),
        None,
        &[],
        DingTalkFormat::Markdown,
    )
    .unwrap_err();
    assert!(matches!(err, DingTalkError::Url { .. }));
    assert!(!err.to_string().contains(TOKEN), "{err}");
    let signed = format!("{ok}&timestamp=1&sign=x");
    assert!(matches!(
        DingTalk::new(
            url(&signed),
            Some(Secret::new(SECRET)),
            &[],
            DingTalkFormat::Markdown
        ),
        Err(DingTalkError::Url { .. })
    ));
    assert_eq!(
        DingTalk::new(
            url(&ok),
            Some(Secret::new(" ")),
            &[],
            DingTalkFormat::Markdown
        )
        .unwrap_err(),
        DingTalkError::EmptySecret
    );
    for bad in ["@all", "all", "a b", ""] {
        let err = DingTalk::new(url(&ok), None, &[bad.to_string()], DingTalkFormat::Markdown)
            .unwrap_err();
        assert!(matches!(err, DingTalkError::Mention { .. }), "{bad}: {err}");
    }
    assert_eq!(
        DingTalk::new(
            url(&ok),
            None,
            &["alice".into()],
            DingTalkFormat::ActionCard
        )
        .unwrap_err(),
        DingTalkError::MentionsNeedMarkdown
    );
    let debug = format!("{:?}", official());
    assert!(!debug.contains(TOKEN) && !debug.contains(SECRET), "{debug}");
}

#[test]
fn error_codes_are_classified_from_the_docs() {
    let table: &[(i64, &str, bool)] = &[
        (410100, "发送速度太快而限流", true),
        (130101, "send too fast, exceed 20 times per minute", true),
        (-1, "系统繁忙", true),
        (310000, "keywords not in content", false),
        (310000, "sign not match", false),
        (310000, "invalid timestamp", false),
        (310000, "ip 1.2.3.4 not in whitelist", false),
        (300001, "token is not exist", false),
        (400101, "access_token不存在", false),
        (400102, "机器人已停用", false),
        (400013, "群已被解散", false),
        (430102, "含有不合适的文本", false),
        (90030, "webhook over limit", false),
        (123456, "something new", false),
    ];
    for &(code, msg, retryable) in table {
        assert_eq!(classify_code(code, msg).0, retryable, "{code} {msg}");
    }
    assert!(classify_code(310000, "keywords not in content")
        .1
        .contains("keyword"));
    assert!(classify_code(310000, "sign not match").1.contains("secret"));
}

#[tokio::test]
async fn sends_the_exact_signed_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/robot/send"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"errcode":0,"errmsg":"ok"}"#))
        .expect(1)
        .mount(&server)
        .await;
    let channel = robot(
        &format!("{}/robot/send?access_token={TOKEN}", server.uri()),
        Some(SECRET),
        &[],
        DingTalkFormat::Markdown,
    );
    let rendered = channel.render(&samples::three_failed());
    channel.send(&client(), &rendered).await.unwrap();

    let received = server.received_requests().await.unwrap();
    let req = &received[0];
    assert_eq!(req.method.as_str(), "POST");
    let query: std::collections::HashMap<String, String> =
        req.url.query_pairs().into_owned().collect();
    assert_eq!(query.len(), 3, "{query:?}");
    assert_eq!(query["access_token"], TOKEN);
    let ts: i64 = query["timestamp"].parse().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        (now - ts).abs() < 60_000,
        "timestamp {ts} is not in milliseconds of now {now}"
    );
    // The query value is decoded; the signature is URL-encoded base64 on the wire.
    assert!(req
        .url
        .query()
        .unwrap()
        .contains(&format!("sign={}", sign(SECRET, ts))));
    assert_eq!(
        req.headers["content-type"],
        "application/json; charset=utf-8"
    );
    let sent: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(sent, request(&rendered).json().unwrap());
    assert_eq!(sent["msgtype"], "markdown");
}
