//! The run store: every run of every repository, behind one small trait.
//!
//! [`Store`] is what `serve`, `report --history`, `gate` and notification state use.
//! Implementations: [`sqlite`] (the embedded default: WAL, busy timeout, nothing to
//! install) and [`postgres`] (several stateless `serve` replicas on one database). Both run
//! the same versioned migrations (`migrations/<backend>/`) on open and pass the same
//! contract tests (`contract`).
//!
//! Invariants every implementation keeps:
//! - `upsert_run` is idempotent on the run's key: the same key again stores nothing and
//!   answers `created: false`; the store id is derived from the key ([`run_id`]).
//! - A run and its test results are written in one transaction: after a crash, a run that
//!   was acknowledged is there whole, and a run that was not is absent.
//! - Reads never see half a run.

#[cfg(test)]
mod contract;
mod cursor;
mod decode;
mod packed;
pub mod postgres;
mod query;
mod record;
pub mod sqlite;
mod stats;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

pub use cursor::{DEFAULT_LIMIT, MAX_LIMIT};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use stats::{DEFAULT_WINDOW, MAX_WINDOW};

use crate::model::{
    PipelineState, RunPage, RunQuery, RunReport, TestQuery, TestRunEntry, TestStats,
};

/// A boxed future returned by [`Store`] methods.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// What `upsert_run` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// The store id of the run.
    pub id: String,
    /// True when the run was new; false when the key was already stored.
    pub created: bool,
}

/// The body a report was posted as, stored instead of the report serialised again (which
/// saves the serialisation and, for a gzip body, the compression). The caller guarantees
/// that the JSON text — `Json` as is, `Gzip` after `flate2`'s `GzDecoder` — reads with
/// `serde_json` as exactly the report it is passed with (`server::ingest` only passes
/// bodies its fast reader accepted: valid JSON, no repeated keys, schema-valid).
#[derive(Debug, Clone, Copy)]
pub enum Posted<'a> {
    /// A gzip body (`Content-Encoding: gzip`), stored as is.
    Gzip(&'a [u8]),
    /// A plain JSON body, stored deflated.
    Json(&'a [u8]),
}

/// Errors of the store. Messages never contain credentials (URLs are masked).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one cimon knows.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// Connecting or migrating failed.
    #[error("cannot open the store at {url}: {message}")]
    Open {
        /// The masked URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A query failed.
    #[error("store error: {0}")]
    Query(String),
    /// A cursor or argument is malformed.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// Which argument.
        field: &'static str,
        /// Why.
        message: String,
    },
}

/// The store interface.
pub trait Store: Send + Sync {
    /// Stores a run and its test results, once per key.
    fn upsert_run<'a>(&'a self, report: &'a RunReport) -> StoreFuture<'a, Upserted>;
    /// [`Store::upsert_run`] for a report read from the posted body `posted`, which is stored
    /// as the report's JSON (see [`Posted`]). By default the body is ignored.
    fn upsert_posted<'a>(
        &'a self,
        report: &'a RunReport,
        posted: Posted<'a>,
    ) -> StoreFuture<'a, Upserted> {
        let _ = posted;
        self.upsert_run(report)
    }
    /// Runs matching `query`, newest first (by `finished_at`, then id), paginated. A
    /// malformed cursor or a limit outside 1..=500 is [`StoreError::Invalid`].
    fn runs<'a>(&'a self, query: &'a RunQuery) -> StoreFuture<'a, RunPage>;
    /// One run with its tests, as it was posted (`None` for an unknown id; an id that is not
    /// 16 hex digits is [`StoreError::Invalid`]).
    fn run<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<RunReport>>;
    /// Per-test statistics over the newest `window` runs of the scope (repository, branch;
    /// none: every run) that reported tests — a job without tests does not shrink the
    /// window. Most unstable tests first (flips, then failures, then flaky runs).
    fn test_stats<'a>(&'a self, query: &'a TestQuery) -> StoreFuture<'a, Vec<TestStats>>;
    /// One test's results over the newest `window` runs of the scope, newest first.
    fn test_history<'a>(
        &'a self,
        test_id: &'a str,
        query: &'a TestQuery,
    ) -> StoreFuture<'a, Vec<TestRunEntry>>;
    /// The state of every pipeline whose latest run finished at or after `since`.
    fn pipelines<'a>(&'a self, since: DateTime<Utc>) -> StoreFuture<'a, Vec<PipelineState>>;
    /// Checks that the store answers.
    fn ping(&self) -> StoreFuture<'_, ()>;
    /// A small named state document (notification state per alert key), if stored.
    fn state<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<String>>;
    /// Stores (replaces) a named state document.
    fn put_state<'a>(&'a self, key: &'a str, value: &'a str) -> StoreFuture<'a, ()>;
}

