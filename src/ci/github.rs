//! GitHub Actions: identity from `GITHUB_*` and the event payload, timings from the Actions
//! REST API through octocrab.
//!
//! Definitions:
//! - `job` is `GITHUB_JOB`, the job's id under `jobs:`, unless `--job` overrides it. Matrix legs
//!   share `GITHUB_JOB`, so a matrix workflow should pass `--job "${{ github.job }} (${{
//!   join(matrix.*, ', ') }})"` (that is also the API's display name) to keep keys distinct.
//!   The API's display name is used to find the job, never stored in place of `job`, so the
//!   key does not depend on whether a token was available.
//! - `run_attempt` is `GITHUB_RUN_ATTEMPT`; `url` is the attempt's page
//!   `${GITHUB_SERVER_URL}/${repo}/actions/runs/${id}/attempts/${attempt}`.
//! - For a pull request, `commit.sha` is the PR head commit (`pull_request.head.sha` from
//!   `GITHUB_EVENT_PATH`): the commit the developer pushed and where check runs and statuses
//!   attach, stable across re-runs. The merge commit actually checked out (`GITHUB_SHA`) is
//!   recoverable from `commit.ref` (`refs/pull/N/merge`) at that time. `branch` is the source
//!   branch (`GITHUB_HEAD_REF`), `base_branch` the target.
//! - With a token (`actions: read`), `GET /repos/{o}/{r}/actions/runs/{id}/attempts/{n}/jobs`
//!   (every page) finds this job — by `RUNNER_NAME` among in-progress jobs, else by name — and
//!   gives `started_at`, `queued_ms = started_at - created_at` and the steps. The job is still
//!   running, so `finished_at` stays the report time.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::timing::{parse_time, refresh_duration, span_ms};
use super::{
    api_warning, apply_overrides, finish, new_report, resolve_outcome, set_source, ApiCredentials,
    Env, PreviousFuture, Provider, RunOverrides, TimingsFuture, KEPT_ENV_TIMINGS,
};
use crate::ci::env;
use crate::http::{
    error_chain, install_crypto_provider, mask_url, next_link, same_origin, HttpConfig, HttpError,
    Secret,
};
use crate::model::{DataSource, ProviderKind, RunOutcome, RunReport, Step};

/// The REST API version cimon's wire structs follow (sent as `X-GitHub-Api-Version`).
pub const API_VERSION: &str = "2022-11-28";
/// The media type GitHub recommends in `Accept`.
pub const MEDIA_TYPE: &str = "application/vnd.github+json";
const MAX_PAGES: usize = 10;

/// The GitHub Actions provider.
#[derive(Debug, Clone, Default)]
pub struct Github {
    http: HttpConfig,
}

impl Github {
    /// A provider whose API calls use `http`'s timeouts.
    pub fn new(http: HttpConfig) -> Self {
        Self { http }
    }
}

impl Provider for Github {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Github
    }

    fn current_run(&self, env: &Env, overrides: &RunOverrides, now: DateTime<Utc>) -> RunReport {
        let mut report = new_report(ProviderKind::Github, now);
        read_identity(env, &mut report);
        read_commit(env, &mut report);
        set_source(&mut report, "identity", DataSource::Env);
        set_source(&mut report, "commit", DataSource::Env);
        apply_overrides(&mut report, overrides);
        resolve_outcome(&mut report, overrides.status.as_deref(), None);
        finish(&mut report);
        report
    }

    fn fetch_timings<'a>(
        &'a self,
        report: &'a mut RunReport,
        env: &'a Env,
        creds: &'a ApiCredentials,
    ) -> TimingsFuture<'a> {
        Box::pin(async move {
            let Some(token) = &creds.github_token else {
                return;
            };
            if let Err(error) = self.fetch(report, env, token).await {
                report.warnings.push(api_warning(
                    ProviderKind::Github,
                    &error,
                    KEPT_ENV_TIMINGS,
                    creds,
                ));
            }
        })
    }

    fn previous_outcome<'a>(
        &'a self,
        report: &'a RunReport,
        env: &'a Env,
        creds: &'a ApiCredentials,
    ) -> PreviousFuture<'a> {
        Box::pin(async move {
            match &creds.github_token {
                Some(token) => super::previous::github(self, report, env, token).await,
                None => Ok(None),
            }
        })
    }
}

