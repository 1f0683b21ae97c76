//! Tests of the `discord` channel: snapshots, embed limits, hostile input, the exact request
//! and settings; answer classification and secret hygiene are in `notify::conformance`, shared
//! by every channel.

use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::notify::message::samples;

/// The webhook's token: the secret.
const TOKEN: &str = "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789-_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345";
const ID: &str = "123456789012345678";

fn webhook_path() -> String {
    format!("/api/webhooks/{ID}/{TOKEN}")
}

fn discord(base: &str) -> Discord {
    Discord::new(Secret::new(format!("{base}{}", webhook_path())), Vec::new())
        .expect("valid settings")
}

fn request(channel: &Discord, m: &Message) -> HttpRequest {
    match channel.render(m) {
        Rendered::Http(request) => request,
        Rendered::Email(_) => panic!("discord renders HTTP requests"),
    }
}

fn payload(m: &Message) -> Value {
    request(&discord("https://discord.com"), m)
        .json()
        .expect("JSON")
}

#[test]
fn snapshots_of_every_sample() {
    for (name, message) in samples::all() {
        let value = payload(&message);
        insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "../snapshots" }, {
            insta::assert_json_snapshot!(format!("discord__{name}"), value);
        });
    }
    let url = Secret::new(format!("https://discord.com{}", webhook_path()));
    let mentioning = Discord::new(
        url,
        vec![
            "<@80351110224678912>".into(),
            "role:165511591545143296".into(),
        ],
    )
    .expect("valid settings");
    let value = request(&mentioning, &samples::three_failed()).json();
    insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "../snapshots" }, {
        insta::assert_json_snapshot!("discord__mentions", value);
    });
}

/// Asserts every documented embed limit.
fn assert_within_limits(p: &Value) {
    let embeds = p["embeds"].as_array().expect("embeds");
    assert!(embeds.len() <= 10);
    let mut total = 0;
    for e in embeds {
        let title = chars(&e["title"]);
        let description = chars(&e["description"]);
        let footer = chars(&e["footer"]["text"]);
        assert!(title <= TITLE_MAX && description <= DESCRIPTION_MAX && footer <= 2048);
        let fields = e["fields"].as_array().expect("fields");
        assert!(fields.len() <= FIELDS_MAX);
        for f in fields {
            assert!(
                chars(&f["name"]) <= 256 && chars(&f["value"]) <= FIELD_VALUE_MAX,
                "{f}"
            );
            total += chars(&f["name"]) + chars(&f["value"]);
        }
        total += title + description + footer;
    }
    assert!(total <= TOTAL_MAX, "{total} characters");
    assert!(chars(&p["content"]) <= 2000);
}

#[test]
fn many_failed_respects_embed_limits() {
    let p = payload(&samples::many_failed());
    assert_within_limits(&p);
    let description = p["embeds"][0]["description"].as_str().expect("description");
    assert_eq!(
        description.lines().filter(|l| l.starts_with("• ")).count(),
        TESTS_SHOWN
    );
    assert!(description.ends_with("*…and 190 more*"), "{description}");
}

#[test]
fn hostile_strings_are_inert() {
    let m = samples::hostile();
    let p = payload(&m);
    assert_within_limits(&p);
    assert_eq!(
        p["allowed_mentions"],
        json!({"parse": []}),
        "nothing may ping"
    );
    assert!(p.get("content").is_none());
    let embed = &p["embeds"][0];
    let description = embed["description"].as_str().expect("description");
    let items: Vec<&str> = description
        .lines()
        .filter(|l| l.starts_with("• "))
        .collect();
    assert_eq!(items.len(), 3, "one line per test: {description}");
    assert_eq!(
        items[0],
        r"• **\<script\>alert\(1\)\</script\>** — @channel \<!everyone\> @all \<@U123\>"
    );
    assert_eq!(
        items[1],
        r"• **\*bold\* \_it\_ \~strike\~ \`code\` \> quote \| pipe \# h1 \[link\]\(http://evil.example\)** — \<!here\> &amp; &lt;"
    );
    assert!(
        items[2].ends_with(r"x…** — ␛\[31mred␛\[0m  next line"),
        "{}",
        items[2]
    );
    assert!(
        items[2].chars().count() <= 2 * ITEM_MAX + 20,
        "the 10 kB name is cut"
    );
    let branch = embed["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == "Branch")
        .expect("branch");
    assert_eq!(
        branch["value"],
        "\\<!channel\\> @\u{200b}here \\*bold\\* \\_it\\_ \\`code\\` \\[x\\]\\(http://evil\\) \\<script\\>"
    );
    let body = serde_json::to_string(&p).expect("JSON");
    for raw in [
        "<script>",
        "<@U123>",
        "@everyone",
        "@here",
        "[link](",
        "\\r",
        "\\u001b",
    ] {
        assert!(!body.contains(raw), "{raw} left raw");
    }
}

#[test]
fn settings_are_validated_without_echoing_the_url() {
    let user = |v: &str| matches!(mention(v), Some(Mention::User(id)) if id == "80351110224678912");
    let role =
        |v: &str| matches!(mention(v), Some(Mention::Role(id)) if id == "165511591545143296");
    assert!(
        user("80351110224678912") && user("<@80351110224678912>") && user("<@!80351110224678912>")
    );
    assert!(user("user:80351110224678912"));
    assert!(role("<@&165511591545143296>") && role("role:165511591545143296"));
    for bad in [
        "",
        "@everyone",
        "@here",
        "alice",
        "<@abc>",
        "role:",
        "123456789012345678901",
    ] {
        assert!(mention(bad).is_none(), "{bad} accepted");
    }
    for bad in [
        "https://discord.com/api/channels/1/messages",
        "https://discord.com/api/webhooks/abc/x",
        "ftp://discord.com/api/webhooks/1/x",
    ] {
        let e = Discord::new(Secret::new(format!("{bad}{TOKEN}")), Vec::new()).expect_err(bad);
        assert!(!e.to_string().contains(TOKEN), "{e}");
    }
    let url = Secret::new(format!("https://discord.com{}", webhook_path()));
    let e = Discord::new(url, vec!["1".into(), "@everyone".into()]).expect_err("mention");
    assert_eq!(
        e,
        DiscordError::Mention {
            index: 1,
            value: "@everyone".into()
        }
    );
}

#[test]
fn the_shown_url_masks_the_token() {
    let r = request(&discord("https://discord.com"), &samples::success());
    assert_eq!(r.shown_url(), "https://discord.com/api/webhooks/***/***");
}

#[tokio::test]
async fn sends_exactly_the_rendered_request() {
    let server = MockServer::start().await;
    let channel = discord(&server.uri());
    let rendered = channel.render(&samples::three_failed());
    let Rendered::Http(expected) = &rendered else {
        panic!("HTTP")
    };
    Mock::given(method("POST"))
        .and(path(webhook_path()))
        .and(header("content-type", "application/json"))
        .and(body_json(expected.json().expect("JSON")))
        .respond_with(ResponseTemplate::new(204))
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
