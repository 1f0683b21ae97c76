//! `cimon notify`, and the notification step shared by `report --notify` and `serve`:
//! configuration → channels → one round (state, fan-out) → result table.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};

use crate::ci::Env;
use crate::cli::NotifyArgs;
use crate::exit_code;
use crate::model::RunReport;
use crate::notify::dispatch::{self, Round, Setup, StateSource};
use crate::notify::{channels, Event};

/// Loads the configuration and builds the channels. `Ok(None)`: no configuration or no
/// `notify:` section. Errors are configuration errors (exit 2), located.
pub fn setup(explicit: Option<&Path>, env: &Env) -> Result<Option<Setup>> {
    let Some(path) = crate::config::find(Path::new("."), explicit) else {
        return Ok(None);
    };
    let config = crate::config::load(&path, env).map_err(|e| anyhow!("{e}"))?;
    let Some(notify) = config.notify else {
        return Ok(None);
    };
    let channels = channels::build_all(&notify.channels).map_err(|e| anyhow!("{e}"))?;
    let default_branches = match notify.default_branch {
        Some(b) => vec![b],
        None => default_branches(env),
    };
    Ok(Some(Setup {
        channels,
        repeat_interval: notify.repeat_interval,
        default_branches,
    }))
}

/// The CI's default branch (GitLab `CI_DEFAULT_BRANCH`, the GitHub event's
/// `repository.default_branch`), else `main` and `master`.
pub fn default_branches(env: &Env) -> Vec<String> {
    if let Some(b) = env.get("CI_DEFAULT_BRANCH") {
        return vec![b.to_string()];
    }
    let from_event = env
        .get("GITHUB_EVENT_PATH")
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            v.pointer("/repository/default_branch")
                .and_then(|b| b.as_str())
                .map(String::from)
        });
    match from_event {
        Some(b) => vec![b],
        None => vec!["main".into(), "master".into()],
    }
}

/// Runs one round on a fresh runtime, with state in `history` when given, else from the
/// previous run as the CI's API reports it.
pub fn round(
    setup: &Setup,
    report: &RunReport,
    history: Option<&Path>,
    forced: Option<Event>,
    env: &Env,
) -> Result<Round> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = crate::http::client_for(&crate::http::HttpConfig::default())
            .context("cannot build the HTTP client")?;
        let store = match history {
            Some(path) => Some(crate::store::open_sqlite_file(path).await?),
            None => None,
        };
        let mut warning = None;
        let source = match &store {
            Some(s) => StateSource::Store(s.as_ref()),
            None if forced.is_some() => StateSource::Previous(None),
            None => {
                let (previous, problem) = previous_from_api(report, env).await;
                warning = problem;
                StateSource::Previous(previous)
            }
        };
        let mut round = dispatch::notify(setup, report, source, forced, &client).await;
        round.warnings.extend(warning);
        Ok(round)
    })
}

/// The outcome of the previous run of the same pipeline from the CI's API (see
/// [`crate::ci::Provider::previous_outcome`]); a fault is one warning and no previous state.
pub async fn previous_from_api(
    report: &RunReport,
    env: &Env,
) -> (Option<crate::model::RunOutcome>, Option<String>) {
    use crate::ci::ProviderChoice;
    use crate::model::ProviderKind;
    let choice = match report.provider {
        ProviderKind::Github => ProviderChoice::Github,
        ProviderKind::Gitlab => ProviderChoice::Gitlab,
        ProviderKind::Jenkins => ProviderChoice::Jenkins,
        ProviderKind::Generic => return (None, None),
    };
    let provider = crate::ci::detect(env, choice);
    let creds = crate::ci::credentials_from_env(env);
    match provider.previous_outcome(report, env, &creds).await {
        Ok(previous) => {
            tracing::debug!(
                "previous run from the {} API: {}",
                report.provider.as_str(),
                previous.map_or("none that passed or failed", |o| o.as_str())
            );
            (previous, None)
        }
        Err(e) => (
            None,
            Some(creds.redact(&format!(
                "cannot read the previous run from the {} API ({e}); notifying as if there were none",
                report.provider.as_str()
            ))),
        ),
    }
}

/// Prints the round's table and warnings to stderr.
pub fn print(round: &Round) {
    for w in &round.warnings {
        tracing::warn!("{w}");
    }
    eprint!("{}", dispatch::table(round));
}

/// Runs `cimon notify`; returns the exit code.
pub fn run(args: NotifyArgs, env: &Env) -> u8 {
    match execute(&args, env) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cimon notify: {e:#}");
            exit_code::USAGE
        }
    }
}

fn execute(args: &NotifyArgs, env: &Env) -> Result<u8> {
    let forced = match &args.event {
        None => None,
        Some(word) => Some(Event::parse(word).ok_or_else(|| {
            let all: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
            anyhow!("--event {word:?}: expected one of {}", all.join(", "))
        })?),
    };
    let text = std::fs::read_to_string(&args.report)
        .with_context(|| format!("--report {}: cannot read", args.report.display()))?;
    let report: RunReport = serde_json::from_str(&text).with_context(|| {
        format!(
            "--report {}: not a cimon.run/v1 report",
            args.report.display()
        )
    })?;
    let Some(setup) = setup(args.config.as_deref(), env)? else {
        return Err(anyhow!(
            "no `notify:` configuration: write .cimon.yml (see docs/notify.md) or pass --config"
        ));
    };
    let round = round(&setup, &report, args.history.as_deref(), forced, env)?;
    print(&round);
    Ok(if args.strict && round.failed() {
        exit_code::INFRA
    } else {
        exit_code::OK
    })
}

/// Server side: notifies about a newly stored run in the background.
pub fn spawn_for_ingest(
    setup: Arc<Setup>,
    store: Arc<dyn crate::store::Store>,
    client: reqwest::Client,
    report: RunReport,
) {
    tokio::spawn(async move {
        let round = dispatch::notify(
            &setup,
            &report,
            StateSource::Store(store.as_ref()),
            None,
            &client,
        )
        .await;
        for w in &round.warnings {
            tracing::warn!("{w}");
        }
        if !round.results.is_empty() {
            tracing::info!(
                "notifications for {}:\n{}",
                report.key,
                dispatch::table(&round)
            );
        }
    });
}
