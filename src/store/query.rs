//! SQL text shared by the backends.
//!
//! Statements are written once with numbered placeholders and rendered for a backend's
//! style ([`Placeholder`]): `$1` for PostgreSQL, `?1` for SQLite. Dynamic statements (the
//! filters of `runs`) are assembled from fixed fragments only; every value is bound.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use super::cursor::Cursor;
use super::decode::{PIPELINES_SELECT, SUMMARY_COLUMNS};
use crate::model::{RunQuery, TestQuery};

/// How a backend writes the n-th placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholder {
    /// `$1`, `$2`, … (PostgreSQL).
    Dollar,
    /// `?1`, `?2`, … (SQLite).
    Question,
}

impl Placeholder {
    /// Rewrites `$n` placeholders of `sql` into this style.
    pub fn render(self, sql: &str) -> String {
        match self {
            Self::Dollar => sql.to_owned(),
            Self::Question => sql.replace('$', "?"),
        }
    }

    fn push(self, sql: &mut String, n: usize) {
        sql.push(match self {
            Self::Dollar => '$',
            Self::Question => '?',
        });
        sql.push_str(&n.to_string());
    }
}

/// A value bound to a dynamic statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    /// A text value.
    Text(String),
    /// An integer value.
    Int(i64),
}

/// A dynamic statement and its values, in placeholder order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dynamic {
    pub sql: String,
    pub binds: Vec<Bind>,
}

impl Dynamic {
    fn new(sql: &str) -> Self {
        Self {
            sql: sql.to_owned(),
            binds: Vec::new(),
        }
    }

    fn and(&mut self, style: Placeholder, column: &str, op: &str, value: Bind) {
        self.binds.push(value);
        self.sql.push_str(" AND ");
        self.sql.push_str(column);
        self.sql.push_str(op);
        style.push(&mut self.sql, self.binds.len());
    }

    fn limit(&mut self, style: Placeholder, n: i64) {
        self.binds.push(Bind::Int(n));
        self.sql
            .push_str(" ORDER BY finished_at DESC, id DESC LIMIT ");
        style.push(&mut self.sql, self.binds.len());
    }
}

/// `SELECT` of one page of runs: `fetch` rows (one more than the page, to see whether
/// another page follows), newest first, after `cursor`.
pub(crate) fn runs_page(
    style: Placeholder,
    query: &RunQuery,
    cursor: Option<Cursor>,
    fetch: u32,
) -> Dynamic {
    let mut d = Dynamic::new(&format!("SELECT {SUMMARY_COLUMNS} FROM runs WHERE TRUE"));
    let text = |v: &String| Bind::Text(v.clone());
    if let Some(v) = &query.repository {
        d.and(style, "repository", " = ", text(v));
    }
    if let Some(v) = &query.branch {
        d.and(style, "branch", " = ", text(v));
    }
    if let Some(v) = &query.workflow {
        d.and(style, "workflow", " = ", text(v));
    }
    if let Some(v) = query.outcome {
        d.and(style, "outcome", " = ", Bind::Text(v.as_str().to_owned()));
    }
    if let Some(v) = query.since {
        d.and(style, "finished_at", " >= ", Bind::Int(ms(v)));
    }
    if let Some(c) = cursor {
        // (finished_at, id) < (c.finished_at, c.id), spelled so that every planner uses the
        // (…, finished_at, id) indexes.
        d.and(style, "finished_at", " <= ", Bind::Int(c.finished_at));
        d.binds.push(Bind::Int(c.finished_at));
        d.sql.push_str(" AND (finished_at < ");
        style.push(&mut d.sql, d.binds.len());
        d.binds.push(Bind::Int(c.id));
        d.sql.push_str(" OR id < ");
        style.push(&mut d.sql, d.binds.len());
        d.sql.push(')');
    }
    d.limit(style, i64::from(fetch));
    d
}

