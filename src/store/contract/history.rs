//! Contract tests of the history queries: statistics windows, a test's history, pipelines.

use super::fixture::{at, Run, F, P, S};
use super::Db;
use crate::model::{RunOutcome, TestId, TestOutcome, TestQuery, TestStats};

/// The scenario of `test_stats_over_windows` and `test_history_newest_first`, on octo/app:
///
/// | run | min | branch | sha | a   | b       | c |
/// |-----|-----|--------|-----|-----|---------|---|
/// | 1   | 1   | main   | c1  | P   | F       | P |
/// | 2   | 2   | main   | c1  | F   | P       | S |
/// | 3   | 3   | main   | c2  | P   | P flaky | F |
/// | 4   | 4   | main   | c3  | P   | F       | - |
/// | 5   | 5   | main   | c3  | E   | P flaky | P |
/// | 6   | 6   | dev    | c4  | F   | -       | - |
/// | 8   | 8   | main   | c5  | no tests (a lint job): not part of windows |
///
/// and run 7 on octo/lib (minute 7) with a test `a` of its own (another test id).
async fn seed_stats(db: &Db) {
    type Tests<'a> = &'a [(&'a str, TestOutcome, bool)];
    let rows: [(u32, i64, &str, &str, Tests); 7] = [
        (
            1,
            1,
            "main",
            "c1",
            &[("a", P, false), ("b", F, false), ("c", P, false)],
        ),
        (
            2,
            2,
            "main",
            "c1",
            &[("a", F, false), ("b", P, false), ("c", S, false)],
        ),
        (
            3,
            3,
            "main",
            "c2",
            &[("a", P, false), ("b", P, true), ("c", F, false)],
        ),
        (4, 4, "main", "c3", &[("a", P, false), ("b", F, false)]),
        (
            5,
            5,
            "main",
            "c3",
            &[
                ("a", TestOutcome::Errored, false),
                ("b", P, true),
                ("c", P, false),
            ],
        ),
        (6, 6, "dev", "c4", &[("a", F, false)]),
        (8, 8, "main", "c5", &[]),
    ];
    for (n, minute, branch, sha, tests) in rows {
        let r = Run::new("octo/app", n)
            .at(minute)
            .branch(branch)
            .sha(sha)
            .tests(tests);
        db.store.upsert_run(&r.build()).await.unwrap();
    }
    let lib = Run::new("octo/lib", 7).at(7).tests(&[("a", F, false)]);
    db.store.upsert_run(&lib.build()).await.unwrap();
}

fn stat<'a>(stats: &'a [TestStats], name: &str) -> &'a TestStats {
    stats.iter().find(|s| s.name == name).unwrap()
}

fn scope(branch: Option<&str>, window: Option<u32>) -> TestQuery {
    TestQuery {
        repository: Some("octo/app".into()),
        branch: branch.map(Into::into),
        window,
        since: None,
    }
}

