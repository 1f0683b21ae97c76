//! What `cimon gate` decides (`cimon.verdict/v1`): the verdict, the rules violated with their
//! evidence, what was excused, and every judged test with its statistics. Plain data, no I/O.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::TestOutcome;

/// The `schema` value of a verdict document.
pub const VERDICT_SCHEMA: &str = "cimon.verdict/v1";

/// The gate's answer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum VerdictKind {
    /// Nothing to report.
    Pass,
    /// Something to look at; does not block (exit 0).
    Warn,
    /// The policy says no (exit 1).
    Fail,
}

impl VerdictKind {
    /// The word used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// What a violation does to the verdict.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Warns.
    Warn,
    /// Fails the gate.
    Fail,
}

/// How a test behaved over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    /// Passes (or failed once and was fixed).
    Healthy,
    /// Passes and fails on the same code: retries, same-commit disagreement, or a flip rate
    /// above the threshold.
    Flaky,
    /// Fails consistently since it started failing: broken, not flaky.
    Broken,
    /// Fewer judged runs than `min_runs`: not judged.
    Unknown,
}

impl Classification {
    /// The word used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Flaky => "flaky",
            Self::Broken => "broken",
            Self::Unknown => "unknown",
        }
    }
}

/// The gate's decision (`--format json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "cimon gate verdict (cimon.verdict/v1)")]
pub struct Verdict {
    /// Always `cimon.verdict/v1`.
    pub schema: String,
    /// pass, warn or fail.
    pub verdict: VerdictKind,
    /// One line saying why.
    pub summary: String,
    /// `enforce` or `warn` (the policy's `mode`).
    pub mode: String,
    /// What was judged.
    pub scope: Scope,
    /// Rules the window (or this run) breaks, most severe first.
    pub violations: Vec<Violation>,
    /// Tests that would have counted against the policy but are excused.
    pub excused: Vec<Excuse>,
    /// With `allow_known_flaky_failures`: true when the current run failed only in
    /// quarantined or known-flaky tests, false when another test failed; absent otherwise.
    pub failures_excused: Option<bool>,
    /// Problems that did not stop the gate (unreadable history, …).
    pub warnings: Vec<String>,
    /// Every test in scope with its classification and statistics, most unstable first.
    pub tests: Vec<TestVerdict>,
}

/// What the verdict covers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Scope {
    /// Repository.
    pub repository: Option<String>,
    /// The current run's branch.
    pub branch: Option<String>,
    /// The branch whose history is the baseline (the base branch of a pull request, else
    /// the run's branch).
    pub base_branch: Option<String>,
    /// Pull/merge request of the current run.
    pub pull_request: Option<u64>,
    /// Commit of the current run.
    pub sha: Option<String>,
    /// The window: newest N runs.
    pub window_runs: u32,
    /// The window: last D days.
    pub window_days: Option<u32>,
    /// Runs of the baseline in the window (the current run included when it belongs there).
    pub history_runs: u64,
    /// Runs of the pull request's branch in the window (the current run included).
    pub branch_runs: Option<u64>,
    /// Where the history came from (`file …`, `endpoint …`, or `none`).
    pub history: String,
    /// False when the run's branch is outside `gate.branches`: nothing was judged.
    pub in_scope: bool,
}

/// A test named in a violation or an excuse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TestRef {
    /// Stable test id.
    pub id: String,
    /// Suite.
    pub suite: String,
    /// Classname.
    pub classname: Option<String>,
    /// Name.
    pub name: String,
}

impl TestRef {
    /// `classname.name`, or the name alone.
    pub fn full_name(&self) -> String {
        match &self.classname {
            Some(c) if !c.is_empty() => format!("{c}.{}", self.name),
            _ => self.name.clone(),
        }
    }
}

