//! Gate benchmark (BENCHMARKS.md, section "Gate"): fills a local history file with R runs of
//! a T-test suite (default 100 × 10 000 = 1 M test results), then times what `cimon gate`
//! does with it in process: read the window (`history::fetch_window`) and judge
//! (`gate::evaluate`), median of 7. `scripts/gate-bench` then times the `cimon gate`
//! process itself on the file and through `cimon serve`, with its peak memory.
//!
//! ```text
//! cargo run --release --example gate_bench -- --history PATH [--tests T] [--runs R]
//! ```
//! The suite: 1 % of the tests flaky (a retry in about one run in five, plus some plain
//! failures), 0.2 % broken, the rest passing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use cimon::gate::{self, Inputs, Policy};
use cimon::history::{self, StoreHistory};
use cimon::model::{
    Attempt, Commit, ProviderKind, Reporter, RunOutcome, RunReport, Scope, TestCase, TestId,
    TestOutcome, TestResults, TestSummary, REPORT_SCHEMA,
};

struct Args {
    history: PathBuf,
    tests: usize,
    runs: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut history = None;
    let mut tests = 10_000;
    let mut runs = 100;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match flag.as_str() {
            "--history" => history = Some(PathBuf::from(value()?)),
            "--tests" => tests = number(value()?)?,
            "--runs" => runs = number(value()?)?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(Args {
        history: history.ok_or("--history PATH is required")?,
        tests,
        runs,
    })
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0)
        .single()
        .unwrap_or_default()
        + chrono::Duration::seconds(seconds)
}

/// Run `n` of the suite: deterministic outcomes per (test, run).
fn report(n: usize, tests: usize) -> RunReport {
    let repository = "octo/big";
    let suite: Arc<str> = Arc::from("integration");
    let classes: Vec<Arc<str>> = (0..10)
        .map(|c| Arc::from(format!("com.example.module{c}.ServiceTest")))
        .collect();
    let cases: Vec<TestCase> = (0..tests)
        .map(|i| {
            let class = classes[i % classes.len()].clone();
            let name = format!("handles_variant_{i}");
            let roll = (i * 7919 + n * 104_729) % 10;
            let (outcome, flaky) = match i % 1000 {
                0..=9 if roll < 2 => (TestOutcome::Passed, true),
                0..=9 if roll < 3 => (TestOutcome::Failed, false),
                10 | 11 => (TestOutcome::Failed, false),
                _ => (TestOutcome::Passed, false),
            };
            let mut attempts: cimon::model::Attempts = std::iter::once(Attempt {
                outcome,
                duration_ms: 30,
                details: None,
            })
            .collect();
            if flaky {
                attempts.insert(
                    0,
                    Attempt {
                        outcome: TestOutcome::Failed,
                        duration_ms: 30,
                        details: None,
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
                duration_ms: 30,
                attempts,
                properties: Box::new([]),
            }
        })
        .collect();
    let summary = TestSummary::of(&cases);
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
        url: None,
        event: Some("push".into()),
        actor: None,
        commit: Commit {
            sha: Some(format!("{:040x}", n * 2_654_435_761)),
            branch: Some("main".into()),
            ..Commit::default()
        },
        outcome: if summary.failed > 0 {
            RunOutcome::Failure
        } else {
            RunOutcome::Success
        },
        started_at: None,
        finished_at: at(n as i64 * 60),
        duration_ms: None,
        queued_ms: None,
        steps: Vec::new(),
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

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let fresh = !args.history.exists();
    let store = cimon::store::open_sqlite_file(&args.history).await?;
    if fresh {
        let start = Instant::now();
        for n in 1..=args.runs {
            store.upsert_run(&report(n, args.tests)).await?;
        }
        println!(
            "filled {}: {} runs × {} tests = {} results in {:.1} s",
            args.history.display(),
            args.runs,
            args.tests,
            args.runs * args.tests,
            start.elapsed().as_secs_f64()
        );
    }
    let history = StoreHistory::new(store, "bench".into());
    let policy = Policy {
        window_runs: 100,
        max_flip_rate: Some(0.1),
        max_flaky_tests: Some(0),
        ..Policy::default()
    };
    let mut times = Vec::new();
    let mut summary = String::new();
    for _ in 0..7 {
        let start = Instant::now();
        let base =
            history::fetch_window(&history, Some("octo/big"), Some("main"), 100, None).await?;
        let fetched = start.elapsed();
        let verdict = gate::evaluate(
            &policy,
            Inputs {
                scope: Scope {
                    repository: Some("octo/big".into()),
                    branch: Some("main".into()),
                    ..Scope::default()
                },
                current: Vec::new(),
                base: Ok(base),
                head: None,
                today: Utc::now().date_naive(),
            },
        );
        times.push((start.elapsed(), fetched));
        summary = verdict.summary;
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (median, fetched) = times[times.len() / 2];
    println!("verdict: {summary}");
    println!(
        "fetch_window + evaluate, window 100, {} results: median {:.0} ms (fetch {:.0} ms), min {:.0} ms, max {:.0} ms; peak RSS of this process {} MiB (includes the fill)",
        args.runs * args.tests,
        ms(median),
        ms(fetched),
        ms(times[0].0),
        ms(times[times.len() - 1].0),
        peak_rss_kib() / 1024
    );
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gate_bench: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gate_bench: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(run(args)) {
        eprintln!("gate_bench: {e}");
        std::process::exit(1);
    }
}
