//! Run reports for the contract tests, built field by field.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::model::{
    Attempt, Commit, DataSource, Details, Property, ProviderKind, ReportFile, Reporter, RunOutcome,
    RunReport, Step, TestCase, TestId, TestOutcome, TestResults, TestSummary, REPORT_SCHEMA,
};

pub(super) const P: TestOutcome = TestOutcome::Passed;
pub(super) const F: TestOutcome = TestOutcome::Failed;
pub(super) const S: TestOutcome = TestOutcome::Skipped;

/// 2026-11-26T10:00:00Z plus `minute` minutes.
pub(super) fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
        .single()
        .unwrap()
        + Duration::minutes(minute)
}

/// A report under construction: GitHub, workflow `CI`, job `build`, branch `main`, attempt
/// 1, success, one minute long, finished at minute 0, no tests.
pub(super) struct Run(RunReport);

impl Run {
    pub fn new(repository: &str, run: u32) -> Self {
        Self(RunReport {
            schema: REPORT_SCHEMA.into(),
            key: String::new(),
            provider: ProviderKind::Github,
            repository: Some(repository.into()),
            workflow: Some("CI".into()),
            job: Some("build".into()),
            run_id: Some(run.to_string()),
            run_attempt: 1,
            run_number: None,
            url: None,
            event: None,
            actor: None,
            commit: Commit {
                sha: Some(format!("sha{run}")),
                branch: Some("main".into()),
                ..Commit::default()
            },
            outcome: RunOutcome::Success,
            started_at: Some(at(-1)),
            finished_at: at(0),
            duration_ms: Some(60_000),
            queued_ms: None,
            steps: Vec::new(),
            tests: TestResults::default(),
            sources: Default::default(),
            warnings: Vec::new(),
            reporter: Reporter::default(),
        })
    }

    pub fn attempt(mut self, n: u32) -> Self {
        self.0.run_attempt = n;
        self
    }

    /// Finished at minute `minute`, started a minute earlier.
    pub fn at(mut self, minute: i64) -> Self {
        self.0.finished_at = at(minute);
        self.0.started_at = Some(at(minute - 1));
        self
    }

    pub fn branch(mut self, branch: &str) -> Self {
        self.0.commit.branch = Some(branch.into());
        self
    }

    pub fn sha(mut self, sha: &str) -> Self {
        self.0.commit.sha = Some(sha.into());
        self
    }

    pub fn workflow(mut self, workflow: &str) -> Self {
        self.0.workflow = Some(workflow.into());
        self
    }

    pub fn outcome(mut self, outcome: RunOutcome) -> Self {
        self.0.outcome = outcome;
        self
    }

    pub fn duration(mut self, ms: Option<u64>) -> Self {
        self.0.duration_ms = ms;
        self
    }

    pub fn queued(mut self, ms: Option<u64>) -> Self {
        self.0.queued_ms = ms;
        self
    }

    /// No workflow, job or branch.
    pub fn unlabelled(mut self) -> Self {
        self.0.workflow = None;
        self.0.job = None;
        self.0.commit.branch = None;
        self
    }

    /// Tests `(name, outcome, flaky)` of suite `suite`, class `pkg.Class`: 10 ms each; a
    /// flaky one has two attempts (failed, then passed).
    pub fn tests(mut self, tests: &[(&str, TestOutcome, bool)]) -> Self {
        let repository = self.0.repository.clone().unwrap_or_default();
        let suite: Arc<str> = Arc::from("suite");
        let class: Arc<str> = Arc::from("pkg.Class");
        self.0.tests.cases = tests
            .iter()
            .map(|&(name, outcome, flaky)| {
                let details = |o: TestOutcome| {
                    (o != P).then(|| {
                        Box::new(Details {
                            message: Some(format!("{name} did not pass").into()),
                            ..Details::default()
                        })
                    })
                };
                let attempts = if flaky {
                    [(F, 5), (outcome, 5)]
                        .iter()
                        .map(|&(o, ms)| Attempt {
                            outcome: o,
                            duration_ms: ms,
                            details: details(o),
                        })
                        .collect()
                } else {
                    std::iter::once(Attempt {
                        outcome,
                        duration_ms: 10,
                        details: details(outcome),
                    })
                    .collect()
                };
                TestCase {
                    id: TestId::derive(&repository, &suite, &class, name),
                    suite: suite.clone(),
                    classname: Some(class.clone()),
                    name: name.into(),
                    file: None,
                    line: None,
                    outcome,
                    flaky,
                    duration_ms: 10,
                    attempts,
                    properties: Box::new([]),
                }
            })
            .collect();
        self
    }

    /// Every optional field set, with text that needs care (quotes, Unicode, newlines).
    pub fn rich(mut self) -> Self {
        self = self.tests(&[
            ("plain", P, false),
            ("flaky ✓", P, true),
            ("broken \"q\"", F, false),
            ("later", S, false),
        ]);
        let r = &mut self.0;
        r.run_number = Some(42);
        r.url = Some("https://github.com/octo/app/actions/runs/1".into());
        r.event = Some("pull_request".into());
        r.actor = Some("mona".into());
        r.commit.git_ref = Some("refs/pull/7/merge".into());
        r.commit.pull_request = Some(7);
        r.commit.base_branch = Some("main".into());
        r.commit.tag = Some("v1.0".into());
        r.outcome = RunOutcome::Failure;
        r.queued_ms = Some(3100);
        r.steps = (0..5)
            .map(|i| Step {
                name: format!("step {i}"),
                outcome: if i == 3 {
                    RunOutcome::Failure
                } else {
                    RunOutcome::Success
                },
                started_at: Some(at(-1) + Duration::seconds(i)),
                finished_at: Some(at(-1) + Duration::seconds(i + 1)),
                duration_ms: Some(1000),
            })
            .collect();
        r.sources.insert("identity".into(), DataSource::Env);
        r.sources.insert("timings".into(), DataSource::Api);
        r.warnings
            .push("clamped a negative duration\nof step 2".into());
        let case = &mut r.tests.cases[2];
        case.file = Some(Arc::from("src/lib.rs"));
        case.line = Some(12);
        case.properties = vec![Property {
            name: "owner".into(),
            value: "team-ü".into(),
        }]
        .into();
        case.attempts[0].details = Some(Box::new(Details {
            message: Some("expected 1, got 2".into()),
            kind: Some("AssertionError".into()),
            stack_trace: Some("at x\n\tat y".into()),
            system_out: Some("out".into()),
            system_err: Some("err <xml/>".into()),
            truncated: true,
        }));
        r.tests.files.push(ReportFile {
            path: "target/report.xml".into(),
            dialect: "surefire".into(),
            tests: 4,
            error: Some("line 3: column 4: unexpected".into()),
        });
        self
    }

    /// The report, with its key and test summary filled in.
    pub fn build(mut self) -> RunReport {
        let r = &mut self.0;
        let part = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        r.key = format!(
            "{}/{}/{}/{}/{}/{}",
            r.provider.as_str(),
            part(&r.repository),
            part(&r.workflow),
            part(&r.run_id),
            r.run_attempt,
            part(&r.job)
        );
        r.tests.summary = TestSummary::of(&r.tests.cases);
        self.0
    }
}
