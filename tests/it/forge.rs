//! Publishing on forges against mock servers: the exact requests GitHub and GitLab document
//! (method, path, headers, JSON bodies), annotation batching, output caps, the commit-status
//! fallback, the sticky comment (found across pages, updated or created), the fork notice,
//! retries and the warning/strict split. Answers are the vendors' documented examples
//! (`tests/fixtures/api/…`, see its MANIFEST); where a test changes a field, it says so.

use std::time::Duration;

use cimon::ci::{credentials_from_env, Env};
use cimon::delivery::RetryPolicy;
use cimon::forge::{
    forge_from_env, publish, Annotation, AnnotationLevel, CheckReport, Comment, CommentOutcome,
    Conclusion, ErrorKind, Forge, ForgeSettings, Github, Gitlab, Published,
};
use cimon::http::{HttpConfig, Secret, USER_AGENT};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::common::fixture;

const SHA: &str = "ce587453ced02b1526dfb4cb910479d431683101";
const APP_TOKEN: &str = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";
const PAT: &str = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
const GITLAB_TOKEN: &str = "glpat-cimon-test-token";

fn api_fixture(rel: &str) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("api/{rel}"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn settings() -> ForgeSettings {
    ForgeSettings {
        http: HttpConfig::default(),
        retry: RetryPolicy {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
            deadline: Duration::from_secs(10),
            max_attempts: 4,
        },
    }
}

fn github(server: &MockServer, token: &str) -> Github {
    Github::new(&server.uri(), "octo/app", Secret::new(token), settings())
}

/// Every GitHub request carries exactly these headers.
fn github_headers(mock: wiremock::MockBuilder, token: &str) -> wiremock::MockBuilder {
    mock.and(header("authorization", format!("Bearer {token}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .and(header("user-agent", USER_AGENT))
}

fn annotation(i: u32) -> Annotation {
    Annotation {
        path: format!("tests/test_{i}.py"),
        start_line: i + 1,
        end_line: i + 2,
        level: if i.is_multiple_of(2) {
            AnnotationLevel::Warning
        } else {
            AnnotationLevel::Failure
        },
        title: Some(format!("flaky: test_{i}")),
        message: format!("test_{i} flipped 3 times in 50 runs"),
        raw_details: (i == 0).then(|| "trace".to_owned()),
    }
}

/// The annotation as GitHub documents it (built independently of the code under test).
fn annotation_wire(i: u32) -> Value {
    let mut v = json!({
        "path": format!("tests/test_{i}.py"),
        "start_line": i + 1,
        "end_line": i + 2,
        "annotation_level": if i.is_multiple_of(2) { "warning" } else { "failure" },
        "title": format!("flaky: test_{i}"),
        "message": format!("test_{i} flipped 3 times in 50 runs"),
    });
    if i == 0 {
        v["raw_details"] = json!("trace");
    }
    v
}

fn check(annotations: u32) -> CheckReport {
    let mut check = CheckReport::new(
        SHA,
        Conclusion::Failure,
        "2 flaky tests over the threshold",
        "## Verdict: fail\n| test | flip rate |\n|---|---|\n| `a` | 0.2 |\n",
    );
    check.text = Some("details".into());
    check.details_url = Some("https://github.com/octo/app/actions/runs/1/attempts/1".into());
    check.annotations = (0..annotations).map(annotation).collect();
    check
}

async fn requests(server: &MockServer, verb: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == verb)
        .collect()
}

fn json_body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test]
async fn check_run_with_120_annotations_is_one_post_and_two_patches_on_ghes() {
    let server = MockServer::start().await;
    // GHES: the API lives under /api/v3 on the enterprise host.
    github_headers(
        Mock::given(method("POST")).and(path("/api/v3/repos/octo/app/check-runs")),
        APP_TOKEN,
    )
    .respond_with(
        ResponseTemplate::new(201)
            .set_body_json(api_fixture("github/rest-openapi-examples/check-run.json")),
    )
    .expect(1)
    .mount(&server)
    .await;
    // `check-run.json` has `id: 4`.
    github_headers(
        Mock::given(method("PATCH")).and(path("/api/v3/repos/octo/app/check-runs/4")),
        APP_TOKEN,
    )
    .respond_with(
        ResponseTemplate::new(200)
            .set_body_json(api_fixture("github/rest-openapi-examples/check-run.json")),
    )
    .expect(2)
    .mount(&server)
    .await;

    let api = format!("{}/api/v3", server.uri());
    let env = Env::from_pairs([
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "octo/app"),
        ("GITHUB_API_URL", api.as_str()),
        ("GITHUB_TOKEN", APP_TOKEN),
    ]);
    let forge = forge_from_env(&env, &credentials_from_env(&env), &settings()).unwrap();
    assert_eq!(forge.kind(), "github");
    let published = forge.publish_check(&check(120)).await.unwrap();
    assert_eq!(
        published,
        Published::CheckRun {
            id: 4,
            requests: 3,
            annotations: 120,
            omitted_annotations: 0
        }
    );

    let output = |from: u32, to: u32| {
        json!({
            "title": "2 flaky tests over the threshold",
            "summary": "## Verdict: fail\n| test | flip rate |\n|---|---|\n| `a` | 0.2 |\n",
            "text": "details",
            "annotations": (from..to).map(annotation_wire).collect::<Vec<_>>(),
        })
    };
    let posts = requests(&server, "POST").await;
    assert_eq!(posts.len(), 1);
    assert_eq!(
        json_body(&posts[0]),
        json!({
            "name": "cimon / flakiness",
            "head_sha": SHA,
            "status": "completed",
            "conclusion": "failure",
            "details_url": "https://github.com/octo/app/actions/runs/1/attempts/1",
            "output": output(0, 50),
        })
    );
    assert_eq!(posts[0].headers.get_all("user-agent").iter().count(), 1);
    assert_eq!(posts[0].headers["content-type"], "application/json");
    let patches = requests(&server, "PATCH").await;
    let bodies: Vec<Value> = patches.iter().map(json_body).collect();
    assert_eq!(
        bodies,
        vec![
            json!({ "output": output(50, 100) }),
            json!({ "output": output(100, 120) }),
        ]
    );
}

#[tokio::test]
async fn summary_and_text_over_65535_bytes_are_truncated_with_a_notice() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/check-runs"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(api_fixture("github/rest-openapi-examples/check-run.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut report = check(0);
    let mut summary = String::from("| test | flip rate |\n|---|---|\n");
    for i in 0..4_000 {
        summary.push_str(&format!("| `tests::flaky_{i}` — ünïcode | 0.{i} |\n"));
    }
    assert!(summary.len() > 100_000);
    report.summary = summary.clone();
    report.text = Some("界".repeat(30_000)); // 90 000 bytes, no line break
    github(&server, APP_TOKEN)
        .publish_check(&report)
        .await
        .unwrap();

    let body = json_body(&requests(&server, "POST").await[0]);
    let sent = body["output"]["summary"].as_str().unwrap();
    assert!(sent.len() <= 65_535, "{}", sent.len());
    let (kept, notice) = sent.split_once("\n\n---\n").unwrap();
    assert!(summary.starts_with(kept));
    assert!(kept.lines().all(|l| l.starts_with('|') && l.ends_with('|')));
    assert!(kept.len() > 60_000, "{}", kept.len());
    assert!(
        notice.contains(&format!("of {} bytes shown", summary.len())),
        "{notice}"
    );
    let text = body["output"]["text"].as_str().unwrap();
    assert!(text.len() <= 65_535);
    let (kept, _) = text.split_once("\n\n---\n").unwrap();
    assert!(kept.chars().all(|c| c == '界') && kept.len() > 60_000);
}

