//! Delivery of run reports to a `cimon serve` endpoint, without losing any.
//!
//! - [`retry`]: the one retry stage (exponential backoff with full jitter, `Retry-After`, a
//!   total deadline), generic so that notification channels reuse it.
//! - [`endpoint`]: one endpoint — `POST {URL}/api/v1/runs`, gzip, bearer token — and what a
//!   single attempt's outcome means.
//! - [`spool`]: reports that could not be delivered wait in a directory for `cimon flush`.
//!
//! Here: the settings (flag > `CIMON_*` env var > default), the `report` step
//! ([`deliver_report`]: deliver, else spool, one warning) and [`flush`]. See
//! `docs/delivery.md`.

pub mod endpoint;
pub mod retry;
pub mod spool;

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

pub use self::endpoint::{Delivered, Endpoint, PostError, Stored, Undelivered};
pub use self::retry::{Attempt, RetryPolicy};
pub use self::spool::{Claim, Spool, SpoolError};
use crate::ci::{self, Env};
use crate::cli::DeliveryArgs;
use crate::exit_code;
use crate::http::{HttpError, Secret};
use crate::model::{RunReport, REPORT_SCHEMA};

/// The endpoint's base URL when `--endpoint` is not given.
pub const CIMON_ENDPOINT: &str = "CIMON_ENDPOINT";
/// The endpoint's token (`Authorization: Bearer …`).
pub const CIMON_TOKEN: &str = "CIMON_TOKEN";
/// A file holding the endpoint's token (when `CIMON_TOKEN` is not set).
pub const CIMON_TOKEN_FILE: &str = "CIMON_TOKEN_FILE";

/// The delivery settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The endpoint is not an http(s) URL.
    #[error("--endpoint / CIMON_ENDPOINT {url:?} is not a usable URL: {reason}")]
    InvalidEndpoint {
        /// The URL, masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `CIMON_TOKEN_FILE` cannot be read.
    #[error("CIMON_TOKEN_FILE: cannot read {}: {source}; set it to a readable file or unset it", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The HTTP client cannot be built.
    #[error(transparent)]
    Client(HttpError),
}

/// The endpoint configured by `--endpoint` or `CIMON_ENDPOINT` (`None`: not configured), with
/// its token from `CIMON_TOKEN` or `CIMON_TOKEN_FILE`.
pub fn endpoint_from(args: &DeliveryArgs, env: &Env) -> Result<Option<Endpoint>, DeliveryError> {
    let base = args
        .endpoint
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .or_else(|| env.get(CIMON_ENDPOINT).map(str::trim));
    let Some(base) = base else {
        return Ok(None);
    };
    let token = token_from(env)?;
    Endpoint::new(base, token, &ci::http_config_from_env(env)).map(Some)
}

/// The endpoint token from `CIMON_TOKEN`, else the file named by `CIMON_TOKEN_FILE`.
pub fn token_from(env: &Env) -> Result<Option<Secret>, DeliveryError> {
    if let Some(token) = env
        .get(CIMON_TOKEN)
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        return Ok(Some(Secret::new(token)));
    }
    let Some(path) = env.get(CIMON_TOKEN_FILE) else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    let text = std::fs::read_to_string(&path)
        .map_err(|source| DeliveryError::TokenFile { path, source })?;
    let text = text.trim();
    Ok((!text.is_empty()).then(|| Secret::new(text)))
}

/// The spool of `--spool`, else the default directory ([`Spool::default_dir`]).
pub fn spool_from(args: &DeliveryArgs, env: &Env) -> Spool {
    Spool::new(
        args.spool
            .clone()
            .unwrap_or_else(|| Spool::default_dir(env)),
    )
}

/// The retry policy of `--deadline`.
pub fn policy_from(args: &DeliveryArgs) -> RetryPolicy {
    RetryPolicy::with_deadline(Duration::from_secs(args.deadline))
}

/// What the `report` step did with the report.
#[derive(Debug)]
pub enum ReportDelivery {
    /// No endpoint is configured.
    NotConfigured,
    /// The endpoint has it.
    Delivered(Delivered),
    /// The endpoint does not have it.
    Undelivered {
        /// Why.
        problem: Problem,
        /// Where it was spooled for `cimon flush` (`None`: it could not be; the warning
        /// said why).
        spooled: Option<PathBuf>,
    },
}

/// Why a report was not delivered.
#[derive(Debug)]
pub enum Problem {
    /// The settings are unusable (nothing was sent).
    Config(DeliveryError),
    /// The report could not be serialised (nothing was sent).
    Encode(serde_json::Error),
    /// Sending failed.
    Failed(Undelivered),
}

impl ReportDelivery {
    /// The exit code `--strict` asks for: 2 for unusable settings, 3 when the endpoint did
    /// not take the report, `None` when nothing went wrong.
    pub fn strict_exit_code(&self) -> Option<u8> {
        match self {
            Self::NotConfigured | Self::Delivered(_) => None,
            Self::Undelivered {
                problem: Problem::Config(_),
                ..
            } => Some(exit_code::USAGE),
            Self::Undelivered { .. } => Some(exit_code::INFRA),
        }
    }
}

