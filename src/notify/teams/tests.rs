//! Tests of the `teams` channel: snapshots, card size, hostile input, the exact request and
//! settings; answer classification and secret hygiene are in `notify::conformance`, shared by
//! every channel.

use serde_json::Value;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::notify::message::samples;

const WORKFLOW_PATH: &str =
    "/workflows/0123456789abcdef0123456789abcdef/triggers/manual/paths/invoke";
/// The URL's signature: the secret.
const SIG: &str = "SeCrEtSiGnAtUrE0123456789abcdefABCDEF";

fn url(base: &str) -> String {
    format!("{base}{WORKFLOW_PATH}?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}")
}

fn teams(base: &str) -> Teams {
    Teams::new(Secret::new(url(base)), Vec::new()).expect("valid settings")
}

fn request(channel: &Teams, m: &Message) -> HttpRequest {
    match channel.render(m) {
        Rendered::Http(request) => request,
        Rendered::Email(_) => panic!("teams renders HTTP requests"),
    }
}

fn card(m: &Message) -> Value {
    let body = request(&teams("https://prod-01.westeurope.logic.azure.com:443"), m)
        .json()
        .expect("JSON");
    body["attachments"][0]["content"].clone()
}

/// The text of every `TextBlock` and fact value, in order.
fn texts(card: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for element in card["body"].as_array().expect("body") {
        match element["type"].as_str() {
            Some("TextBlock") => out.push(element["text"].as_str().unwrap_or_default().to_owned()),
            Some("FactSet") => {
                for fact in element["facts"].as_array().expect("facts") {
                    out.push(fact["value"].as_str().unwrap_or_default().to_owned());
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn snapshots_of_every_sample() {
    for (name, message) in samples::all() {
        let value = request(
            &teams("https://prod-01.westeurope.logic.azure.com:443"),
            &message,
        )
        .json();
        insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "../snapshots" }, {
            insta::assert_json_snapshot!(format!("teams__{name}"), value);
        });
    }
    let mentioning = Teams::new(
        Secret::new(url("https://prod-01.westeurope.logic.azure.com:443")),
        vec!["alice@example.com".into()],
    )
    .expect("valid settings");
    let value = request(&mentioning, &samples::three_failed()).json();
    insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "../snapshots" }, {
        insta::assert_json_snapshot!("teams__mentions", value);
    });
}

#[test]
fn many_failed_stays_small_and_says_how_many_more() {
    let m = samples::many_failed();
    let r = request(&teams("https://prod-01.westeurope.logic.azure.com:443"), &m);
    assert!(r.body.len() <= BODY_MAX, "{} bytes", r.body.len());
    let texts = texts(&card(&m));
    assert_eq!(
        texts.iter().filter(|t| t.starts_with("• **")).count(),
        TESTS_SHOWN
    );
    assert!(texts.iter().any(|t| t == "…and 190 more"), "{texts:?}");
}

#[test]
fn a_card_too_large_lists_fewer_tests() {
    let mut m = samples::many_failed();
    for t in &mut m.failed {
        // Four bytes a character: 20 lines of 500 characters are about 40 KB.
        t.name = "😀".repeat(5_000);
        t.message = Some("🙃".repeat(5_000));
    }
    m.flaky = m.failed.clone();
    let r = request(&teams("https://prod-01.westeurope.logic.azure.com:443"), &m);
    assert!(r.body.len() <= BODY_MAX, "{} bytes", r.body.len());
    let texts = texts(&card(&m));
    let shown = texts.iter().filter(|t| t.starts_with("• **")).count();
    assert!(shown > 0 && shown < 2 * TESTS_SHOWN, "{shown}");
    assert!(texts.iter().any(|t| t.starts_with("…and ")));
}

#[test]
fn hostile_strings_are_inert() {
    let m = samples::hostile();
    let r = request(&teams("https://prod-01.westeurope.logic.azure.com:443"), &m);
    let body = String::from_utf8(r.body.clone()).expect("UTF-8");
    assert!(!body.contains("<at>"), "no mention unless configured");
    assert!(
        r.json().expect("JSON")["attachments"][0]["content"]["msteams"]["entities"]
            == serde_json::json!([])
    );
    let texts = texts(&card(&m));
    for t in &texts {
        assert!(!t.contains("{{"), "{t}");
        assert!(
            !t.contains(['\r', '\n', '\u{1b}']),
            "control character in {t:?}"
        );
        // Every `<` is escaped: no HTML, no `<at>`, no autolink.
        assert!(
            t.match_indices('<').all(|(i, _)| t[..i].ends_with('\\')),
            "{t}"
        );
    }
    let branch = r"\<!channel> @here \*bold\* \_it\_ \`code\` \[x\]\(http://evil\) \<script>";
    assert!(texts.iter().any(|t| t == branch), "{texts:?}");
    let items: Vec<&String> = texts.iter().filter(|t| t.starts_with("• **")).collect();
    assert_eq!(items.len(), 3);
    assert_eq!(
        items[0],
        r"• **\<script>alert\(1\)\</script>** — @channel \<!everyone> @all \<@U123>"
    );
    assert_eq!(
        items[1],
        r"• **\*bold\* \_it\_ \~strike\~ \`code\` > quote | pipe \# h1 \[link\]\(http://evil.example\)** — \<!here> &amp; &lt;"
    );
    assert!(
        items[2].chars().count() <= NAME_MAX + TEXT_MAX + 20,
        "the 10 kB name is cut"
    );
    assert!(items[2].contains("x…**"), "{}", items[2]);
    assert!(
        items[2].ends_with(r"␛\[31mred␛\[0m  next line"),
        "{}",
        items[2]
    );
}

#[test]
fn markdown_escaping_table() {
    let table = [
        ("plain text", "plain text"),
        ("- not a list", r"\- not a list"),
        ("+ not a list", r"\+ not a list"),
        ("1. not a list", r"1\. not a list"),
        ("a - b", "a - b"),
        (
            "{{DATE(2017-02-14T06:00Z)}}",
            r"\{\{DATE\(2017-02-14T06:00Z\)\}\}",
        ),
        ("**b** _i_ [l](u)", r"\*\*b\*\* \_i\_ \[l\]\(u\)"),
        ("a\\b", r"a\\b"),
        ("line\r\nbreak", "line  break"),
    ];
    for (raw, want) in table {
        assert_eq!(md(raw, 100), want, "{raw:?}");
    }
    assert_eq!(md("*****", 4), r"\*…", "never half an escape");
}

#[test]
fn settings_are_validated_without_echoing_the_url() {
    let connector =
        "https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/SeCrEt/xyz";
    let e = Teams::new(Secret::new(connector), Vec::new()).expect_err("retired");
    assert_eq!(e, TeamsError::RetiredConnector);
    assert!(!e.to_string().contains("SeCrEt"));
    let e = Teams::new(Secret::new(format!("mailto:x?sig={SIG}")), Vec::new()).expect_err("scheme");
    assert!(!e.to_string().contains(SIG));
    for good in ["alice@example.com", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"] {
        assert!(is_user(good), "{good}");
    }
    for bad in [
        "",
        "alice",
        "@all",
        "<at>x</at>@y",
        "a b@example.com",
        "a@b@c",
    ] {
        assert!(!is_user(bad), "{bad}");
    }
    let e = Teams::new(
        Secret::new(url("https://x.logic.azure.com")),
        vec!["@all".into()],
    )
    .expect_err("mention");
    assert_eq!(
        e,
        TeamsError::Mention {
            index: 0,
            value: "@all".into()
        }
    );
}

#[test]
fn the_shown_url_masks_the_signature() {
    let r = request(
        &teams("https://prod-01.westeurope.logic.azure.com:443"),
        &samples::success(),
    );
    let shown = r.shown_url();
    assert!(!shown.contains(SIG) && shown.contains("sig=***"), "{shown}");
}

#[tokio::test]
async fn sends_exactly_the_rendered_request() {
    let server = MockServer::start().await;
    let channel = teams(&server.uri());
    let rendered = channel.render(&samples::three_failed());
    let Rendered::Http(expected) = &rendered else {
        panic!("HTTP")
    };
    Mock::given(method("POST"))
        .and(path(WORKFLOW_PATH))
        .and(query_param("sig", SIG))
        .and(query_param("api-version", "2016-06-01"))
        .and(header("content-type", "application/json"))
        .and(body_json(expected.json().expect("JSON")))
        .respond_with(ResponseTemplate::new(202))
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