/// `SELECT seq, id, finished_at, sha, branch` of the newest `window` runs of the scope that
/// reported tests, newest first.
pub(crate) fn window(style: Placeholder, query: &TestQuery, window: u32) -> Dynamic {
    let mut d =
        Dynamic::new("SELECT seq, id, finished_at, sha, branch FROM runs WHERE tests_total > 0");
    if let Some(v) = &query.repository {
        d.and(style, "repository", " = ", Bind::Text(v.clone()));
    }
    if let Some(v) = &query.branch {
        d.and(style, "branch", " = ", Bind::Text(v.clone()));
    }
    if let Some(v) = query.since {
        d.and(style, "finished_at", " >= ", Bind::Int(ms(v)));
    }
    d.limit(style, i64::from(window));
    d
}

/// The key of the run with id `$1` (to tell a stored run from an id collision).
pub(crate) const SELECT_KEY: &str = "SELECT key FROM runs WHERE id = $1";

/// The stored report of the run with id `$1`.
pub(crate) const SELECT_REPORT: &str = "SELECT p.report FROM runs r \
     JOIN run_reports p ON p.run_seq = r.seq WHERE r.id = $1";

/// Epoch milliseconds of a time.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Number of values of [`insert_run`].
pub(crate) const RUN_VALUES: usize = 23;

/// `INSERT` of a run's `runs` row (23 values, `style` placeholders from 1); does nothing when
/// its key — or its id, derived from the key — is stored. (With a conflict target of `key`
/// only, two concurrent inserts of one run on PostgreSQL could fail on the `id` index
/// instead of doing nothing.) `seq`, when given, is the SQL expression of the row's `seq`
/// (PostgreSQL generates it).
pub(crate) fn insert_run(style: Placeholder, seq: Option<&str>) -> String {
    let (seq_column, seq_value) = match seq {
        Some(expr) => ("seq, ", format!("{expr}, ")),
        None => ("", String::new()),
    };
    format!(
        "INSERT INTO runs ({seq_column}id, key, provider, repository, workflow, job, branch, \
         sha, run_id, run_attempt, outcome, started_at, finished_at, received_at, duration_ms, \
         queued_ms, tests_total, tests_passed, tests_failed, tests_errored, tests_skipped, \
         tests_flaky, tests_duration_ms) VALUES ({seq_value}{}) ON CONFLICT DO NOTHING",
        placeholders(style, 1, RUN_VALUES)
    )
}

/// Number of values of a pipeline row (see [`pipeline_upsert`]).
pub(crate) const PIPELINE_VALUES: usize = 24;

/// Adds a run to its pipeline (shard) row: counters add up, the latest run wins by
/// `(finished_at, id)`. `values` supplies the 24 values (`VALUES (…)` or a `SELECT`) in the
/// order provider, repository, workflow, job, branch, shard, last_run, last_finished_at,
/// runs_<outcome> ×5, duration_count, duration_sum_ms, b1..b9.
pub(crate) fn pipeline_upsert(values: &str) -> String {
    format!(
        "INSERT INTO pipelines (provider, repository, workflow, job, branch, shard, last_run, \
         last_finished_at, runs_success, runs_failure, runs_cancelled, runs_skipped, \
         runs_unknown, duration_count, duration_sum_ms, b1, b2, b3, b4, b5, b6, b7, b8, b9) \
         {values} \
         ON CONFLICT (provider, repository, workflow, job, branch, shard) DO UPDATE SET \
         last_run = CASE WHEN excluded.last_finished_at > pipelines.last_finished_at \
           OR (excluded.last_finished_at = pipelines.last_finished_at \
               AND excluded.last_run > pipelines.last_run) \
           THEN excluded.last_run ELSE pipelines.last_run END, \
         last_finished_at = CASE WHEN excluded.last_finished_at > pipelines.last_finished_at \
           THEN excluded.last_finished_at ELSE pipelines.last_finished_at END, \
         runs_success = pipelines.runs_success + excluded.runs_success, \
         runs_failure = pipelines.runs_failure + excluded.runs_failure, \
         runs_cancelled = pipelines.runs_cancelled + excluded.runs_cancelled, \
         runs_skipped = pipelines.runs_skipped + excluded.runs_skipped, \
         runs_unknown = pipelines.runs_unknown + excluded.runs_unknown, \
         duration_count = pipelines.duration_count + excluded.duration_count, \
         duration_sum_ms = pipelines.duration_sum_ms + excluded.duration_sum_ms, \
         b1 = pipelines.b1 + excluded.b1, b2 = pipelines.b2 + excluded.b2, \
         b3 = pipelines.b3 + excluded.b3, b4 = pipelines.b4 + excluded.b4, \
         b5 = pipelines.b5 + excluded.b5, b6 = pipelines.b6 + excluded.b6, \
         b7 = pipelines.b7 + excluded.b7, b8 = pipelines.b8 + excluded.b8, \
         b9 = pipelines.b9 + excluded.b9"
    )
}

