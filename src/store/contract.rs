//! The store contract: one suite of async tests, run against SQLite (a temporary file) and
//! against a real PostgreSQL (`CIMON_TEST_POSTGRES_URL`, default
//! `postgres://cimon:cimon@127.0.0.1:5432/cimon_test`; `./scripts/test` installs and starts
//! one). Each PostgreSQL test works in its own schema, so the tests run in parallel. When
//! PostgreSQL is unreachable the tests fail: they never skip.

mod fixture;
mod history;

use std::sync::Arc;

use chrono::Utc;
use sqlx::Connection;

use self::fixture::{at, Run, F, P};
use self::history::{
    pipelines_state_counters_histogram, test_history_newest_first, test_stats_over_windows,
};
use super::{Store, StoreError};
use crate::model::{RunOutcome, RunQuery, RunSummary, TestQuery};

const DEFAULT_POSTGRES_URL: &str = "postgres://cimon:cimon@127.0.0.1:5432/cimon_test";

/// A store under test and what it takes to reopen and clean it.
struct Db {
    url: String,
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Db {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let store = super::open(&url).await.unwrap();
        Self {
            url,
            store,
            _dir: Some(dir),
            pg: None,
        }
    }

    async fn postgres(test: &str) -> Self {
        let base = std::env::var("CIMON_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let schema = format!("cimon_contract_{test}");
        let mut conn = match sqlx::PgConnection::connect(&base).await {
            Ok(conn) => conn,
            Err(e) => panic!(
                "PostgreSQL at {} is unreachable ({e}). The store tests need it: run \
                 ./scripts/test (installs and starts one), or set CIMON_TEST_POSTGRES_URL.",
                crate::http::mask_url(&base)
            ),
        };
        for sql in [
            format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            format!("CREATE SCHEMA {schema}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn.close().await.unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        let store = super::open(&url).await.unwrap();
        Self {
            url,
            store,
            _dir: None,
            pg: Some((base, schema)),
        }
    }

    /// Drops the PostgreSQL schema (a failed test leaves it for inspection; the next run
    /// drops it first).
    async fn finish(self) {
        drop(self.store);
        if let Some((base, schema)) = self.pg {
            let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
            let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// Defines each contract test once per backend.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::Db::sqlite().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::Db::postgres(stringify!($name)).await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

contract!(
    round_trip,
    idempotent_sequential,
    idempotent_concurrent,
    attempts_are_distinct_runs,
    pagination_and_filters,
    malformed_arguments,
    test_stats_over_windows,
    test_history_newest_first,
    pipelines_state_counters_histogram,
    migrations_rerun_is_a_no_op,
    concurrent_distinct_runs,
    large_run,
    state_documents,
);

async fn state_documents(db: &Db) {
    let store = &db.store;
    assert_eq!(
        store.state("github/octo/app/CI/main/build").await.unwrap(),
        None
    );
    store
        .put_state("github/octo/app/CI/main/build", "{\"failing\":true}")
        .await
        .unwrap();
    store.put_state("other", "x").await.unwrap();
    store
        .put_state("github/octo/app/CI/main/build", "{\"failing\":false}")
        .await
        .unwrap();
    assert_eq!(
        store
            .state("github/octo/app/CI/main/build")
            .await
            .unwrap()
            .as_deref(),
        Some("{\"failing\":false}"),
        "a second put replaces the first"
    );
    assert_eq!(store.state("other").await.unwrap().as_deref(), Some("x"));
}

/// A SQLite file whose name a URL could not carry as is opens by path, and keeps its data.
#[tokio::test]
async fn sqlite_files_open_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("odd ?#% name.db");
    let report = Run::new("octo/app", 1).build();
    let id = {
        let store = super::open_sqlite_file(&odd).await.unwrap();
        store.upsert_run(&report).await.unwrap().id
    };
    assert!(odd.exists());
    let store = super::open_sqlite_file(&odd).await.unwrap();
    assert_eq!(store.run(&id).await.unwrap().as_ref(), Some(&report));
}

/// Opening errors name the store without its credentials.
#[tokio::test]
async fn open_errors_mask_credentials() {
    // (A refused PostgreSQL connection is retried for the pool's 10 s acquire timeout.)
    for url in [
        "postgresql://cimon:s3cret@127.0.0.1:1/db?sslmode=disable",
        "mysql://cimon:s3cret@127.0.0.1/db",
    ] {
        let err = super::open(url).await.err().unwrap().to_string();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(err.contains("127.0.0.1"), "{err}");
    }
    let err = super::open("sqlite:///nonexistent-dir/x/y.db")
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
}

/// Every run matching `query`, following the cursors.
async fn all_runs(store: &dyn Store, mut query: RunQuery) -> Vec<RunSummary> {
    let mut out = Vec::new();
    loop {
        let page = store.runs(&query).await.unwrap();
        out.extend(page.runs);
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => return out,
        }
    }
}

fn keys(runs: &[RunSummary]) -> Vec<String> {
    runs.iter()
        .map(|r| r.run_id.clone().unwrap_or_default())
        .collect()
}

async fn round_trip(db: &Db) {
    let report = Run::new("octo/app", 1).at(3).rich().build();
    let up = db.store.upsert_run(&report).await.unwrap();
    assert!(up.created);
    assert_eq!(up.id, super::run_id(&report.key));
    assert_eq!(db.store.run(&up.id).await.unwrap().as_ref(), Some(&report));
    assert_eq!(db.store.run("0123456789abcdef").await.unwrap(), None);

    let runs = all_runs(&*db.store, RunQuery::default()).await;
    assert_eq!(runs.len(), 1);
    let s = &runs[0];
    assert_eq!(
        (s.id.as_str(), s.key.as_str()),
        (up.id.as_str(), report.key.as_str())
    );
    assert_eq!(s.provider, report.provider);
    assert_eq!(s.repository, report.repository);
    assert_eq!((&s.workflow, &s.job), (&report.workflow, &report.job));
    assert_eq!(
        (&s.branch, &s.sha),
        (&report.commit.branch, &report.commit.sha)
    );
    assert_eq!(
        (&s.run_id, s.run_attempt),
        (&report.run_id, report.run_attempt)
    );
    assert_eq!(s.outcome, report.outcome);
    assert_eq!(
        (s.started_at, s.finished_at),
        (report.started_at, report.finished_at)
    );
    assert_eq!(s.duration_ms, report.duration_ms);
    assert_eq!(s.tests, report.tests.summary);
    assert!((Utc::now() - s.received_at).num_seconds().abs() < 60);
    db.store.ping().await.unwrap();
}

async fn idempotent_sequential(db: &Db) {
    let report = Run::new("octo/app", 7)
        .tests(&[("a", P, false), ("b", F, false)])
        .build();
    let created: Vec<bool> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(db.store.upsert_run(&report).await.unwrap().created);
        }
        v
    };
    assert_eq!(created, [true, false, false]);
    assert_eq!(all_runs(&*db.store, RunQuery::default()).await.len(), 1);
    let stats = db.store.test_stats(&TestQuery::default()).await.unwrap();
    assert_eq!(stats.len(), 2);
    assert!(stats.iter().all(|s| s.runs == 1));
    let pipes = db.store.pipelines(at(-10_000)).await.unwrap();
    assert_eq!(
        pipes[0].runs_by_outcome.iter().map(|(_, n)| n).sum::<u64>(),
        1
    );
}

/// Three concurrent posts of one report store one run; repeated over 10 reports, as the
/// race between concurrent inserts of one key does not show every time.
async fn idempotent_concurrent(db: &Db) {
    for n in 0..10 {
        let report = Arc::new(Run::new("octo/app", n).tests(&[("a", P, false)]).build());
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (store, report) = (db.store.clone(), report.clone());
                tokio::spawn(async move { store.upsert_run(&report).await.unwrap() })
            })
            .collect();
        let mut created = 0;
        for t in tasks {
            let up = t.await.unwrap();
            assert_eq!(up.id, super::run_id(&report.key));
            created += usize::from(up.created);
        }
        assert_eq!(created, 1, "report {n}");
    }
    assert_eq!(all_runs(&*db.store, RunQuery::default()).await.len(), 10);
    let stats = db.store.test_stats(&TestQuery::default()).await.unwrap();
    assert_eq!(stats[0].runs, 10);
    let pipes = db.store.pipelines(at(-10_000)).await.unwrap();
    assert_eq!(
        pipes[0].runs_by_outcome.iter().map(|(_, n)| n).sum::<u64>(),
        10
    );
}

