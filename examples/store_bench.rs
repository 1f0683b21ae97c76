//! Store benchmark: fills a store and times its operations (BENCHMARKS.md, section "Store").
//!
//! ```text
//! cargo run --release --example store_bench -- [--database URL] [--reports N] [--concurrency C]
//!     [--tests T] [--runs R]
//! ```
//! - ingest: N distinct realistic reports (200 tests, 5 steps) upserted one at a time, then N
//!   more from C concurrent tasks: reports/s, p50/p99 of `upsert_run`;
//! - history: R runs of a T-test suite (default 100 × 10 000 = 1 M test results), then
//!   `test_stats` over the window of 100, `test_history`, a `runs` page and `pipelines`.
//!
//! Default database: a fresh SQLite file in a temporary directory. A `postgres://` URL is
//! used in a fresh schema `cimon_bench` (dropped first).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use cimon::model::{
    Attempt, Commit, Details, ProviderKind, Reporter, RunOutcome, RunQuery, RunReport, Step,
    TestCase, TestId, TestOutcome, TestQuery, TestResults, TestSummary, REPORT_SCHEMA,
};
use cimon::store::{self, Store};
use sqlx::Connection;

struct Args {
    database: Option<String>,
    reports: usize,
    concurrency: usize,
    tests: usize,
    runs: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        database: None,
        reports: 2000,
        concurrency: 16,
        tests: 10_000,
        runs: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match flag.as_str() {
            "--database" => a.database = Some(value()?),
            "--reports" => a.reports = number(value()?)?,
            "--concurrency" => a.concurrency = number(value()?)?.max(1),
            "--tests" => a.tests = number(value()?)?,
            "--runs" => a.runs = number(value()?)?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(a)
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0)
        .single()
        .unwrap_or_default()
        + chrono::Duration::seconds(seconds)
}

/// A realistic report: `tests` tests in 10 classes of one suite, about 2 % failing and
/// 1 % flaky (varying with `n`), 5 steps.
fn report(repository: &str, branch: &str, n: usize, tests: usize) -> RunReport {
    let suite: Arc<str> = Arc::from("integration");
    let classes: Vec<Arc<str>> = (0..10)
        .map(|c| Arc::from(format!("com.example.service.module{c}.ServiceTest")))
        .collect();
    let cases: Vec<TestCase> = (0..tests)
        .map(|i| {
            let class = classes[i % classes.len()].clone();
            let name = format!("handles_request_variant_{i}_correctly");
            let roll = (i * 7919 + n * 104_729) % 100;
            let (outcome, flaky) = match roll {
                0 | 1 => (TestOutcome::Failed, false),
                2 => (TestOutcome::Passed, true),
                3 => (TestOutcome::Skipped, false),
                _ => (TestOutcome::Passed, false),
            };
            let failure = || {
                Some(Box::new(Details {
                    message: Some("expected status 200 but was 503".into()),
                    kind: Some("java.lang.AssertionError".into()),
                    stack_trace: Some(
                        "java.lang.AssertionError: expected status 200 but was 503\n\tat com.example.service.ServiceTest.check(ServiceTest.java:42)".into(),
                    ),
                    ..Details::default()
                }))
            };
            let mut attempts = smallvec_of(Attempt {
                outcome,
                duration_ms: 35,
                details: (outcome == TestOutcome::Failed).then(failure).flatten(),
            });
            if flaky {
                attempts.insert(
                    0,
                    Attempt {
                        outcome: TestOutcome::Failed,
                        duration_ms: 40,
                        details: failure(),
                    },
                );
            }
            TestCase {
                id: TestId::derive(repository, &suite, &class, &name),
                suite: suite.clone(),
                classname: Some(class),
                name: name.into(),
                file: None,
                line: None,
                outcome,
                flaky,
                duration_ms: attempts.iter().map(|a| a.duration_ms).sum(),
                attempts,
                properties: Box::new([]),
            }
        })
        .collect();
    let summary = TestSummary::of(&cases);
    let finished = at(n as i64 * 60);
    let outcome = if summary.failed > 0 {
        RunOutcome::Failure
    } else {
        RunOutcome::Success
    };
    let run_id = (1_000_000 + n).to_string();
    RunReport {
        schema: REPORT_SCHEMA.into(),
        key: format!("github/{repository}/ci.yml/{run_id}/1/build"),
        provider: ProviderKind::Github,
        repository: Some(repository.into()),
        workflow: Some("CI".into()),
        job: Some("build".into()),
        run_id: Some(run_id),
        run_attempt: 1,
        run_number: Some(n as u64),
        url: Some(format!("https://github.com/{repository}/actions/runs/{n}")),
        event: Some("push".into()),
        actor: Some("mona".into()),
        commit: Commit {
            sha: Some(format!("{:040x}", n * 2_654_435_761)),
            branch: Some(branch.into()),
            git_ref: Some(format!("refs/heads/{branch}")),
            ..Commit::default()
        },
        outcome,
        started_at: Some(finished - chrono::Duration::seconds(300)),
        finished_at: finished,
        duration_ms: Some(300_000),
        queued_ms: Some(3_100),
        steps: ["checkout", "setup", "build", "test", "upload"]
            .iter()
            .enumerate()
            .map(|(i, name)| Step {
                name: (*name).into(),
                outcome: RunOutcome::Success,
                started_at: Some(finished - chrono::Duration::seconds(300 - 60 * i as i64)),
                finished_at: Some(finished - chrono::Duration::seconds(240 - 60 * i as i64)),
                duration_ms: Some(60_000),
            })
            .collect(),
        tests: TestResults {
            summary,
            cases,
            files: Vec::new(),
        },
        sources: Default::default(),
        warnings: Vec::new(),
        reporter: Reporter::default(),
    }
}

