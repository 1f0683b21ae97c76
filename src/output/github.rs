//! GitHub Actions integration: failed-test annotations (workflow commands), the job summary
//! (`$GITHUB_STEP_SUMMARY`) and step outputs (`$GITHUB_OUTPUT`).

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use crate::model::RunReport;

use super::escape::{workflow_data, workflow_property};
use super::{failed_cases, full_name};

/// Longest annotation message written, in bytes (GitHub truncates long ones anyway).
const ANNOTATION_MESSAGE_LIMIT: usize = 4 * 1024;

/// Workflow commands annotating up to `max` failed tests, one per line, plus a notice when
/// more failed. File paths under `workspace` are made relative to it, as GitHub expects.
pub fn annotations(report: &RunReport, max: usize, workspace: Option<&str>) -> String {
    let mut out = String::new();
    if max == 0 {
        return out;
    }
    let failed: Vec<_> = failed_cases(report).collect();
    for case in failed.iter().take(max) {
        let details = case
            .attempts
            .iter()
            .rev()
            .find_map(|a| a.details.as_deref());
        let mut message = String::new();
        if let Some(d) = details {
            for part in [d.message.as_deref(), d.stack_trace.as_deref()]
                .into_iter()
                .flatten()
            {
                if !message.is_empty() {
                    message.push('\n');
                }
                message.push_str(part);
            }
        }
        if message.is_empty() {
            message = format!("{} {}", full_name(case), case.outcome.as_str());
        }
        let (message, _) = crate::junit::text::clip(&message, ANNOTATION_MESSAGE_LIMIT);
        let mut props = Vec::new();
        if let Some(file) = case.file.as_deref() {
            let rel = workspace
                .and_then(|w| file.strip_prefix(w))
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(file);
            props.push(format!("file={}", workflow_property(rel)));
            if let Some(line) = case.line {
                props.push(format!("line={line}"));
            }
        }
        props.push(format!(
            "title={}",
            workflow_property(&format!("{} {}", full_name(case), case.outcome.as_str()))
        ));
        let _ = writeln!(
            out,
            "::error {}::{}",
            props.join(","),
            workflow_data(message)
        );
    }
    if failed.len() > max {
        let _ = writeln!(
            out,
            "::notice title=cimon::{}",
            workflow_data(&format!(
                "{} more failed tests were not annotated (--max-annotations {max})",
                failed.len() - max
            ))
        );
    }
    out
}

/// Appends `markdown` to the job summary file.
pub fn append_step_summary(path: &Path, markdown: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(markdown.as_bytes())?;
    if !markdown.ends_with('\n') {
        f.write_all(b"\n")?;
    }
    Ok(())
}

/// Appends step outputs to the `$GITHUB_OUTPUT` file. Values with a newline use the
/// documented `name<<DELIMITER` form with a delimiter that does not occur in the value.
pub fn write_outputs(path: &Path, outputs: &[(&str, String)]) -> io::Result<()> {
    let mut text = String::new();
    for (name, value) in outputs {
        if value.contains('\n') || value.contains('\r') {
            let mut delimiter = String::from("CIMON_EOF");
            while value.contains(&delimiter) {
                delimiter.push('_');
            }
            let _ = write!(text, "{name}<<{delimiter}\n{value}\n{delimiter}\n");
        } else {
            let _ = writeln!(text, "{name}={value}");
        }
    }
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_use_heredoc_for_multiline_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        write_outputs(
            &path,
            &[("tests", "3".into()), ("x", "a\nCIMON_EOF\nb".into())],
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "tests=3\nx<<CIMON_EOF_\na\nCIMON_EOF\nb\nCIMON_EOF_\n"
        );
    }
}
