//! The read API: runs, one run, per-test statistics, a test's history.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, Utc};

use crate::model::{RunOutcome, RunPage, RunQuery, RunReport, TestQuery, TestRunEntry, TestStats};

use super::auth::Scope;
use super::error::ApiError;
use super::App;

type Params = Query<BTreeMap<String, String>>;

fn only(params: &BTreeMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(format!(
            "unknown query parameter {k:?}; allowed: {}",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

fn number(
    params: &BTreeMap<String, String>,
    key: &str,
    min: u32,
    max: u32,
) -> Result<Option<u32>, ApiError> {
    match params.get(key) {
        None => Ok(None),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ApiError::bad_request(format!(
                "{key} must be an integer from {min} to {max}, not {v:?}"
            ))),
        },
    }
}

fn since(s: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::bad_request(format!("since must be an RFC 3339 time, not {s:?}")))
}

fn text(params: &BTreeMap<String, String>, key: &str) -> Option<String> {
    params.get(key).filter(|v| !v.is_empty()).cloned()
}

/// `GET /api/v1/runs`.
pub async fn list_runs(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(p): Params,
) -> Result<Json<RunPage>, ApiError> {
    app.authorize(&headers, Scope::Read)?;
    only(
        &p,
        &[
            "repository",
            "branch",
            "workflow",
            "outcome",
            "since",
            "limit",
            "cursor",
        ],
    )?;
    let outcome = match p.get("outcome") {
        None => None,
        Some(o) => Some(RunOutcome::parse_ci_status(o).filter(|x| x.as_str() == o).ok_or_else(|| {
            ApiError::bad_request(format!("outcome must be success, failure, cancelled, skipped or unknown, not {o:?}"))
        })?),
    };
    let since = match p.get("since") {
        None => None,
        Some(s) => Some(since(s)?),
    };
    let query = RunQuery {
        repository: text(&p, "repository"),
        branch: text(&p, "branch"),
        workflow: text(&p, "workflow"),
        outcome,
        since,
        limit: number(&p, "limit", 1, 500)?,
        cursor: text(&p, "cursor"),
    };
    Ok(Json(app.store.runs(&query).await?))
}

/// `GET /api/v1/runs/{id}`.
pub async fn get_run(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RunReport>, ApiError> {
    app.authorize(&headers, Scope::Read)?;
    match app.store.run(&id).await? {
        Some(r) => Ok(Json(r)),
        None => Err(ApiError::not_found(format!("no run with id {id:?}"))),
    }
}

fn test_query(p: &BTreeMap<String, String>) -> Result<TestQuery, ApiError> {
    only(p, &["repository", "branch", "window", "since"])?;
    let repository =
        text(p, "repository").ok_or_else(|| ApiError::bad_request("repository is required"))?;
    Ok(TestQuery {
        repository: Some(repository),
        branch: text(p, "branch"),
        window: number(p, "window", 1, 10_000)?,
        since: match p.get("since") {
            None => None,
            Some(s) => Some(since(s)?),
        },
    })
}

/// `GET /api/v1/tests`.
pub async fn list_tests(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(p): Params,
) -> Result<Json<Vec<TestStats>>, ApiError> {
    app.authorize(&headers, Scope::Read)?;
    let q = test_query(&p)?;
    Ok(Json(app.store.test_stats(&q).await?))
}

/// `GET /api/v1/tests/{test_id}/history`.
pub async fn test_history(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(test_id): Path<String>,
    Query(p): Params,
) -> Result<Json<Vec<TestRunEntry>>, ApiError> {
    app.authorize(&headers, Scope::Read)?;
    let q = test_query(&p)?;
    Ok(Json(app.store.test_history(&test_id, &q).await?))
}
