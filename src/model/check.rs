//! What cimon publishes on a forge: a check (GitHub check run, or a commit status where check
//! runs are not allowed; GitLab commit status) and a sticky pull-request comment. Plain data,
//! generic over who produced it (the `gate` verdict, later others); `crate::forge` sends it.

use serde::{Deserialize, Serialize};

/// The check's name when the caller gives none (what branch protection requires).
pub const DEFAULT_CHECK_NAME: &str = "cimon / flakiness";

/// A check to publish on one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The check's name (GitHub check run name / status context, GitLab status name).
    pub name: String,
    /// The commit the check is attached to (for a pull request: its head commit).
    pub head_sha: String,
    /// The result.
    pub conclusion: Conclusion,
    /// A one-line title (check run output title; the status description is derived from it).
    pub title: String,
    /// The summary, Markdown. Truncated to the forge's limit with a visible notice.
    pub summary: String,
    /// Details below the summary, Markdown (GitHub check runs only).
    pub text: Option<String>,
    /// Line annotations (GitHub check runs only).
    pub annotations: Vec<Annotation>,
    /// Where the details are (the job's page); the status' target URL.
    pub details_url: Option<String>,
}

impl CheckReport {
    /// A check named [`DEFAULT_CHECK_NAME`] with no text, annotations or details URL.
    pub fn new(
        head_sha: impl Into<String>,
        conclusion: Conclusion,
        title: impl Into<String>,
        summary: impl Into<String>,
    ) -> Self {
        Self {
            name: DEFAULT_CHECK_NAME.to_owned(),
            head_sha: head_sha.into(),
            conclusion,
            title: title.into(),
            summary: summary.into(),
            text: None,
            annotations: Vec::new(),
            details_url: None,
        }
    }
}

/// The result of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Conclusion {
    /// Passed.
    Success,
    /// Neither passed nor failed (a warning): does not block a merge.
    Neutral,
    /// Failed: blocks a merge when the check is required.
    Failure,
}

impl Conclusion {
    /// GitHub's check run `conclusion`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Neutral => "neutral",
            Self::Failure => "failure",
        }
    }
}

/// A line annotation of a check run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Annotation {
    /// The file, relative to the repository root.
    pub path: String,
    /// First line (1-based).
    pub start_line: u32,
    /// Last line (at least `start_line`).
    pub end_line: u32,
    /// How serious.
    pub level: AnnotationLevel,
    /// A short title.
    pub title: Option<String>,
    /// The message (plain text).
    pub message: String,
    /// Details shown on demand (plain text).
    pub raw_details: Option<String>,
}

/// The level of an [`Annotation`] (GitHub's `annotation_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnnotationLevel {
    /// Information.
    Notice,
    /// A warning.
    Warning,
    /// A failure.
    Failure,
}

impl AnnotationLevel {
    /// GitHub's `annotation_level`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notice => "notice",
            Self::Warning => "warning",
            Self::Failure => "failure",
        }
    }
}

/// A sticky comment: one per pull request (merge request) and marker, updated in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// What identifies the comment among others (`flakiness` → `<!-- cimon:flakiness -->`):
    /// letters, digits, `.`, `_`, `-` and `/`.
    pub marker: String,
    /// The body, Markdown, without the marker (it is added).
    pub body: String,
}
