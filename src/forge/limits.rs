//! The forges' size and count limits, applied before anything is sent (pure functions).
//!
//! - GitHub check runs: `output.summary` and `output.text` at most 65 535 — documented as
//!   characters, enforced as **UTF-8 bytes** ("summary exceeds a maximum bytesize of 65535",
//!   github/docs#35252), so cimon counts bytes; at most 50 annotations per request
//!   ([`ANNOTATIONS_PER_REQUEST`]), the rest sent by `PATCH`; annotation `message` and
//!   `raw_details` at most 64 KiB, `title` at most 255 characters.
//! - GitHub commit status `description`: 140 characters. GitLab commit status `description`:
//!   cimon keeps it within 255 characters.
//! - Comments: GitHub issue comments 65 536 ([`GITHUB_COMMENT_LIMIT`]), GitLab notes
//!   1 000 000 ([`GITLAB_NOTE_LIMIT`]); counted in bytes as well.
//!
//! Markdown is cut by [`truncate_markdown`] at a line boundary, never inside a UTF-8
//! character or an HTML comment, with open code fences and `<details>` closed and a visible
//! notice appended.

use std::borrow::Cow;

use crate::model::Annotation;

/// GitHub's limit on a check run's `output.summary` and `output.text` (bytes).
pub const CHECK_OUTPUT_LIMIT: usize = 65_535;
/// GitHub's documented maximum number of annotations in one create/update request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;
/// The most annotations cimon sends for one check run (20 requests); the rest are counted
/// in the summary.
pub const MAX_ANNOTATIONS: usize = 1_000;
/// GitHub's limit on an annotation's `message` and `raw_details` (64 KiB).
pub const ANNOTATION_TEXT_LIMIT: usize = 64 * 1024;
/// GitHub's limit on an annotation's `title` (characters).
pub const ANNOTATION_TITLE_LIMIT: usize = 255;
/// GitHub's limit on a commit status `description` (characters).
pub const GITHUB_STATUS_DESCRIPTION_LIMIT: usize = 140;
/// cimon's limit on a GitLab commit status `description` (characters).
pub const GITLAB_STATUS_DESCRIPTION_LIMIT: usize = 255;
/// GitHub's limit on an issue or pull-request comment body.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;
/// GitLab's limit on a note body.
pub const GITLAB_NOTE_LIMIT: usize = 1_000_000;

/// `text` within `max_bytes` UTF-8 bytes. When it is longer, the kept part ends at a line
/// boundary (or a character boundary when one line alone is too long), outside any HTML
/// comment, with unclosed code fences and `<details>` blocks closed, followed by a visible
/// notice saying how much is shown.
pub fn truncate_markdown(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let total = text.len();
    let mut budget = max_bytes;
    for _ in 0..8 {
        let kept = markdown_prefix(text, budget.saturating_sub(notice(total, total).len()));
        let closers = closers(kept);
        let out = format!("{kept}{closers}{}", notice(kept.len(), total));
        if out.len() <= max_bytes {
            return Cow::Owned(out);
        }
        budget = budget.saturating_sub(out.len() - max_bytes);
    }
    // Only reachable with absurdly small limits: the notice alone.
    Cow::Owned(floor(&notice(0, total), max_bytes).to_owned())
}

fn notice(kept: usize, total: usize) -> String {
    format!(
        "\n\n---\n> **Truncated by cimon**: {kept} of {total} bytes shown; the forge accepts no \
         more. The full report is in the job summary and the run report.\n"
    )
}

/// The longest prefix of `text` within `budget` bytes that ends at a line boundary (when one
/// exists in the second half of the budget) and outside an HTML comment.
fn markdown_prefix(text: &str, budget: usize) -> &str {
    let cut = floor(text, budget);
    let mut kept = match cut.rfind('\n') {
        Some(i) if i + 1 >= cut.len() / 2 => &cut[..=i],
        _ => cut,
    };
    if let Some(open) = kept.rfind("<!--") {
        if !kept[open..].contains("-->") {
            kept = &kept[..open];
        }
    }
    kept
}