fn smallvec_of(a: Attempt) -> cimon::model::Attempts {
    std::iter::once(a).collect()
}

/// CPU time (user + system, every thread) this process has used so far: comparable between
/// runs on a busy machine, where wall-clock figures are not.
fn cpu_time() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1.split_whitespace().collect::<Vec<_>>();
            // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name.
            Some(after.get(11)?.parse::<u64>().ok()? + after.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// CPU time of this process's SQLite worker threads (sqlx runs each SQLite connection on its
/// own thread): the part of a write that is serialised on the single writer connection.
fn sqlite_thread_time() -> Duration {
    let mut ticks = 0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !comm.starts_with("sqlx-sqlite") {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            if let Some((_, after)) = stat.rsplit_once(')') {
                let f: Vec<&str> = after.split_whitespace().collect();
                let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                ticks += n(11) + n(12);
            }
        }
    }
    Duration::from_millis(ticks * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn ingest(
    store: &Arc<dyn Store>,
    reports: Vec<RunReport>,
    tasks: usize,
) -> Result<(Duration, Vec<Duration>), String> {
    let reports = Arc::new(reports);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let (store, reports, next) = (store.clone(), reports.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(r) = reports.get(i) else { break };
                    let t = Instant::now();
                    let up = store.upsert_run(r).await.map_err(|e| e.to_string())?;
                    latencies.push(t.elapsed());
                    if !up.created {
                        return Err(format!("report {i} was not new"));
                    }
                }
                Ok::<_, String>(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.map_err(|e| e.to_string())??);
    }
    let elapsed = start.elapsed();
    all.sort();
    Ok((elapsed, all))
}

async fn time<T, F, Fut>(label: &str, times: usize, mut f: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let mut last = None;
    let mut samples = Vec::new();
    for _ in 0..times {
        let t = Instant::now();
        last = Some(f().await?);
        samples.push(t.elapsed());
    }
    samples.sort();
    println!(
        "{label:<44} min {:>10}  median {:>10}  max {:>10}  ({times} runs)",
        ms(samples[0]),
        ms(percentile(&samples, 0.5)),
        ms(samples[samples.len() - 1])
    );
    last.ok_or_else(|| "no sample".into())
}

/// The URL to benchmark: a fresh SQLite file, or a fresh schema of the PostgreSQL database.
async fn prepare(database: Option<String>) -> Result<(String, Option<tempfile::TempDir>), String> {
    match database {
        None => {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            Ok((
                format!("sqlite://{}", dir.path().join("bench.db").display()),
                Some(dir),
            ))
        }
        Some(url) if url.starts_with("postgres") => {
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::raw_sql("DROP SCHEMA IF EXISTS cimon_bench CASCADE; CREATE SCHEMA cimon_bench")
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            let sep = if url.contains('?') { '&' } else { '?' };
            Ok((
                format!("{url}{sep}options=-c%20search_path%3Dcimon_bench"),
                None,
            ))
        }
        Some(url) => Ok((url, None)),
    }
}

async fn run(args: Args) -> Result<(), String> {
    let (url, _dir) = prepare(args.database).await?;
    println!("store: {}", cimon::http::mask_url(&url));
    let store = store::open(&url).await.map_err(|e| e.to_string())?;

    // Ingest: distinct 200-test reports, sequentially then concurrently.
    let make = |from: usize, count: usize| -> Vec<RunReport> {
        (from..from + count)
            .map(|n| report("octo/ingest", "main", n, 200))
            .collect()
    };
    let sample = make(0, 1).remove(0);
    let json = serde_json::to_vec(&sample).map_err(|e| e.to_string())?;
    println!("report: 200 tests, 5 steps, {} bytes of JSON", json.len());
    for (label, reports, tasks) in [
        ("ingest, sequential", make(0, args.reports), 1),
        (
            "ingest, concurrent",
            make(args.reports, args.reports),
            args.concurrency,
        ),
    ] {
        let n = reports.len();
        let (cpu, sqlite) = (cpu_time(), sqlite_thread_time());
        let (elapsed, lat) = ingest(&store, reports, tasks).await?;
        let cpu = cpu_time().saturating_sub(cpu) / n.max(1) as u32;
        let sqlite = sqlite_thread_time().saturating_sub(sqlite) / n.max(1) as u32;
        let sqlite = if url.starts_with("sqlite") {
            format!(" (SQLite threads {})", ms(sqlite))
        } else {
            String::new()
        };
        println!(
            "{label} ({tasks} tasks): {n} reports in {:.2} s = {:.0} reports/s; upsert p50 {} \
             p99 {}; CPU per report {}{sqlite}",
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64(),
            ms(percentile(&lat, 0.5)),
            ms(percentile(&lat, 0.99)),
            ms(cpu),
        );
    }

    if args.runs == 0 || args.tests == 0 {
        return Ok(());
    }
    // History: R runs of a T-test suite on one branch.
    let start = Instant::now();
    for n in 0..args.runs {
        store
            .upsert_run(&report("octo/big", "main", n, args.tests))
            .await
            .map_err(|e| e.to_string())?;
    }
    println!(
        "history: {} runs × {} tests = {} test results stored in {:.1} s",
        args.runs,
        args.tests,
        args.runs * args.tests,
        start.elapsed().as_secs_f64()
    );
    let scope = TestQuery {
        repository: Some("octo/big".into()),
        branch: Some("main".into()),
        window: Some(100),
        since: None,
    };
    let stats = time("test_stats (window 100)", 7, || async {
        store.test_stats(&scope).await.map_err(|e| e.to_string())
    })
    .await?;
    time(
        "test_stats + JSON encoding (as GET /api/v1/tests)",
        5,
        || async {
            let s = store.test_stats(&scope).await.map_err(|e| e.to_string())?;
            serde_json::to_vec(&s).map_err(|e| e.to_string())
        },
    )
    .await?;
    println!("  {} tests in the answer", stats.len());
    let test_id = stats.first().map(|s| s.test_id.clone()).unwrap_or_default();
    time("test_history (window 100)", 20, || async {
        store
            .test_history(&test_id, &scope)
            .await
            .map_err(|e| e.to_string())
    })
    .await?;
    let page = RunQuery {
        repository: Some("octo/ingest".into()),
        ..RunQuery::default()
    };
    let first = time("runs (first page of 50)", 20, || async {
        store.runs(&page).await.map_err(|e| e.to_string())
    })
    .await?;
    let next = RunQuery {
        cursor: first.next_cursor,
        ..page
    };
    time("runs (second page of 50, by cursor)", 20, || async {
        store.runs(&next).await.map_err(|e| e.to_string())
    })
    .await?;
    time("pipelines", 20, || async {
        store.pipelines(at(0)).await.map_err(|e| e.to_string())
    })
    .await?;
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("store_bench: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("store_bench: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("store_bench: {e}");
        std::process::exit(1);
    }
}
