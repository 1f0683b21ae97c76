//! The rows a run becomes, and rows back into model values: shared by every backend.
//!
//! - [`RunRecord`]: the `runs` columns of a report, plus its stored (packed) JSON text.
//! - [`TestRecord`]: one `test_results`/`tests` row per distinct test id of the report,
//!   sorted by id (a stable lock order for concurrent writers).
//! - [`PipelineDelta`]: what one new run adds to its pipeline's counters.
//!
//! Rows back into model values are in [`super::decode`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Posted, StoreError};
use crate::model::{RunOutcome, RunReport, TestCase, TestOutcome, DURATION_BUCKETS_SECONDS};

/// Number of duration-histogram bucket columns (`b1`..`b9`) in the `pipelines` table.
pub(crate) const BUCKETS: usize = 9;
const _: () = assert!(DURATION_BUCKETS_SECONDS.len() == BUCKETS);

/// The label value stored for a missing pipeline label.
pub(crate) const MISSING_LABEL: &str = "-";

/// The columns of `runs` (and `run_reports.report`) for one report.
#[derive(Debug, Clone)]
pub(crate) struct RunRecord<'a> {
    pub id: i64,
    pub key: &'a str,
    pub provider: &'static str,
    pub repository: Option<&'a str>,
    pub workflow: Option<&'a str>,
    pub job: Option<&'a str>,
    pub branch: Option<&'a str>,
    pub sha: Option<&'a str>,
    pub run_id: Option<&'a str>,
    pub run_attempt: i64,
    pub outcome: &'static str,
    pub started_at: Option<i64>,
    pub finished_at: i64,
    pub received_at: i64,
    pub duration_ms: Option<i64>,
    pub queued_ms: Option<i64>,
    /// total, passed, failed, errored, skipped, flaky, duration_ms.
    pub tests: [i64; 7],
    /// The report's JSON, packed ([`super::packed::pack_report`]).
    pub report: Vec<u8>,
}

impl<'a> RunRecord<'a> {
    /// The record of `report`, received at `now`; its stored JSON is `posted` when given
    /// (the body `report` was read from), else `report` serialised.
    pub fn of(
        report: &'a RunReport,
        posted: Option<Posted<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let packed = match posted {
            Some(body) => super::packed::pack_posted(body)?,
            None => super::packed::pack_report(report)?,
        };
        let s = &report.tests.summary;
        Ok(Self {
            id: id_of_key(&report.key),
            key: &report.key,
            provider: report.provider.as_str(),
            repository: report.repository.as_deref(),
            workflow: report.workflow.as_deref(),
            job: report.job.as_deref(),
            branch: report.commit.branch.as_deref(),
            sha: report.commit.sha.as_deref(),
            run_id: report.run_id.as_deref(),
            run_attempt: i64::from(report.run_attempt),
            outcome: report.outcome.as_str(),
            started_at: report.started_at.map(|t| t.timestamp_millis()),
            finished_at: report.finished_at.timestamp_millis(),
            received_at: now.timestamp_millis(),
            duration_ms: report.duration_ms.map(clamp_i64),
            queued_ms: report.queued_ms.map(clamp_i64),
            tests: [
                s.total,
                s.passed,
                s.failed,
                s.errored,
                s.skipped,
                s.flaky,
                s.duration_ms,
            ]
            .map(clamp_i64),
            report: packed,
        })
    }

    /// The pipeline this run belongs to, the shard row (of `shards`) it goes to, and what it
    /// adds to the counters.
    pub fn pipeline_delta(&self, shards: u64) -> PipelineDelta<'a> {
        let label = |v: Option<&'a str>| v.filter(|v| !v.is_empty()).unwrap_or(MISSING_LABEL);
        let mut runs = [0i64; 5];
        runs[outcome_slot(self.outcome)] = 1;
        let mut buckets = [0i64; BUCKETS];
        if let Some(ms) = self.duration_ms {
            for (slot, le) in buckets.iter_mut().zip(DURATION_BUCKETS_SECONDS) {
                // Cumulative buckets: a duration counts in every bucket whose bound it fits.
                *slot = i64::from(ms as f64 <= le * 1000.0);
            }
        }
        PipelineDelta {
            shard: i64::try_from((self.id as u64) % shards.max(1)).unwrap_or(0),
            provider: self.provider,
            repository: label(self.repository),
            workflow: label(self.workflow),
            job: label(self.job),
            branch: label(self.branch),
            runs,
            duration_count: i64::from(self.duration_ms.is_some()),
            duration_sum_ms: self.duration_ms.unwrap_or(0),
            buckets,
        }
    }
}

/// What one new run adds to its pipeline row.
#[derive(Debug, Clone)]
pub(crate) struct PipelineDelta<'a> {
    pub shard: i64,
    pub provider: &'static str,
    pub repository: &'a str,
    pub workflow: &'a str,
    pub job: &'a str,
    pub branch: &'a str,
    /// success, failure, cancelled, skipped, unknown.
    pub runs: [i64; 5],
    pub duration_count: i64,
    pub duration_sum_ms: i64,
    pub buckets: [i64; BUCKETS],
}