async fn attempts_are_distinct_runs(db: &Db) {
    let first = Run::new("octo/app", 9).attempt(1).build();
    let second = Run::new("octo/app", 9).attempt(2).at(1).build();
    assert!(db.store.upsert_run(&first).await.unwrap().created);
    assert!(db.store.upsert_run(&second).await.unwrap().created);
    assert!(!db.store.upsert_run(&first).await.unwrap().created);
    let runs = all_runs(&*db.store, RunQuery::default()).await;
    let attempts: Vec<u32> = runs.iter().map(|r| r.run_attempt).collect();
    assert_eq!(attempts, [2, 1]);
}

async fn pagination_and_filters(db: &Db) {
    // run id, repository, branch, workflow, outcome, minute. Runs 3 and 4 tie on time.
    let table = [
        (1, "octo/app", "main", "CI", RunOutcome::Success, 1),
        (2, "octo/app", "dev", "CI", RunOutcome::Failure, 2),
        (3, "octo/app", "main", "Nightly", RunOutcome::Success, 3),
        (4, "octo/app", "main", "CI", RunOutcome::Failure, 3),
        (5, "octo/lib", "main", "CI", RunOutcome::Success, 4),
        (6, "octo/app", "main", "CI", RunOutcome::Cancelled, 5),
        (7, "octo/app", "dev", "CI", RunOutcome::Success, 6),
    ];
    for (n, repo, branch, workflow, outcome, minute) in table {
        let r = Run::new(repo, n)
            .branch(branch)
            .workflow(workflow)
            .outcome(outcome)
            .at(minute);
        db.store.upsert_run(&r.build()).await.unwrap();
    }
    let tie = {
        let mut ids = [3, 4].map(|n| {
            let r = Run::new("octo/app", n).workflow(if n == 3 { "Nightly" } else { "CI" });
            (super::record::id_of_key(&r.build().key), n.to_string())
        });
        ids.sort();
        [ids[1].1.clone(), ids[0].1.clone()]
    };

    // Pages of 3: newest first, ties broken by id (descending), no repeats.
    let q = RunQuery {
        limit: Some(3),
        ..Default::default()
    };
    let first = db.store.runs(&q).await.unwrap();
    assert_eq!(keys(&first.runs), ["7", "6", "5"]);
    let cursor = first.next_cursor.clone().unwrap();
    // A run stored meanwhile (newer) does not shift the next pages.
    db.store
        .upsert_run(&Run::new("octo/app", 8).at(9).build())
        .await
        .unwrap();
    let second = db
        .store
        .runs(&RunQuery {
            cursor: Some(cursor),
            ..q.clone()
        })
        .await
        .unwrap();
    assert_eq!(keys(&second.runs), [tie[0].as_str(), tie[1].as_str(), "2"]);
    let third = db
        .store
        .runs(&RunQuery {
            cursor: second.next_cursor,
            ..q.clone()
        })
        .await
        .unwrap();
    assert_eq!(keys(&third.runs), ["1"]);
    assert_eq!(third.next_cursor, None);
    let default = db.store.runs(&RunQuery::default()).await.unwrap();
    assert_eq!((default.runs.len(), default.next_cursor), (8, None));

    let filtered = |q: RunQuery| async move { keys(&all_runs(&*db.store, q).await) };
    let repo = || Some("octo/app".to_owned());
    assert_eq!(
        filtered(RunQuery {
            repository: Some("octo/lib".into()),
            ..Default::default()
        })
        .await,
        ["5"]
    );
    assert_eq!(
        filtered(RunQuery {
            repository: repo(),
            branch: Some("dev".into()),
            ..Default::default()
        })
        .await,
        ["7", "2"]
    );
    assert_eq!(
        filtered(RunQuery {
            workflow: Some("Nightly".into()),
            ..Default::default()
        })
        .await,
        ["3"]
    );
    assert_eq!(
        filtered(RunQuery {
            outcome: Some(RunOutcome::Failure),
            ..Default::default()
        })
        .await,
        ["4", "2"]
    );
    assert_eq!(
        filtered(RunQuery {
            since: Some(at(5)),
            ..Default::default()
        })
        .await,
        ["8", "7", "6"]
    );
    let all = RunQuery {
        repository: repo(),
        branch: Some("main".into()),
        workflow: Some("CI".into()),
        outcome: Some(RunOutcome::Failure),
        since: Some(at(3)),
        limit: Some(1),
        cursor: None,
    };
    assert_eq!(filtered(all).await, ["4"]);
}

