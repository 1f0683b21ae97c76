//! `cimon gate` and `cimon policy check`: load the policy, the current run's reports and the
//! history windows, judge ([`crate::gate::evaluate`]), print, and map the verdict to an exit
//! code (0 pass/warn, 1 fail, 2 config/input error, 3 unreadable history with `--strict`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use chrono::{Duration as Days, Utc};

use crate::ci::{self, Env, ProviderChoice, RunOverrides};
use crate::cli::{Format, GateArgs, PolicyAction};
use crate::exit_code;
use crate::gate::{self, CurrentRun, CurrentTest, Inputs, Policy, Window};
use crate::history::{self, EndpointHistory, History, HistoryError, StoreHistory};
use crate::model::{RunReport, Scope, TestRef, Verdict, VerdictKind};

/// Where the policy comes from: `explicit`, else the first default path under `root`.
fn load_policy(explicit: Option<&Path>, root: &Path) -> Result<Policy, String> {
    let Some(path) = crate::config::find(root, explicit) else {
        tracing::info!("no .cimon.yml: the gate runs with the default policy");
        return Ok(Policy::default());
    };
    let config = crate::config::load_policy(&path).map_err(|e| e.to_string())?;
    Ok(config.gate.unwrap_or_else(|| Policy {
        source: path.display().to_string(),
        ..Policy::default()
    }))
}

/// Runs `cimon policy …`.
pub fn run_policy(action: PolicyAction) -> u8 {
    match action {
        PolicyAction::Check { file } => {
            let Some(path) = crate::config::find(Path::new(""), file.as_deref()) else {
                eprintln!(
                    "cimon policy check: no .cimon.yml or .github/cimon.yml here; name the file"
                );
                return exit_code::USAGE;
            };
            match crate::config::load_policy(&path) {
                Ok(config) => {
                    let q = config.gate.as_ref().map_or(0, |p| p.quarantine.len());
                    println!(
                        "{}: valid ({}{} quarantine entries)",
                        path.display(),
                        if config.gate.is_some() {
                            "gate policy, "
                        } else {
                            "no gate policy, "
                        },
                        q
                    );
                    exit_code::OK
                }
                Err(e) => {
                    eprintln!("{e}");
                    exit_code::USAGE
                }
            }
        }
    }
}

/// Runs `cimon gate`; returns the exit code.
pub fn run(args: GateArgs, env: &Env) -> u8 {
    let policy = match load_policy(args.policy.as_deref(), Path::new("")) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return exit_code::USAGE;
        }
    };
    let reports = match read_reports(&args.reports) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cimon gate: {e:#}");
            return exit_code::USAGE;
        }
    };
    match execute(&args, env, &policy, reports) {
        Ok(code) => code,
        Err(Failure::Usage(e)) => {
            eprintln!("cimon gate: {e:#}");
            exit_code::USAGE
        }
        Err(Failure::Infra(e)) => {
            eprintln!("cimon gate: {e:#}");
            exit_code::INFRA
        }
    }
}

enum Failure {
    Usage(anyhow::Error),
    Infra(anyhow::Error),
}

fn read_reports(paths: &[PathBuf]) -> Result<Vec<RunReport>> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("--report {}: cannot read", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("--report {}: not a cimon.run/v1 report", p.display()))
        })
        .collect()
}

/// The run's identity: flags > the first report > the CI's environment.
fn identity(args: &GateArgs, env: &Env, reports: &[RunReport]) -> Scope {
    let r = &args.run;
    let detected;
    let base = match reports.first() {
        Some(first) => first,
        None => {
            let choice = ProviderChoice::from(args.provider);
            let overrides = RunOverrides {
                repository: r.repository.clone(),
                sha: r.sha.clone(),
                branch: r.branch.clone(),
                pull_request: r.pull_request,
                ..RunOverrides::default()
            };
            detected = ci::detect(env, choice).current_run(env, &overrides, Utc::now());
            &detected
        }
    };
    let branch = r.branch.clone().or_else(|| base.commit.branch.clone());
    let base_branch = args
        .base_branch
        .clone()
        .or_else(|| base.commit.base_branch.clone())
        .filter(|b| Some(b) != branch.as_ref());
    Scope {
        repository: r.repository.clone().or_else(|| base.repository.clone()),
        branch,
        base_branch,
        pull_request: r.pull_request.or(base.commit.pull_request),
        sha: r.sha.clone().or_else(|| base.commit.sha.clone()),
        ..Scope::default()
    }
}

fn current_runs(reports: &[RunReport]) -> Vec<CurrentRun> {
    reports
        .iter()
        .map(|r| CurrentRun {
            tests: r
                .tests
                .cases
                .iter()
                .map(|c| CurrentTest {
                    test: TestRef {
                        id: c.id.to_string(),
                        suite: c.suite.to_string(),
                        classname: c.classname.as_deref().map(str::to_owned),
                        name: c.name.to_string(),
                    },
                    file: c.file.as_deref().map(str::to_owned),
                    line: c.line,
                    outcome: c.outcome,
                    flaky: c.flaky,
                })
                .collect(),
            in_history: false,
        })
        .collect()
}

