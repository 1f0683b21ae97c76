//! Writing one run to SQLite in two round trips, prepared outside the write lock.
//!
//! Every statement costs a round trip to the connection's thread (tens of µs on a busy
//! machine), so a new run is written as:
//! 1. `BEGIN IMMEDIATE; INSERT INTO runs … ON CONFLICT DO NOTHING RETURNING seq` — a
//!    returned row means the key is new (and gives its `seq`, the next in line); none means
//!    it was stored already (`ROLLBACK`);
//! 2. one batch: the report, the packed outcomes, new test names, the test rows (multi-row
//!    `INSERT`s of at most 256 rows), the pipeline counters, and `COMMIT`.
//!
//! The statement texts and the values are prepared before the writer connection is taken,
//! and the write runs in its own task: a caller that goes away (a client disconnecting)
//! cannot leave the connection inside a transaction. On any error the connection is closed,
//! which rolls the transaction back, and the pool opens a fresh one.

use std::fmt::Write as _;
use std::sync::LazyLock;

use sqlx::sqlite::{SqliteArguments, SqlitePool};
use sqlx::{Arguments, Encode, Sqlite, Type};

use super::super::packed;
use super::super::query::{self, Placeholder, PIPELINE_VALUES};
use super::super::record::{RunRecord, TestRecord};
use super::super::StoreError;

/// Rows per multi-row `INSERT` (6 values each: well under SQLite's 32 766 per statement).
const CHUNK: usize = 256;
/// Batches for more tests than this are prepared for one use only, not cached.
const CACHED_TESTS: usize = 2048;

/// Round trip 1: `BEGIN IMMEDIATE` and the `runs` row, returning its `seq` when it is new.
static BEGIN_INSERT_RUN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "BEGIN IMMEDIATE; {} RETURNING seq",
        query::insert_run(
            Placeholder::Question,
            Some("(SELECT COALESCE(MAX(seq), 0) + 1 FROM runs)")
        )
    )
});

/// The pipeline upsert with anonymous placeholders (values follow the batch's order).
static UPSERT_PIPELINE: LazyLock<String> = LazyLock::new(|| {
    query::pipeline_upsert(&format!(
        "VALUES ({})",
        vec!["?"; PIPELINE_VALUES].join(", ")
    ))
});

/// One new run, ready to write: statement texts and owned values.
#[derive(Debug)]
pub(super) struct Write {
    run: SqliteArguments,
    rest_sql: String,
    report: Vec<u8>,
    packed: Vec<u8>,
    repository: Option<String>,
    names: Vec<(i64, String, Option<String>, String)>,
    tests: Vec<(i64, &'static str, bool, i64, i64)>,
    pipeline_labels: [String; 5],
    /// shard, last_run, last_finished_at, runs ×5, duration count and sum, buckets ×9.
    pipeline_numbers: Vec<i64>,
}

fn bind<'q, T>(args: &mut SqliteArguments, value: T) -> Result<(), StoreError>
where
    T: Encode<'q, Sqlite> + Type<Sqlite> + 'q,
{
    args.add(value)
        .map_err(|e| StoreError::Query(format!("binding a value: {e}")))
}

/// Appends `INSERT`s of `rows.len()` rows of `width` values, in chunks of [`CHUNK`].
fn multi_row_inserts(sql: &mut String, head: &str, width: usize, rows: usize, tail: &str) {
    let row = format!("({})", vec!["?"; width].join(","));
    let mut left = rows;
    while left > 0 {
        let n = left.min(CHUNK);
        sql.push_str(head);
        for i in 0..n {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&row);
        }
        sql.push_str(tail);
        sql.push_str("; ");
        left -= n;
    }
}

