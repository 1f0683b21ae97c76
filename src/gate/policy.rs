//! The validated gate policy (`gate:` and `quarantine:` of `.cimon.yml`, built by
//! [`crate::config`]) and how it matches branches and tests. Plain data, no I/O.

use chrono::NaiveDate;
use globset::GlobSet;

use crate::config::file::{GateMode, NewFlaky, OnMissingHistory};
use crate::model::{QuarantineNote, TestRef};

/// Default `gate.window.runs`.
pub const DEFAULT_WINDOW_RUNS: u32 = 100;
/// Default `gate.min_runs`.
pub const DEFAULT_MIN_RUNS: u32 = 10;
/// The flip rate above which a test counts as flaky when `max_flip_rate` is absent.
pub const DEFAULT_FLAKY_FLIP_RATE: f64 = 0.1;
/// Default `gate.rules.confidence`.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// Compiled globs with the patterns they came from.
#[derive(Debug, Clone)]
pub struct Globs {
    /// As written.
    pub patterns: Vec<String>,
    /// Compiled.
    pub set: GlobSet,
}

impl Globs {
    /// True when one of the globs matches `s`.
    pub fn matches(&self, s: &str) -> bool {
        self.set.is_match(s)
    }
}

/// A test as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct TestName<'a> {
    /// Stable id (16 hex digits).
    pub id: &'a str,
    /// Suite.
    pub suite: &'a str,
    /// Classname.
    pub classname: Option<&'a str>,
    /// Name.
    pub name: &'a str,
}

impl<'a> TestName<'a> {
    /// Borrowed from a [`TestRef`].
    pub fn of(t: &'a TestRef) -> Self {
        Self {
            id: t.id.as_str(),
            suite: t.suite.as_str(),
            classname: t.classname.as_deref(),
            name: t.name.as_str(),
        }
    }

    /// True when a test glob matches the id, the name, the classname or `classname.name`.
    pub fn matches(&self, globs: &Globs) -> bool {
        if globs.matches(self.id) || globs.matches(self.name) {
            return true;
        }
        match self.classname.filter(|c| !c.is_empty()) {
            Some(c) => globs.matches(c) || globs.matches(&format!("{c}.{}", self.name)),
            None => false,
        }
    }
}

/// One `quarantine:` entry.
#[derive(Debug, Clone)]
pub struct QuarantineEntry {
    /// `test`: an id (exact) or a glob.
    pub test: Option<Globs>,
    /// `suite` glob.
    pub suite: Option<Globs>,
    /// `classname` glob.
    pub classname: Option<Globs>,
    /// `name` glob.
    pub name: Option<Globs>,
    /// The entry as the verdict shows it.
    pub note: QuarantineNote,
    /// `until`, parsed.
    pub until: Option<NaiveDate>,
    /// The policy file and the entry's line.
    pub location: crate::model::SourceLocation,
}

impl QuarantineEntry {
    /// True when every pattern of the entry matches the test.
    pub fn matches(&self, t: &TestName<'_>) -> bool {
        self.test.as_ref().is_none_or(|g| t.matches(g))
            && self.suite.as_ref().is_none_or(|g| g.matches(t.suite))
            && self
                .classname
                .as_ref()
                .is_none_or(|g| g.matches(t.classname.unwrap_or("")))
            && self.name.as_ref().is_none_or(|g| g.matches(t.name))
    }

    /// True on `today` when the entry still excuses (`until` is the last day).
    pub fn active(&self, today: NaiveDate) -> bool {
        self.until.is_none_or(|u| today <= u)
    }
}

/// `gate:` and `quarantine:`, validated, with every default applied.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Where it was read from (`.cimon.yml`, or `(defaults)`).
    pub source: String,
    /// Branch scope; `None`: every branch.
    pub branches: Option<Globs>,
    /// Test scope; `None`: every test.
    pub tests: Option<Globs>,
    /// The newest N runs.
    pub window_runs: u32,
    /// The last D days.
    pub window_days: Option<u32>,
    /// Tests with fewer judged runs are not judged.
    pub min_runs: u32,
    /// Per-test flip-rate rule.
    pub max_flip_rate: Option<f64>,
    /// Per-test failure-rate rule.
    pub max_failure_rate: Option<f64>,
    /// Confidence of the Wilson bound.
    pub confidence: f64,
    /// Per-suite count of flaky tests.
    pub max_flaky_tests: Option<u64>,
    /// Per-suite share of runs that needed a retry.
    pub max_flaky_run_rate: Option<f64>,
    /// New flaky tests in a pull request.
    pub new_flaky: NewFlaky,
    /// enforce or warn.
    pub mode: GateMode,
    /// Verdict without history.
    pub on_missing_history: OnMissingHistory,
    /// Excuse a run that failed only in known flakes.
    pub allow_known_flaky_failures: bool,
    /// Quarantine entries, in file order.
    pub quarantine: Vec<QuarantineEntry>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            source: "(defaults)".into(),
            branches: None,
            tests: None,
            window_runs: DEFAULT_WINDOW_RUNS,
            window_days: None,
            min_runs: DEFAULT_MIN_RUNS,
            max_flip_rate: None,
            max_failure_rate: None,
            confidence: DEFAULT_CONFIDENCE,
            max_flaky_tests: None,
            max_flaky_run_rate: None,
            new_flaky: NewFlaky::Warn,
            mode: GateMode::Enforce,
            on_missing_history: OnMissingHistory::Warn,
            allow_known_flaky_failures: false,
            quarantine: Vec::new(),
        }
    }
}

impl Policy {
    /// The flip rate above which a test is flaky: `max_flip_rate`, else 0.1.
    pub fn flaky_flip_rate(&self) -> f64 {
        self.max_flip_rate.unwrap_or(DEFAULT_FLAKY_FLIP_RATE)
    }

    /// True when `branch` is in the branch scope.
    pub fn gates_branch(&self, branch: &str) -> bool {
        self.branches.as_ref().is_none_or(|g| g.matches(branch))
    }

    /// True when the test is in the test scope.
    pub fn judges(&self, t: &TestName<'_>) -> bool {
        self.tests.as_ref().is_none_or(|g| t.matches(g))
    }

    /// The first entry matching the test, whether active or not.
    pub fn quarantine_of(&self, t: &TestName<'_>) -> Option<&QuarantineEntry> {
        self.quarantine.iter().find(|q| q.matches(t))
    }

    /// `enforce` or `warn`.
    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            GateMode::Enforce => "enforce",
            GateMode::Warn => "warn",
        }
    }
}
