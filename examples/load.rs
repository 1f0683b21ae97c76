//! Load generator for `cimon serve` (BENCHMARKS.md, section "Server"; `benches/serve_load.sh`).
//!
//! ```text
//! cargo run --release --example load -- --url http://127.0.0.1:8080 [--token T] MODE [OPTIONS]
//!
//! closed --connections C --duration D [--warmup W] [--max-rate M]
//!     C tasks, each posting its next report as soon as the previous one is answered
//!     (maximum throughput): reports/s, p50, p99 and max of the request latency.
//! open --rate R --duration D [--warmup W]
//!     one POST every 1/R s whatever the server does (a new connection when every open one
//!     is busy); latency counts from the moment the request was due, so a server that
//!     falls behind sees its queueing in p99 (no coordinated omission).
//! query [--requests N] [--tests T] [--runs R] [--no-fill]
//!     posts R reports of T tests (default 100 × 10 000 = 1 M test results) to the
//!     repository `acme/monolith` through the API, then times N times
//!     `GET /api/v1/tests?repository=acme/monolith&window=R` and the same with
//!     `&branch=main`: p50, p99, max.
//! ```
//!
//! Every POSTed report is a distinct, valid `cimon.run/v1` report as `cimon report` sends it:
//! 200 tests of a Surefire-like suite (20 classes of 10 tests) of one of 16 repositories,
//! about 2 % failing with a message and a Java stack trace, 2 flaky with two attempts, a few
//! skipped; 5 steps; gzip-compressed with the same function as `cimon report --endpoint`.
//! Keys are distinct per request and per invocation (the run id starts from the clock), so
//! any answer other than 201 counts as an error. Bodies are generated and compressed
//! before the clock starts, so that during the measurement the generator (which shares the
//! machine with the server) spends its CPU on HTTP only.
//!
//! The last line of each mode is `RESULT key=value …` for scripts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cimon::delivery::endpoint::gzip;
use cimon::model::{
    Attempt, Commit, DataSource, Details, ProviderKind, ReportFile, Reporter, RunOutcome,
    RunReport, Step, TestCase, TestId, TestOutcome, TestResults, TestSummary, REPORT_SCHEMA,
};

