//! GitLab CI/CD: identity from `CI_*` variables, timings from the pipeline jobs API.
//!
//! Definitions:
//! - `repository` = `CI_PROJECT_PATH`, `workflow` = `CI_PIPELINE_NAME` (`workflow:name`) when
//!   set, `run_id` = `CI_PIPELINE_ID`, `run_number` = `CI_PIPELINE_IID`, `job` =
//!   `CI_JOB_NAME`, `event` = `CI_PIPELINE_SOURCE`, `url` = `CI_JOB_URL` (else the pipeline's).
//! - `run_attempt`: GitLab has no attempt variable; a retry is a new job (new `CI_JOB_ID`) with
//!   the same name in the same pipeline. From the environment alone the attempt is 1. With a
//!   token, the jobs list (`include_retried=true`) gives attempt = 1 + the number of jobs of
//!   the pipeline with the same name and a smaller id, and the key is recomputed. Without a
//!   token, retries of a job share a key (a later report replaces the earlier one).
//! - Outcome: `--status`, else `CI_JOB_STATUS` (meaningful in `after_script`: `success`,
//!   `failed`, `canceled`; `running` before that, which gives `unknown`).
//! - Commit: `CI_COMMIT_SHA`, except in merged-results pipelines, where it is the merge commit
//!   and `CI_MERGE_REQUEST_SOURCE_BRANCH_SHA` (the developer's head commit) is used instead.
//!   `branch` is `CI_COMMIT_BRANCH`, or the MR's source branch; `ref` is `refs/heads/…`,
//!   `refs/tags/…` or `refs/merge-requests/<iid>/head` (`…/merge` for merged results).
//! - Timings from the environment: `started_at` = `CI_JOB_STARTED_AT`; `queued_ms` =
//!   `CI_JOB_STARTED_AT - CI_PIPELINE_CREATED_AT`, i.e. the wait since the *pipeline* was
//!   created, which includes earlier stages (source `env`). With `CIMON_GITLAB_TOKEN`
//!   (`PRIVATE-TOKEN`; `CI_JOB_TOKEN` cannot read these endpoints),
//!   `GET {CI_API_V4_URL}/projects/{CI_PROJECT_ID}/pipelines/{CI_PIPELINE_ID}/jobs` replaces it
//!   with this job's own `queued_duration` (time pending for a runner, source `api`) and gives
//!   the pipeline's jobs as `steps`, named `stage: job`, latest attempt of each, by id.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::timing::{parse_time, refresh_duration, secs_to_ms, span_ms};
use super::{
    api_warning, apply_overrides, finish, new_report, resolve_outcome, run_key, set_source,
    ApiCredentials, Env, PreviousFuture, Provider, RunOverrides, TimingsFuture, KEPT_ENV_TIMINGS,
};
use crate::ci::env;
use crate::http::{
    client_for, get_json, mask_url, same_origin, Auth, HttpConfig, HttpError, Secret,
};
use crate::model::{DataSource, ProviderKind, RunOutcome, RunReport, Step};

const MAX_PAGES: usize = 10;

/// The GitLab CI/CD provider.
#[derive(Debug, Clone, Default)]
pub struct Gitlab {
    http: HttpConfig,
}

impl Gitlab {
    /// A provider whose API calls use `http`.
    pub fn new(http: HttpConfig) -> Self {
        Self { http }
    }
}

