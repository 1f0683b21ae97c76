//! `cimon gate` and `cimon policy check` end to end: bad policies (exact located messages,
//! exit 2), the issue's example policy, and a seeded suite run many times through
//! `cimon report --history` then judged by `cimon gate`.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use super::common::cimon;

/// The policy of issue 5, verbatim.
const EXAMPLE: &str = r#"version: 1
gate:
  branches: [main]
  window: { runs: 50 }
  min_runs: 10
  rules:
    max_flip_rate: 0.1
    max_flaky_tests: 0
  mode: enforce
quarantine:
  - test: "*flaky_cache*"
    owner: "@qa"
    reason: "known race, JIRA-123"
    until: 2099-01-01
"#;

#[test]
fn the_issue_example_policy_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".cimon.yml"), EXAMPLE).unwrap();
    let out = cimon(dir.path(), &[])
        .args(["policy", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        ".cimon.yml: valid (gate policy, 1 quarantine entries)\n"
    );
    // Also found under .github/ and given explicitly.
    let gh = tempfile::tempdir().unwrap();
    std::fs::create_dir(gh.path().join(".github")).unwrap();
    std::fs::write(gh.path().join(".github/cimon.yml"), EXAMPLE).unwrap();
    let out = cimon(gh.path(), &[])
        .args(["policy", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = cimon(gh.path(), &[])
        .args(["policy", "check", ".github/cimon.yml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// (snapshot name, policy). Each must be refused with exit 2 and one located message.
const BAD: &[(&str, &str)] = &[
    ("wrong_type", "version: 1\ngate:\n  min_runs: ten\n"),
    ("unknown_key", "version: 1\ngate:\n  colour: red\n"),
    ("misspelt_key", "version: 1\ngate:\n  rules:\n    max_flip_rat: 0.1\n"),
    ("misspelt_top_level_key", "version: 1\nquarantaine: []\n"),
    ("bad_date", "version: 1\nquarantine:\n  - test: x\n    owner: '@qa'\n    reason: r\n    until: 2099-02-30\n"),
    ("malformed_date", "version: 1\nquarantine:\n  - test: x\n    owner: '@qa'\n    reason: r\n    until: 2099-1-1\n"),
    ("negative_threshold", "version: 1\ngate:\n  rules:\n    max_flip_rate: -0.1\n"),
    ("threshold_above_one", "version: 1\ngate:\n  rules:\n    max_failure_rate: 1.5\n"),
    ("window_out_of_range", "version: 1\ngate:\n  window: {runs: 0}\n"),
    ("glob_does_not_compile", "version: 1\ngate:\n  tests: ['tests/[a-']\n"),
    ("quarantine_glob_does_not_compile", "version: 1\nquarantine:\n  - test: 'a{b'\n    owner: '@qa'\n    reason: r\n"),
    ("literal_secret_key", "version: 1\ngate:\n  token: abc123\n"),
    ("literal_secret_value", "version: 1\nquarantine:\n  - test: x\n    owner: '@qa'\n    reason: 'token ghp_0123456789abcdefghijklmnopqrstuvwxyz'\n"),
    ("duplicate_key", "version: 1\ngate:\n  min_runs: 5\n  min_runs: 6\n"),
    ("unknown_mode", "version: 1\ngate:\n  mode: strict\n"),
    ("yaml_1_1_boolean_is_a_string", "version: 1\ngate:\n  allow_known_flaky_failures: yes\n"),
    ("quarantine_without_owner", "version: 1\nquarantine:\n  - test: x\n    reason: r\n"),
    ("quarantine_without_tests", "version: 1\nquarantine:\n  - owner: '@qa'\n    reason: r\n"),
    ("branches_not_a_list", "version: 1\ngate:\n  branches: main\n"),
    ("new_flaky_word", "version: 1\ngate:\n  rules:\n    new_flaky: block\n"),
];

#[test]
fn bad_policies_are_exit_2_with_a_located_message() {
    assert!(BAD.len() >= 12);
    for (name, policy) in BAD {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".cimon.yml"), policy).unwrap();
        let out = cimon(dir.path(), &[])
            .args(["policy", "check"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(stderr.starts_with(".cimon.yml:"), "{name}: {stderr}");
        assert!(
            !stderr.contains("abc123") && !stderr.contains("ghp_0123"),
            "{name}: a secret leaked: {stderr}"
        );
        insta::assert_snapshot!(format!("bad_policy_{name}"), stderr, policy);
        // The gate refuses it the same way, before reading anything.
        let gate = cimon(dir.path(), &[])
            .args(["gate", "--format", "json"])
            .output()
            .unwrap();
        assert_eq!(gate.status.code(), Some(2), "{name}: {gate:?}");
        assert_eq!(String::from_utf8_lossy(&gate.stderr), stderr, "{name}");
        assert!(gate.stdout.is_empty());
    }
}

/// One JUnit file (Surefire style, which carries retries as `<flakyFailure>`).
fn junit(cases: &[(&str, &str, char)]) -> String {
    let mut x = String::from("<?xml version=\"1.0\"?>\n<testsuite name=\"unit\">\n");
    for (class, name, result) in cases {
        let _ = write!(
            x,
            "  <testcase classname=\"{class}\" name=\"{name}\" time=\"0.01\""
        );
        match result {
            'P' => x.push_str("/>\n"),
            'R' => {
                x.push_str("><flakyFailure message=\"race\" type=\"AssertionError\"/></testcase>\n")
            }
            _ => x.push_str("><failure message=\"boom\" type=\"AssertionError\"/></testcase>\n"),
        }
    }
    x.push_str("</testsuite>\n");
    x
}

/// `cimon report --history` for one run of `branch` on `sha`, writing the report to `out`.
fn report(dir: &Path, run: u32, branch: &str, sha: &str, cases: &[(&str, &str, char)], out: &str) {
    let xml = dir.join(format!("junit-{run}.xml"));
    std::fs::write(&xml, junit(cases)).unwrap();
    let result = cimon(dir, &[])
        .args([
            "report",
            "--provider",
            "generic",
            "--format",
            "json",
            "--history",
            "h.db",
        ])
        .args([
            "--repository",
            "octo/app",
            "--workflow",
            "ci",
            "--job",
            "test",
        ])
        .args([
            "--run-id",
            &run.to_string(),
            "--branch",
            branch,
            "--sha",
            sha,
        ])
        .args(["--junit", xml.to_str().unwrap(), "--output", out])
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(0), "{result:?}");
}

fn gate(dir: &Path, args: &[&str]) -> (Value, i32) {
    let out = cimon(dir, &[])
        .args(["gate", "--history", "h.db", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    (valid_verdict(v), out.status.code().unwrap_or(-1))
}

/// Checks a verdict against the committed `schemas/verdict.v1.json`.
pub fn valid_verdict(v: Value) -> Value {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = SCHEMA.get_or_init(|| {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/verdict.v1.json"),
        )
        .unwrap();
        jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
    });
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not a cimon.verdict/v1 document:\n{}",
        errors.join("\n")
    );
    v
}

#[test]
fn the_committed_verdict_schema_is_current() {
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/verdict.v1.json"),
    )
    .unwrap_or_default();
    assert!(
        committed == cimon::commands::schema_text(cimon::cli::SchemaKind::Verdict, false),
        "schemas/verdict.v1.json is stale: run `cargo run -- schema verdict > schemas/verdict.v1.json`"
    );
}

fn named(v: &Value, pick: impl Fn(&Value) -> bool) -> Vec<String> {
    let mut n: Vec<String> = v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| pick(t))
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    n.sort();
    n
}

/// A seeded suite: `stable_*` always pass, `flaky_*` fail about a third of the time and pass
/// on a retry (or not), `broken` always fails, `flaky_cache` is flaky and quarantined.
fn seeded_main(dir: &Path, runs: u32) {
    let mut rng = fastrand::Rng::with_seed(42);
    for run in 1..=runs {
        let mut cases = vec![
            ("pkg.A", "stable_one", 'P'),
            ("pkg.A", "stable_two", 'P'),
            ("pkg.B", "broken", 'F'),
        ];
        for name in ["flaky_net", "flaky_clock", "flaky_cache"] {
            // Every flaky test needs a retry at least once in any ten runs (run 2, 6, 10…).
            let r = match rng.u32(0..6) {
                _ if run % 4 == 2 => 'R',
                0 => 'R',
                1 => 'F',
                _ => 'P',
            };
            cases.push(("pkg.C", name, r));
        }
        report(dir, run, "main", &format!("sha{run}"), &cases, "main.json");
    }
}

#[test]
fn a_seeded_suite_through_report_history_and_gate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join(".cimon.yml"),
        EXAMPLE.replace(
            "max_flip_rate: 0.1",
            "max_flip_rate: 0.1\n    new_flaky: fail",
        ),
    )
    .unwrap();
    // min_runs 10 holds back judgement on 9 runs…
    seeded_main(d, 9);
    let (v, code) = gate(d, &["--report", "main.json"]);
    assert_eq!((v["verdict"].as_str(), code), (Some("pass"), 0), "{v:#}");
    assert_eq!(named(&v, |t| t["classification"] == "unknown").len(), 6);
    // …and judges at 10 (the current run is already in the history: counted once).
    seeded_main(d, 10);
    let summary = d.join("summary.md");
    let out = cimon(
        d,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    )
    .args([
        "gate",
        "--history",
        "h.db",
        "--report",
        "main.json",
        "--format",
        "json",
    ])
    .output()
    .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // In GitHub Actions the Markdown verdict is appended to the job summary.
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("## ❌ cimon gate: fail"), "{md}");
    assert!(
        md.contains("### Flaky tests (3)") && md.contains("flaky\\_net"),
        "{md}"
    );
    assert_eq!(v["scope"]["history_runs"], 10);
    assert_eq!(
        named(&v, |t| t["classification"] == "flaky"),
        ["flaky_cache", "flaky_clock", "flaky_net"]
    );
    assert_eq!(named(&v, |t| t["classification"] == "broken"), ["broken"]);
    assert_eq!(named(&v, |t| t["quarantined"] == true), ["flaky_cache"]);
    let excused: Vec<&str> = v["excused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["test"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(excused, ["flaky_cache"]);
    assert_eq!((v["verdict"].as_str(), code), (Some("fail"), 1), "{v:#}");
    let flaky_rule = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "max_flaky_tests")
        .unwrap();
    assert_eq!(flaky_rule["value"], 2.0);

    // A pull request: `stable_two` flakes on the PR branch only → new_flaky (fail), which
    // never fires on main.
    let pr_cases = [
        ("pkg.A", "stable_one", 'P'),
        ("pkg.A", "stable_two", 'R'),
        ("pkg.B", "broken", 'F'),
    ];
    report(d, 101, "feature/x", "pr1", &pr_cases, "pr.json");
    let (v, code) = gate(d, &["--report", "pr.json", "--base-branch", "main"]);
    let new: Vec<&str> = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["rule"] == "new_flaky")
        .map(|x| x["test"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(new, ["stable_two"], "{v:#}");
    assert_eq!(code, 1);
    assert_eq!(v["scope"]["base_branch"], "main");
    let (v, _) = gate(d, &["--report", "main.json"]);
    assert!(v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["rule"] != "new_flaky"));

    // Expired quarantine: no longer excuses, and warns.
    std::fs::write(
        d.join(".cimon.yml"),
        EXAMPLE.replace("2099-01-01", "2020-01-01"),
    )
    .unwrap();
    let (v, code) = gate(d, &["--report", "main.json"]);
    assert_eq!(code, 1);
    assert!(v["excused"].as_array().unwrap().is_empty());
    let expired = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "quarantine_expired")
        .unwrap();
    assert_eq!(expired["level"], "warn");
    assert_eq!(expired["evidence"]["tests"][0]["name"], "flaky_cache");
    let flaky_rule = v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "max_flaky_tests")
        .unwrap();
    assert_eq!(flaky_rule["value"], 3.0);
}

