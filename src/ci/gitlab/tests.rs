use std::time::Duration;

use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use super::*;
use crate::ci::fixtures::{api_fixture, at, check_faults, env_fixture, Identity};

const TOKEN: &str = "glpat-cimonTestToken01234";

fn creds() -> ApiCredentials {
    ApiCredentials {
        gitlab_token: Some(Secret::new(TOKEN)),
        ..ApiCredentials::default()
    }
}

fn provider() -> Gitlab {
    Gitlab::new(HttpConfig {
        timeout: Duration::from_millis(500),
        ..HttpConfig::default()
    })
}

/// The documented request: GET, path, `per_page=100&include_retried=true`, `PRIVATE-TOKEN`.
fn jobs_route(project: &str, pipeline: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v4/projects/{project}/pipelines/{pipeline}/jobs"
        )))
        .and(query_param("per_page", "100"))
        .and(query_param("include_retried", "true"))
        .and(header("PRIVATE-TOKEN", TOKEN))
}

fn with_api(env: Env, uri: &str) -> Env {
    env.with("CI_API_V4_URL", &format!("{uri}/api/v4"))
}

#[test]
fn env_fixtures_give_the_expected_identity() {
    let after_script = |outcome| Identity {
        key: "gitlab/acme/shop/-/2000/1/test",
        repository: Some("acme/shop"),
        job: Some("test"),
        run_id: Some("2000"),
        run_attempt: 1,
        run_number: Some(12),
        url: Some("https://gitlab.com/acme/shop/-/jobs/30001"),
        event: Some("push"),
        actor: Some("bob"),
        sha: Some("abcdefabcdefabcdefabcdefabcdefabcdefabcd"),
        branch: Some("main"),
        git_ref: Some("refs/heads/main"),
        outcome: Some(outcome),
        ..Identity::default()
    };
    let table = [
        (
            "gitlab-branch.env",
            Identity {
                key: "gitlab/foo/bar/-/6/1/teaspoon",
                repository: Some("foo/bar"),
                job: Some("teaspoon"),
                run_id: Some("6"),
                run_attempt: 1,
                run_number: Some(3),
                url: Some("https://example.com/foo/bar/-/jobs/7"),
                event: Some("push"),
                actor: Some("root"),
                sha: Some("0ff3ae198f8601a285adcf5c0fff204ee6fba5fd"),
                branch: Some("main"),
                git_ref: Some("refs/heads/main"),
                ..Identity::default()
            },
            // CI_PIPELINE_CREATED_AT 15:51:21 → CI_JOB_STARTED_AT 17:54:27: 2 h 3 min 6 s.
            Some(7_386_000),
        ),
        (
            "gitlab-merge-request.env",
            Identity {
                key: "gitlab/group/sub/project/-/1100000001/1/rspec 1%2F3",
                repository: Some("group/sub/project"),
                job: Some("rspec 1/3"),
                run_id: Some("1100000001"),
                run_attempt: 1,
                run_number: Some(215),
                url: Some("https://gitlab.example.com/group/sub/project/-/jobs/8800000002"),
                event: Some("merge_request_event"),
                actor: Some("alice"),
                sha: Some("1234567890abcdef1234567890abcdef12345678"),
                branch: Some("feature/login"),
                git_ref: Some("refs/merge-requests/7/head"),
                pull_request: Some(7),
                base_branch: Some("main"),
                ..Identity::default()
            },
            Some(40_000),
        ),
        (
            "gitlab-after-script-success.env",
            after_script(RunOutcome::Success),
            Some(5_000),
        ),
        (
            "gitlab-after-script-failed.env",
            after_script(RunOutcome::Failure),
            Some(5_000),
        ),
        (
            "gitlab-after-script-canceled.env",
            after_script(RunOutcome::Cancelled),
            Some(5_000),
        ),
    ];
    for (file, want, queued) in table {
        let env = env_fixture(file);
        let started = env.get("CI_JOB_STARTED_AT").and_then(parse_time);
        let now = started.expect("fixture has CI_JOB_STARTED_AT") + chrono::Duration::minutes(1);
        let report = Gitlab::default().current_run(&env, &RunOverrides::default(), now);
        want.check(file, &report);
        assert!(report.warnings.is_empty(), "{file}: {:?}", report.warnings);
        assert_eq!(report.queued_ms, queued, "{file}");
        assert_eq!(
            report.sources.get("queue"),
            Some(&DataSource::Env),
            "{file}"
        );
        assert_eq!(
            report.sources.get("timings"),
            Some(&DataSource::Env),
            "{file}"
        );
        assert_eq!(report.started_at, started, "{file}");
        assert_eq!(report.duration_ms, Some(60_000), "{file}");
        let want_source = if want.outcome.is_some() {
            DataSource::Env
        } else {
            DataSource::Derived
        };
        assert_eq!(report.sources.get("outcome"), Some(&want_source), "{file}");
    }
}