/// `count` placeholders of `style` from `first` on, comma-separated: `$4, $5, $6`.
pub(crate) fn placeholders(style: Placeholder, first: usize, count: usize) -> String {
    let mut out = String::new();
    for n in first..first + count {
        if n > first {
            out.push_str(", ");
        }
        style.push(&mut out, n);
    }
    out
}

/// One value of the key-value `state` table (notification state).
pub(crate) const SELECT_STATE: &str = "SELECT value FROM state WHERE key = $1";

/// Writes one value of the `state` table, replacing the previous one.
pub(crate) const UPSERT_STATE: &str =
    "INSERT INTO state (key, value, updated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

/// The shard rows of every pipeline whose latest run finished at or after `$1`, grouped
/// (ordered) by pipeline.
pub(crate) static SELECT_PIPELINES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{PIPELINES_SELECT} WHERE (p.provider, p.repository, p.workflow, p.job, p.branch) IN \
         (SELECT provider, repository, workflow, job, branch FROM pipelines \
          WHERE last_finished_at >= $1) \
         ORDER BY p.provider, p.repository, p.workflow, p.job, p.branch"
    )
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunOutcome;

    #[test]
    fn runs_page_binds_every_filter_in_order() {
        let q = RunQuery {
            repository: Some("r".into()),
            branch: None,
            workflow: Some("w".into()),
            outcome: Some(RunOutcome::Failure),
            since: DateTime::from_timestamp_millis(5),
            limit: None,
            cursor: None,
        };
        let d = runs_page(
            Placeholder::Question,
            &q,
            Some(Cursor {
                finished_at: 9,
                id: 3,
            }),
            51,
        );
        assert_eq!(
            d.sql,
            format!(
                "SELECT {SUMMARY_COLUMNS} FROM runs WHERE TRUE AND repository = ?1 AND workflow = ?2 \
                 AND outcome = ?3 AND finished_at >= ?4 AND finished_at <= ?5 \
                 AND (finished_at < ?6 OR id < ?7) ORDER BY finished_at DESC, id DESC LIMIT ?8"
            )
        );
        assert_eq!(
            d.binds,
            [
                Bind::Text("r".into()),
                Bind::Text("w".into()),
                Bind::Text("failure".into()),
                Bind::Int(5),
                Bind::Int(9),
                Bind::Int(9),
                Bind::Int(3),
                Bind::Int(51)
            ]
        );
    }

    #[test]
    fn placeholders_render_per_backend() {
        assert_eq!(
            Placeholder::Question.render("a = $1 AND b = $12"),
            "a = ?1 AND b = ?12"
        );
        assert_eq!(Placeholder::Dollar.render("a = $1"), "a = $1");
        assert_eq!(placeholders(Placeholder::Dollar, 4, 3), "$4, $5, $6");
        assert_eq!(placeholders(Placeholder::Question, 1, 1), "?1");
        let sql = insert_run(Placeholder::Question, Some("7"));
        assert!(sql.starts_with("INSERT INTO runs (seq, id, key,"), "{sql}");
        assert!(
            sql.contains("VALUES (7, ?1, ?2,") && sql.contains("?23)"),
            "{sql}"
        );
        assert!(!insert_run(Placeholder::Dollar, None).contains("seq"));
        let d = window(
            Placeholder::Dollar,
            &TestQuery {
                repository: Some("r".into()),
                branch: Some("b".into()),
                window: None,
                since: None,
            },
            100,
        );
        assert!(
            d.sql.ends_with(
                "repository = $1 AND branch = $2 ORDER BY finished_at DESC, id DESC LIMIT $3"
            ),
            "{}",
            d.sql
        );
    }
}
