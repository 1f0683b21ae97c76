//! `/metrics`: pipeline metrics derived from the store (every replica serves the same
//! numbers), plus this replica's own ingest counters.
//!
//! Labels are `provider, repository, workflow, job, branch` (plus `status`/`outcome` where
//! named) — never run ids or test names, so cardinality is bounded by the pipelines that ran
//! within the TTL. Pipelines without a run for the TTL disappear.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::model::{PipelineState, RunOutcome, DURATION_BUCKETS_SECONDS};

use super::exposition::{Family, Kind, Sample};

/// Upper bounds (seconds) of the ingest latency histogram.
const INGEST_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

const OUTCOMES: [RunOutcome; 5] = [
    RunOutcome::Success,
    RunOutcome::Failure,
    RunOutcome::Cancelled,
    RunOutcome::Skipped,
    RunOutcome::Unknown,
];

#[derive(Debug, Default)]
struct IngestInner {
    by_code: BTreeMap<u16, u64>,
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

/// This replica's ingest counters.
#[derive(Debug, Default)]
pub struct IngestStats {
    inner: Mutex<IngestInner>,
}

impl IngestStats {
    /// Records one ingest request.
    pub fn record(&self, code: u16, elapsed: Duration) {
        let Ok(mut s) = self.inner.lock() else { return };
        *s.by_code.entry(code).or_default() += 1;
        if s.buckets.is_empty() {
            s.buckets = vec![0; INGEST_BUCKETS.len()];
        }
        let secs = elapsed.as_secs_f64();
        for (i, le) in INGEST_BUCKETS.iter().enumerate() {
            if secs <= *le {
                s.buckets[i] += 1;
            }
        }
        s.count += 1;
        s.sum += secs;
    }

