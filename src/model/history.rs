//! What the store answers: run summaries, per-test statistics over a window, a test's
//! history, and the per-pipeline state behind `/metrics`. Plain data, no I/O.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ProviderKind, RunOutcome, TestOutcome, TestSummary};

/// One stored run, without its test cases (`GET /api/v1/runs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunSummary {
    /// The store's id of the run: 16 hex digits derived from the run's key.
    pub id: String,
    /// The run's idempotency key.
    pub key: String,
    /// The CI.
    pub provider: ProviderKind,
    /// Repository.
    pub repository: Option<String>,
    /// Workflow.
    pub workflow: Option<String>,
    /// Job.
    pub job: Option<String>,
    /// Branch.
    pub branch: Option<String>,
    /// Commit SHA.
    pub sha: Option<String>,
    /// The CI's run id.
    pub run_id: Option<String>,
    /// Attempt.
    pub run_attempt: u32,
    /// Outcome of the job.
    pub outcome: RunOutcome,
    /// Start of the job.
    pub started_at: Option<DateTime<Utc>>,
    /// End of the job.
    pub finished_at: DateTime<Utc>,
    /// Duration in ms.
    pub duration_ms: Option<u64>,
    /// Test counts.
    pub tests: TestSummary,
    /// When the store received the run.
    pub received_at: DateTime<Utc>,
}

/// Filters of `GET /api/v1/runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunQuery {
    /// Only this repository.
    pub repository: Option<String>,
    /// Only this branch.
    pub branch: Option<String>,
    /// Only this workflow.
    pub workflow: Option<String>,
    /// Only this outcome.
    pub outcome: Option<RunOutcome>,
    /// Only runs finished at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Page size (1..=500, default 50).
    pub limit: Option<u32>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A page of runs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<RunSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Scope of the test statistics and history (`GET /api/v1/tests`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TestQuery {
    /// Repository (required by the API).
    pub repository: Option<String>,
    /// Only runs of this branch.
    pub branch: Option<String>,
    /// The newest `window` runs of the scope (default 100).
    pub window: Option<u32>,
    /// Only runs finished at or after this time (the window counts only those).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
}

/// Statistics of one test over a window of runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestStats {
    /// Stable test id.
    pub test_id: String,
    /// Suite.
    pub suite: String,
    /// Classname.
    pub classname: Option<String>,
    /// Name.
    pub name: String,
    /// Runs in the window in which the test appeared.
    pub runs: u64,
    /// Runs in which it passed (flaky ones included).
    pub passes: u64,
    /// Runs in which it failed or errored.
    pub failures: u64,
    /// Runs in which it was skipped.
    pub skips: u64,
    /// Runs in which it failed then passed on a retry.
    pub flaky_runs: u64,
    /// Pass↔fail transitions between consecutive runs (skips ignored).
    pub flips: u64,
    /// `flips / (runs with a pass or fail − 1)`, 0 with fewer than two.
    pub flip_rate: f64,
    /// Commits on which the test both passed and failed (in different runs).
    pub same_commit_disagreements: u64,
    /// The newest outcome in the window that was a pass or a failure (`passed` or
    /// `failed`; errors count as failures), absent when the test only skipped.
    #[serde(default)]
    pub last_outcome: Option<TestOutcome>,
    /// When it last failed.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// When it was last flaky in a run.
    pub last_flaky_at: Option<DateTime<Utc>>,
}

/// One run of one test (`GET /api/v1/tests/{test_id}/history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestRunEntry {
    /// The run's store id.
    pub run: String,
    /// Branch of the run.
    pub branch: Option<String>,
    /// Commit.
    pub sha: Option<String>,
    /// When the run finished.
    pub finished_at: DateTime<Utc>,
    /// The test's outcome in that run.
    pub outcome: TestOutcome,
    /// Flaky in that run.
    pub flaky: bool,
    /// Attempts in that run.
    pub attempts: u32,
    /// Duration in that run.
    pub duration_ms: u64,
}

/// The latest state of one pipeline (provider, repository, workflow, job, branch), for
/// `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineState {
    /// CI.
    pub provider: ProviderKind,
    /// Repository.
    pub repository: String,
    /// Workflow.
    pub workflow: String,
    /// Job.
    pub job: String,
    /// Branch.
    pub branch: String,
    /// Outcome of the latest run.
    pub last_outcome: RunOutcome,
    /// When the latest run finished.
    pub last_finished_at: DateTime<Utc>,
    /// Duration of the latest run in ms.
    pub last_duration_ms: Option<u64>,
    /// Queue time of the latest run in ms.
    pub last_queued_ms: Option<u64>,
    /// Test counts of the latest run.
    pub last_tests: TestSummary,
    /// Runs stored so far, per outcome (monotonic).
    pub runs_by_outcome: Vec<(RunOutcome, u64)>,
    /// Durations of every stored run, in ms (for the histogram), as cumulative bucket counts
    /// for [`DURATION_BUCKETS_SECONDS`] plus the count and sum.
    pub duration_buckets: Vec<u64>,
    /// Number of runs with a duration.
    pub duration_count: u64,
    /// Sum of those durations, in ms.
    pub duration_sum_ms: u64,
}

/// Upper bounds (seconds) of the pipeline duration histogram buckets.
pub const DURATION_BUCKETS_SECONDS: &[f64] = &[
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];
