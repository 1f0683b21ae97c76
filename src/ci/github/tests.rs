use std::time::Duration;

use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use super::*;
use crate::ci::fixtures::{api_fixture, at, check_faults, env_fixture, Identity};

const TOKEN: &str = "ghp_cimonTestToken0123456789";
const JOBS_PATH: &str = "/repos/octo-org/octo-repo/actions/runs/29679449/attempts/1/jobs";

fn creds() -> ApiCredentials {
    ApiCredentials {
        github_token: Some(Secret::new(TOKEN)),
        ..ApiCredentials::default()
    }
}

fn provider() -> Github {
    Github::new(HttpConfig {
        timeout: Duration::from_millis(500),
        ..HttpConfig::default()
    })
}

/// The documented request: GET, path, `per_page=100`, bearer token, media type, API version.
fn jobs_route() -> MockBuilder {
    Mock::given(method("GET"))
        .and(path(JOBS_PATH))
        .and(query_param("per_page", "100"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", MEDIA_TYPE))
        .and(header("x-github-api-version", API_VERSION))
}

#[test]
fn env_fixtures_give_the_expected_identity() {
    let now = at("2026-11-26T10:00:00Z");
    let table = [
        (
            "github-push.env",
            Identity {
                key: "github/octo-org/octo-repo/CI/29679449/1/build",
                repository: Some("octo-org/octo-repo"),
                workflow: Some("CI"),
                job: Some("build"),
                run_id: Some("29679449"),
                run_attempt: 1,
                run_number: Some(42),
                url: Some("https://github.com/octo-org/octo-repo/actions/runs/29679449/attempts/1"),
                event: Some("push"),
                actor: Some("octocat"),
                sha: Some("f83a356604ae3c5d03e1b46ef4d1ca77d64a90b0"),
                branch: Some("main"),
                git_ref: Some("refs/heads/main"),
                ..Identity::default()
            },
        ),
        (
            "github-pull-request.env",
            Identity {
                key: "github/Codertocat/Hello-World/CI/9876543210/1/test",
                repository: Some("Codertocat/Hello-World"),
                workflow: Some("CI"),
                job: Some("test"),
                run_id: Some("9876543210"),
                run_attempt: 1,
                run_number: Some(17),
                url: Some(
                    "https://github.com/Codertocat/Hello-World/actions/runs/9876543210/attempts/1",
                ),
                event: Some("pull_request"),
                actor: Some("Codertocat"),
                // The PR head from the payload, not GITHUB_SHA (the merge commit).
                sha: Some("ec26c3e57ca3a959ca5aad62de7213c562f8c821"),
                branch: Some("changes"),
                git_ref: Some("refs/pull/2/merge"),
                pull_request: Some(2),
                base_branch: Some("master"),
                ..Identity::default()
            },
        ),
        (
            "github-rerun-attempt2.env",
            Identity {
                key: "github/octo/app/Build and test/1234567890/2/unit",
                repository: Some("octo/app"),
                workflow: Some("Build and test"),
                job: Some("unit"),
                run_id: Some("1234567890"),
                run_attempt: 2,
                run_number: Some(88),
                url: Some("https://github.com/octo/app/actions/runs/1234567890/attempts/2"),
                event: Some("push"),
                actor: Some("hubot"),
                sha: Some("aaaabbbbccccddddeeeeffff0000111122223333"),
                branch: Some("main"),
                git_ref: Some("refs/heads/main"),
                ..Identity::default()
            },
        ),
        (
            "github-tag.env",
            Identity {
                key: "github/octo/app/release/555/1/publish",
                repository: Some("octo/app"),
                workflow: Some("release"),
                job: Some("publish"),
                run_id: Some("555"),
                run_attempt: 1,
                run_number: Some(9),
                url: Some("https://ghe.example.com/octo/app/actions/runs/555/attempts/1"),
                event: Some("push"),
                actor: Some("octocat"),
                sha: Some("9999888877776666555544443333222211110000"),
                tag: Some("v1.2.3"),
                git_ref: Some("refs/tags/v1.2.3"),
                ..Identity::default()
            },
        ),
    ];
    for (file, want) in table {
        let report =
            Github::default().current_run(&env_fixture(file), &RunOverrides::default(), now);
        want.check(file, &report);
        assert!(report.warnings.is_empty(), "{file}: {:?}", report.warnings);
        assert_eq!(
            (report.started_at, report.finished_at),
            (None, now),
            "{file}"
        );
        assert_eq!(
            report.sources.get("identity"),
            Some(&DataSource::Env),
            "{file}"
        );
        assert_eq!(
            report.sources.get("timings"),
            Some(&DataSource::Derived),
            "{file}"
        );
    }
}

#[test]
fn status_flag_and_unreadable_payloads() {
    let now = at("2026-11-26T10:00:00Z");
    let flags = RunOverrides {
        status: Some("cancelled".into()),
        job: Some("test (ubuntu)".into()),
        ..RunOverrides::default()
    };
    let env =
        env_fixture("github-pull-request.env").with("GITHUB_EVENT_PATH", "/nonexistent/event.json");
    let report = Github::default().current_run(&env, &flags, now);
    assert_eq!(report.outcome, RunOutcome::Cancelled);
    assert_eq!(report.sources.get("outcome"), Some(&DataSource::Flag));
    assert_eq!(
        report.key,
        "github/Codertocat/Hello-World/CI/9876543210/1/test (ubuntu)"
    );
    // Without the payload: the PR number from GITHUB_REF, the sha stays GITHUB_SHA.
    assert_eq!(report.commit.pull_request, Some(2));
    assert_eq!(
        report.commit.sha.as_deref(),
        Some("3f2a0a1b5d6c7e8f9a0b1c2d3e4f5a6b7c8d9e0f")
    );
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].starts_with("GITHUB_EVENT_PATH /nonexistent/event.json"));
}

