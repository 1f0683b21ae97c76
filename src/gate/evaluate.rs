//! The verdict: policy + the current run's tests + the history windows → [`Verdict`]. Pure:
//! the caller reads the history and the reports and passes today's date.

use std::collections::HashMap;

use chrono::NaiveDate;

pub use super::inputs::{CurrentRun, CurrentTest, Inputs, Window};
use super::policy::{Policy, QuarantineEntry, TestName};
use super::stats::{classify, Counts};
use crate::config::file::{GateMode, NewFlaky, OnMissingHistory};
use crate::model::{
    Classification, Evidence, Excuse, ExcuseKind, Level, Scope, TestOutcome, TestRef, TestVerdict,
    Verdict, VerdictKind, Violation, VERDICT_SCHEMA,
};

/// Most tests listed in the evidence of a per-suite rule.
pub const MAX_EVIDENCE_TESTS: usize = 50;

#[derive(Debug, Default)]
struct Entry {
    test: TestRef,
    file: Option<String>,
    line: Option<u32>,
    base: Counts,
    head: Option<Counts>,
    current: Option<TestOutcome>,
    current_passed: bool,
    current_failed: bool,
    flaky_in_current: bool,
}

fn worse(a: Option<TestOutcome>, b: TestOutcome) -> TestOutcome {
    let rank = |o: TestOutcome| match o {
        TestOutcome::Skipped => 0,
        TestOutcome::Passed => 1,
        TestOutcome::Failed => 2,
        TestOutcome::Errored => 3,
    };
    match a {
        Some(a) if rank(a) >= rank(b) => a,
        _ => b,
    }
}

fn is_failure(o: TestOutcome) -> bool {
    matches!(o, TestOutcome::Failed | TestOutcome::Errored)
}

/// The entry that decides for a test: the first active one, else the first expired one.
fn quarantine_of<'p>(
    policy: &'p Policy,
    t: &TestName<'_>,
    today: NaiveDate,
) -> Option<(&'p QuarantineEntry, bool)> {
    let mut expired = None;
    for q in policy.quarantine.iter().filter(|q| q.matches(t)) {
        if q.active(today) {
            return Some((q, true));
        }
        expired.get_or_insert((q, false));
    }
    expired
}