/// What closes the Markdown blocks `kept` leaves open: a code fence, `<details>`.
fn closers(kept: &str) -> String {
    let mut out = String::new();
    let fences = kept
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("```") || l.starts_with("~~~")
        })
        .count();
    if fences % 2 == 1 {
        if !kept.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("```\n");
    }
    let opened = kept.matches("<details").count();
    let closed = kept.matches("</details>").count();
    for _ in closed..opened {
        out.push_str("\n</details>\n");
    }
    out
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub fn floor(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `text` within `max_bytes` bytes, ending with `…` when cut (never inside a character).
pub fn truncate_bytes(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let ellipsis = '…'.len_utf8();
    Cow::Owned(format!(
        "{}…",
        floor(text, max_bytes.saturating_sub(ellipsis))
    ))
}

/// `text` on one line (line breaks become spaces) within `max_chars` characters, ending with
/// `…` when cut.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let flat: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max_chars {
        return flat;
    }
    let mut out: String = flat.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The annotations in request-sized batches: the first goes with the create request, the
/// others with one update each. At most [`MAX_ANNOTATIONS`] are sent; the second value is
/// how many were left out.
pub fn annotation_batches(annotations: &[Annotation]) -> (Vec<&[Annotation]>, usize) {
    let sent = annotations.len().min(MAX_ANNOTATIONS);
    let batches = annotations[..sent]
        .chunks(ANNOTATIONS_PER_REQUEST)
        .collect();
    (batches, annotations.len() - sent)
}

/// A comment marker is unusable (it must fit in an HTML comment and a search).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("comment marker {0:?} is invalid: use 1 to 64 letters, digits, `.`, `_`, `-` or `/`")]
pub struct MarkerError(pub String);

/// The hidden line that identifies a sticky comment: `<!-- cimon:{marker} -->`.
pub fn marker_line(marker: &str) -> Result<String, MarkerError> {
    let valid = !marker.is_empty()
        && marker.len() <= 64
        && marker
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if !valid {
        return Err(MarkerError(marker.chars().take(80).collect()));
    }
    Ok(format!("<!-- cimon:{marker} -->"))
}

/// The body sent for a sticky comment: the marker line, then `body`, within `max_bytes`.
pub fn marked_body(marker_line: &str, body: &str, max_bytes: usize) -> String {
    let full = format!("{marker_line}\n{body}");
    truncate_markdown(&full, max_bytes).into_owned()
}

