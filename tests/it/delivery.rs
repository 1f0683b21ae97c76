//! `report --endpoint` and `flush` against mock endpoints: the exact request (method, path,
//! bearer token, gzip, a body that validates against the schema), retries, `Retry-After`, the
//! deadline, the spool, exit codes, and the token never in the output.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

use super::common::{cimon, fixture, valid_report};

const TOKEN: &str = "it-delivery-token-8c2e41";
const JUNIT: &str = "reports/test-reporter/__tests__/fixtures/external/java/junit4-basic.xml";
const RUNS: &str = "/api/v1/runs";

/// A working directory with a JUnit report and a spool directory inside.
struct Job {
    dir: tempfile::TempDir,
}

impl Job {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(fixture(JUNIT), dir.path().join("junit.xml")).unwrap();
        Self { dir }
    }

    fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    fn spooled(&self) -> Vec<PathBuf> {
        files(&self.spool())
    }

    /// `cimon report` for run `run_id` with `extra` flags, token in the environment.
    async fn report(&self, run_id: &str, extra: &[&str]) -> Run {
        let spool = self.spool().to_string_lossy().into_owned();
        let mut cmd = cimon(self.dir.path(), &[("CIMON_TOKEN", TOKEN)]);
        cmd.args(["report", "--format", "json", "--junit", "junit.xml"])
            .args(["--provider", "generic", "--repository", "octo/app"])
            .args(["--workflow", "ci", "--job", "build", "--run-id", run_id])
            .args(["--sha", "0123456789abcdef0123456789abcdef01234567"])
            .args(["--spool", &spool])
            .args(extra);
        Run::of(cmd).await
    }

    /// `cimon flush` with `extra` flags.
    async fn flush(&self, extra: &[&str]) -> Run {
        let spool = self.spool().to_string_lossy().into_owned();
        let mut cmd = cimon(self.dir.path(), &[("CIMON_TOKEN", TOKEN)]);
        cmd.args(["flush", "--spool", &spool]).args(extra);
        Run::of(cmd).await
    }
}

