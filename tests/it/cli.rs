//! The `cimon` command line: exit codes, outputs, GitHub Actions integration.

use std::fs;
use std::path::Path;

use predicates::prelude::*;

use super::common::{cimon, fixture, report_json, valid_report};

fn copy(from: &str, dir: &Path, to: &str) {
    let dest = dir.join(to);
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::copy(fixture(from), dest).unwrap();
}

const BASIC: &str = "reports/test-reporter/__tests__/fixtures/external/java/junit4-basic.xml";
const PASSING: &str =
    "reports/test-reporter/__tests__/fixtures/external/jest/jest-react-component-test-results.xml";

#[test]
fn version_help_and_completions() {
    let dir = tempfile::tempdir().unwrap();
    cimon(dir.path(), &[])
        .arg("--version")
        .assert()
        .success()
        .stdout(format!("cimon {}\n", env!("CARGO_PKG_VERSION")));
    cimon(dir.path(), &[])
        .arg("help")
        .assert()
        .success()
        .stdout(predicate::str::contains("report"));
    cimon(dir.path(), &[])
        .args(["help", "report"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--junit <GLOB>"));
    cimon(dir.path(), &[])
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("_cimon"));
    cimon(dir.path(), &[])
        .args(["report", "--format", "yaml"])
        .assert()
        .code(2);
}

#[test]
fn outside_ci_the_generic_provider_needs_no_flags() {
    let dir = tempfile::tempdir().unwrap();
    copy(BASIC, dir.path(), "build/test-results/test/TEST-basic.xml");
    let (report, _, code) = report_json(dir.path(), &[], &[]);
    assert_eq!(code, 0, "exit 0 whatever the tests' outcome");
    assert_eq!(report["provider"], "generic");
    assert_eq!(report["tests"]["summary"]["total"], 6);
    assert_eq!(report["tests"]["summary"]["failed"], 1);
    assert_eq!(
        report["tests"]["files"][0]["path"],
        "build/test-results/test/TEST-basic.xml"
    );
    let case = &report["tests"]["cases"][0];
    for key in ["name", "classname", "outcome", "flaky", "attempts"] {
        assert!(case.get(key).is_some(), "{key} missing in {case}");
    }
}

#[test]
fn exit_codes_follow_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    copy(BASIC, dir.path(), "junit.xml");
    cimon(dir.path(), &[])
        .args(["report", "--junit", "junit.xml"])
        .assert()
        .code(0);
    cimon(dir.path(), &[])
        .args(["report", "--junit", "junit.xml", "--fail-on-test-failure"])
        .assert()
        .code(1);
    let empty = tempfile::tempdir().unwrap();
    cimon(empty.path(), &[])
        .args(["report"])
        .assert()
        .code(0)
        .stderr(predicate::str::contains("no test report found"));
    cimon(empty.path(), &[])
        .args(["report", "--require-tests"])
        .assert()
        .code(2);
    let passing = tempfile::tempdir().unwrap();
    copy(PASSING, passing.path(), "junit.xml");
    cimon(passing.path(), &[])
        .args(["report", "--fail-on-test-failure", "--require-tests"])
        .assert()
        .code(0);
    // An unreadable report is a warning, or exit 2 with --strict.
    fs::write(dir.path().join("broken.xml"), "<testsuite><testcase").unwrap();
    cimon(dir.path(), &[])
        .args(["report", "--junit", "*.xml"])
        .assert()
        .code(0);
    cimon(dir.path(), &[])
        .args(["report", "--junit", "*.xml", "--strict"])
        .assert()
        .code(2);
}