impl Write {
    /// Prepares the write of `run` with `tests` (sorted by id), inserting names for
    /// `new_names` only.
    pub fn new(
        run: &RunRecord<'_>,
        tests: &[TestRecord<'_>],
        new_names: &[&TestRecord<'_>],
    ) -> Result<Self, StoreError> {
        let mut first = SqliteArguments::default();
        bind(&mut first, run.id)?;
        bind(&mut first, run.key)?;
        bind(&mut first, run.provider)?;
        bind(&mut first, run.repository)?;
        bind(&mut first, run.workflow)?;
        bind(&mut first, run.job)?;
        bind(&mut first, run.branch)?;
        bind(&mut first, run.sha)?;
        bind(&mut first, run.run_id)?;
        bind(&mut first, run.run_attempt)?;
        bind(&mut first, run.outcome)?;
        bind(&mut first, run.started_at)?;
        bind(&mut first, run.finished_at)?;
        bind(&mut first, run.received_at)?;
        bind(&mut first, run.duration_ms)?;
        bind(&mut first, run.queued_ms)?;
        for n in run.tests {
            bind(&mut first, n)?;
        }

        let mut sql = String::with_capacity(512 + tests.len() * 16 + new_names.len() * 12);
        sql.push_str("INSERT INTO run_reports (run_seq, report) VALUES (?, ?); ");
        sql.push_str("INSERT INTO run_tests_packed (run_seq, tests) VALUES (?, ?); ");
        multi_row_inserts(
            &mut sql,
            "INSERT INTO tests (id, repository, suite, classname, name) VALUES ",
            5,
            new_names.len(),
            " ON CONFLICT (id) DO NOTHING",
        );
        multi_row_inserts(
            &mut sql,
            "INSERT INTO test_results (run_seq, test, outcome, flaky, attempts, duration_ms) \
             VALUES ",
            6,
            tests.len(),
            "",
        );
        let _ = write!(sql, "{}; COMMIT", UPSERT_PIPELINE.as_str());
        // One writer: a single shard row per pipeline.
        let p = run.pipeline_delta(1);
        let mut pipeline_numbers = vec![p.shard, run.id, run.finished_at];
        pipeline_numbers.extend(p.runs);
        pipeline_numbers.extend([p.duration_count, p.duration_sum_ms]);
        pipeline_numbers.extend(p.buckets);
        Ok(Self {
            run: first,
            rest_sql: sql,
            report: run.report.clone(),
            packed: packed::pack_tests(tests),
            repository: run.repository.map(str::to_owned),
            names: new_names
                .iter()
                .map(|t| {
                    let classname = t.classname.map(str::to_owned);
                    (t.test, t.suite.to_owned(), classname, t.name.to_owned())
                })
                .collect(),
            tests: tests
                .iter()
                .map(|t| {
                    (
                        t.test,
                        t.outcome.as_str(),
                        t.flaky,
                        t.attempts,
                        t.duration_ms,
                    )
                })
                .collect(),
            pipeline_labels: [p.provider, p.repository, p.workflow, p.job, p.branch]
                .map(str::to_owned),
            pipeline_numbers,
        })
    }

    /// The values of round trip 2, for the run stored as `seq`.
    fn rest(&self, seq: i64) -> Result<SqliteArguments, StoreError> {
        let mut a = SqliteArguments::default();
        bind(&mut a, seq)?;
        bind(&mut a, self.report.as_slice())?;
        bind(&mut a, seq)?;
        bind(&mut a, self.packed.as_slice())?;
        for (test, suite, classname, name) in &self.names {
            bind(&mut a, *test)?;
            bind(&mut a, self.repository.as_deref())?;
            bind(&mut a, suite.as_str())?;
            bind(&mut a, classname.as_deref())?;
            bind(&mut a, name.as_str())?;
        }
        for &(test, outcome, flaky, attempts, duration_ms) in &self.tests {
            bind(&mut a, seq)?;
            bind(&mut a, test)?;
            bind(&mut a, outcome)?;
            bind(&mut a, flaky)?;
            bind(&mut a, attempts)?;
            bind(&mut a, duration_ms)?;
        }
        for label in &self.pipeline_labels {
            bind(&mut a, label.as_str())?;
        }
        for &n in &self.pipeline_numbers {
            bind(&mut a, n)?;
        }
        Ok(a)
    }

    /// Writes the run in its own task; true when it was new.
    pub async fn run(self, writer: &SqlitePool) -> Result<bool, StoreError> {
        let writer = writer.clone();
        tokio::spawn(async move { self.write(&writer).await })
            .await
            .map_err(|e| StoreError::Query(format!("the write task failed: {e}")))?
    }

    async fn write(mut self, writer: &SqlitePool) -> Result<bool, StoreError> {
        let first = std::mem::take(&mut self.run);
        let mut conn = writer.acquire().await.map_err(super::db)?;
        let result: Result<bool, StoreError> = async {
            let returned: Option<i64> = sqlx::query_scalar_with(BEGIN_INSERT_RUN.as_str(), first)
                .fetch_all(&mut *conn)
                .await
                .map_err(super::db)?
                .into_iter()
                .next();
            let Some(seq) = returned else {
                sqlx::query("ROLLBACK")
                    .execute(&mut *conn)
                    .await
                    .map_err(super::db)?;
                return Ok(false);
            };
            let rest = self.rest(seq)?;
            sqlx::query_with(sqlx::AssertSqlSafe(self.rest_sql.as_str()), rest)
                .persistent(self.tests.len() <= CACHED_TESTS)
                .execute(&mut *conn)
                .await
                .map_err(super::db)?;
            Ok(true)
        }
        .await;
        if result.is_err() {
            // Closing rolls back whatever is open; the pool opens a fresh connection.
            let _ = conn.close().await;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_are_chunked() {
        let mut sql = String::new();
        multi_row_inserts(&mut sql, "INSERT INTO t VALUES ", 2, 600, "");
        assert_eq!(sql.matches("INSERT").count(), 3);
        assert_eq!(sql.matches("(?,?)").count(), 600);
        let mut none = String::new();
        multi_row_inserts(&mut none, "INSERT INTO t VALUES ", 2, 0, "");
        assert!(none.is_empty());
        assert!(BEGIN_INSERT_RUN.ends_with("ON CONFLICT DO NOTHING RETURNING seq"));
        assert_eq!(UPSERT_PIPELINE.matches('?').count(), PIPELINE_VALUES);
    }
}
