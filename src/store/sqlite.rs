//! The embedded store: one SQLite file (WAL), nothing to install.
//!
//! Writes go through a pool of one connection, so writers queue in the process instead of
//! spinning on SQLite's busy handler; `BEGIN IMMEDIATE` takes the write lock up front (the
//! busy timeout covers other processes on the same file). Reads use their own pool and, in
//! WAL mode, never wait for the writer. Test rows are inserted with multi-row `INSERT`s in
//! power-of-two chunks, so a handful of cached statements serves any number of tests.

use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Arguments, Sqlite, Transaction};

use super::cursor::{page_size, Cursor};
use super::decode;
use super::query::{self, Bind, Dynamic, Placeholder};
use super::record::{hex_id, parse_hex_id, RunRecord, TestRecord};
use super::stats::{self, StatsBuilder, WindowRun};
use super::{impl_store, KnownTests, StoreError, Upserted};
use crate::model::{
    PipelineState, RunPage, RunQuery, RunReport, TestQuery, TestRunEntry, TestStats,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

const STYLE: Placeholder = Placeholder::Question;
/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest multi-row `INSERT` chunk (rows); chunks are powers of two down to 1.
const MAX_CHUNK: usize = 256;

static INSERT_RUN: LazyLock<String> = LazyLock::new(|| STYLE.render(query::INSERT_RUN));
static INSERT_REPORT: LazyLock<String> = LazyLock::new(|| STYLE.render(query::INSERT_REPORT));
static UPSERT_PIPELINE: LazyLock<String> = LazyLock::new(|| STYLE.render(query::UPSERT_PIPELINE));
static SELECT_REPORT: LazyLock<String> = LazyLock::new(|| STYLE.render(query::SELECT_REPORT));
static SELECT_RUN_TESTS: LazyLock<String> = LazyLock::new(|| STYLE.render(query::SELECT_RUN_TESTS));
static SELECT_PIPELINES: LazyLock<String> =
    LazyLock::new(|| STYLE.render(&query::SELECT_PIPELINES));
/// `INSERT`s of 2^k test rows, k = 0..=8.
static INSERT_RESULTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    chunk_statements(
        "INSERT INTO test_results (run, test, outcome, flaky, attempts, duration_ms) VALUES ",
        6,
        "",
    )
});
/// `INSERT`s of 2^k test names, k = 0..=8.
static INSERT_NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
    chunk_statements(
        "INSERT INTO tests (id, repository, suite, classname, name) VALUES ",
        5,
        " ON CONFLICT (id) DO NOTHING",
    )
});

fn chunk_statements(head: &str, columns: usize, tail: &str) -> Vec<String> {
    let row = format!("({})", vec!["?"; columns].join(","));
    let mut out = Vec::new();
    let mut rows = 1;
    while rows <= MAX_CHUNK {
        out.push(format!(
            "{head}{}{tail}",
            vec![row.as_str(); rows].join(",")
        ));
        rows *= 2;
    }
    out
}

/// Splits `n` rows into power-of-two chunks, largest first: (statement index, rows).
fn chunks(mut n: usize) -> impl Iterator<Item = (usize, usize)> {
    std::iter::from_fn(move || {
        if n == 0 {
            return None;
        }
        let rows = n.min(MAX_CHUNK);
        let k = usize::BITS as usize - 1 - rows.leading_zeros() as usize;
        n -= 1 << k;
        Some((k, 1 << k))
    })
}

fn db(e: sqlx::Error) -> StoreError {
    StoreError::Query(e.to_string())
}

/// A store in one SQLite database file (or in memory).
#[derive(Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    known_tests: KnownTests,
}