#[tokio::test]
async fn jobs_api_gives_job_and_step_timings() {
    let server = MockServer::start().await;
    jobs_route()
        .respond_with(ResponseTemplate::new(200).set_body_string(api_fixture(
            "github/rest-openapi-examples/job-paginated.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let env = env_fixture("github-push.env").with("GITHUB_API_URL", &server.uri());
    let now = at("2020-01-20T17:45:00Z");
    let provider = provider();
    let mut report = provider.current_run(&env, &RunOverrides::default(), now);
    provider.fetch_timings(&mut report, &env, &creds()).await;
    crate::ci::fixtures::assert_valid(&report);

    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    // The runner name matches, but the sample job is `completed`: found by name `build`.
    assert_eq!(report.started_at, Some(at("2020-01-20T17:42:40Z")));
    assert_eq!(report.finished_at, now);
    assert_eq!(report.duration_ms, Some(140_000));
    assert_eq!(report.queued_ms, None, "the sample has no created_at");
    assert_eq!(report.outcome, RunOutcome::Success);
    assert_eq!(report.sources.get("outcome"), Some(&DataSource::Api));
    assert_eq!(report.sources.get("timings"), Some(&DataSource::Api));
    assert_eq!(report.sources.get("steps"), Some(&DataSource::Api));
    assert_eq!(report.key, "github/octo-org/octo-repo/CI/29679449/1/build");
    // By hand from the sample (steps are in -08:00, the job in UTC).
    let want = [
        ("Set up job", "2020-01-20T17:42:40Z", 1_000),
        ("Run actions/checkout@v2", "2020-01-20T17:42:41Z", 4_000),
        ("Set up Ruby", "2020-01-20T17:42:45Z", 0),
        ("Run actions/cache@v3", "2020-01-20T17:42:45Z", 3_000),
        ("Install Bundler", "2020-01-20T17:42:48Z", 4_000),
        ("Install Gems", "2020-01-20T17:42:52Z", 1_000),
        ("Run Tests", "2020-01-20T17:42:53Z", 6_000),
        ("Deploy to Heroku", "2020-01-20T17:42:59Z", 100_000),
        ("Post actions/cache@v3", "2020-01-20T17:44:39Z", 0),
        ("Complete job", "2020-01-20T17:44:39Z", 0),
    ];
    assert_eq!(report.steps.len(), want.len());
    for (step, (name, start, ms)) in report.steps.iter().zip(want) {
        assert_eq!(step.name, name);
        assert_eq!(step.outcome, RunOutcome::Success, "{name}");
        assert_eq!(step.started_at, Some(at(start)), "{name}");
        assert_eq!(step.duration_ms, Some(ms), "{name}");
        assert_eq!(
            step.finished_at,
            Some(at(start) + chrono::Duration::milliseconds(ms as i64)),
            "{name}"
        );
    }
}

/// Inline body (the samples have no `created_at` and no running job): a matrix of two
/// in-progress legs, told apart by the runner name.
const MATRIX_BODY: &str = r#"{"total_count": 2, "jobs": [
  {"id": 1, "name": "build (windows, 1.80)", "status": "in_progress", "conclusion": null,
   "created_at": "2026-11-26T09:50:00Z", "started_at": "2026-11-26T09:51:00Z",
   "runner_name": "GitHub Actions 7", "steps": []},
  {"id": 2, "name": "build (ubuntu, 1.80)", "status": "in_progress", "conclusion": null,
   "created_at": "2026-11-26T09:50:00Z", "started_at": "2026-11-26T09:50:30Z",
   "runner_name": "my runner", "steps": [
     {"name": "Set up job", "status": "completed", "conclusion": "success", "number": 1,
      "started_at": "2026-11-26T09:50:30Z", "completed_at": "2026-11-26T09:50:32Z"},
     {"name": "Run cimon", "status": "in_progress", "conclusion": null, "number": 2,
      "started_at": "2026-11-26T09:59:00Z", "completed_at": null},
     {"name": "Post checkout", "status": "pending", "conclusion": null, "number": 3,
      "started_at": null, "completed_at": null}]}]}"#;

#[tokio::test]
async fn matrix_legs_are_found_by_runner_then_by_name() {
    let server = MockServer::start().await;
    jobs_route()
        .respond_with(ResponseTemplate::new(200).set_body_string(MATRIX_BODY))
        .mount(&server)
        .await;
    let now = at("2026-11-26T10:00:00Z");
    let env = env_fixture("github-push.env").with("GITHUB_API_URL", &server.uri());
    let provider = provider();

    let mut report = provider.current_run(&env, &RunOverrides::default(), now);
    provider.fetch_timings(&mut report, &env, &creds()).await;
    crate::ci::fixtures::assert_valid(&report);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.started_at, Some(at("2026-11-26T09:50:30Z")));
    assert_eq!(report.queued_ms, Some(30_000));
    assert_eq!(report.sources.get("queue"), Some(&DataSource::Api));
    assert_eq!(report.duration_ms, Some(570_000));
    assert_eq!(report.outcome, RunOutcome::Unknown, "still running");
    let steps: Vec<_> = report
        .steps
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.outcome,
                s.started_at.is_some(),
                s.finished_at.is_some(),
                s.duration_ms,
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("Set up job", RunOutcome::Success, true, true, Some(2_000)),
            ("Run cimon", RunOutcome::Unknown, true, false, None),
            ("Post checkout", RunOutcome::Unknown, false, false, None),
        ]
    );

    // Another runner name: two `build (…)` legs, ambiguous → one warning, env data kept.
    let env = env.with("RUNNER_NAME", "somewhere else");
    let mut report = provider.current_run(&env, &RunOverrides::default(), now);
    provider.fetch_timings(&mut report, &env, &creds()).await;
    crate::ci::fixtures::assert_valid(&report);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains("no job of the run matches"),
        "{}",
        report.warnings[0]
    );
    assert_eq!((report.started_at, report.steps.len()), (None, 0));

    // `--job` with the leg's display name finds it.
    let flags = RunOverrides {
        job: Some("build (windows, 1.80)".into()),
        ..RunOverrides::default()
    };
    let mut report = provider.current_run(&env, &flags, now);
    provider.fetch_timings(&mut report, &env, &creds()).await;
    crate::ci::fixtures::assert_valid(&report);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.started_at, Some(at("2026-11-26T09:51:00Z")));
    assert_eq!(
        report.key,
        "github/octo-org/octo-repo/CI/29679449/1/build (windows, 1.80)"
    );
}