/// Command-line options.
#[derive(Debug, Clone)]
struct Args {
    url: String,
    token: Option<String>,
    mode: String,
    connections: usize,
    duration: f64,
    warmup: f64,
    rate: f64,
    max_rate: f64,
    requests: usize,
    tests: usize,
    runs: usize,
    fill: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        url: "http://127.0.0.1:8080".into(),
        token: std::env::var("CIMON_TOKEN").ok(),
        mode: String::new(),
        connections: 16,
        duration: 10.0,
        warmup: 2.0,
        rate: 500.0,
        max_rate: 3000.0,
        requests: 20,
        tests: 10_000,
        runs: 100,
        fill: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let float = |v: String| v.parse::<f64>().map_err(|e| format!("{v}: {e}"));
        let int = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match flag.as_str() {
            "--url" => a.url = value()?.trim_end_matches('/').to_string(),
            "--token" => a.token = Some(value()?),
            "--connections" => a.connections = int(value()?)?.max(1),
            "--duration" => a.duration = float(value()?)?,
            "--warmup" => a.warmup = float(value()?)?,
            "--rate" => a.rate = float(value()?)?,
            "--max-rate" => a.max_rate = float(value()?)?,
            "--requests" => a.requests = int(value()?)?.max(1),
            "--tests" => a.tests = int(value()?)?,
            "--runs" => a.runs = int(value()?)?.max(1),
            "--no-fill" => a.fill = false,
            "closed" | "open" | "query" if a.mode.is_empty() => a.mode = flag,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if a.mode.is_empty() {
        return Err("a mode is required: closed, open or query".into());
    }
    if !(a.duration > 0.0 && a.rate > 0.0 && a.max_rate > 0.0 && a.warmup >= 0.0) {
        return Err("--duration, --rate and --max-rate must be positive".into());
    }
    Ok(a)
}

// ---------------------------------------------------------------------------------------
// Realistic reports.

const REPOSITORIES: [&str; 16] = [
    "acme/payments-api",
    "acme/checkout-web",
    "acme/inventory-service",
    "acme/notifications",
    "acme/search-indexer",
    "acme/identity",
    "acme/billing-worker",
    "acme/catalog",
    "acme/shipping-rates",
    "acme/ledger",
    "acme/fraud-rules",
    "acme/recommendations",
    "acme/mobile-gateway",
    "acme/reporting",
    "acme/pricing-engine",
    "acme/warehouse-sync",
];
const PACKAGES: [&str; 8] = [
    "api",
    "domain",
    "persistence",
    "web",
    "client",
    "config",
    "events",
    "util",
];
const SUBJECTS: [&str; 20] = [
    "Invoice",
    "Payment",
    "Refund",
    "Customer",
    "Order",
    "Cart",
    "Coupon",
    "Shipment",
    "Token",
    "Session",
    "Account",
    "Ledger",
    "Price",
    "Tax",
    "Webhook",
    "Currency",
    "Subscription",
    "Address",
    "Report",
    "Audit",
];
const ROLES: [&str; 6] = [
    "ServiceTest",
    "ControllerTest",
    "RepositoryIT",
    "MapperTest",
    "ValidatorTest",
    "ClientIT",
];
const VERBS: [&str; 10] = [
    "should_reject",
    "should_accept",
    "should_round",
    "should_retry",
    "should_serialize",
    "should_ignore",
    "should_persist",
    "should_emit",
    "should_validate",
    "should_map",
];
const OBJECTS: [&str; 12] = [
    "expired_coupon",
    "negative_amount",
    "duplicate_request",
    "missing_currency",
    "partial_refund",
    "empty_cart",
    "unicode_names",
    "large_payload",
    "null_address",
    "stale_token",
    "concurrent_update",
    "leap_day",
];
const CONTEXTS: [&str; 5] = [
    "",
    "_when_customer_is_new",
    "_after_timeout",
    "_in_eur",
    "_with_feature_flag",
];
const STEPS: [&str; 5] = [
    "Set up job",
    "Checkout",
    "Set up JDK 21",
    "Build and test with Maven",
    "Upload test results",
];

/// A tiny deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One test of a repository's suite.
struct SuiteTest {
    class: Arc<str>,
    name: Box<str>,
    id: TestId,
}

/// The stable suite of a repository: `classes` classes of `per_class` tests.
fn suite(repository: &str, classes: usize, per_class: usize) -> Vec<SuiteTest> {
    let seed = repository.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = Rng(seed);
    let org = repository
        .split('/')
        .nth(1)
        .unwrap_or("app")
        .replace('-', "");
    let mut out = Vec::with_capacity(classes * per_class);
    for c in 0..classes {
        let class: Arc<str> = Arc::from(format!(
            "com.acme.{org}.{}.{}{}{}",
            PACKAGES[c % PACKAGES.len()],
            SUBJECTS[rng.below(SUBJECTS.len() as u64) as usize],
            ROLES[rng.below(ROLES.len() as u64) as usize],
            if c >= SUBJECTS.len() {
                format!("{}", c / SUBJECTS.len())
            } else {
                String::new()
            }
        ));
        for t in 0..per_class {
            let name = format!(
                "{}_{}{}_{t}",
                VERBS[rng.below(VERBS.len() as u64) as usize],
                OBJECTS[rng.below(OBJECTS.len() as u64) as usize],
                CONTEXTS[rng.below(CONTEXTS.len() as u64) as usize],
            );
            out.push(SuiteTest {
                id: TestId::derive(repository, &class, &class, &name),
                class: class.clone(),
                name: name.into_boxed_str(),
            });
        }
    }
    out
}

/// A Java stack trace of about 20 frames, as Surefire writes them.
fn stack_trace(message: &str, class: &str, test: &str, rng: &mut Rng) -> String {
    let mut s = format!("org.opentest4j.AssertionFailedError: {message}\n");
    for f in [
        "org.junit.jupiter.api.AssertionFailureBuilder.build(AssertionFailureBuilder.java:151)",
        "org.junit.jupiter.api.AssertionFailureBuilder.buildAndThrow(AssertionFailureBuilder.java:132)",
        "org.junit.jupiter.api.AssertEquals.failNotEqual(AssertEquals.java:197)",
        "org.junit.jupiter.api.AssertEquals.assertEquals(AssertEquals.java:182)",
        "org.junit.jupiter.api.Assertions.assertEquals(Assertions.java:1156)",
    ] {
        s.push_str("\tat ");
        s.push_str(f);
        s.push('\n');
    }
    let short = class.rsplit('.').next().unwrap_or(class);
    s.push_str(&format!(
        "\tat {class}.{test}({short}.java:{})\n",
        40 + rng.below(400)
    ));
    for f in [
        "java.base/java.lang.reflect.Method.invoke(Method.java:580)",
        "org.junit.platform.commons.util.ReflectionUtils.invokeMethod(ReflectionUtils.java:728)",
        "org.junit.jupiter.engine.execution.MethodInvocation.proceed(MethodInvocation.java:60)",
        "org.junit.jupiter.engine.execution.InvocationInterceptorChain$ValidatingInvocation.proceed(InvocationInterceptorChain.java:131)",
        "org.junit.jupiter.engine.extension.TimeoutExtension.intercept(TimeoutExtension.java:156)",
        "org.junit.jupiter.engine.descriptor.TestMethodTestDescriptor.invokeTestMethod(TestMethodTestDescriptor.java:218)",
        "org.junit.platform.engine.support.hierarchical.NodeTestTask.executeRecursively(NodeTestTask.java:141)",
        "org.apache.maven.surefire.junitplatform.JUnitPlatformProvider.invokeAllTests(JUnitPlatformProvider.java:150)",
        "org.apache.maven.surefire.booter.ForkedBooter.main(ForkedBooter.java:495)",
    ] {
        s.push_str("\tat ");
        s.push_str(f);
        s.push('\n');
    }
    s
}

const MESSAGES: [&str; 4] = [
    "expected: <200> but was: <503>",
    "expected: <EUR 10.00> but was: <EUR 9.99>",
    "Timed out after 5000 ms waiting for the invoice to be emitted",
    "expected: <[a, b, c]> but was: <[a, c]>",
];

/// Where the run ids of this invocation start: distinct per invocation (millisecond clock).
fn run_id_base() -> u64 {
    let ms = Utc::now().timestamp_millis().unsigned_abs();
    (ms % 10_000_000_000) * 100_000
}

/// Tests per class.
const PER_CLASS: usize = 10;

/// The suites of the repositories reports are made for.
struct Suites(Vec<(&'static str, Vec<SuiteTest>)>);

impl Suites {
    /// `tests` tests for each of [`REPOSITORIES`], or for `repository` alone.
    fn new(repository: Option<&'static str>, tests: usize) -> Self {
        let repositories = match repository {
            Some(r) => vec![r],
            None => REPOSITORIES.to_vec(),
        };
        Self(
            repositories
                .into_iter()
                .map(|r| {
                    let mut s = suite(r, tests.div_ceil(PER_CLASS), PER_CLASS);
                    s.truncate(tests);
                    (r, s)
                })
                .collect(),
        )
    }
}

/// Report number `n`: of repository `n % repositories`, every test of its suite, failures
/// and flakes varying with `n`.
fn report(n: u64, base: u64, suites: &Suites, finished: DateTime<Utc>) -> RunReport {
    let (repository, names) = &suites.0[(n % suites.0.len() as u64) as usize];
    let repository: &str = repository;
    let tests = names.len();
    let mut rng = Rng(base ^ n.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let branch = if n % 5 == 4 {
        format!("feature/PAY-{}", 1000 + n % 37)
    } else {
        "main".to_string()
    };
    let failing: Vec<usize> = (0..tests / 50)
        .map(|_| rng.below(tests as u64) as usize)
        .collect();
    let flaky: Vec<usize> = (0..2).map(|_| rng.below(tests as u64) as usize).collect();
    let mut cases = Vec::with_capacity(tests);
    for (i, SuiteTest { class, name, id }) in names.iter().enumerate() {
        let duration = 5 + rng.below(if i % 10 == 0 { 2500 } else { 120 });
        let details = |rng: &mut Rng| {
            let message = MESSAGES[rng.below(MESSAGES.len() as u64) as usize];
            Some(Box::new(Details {
                message: Some(message.into()),
                kind: Some("org.opentest4j.AssertionFailedError".into()),
                stack_trace: Some(stack_trace(message, class, name, rng).into()),
                system_out: (i % 3 == 0)
                    .then(|| format!("12:00:0{} INFO  {class} - starting {name}\n", i % 10).into()),
                ..Details::default()
            }))
        };
        let (outcome, is_flaky, attempts): (TestOutcome, bool, cimon::model::Attempts) =
            if failing.contains(&i) {
                let a = Attempt {
                    outcome: TestOutcome::Failed,
                    duration_ms: duration,
                    details: details(&mut rng),
                };
                (TestOutcome::Failed, false, std::iter::once(a).collect())
            } else if flaky.contains(&i) {
                let first = Attempt {
                    outcome: TestOutcome::Failed,
                    duration_ms: duration,
                    details: details(&mut rng),
                };
                let second = Attempt {
                    outcome: TestOutcome::Passed,
                    duration_ms: duration / 2 + 1,
                    details: None,
                };
                (
                    TestOutcome::Passed,
                    true,
                    [first, second].into_iter().collect(),
                )
            } else if i % 67 == 13 {
                let a = Attempt {
                    outcome: TestOutcome::Skipped,
                    duration_ms: 0,
                    details: Some(Box::new(Details {
                        message: Some("disabled until PAY-2841 is fixed".into()),
                        ..Details::default()
                    })),
                };
                (TestOutcome::Skipped, false, std::iter::once(a).collect())
            } else {
                let a = Attempt {
                    outcome: TestOutcome::Passed,
                    duration_ms: duration,
                    details: None,
                };
                (TestOutcome::Passed, false, std::iter::once(a).collect())
            };
        cases.push(TestCase {
            id: *id,
            suite: class.clone(),
            classname: Some(class.clone()),
            name: name.clone(),
            file: None,
            line: None,
            outcome,
            flaky: is_flaky,
            duration_ms: attempts.iter().map(|a| a.duration_ms).sum(),
            attempts,
            properties: Box::new([]),
        });
    }
    let summary = TestSummary::of(&cases);
    let files = names
        .chunks(PER_CLASS)
        .map(|chunk| ReportFile {
            path: format!("target/surefire-reports/TEST-{}.xml", chunk[0].class),
            dialect: "surefire".into(),
            tests: chunk.len() as u64,
            error: None,
        })
        .collect();
    let run_id = (base + n).to_string();
    let duration_ms = 240_000 + rng.below(120_000);
    let started = finished - chrono::Duration::milliseconds(duration_ms as i64);
    let step_ms = duration_ms / STEPS.len() as u64;
    let outcome = if summary.failed + summary.errored > 0 {
        RunOutcome::Failure
    } else {
        RunOutcome::Success
    };
    let sources = [
        ("identity", DataSource::Env),
        ("commit", DataSource::Env),
        ("outcome", DataSource::Api),
        ("timings", DataSource::Api),
        ("steps", DataSource::Api),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    RunReport {
        schema: REPORT_SCHEMA.into(),
        key: format!("github/{repository}/ci.yml/{run_id}/1/build"),
        provider: ProviderKind::Github,
        repository: Some(repository.into()),
        workflow: Some("CI".into()),
        job: Some("build".into()),
        run_id: Some(run_id.clone()),
        run_attempt: 1,
        run_number: Some(n + 1),
        url: Some(format!(
            "https://github.com/{repository}/actions/runs/{run_id}/job/{}",
            run_id.len() as u64 * 1_000_003 + n
        )),
        event: Some(
            if branch == "main" {
                "push"
            } else {
                "pull_request"
            }
            .into(),
        ),
        actor: Some("dependabot[bot]".into()),
        commit: Commit {
            sha: Some(format!("{:016x}{:016x}{:08x}", rng.next(), rng.next(), n)),
            git_ref: Some(format!("refs/heads/{branch}")),
            branch: Some(branch),
            ..Commit::default()
        },
        outcome,
        started_at: Some(started),
        finished_at: finished,
        duration_ms: Some(duration_ms),
        queued_ms: Some(1_000 + rng.below(20_000)),
        steps: STEPS
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let from = started + chrono::Duration::milliseconds((step_ms * i as u64) as i64);
                Step {
                    name: (*name).into(),
                    outcome: if i == 3 { outcome } else { RunOutcome::Success },
                    started_at: Some(from),
                    finished_at: Some(from + chrono::Duration::milliseconds(step_ms as i64)),
                    duration_ms: Some(step_ms),
                }
            })
            .collect(),
        tests: TestResults {
            summary,
            cases,
            files,
        },
        sources,
        warnings: Vec::new(),
        reporter: Reporter::default(),
    }
}

/// The gzip-compressed JSON of reports `from..from + count`, built on every core.
fn bodies(from: u64, count: usize, base: u64, suites: &Suites) -> Result<Vec<Vec<u8>>, String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let start = Utc::now() - chrono::Duration::days(1);
    let chunk = count.div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<Vec<u8>>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|lo| {
                let hi = (lo + chunk).min(count);
                s.spawn(move || {
                    (lo..hi)
                        .map(|i| {
                            let n = from + i as u64;
                            let finished = start + chrono::Duration::milliseconds(n as i64 * 10);
                            let r = report(n, base, suites, finished);
                            let json = serde_json::to_vec(&r).map_err(|e| e.to_string())?;
                            gzip(&json).map_err(|e| e.to_string())
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a generator thread panicked".into()))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(count);
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Checks one report against the `cimon.run/v1` schema and prints its size.
fn check_sample(suites: &Suites, base: u64) -> Result<(), String> {
    let r = report(0, base, suites, Utc::now());
    let value = serde_json::to_value(&r).map_err(|e| e.to_string())?;
    let validator =
        jsonschema::validator_for(&cimon::schema::run_report()).map_err(|e| e.to_string())?;
    if let Some(e) = validator.iter_errors(&value).next() {
        return Err(format!(
            "the generated report is invalid at {}: {e}",
            e.instance_path()
        ));
    }
    let json = serde_json::to_vec(&r).map_err(|e| e.to_string())?;
    let gz = gzip(&json).map_err(|e| e.to_string())?;
    let s = &r.tests.summary;
    eprintln!(
        "report: {} tests ({} failed, {} flaky, {} skipped), {} steps, {} bytes of JSON, {} gzipped",
        s.total,
        s.failed,
        s.flaky,
        s.skipped,
        r.steps.len(),
        json.len(),
        gz.len()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// HTTP.

/// One request's outcome.
enum Sent {
    Created,
    Other(u16),
    Failed(String),
}

struct Client {
    http: reqwest::Client,
    runs: String,
    token: Option<String>,
}

impl Client {
    fn new(args: &Args) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            runs: format!("{}/api/v1/runs", args.url),
            token: args.token.clone(),
        })
    }

    async fn post(&self, body: Vec<u8>) -> Sent {
        let mut rq = self
            .http
            .post(&self.runs)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(body);
        if let Some(t) = &self.token {
            rq = rq.bearer_auth(t);
        }
        match rq.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                // Read the answer so the connection goes back to the pool.
                let _ = resp.bytes().await;
                if status == 201 {
                    Sent::Created
                } else {
                    Sent::Other(status)
                }
            }
            Err(e) => Sent::Failed(e.to_string()),
        }
    }

    async fn get(&self, path: &str) -> Result<usize, String> {
        let mut rq = self.http.get(format!(
            "{}{path}",
            self.runs.trim_end_matches("/api/v1/runs")
        ));
        if let Some(t) = &self.token {
            rq = rq.bearer_auth(t);
        }
        let resp = rq.send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!(
                "GET {path}: {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(body.len())
    }
}

// ---------------------------------------------------------------------------------------
// Statistics.

/// Latencies and errors of a measured interval.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

impl Tally {
    fn add(&mut self, sent: Sent, latency: Duration) {
        match sent {
            Sent::Created => self.latencies.push(latency),
            Sent::Other(code) => self.error(format!("HTTP {code}")),
            Sent::Failed(e) => self.error(e),
        }
    }

    fn error(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// The `p`-quantile (nearest rank) of sorted samples.
fn quantile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print_result(mode: &str, extra: &str, mut tally: Tally, elapsed: Duration) {
    tally.latencies.sort_unstable();
    let n = tally.latencies.len();
    let rate = n as f64 / elapsed.as_secs_f64();
    let (p50, p99, max) = (
        quantile(&tally.latencies, 0.50),
        quantile(&tally.latencies, 0.99),
        tally.latencies.last().copied().unwrap_or_default(),
    );
    eprintln!(
        "{mode} {extra}: {n} reports stored in {:.2} s = {rate:.0} reports/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} errors{}",
        elapsed.as_secs_f64(),
        ms(p50),
        ms(p99),
        ms(max),
        tally.errors,
        tally
            .first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    println!(
        "RESULT mode={mode} {extra} reports={n} seconds={:.2} rps={rate:.0} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} errors={}",
        elapsed.as_secs_f64(),
        ms(p50),
        ms(p99),
        ms(max),
        tally.errors
    );
}

// ---------------------------------------------------------------------------------------
// Modes.

/// C connections, each posting as soon as its previous request is answered.
async fn closed(args: &Args) -> Result<(), String> {
    let base = run_id_base();
    let suites = Suites::new(None, 200);
    check_sample(&suites, base)?;
    let count = ((args.warmup + args.duration) * args.max_rate).ceil() as usize;
    let t = Instant::now();
    let bodies = bodies(0, count, base, &suites)?;
    eprintln!(
        "generated {count} bodies in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(bodies);
    let client = Arc::new(Client::new(args)?);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| {
            let (bodies, client, next) = (bodies.clone(), client.clone(), next.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    let Some(body) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let sent = client.post(body.clone()).await;
                    if now >= measure_from {
                        tally.add(sent, now.elapsed());
                    }
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for t in tasks {
        tally.merge(t.await.map_err(|e| e.to_string())?);
    }
    let finished = Instant::now().min(end);
    if next.load(Ordering::Relaxed) >= bodies.len() {
        eprintln!("warning: ran out of pre-generated bodies; raise --max-rate");
    }
    let elapsed = finished.saturating_duration_since(measure_from);
    print_result(
        "closed",
        &format!("connections={}", args.connections),
        tally,
        elapsed,
    );
    Ok(())
}

/// One request every 1/R s; latency from when it was due.
async fn open(args: &Args) -> Result<(), String> {
    let base = run_id_base();
    let suites = Suites::new(None, 200);
    check_sample(&suites, base)?;
    let count = ((args.warmup + args.duration) * args.rate).ceil() as usize;
    let warmup_count = (args.warmup * args.rate).ceil() as usize;
    let t = Instant::now();
    let bodies = bodies(0, count, base, &suites)?;
    eprintln!(
        "generated {count} bodies in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let client = Arc::new(Client::new(args)?);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut most_in_flight = 0;
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for (i, body) in bodies.into_iter().enumerate() {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let (client, in_flight) = (client.clone(), in_flight.clone());
        most_in_flight = most_in_flight.max(in_flight.fetch_add(1, Ordering::Relaxed) + 1);
        tasks.push(tokio::spawn(async move {
            let sent = client.post(body).await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            (sent, due.elapsed())
        }));
    }
    let mut tally = Tally::default();
    let mut last = start;
    for (i, t) in tasks.into_iter().enumerate() {
        let (sent, latency) = t.await.map_err(|e| e.to_string())?;
        last = last.max(tokio::time::Instant::now());
        if i >= warmup_count {
            tally.add(sent, latency);
        }
    }
    let measured = start + interval.mul_f64(warmup_count as f64);
    let elapsed = last.saturating_duration_since(measured);
    print_result(
        "open",
        &format!("rate={} most_in_flight={most_in_flight}", args.rate),
        tally,
        elapsed,
    );
    Ok(())
}

/// Fills `acme/monolith` through the API, then times `GET /api/v1/tests`.
async fn query(args: &Args) -> Result<(), String> {
    let client = Client::new(args)?;
    let repository: &'static str = "acme/monolith";
    if args.fill {
        let base = run_id_base();
        let suites = Suites::new(Some(repository), args.tests);
        let t = Instant::now();
        let mut posted = 0;
        // In batches, so that memory stays small (a report of 10 000 tests is ~4 MB of JSON).
        for from in (0..args.runs).step_by(8) {
            let count = 8.min(args.runs - from);
            let batch = bodies(from as u64, count, base, &suites)?;
            for body in batch {
                match client.post(body).await {
                    Sent::Created => posted += 1,
                    Sent::Other(code) => return Err(format!("fill: HTTP {code}")),
                    Sent::Failed(e) => return Err(format!("fill: {e}")),
                }
            }
        }
        eprintln!(
            "filled {repository}: {posted} runs × {} tests = {} test results through POST /api/v1/runs in {:.1} s",
            args.tests,
            posted * args.tests,
            t.elapsed().as_secs_f64()
        );
    }
    for branch in ["", "&branch=main"] {
        let path = format!(
            "/api/v1/tests?repository={}&window={}{branch}",
            repository.replace('/', "%2F"),
            args.runs
        );
        let size = client.get(&path).await?; // warm-up
        let mut samples = Vec::with_capacity(args.requests);
        for _ in 0..args.requests {
            let t = Instant::now();
            client.get(&path).await?;
            samples.push(t.elapsed());
        }
        samples.sort_unstable();
        let (p50, p99, max) = (
            quantile(&samples, 0.5),
            quantile(&samples, 0.99),
            samples.last().copied().unwrap_or_default(),
        );
        eprintln!(
            "GET {path}: {size} bytes; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} requests)",
            ms(p50),
            ms(p99),
            ms(max),
            args.requests
        );
        println!(
            "RESULT mode=query branch={} requests={} bytes={size} p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
            !branch.is_empty(),
            args.requests,
            ms(p50),
            ms(p99),
            ms(max)
        );
    }
    Ok(())
}

fn main() {
    cimon::http::install_crypto_provider();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    // One thread: the generator shares the machine with the server under test.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(1);
        }
    };
    let result = rt.block_on(async {
        match args.mode.as_str() {
            "closed" => closed(&args).await,
            "open" => open(&args).await,
            _ => query(&args).await,
        }
    });
    if let Err(e) = result {
        eprintln!("load: {e}");
        std::process::exit(1);
    }
}
