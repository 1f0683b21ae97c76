//! Rows back into model values, for every backend.
//!
//! [`DbRow`] is the little each backend's row type must answer (integers, texts, flags by
//! column name); everything else — summaries, pages, reports, windows, histories, pipeline
//! states — is decoded here once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::cursor::Cursor;
use super::packed;
use super::record::{hex_id, BUCKETS, RUN_OUTCOMES};
use super::stats::{HistoryRow, StatsBuilder, TestNames, WindowRun};
use super::StoreError;
use crate::model::{
    PipelineState, ProviderKind, RunOutcome, RunPage, RunReport, RunSummary, TestOutcome,
    TestSummary,
};

/// Column access by name, with errors as [`StoreError`].
pub(crate) trait DbRow {
    /// A non-null integer.
    fn int(&self, name: &str) -> Result<i64, StoreError>;
    /// A nullable integer.
    fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError>;
    /// A non-null text.
    fn text(&self, name: &str) -> Result<&str, StoreError>;
    /// A nullable text.
    fn opt_text(&self, name: &str) -> Result<Option<&str>, StoreError>;
    /// A boolean (an integer 0/1 in SQLite).
    fn flag(&self, name: &str) -> Result<bool, StoreError>;
    /// A non-null blob.
    fn bytes(&self, name: &str) -> Result<&[u8], StoreError>;
}

fn col<'r, R, T>(row: &'r R, name: &str) -> Result<T, StoreError>
where
    R: Row,
    for<'n> &'n str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Query(format!("column {name}: {e}")))
}

macro_rules! db_row {
    ($($row:ty),*) => {$(
        impl DbRow for $row {
            fn int(&self, name: &str) -> Result<i64, StoreError> {
                col(self, name)
            }
            fn opt_int(&self, name: &str) -> Result<Option<i64>, StoreError> {
                col(self, name)
            }
            fn text(&self, name: &str) -> Result<&str, StoreError> {
                col(self, name)
            }
            fn opt_text(&self, name: &str) -> Result<Option<&str>, StoreError> {
                col(self, name)
            }
            fn flag(&self, name: &str) -> Result<bool, StoreError> {
                col(self, name)
            }
            fn bytes(&self, name: &str) -> Result<&[u8], StoreError> {
                col(self, name)
            }
        }
    )*};
}

db_row!(SqliteRow, PgRow);

/// A time from epoch milliseconds.
pub(crate) fn time_of_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Query(format!("timestamp {ms} out of range in the store")))
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Query(format!("unexpected {what} {value:?} in the store"))
}

fn test_outcome(text: &str) -> Result<TestOutcome, StoreError> {
    Ok(match text {
        "passed" => TestOutcome::Passed,
        "failed" => TestOutcome::Failed,
        "errored" => TestOutcome::Errored,
        "skipped" => TestOutcome::Skipped,
        other => return Err(corrupt("test outcome", other)),
    })
}

fn run_outcome(text: &str) -> Result<RunOutcome, StoreError> {
    RUN_OUTCOMES
        .into_iter()
        .find(|o| o.as_str() == text)
        .ok_or_else(|| corrupt("run outcome", text))
}

fn provider(text: &str) -> Result<ProviderKind, StoreError> {
    [
        ProviderKind::Github,
        ProviderKind::Gitlab,
        ProviderKind::Jenkins,
        ProviderKind::Generic,
    ]
    .into_iter()
    .find(|p| p.as_str() == text)
    .ok_or_else(|| corrupt("provider", text))
}

fn owned(v: Option<&str>) -> Option<String> {
    v.map(str::to_owned)
}

/// The columns [`summary`] reads, for `SELECT` lists.
pub(crate) const SUMMARY_COLUMNS: &str = "id, key, provider, repository, workflow, job, branch, \
     sha, run_id, run_attempt, outcome, started_at, finished_at, received_at, duration_ms, \
     tests_total, tests_passed, tests_failed, tests_errored, tests_skipped, tests_flaky, \
     tests_duration_ms";

fn test_summary(row: &impl DbRow) -> Result<TestSummary, StoreError> {
    let n = |name: &str| row.int(name).map(to_u64);
    Ok(TestSummary {
        total: n("tests_total")?,
        passed: n("tests_passed")?,
        failed: n("tests_failed")?,
        errored: n("tests_errored")?,
        skipped: n("tests_skipped")?,
        flaky: n("tests_flaky")?,
        duration_ms: n("tests_duration_ms")?,
    })
}

