//! Per-test statistics over a window of runs, computed in one ordered pass.
//!
//! Both backends select the window (the newest `window` runs of the scope that reported
//! tests), then feed each run's test rows oldest run first into a [`StatsBuilder`]. The
//! builder keeps a few counters per test, so flips (pass↔fail transitions between
//! consecutive runs, skips ignored) and same-commit disagreements (a commit on which the test
//! passed in one run and failed in another) need no sort and no second pass.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::decode::time_of_ms;
use super::record::hex_id;
use super::StoreError;
use crate::model::{TestOutcome, TestRunEntry, TestStats};

/// Default number of runs in a statistics window.
pub const DEFAULT_WINDOW: u32 = 100;
/// Largest statistics window.
pub const MAX_WINDOW: u32 = 1000;

/// The window size for a requested `window`: default 100, 1..=1000.
pub(crate) fn window_size(window: Option<u32>) -> Result<u32, StoreError> {
    match window {
        None => Ok(DEFAULT_WINDOW),
        Some(n @ 1..=MAX_WINDOW) => Ok(n),
        Some(n) => Err(StoreError::Invalid {
            field: "window",
            message: format!("{n} is outside 1..={MAX_WINDOW}"),
        }),
    }
}

/// One run of a statistics window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WindowRun {
    /// The run's `seq` (what the per-run tables are keyed by).
    pub seq: i64,
    /// Integer run id.
    pub id: i64,
    /// Epoch ms.
    pub finished_at: i64,
    /// Commit.
    pub sha: Option<String>,
    /// Branch.
    pub branch: Option<String>,
}

/// Names of a test (from the `tests` table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TestNames {
    pub suite: String,
    pub classname: Option<String>,
    pub name: String,
}

/// Test ids are uniform 64-bit hashes already: a map keyed by them needs no hashing.
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_i64(&mut self, v: i64) {
        self.0 = v as u64;
    }
}

type IdMap<V> = HashMap<i64, V, BuildHasherDefault<IdHasher>>;

const PASS: u8 = 1;
const FAIL: u8 = 2;

#[derive(Debug, Default)]
struct Acc {
    runs: u64,
    passes: u64,
    failures: u64,
    skips: u64,
    flaky_runs: u64,
    flips: u64,
    /// PASS or FAIL of the previous pass-or-fail run, 0 before the first.
    last: u8,
    last_failure_at: Option<i64>,
    last_flaky_at: Option<i64>,
    /// (commit slot, PASS|FAIL bits) for commits built more than once in the window.
    commits: Vec<(u16, u8)>,
}

/// Accumulates the test rows of a window, run by run, oldest run first.
#[derive(Debug)]
pub(crate) struct StatsBuilder {
    /// `finished_at` of each window run, oldest first.
    finished_at: Vec<i64>,
    /// Commit slot of each window run whose commit occurs in more than one window run.
    commit_slot: Vec<Option<u16>>,
    tests: IdMap<Acc>,
    current: usize,
}

impl StatsBuilder {
    /// A builder for `window` (oldest run first).
    pub fn new(window: &[WindowRun]) -> Self {
        let mut count: HashMap<&str, usize> = HashMap::new();
        for run in window {
            if let Some(sha) = run.sha.as_deref() {
                *count.entry(sha).or_default() += 1;
            }
        }
        let mut slots: HashMap<&str, u16> = HashMap::new();
        let commit_slot = window
            .iter()
            .map(|run| {
                let sha = run.sha.as_deref()?;
                if count.get(sha).copied().unwrap_or(0) < 2 {
                    return None;
                }
                let next = u16::try_from(slots.len()).unwrap_or(u16::MAX);
                Some(*slots.entry(sha).or_insert(next))
            })
            .collect();
        Self {
            finished_at: window.iter().map(|r| r.finished_at).collect(),
            commit_slot,
            tests: IdMap::default(),
            current: 0,
        }
    }

    /// Rows that follow belong to the window's run at `index` (oldest first).
    pub fn start_run(&mut self, index: usize) {
        self.current = index;
    }