#[tokio::test]
async fn forbidden_check_run_falls_back_to_a_commit_status() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/check-runs"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/checks/runs#create-a-check-run",
            "status": "403"
        })))
        .expect(1) // a 403 is not retried
        .mount(&server)
        .await;
    github_headers(
        Mock::given(method("POST")).and(path(format!("/repos/octo/app/statuses/{SHA}"))),
        APP_TOKEN,
    )
    .respond_with(
        ResponseTemplate::new(201)
            .set_body_json(api_fixture("github/rest-openapi-examples/status.json")),
    )
    .expect(1)
    .mount(&server)
    .await;

    let mut report = check(3);
    report.title = format!(
        "{} — {}",
        "2 flaky tests over the threshold",
        "x".repeat(200)
    );
    let published = github(&server, APP_TOKEN)
        .publish_check(&report)
        .await
        .unwrap();
    let Published::CommitStatus {
        fallback_reason: Some(reason),
    } = published
    else {
        panic!("{published:?}")
    };
    assert!(
        reason.contains("Resource not accessible by integration"),
        "{reason}"
    );

    let posts = requests(&server, "POST").await;
    let status = json_body(posts.last().unwrap());
    let description = status["description"].as_str().unwrap();
    assert_eq!(description.chars().count(), 140);
    assert!(
        description.starts_with("2 flaky tests over the threshold — xxx")
            && description.ends_with('…')
    );
    assert_eq!(
        status,
        json!({
            "state": "failure",
            "context": "cimon / flakiness",
            "description": description,
            "target_url": "https://github.com/octo/app/actions/runs/1/attempts/1",
        })
    );
}

