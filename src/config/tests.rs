//! `.cimon.yml` validation: every error names the line, the channel and the field.

use std::path::Path;

use super::*;

const EXAMPLE: &str = "version: 1
notify:
  channels:
    - type: slack
      url_env: SLACK_WEBHOOK_URL
    - type: dingtalk
      url_env: DINGTALK_WEBHOOK_URL
      secret_env: DINGTALK_SECRET
";

fn env() -> Env {
    Env::from_pairs([
        (
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
        ),
        (
            "DINGTALK_WEBHOOK_URL",
            "https://oapi.dingtalk.com/robot/send?access_token=abc123",
        ),
        ("DINGTALK_SECRET", "SECtest"),
    ])
}

fn no_files(_: &Path) -> std::io::Result<String> {
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "no such file",
    ))
}

fn parse_text(text: &str) -> Result<Config, ConfigError> {
    parse(".cimon.yml", text, &env(), &no_files)
}

#[test]
fn the_documented_example_works() {
    let config = parse_text(EXAMPLE).unwrap();
    let notify = config.notify.unwrap();
    assert_eq!(notify.channels.len(), 2);
    assert_eq!(notify.repeat_interval, Duration::from_secs(4 * 3600));
    let slack = &notify.channels[0];
    assert_eq!(slack.kind, ChannelType::Slack);
    assert_eq!(slack.label, "slack#1");
    assert_eq!(slack.events, [Event::Failure, Event::Fixed]);
    assert!(slack.branches.is_none());
    let ding = &notify.channels[1];
    assert_eq!(ding.secret.as_ref().unwrap().expose(), "SECtest");
    assert_eq!(ding.timeout, Duration::from_secs(30));
}

#[test]
fn bad_configurations_name_line_channel_and_field() {
    let table: [(&str, &str); 12] = [
        (
            "version: 1\nnotify:\n  channels:\n    - type: skype\n      url_env: X\n",
            ".cimon.yml:4:7: notify.channels[0]: type: unknown channel type \"skype\"",
        ),
        (
            "version: 1\nnotify:\n  channels:\n    - type: slack\n      url_env: NOT_SET\n",
            ".cimon.yml:5:7: notify.channels[0] (slack): url_env: the environment variable NOT_SET is not set",
        ),
        (
            "version: 1\nnotify:\n  channels:\n    - type: slack\n      url: https://hooks.slack.com/services/T/B/SECRETVALUE\n",
            ".cimon.yml:5:7: notify.channels[0] (slack): url: a secret is never written in the file; use url_env",
        ),
        (
            "version: 1\nnotify:\n  channels:\n    - type: dingtalk\n      url_env: SLACK_WEBHOOK_URL\n      secret: SECtest\n",
            ".cimon.yml:6:7: notify.channels[0] (dingtalk): secret: a secret is never written in the file",
        ),
        (
            "version: 1\nnotify:\n  channels:\n    - type: slack\n      url_env: DINGTALK_SECRET\n",
            ".cimon.yml:5:7: notify.channels[0] (slack): url_env: the value of DINGTALK_SECRET is not a valid http(s) URL",
        ),
        (
            "version: 1\nnotify:\n  channels:\n    - type: slack\n      url_env: SLACK_WEBHOOK_URL\n      events: [failure, nope]\n",
            ".cimon.yml:6:25: notify.channels[0] (slack): \"nope\" is not one of",
        ),
        (
            "version: 1\nnotify:\n  channels:\n    - type: slack\n      url_env: SLACK_WEBHOOK_URL\n      colour: red\n",
            ".cimon.yml:6:7: notify.channels[0] (slack): unknown key `colour` in /notify/channels/0; expected one of branches,",
        ),
        ("version: 2\n", ".cimon.yml:1:1: "),
        ("version: 1\nnotify: [\n", ".cimon.yml:"),
        (
            "version: 1\nnotify:\n  channels:\n    - type: email\n      from: ci@example.com\n      to: [dev@example.com]\n",
            ".cimon.yml:4:7: notify.channels[0] (email): host: missing",
        ),
        (
            "version: 1\nnotify:\n  channels:\n    - type: slack\n      url_env: SLACK_WEBHOOK_URL\n      host: smtp.example.com\n",
            ".cimon.yml:6:7: notify.channels[0] (slack): host: only for email channels",
        ),
        (
            "version: 1\nnotify:\n  repeat_interval: soon\n  channels: []\n",
            ".cimon.yml:3:3: repeat_interval: \"soon\" is not a duration",
        ),
    ];
    for (text, want) in table {
        let err = parse_text(text).unwrap_err().to_string();
        assert!(
            err.starts_with(want),
            "{text}\n→ {err}\n  (want a message starting with {want})"
        );
        for secret in ["SECRETVALUE", "XXXXSECRET", "abc123", "SECtest"] {
            assert!(
                !err.contains(secret)
                    || text.contains(&format!("secret: {secret}")) && !err.contains(secret),
                "{err}"
            );
        }
    }
}