fn read_identity(env: &Env, report: &mut RunReport) {
    let owned = |name| env.get(name).map(str::to_owned);
    report.repository = owned(env::GITHUB_REPOSITORY);
    report.workflow = owned(env::GITHUB_WORKFLOW);
    report.job = owned(env::GITHUB_JOB);
    report.run_id = owned(env::GITHUB_RUN_ID);
    report.run_attempt = env
        .get_parsed::<u32>(env::GITHUB_RUN_ATTEMPT)
        .filter(|n| *n > 0)
        .unwrap_or(1);
    report.run_number = env.get_parsed(env::GITHUB_RUN_NUMBER);
    report.event = owned(env::GITHUB_EVENT_NAME);
    report.actor = owned(env::GITHUB_ACTOR);
    if let (Some(repo), Some(id)) = (&report.repository, &report.run_id) {
        let server = env
            .get(env::GITHUB_SERVER_URL)
            .unwrap_or("https://github.com")
            .trim_end_matches('/');
        report.url = Some(format!(
            "{server}/{repo}/actions/runs/{id}/attempts/{}",
            report.run_attempt
        ));
    }
}

/// The parts of a webhook payload cimon reads.
#[derive(Debug, Deserialize)]
struct EventPayload {
    number: Option<u64>,
    pull_request: Option<PullRequestPayload>,
}

#[derive(Debug, Deserialize)]
struct PullRequestPayload {
    number: Option<u64>,
    base: Option<RefPayload>,
    head: Option<RefPayload>,
}

#[derive(Debug, Deserialize)]
struct RefPayload {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    sha: Option<String>,
}

fn read_commit(env: &Env, report: &mut RunReport) {
    let commit = &mut report.commit;
    commit.sha = env.get(env::GITHUB_SHA).map(str::to_owned);
    commit.git_ref = env.get(env::GITHUB_REF).map(str::to_owned);
    let ref_name = env.get(env::GITHUB_REF_NAME);
    let ref_type = env.get(env::GITHUB_REF_TYPE);
    let git_ref = commit.git_ref.as_deref().unwrap_or("");
    if ref_type == Some("tag") || git_ref.starts_with("refs/tags/") {
        commit.tag = ref_name
            .or_else(|| git_ref.strip_prefix("refs/tags/"))
            .map(str::to_owned);
    } else if let Some(head) = env.get(env::GITHUB_HEAD_REF) {
        commit.branch = Some(head.to_owned());
    } else if ref_type == Some("branch") || git_ref.starts_with("refs/heads/") {
        commit.branch = git_ref
            .strip_prefix("refs/heads/")
            .or(ref_name)
            .map(str::to_owned);
    }
    commit.base_branch = env.get(env::GITHUB_BASE_REF).map(str::to_owned);
    commit.pull_request = git_ref
        .strip_prefix("refs/pull/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|n| n.parse().ok());

    let is_pr_event = report
        .event
        .as_deref()
        .is_some_and(|e| e.starts_with("pull_request"));
    let Some(path) = env.get(env::GITHUB_EVENT_PATH).filter(|_| is_pr_event) else {
        return;
    };
    let payload = std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            serde_json::from_slice::<EventPayload>(&bytes).map_err(|e| e.to_string())
        });
    let payload = match payload {
        Ok(p) => p,
        Err(e) => {
            report.warnings.push(format!(
                "GITHUB_EVENT_PATH {path}: cannot read the event payload ({e}); pull request number and head commit come from GITHUB_REF/GITHUB_SHA"
            ));
            return;
        }
    };
    let commit = &mut report.commit;
    if let Some(pr) = payload.pull_request {
        commit.pull_request = pr.number.or(payload.number).or(commit.pull_request);
        if let Some(head_sha) = pr.head.as_ref().and_then(|h| h.sha.clone()) {
            commit.sha = Some(head_sha);
        }
        if commit.branch.is_none() {
            commit.branch = pr.head.and_then(|h| h.git_ref);
        }
        if commit.base_branch.is_none() {
            commit.base_branch = pr.base.and_then(|b| b.git_ref);
        }
    }
}

