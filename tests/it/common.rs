//! Shared helpers: run the binary in a cleared environment and validate what it emits.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::Value;

/// `tests/fixtures/…`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// The `cimon` binary with an empty environment (plus `env`), run in `dir`.
pub fn cimon(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::cargo_bin("cimon").unwrap();
    cmd.env_clear().current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/run-report.v1.json"),
        )
        .unwrap();
        jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
    })
}

/// Parses a JSON run report and checks it against the committed schema.
pub fn valid_report(text: &str) -> Value {
    let report: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:.500}"));
    let errors: Vec<String> = validator()
        .iter_errors(&report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the report does not match schemas/run-report.v1.json:\n{}",
        errors.join("\n")
    );
    report
}

/// Runs `cimon report --format json` with `args` and returns the validated report.
pub fn report_json(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (Value, String, i32) {
    let out = cimon(dir, env)
        .arg("report")
        .arg("--format")
        .arg("json")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = valid_report(
        stdout
            .lines()
            .next()
            .unwrap_or_else(|| panic!("no output; stderr: {stderr}")),
    );
    (report, stderr, out.status.code().unwrap_or(-1))
}

/// A `tests/fixtures/env/*.env` file (`KEY=VALUE` lines, `#` comments) as pairs.
pub fn env_file(rel: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(fixture(rel))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The GitHub Actions environment of a real `pull_request` event
/// (`env/github-pull-request.env`), its event path made absolute and the API at `api`.
pub fn github_pull_request_env(api: &str) -> Vec<(String, String)> {
    let mut env = env_file("env/github-pull-request.env");
    for (k, v) in env.iter_mut() {
        match k.as_str() {
            "GITHUB_EVENT_PATH" => {
                *v = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(v.as_str())
                    .display()
                    .to_string();
            }
            "GITHUB_API_URL" => *v = api.to_string(),
            _ => {}
        }
    }
    env
}