impl Provider for Gitlab {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gitlab
    }

    fn current_run(&self, env: &Env, overrides: &RunOverrides, now: DateTime<Utc>) -> RunReport {
        let mut report = new_report(ProviderKind::Gitlab, now);
        let owned = |name| env.get(name).map(str::to_owned);
        report.repository = owned(env::CI_PROJECT_PATH);
        report.workflow = owned(env::CI_PIPELINE_NAME);
        report.job = owned(env::CI_JOB_NAME);
        report.run_id = owned(env::CI_PIPELINE_ID);
        report.run_number = env.get_parsed(env::CI_PIPELINE_IID);
        report.url = owned(env::CI_JOB_URL).or_else(|| owned(env::CI_PIPELINE_URL));
        report.event = owned(env::CI_PIPELINE_SOURCE);
        report.actor = owned(env::GITLAB_USER_LOGIN);
        read_commit(env, &mut report);
        set_source(&mut report, "identity", DataSource::Env);
        set_source(&mut report, "commit", DataSource::Env);
        apply_overrides(&mut report, overrides);
        resolve_outcome(
            &mut report,
            overrides.status.as_deref(),
            env.get(env::CI_JOB_STATUS),
        );

        report.started_at = env.get(env::CI_JOB_STARTED_AT).and_then(parse_time);
        if let Some(started) = report.started_at {
            set_source(&mut report, "timings", DataSource::Env);
            if let Some(created) = env.get(env::CI_PIPELINE_CREATED_AT).and_then(parse_time) {
                report.queued_ms =
                    Some(span_ms(created, started, "queued_ms", &mut report.warnings));
                set_source(&mut report, "queue", DataSource::Env);
            }
        }
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
            let Some(token) = &creds.gitlab_token else {
                return;
            };
            if let Err(error) = self.fetch(report, env, token).await {
                report.warnings.push(api_warning(
                    ProviderKind::Gitlab,
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
            match &creds.gitlab_token {
                Some(token) => super::previous::gitlab(&self.http, report, env, token).await,
                None => Ok(None),
            }
        })
    }
}

fn read_commit(env: &Env, report: &mut RunReport) {
    let owned = |name| env.get(name).map(str::to_owned);
    let commit = &mut report.commit;
    let merged_results = matches!(
        env.get(env::CI_MERGE_REQUEST_EVENT_TYPE),
        Some("merged_result" | "merge_train")
    );
    commit.sha = owned(env::CI_MERGE_REQUEST_SOURCE_BRANCH_SHA)
        .filter(|_| merged_results)
        .or_else(|| owned(env::CI_COMMIT_SHA));
    commit.tag = owned(env::CI_COMMIT_TAG);
    commit.pull_request = env.get_parsed(env::CI_MERGE_REQUEST_IID);
    commit.base_branch = owned(env::CI_MERGE_REQUEST_TARGET_BRANCH_NAME);
    commit.branch = owned(env::CI_COMMIT_BRANCH)
        .or_else(|| owned(env::CI_MERGE_REQUEST_SOURCE_BRANCH_NAME))
        .or_else(|| owned(env::CI_COMMIT_REF_NAME).filter(|_| commit.tag.is_none()));
    commit.git_ref = if let Some(tag) = &commit.tag {
        Some(format!("refs/tags/{tag}"))
    } else if let Some(iid) = commit.pull_request {
        let kind = if merged_results { "merge" } else { "head" };
        Some(format!("refs/merge-requests/{iid}/{kind}"))
    } else {
        commit.branch.as_ref().map(|b| format!("refs/heads/{b}"))
    };
}

/// One job of `GET /projects/:id/pipelines/:pipeline_id/jobs`.
#[derive(Debug, Deserialize)]
struct WireJob {
    id: u64,
    name: String,
    stage: Option<String>,
    status: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    duration: Option<f64>,
    queued_duration: Option<f64>,
}

impl Gitlab {
    async fn fetch(
        &self,
        report: &mut RunReport,
        env: &Env,
        token: &Secret,
    ) -> Result<(), HttpError> {
        let api = api_url(env);
        let project = env
            .get(env::CI_PROJECT_ID)
            .filter(|id| id.chars().all(|c| c.is_ascii_digit()));
        let pipeline = env
            .get(env::CI_PIPELINE_ID)
            .filter(|id| id.chars().all(|c| c.is_ascii_digit()));
        let (Some(api), Some(project), Some(pipeline)) = (api, project, pipeline) else {
            return Ok(());
        };
        let first = format!(
            "{api}/projects/{project}/pipelines/{pipeline}/jobs?per_page=100&include_retried=true"
        );
        let client = client_for(&self.http)?;
        let mut jobs: Vec<WireJob> = Vec::new();
        let mut url = first.clone();
        for _ in 0..MAX_PAGES {
            let page = get_json::<Vec<WireJob>>(
                &client,
                &url,
                Auth::Header("PRIVATE-TOKEN", token),
                &[],
                self.http.timeout,
            )
            .await?;
            jobs.extend(page.body);
            match page.next {
                Some(next) if same_origin(&next, &first) => url = next,
                _ => break,
            }
        }
        jobs.sort_by_key(|j| j.id);

        report.steps = pipeline_steps(&jobs, &mut report.warnings);
        set_source(report, "steps", DataSource::Api);

        let job_id: Option<u64> = env.get_parsed(env::CI_JOB_ID);
        let Some(job) = job_id.and_then(|id| jobs.iter().find(|j| j.id == id)) else {
            return Err(HttpError::Decode {
                url: mask_url(&first),
                message: format!(
                    "job {} is not among the pipeline's {} jobs",
                    env.get(env::CI_JOB_ID).unwrap_or("(CI_JOB_ID unset)"),
                    jobs.len()
                ),
            });
        };
        apply_job(report, job, &jobs);
        Ok(())
    }
}

