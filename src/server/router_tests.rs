//! The router against an in-memory store: auth, ingest validation, queries, metrics.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::Value;
use tower::ServiceExt;

use crate::model::{
    PipelineState, RunPage, RunQuery, RunReport, TestQuery, TestRunEntry, TestStats,
};
use crate::store::{run_id, Store, StoreFuture, Upserted};

use super::auth::Auth;
use super::{router, App, ServerConfig};

/// A store in memory: enough to exercise the HTTP layer.
#[derive(Default)]
struct MemoryStore {
    runs: Mutex<Vec<RunReport>>,
}

impl Store for MemoryStore {
    fn upsert_run<'a>(&'a self, report: &'a RunReport) -> StoreFuture<'a, Upserted> {
        Box::pin(async move {
            let mut runs = self.runs.lock().unwrap();
            let created = !runs.iter().any(|r| r.key == report.key);
            if created {
                runs.push(report.clone());
            }
            Ok(Upserted {
                id: run_id(&report.key),
                created,
            })
        })
    }
    fn runs<'a>(&'a self, _: &'a RunQuery) -> StoreFuture<'a, RunPage> {
        Box::pin(async move {
            Ok(RunPage {
                runs: Vec::new(),
                next_cursor: None,
            })
        })
    }
    fn run<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<RunReport>> {
        Box::pin(async move {
            Ok(self
                .runs
                .lock()
                .unwrap()
                .iter()
                .find(|r| run_id(&r.key) == id)
                .cloned())
        })
    }
    fn test_stats<'a>(&'a self, _: &'a TestQuery) -> StoreFuture<'a, Vec<TestStats>> {
        Box::pin(async move { Ok(Vec::new()) })
    }
    fn test_history<'a>(
        &'a self,
        _: &'a str,
        _: &'a TestQuery,
    ) -> StoreFuture<'a, Vec<TestRunEntry>> {
        Box::pin(async move { Ok(Vec::new()) })
    }
    fn pipelines<'a>(&'a self, _: DateTime<Utc>) -> StoreFuture<'a, Vec<PipelineState>> {
        Box::pin(async move {
            let runs = self.runs.lock().unwrap();
            Ok(runs
                .last()
                .map(|r| PipelineState {
                    provider: r.provider,
                    repository: r.repository.clone().unwrap_or_default(),
                    workflow: r.workflow.clone().unwrap_or_default(),
                    job: r.job.clone().unwrap_or_default(),
                    branch: r.commit.branch.clone().unwrap_or_default(),
                    last_outcome: r.outcome,
                    last_finished_at: r.finished_at,
                    last_duration_ms: r.duration_ms,
                    last_queued_ms: r.queued_ms,
                    last_tests: r.tests.summary,
                    runs_by_outcome: vec![(r.outcome, runs.len() as u64)],
                    duration_buckets: vec![0; crate::model::DURATION_BUCKETS_SECONDS.len()],
                    duration_count: 0,
                    duration_sum_ms: 0,
                })
                .into_iter()
                .collect())
        })
    }
    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move { Ok(()) })
    }
    fn state<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move { Ok(None) })
    }
    fn put_state<'a>(&'a self, _: &'a str, _: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move { Ok(()) })
    }
}

const INGEST: &str = "t-ingest";
const READ: &str = "t-read";

