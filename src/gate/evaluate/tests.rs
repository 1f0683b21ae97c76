//! The verdict over synthetic windows: each rule, quarantine, scope, modes.

use super::*;
use crate::config::parse_policy;
use crate::gate::stats::Observation;
use crate::model::TestStats;

/// Statistics of one test from a sequence, oldest first: `P` pass, `F` fail, `R` pass after
/// a retry, `S` skip; every run on its own commit.
fn ts(name: &str, runs: &str) -> TestStats {
    let shas: Vec<String> = (0..runs.len()).map(|i| format!("c{i}")).collect();
    let obs: Vec<Observation<'_>> = runs
        .chars()
        .zip(&shas)
        .map(|(c, sha)| Observation {
            outcome: match c {
                'P' | 'R' => TestOutcome::Passed,
                'F' => TestOutcome::Failed,
                _ => TestOutcome::Skipped,
            },
            flaky: c == 'R',
            commit: Some(sha.as_str()),
        })
        .collect();
    let c = Counts::observe(&obs);
    TestStats {
        test_id: crate::model::TestId::derive("octo/app", "suite", "pkg.Mod", name).to_string(),
        suite: "suite".into(),
        classname: Some("pkg.Mod".into()),
        name: name.into(),
        runs: c.runs,
        passes: c.passes,
        failures: c.failures,
        skips: c.skips,
        flaky_runs: c.flaky_runs,
        flips: c.flips,
        flip_rate: c.flip_rate(),
        same_commit_disagreements: c.same_commit_disagreements,
        last_outcome: c.last_failed.map(|f| {
            if f {
                TestOutcome::Failed
            } else {
                TestOutcome::Passed
            }
        }),
        last_failure_at: None,
        last_flaky_at: None,
    }
}

fn policy(yaml: &str) -> Policy {
    parse_policy(".cimon.yml", &format!("version: 1\n{yaml}"))
        .unwrap()
        .gate
        .unwrap()
}

fn window(stats: Vec<TestStats>, runs: u64, retried: u64) -> Window {
    Window {
        stats,
        runs,
        runs_with_retries: retried,
    }
}

fn main_run(base: Window) -> Inputs {
    Inputs {
        scope: Scope {
            repository: Some("octo/app".into()),
            branch: Some("main".into()),
            ..Scope::default()
        },
        current: Vec::new(),
        base: Ok(base),
        head: None,
        today: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
    }
}

fn names(v: &Verdict, class: Classification) -> Vec<String> {
    let mut n: Vec<String> = v
        .tests
        .iter()
        .filter(|t| t.classification == class)
        .map(|t| t.name.clone())
        .collect();
    n.sort();
    n
}

fn rules(v: &Verdict) -> Vec<(&str, Level)> {
    v.violations
        .iter()
        .map(|x| (x.rule.as_str(), x.level))
        .collect()
}

fn suite() -> Window {
    window(
        vec![
            ts("stable", "PPPPPPPPPPPP"),
            ts("retried", "PPPRPPPPRPPP"),
            ts("flipping", "PFPFPPFPPFPP"),
            ts("broken", "PPPPPPFFFFFF"),
            ts("always_red", "FFFFFFFFFFFF"),
            ts("fixed", "FFFFPPPPPPPP"),
            ts("new_test", "PPP"),
        ],
        12,
        2,
    )
}

#[test]
fn classifies_and_applies_the_rules() {
    let p =
        policy("gate:\n  min_runs: 10\n  rules:\n    max_flip_rate: 0.2\n    max_flaky_tests: 1\n");
    let v = evaluate(&p, main_run(suite()));
    assert_eq!(names(&v, Classification::Flaky), ["flipping", "retried"]);
    assert_eq!(names(&v, Classification::Broken), ["always_red", "broken"]);
    assert_eq!(names(&v, Classification::Healthy), ["fixed", "stable"]);
    assert_eq!(names(&v, Classification::Unknown), ["new_test"]);
    // flipping: 8 flips in 12 runs (0.727 > 0.2); retried has no flips.
    assert_eq!(
        rules(&v),
        [
            ("max_flaky_tests", Level::Fail),
            ("max_flip_rate", Level::Fail)
        ]
    );
    let flip = &v.violations[1];
    assert_eq!(flip.test.as_ref().unwrap().name, "flipping");
    assert_eq!((flip.evidence.runs, flip.evidence.flips), (12, 8));
    assert!((flip.value.unwrap() - 8.0 / 11.0).abs() < 1e-12);
    assert_eq!(v.violations[0].evidence.tests.len(), 2);
    assert_eq!(v.verdict, VerdictKind::Fail);
    assert_eq!(v.scope.history_runs, 12);
}

