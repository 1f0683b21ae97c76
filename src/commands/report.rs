//! `cimon report`: provider → run identity and timings; test reports → cases; renderers and
//! the GitHub integration → stdout, files, job summary. Reporter problems become warnings in
//! the report (and on stderr); only `--strict`, `--require-tests` and
//! `--fail-on-test-failure` turn anything into a non-zero exit.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::Utc;

use crate::ci::{self, ApiCredentials, Env, ProviderChoice, RunOverrides, Secret};
use crate::cli::{ColorArg, Format, ReportArgs};
use crate::exit_code;
use crate::junit::{self, discover, ParseOptions};
use crate::model::{RunReport, TestId, TestResults, TestSummary};
use crate::output::{self, github, markdown};

/// What happened, for the exit code.
#[derive(Debug, Default)]
struct Problems {
    no_reports: bool,
    unreadable_reports: bool,
    api_failed: bool,
    output_failed: bool,
    /// What `--strict` makes of a report the endpoint did not take.
    delivery: Option<u8>,
}

/// Runs `cimon report`; returns the exit code.
pub fn run(args: ReportArgs, env: &Env) -> u8 {
    match execute(&args, env) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            if args.strict {
                exit_code::USAGE
            } else {
                exit_code::OK
            }
        }
    }
}

fn execute(args: &ReportArgs, env: &Env) -> Result<u8> {
    // A bad notification configuration stops everything before anything is sent.
    let notify = if args.notify {
        match super::notify::setup(args.config.as_deref(), env) {
            Ok(Some(setup)) => Some(setup),
            Ok(None) => {
                eprintln!("cimon report: --notify needs a `notify:` section in .cimon.yml (or --config FILE)");
                return Ok(exit_code::USAGE);
            }
            Err(e) => {
                eprintln!("cimon report: {e:#}");
                return Ok(exit_code::USAGE);
            }
        }
    } else {
        None
    };
    let mut problems = Problems::default();
    let mut report = collect_run(args, env, &mut problems)?;
    collect_tests(args, &mut report, &mut problems)?;
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    let started = Instant::now();
    emit(args, env, &report, &mut problems);
    tracing::debug!(elapsed = ?started.elapsed(), "wrote the outputs");
    if let Some(path) = &args.history {
        if let Err(e) = append_history(path, &report) {
            tracing::warn!(
                "cannot append the run to the history {}: {e:#}",
                path.display()
            );
            problems.output_failed = true;
        }
    }
    problems.delivery =
        crate::delivery::deliver_report(&args.delivery, env, &report).strict_exit_code();
    if let Some(setup) = &notify {
        match super::notify::round(setup, &report, args.history.as_deref(), None, env) {
            Ok(round) => {
                super::notify::print(&round);
                problems.output_failed |= round.failed();
            }
            Err(e) => {
                tracing::warn!("notifications: {e:#}");
                problems.output_failed = true;
            }
        }
    }
    let code = exit_code_for(args, &report, &problems);
    // The process exits next: freeing millions of test cases one by one only costs time.
    std::mem::forget(report);
    Ok(code)
}

fn overrides(args: &ReportArgs) -> RunOverrides {
    let r = &args.run;
    RunOverrides {
        repository: r.repository.clone(),
        workflow: r.workflow.clone(),
        job: r.job.clone(),
        run_id: r.run_id.clone(),
        sha: r.sha.clone(),
        branch: r.branch.clone(),
        url: r.url.clone(),
        run_attempt: r.run_attempt,
        pull_request: r.pull_request,
        status: args.status.clone(),
    }
}

fn credentials(args: &ReportArgs, env: &Env) -> Result<ApiCredentials> {
    let mut creds = ci::try_credentials_from_env(env)?;
    if let Some(path) = &args.github_token_file {
        let token = std::fs::read_to_string(path).with_context(|| {
            format!(
                "--github-token-file {}: cannot read the token file",
                path.display()
            )
        })?;
        creds.github_token = Some(Secret::new(token.trim()));
    }
    Ok(creds)
}

