//! Notifications end to end: de-duplication on the local history file and on the server's
//! store, fan-out with a hanging channel, bad configuration refused before anything is sent.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::common::{cimon, fixture};

fn report(run: u32, outcome: &str) -> Value {
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("server/run-report.json")).unwrap())
            .unwrap();
    v["key"] = Value::String(format!("github/octo/app/CI/{run}/1/build"));
    v["run_id"] = Value::String(run.to_string());
    v["outcome"] = Value::String(outcome.into());
    // No flaky test: only run-level events in these sequences.
    for case in v["tests"]["cases"].as_array_mut().unwrap() {
        case["flaky"] = Value::Bool(false);
    }
    v
}

fn config(dir: &Path, hook: &str, extra: &str) -> std::path::PathBuf {
    let p = dir.join(".cimon.yml");
    std::fs::write(
        &p,
        format!("version: 1\nnotify:\n{extra}  channels:\n    - type: webhook\n      url_env: HOOK_URL\n      events: [failure, fixed, still_failing]\n"),
    )
    .unwrap();
    let _ = hook;
    p
}

async fn events_received(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .map(|b| b["event"].as_str().unwrap_or("?").to_string())
        .collect()
}

async fn hook() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fail_fail_pass_pass_fail_on_the_history_file() {
    let server = hook().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/hook", server.uri());
    config(dir.path(), &url, "");
    let history = dir.path().join("history.db");
    for (run, outcome) in [
        (1, "failure"),
        (2, "failure"),
        (3, "failure"),
        (4, "success"),
        (5, "success"),
        (6, "failure"),
    ] {
        let file = dir.path().join(format!("r{run}.json"));
        std::fs::write(&file, report(run, outcome).to_string()).unwrap();
        cimon(dir.path(), &[("HOOK_URL", &url)])
            .args([
                "notify",
                "--report",
                file.to_str().unwrap(),
                "--history",
                history.to_str().unwrap(),
            ])
            .assert()
            .success();
    }
    assert_eq!(
        events_received(&server).await,
        ["failure", "fixed", "failure"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn still_failing_once_the_repeat_interval_has_passed() {
    let server = hook().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/hook", server.uri());
    config(dir.path(), &url, "  repeat_interval: 1s\n");
    let history = dir.path().join("history.db");
    for (run, pause) in [(1, 0u64), (2, 0), (3, 1200)] {
        std::thread::sleep(Duration::from_millis(pause));
        let file = dir.path().join(format!("r{run}.json"));
        std::fs::write(&file, report(run, "failure").to_string()).unwrap();
        cimon(dir.path(), &[("HOOK_URL", &url)])
            .args([
                "notify",
                "--report",
                file.to_str().unwrap(),
                "--history",
                history.to_str().unwrap(),
            ])
            .assert()
            .success();
    }
    assert_eq!(events_received(&server).await, ["failure", "still_failing"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fail_fail_pass_pass_fail_on_the_server_store() {
    let hook_server = hook().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/hook", hook_server.uri());
    let cfg = config(dir.path(), &url, "");
    let db = format!("sqlite://{}", dir.path().join("server.db").display());
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cimon"))
        .env_clear()
        .env("CIMON_TOKEN", "t")
        .env("HOOK_URL", &url)
        .current_dir(dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &db,
            "--config",
            cfg.to_str().unwrap(),
        ])
        .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let base = loop {
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        if let Some(rest) = log.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not start: {log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    cimon::http::install_crypto_provider();
    let client = reqwest::Client::new();
    for (run, outcome) in [
        (1, "failure"),
        (2, "failure"),
        (3, "failure"),
        (4, "success"),
        (5, "success"),
        (6, "failure"),
    ] {
        let r = client
            .post(format!("{base}/api/v1/runs"))
            .bearer_auth("t")
            .json(&report(run, outcome))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        // Notifications run after the answer: wait for this run's round before the next post.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while events_received(&hook_server).await.len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        events_received(&hook_server).await,
        ["failure", "fixed", "failure"]
    );
}

/// Eight channels of seven types, each answering after [`SLOW`], one never (3 s deadline): the
/// round takes about the deadline, not the sum (3 s + 7 × 0.5 s = 6.5 s). The figure in
/// BENCHMARKS.md ("Notify fan-out") is the line this test prints (`--nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hanging_channel_costs_its_deadline_not_the_sum() {
    const SLOW: Duration = Duration::from_millis(500);
    let server = MockServer::start().await;
    let robot_ok = r#"{"errcode":0,"errmsg":"ok","code":0,"msg":"success"}"#;
    for (route, status, body) in [
        ("/slack", 200, "ok"),
        ("/teams", 202, ""),
        ("/api/webhooks/123456789012345678/DiscordToken", 204, ""),
        ("/ding", 200, robot_ok),
        ("/wecom", 200, robot_ok),
        ("/feishu", 200, robot_ok),
        ("/ok", 204, ""),
    ] {
        Mock::given(method("POST"))
            .and(path(route))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_string(body)
                    .set_delay(SLOW),
            )
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/hang"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(60)))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut yml = String::from("version: 1\nnotify:\n  channels:\n");
    let channels = [
        ("slack", "slack"),
        ("teams", "teams"),
        ("discord", "api/webhooks/123456789012345678/DiscordToken"),
        ("dingtalk", "ding"),
        ("wecom", "wecom"),
        ("feishu", "feishu"),
        ("webhook", "ok"),
        ("webhook", "hang"),
    ];
    let mut env = Vec::new();
    for (i, (kind, route)) in channels.iter().enumerate() {
        let var = format!("URL_{i}");
        yml.push_str(&format!(
            "    - type: {kind}\n      name: ch{i}-{kind}\n      url_env: {var}\n      timeout: 3s\n"
        ));
        env.push((var, format!("{}/{route}", server.uri())));
    }
    std::fs::write(dir.path().join(".cimon.yml"), yml).unwrap();
    let file = dir.path().join("r.json");
    std::fs::write(&file, report(1, "failure").to_string()).unwrap();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let started = Instant::now();
    let out = cimon(dir.path(), &env)
        .args(["notify", "--report", file.to_str().unwrap()])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let table = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{table}");
    assert_eq!(table.matches(" sent ").count(), 7, "{table}");
    assert!(
        table.contains("ch7-webhook") && table.contains("FAILED"),
        "{table}"
    );
    // Concurrent: about one deadline, below the sum of the eight.
    let sum = Duration::from_secs(3) + SLOW * 7;
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < sum,
        "took {elapsed:?} (sum {sum:?})\n{table}"
    );
    eprintln!(
        "fan-out: 8 channels (7 answering after {SLOW:?}, 1 hanging, deadline 3 s): {elapsed:?} for the whole `cimon notify` (sequential sum {sum:?})"
    );
    // With --strict the failed channel is exit 3.
    let strict = cimon(dir.path(), &env)
        .args(["notify", "--strict", "--report", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_exit_2_before_anything_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&server)
        .await;
    let url = format!("{}/hook", server.uri());
    let cases = [
        ("version: 1\nnotify:\n  channels:\n    - type: webhook\n      url_env: HOOK_URL\n    - type: pager\n      url_env: HOOK_URL\n", ".cimon.yml:6:7: notify.channels[1]: type: unknown channel type \"pager\""),
        ("version: 1\nnotify:\n  channels:\n    - type: webhook\n      url_env: HOOK_URL\n    - type: slack\n      url_env: MISSING_VAR\n", ".cimon.yml:7:7: notify.channels[1] (slack): url_env: the environment variable MISSING_VAR is not set"),
        ("version: 1\nnotify:\n  channels:\n    - type: webhook\n      url: https://example.com/x\n", ".cimon.yml:5:7: notify.channels[0] (webhook): url: a secret is never written in the file"),
        ("version: 1\nnotify:\n  channels:\n    - type: slack\n      url_env: NOT_A_URL\n", ".cimon.yml:5:7: notify.channels[0] (slack): url_env: the value of NOT_A_URL is not a valid http(s) URL"),
        ("version: 1\nnotify:\n  channels:\n    - type: webhook\n      url_env: HOOK_URL\n    - type: slack\n      url_env: HOOK_URL\n      template: bad.j2\n", ".cimon.yml:8:7: notify.channels[1] (slack): template: ./bad.j2: line 2: undefined value"),
    ];
    for (yml, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".cimon.yml"), yml).unwrap();
        std::fs::write(dir.path().join("bad.j2"), "{{ title }}\n{{ repo }}\n").unwrap();
        let file = dir.path().join("r.json");
        std::fs::write(&file, report(1, "failure").to_string()).unwrap();
        let out = cimon(
            dir.path(),
            &[
                ("HOOK_URL", &url),
                ("NOT_A_URL", "hooks.slack.com/no-scheme"),
            ],
        )
        .args(["notify", "--report", file.to_str().unwrap()])
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(want), "{stderr}\nwant: {want}");
        // The same through `report --notify`.
        std::fs::copy(
            fixture("dialects/surefire-rerun.xml"),
            dir.path().join("TEST-x.xml"),
        )
        .unwrap();
        let out = cimon(dir.path(), &[("HOOK_URL", &url), ("NOT_A_URL", "x")])
            .args(["report", "--notify"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(
            out.stdout.is_empty(),
            "nothing is printed or sent before the configuration is valid"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_replaces_the_body_of_the_exact_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T1/B1/XyZsEcReT0kEn0123456789a"))
        .and(wiremock::matchers::header(
            "content-type",
            "application/json",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("ci")).unwrap();
    std::fs::write(
        dir.path().join("ci/.cimon.yml"),
        "version: 1\nnotify:\n  channels:\n    - type: slack\n      url_env: SLACK_URL\n      template: slack.md.j2\n      branches: ['**']\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ci/slack.md.j2"),
        "{{ event }} on {{ branch }}: {{ counts }}\n{% for t in failed %}• {{ t.name }}\n{% endfor %}",
    )
    .unwrap();
    let mut run = report(1, "failure");
    run["commit"]["branch"] = Value::String("main*<!here>".into());
    let file = dir.path().join("r.json");
    std::fs::write(&file, run.to_string()).unwrap();
    let url = format!("{}/services/T1/B1/XyZsEcReT0kEn0123456789a", server.uri());
    let out = cimon(dir.path(), &[("SLACK_URL", &url)])
        .args(["notify", "--config", "ci/.cimon.yml", "--event", "failure"])
        .args(["--report", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let received = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    let blocks = body["blocks"].as_array().unwrap();
    // The channel's envelope (header, run link, fallback text), the template's body between.
    assert_eq!(blocks[0]["type"], "header");
    let section = blocks[1]["text"]["text"].as_str().unwrap();
    let failed = run["tests"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "failed" || c["outcome"] == "errored")
        .count();
    assert!(
        section.starts_with("failure on main∗&lt;!here&gt;: "),
        "{section}"
    );
    assert_eq!(section.matches("\n• ").count(), failed, "{section}");
    assert!(body["text"].as_str().unwrap().contains("failed on main"));
}

/// Answers 400 quoting the whole request (URL, headers, body).
struct Echo;

impl wiremock::Respond for Echo {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let headers: Vec<String> = request
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("")))
            .collect();
        ResponseTemplate::new(400).set_body_string(format!(
            "refused {} {} {}",
            request.url,
            headers.join(" "),
            String::from_utf8_lossy(&request.body)
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_the_logs_or_the_result_table_of_any_channel() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Echo)
        .mount(&server)
        .await;
    let base = server.uri();
    let secrets = [
        ("SLACK_URL", format!("{base}/services/T1/B1/SlackT0kenValue0123456789")),
        ("TEAMS_URL", format!("{base}/workflows/a/triggers/manual/paths/invoke?api-version=1&sig=TeamsSigValue0123456789")),
        ("DISCORD_URL", format!("{base}/api/webhooks/1234567890123/DiscordT0kenValue0123456789")),
        ("DING_URL", format!("{base}/robot/send?access_token=DingT0kenValue0123456789")),
        ("WECOM_URL", format!("{base}/cgi-bin/webhook/send?key=WecomKeyValue0123456789")),
        ("FEISHU_URL", format!("{base}/open-apis/bot/v2/hook/FeishuT0kenValue0123456789")),
        ("HOOK_URL", format!("{base}/hooks/HookT0kenValue0123456789")),
        ("SIGNING", "SECSigningSecretValue0123456789".to_owned()),
        ("WHSEC", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()),
    ];
    let channel = |kind: &str, var: &str, extra: &str| {
        format!("    - type: {kind}\n      url_env: {var}\n      timeout: 2s\n{extra}")
    };
    let yml = [
        "version: 1\nnotify:\n  channels:\n".to_owned(),
        channel("slack", "SLACK_URL", ""),
        channel("teams", "TEAMS_URL", ""),
        channel("discord", "DISCORD_URL", ""),
        channel("dingtalk", "DING_URL", "      secret_env: SIGNING\n"),
        channel("wecom", "WECOM_URL", ""),
        channel("feishu", "FEISHU_URL", "      secret_env: SIGNING\n"),
        channel(
            "webhook",
            "HOOK_URL",
            "      secret_env: WHSEC\n      github_secret_env: SIGNING\n",
        ),
    ]
    .concat();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".cimon.yml"), yml).unwrap();
    let file = dir.path().join("r.json");
    std::fs::write(&file, report(1, "failure").to_string()).unwrap();
    let mut env: Vec<(&str, &str)> = secrets.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("CIMON_LOG", "cimon=trace"));
    let out = cimon(dir.path(), &env)
        .args(["notify", "--report", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The debug logs and the table (seven refusals) were written…
    assert!(stderr.contains("webhook answered"), "{stderr}");
    assert_eq!(stderr.matches(" FAILED ").count(), 7, "{stderr}");
    assert_eq!(server.received_requests().await.unwrap().len(), 7);
    // …and show no token, key, signature or secret.
    let tokens = [
        "SlackT0kenValue",
        "TeamsSigValue",
        "DiscordT0kenValue",
        "DingT0kenValue",
        "WecomKeyValue",
        "FeishuT0kenValue",
        "HookT0kenValue",
        "SECSigningSecretValue",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ];
    for token in tokens {
        assert!(!stderr.contains(token), "{token} shown:\n{stderr}");
    }
}