#[test]
fn quarantine_excuses_exactly_its_tests_and_expired_entries_warn() {
    let p = policy(
        "gate:\n  rules:\n    max_flaky_tests: 0\nquarantine:\n  - test: '*flipping*'\n    owner: '@qa'\n    reason: JIRA-1\n    until: 2099-01-01\n  - name: retried\n    owner: '@core'\n    reason: JIRA-2\n    until: 2020-01-01\n",
    );
    let v = evaluate(&p, main_run(suite()));
    let excused: Vec<&str> = v.excused.iter().map(|e| e.test.name.as_str()).collect();
    assert_eq!(excused, ["flipping"]);
    assert_eq!(v.excused[0].entry.as_ref().unwrap().owner, "@qa");
    assert_eq!(v.excused[0].entry.as_ref().unwrap().origin, ".cimon.yml:6");
    let quarantined: Vec<&str> = v
        .tests
        .iter()
        .filter(|t| t.quarantined)
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(quarantined, ["flipping"]);
    // The expired entry no longer excuses `retried`: one flaky test > 0, and a warning.
    assert_eq!(
        rules(&v),
        [
            ("max_flaky_tests", Level::Fail),
            ("quarantine_expired", Level::Warn)
        ]
    );
    assert_eq!(v.violations[0].evidence.tests[0].name, "retried");
    assert_eq!(v.violations[1].evidence.tests[0].name, "retried");
    assert!(
        v.violations[1].message.contains("expired after 2020-01-01"),
        "{}",
        v.violations[1].message
    );
    // Annotated on the entry's line of the policy file.
    let at = v.violations[1].location.as_ref().unwrap();
    assert_eq!((at.path.as_str(), at.line), (".cimon.yml", 10));
    let notes = crate::gate::render_markdown(&v, 10_000).annotations;
    assert!(notes.iter().any(|a| a.path == ".cimon.yml"
        && a.start_line == 10
        && a.level == crate::model::AnnotationLevel::Warning));
}

#[test]
fn new_flaky_fires_on_a_pull_request_only() {
    let p = policy("gate:\n  min_runs: 5\n  rules:\n    new_flaky: fail\n");
    let base = window(
        vec![ts("a", "PPPPPP"), ts("b", "PPPPPP"), ts("c", "PRPPRP")],
        6,
        2,
    );
    let pr = |head: Window| Inputs {
        scope: Scope {
            branch: Some("feature".into()),
            base_branch: Some("main".into()),
            pull_request: Some(7),
            ..Scope::default()
        },
        head: Some(head),
        ..main_run(base.clone())
    };
    // a flaky on the PR branch, b stable, c already flaky on main (not new).
    let head = window(vec![ts("a", "PR"), ts("b", "PP"), ts("c", "RP")], 2, 2);
    let v = evaluate(&p, pr(head.clone()));
    assert_eq!(rules(&v), [("new_flaky", Level::Fail)]);
    assert_eq!(v.violations[0].test.as_ref().unwrap().name, "a");
    assert!(v.tests.iter().any(|t| t.name == "a" && t.new_flaky));
    // The same results on main are no pull request: no new_flaky.
    let v = evaluate(&p, main_run(window(head.stats.clone(), 2, 2)));
    assert!(v.violations.iter().all(|x| x.rule != "new_flaky"));
    // warn / ignore.
    let warn = policy("gate:\n  min_runs: 5\n  rules:\n    new_flaky: warn\n");
    assert_eq!(
        rules(&evaluate(&warn, pr(head.clone()))),
        [("new_flaky", Level::Warn)]
    );
    let ignore = policy("gate:\n  min_runs: 5\n  rules:\n    new_flaky: ignore\n");
    assert!(evaluate(&ignore, pr(head)).violations.is_empty());
}