async fn malformed_arguments(db: &Db) {
    db.store
        .upsert_run(&Run::new("octo/app", 1).build())
        .await
        .unwrap();
    for cursor in [
        "",
        "nope",
        "zz",
        &"0".repeat(31),
        &format!("{}!", "0".repeat(31)),
    ] {
        let q = RunQuery {
            cursor: Some(cursor.to_owned()),
            ..Default::default()
        };
        let err = db.store.runs(&q).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Invalid {
                    field: "cursor",
                    ..
                }
            ),
            "{cursor:?}: {err}"
        );
    }
    for limit in [0, 501] {
        let q = RunQuery {
            limit: Some(limit),
            ..Default::default()
        };
        assert!(matches!(
            db.store.runs(&q).await,
            Err(StoreError::Invalid { field: "limit", .. })
        ));
    }
    let q = TestQuery {
        window: Some(0),
        ..Default::default()
    };
    assert!(matches!(
        db.store.test_stats(&q).await,
        Err(StoreError::Invalid {
            field: "window",
            ..
        })
    ));
    assert!(matches!(
        db.store.run("xyz").await,
        Err(StoreError::Invalid { field: "id", .. })
    ));
    let err = db
        .store
        .test_history("not-hex", &TestQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Invalid {
            field: "test_id",
            ..
        }
    ));
}

