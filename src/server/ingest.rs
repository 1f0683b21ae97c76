//! `POST /api/v1/runs`: authenticate, bound, decompress, parse, validate, store.
//!
//! Every refusal is a 4xx with a message that says what to fix; nothing is stored unless
//! the whole report is valid; the store is idempotent on the run's key (201 when new, 200
//! when the key was already stored).

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::Scope;
use super::error::ApiError;
use super::App;
use crate::store::Posted;

/// The handler.
pub async fn post_run(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let response = match ingest(&app, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    app.ingest
        .record(response.status().as_u16(), started.elapsed());
    response
}

async fn ingest(app: &App, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    app.authorize(headers, Scope::Ingest)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type must be application/json, not {content_type:?}"),
        ));
    }
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        None | Some("") | Some("identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding {other:?} is not supported (use gzip or none)"),
            ))
        }
    };
    let limit = app.config.max_body;
    let raw = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over the limit of {limit} bytes"),
        )
    })?;
    let gunzipped;
    let bytes: &[u8] = if gzip {
        gunzipped = gunzip(&raw, limit)?;
        &gunzipped
    } else {
        &raw
    };
    // A body the fast reader accepts (valid, no repeated keys) reads back as this very
    // report, so the store keeps the body itself (see `store::Posted`); any other body that
    // still turns out valid is stored as the report serialised again.
    let (report, verbatim) = match super::read::fast(bytes) {
        Some(report) => (report, true),
        None => (super::read::via_value(&app.validator, bytes)?, false),
    };
    if report.key.trim().is_empty() {
        return Err(ApiError::bad_request("the report has an empty `key`"));
    }
    let stored = match (verbatim, gzip) {
        (true, true) => app.store.upsert_posted(&report, Posted::Gzip(&raw)).await?,
        (true, false) => app.store.upsert_posted(&report, Posted::Json(&raw)).await?,
        (false, _) => app.store.upsert_run(&report).await?,
    };
    if let (true, Some(setup)) = (stored.created, &app.notify) {
        crate::commands::notify::spawn_for_ingest(
            setup.clone(),
            app.store.clone(),
            app.client.clone(),
            report.clone(),
        );
    }
    let status = if stored.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("/api/v1/runs/{}", stored.id);
    tracing::info!(key = %report.key, id = %stored.id, created = stored.created, "ingested");
    let mut response = (
        status,
        axum::Json(
            json!({"id": stored.id, "key": report.key, "created": stored.created, "url": location}),
        ),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// Decompresses at most `limit` bytes; more is a 413 (a gzip bomb stops there).
fn gunzip(raw: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    // The gzip trailer's ISIZE (the size mod 2^32) sizes the buffer once. It is only a hint,
    // and a lying one reserves at most 32 times the body (or the limit).
    let hint = raw
        .len()
        .checked_sub(4)
        .and_then(|at| raw.get(at..))
        .and_then(|t| <[u8; 4]>::try_from(t).ok())
        .map_or(0, |t| u32::from_le_bytes(t) as usize);
    let mut out = Vec::with_capacity(hint.min(limit).min(raw.len().saturating_mul(32)) + 1);
    let mut decoder = flate2::read::GzDecoder::new(raw).take(limit as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid gzip: {e}")))?;
    if out.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the decompressed body is over the limit of {limit} bytes"),
        ));
    }
    Ok(out)
}
