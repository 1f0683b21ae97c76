//! GitHub (github.com and GHES at `GITHUB_API_URL`): check runs, the commit-status fallback
//! and the sticky pull-request comment, through octocrab ([`super::transport`]).
//!
//! - Check run: `POST /repos/{o}/{r}/check-runs` with `status: completed`, the conclusion,
//!   `output.{title, summary, text}` and the first 50 annotations, then
//!   `PATCH /repos/{o}/{r}/check-runs/{id}` with each next batch of 50 (the output's title,
//!   summary and text are sent again: GitHub requires `title` and `summary` in an `output`).
//!   Only GitHub Apps can create check runs (`GITHUB_TOKEN` is one, with `checks: write`).
//! - Commit status, when check runs are not allowed: the token is a personal access token
//!   (`ghp_`, `github_pat_`) or an OAuth/user token (`gho_`, `ghu_`) — known from its
//!   prefix, no request made — or the create request answers 403 (e.g. "Resource not
//!   accessible by integration"): `POST /repos/{o}/{r}/statuses/{sha}` with `state`
//!   (`success` for success and neutral, `failure`), `context` = the check's name,
//!   `description` (≤ 140 characters, from the title), `target_url` = the details URL.
//! - Sticky comment: the first comment carrying the marker line, searched page by page
//!   (`GET /repos/{o}/{r}/issues/{pr}/comments?per_page=100`, `Link: rel="next"`), is
//!   updated (`PATCH /repos/{o}/{r}/issues/comments/{id}`); otherwise one is created
//!   (`POST /repos/{o}/{r}/issues/{pr}/comments`), also when the update is refused (a
//!   comment someone else wrote with the marker). A 403 on creating (a fork's read-only
//!   token) is a notice, not an error.

use serde::Deserialize;
use serde_json::{json, Value};

use super::limits::{
    self, annotation_batches, marked_body, marker_line, one_line, truncate_bytes,
    truncate_markdown, ANNOTATION_TEXT_LIMIT, ANNOTATION_TITLE_LIMIT, CHECK_OUTPUT_LIMIT,
    GITHUB_COMMENT_LIMIT, GITHUB_STATUS_DESCRIPTION_LIMIT,
};
use super::transport::{github_client, github_once, operation, with_retry, Answer, Verb};
use super::{
    CheckReport, Comment, CommentOutcome, Conclusion, ErrorKind, Forge, ForgeError, ForgeFuture,
    ForgeSettings, Published,
};
use crate::http::{same_origin, Secret};
use crate::model::Annotation;

/// The API of github.com.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The most comment pages searched for the marker (100 comments each).
pub const MAX_COMMENT_PAGES: usize = 50;

/// What a token's prefix says about check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `ghs_`: a GitHub App installation token (`GITHUB_TOKEN`): may create check runs.
    App,
    /// `ghp_`, `github_pat_`, `gho_`, `ghu_`: cannot create check runs.
    NotApp,
    /// Another format (older GHES tokens): try, and fall back on 403.
    Unknown,
}

/// The kind of `token`, from its documented prefix.
pub fn token_kind(token: &Secret) -> TokenKind {
    let t = token.expose();
    if t.starts_with("ghs_") {
        TokenKind::App
    } else if ["ghp_", "github_pat_", "gho_", "ghu_"]
        .iter()
        .any(|p| t.starts_with(p))
    {
        TokenKind::NotApp
    } else {
        TokenKind::Unknown
    }
}

/// GitHub as a [`Forge`] for one repository.
#[derive(Debug, Clone)]
pub struct Github {
    api: String,
    repository: String,
    token: Secret,
    settings: ForgeSettings,
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct WireComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
}

impl Github {
    /// GitHub at `api` (`https://api.github.com`, or GHES' `https://host/api/v3`) for
    /// `repository` (`owner/name`).
    pub fn new(api: &str, repository: &str, token: Secret, settings: ForgeSettings) -> Self {
        Self {
            api: api.trim().trim_end_matches('/').to_owned(),
            repository: repository.trim().to_owned(),
            token,
            settings,
        }
    }

    fn repo_url(&self, rest: &str) -> Result<String, ForgeError> {
        if !crate::ci::github::valid_repository(&self.repository) {
            return Err(ForgeError::invalid(
                "GitHub",
                format!("repository {:?} is not `owner/name`", self.repository),
            ));
        }
        Ok(format!("{}/repos/{}/{rest}", self.api, self.repository))
    }