async fn migrations_rerun_is_a_no_op(db: &Db) {
    let report = Run::new("octo/app", 1).rich().build();
    let id = db.store.upsert_run(&report).await.unwrap().id;
    for _ in 0..2 {
        let again = super::open(&db.url).await.unwrap();
        assert_eq!(again.run(&id).await.unwrap().as_ref(), Some(&report));
        assert!(!again.upsert_run(&report).await.unwrap().created);
    }
}

async fn concurrent_distinct_runs(db: &Db) {
    let tasks: Vec<_> = (0..16u32)
        .map(|task| {
            let store = db.store.clone();
            tokio::spawn(async move {
                for i in 0..5u32 {
                    let n = task * 100 + i;
                    let r = Run::new("octo/app", n)
                        .at(i64::from(n % 50))
                        .tests(&[("shared", P, false), ("other", F, false)]);
                    assert!(store.upsert_run(&r.build()).await.unwrap().created);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let runs = all_runs(
        &*db.store,
        RunQuery {
            limit: Some(7),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(runs.len(), 80);
    let mut ids: Vec<_> = runs.iter().map(|r| r.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 80);
    let stats = db.store.test_stats(&TestQuery::default()).await.unwrap();
    assert_eq!(stats.len(), 2);
    assert!(stats.iter().all(|s| s.runs == 80));
    let total: u64 = db.store.pipelines(at(-1)).await.unwrap()[0]
        .runs_by_outcome
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert_eq!(total, 80);
}

/// More test rows than one SQLite statement may bind (6 × 6 000 values).
async fn large_run(db: &Db) {
    let names: Vec<String> = (0..6000).map(|i| format!("t{i}")).collect();
    let tests: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                n.as_str(),
                if i.is_multiple_of(7) { F } else { P },
                i.is_multiple_of(11),
            )
        })
        .collect();
    let report = Run::new("octo/big", 1).tests(&tests).build();
    let up = db.store.upsert_run(&report).await.unwrap();
    assert!(up.created);
    assert_eq!(db.store.run(&up.id).await.unwrap().as_ref(), Some(&report));
    let stats = db.store.test_stats(&TestQuery::default()).await.unwrap();
    assert_eq!(stats.len(), 6000);
    assert_eq!(stats.iter().filter(|s| s.failures == 1).count(), 858);
    assert_eq!(stats.iter().filter(|s| s.flaky_runs == 1).count(), 546);
    let last = crate::model::TestId::derive("octo/big", "suite", "pkg.Class", "t5999");
    let h = db
        .store
        .test_history(&last.to_string(), &TestQuery::default())
        .await
        .unwrap();
    assert_eq!(h.len(), 1);
}
