//! Reading a posted report: JSON → schema check → [`RunReport`], on a fast path when the
//! report is valid.
//!
//! The reference is [`via_value`]: `serde_json::Value`, the `cimon.run/v1` schema
//! (`App::validator`, whose errors carry JSON pointers), then `serde_json::from_value`. On a
//! 200-test report most of its time goes into building the `Value` (a `BTreeMap` per
//! object, a `String` per key). [`fast`] reads the body into a [`Document`] instead (one
//! `Vec`, strings borrowed from the body), checks it with the same schema compiled for that
//! representation, and reads the report from it with the same visitor calls as
//! `from_value`. It answers only when it accepts, and then with the report [`via_value`]
//! would give; everything else — invalid JSON, repeated keys, schema violations — goes
//! through [`via_value`], which words the error. So [`report`] always answers exactly what
//! [`via_value`] answers, only faster (`BENCHMARKS.md`, "Server").

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::model::RunReport;

use super::error::ApiError;
use super::tape::{Document, Tape};

/// At most this many schema errors are returned.
pub const MAX_SCHEMA_ERRORS: usize = 10;

/// The run-report schema compiled for [`Document`]s; `None` (so: no fast path) if it does
/// not compile, which a test rules out.
static TAPE_VALIDATOR: LazyLock<Option<jsonschema::Validator<Tape>>> = LazyLock::new(|| {
    jsonschema::options_for::<Tape>()
        .build(&crate::schema::run_report())
        .ok()
});

/// The report in `json`, or the 400 that says what is wrong with it; `validator` is the
/// run-report schema (`App::validator`).
pub fn report(validator: &jsonschema::Validator, json: &[u8]) -> Result<RunReport, ApiError> {
    match fast(json) {
        Some(report) => Ok(report),
        None => via_value(validator, json),
    }
}

/// The report in `json` if it is valid JSON without repeated keys, matches the schema and
/// reads as a report; `None` otherwise (then [`via_value`] decides).
pub fn fast(json: &[u8]) -> Option<RunReport> {
    let validator = TAPE_VALIDATOR.as_ref()?;
    let document = Document::parse(json).ok()?;
    if !validator.is_valid(document.root()) {
        return None;
    }
    RunReport::deserialize(document.root()).ok()
}

