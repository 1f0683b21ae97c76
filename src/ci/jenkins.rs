//! Jenkins (freestyle, pipeline, multibranch): identity from the build's environment,
//! timings from the build's `api/json` and the pipeline stages from `wfapi/describe`.
//!
//! Definitions:
//! - `run_id` = `BUILD_NUMBER` (unique only within the job), `url` = `BUILD_URL`,
//!   `run_attempt` = 1 (Jenkins replays and restarts are new builds with new numbers).
//! - `workflow` = `JOB_NAME` (full name, `folder/job`); in a multibranch project (where
//!   `BRANCH_NAME` is set) it is the multibranch project, `JOB_NAME` without its last
//!   segment, since the branch is recorded in `commit`. `job` = `JOB_BASE_NAME`. So
//!   `workflow` + `job` + `run_id` always identify the build.
//! - `repository` = the path of `GIT_URL` (`octo/app`) when the Git plugin set it, else the
//!   `workflow`.
//! - Commit: `GIT_COMMIT`; `branch` = `CHANGE_BRANCH` for a change request (`CHANGE_ID`), else
//!   `BRANCH_NAME`, else `GIT_BRANCH` without `origin/`; `tag` = `TAG_NAME`; `pull_request` =
//!   `CHANGE_ID` when numeric, `base_branch` = `CHANGE_TARGET`.
//! - Outcome: `--status` (`${currentBuild.currentResult}`), else the API's `result` of a
//!   finished build.
//! - With `CIMON_JENKINS_USER` + `CIMON_JENKINS_TOKEN` (basic auth):
//!   `${BUILD_URL}api/json?tree=…` gives `started_at` (`timestamp`), the end of a finished
//!   build (`timestamp + duration`) and `queued_ms` from the `TimeInQueueAction` of the
//!   metrics plugin (`queuingDurationMillis`) when installed; `${BUILD_URL}wfapi/describe`
//!   gives the stages as steps. Freestyle jobs answer 404 there: no stages, no warning.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::Deserialize;

use super::remote::repository_from_remote;
use super::timing::{clamp_ms, from_epoch_ms, refresh_duration};
use super::{
    api_warning, apply_overrides, finish, new_report, resolve_outcome, set_source, ApiCredentials,
    Env, PreviousFuture, Provider, RunOverrides, TimingsFuture, KEPT_ENV_TIMINGS,
};
use crate::ci::env;
use crate::http::{client_for, get_json, mask_url, Auth, HttpConfig, HttpError, Secret};
use crate::model::{DataSource, ProviderKind, RunOutcome, RunReport, Step};

/// The `tree` cimon asks `api/json` for.
pub const BUILD_TREE: &str =
    "timestamp,duration,result,building,queueId,actions[_class,queuingDurationMillis]";
/// The `_class` of the metrics plugin's queue-time action.
pub const TIME_IN_QUEUE_ACTION: &str = "jenkins.metrics.impl.TimeInQueueAction";

/// The Jenkins provider.
#[derive(Debug, Clone, Default)]
pub struct Jenkins {
    http: HttpConfig,
}

impl Jenkins {
    /// A provider whose API calls use `http`.
    pub fn new(http: HttpConfig) -> Self {
        Self { http }
    }
}

