//! The flakiness model: table tests of the classification and property tests of the scoring.

use proptest::prelude::*;

use super::*;
use TestOutcome::{Errored as E, Failed as F, Passed as P, Skipped as S};

fn seq(outcomes: &[TestOutcome]) -> Counts {
    let obs: Vec<Observation<'_>> = outcomes
        .iter()
        .map(|o| Observation {
            outcome: *o,
            flaky: false,
            commit: None,
        })
        .collect();
    Counts::observe(&obs)
}

#[test]
fn classification_table() {
    use Classification::*;
    let table: &[(&[TestOutcome], Classification)] = &[
        (&[P, P, P, P], Healthy),
        (&[F, F, F, F], Broken),
        (&[P, P, F, F], Broken),
        (&[P, P, E, S, F], Broken),
        (&[F, F, P, P], Healthy),
        (&[P, F, P, F, P], Flaky),
        (&[P, F], Unknown),
        (&[S, S, S, S], Unknown),
    ];
    for (outcomes, want) in table {
        assert_eq!(classify(&seq(outcomes), 3, 0.1), *want, "{outcomes:?}");
    }
    // A retry that passed is flaky whatever the flips; min_runs still holds it back.
    let mut c = seq(&[P, P, P]);
    c.push(P, true);
    assert_eq!(classify(&c, 3, 0.1), Flaky);
    assert_eq!(classify(&c, 5, 0.1), Unknown);
    // Two flips in 40 runs (broken then fixed): under a 0.1 flip rate → healthy.
    let mut long = vec![P; 20];
    long.extend([F, F]);
    long.extend(vec![P; 18]);
    assert_eq!(classify(&seq(&long), 10, 0.1), Healthy);
    assert_eq!(classify(&seq(&long), 10, 0.01), Flaky);
}

#[test]
fn same_commit_disagreement_counts_commits() {
    let o = |outcome, commit| Observation {
        outcome,
        flaky: false,
        commit: Some(commit),
    };
    let c = Counts::observe(&[
        o(P, "a"),
        o(F, "a"),
        o(F, "a"),
        o(P, "b"),
        o(S, "b"),
        o(E, "c"),
        o(P, "c"),
    ]);
    assert_eq!(c.same_commit_disagreements, 2);
    assert_eq!(classify(&c, 1, 0.9), Classification::Flaky);
}

#[test]
fn wilson_known_values() {
    // 5 failures in 50 runs at 95% (z = 1.6449): centre 0.12706, half 0.07485, divided by
    // 1.05411 → [0.0495, 0.1915].
    let (lo, hi) = wilson(5, 50, 0.95);
    assert!((lo - 0.0495).abs() < 5e-4, "{lo}");
    assert!((hi - 0.1915).abs() < 5e-4, "{hi}");
    assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-6);
    assert!((normal_quantile(0.5)).abs() < 1e-12);
    assert_eq!(wilson(0, 0, 0.95), (0.0, 1.0));
    assert_eq!(wilson(0, 10, 0.95).0, 0.0);
    assert_eq!(wilson(10, 10, 0.95).1, 1.0);
}

fn outcome() -> impl Strategy<Value = TestOutcome> {
    prop_oneof![Just(P), Just(F), Just(E), Just(S)]
}

fn observations() -> impl Strategy<Value = Vec<(TestOutcome, bool, u8)>> {
    prop::collection::vec((outcome(), any::<bool>(), 0u8..4), 0..60)
}

fn counts_of(v: &[(TestOutcome, bool, u8)], shas: &[String]) -> Counts {
    let obs: Vec<Observation<'_>> = v
        .iter()
        .map(|(o, f, c)| Observation {
            outcome: *o,
            flaky: *f && *o == P,
            commit: Some(shas[usize::from(*c)].as_str()),
        })
        .collect();
    Counts::observe(&obs)
}

fn shas() -> Vec<String> {
    (0..4).map(|i| format!("c{i}")).collect()
}

proptest! {
    #[test]
    fn flip_rate_is_bounded(v in observations()) {
        let c = counts_of(&v, &shas());
        let r = c.flip_rate();
        prop_assert!((0.0..=1.0).contains(&r));
        prop_assert!(c.flips <= c.judged().saturating_sub(1));
        prop_assert_eq!(c.runs, v.len() as u64);
        prop_assert_eq!(c.passes + c.failures + c.skips, c.runs);
        if c.passes == 0 || c.failures == 0 {
            prop_assert_eq!(c.flips, 0);
        }
    }

    #[test]
    fn order_matters_only_for_flips(v in observations(), seed in any::<u64>()) {
        let shas = shas();
        let mut shuffled = v.clone();
        let mut rng = fastrand::Rng::with_seed(seed);
        rng.shuffle(&mut shuffled);
        let a = counts_of(&v, &shas);
        let b = counts_of(&shuffled, &shas);
        let strip = |c: Counts| Counts { flips: 0, last_failed: None, ..c };
        prop_assert_eq!(strip(a), strip(b));
        prop_assert_eq!(a.failure_rate(), b.failure_rate());
        prop_assert_eq!(
            wilson(a.failures, a.judged(), 0.95),
            wilson(b.failures, b.judged(), 0.95)
        );
    }

    #[test]
    fn failure_scores_are_monotonic_in_failures(n in 1u64..2000, k in 0u64..2000, conf in 0.5f64..0.999) {
        let k = k % n;
        let (lo0, hi0) = wilson(k, n, conf);
        let (lo1, hi1) = wilson(k + 1, n, conf);
        prop_assert!(lo1 >= lo0 && hi1 >= hi0, "{} {} → {} {}", lo0, hi0, lo1, hi1);
        prop_assert!((k as f64 / n as f64) < ((k + 1) as f64 / n as f64));
        // Turning a pass into a failure never lowers the failure rate.
        let mut pass = seq(&vec![P; n as usize]);
        pass.passes -= k.min(pass.passes);
        pass.failures += k;
        let mut more = pass;
        if more.passes > 0 {
            more.passes -= 1;
            more.failures += 1;
            prop_assert!(more.failure_rate() >= pass.failure_rate());
        }
    }

    #[test]
    fn wilson_is_within_unit_interval_and_contains_the_estimate(n in 0u64..5000, k in 0u64..5000, conf in 0.5f64..0.999) {
        let k = if n == 0 { 0 } else { k % (n + 1) };
        let (lo, hi) = wilson(k, n, conf);
        prop_assert!((0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi));
        prop_assert!(lo <= hi);
        if n > 0 {
            let p = k as f64 / n as f64;
            prop_assert!(lo <= p + 1e-12 && p <= hi + 1e-12);
        }
    }

    #[test]
    fn wilson_tightens_with_more_runs(n in 1u64..500, k in 0u64..500, m in 2u64..20, conf in 0.5f64..0.999) {
        let k = k % (n + 1);
        let (lo, hi) = wilson(k, n, conf);
        let (lo_m, hi_m) = wilson(k * m, n * m, conf);
        prop_assert!(hi_m - lo_m < hi - lo, "{}/{}: {} ≥ {}", k, n, hi_m - lo_m, hi - lo);
    }

    #[test]
    fn higher_confidence_widens(n in 1u64..500, k in 0u64..500) {
        let k = k % (n + 1);
        let (lo90, hi90) = wilson(k, n, 0.90);
        let (lo99, hi99) = wilson(k, n, 0.99);
        prop_assert!(lo99 <= lo90 && hi99 >= hi90);
    }
}