/// One page of `GET …/attempts/{n}/jobs`.
#[derive(Debug, Deserialize)]
struct JobsPage {
    jobs: Vec<WireJob>,
}

#[derive(Debug, Deserialize)]
struct WireJob {
    name: String,
    status: Option<String>,
    conclusion: Option<String>,
    created_at: Option<String>,
    started_at: Option<String>,
    runner_name: Option<String>,
    #[serde(default)]
    steps: Vec<WireStep>,
}

#[derive(Debug, Deserialize)]
struct WireStep {
    name: String,
    status: Option<String>,
    conclusion: Option<String>,
    started_at: Option<String>,
    completed_at: Option<String>,
}

impl Github {
    async fn fetch(
        &self,
        report: &mut RunReport,
        env: &Env,
        token: &Secret,
    ) -> Result<(), HttpError> {
        let api = env
            .get(env::GITHUB_API_URL)
            .unwrap_or("https://api.github.com")
            .trim_end_matches('/');
        let (Some(repo), Some(run_id)) =
            (env.get(env::GITHUB_REPOSITORY), env.get(env::GITHUB_RUN_ID))
        else {
            return Ok(());
        };
        if !valid_repository(repo)
            || run_id.is_empty()
            || !run_id.chars().all(|c| c.is_ascii_digit())
        {
            return Err(HttpError::Transport {
                url: mask_url(api),
                message: format!(
                    "GITHUB_REPOSITORY {repo:?} or GITHUB_RUN_ID {run_id:?} is malformed"
                ),
            });
        }
        let attempt = env.get_parsed::<u32>(env::GITHUB_RUN_ATTEMPT).unwrap_or(1);
        let first = format!(
            "{api}/repos/{repo}/actions/runs/{run_id}/attempts/{attempt}/jobs?per_page=100"
        );
        let jobs = self.list_jobs(api, &first, token).await?;

        let env_job = env.get(env::GITHUB_JOB);
        let Some(job) = find_job(
            &jobs,
            env.get(env::RUNNER_NAME),
            report.job.as_deref(),
            env_job,
        ) else {
            return Err(HttpError::Decode {
                url: mask_url(&first),
                message: format!(
                    "no job of the run matches this one (runner {:?}, job {:?}) among {} jobs",
                    env.get(env::RUNNER_NAME).unwrap_or(""),
                    report.job.as_deref().or(env_job).unwrap_or(""),
                    jobs.len()
                ),
            });
        };
        apply_job(report, job);
        Ok(())
    }

    async fn list_jobs(
        &self,
        api: &str,
        first: &str,
        token: &Secret,
    ) -> Result<Vec<WireJob>, HttpError> {
        let octo = self.octocrab(api, token)?;
        let mut jobs = Vec::new();
        let mut url = first.to_owned();
        for _ in 0..MAX_PAGES {
            let (page, next) = self.get::<JobsPage>(&octo, &url, token).await?;
            jobs.extend(page.jobs);
            match next {
                Some(next) if same_origin(&next, first) => url = next,
                _ => break,
            }
        }
        Ok(jobs)
    }
}

impl Github {
    /// An octocrab client for `api` with `token`; no retries (cimon makes single attempts).
    pub(super) fn octocrab(
        &self,
        api: &str,
        token: &Secret,
    ) -> Result<octocrab::Octocrab, HttpError> {
        install_crypto_provider();
        let client_err = |e: octocrab::Error| HttpError::Client(token.redact(&error_chain(&e)));
        octocrab::Octocrab::builder()
            .base_uri(api)
            .map_err(client_err)?
            .personal_token(token.expose().to_owned())
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            // The total per-request bound is the `tokio::time::timeout` in `get`.
            .set_connect_timeout(Some(self.http.connect_timeout))
            .build()
            .map_err(client_err)
    }

    /// One page at `url` and the `next` link, within the request timeout.
    pub(super) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        octo: &octocrab::Octocrab,
        url: &str,
        token: &Secret,
    ) -> Result<(T, Option<String>), HttpError> {
        let masked = mask_url(url);
        tokio::time::timeout(self.http.timeout, get_page(octo, url, &masked, token))
            .await
            .map_err(|_| HttpError::Timeout {
                url: masked.clone(),
                after: self.http.timeout,
            })?
    }
}