/// One rule broken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Violation {
    /// The rule (`max_flip_rate`, `max_failure_rate`, `max_flaky_tests`,
    /// `max_flaky_run_rate`, `new_flaky`, `quarantine_expired`, `missing_history`).
    pub rule: String,
    /// What it does to the verdict (after `mode`).
    pub level: Level,
    /// The policy's threshold (absent for rules without one).
    pub threshold: Option<f64>,
    /// The measured value.
    pub value: Option<f64>,
    /// One sentence that explains it.
    pub message: String,
    /// The test, for per-test rules.
    pub test: Option<TestRef>,
    /// The numbers behind it.
    pub evidence: Evidence,
    /// Where in the repository it points, when not at a test (`quarantine_expired`: the
    /// entry in the policy file).
    #[serde(default)]
    pub location: Option<SourceLocation>,
}

/// A line of a file of the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceLocation {
    /// Path as given (relative to the working directory, normally the repository root).
    pub path: String,
    /// 1-based line.
    pub line: u32,
}

/// The numbers behind a violation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    /// Runs judged.
    pub runs: u64,
    /// Failed runs (per test) or runs that needed a retry (per suite).
    pub failures: u64,
    /// Runs in which the test failed then passed on a retry.
    pub flaky_runs: u64,
    /// Pass↔fail transitions.
    pub flips: u64,
    /// Commits on which the test both passed and failed.
    pub same_commit_disagreements: u64,
    /// Commits of the current run that show it.
    pub commits: Vec<String>,
    /// The Wilson bound compared with the threshold (`max_failure_rate`).
    pub bound: Option<f64>,
    /// Tests counted (per-suite rules), at most 50.
    pub tests: Vec<TestRef>,
}

/// Why a test did not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExcuseKind {
    /// An active `quarantine:` entry.
    Quarantine,
    /// Known to be flaky on the base branch (`allow_known_flaky_failures`).
    KnownFlaky,
}

/// One excused test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Excuse {
    /// The test.
    pub test: TestRef,
    /// Why.
    pub kind: ExcuseKind,
    /// The quarantine entry, for `quarantine`.
    pub entry: Option<QuarantineNote>,
    /// What was excused: `flaky`, `broken`, `failed in this run`.
    pub excused: String,
}

/// A quarantine entry as the verdict shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QuarantineNote {
    /// The entry's patterns, as written (`test: *x*`, `suite: …`).
    pub pattern: String,
    /// Owner.
    pub owner: String,
    /// Reason.
    pub reason: String,
    /// Last day it excuses (`YYYY-MM-DD`).
    pub until: Option<String>,
    /// Where it is written (`.cimon.yml:12`).
    pub origin: String,
}

/// One test in scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestVerdict {
    /// Stable test id.
    pub id: String,
    /// Suite.
    pub suite: String,
    /// Classname.
    pub classname: Option<String>,
    /// Name.
    pub name: String,
    /// Source file (from the current run's report).
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
    /// Over the baseline window.
    pub classification: Classification,
    /// Matched by an active quarantine entry.
    pub quarantined: bool,
    /// Flaky in this pull request's runs but not on the base branch.
    pub new_flaky: bool,
    /// Outcome in the current run, when it ran.
    pub current_outcome: Option<TestOutcome>,
    /// Failed then passed on a retry in the current run.
    pub flaky_in_current_run: bool,
    /// The statistics over the baseline window.
    pub statistics: Statistics,
}

/// A test's statistics over a window (`docs/flakiness.md` gives every formula).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Statistics {
    /// Runs in which the test appeared.
    pub runs: u64,
    /// Runs in which it passed (flaky ones included).
    pub passes: u64,
    /// Runs in which it failed or errored.
    pub failures: u64,
    /// Runs in which it was skipped.
    pub skips: u64,
    /// Runs in which it failed then passed on a retry.
    pub flaky_runs: u64,
    /// Pass↔fail transitions between consecutive judged runs.
    pub flips: u64,
    /// `flips / (passes + failures − 1)`, 0 with fewer than two judged runs.
    pub flip_rate: f64,
    /// Commits on which it both passed and failed, in different runs.
    pub same_commit_disagreements: u64,
    /// `failures / (passes + failures)`, 0 without judged runs.
    pub failure_rate: f64,
    /// Wilson interval of the failure rate at the policy's confidence: lower bound.
    pub failure_rate_low: f64,
    /// Upper bound.
    pub failure_rate_high: f64,
}