    /// One test row of the current run.
    pub fn add(&mut self, test: i64, outcome: TestOutcome, flaky: bool) {
        let at = self.finished_at.get(self.current).copied().unwrap_or(0);
        let slot = self.commit_slot.get(self.current).copied().flatten();
        let acc = self.tests.entry(test).or_default();
        acc.runs += 1;
        let bit = match outcome {
            TestOutcome::Passed => {
                acc.passes += 1;
                PASS
            }
            TestOutcome::Failed | TestOutcome::Errored => {
                acc.failures += 1;
                acc.last_failure_at = Some(at);
                FAIL
            }
            TestOutcome::Skipped => {
                acc.skips += 1;
                0
            }
        };
        if flaky {
            acc.flaky_runs += 1;
            acc.last_flaky_at = Some(at);
        }
        if bit == 0 {
            return;
        }
        if acc.last != 0 && acc.last != bit {
            acc.flips += 1;
        }
        acc.last = bit;
        if let Some(slot) = slot {
            match acc.commits.iter_mut().find(|(s, _)| *s == slot) {
                Some((_, bits)) => *bits |= bit,
                None => acc.commits.push((slot, bit)),
            }
        }
    }

    /// The ids of every test seen so far.
    pub fn test_ids(&self) -> Vec<i64> {
        self.tests.keys().copied().collect()
    }

    /// The statistics, most unstable first (flips, then failures, then flaky runs, all
    /// descending; then test id).
    pub fn finish(self, names: &HashMap<i64, TestNames>) -> Result<Vec<TestStats>, StoreError> {
        let mut out = Vec::with_capacity(self.tests.len());
        for (test, acc) in self.tests {
            let judged = acc.passes + acc.failures;
            let names = names.get(&test).cloned().unwrap_or_default();
            out.push(TestStats {
                test_id: hex_id(test),
                suite: names.suite,
                classname: names.classname,
                name: names.name,
                runs: acc.runs,
                passes: acc.passes,
                failures: acc.failures,
                skips: acc.skips,
                flaky_runs: acc.flaky_runs,
                flips: acc.flips,
                flip_rate: if judged < 2 {
                    0.0
                } else {
                    acc.flips as f64 / (judged - 1) as f64
                },
                same_commit_disagreements: acc
                    .commits
                    .iter()
                    .filter(|(_, bits)| *bits == PASS | FAIL)
                    .count() as u64,
                last_outcome: match acc.last {
                    PASS => Some(TestOutcome::Passed),
                    FAIL => Some(TestOutcome::Failed),
                    _ => None,
                },
                last_failure_at: acc.last_failure_at.map(time_of_ms).transpose()?,
                last_flaky_at: acc.last_flaky_at.map(time_of_ms).transpose()?,
            });
        }
        out.sort_by(|a, b| {
            (b.flips, b.failures, b.flaky_runs)
                .cmp(&(a.flips, a.failures, a.flaky_runs))
                .then_with(|| a.test_id.cmp(&b.test_id))
        });
        Ok(out)
    }
}

/// One `test_results` row of a test's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistoryRow {
    /// The run's `seq`.
    pub run_seq: i64,
    pub outcome: TestOutcome,
    pub flaky: bool,
    pub attempts: i64,
    pub duration_ms: i64,
}

