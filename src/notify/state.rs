//! De-duplication, Alertmanager-style: which events a run triggers, given what was sent before.
//!
//! The alert key is provider + repository + workflow + branch + job. Per key the state keeps
//! whether the pipeline is failing and when each event was last sent (a flaky test's event is
//! kept per test). The decision is a pure function of the state, the run and the time:
//!
//! | before → now | event |
//! |---|---|
//! | passing or unknown → failure | `failure` |
//! | failing → failure | `still_failing`, only when `repeat_interval` has passed since the last `failure`/`still_failing` sent |
//! | failing → success | `fixed` |
//! | passing or unknown → success | `success` |
//! | any → cancelled, skipped, unknown | nothing, state unchanged |
//! | a test failed then passed | `flaky` for that test, at most once per `repeat_interval` |

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{RunOutcome, RunReport};

use super::Event;

/// What is remembered per alert key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertState {
    /// Whether the latest run that counted (success or failure) failed.
    pub failing: Option<bool>,
    /// When each event was last sent: `failure`, `still_failing`, `fixed`, `success`,
    /// `flaky:<test id>`.
    #[serde(default)]
    pub sent: BTreeMap<String, DateTime<Utc>>,
}

/// The events a run triggers, and the state to remember afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The run-level event, if any.
    pub event: Option<Event>,
    /// Ids of flaky tests to notify about (already filtered by `repeat_interval`).
    pub flaky_tests: Vec<String>,
    /// The state after this run, assuming the notifications are sent.
    pub next: AlertState,
}

/// The alert key of a run.
pub fn alert_key(report: &RunReport) -> String {
    let part = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    format!(
        "{}/{}/{}/{}/{}",
        report.provider.as_str(),
        part(&report.repository),
        part(&report.workflow),
        part(&report.commit.branch),
        part(&report.job)
    )
}

fn quiet(sent: Option<&DateTime<Utc>>, now: DateTime<Utc>, interval: Duration) -> bool {
    match sent {
        Some(t) => (now - *t).to_std().map(|d| d < interval).unwrap_or(true),
        None => false,
    }
}

/// Decides what `report` triggers after `state`. Pure.
pub fn decide(
    state: &AlertState,
    report: &RunReport,
    now: DateTime<Utc>,
    repeat_interval: Duration,
) -> Decision {
    let mut next = state.clone();
    let event = match (report.outcome, state.failing) {
        (RunOutcome::Failure, Some(true)) => {
            let last = [state.sent.get("failure"), state.sent.get("still_failing")]
                .into_iter()
                .flatten()
                .max();
            (!quiet(last, now, repeat_interval)).then_some(Event::StillFailing)
        }
        (RunOutcome::Failure, _) => Some(Event::Failure),
        (RunOutcome::Success, Some(true)) => Some(Event::Fixed),
        (RunOutcome::Success, _) => Some(Event::Success),
        _ => None,
    };
    match report.outcome {
        RunOutcome::Failure => next.failing = Some(true),
        RunOutcome::Success => next.failing = Some(false),
        _ => {}
    }
    if let Some(e) = event {
        next.sent.insert(e.as_str().into(), now);
    }
    let mut flaky_tests = Vec::new();
    for case in report.tests.cases.iter().filter(|c| c.flaky) {
        let key = format!("flaky:{}", case.id);
        if !quiet(state.sent.get(&key), now, repeat_interval)
            && !flaky_tests.contains(&case.id.to_string())
        {
            flaky_tests.push(case.id.to_string());
            next.sent.insert(key, now);
        }
    }
    // Forget flaky entries long past their interval so the state stays small.
    let horizon =
        now - chrono::Duration::from_std(repeat_interval * 4).unwrap_or(chrono::Duration::days(1));
    next.sent
        .retain(|k, t| !k.starts_with("flaky:") || *t >= horizon);
    Decision {
        event,
        flaky_tests,
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: RunOutcome) -> RunReport {
        let mut r: RunReport = serde_json::from_str(
            &std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/server/run-report.json"),
            )
            .unwrap(),
        )
        .unwrap();
        r.outcome = outcome;
        for c in &mut r.tests.cases {
            c.flaky = false;
        }
        r
    }

    fn sequence(
        outcomes: &[RunOutcome],
        step: chrono::Duration,
        interval: Duration,
    ) -> Vec<Option<Event>> {
        let mut state = AlertState::default();
        let mut now = DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut out = Vec::new();
        for o in outcomes {
            let d = decide(&state, &run(*o), now, interval);
            out.push(d.event);
            state = d.next;
            now += step;
        }
        out
    }

    #[test]
    fn fail_fail_fail_pass_pass_fail() {
        use RunOutcome::{Failure as F, Success as S};
        let four_h = Duration::from_secs(4 * 3600);
        let events = sequence(&[F, F, F, S, S, F], chrono::Duration::minutes(10), four_h);
        assert_eq!(
            events,
            [
                Some(Event::Failure),
                None,
                None,
                Some(Event::Fixed),
                Some(Event::Success),
                Some(Event::Failure)
            ]
        );
        // Three hours apart, the third failure is past the 4 h interval of the first.
        let events = sequence(&[F, F, F], chrono::Duration::hours(3), four_h);
        assert_eq!(
            events,
            [Some(Event::Failure), None, Some(Event::StillFailing)]
        );
    }

    #[test]
    fn cancelled_runs_change_nothing() {
        use RunOutcome::{Cancelled as C, Failure as F};
        let events = sequence(
            &[F, C, F],
            chrono::Duration::minutes(1),
            Duration::from_secs(3600),
        );
        assert_eq!(events, [Some(Event::Failure), None, None]);
    }

    #[test]
    fn a_flaky_test_is_announced_once_per_interval() {
        let mut r = run(RunOutcome::Success);
        r.tests.cases[0].flaky = true;
        let id = r.tests.cases[0].id.to_string();
        let t0 = Utc::now();
        let interval = Duration::from_secs(3600);
        let d1 = decide(&AlertState::default(), &r, t0, interval);
        assert_eq!(d1.flaky_tests, std::slice::from_ref(&id));
        let d2 = decide(&d1.next, &r, t0 + chrono::Duration::minutes(30), interval);
        assert!(d2.flaky_tests.is_empty());
        let d3 = decide(&d2.next, &r, t0 + chrono::Duration::minutes(61), interval);
        assert_eq!(d3.flaky_tests, [id]);
    }
}