#[test]
fn min_runs_holds_back_judgement() {
    let p =
        policy("gate:\n  min_runs: 13\n  rules:\n    max_flip_rate: 0.1\n    max_flaky_tests: 0\n");
    let v = evaluate(&p, main_run(suite()));
    assert_eq!(v.verdict, VerdictKind::Pass, "{:?}", v.violations);
    assert!(v
        .tests
        .iter()
        .all(|t| t.classification == Classification::Unknown));
    let p = policy("gate:\n  min_runs: 12\n  rules:\n    max_flaky_tests: 0\n");
    assert_eq!(evaluate(&p, main_run(suite())).verdict, VerdictKind::Fail);
}

#[test]
fn failure_rate_uses_the_wilson_lower_bound() {
    // 3 failures in 12 runs: rate 0.25, lower bound at 95% ≈ 0.107.
    let w = window(vec![ts("t", "PPFPPFPPPFPP")], 12, 0);
    let at = |threshold: &str| {
        let p = policy(&format!(
            "gate:\n  rules:\n    max_failure_rate: {threshold}\n    max_flip_rate: 0.9\n"
        ));
        evaluate(&p, main_run(w.clone()))
    };
    let v = at("0.1");
    assert_eq!(rules(&v), [("max_failure_rate", Level::Fail)]);
    let bound = v.violations[0].evidence.bound.unwrap();
    assert!(bound > 0.1 && bound < 0.25, "{bound}");
    assert!(at("0.12").violations.is_empty());
}

#[test]
fn missing_history_follows_the_policy() {
    for (setting, want) in [
        ("pass", VerdictKind::Pass),
        ("warn", VerdictKind::Warn),
        ("fail", VerdictKind::Fail),
    ] {
        let p = policy(&format!("gate:\n  on_missing_history: {setting}\n"));
        let mut inputs = main_run(Window::default());
        inputs.base = Err("cannot read the history: connection refused".into());
        let v = evaluate(&p, inputs);
        assert_eq!(v.verdict, want, "{setting}");
        let noted = v
            .warnings
            .iter()
            .chain(v.violations.iter().map(|x| &x.message));
        assert!(noted.into_iter().any(|m| m.contains("connection refused")));
    }
    // An empty window is missing history too.
    let p = policy("gate:\n  on_missing_history: fail\n");
    let v = evaluate(&p, main_run(Window::default()));
    assert_eq!(rules(&v), [("missing_history", Level::Fail)]);
    assert!(v.violations[0]
        .message
        .contains("no runs of branch \"main\""));
}

#[test]
fn warn_mode_never_fails() {
    let p = policy("gate:\n  mode: warn\n  rules:\n    max_flaky_tests: 0\n");
    let v = evaluate(&p, main_run(suite()));
    assert_eq!(v.verdict, VerdictKind::Warn);
    assert!(v.violations.iter().all(|x| x.level == Level::Warn));
}

#[test]
fn branches_outside_the_scope_are_not_judged() {
    let p = policy("gate:\n  branches: ['main', 'release/*']\n  rules:\n    max_flaky_tests: 0\n");
    let mut inputs = main_run(suite());
    inputs.scope.branch = Some("dev".into());
    let v = evaluate(&p, inputs);
    assert!(!v.scope.in_scope);
    assert_eq!(v.verdict, VerdictKind::Pass);
    assert!(v.summary.contains("outside gate.branches"), "{}", v.summary);
    let mut inputs = main_run(suite());
    inputs.scope.branch = Some("release/2".into());
    assert_eq!(evaluate(&p, inputs).verdict, VerdictKind::Fail);
}

fn current(tests: &[(&TestStats, TestOutcome, bool)]) -> CurrentRun {
    CurrentRun {
        tests: tests
            .iter()
            .map(|(s, outcome, flaky)| CurrentTest {
                test: TestRef {
                    id: s.test_id.clone(),
                    suite: s.suite.clone(),
                    classname: s.classname.clone(),
                    name: s.name.clone(),
                },
                file: Some("tests/test_x.py".into()),
                line: Some(3),
                outcome: *outcome,
                flaky: *flaky,
            })
            .collect(),
        in_history: false,
    }
}