/// A run summary from a row holding [`SUMMARY_COLUMNS`].
pub(crate) fn summary(row: &impl DbRow) -> Result<RunSummary, StoreError> {
    Ok(RunSummary {
        id: hex_id(row.int("id")?),
        key: row.text("key")?.to_owned(),
        provider: provider(row.text("provider")?)?,
        repository: owned(row.opt_text("repository")?),
        workflow: owned(row.opt_text("workflow")?),
        job: owned(row.opt_text("job")?),
        branch: owned(row.opt_text("branch")?),
        sha: owned(row.opt_text("sha")?),
        run_id: owned(row.opt_text("run_id")?),
        run_attempt: u32::try_from(row.int("run_attempt")?).unwrap_or(u32::MAX),
        outcome: run_outcome(row.text("outcome")?)?,
        started_at: row.opt_int("started_at")?.map(time_of_ms).transpose()?,
        finished_at: time_of_ms(row.int("finished_at")?)?,
        duration_ms: row.opt_int("duration_ms")?.map(to_u64),
        tests: test_summary(row)?,
        received_at: time_of_ms(row.int("received_at")?)?,
    })
}

/// A page from up to `limit + 1` rows of [`SUMMARY_COLUMNS`]: the extra row only says that
/// another page follows.
pub(crate) fn page(rows: &[impl DbRow], limit: u32) -> Result<RunPage, StoreError> {
    let limit = limit as usize;
    let shown = &rows[..rows.len().min(limit)];
    let runs = shown.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = match shown.last() {
        Some(last) if rows.len() > limit => Some(
            Cursor {
                finished_at: last.int("finished_at")?,
                id: last.int("id")?,
            }
            .encode(),
        ),
        _ => None,
    };
    Ok(RunPage { runs, next_cursor })
}

/// The stored report of run `id` from its `report` column.
pub(crate) fn report(row: Option<&impl DbRow>, id: i64) -> Result<Option<RunReport>, StoreError> {
    row.map(|row| {
        let json = packed::unpack_report(row.bytes("report")?)?;
        serde_json::from_str(&json)
            .map_err(|e| StoreError::Query(format!("stored report {}: {e}", hex_id(id))))
    })
    .transpose()
}

/// A window run from `seq, id, finished_at, sha, branch`.
pub(crate) fn window_run(row: &impl DbRow) -> Result<WindowRun, StoreError> {
    Ok(WindowRun {
        seq: row.int("seq")?,
        id: row.int("id")?,
        finished_at: row.int("finished_at")?,
        sha: owned(row.opt_text("sha")?),
        branch: owned(row.opt_text("branch")?),
    })
}

/// A history row from `run_seq, outcome, flaky, attempts, duration_ms`.
pub(crate) fn history_row(row: &impl DbRow) -> Result<HistoryRow, StoreError> {
    Ok(HistoryRow {
        run_seq: row.int("run_seq")?,
        outcome: test_outcome(row.text("outcome")?)?,
        flaky: row.flag("flaky")?,
        attempts: row.int("attempts")?,
        duration_ms: row.int("duration_ms")?,
    })
}

/// Feeds `builder` the packed test outcomes of `window` (oldest run first) from rows of
/// `run_seq, tests` (in any order). A run without a row adds nothing.
pub(crate) fn add_packed_tests(
    builder: &mut StatsBuilder,
    window: &[WindowRun],
    rows: &[impl DbRow],
) -> Result<(), StoreError> {
    let mut by_run: HashMap<i64, &[u8]> = HashMap::with_capacity(rows.len());
    for row in rows {
        by_run.insert(row.int("run_seq")?, row.bytes("tests")?);
    }
    for (i, run) in window.iter().enumerate() {
        builder.start_run(i);
        if let Some(packed) = by_run.get(&run.seq) {
            packed::unpack_tests(packed, |test, outcome, flaky| {
                builder.add(test, outcome, flaky)
            })?;
        }
    }
    Ok(())
}

/// Test names by id from `id, suite, classname, name` rows.
pub(crate) fn test_names(rows: &[impl DbRow]) -> Result<HashMap<i64, TestNames>, StoreError> {
    rows.iter()
        .map(|row| {
            Ok((
                row.int("id")?,
                TestNames {
                    suite: row.text("suite")?.to_owned(),
                    classname: owned(row.opt_text("classname")?),
                    name: row.text("name")?.to_owned(),
                },
            ))
        })
        .collect()
}