impl Provider for Jenkins {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Jenkins
    }

    fn current_run(&self, env: &Env, overrides: &RunOverrides, now: DateTime<Utc>) -> RunReport {
        let mut report = new_report(ProviderKind::Jenkins, now);
        let owned = |name| env.get(name).map(str::to_owned);
        let job_name = env.get(env::JOB_NAME);
        let base_name = owned(env::JOB_BASE_NAME).or_else(|| {
            job_name
                .and_then(|n| n.rsplit('/').next())
                .map(str::to_owned)
        });
        let multibranch = env.get(env::BRANCH_NAME).is_some();
        report.workflow = match (job_name, &base_name) {
            (Some(full), Some(base)) if multibranch => full
                .strip_suffix(base.as_str())
                .map(|parent| parent.trim_end_matches('/'))
                .filter(|parent| !parent.is_empty())
                .or(Some(full))
                .map(str::to_owned),
            (full, _) => full.map(str::to_owned),
        };
        report.job = base_name;
        report.run_id = owned(env::BUILD_NUMBER).or_else(|| owned(env::BUILD_ID));
        report.run_number = env.get_parsed(env::BUILD_NUMBER);
        report.url = owned(env::BUILD_URL);
        report.repository = env
            .get(env::GIT_URL)
            .and_then(repository_from_remote)
            .or_else(|| report.workflow.clone());
        report.actor = owned(env::CHANGE_AUTHOR);

        let commit = &mut report.commit;
        commit.sha = owned(env::GIT_COMMIT);
        commit.tag = owned(env::TAG_NAME);
        let change = env.get(env::CHANGE_ID);
        commit.pull_request = change.and_then(|c| c.trim().parse().ok());
        commit.base_branch = owned(env::CHANGE_TARGET);
        commit.branch = if change.is_some() {
            owned(env::CHANGE_BRANCH)
        } else if commit.tag.is_some() {
            None
        } else {
            owned(env::BRANCH_NAME).or_else(|| env.get(env::GIT_BRANCH).map(strip_remote))
        };
        commit.git_ref = match (&commit.tag, &commit.branch) {
            (Some(tag), _) => Some(format!("refs/tags/{tag}")),
            (None, Some(branch)) if change.is_none() => Some(format!("refs/heads/{branch}")),
            _ => None,
        };
        report.event = if commit.tag.is_some() {
            Some("tag".into())
        } else if change.is_some() {
            Some("pull_request".into())
        } else {
            None
        };

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
            let (Some(user), Some(token)) = (&creds.jenkins_user, &creds.jenkins_token) else {
                return;
            };
            if let Err((error, kept)) = self.fetch(report, env, user, token).await {
                report
                    .warnings
                    .push(api_warning(ProviderKind::Jenkins, &error, kept, creds));
            }
        })
    }

    fn previous_outcome<'a>(
        &'a self,
        _report: &'a RunReport,
        env: &'a Env,
        creds: &'a ApiCredentials,
    ) -> PreviousFuture<'a> {
        Box::pin(async move {
            match (&creds.jenkins_user, &creds.jenkins_token) {
                (Some(user), Some(token)) => {
                    super::previous::jenkins(&self.http, env, user, token).await
                }
                _ => Ok(None),
            }
        })
    }
}

/// `origin/main` → `main`, `refs/remotes/origin/x` → `x`.
fn strip_remote(branch: &str) -> String {
    let b = branch.strip_prefix("refs/remotes/").unwrap_or(branch);
    let b = b.strip_prefix("refs/heads/").unwrap_or(b);
    b.strip_prefix("origin/").unwrap_or(b).to_owned()
}

/// The fields of `api/json` cimon reads.
#[derive(Debug, Deserialize)]
struct WireBuild {
    timestamp: Option<i64>,
    duration: Option<i64>,
    result: Option<String>,
    building: Option<bool>,
    #[serde(default)]
    actions: Vec<Option<WireAction>>,
}

#[derive(Debug, Deserialize)]
struct WireAction {
    #[serde(rename = "_class")]
    class: Option<String>,
    #[serde(rename = "queuingDurationMillis")]
    queuing_duration_millis: Option<i64>,
}

