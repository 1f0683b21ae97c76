//! The previous run from each CI's API, against mock servers serving the vendors' documented
//! samples (`tests/fixtures/api/…`, see its MANIFEST). Where a sample has no run that passed
//! or failed, the test derives one from it in code (and says so), changing only the fields
//! named.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::ci::fixtures::{api_fixture, at};
use crate::ci::{detect_with, ApiCredentials, Env, ProviderChoice, RunOverrides};
use crate::http::{HttpConfig, Secret};
use crate::model::{RunOutcome, RunReport};

const TOKEN: &str = "cimonPreviousRunToken0123456789";

fn http() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_millis(800),
        ..HttpConfig::default()
    }
}

fn sample(path: &str) -> Value {
    serde_json::from_str(&api_fixture(path)).unwrap()
}

/// The previous outcome for the run described by `pairs`, as the provider `choice` reads it.
async fn previous(
    choice: ProviderChoice,
    pairs: &[(&str, String)],
    creds: &ApiCredentials,
) -> (
    RunReport,
    Result<Option<RunOutcome>, crate::http::HttpError>,
) {
    let env = Env::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    let provider = detect_with(&env, choice, http());
    let report = provider.current_run(&env, &RunOverrides::default(), at("2026-11-26T10:00:00Z"));
    let result = provider.previous_outcome(&report, &env, creds).await;
    (report, result)
}

fn github_env(api: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GITHUB_ACTIONS", "true".into()),
        ("GITHUB_API_URL", api.into()),
        ("GITHUB_REPOSITORY", "octo-org/octo-repo".into()),
        ("GITHUB_RUN_ID", "30433642".into()),
        ("GITHUB_REF", "refs/heads/main".into()),
        ("GITHUB_REF_NAME", "main".into()),
        (
            "GITHUB_WORKFLOW_REF",
            "octo-org/octo-repo/.github/workflows/build.yml@refs/heads/main".into(),
        ),
    ]
}

fn github_creds() -> ApiCredentials {
    ApiCredentials {
        github_token: Some(Secret::new(TOKEN)),
        ..ApiCredentials::default()
    }
}