#[tokio::test]
async fn a_personal_access_token_goes_straight_to_a_commit_status() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/check-runs"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;
    github_headers(
        Mock::given(method("POST")).and(path(format!("/repos/octo/app/statuses/{SHA}"))),
        PAT,
    )
    .respond_with(
        ResponseTemplate::new(201)
            .set_body_json(api_fixture("github/rest-openapi-examples/status.json")),
    )
    .expect(1)
    .mount(&server)
    .await;
    let mut report = check(0);
    report.conclusion = Conclusion::Neutral;
    report.details_url = None;
    let published = github(&server, PAT).publish_check(&report).await.unwrap();
    assert!(matches!(
        published,
        Published::CommitStatus {
            fallback_reason: Some(_)
        }
    ));
    let status = json_body(&requests(&server, "POST").await[0]);
    assert_eq!(
        status,
        json!({
            "state": "success",
            "context": "cimon / flakiness",
            "description": "2 flaky tests over the threshold",
        })
    );
}

/// Page 1 of the comments (the documented list, no marker), linking to page 2.
async fn mount_comment_pages(server: &MockServer, page2: Value) {
    let next = format!(
        "<{}/repos/octo/app/issues/7/comments?per_page=100&page=2>; rel=\"next\", <{}/repos/octo/app/issues/7/comments?per_page=100&page=2>; rel=\"last\"",
        server.uri(),
        server.uri()
    );
    github_headers(
        Mock::given(method("GET"))
            .and(path("/repos/octo/app/issues/7/comments"))
            .and(query_param("per_page", "100"))
            .and(query_param_is_missing("page")),
        APP_TOKEN,
    )
    .respond_with(
        ResponseTemplate::new(200)
            .insert_header("link", next.as_str())
            .set_body_json(api_fixture(
                "github/rest-openapi-examples/issue-comment-items.json",
            )),
    )
    .expect(1)
    .mount(server)
    .await;
    github_headers(
        Mock::given(method("GET"))
            .and(path("/repos/octo/app/issues/7/comments"))
            .and(query_param("page", "2")),
        APP_TOKEN,
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(page2))
    .expect(1)
    .mount(server)
    .await;
}

fn comment() -> Comment {
    Comment {
        marker: "flakiness".into(),
        body: "### cimon: fail\n2 flaky tests".into(),
    }
}

#[tokio::test]
async fn sticky_comment_found_on_page_2_is_updated() {
    let server = MockServer::start().await;
    // Page 2: the documented comment, changed to be ours (id 99, body with the marker).
    let mut ours = api_fixture("github/rest-openapi-examples/issue-comment.json");
    ours["id"] = json!(99);
    ours["body"] = json!("<!-- cimon:flakiness -->\nold verdict");
    let other = api_fixture("github/rest-openapi-examples/issue-comment.json");
    mount_comment_pages(&server, json!([other, ours])).await;
    github_headers(
        Mock::given(method("PATCH")).and(path("/repos/octo/app/issues/comments/99")),
        APP_TOKEN,
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(api_fixture(
        "github/rest-openapi-examples/issue-comment.json",
    )))
    .expect(1)
    .mount(&server)
    .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .expect(0)
        .mount(&server)
        .await;

    let outcome = github(&server, APP_TOKEN)
        .upsert_comment(7, &comment())
        .await
        .unwrap();
    assert_eq!(outcome, CommentOutcome::Updated { id: 99 });
    let patch = json_body(&requests(&server, "PATCH").await[0]);
    assert_eq!(
        patch,
        json!({ "body": "<!-- cimon:flakiness -->\n### cimon: fail\n2 flaky tests" })
    );
}