/// A finished `cimon` process.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    async fn of(mut cmd: assert_cmd::Command) -> Self {
        let start = Instant::now();
        let out: Output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let run = Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: start.elapsed(),
        };
        assert!(
            !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
            "the token leaked:\n{}\n{}",
            run.stdout,
            run.stderr
        );
        run
    }

    /// The report `report --format json` printed.
    fn report(&self) -> Value {
        valid_report(self.stdout.lines().next().unwrap_or_default())
    }

    /// How many times the one delivery warning was logged.
    fn delivery_warnings(&self) -> usize {
        self.stderr.matches("cannot deliver the report").count()
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

/// A local address where nothing listens (connection refused).
fn closed_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A server that accepts connections and never answers.
fn silent_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn gunzip(body: &[u8]) -> Option<String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// Matches a report post whose (gzip) body has run key `0`.
struct KeyIs(String);

impl Match for KeyIs {
    fn matches(&self, request: &Request) -> bool {
        gunzip(&request.body)
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .is_some_and(|report| report["key"] == self.0.as_str())
    }
}

/// Checks every request the server got is an exact report post; returns the reports.
async fn checked_posts(server: &MockServer) -> Vec<Value> {
    let requests = server.received_requests().await.unwrap();
    requests
        .iter()
        .map(|r| {
            assert_eq!(r.method.as_str(), "POST");
            assert_eq!(r.url.path(), RUNS);
            let header = |name: &str| {
                r.headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            assert_eq!(header("authorization"), format!("Bearer {TOKEN}"));
            assert_eq!(header("content-encoding"), "gzip");
            assert_eq!(header("content-type"), "application/json");
            assert_eq!(
                header("user-agent"),
                concat!("cimon/", env!("CARGO_PKG_VERSION"))
            );
            valid_report(&gunzip(&r.body).expect("the body is gzip"))
        })
        .collect()
}

async fn answer(server: &MockServer, status: u16, times: u64, priority: u8) {
    Mock::given(method("POST"))
        .and(path(RUNS))
        .respond_with(ResponseTemplate::new(status))
        .up_to_n_times(times)
        .with_priority(priority)
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_spools_and_exits_0_or_3_with_strict() {
    let job = Job::new();
    let url = closed_endpoint();
    let run = job
        .report("101", &["--endpoint", &url, "--deadline", "2"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.delivery_warnings(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("{url}/api/v1/runs")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("cimon flush"), "{}", run.stderr);
    assert!(run.took < Duration::from_secs(6), "{:?}", run.took);
    let spooled = job.spooled();
    assert_eq!(spooled.len(), 1);
    let saved = valid_report(&std::fs::read_to_string(&spooled[0]).unwrap());
    assert_eq!(saved, run.report(), "the spool holds the report as emitted");

    let strict = job
        .report("101", &["--endpoint", &url, "--deadline", "1", "--strict"])
        .await;
    assert_eq!(strict.code, 3, "{}", strict.stderr);
    assert_eq!(
        job.spooled().len(),
        2,
        "a second report never overwrites the first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_endpoint_token_file_and_default_spool() {
    let job = Job::new();
    let token_file = job.dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let runner_temp = job.dir.path().join("runner-temp");
    let url = closed_endpoint();
    let mut cmd = cimon(
        job.dir.path(),
        &[
            ("CIMON_ENDPOINT", url.as_str()),
            ("CIMON_TOKEN_FILE", token_file.to_str().unwrap()),
            ("RUNNER_TEMP", runner_temp.to_str().unwrap()),
        ],
    );
    cmd.args(["report", "--junit", "junit.xml", "--deadline", "0"]);
    let run = Run::of(cmd).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        files(&runner_temp.join("cimon-spool")).len(),
        1,
        "{}",
        run.stderr
    );

    // An unreadable token file is a configuration error: 2 with --strict, spooled anyway.
    let mut cmd = cimon(
        job.dir.path(),
        &[
            ("CIMON_ENDPOINT", url.as_str()),
            ("CIMON_TOKEN_FILE", "/nonexistent/cimon-token"),
            ("RUNNER_TEMP", runner_temp.to_str().unwrap()),
        ],
    );
    cmd.args(["report", "--junit", "junit.xml", "--strict"]);
    let run = Run::of(cmd).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("CIMON_TOKEN_FILE"), "{}", run.stderr);
    assert_eq!(files(&runner_temp.join("cimon-spool")).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_500s_then_201_delivers_on_the_third_attempt() {
    let server = MockServer::start().await;
    answer(&server, 500, 2, 1).await;
    answer(&server, 201, 1, 2).await;
    let job = Job::new();
    // -vv: retries are logged at info level, still without the token.
    let run = job
        .report("102", &["--endpoint", &server.uri(), "--strict", "-vv"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.delivery_warnings(), 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("HTTP 500"),
        "retries are logged: {}",
        run.stderr
    );
    let posts = checked_posts(&server).await;
    assert_eq!(posts.len(), 3);
    assert!(posts.iter().all(|p| *p == run.report()));
    assert!(
        job.spooled().is_empty(),
        "a delivered report is not spooled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_waits_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(RUNS))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    answer(&server, 200, 1, 2).await;
    let job = Job::new();
    let run = job.report("103", &["--endpoint", &server.uri()]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(checked_posts(&server).await.len(), 2);
    // The first backoff alone is at most 0.5 s: waiting ≥ 1 s is Retry-After's doing.
    assert!(
        run.took >= Duration::from_secs(1) && run.took < Duration::from_secs(5),
        "{:?}",
        run.took
    );
    assert!(job.spooled().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_costs_the_deadline_and_spools() {
    let job = Job::new();
    let url = silent_endpoint();
    let run = job
        .report("104", &["--endpoint", &url, "--deadline", "3"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.took >= Duration::from_secs(3) && run.took < Duration::from_secs(6),
        "{:?}",
        run.took
    );
    assert!(
        run.stderr.contains("no answer within the 3 s deadline"),
        "{}",
        run.stderr
    );
    assert_eq!(run.delivery_warnings(), 1);
    assert_eq!(job.spooled().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_final_shows_the_answer_and_is_spooled() {
    let server = MockServer::start().await;
    let answer = format!(
        "{{\"error\":\"/run_attempt: 0 is less than the minimum of 1\",\"echo\":\"Bearer {TOKEN}\"}}"
    );
    Mock::given(method("POST"))
        .and(path(RUNS))
        .respond_with(ResponseTemplate::new(400).set_body_string(answer))
        .expect(2) // once per run below: never retried
        .mount(&server)
        .await;
    let job = Job::new();
    let run = job.report("105", &["--endpoint", &server.uri()]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.delivery_warnings(), 1);
    for part in [
        "HTTP 400 Bad Request",
        "/run_attempt: 0 is less than the minimum of 1",
        "Bearer ***",
        "will not accept it",
    ] {
        assert!(run.stderr.contains(part), "{part:?} in {}", run.stderr);
    }
    assert_eq!(job.spooled().len(), 1, "kept so that nothing is lost");
    assert_eq!(
        checked_posts(&server).await.len(),
        1,
        "no retry after a 400"
    );
    let strict = job
        .report("105", &["--endpoint", &server.uri(), "--strict"])
        .await;
    assert_eq!(strict.code, 3);
}

/// Spools reports for `run_ids` without trying long (deadline 0); returns their keys.
async fn spool_reports(job: &Job, run_ids: &[&str]) -> Vec<String> {
    let url = closed_endpoint();
    let mut keys = Vec::new();
    for id in run_ids {
        let run = job
            .report(id, &["--endpoint", &url, "--deadline", "0"])
            .await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        keys.push(run.report()["key"].as_str().unwrap().to_owned());
    }
    assert_eq!(job.spooled().len(), run_ids.len());
    keys
}

async fn expect_each_once(server: &MockServer, keys: &[String], delay: Duration) {
    for key in keys {
        Mock::given(method("POST"))
            .and(path(RUNS))
            .and(KeyIs(key.clone()))
            .respond_with(ResponseTemplate::new(201).set_delay(delay))
            .expect(1)
            .named(key)
            .mount(server)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_delivers_each_spooled_report_exactly_once() {
    let job = Job::new();
    let keys = spool_reports(&job, &["201", "202", "203"]).await;
    std::fs::write(job.spool().join("garbage.json"), "{not json").unwrap();

    let server = MockServer::start().await;
    expect_each_once(&server, &keys, Duration::ZERO).await;
    let run = job.flush(&["--endpoint", &server.uri(), "--strict"]).await;
    assert!(
        run.stdout
            .starts_with("cimon flush: sent 3, kept 0, 1 not a report"),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.lines().count(), 1);
    assert_eq!(run.code, 3, "--strict: a bad file was not delivered");
    assert!(run.stderr.contains("garbage.json"), "{}", run.stderr);
    assert_eq!(
        job.spooled(),
        vec![job.spool().join("garbage.json.bad")],
        "delivered reports are deleted, the bad file set aside"
    );
    let posts = checked_posts(&server).await;
    let mut sent: Vec<&str> = posts.iter().map(|p| p["key"].as_str().unwrap()).collect();
    sent.sort_unstable();
    assert_eq!(sent, keys.iter().map(String::as_str).collect::<Vec<_>>());

    let again = job.flush(&["--endpoint", &server.uri()]).await;
    assert!(
        again.stdout.starts_with("cimon flush: sent 0, kept 0"),
        "{}",
        again.stdout
    );
    assert_eq!(again.code, 0);
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_flushes_never_send_a_report_twice() {
    let job = Job::new();
    let ids: Vec<String> = (301..309).map(|n| n.to_string()).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let keys = spool_reports(&job, &ids).await;
    let server = MockServer::start().await;
    expect_each_once(&server, &keys, Duration::from_millis(150)).await;
    let uri = server.uri();
    let args = ["--endpoint", uri.as_str()];
    let (a, b) = tokio::join!(job.flush(&args), job.flush(&args));
    let sent = |run: &Run| -> usize {
        let rest = run.stdout.strip_prefix("cimon flush: sent ").unwrap_or("");
        rest.split(',').next().unwrap_or("").parse().unwrap_or(0)
    };
    assert_eq!(
        sent(&a) + sent(&b),
        keys.len(),
        "{}\n{}",
        a.stdout,
        b.stdout
    );
    assert!(job.spooled().is_empty());
    assert_eq!(checked_posts(&server).await.len(), keys.len());
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_keeps_the_files_while_the_endpoint_is_down() {
    let job = Job::new();
    spool_reports(&job, &["401", "402"]).await;
    let before = job.spooled();
    let url = closed_endpoint();
    let run = job.flush(&["--endpoint", &url, "--deadline", "1"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("cimon flush: sent 0, kept 2 (1 not tried)"),
        "{}",
        run.stdout
    );
    assert_eq!(job.spooled(), before, "kept under their names");
    let strict = job
        .flush(&["--endpoint", &url, "--deadline", "1", "--strict"])
        .await;
    assert_eq!(strict.code, 3);
    assert_eq!(job.spooled(), before);

    // No endpoint at all is a usage error.
    let none = job.flush(&[]).await;
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("--endpoint"), "{}", none.stderr);
}
