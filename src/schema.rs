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

/// The run-report schema as pretty JSON with a trailing newline (the committed file's form).
pub fn run_report_text() -> String {
    let mut text = serde_json::to_string_pretty(&run_report()).unwrap_or_default();
    text.push('\n');
    text
}