fn app(store: Arc<MemoryStore>, max_body: usize) -> axum::Router {
    let hash = |t: &str| -> String {
        use sha2::Digest;
        sha2::Sha256::digest(t.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let tokens = format!(
        "ci ingest sha256:{}\ndash read sha256:{}\n",
        hash(INGEST),
        hash(READ)
    );
    let auth = Auth::parse("tokens", &tokens).unwrap();
    let config = ServerConfig {
        max_body,
        metrics_ttl: std::time::Duration::from_secs(3600),
    };
    router(Arc::new(App::new(store, auth, config).unwrap()))
}

fn report(key_suffix: &str) -> Value {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/server/run-report.json"),
    )
    .unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["key"] = Value::String(format!("github/octo/app/CI/1/1/{key_suffix}"));
    v
}

fn post(
    token: Option<&str>,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> Request<Body> {
    let mut b = Request::post("/api/v1/runs").header(header::CONTENT_TYPE, content_type);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(e) = encoding {
        b = b.header(header::CONTENT_ENCODING, e);
    }
    b.body(Body::from(body)).unwrap()
}

async fn call(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body, headers)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[tokio::test]
async fn ingest_is_idempotent_and_accepts_gzip() {
    let store = Arc::new(MemoryStore::default());
    let app = app(store.clone(), 1 << 20);
    let body = serde_json::to_vec(&report("build")).unwrap();
    let (s, v, h) = call(
        &app,
        post(Some(INGEST), "application/json", None, body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["created"], true);
    assert_eq!(
        h[header::LOCATION],
        format!("/api/v1/runs/{}", v["id"].as_str().unwrap()).as_str()
    );
    let (s, v, _) = call(
        &app,
        post(
            Some(INGEST),
            "application/json; charset=utf-8",
            Some("gzip"),
            gzip(&body),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["created"], false);
    assert_eq!(store.runs.lock().unwrap().len(), 1);
    let (s, v, _) = call(
        &app,
        Request::get(format!("/api/v1/runs/{}", v["id"].as_str().unwrap()))
            .header(header::AUTHORIZATION, format!("Bearer {READ}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, report("build"));
}

#[tokio::test]
async fn auth_says_401_or_403() {
    let app = app(Arc::new(MemoryStore::default()), 1 << 20);
    let body = serde_json::to_vec(&report("x")).unwrap();
    let (s, v, h) = call(&app, post(None, "application/json", None, body.clone())).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(h.contains_key(header::WWW_AUTHENTICATE));
    let (s, _, _) = call(
        &app,
        post(Some("wrong"), "application/json", None, body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v, _) = call(&app, post(Some(READ), "application/json", None, body)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _, _) = call(&app, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = call(
        &app,
        Request::get("/api/v1/runs")
            .header(header::AUTHORIZATION, format!("Bearer {INGEST}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = call(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_and_stores_nothing() {
    let store = Arc::new(MemoryStore::default());
    let app = app(store.clone(), 64 * 1024);
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            post(
                Some(INGEST),
                "application/json",
                None,
                b"{\"schema\": ".to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "not valid JSON",
        ),
        (
            post(
                Some(INGEST),
                "application/json",
                None,
                b"{\"schema\": \"cimon.run/v1\"}".to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "does not match the cimon.run/v1 schema",
        ),
        (
            post(
                Some(INGEST),
                "text/plain",
                None,
                serde_json::to_vec(&report("a")).unwrap(),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ),
        (
            post(Some(INGEST), "application/json", Some("br"), b"{}".to_vec()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Encoding",
        ),
        (
            post(
                Some(INGEST),
                "application/json",
                None,
                vec![b' '; 65 * 1024],
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "over the limit",
        ),
        // A gzip bomb: 20 MiB of zeros in about 20 KiB.
        (
            post(
                Some(INGEST),
                "application/json",
                Some("gzip"),
                gzip(&vec![b'0'; 20 << 20]),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "decompressed body is over",
        ),
        (
            post(
                Some(INGEST),
                "application/json",
                Some("gzip"),
                b"not gzip".to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "not valid gzip",
        ),
    ];
    for (req, status, needle) in cases {
        let (s, v, _) = call(&app, req).await;
        assert_eq!(s, status, "{v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{message}");
    }
    // Schema errors carry JSON pointers.
    let mut bad = report("p");
    bad["tests"]["summary"]["total"] = Value::from(-1);
    let (s, v, _) = call(
        &app,
        post(
            Some(INGEST),
            "application/json",
            None,
            serde_json::to_vec(&bad).unwrap(),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["error"]["details"][0]["pointer"], "/tests/summary/total",
        "{v}"
    );
    assert!(store.runs.lock().unwrap().is_empty(), "nothing stored");
    // …and the server keeps serving.
    let (s, _, _) = call(
        &app,
        post(
            Some(INGEST),
            "application/json",
            None,
            serde_json::to_vec(&report("ok")).unwrap(),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn metrics_are_negotiated_and_labelled() {
    let store = Arc::new(MemoryStore::default());
    let app = app(store, 1 << 20);
    call(
        &app,
        post(
            Some(INGEST),
            "application/json",
            None,
            serde_json::to_vec(&report("m")).unwrap(),
        ),
    )
    .await;
    let get = |accept: &str| {
        Request::get("/metrics")
            .header(header::AUTHORIZATION, format!("Bearer {READ}"))
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap()
    };
    let (s, text, h) = call(&app, get("text/plain")).await;
    assert_eq!(s, StatusCode::OK);
    let text = text.as_str().unwrap().to_string();
    assert!(h[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    assert!(text.contains("ci_pipeline_status{provider=\"github\",repository=\"octo/app\",workflow=\"CI\",job=\"build\",branch=\"main\",status=\"failure\"} 1"), "{text}");
    assert!(
        text.contains("cimon_ingest_requests_total{code=\"201\"} 1"),
        "{text}"
    );
    assert!(
        !text.contains("run_id") && !text.contains("testCase"),
        "no run ids or test names in labels"
    );
    let (_, om, h) = call(&app, get("application/openmetrics-text; version=1.0.0")).await;
    assert!(h[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(om.as_str().unwrap().ends_with("# EOF\n"));
}

#[tokio::test]
async fn the_openapi_document_is_served_and_current() {
    let app = app(Arc::new(MemoryStore::default()), 1 << 20);
    let (s, v, _) = call(
        &app,
        Request::get("/api/v1/openapi.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, crate::schema::openapi(), "schemas/openapi.v1.json is stale: run `cargo run -- schema openapi > schemas/openapi.v1.json`");
    let (s, v, _) = call(&app, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
}
