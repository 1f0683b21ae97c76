//! `cimon serve`: the ingest API, history queries and `/metrics` over a [`Store`].
//!
//! The server keeps no state outside the store except this replica's own request counters,
//! so several replicas can serve one PostgreSQL behind a load balancer.
//!
//! | route | scope | module |
//! |---|---|---|
//! | `POST /api/v1/runs` | ingest | [`ingest`] |
//! | `GET /api/v1/runs`, `/api/v1/runs/{id}`, `/api/v1/tests`, `/api/v1/tests/{id}/history` | read | [`query`] |
//! | `GET /metrics` | read | [`metrics`], [`exposition`] |
//! | `GET /api/v1/openapi.json`, `/healthz`, `/readyz` | none | here |

pub mod auth;
pub mod error;
pub mod exposition;
pub mod ingest;
pub mod metrics;
pub mod query;
pub mod read;
pub mod tape;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;

use crate::store::Store;

use self::auth::{Auth, Denied, Scope};
use self::error::ApiError;
use self::exposition::Format;
use self::metrics::IngestStats;

/// The OpenAPI document of the API (committed at `schemas/openapi.v1.json`).
pub const OPENAPI: &str = include_str!("../../schemas/openapi.v1.json");

/// Validated server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body, compressed or decompressed.
    pub max_body: usize,
    /// Pipelines without a run for this long leave `/metrics`.
    pub metrics_ttl: Duration,
}

/// Shared state of the handlers.
pub struct App {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Who may do what.
    pub auth: Auth,
    /// Settings.
    pub config: ServerConfig,
    /// The run-report schema, compiled once.
    pub validator: jsonschema::Validator,
    /// This replica's ingest counters.
    pub ingest: IngestStats,
    /// Notification channels for ingested runs (`serve --config`).
    pub notify: Option<Arc<crate::notify::dispatch::Setup>>,
    /// The HTTP client notifications use.
    pub client: reqwest::Client,
}

impl App {
    /// Builds the state.
    pub fn new(store: Arc<dyn Store>, auth: Auth, config: ServerConfig) -> Result<Self, String> {
        let validator =
            jsonschema::validator_for(&crate::schema::run_report()).map_err(|e| e.to_string())?;
        Ok(Self {
            store,
            auth,
            config,
            validator,
            ingest: IngestStats::default(),
            notify: None,
            client: crate::http::client_for(&crate::http::HttpConfig::default())
                .map_err(|e| e.to_string())?,
        })
    }

    /// Checks the request's bearer token for `scope`.
    pub fn authorize(&self, headers: &HeaderMap, scope: Scope) -> Result<(), ApiError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match self.auth.check(value, scope) {
            Ok(_) => Ok(()),
            Err(Denied::Unauthenticated) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or unknown bearer token",
            )),
            Err(Denied::Forbidden { name }) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("token {name:?} lacks the {scope:?} scope", scope = scope),
            )),
        }
    }
}

/// The router with every route.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/v1/runs", post(ingest::post_run).get(query::list_runs))
        .route("/api/v1/runs/{id}", get(query::get_run))
        .route("/api/v1/tests", get(query::list_tests))
        .route("/api/v1/tests/{test_id}/history", get(query::test_history))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { ApiError::not_found("no such route; see /api/v1/openapi.json") })
        .with_state(app)
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    match app.store.ping().await {
        Ok(()) => "ready\n".into_response(),
        Err(e) => {
            tracing::warn!("readyz: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n").into_response()
        }
    }
}

async fn metrics_handler(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.authorize(&headers, Scope::Read)?;
    let ttl =
        chrono::Duration::from_std(app.config.metrics_ttl).unwrap_or(chrono::Duration::days(7));
    let pipelines = app.store.pipelines(Utc::now() - ttl).await?;
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let body = exposition::encode(&metrics::families(&pipelines, &app.ingest), format);
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

/// Serves `app` on `listener` until SIGINT or SIGTERM, finishing requests in flight.
pub async fn serve(listener: tokio::net::TcpListener, app: Arc<App>) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// Parses a TTL such as `7d`, `12h`, `30m`, `45s`.
pub fn parse_ttl(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_ttl("12h"), Some(Duration::from_secs(43_200)));
        assert_eq!(parse_ttl("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_ttl("45s"), Some(Duration::from_secs(45)));
        assert_eq!(parse_ttl("0s"), None);
        assert_eq!(parse_ttl("7"), None);
        assert_eq!(parse_ttl("d"), None);
        assert_eq!(parse_ttl("3w"), None);
    }
}

#[cfg(test)]
mod router_tests;