/// The reference path: `serde_json::Value`, up to [`MAX_SCHEMA_ERRORS`] errors of
/// `validator` (the run-report schema) with their JSON pointers, then the report from the
/// value.
pub fn via_value(validator: &jsonschema::Validator, json: &[u8]) -> Result<RunReport, ApiError> {
    let value: Value = serde_json::from_slice(json).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not valid JSON: {e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let errors: Vec<Value> = validator
        .iter_errors(&value)
        .take(MAX_SCHEMA_ERRORS)
        .map(|e| json!({"pointer": e.instance_path().to_string(), "message": e.to_string()}))
        .collect();
    if let Some(first) = errors.first() {
        let mut err = ApiError::bad_request(format!(
            "the report does not match the cimon.run/v1 schema: {} at {:?}",
            first["message"].as_str().unwrap_or(""),
            first["pointer"].as_str().unwrap_or("")
        ));
        err.details = errors;
        return Err(err);
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("the report cannot be read: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/server/run-report.json"),
        )
        .unwrap();
        let mut v: Value = serde_json::from_str(&text).unwrap();
        // Exercise every part of the schema: a step, sources, an escaped string.
        v["steps"] = json!([{"name": "Build \"all\"\n\u{e9}", "outcome": "success",
            "started_at": "2026-11-26T23:00:00Z", "finished_at": "2026-11-26T23:01:00Z",
            "duration_ms": 60000}]);
        v["sources"] = json!({"identity": "env", "outcome": "api"});
        v
    }

    /// Every JSON pointer of `v`, the root first.
    fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    pointers(
                        x,
                        format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                        out,
                    );
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    pointers(x, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    fn validator() -> jsonschema::Validator {
        jsonschema::validator_for(&crate::schema::run_report()).unwrap()
    }

    /// The fast path answers exactly when the reference path accepts, with the same report.
    fn assert_agree(validator: &jsonschema::Validator, text: &str) {
        let reference = via_value(validator, text.as_bytes()).ok();
        assert_eq!(fast(text.as_bytes()), reference, "{text}");
    }

    #[test]
    fn the_fast_path_is_on_and_reads_the_fixture() {
        assert!(TAPE_VALIDATOR.is_some());
        let text = fixture().to_string();
        let report = fast(text.as_bytes()).expect("the fixture takes the fast path");
        assert_eq!(Some(report), via_value(&validator(), text.as_bytes()).ok());
    }

    #[test]
    fn fast_and_reference_paths_agree_on_every_mutation() {
        let validator = validator();
        let base = fixture();
        let mut all = Vec::new();
        pointers(&base, String::new(), &mut all);
        let replacements = [
            json!(null),
            json!(true),
            json!(0),
            json!(1),
            json!(-1),
            json!(1.0),
            json!(1.5),
            json!(4_294_967_296_u64),
            json!(u64::MAX),
            json!(-9_223_372_036_854_775_808_i64),
            json!(""),
            json!("X"),
            json!("cimon.run/v1"),
            json!("0123456789abcdef"),
            json!("0123456789ABCDEF"),
            json!("+123456789abcdef"),
            json!("passed"),
            json!("github"),
            json!("2026-11-26T23:10:50Z"),
            json!([]),
            json!([{}]),
            json!({}),
            json!({"github": null}),
            json!({"a": 1}),
        ];
        let mut cases = 0;
        for pointer in &all {
            for r in &replacements {
                let mut v = base.clone();
                if pointer.is_empty() {
                    v = r.clone();
                } else if let Some(slot) = v.pointer_mut(pointer) {
                    *slot = r.clone();
                }
                assert_agree(&validator, &v.to_string());
                cases += 1;
            }
            // Without this member / element, and with an unknown member next to it.
            let (parent, last) = pointer.rsplit_once('/').unwrap_or(("", ""));
            if !pointer.is_empty() {
                let mut v = base.clone();
                match v.pointer_mut(parent) {
                    Some(Value::Object(m)) => {
                        m.remove(&last.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(a)) => {
                        a.remove(last.parse::<usize>().unwrap());
                    }
                    _ => {}
                }
                assert_agree(&validator, &v.to_string());
                let mut v = base.clone();
                if let Some(Value::Object(m)) = v.pointer_mut(parent) {
                    m.insert("zz_unknown".into(), json!([1, {"x": null}]));
                }
                assert_agree(&validator, &v.to_string());
                cases += 2;
            }
        }
        assert!(cases > 1000, "{cases}");
    }

    #[test]
    fn repeated_keys_take_the_reference_path() {
        let validator = validator();
        let text = fixture().to_string();
        // A repeated key: `Value` keeps the last one; so does the answer.
        for (from, to) in [
            (
                "\"outcome\":\"failure\"",
                "\"outcome\":\"bogus\",\"outcome\":\"failure\"",
            ),
            (
                "\"outcome\":\"failure\"",
                "\"outcome\":\"failure\",\"outcome\":\"bogus\"",
            ),
            (
                "\"identity\":\"env\"",
                "\"identity\":\"env\",\"identity\":\"api\"",
            ),
        ] {
            assert!(text.contains(from));
            let mutated = text.replacen(from, to, 1);
            assert_eq!(fast(mutated.as_bytes()), None);
            let reference = via_value(&validator, mutated.as_bytes());
            assert_eq!(report(&validator, mutated.as_bytes()).ok(), reference.ok());
        }
        for bad in ["", "{", "[1,]", "{} x", "\"\\ud800\""] {
            assert!(fast(bad.as_bytes()).is_none());
            assert!(via_value(&validator, bad.as_bytes()).is_err());
        }
    }
}