/// The documented request: the workflow file, the branch, completed runs, the bearer token.
async fn github_route(server: &MockServer, body: Value) {
    Mock::given(method("GET"))
        .and(path(
            "/repos/octo-org/octo-repo/actions/workflows/build.yml/runs",
        ))
        .and(query_param("branch", "main"))
        .and(query_param("status", "completed"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn github_reads_the_workflows_previous_completed_run() {
    // As served, the documented page holds one queued run: nothing completed to compare with.
    let server = MockServer::start().await;
    let page = sample("github/rest-openapi-examples/workflow-run-paginated.json");
    github_route(&server, page.clone()).await;
    let env = github_env(&server.uri());
    let (_, got) = previous(ProviderChoice::Github, &env, &github_creds()).await;
    assert_eq!(got.unwrap(), None);

    // Derived from the sample: the current run (skipped), a cancelled run (passed over), then
    // a failed one — the previous outcome is the failure.
    let server = MockServer::start().await;
    let run = page["workflow_runs"][0].clone();
    let with = |id: u64, conclusion: &str| {
        let mut r = run.clone();
        r["id"] = json!(id);
        r["status"] = json!("completed");
        r["conclusion"] = json!(conclusion);
        r
    };
    let derived = json!({"total_count": 3, "workflow_runs": [
        with(30433642, "success"), with(30433600, "cancelled"), with(30433500, "failure"),
    ]});
    github_route(&server, derived).await;
    let env = github_env(&server.uri());
    let (_, got) = previous(ProviderChoice::Github, &env, &github_creds()).await;
    assert_eq!(got.unwrap(), Some(RunOutcome::Failure));
}

#[tokio::test]
async fn gitlab_reads_the_refs_previous_pipeline() {
    let pipelines = sample("gitlab/gitlab-docs/pipelines.list-project-pipelines.json");
    let serve = |body: Value| async move {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v4/projects/1/pipelines"))
            .and(query_param("ref", "new-pipeline"))
            .and(query_param("order_by", "id"))
            .and(query_param("sort", "desc"))
            .and(header("private-token", TOKEN))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
            .mount(&server)
            .await;
        server
    };
    let env = |api: &str| {
        vec![
            ("GITLAB_CI", "true".to_owned()),
            ("CI_API_V4_URL", format!("{api}/api/v4")),
            ("CI_PROJECT_ID", "1".into()),
            ("CI_PIPELINE_ID", "48".into()),
            ("CI_COMMIT_REF_NAME", "new-pipeline".into()),
        ]
    };
    let creds = ApiCredentials {
        gitlab_token: Some(Secret::new(TOKEN)),
        ..ApiCredentials::default()
    };
    // As documented: 48 is the current pipeline, 47 is still pending — nothing to compare.
    let server = serve(pipelines.clone()).await;
    let (_, got) = previous(ProviderChoice::Gitlab, &env(&server.uri()), &creds).await;
    assert_eq!(got.unwrap(), None);
    // Derived: pipeline 47 succeeded; 48 (the current one) failed and is skipped.
    let mut derived = pipelines.clone();
    derived[0]["status"] = json!("success");
    derived[1]["status"] = json!("failed");
    let server = serve(derived).await;
    let (_, got) = previous(ProviderChoice::Gitlab, &env(&server.uri()), &creds).await;
    assert_eq!(got.unwrap(), Some(RunOutcome::Success));
}

#[tokio::test]
async fn jenkins_follows_previous_build_to_a_completed_one() {
    let server = MockServer::start().await;
    let info = sample("jenkins/jenkins-rest/src/test/resources/build-info.json");
    let mount = |n: u32, body: Value| {
        Mock::given(method("GET"))
            .and(path(format!("/job/fish/{n}/api/json")))
            .and(query_param("tree", "building,result,previousBuild[number]"))
            // Basic auth of `ci:TOKEN`.
            .and(header(
                "authorization",
                format!(
                    "Basic {}",
                    base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        format!("ci:{TOKEN}")
                    )
                )
                .as_str(),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1)
    };
    // Derived: the current build 12 points at 11, which was aborted and points at 10; build
    // 10 is the sample as published (SUCCESS, not building).
    let mut current = info.clone();
    current["building"] = json!(true);
    current["previousBuild"] =
        json!({"number": 11, "url": "http://elsewhere.example/job/fish/11/"});
    let mut aborted = info.clone();
    aborted["result"] = json!("ABORTED");
    aborted["previousBuild"] = json!({"number": 10});
    mount(12, current).mount(&server).await;
    mount(11, aborted).mount(&server).await;
    mount(10, info).mount(&server).await;
    let env = vec![
        ("JENKINS_URL", format!("{}/", server.uri())),
        ("BUILD_URL", format!("{}/job/fish/12/", server.uri())),
    ];
    let creds = ApiCredentials {
        jenkins_user: Some("ci".into()),
        jenkins_token: Some(Secret::new(TOKEN)),
        ..ApiCredentials::default()
    };
    let (_, got) = previous(ProviderChoice::Jenkins, &env, &creds).await;
    assert_eq!(got.unwrap(), Some(RunOutcome::Success));
}

#[tokio::test]
async fn api_faults_are_one_warning_without_the_token_and_no_previous_state() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string(format!("token {TOKEN} rejected")))
        .mount(&server)
        .await;
    let mut pairs = github_env(&server.uri());
    pairs.push(("GITHUB_TOKEN", TOKEN.into()));
    let env = Env::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    let provider = detect_with(&env, ProviderChoice::Github, http());
    let report = provider.current_run(&env, &RunOverrides::default(), at("2026-11-26T10:00:00Z"));
    let (previous, warning) = crate::commands::notify::previous_from_api(&report, &env).await;
    assert_eq!(previous, None);
    let warning = warning.expect("one warning");
    assert!(
        warning.contains("cannot read the previous run from the github API"),
        "{warning}"
    );
    assert!(warning.contains("500"), "{warning}");
    assert!(!warning.contains(TOKEN), "{warning}");
    // Without a token nothing is asked and nothing is said.
    let bare: Vec<(&str, String)> = github_env(&server.uri());
    let env = Env::from_pairs(bare.iter().map(|(k, v)| (*k, v.as_str())));
    assert_eq!(
        crate::commands::notify::previous_from_api(&report, &env).await,
        (None, None)
    );
}