#[tokio::test]
async fn sticky_comment_is_created_when_absent() {
    let server = MockServer::start().await;
    mount_comment_pages(
        &server,
        api_fixture("github/rest-openapi-examples/issue-comment-items.json"),
    )
    .await;
    github_headers(
        Mock::given(method("POST")).and(path("/repos/octo/app/issues/7/comments")),
        APP_TOKEN,
    )
    .respond_with(ResponseTemplate::new(201).set_body_json(api_fixture(
        "github/rest-openapi-examples/issue-comment.json",
    )))
    .expect(1)
    .mount(&server)
    .await;
    let mut long = comment();
    long.body = "| t | r |\n|---|---|\n".to_owned() + &"| x | 1 |\n".repeat(10_000);
    let outcome = github(&server, APP_TOKEN)
        .upsert_comment(7, &long)
        .await
        .unwrap();
    // `issue-comment.json` has `id: 1`.
    assert_eq!(outcome, CommentOutcome::Created { id: 1 });
    let body = json_body(&requests(&server, "POST").await[0]);
    let body = body["body"].as_str().unwrap();
    assert!(body.len() <= 65_536);
    assert!(body.starts_with("<!-- cimon:flakiness -->\n| t | r |\n"));
    assert!(body.contains("Truncated by cimon"));
}

#[tokio::test]
async fn fork_pull_request_read_only_token_gives_a_notice_not_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/app/issues/7/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(api_fixture(
            "github/rest-openapi-examples/issue-comment-items.json",
        )))
        .mount(&server)
        .await;
    let forbidden = ResponseTemplate::new(403).set_body_json(json!({
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest"
    }));
    Mock::given(method("POST"))
        .respond_with(forbidden)
        .expect(3) // check run, status fallback, comment: none retried
        .mount(&server)
        .await;

    let forge = github(&server, APP_TOKEN);
    let outcome = forge.upsert_comment(7, &comment()).await.unwrap();
    let CommentOutcome::Skipped { notice } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(!notice.contains('\n'));
    assert!(
        notice.contains("pull request #7") && notice.contains("read-only"),
        "{notice}"
    );

    // Through `publish`, strict: the check's 403 is an error; the comment never is.
    let err = publish(&forge, &check(0), None, true).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permission);
    assert_eq!(err.status, Some(403));
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_announced_wait() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/check-runs"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "1")
                .set_body_json(json!({
                    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                })),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/check-runs"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(api_fixture("github/rest-openapi-examples/check-run.json")),
        )
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let published = github(&server, APP_TOKEN)
        .publish_check(&check(1))
        .await
        .unwrap();
    assert!(matches!(published, Published::CheckRun { id: 4, .. }));
    assert_eq!(requests(&server, "POST").await.len(), 2);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn failures_are_one_warning_unless_strict_and_never_show_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest"
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&server)
        .await;
    let forge = github(&server, APP_TOKEN);

    let report = publish(&forge, &check(0), Some((7, &comment())), false)
        .await
        .unwrap();
    assert!(report.check.is_none() && report.comment.is_none());
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains("not found (HTTP 404)"),
        "{}",
        report.warnings[0]
    );
    assert!(
        report.warnings[1].contains("HTTP 500"),
        "{}",
        report.warnings[1]
    );
    for w in &report.warnings {
        assert!(!w.contains(APP_TOKEN), "{w}");
    }
    // 5xx is retried: the GET was tried more than once (4 attempts at most).
    let gets = requests(&server, "GET").await.len();
    assert!((2..=4).contains(&gets), "{gets}");

    let err = publish(&forge, &check(0), None, true).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.to_string().starts_with(&format!(
        "POST {}/repos/octo/app/check-runs: not found",
        server.uri()
    )));
}

fn gitlab(server: &MockServer, project: &str) -> Gitlab {
    Gitlab::new(
        &format!("{}/api/v4", server.uri()),
        project,
        Secret::new(GITLAB_TOKEN),
        settings(),
    )
}