fn collect_run(args: &ReportArgs, env: &Env, problems: &mut Problems) -> Result<RunReport> {
    let choice = ProviderChoice::from(args.provider);
    let provider = ci::detect(env, choice);
    let mut report = provider.current_run(env, &overrides(args), Utc::now());
    let creds = match credentials(args, env) {
        Ok(c) => c,
        Err(e) => {
            report.warnings.push(format!("{e:#}"));
            problems.api_failed = true;
            ApiCredentials::default()
        }
    };
    let has_creds = creds.github_token.is_some()
        || creds.gitlab_token.is_some()
        || creds.jenkins_token.is_some();
    if has_creds {
        let before = report.warnings.len();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        runtime.block_on(provider.fetch_timings(&mut report, env, &creds));
        problems.api_failed |= report.warnings.len() > before;
    }
    tracing::info!(provider = provider.kind().as_str(), key = %report.key, "collected the run");
    Ok(report)
}

fn collect_tests(args: &ReportArgs, report: &mut RunReport, problems: &mut Problems) -> Result<()> {
    let base = args.directory.clone().unwrap_or_else(|| PathBuf::from("."));
    let found = discover::find(&base, &args.junit)?;
    for pattern in &found.unmatched {
        report
            .warnings
            .push(format!("--junit {pattern:?} matched no file"));
    }
    if found.files.is_empty() {
        problems.no_reports = true;
        let searched = if args.junit.is_empty() {
            "the default locations (see --help)".to_string()
        } else {
            format!("{:?}", args.junit)
        };
        report.warnings.push(format!(
            "no test report found in {} under {}",
            searched,
            base.display()
        ));
    }
    let opts = ParseOptions {
        merge_repeated: args.merge_repeated,
        ..ParseOptions::default()
    };
    let mut cases = Vec::new();
    let in_cwd = base == Path::new(".");
    let paths: Vec<PathBuf> = found
        .files
        .iter()
        .map(|p| {
            if in_cwd || p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        })
        .collect();
    let started = Instant::now();
    let parsed = junit::parse_files(&paths, &opts, &mut cases);
    tracing::debug!(
        files = paths.len(),
        cases = cases.len(),
        elapsed = ?started.elapsed(),
        "read the test reports"
    );
    let (mut files, errors) = (parsed.files, parsed.errors);
    report.warnings.extend(parsed.warnings);
    let explicit = !args.junit.is_empty();
    // During discovery, XML of other formats is expected (e.g. testng-results.xml): skip it.
    if !explicit {
        files.retain(|f| {
            !f.error
                .as_deref()
                .is_some_and(|e| e.contains("not a JUnit XML report"))
        });
    }
    for e in errors {
        if !explicit && e.is_not_junit() {
            tracing::debug!("skipped: {e}");
            continue;
        }
        problems.unreadable_reports = true;
        report.warnings.push(e.to_string());
    }
    for f in &mut files {
        if let Ok(rel) = Path::new(&f.path).strip_prefix(&base) {
            f.path = rel.display().to_string();
        }
    }
    if !found.files.is_empty() && files.iter().all(|f| f.error.is_some()) {
        problems.no_reports = true;
    }
    let repository = report.repository.clone().unwrap_or_default();
    let started = Instant::now();
    TestId::assign(&repository, &mut cases);
    tracing::debug!(elapsed = ?started.elapsed(), "derived the test ids");
    report.tests = TestResults {
        summary: TestSummary::of(&cases),
        cases,
        files,
    };
    Ok(())
}

fn use_color(args: &ReportArgs, env: &Env) -> bool {
    match args.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            env.get("NO_COLOR").is_none()
                && (std::io::stdout().is_terminal()
                    || env.is_true("GITHUB_ACTIONS")
                    || env.is_true("GITLAB_CI"))
        }
    }
}