/// The `runs_<outcome>` columns of `pipelines`, in the order of [`PipelineDelta::runs`].
pub(crate) const RUN_OUTCOMES: [RunOutcome; 5] = [
    RunOutcome::Success,
    RunOutcome::Failure,
    RunOutcome::Cancelled,
    RunOutcome::Skipped,
    RunOutcome::Unknown,
];

fn outcome_slot(outcome: &str) -> usize {
    RUN_OUTCOMES
        .iter()
        .position(|o| o.as_str() == outcome)
        .unwrap_or(4)
}

/// One test of a run: its `tests` (names) and `test_results` columns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TestRecord<'a> {
    pub test: i64,
    pub suite: &'a str,
    pub classname: Option<&'a str>,
    pub name: &'a str,
    pub outcome: TestOutcome,
    pub flaky: bool,
    pub attempts: i64,
    pub duration_ms: i64,
}

impl<'a> TestRecord<'a> {
    /// One record per distinct test id of `cases`, sorted by id. Cases sharing an id (the
    /// same test reported twice in one run) are merged: a failure wins over a pass, a pass
    /// over a skip; attempts and durations add up.
    pub fn of_cases(cases: &'a [TestCase]) -> Vec<Self> {
        let mut by_id: BTreeMap<i64, Self> = BTreeMap::new();
        for case in cases {
            let record = Self {
                test: case.id.0 as i64,
                suite: &case.suite,
                classname: case.classname.as_deref(),
                name: &case.name,
                outcome: case.outcome,
                flaky: case.flaky,
                attempts: clamp_i64(case.attempts.len() as u64).max(1),
                duration_ms: clamp_i64(case.duration_ms),
            };
            by_id
                .entry(record.test)
                .and_modify(|r| r.merge(&record))
                .or_insert(record);
        }
        by_id.into_values().collect()
    }

    fn merge(&mut self, other: &Self) {
        self.outcome = match (self.outcome, other.outcome) {
            (a, b) if a.is_failure() || b.is_failure() => a.max(b),
            (TestOutcome::Passed, _) | (_, TestOutcome::Passed) => TestOutcome::Passed,
            _ => TestOutcome::Skipped,
        };
        self.flaky |= other.flaky;
        self.attempts = self.attempts.saturating_add(other.attempts);
        self.duration_ms = self.duration_ms.saturating_add(other.duration_ms);
    }
}

/// The integer id of a run key (see [`super::run_id`]).
pub(crate) fn id_of_key(key: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// What an insert that did nothing means: the run is stored when the row at its id has its
/// key; another key there is a (64-bit) id collision, an error rather than a silent drop.
pub(crate) fn check_stored(id: i64, key: &str, stored: Option<&str>) -> Result<(), StoreError> {
    match stored {
        Some(k) if k == key => Ok(()),
        Some(other) => Err(StoreError::Query(format!(
            "run id {} of key {key:?} is taken by key {other:?}: cannot store the run",
            hex_id(id)
        ))),
        None => Err(StoreError::Query(format!(
            "run {key:?} was neither stored nor found"
        ))),
    }
}

/// The public (16 hex digits) form of an integer id.
pub(crate) fn hex_id(id: i64) -> String {
    format!("{:016x}", id as u64)
}

/// Parses a public id (16 hex digits).
pub(crate) fn parse_hex_id(field: &'static str, text: &str) -> Result<i64, StoreError> {
    if text.len() != 16 {
        return Err(StoreError::Invalid {
            field,
            message: "expected 16 hex digits".into(),
        });
    }
    u64::from_str_radix(text, 16)
        .map(|v| v as i64)
        .map_err(|_| StoreError::Invalid {
            field,
            message: "expected 16 hex digits".into(),
        })
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_hex() {
        for key in ["a", "github/octo/app/ci/1/1/build", ""] {
            let id = id_of_key(key);
            assert_eq!(hex_id(id), super::super::run_id(key));
            assert_eq!(parse_hex_id("id", &hex_id(id)).unwrap(), id);
        }
        assert!(parse_hex_id("id", "xyz").is_err());
        assert!(parse_hex_id("id", "000000000000000g").is_err());
    }

    #[test]
    fn an_insert_that_did_nothing_is_checked() {
        assert!(check_stored(1, "a", Some("a")).is_ok());
        assert!(check_stored(1, "a", Some("b")).is_err());
        assert!(check_stored(1, "a", None).is_err());
    }

    #[test]
    fn merged_outcomes_prefer_failures_then_passes() {
        use TestOutcome::*;
        let table = [
            (Passed, Skipped, Passed),
            (Skipped, Skipped, Skipped),
            (Passed, Failed, Failed),
            (Errored, Passed, Errored),
            (Failed, Errored, Errored),
            (Skipped, Failed, Failed),
        ];
        for (a, b, want) in table {
            let mut r = TestRecord {
                test: 1,
                suite: "s",
                classname: None,
                name: "n",
                outcome: a,
                flaky: false,
                attempts: 1,
                duration_ms: 5,
            };
            let other = TestRecord {
                outcome: b,
                ..r.clone()
            };
            r.merge(&other);
            assert_eq!(r.outcome, want, "{a:?} + {b:?}");
            assert_eq!((r.attempts, r.duration_ms), (2, 10));
        }
    }
}