/// The fields of `wfapi/describe` cimon reads.
#[derive(Debug, Deserialize)]
struct WireRun {
    #[serde(default)]
    stages: Vec<WireStage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStage {
    name: String,
    status: Option<String>,
    start_time_millis: Option<i64>,
    duration_millis: Option<i64>,
}

impl Jenkins {
    async fn fetch(
        &self,
        report: &mut RunReport,
        env: &Env,
        user: &str,
        token: &Secret,
    ) -> Result<(), (HttpError, &'static str)> {
        let build_failed = |e| (e, KEPT_ENV_TIMINGS);
        let Some(build_url) = env.get(env::BUILD_URL) else {
            return Ok(());
        };
        let build_url = format!("{}/", build_url.trim().trim_end_matches('/'));
        if !(build_url.starts_with("https://") || build_url.starts_with("http://")) {
            return Err(build_failed(HttpError::Transport {
                url: mask_url(&build_url),
                message: "BUILD_URL is not an http(s) URL".into(),
            }));
        }
        let client = client_for(&self.http).map_err(build_failed)?;
        let auth = Auth::Basic(user, token);
        let build = get_json::<WireBuild>(
            &client,
            &format!("{build_url}api/json?tree={BUILD_TREE}"),
            auth,
            &[],
            self.http.timeout,
        )
        .await
        .map_err(build_failed)?
        .body;
        apply_build(report, &build);

        let describe = format!("{build_url}wfapi/describe");
        match get_json::<WireRun>(&client, &describe, auth, &[], self.http.timeout).await {
            Ok(run) => {
                report.steps = stages_to_steps(&run.body.stages, &mut report.warnings);
                set_source(report, "steps", DataSource::Api);
                Ok(())
            }
            // A freestyle job has no pipeline stages: nothing to report.
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err((e, "build timings kept, no stages reported")),
        }
    }
}

fn apply_build(report: &mut RunReport, build: &WireBuild) {
    let building = build.building.unwrap_or(true);
    if let Some(started) = build.timestamp.and_then(from_epoch_ms) {
        report.started_at = Some(started);
        if let Some(duration) = build.duration.filter(|d| !building && *d > 0) {
            let ms = clamp_ms(duration, "duration_ms", &mut report.warnings);
            report.finished_at = started + ChronoDuration::milliseconds(ms as i64);
        }
        set_source(report, "timings", DataSource::Api);
        refresh_duration(report);
    }
    let queued = build.actions.iter().flatten().find_map(|a| {
        (a.class.as_deref() == Some(TIME_IN_QUEUE_ACTION))
            .then_some(a.queuing_duration_millis)
            .flatten()
    });
    if let Some(queued) = queued {
        report.queued_ms = Some(clamp_ms(queued, "queued_ms", &mut report.warnings));
        set_source(report, "queue", DataSource::Api);
    }
    if report.outcome == RunOutcome::Unknown && !building {
        if let Some(outcome) = build
            .result
            .as_deref()
            .and_then(RunOutcome::parse_ci_status)
        {
            report.outcome = outcome;
            set_source(report, "outcome", DataSource::Api);
        }
    }
}

fn stages_to_steps(stages: &[WireStage], warnings: &mut Vec<String>) -> Vec<Step> {
    stages
        .iter()
        .enumerate()
        .map(|(i, stage)| {
            let status = stage.status.as_deref().unwrap_or("").to_ascii_uppercase();
            let running = matches!(
                status.as_str(),
                "IN_PROGRESS" | "PAUSED_PENDING_INPUT" | "QUEUED" | ""
            );
            // wfapi's NOT_EXECUTED (the stage never ran) maps to skipped in the model.
            let outcome = match status.as_str() {
                _ if running => RunOutcome::Unknown,
                s => RunOutcome::parse_ci_status(s).unwrap_or(RunOutcome::Unknown),
            };
            let started_at = stage.start_time_millis.and_then(from_epoch_ms);
            let duration_ms = stage
                .duration_millis
                .filter(|_| !running && started_at.is_some())
                .map(|d| clamp_ms(d, &format!("steps[{i}].duration_ms"), warnings));
            let finished_at = started_at
                .zip(duration_ms)
                .map(|(s, d)| s + ChronoDuration::milliseconds(d as i64));
            Step {
                name: stage.name.clone(),
                outcome,
                started_at,
                finished_at,
                duration_ms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