/// The history source of the flags, opened (`None`: none configured, or the local file does
/// not exist yet — a cache miss).
async fn open_history(args: &GateArgs, env: &Env) -> Result<Option<Box<dyn History>>, Failure> {
    if let Some(path) = &args.history {
        if !path.is_file() {
            return Ok(None);
        }
        let store = crate::store::open_sqlite_file(path)
            .await
            .map_err(|e| Failure::Infra(anyhow!(e)))?;
        return Ok(Some(Box::new(StoreHistory::new(
            store,
            format!("file {}", path.display()),
        ))));
    }
    let endpoint = args
        .endpoint
        .as_deref()
        .or_else(|| env.get(crate::delivery::CIMON_ENDPOINT))
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let Some(base) = endpoint else {
        return Ok(None);
    };
    let token = crate::delivery::token_from(env).map_err(|e| Failure::Usage(anyhow!(e)))?;
    let config = ci::http_config_from_env(env);
    let client = crate::http::client_for(&config).map_err(|e| Failure::Infra(anyhow!(e)))?;
    Ok(Some(Box::new(EndpointHistory::new(
        client,
        base,
        token,
        config.timeout,
    ))))
}

/// Reads the windows: the baseline, and the pull request's branch when there is one.
async fn read_history(
    history: &dyn History,
    policy: &Policy,
    scope: &Scope,
    current: &mut [CurrentRun],
    reports: &[RunReport],
) -> Result<(Window, Option<Window>), HistoryError> {
    for (run, report) in current.iter_mut().zip(reports) {
        run.in_history = history.has_run(&crate::store::run_id(&report.key)).await?;
    }
    let since = policy
        .window_days
        .map(|d| Utc::now() - Days::days(i64::from(d)));
    let repository = scope.repository.as_deref();
    let baseline = scope.base_branch.as_deref().or(scope.branch.as_deref());
    let base =
        history::fetch_window(history, repository, baseline, policy.window_runs, since).await?;
    let head = match (&scope.base_branch, &scope.branch) {
        (Some(_), Some(branch)) => Some(
            history::fetch_window(history, repository, Some(branch), policy.window_runs, since)
                .await?,
        ),
        _ => None,
    };
    Ok((base, head))
}

fn execute(
    args: &GateArgs,
    env: &Env,
    policy: &Policy,
    reports: Vec<RunReport>,
) -> Result<u8, Failure> {
    let scope = identity(args, env, &reports);
    let (scope_sha, pull_request) = (scope.sha.clone(), scope.pull_request);
    let mut current = current_runs(&reports);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Infra(anyhow!(e)))?;
    type Read = Result<Result<(Window, Option<Window>), HistoryError>, String>;
    let (label, windows): (String, Read) = runtime.block_on(async {
        let history = open_history(args, env).await?;
        let Some(history) = history else {
            let why = match &args.history {
                Some(p) => format!("no history file at {}", p.display()),
                None => "no history configured (--history PATH or --endpoint URL)".into(),
            };
            return Ok(("none".to_owned(), Err(why)));
        };
        let label = history.describe();
        let read = read_history(history.as_ref(), policy, &scope, &mut current, &reports).await;
        Ok::<_, Failure>((label, Ok(read)))
    })?;
    let (base, head) = match windows {
        Ok(Ok((base, head))) => (Ok(base), head),
        Ok(Err(HistoryError::Invalid(e))) => return Err(Failure::Usage(anyhow!(e))),
        Ok(Err(HistoryError::Unavailable(e))) if args.strict => {
            return Err(Failure::Infra(anyhow!("cannot read the history: {e}")))
        }
        Ok(Err(HistoryError::Unavailable(e))) => {
            tracing::warn!("cannot read the history: {e}");
            (Err(format!("cannot read the history: {e}")), None)
        }
        Err(why) => (Err(why), None),
    };
    // A pull request is judged against its base even when its own branch has no history.
    let head = head.or_else(|| scope.base_branch.as_ref().map(|_| Window::default()));
    let verdict = gate::evaluate(
        policy,
        Inputs {
            scope: Scope {
                history: label,
                ..scope
            },
            current,
            base,
            head,
            today: Utc::now().date_naive(),
        },
    );
    emit(args, env, &verdict);
    if let Some(sha) = scope_sha.as_deref() {
        runtime.block_on(publish(args, env, &verdict, sha, pull_request, &reports))?;
    } else {
        tracing::info!("no commit SHA for this run: no check run or commit status");
    }
    if args.notify && verdict.verdict == VerdictKind::Fail {
        runtime.block_on(notify_gate_failed(args, env, &verdict, &reports));
    }
    Ok(match verdict.verdict {
        VerdictKind::Fail => exit_code::FAILED,
        VerdictKind::Pass | VerdictKind::Warn => exit_code::OK,
    })
}

/// The marker of the sticky pull-request comment (`<!-- cimon:gate -->`).
const COMMENT_MARKER: &str = "gate";