/// The API's base: `CI_API_V4_URL`, else `CI_SERVER_URL` + `/api/v4`.
pub(super) fn api_url(env: &Env) -> Option<String> {
    env.get(env::CI_API_V4_URL)
        .map(|u| u.trim_end_matches('/').to_owned())
        .or_else(|| {
            env.get(env::CI_SERVER_URL)
                .map(|u| format!("{}/api/v4", u.trim_end_matches('/')))
        })
}

/// The latest attempt of every job of the pipeline, in id order.
fn pipeline_steps(jobs: &[WireJob], warnings: &mut Vec<String>) -> Vec<Step> {
    let mut latest: BTreeMap<&str, &WireJob> = BTreeMap::new();
    for job in jobs {
        latest.insert(&job.name, job); // `jobs` is sorted by id: the last one wins
    }
    let mut chosen: Vec<&WireJob> = latest.into_values().collect();
    chosen.sort_by_key(|j| j.id);
    chosen
        .into_iter()
        .map(|job| {
            let started_at = job.started_at.as_deref().and_then(parse_time);
            let finished_at = job.finished_at.as_deref().and_then(parse_time);
            let name = match &job.stage {
                Some(stage) => format!("{stage}: {}", job.name),
                None => job.name.clone(),
            };
            let field = format!("steps[{name}].duration_ms");
            let duration_ms = match (started_at, finished_at) {
                (Some(a), Some(b)) => Some(span_ms(a, b, &field, warnings)),
                _ => job.duration.and_then(|d| secs_to_ms(d, &field, warnings)),
            };
            Step {
                name,
                outcome: job
                    .status
                    .as_deref()
                    .and_then(RunOutcome::parse_ci_status)
                    .unwrap_or(RunOutcome::Unknown),
                started_at,
                finished_at,
                duration_ms,
            }
        })
        .collect()
}

fn apply_job(report: &mut RunReport, job: &WireJob, jobs: &[WireJob]) {
    let earlier = jobs
        .iter()
        .filter(|j| j.name == job.name && j.id < job.id)
        .count();
    let attempt = u32::try_from(earlier + 1).unwrap_or(u32::MAX);
    if attempt != report.run_attempt && report.sources.get("attempt") != Some(&DataSource::Flag) {
        report.run_attempt = attempt;
        set_source(report, "attempt", DataSource::Api);
        report.key = run_key(report);
    }
    if let Some(started) = job.started_at.as_deref().and_then(parse_time) {
        report.started_at = Some(started);
        set_source(report, "timings", DataSource::Api);
        refresh_duration(report);
    }
    if let Some(queued) = job
        .queued_duration
        .and_then(|q| secs_to_ms(q, "queued_ms", &mut report.warnings))
    {
        report.queued_ms = Some(queued);
        set_source(report, "queue", DataSource::Api);
    }
    if report.outcome == RunOutcome::Unknown {
        if let Some(outcome) = job.status.as_deref().and_then(RunOutcome::parse_ci_status) {
            report.outcome = outcome;
            set_source(report, "outcome", DataSource::Api);
        }
    }
}

#[cfg(test)]
mod tests;