#[test]
fn known_flaky_failures_are_excused_when_allowed() {
    let w = suite();
    let retried = w
        .stats
        .iter()
        .find(|s| s.name == "retried")
        .unwrap()
        .clone();
    let stable = w.stats.iter().find(|s| s.name == "stable").unwrap().clone();
    let p = policy("gate:\n  allow_known_flaky_failures: true\n");
    let mut inputs = main_run(w.clone());
    inputs.current = vec![current(&[
        (&retried, TestOutcome::Failed, false),
        (&stable, TestOutcome::Passed, false),
    ])];
    let v = evaluate(&p, inputs);
    assert_eq!(v.failures_excused, Some(true));
    assert_eq!(v.excused.len(), 1);
    assert_eq!(v.excused[0].kind, ExcuseKind::KnownFlaky);
    // The current run counts once in the window (not in the history yet).
    assert_eq!(v.scope.history_runs, 13);
    let mut inputs = main_run(w);
    inputs.current = vec![current(&[
        (&retried, TestOutcome::Failed, false),
        (&stable, TestOutcome::Failed, false),
    ])];
    assert_eq!(evaluate(&p, inputs).failures_excused, Some(false));
}

#[test]
fn a_run_already_in_the_history_is_not_counted_twice() {
    let w = window(vec![ts("t", "PPPPPPPPPP")], 10, 0);
    let s = w.stats[0].clone();
    let p = policy("gate:\n  min_runs: 10\n");
    let mut run = current(&[(&s, TestOutcome::Passed, true)]);
    run.in_history = true;
    let mut inputs = main_run(w.clone());
    inputs.current = vec![run.clone()];
    let v = evaluate(&p, inputs);
    assert_eq!(v.tests[0].statistics.runs, 10);
    assert!(v.tests[0].flaky_in_current_run);
    run.in_history = false;
    let mut inputs = main_run(w);
    inputs.current = vec![run];
    let v = evaluate(&p, inputs);
    assert_eq!(
        (v.tests[0].statistics.runs, v.tests[0].statistics.flaky_runs),
        (11, 1)
    );
    assert_eq!(v.tests[0].classification, Classification::Flaky);
}

#[test]
fn renders_markdown_within_the_limit_and_annotates_located_tests() {
    let w = suite();
    let flipping = w
        .stats
        .iter()
        .find(|s| s.name == "flipping")
        .unwrap()
        .clone();
    let p = policy("gate:\n  rules:\n    max_flip_rate: 0.2\n");
    let mut inputs = main_run(w);
    inputs.current = vec![current(&[(&flipping, TestOutcome::Passed, false)])];
    let v = evaluate(&p, inputs);
    let r = crate::gate::render_markdown(&v, 65_535);
    assert!(
        r.markdown.starts_with("## ❌ cimon gate: fail"),
        "{}",
        r.markdown
    );
    assert!(
        r.markdown
            .contains("| ❌ fail | max_flip_rate | pkg\\.Mod\\.flipping |"),
        "{}",
        r.markdown
    );
    assert_eq!(r.annotations.len(), 1);
    assert_eq!(
        (r.annotations[0].path.as_str(), r.annotations[0].start_line),
        ("tests/test_x.py", 3)
    );
    let check = crate::gate::check_report(&v, "abc", None);
    assert_eq!(check.conclusion, crate::model::Conclusion::Failure);
    assert_eq!(
        (check.name.as_str(), check.annotations.len()),
        ("cimon / flakiness", 1)
    );
    let small = crate::gate::render_markdown(&v, 400);
    assert!(small.markdown.len() <= 400);
    assert!(small.markdown.contains("cut to fit"), "{}", small.markdown);
    let text = crate::gate::render_text(&v);
    assert!(text.starts_with("cimon gate: FAIL"), "{text}");
}

#[test]
fn flaky_run_rate_is_the_share_of_runs_that_needed_a_retry() {
    // suite(): 2 of 12 runs needed a retry (0.167).
    let at = |t: &str, min_runs: u32| {
        let p = policy(&format!(
            "gate:\n  min_runs: {min_runs}\n  rules:\n    max_flaky_run_rate: {t}\n"
        ));
        evaluate(&p, main_run(suite()))
    };
    let v = at("0.1", 10);
    assert_eq!(rules(&v), [("max_flaky_run_rate", Level::Fail)]);
    let x = &v.violations[0];
    assert_eq!((x.evidence.runs, x.evidence.failures), (12, 2));
    assert!((x.value.unwrap() - 2.0 / 12.0).abs() < 1e-12);
    assert!(at("0.2", 10).violations.is_empty());
    // Fewer runs in the window than min_runs: not judged.
    assert!(at("0.1", 13).violations.is_empty());
}
