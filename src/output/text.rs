//! The compact human summary printed by `cimon report` (coloured on a terminal).

use std::fmt::Write;

use crate::model::{RunOutcome, RunReport};

use super::escape::terminal;
use super::{
    failed_cases, first_message_line, flaky_cases, full_name, human_duration, slowest_cases,
};

/// At most this many failed (and flaky) tests are listed.
pub const LIST_LIMIT: usize = 20;
/// How many of the slowest tests are shown.
pub const SLOWEST: usize = 5;

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn red(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn dim(&self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
}

/// Renders the summary; `color` adds ANSI colours.
pub fn render(report: &RunReport, color: bool) -> String {
    let p = Paint { on: color };
    let s = &report.tests.summary;
    let mut out = String::new();
    let outcome = match report.outcome {
        RunOutcome::Success => p.green("success"),
        RunOutcome::Failure => p.red("failure"),
        RunOutcome::Cancelled | RunOutcome::Skipped => p.yellow(report.outcome.as_str()),
        RunOutcome::Unknown => p.dim("unknown"),
    };
    let what = [
        report.repository.as_deref(),
        report.workflow.as_deref(),
        report.job.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(|x| terminal(x).into_owned())
    .collect::<Vec<_>>()
    .join(" › ");
    let _ = write!(out, "{} {outcome}", p.bold("cimon"));
    if !what.is_empty() {
        let _ = write!(out, "  {what}");
    }
    if let Some(ms) = report.duration_ms {
        let _ = write!(out, "  {}", p.dim(&format!("in {}", human_duration(ms))));
    }
    out.push('\n');

    let mut counts = vec![format!("{} passed", s.passed)];
    if s.failed > 0 {
        counts.push(p.red(&format!("{} failed", s.failed)));
    }
    if s.errored > 0 {
        counts.push(p.red(&format!("{} errored", s.errored)));
    }
    if s.skipped > 0 {
        counts.push(p.yellow(&format!("{} skipped", s.skipped)));
    }
    if s.flaky > 0 {
        counts.push(p.yellow(&format!("{} flaky", s.flaky)));
    }
    let files = report.tests.files.len();
    let _ = writeln!(
        out,
        "tests  {} total: {}  {}",
        s.total,
        counts.join(", "),
        p.dim(&format!(
            "({files} report file{}, {})",
            if files == 1 { "" } else { "s" },
            human_duration(s.duration_ms)
        ))
    );

    let failed: Vec<_> = failed_cases(report).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold(&p.red("Failed")));
        for case in failed.iter().take(LIST_LIMIT) {
            let mark = if case.outcome == crate::model::TestOutcome::Errored {
                "E"
            } else {
                "✗"
            };
            let _ = writeln!(out, "  {} {}", p.red(mark), terminal(&full_name(case)));
            if let Some(line) = first_message_line(case) {
                let (line, _) = crate::junit::text::clip(line, 200);
                let _ = writeln!(out, "      {}", p.dim(&terminal(line)));
            }
        }
        if failed.len() > LIST_LIMIT {
            let _ = writeln!(out, "  … and {} more", failed.len() - LIST_LIMIT);
        }
    }
    let flaky: Vec<_> = flaky_cases(report).collect();
    if !flaky.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            p.bold(&p.yellow("Flaky (failed, then passed on retry)"))
        );
        for case in flaky.iter().take(LIST_LIMIT) {
            let _ = writeln!(
                out,
                "  ~ {}  {}",
                terminal(&full_name(case)),
                p.dim(&format!("{} attempts", case.attempts.len()))
            );
        }
        if flaky.len() > LIST_LIMIT {
            let _ = writeln!(out, "  … and {} more", flaky.len() - LIST_LIMIT);
        }
    }
    let slow = slowest_cases(report, SLOWEST);
    if slow.len() > 1 {
        let _ = writeln!(out, "\n{}", p.bold("Slowest"));
        for case in slow {
            let _ = writeln!(
                out,
                "  {:>8}  {}",
                human_duration(case.duration_ms),
                terminal(&full_name(case))
            );
        }
    }
    if !report.warnings.is_empty() {
        let n = report.warnings.len();
        let _ = writeln!(
            out,
            "\n{}",
            p.yellow(&format!(
                "{n} reporter warning{} (on stderr and in the report)",
                if n == 1 { "" } else { "s" }
            ))
        );
    }
    out
}
