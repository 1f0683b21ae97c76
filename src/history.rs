//! Where `cimon gate` reads history from, behind one small trait: a local SQLite file
//! (the one `report --history PATH` appends to) or a `cimon serve` endpoint
//! (`GET /api/v1/tests`, `GET /api/v1/runs`). [`fetch_window`] turns either into the
//! [`Window`] the verdict needs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Client;

use crate::gate::Window;
use crate::http::{self, Auth, HttpError, Secret};
use crate::model::{RunPage, RunQuery, TestQuery, TestStats};
use crate::store::{Store, StoreError};

/// A boxed future of a [`History`] method.
pub type HistoryFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, HistoryError>> + Send + 'a>>;

/// Why history could not be read. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The local file or the server could not be read (infrastructure).
    #[error("{0}")]
    Unavailable(String),
    /// The request was refused as invalid.
    #[error("{0}")]
    Invalid(String),
}

impl From<StoreError> for HistoryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid { .. } => Self::Invalid(e.to_string()),
            _ => Self::Unavailable(e.to_string()),
        }
    }
}

impl From<HttpError> for HistoryError {
    fn from(e: HttpError) -> Self {
        match e.status() {
            Some(400) => Self::Invalid(e.to_string()),
            _ => Self::Unavailable(e.to_string()),
        }
    }
}

/// A source of history.
pub trait History: Send + Sync {
    /// What it is, for messages (`file ci-history.db`, `endpoint https://…` masked).
    fn describe(&self) -> String;
    /// Per-test statistics over a window (`GET /api/v1/tests`).
    fn test_stats<'a>(&'a self, query: &'a TestQuery) -> HistoryFuture<'a, Vec<TestStats>>;
    /// A page of runs, newest first (`GET /api/v1/runs`).
    fn runs<'a>(&'a self, query: &'a RunQuery) -> HistoryFuture<'a, RunPage>;
    /// True when the run with this store id is stored.
    fn has_run<'a>(&'a self, id: &'a str) -> HistoryFuture<'a, bool>;
}

/// History in a store (a local SQLite file).
pub struct StoreHistory {
    store: Arc<dyn Store>,
    label: String,
}

impl StoreHistory {
    /// Wraps an open store.
    pub fn new(store: Arc<dyn Store>, label: String) -> Self {
        Self { store, label }
    }
}

impl History for StoreHistory {
    fn describe(&self) -> String {
        self.label.clone()
    }
    fn test_stats<'a>(&'a self, query: &'a TestQuery) -> HistoryFuture<'a, Vec<TestStats>> {
        Box::pin(async move { Ok(self.store.test_stats(query).await?) })
    }
    fn runs<'a>(&'a self, query: &'a RunQuery) -> HistoryFuture<'a, RunPage> {
        Box::pin(async move { Ok(self.store.runs(query).await?) })
    }
    fn has_run<'a>(&'a self, id: &'a str) -> HistoryFuture<'a, bool> {
        Box::pin(async move { Ok(self.store.run(id).await?.is_some()) })
    }
}

/// History from a `cimon serve` endpoint, with `Authorization: Bearer` from `CIMON_TOKEN`.
pub struct EndpointHistory {
    client: Client,
    base: String,
    token: Option<Secret>,
    timeout: Duration,
}

