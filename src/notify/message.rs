//! What a notification says: a [`Message`] built from a run report and the [`Event`] that
//! triggered it. Plain data; every channel renders it in its own format.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{RunOutcome, RunReport, TestSummary};
use crate::output::{first_message_line, full_name};

/// Why a notification is sent.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The pipeline went from passing (or unknown) to failing.
    Failure,
    /// The pipeline went from failing to passing.
    Fixed,
    /// The pipeline failed again (sent again only after `repeat_interval`).
    StillFailing,
    /// A test failed and then passed on a retry.
    Flaky,
    /// The merge gate said no.
    GateFailed,
    /// The pipeline passed (off by default).
    Success,
}

impl Event {
    /// Every event, in documentation order.
    pub const ALL: [Event; 6] = [
        Event::Failure,
        Event::Fixed,
        Event::StillFailing,
        Event::Flaky,
        Event::GateFailed,
        Event::Success,
    ];

    /// The word used in `.cimon.yml` and `--event`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failure => "failure",
            Self::Fixed => "fixed",
            Self::StillFailing => "still_failing",
            Self::Flaky => "flaky",
            Self::GateFailed => "gate_failed",
            Self::Success => "success",
        }
    }

    /// Parses the word used in `.cimon.yml` and `--event`.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == word)
    }

    /// A short phrase for titles ("failed", "is fixed", …).
    pub fn phrase(self) -> &'static str {
        match self {
            Self::Failure => "failed",
            Self::Fixed => "is fixed",
            Self::StillFailing => "is still failing",
            Self::Flaky => "has flaky tests",
            Self::GateFailed => "was blocked by the gate",
            Self::Success => "passed",
        }
    }

    /// An emoji for titles.
    pub fn icon(self) -> &'static str {
        match self {
            Self::Failure | Self::StillFailing => "❌",
            Self::Fixed | Self::Success => "✅",
            Self::Flaky => "⚠️",
            Self::GateFailed => "⛔",
        }
    }
}

/// One test in a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestLine {
    /// `classname.name`.
    pub name: String,
    /// The first line of its failure message.
    pub message: Option<String>,
    /// Attempts in the run.
    pub attempts: u32,
}

/// The gate's verdict, when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateNote {
    /// True when the gate let the change in.
    pub passed: bool,
    /// One line per reason.
    pub reasons: Vec<String>,
}

/// Everything a channel needs to say about a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Why it is sent.
    pub event: Event,
    /// The job's outcome.
    pub outcome: RunOutcome,
    /// Repository.
    pub repository: Option<String>,
    /// Workflow.
    pub workflow: Option<String>,
    /// Job.
    pub job: Option<String>,
    /// Branch.
    pub branch: Option<String>,
    /// Full commit SHA.
    pub sha: Option<String>,
    /// Pull/merge request number.
    pub pull_request: Option<u64>,
    /// Link to the run.
    pub run_url: Option<String>,
    /// Link to the commit, where the CI's URL scheme allows one.
    pub commit_url: Option<String>,
    /// The job's duration.
    pub duration_ms: Option<u64>,
    /// The median duration of recent runs of the same pipeline, when history is known.
    pub median_duration_ms: Option<u64>,
    /// Test counts.
    pub tests: TestSummary,
    /// Every failed or errored test, in report order (channels show the first few and say
    /// "and N more").
    pub failed: Vec<TestLine>,
    /// Every flaky test.
    pub flaky: Vec<TestLine>,
    /// The gate's verdict.
    pub gate: Option<GateNote>,
}

impl Message {
    /// Builds the message for `event` about `report`.
    pub fn from_report(report: &RunReport, event: Event) -> Self {
        let line = |c: &crate::model::TestCase| TestLine {
            name: full_name(c),
            message: first_message_line(c).map(|m| crate::junit::text::clip(m, 500).0.to_string()),
            attempts: c.attempts.len() as u32,
        };
        Self {
            event,
            outcome: report.outcome,
            repository: report.repository.clone(),
            workflow: report.workflow.clone(),
            job: report.job.clone(),
            branch: report.commit.branch.clone(),
            sha: report.commit.sha.clone(),
            pull_request: report.commit.pull_request,
            run_url: report.url.clone(),
            commit_url: commit_url(report),
            duration_ms: report.duration_ms,
            median_duration_ms: None,
            tests: report.tests.summary,
            failed: report
                .tests
                .cases
                .iter()
                .filter(|c| c.outcome.is_failure())
                .map(line)
                .collect(),
            flaky: report
                .tests
                .cases
                .iter()
                .filter(|c| c.flaky)
                .map(line)
                .collect(),
            gate: None,
        }
    }

    /// `❌ octo/app · CI › build failed on main` — plain text; channels escape it.
    pub fn title(&self) -> String {
        let what = [
            self.repository.as_deref(),
            self.workflow.as_deref(),
            self.job.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" › ");
        let what = if what.is_empty() {
            "CI run".to_string()
        } else {
            what
        };
        match &self.branch {
            Some(b) => format!(
                "{} {what} {} on {b}",
                self.event.icon(),
                self.event.phrase()
            ),
            None => format!("{} {what} {}", self.event.icon(), self.event.phrase()),
        }
    }

    /// The first 7 characters of the SHA.
    pub fn short_sha(&self) -> Option<&str> {
        self.sha.as_deref().map(|s| &s[..s.len().min(7)])
    }