/// Judges the inputs under the policy.
pub fn evaluate(policy: &Policy, mut inputs: Inputs) -> Verdict {
    let scope = &mut inputs.scope;
    scope.window_runs = policy.window_runs;
    scope.window_days = policy.window_days;
    let gated = scope.base_branch.clone().or_else(|| scope.branch.clone());
    scope.in_scope = gated.as_deref().is_none_or(|b| policy.gates_branch(b));
    if !scope.in_scope {
        let b = gated.unwrap_or_default();
        let summary = format!(
            "branch {b:?} is outside gate.branches ({}): nothing judged",
            policy
                .branches
                .as_ref()
                .map(|g| g.patterns.join(", "))
                .unwrap_or_default()
        );
        return finish(
            policy,
            inputs.scope,
            Vec::new(),
            Vec::new(),
            None,
            Vec::new(),
            Vec::new(),
            summary,
        );
    }
    let is_pr = inputs.head.is_some();
    let mut warnings = Vec::new();
    let mut violations = Vec::new();
    let mut entries: HashMap<String, Entry> = HashMap::new();
    let (base_runs, base_retry_runs) = match &inputs.base {
        Ok(w) => {
            for s in &w.stats {
                let test = TestRef {
                    id: s.test_id.clone(),
                    suite: s.suite.clone(),
                    classname: s.classname.clone(),
                    name: s.name.clone(),
                };
                if !policy.judges(&TestName::of(&test)) {
                    continue;
                }
                entries.insert(
                    s.test_id.clone(),
                    Entry {
                        test,
                        base: Counts::from_stats(s),
                        ..Entry::default()
                    },
                );
            }
            (w.runs, w.runs_with_retries)
        }
        Err(_) => (0, 0),
    };
    if let Some(head) = &inputs.head {
        for s in &head.stats {
            if let Some(e) = entries.get_mut(&s.test_id) {
                e.head = Some(Counts::from_stats(s));
            } else {
                let test = TestRef {
                    id: s.test_id.clone(),
                    suite: s.suite.clone(),
                    classname: s.classname.clone(),
                    name: s.name.clone(),
                };
                if policy.judges(&TestName::of(&test)) {
                    entries.insert(
                        s.test_id.clone(),
                        Entry {
                            test,
                            head: Some(Counts::from_stats(s)),
                            ..Entry::default()
                        },
                    );
                }
            }
        }
    }
    let mut extra_runs = 0u64;
    let mut extra_retry_runs = 0u64;
    for run in &inputs.current {
        let mut any_retry = false;
        for t in &run.tests {
            if !policy.judges(&TestName::of(&t.test)) {
                continue;
            }
            let e = entries.entry(t.test.id.clone()).or_insert_with(|| Entry {
                test: t.test.clone(),
                ..Entry::default()
            });
            e.file = e.file.take().or_else(|| t.file.clone());
            e.line = e.line.or(t.line);
            e.current = Some(worse(e.current, t.outcome));
            e.flaky_in_current |= t.flaky;
            any_retry |= t.flaky;
            if run.in_history {
                continue;
            }
            let counts = if is_pr {
                e.head.get_or_insert_with(Counts::default)
            } else {
                &mut e.base
            };
            counts.push(t.outcome, t.flaky);
            // Two jobs of one commit (a matrix) that disagree: a same-commit disagreement.
            let passed = t.outcome == TestOutcome::Passed;
            let failed = is_failure(t.outcome);
            if (passed && e.current_failed) || (failed && e.current_passed) {
                counts.same_commit_disagreements += 1;
            }
            e.current_passed |= passed;
            e.current_failed |= failed;
        }
        if !run.in_history && !is_pr {
            extra_runs += 1;
            extra_retry_runs += u64::from(any_retry);
        }
    }
    let history_runs = base_runs + extra_runs;
    let retry_runs = base_retry_runs + extra_retry_runs;
    inputs.scope.history_runs = history_runs;
    inputs.scope.branch_runs = inputs
        .head
        .as_ref()
        .map(|h| h.runs + inputs.current.iter().filter(|r| !r.in_history).count() as u64);
    let missing = match &inputs.base {
        Err(why) => Some(why.clone()),
        Ok(_) if base_runs == 0 => Some(format!(
            "no runs of {} in the history",
            inputs
                .scope
                .base_branch
                .as_deref()
                .or(inputs.scope.branch.as_deref())
                .map_or_else(|| "this repository".to_owned(), |b| format!("branch {b:?}"))
        )),
        Ok(_) => None,
    };
    if let Some(why) = &missing {
        let level = match policy.on_missing_history {
            OnMissingHistory::Pass => None,
            OnMissingHistory::Warn => Some(Level::Warn),
            OnMissingHistory::Fail => Some(Level::Fail),
        };
        match level {
            Some(level) => violations.push(Violation {
                rule: "missing_history".into(),
                level,
                threshold: None,
                value: None,
                message: format!(
                    "{why}; on_missing_history: {}",
                    match level {
                        Level::Warn => "warn",
                        Level::Fail => "fail",
                    }
                ),
                test: None,
                evidence: Evidence::default(),
                location: None,
            }),
            None => warnings.push(format!("{why}; on_missing_history: pass")),
        }
    }

    let flip_threshold = policy.flaky_flip_rate();
    let mut tests = Vec::with_capacity(entries.len());
    let mut excused = Vec::new();
    let mut flaky_tests = Vec::new();
    let mut failed_now = 0usize;
    let mut failed_excused = 0usize;
    let mut expired_hits: HashMap<usize, Vec<TestRef>> = HashMap::new();
    for e in entries.into_values() {
        let name = TestName::of(&e.test);
        let class = classify(&e.base, policy.min_runs, flip_threshold);
        let new_flaky = is_pr
            && class != Classification::Flaky
            && e.head
                .is_some_and(|h| classify(&h, 1, flip_threshold) == Classification::Flaky);
        let q = quarantine_of(policy, &name, inputs.today);
        let quarantined = q.is_some_and(|(_, active)| active);
        if let Some((entry, false)) = q {
            let index = policy
                .quarantine
                .iter()
                .position(|x| std::ptr::eq(x, entry))
                .unwrap_or(0);
            expired_hits.entry(index).or_default().push(e.test.clone());
        }
        let failed = e.current.is_some_and(is_failure);
        let stats = e.base.statistics(policy.confidence);
        if quarantined {
            let what = match (class, new_flaky, failed) {
                (_, _, true) => Some("failed in this run"),
                (Classification::Flaky, _, _) | (_, true, _) => Some("flaky"),
                (Classification::Broken, _, _) => Some("broken"),
                _ => None,
            };
            if let (Some(what), Some((entry, _))) = (what, q) {
                excused.push(Excuse {
                    test: e.test.clone(),
                    kind: ExcuseKind::Quarantine,
                    entry: Some(entry.note.clone()),
                    excused: what.into(),
                });
            }
        } else {
            let evidence = |bound: Option<f64>| Evidence {
                runs: e.base.judged(),
                failures: e.base.failures,
                flaky_runs: e.base.flaky_runs,
                flips: e.base.flips,
                same_commit_disagreements: e.base.same_commit_disagreements,
                commits: Vec::new(),
                bound,
                tests: Vec::new(),
            };
            if let Some(t) = policy.max_flip_rate {
                if class == Classification::Flaky && stats.flip_rate > t {
                    violations.push(Violation {
                        rule: "max_flip_rate".into(),
                        level: Level::Fail,
                        threshold: Some(t),
                        value: Some(stats.flip_rate),
                        message: format!(
                            "{}: flip rate {:.3} > {t} ({} flips in {} runs)",
                            e.test.full_name(),
                            stats.flip_rate,
                            e.base.flips,
                            e.base.judged()
                        ),
                        test: Some(e.test.clone()),
                        evidence: evidence(None),
                        location: None,
                    });
                }
            }
            if let Some(t) = policy.max_failure_rate {
                let judged = matches!(class, Classification::Flaky | Classification::Healthy);
                if judged && stats.failure_rate_low > t {
                    violations.push(Violation {
                        rule: "max_failure_rate".into(),
                        level: Level::Fail,
                        threshold: Some(t),
                        value: Some(stats.failure_rate),
                        message: format!(
                            "{}: failure rate {:.3} ({} of {} runs), at {:.0}% confidence at least {:.3} > {t}",
                            e.test.full_name(),
                            stats.failure_rate,
                            e.base.failures,
                            e.base.judged(),
                            policy.confidence * 100.0,
                            stats.failure_rate_low
                        ),
                        test: Some(e.test.clone()),
                        evidence: evidence(Some(stats.failure_rate_low)),
                        location: None,
                    });
                }
            }
            if new_flaky && policy.new_flaky != NewFlaky::Ignore {
                let head = e.head.unwrap_or_default();
                violations.push(Violation {
                    rule: "new_flaky".into(),
                    level: if policy.new_flaky == NewFlaky::Fail {
                        Level::Fail
                    } else {
                        Level::Warn
                    },
                    threshold: None,
                    value: None,
                    message: format!(
                        "{}: flaky on this branch ({} retried runs, {} flips in {} runs) but {} on {}",
                        e.test.full_name(),
                        head.flaky_runs,
                        head.flips,
                        head.judged(),
                        class.as_str(),
                        inputs.scope.base_branch.as_deref().unwrap_or("the base branch")
                    ),
                    test: Some(e.test.clone()),
                    evidence: Evidence {
                        runs: head.judged(),
                        failures: head.failures,
                        flaky_runs: head.flaky_runs,
                        flips: head.flips,
                        same_commit_disagreements: head.same_commit_disagreements,
                        commits: inputs.scope.sha.iter().cloned().collect(),
                        bound: None,
                        tests: Vec::new(),
                    },
                    location: None,
                });
            }
            if class == Classification::Flaky {
                flaky_tests.push(e.test.clone());
            }
        }
        if failed {
            failed_now += 1;
            if quarantined {
                failed_excused += 1;
            } else if class == Classification::Flaky && policy.allow_known_flaky_failures {
                failed_excused += 1;
                excused.push(Excuse {
                    test: e.test.clone(),
                    kind: ExcuseKind::KnownFlaky,
                    entry: None,
                    excused: "failed in this run".into(),
                });
            }
        }
        tests.push(TestVerdict {
            id: e.test.id.clone(),
            suite: e.test.suite.clone(),
            classname: e.test.classname.clone(),
            name: e.test.name.clone(),
            file: e.file,
            line: e.line,
            classification: if new_flaky {
                Classification::Flaky
            } else {
                class
            },
            quarantined,
            new_flaky,
            current_outcome: e.current,
            flaky_in_current_run: e.flaky_in_current,
            statistics: stats,
        });
    }
    flaky_tests.sort_by_key(TestRef::full_name);
    if let Some(t) = policy.max_flaky_tests {
        let n = flaky_tests.len() as u64;
        if n > t {
            violations.push(Violation {
                rule: "max_flaky_tests".into(),
                level: Level::Fail,
                threshold: Some(t as f64),
                value: Some(n as f64),
                message: format!("{n} flaky tests (not quarantined) > {t}"),
                test: None,
                evidence: Evidence {
                    runs: history_runs,
                    tests: flaky_tests
                        .iter()
                        .take(MAX_EVIDENCE_TESTS)
                        .cloned()
                        .collect(),
                    ..Evidence::default()
                },
                location: None,
            });
        }
    }
    if let Some(t) = policy.max_flaky_run_rate {
        let rate = if history_runs == 0 {
            0.0
        } else {
            retry_runs as f64 / history_runs as f64
        };
        if history_runs >= u64::from(policy.min_runs) && rate > t {
            violations.push(Violation {
                rule: "max_flaky_run_rate".into(),
                level: Level::Fail,
                threshold: Some(t),
                value: Some(rate),
                message: format!(
                    "{retry_runs} of {history_runs} runs needed a retry ({rate:.3} > {t})"
                ),
                test: None,
                evidence: Evidence {
                    runs: history_runs,
                    failures: retry_runs,
                    ..Evidence::default()
                },
                location: None,
            });
        }
    }
    for (i, q) in policy.quarantine.iter().enumerate() {
        if q.active(inputs.today) {
            continue;
        }
        let hits = expired_hits.remove(&i).unwrap_or_default();
        violations.push(Violation {
            rule: "quarantine_expired".into(),
            level: Level::Warn,
            threshold: None,
            value: None,
            message: format!(
                "quarantine entry at {} ({}, owner {}, reason {:?}) expired after {}; it no longer excuses {} test(s)",
                q.note.origin,
                q.note.pattern,
                q.note.owner,
                q.note.reason,
                q.note.until.as_deref().unwrap_or("?"),
                hits.len()
            ),
            test: None,
            evidence: Evidence {
                tests: hits.into_iter().take(MAX_EVIDENCE_TESTS).collect(),
                ..Evidence::default()
            },
            location: Some(q.location.clone()),
        });
    }
    let failures_excused = (policy.allow_known_flaky_failures && failed_now > 0)
        .then_some(failed_excused == failed_now);
    let summary_counts = (history_runs, failed_now);
    finish(
        policy,
        inputs.scope,
        violations,
        excused,
        failures_excused,
        warnings,
        tests,
        format!(
            "{} runs judged, {} failed tests in this run",
            summary_counts.0, summary_counts.1
        ),
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    policy: &Policy,
    scope: Scope,
    mut violations: Vec<Violation>,
    mut excused: Vec<Excuse>,
    failures_excused: Option<bool>,
    warnings: Vec<String>,
    mut tests: Vec<TestVerdict>,
    detail: String,
) -> Verdict {
    if policy.mode == GateMode::Warn {
        for v in &mut violations {
            v.level = Level::Warn;
        }
    }
    violations.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then_with(|| a.rule.cmp(&b.rule))
            .then_with(|| a.message.cmp(&b.message))
    });
    excused.sort_by_key(|e| e.test.full_name());
    let rank = |c: Classification| match c {
        Classification::Flaky => 0,
        Classification::Broken => 1,
        Classification::Unknown => 2,
        Classification::Healthy => 3,
    };
    tests.sort_by(|a, b| {
        (
            rank(a.classification),
            b.statistics.flips,
            b.statistics.failures,
        )
            .cmp(&(
                rank(b.classification),
                a.statistics.flips,
                a.statistics.failures,
            ))
            .then_with(|| a.classname.cmp(&b.classname))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.id.cmp(&b.id))
    });
    let verdict = if violations.iter().any(|v| v.level == Level::Fail) {
        VerdictKind::Fail
    } else if !violations.is_empty() {
        VerdictKind::Warn
    } else {
        VerdictKind::Pass
    };
    let count = |c: Classification| tests.iter().filter(|t| t.classification == c).count();
    let summary = if !scope.in_scope {
        detail
    } else {
        let mut rules: Vec<&str> = violations.iter().map(|v| v.rule.as_str()).collect();
        rules.dedup();
        format!(
            "{}: {} violation(s){}; {} flaky, {} broken, {} quarantined, {} not judged of {} tests; {}",
            verdict.as_str(),
            violations.len(),
            if rules.is_empty() {
                String::new()
            } else {
                format!(" ({})", rules.join(", "))
            },
            count(Classification::Flaky),
            count(Classification::Broken),
            tests.iter().filter(|t| t.quarantined).count(),
            count(Classification::Unknown),
            tests.len(),
            detail
        )
    };
    Verdict {
        schema: VERDICT_SCHEMA.into(),
        verdict,
        summary,
        mode: policy.mode_name().into(),
        scope,
        violations,
        excused,
        failures_excused,
        warnings,
        tests,
    }
}

#[cfg(test)]
mod tests;
