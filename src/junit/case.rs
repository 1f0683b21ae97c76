//! Building one test case from the elements of a `<testcase>`, and folding attempts.

use std::sync::Arc;

use crate::model::{Attempt, Attempts, Details, Property, TestCase, TestId, TestOutcome};

use super::text::{Bounded, Keep, OUTPUT_LIMIT, STACK_TRACE_LIMIT};

/// The kind of a result element inside `<testcase>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// `<failure>`, `<error>` or `<skipped>`: the (final) result.
    Main(TestOutcome),
    /// `<flakyFailure>` / `<flakyError>`: an attempt that failed before the test passed.
    Flaky(TestOutcome),
    /// `<rerunFailure>` / `<rerunError>`: a re-run that failed again.
    Rerun(TestOutcome),
}

impl ResultKind {
    /// Classifies an element by its local name.
    pub fn of(name: &str) -> Option<Self> {
        Some(match name {
            "failure" => Self::Main(TestOutcome::Failed),
            "error" => Self::Main(TestOutcome::Errored),
            "skipped" => Self::Main(TestOutcome::Skipped),
            "flakyFailure" => Self::Flaky(TestOutcome::Failed),
            "flakyError" => Self::Flaky(TestOutcome::Errored),
            "rerunFailure" => Self::Rerun(TestOutcome::Failed),
            "rerunError" => Self::Rerun(TestOutcome::Errored),
            _ => return None,
        })
    }
}

/// Texts collected for one result element or one test case (buffers are reused).
#[derive(Debug, Clone)]
pub struct Texts {
    /// The element text: a stack trace.
    pub stack: Bounded,
    /// Captured standard output (tail).
    pub out: Bounded,
    /// Captured standard error (tail).
    pub err: Bounded,
}

impl Default for Texts {
    fn default() -> Self {
        Self {
            stack: Bounded::new(STACK_TRACE_LIMIT, Keep::Head),
            out: Bounded::new(OUTPUT_LIMIT, Keep::Tail),
            err: Bounded::new(OUTPUT_LIMIT, Keep::Tail),
        }
    }
}

impl Texts {
    /// Clears every buffer.
    pub fn clear(&mut self) {
        self.stack.clear();
        self.out.clear();
        self.err.clear();
    }
}

/// A result element being read.
#[derive(Debug, Default)]
pub struct ResultAttrs {
    /// `message` attribute (clipped).
    pub message: Option<Box<str>>,
    /// `type` attribute (clipped).
    pub kind: Option<Box<str>>,
    /// `time` attribute (flaky/rerun elements of nextest and newer Surefire), in ms.
    pub duration_ms: u64,
    /// True when an attribute was clipped.
    pub truncated: bool,
}

/// Makes the details of an attempt; `None` when there is nothing to say.
pub fn details(attrs: ResultAttrs, texts: &mut Texts) -> Option<Box<Details>> {
    let truncated = attrs.truncated
        || texts.stack.truncated()
        || texts.out.truncated()
        || texts.err.truncated();
    let d = Details {
        message: attrs.message,
        kind: attrs.kind,
        stack_trace: texts.stack.take(),
        system_out: texts.out.take(),
        system_err: texts.err.take(),
        truncated,
    };
    texts.clear();
    if d == Details::default() {
        None
    } else {
        Some(Box::new(d))
    }
}

/// Everything read from one `<testcase>` element.
#[derive(Debug, Default)]
pub struct CaseDraft {
    /// `classname` attribute.
    pub classname: Option<Arc<str>>,
    /// `name` attribute.
    pub name: Box<str>,
    /// `file` attribute.
    pub file: Option<Arc<str>>,
    /// `line` attribute.
    pub line: Option<u32>,
    /// `time` attribute in ms.
    pub duration_ms: u64,
    /// `status="disabled|ignored|…"` or `result="skipped"`: the test did not run.
    pub not_run: bool,
    /// The most severe main result element seen.
    pub outcome: TestOutcome,
    /// Details of the first main result element of the deciding severity.
    pub details: Option<Box<Details>>,
    /// Flaky attempts (before the final one).
    pub flaky: Vec<Attempt>,
    /// Re-run attempts (after the first one).
    pub reruns: Vec<Attempt>,
    /// Properties.
    pub properties: Vec<Property>,
}

impl CaseDraft {
    /// Records a main result element.
    pub fn main_result(&mut self, outcome: TestOutcome, details: Option<Box<Details>>) {
        if outcome > self.outcome {
            self.outcome = outcome;
            self.details = details;
        } else if outcome == self.outcome && self.details.is_none() {
            self.details = details;
        }
    }

    /// The property `invocations` written by jest-junit for retried tests.
    fn invocations(&self) -> Option<u32> {
        self.properties
            .iter()
            .find(|p| &*p.name == "invocations")
            .and_then(|p| p.value.trim().parse().ok())
            .filter(|&n| n > 1)
    }

