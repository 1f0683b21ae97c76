//! The flakiness model: per-test counts over a window, the flip rate, the Wilson interval of
//! the failure rate and the classification `healthy | flaky | broken | unknown`. Pure
//! functions; `docs/flakiness.md` gives every formula and default.

use crate::model::{Classification, Statistics, TestOutcome, TestStats};

/// One run of one test, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation<'a> {
    /// The test's outcome in the run (after retries).
    pub outcome: TestOutcome,
    /// Failed then passed on a retry in that run.
    pub flaky: bool,
    /// The run's commit.
    pub commit: Option<&'a str>,
}

/// What the model knows of one test over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Runs in which the test appeared.
    pub runs: u64,
    /// Passed runs (flaky ones included).
    pub passes: u64,
    /// Failed or errored runs.
    pub failures: u64,
    /// Skipped runs.
    pub skips: u64,
    /// Runs in which it failed then passed on a retry.
    pub flaky_runs: u64,
    /// Pass↔fail transitions between consecutive judged runs.
    pub flips: u64,
    /// Commits on which it both passed and failed, in different runs.
    pub same_commit_disagreements: u64,
    /// The newest judged outcome: `Some(true)` failed, `Some(false)` passed.
    pub last_failed: Option<bool>,
}

impl Counts {
    /// Counts a sequence of runs (oldest first).
    pub fn observe(runs: &[Observation<'_>]) -> Self {
        let mut c = Self::default();
        let mut commits: Vec<(&str, bool, bool)> = Vec::new();
        for o in runs {
            c.push(o.outcome, o.flaky);
            let (passed, failed) = match o.outcome {
                TestOutcome::Passed => (true, false),
                TestOutcome::Failed | TestOutcome::Errored => (false, true),
                TestOutcome::Skipped => continue,
            };
            if let Some(sha) = o.commit {
                match commits.iter_mut().find(|(s, _, _)| *s == sha) {
                    Some((_, p, f)) => {
                        *p |= passed;
                        *f |= failed;
                    }
                    None => commits.push((sha, passed, failed)),
                }
            }
        }
        c.same_commit_disagreements = commits.iter().filter(|(_, p, f)| *p && *f).count() as u64;
        c
    }

    /// Adds one newer run (same-commit disagreements are not updated: a single run's only
    /// disagreement is a retry, counted in `flaky_runs`).
    pub fn push(&mut self, outcome: TestOutcome, flaky: bool) {
        self.runs += 1;
        self.flaky_runs += u64::from(flaky);
        let failed = match outcome {
            TestOutcome::Passed => {
                self.passes += 1;
                false
            }
            TestOutcome::Failed | TestOutcome::Errored => {
                self.failures += 1;
                true
            }
            TestOutcome::Skipped => {
                self.skips += 1;
                return;
            }
        };
        if self.last_failed.is_some_and(|last| last != failed) {
            self.flips += 1;
        }
        self.last_failed = Some(failed);
    }

    /// The counts the store computed.
    pub fn from_stats(s: &TestStats) -> Self {
        Self {
            runs: s.runs,
            passes: s.passes,
            failures: s.failures,
            skips: s.skips,
            flaky_runs: s.flaky_runs,
            flips: s.flips,
            same_commit_disagreements: s.same_commit_disagreements,
            last_failed: s.last_outcome.and_then(|o| match o {
                TestOutcome::Passed => Some(false),
                TestOutcome::Failed | TestOutcome::Errored => Some(true),
                TestOutcome::Skipped => None,
            }),
        }
    }

    /// Runs that passed or failed.
    pub fn judged(&self) -> u64 {
        self.passes + self.failures
    }

    /// `flips / (judged − 1)`, 0 with fewer than two judged runs.
    pub fn flip_rate(&self) -> f64 {
        flip_rate(self.flips, self.judged())
    }

    /// `failures / judged`, 0 without judged runs.
    pub fn failure_rate(&self) -> f64 {
        match self.judged() {
            0 => 0.0,
            n => self.failures as f64 / n as f64,
        }
    }

    /// Evidence of non-determinism on one commit: a retry that passed, or a commit that
    /// both passed and failed.
    pub fn disagrees(&self) -> bool {
        self.flaky_runs > 0 || self.same_commit_disagreements > 0
    }

    /// The statistics shown in a verdict, with the Wilson interval at `confidence`.
    pub fn statistics(&self, confidence: f64) -> Statistics {
        let (low, high) = wilson(self.failures, self.judged(), confidence);
        Statistics {
            runs: self.runs,
            passes: self.passes,
            failures: self.failures,
            skips: self.skips,
            flaky_runs: self.flaky_runs,
            flips: self.flips,
            flip_rate: self.flip_rate(),
            same_commit_disagreements: self.same_commit_disagreements,
            failure_rate: self.failure_rate(),
            failure_rate_low: low,
            failure_rate_high: high,
        }
    }
}

/// `flips / (judged − 1)`, 0 when `judged < 2`; within [0, 1] whenever
/// `flips ≤ judged − 1`, as a sequence allows.
pub fn flip_rate(flips: u64, judged: u64) -> f64 {
    if judged < 2 {
        0.0
    } else {
        (flips as f64 / (judged - 1) as f64).min(1.0)
    }
}

/// The standard normal quantile Φ⁻¹(p) for p in (0, 1) (Acklam's rational approximation,
/// relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// The Wilson score interval of `k` failures in `n` runs with z = Φ⁻¹(confidence) (each bound
/// is one-sided at `confidence`): `(centre ± half) / (1 + z²/n)` with
/// `centre = p̂ + z²/2n`, `half = z·√(p̂(1−p̂)/n + z²/4n²)`. `(0, 1)` when `n = 0`.
pub fn wilson(k: u64, n: u64, confidence: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let k = k.min(n);
    let z = normal_quantile(confidence);
    let n = n as f64;
    let p = k as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = p + z2 / (2.0 * n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let low = ((centre - half) / denominator).clamp(0.0, 1.0);
    let high = ((centre + half) / denominator).clamp(0.0, 1.0);
    // Exact at the edges (rounding would leave 1e-17 above 0 for k = 0).
    (
        if k == 0 { 0.0 } else { low },
        if k as f64 == n { 1.0 } else { high },
    )
}

/// Classifies a test (in this order):
/// 1. fewer than `min_runs` judged runs → `unknown`;
/// 2. a retry that passed or a same-commit disagreement → `flaky`;
/// 3. failed in the newest judged run with at most one flip (failing since it started
///    failing, or always) → `broken`;
/// 4. at least two flips and a flip rate above `flaky_flip_rate` → `flaky`;
/// 5. otherwise `healthy`.
pub fn classify(c: &Counts, min_runs: u32, flaky_flip_rate: f64) -> Classification {
    if c.judged() < u64::from(min_runs) {
        return Classification::Unknown;
    }
    if c.disagrees() {
        return Classification::Flaky;
    }
    if c.last_failed == Some(true) && c.flips <= 1 {
        return Classification::Broken;
    }
    if c.flips >= 2 && c.flip_rate() > flaky_flip_rate {
        return Classification::Flaky;
    }
    Classification::Healthy
}

#[cfg(test)]
mod tests;
