//! The store at scale: PostgreSQL, shared by any number of stateless `serve` replicas.
//!
//! Every replica runs the migrations on start (sqlx takes an advisory lock, so concurrent
//! starts are safe). Idempotency rests on the database: `INSERT … ON CONFLICT (key) DO
//! NOTHING` makes a concurrent duplicate wait for the first transaction and then insert
//! nothing. Test rows go in as arrays (`UNNEST`), one statement whatever their number, in
//! test-id order so that concurrent writers take row locks in the same order.

use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Postgres;

use super::cursor::{page_size, Cursor};
use super::decode;
use super::packed;
use super::query::{self, Bind, Dynamic, Placeholder};
use super::record::{check_stored, hex_id, parse_hex_id, RunRecord, TestRecord};
use super::stats::{self, StatsBuilder, WindowRun};
use super::{impl_store, KnownTests, Posted, StoreError, Upserted};
use crate::model::{
    PipelineState, RunPage, RunQuery, RunReport, TestQuery, TestRunEntry, TestStats,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

const STYLE: Placeholder = Placeholder::Dollar;
/// Rows per pipeline in `pipelines`: concurrent runs of one pipeline update different rows
/// (by run id), instead of queueing on one row lock for each other's commit.
const PIPELINE_SHARDS: u64 = 16;
/// Connections per process.
const MAX_CONNECTIONS: u32 = 16;

/// A whole new run in one statement (so one round trip, and atomic without `BEGIN`):
/// the `runs` row (values 1–23), and only when it was inserted the report (24), the packed
/// outcomes (25), new test names (26 repository, 27–30 arrays), the test rows (31–35
/// arrays) and the pipeline counters (36–59). Returns the `seq` when the run was new.
static INSERT_RUN: LazyLock<String> = LazyLock::new(|| {
    let pipeline_values = format!(
        "SELECT {} FROM r",
        query::placeholders(STYLE, 36, query::PIPELINE_VALUES)
    );
    format!(
        "WITH r AS ({} RETURNING seq), \
         report AS (INSERT INTO run_reports (run_seq, report) SELECT seq, $24 FROM r), \
         packed AS (INSERT INTO run_tests_packed (run_seq, tests) SELECT seq, $25 FROM r), \
         names AS (INSERT INTO tests (id, repository, suite, classname, name) \
           SELECT u.id, $26, u.suite, u.classname, u.name \
           FROM r, UNNEST($27::bigint[], $28::text[], $29::text[], $30::text[]) \
             AS u (id, suite, classname, name) \
           ORDER BY u.id ON CONFLICT (id) DO NOTHING), \
         results AS (INSERT INTO test_results \
           (run_seq, test, outcome, flaky, attempts, duration_ms) \
           SELECT r.seq, u.test, u.outcome, u.flaky, u.attempts, u.duration_ms \
           FROM r, UNNEST($31::bigint[], $32::text[], $33::bool[], $34::bigint[], $35::bigint[]) \
             AS u (test, outcome, flaky, attempts, duration_ms)), \
         pipeline AS ({}) \
         SELECT seq FROM r",
        query::insert_run(STYLE, None),
        query::pipeline_upsert(&pipeline_values)
    )
});

fn db(e: sqlx::Error) -> StoreError {
    StoreError::Query(e.to_string())
}

/// A store in a PostgreSQL database.
#[derive(Debug)]
pub struct PostgresStore {
    pool: PgPool,
    known_tests: KnownTests,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…` or `postgresql://…`; libpq parameters such as
    /// `sslmode` and `options=-c search_path=…` apply) and runs the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Open {
            url: crate::http::mask_url(url),
            message: e.to_string(),
        })?;
        Self::open_with(options, url).await
    }

    /// Connects with `options` (`url` only names the database in errors).
    pub(crate) async fn open_with(
        options: PgConnectOptions,
        url: &str,
    ) -> Result<Self, StoreError> {
        let open_err = |message: String| StoreError::Open {
            url: crate::http::mask_url(url),
            message,
        };
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false)
            .connect_with(options.application_name("cimon"))
            .await
            .map_err(|e| open_err(e.to_string()))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| open_err(format!("migrating: {e}")))?;
        Ok(Self {
            pool,
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
        let p = run.pipeline_delta(PIPELINE_SHARDS);
        let mut q = sqlx::query(INSERT_RUN.as_str())
            .bind(run.id)
            .bind(run.key)
            .bind(run.provider)
            .bind(run.repository)
            .bind(run.workflow)
            .bind(run.job)
            .bind(run.branch)
            .bind(run.sha)
            .bind(run.run_id)
            .bind(run.run_attempt)
            .bind(run.outcome)
            .bind(run.started_at)
            .bind(run.finished_at)
            .bind(run.received_at)
            .bind(run.duration_ms)
            .bind(run.queued_ms);
        for n in run.tests {
            q = q.bind(n);
        }
        q = q
            .bind(run.report.as_slice())
            .bind(packed::pack_tests(&tests))
            .bind(run.repository)
            .bind(new_names.iter().map(|t| t.test).collect::<Vec<_>>())
            .bind(new_names.iter().map(|t| t.suite).collect::<Vec<_>>())
            .bind(new_names.iter().map(|t| t.classname).collect::<Vec<_>>())
            .bind(new_names.iter().map(|t| t.name).collect::<Vec<_>>())
            .bind(tests.iter().map(|t| t.test).collect::<Vec<_>>())
            .bind(tests.iter().map(|t| t.outcome.as_str()).collect::<Vec<_>>())
            .bind(tests.iter().map(|t| t.flaky).collect::<Vec<_>>())
            .bind(tests.iter().map(|t| t.attempts).collect::<Vec<_>>())
            .bind(tests.iter().map(|t| t.duration_ms).collect::<Vec<_>>());
        for text in [p.provider, p.repository, p.workflow, p.job, p.branch] {
            q = q.bind(text);
        }
        q = q.bind(p.shard).bind(run.id).bind(run.finished_at);
        for n in p
            .runs
            .into_iter()
            .chain([p.duration_count, p.duration_sum_ms])
            .chain(p.buckets)
        {
            q = q.bind(n);
        }
        let created = q.fetch_optional(&self.pool).await.map_err(db)?.is_some();
        if created {
            self.known_tests.remember(&tests);
        } else {
            let stored: Option<String> = sqlx::query_scalar(query::SELECT_KEY)
                .bind(run.id)
                .fetch_optional(&self.pool)
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
        let rows = dynamic(&d).fetch_all(&self.pool).await.map_err(db)?;
        decode::page(&rows, limit)
    }

    async fn do_run(&self, id: &str) -> Result<Option<RunReport>, StoreError> {
        let id = parse_hex_id("id", id)?;
        let row = sqlx::query(query::SELECT_REPORT)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        decode::report(row.as_ref(), id)
    }

    /// The window of `q`, newest run first.
    async fn window(&self, q: &TestQuery) -> Result<Vec<WindowRun>, StoreError> {
        let d = query::window(STYLE, q, stats::window_size(q.window)?);
        let rows = dynamic(&d).fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(decode::window_run).collect()
    }

    async fn do_test_stats(&self, q: &TestQuery) -> Result<Vec<TestStats>, StoreError> {
        let mut window = self.window(q).await?;
        window.reverse();
        let seqs: Vec<i64> = window.iter().map(|r| r.seq).collect();
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let rows =
            sqlx::query("SELECT run_seq, tests FROM run_tests_packed WHERE run_seq = ANY($1)")
                .bind(seqs)
                .fetch_all(&mut *conn)
                .await
                .map_err(db)?;
        let mut builder = StatsBuilder::new(&window);
        decode::add_packed_tests(&mut builder, &window, &rows)?;
        let rows = sqlx::query("SELECT id, suite, classname, name FROM tests WHERE id = ANY($1)")
            .bind(builder.test_ids())
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
             WHERE test = $1 AND run_seq = ANY($2)",
        )
        .bind(test)
        .bind(seqs)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let rows = rows
            .iter()
            .map(decode::history_row)
            .collect::<Result<Vec<_>, _>>()?;
        stats::history(&window, rows)
    }

    async fn do_pipelines(&self, since: DateTime<Utc>) -> Result<Vec<PipelineState>, StoreError> {
        let rows = sqlx::query(query::SELECT_PIPELINES.as_str())
            .bind(query::ms(since))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        decode::pipelines(&rows)
    }

    async fn do_state(&self, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar::<_, String>(query::SELECT_STATE)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn do_put_state(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(query::UPSERT_STATE)
            .bind(key)
            .bind(value)
            .bind(chrono::Utc::now().timestamp_millis())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn do_ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}

impl_store!(PostgresStore);

fn dynamic(d: &Dynamic) -> sqlx::query::Query<'_, Postgres, PgArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(d.sql.as_str()));
    for b in &d.binds {
        q = match b {
            Bind::Text(v) => q.bind(v.as_str()),
            Bind::Int(v) => q.bind(*v),
        };
    }
    q
}
