//! Renderers of a run report: human text, Markdown, JSON, and the GitHub Actions
//! integration (job summary, annotations, step outputs). Renderers are pure functions from a
//! report to a string; only [`github`] writes files, through paths it is given.

pub mod escape;
pub mod github;
pub mod markdown;
pub mod text;

use std::io::Write;

use crate::model::{RunReport, TestCase, TestOutcome};

/// Standard output without the line buffering of [`std::io::Stdout`], which scans every
/// write for its last newline: a pass over the whole of a JSON report of hundreds of MB.
/// On Unix the descriptor is duplicated and written to directly; elsewhere, or if that
/// fails, the locked `Stdout` is used. Callers buffer and flush as with any writer.
pub fn stdout_unbuffered() -> Box<dyn Write> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        if let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() {
            return Box::new(std::fs::File::from(fd));
        }
    }
    Box::new(std::io::stdout().lock())
}

/// The failed and errored tests, in report order.
pub fn failed_cases(report: &RunReport) -> impl Iterator<Item = &TestCase> {
    report.tests.cases.iter().filter(|c| c.outcome.is_failure())
}

/// The flaky tests, in report order.
pub fn flaky_cases(report: &RunReport) -> impl Iterator<Item = &TestCase> {
    report.tests.cases.iter().filter(|c| c.flaky)
}

/// The `n` slowest tests (ties keep report order).
pub fn slowest_cases(report: &RunReport, n: usize) -> Vec<&TestCase> {
    let mut all: Vec<&TestCase> = report
        .tests
        .cases
        .iter()
        .filter(|c| c.outcome != TestOutcome::Skipped)
        .collect();
    all.sort_by_key(|c| std::cmp::Reverse(c.duration_ms));
    all.truncate(n);
    all
}

/// `classname.name`, or the name alone.
pub fn full_name(case: &TestCase) -> String {
    match case.classname.as_deref() {
        Some(c) if !c.is_empty() && !case.name.starts_with(c) => format!("{c}.{}", case.name),
        _ => case.name.to_string(),
    }
}

/// The first line of what the final failing attempt said (message, else stack trace).
pub fn first_message_line(case: &TestCase) -> Option<&str> {
    let details = case
        .attempts
        .iter()
        .rev()
        .find_map(|a| a.details.as_deref())?;
    let text = details
        .message
        .as_deref()
        .or(details.stack_trace.as_deref())?;
    text.lines().map(str::trim).find(|l| !l.is_empty())
}

/// A duration in milliseconds as `1h2m`, `3m4s`, `5.6s` or `78ms`.
pub fn human_duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000),
        _ => format!("{}h{}m", ms / 3_600_000, (ms % 3_600_000) / 60_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(78), "78ms");
        assert_eq!(human_duration(5_640), "5.6s");
        assert_eq!(human_duration(184_000), "3m4s");
        assert_eq!(human_duration(3_720_000), "1h2m");
    }
}