#[test]
fn output_file_and_text_summary() {
    let dir = tempfile::tempdir().unwrap();
    copy(BASIC, dir.path(), "junit.xml");
    let out = cimon(dir.path(), &[])
        .args([
            "report",
            "--junit",
            "junit.xml",
            "--output",
            "out/report.json",
            "--status",
            "failure",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("6 total: 5 passed, 1 failed"), "{text}");
    assert!(text.contains("Tests.Authentication.testCase9"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no colours when not on a terminal"
    );
    let report = valid_report(&fs::read_to_string(dir.path().join("out/report.json")).unwrap());
    assert_eq!(report["outcome"], "failure");
    assert_eq!(report["tests"]["summary"]["passed"], 5);
}

#[test]
fn github_actions_summary_outputs_and_annotations() {
    let dir = tempfile::tempdir().unwrap();
    copy(BASIC, dir.path(), "target/surefire-reports/TEST-basic.xml");
    // A hostile test name: markup, a workflow command, newlines.
    fs::write(
        dir.path().join("target/surefire-reports/TEST-hostile.xml"),
        r#"<testsuite name="h"><testcase classname="x" name="&lt;img src=x onerror=alert(1)&gt;&#10;::set-output name=x::y"><failure message="50% done&#10;::error::fake">trace</failure></testcase></testsuite>"#,
    )
    .unwrap();
    let tmp = dir.path().join("runner-temp");
    fs::create_dir_all(&tmp).unwrap();
    let summary = dir.path().join("summary.md");
    let outputs = dir.path().join("outputs.txt");
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "octo/app"),
        ("GITHUB_WORKFLOW", "CI"),
        ("GITHUB_JOB", "test"),
        ("GITHUB_RUN_ID", "42"),
        ("GITHUB_RUN_ATTEMPT", "1"),
        ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_REF_NAME", "main"),
        ("GITHUB_EVENT_NAME", "push"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("RUNNER_TEMP", tmp.to_str().unwrap()),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ("GITHUB_OUTPUT", outputs.to_str().unwrap()),
    ];
    let out = cimon(dir.path(), &env)
        .args(["report", "--status", "failure"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Annotations: one line per failed test, data escaped per the runner's rules.
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 2, "{stdout}");
    assert!(
        stdout.contains("::error file=Tests/Authentication.java")
            || stdout.contains("title=Tests.Authentication.testCase9 failed"),
        "{stdout}"
    );
    let hostile = errors
        .iter()
        .find(|l| l.contains("50%25 done"))
        .expect("hostile annotation");
    assert!(hostile.contains("%0A::error::fake"), "{hostile}");
    assert!(
        !stdout.lines().any(|l| l.starts_with("::set-output")),
        "a test name must not start a workflow command"
    );

    let md = fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("| ❌ failure | 7 | 5 | 2 | 0 | 0 | 0 |"),
        "{md}"
    );
    assert!(
        md.contains("&lt;img src=x onerror=alert\\(1\\)&gt;"),
        "{md}"
    );
    assert!(!md.contains("<img"), "{md}");

    let outs = fs::read_to_string(&outputs).unwrap();
    assert!(
        outs.contains("outcome=failure\n")
            && outs.contains("tests=7\n")
            && outs.contains("failed=2\n")
            && outs.contains("flaky=0\n"),
        "{outs}"
    );
    let path = outs
        .lines()
        .find_map(|l| l.strip_prefix("report-path="))
        .unwrap();
    assert!(path.starts_with(tmp.to_str().unwrap()), "{path}");
    let report = valid_report(&fs::read_to_string(path).unwrap());
    assert_eq!(report["provider"], "github");
    assert_eq!(report["repository"], "octo/app");
}

#[test]
fn the_job_summary_never_exceeds_one_mebibyte() {
    let dir = tempfile::tempdir().unwrap();
    let mut xml = String::from("<testsuite name=\"big\">");
    for i in 0..12_000 {
        xml.push_str(&format!(
            "<testcase classname=\"com.acme.SomeRatherLongClassNameTest{i}\" name=\"aTestWithAQuiteLongDescriptiveName{i}\"><failure message=\"{}\"/></testcase>",
            "m".repeat(120)
        ));
    }
    xml.push_str("</testsuite>");
    fs::write(dir.path().join("junit.xml"), xml).unwrap();
    let summary = dir.path().join("summary.md");
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ("RUNNER_TEMP", dir.path().to_str().unwrap()),
    ];
    cimon(dir.path(), &env)
        .args(["report", "--max-annotations", "3"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "11997 more failed tests were not annotated",
        ));
    let md = fs::read_to_string(&summary).unwrap();
    assert!(md.len() <= 1024 * 1024, "{} bytes", md.len());
    assert!(
        md.contains("more failed tests are not shown"),
        "a notice says the list was cut"
    );
}

#[test]
fn history_appends_each_run_once_to_a_local_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    copy(BASIC, dir.path(), "junit.xml");
    let history = dir.path().join("state/history.db");
    std::fs::create_dir_all(history.parent().unwrap()).unwrap();
    let h = history.to_str().unwrap();
    for (run, times) in [("1", 2), ("2", 1)] {
        for _ in 0..times {
            cimon(dir.path(), &[])
                .args([
                    "report",
                    "--junit",
                    "junit.xml",
                    "--repository",
                    "octo/h",
                    "--run-id",
                    run,
                    "--history",
                    h,
                ])
                .assert()
                .success();
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = cimon::store::open(&format!("sqlite://{h}")).await.unwrap();
        let page = store
            .runs(&cimon::model::RunQuery::default())
            .await
            .unwrap();
        let mut ids: Vec<_> = page
            .runs
            .iter()
            .map(|r| r.run_id.clone().unwrap())
            .collect();
        ids.sort();
        assert_eq!(ids, ["1", "2"], "the same run twice is stored once");
        assert_eq!(page.runs[0].tests.total, 6);
    });
    // An unusable history path is a warning, or exit 3 with --strict.
    cimon(dir.path(), &[])
        .args([
            "report",
            "--junit",
            "junit.xml",
            "--history",
            "/proc/nope/x.db",
        ])
        .assert()
        .code(0);
    cimon(dir.path(), &[])
        .args([
            "report",
            "--junit",
            "junit.xml",
            "--history",
            "/proc/nope/x.db",
            "--strict",
        ])
        .assert()
        .code(3);
}