/// The store id of a run: the first 64 bits of SHA-256 of its key, in hex.
pub fn run_id(key: &str) -> String {
    record::hex_id(record::id_of_key(key))
}

/// Opens (and migrates) the store at `url`: `sqlite://PATH` (created if missing),
/// `sqlite::memory:`, or `postgres://…`/`postgresql://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "sqlite" => Ok(Arc::new(SqliteStore::open(url).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PostgresStore::open(url).await?)),
        _ => Err(StoreError::UnsupportedUrl(crate::http::mask_url(url))),
    }
}

/// Implements [`Store`] for a backend whose inherent async methods have the trait's names
/// prefixed with `do_` (so the boxing lives in one place).
macro_rules! impl_store {
    ($backend:ty) => {
        impl $crate::store::Store for $backend {
            fn upsert_run<'a>(
                &'a self,
                report: &'a $crate::model::RunReport,
            ) -> $crate::store::StoreFuture<'a, $crate::store::Upserted> {
                Box::pin(self.do_upsert_run(report, None))
            }
            fn upsert_posted<'a>(
                &'a self,
                report: &'a $crate::model::RunReport,
                posted: $crate::store::Posted<'a>,
            ) -> $crate::store::StoreFuture<'a, $crate::store::Upserted> {
                Box::pin(self.do_upsert_run(report, Some(posted)))
            }
            fn runs<'a>(
                &'a self,
                query: &'a $crate::model::RunQuery,
            ) -> $crate::store::StoreFuture<'a, $crate::model::RunPage> {
                Box::pin(self.do_runs(query))
            }
            fn run<'a>(
                &'a self,
                id: &'a str,
            ) -> $crate::store::StoreFuture<'a, Option<$crate::model::RunReport>> {
                Box::pin(self.do_run(id))
            }
            fn test_stats<'a>(
                &'a self,
                query: &'a $crate::model::TestQuery,
            ) -> $crate::store::StoreFuture<'a, Vec<$crate::model::TestStats>> {
                Box::pin(self.do_test_stats(query))
            }
            fn test_history<'a>(
                &'a self,
                test_id: &'a str,
                query: &'a $crate::model::TestQuery,
            ) -> $crate::store::StoreFuture<'a, Vec<$crate::model::TestRunEntry>> {
                Box::pin(self.do_test_history(test_id, query))
            }
            fn pipelines<'a>(
                &'a self,
                since: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreFuture<'a, Vec<$crate::model::PipelineState>> {
                Box::pin(self.do_pipelines(since))
            }
            fn ping(&self) -> $crate::store::StoreFuture<'_, ()> {
                Box::pin(self.do_ping())
            }
            fn state<'a>(&'a self, key: &'a str) -> $crate::store::StoreFuture<'a, Option<String>> {
                Box::pin(self.do_state(key))
            }
            fn put_state<'a>(
                &'a self,
                key: &'a str,
                value: &'a str,
            ) -> $crate::store::StoreFuture<'a, ()> {
                Box::pin(self.do_put_state(key, value))
            }
        }
    };
}
use impl_store;

/// Opens (and migrates) the SQLite database file at `path`, created if missing: for local
/// files (`report --history`, notification state), whose paths may hold characters that a
/// `sqlite://` URL would need percent-encoded (`?`, `#`, `%`).
pub async fn open_sqlite_file(path: &std::path::Path) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqliteStore::open_file(path).await?))
}

/// Test ids whose names this process has already written to the `tests` table, so that
/// ingesting another run of a known test suite writes no names at all. Only an
/// optimisation: the `INSERT … ON CONFLICT DO NOTHING` stays correct without it (other
/// processes, restarts). Nothing ever deletes from `tests`; a store that starts deleting
/// must clear this set.
#[derive(Debug, Default)]
struct KnownTests(Mutex<HashSet<i64>>);

impl KnownTests {
    /// Beyond this many ids the set starts over (bounded memory).
    const MAX: usize = 1 << 21;

    /// The records whose test is not known to be stored yet.
    fn unknown<'r, 'a>(
        &self,
        tests: &'r [record::TestRecord<'a>],
    ) -> Vec<&'r record::TestRecord<'a>> {
        let known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tests.iter().filter(|t| !known.contains(&t.test)).collect()
    }

    /// Notes that `tests` are stored (call after the commit).
    fn remember(&self, tests: &[record::TestRecord<'_>]) {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() + tests.len() > Self::MAX {
            known.clear();
        }
        known.extend(tests.iter().map(|t| t.test));
    }
}
