//! The committed run-report schema is the one generated from the types.

use super::common::{cimon, fixture};

#[test]
fn committed_schema_is_current() {
    let generated = cimon::schema::run_report_text();
    let committed = std::fs::read_to_string(fixture("../../schemas/run-report.v1.json")).unwrap();
    assert!(
        generated == committed,
        "schemas/run-report.v1.json is stale: run `cargo run -- schema run-report > schemas/run-report.v1.json`"
    );
    let printed = cimon(&fixture("."), &[])
        .args(["schema", "run-report"])
        .output()
        .unwrap();
    assert!(printed.status.success());
    assert_eq!(String::from_utf8(printed.stdout).unwrap(), committed);
}

#[test]
fn the_schema_rejects_what_is_not_a_report() {
    let schema: serde_json::Value =
        serde_json::from_str(&cimon::schema::run_report_text()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(!v.is_valid(&serde_json::json!({"schema": "cimon.run/v1"})));
    assert!(!v.is_valid(&serde_json::json!({"schema": "other/v9"})));
}

#[test]
fn the_configuration_reference_is_generated_from_the_schema() {
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md"),
    )
    .unwrap_or_default();
    let generated = cimon::commands::schema_text(cimon::cli::SchemaKind::Policy, true);
    assert!(
        committed == generated,
        "docs/configuration.md is stale: run `cargo run -- schema policy --markdown > docs/configuration.md`"
    );
    assert!(generated.contains("## `notify.channels[]`"), "{generated}");
}
