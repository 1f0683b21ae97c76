//! `cimon gate` on real producers' output (`tests/fixtures/gate/`, see its README): 40 runs of
//! one suite by pytest + pytest-rerunfailures and by cargo-nextest, fed through
//! `cimon report --history`, then judged. The expected sets are the ones made by construction.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::common::{cimon, fixture};
use super::gate::valid_verdict;
use super::server::{Server, TOKEN};

/// By construction (`tests/fixtures/gate/README.md`).
const FLAKY: &[&str] = &["flaky_cache_eviction", "flaky_network_timeout"];
const BROKEN: &[&str] = &["always_broken_tax"];
const HEALTHY: &[&str] = &[
    "cart_discount",
    "cart_total",
    "checkout_address",
    "inventory_count",
    "pr_only_flaky_search",
];
const NEW_ON_THE_PR: &[&str] = &["pr_only_flaky_search"];

const POLICY: &str = r#"version: 1
gate:
  branches: [main]
  window: { runs: 50 }
  min_runs: 10
  rules:
    max_flip_rate: 0.1
    max_flaky_tests: 0
    new_flaky: fail
  mode: enforce
quarantine:
  - test: "*flaky_cache*"
    owner: "@qa"
    reason: "known race, JIRA-123"
    until: UNTIL
"#;

/// `test_cart_total` (pytest) and `tests::cart_total` (nextest) are both `cart_total`.
fn canonical(name: &str) -> String {
    name.trim_start_matches("tests::")
        .trim_start_matches("test_")
        .to_owned()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn classified(v: &Value, class: &str) -> BTreeSet<String> {
    v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["classification"] == class)
        .map(|t| canonical(t["name"].as_str().unwrap()))
        .collect()
}

fn names_of(items: &Value, pointer: &str) -> BTreeSet<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x.pointer(pointer).and_then(Value::as_str))
        .map(canonical)
        .collect()
}

fn violations<'a>(v: &'a Value, rule: &str) -> Vec<&'a Value> {
    v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["rule"] == rule)
        .collect()
}

/// Appends one fixture run to `h.db` and keeps its report as `<run_id>-<attempt>.json`.
fn report(dir: &Path, tool: &str, run: &Value) -> String {
    let file = fixture(&format!("gate/{tool}/{}", run["file"].as_str().unwrap()));
    let out = format!(
        "{}-{}.json",
        run["run_id"].as_str().unwrap(),
        run["attempt"]
    );
    let mut cmd = cimon(dir, &[]);
    cmd.args(["report", "--provider", "generic", "--format", "json"])
        .args(["--history", "h.db", "--output", &out])
        .args([
            "--repository",
            "shop/app",
            "--workflow",
            "ci",
            "--job",
            "test",
        ])
        .args(["--run-id", run["run_id"].as_str().unwrap()])
        .args(["--run-attempt", &run["attempt"].to_string()])
        .args(["--branch", run["branch"].as_str().unwrap()])
        .args(["--sha", run["sha"].as_str().unwrap()])
        .args(["--junit", file.to_str().unwrap()]);
    if let Some(pr) = run.get("pull_request") {
        cmd.args(["--pull-request", &pr.to_string()]);
    }
    let result = cmd.output().unwrap();
    assert_eq!(result.status.code(), Some(0), "{result:?}");
    out
}