impl SqliteStore {
    /// Opens `url` (`sqlite://PATH`, created if missing, or `sqlite::memory:`) and runs the
    /// migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let masked = crate::http::mask_url(url);
        let open_err = |message: String| StoreError::Open {
            url: masked.clone(),
            message,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| open_err(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .statement_cache_capacity(256)
            .pragma("cache_size", "-32768")
            .pragma("temp_store", "memory");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(|e| open_err(e.to_string()))?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| open_err(format!("migrating: {e}")))?;
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .map_err(|e| open_err(e.to_string()))?
        };
        Ok(Self {
            writer,
            reader,
            known_tests: KnownTests::default(),
        })
    }

    async fn do_upsert_run(&self, report: &RunReport) -> Result<Upserted, StoreError> {
        let run = RunRecord::of(report, Utc::now())?;
        let tests = TestRecord::of_cases(&report.tests.cases);
        let new_names = self.known_tests.unknown(&tests);
        let id = hex_id(run.id);

        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db)?;
        if !insert_run(&mut tx, &run).await? {
            tx.rollback().await.map_err(db)?;
            return Ok(Upserted { id, created: false });
        }
        sqlx::query(INSERT_REPORT.as_str())
            .bind(run.id)
            .bind(run.report.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_names(&mut tx, run.repository, &new_names).await?;
        insert_results(&mut tx, run.id, &tests).await?;
        upsert_pipeline(&mut tx, &run).await?;
        tx.commit().await.map_err(db)?;
        self.known_tests.remember(&tests);
        Ok(Upserted { id, created: true })
    }

    async fn do_runs(&self, q: &RunQuery) -> Result<RunPage, StoreError> {
        let limit = page_size(q.limit)?;
        let cursor = q.cursor.as_deref().map(Cursor::decode).transpose()?;
        let d = query::runs_page(STYLE, q, cursor, limit + 1);
        let rows = dynamic(&d).fetch_all(&self.reader).await.map_err(db)?;
        decode::page(&rows, limit)
    }

    async fn do_run(&self, id: &str) -> Result<Option<RunReport>, StoreError> {
        let id = parse_hex_id("id", id)?;
        let row = sqlx::query(SELECT_REPORT.as_str())
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        decode::report(row.as_ref(), id)
    }

    /// The window of `q`, newest run first.
    async fn window(&self, q: &TestQuery) -> Result<Vec<WindowRun>, StoreError> {
        let d = query::window(STYLE, q, stats::window_size(q.window)?);
        let rows = dynamic(&d).fetch_all(&self.reader).await.map_err(db)?;
        rows.iter().map(decode::window_run).collect()
    }

    async fn do_test_stats(&self, q: &TestQuery) -> Result<Vec<TestStats>, StoreError> {
        let mut window = self.window(q).await?;
        window.reverse();
        let mut builder = StatsBuilder::new(&window);
        let mut conn = self.reader.acquire().await.map_err(db)?;
        for (i, run) in window.iter().enumerate() {
            builder.start_run(i);
            let rows = sqlx::query(SELECT_RUN_TESTS.as_str())
                .bind(run.id)
                .fetch_all(&mut *conn)
                .await
                .map_err(db)?;
            decode::add_test_rows(&mut builder, &rows)?;
        }
        let rows = sqlx::query(
            "SELECT id, suite, classname, name FROM tests \
             WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_ids(&builder.test_ids()))
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        builder.finish(&decode::test_names(&rows)?)
    }

    async fn do_test_history(
        &self,
        test: &str,
        q: &TestQuery,
    ) -> Result<Vec<TestRunEntry>, StoreError> {
        let test = parse_hex_id("test_id", test)?;
        let window = self.window(q).await?;
        let ids: Vec<i64> = window.iter().map(|r| r.id).collect();
        let rows = sqlx::query(
            "SELECT run, outcome, flaky, attempts, duration_ms FROM test_results \
             WHERE test = ?1 AND run IN (SELECT value FROM json_each(?2))",
        )
        .bind(test)
        .bind(json_ids(&ids))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let rows = rows
            .iter()
            .map(decode::history_row)
            .collect::<Result<Vec<_>, _>>()?;
        stats::history(&window, rows)
    }

    async fn do_pipelines(&self, since: DateTime<Utc>) -> Result<Vec<PipelineState>, StoreError> {
        let rows = sqlx::query(SELECT_PIPELINES.as_str())
            .bind(query::ms(since))
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(decode::pipeline).collect()
    }

    async fn do_ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db)?;
        Ok(())
    }
}

impl_store!(SqliteStore);

/// A JSON array of ids, for `json_each` (no limit on the number of values).
fn json_ids(ids: &[i64]) -> String {
    let mut out = String::with_capacity(ids.len() * 21 + 2);
    out.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&id.to_string());
    }
    out.push(']');
    out
}

