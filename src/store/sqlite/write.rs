//! Writing one run to SQLite in two round trips, prepared outside the write lock.
//!
//! Every statement costs a round trip to the connection's thread (tens of µs on a busy
//! machine), so a new run is written as:
//! 1. `BEGIN IMMEDIATE; INSERT INTO runs … ON CONFLICT (key) DO NOTHING RETURNING id` — a
//!    returned row means the key is new; none means it was stored already (`ROLLBACK`);
//! 2. one batch: the report, the packed outcomes, new test names, the test rows (multi-row
//!    `INSERT`s of at most 256 rows), the pipeline counters, and `COMMIT`.
//!
//! The statement texts and their values are built before the writer connection is taken,
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

/// Round trip 1: `BEGIN IMMEDIATE` and the `runs` row, returning its id when it is new.
static BEGIN_INSERT_RUN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "BEGIN IMMEDIATE; {} RETURNING id",
        Placeholder::Question.render(query::INSERT_RUN)
    )
});

/// The pipeline upsert with anonymous placeholders (values follow the batch's order).
static UPSERT_PIPELINE: LazyLock<String> = LazyLock::new(|| {
    query::pipeline_upsert(&format!(
        "VALUES ({})",
        vec!["?"; PIPELINE_VALUES].join(", ")
    ))
});

/// One new run, ready to write: statement texts and their values.
#[derive(Debug)]
pub(super) struct Write {
    run: SqliteArguments,
    rest_sql: String,
    rest: SqliteArguments,
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
        let mut rest = SqliteArguments::default();
        sql.push_str("INSERT INTO run_reports (run, report) VALUES (?, ?); ");
        bind(&mut rest, run.id)?;
        bind(&mut rest, run.report.as_slice())?;
        sql.push_str("INSERT INTO run_tests_packed (run, tests) VALUES (?, ?); ");
        bind(&mut rest, run.id)?;
        bind(&mut rest, packed::pack_tests(tests))?;
        multi_row_inserts(
            &mut sql,
            "INSERT INTO tests (id, repository, suite, classname, name) VALUES ",
            5,
            new_names.len(),
            " ON CONFLICT (id) DO NOTHING",
        );
        for t in new_names {
            bind(&mut rest, t.test)?;
            bind(&mut rest, run.repository)?;
            bind(&mut rest, t.suite)?;
            bind(&mut rest, t.classname)?;
            bind(&mut rest, t.name)?;
        }
        multi_row_inserts(
            &mut sql,
            "INSERT INTO test_results (run, test, outcome, flaky, attempts, duration_ms) VALUES ",
            6,
            tests.len(),
            "",
        );
        for t in tests {
            bind(&mut rest, run.id)?;
            bind(&mut rest, t.test)?;
            bind(&mut rest, t.outcome.as_str())?;
            bind(&mut rest, t.flaky)?;
            bind(&mut rest, t.attempts)?;
            bind(&mut rest, t.duration_ms)?;
        }
        let p = run.pipeline_delta();
        let _ = write!(sql, "{}; COMMIT", UPSERT_PIPELINE.as_str());
        for text in [p.provider, p.repository, p.workflow, p.job, p.branch] {
            bind(&mut rest, text)?;
        }
        bind(&mut rest, run.id)?;
        bind(&mut rest, run.finished_at)?;
        for n in p
            .runs
            .into_iter()
            .chain([p.duration_count, p.duration_sum_ms])
            .chain(p.buckets)
        {
            bind(&mut rest, n)?;
        }
        Ok(Self {
            run: first,
            rest_sql: sql,
            rest,
        })
    }

    /// Writes the run in its own task; true when it was new.
    pub async fn run(self, writer: &SqlitePool) -> Result<bool, StoreError> {
        let writer = writer.clone();
        tokio::spawn(async move { self.write(&writer).await })
            .await
            .map_err(|e| StoreError::Query(format!("the write task failed: {e}")))?
    }

    async fn write(self, writer: &SqlitePool) -> Result<bool, StoreError> {
        let mut conn = writer.acquire().await.map_err(super::db)?;
        let result: Result<bool, sqlx::Error> = async {
            let returned = sqlx::query_with(BEGIN_INSERT_RUN.as_str(), self.run)
                .fetch_all(&mut *conn)
                .await?;
            if returned.is_empty() {
                sqlx::query("ROLLBACK").execute(&mut *conn).await?;
                return Ok(false);
            }
            sqlx::query_with(sqlx::AssertSqlSafe(self.rest_sql), self.rest)
                .execute(&mut *conn)
                .await?;
            Ok(true)
        }
        .await;
        if result.is_err() {
            // Closing rolls back whatever is open; the pool opens a fresh connection.
            let _ = conn.close().await;
        }
        result.map_err(super::db)
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
        assert!(BEGIN_INSERT_RUN.ends_with("ON CONFLICT (key) DO NOTHING RETURNING id"));
        assert_eq!(UPSERT_PIPELINE.matches('?').count(), PIPELINE_VALUES);
    }
}