#[test]
fn merged_results_pipelines_use_the_source_head() {
    let env = env_fixture("gitlab-merge-request.env")
        .with("CI_MERGE_REQUEST_EVENT_TYPE", "merged_result")
        .with(
            "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA",
            "feedfacefeedfacefeedfacefeedfacefeedface",
        );
    let report =
        Gitlab::default().current_run(&env, &RunOverrides::default(), at("2026-11-26T10:00:00Z"));
    assert_eq!(
        report.commit.sha.as_deref(),
        Some("feedfacefeedfacefeedfacefeedfacefeedface")
    );
    assert_eq!(
        report.commit.git_ref.as_deref(),
        Some("refs/merge-requests/7/merge")
    );
}

#[tokio::test]
async fn pipeline_jobs_give_queue_time_and_steps() {
    let server = MockServer::start().await;
    jobs_route("1", "6")
        .respond_with(ResponseTemplate::new(200).set_body_string(api_fixture(
            "gitlab/gitlab-docs/jobs.list-pipeline-jobs.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let env = with_api(env_fixture("gitlab-branch.env"), &server.uri());
    let now = at("2015-12-24T17:55:00Z");
    let provider = provider();
    let mut report = provider.current_run(&env, &RunOverrides::default(), now);
    provider.fetch_timings(&mut report, &env, &creds()).await;
    crate::ci::fixtures::assert_valid(&report);

    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    // Job 7 ("teaspoon") of the sample.
    assert_eq!(report.started_at, Some(at("2015-12-24T17:54:27.722Z")));
    assert_eq!(report.finished_at, now);
    assert_eq!(report.duration_ms, Some(32_278));
    assert_eq!(report.queued_ms, Some(23), "queued_duration 0.023 s");
    assert_eq!(report.sources.get("queue"), Some(&DataSource::Api));
    assert_eq!(report.sources.get("timings"), Some(&DataSource::Api));
    assert_eq!(
        report.outcome,
        RunOutcome::Failure,
        "env said running; the API says failed"
    );
    assert_eq!(report.sources.get("outcome"), Some(&DataSource::Api));
    assert_eq!(
        (report.run_attempt, report.key.as_str()),
        (1, "gitlab/foo/bar/-/6/1/teaspoon")
    );
    let steps: Vec<_> = report
        .steps
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.outcome,
                s.started_at,
                s.finished_at,
                s.duration_ms,
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (
                "test: rspec:other",
                RunOutcome::Failure,
                Some(at("2015-12-24T17:54:24.729Z")),
                Some(at("2015-12-24T17:54:24.921Z")),
                Some(192),
            ),
            (
                "test: teaspoon",
                RunOutcome::Failure,
                Some(at("2015-12-24T17:54:27.722Z")),
                Some(at("2015-12-24T17:54:27.895Z")),
                Some(173),
            ),
        ]
    );
}

/// Inline body (the sample has no retried job): job `test` was retried; this is job 12.
const RETRIED_BODY: &str = r#"[
  {"id": 12, "name": "test", "stage": "test", "status": "running",
   "created_at": "2026-11-26T09:10:00Z", "started_at": "2026-11-26T09:10:01.500Z",
   "finished_at": null, "duration": null, "queued_duration": 1.5},
  {"id": 11, "name": "lint", "stage": "check", "status": "success",
   "created_at": "2026-11-26T09:00:00Z", "started_at": "2026-11-26T09:00:02Z",
   "finished_at": "2026-11-26T09:00:12Z", "duration": 10.0, "queued_duration": 2.0},
  {"id": 10, "name": "test", "stage": "test", "status": "failed",
   "created_at": "2026-11-26T09:00:00Z", "started_at": "2026-11-26T09:00:05Z",
   "finished_at": "2026-11-26T09:05:05Z", "duration": 300.0, "queued_duration": 5.0}
]"#;

