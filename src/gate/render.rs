//! A verdict as terminal text, and as Markdown plus annotations — the job summary here, a
//! check-run summary or pull-request comment for the forge integration. Pure; every
//! untrusted string (test names, quarantine reasons, branches) is escaped for its medium.

use std::fmt::Write as _;

use crate::model::{
    Annotation, AnnotationLevel, CheckReport, Classification, Conclusion, Level, TestVerdict,
    Verdict, VerdictKind, Violation,
};
use crate::output::escape;

/// Most tests listed per classification in text and Markdown.
pub const MAX_LISTED: usize = 25;

/// The Markdown summary and the annotations of a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Markdown, at most the requested number of characters.
    pub markdown: String,
    /// One per violation or excused test that has a source location.
    pub annotations: Vec<Annotation>,
}

fn icon(v: VerdictKind) -> &'static str {
    match v {
        VerdictKind::Pass => "✅",
        VerdictKind::Warn => "⚠️",
        VerdictKind::Fail => "❌",
    }
}

fn full_name(t: &TestVerdict) -> String {
    match &t.classname {
        Some(c) if !c.is_empty() => format!("{c}.{}", t.name),
        _ => t.name.clone(),
    }
}

fn window_line(v: &Verdict) -> String {
    let s = &v.scope;
    let mut w = format!("newest {} runs", s.window_runs);
    if let Some(d) = s.window_days {
        let _ = write!(w, " of the last {d} days");
    }
    if let Some(b) = s.base_branch.as_deref().or(s.branch.as_deref()) {
        let _ = write!(w, " of {b}");
    }
    let _ = write!(w, " ({} found; history: {})", s.history_runs, s.history);
    w
}

/// Terminal text (untrusted strings escaped for a terminal).
pub fn render_text(v: &Verdict) -> String {
    let t = |s: &str| escape::terminal(s).into_owned();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cimon gate: {} — {}",
        v.verdict.as_str().to_uppercase(),
        t(&v.summary)
    );
    let _ = writeln!(out, "  mode {}, window: {}", v.mode, t(&window_line(v)));
    for x in &v.violations {
        let mark = match x.level {
            Level::Fail => "✗",
            Level::Warn => "!",
        };
        let _ = writeln!(out, "  {mark} {}: {}", x.rule, t(&x.message));
    }
    for e in &v.excused {
        let why = match &e.entry {
            Some(q) => format!("quarantined by {} ({}, {})", q.origin, q.owner, q.reason),
            None => "known flaky".into(),
        };
        let _ = writeln!(
            out,
            "  ~ excused: {} ({}): {}",
            t(&e.test.full_name()),
            e.excused,
            t(&why)
        );
    }
    for w in &v.warnings {
        let _ = writeln!(out, "  warning: {}", t(w));
    }
    if let Some(x) = v.failures_excused {
        let _ = writeln!(
            out,
            "  failed tests of this run: {}",
            if x {
                "all quarantined or known flaky (excused)"
            } else {
                "not all known flakes (not excused)"
            }
        );
    }
    for class in [Classification::Flaky, Classification::Broken] {
        let list: Vec<&TestVerdict> = v
            .tests
            .iter()
            .filter(|x| x.classification == class)
            .collect();
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {} ({}):", class.as_str(), list.len());
        for x in list.iter().take(MAX_LISTED) {
            let s = &x.statistics;
            let _ = writeln!(
                out,
                "    {}{} — {} runs, {} failed, {} retried, flip rate {:.3}",
                t(&full_name(x)),
                if x.quarantined { " [quarantined]" } else { "" },
                s.passes + s.failures,
                s.failures,
                s.flaky_runs,
                s.flip_rate
            );
        }
        if list.len() > MAX_LISTED {
            let _ = writeln!(out, "    … and {} more", list.len() - MAX_LISTED);
        }
    }
    out
}

fn md_row(out: &mut String, x: &Violation) {
    let test = x
        .test
        .as_ref()
        .map(|t| escape::markdown(&t.full_name()))
        .unwrap_or_default();
    // Counts (max_flaky_tests) as integers, rates with three decimals.
    let counts = x.rule == "max_flaky_tests";
    let num = |n: Option<f64>| {
        n.map(|n| {
            if counts {
                format!("{n:.0}")
            } else {
                format!("{n:.3}")
            }
        })
        .unwrap_or_default()
    };
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |",
        match x.level {
            Level::Fail => "❌ fail",
            Level::Warn => "⚠️ warn",
        },
        x.rule,
        test,
        num(x.value),
        num(x.threshold),
        escape::markdown(&x.message)
    );
}

