//! One retry-classification table and one no-secret-leak check, run against every channel
//! (like `store::contract` for the stores): each channel says how its vendor answers success
//! and which body codes it documents; the status families, `Retry-After` forms, timeouts and
//! refused connections are the same for all. Email speaks SMTP, so its rows are SMTP replies
//! from a scripted server ([`smtp`]): 2yz accepted, 4yz transient, 5yz permanent.

mod smtp;

use std::time::Duration;

use wiremock::{Mock, MockServer, ResponseTemplate};

use super::fanout::{send_all, table, Channel, Status};
use super::message::samples;
use super::robot::testing::{client, closed_port, outcome, Expect};
use super::{dingtalk, discord, email, feishu, slack, teams, webhook, wecom, Notifier};
use crate::config::file::ChannelType;
use crate::config::ChannelSpec;
use crate::http::Secret;

/// Every secret the subjects are built with; none may ever be shown.
const SECRETS: [&str; 6] = [
    "XyZsEcReT0kEn0123456789a",
    "SeCrEtSiGnAtUrE0123456789abcdef",
    "SECsigningSecret0123456789",
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
    "hunter2-smtp-password",
];

/// Response headers.
type Headers = Vec<(&'static str, String)>;

/// `(status, headers, body, expected)`.
type VendorRow = (u16, Vec<(&'static str, &'static str)>, &'static str, Expect);

/// A channel under test: how to build it against a server, and what its vendor answers.
struct Subject {
    kind: ChannelType,
    /// The secrets it is built with.
    secrets: Vec<&'static str>,
    /// The channel posting to `base` (`http://127.0.0.1:port`).
    build: fn(&str) -> Box<dyn Notifier>,
    /// The vendor's success answer.
    ok: (u16, &'static str),
    /// The vendor's documented answers with a verdict.
    vendor: Vec<VendorRow>,
}

fn secs(n: f64) -> Expect {
    Expect::Transient(Some(Duration::from_secs_f64(n)))
}

const T: Expect = Expect::Transient(None);
const P: Expect = Expect::Permanent;

fn subjects() -> Vec<Subject> {
    vec![
        Subject {
            kind: ChannelType::Slack,
            secrets: vec![SECRETS[0]],
            build: |b| {
                Box::new(
                    slack::Slack::new(
                        Secret::new(format!("{b}/services/T1/B1/{}", SECRETS[0])),
                        vec![],
                    )
                    .unwrap(),
                )
            },
            ok: (200, "ok"),
            vendor: vec![
                (404, vec![], "no_service", P),
                (410, vec![], "channel_is_archived", P),
            ],
        },
        Subject {
            kind: ChannelType::Teams,
            secrets: vec![SECRETS[1]],
            build: |b| {
                Box::new(teams::Teams::new(Secret::new(format!("{b}/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig={}", SECRETS[1])), vec![]).unwrap())
            },
            ok: (202, ""),
            vendor: vec![],
        },
        Subject {
            kind: ChannelType::Discord,
            secrets: vec![SECRETS[0]],
            build: |b| {
                Box::new(
                    discord::Discord::new(
                        Secret::new(format!(
                            "{b}/api/webhooks/123456789012345678/{}",
                            SECRETS[0]
                        )),
                        vec![],
                    )
                    .unwrap(),
                )
            },
            ok: (204, ""),
            vendor: vec![
                // The body's `retry_after` (seconds, with decimals) wins over the header.
                (
                    429,
                    vec![("Retry-After", "2")],
                    r#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#,
                    secs(1.5),
                ),
                (
                    404,
                    vec![],
                    r#"{"message":"Unknown Webhook","code":10015}"#,
                    P,
                ),
            ],
        },
        Subject {
            kind: ChannelType::Dingtalk,
            secrets: vec![SECRETS[0], SECRETS[2]],
            build: |b| {
                Box::new(
                    dingtalk::DingTalk::new(
                        Secret::new(format!("{b}/robot/send?access_token={}", SECRETS[0])),
                        Some(Secret::new(SECRETS[2])),
                        &[],
                        dingtalk::DingTalkFormat::Markdown,
                    )
                    .unwrap(),
                )
            },
            ok: (200, r#"{"errcode":0,"errmsg":"ok"}"#),
            vendor: vec![
                (
                    200,
                    vec![],
                    r#"{"errcode":410100,"errmsg":"发送速度太快而限流"}"#,
                    T,
                ),
                (
                    200,
                    vec![],
                    r#"{"status":1111,"wait":5,"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#,
                    secs(5.0),
                ),
                (
                    200,
                    vec![],
                    r#"{"errcode":310000,"errmsg":"sign not match"}"#,
                    P,
                ),
                (
                    200,
                    vec![],
                    r#"{"errcode":310000,"errmsg":"keywords not in content"}"#,
                    P,
                ),
                (
                    200,
                    vec![],
                    r#"{"errcode":300001,"errmsg":"token is not exist"}"#,
                    P,
                ),
                (200, vec![], "<html>captive portal</html>", P),
            ],
        },
        Subject {
            kind: ChannelType::Wecom,
            secrets: vec![SECRETS[4]],
            build: |b| {
                Box::new(
                    wecom::WeCom::new(
                        Secret::new(format!("{b}/cgi-bin/webhook/send?key={}", SECRETS[4])),
                        &[],
                    )
                    .unwrap(),
                )
            },
            ok: (200, r#"{"errcode":0,"errmsg":"ok"}"#),
            vendor: vec![
                (
                    200,
                    vec![],
                    r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
                    T,
                ),
                (
                    200,
                    vec![],
                    r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
                    P,
                ),
                (
                    200,
                    vec![],
                    r#"{"errcode":40008,"errmsg":"invalid message type"}"#,
                    P,
                ),
            ],
        },
        Subject {
            kind: ChannelType::Feishu,
            secrets: vec![SECRETS[4], SECRETS[2]],
            build: |b| {
                Box::new(
                    feishu::Feishu::new(
                        Secret::new(format!("{b}/open-apis/bot/v2/hook/{}", SECRETS[4])),
                        Some(Secret::new(SECRETS[2])),
                        &[],
                    )
                    .unwrap(),
                )
            },
            ok: (200, r#"{"code":0,"data":{},"msg":"success"}"#),
            vendor: vec![
                (
                    200,
                    vec![],
                    r#"{"code":11232,"msg":"frequency limited"}"#,
                    T,
                ),
                (
                    429,
                    vec![("x-ogw-ratelimit-reset", "3")],
                    r#"{"code":99991400,"msg":"request trigger frequency limit"}"#,
                    secs(3.0),
                ),
                (
                    200,
                    vec![],
                    r#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
                    P,
                ),
                (
                    200,
                    vec![],
                    r#"{"code":19024,"msg":"Key Words Not Found"}"#,
                    P,
                ),
                (
                    200,
                    vec![],
                    r#"{"code":19001,"msg":"param invalid: incoming webhook access token invalid"}"#,
                    P,
                ),
            ],
        },
        Subject {
            kind: ChannelType::Webhook,
            secrets: vec![SECRETS[0], SECRETS[3], SECRETS[2]],
            build: |b| {
                Box::new(
                    webhook::Webhook::new(Secret::new(format!("{b}/hook/{}", SECRETS[0])))
                        .unwrap()
                        .with_secret(Secret::new(SECRETS[3]))
                        .unwrap()
                        .with_github_secret(Secret::new(SECRETS[2]))
                        .unwrap(),
                )
            },
            ok: (204, ""),
            vendor: vec![],
        },
    ]
}

/// The rows every HTTP channel answers the same way.
fn shared_rows() -> Vec<(u16, Headers, Expect)> {
    let date = (chrono::Utc::now() + chrono::Duration::seconds(40))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    vec![
        (400, vec![], P),
        (401, vec![], P),
        (403, vec![], P),
        (404, vec![], P),
        (429, vec![("Retry-After", "7".into())], secs(7.0)),
        // An HTTP-date 40 s ahead: checked as "about 40 s" below.
        (429, vec![("Retry-After", date)], secs(40.0)),
        (500, vec![], T),
        (502, vec![], T),
        (503, vec![], T),
    ]
}

fn same(got: Expect, want: Expect) -> bool {
    match (got, want) {
        // An HTTP-date is read against the clock: allow the seconds the test takes.
        (Expect::Transient(Some(g)), Expect::Transient(Some(w))) if w.as_secs() == 40 => {
            g <= w && g + Duration::from_secs(5) >= w
        }
        _ => got == want,
    }
}

async fn answer(server: &MockServer, status: u16, headers: &[(&str, String)], body: &str) {
    server.reset().await;
    let mut response = ResponseTemplate::new(status).set_body_string(body);
    for (name, value) in headers {
        response = response.insert_header(*name, value.as_str());
    }
    Mock::given(wiremock::matchers::any())
        .respond_with(response)
        .mount(server)
        .await;
}

#[tokio::test]
async fn every_channel_classifies_answers_the_same_way() {
    let message = samples::three_failed();
    for subject in subjects() {
        let server = MockServer::start().await;
        let channel = (subject.build)(&server.uri());
        let rendered = channel.render(&message);
        let kind = subject.kind.as_str();
        let mut rows: Vec<(u16, Headers, String, Expect)> =
            vec![(subject.ok.0, vec![], subject.ok.1.to_owned(), Expect::Ok)];
        for (status, headers, want) in shared_rows() {
            rows.push((status, headers, format!("error {status}"), want));
        }
        for (status, headers, body, want) in &subject.vendor {
            let headers = headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
            rows.push((*status, headers, body.to_string(), *want));
        }
        for (status, headers, body, want) in rows {
            answer(&server, status, &headers, &body).await;
            let got = channel.send(&client(), &rendered).await;
            assert!(
                same(outcome(&got), want),
                "{kind}: HTTP {status} {headers:?} {body}: {got:?}, want {want:?}"
            );
        }
        // No answer in time, and no server at all: a retry may help.
        answer(&server, 200, &[], subject.ok.1).await;
        server.reset().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
            .mount(&server)
            .await;
        let got = channel.send(&client(), &rendered).await;
        assert_eq!(outcome(&got), T, "{kind}: timeout: {got:?}");
        let refused = (subject.build)(&format!("http://127.0.0.1:{}", closed_port()));
        let got = refused.send(&client(), &refused.render(&message)).await;
        assert_eq!(outcome(&got), T, "{kind}: refused: {got:?}");
    }
}

#[tokio::test]
async fn email_classifies_smtp_replies_the_same_way() {
    let message = samples::three_failed();
    for (reply, want) in [
        (250, Expect::Ok),
        (421, T),
        (450, T),
        (451, T),
        (550, P),
        (553, P),
        (554, P),
    ] {
        let server = smtp::Server::start(smtp::Script::MailFrom(reply)).await;
        let channel = server.channel(None);
        let got = channel.send(&client(), &channel.render(&message)).await;
        assert_eq!(outcome(&got), want, "SMTP {reply}: {got:?}");
    }
    let server = smtp::Server::start(smtp::Script::Silent).await;
    let channel = server.channel(None);
    let got = channel.send(&client(), &channel.render(&message)).await;
    assert_eq!(outcome(&got), T, "no greeting: {got:?}");
    let refused = smtp::channel_at(closed_port(), None);
    let got = refused.send(&client(), &refused.render(&message)).await;
    assert_eq!(outcome(&got), T, "refused: {got:?}");
}

fn spec(kind: ChannelType) -> ChannelSpec {
    ChannelSpec {
        label: format!("{}#1", kind.as_str()),
        origin: String::new(),
        kind,
        events: vec![super::Event::Failure],
        branches: None,
        template: None,
        mentions: vec![],
        timeout: Duration::from_millis(600),
        url: None,
        secret: None,
        github_secret: None,
        smtp: None,
        headers: vec![],
    }
}

/// Sends through the fan-out (retry stage included) and returns the result table.
async fn through_fanout(notifier: Box<dyn Notifier>, kind: ChannelType) -> String {
    let channels = [Channel {
        spec: spec(kind),
        notifier,
    }];
    let results = send_all(
        &channels,
        &samples::three_failed(),
        &client(),
        &["main".to_owned()],
    )
    .await;
    assert!(
        matches!(results[0].status, Status::Failed(_)),
        "{kind:?}: {results:?}"
    );
    table(&results)
}

/// Answers with `status` and a body quoting the whole request (URL, headers, body) and the
/// channel's secrets, as a careless proxy or vendor might.
struct Echo {
    status: u16,
    secrets: Vec<&'static str>,
}

impl wiremock::Respond for Echo {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let headers: Vec<String> = request
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("")))
            .collect();
        ResponseTemplate::new(self.status).set_body_string(format!(
            "refused {} {} {} {}",
            request.url,
            headers.join(" "),
            String::from_utf8_lossy(&request.body),
            self.secrets.join(" ")
        ))
    }
}

/// Servers that echo everything they got and the channel's secrets (in a permanent refusal,
/// and in a 200 that is a vendor error for the robots) and a server that is not there: no
/// secret in the errors, the rendered request's `Debug` or the result table. (The logs are
/// checked end to end, `tests/it/notify.rs`, where the process's subscriber is certain.)
#[tokio::test]
async fn no_channel_shows_a_secret_anywhere() {
    let mut shown = Vec::new();
    for subject in subjects() {
        let server = MockServer::start().await;
        let kind = subject.kind;
        for status in [400, 200] {
            server.reset().await;
            Mock::given(wiremock::matchers::any())
                .respond_with(Echo {
                    status,
                    secrets: subject.secrets.clone(),
                })
                .mount(&server)
                .await;
            let channel = (subject.build)(&server.uri());
            let got = channel
                .send(&client(), &channel.render(&samples::success()))
                .await;
            shown.push(format!("{got:?}"));
            shown.push(format!("{:?}", channel.render(&samples::success())));
            if status == 400 {
                shown.push(through_fanout((subject.build)(&server.uri()), kind).await);
            }
        }
        let refused = format!("http://127.0.0.1:{}", closed_port());
        shown.push(through_fanout((subject.build)(&refused), kind).await);
    }
    let server = smtp::Server::start(smtp::Script::Echo(SECRETS[5].to_owned())).await;
    let email = server.channel(Some(SECRETS[5]));
    shown.push(format!("{email:?}"));
    shown.push(through_fanout(Box::new(email), ChannelType::Email).await);
    let refused = smtp::channel_at(closed_port(), Some(SECRETS[5]));
    shown.push(through_fanout(Box::new(refused), ChannelType::Email).await);
    for text in &shown {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} shown in:\n{text}");
        }
    }
}

/// Email channel constructor shared with [`smtp`].
fn email_channel(port: u16, password: Option<&str>) -> email::Email {
    let channel = email::Email::new(
        "127.0.0.1",
        port,
        email::SmtpTls::None,
        "ci@example.com",
        &["team@example.com".to_owned()],
    )
    .unwrap()
    .with_timeout(Duration::from_millis(700));
    match password {
        Some(p) => channel.with_credentials("ci", Secret::new(p)),
        None => channel,
    }
}
