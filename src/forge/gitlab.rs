//! GitLab (`CI_API_V4_URL`, token `CIMON_GITLAB_TOKEN` sent as `PRIVATE-TOKEN`; the job
//! token cannot use these endpoints): the commit status and the sticky merge-request note.
//!
//! - Commit status: `POST /projects/:id/statuses/:sha` with `state` (GitLab's documented
//!   states are `pending`, `running`, `success`, `failed`, `canceled`, `skipped`; cimon
//!   sends `success` for success and neutral, `failed` for failure), `name` = the check's
//!   name, `description` (≤ 255 characters, from the title), `target_url` and, inside a
//!   pipeline, `pipeline_id` (so the status joins this pipeline rather than the latest one
//!   of the commit). Annotations and the Markdown summary have no place in a status.
//! - Sticky note: the first note carrying the marker line, searched page by page
//!   (`GET /projects/:id/merge_requests/:iid/notes?per_page=100&sort=asc&order_by=created_at`,
//!   `Link: rel="next"` or `X-Next-Page`), is updated (`PUT …/notes/:note_id`); otherwise one is
//!   created (`POST …/notes`), also when the update is refused (someone else's note with
//!   the marker). A 403 on creating is a notice, not an error.

use serde::Deserialize;
use serde_json::{json, Value};

use super::limits::{
    has_marker, marked_body, marker_line, one_line, GITLAB_NOTE_LIMIT,
    GITLAB_STATUS_DESCRIPTION_LIMIT,
};
use super::transport::{gitlab_once, operation, with_retry, Answer, Verb};
use super::{
    CheckReport, Comment, CommentOutcome, Conclusion, ErrorKind, Forge, ForgeError, ForgeFuture,
    ForgeSettings, Published,
};
use crate::http::{client_for, same_origin, Secret};

/// The most note pages searched for the marker (100 notes each).
pub const MAX_NOTE_PAGES: usize = 50;

/// GitLab as a [`Forge`] for one project.
#[derive(Debug, Clone)]
pub struct Gitlab {
    api: String,
    project: String,
    token: Secret,
    settings: ForgeSettings,
    /// The pipeline the status belongs to (`CI_PIPELINE_ID`), when known.
    pub pipeline_id: Option<u64>,
}

#[derive(Deserialize)]
struct WireNote {
    id: u64,
    #[serde(default)]
    body: Option<String>,
}

impl Gitlab {
    /// GitLab at `api` (`https://gitlab.example.com/api/v4`) for `project`: its numeric id or
    /// its path (`group/app`, URL-encoded here).
    pub fn new(api: &str, project: &str, token: Secret, settings: ForgeSettings) -> Self {
        Self {
            api: api.trim().trim_end_matches('/').to_owned(),
            project: encode_project(project.trim()),
            token,
            settings,
            pipeline_id: None,
        }
    }

    fn project_url(&self, rest: &str) -> String {
        format!("{}/projects/{}/{rest}", self.api, self.project)
    }