    /// `12 failed, 1 errored, 300 passed, 2 skipped, 1 flaky of 316 tests`.
    pub fn counts(&self) -> String {
        let t = &self.tests;
        let mut parts = Vec::new();
        for (n, what) in [
            (t.failed, "failed"),
            (t.errored, "errored"),
            (t.passed, "passed"),
            (t.skipped, "skipped"),
            (t.flaky, "flaky"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if parts.is_empty() {
            "no tests".into()
        } else {
            format!("{} of {} tests", parts.join(", "), t.total)
        }
    }

    /// `4m12s (median 3m50s)`.
    pub fn duration(&self) -> Option<String> {
        let d = crate::output::human_duration(self.duration_ms?);
        Some(match self.median_duration_ms {
            Some(m) => format!("{d} (median {})", crate::output::human_duration(m)),
            None => d,
        })
    }
}

/// A link to the commit on GitHub or GitLab, derived from the run's URL.
fn commit_url(report: &RunReport) -> Option<String> {
    let sha = report.commit.sha.as_deref()?;
    let url = report.url.as_deref()?;
    match report.provider {
        crate::model::ProviderKind::Github => {
            let base = url.split("/actions/runs/").next()?;
            Some(format!("{base}/commit/{sha}"))
        }
        crate::model::ProviderKind::Gitlab => {
            let base = url.split("/-/").next()?;
            Some(format!("{base}/-/commit/{sha}"))
        }
        _ => None,
    }
}

/// Test support: messages for snapshot tests of every channel.
#[cfg(test)]
pub mod samples {
    use super::*;

    fn base(event: Event, outcome: RunOutcome) -> Message {
        Message {
            event,
            outcome,
            repository: Some("octo/app".into()),
            workflow: Some("CI".into()),
            job: Some("build".into()),
            branch: Some("main".into()),
            sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
            pull_request: None,
            run_url: Some("https://github.com/octo/app/actions/runs/42/attempts/1".into()),
            commit_url: Some(
                "https://github.com/octo/app/commit/0123456789abcdef0123456789abcdef01234567"
                    .into(),
            ),
            duration_ms: Some(252_000),
            median_duration_ms: Some(230_000),
            tests: TestSummary {
                total: 120,
                passed: 120,
                ..TestSummary::default()
            },
            failed: Vec::new(),
            flaky: Vec::new(),
            gate: None,
        }
    }

    fn failing(n: usize) -> Vec<TestLine> {
        (0..n)
            .map(|i| TestLine {
                name: format!("com.acme.CartTest.addsItem{i}"),
                message: Some(format!("expected:<{i}> but was:<{}>", i + 1)),
                attempts: 1,
            })
            .collect()
    }

    /// The pipeline passed.
    pub fn success() -> Message {
        base(Event::Success, RunOutcome::Success)
    }

    /// Three tests failed.
    pub fn three_failed() -> Message {
        let mut m = base(Event::Failure, RunOutcome::Failure);
        m.failed = failing(3);
        m.tests = TestSummary {
            total: 120,
            passed: 117,
            failed: 3,
            ..TestSummary::default()
        };
        m
    }

    /// Two hundred tests failed: every channel must stay within its limits.
    pub fn many_failed() -> Message {
        let mut m = base(Event::Failure, RunOutcome::Failure);
        m.failed = failing(200);
        m.tests = TestSummary {
            total: 320,
            passed: 120,
            failed: 200,
            ..TestSummary::default()
        };
        m
    }

    /// Only flaky tests.
    pub fn flaky_only() -> Message {
        let mut m = base(Event::Flaky, RunOutcome::Success);
        m.flaky = vec![TestLine {
            name: "com.acme.CartTest.checksOut".into(),
            message: Some("timeout".into()),
            attempts: 2,
        }];
        m.tests = TestSummary {
            total: 120,
            passed: 120,
            flaky: 1,
            ..TestSummary::default()
        };
        m
    }

    /// The gate said no.
    pub fn gate_failed() -> Message {
        let mut m = base(Event::GateFailed, RunOutcome::Success);
        m.gate = Some(GateNote {
            passed: false,
            reasons: vec!["com.acme.CartTest.checksOut: flip rate 0.32 over 50 runs > 0.20".into()],
        });
        m
    }

    /// Hostile strings everywhere a test name or message goes.
    pub fn hostile() -> Message {
        let mut m = base(Event::Failure, RunOutcome::Failure);
        let long = "x".repeat(10_000);
        m.branch = Some("<!channel> @here *bold* _it_ `code` [x](http://evil) <script>".into());
        m.failed = vec![
            TestLine {
                name: "<script>alert(1)</script>".into(),
                message: Some("@channel <!everyone> @all <@U123>".into()),
                attempts: 1,
            },
            TestLine {
                name: "*bold* _it_ ~strike~ `code` > quote | pipe # h1 [link](http://evil.example)"
                    .into(),
                message: Some("<!here> &amp; &lt;".into()),
                attempts: 1,
            },
            TestLine {
                name: long,
                message: Some("\u{1b}[31mred\u{1b}[0m\r\nnext line".into()),
                attempts: 1,
            },
        ];
        m.tests = TestSummary {
            total: 3,
            failed: 3,
            ..TestSummary::default()
        };
        m
    }

    /// Every sample with its snapshot name.
    pub fn all() -> Vec<(&'static str, Message)> {
        vec![
            ("success", success()),
            ("three_failed", three_failed()),
            ("many_failed", many_failed()),
            ("flaky_only", flaky_only()),
            ("gate_failed", gate_failed()),
        ]
    }
}