#[tokio::test]
async fn every_page_is_read() {
    let server = MockServer::start().await;
    let page2 = format!("{}{JOBS_PATH}?per_page=100&page=2", server.uri());
    let first = r#"{"total_count": 2, "jobs": [{"id": 5, "name": "lint", "status": "completed",
        "conclusion": "success", "started_at": "2020-01-20T17:40:00Z", "runner_name": "other",
        "steps": []}]}"#;
    jobs_route()
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(first)
                .insert_header(
                    "link",
                    format!("<{page2}>; rel=\"next\", <{page2}>; rel=\"last\"").as_str(),
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let second = format!(
        r#"{{"total_count": 2, "jobs": [{}]}}"#,
        api_fixture("github/rest-openapi-examples/job.json")
    );
    jobs_route()
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_string(second))
        .expect(1)
        .mount(&server)
        .await;
    let env = env_fixture("github-push.env").with("GITHUB_API_URL", &server.uri());
    let provider = provider();
    let mut report =
        provider.current_run(&env, &RunOverrides::default(), at("2020-01-20T17:45:00Z"));
    provider.fetch_timings(&mut report, &env, &creds()).await;
    crate::ci::fixtures::assert_valid(&report);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.started_at, Some(at("2020-01-20T17:42:40Z")));
    assert_eq!(report.steps.len(), 10);
}

#[tokio::test]
async fn malformed_identity_is_one_warning_and_no_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    for repo in ["octo/../admin", "octo", "octo/app/x", "octo/a?b"] {
        let env = env_fixture("github-push.env")
            .with("GITHUB_API_URL", &server.uri())
            .with("GITHUB_REPOSITORY", repo);
        let mut report =
            provider().current_run(&env, &RunOverrides::default(), at("2026-11-26T10:00:00Z"));
        provider().fetch_timings(&mut report, &env, &creds()).await;
        crate::ci::fixtures::assert_valid(&report);
        assert_eq!(report.warnings.len(), 1, "{repo}: {:?}", report.warnings);
        assert!(
            report.warnings[0].contains("is malformed"),
            "{}",
            report.warnings[0]
        );
    }
}

#[tokio::test]
async fn without_a_token_nothing_is_asked() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let env = env_fixture("github-push.env").with("GITHUB_API_URL", &server.uri());
    let mut report =
        provider().current_run(&env, &RunOverrides::default(), at("2026-11-26T10:00:00Z"));
    let before = report.clone();
    provider()
        .fetch_timings(&mut report, &env, &ApiCredentials::default())
        .await;
    crate::ci::fixtures::assert_valid(&report);
    assert_eq!(report, before);
}

#[tokio::test]
async fn api_faults_give_one_warning_and_keep_env_data() {
    check_faults(
        &provider(),
        |uri| env_fixture("github-push.env").with("GITHUB_API_URL", uri),
        &creds(),
        TOKEN,
        jobs_route,
        &format!("{JOBS_PATH}?per_page=100"),
        at("2020-01-20T17:45:00Z"),
    )
    .await;
}
