//! `cimon gate` telling the forge and the people: on a pull request in GitHub Actions, a
//! failing verdict becomes the check run `cimon / flakiness` on the PR's head commit, one
//! sticky comment (`--comment`), a `gate_failed` notification (`--notify`) and the step
//! output `verdict`; the exit code is 1.

use serde_json::Value;
use wiremock::matchers::{body_partial_json, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::common::{fixture, github_pull_request_env, report_json};

const GITHUB_TOKEN: &str = "ghs_gatePublishToken42";

fn fixture_json(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(rel)).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_verdict_is_a_check_run_a_sticky_comment_and_a_notification() {
    let github = MockServer::start().await;
    let slack = MockServer::start().await;
    let event =
        fixture_json("api/github/webhooks-examples/pull_request/pull_request.opened.1.json");
    let head_sha = event["pull_request"]["head"]["sha"].as_str().unwrap();
    let auth = format!("Bearer {GITHUB_TOKEN}");

    Mock::given(method("POST"))
        .and(path("/repos/Codertocat/Hello-World/check-runs"))
        .and(header("authorization", auth.as_str()))
        .and(body_partial_json(serde_json::json!({
            "name": "cimon / flakiness",
            "head_sha": head_sha,
            "status": "completed",
            "conclusion": "failure",
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(fixture_json(
            "api/github/rest-openapi-examples/check-run.json",
        )))
        .expect(1)
        .mount(&github)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/Codertocat/Hello-World/issues/2/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([])))
        .expect(1)
        .mount(&github)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/Codertocat/Hello-World/issues/2/comments"))
        .and(body_string_contains("<!-- cimon:gate -->"))
        .and(body_string_contains("CartTest"))
        .respond_with(ResponseTemplate::new(201).set_body_json(fixture_json(
            "api/github/rest-openapi-examples/issue-comment.json",
        )))
        .expect(1)
        .mount(&github)
        .await;
    Mock::given(method("POST"))
        .and(path("/services/T000/B000/gate"))
        .and(body_string_contains("on_missing_history"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&slack)
        .await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("dialects/surefire-rerun.xml"),
        dir.path().join("TEST-cart.xml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join(".cimon.yml"),
        "version: 1\ngate:\n  on_missing_history: fail\nnotify:\n  channels:\n    - type: slack\n      url_env: SLACK_WEBHOOK_URL\n      events: [gate_failed]\n      branches: [\"*\"]\n",
    )
    .unwrap();
    let env = github_pull_request_env(&github.uri());
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (report, _, code) = report_json(
        dir.path(),
        &env_refs,
        &[
            "--junit",
            "TEST-cart.xml",
            "--output",
            "report.json",
            "--no-summary",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(report["commit"]["pull_request"], 2);

    let slack_url = format!("{}/services/T000/B000/gate", slack.uri());
    let output = dir.path().join("github-output");
    let out = super::common::cimon(dir.path(), &env_refs)
        .env("GITHUB_TOKEN", GITHUB_TOKEN)
        .env("SLACK_WEBHOOK_URL", &slack_url)
        .env("GITHUB_OUTPUT", &output)
        .args([
            "gate",
            "--report",
            "report.json",
            "--comment",
            "--notify",
            "--no-summary",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "verdict fail → exit 1\n{stderr}"
    );
    assert!(!stderr.contains(GITHUB_TOKEN), "{stderr}");
    assert!(
        !stderr.contains("B000/gate"),
        "the webhook URL is masked: {stderr}"
    );
    assert!(stderr.contains("gate_failed"), "the result table: {stderr}");
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(outputs.contains("verdict=fail"), "{outputs}");
    // The mocks' `expect(1)` are checked when they drop.
}
