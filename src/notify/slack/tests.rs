//! Tests of the `slack` channel: snapshots, Block Kit limits, hostile input, the exact request
//! and settings; answer classification and secret hygiene are in `notify::conformance`, shared
//! by every channel.

use serde_json::Value;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::notify::message::samples;

/// The webhook's secret path segment.
const TOKEN: &str = "XyZsEcReT0kEn0123456789a";
const PATH: &str = "/services/T0001/B0001/XyZsEcReT0kEn0123456789a";

fn slack(base: &str) -> Slack {
    Slack::new(Secret::new(format!("{base}{PATH}")), Vec::new()).expect("valid settings")
}

fn request(channel: &Slack, m: &Message) -> HttpRequest {
    match channel.render(m) {
        Rendered::Http(request) => request,
        Rendered::Email(_) => panic!("slack renders HTTP requests"),
    }
}

fn payload(m: &Message) -> Value {
    request(&slack("https://hooks.slack.com"), m)
        .json()
        .expect("JSON body")
}

/// Every text object in the payload (`type` is `plain_text` or `mrkdwn`).
fn texts(v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) => {
            if let (Some(Value::String(kind)), Some(Value::String(_))) =
                (map.get("type"), map.get("text"))
            {
                if kind == "plain_text" || kind == "mrkdwn" {
                    out.push((kind.clone(), v.clone()));
                }
            }
            map.values().for_each(|x| texts(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| texts(x, out)),
        _ => {}
    }
}

fn section_texts(p: &Value) -> Vec<String> {
    let blocks = p["blocks"].as_array().expect("blocks");
    blocks
        .iter()
        .filter(|b| b["type"] == "section" && b["text"].is_object())
        .map(|b| b["text"]["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn snapshots_of_every_sample() {
    for (name, message) in samples::all() {
        let value = payload(&message);
        insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "../snapshots" }, {
            insta::assert_json_snapshot!(format!("slack__{name}"), value);
        });
    }
    let mentioning = Slack::new(
        Secret::new(format!("https://hooks.slack.com{PATH}")),
        vec!["U012AB3CD".into(), "S0614TZR7".into()],
    )
    .expect("valid settings");
    let value = request(&mentioning, &samples::three_failed()).json();
    insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "../snapshots" }, {
        insta::assert_json_snapshot!("slack__mentions", value);
    });
}

#[test]
fn many_failed_respects_block_kit_limits() {
    let p = payload(&samples::many_failed());
    let blocks = p["blocks"].as_array().expect("blocks");
    assert!(blocks.len() <= BLOCKS_MAX);
    assert!(p["text"].as_str().expect("text").chars().count() <= TEXT_MAX);
    let header = blocks[0]["text"]["text"].as_str().expect("header");
    assert!(header.chars().count() <= HEADER_MAX);
    for text in section_texts(&p) {
        assert!(
            text.chars().count() <= SECTION_MAX,
            "{} chars",
            text.chars().count()
        );
    }
    for block in blocks.iter().filter(|b| b["fields"].is_array()) {
        let fields = block["fields"].as_array().expect("fields");
        assert!(fields.len() <= 10);
        assert!(fields
            .iter()
            .all(|f| f["text"].as_str().expect("field").chars().count() <= FIELD_MAX));
    }
    let failed = section_texts(&p)
        .into_iter()
        .find(|t| t.starts_with("*Failed tests* (200)"))
        .expect("failed list");
    assert_eq!(
        failed.lines().filter(|l| l.starts_with("• ")).count(),
        TESTS_SHOWN
    );
    assert!(failed.ends_with("_…and 190 more_"), "{failed}");
}