async fn get_page<T: serde::de::DeserializeOwned>(
    octo: &octocrab::Octocrab,
    url: &str,
    masked: &str,
    token: &Secret,
) -> Result<(T, Option<String>), HttpError> {
    let transport = |e: octocrab::Error| HttpError::Transport {
        url: masked.to_owned(),
        message: token.redact(&error_chain(&e)),
    };
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static(MEDIA_TYPE),
    );
    let response = octo
        ._get_with_headers(url, Some(headers))
        .await
        .map_err(transport)?;
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if !status.is_success() {
        return Err(HttpError::Status {
            url: masked.to_owned(),
            status: status.as_u16(),
            retry_after: header("retry-after").map(|v| v.chars().take(64).collect()),
        });
    }
    let next = header("link").and_then(|l| next_link(&l));
    let body = octo.body_to_string(response).await.map_err(transport)?;
    let page = serde_json::from_str(&body).map_err(|e| HttpError::Decode {
        url: masked.to_owned(),
        message: e.to_string(),
    })?;
    Ok((page, next))
}

/// `owner/name`: exactly two path segments of GitHub's name characters.
pub(crate) fn valid_repository(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// This job among the run's jobs: the in-progress job on this runner, else the job whose
/// display name is `--job`, `GITHUB_JOB`, or `GITHUB_JOB (matrix values)` when that is unique.
fn find_job<'j>(
    jobs: &'j [WireJob],
    runner: Option<&str>,
    job: Option<&str>,
    env_job: Option<&str>,
) -> Option<&'j WireJob> {
    fn unique<'j>(mut it: impl Iterator<Item = &'j WireJob>) -> Option<&'j WireJob> {
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }
    if let Some(runner) = runner {
        let on_runner = jobs.iter().filter(|j| {
            j.status.as_deref() == Some("in_progress") && j.runner_name.as_deref() == Some(runner)
        });
        if let Some(found) = unique(on_runner) {
            return Some(found);
        }
    }
    for name in [job, env_job].into_iter().flatten() {
        if let Some(found) = unique(jobs.iter().filter(|j| j.name == name)) {
            return Some(found);
        }
    }
    let prefix = format!("{} (", env_job?);
    unique(jobs.iter().filter(|j| j.name.starts_with(&prefix)))
}

fn apply_job(report: &mut RunReport, job: &WireJob) {
    let started = job.started_at.as_deref().and_then(parse_time);
    if let Some(started) = started {
        report.started_at = Some(started);
        set_source(report, "timings", DataSource::Api);
        refresh_duration(report);
        if let Some(created) = job.created_at.as_deref().and_then(parse_time) {
            report.queued_ms = Some(span_ms(created, started, "queued_ms", &mut report.warnings));
            set_source(report, "queue", DataSource::Api);
        }
    }
    if report.outcome == RunOutcome::Unknown {
        if let Some(outcome) = job
            .conclusion
            .as_deref()
            .and_then(RunOutcome::parse_ci_status)
        {
            report.outcome = outcome;
            set_source(report, "outcome", DataSource::Api);
        }
    }
    let mut steps = Vec::with_capacity(job.steps.len());
    for (i, s) in job.steps.iter().enumerate() {
        let started_at = s.started_at.as_deref().and_then(parse_time);
        let done = s.status.as_deref() == Some("completed");
        let finished_at = s
            .completed_at
            .as_deref()
            .and_then(parse_time)
            .filter(|_| done);
        let duration_ms = match (started_at, finished_at) {
            (Some(a), Some(b)) => Some(span_ms(
                a,
                b,
                &format!("steps[{i}].duration_ms"),
                &mut report.warnings,
            )),
            _ => None,
        };
        let outcome = s
            .conclusion
            .as_deref()
            .and_then(RunOutcome::parse_ci_status)
            .unwrap_or(RunOutcome::Unknown);
        steps.push(Step {
            name: s.name.clone(),
            outcome,
            started_at,
            finished_at,
            duration_ms,
        });
    }
    if !steps.is_empty() {
        report.steps = steps;
        set_source(report, "steps", DataSource::Api);
    }
}

#[cfg(test)]
mod tests;