    /// Turns the draft into a test case of `suite`. `case_texts` holds the case-level
    /// `system-out`/`system-err`, kept only when the final attempt did not pass.
    pub fn finish(mut self, suite: Arc<str>, case_texts: &mut Texts) -> TestCase {
        let outcome = if self.not_run {
            TestOutcome::Skipped
        } else {
            self.outcome
        };
        let mut last_details = self.details.take();
        if outcome != TestOutcome::Passed {
            let out = case_texts.out.take();
            let err = case_texts.err.take();
            if out.is_some() || err.is_some() {
                let d = last_details.get_or_insert_with(Default::default);
                d.truncated |= case_texts.out.truncated() || case_texts.err.truncated();
                d.system_out = d.system_out.take().or(out);
                d.system_err = d.system_err.take().or(err);
            }
        }
        case_texts.clear();
        let final_attempt = Attempt {
            outcome,
            duration_ms: self.duration_ms,
            details: last_details,
        };

        let mut attempts: Attempts = Attempts::new();
        if !self.flaky.is_empty() {
            attempts.extend(self.flaky.drain(..));
            attempts.push(final_attempt);
        } else if !self.reruns.is_empty() {
            attempts.push(final_attempt);
            attempts.extend(self.reruns.drain(..));
        } else if let Some(n) = self.invocations() {
            let earlier = if outcome == TestOutcome::Passed {
                TestOutcome::Failed
            } else {
                outcome
            };
            for _ in 1..n {
                attempts.push(Attempt {
                    outcome: earlier,
                    duration_ms: 0,
                    details: None,
                });
            }
            attempts.push(final_attempt);
        } else {
            attempts.push(final_attempt);
        }
        let mut case = TestCase {
            id: TestId::default(),
            suite,
            classname: self.classname,
            name: self.name,
            file: self.file,
            line: self.line,
            outcome,
            flaky: false,
            duration_ms: 0,
            attempts,
            properties: self.properties.into_boxed_slice(),
        };
        settle(&mut case);
        case
    }
}

/// Recomputes a case's outcome, `flaky` and duration from its attempts.
///
/// Rule (docs/retry-dialects.md): a test that passed in any attempt passed; it is flaky when
/// another attempt failed or errored. Otherwise the last attempt decides. For rerun elements
/// the first attempt carries the main result, so "last" is the final re-run.
pub fn settle(case: &mut TestCase) {
    let passed = case
        .attempts
        .iter()
        .any(|a| a.outcome == TestOutcome::Passed);
    let failed = case.attempts.iter().any(|a| a.outcome.is_failure());
    case.outcome = if passed {
        TestOutcome::Passed
    } else if case.attempts.len() > 1 && failed {
        // Re-runs: the most severe failure of the attempts (errored beats failed).
        case.attempts
            .iter()
            .map(|a| a.outcome)
            .filter(|o| o.is_failure())
            .max()
            .unwrap_or(case.outcome)
    } else {
        case.attempts.last().map_or(case.outcome, |a| a.outcome)
    };
    case.flaky = passed && failed;
    case.duration_ms = case
        .attempts
        .iter()
        .fold(0u64, |acc, a| acc.saturating_add(a.duration_ms));
}

/// Folds `next` (a later copy of the same test) into `first` as further attempts.
/// With `bare_is_failure` (pytest-rerunfailures), an earlier attempt that carried no result
/// element was a re-run, i.e. a failure.
pub fn fold(first: &mut TestCase, next: TestCase, bare_is_failure: bool) {
    if bare_is_failure {
        if let Some(prev) = first.attempts.last_mut() {
            if prev.outcome == TestOutcome::Passed && prev.details.is_none() {
                prev.outcome = TestOutcome::Failed;
            }
        }
    }
    first.attempts.extend(next.attempts);
    if first.file.is_none() {
        first.file = next.file;
        first.line = next.line;
    }
    settle(first);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(outcome: TestOutcome) -> Attempt {
        Attempt {
            outcome,
            duration_ms: 10,
            details: None,
        }
    }

    fn case(attempts: &[TestOutcome]) -> TestCase {
        let mut c = TestCase {
            id: TestId::default(),
            suite: "s".into(),
            classname: None,
            name: "t".into(),
            file: None,
            line: None,
            outcome: TestOutcome::Passed,
            flaky: false,
            duration_ms: 0,
            attempts: attempts.iter().map(|&o| attempt(o)).collect(),
            properties: Box::default(),
        };
        settle(&mut c);
        c
    }

    #[test]
    fn settling_follows_the_documented_rule() {
        use TestOutcome::*;
        let table: [(&[TestOutcome], TestOutcome, bool); 7] = [
            (&[Passed], Passed, false),
            (&[Failed], Failed, false),
            (&[Failed, Passed], Passed, true),
            (&[Errored, Failed, Passed], Passed, true),
            (&[Passed, Failed, Errored], Passed, true),
            (&[Failed, Errored, Failed], Errored, false),
            (&[Skipped, Skipped], Skipped, false),
        ];
        for (attempts, outcome, flaky) in table {
            let c = case(attempts);
            assert_eq!((c.outcome, c.flaky), (outcome, flaky), "{attempts:?}");
            assert_eq!(c.duration_ms, 10 * attempts.len() as u64);
        }
    }

    #[test]
    fn pytest_bare_reruns_count_as_failures() {
        let mut first = case(&[TestOutcome::Passed]);
        fold(&mut first, case(&[TestOutcome::Passed]), true);
        assert_eq!(first.attempts.len(), 2);
        assert_eq!(first.attempts[0].outcome, TestOutcome::Failed);
        assert!(first.flaky);
        let mut first = case(&[TestOutcome::Passed]);
        fold(&mut first, case(&[TestOutcome::Passed]), false);
        assert!(!first.flaky);
    }
}