pub(super) async fn test_stats_over_windows(db: &Db) {
    seed_stats(db).await;
    let stats = db
        .store
        .test_stats(&scope(Some("main"), None))
        .await
        .unwrap();
    assert_eq!(stats.len(), 3);
    let a = stat(&stats, "a");
    assert_eq!(
        a.test_id,
        TestId::derive("octo/app", "suite", "pkg.Class", "a").to_string()
    );
    assert_eq!(
        (a.suite.as_str(), a.classname.as_deref()),
        ("suite", Some("pkg.Class"))
    );
    assert_eq!(
        (a.runs, a.passes, a.failures, a.skips, a.flaky_runs),
        (5, 3, 2, 0, 0)
    );
    assert_eq!(
        (a.flips, a.flip_rate, a.same_commit_disagreements),
        (3, 0.75, 2)
    );
    assert_eq!((a.last_failure_at, a.last_flaky_at), (Some(at(5)), None));
    let b = stat(&stats, "b");
    assert_eq!(
        (b.runs, b.passes, b.failures, b.skips, b.flaky_runs),
        (5, 3, 2, 0, 2)
    );
    assert_eq!(
        (b.flips, b.flip_rate, b.same_commit_disagreements),
        (3, 0.75, 2)
    );
    assert_eq!(
        (b.last_failure_at, b.last_flaky_at),
        (Some(at(4)), Some(at(5)))
    );
    let c = stat(&stats, "c");
    assert_eq!(
        (c.runs, c.passes, c.failures, c.skips, c.flaky_runs),
        (4, 2, 1, 1, 0)
    );
    assert_eq!(
        (c.flips, c.flip_rate, c.same_commit_disagreements),
        (2, 1.0, 0)
    );
    assert_eq!(c.last_failure_at, Some(at(3)));
    // The newest pass-or-fail outcome: an error counts as a failure, a skip is no outcome.
    assert_eq!(
        (a.last_outcome, b.last_outcome, c.last_outcome),
        (
            Some(TestOutcome::Failed),
            Some(TestOutcome::Passed),
            Some(TestOutcome::Passed)
        )
    );

    // A time window: runs finished at or after minute 4 on main (4 and 5), whatever `window`.
    for window in [None, Some(3)] {
        let q = TestQuery {
            since: Some(at(4)),
            ..scope(Some("main"), window)
        };
        let stats = db.store.test_stats(&q).await.unwrap();
        let a = stat(&stats, "a");
        assert_eq!((a.runs, a.passes, a.failures), (2, 1, 1), "{window:?}");
        assert!(stats.iter().all(|s| s.name != "c" || s.runs == 1));
    }

    // The repository without a branch: run 6 (dev) joins the window.
    let stats = db.store.test_stats(&scope(None, None)).await.unwrap();
    let a = stat(&stats, "a");
    assert_eq!((a.runs, a.failures, a.flips), (6, 3, 3));
    assert!((a.flip_rate - 0.6).abs() < 1e-12);
    assert_eq!(a.last_failure_at, Some(at(6)));

    // A window of 2 on main: runs 4 and 5 (run 8 has no tests).
    let stats = db
        .store
        .test_stats(&scope(Some("main"), Some(2)))
        .await
        .unwrap();
    let a = stat(&stats, "a");
    assert_eq!(
        (a.runs, a.flips, a.flip_rate, a.same_commit_disagreements),
        (2, 1, 1.0, 1)
    );
    let b = stat(&stats, "b");
    assert_eq!(
        (b.runs, b.flaky_runs, b.flips, b.same_commit_disagreements),
        (2, 1, 1, 1)
    );
    let c = stat(&stats, "c");
    assert_eq!((c.runs, c.flips, c.flip_rate), (1, 0, 0.0));

    // Another repository's test never mixes in; no scope at all still works.
    let lib = TestQuery {
        repository: Some("octo/lib".into()),
        ..Default::default()
    };
    let stats = db.store.test_stats(&lib).await.unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!((stats[0].runs, stats[0].failures), (1, 1));
    assert_eq!(
        db.store
            .test_stats(&TestQuery::default())
            .await
            .unwrap()
            .len(),
        4
    );
    let none = TestQuery {
        repository: Some("nobody/none".into()),
        ..Default::default()
    };
    assert!(db.store.test_stats(&none).await.unwrap().is_empty());
}

