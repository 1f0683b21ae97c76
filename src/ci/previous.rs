//! The previous run of the same pipeline, read from the CI's API: what notifications compare
//! against when there is no store (`--history` absent, not under `serve`).
//!
//! - GitHub: `GET /repos/{owner}/{repo}/actions/workflows/{file}/runs?branch=…&status=completed`
//!   through octocrab (the file from `GITHUB_WORKFLOW_REF`), newest first;
//!   <https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow>.
//! - GitLab: `GET /projects/:id/pipelines?ref=…&order_by=id&sort=desc`;
//!   <https://docs.gitlab.com/api/pipelines/#list-project-pipelines>.
//! - Jenkins: `${BUILD_URL}api/json?tree=previousBuild[number]`, then each earlier build's
//!   `result` (`building` ones passed over), following `previousBuild`;
//!   <https://www.jenkins.io/doc/book/using/remote-access-api/>.
//!
//! The current run and anything newer are skipped; runs that were cancelled or skipped are
//! passed over (they change nothing in the de-duplication either), at most
//! [`PREVIOUS_RUNS`] of them.

use serde::Deserialize;

use super::env;
use super::github::{valid_repository, Github};
use super::{Env, PREVIOUS_RUNS};
use crate::http::{client_for, get_json, mask_url, Auth, HttpConfig, HttpError, Secret};
use crate::model::{RunOutcome, RunReport};

/// A run that counts: success or failure. Everything else is passed over.
fn counted(word: &str) -> Option<RunOutcome> {
    RunOutcome::parse_ci_status(word)
        .filter(|o| matches!(o, RunOutcome::Success | RunOutcome::Failure))
}

/// An URL with `params` as its query, each value percent-encoded.
fn with_query(base: &str, params: &[(&str, &str)]) -> Result<String, HttpError> {
    reqwest::Url::parse_with_params(base, params)
        .map(String::from)
        .map_err(|e| HttpError::Transport {
            url: mask_url(base),
            message: format!("cannot build the URL: {e}"),
        })
}

#[derive(Debug, Deserialize)]
struct WorkflowRuns {
    workflow_runs: Vec<WorkflowRun>,
}

#[derive(Debug, Deserialize)]
struct WorkflowRun {
    id: u64,
    status: Option<String>,
    conclusion: Option<String>,
}

/// GitHub: the latest completed run of this workflow on this branch before the current one.
pub(super) async fn github(
    provider: &Github,
    report: &RunReport,
    env: &Env,
    token: &Secret,
) -> Result<Option<RunOutcome>, HttpError> {
    let api = env
        .get(env::GITHUB_API_URL)
        .unwrap_or("https://api.github.com")
        .trim_end_matches('/');
    let repo = report
        .repository
        .as_deref()
        .or(env.get(env::GITHUB_REPOSITORY));
    // `owner/repo/.github/workflows/build.yml@refs/heads/main` → `build.yml`.
    let file = env
        .get(env::GITHUB_WORKFLOW_REF)
        .and_then(|r| r.split('@').next())
        .and_then(|p| p.rsplit('/').next())
        .filter(|f| !f.is_empty() && !f.contains(['?', '#', '%']));
    let (Some(repo), Some(branch), Some(file)) = (repo, report.commit.branch.as_deref(), file)
    else {
        return Ok(None);
    };
    if !valid_repository(repo) {
        return Ok(None);
    }
    let current: Option<u64> = report
        .run_id
        .as_deref()
        .or(env.get(env::GITHUB_RUN_ID))
        .and_then(|id| id.parse().ok());
    let per_page = PREVIOUS_RUNS.to_string();
    let url = with_query(
        &format!("{api}/repos/{repo}/actions/workflows/{file}/runs"),
        &[
            ("branch", branch),
            ("status", "completed"),
            ("per_page", &per_page),
        ],
    )?;
    let octo = provider.octocrab(api, token)?;
    let (page, _) = provider.get::<WorkflowRuns>(&octo, &url, token).await?;
    Ok(page
        .workflow_runs
        .iter()
        .filter(|r| current.is_none_or(|c| r.id < c))
        .filter(|r| r.status.as_deref() == Some("completed"))
        .find_map(|r| counted(r.conclusion.as_deref()?)))
}