fn emit(args: &ReportArgs, env: &Env, report: &RunReport, problems: &mut Problems) {
    let in_github =
        report.provider == crate::model::ProviderKind::Github && env.is_true("GITHUB_ACTIONS");
    let mut warn = |what: String| {
        tracing::warn!("{what}");
        problems.output_failed = true;
    };
    // 1. stdout
    let mut out = std::io::BufWriter::new(output::stdout_unbuffered());
    let written = match args.format {
        Format::Json => {
            crate::model::json::to_writer(&mut out, report).and_then(|()| out.write_all(b"\n"))
        }
        Format::Text => {
            out.write_all(output::text::render(report, use_color(args, env)).as_bytes())
        }
        Format::Markdown => out.write_all(markdown::render(report, usize::MAX).as_bytes()),
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            warn(format!("cannot write the report to stdout: {e}"));
        }
    }
    drop(out);

    // 2. --output, or a file for the GitHub step output.
    let report_path = args
        .output
        .clone()
        .or_else(|| in_github.then(|| default_report_path(env, report)));
    if let Some(path) = &report_path {
        if let Err(e) = write_json(path, report) {
            warn(format!(
                "cannot write the report to {}: {e:#}",
                path.display()
            ));
        }
    }

    if !in_github {
        return;
    }
    // 3. annotations: on stdout with text output, else on stderr (the runner reads both).
    let notes = github::annotations(report, args.max_annotations, env.get("GITHUB_WORKSPACE"));
    if !notes.is_empty() {
        let result = if args.format == Format::Text {
            std::io::stdout().lock().write_all(notes.as_bytes())
        } else {
            std::io::stderr().lock().write_all(notes.as_bytes())
        };
        if let Err(e) = result {
            warn(format!("cannot write annotations: {e}"));
        }
    }
    // 4. job summary
    if !args.no_summary {
        if let Some(path) = env.get("GITHUB_STEP_SUMMARY") {
            let md = markdown::render(report, markdown::GITHUB_SUMMARY_LIMIT);
            if let Err(e) = github::append_step_summary(Path::new(path), &md) {
                warn(format!(
                    "cannot append to $GITHUB_STEP_SUMMARY ({path}): {e}"
                ));
            }
        }
    }
    // 5. step outputs
    if let Some(path) = env.get("GITHUB_OUTPUT") {
        let s = &report.tests.summary;
        let outputs = [
            (
                "report-path",
                report_path
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            ("outcome", report.outcome.as_str().to_string()),
            ("tests", s.total.to_string()),
            ("failed", (s.failed + s.errored).to_string()),
            ("flaky", s.flaky.to_string()),
        ];
        if let Err(e) = github::write_outputs(Path::new(path), &outputs) {
            warn(format!("cannot append to $GITHUB_OUTPUT ({path}): {e}"));
        }
    }
}

fn default_report_path(env: &Env, report: &RunReport) -> PathBuf {
    let dir = env
        .get("RUNNER_TEMP")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let run = report
        .run_id
        .as_deref()
        .unwrap_or("run")
        .replace(['/', '\\'], "_");
    dir.join(format!("cimon-report-{run}-{}.json", report.run_attempt))
}

/// Writes the JSON report atomically (temporary file + rename).
fn write_json(path: &Path, report: &RunReport) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = std::io::BufWriter::new(file);
    crate::model::json::to_writer(&mut w, report)?;
    w.write_all(b"\n")?;
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Appends the run to a local SQLite history (the same store code as `serve`).
fn append_history(path: &Path, report: &RunReport) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = crate::store::open_sqlite_file(path).await?;
        let stored = store.upsert_run(report).await?;
        tracing::info!(id = %stored.id, created = stored.created, "history: {}", path.display());
        Ok(())
    })
}

fn exit_code_for(args: &ReportArgs, report: &RunReport, p: &Problems) -> u8 {
    let s = &report.tests.summary;
    if args.require_tests && p.no_reports {
        return exit_code::USAGE;
    }
    if args.strict && p.unreadable_reports {
        return exit_code::USAGE;
    }
    if args.strict && (p.api_failed || p.output_failed) {
        return exit_code::INFRA;
    }
    if let Some(code) = p.delivery.filter(|_| args.strict) {
        return code;
    }
    if args.fail_on_test_failure && s.failed + s.errored > 0 {
        return exit_code::FAILED;
    }
    exit_code::OK
}