    async fn send(
        &self,
        octo: &octocrab::Octocrab,
        verb: Verb,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ForgeError> {
        with_retry(&self.settings.retry, &operation(verb, url), || {
            github_once(octo, verb, url, body, &self.token)
        })
        .await
    }

    async fn check(&self, check: &CheckReport) -> Result<Published, ForgeError> {
        let sha = valid_sha(&check.head_sha)?;
        let octo = github_client(&self.token, &self.settings.http)?;
        if token_kind(&self.token) == TokenKind::NotApp {
            let reason = "the token is not a GitHub App token (only apps create check runs)";
            return self.status(&octo, check, sha, reason.into()).await;
        }
        let (batches, omitted) = annotation_batches(&check.annotations);
        let mut summary = check.summary.clone();
        if omitted > 0 {
            summary.push_str(&format!(
                "\n\n_{omitted} more annotations were not sent (cimon sends at most {})._\n",
                limits::MAX_ANNOTATIONS
            ));
        }
        let output = |batch: &[Annotation]| {
            let mut output = json!({
                "title": one_line(&check.title, ANNOTATION_TITLE_LIMIT),
                "summary": truncate_markdown(&summary, CHECK_OUTPUT_LIMIT),
                "annotations": batch.iter().map(annotation_json).collect::<Vec<_>>(),
            });
            if let Some(text) = &check.text {
                output["text"] = json!(truncate_markdown(text, CHECK_OUTPUT_LIMIT));
            }
            output
        };
        let mut create = json!({
            "name": check.name,
            "head_sha": sha,
            "status": "completed",
            "conclusion": check.conclusion.as_str(),
            "output": output(batches.first().copied().unwrap_or(&[])),
        });
        if let Some(url) = &check.details_url {
            create["details_url"] = json!(url);
        }
        let url = self.repo_url("check-runs")?;
        let answer = match self.send(&octo, Verb::Post, &url, Some(&create)).await {
            Ok(answer) => answer,
            Err(e) if e.kind == ErrorKind::Permission => {
                let reason = format!("check run refused: {}", e.message);
                return self.status(&octo, check, sha, reason).await;
            }
            Err(e) => return Err(e),
        };
        let id = serde_json::from_str::<Created>(&answer.body)
            .map_err(|e| ForgeError::invalid(&operation(Verb::Post, &url), e.to_string()))?
            .id;
        let update_url = self.repo_url(&format!("check-runs/{id}"))?;
        for (i, batch) in batches.iter().enumerate().skip(1) {
            let body = json!({ "output": output(batch) });
            self.send(&octo, Verb::Patch, &update_url, Some(&body))
                .await
                .map_err(|mut e| {
                    e.message = format!(
                        "{} (check run {id} created; annotations from #{} on not sent)",
                        e.message,
                        i * limits::ANNOTATIONS_PER_REQUEST + 1
                    );
                    e
                })?;
        }
        let sent: usize = batches.iter().map(|b| b.len()).sum();
        Ok(Published::CheckRun {
            id,
            requests: batches.len().max(1),
            annotations: sent,
            omitted_annotations: omitted,
        })
    }

    async fn status(
        &self,
        octo: &octocrab::Octocrab,
        check: &CheckReport,
        sha: &str,
        reason: String,
    ) -> Result<Published, ForgeError> {
        let state = match check.conclusion {
            Conclusion::Success | Conclusion::Neutral => "success",
            Conclusion::Failure => "failure",
        };
        let mut body = json!({
            "state": state,
            "context": check.name,
            "description": one_line(&check.title, GITHUB_STATUS_DESCRIPTION_LIMIT),
        });
        if let Some(url) = &check.details_url {
            body["target_url"] = json!(url);
        }
        let url = self.repo_url(&format!("statuses/{sha}"))?;
        self.send(octo, Verb::Post, &url, Some(&body)).await?;
        Ok(Published::CommitStatus {
            fallback_reason: Some(reason),
        })
    }

    async fn comment(&self, number: u64, comment: &Comment) -> Result<CommentOutcome, ForgeError> {
        let line = marker_line(&comment.marker)
            .map_err(|e| ForgeError::invalid("GitHub comment", e.to_string()))?;
        let body = json!({ "body": marked_body(&line, &comment.body, GITHUB_COMMENT_LIMIT) });
        let octo = github_client(&self.token, &self.settings.http)?;
        let first = self.repo_url(&format!("issues/{number}/comments?per_page=100"))?;
        let existing = self.find_marked(&octo, &first, &line).await?;
        let read_only = |e: &ForgeError| CommentOutcome::Skipped {
            notice: format!(
                "GitHub: not commenting on pull request #{number}: the token may not write \
                 comments ({}); pull requests from forks get a read-only token, otherwise grant \
                 `pull-requests: write`. The verdict is in the check and the job summary.",
                e.message
            ),
        };
        if let Some(id) = existing {
            let url = self.repo_url(&format!("issues/comments/{id}"))?;
            match self.send(&octo, Verb::Patch, &url, Some(&body)).await {
                Ok(_) => return Ok(CommentOutcome::Updated { id }),
                // Someone else's comment carrying the marker, or a deleted one: create ours.
                Err(e) if matches!(e.kind, ErrorKind::Permission | ErrorKind::NotFound) => {
                    tracing::debug!("cannot update comment {id} ({e}); creating one");
                }
                Err(e) => return Err(e),
            }
        }
        let url = self.repo_url(&format!("issues/{number}/comments"))?;
        match self.send(&octo, Verb::Post, &url, Some(&body)).await {
            Ok(answer) => {
                let id = serde_json::from_str::<Created>(&answer.body)
                    .map_err(|e| ForgeError::invalid(&operation(Verb::Post, &url), e.to_string()))?
                    .id;
                Ok(CommentOutcome::Created { id })
            }
            Err(e) if e.kind == ErrorKind::Permission => Ok(read_only(&e)),
            Err(e) => Err(e),
        }
    }

    /// The id of the first comment carrying `line`, following `rel="next"` on this origin.
    async fn find_marked(
        &self,
        octo: &octocrab::Octocrab,
        first: &str,
        line: &str,
    ) -> Result<Option<u64>, ForgeError> {
        let mut url = first.to_owned();
        for _ in 0..MAX_COMMENT_PAGES {
            let answer = self.send(octo, Verb::Get, &url, None).await?;
            let page: Vec<WireComment> = serde_json::from_str(&answer.body)
                .map_err(|e| ForgeError::invalid(&operation(Verb::Get, &url), e.to_string()))?;
            if let Some(found) = page.iter().find(|c| {
                c.body
                    .as_deref()
                    .is_some_and(|b| limits::has_marker(b, line))
            }) {
                return Ok(Some(found.id));
            }
            match answer.next {
                Some(next) if same_origin(&next, first) => url = next,
                _ => break,
            }
        }
        Ok(None)
    }
}

/// `sha` when it is a full hexadecimal commit id (40, or 64 for SHA-256 repositories).
fn valid_sha(sha: &str) -> Result<&str, ForgeError> {
    let sha = sha.trim();
    if matches!(sha.len(), 40 | 64) && sha.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(sha)
    } else {
        Err(ForgeError::invalid(
            "GitHub check",
            format!("head_sha {:?} is not a full commit id", one_line(sha, 80)),
        ))
    }
}