#[tokio::test]
async fn retries_give_the_attempt_and_the_key_follows() {
    let server = MockServer::start().await;
    jobs_route("42", "2000")
        .respond_with(ResponseTemplate::new(200).set_body_string(RETRIED_BODY))
        .mount(&server)
        .await;
    let env = with_api(
        env_fixture("gitlab-after-script-success.env"),
        &server.uri(),
    )
    .with("CI_JOB_ID", "12")
    .with("CI_JOB_STARTED_AT", "2026-11-26T09:10:01Z");
    let provider = provider();
    let mut report =
        provider.current_run(&env, &RunOverrides::default(), at("2026-11-26T09:20:00Z"));
    assert_eq!(report.key, "gitlab/acme/shop/-/2000/1/test");
    provider.fetch_timings(&mut report, &env, &creds()).await;
    crate::ci::fixtures::assert_valid(&report);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.run_attempt, 2);
    assert_eq!(report.key, "gitlab/acme/shop/-/2000/2/test");
    assert_eq!(report.sources.get("attempt"), Some(&DataSource::Api));
    assert_eq!(report.queued_ms, Some(1_500));
    assert_eq!(
        report.outcome,
        RunOutcome::Success,
        "after_script's CI_JOB_STATUS wins"
    );
    let names: Vec<_> = report
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.outcome))
        .collect();
    assert_eq!(
        names,
        [
            ("check: lint", RunOutcome::Success),
            ("test: test", RunOutcome::Unknown)
        ]
    );

    // `--run-attempt` wins over the API.
    let flags = RunOverrides {
        run_attempt: Some(5),
        ..RunOverrides::default()
    };
    let mut report = provider.current_run(&env, &flags, at("2026-11-26T09:20:00Z"));
    provider.fetch_timings(&mut report, &env, &creds()).await;
    crate::ci::fixtures::assert_valid(&report);
    assert_eq!(
        (report.run_attempt, report.key.as_str()),
        (5, "gitlab/acme/shop/-/2000/5/test")
    );

    // A job id the pipeline does not list: one warning, the steps are still useful.
    let env = env.with("CI_JOB_ID", "99");
    let mut report =
        provider.current_run(&env, &RunOverrides::default(), at("2026-11-26T09:20:00Z"));
    provider.fetch_timings(&mut report, &env, &creds()).await;
    crate::ci::fixtures::assert_valid(&report);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("job 99 is not among the pipeline's 3 jobs"));
    assert_eq!((report.run_attempt, report.steps.len()), (1, 2));
}

#[tokio::test]
async fn without_a_token_nothing_is_asked() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let env = with_api(env_fixture("gitlab-branch.env"), &server.uri());
    let mut report =
        provider().current_run(&env, &RunOverrides::default(), at("2026-11-26T10:00:00Z"));
    let before = report.clone();
    let only_job_token = ApiCredentials {
        github_token: Some(Secret::new("ghp_other")),
        ..ApiCredentials::default()
    };
    provider()
        .fetch_timings(&mut report, &env, &only_job_token)
        .await;
    crate::ci::fixtures::assert_valid(&report);
    assert_eq!(report, before);
}

#[tokio::test]
async fn api_faults_give_one_warning_and_keep_env_data() {
    check_faults(
        &provider(),
        |uri| with_api(env_fixture("gitlab-branch.env"), uri),
        &creds(),
        TOKEN,
        || jobs_route("1", "6"),
        "/api/v4/projects/1/pipelines/6/jobs?per_page=100&include_retried=true",
        at("2015-12-24T17:55:00Z"),
    )
    .await;
}