#[test]
fn missing_history_is_a_warning_unless_strict() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join(".cimon.yml"),
        "version: 1\ngate:\n  on_missing_history: fail\n",
    )
    .unwrap();
    // No file yet (an actions/cache miss): on_missing_history decides.
    let (v, code) = gate(d, &["--repository", "octo/app", "--branch", "main"]);
    assert_eq!((v["verdict"].as_str(), code), (Some("fail"), 1), "{v:#}");
    assert!(v["violations"][0]["message"]
        .as_str()
        .unwrap()
        .contains("no history file at h.db"));
    // An unreachable server: a warning, then on_missing_history…
    std::fs::write(
        d.join(".cimon.yml"),
        "version: 1\ngate:\n  on_missing_history: warn\n",
    )
    .unwrap();
    let out = cimon(d, &[("CIMON_TOKEN", "s3cret-token")])
        .args([
            "gate",
            "--endpoint",
            "http://127.0.0.1:9/",
            "--format",
            "json",
            "--repository",
            "octo/app",
            "--branch",
            "main",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "warn");
    // …and exit 3 with --strict; the token never shows.
    let out = cimon(d, &[("CIMON_TOKEN", "s3cret-token")])
        .args([
            "gate",
            "--strict",
            "--endpoint",
            "http://127.0.0.1:9/",
            "--repository",
            "octo/app",
            "--branch",
            "main",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cret"));
}

/// The policies shown in README.md and docs/gate.md are valid.
#[test]
fn the_documented_policies_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (doc, marker) in [
        ("README.md", "## The flakiness gate"),
        ("docs/gate.md", "## The policy"),
    ] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let section = text.split(marker).nth(1).unwrap();
        let yaml = section
            .split("```yaml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .unwrap();
        assert!(
            yaml.contains("gate:") && yaml.contains("quarantine:"),
            "{doc}"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".cimon.yml"), yaml).unwrap();
        let out = cimon(dir.path(), &[])
            .args(["policy", "check"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{doc}: {out:?}");
    }
    // This repository's own policy (the dogfooding workflow gates with it).
    let out = cimon(root, &[])
        .args(["policy", "check", ".cimon.yml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), ".cimon.yml: {out:?}");
}
