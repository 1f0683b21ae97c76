//! Publishing on a forge: a check on the commit and an opt-in sticky comment on the pull
//! (merge) request. One file per forge behind [`Forge`]:
//!
//! - [`github`]: a check run (`POST /repos/{o}/{r}/check-runs` with the first 50 annotations,
//!   `PATCH …/check-runs/{id}` with the next batches), or a commit status
//!   (`POST /repos/{o}/{r}/statuses/{sha}`) where check runs are not allowed (403, or a token
//!   that is not a GitHub App's); the sticky comment over `…/issues/{pr}/comments`.
//! - [`gitlab`]: a commit status (`POST /projects/:id/statuses/:sha`); the sticky note over
//!   `…/merge_requests/:iid/notes`.
//! - [`limits`]: the forges' limits, applied before sending (pure).
//! - [`transport`]: octocrab over the shared HTTP client, answer classification, retries.
//!
//! The input is generic ([`CheckReport`], [`Comment`] from [`crate::model`]): `cimon gate`
//! builds them from its verdict. [`publish`] turns every failure into one warning unless the
//! caller is strict. Tokens are never logged nor part of an error; URLs are masked.

pub mod github;
pub mod gitlab;
pub mod limits;
pub mod transport;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use self::github::Github;
pub use self::gitlab::Gitlab;
use crate::ci::credentials::ApiCredentials;
use crate::ci::env::{self, Env};
use crate::delivery::RetryPolicy;
use crate::http::HttpConfig;
pub use crate::model::{
    Annotation, AnnotationLevel, CheckReport, Comment, Conclusion, DEFAULT_CHECK_NAME,
};

/// What kind of failure a forge request met (so that callers can explain it or decide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 401/403: the token may not do this (missing `checks: write`, `statuses: write`,
    /// `pull-requests: write`, or a read-only fork token).
    Permission,
    /// 404: no such repository, project, commit or pull request (or no read access).
    NotFound,
    /// 429, or GitHub's primary/secondary rate limit, still hit when the deadline came.
    RateLimit,
    /// Anything else: validation error, server error, network failure.
    Other,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Permission => "permission denied",
            Self::NotFound => "not found",
            Self::RateLimit => "rate limited",
            Self::Other => "failed",
        })
    }
}

/// A forge request failed. The message names the masked URL and never contains a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {kind}{}: {message}", status_suffix(*.status))]
pub struct ForgeError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// `VERB url` (masked), or what was being done.
    pub operation: String,
    /// The HTTP status, when the forge answered.
    pub status: Option<u16>,
    /// The forge's own message (one line), or the transport's.
    pub message: String,
}

fn status_suffix(status: Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

impl ForgeError {
    fn invalid(operation: &str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Other,
            operation: operation.to_owned(),
            status: None,
            message: message.into(),
        }
    }
}

/// How a check was published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// A GitHub check run.
    CheckRun {
        /// The check run's id.
        id: u64,
        /// Requests made (1 create + the updates carrying further annotations).
        requests: usize,
        /// Annotations sent.
        annotations: usize,
        /// Annotations left out (over [`limits::MAX_ANNOTATIONS`]).
        omitted_annotations: usize,
    },
    /// A commit status (GitLab, or GitHub where check runs are not allowed).
    CommitStatus {
        /// Why a GitHub check run was not used (`None` on GitLab).
        fallback_reason: Option<String>,
    },
}

/// What happened to a sticky comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentOutcome {
    /// A new comment (note) was created.
    Created {
        /// Its id.
        id: u64,
    },
    /// The existing comment (note) carrying the marker was updated.
    Updated {
        /// Its id.
        id: u64,
    },
    /// Nothing was written, for a reason that is not an error (a fork's read-only token).
    Skipped {
        /// One line for the log.
        notice: String,
    },
}

/// The future of a [`Forge`] call.
pub type ForgeFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ForgeError>> + Send + 'a>>;

/// A forge cimon publishes on.
pub trait Forge: Send + Sync {
    /// `github` or `gitlab`.
    fn kind(&self) -> &'static str;
    /// Publishes `check` on its commit (retrying transient failures within the deadline).
    fn publish_check<'a>(&'a self, check: &'a CheckReport) -> ForgeFuture<'a, Published>;
    /// Creates or updates the sticky comment of pull (merge) request `number`.
    fn upsert_comment<'a>(
        &'a self,
        number: u64,
        comment: &'a Comment,
    ) -> ForgeFuture<'a, CommentOutcome>;
}

/// The settings every forge shares.
#[derive(Debug, Clone)]
pub struct ForgeSettings {
    /// Timeouts and CA roots of the shared HTTP client.
    pub http: HttpConfig,
    /// Retries of each request.
    pub retry: RetryPolicy,
}

impl Default for ForgeSettings {
    fn default() -> Self {
        Self {
            http: HttpConfig::default(),
            retry: RetryPolicy::with_deadline(Duration::from_secs(60)),
        }
    }
}