/// The `report` step: posts `report` to the configured endpoint; when that fails, spools it
/// and logs one warning. A delivered report is never spooled. Blocks until done (at most the
/// deadline, plus writing the spool file).
pub fn deliver_report(args: &DeliveryArgs, env: &Env, report: &RunReport) -> ReportDelivery {
    let endpoint = match endpoint_from(args, env) {
        Ok(None) => return ReportDelivery::NotConfigured,
        Ok(Some(endpoint)) => Ok(endpoint),
        Err(e) => Err(Problem::Config(e)),
    };
    let json = match serde_json::to_vec(report) {
        Ok(json) => json,
        Err(e) => {
            let problem = Problem::Encode(e);
            tracing::warn!("{}", warning(&problem, None));
            return ReportDelivery::Undelivered {
                problem,
                spooled: None,
            };
        }
    };
    let sent = endpoint.and_then(|endpoint| send_blocking(&endpoint, &json, &policy_from(args)));
    let problem = match sent {
        Ok(delivered) => {
            tracing::info!(
                stored = ?delivered.stored,
                attempts = delivered.attempts,
                "delivered the report"
            );
            return ReportDelivery::Delivered(delivered);
        }
        Err(problem) => problem,
    };
    let saved = spool_from(args, env).save(&report.key, &json);
    tracing::warn!("{}", warning(&problem, Some(&saved)));
    ReportDelivery::Undelivered {
        problem,
        spooled: saved.ok(),
    }
}

fn send_blocking(
    endpoint: &Endpoint,
    json: &[u8],
    policy: &RetryPolicy,
) -> Result<Delivered, Problem> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Problem::Failed(Undelivered {
                url: endpoint.url().to_owned(),
                reason: retry::GiveUpReason::Permanent,
                last: Some(PostError::Transport(format!(
                    "cannot start the async runtime: {e}"
                ))),
                cut_by_deadline: false,
                attempts: 0,
                elapsed: Duration::ZERO,
                deadline: policy.deadline,
            })
        })?;
    runtime
        .block_on(endpoint.deliver(json, policy))
        .map_err(Problem::Failed)
}

/// The one warning of a report that was not delivered.
fn warning(problem: &Problem, spooled: Option<&Result<PathBuf, SpoolError>>) -> String {
    let what = match problem {
        Problem::Config(e) => format!("cannot deliver the report: {e}"),
        Problem::Encode(e) => format!("cannot deliver the report: cannot serialise it: {e}"),
        Problem::Failed(e) => format!("cannot deliver the report: {e}"),
    };
    let refused = matches!(problem, Problem::Failed(e) if e.refused());
    match spooled {
        Some(Ok(path)) if refused => format!(
            "{what}. The server will not accept it as it is; it was saved to {} anyway so \
             nothing is lost (`cimon flush` will be refused again until the cause is fixed)",
            path.display()
        ),
        Some(Ok(path)) => format!(
            "{what}. Saved to {}; `cimon flush` sends it later",
            path.display()
        ),
        Some(Err(e)) => format!("{what}. The report could not be saved either: {e}"),
        None => what,
    }
}

/// What [`flush`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushSummary {
    /// Reports the endpoint accepted (deleted from the spool).
    pub sent: usize,
    /// Reports still in the spool.
    pub kept: usize,
    /// Of [`FlushSummary::kept`], those not tried because the endpoint had already failed or
    /// the deadline was spent.
    pub untried: usize,
    /// Files that are not run reports, moved aside as `*.bad`.
    pub bad: usize,
}

/// Re-sends every spooled report, oldest first, within one total `policy.deadline`. A report
/// is deleted only after a 2xx; others stay. Files another flusher holds are skipped; files
/// that are not reports are set aside (`*.bad`) with a warning. After a failure that is not
/// about one report (no connection, timeout, 429, 5xx, 401, …), the rest are kept untried.
pub async fn flush(
    endpoint: &Endpoint,
    spool: &Spool,
    policy: &RetryPolicy,
) -> Result<FlushSummary, SpoolError> {
    let start = Instant::now();
    let mut summary = FlushSummary::default();
    let mut stop = false;
    for path in spool.pending()? {
        let Some(claim) = spool.claim(&path)? else {
            tracing::debug!("{}: another flush has it", path.display());
            continue;
        };
        let json = claim.read()?;
        if let Err(why) = check_report(&json) {
            let original = claim.original();
            let aside = claim.set_aside()?;
            tracing::warn!(
                "{}: not a cimon run report ({why}); moved to {}",
                original.display(),
                aside.display()
            );
            summary.bad += 1;
            continue;
        }
        let remaining = policy.deadline.saturating_sub(start.elapsed());
        if stop || remaining.is_zero() {
            claim.release()?;
            summary.kept += 1;
            summary.untried += 1;
            continue;
        }
        let this = RetryPolicy {
            deadline: remaining,
            ..*policy
        };
        match endpoint.deliver(&json, &this).await {
            Ok(delivered) => {
                tracing::info!(
                    stored = ?delivered.stored,
                    "{}: delivered",
                    claim.original().display()
                );
                claim.delete()?;
                summary.sent += 1;
            }
            Err(failure) => {
                let kept = claim.release()?;
                tracing::warn!("{}: kept: {failure}", kept.display());
                summary.kept += 1;
                stop = !failure.refused_report();
            }
        }
    }
    Ok(summary)
}

/// Whether `json` is a run report cimon can send.
fn check_report(json: &[u8]) -> Result<(), String> {
    let report: RunReport = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    if report.schema != REPORT_SCHEMA {
        return Err(format!(
            "schema {:?}, expected {REPORT_SCHEMA:?}",
            report.schema
        ));
    }
    Ok(())
}