    fn families(&self) -> Vec<Family> {
        let s = match self.inner.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let requests = s
            .by_code
            .iter()
            .map(|(code, n)| Sample {
                suffix: "_total",
                labels: vec![("code", code.to_string())],
                value: *n as f64,
            })
            .collect();
        let mut latency = Vec::new();
        for (i, le) in INGEST_BUCKETS.iter().enumerate() {
            let v = s.buckets.get(i).copied().unwrap_or(0);
            latency.push(Sample {
                suffix: "_bucket",
                labels: vec![("le", le.to_string())],
                value: v as f64,
            });
        }
        latency.push(Sample {
            suffix: "_bucket",
            labels: vec![("le", "+Inf".into())],
            value: s.count as f64,
        });
        latency.push(Sample {
            suffix: "_sum",
            labels: vec![],
            value: s.sum,
        });
        latency.push(Sample {
            suffix: "_count",
            labels: vec![],
            value: s.count as f64,
        });
        vec![
            Family {
                name: "cimon_ingest_requests",
                help:
                    "Requests to POST /api/v1/runs answered by this replica, by HTTP status code.",
                kind: Kind::Counter,
                samples: requests,
            },
            Family {
                name: "cimon_ingest_duration_seconds",
                help: "Time this replica took to answer POST /api/v1/runs.",
                kind: Kind::Histogram,
                samples: latency,
            },
        ]
    }
}

fn labels(p: &PipelineState) -> Vec<(&'static str, String)> {
    vec![
        ("provider", p.provider.as_str().to_string()),
        ("repository", p.repository.clone()),
        ("workflow", p.workflow.clone()),
        ("job", p.job.clone()),
        ("branch", p.branch.clone()),
    ]
}

fn with(
    mut base: Vec<(&'static str, String)>,
    key: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    base.push((key, value.to_string()));
    base
}

/// Every family of `/metrics`, from the pipelines' states and this replica's counters.
pub fn families(pipelines: &[PipelineState], ingest: &IngestStats) -> Vec<Family> {
    let mut last_duration = Vec::new();
    let mut job_duration = Vec::new();
    let mut status = Vec::new();
    let mut runs = Vec::new();
    let mut hist = Vec::new();
    let mut last_ts = Vec::new();
    let mut tests = Vec::new();
    let mut flaky = Vec::new();
    for p in pipelines {
        let l = labels(p);
        if let Some(ms) = p.last_duration_ms {
            let total = ms + p.last_queued_ms.unwrap_or(0);
            last_duration.push(Sample {
                suffix: "",
                labels: l.clone(),
                value: total as f64 / 1000.0,
            });
            job_duration.push(Sample {
                suffix: "",
                labels: l.clone(),
                value: ms as f64 / 1000.0,
            });
        }
        for o in OUTCOMES {
            let value = if o == p.last_outcome { 1.0 } else { 0.0 };
            status.push(Sample {
                suffix: "",
                labels: with(l.clone(), "status", o.as_str()),
                value,
            });
        }
        for (o, n) in &p.runs_by_outcome {
            runs.push(Sample {
                suffix: "_total",
                labels: with(l.clone(), "outcome", o.as_str()),
                value: *n as f64,
            });
        }
        for (i, le) in DURATION_BUCKETS_SECONDS.iter().enumerate() {
            let v = p.duration_buckets.get(i).copied().unwrap_or(0);
            hist.push(Sample {
                suffix: "_bucket",
                labels: with(l.clone(), "le", &le.to_string()),
                value: v as f64,
            });
        }
        hist.push(Sample {
            suffix: "_bucket",
            labels: with(l.clone(), "le", "+Inf"),
            value: p.duration_count as f64,
        });
        hist.push(Sample {
            suffix: "_sum",
            labels: l.clone(),
            value: p.duration_sum_ms as f64 / 1000.0,
        });
        hist.push(Sample {
            suffix: "_count",
            labels: l.clone(),
            value: p.duration_count as f64,
        });
        last_ts.push(Sample {
            suffix: "",
            labels: l.clone(),
            value: p.last_finished_at.timestamp_millis() as f64 / 1000.0,
        });
        let t = &p.last_tests;
        for (outcome, n) in [
            ("passed", t.passed),
            ("failed", t.failed),
            ("errored", t.errored),
            ("skipped", t.skipped),
        ] {
            tests.push(Sample {
                suffix: "",
                labels: with(l.clone(), "outcome", outcome),
                value: n as f64,
            });
        }
        flaky.push(Sample {
            suffix: "",
            labels: l,
            value: t.flaky as f64,
        });
    }
    let mut out = vec![
        Family {
            name: "ci_pipeline_last_duration_seconds",
            help: "Queue plus run time of the latest run of the pipeline.",
            kind: Kind::Gauge,
            samples: last_duration,
        },
        Family {
            name: "ci_pipeline_status",
            help: "Outcome of the latest run: one series per status, 1 for the current one.",
            kind: Kind::Gauge,
            samples: status,
        },
        Family {
            name: "ci_pipeline_runs",
            help: "Runs stored, by outcome.",
            kind: Kind::Counter,
            samples: runs,
        },
        Family {
            name: "ci_pipeline_duration_seconds",
            help: "Run time of every stored run of the pipeline.",
            kind: Kind::Histogram,
            samples: hist,
        },
        Family {
            name: "ci_job_duration_seconds",
            help: "Run time (without queue) of the latest run of the job.",
            kind: Kind::Gauge,
            samples: job_duration,
        },
        Family {
            name: "ci_pipeline_last_run_timestamp_seconds",
            help: "When the latest run of the pipeline finished (Unix time).",
            kind: Kind::Gauge,
            samples: last_ts,
        },
        Family {
            name: "ci_tests",
            help: "Tests of the latest run, by outcome.",
            kind: Kind::Gauge,
            samples: tests,
        },
        Family {
            name: "ci_flaky_tests",
            help: "Tests of the latest run that failed, then passed on a retry.",
            kind: Kind::Gauge,
            samples: flaky,
        },
    ];
    out.extend(ingest.families());
    out.push(Family {
        name: "cimon_build_info",
        help: "cimon's version; always 1.",
        kind: Kind::Gauge,
        samples: vec![Sample {
            suffix: "",
            labels: vec![("version", env!("CARGO_PKG_VERSION").into())],
            value: 1.0,
        }],
    });
    out
}
