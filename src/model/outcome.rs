//! Outcomes of a run and of a test, and how CI vocabularies map onto them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The outcome of a whole CI job (or pipeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// The job succeeded.
    Success,
    /// The job failed.
    Failure,
    /// The job was cancelled or aborted.
    Cancelled,
    /// The job was skipped.
    Skipped,
    /// The outcome is not known (no `--status`, no API).
    Unknown,
}

impl RunOutcome {
    /// Maps the status words of GitHub (`job.status`, job `conclusion`), GitLab
    /// (`CI_JOB_STATUS`, job `status`) and Jenkins (`currentBuild.currentResult`, build
    /// `result`, `wfapi` stage `status`) onto a run outcome. Case-insensitive;
    /// unrecognised words give `None`.
    pub fn parse_ci_status(word: &str) -> Option<Self> {
        let w = word.trim().to_ascii_lowercase();
        Some(match w.as_str() {
            "success" | "succeeded" | "passed" | "ok" => Self::Success,
            // Jenkins UNSTABLE means tests failed: the run did not succeed.
            "failure" | "failed" | "unstable" | "timed_out" | "error" => Self::Failure,
            "cancelled" | "canceled" | "aborted" => Self::Cancelled,
            "skipped" | "manual" | "not_built" | "not_executed" | "neutral" => Self::Skipped,
            "unknown" => Self::Unknown,
            _ => return None,
        })
    }

    /// The lowercase word used in JSON and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
            Self::Unknown => "unknown",
        }
    }
}

/// The outcome of one test (of its final attempt, for a retried test).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TestOutcome {
    /// The test passed.
    #[default]
    Passed,
    /// The test was skipped, disabled or ignored.
    Skipped,
    /// An assertion failed (`<failure>`).
    Failed,
    /// The test could not run to completion (`<error>`): an unexpected exception, a crash.
    Errored,
}

impl TestOutcome {
    /// The lowercase word used in JSON and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::Errored => "errored",
        }
    }

    /// True for `failed` and `errored`.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Errored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_status_words_map_onto_outcomes() {
        let table = [
            ("success", Some(RunOutcome::Success)),
            ("SUCCESS", Some(RunOutcome::Success)),
            ("failure", Some(RunOutcome::Failure)),
            ("failed", Some(RunOutcome::Failure)),
            ("UNSTABLE", Some(RunOutcome::Failure)),
            ("cancelled", Some(RunOutcome::Cancelled)),
            ("canceled", Some(RunOutcome::Cancelled)),
            ("ABORTED", Some(RunOutcome::Cancelled)),
            ("NOT_BUILT", Some(RunOutcome::Skipped)),
            ("running", None),
            ("", None),
        ];
        for (word, want) in table {
            assert_eq!(RunOutcome::parse_ci_status(word), want, "{word:?}");
        }
    }

    #[test]
    fn test_outcomes_order_by_severity() {
        assert!(TestOutcome::Errored > TestOutcome::Failed);
        assert!(TestOutcome::Failed > TestOutcome::Skipped);
        assert!(TestOutcome::Skipped > TestOutcome::Passed);
        assert!(TestOutcome::Errored.is_failure() && !TestOutcome::Skipped.is_failure());
    }
}