#[test]
fn secrets_never_appear_in_errors() {
    for text in [
        "version: 1\nnotify:\n  channels:\n    - type: slack\n      url_env: DINGTALK_SECRET\n",
        "version: 1\nnotify:\n  channels:\n    - type: slack\n      url: https://hooks.slack.com/services/T/B/SECRETVALUE\n",
    ] {
        let err = parse_text(text).unwrap_err().to_string();
        assert!(!err.contains("SECtest") && !err.contains("SECRETVALUE"), "{err}");
    }
}

#[test]
fn files_globs_and_options() {
    let text = "version: 1
notify:
  repeat_interval: 30m
  channels:
    - type: webhook
      name: audit
      url_file: /run/secrets/hook
      secret_file: /run/secrets/whsec
      events: [failure, fixed, flaky, gate_failed]
      branches: ['main', 'release/*']
      timeout: 10s
      headers: {X-Team: ci}
    - type: email
      host: smtp.example.com
      username: ci
      password_env: SLACK_WEBHOOK_URL
      from: ci@example.com
      to: [dev@example.com]
";
    let files = |p: &Path| -> std::io::Result<String> {
        Ok(match p.to_str().unwrap() {
            "/run/secrets/hook" => "https://hooks.example.com/cimon\n".into(),
            _ => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n".into(),
        })
    };
    let config = parse(".cimon.yml", text, &env(), &files).unwrap();
    let n = config.notify.unwrap();
    assert_eq!(n.repeat_interval, Duration::from_secs(1800));
    let hook = &n.channels[0];
    assert_eq!(hook.label, "audit");
    assert_eq!(
        hook.url.as_ref().unwrap().expose(),
        "https://hooks.example.com/cimon"
    );
    assert!(hook.branches.as_ref().unwrap().matches("release/1.2"));
    assert!(!hook.branches.as_ref().unwrap().matches("feature/x"));
    assert_eq!(hook.timeout, Duration::from_secs(10));
    assert_eq!(hook.headers, [("X-Team".to_string(), "ci".to_string())]);
    let mail = n.channels[1].smtp.as_ref().unwrap();
    assert_eq!((mail.port, mail.tls), (587, TlsMode::Starttls));
}

#[test]
fn the_committed_schema_is_current() {
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/policy.v1.json"),
    )
    .unwrap();
    let mut generated = serde_json::to_string_pretty(&schema()).unwrap();
    generated.push('\n');
    assert!(committed == generated, "schemas/policy.v1.json is stale: run `cargo run -- schema policy > schemas/policy.v1.json`");
}

#[test]
fn templates_are_read_next_to_the_file_and_checked_at_load() {
    let files = |p: &Path| match p.to_str() {
        Some("ci/notify/slack.j2") => Ok("{{ icon }} {{ title }}\n{{ counts }}".to_owned()),
        Some("ci/notify/typo.j2") => Ok("line one\n{{ repo }}\n".to_owned()),
        Some("ci/notify/broken.j2") => Ok("a\n{% for %}\n".to_owned()),
        _ => no_files(p),
    };
    let yaml = |template: &str, kind: &str| {
        format!("version: 1\nnotify:\n  channels:\n    - type: {kind}\n      url_env: SLACK_WEBHOOK_URL\n      template: {template}\n")
    };
    let config = parse(
        "ci/.cimon.yml",
        &yaml("notify/slack.j2", "slack"),
        &env(),
        &files,
    )
    .unwrap();
    let channel = &config.notify.unwrap().channels[0];
    let body = channel
        .template
        .as_ref()
        .unwrap()
        .render(&crate::notify::message::samples::three_failed())
        .unwrap();
    assert!(
        body.ends_with("3 failed, 117 passed of 120 tests"),
        "{body}"
    );
    for (template, kind, want) in [
        (
            "notify/typo.j2",
            "slack",
            "ci/.cimon.yml:6:7: notify.channels[0] (slack): template: ci/notify/typo.j2: line 2: undefined value",
        ),
        (
            "notify/broken.j2",
            "discord",
            "ci/.cimon.yml:6:7: notify.channels[0] (discord): template: ci/notify/broken.j2: line 2: syntax error",
        ),
        (
            "notify/missing.j2",
            "teams",
            "ci/.cimon.yml:6:7: notify.channels[0] (teams): template: cannot read ci/notify/missing.j2",
        ),
        (
            "notify/slack.j2",
            "webhook",
            "ci/.cimon.yml:6:7: notify.channels[0] (webhook): template: a webhook channel sends structured JSON and takes no template",
        ),
    ] {
        let e = parse("ci/.cimon.yml", &yaml(template, kind), &env(), &files).unwrap_err();
        assert!(e.to_string().starts_with(want), "{e}\nwanted {want}");
    }
}