fn dynamic(d: &Dynamic) -> sqlx::query::Query<'_, Sqlite, SqliteArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(d.sql.as_str()));
    for b in &d.binds {
        q = match b {
            Bind::Text(v) => q.bind(v.as_str()),
            Bind::Int(v) => q.bind(*v),
        };
    }
    q
}

async fn insert_run(
    tx: &mut Transaction<'static, Sqlite>,
    r: &RunRecord<'_>,
) -> Result<bool, StoreError> {
    let mut q = sqlx::query(INSERT_RUN.as_str())
        .bind(r.id)
        .bind(r.key)
        .bind(r.provider)
        .bind(r.repository)
        .bind(r.workflow)
        .bind(r.job)
        .bind(r.branch)
        .bind(r.sha)
        .bind(r.run_id)
        .bind(r.run_attempt)
        .bind(r.outcome)
        .bind(r.started_at)
        .bind(r.finished_at)
        .bind(r.received_at)
        .bind(r.duration_ms)
        .bind(r.queued_ms);
    for n in r.tests {
        q = q.bind(n);
    }
    let done = q.execute(&mut **tx).await.map_err(db)?;
    Ok(done.rows_affected() == 1)
}

async fn insert_names(
    tx: &mut Transaction<'static, Sqlite>,
    repository: Option<&str>,
    names: &[&TestRecord<'_>],
) -> Result<(), StoreError> {
    let mut rest = names;
    for (k, rows) in chunks(names.len()) {
        let (chunk, tail) = rest.split_at(rows);
        rest = tail;
        let mut args = SqliteArguments::default();
        for t in chunk {
            add(&mut args, t.test)?;
            add(&mut args, repository)?;
            add(&mut args, t.suite)?;
            add(&mut args, t.classname)?;
            add(&mut args, t.name)?;
        }
        sqlx::query_with(INSERT_NAMES[k].as_str(), args)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
    }
    Ok(())
}

async fn insert_results(
    tx: &mut Transaction<'static, Sqlite>,
    run: i64,
    tests: &[TestRecord<'_>],
) -> Result<(), StoreError> {
    let mut rest = tests;
    for (k, rows) in chunks(tests.len()) {
        let (chunk, tail) = rest.split_at(rows);
        rest = tail;
        let mut args = SqliteArguments::default();
        for t in chunk {
            add(&mut args, run)?;
            add(&mut args, t.test)?;
            add(&mut args, t.outcome.as_str())?;
            add(&mut args, t.flaky)?;
            add(&mut args, t.attempts)?;
            add(&mut args, t.duration_ms)?;
        }
        sqlx::query_with(INSERT_RESULTS[k].as_str(), args)
            .execute(&mut **tx)
            .await
            .map_err(db)?;
    }
    Ok(())
}

fn add<'q, T>(args: &mut SqliteArguments, value: T) -> Result<(), StoreError>
where
    T: sqlx::Encode<'q, Sqlite> + sqlx::Type<Sqlite> + 'q,
{
    args.add(value)
        .map_err(|e| StoreError::Query(format!("binding a value: {e}")))
}

async fn upsert_pipeline(
    tx: &mut Transaction<'static, Sqlite>,
    run: &RunRecord<'_>,
) -> Result<(), StoreError> {
    let p = run.pipeline_delta();
    let mut q = sqlx::query(UPSERT_PIPELINE.as_str())
        .bind(p.provider)
        .bind(p.repository)
        .bind(p.workflow)
        .bind(p.job)
        .bind(p.branch)
        .bind(run.id)
        .bind(run.finished_at);
    for n in p.runs {
        q = q.bind(n);
    }
    q = q.bind(p.duration_count).bind(p.duration_sum_ms);
    for n in p.buckets {
        q = q.bind(n);
    }
    q.execute(&mut **tx).await.map_err(db)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_largest_first() {
        let sizes = |n| chunks(n).map(|(_, rows)| rows).collect::<Vec<_>>();
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(200), [128, 64, 8]);
        assert_eq!(sizes(600), [256, 256, 64, 16, 8]);
        for (k, rows) in chunks(1000) {
            assert_eq!(1 << k, rows);
        }
        assert_eq!(INSERT_RESULTS[3].matches('(').count(), 1 + 8);
    }
}