#[derive(Debug, Deserialize)]
struct Pipeline {
    id: u64,
    status: Option<String>,
}

/// GitLab: the latest pipeline of this ref before the current one that succeeded or failed.
pub(super) async fn gitlab(
    http: &HttpConfig,
    report: &RunReport,
    env: &Env,
    token: &Secret,
) -> Result<Option<RunOutcome>, HttpError> {
    let api = super::gitlab::api_url(env);
    let project = env
        .get(env::CI_PROJECT_ID)
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()));
    let git_ref = env
        .get(env::CI_COMMIT_REF_NAME)
        .or(report.commit.branch.as_deref());
    let (Some(api), Some(project), Some(git_ref)) = (api, project, git_ref) else {
        return Ok(None);
    };
    let current: Option<u64> = env.get_parsed(env::CI_PIPELINE_ID);
    let per_page = PREVIOUS_RUNS.to_string();
    let url = with_query(
        &format!("{api}/projects/{project}/pipelines"),
        &[
            ("ref", git_ref),
            ("order_by", "id"),
            ("sort", "desc"),
            ("per_page", &per_page),
        ],
    )?;
    let client = client_for(http)?;
    let page = get_json::<Vec<Pipeline>>(
        &client,
        &url,
        Auth::Header("PRIVATE-TOKEN", token),
        &[],
        http.timeout,
    )
    .await?;
    Ok(page
        .body
        .iter()
        .filter(|p| current.is_none_or(|c| p.id < c))
        .find_map(|p| counted(p.status.as_deref()?)))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Build {
    #[serde(default)]
    building: bool,
    result: Option<String>,
    previous_build: Option<BuildRef>,
}

#[derive(Debug, Deserialize)]
struct BuildRef {
    number: u64,
}

/// Jenkins: the job's latest completed build before this one that succeeded or failed
/// (`UNSTABLE` counts as failed), following `previousBuild` at most [`PREVIOUS_RUNS`] times.
/// Builds are addressed from `BUILD_URL`'s job URL, never from URLs in the answers.
pub(super) async fn jenkins(
    http: &HttpConfig,
    env: &Env,
    user: &str,
    token: &Secret,
) -> Result<Option<RunOutcome>, HttpError> {
    let Some(build_url) = env.get(env::BUILD_URL) else {
        return Ok(None);
    };
    let build_url = build_url.trim().trim_end_matches('/');
    let Some((job_url, number)) = build_url.rsplit_once('/') else {
        return Ok(None);
    };
    if !(job_url.starts_with("https://") || job_url.starts_with("http://"))
        || number.is_empty()
        || !number.chars().all(|c| c.is_ascii_digit())
    {
        return Ok(None);
    }
    let client = client_for(http)?;
    let auth = Auth::Basic(user, token);
    let get = |url: String| {
        let client = &client;
        async move {
            get_json::<Build>(client, &url, auth, &[], http.timeout)
                .await
                .map(|page| page.body)
        }
    };
    let tree = "building,result,previousBuild[number]";
    let mut next = get(format!("{job_url}/{number}/api/json?tree={tree}"))
        .await?
        .previous_build;
    for _ in 0..PREVIOUS_RUNS {
        let Some(BuildRef { number }) = next else {
            return Ok(None);
        };
        let build = get(format!("{job_url}/{number}/api/json?tree={tree}")).await?;
        if !build.building {
            if let Some(outcome) = build.result.as_deref().and_then(counted) {
                return Ok(Some(outcome));
            }
        }
        next = build.previous_build;
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
