//! JSON Schemas generated from the model types. The committed copies under `schemas/` are
//! what users and the server validate against; a test fails when they are stale.

use crate::model::RunReport;

/// The JSON Schema of the run report (`schemas/run-report.v1.json`).
pub fn run_report() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(RunReport)).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".into(),
            "https://cimon.dev/schemas/run-report.v1.json".into(),
        );
        if let Some(props) = obj.get_mut("properties").and_then(|p| p.as_object_mut()) {
            props.insert(
                "schema".into(),
                serde_json::json!({"const": crate::model::REPORT_SCHEMA, "description": "Always `cimon.run/v1`."}),
            );
        }
    }
    schema
}

/// The JSON Schema of `cimon gate --format json` (`schemas/verdict.v1.json`).
pub fn verdict() -> serde_json::Value {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(crate::model::Verdict)).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".into(),
            "https://cimon.dev/schemas/verdict.v1.json".into(),
        );
        if let Some(props) = obj.get_mut("properties").and_then(|p| p.as_object_mut()) {
            props.insert(
                "schema".into(),
                serde_json::json!({"const": crate::model::VERDICT_SCHEMA, "description": "Always `cimon.verdict/v1`."}),
            );
        }
    }
    schema
}

/// The run-report schema as pretty JSON with a trailing newline (the committed file's form).
pub fn run_report_text() -> String {
    let mut text = serde_json::to_string_pretty(&run_report()).unwrap_or_default();
    text.push('\n');
    text
}

/// The OpenAPI 3.1 document of `cimon serve` (`schemas/openapi.v1.json`), with component
/// schemas generated from the same types as the run report.
pub fn openapi() -> serde_json::Value {
    use crate::model::{RunPage, RunReport, TestRunEntry, TestStats};
    use serde_json::json;

    let mut generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas/".into();
            s.meta_schema = None;
        })
        .into_generator();
    let run_report = generator.subschema_for::<RunReport>();
    let run_page = generator.subschema_for::<RunPage>();
    let test_stats = generator.subschema_for::<Vec<TestStats>>();
    let history = generator.subschema_for::<Vec<TestRunEntry>>();
    let mut schemas = generator.take_definitions(true);
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "object", "required": ["status", "message"], "properties": {
                "status": {"type": "integer"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object", "properties": {
                    "pointer": {"type": "string"}, "message": {"type": "string"}}}}}}}
        }),
    );
    schemas.insert(
        "Stored".into(),
        json!({"type": "object", "required": ["id", "key", "created", "url"], "properties": {
            "id": {"type": "string"}, "key": {"type": "string"}, "created": {"type": "boolean"}, "url": {"type": "string"}}}),
    );
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let ok = |description: &str, schema: &schemars::Schema| json!({"description": description, "content": {"application/json": {"schema": schema}}});
    let param = |name: &str, required: bool, description: &str, schema: serde_json::Value| json!({"name": name, "in": "query", "required": required, "description": description, "schema": schema});
    let string = json!({"type": "string"});
    let scope = ["repository", "branch"]
        .map(|n| param(n, n == "repository", &format!("the {n}"), string.clone()));
    let window = param(
        "window",
        false,
        "the newest N runs of the scope (default 100)",
        json!({"type": "integer", "minimum": 1, "maximum": 10000}),
    );
    let since = param(
        "since",
        false,
        "only runs finished at or after (RFC 3339); the window counts only those",
        json!({"type": "string", "format": "date-time"}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "cimon", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Ingest and history API of `cimon serve`. Authenticate with `Authorization: Bearer <token>`."},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/runs": {
                "post": {
                    "summary": "Store a run report (idempotent on its key).",
                    "description": "Body: a cimon.run/v1 report as JSON, optionally `Content-Encoding: gzip`. Scope: ingest.",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": run_report}}},
                    "responses": {
                        "201": {"description": "stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stored"}}}},
                        "200": {"description": "already stored (same key)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stored"}}}},
                        "400": error("invalid JSON or not a cimon.run/v1 report"),
                        "401": error("missing or unknown token"),
                        "403": error("the token lacks the ingest scope"),
                        "413": error("body over the limit, compressed or decompressed"),
                        "415": error("not application/json, or an unsupported Content-Encoding"),
                        "503": error("the store is unavailable")
                    }
                },
                "get": {
                    "summary": "Runs, newest first. Scope: read.",
                    "parameters": [
                        param("repository", false, "only this repository", string.clone()),
                        param("branch", false, "only this branch", string.clone()),
                        param("workflow", false, "only this workflow", string.clone()),
                        param("outcome", false, "only this outcome", json!({"enum": ["success", "failure", "cancelled", "skipped", "unknown"]})),
                        param("since", false, "only runs finished at or after (RFC 3339)", json!({"type": "string", "format": "date-time"})),
                        param("limit", false, "page size", json!({"type": "integer", "minimum": 1, "maximum": 500})),
                        param("cursor", false, "next_cursor of the previous page", string.clone())
                    ],
                    "responses": {"200": ok("a page of runs", &run_page), "400": error("bad parameter"), "401": error("missing or unknown token"), "403": error("the token lacks the read scope")}
                }
            },
            "/api/v1/runs/{id}": {"get": {
                "summary": "One run with its tests. Scope: read.",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": string.clone()}],
                "responses": {"200": ok("the run report as posted", &schemars::Schema::from(json!({"$ref": "#/components/schemas/RunReport"}).as_object().cloned().unwrap_or_default())), "404": error("no such run"), "401": error("missing or unknown token")}
            }},
            "/api/v1/tests": {"get": {
                "summary": "Per-test statistics over a window of runs. Scope: read.",
                "parameters": [scope[0].clone(), scope[1].clone(), window.clone(), since.clone()],
                "responses": {"200": ok("statistics per test", &test_stats), "400": error("bad parameter"), "401": error("missing or unknown token")}
            }},
            "/api/v1/tests/{test_id}/history": {"get": {
                "summary": "One test's results over a window of runs, newest first. Scope: read.",
                "parameters": [{"name": "test_id", "in": "path", "required": true, "schema": string.clone()}, scope[0].clone(), scope[1].clone(), window, since],
                "responses": {"200": ok("the test's runs", &history), "400": error("bad parameter"), "401": error("missing or unknown token")}
            }},
            "/metrics": {"get": {"summary": "Prometheus metrics (classic text or OpenMetrics, by Accept). Scope: read.",
                "responses": {"200": {"description": "metrics", "content": {"text/plain": {"schema": string.clone()}, "application/openmetrics-text": {"schema": string.clone()}}}}}},
            "/healthz": {"get": {"summary": "The process is up.", "security": [], "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "The store answers.", "security": [], "responses": {"200": {"description": "ready"}, "503": {"description": "store unreachable"}}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document.", "security": [], "responses": {"200": {"description": "the OpenAPI document"}}}}
        }
    })
}

/// The OpenAPI document as pretty JSON with a trailing newline (the committed file's form).
pub fn openapi_text() -> String {
    let mut text = serde_json::to_string_pretty(&openapi()).unwrap_or_default();
    text.push('\n');
    text
}