    async fn send(
        &self,
        verb: Verb,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ForgeError> {
        let client = client_for(&self.settings.http).map_err(|e| ForgeError {
            kind: ErrorKind::Other,
            operation: "GitLab client".into(),
            status: None,
            message: e.to_string(),
        })?;
        with_retry(&self.settings.retry, &operation(verb, url), || {
            gitlab_once(&client, verb, url, body, &self.token)
        })
        .await
    }

    async fn status(&self, check: &CheckReport) -> Result<Published, ForgeError> {
        let sha = check.head_sha.trim();
        if !(matches!(sha.len(), 40 | 64) && sha.chars().all(|c| c.is_ascii_hexdigit())) {
            return Err(ForgeError::invalid(
                "GitLab status",
                format!("head_sha {:?} is not a full commit id", one_line(sha, 80)),
            ));
        }
        let state = match check.conclusion {
            Conclusion::Success | Conclusion::Neutral => "success",
            Conclusion::Failure => "failed",
        };
        let mut body = json!({
            "state": state,
            "name": check.name,
            "description": one_line(&check.title, GITLAB_STATUS_DESCRIPTION_LIMIT),
        });
        if let Some(url) = &check.details_url {
            body["target_url"] = json!(url);
        }
        if let Some(id) = self.pipeline_id {
            body["pipeline_id"] = json!(id);
        }
        let url = self.project_url(&format!("statuses/{sha}"));
        self.send(Verb::Post, &url, Some(&body)).await?;
        Ok(Published::CommitStatus {
            fallback_reason: None,
        })
    }

    async fn note(&self, iid: u64, comment: &Comment) -> Result<CommentOutcome, ForgeError> {
        let line = marker_line(&comment.marker)
            .map_err(|e| ForgeError::invalid("GitLab note", e.to_string()))?;
        let body = json!({ "body": marked_body(&line, &comment.body, GITLAB_NOTE_LIMIT) });
        let notes = self.project_url(&format!("merge_requests/{iid}/notes"));
        let first = format!("{notes}?per_page=100&sort=asc&order_by=created_at");
        let existing = self.find_marked(&first, &line).await?;
        let read_only = |e: &ForgeError| CommentOutcome::Skipped {
            notice: format!(
                "GitLab: not writing a note on merge request !{iid}: the token may not ({}); \
                 give CIMON_GITLAB_TOKEN the `api` scope and at least the Reporter role.",
                e.message
            ),
        };
        if let Some(id) = existing {
            let url = format!("{notes}/{id}");
            match self.send(Verb::Put, &url, Some(&body)).await {
                Ok(_) => return Ok(CommentOutcome::Updated { id }),
                // Someone else's note carrying the marker, or a deleted one: create ours.
                Err(e) if matches!(e.kind, ErrorKind::Permission | ErrorKind::NotFound) => {
                    tracing::debug!("cannot update note {id} ({e}); creating one");
                }
                Err(e) => return Err(e),
            }
        }
        match self.send(Verb::Post, &notes, Some(&body)).await {
            Ok(answer) => {
                let note: WireNote = serde_json::from_str(&answer.body).map_err(|e| {
                    ForgeError::invalid(&operation(Verb::Post, &notes), e.to_string())
                })?;
                Ok(CommentOutcome::Created { id: note.id })
            }
            Err(e) if e.kind == ErrorKind::Permission => Ok(read_only(&e)),
            Err(e) => Err(e),
        }
    }

    async fn find_marked(&self, first: &str, line: &str) -> Result<Option<u64>, ForgeError> {
        let mut url = first.to_owned();
        for _ in 0..MAX_NOTE_PAGES {
            let answer = self.send(Verb::Get, &url, None).await?;
            let page: Vec<WireNote> = serde_json::from_str(&answer.body)
                .map_err(|e| ForgeError::invalid(&operation(Verb::Get, &url), e.to_string()))?;
            if let Some(found) = page
                .iter()
                .find(|n| n.body.as_deref().is_some_and(|b| has_marker(b, line)))
            {
                return Ok(Some(found.id));
            }
            let next = match (answer.next, answer.next_page) {
                (Some(next), _) => Some(next),
                (None, Some(page)) if page.chars().all(|c| c.is_ascii_digit()) => {
                    Some(format!("{first}&page={page}"))
                }
                _ => None,
            };
            match next {
                Some(next) if same_origin(&next, first) => url = next,
                _ => break,
            }
        }
        Ok(None)
    }
}

/// A project id as a path segment: digits as is, a path URL-encoded (`group/app` →
/// `group%2Fapp`).
fn encode_project(project: &str) -> String {
    project
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Forge for Gitlab {
    fn kind(&self) -> &'static str {
        "gitlab"
    }

    fn publish_check<'a>(&'a self, check: &'a CheckReport) -> ForgeFuture<'a, Published> {
        Box::pin(self.status(check))
    }

    fn upsert_comment<'a>(
        &'a self,
        number: u64,
        comment: &'a Comment,
    ) -> ForgeFuture<'a, CommentOutcome> {
        Box::pin(self.note(number, comment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids_and_paths() {
        assert_eq!(encode_project("42"), "42");
        assert_eq!(encode_project("group/sub/app"), "group%2Fsub%2Fapp");
        assert_eq!(encode_project("a b?#"), "a%20b%3F%23");
        let forge = Gitlab::new(
            "https://gitlab.example.com/api/v4/",
            "group/app",
            Secret::new("glpat-x"),
            ForgeSettings::default(),
        );
        assert_eq!(
            forge.project_url("statuses/abc"),
            "https://gitlab.example.com/api/v4/projects/group%2Fapp/statuses/abc"
        );
    }
}