/// The Markdown summary (at most `limit` bytes, so within a limit counted in characters
/// too; sections that do not fit are left out with a note) and the annotations. `limit` is
/// 65 535 for a GitHub check run, 1 MiB for a job summary.
pub fn render_markdown(v: &Verdict, limit: usize) -> Rendered {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {} cimon gate: {}\n\n{}\n",
        icon(v.verdict),
        v.verdict.as_str(),
        escape::markdown(&v.summary)
    );
    let _ = writeln!(
        out,
        "Mode `{}`; window: {}.\n",
        v.mode,
        escape::markdown(&window_line(v))
    );
    let mut sections: Vec<String> = Vec::new();
    if !v.violations.is_empty() {
        let mut s = String::from("### Violations\n\n| | rule | test | value | threshold | why |\n|---|---|---|---|---|---|\n");
        for x in &v.violations {
            md_row(&mut s, x);
        }
        sections.push(s);
    }
    if !v.excused.is_empty() {
        let mut s = String::from("### Excused\n\n| test | excused | by |\n|---|---|---|\n");
        for e in &v.excused {
            let by = match &e.entry {
                Some(q) => format!(
                    "quarantine ({}, owner {}, {}{})",
                    q.origin,
                    q.owner,
                    q.reason,
                    q.until
                        .as_deref()
                        .map(|u| format!(", until {u}"))
                        .unwrap_or_default()
                ),
                None => "known flaky on the base branch".into(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                escape::markdown(&e.test.full_name()),
                e.excused,
                escape::markdown(&by)
            );
        }
        sections.push(s);
    }
    for class in [Classification::Flaky, Classification::Broken] {
        let list: Vec<&TestVerdict> = v
            .tests
            .iter()
            .filter(|x| x.classification == class)
            .collect();
        if list.is_empty() {
            continue;
        }
        let mut s = format!(
            "### {} tests ({})\n\n| test | runs | failed | retried | flips | flip rate | failure rate (Wilson) |\n|---|---|---|---|---|---|---|\n",
            if class == Classification::Flaky { "Flaky" } else { "Broken" },
            list.len()
        );
        for x in list.iter().take(MAX_LISTED) {
            let st = &x.statistics;
            let _ = writeln!(
                s,
                "| {}{} | {} | {} | {} | {} | {:.3} | {:.3} [{:.3}, {:.3}] |",
                escape::markdown(&full_name(x)),
                if x.quarantined { " (quarantined)" } else { "" },
                st.passes + st.failures,
                st.failures,
                st.flaky_runs,
                st.flips,
                st.flip_rate,
                st.failure_rate,
                st.failure_rate_low,
                st.failure_rate_high
            );
        }
        if list.len() > MAX_LISTED {
            let _ = writeln!(
                s,
                "\n… and {} more (see the JSON verdict).",
                list.len() - MAX_LISTED
            );
        }
        sections.push(s);
    }
    if !v.warnings.is_empty() {
        let mut s = String::from("### Warnings\n\n");
        for w in &v.warnings {
            let _ = writeln!(s, "- {}", escape::markdown(w));
        }
        sections.push(s);
    }
    const CUT: &str = "\n_… cut to fit; the JSON verdict (`--format json`) has everything._\n";
    for s in sections {
        if out.len() + s.len() + 1 + CUT.len() > limit {
            out.push_str(CUT);
            break;
        }
        out.push_str(&s);
        out.push('\n');
    }
    if out.len() > limit {
        let mut end = limit;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    Rendered {
        markdown: out,
        annotations: annotations(v),
    }
}

fn annotations(v: &Verdict) -> Vec<Annotation> {
    let located = |id: &str| {
        v.tests
            .iter()
            .find(|t| t.id == id)
            .and_then(|t| Some((t.file.clone()?, t.line.unwrap_or(1))))
    };
    let mut out = Vec::new();
    for x in &v.violations {
        let Some(t) = &x.test else { continue };
        if let Some((path, line)) = located(&t.id) {
            out.push(Annotation {
                path,
                start_line: line,
                end_line: line,
                level: match x.level {
                    Level::Fail => AnnotationLevel::Failure,
                    Level::Warn => AnnotationLevel::Warning,
                },
                title: Some(format!("cimon gate: {} ({})", x.rule, t.full_name())),
                message: x.message.clone(),
                raw_details: None,
            });
        }
    }
    for x in &v.violations {
        let Some(at) = x.location.as_ref().filter(|_| x.test.is_none()) else {
            continue;
        };
        out.push(Annotation {
            path: at.path.clone(),
            start_line: at.line,
            end_line: at.line,
            level: match x.level {
                Level::Fail => AnnotationLevel::Failure,
                Level::Warn => AnnotationLevel::Warning,
            },
            title: Some(format!("cimon gate: {}", x.rule)),
            message: x.message.clone(),
            raw_details: None,
        });
    }
    for e in &v.excused {
        if let Some((path, line)) = located(&e.test.id) {
            out.push(Annotation {
                path,
                start_line: line,
                end_line: line,
                level: AnnotationLevel::Notice,
                raw_details: None,
                title: Some(format!("cimon gate: excused ({})", e.test.full_name())),
                message: match &e.entry {
                    Some(q) => format!(
                        "{}; quarantined by {} (owner {}, {})",
                        e.excused, q.origin, q.owner, q.reason
                    ),
                    None => format!("{}; known flaky on the base branch", e.excused),
                },
            });
        }
    }
    out
}

/// GitHub's check-run summary limit, in characters.
pub const CHECK_SUMMARY_LIMIT: usize = 65_535;

/// The check (`cimon / flakiness`) for the forge integration: fail → failure, warn →
/// neutral, pass → success; the Markdown summary within the check-run limit and the
/// annotations.
pub fn check_report(v: &Verdict, head_sha: &str, details_url: Option<String>) -> CheckReport {
    let rendered = render_markdown(v, CHECK_SUMMARY_LIMIT);
    let conclusion = match v.verdict {
        VerdictKind::Pass => Conclusion::Success,
        VerdictKind::Warn => Conclusion::Neutral,
        VerdictKind::Fail => Conclusion::Failure,
    };
    let mut check = CheckReport::new(
        head_sha,
        conclusion,
        format!("flakiness gate: {}", v.verdict.as_str()),
        rendered.markdown,
    );
    check.annotations = rendered.annotations;
    check.details_url = details_url;
    check
}
