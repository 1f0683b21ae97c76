use std::time::Duration;

use wiremock::matchers::{basic_auth, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use super::*;
use crate::ci::fixtures::{api_fixture, at, check_faults, env_fixture, Identity};

const USER: &str = "jenkins-bot";
const TOKEN: &str = "11cimonTestApiToken0123456789abcd";

fn creds() -> ApiCredentials {
    ApiCredentials {
        jenkins_user: Some(USER.into()),
        jenkins_token: Some(Secret::new(TOKEN)),
        ..ApiCredentials::default()
    }
}

fn provider() -> Jenkins {
    Jenkins::new(HttpConfig {
        timeout: Duration::from_millis(500),
        ..HttpConfig::default()
    })
}

/// The documented requests: GET with basic auth; `api/json` with the `tree` cimon needs.
fn build_route() -> MockBuilder {
    Mock::given(method("GET"))
        .and(path("/job/fish/10/api/json"))
        .and(query_param("tree", BUILD_TREE))
        .and(basic_auth(USER, TOKEN))
}

fn describe_route() -> MockBuilder {
    Mock::given(method("GET"))
        .and(path("/job/fish/10/wfapi/describe"))
        .and(basic_auth(USER, TOKEN))
}

fn env_for(uri: &str) -> Env {
    env_fixture("jenkins-freestyle.env").with("BUILD_URL", &format!("{uri}/job/fish/10/"))
}

fn ok(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_string(body)
}

#[test]
fn env_fixtures_give_the_expected_identity() {
    let now = at("2026-11-26T10:00:00Z");
    let table = [
        (
            "jenkins-freestyle.env",
            Identity {
                key: "jenkins/octo/app/folder%2Fapp-build/42/1/app-build",
                repository: Some("octo/app"),
                workflow: Some("folder/app-build"),
                job: Some("app-build"),
                run_id: Some("42"),
                run_attempt: 1,
                run_number: Some(42),
                url: Some("https://jenkins.example.com/job/folder/job/app-build/42/"),
                sha: Some("d27afa0805201322d846d7defc29b82c88d9b5ce"),
                branch: Some("main"),
                git_ref: Some("refs/heads/main"),
                ..Identity::default()
            },
        ),
        (
            "jenkins-multibranch-pr.env",
            Identity {
                key: "jenkins/octo/app/octo%2Fapp/3/1/PR-7",
                repository: Some("octo/app"),
                workflow: Some("octo/app"),
                job: Some("PR-7"),
                run_id: Some("3"),
                run_attempt: 1,
                run_number: Some(3),
                url: Some("https://jenkins.example.com/job/octo/job/app/job/PR-7/3/"),
                event: Some("pull_request"),
                actor: Some("alice"),
                sha: Some("5555aaaa5555aaaa5555aaaa5555aaaa5555aaaa"),
                branch: Some("feature/login"),
                pull_request: Some(7),
                base_branch: Some("main"),
                ..Identity::default()
            },
        ),
    ];
    for (file, want) in table {
        let report =
            Jenkins::default().current_run(&env_fixture(file), &RunOverrides::default(), now);
        want.check(file, &report);
        assert!(report.warnings.is_empty(), "{file}: {:?}", report.warnings);
        assert_eq!(
            (report.started_at, report.duration_ms),
            (None, None),
            "{file}"
        );
    }

    // A multibranch tag build, and `currentBuild.currentResult` as --status.
    let env = env_fixture("jenkins-multibranch-pr.env")
        .with("CHANGE_ID", "")
        .with("BRANCH_NAME", "v2.0.0")
        .with("JOB_NAME", "octo/app/v2.0.0")
        .with("JOB_BASE_NAME", "v2.0.0")
        .with("TAG_NAME", "v2.0.0");
    let flags = RunOverrides {
        status: Some("UNSTABLE".into()),
        ..RunOverrides::default()
    };
    let report = Jenkins::default().current_run(&env, &flags, now);
    assert_eq!(report.commit.tag.as_deref(), Some("v2.0.0"));
    assert_eq!(report.commit.branch, None);
    assert_eq!(report.commit.git_ref.as_deref(), Some("refs/tags/v2.0.0"));
    assert_eq!(report.event.as_deref(), Some("tag"));
    assert_eq!(report.workflow.as_deref(), Some("octo/app"));
    assert_eq!(report.outcome, RunOutcome::Failure);
}

#[tokio::test]
async fn build_and_stages_from_the_api() {
    let server = MockServer::start().await;
    build_route()
        .respond_with(ok(api_fixture(
            "jenkins/jenkins-rest/src/test/resources/build-info.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    describe_route()
        .respond_with(ok(api_fixture(
            "jenkins/jenkins-rest/src/test/resources/workflow.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let env = env_for(&server.uri());
    let provider = provider();
    let mut report =
        provider.current_run(&env, &RunOverrides::default(), at("2016-04-19T18:55:00Z"));
    provider.fetch_timings(&mut report, &env, &creds()).await;
    crate::ci::fixtures::assert_valid(&report);

    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    // timestamp 1461091892486, duration 60750, building false, result SUCCESS.
    assert_eq!(report.started_at, Some(at("2016-04-19T18:51:32.486Z")));
    assert_eq!(report.finished_at, at("2016-04-19T18:52:33.236Z"));
    assert_eq!(report.duration_ms, Some(60_750));
    assert_eq!(report.queued_ms, None);
    assert_eq!(report.outcome, RunOutcome::Success);
    assert_eq!(report.sources.get("outcome"), Some(&DataSource::Api));
    assert_eq!(report.sources.get("timings"), Some(&DataSource::Api));
    assert_eq!(report.sources.get("steps"), Some(&DataSource::Api));
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
                "Build",
                RunOutcome::Success,
                Some(at("2014-10-16T12:07:55.770Z")),
                Some(at("2014-10-16T12:08:00.998Z")),
                Some(5_228),
            ),
            (
                "Test",
                RunOutcome::Success,
                Some(at("2014-10-16T12:08:00.998Z")),
                Some(at("2014-10-16T12:08:05.992Z")),
                Some(4_994),
            ),
            // PAUSED_PENDING_INPUT: started, not finished.
            (
                "Deploy",
                RunOutcome::Unknown,
                Some(at("2014-10-16T12:08:05.992Z")),
                None,
                None
            ),
        ]
    );
}

#[tokio::test]
async fn failed_stages_and_the_status_flag() {
    let server = MockServer::start().await;
    build_route()
        .respond_with(ok(api_fixture(
            "jenkins/jenkins-rest/src/test/resources/build-info.json",
        )))
        .mount(&server)
        .await;
    // The first run of the plugin's `/wfapi/runs` sample, served as that run's `describe`.
    let runs: serde_json::Value = serde_json::from_str(&api_fixture(
        "jenkins/pipeline-stage-view-plugin/ui/src/test/resources/model/runs_stage_grouped/getModelData/04_rest_api_runs_failed.json",
    ))
    .unwrap();
    describe_route()
        .respond_with(ok(runs[0].to_string()))
        .mount(&server)
        .await;
    let env = env_for(&server.uri());
    let flags = RunOverrides {
        status: Some("FAILURE".into()),
        ..RunOverrides::default()
    };
    let provider = provider();
    let mut report = provider.current_run(&env, &flags, at("2016-04-19T18:55:00Z"));
    provider.fetch_timings(&mut report, &env, &creds()).await;
    crate::ci::fixtures::assert_valid(&report);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(
        report.outcome,
        RunOutcome::Failure,
        "--status wins over result SUCCESS"
    );
    assert_eq!(report.sources.get("outcome"), Some(&DataSource::Flag));
    let steps: Vec<_> = report
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.outcome, s.started_at, s.duration_ms))
        .collect();
    assert_eq!(
        steps,
        [
            (
                "Dev",
                RunOutcome::Success,
                Some(at("2014-10-26T10:12:29.991Z")),
                Some(3_018)
            ),
            (
                "QA",
                RunOutcome::Success,
                Some(at("2014-10-26T10:12:33.009Z")),
                Some(35_788)
            ),
            (
                "Staging",
                RunOutcome::Failure,
                Some(at("2014-10-26T10:13:08.797Z")),
                Some(300)
            ),
        ]
    );
}

#[tokio::test]
async fn freestyle_builds_have_no_stages_and_running_builds_a_queue_time() {
    let server = MockServer::start().await;
    // Inline body: the samples carry no `queuingDurationMillis` (the metrics plugin's field).
    let running = r#"{"_class": "hudson.model.FreeStyleBuild", "building": true,
        "duration": 0, "queueId": 7, "result": null, "timestamp": 1764150000000,
        "actions": [{"_class": "hudson.model.CauseAction"}, {}, null,
                    {"_class": "jenkins.metrics.impl.TimeInQueueAction", "queuingDurationMillis": 4213}]}"#;
    build_route()
        .respond_with(ok(running.into()))
        .mount(&server)
        .await;
    describe_route()
        .respond_with(ResponseTemplate::new(404).set_body_string("<html>Not Found</html>"))
        .expect(1)
        .mount(&server)
        .await;
    let env = env_for(&server.uri());
    let now = at("2025-11-26T10:00:00Z");
    let provider = provider();
    let mut report = provider.current_run(&env, &RunOverrides::default(), now);
    provider.fetch_timings(&mut report, &env, &creds()).await;
    crate::ci::fixtures::assert_valid(&report);
    assert!(
        report.warnings.is_empty(),
        "a 404 on wfapi is no failure: {:?}",
        report.warnings
    );
    assert_eq!(report.started_at, Some(at("2025-11-26T09:40:00Z")));
    assert_eq!(
        (report.finished_at, report.duration_ms),
        (now, Some(1_200_000))
    );
    assert_eq!(report.queued_ms, Some(4_213));
    assert_eq!(report.sources.get("queue"), Some(&DataSource::Api));
    assert_eq!(
        report.outcome,
        RunOutcome::Unknown,
        "a running build has no result"
    );
    assert!(report.steps.is_empty());
    assert_eq!(report.sources.get("steps"), None);
}

#[tokio::test]
async fn a_failing_wfapi_is_one_warning_after_the_build_data() {
    let server = MockServer::start().await;
    build_route()
        .respond_with(ok(api_fixture(
            "jenkins/jenkins-rest/src/test/resources/build-info-no-params.json",
        )))
        .mount(&server)
        .await;
    describe_route()
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let env = env_for(&server.uri());
    let provider = provider();
    let mut report =
        provider.current_run(&env, &RunOverrides::default(), at("2016-04-19T18:55:00Z"));
    provider.fetch_timings(&mut report, &env, &creds()).await;
    crate::ci::fixtures::assert_valid(&report);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains("/job/fish/10/wfapi/describe: HTTP 500"),
        "{}",
        report.warnings[0]
    );
    assert_eq!(report.duration_ms, Some(60_750));
    assert!(report.steps.is_empty());
}

#[tokio::test]
async fn without_user_and_token_nothing_is_asked() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let env = env_for(&server.uri());
    let mut report =
        provider().current_run(&env, &RunOverrides::default(), at("2026-11-26T10:00:00Z"));
    let before = report.clone();
    let token_only = ApiCredentials {
        jenkins_token: Some(Secret::new(TOKEN)),
        ..ApiCredentials::default()
    };
    provider()
        .fetch_timings(&mut report, &env, &token_only)
        .await;
    crate::ci::fixtures::assert_valid(&report);
    assert_eq!(report, before);
}

#[tokio::test]
async fn api_faults_give_one_warning_and_keep_env_data() {
    check_faults(
        &provider(),
        env_for,
        &creds(),
        TOKEN,
        build_route,
        "/job/fish/10/api/json?tree=timestamp,duration,result,building,queueId,actions[_class,queuingDurationMillis]",
        at("2016-04-19T18:55:00Z"),
    )
    .await;
}
