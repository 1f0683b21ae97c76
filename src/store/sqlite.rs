//! The embedded store: one SQLite file (WAL), nothing to install.
//!
//! Writes go through a pool of one connection, so writers queue in the process instead of
//! spinning on SQLite's busy handler (the busy timeout covers other processes on the same
//! file); [`write`] says how a run is written. Reads use their own pool and, in WAL mode,
//! never wait for the writer. A background task checkpoints the WAL every
//! [`CHECKPOINT_EVERY`], so the writer seldom pays for a checkpoint itself.

mod write;

use std::path::Path;
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::Sqlite;
use tokio::task::JoinHandle;

use super::cursor::{page_size, Cursor};
use super::decode;
use super::query::{self, Bind, Dynamic, Placeholder};
use super::record::{check_stored, hex_id, parse_hex_id, RunRecord, TestRecord};
use super::stats::{self, StatsBuilder, WindowRun};
use super::{impl_store, KnownTests, Posted, StoreError, Upserted};
use crate::model::{
    PipelineState, RunPage, RunQuery, RunReport, TestQuery, TestRunEntry, TestStats,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

const STYLE: Placeholder = Placeholder::Question;
/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Prepared statements cached on the writer connection. A run's second batch is one
/// statement text per test count (see [`write`]), with thousands of parameters: a short
/// cache bounds that memory while the usual counts stay hot.
const WRITER_STATEMENTS: usize = 32;
/// Interval of the background WAL checkpoint.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// WAL size (pages) at which a committing writer checkpoints by itself: a safety net, well
/// above what the background task lets the WAL grow to at 1 000 runs/s.
const AUTOCHECKPOINT_PAGES: &str = "16384";

static SELECT_REPORT: LazyLock<String> = LazyLock::new(|| STYLE.render(query::SELECT_REPORT));
static SELECT_KEY: LazyLock<String> = LazyLock::new(|| STYLE.render(query::SELECT_KEY));
static SELECT_PIPELINES: LazyLock<String> =
    LazyLock::new(|| STYLE.render(&query::SELECT_PIPELINES));

fn db(e: sqlx::Error) -> StoreError {
    StoreError::Query(e.to_string())
}

/// A store in one SQLite database file (or in memory).
#[derive(Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    known_tests: KnownTests,
    checkpointer: Option<JoinHandle<()>>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(task) = &self.checkpointer {
            task.abort();
        }
    }
}

/// Checkpoints the WAL (`PASSIVE`: never waits for readers or the writer) until aborted.
async fn checkpoint_forever(pool: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::debug!("WAL checkpoint: {e}");
        }
    }
}

impl SqliteStore {
    /// Opens `url` (`sqlite://PATH`, created if missing, or `sqlite::memory:`) and runs the
    /// migrations. In a URL, `?`, `#` and `%` of the path must be percent-encoded; a file path
    /// as is goes to [`SqliteStore::open_file`].
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(|e| StoreError::Open {
            url: crate::http::mask_url(url),
            message: e.to_string(),
        })?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        Self::open_with(options, url, in_memory).await
    }

    /// Opens (creating it if missing) the database file at `path`, whatever characters it
    /// holds, and runs the migrations.
    pub async fn open_file(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::open_with(options, &format!("sqlite://{}", path.display()), false).await
    }

    async fn open_with(
        options: SqliteConnectOptions,
        url: &str,
        in_memory: bool,
    ) -> Result<Self, StoreError> {
        let masked = crate::http::mask_url(url);
        let open_err = |message: String| StoreError::Open {
            url: masked.clone(),
            message,
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .statement_cache_capacity(64)
            .pragma("cache_size", "-32768")
            .pragma("temp_store", "memory")
            .pragma("wal_autocheckpoint", AUTOCHECKPOINT_PAGES);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(options.clone().statement_cache_capacity(WRITER_STATEMENTS))
            .await
            .map_err(|e| open_err(e.to_string()))?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| open_err(format!("migrating: {e}")))?;
        if in_memory {
            return Ok(Self {
                reader: writer.clone(),
                writer,
                known_tests: KnownTests::default(),
                checkpointer: None,
            });
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        Ok(Self {
            checkpointer: Some(tokio::spawn(checkpoint_forever(reader.clone()))),
            writer,
            reader,
            known_tests: KnownTests::default(),
        })
    }

    async fn do_upsert_run(
        &self,
        report: &RunReport,
        posted: Option<Posted<'_>>,
    ) -> Result<Upserted, StoreError> {
        let run = RunRecord::of(report, posted, Utc::now())?;
        let tests = TestRecord::of_cases(&report.tests.cases);
        let new_names = self.known_tests.unknown(&tests);
        let created = write::Write::new(&run, &tests, &new_names)?
            .run(&self.writer)
            .await?;
        if created {
            self.known_tests.remember(&tests);
        } else {
            let stored: Option<String> = sqlx::query_scalar(SELECT_KEY.as_str())
                .bind(run.id)
                .fetch_optional(&self.reader)
                .await
                .map_err(db)?;
            check_stored(run.id, run.key, stored.as_deref())?;
        }
        Ok(Upserted {
            id: hex_id(run.id),
            created,
        })
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
        let seqs: Vec<i64> = window.iter().map(|r| r.seq).collect();
        let mut conn = self.reader.acquire().await.map_err(db)?;
        let rows = sqlx::query(
            "SELECT run_seq, tests FROM run_tests_packed \
             WHERE run_seq IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_ids(&seqs))
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        let mut builder = StatsBuilder::new(&window);
        decode::add_packed_tests(&mut builder, &window, &rows)?;
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
        let seqs: Vec<i64> = window.iter().map(|r| r.seq).collect();
        let rows = sqlx::query(
            "SELECT run_seq, outcome, flaky, attempts, duration_ms FROM test_results \
             WHERE test = ?1 AND run_seq IN (SELECT value FROM json_each(?2))",
        )
        .bind(test)
        .bind(json_ids(&seqs))
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
        decode::pipelines(&rows)
    }

    async fn do_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar::<_, String>(query::SELECT_STATE)
            .bind(key)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)
    }

    async fn do_put_state(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(query::UPSERT_STATE)
            .bind(key)
            .bind(value)
            .bind(chrono::Utc::now().timestamp_millis())
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
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
