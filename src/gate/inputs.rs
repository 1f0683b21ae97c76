//! What the verdict is computed from: the current run(s) and the history windows. Plain
//! data, filled in by `commands::gate`.

use chrono::NaiveDate;

use crate::model::{Scope, TestOutcome, TestRef, TestStats};

/// One test of a current run's report.
#[derive(Debug, Clone)]
pub struct CurrentTest {
    /// Identity.
    pub test: TestRef,
    /// Source file.
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
    /// Outcome after retries.
    pub outcome: TestOutcome,
    /// Failed then passed on a retry.
    pub flaky: bool,
}

/// One current run (`--report FILE`; several for a matrix).
#[derive(Debug, Clone, Default)]
pub struct CurrentRun {
    /// Its tests.
    pub tests: Vec<CurrentTest>,
    /// True when the history already holds this run (`report --history` ran first): its
    /// results are not counted twice.
    pub in_history: bool,
}

/// A window of history: per-test statistics and the run counts behind the per-suite rules.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// Per-test statistics.
    pub stats: Vec<TestStats>,
    /// Runs in the window.
    pub runs: u64,
    /// Runs in the window in which at least one test needed a retry.
    pub runs_with_retries: u64,
}

/// Everything the verdict depends on.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// What is judged (repository, branches, commit). `window_*`, `history_runs` and
    /// `in_scope` are filled in by [`evaluate`].
    pub scope: Scope,
    /// The current run(s).
    pub current: Vec<CurrentRun>,
    /// The baseline window (the base branch of a pull request, else the run's branch), or
    /// why it could not be read.
    pub base: Result<Window, String>,
    /// The pull request's own branch window, when the run belongs to one.
    pub head: Option<Window>,
    /// Today (UTC), for quarantine expiry.
    pub today: NaiveDate,
}