pub(super) async fn test_history_newest_first(db: &Db) {
    seed_stats(db).await;
    let a = TestId::derive("octo/app", "suite", "pkg.Class", "a").to_string();
    let h = db
        .store
        .test_history(&a, &scope(Some("main"), None))
        .await
        .unwrap();
    let seen: Vec<_> = h.iter().map(|e| (e.finished_at, e.outcome)).collect();
    assert_eq!(
        seen,
        [
            (at(5), TestOutcome::Errored),
            (at(4), P),
            (at(3), P),
            (at(2), F),
            (at(1), P)
        ]
    );
    let e = &h[0];
    assert_eq!(
        e.run,
        crate::store::run_id(&Run::new("octo/app", 5).build().key)
    );
    assert_eq!(
        (e.branch.as_deref(), e.sha.as_deref()),
        (Some("main"), Some("c3"))
    );
    assert_eq!((e.flaky, e.attempts, e.duration_ms), (false, 1, 10));
    let b = TestId::derive("octo/app", "suite", "pkg.Class", "b").to_string();
    let h = db
        .store
        .test_history(&b, &scope(None, Some(3)))
        .await
        .unwrap();
    let seen: Vec<_> = h
        .iter()
        .map(|e| (e.finished_at, e.flaky, e.attempts))
        .collect();
    assert_eq!(seen, [(at(5), true, 2), (at(4), false, 1)]);
    let unknown = db
        .store
        .test_history("0000000000000001", &scope(None, None))
        .await
        .unwrap();
    assert!(unknown.is_empty());
}

pub(super) async fn pipelines_state_counters_histogram(db: &Db) {
    let secs = |s: u64| Some(s * 1000);
    let runs = [
        Run::new("octo/app", 1)
            .at(10)
            .duration(secs(20))
            .outcome(RunOutcome::Success),
        Run::new("octo/app", 2)
            .at(20)
            .duration(secs(90))
            .outcome(RunOutcome::Failure),
        Run::new("octo/app", 3)
            .at(30)
            .duration(secs(400))
            .queued(Some(1500))
            .tests(&[("a", P, false), ("b", F, false)]),
        // Older, stored last: counts, but is not the latest.
        Run::new("octo/app", 4)
            .at(5)
            .duration(secs(7200))
            .outcome(RunOutcome::Failure),
        // Another pipeline with missing labels and no duration.
        Run::new("octo/app", 5).at(15).duration(None).unlabelled(),
    ];
    for r in runs {
        db.store.upsert_run(&r.build()).await.unwrap();
    }
    let all = db.store.pipelines(at(0)).await.unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    let p = all.iter().find(|p| p.job == "build").unwrap();
    assert_eq!(
        (
            p.repository.as_str(),
            p.workflow.as_str(),
            p.branch.as_str()
        ),
        ("octo/app", "CI", "main")
    );
    assert_eq!(
        (p.last_outcome, p.last_finished_at),
        (RunOutcome::Success, at(30))
    );
    assert_eq!(
        (p.last_duration_ms, p.last_queued_ms),
        (secs(400), Some(1500))
    );
    assert_eq!((p.last_tests.total, p.last_tests.failed), (2, 1));
    let count = |o| {
        p.runs_by_outcome
            .iter()
            .find(|(x, _)| *x == o)
            .map(|(_, n)| *n)
    };
    assert_eq!(count(RunOutcome::Success), Some(2));
    assert_eq!(count(RunOutcome::Failure), Some(2));
    assert_eq!(count(RunOutcome::Cancelled), Some(0));
    // Bounds 30 60 120 300 600 900 1800 3600 7200 s; durations 20, 90, 400, 7200 s.
    assert_eq!(p.duration_buckets, [1, 1, 2, 2, 3, 3, 3, 3, 4]);
    assert_eq!((p.duration_count, p.duration_sum_ms), (4, 7_710_000));

    let q = all.iter().find(|p| p.job != "build").unwrap();
    assert_eq!(
        (q.workflow.as_str(), q.job.as_str(), q.branch.as_str()),
        ("-", "-", "-")
    );
    assert_eq!((q.duration_count, q.duration_sum_ms), (0, 0));
    assert_eq!(q.duration_buckets, [0; 9]);
    assert_eq!(q.last_duration_ms, None);

    let recent = db.store.pipelines(at(16)).await.unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].job, "build");
    assert!(db.store.pipelines(at(31)).await.unwrap().is_empty());
}