#[test]
fn hostile_strings_are_inert() {
    let m = samples::hostile();
    let body =
        String::from_utf8(request(&slack("https://hooks.slack.com"), &m).body).expect("UTF-8");
    let p: Value = serde_json::from_str(&body).expect("JSON");
    // HTML and Slack's own syntax: escaped everywhere.
    assert!(!body.contains("<script>") && body.contains("&lt;script&gt;"));
    for raw in [
        "<!channel>",
        "<!everyone>",
        "<!here>",
        "<@U123>",
        "<http://evil",
    ] {
        assert!(!body.contains(raw), "{raw} left raw");
    }
    // Nothing asks Slack to parse bare @here or names.
    assert!(p.get("link_names").is_none() && p.get("parse").is_none());
    let mut all = Vec::new();
    texts(&p, &mut all);
    for (kind, text) in &all {
        if kind == "mrkdwn" {
            assert_eq!(text["verbatim"], true, "{text}");
            // Outside inline code, no formatting or mention survives.
            let s = text["text"].as_str().unwrap_or_default();
            let outside: String = s.split('`').step_by(2).collect();
            for token in [
                "*bold*", "_it_", "~strike~", "@here", "@channel", "@all", "[link]", "&lt;!",
            ] {
                assert!(!outside.contains(token), "{token} outside code in {s}");
            }
        }
        let s = text["text"].as_str().unwrap_or_default();
        assert!(!s.contains(['\r', '\u{1b}']), "control character in {s:?}");
    }
    let fallback = p["text"].as_str().expect("text");
    for token in ["*bold*", "_it_", "`code`", "<!"] {
        assert!(
            !fallback.contains(token),
            "{token} in the fallback {fallback}"
        );
    }
    // One line per test, the 10 kB name cut; the section within its limit.
    let failed = section_texts(&p)
        .into_iter()
        .find(|t| t.starts_with("*Failed tests*"))
        .expect("failed list");
    assert_eq!(failed.lines().count(), 4, "{failed}");
    assert!(failed.chars().count() <= SECTION_MAX);
    assert!(failed.contains("xxx…`"), "long name cut");
    assert!(
        failed.contains("␛[31mred␛[0m  next line"),
        "ANSI and CR/LF made visible on one line"
    );
    assert!(body.len() < 12_000, "{} bytes", body.len());
}

#[test]
fn settings_are_validated_without_echoing_the_url() {
    let ok = |m: &str| mention(m).unwrap_or_else(|| panic!("{m} refused"));
    assert_eq!(ok("U012AB3CD"), "<@U012AB3CD>");
    assert_eq!(ok("<@W0123ABC>"), "<@W0123ABC>");
    assert_eq!(ok("S0614TZR7"), "<!subteam^S0614TZR7>");
    assert_eq!(ok("<!subteam^S0614TZR7>"), "<!subteam^S0614TZR7>");
    assert_eq!(ok("@here"), "<!here>");
    assert_eq!(ok("!channel"), "<!channel>");
    for bad in [
        "",
        "alice",
        "u012ab3cd",
        "U1>",
        "<@U123> <!everyone>",
        "C0123ABCD",
    ] {
        assert!(mention(bad).is_none(), "{bad} accepted");
    }
    let e = Slack::new(
        Secret::new(format!("ftp://hooks.slack.com{PATH}")),
        Vec::new(),
    )
    .expect_err("ftp");
    assert!(!e.to_string().contains(TOKEN));
    let e = Slack::new(
        Secret::new(format!("https://hooks.slack.com{PATH}")),
        vec!["U1".into(), "bob".into()],
    )
    .expect_err("bad mention");
    assert_eq!(
        e,
        SlackError::Mention {
            index: 0,
            value: "U1".into()
        }
    );
}

#[test]
fn the_shown_url_masks_the_token() {
    let r = request(&slack("https://hooks.slack.com"), &samples::success());
    assert_eq!(
        r.shown_url(),
        "https://hooks.slack.com/services/T0001/B0001/***"
    );
    assert!(!format!("{r:?}").contains(TOKEN));
}

#[tokio::test]
async fn sends_exactly_the_rendered_request() {
    let server = MockServer::start().await;
    let channel = slack(&server.uri());
    let rendered = channel.render(&samples::three_failed());
    let Rendered::Http(expected) = &rendered else {
        panic!("HTTP")
    };
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(header("content-type", "application/json"))
        .and(body_json(expected.json().expect("JSON")))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    channel
        .send(&crate::notify::robot::testing::client(), &rendered)
        .await
        .expect("delivered");
    let received = server.received_requests().await.expect("recorded");
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].body, expected.body,
        "the body is sent byte for byte"
    );
}