/// True when `body` carries `marker_line` on a line of its own.
pub fn has_marker(body: &str, marker_line: &str) -> bool {
    body.lines().any(|l| l.trim() == marker_line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AnnotationLevel;

    fn annotation(i: usize) -> Annotation {
        Annotation {
            path: format!("src/t{i}.rs"),
            start_line: 1,
            end_line: 1,
            level: AnnotationLevel::Warning,
            title: None,
            message: format!("m{i}"),
            raw_details: None,
        }
    }

    #[test]
    fn batches_of_fifty_capped() {
        let table = [
            (0, vec![], 0),
            (1, vec![1], 0),
            (50, vec![50], 0),
            (51, vec![50, 1], 0),
            (120, vec![50, 50, 20], 0),
            (1_030, vec![50; 20], 30),
        ];
        for (n, sizes, left_out) in table {
            let all: Vec<_> = (0..n).map(annotation).collect();
            let (batches, omitted) = annotation_batches(&all);
            assert_eq!(
                batches.iter().map(|b| b.len()).collect::<Vec<_>>(),
                sizes,
                "{n}"
            );
            assert_eq!(omitted, left_out, "{n}");
            // Order is kept: the first of batch k is annotation 50·k.
            for (k, b) in batches.iter().enumerate() {
                assert_eq!(b[0].message, format!("m{}", k * 50));
            }
        }
    }

    #[test]
    fn short_markdown_is_untouched() {
        let text = "# ok\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        assert!(matches!(truncate_markdown(text, 100), Cow::Borrowed(t) if t == text));
        assert!(matches!(
            truncate_markdown(text, text.len()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn long_table_is_cut_between_rows_with_a_notice() {
        let mut text = String::from("| test | runs |\n|---|---|\n");
        for i in 0..5_000 {
            text.push_str(&format!("| `t{i}` é | {i} |\n"));
        }
        let out = truncate_markdown(&text, 1_000);
        assert!(out.len() <= 1_000, "{}", out.len());
        let (kept, tail) = out.split_once("\n\n---\n").unwrap();
        // Every kept line is a whole table row.
        for line in kept.lines() {
            assert!(line.starts_with('|') && line.ends_with('|'), "{line:?}");
        }
        assert!(text.starts_with(kept));
        assert!(
            tail.contains(&format!("{} of {} bytes shown", kept.len(), text.len())),
            "{tail}"
        );
    }

    #[test]
    fn never_cuts_inside_a_character_or_an_html_comment() {
        // One long line of 3-byte characters: no line boundary, so a character boundary.
        let text = "界".repeat(40_000);
        for max in [65_535, 65_534, 65_533, 1_000] {
            let out = truncate_markdown(&text, max);
            assert!(out.len() <= max, "{max}");
            let kept = out.split("\n\n---\n").next().unwrap();
            assert!(kept.chars().all(|c| c == '界') && !kept.is_empty(), "{max}");
        }

        let text = format!("intro\n<!-- {} -->\nafter\n", "x ".repeat(1_000));
        let out = truncate_markdown(&text, 600);
        assert!(!out.contains("<!--"), "{out}");
        assert!(out.starts_with("intro\n"));
        assert!(out.len() <= 600);
    }

    #[test]
    fn open_fences_and_details_are_closed() {
        let text = format!(
            "<details><summary>s</summary>\n\n```\n{}```\n</details>\n",
            "line\n".repeat(1_000)
        );
        let out = truncate_markdown(&text, 800);
        assert!(out.len() <= 800);
        let fences = out.lines().filter(|l| l.starts_with("```")).count();
        assert_eq!(fences % 2, 0, "{out}");
        assert_eq!(
            out.matches("<details").count(),
            out.matches("</details>").count()
        );
        assert!(out.contains("Truncated by cimon"));
    }

    #[test]
    fn plain_truncations() {
        assert_eq!(truncate_bytes("abc", 3), "abc");
        assert_eq!(truncate_bytes("abcdef", 5), "ab…");
        assert_eq!(truncate_bytes("ééé", 5), "é…");
        assert_eq!(one_line(" a\nb\tc ", 140), "a b c");
        let long = "é".repeat(200);
        let cut = one_line(&long, 140);
        assert_eq!(cut.chars().count(), 140);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn markers() {
        let line = marker_line("flakiness").unwrap();
        assert_eq!(line, "<!-- cimon:flakiness -->");
        for bad in ["", "a b", "x-->", "<!--", &"a".repeat(65)] {
            assert!(marker_line(bad).is_err(), "{bad:?}");
        }
        let body = marked_body(&line, "hello", 100);
        assert_eq!(body, "<!-- cimon:flakiness -->\nhello");
        assert!(has_marker(&body, &line));
        assert!(!has_marker(
            "quoting <!-- cimon:flakiness --> inline",
            &line
        ));
        assert!(!has_marker("<!-- cimon:flakiness-2 -->\nother", &line));
        let long = marked_body(&line, &"row\n".repeat(100_000), GITHUB_COMMENT_LIMIT);
        assert!(long.len() <= GITHUB_COMMENT_LIMIT);
        assert!(has_marker(&long, &line));
    }
}