/// The `SELECT` of [`pipelines`]: pipeline shard rows joined with their latest run (the
/// backend appends the `WHERE`/`ORDER BY`).
pub(crate) const PIPELINES_SELECT: &str = "SELECT p.provider, p.repository, p.workflow, p.job, \
     p.branch, p.last_run, p.last_finished_at, p.runs_success, p.runs_failure, \
     p.runs_cancelled, p.runs_skipped, p.runs_unknown, p.duration_count, p.duration_sum_ms, \
     p.b1, p.b2, p.b3, p.b4, p.b5, p.b6, p.b7, p.b8, p.b9, \
     r.outcome, r.duration_ms, r.queued_ms, r.tests_total, r.tests_passed, r.tests_failed, \
     r.tests_errored, r.tests_skipped, r.tests_flaky, r.tests_duration_ms \
     FROM pipelines p JOIN runs r ON r.id = p.last_run";

/// One shard row of a pipeline, with the sort key of its latest run.
fn pipeline_shard(row: &impl DbRow) -> Result<((i64, i64), PipelineState), StoreError> {
    let n = |name: &str| row.int(name).map(to_u64);
    let runs_by_outcome = RUN_OUTCOMES
        .iter()
        .map(|o| Ok((*o, n(&format!("runs_{}", o.as_str()))?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let duration_buckets = (1..=BUCKETS)
        .map(|i| n(&format!("b{i}")))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let latest = (row.int("last_finished_at")?, row.int("last_run")?);
    let state = PipelineState {
        provider: provider(row.text("provider")?)?,
        repository: row.text("repository")?.to_owned(),
        workflow: row.text("workflow")?.to_owned(),
        job: row.text("job")?.to_owned(),
        branch: row.text("branch")?.to_owned(),
        last_outcome: run_outcome(row.text("outcome")?)?,
        last_finished_at: time_of_ms(latest.0)?,
        last_duration_ms: row.opt_int("duration_ms")?.map(to_u64),
        last_queued_ms: row.opt_int("queued_ms")?.map(to_u64),
        last_tests: test_summary(row)?,
        runs_by_outcome,
        duration_buckets,
        duration_count: n("duration_count")?,
        duration_sum_ms: n("duration_sum_ms")?,
    };
    Ok((latest, state))
}

/// Pipeline states from rows of [`PIPELINES_SELECT`] ordered by pipeline: the shards of a
/// pipeline add up, and the latest run across them is the pipeline's latest.
pub(crate) fn pipelines(rows: &[impl DbRow]) -> Result<Vec<PipelineState>, StoreError> {
    let mut out: Vec<((i64, i64), PipelineState)> = Vec::new();
    for row in rows {
        let (latest, shard) = pipeline_shard(row)?;
        let same = |p: &PipelineState| {
            (p.provider, &p.repository, &p.workflow, &p.job, &p.branch)
                == (
                    shard.provider,
                    &shard.repository,
                    &shard.workflow,
                    &shard.job,
                    &shard.branch,
                )
        };
        match out.last_mut() {
            Some((best, p)) if same(p) => {
                for ((_, total), (_, n)) in p.runs_by_outcome.iter_mut().zip(&shard.runs_by_outcome)
                {
                    *total += n;
                }
                for (total, n) in p.duration_buckets.iter_mut().zip(&shard.duration_buckets) {
                    *total += n;
                }
                p.duration_count += shard.duration_count;
                p.duration_sum_ms += shard.duration_sum_ms;
                if latest > *best {
                    *best = latest;
                    p.last_outcome = shard.last_outcome;
                    p.last_finished_at = shard.last_finished_at;
                    p.last_duration_ms = shard.last_duration_ms;
                    p.last_queued_ms = shard.last_queued_ms;
                    p.last_tests = shard.last_tests;
                }
            }
            _ => out.push((latest, shard)),
        }
    }
    Ok(out.into_iter().map(|(_, p)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_words_parse_back() {
        for o in RUN_OUTCOMES {
            assert_eq!(run_outcome(o.as_str()).unwrap(), o);
        }
        for o in [
            TestOutcome::Passed,
            TestOutcome::Failed,
            TestOutcome::Errored,
            TestOutcome::Skipped,
        ] {
            assert_eq!(test_outcome(o.as_str()).unwrap(), o);
        }
        assert!(provider("travis").is_err());
        assert!(time_of_ms(i64::MAX).is_err());
    }
}