/// The forge's part: the check run `cimon / flakiness` (or a commit status) on `sha`, and with
/// `--comment` the sticky comment on the pull request. Without a forge token this is skipped
/// with a note; failures are warnings unless `--strict`.
async fn publish(
    args: &GateArgs,
    env: &Env,
    verdict: &Verdict,
    sha: &str,
    pull_request: Option<u64>,
    reports: &[RunReport],
) -> Result<(), Failure> {
    let creds = ci::credentials_from_env(env);
    let settings = crate::forge::ForgeSettings {
        http: ci::http_config_from_env(env),
        ..crate::forge::ForgeSettings::default()
    };
    let Some(forge) = crate::forge::forge_from_env(env, &creds, &settings) else {
        tracing::info!(
            "no GitHub or GitLab token in this environment: the verdict is not published as a check"
        );
        return Ok(());
    };
    let details = reports.iter().find_map(|r| r.url.clone());
    let check = gate::check_report(verdict, sha, details);
    let comment = match (args.comment, pull_request) {
        (true, Some(number)) => Some((
            number,
            crate::model::Comment {
                marker: COMMENT_MARKER.into(),
                body: comment_body(verdict, reports),
            },
        )),
        (true, None) => {
            tracing::info!("--comment: this run is not for a pull request; no comment");
            None
        }
        (false, _) => None,
    };
    let comment_ref = comment.as_ref().map(|(n, c)| (*n, c));
    crate::forge::publish(forge.as_ref(), &check, comment_ref, args.strict)
        .await
        .map(|_| ())
        .map_err(|e| Failure::Infra(anyhow!("cannot publish the verdict: {e}")))
}

/// The sticky comment: the verdict, then each report's results, within GitHub's 65 536.
fn comment_body(verdict: &Verdict, reports: &[RunReport]) -> String {
    const LIMIT: usize = 65_000;
    let mut body = gate::render_markdown(verdict, LIMIT / 2).markdown;
    let share = (LIMIT - body.len().min(LIMIT)) / reports.len().max(1);
    for report in reports {
        body.push_str("\n\n");
        body.push_str(&crate::output::markdown::render(report, share));
    }
    body
}

/// `--notify`: `gate_failed` to the channels of the policy file's `notify:` section.
async fn notify_gate_failed(args: &GateArgs, env: &Env, verdict: &Verdict, reports: &[RunReport]) {
    let Some(report) = reports.first() else {
        tracing::warn!("--notify: no --report, nothing to say which run the gate stopped");
        return;
    };
    let setup = match super::notify::setup(args.policy.as_deref(), env) {
        Ok(Some(setup)) => setup,
        Ok(None) => {
            tracing::warn!("--notify: the policy file has no `notify:` section");
            return;
        }
        Err(e) => {
            tracing::warn!("--notify: {e:#}");
            return;
        }
    };
    let note = crate::notify::GateNote {
        passed: false,
        reasons: verdict
            .violations
            .iter()
            .filter(|v| v.level == crate::model::Level::Fail)
            .map(|v| v.message.clone())
            .collect(),
    };
    let round = match crate::http::client_for(&ci::http_config_from_env(env)) {
        Ok(client) => {
            crate::notify::dispatch::notify_gate_failed(&setup, report, note, &client).await
        }
        Err(e) => {
            tracing::warn!("--notify: {e}");
            return;
        }
    };
    super::notify::print(&round);
}

/// Job summary size limit of GitHub (1 MiB).
const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

fn emit(args: &GateArgs, env: &Env, verdict: &Verdict) {
    let text = match args.format {
        Format::Text => gate::render_text(verdict),
        Format::Json => serde_json::to_string_pretty(verdict).unwrap_or_default() + "\n",
        Format::Markdown => gate::render_markdown(verdict, STEP_SUMMARY_LIMIT).markdown,
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::warn!("cannot write to stdout: {e}");
        }
    }
    if let Some(path) = &args.output {
        let json = serde_json::to_vec_pretty(verdict).unwrap_or_default();
        if let Err(e) = std::fs::write(path, json) {
            tracing::warn!("--output {}: {e}", path.display());
        }
    }
    if !env.is_true(ci::env::GITHUB_ACTIONS) {
        return;
    }
    if let Some(path) = env.get("GITHUB_OUTPUT") {
        let outputs = [("verdict", verdict.verdict.as_str().to_string())];
        if let Err(e) = crate::output::github::write_outputs(Path::new(path), &outputs) {
            tracing::warn!("cannot write $GITHUB_OUTPUT ({path}): {e}");
        }
    }
    if let Some(path) = env.get("GITHUB_STEP_SUMMARY").filter(|_| !args.no_summary) {
        let md = match (args.format, text) {
            (Format::Markdown, md) => md,
            _ => gate::render_markdown(verdict, STEP_SUMMARY_LIMIT).markdown,
        };
        if let Err(e) = crate::output::github::append_step_summary(Path::new(path), &md) {
            tracing::warn!("cannot append to $GITHUB_STEP_SUMMARY ({path}): {e}");
        }
    }
}