fn annotation_json(a: &Annotation) -> Value {
    let start = a.start_line.max(1);
    let mut v = json!({
        "path": a.path,
        "start_line": start,
        "end_line": a.end_line.max(start),
        "annotation_level": a.level.as_str(),
        "message": truncate_bytes(&a.message, ANNOTATION_TEXT_LIMIT),
    });
    if let Some(title) = &a.title {
        v["title"] = json!(one_line(title, ANNOTATION_TITLE_LIMIT));
    }
    if let Some(details) = &a.raw_details {
        v["raw_details"] = json!(truncate_bytes(details, ANNOTATION_TEXT_LIMIT));
    }
    v
}

impl Forge for Github {
    fn kind(&self) -> &'static str {
        "github"
    }

    fn publish_check<'a>(&'a self, check: &'a CheckReport) -> ForgeFuture<'a, Published> {
        Box::pin(self.check(check))
    }

    fn upsert_comment<'a>(
        &'a self,
        number: u64,
        comment: &'a Comment,
    ) -> ForgeFuture<'a, CommentOutcome> {
        Box::pin(self.comment(number, comment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AnnotationLevel;

    #[test]
    fn token_kinds() {
        let table = [
            ("ghs_abc", TokenKind::App),
            ("ghp_abc", TokenKind::NotApp),
            ("github_pat_11A", TokenKind::NotApp),
            ("gho_x", TokenKind::NotApp),
            ("ghu_x", TokenKind::NotApp),
            (
                "0123456789abcdef0123456789abcdef01234567",
                TokenKind::Unknown,
            ),
        ];
        for (token, kind) in table {
            assert_eq!(token_kind(&Secret::new(token)), kind, "{token}");
        }
    }

    #[test]
    fn shas_and_repositories_are_checked_before_any_url_is_built() {
        assert!(valid_sha(&"a".repeat(40)).is_ok());
        assert!(valid_sha(&"A1".repeat(32)).is_ok());
        for bad in ["", "abc", "../../x", &"g".repeat(40)] {
            assert!(valid_sha(bad).is_err(), "{bad}");
        }
        let forge = |repo: &str| {
            Github::new(
                DEFAULT_API_URL,
                repo,
                Secret::new("t"),
                ForgeSettings::default(),
            )
        };
        assert_eq!(
            forge("octo/app").repo_url("check-runs").unwrap(),
            "https://api.github.com/repos/octo/app/check-runs"
        );
        for bad in ["octo", "octo/app/x", "../app", "octo/a?b"] {
            assert!(forge(bad).repo_url("x").is_err(), "{bad}");
        }
    }

    #[test]
    fn annotations_are_clamped_to_github_limits() {
        let a = Annotation {
            path: "src/a.rs".into(),
            start_line: 0,
            end_line: 0,
            level: AnnotationLevel::Failure,
            title: Some("t\n".repeat(300)),
            message: "é".repeat(40_000),
            raw_details: Some("x".repeat(70_000)),
        };
        let v = annotation_json(&a);
        assert_eq!(v["start_line"], 1);
        assert_eq!(v["end_line"], 1);
        assert_eq!(v["annotation_level"], "failure");
        assert!(v["message"].as_str().unwrap().len() <= ANNOTATION_TEXT_LIMIT);
        assert!(v["raw_details"].as_str().unwrap().len() <= ANNOTATION_TEXT_LIMIT);
        let title = v["title"].as_str().unwrap();
        assert_eq!(title.chars().count(), ANNOTATION_TITLE_LIMIT);
        assert!(!title.contains('\n'));
    }
}