impl EndpointHistory {
    /// An endpoint at `base` (`https://cimon.example.com`).
    pub fn new(client: Client, base: &str, token: Option<Secret>, timeout: Duration) -> Self {
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token,
            timeout,
        }
    }

    fn auth(&self) -> Auth<'_> {
        self.token.as_ref().map_or(Auth::None, Auth::Bearer)
    }

    fn url(&self, path: &str, params: &[(&str, String)]) -> Result<String, HistoryError> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base)).map_err(|e| {
            HistoryError::Invalid(format!(
                "--endpoint {}: not a URL: {e}",
                http::mask_url(&self.base)
            ))
        })?;
        if !params.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url.into())
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl History for EndpointHistory {
    fn describe(&self) -> String {
        format!("endpoint {}", http::mask_url(&self.base))
    }
    fn test_stats<'a>(&'a self, q: &'a TestQuery) -> HistoryFuture<'a, Vec<TestStats>> {
        Box::pin(async move {
            let mut params = Vec::new();
            params.extend(q.repository.clone().map(|v| ("repository", v)));
            params.extend(q.branch.clone().map(|v| ("branch", v)));
            params.extend(q.window.map(|v| ("window", v.to_string())));
            params.extend(q.since.map(|v| ("since", time(v))));
            let url = self.url("/api/v1/tests", &params)?;
            let page = http::get_json(&self.client, &url, self.auth(), &[], self.timeout).await?;
            Ok(page.body)
        })
    }
    fn runs<'a>(&'a self, q: &'a RunQuery) -> HistoryFuture<'a, RunPage> {
        Box::pin(async move {
            let mut params = Vec::new();
            params.extend(q.repository.clone().map(|v| ("repository", v)));
            params.extend(q.branch.clone().map(|v| ("branch", v)));
            params.extend(q.since.map(|v| ("since", time(v))));
            params.extend(q.limit.map(|v| ("limit", v.to_string())));
            params.extend(q.cursor.clone().map(|v| ("cursor", v)));
            let url = self.url("/api/v1/runs", &params)?;
            let page = http::get_json(&self.client, &url, self.auth(), &[], self.timeout).await?;
            Ok(page.body)
        })
    }
    fn has_run<'a>(&'a self, id: &'a str) -> HistoryFuture<'a, bool> {
        Box::pin(async move {
            let url = self.url(&format!("/api/v1/runs/{id}"), &[])?;
            match http::get_json::<serde_json::Value>(
                &self.client,
                &url,
                self.auth(),
                &[],
                self.timeout,
            )
            .await
            {
                Ok(_) => Ok(true),
                Err(e) if e.status() == Some(404) => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// The window of `branch` (all branches: `None`): statistics of the newest `runs` runs that
/// reported tests (finished after `since`), and how many of those runs needed a retry.
pub async fn fetch_window(
    history: &dyn History,
    repository: Option<&str>,
    branch: Option<&str>,
    runs: u32,
    since: Option<DateTime<Utc>>,
) -> Result<Window, HistoryError> {
    let q = TestQuery {
        repository: repository.map(Into::into),
        branch: branch.map(Into::into),
        window: Some(runs),
        since,
    };
    let stats = history.test_stats(&q).await?;
    let mut counted = 0u64;
    let mut retried = 0u64;
    let mut cursor = None;
    // Runs without tests (a lint job) are not in a statistics window: skip them here too.
    while counted < u64::from(runs) {
        let page = history
            .runs(&RunQuery {
                repository: repository.map(Into::into),
                branch: branch.map(Into::into),
                since,
                limit: Some(500),
                cursor: cursor.take(),
                ..RunQuery::default()
            })
            .await?;
        for r in page.runs.iter().filter(|r| r.tests.total > 0) {
            if counted == u64::from(runs) {
                break;
            }
            counted += 1;
            retried += u64::from(r.tests.flaky > 0);
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(Window {
        stats,
        runs: counted,
        runs_with_retries: retried,
    })
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    fn stats(name: &str) -> serde_json::Value {
        serde_json::json!({
            "test_id": "00000000000000aa", "suite": "s", "classname": "c", "name": name,
            "runs": 3, "passes": 2, "failures": 1, "skips": 0, "flaky_runs": 1, "flips": 2,
            "flip_rate": 1.0, "same_commit_disagreements": 0, "last_outcome": "passed",
            "last_failure_at": null, "last_flaky_at": null
        })
    }

    fn run(flaky: u64, total: u64) -> serde_json::Value {
        serde_json::json!({
            "id": "0000000000000001", "key": "k", "provider": "github", "repository": "octo/app",
            "workflow": null, "job": null, "branch": "main", "sha": null, "run_id": null,
            "run_attempt": 1, "outcome": "success", "started_at": null,
            "finished_at": "2026-11-27T00:00:00Z", "duration_ms": null,
            "tests": {"total": total, "passed": total, "failed": 0, "errored": 0, "skipped": 0,
                      "flaky": flaky, "duration_ms": 0},
            "received_at": "2026-11-27T00:00:00Z"
        })
    }

    #[tokio::test]
    async fn the_endpoint_gets_the_documented_requests() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v1/tests"))
            .and(query_param("repository", "octo/app"))
            .and(query_param("branch", "main"))
            .and(query_param("window", "3"))
            .and(query_param("since", "2026-11-01T00:00:00.000Z"))
            .and(header("authorization", "Bearer tok-123"))
            .respond_with(ResponseTemplate::new(200).set_body_json(vec![stats("a")]))
            .expect(1)
            .mount(&server)
            .await;
        // Two pages of runs; a run without tests is not part of the window.
        Mock::given(method("GET"))
            .and(path("/api/v1/runs"))
            .and(query_param("limit", "500"))
            .and(query_param("cursor", "next"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"runs": [run(0, 5), run(1, 5)], "next_cursor": "again"}),
            ))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v1/runs"))
            .and(query_param("repository", "octo/app"))
            .and(query_param("branch", "main"))
            .and(query_param("limit", "500"))
            .and(header("authorization", "Bearer tok-123"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"runs": [run(1, 5), run(0, 0)], "next_cursor": "next"}),
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v1/runs/00000000000000ff"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        let client = crate::http::build_client(&crate::http::HttpConfig::default()).unwrap();
        let h = EndpointHistory::new(
            client,
            &format!("{}/", server.uri()),
            Some(Secret::new("tok-123")),
            Duration::from_secs(5),
        );
        let since = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let w = fetch_window(&h, Some("octo/app"), Some("main"), 3, Some(since))
            .await
            .unwrap();
        assert_eq!((w.stats.len(), w.runs, w.runs_with_retries), (1, 3, 2));
        assert_eq!(
            w.stats[0].last_outcome,
            Some(crate::model::TestOutcome::Passed)
        );
        assert!(!h.has_run("00000000000000ff").await.unwrap());
        assert!(h.describe().starts_with("endpoint http://127.0.0.1:"));
    }

    #[tokio::test]
    async fn errors_never_show_the_token() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&server)
            .await;
        let client = crate::http::build_client(&crate::http::HttpConfig::default()).unwrap();
        let h = EndpointHistory::new(
            client,
            &server.uri(),
            Some(Secret::new("tok-123")),
            Duration::from_secs(5),
        );
        let e = fetch_window(&h, Some("octo/app"), None, 10, None)
            .await
            .unwrap_err();
        assert!(matches!(e, HistoryError::Unavailable(_)));
        assert!(
            e.to_string().contains("401") && !e.to_string().contains("tok-123"),
            "{e}"
        );
    }
}
