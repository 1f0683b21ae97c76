//! The run report: identity, outcome, timings and test results of one CI job.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{RunOutcome, TestResults};

/// The value of [`RunReport::schema`]: the name and major version of the report format.
pub const REPORT_SCHEMA: &str = "cimon.run/v1";

/// One CI job's run: who/what/where, the outcome, the timings and every test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "cimon run report (cimon.run/v1)")]
pub struct RunReport {
    /// Always `cimon.run/v1`.
    #[schemars(regex(pattern = r"^cimon\.run/v1$"))]
    pub schema: String,
    /// The run's idempotency key: provider/repository/workflow/run id/attempt/job. Posting a
    /// report with the same key again is the same run.
    pub key: String,
    /// The CI system the report was collected in.
    pub provider: ProviderKind,
    /// `owner/name` (GitHub), the project path (GitLab), the job's full name (Jenkins).
    pub repository: Option<String>,
    /// The workflow (GitHub), pipeline source/name (GitLab) or job (Jenkins) name.
    pub workflow: Option<String>,
    /// The job (GitHub job id, GitLab job name, Jenkins job name).
    pub job: Option<String>,
    /// The CI's identifier of the run (GitHub run id, GitLab pipeline id, Jenkins build number).
    pub run_id: Option<String>,
    /// The attempt of this run: 1 for the first run, 2 for the first re-run, …
    #[schemars(range(min = 1))]
    pub run_attempt: u32,
    /// The human-facing run number (GitHub `run_number`, GitLab pipeline iid, Jenkins build number).
    pub run_number: Option<u64>,
    /// Link to the run (or job) in the CI's web interface.
    pub url: Option<String>,
    /// The event that triggered the run (`push`, `pull_request`, `merge_request_event`, `tag`, …).
    pub event: Option<String>,
    /// Who triggered the run.
    pub actor: Option<String>,
    /// The code that was built.
    pub commit: Commit,
    /// The outcome of the job.
    pub outcome: RunOutcome,
    /// When the job started running.
    pub started_at: Option<DateTime<Utc>>,
    /// When the job finished (for a job still running, when the report was made).
    pub finished_at: DateTime<Utc>,
    /// `finished_at - started_at`, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Time between being queued (or the pipeline being created) and starting, in milliseconds.
    pub queued_ms: Option<u64>,
    /// Steps (GitHub), or stages (Jenkins), or jobs of the pipeline (GitLab), in order.
    pub steps: Vec<Step>,
    /// Every test of the run, with retries folded.
    pub tests: TestResults,
    /// Where each group of fields came from (`identity`, `outcome`, `timings`, `steps`, …).
    pub sources: BTreeMap<String, DataSource>,
    /// Things the reporter noticed and worked around: API failures, clamped durations, files
    /// that could not be parsed. Never secrets.
    pub warnings: Vec<String>,
    /// The program that wrote the report.
    pub reporter: Reporter,
}

/// The CI systems cimon knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// GitHub Actions (github.com or GitHub Enterprise Server).
    Github,
    /// GitLab CI/CD.
    Gitlab,
    /// Jenkins (freestyle, pipeline or multibranch).
    Jenkins,
    /// Any other CI, or a developer's machine.
    Generic,
}

impl ProviderKind {
    /// The lowercase name used in keys and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Jenkins => "jenkins",
            Self::Generic => "generic",
        }
    }
}

/// Where a group of fields of the report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// The CI's environment variables (or the event payload they point to).
    Env,
    /// The CI's REST API.
    Api,
    /// Command-line flags.
    Flag,
    /// The local `git` repository.
    Git,
    /// Computed by cimon (for example "now" as the end of a job still running).
    Derived,
}

/// Bookkeeping of sources: a small builder used by providers.
pub type Provenance = BTreeMap<String, DataSource>;

/// The commit that was built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Commit {
    /// The full commit SHA.
    pub sha: Option<String>,
    /// The branch name (for a pull/merge request, the source branch).
    pub branch: Option<String>,
    /// The tag name, when a tag was built.
    pub tag: Option<String>,
    /// The full git ref (`refs/heads/main`, `refs/pull/7/merge`, `refs/tags/v1`).
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// The pull request / merge request / change number.
    pub pull_request: Option<u64>,
    /// The branch the pull/merge request targets.
    pub base_branch: Option<String>,
}

/// One step (GitHub), stage (Jenkins) or job of the pipeline (GitLab).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Step {
    /// The step's name as the CI shows it.
    pub name: String,
    /// Its outcome.
    pub outcome: RunOutcome,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its duration in milliseconds.
    pub duration_ms: Option<u64>,
}

/// The program that wrote the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Reporter {
    /// Always `cimon`.
    pub name: String,
    /// cimon's version.
    pub version: String,
}

impl Default for Reporter {
    fn default() -> Self {
        Self {
            name: "cimon".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}