/// A test's history: its rows in the order of `window` (newest first), runs without the test
/// left out.
pub(crate) fn history(
    window: &[WindowRun],
    rows: Vec<HistoryRow>,
) -> Result<Vec<TestRunEntry>, StoreError> {
    let mut by_run: HashMap<i64, HistoryRow> = rows.into_iter().map(|r| (r.run_seq, r)).collect();
    window
        .iter()
        .filter_map(|run| by_run.remove(&run.seq).map(|row| (run, row)))
        .map(|(run, row)| {
            Ok(TestRunEntry {
                run: hex_id(run.id),
                branch: run.branch.clone(),
                sha: run.sha.clone(),
                finished_at: time_of_ms(run.finished_at)?,
                outcome: row.outcome,
                flaky: row.flaky,
                attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
                duration_ms: u64::try_from(row.duration_ms).unwrap_or(0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use TestOutcome::{Errored as E, Failed as F, Passed as P, Skipped as S};

    fn window(shas: &[&str]) -> Vec<WindowRun> {
        shas.iter()
            .enumerate()
            .map(|(i, sha)| WindowRun {
                seq: i as i64 + 1,
                id: i as i64,
                finished_at: 1000 * (i as i64 + 1),
                sha: Some((*sha).to_owned()),
                branch: None,
            })
            .collect()
    }

    /// Runs `outcomes` (oldest first, `None` = absent) of one test through a builder.
    fn stats(shas: &[&str], outcomes: &[Option<(TestOutcome, bool)>]) -> TestStats {
        let w = window(shas);
        let mut b = StatsBuilder::new(&w);
        for (i, o) in outcomes.iter().enumerate() {
            b.start_run(i);
            if let Some((outcome, flaky)) = o {
                b.add(7, *outcome, *flaky);
            }
        }
        b.finish(&HashMap::new()).unwrap().remove(0)
    }

    #[test]
    fn flips_ignore_skips_and_absences() {
        let table: &[(&[Option<TestOutcome>], u64, f64)] = &[
            (&[Some(P), Some(P), Some(P)], 0, 0.0),
            (&[Some(P), Some(F), Some(P), Some(F)], 3, 1.0),
            (&[Some(P), Some(S), Some(F), None, Some(E)], 1, 1.0 / 2.0),
            (&[Some(F), Some(E), Some(P), Some(P), Some(P)], 1, 1.0 / 4.0),
            (&[Some(S), Some(P)], 0, 0.0),
            (&[Some(F)], 0, 0.0),
        ];
        for (outcomes, flips, rate) in table {
            let shas: Vec<String> = (0..outcomes.len()).map(|i| format!("c{i}")).collect();
            let shas: Vec<&str> = shas.iter().map(String::as_str).collect();
            let o: Vec<_> = outcomes.iter().map(|o| o.map(|o| (o, false))).collect();
            let s = stats(&shas, &o);
            assert_eq!(s.flips, *flips, "{outcomes:?}");
            assert!(
                (s.flip_rate - rate).abs() < 1e-12,
                "{outcomes:?}: {}",
                s.flip_rate
            );
            assert_eq!(s.same_commit_disagreements, 0);
        }
    }

    #[test]
    fn counts_and_last_times() {
        let s = stats(
            &["a", "b", "c", "d"],
            &[
                Some((F, false)),
                Some((P, true)),
                Some((S, false)),
                Some((P, true)),
            ],
        );
        assert_eq!(
            (s.runs, s.passes, s.failures, s.skips, s.flaky_runs),
            (4, 2, 1, 1, 2)
        );
        assert_eq!(s.last_failure_at.unwrap().timestamp_millis(), 1000);
        assert_eq!(s.last_flaky_at.unwrap().timestamp_millis(), 4000);
        assert_eq!(s.test_id, "0000000000000007");
    }

    #[test]
    fn same_commit_disagreements_count_commits_not_runs() {
        // Commit a: pass, fail, fail (1); commit b: pass, skip (0); commit c: fail, pass (1).
        let s = stats(
            &["a", "a", "b", "a", "b", "c", "c"],
            &[
                Some((P, false)),
                Some((F, false)),
                Some((P, false)),
                Some((E, false)),
                Some((S, false)),
                Some((F, false)),
                Some((P, true)),
            ],
        );
        assert_eq!(s.same_commit_disagreements, 2);
    }

    #[test]
    fn history_follows_the_window_order() {
        let w = window(&["a", "b", "c"]);
        let newest_first: Vec<_> = w.iter().rev().cloned().collect();
        let row = |id: i64| HistoryRow {
            run_seq: id + 1,
            outcome: P,
            flaky: false,
            attempts: 1,
            duration_ms: 3,
        };
        let h = history(&newest_first, vec![row(0), row(2)]).unwrap();
        let runs: Vec<_> = h.iter().map(|e| e.run.clone()).collect();
        assert_eq!(runs, [hex_id(2), hex_id(0)]);
    }

    #[test]
    fn window_sizes() {
        assert_eq!(window_size(None).unwrap(), 100);
        assert!(window_size(Some(0)).is_err());
        assert!(window_size(Some(1001)).is_err());
    }
}