/// The forge of this CI run, from the environment: GitHub when `GITHUB_ACTIONS=true`,
/// `GITHUB_REPOSITORY` and a GitHub token are present (API at `GITHUB_API_URL`, for GHES);
/// GitLab when `GITLAB_CI=true`, `CI_PROJECT_ID` and `CIMON_GITLAB_TOKEN` are present (API at
/// `CI_API_V4_URL`). `None` otherwise (Jenkins, no token).
pub fn forge_from_env(
    env: &Env,
    creds: &ApiCredentials,
    settings: &ForgeSettings,
) -> Option<Box<dyn Forge>> {
    if env.is_true(env::GITHUB_ACTIONS) {
        let repo = env.get(env::GITHUB_REPOSITORY)?;
        let token = creds.github_token.clone()?;
        let api = env
            .get(env::GITHUB_API_URL)
            .unwrap_or(github::DEFAULT_API_URL);
        return Some(Box::new(Github::new(api, repo, token, settings.clone())));
    }
    if env.is_true(env::GITLAB_CI) {
        let project = env.get(env::CI_PROJECT_ID)?;
        let token = creds.gitlab_token.clone()?;
        let api = env.get(env::CI_API_V4_URL).map(str::to_owned).or_else(|| {
            env.get(env::CI_SERVER_URL)
                .map(|s| format!("{}/api/v4", s.trim_end_matches('/')))
        })?;
        let mut forge = Gitlab::new(&api, project, token, settings.clone());
        forge.pipeline_id = env.get_parsed(env::CI_PIPELINE_ID);
        return Some(Box::new(forge));
    }
    None
}

/// What [`publish`] did: each part's outcome, and the warnings for the report.
#[derive(Debug, Clone, Default)]
pub struct PublishReport {
    /// The check, when it was published.
    pub check: Option<Published>,
    /// The comment, when one was asked for and written (or skipped with a notice).
    pub comment: Option<CommentOutcome>,
    /// One line per failure (non-strict mode) and per notice.
    pub warnings: Vec<String>,
}

/// Publishes `check` and, when given, the sticky `comment` on pull (merge) request
/// `number`. Not strict: every failure becomes one warning and the result is `Ok`. Strict:
/// the first failure is returned (a skipped fork comment is a notice, never an error).
pub async fn publish(
    forge: &dyn Forge,
    check: &CheckReport,
    comment: Option<(u64, &Comment)>,
    strict: bool,
) -> Result<PublishReport, ForgeError> {
    let mut report = PublishReport::default();
    match forge.publish_check(check).await {
        Ok(published) => {
            if let Published::CommitStatus {
                fallback_reason: Some(reason),
            } = &published
            {
                tracing::info!(
                    "{}: commit status instead of a check run: {reason}",
                    forge.kind()
                );
            }
            report.check = Some(published);
        }
        Err(error) if !strict => {
            let line = format!(
                "{}: cannot publish check {:?}: {error}",
                forge.kind(),
                check.name
            );
            tracing::warn!("{line}");
            report.warnings.push(line);
        }
        Err(error) => return Err(error),
    }
    if let Some((number, comment)) = comment {
        match forge.upsert_comment(number, comment).await {
            Ok(outcome) => {
                if let CommentOutcome::Skipped { notice } = &outcome {
                    tracing::warn!("{notice}");
                    report.warnings.push(notice.clone());
                }
                report.comment = Some(outcome);
            }
            Err(error) if !strict => {
                let line = format!("{}: cannot write the comment: {error}", forge.kind());
                tracing::warn!("{line}");
                report.warnings.push(line);
            }
            Err(error) => return Err(error),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::credentials_from_env;

    #[test]
    fn the_forge_follows_the_ci_and_needs_a_token() {
        let pick = |pairs: &[(&str, &str)]| {
            let env = Env::from_pairs(pairs.iter().copied());
            forge_from_env(&env, &credentials_from_env(&env), &ForgeSettings::default())
                .map(|f| f.kind())
        };
        let github = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "octo/app"),
            ("GITHUB_TOKEN", "ghs_x"),
        ];
        assert_eq!(pick(&github), Some("github"));
        assert_eq!(pick(&github[..2]), None, "no token");
        assert_eq!(pick(&[github[0], github[2]]), None, "no repository");
        let gitlab = [
            ("GITLAB_CI", "true"),
            ("CI_PROJECT_ID", "1"),
            ("CI_SERVER_URL", "https://gitlab.example.com"),
            ("CIMON_GITLAB_TOKEN", "glpat-x"),
        ];
        assert_eq!(pick(&gitlab), Some("gitlab"));
        assert_eq!(pick(&gitlab[..3]), None, "CI_JOB_TOKEN is not enough");
        assert_eq!(
            pick(&[("JENKINS_URL", "https://ci"), ("BUILD_URL", "https://ci/1")]),
            None
        );
    }

    #[test]
    fn errors_say_what_where_and_how() {
        let e = ForgeError {
            kind: ErrorKind::Permission,
            operation: "POST https://api.github.com/repos/o/r/check-runs".into(),
            status: Some(403),
            message: "Resource not accessible by integration".into(),
        };
        assert_eq!(
            e.to_string(),
            "POST https://api.github.com/repos/o/r/check-runs: permission denied (HTTP 403): \
             Resource not accessible by integration"
        );
    }
}