#[tokio::test]
async fn gitlab_commit_status_from_the_ci_environment() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v4/projects/1234/statuses/{SHA}")))
        .and(header("private-token", GITLAB_TOKEN))
        .and(header("user-agent", USER_AGENT))
        .and(header("content-type", "application/json"))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(201).set_body_json(api_fixture(
            "gitlab/narkoz-gitlab/spec/fixtures/project_update_commit_status.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let api = format!("{}/api/v4", server.uri());
    let env = Env::from_pairs([
        ("GITLAB_CI", "true"),
        ("CI_PROJECT_ID", "1234"),
        ("CI_API_V4_URL", api.as_str()),
        ("CI_PIPELINE_ID", "6"),
        ("CIMON_GITLAB_TOKEN", GITLAB_TOKEN),
    ]);
    let forge = forge_from_env(&env, &credentials_from_env(&env), &settings()).unwrap();
    assert_eq!(forge.kind(), "gitlab");
    let published = forge.publish_check(&check(5)).await.unwrap();
    assert_eq!(
        published,
        Published::CommitStatus {
            fallback_reason: None
        }
    );
    let body = json_body(&requests(&server, "POST").await[0]);
    assert_eq!(
        body,
        json!({
            "state": "failed",
            "name": "cimon / flakiness",
            "description": "2 flaky tests over the threshold",
            "target_url": "https://github.com/octo/app/actions/runs/1/attempts/1",
            "pipeline_id": 6,
        })
    );
}

#[tokio::test]
async fn gitlab_note_found_on_page_2_is_updated_else_created() {
    let server = MockServer::start().await;
    let notes = "/api/v4/projects/group%2Fapp/merge_requests/3/notes";
    Mock::given(method("GET"))
        .and(path(notes))
        .and(header("private-token", GITLAB_TOKEN))
        .and(query_param("per_page", "100"))
        .and(query_param("sort", "asc"))
        .and(query_param("order_by", "created_at"))
        .and(query_param_is_missing("page"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-next-page", "2")
                .set_body_json(api_fixture("gitlab/narkoz-gitlab/spec/fixtures/notes.json")),
        )
        .mount(&server)
        .await;
    // Page 2: the documented note list, the second note changed to carry our marker.
    let mut page2 = api_fixture("gitlab/narkoz-gitlab/spec/fixtures/notes.json");
    page2[1]["body"] = json!("<!-- cimon:flakiness -->\nold");
    Mock::given(method("GET"))
        .and(path(notes))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-next-page", "")
                .set_body_json(page2),
        )
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{notes}/1207")))
        .and(header("private-token", GITLAB_TOKEN))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(api_fixture("gitlab/narkoz-gitlab/spec/fixtures/note.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let outcome = gitlab(&server, "group/app")
        .upsert_comment(3, &comment())
        .await
        .unwrap();
    assert_eq!(outcome, CommentOutcome::Updated { id: 1207 });
    let put = json_body(&requests(&server, "PUT").await[0]);
    assert_eq!(
        put,
        json!({ "body": "<!-- cimon:flakiness -->\n### cimon: fail\n2 flaky tests" })
    );

    // Another merge request without our note: created.
    let other = MockServer::start().await;
    let notes = "/api/v4/projects/1234/merge_requests/5/notes";
    Mock::given(method("GET"))
        .and(path(notes))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(api_fixture("gitlab/narkoz-gitlab/spec/fixtures/notes.json")),
        )
        .expect(1)
        .mount(&other)
        .await;
    Mock::given(method("POST"))
        .and(path(notes))
        .and(header("private-token", GITLAB_TOKEN))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(api_fixture("gitlab/narkoz-gitlab/spec/fixtures/note.json")),
        )
        .expect(1)
        .mount(&other)
        .await;
    let outcome = gitlab(&other, "1234")
        .upsert_comment(5, &comment())
        .await
        .unwrap();
    assert_eq!(outcome, CommentOutcome::Created { id: 1201 });
}

#[tokio::test]
async fn a_marked_comment_we_may_not_edit_leads_to_a_new_one() {
    let server = MockServer::start().await;
    // Page 2: the documented comment, changed to carry the marker (someone else's, id 98).
    let mut theirs = api_fixture("github/rest-openapi-examples/issue-comment.json");
    theirs["id"] = json!(98);
    theirs["body"] = json!("<!-- cimon:flakiness -->\nfake verdict");
    mount_comment_pages(&server, json!([theirs])).await;
    Mock::given(method("PATCH"))
        .and(path("/repos/octo/app/issues/comments/98"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "message": "Must have admin rights to Repository."
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/issues/7/comments"))
        .respond_with(ResponseTemplate::new(201).set_body_json(api_fixture(
            "github/rest-openapi-examples/issue-comment.json",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let outcome = github(&server, APP_TOKEN)
        .upsert_comment(7, &comment())
        .await
        .unwrap();
    assert_eq!(outcome, CommentOutcome::Created { id: 1 });
}

#[tokio::test]
async fn a_rate_limit_longer_than_the_deadline_is_a_typed_error_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "3600")
                .set_body_json(json!({ "message": "API rate limit exceeded" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let err = publish(&github(&server, APP_TOKEN), &check(0), None, true)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::RateLimit);
    assert_eq!(err.status, Some(429));
    assert!(err.message.contains("API rate limit exceeded"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
