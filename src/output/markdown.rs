//! The Markdown summary: the GitHub job summary and `--format markdown`.
//!
//! Every untrusted string goes through [`escape::markdown`] (table cells, headings) or
//! [`escape::html`] (inside `<pre>`). The output never exceeds the byte limit it is given:
//! rows stop early and a notice says how many were left out.

use std::fmt::Write;

use crate::model::{RunOutcome, RunReport, TestOutcome};

use super::escape;
use super::{
    failed_cases, first_message_line, flaky_cases, full_name, human_duration, slowest_cases,
};

/// GitHub refuses a job summary over 1 MiB per step.
pub const GITHUB_SUMMARY_LIMIT: usize = 1024 * 1024;
/// Room kept for the sections after the failure list and the closing lines.
const RESERVE: usize = 16 * 1024;

/// Renders the summary within `limit` bytes.
pub fn render(report: &RunReport, limit: usize) -> String {
    let s = &report.tests.summary;
    let mut out = String::new();
    let icon = match report.outcome {
        RunOutcome::Success => "✅",
        RunOutcome::Failure => "❌",
        RunOutcome::Cancelled | RunOutcome::Skipped => "⚪",
        RunOutcome::Unknown => "❔",
    };
    let tests_icon = if s.failed + s.errored > 0 {
        "❌"
    } else if s.total == 0 {
        "⚠️"
    } else {
        "✅"
    };
    let title = [report.workflow.as_deref(), report.job.as_deref()]
        .into_iter()
        .flatten()
        .map(escape::markdown)
        .collect::<Vec<_>>()
        .join(" › ");
    let _ = writeln!(
        out,
        "### {tests_icon} Test results{}",
        if title.is_empty() {
            String::new()
        } else {
            format!(" — {title}")
        }
    );
    out.push('\n');
    let _ = writeln!(
        out,
        "| Job | Tests | Passed | Failed | Errored | Skipped | Flaky | Test time |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| {icon} {} | {} | {} | {} | {} | {} | {} | {} |",
        report.outcome.as_str(),
        s.total,
        s.passed,
        s.failed,
        s.errored,
        s.skipped,
        s.flaky,
        human_duration(s.duration_ms)
    );
    out.push('\n');

    let failed: Vec<_> = failed_cases(report).collect();
    if !failed.is_empty() {
        let _ = writeln!(
            out,
            "<details open><summary><b>Failed tests ({})</b></summary>\n",
            failed.len()
        );
        let _ = writeln!(out, "| Test | Outcome | Message |");
        let _ = writeln!(out, "|---|---|---|");
        let budget = limit.saturating_sub(RESERVE);
        let mut shown = 0;
        for case in &failed {
            let message = first_message_line(case)
                .map(|m| crate::junit::text::clip(m, 300).0)
                .unwrap_or("");
            let mut row = format!(
                "| {} | {} | {} |\n",
                escape::markdown(&full_name(case)),
                if case.outcome == TestOutcome::Errored {
                    "errored"
                } else {
                    "failed"
                },
                escape::markdown(message)
            );
            if let (Some(file), Some(line)) = (case.file.as_deref(), case.line) {
                row.insert_str(
                    row.len() - 3,
                    &format!(" <sub>{}:{line}</sub>", escape::html(file)),
                );
            }
            if out.len() + row.len() > budget {
                break;
            }
            out.push_str(&row);
            shown += 1;
        }
        if shown < failed.len() {
            let _ = writeln!(
                out,
                "\n> {} more failed tests are not shown: the summary is limited to {} KiB. The JSON report has every test.",
                failed.len() - shown,
                limit / 1024
            );
        }
        out.push_str("\n</details>\n\n");
    }

    let flaky: Vec<_> = flaky_cases(report).collect();
    if !flaky.is_empty() && out.len() + RESERVE / 2 < limit {
        let _ = writeln!(
            out,
            "<details><summary><b>Flaky tests ({})</b>: failed, then passed on retry</summary>\n",
            flaky.len()
        );
        let _ = writeln!(out, "| Test | Attempts |");
        let _ = writeln!(out, "|---|---:|");
        let mut shown = 0;
        for case in &flaky {
            let row = format!(
                "| {} | {} |\n",
                escape::markdown(&full_name(case)),
                case.attempts.len()
            );
            if out.len() + row.len() + RESERVE / 2 > limit {
                break;
            }
            out.push_str(&row);
            shown += 1;
        }
        if shown < flaky.len() {
            let _ = writeln!(
                out,
                "\n> {} more flaky tests are not shown.",
                flaky.len() - shown
            );
        }
        out.push_str("\n</details>\n\n");
    }

    let slow = slowest_cases(report, 5);
    if slow.len() > 1 && out.len() + 4096 < limit {
        out.push_str(
            "<details><summary><b>Slowest tests</b></summary>\n\n| Test | Time |\n|---|---:|\n",
        );
        for case in slow {
            let _ = writeln!(
                out,
                "| {} | {} |",
                escape::markdown(&full_name(case)),
                human_duration(case.duration_ms)
            );
        }
        out.push_str("\n</details>\n\n");
    }

    if !report.warnings.is_empty() && out.len() + 2048 < limit {
        out.push_str("<details><summary><b>Reporter warnings</b></summary>\n\n");
        for w in &report.warnings {
            let line = format!(
                "- {}\n",
                escape::markdown(crate::junit::text::clip(w, 500).0)
            );
            if out.len() + line.len() + 512 > limit {
                break;
            }
            out.push_str(&line);
        }
        out.push_str("\n</details>\n\n");
    }
    let _ = writeln!(
        out,
        "<sub>cimon {} · {}</sub>",
        env!("CARGO_PKG_VERSION"),
        crate::model::REPORT_SCHEMA
    );
    out
}