fn gate(dir: &Path, until: &str, args: &[&str]) -> (Value, i32) {
    std::fs::write(dir.join(".cimon.yml"), POLICY.replace("UNTIL", until)).unwrap();
    let out = cimon(dir, &[])
        .args(["gate", "--history", "h.db", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    (valid_verdict(v), out.status.code().unwrap_or(-1))
}

fn scenario(tool: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let runs: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixture("gate/runs.json")).unwrap()).unwrap();
    let (main, pr): (Vec<&Value>, Vec<&Value>) = runs.iter().partition(|r| r["branch"] == "main");

    // min_runs 10 holds back judgement on 9 runs: nothing is classified, the gate passes.
    let mut last = String::new();
    for run in &main[..9] {
        last = report(d, tool, run);
    }
    let (v, code) = gate(d, "2099-01-01", &["--report", &last]);
    assert_eq!(
        (v["verdict"].as_str(), code),
        (Some("pass"), 0),
        "{tool}: {v:#}"
    );
    assert_eq!(classified(&v, "unknown").len(), 8, "{tool}");
    assert_eq!(v["scope"]["history_runs"], 9);

    for run in &main[9..] {
        last = report(d, tool, run);
    }
    let (v, code) = gate(d, "2099-01-01", &["--report", &last]);
    assert_eq!(v["scope"]["history_runs"], main.len(), "{tool}");
    assert_eq!(classified(&v, "flaky"), set(FLAKY), "{tool}: {v:#}");
    assert_eq!(classified(&v, "broken"), set(BROKEN), "{tool}");
    assert_eq!(classified(&v, "healthy"), set(HEALTHY), "{tool}");
    // The quarantine excuses exactly its entry's test…
    assert_eq!(
        names_of(&v["excused"], "/test/name"),
        set(&["flaky_cache_eviction"]),
        "{tool}"
    );
    let quarantined: BTreeSet<String> = v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["quarantined"] == true)
        .map(|t| canonical(t["name"].as_str().unwrap()))
        .collect();
    assert_eq!(quarantined, set(&["flaky_cache_eviction"]), "{tool}");
    // …so one flaky test remains against max_flaky_tests: 0.
    let counted = violations(&v, "max_flaky_tests");
    assert_eq!(
        names_of(&counted[0]["evidence"]["tests"], "/name"),
        set(&["flaky_network_timeout"])
    );
    assert_eq!((v["verdict"].as_str(), code), (Some("fail"), 1), "{tool}");
    assert!(
        violations(&v, "new_flaky").is_empty(),
        "{tool}: new_flaky on main"
    );

    // Expired: it stops excusing and warns.
    let (v, code) = gate(d, "2020-01-01", &["--report", &last]);
    assert!(v["excused"].as_array().unwrap().is_empty(), "{tool}");
    let expired = violations(&v, "quarantine_expired");
    assert_eq!(expired.len(), 1, "{tool}");
    assert_eq!(expired[0]["level"], "warn");
    assert_eq!(
        names_of(&expired[0]["evidence"]["tests"], "/name"),
        set(&["flaky_cache_eviction"])
    );
    let counted = violations(&v, "max_flaky_tests");
    assert_eq!(
        names_of(&counted[0]["evidence"]["tests"], "/name"),
        set(FLAKY),
        "{tool}"
    );
    assert_eq!(code, 1);

    // The pull request: new_flaky fires for the test made flaky off main, and only there.
    for run in &pr {
        last = report(d, tool, run);
    }
    let (v, code) = gate(
        d,
        "2099-01-01",
        &["--report", &last, "--base-branch", "main"],
    );
    assert_eq!(v["scope"]["branch"], "feature/search");
    assert_eq!(v["scope"]["branch_runs"], pr.len());
    assert_eq!(
        names_of(
            &Value::Array(violations(&v, "new_flaky").into_iter().cloned().collect()),
            "/test/name"
        ),
        set(NEW_ON_THE_PR),
        "{tool}: {v:#}"
    );
    assert_eq!(code, 1);
    // Judged against main, the PR's flaky search test is still healthy on the baseline.
    assert_eq!(classified(&v, "broken"), set(BROKEN));
    let main_report = format!(
        "{}-1.json",
        main[main.len() - 1]["run_id"].as_str().unwrap()
    );
    let (v, _) = gate(d, "2099-01-01", &["--report", &main_report]);
    assert!(
        violations(&v, "new_flaky").is_empty(),
        "{tool}: new_flaky on main"
    );

    // The same history through `cimon serve` gives the same verdict.
    let server = Server::start(&format!("sqlite://{}", d.join("h.db").display()), &[]);
    for args in [
        vec!["--report", main_report.as_str()],
        vec!["--report", last.as_str(), "--base-branch", "main"],
    ] {
        let (mut from_file, file_code) = gate(d, "2099-01-01", &args);
        let out = cimon(d, &[("CIMON_TOKEN", TOKEN)])
            .args(["gate", "--endpoint", &server.base, "--format", "json"])
            .args(&args)
            .output()
            .unwrap();
        let mut from_server: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        assert_eq!(out.status.code(), Some(file_code), "{out:?}");
        assert!(from_server["scope"]["history"]
            .as_str()
            .unwrap()
            .starts_with("endpoint http://127.0.0.1:"));
        from_file["scope"]["history"] = Value::Null;
        from_server["scope"]["history"] = Value::Null;
        assert_eq!(from_file, from_server, "{tool} {args:?}");
    }
}

#[test]
fn pytest_rerunfailures_runs() {
    scenario("pytest");
}

#[test]
fn nextest_runs() {
    scenario("nextest");
}
