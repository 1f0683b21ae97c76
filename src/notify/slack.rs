//! Slack through an incoming webhook: a Block Kit message (header, fields, failed and flaky
//! tests, gate, links) with a plain `text` fallback for notifications.
//!
//! Vendor documentation followed:
//! - incoming webhooks, answers and errors: <https://api.slack.com/messaging/webhooks>,
//!   <https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks>
//!   (`200 ok`; `400 invalid_payload`, `403 action_prohibited`, `404 channel_not_found` /
//!   `no_service`, `410 channel_is_archived` as plain text; `429` with `Retry-After`);
//! - Block Kit limits: <https://api.slack.com/reference/block-kit/blocks> (50 blocks, header
//!   150 characters, section text 3 000, 10 fields of 2 000) and the message `text` (40 000);
//! - escaping: <https://api.slack.com/reference/surfaces/formatting#escaping> (`&`, `<`, `>`
//!   as entities) and the text object's `verbatim` flag
//!   (<https://api.slack.com/reference/block-kit/composition-objects#text>), set on every
//!   `mrkdwn` object so bare `@here`, `#channel` and URLs are not auto-parsed.
//!
//! mrkdwn has no escape character, so untrusted strings are shown as inline code (nothing is
//! formatted inside it; a backtick becomes `ˋ`), and in the `text` fallback the formatting
//! characters `*_~` become look-alikes. Configured `mentions` are the only mentions sent.

use serde_json::{json, Value};

use super::{
    classify_status, post, HttpRequest, Message, Notifier, NotifyError, Rendered, SendFuture,
    TestLine,
};
use crate::http::Secret;

/// Most characters in a header block.
const HEADER_MAX: usize = 150;
/// Most characters in a section's text.
const SECTION_MAX: usize = 3000;
/// Most characters in one section field.
const FIELD_MAX: usize = 2000;
/// Most blocks in a message.
const BLOCKS_MAX: usize = 50;
/// Most characters in the top-level `text`.
const TEXT_MAX: usize = 40_000;
/// Tests listed before "and N more".
const TESTS_SHOWN: usize = 10;
/// Characters of a test name or message kept in a list line.
const ITEM_MAX: usize = 200;
/// Characters of a repository, branch or workflow name kept in a field.
const VALUE_MAX: usize = 300;
/// Most sections a template's body fills.
const BODY_SECTIONS: usize = 10;

/// A validated Slack channel: the webhook URL (a secret) and the mentions to add.
#[derive(Debug, Clone)]
pub struct Slack {
    url: Secret,
    /// Mentions in Slack's syntax (`<@U…>`, `<!subteam^S…>`, `<!here>`).
    mentions: Vec<String>,
}

/// Why a Slack channel's settings are invalid. Never contains the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// The URL is not an `http(s)` URL.
    #[error("url: {0}")]
    Url(String),
    /// A mention is neither a user nor a user-group id nor a special mention.
    #[error(
        "mentions[{index}]: `{value}` is not a Slack user id (U…/W…), user-group id (S…) \
         or one of here, channel, everyone"
    )]
    Mention {
        /// Position in the list.
        index: usize,
        /// What was written.
        value: String,
    },
}

impl Slack {
    /// A channel posting to the incoming webhook `url`, mentioning `mentions`: user ids
    /// (`U…`, `W…`, or `<@U…>`), user-group ids (`S…`, or `<!subteam^S…>`) and `here`,
    /// `channel`, `everyone` (with or without `@`/`!`).
    pub fn new(url: Secret, mentions: Vec<String>) -> Result<Self, SlackError> {
        check_url(url.expose())?;
        let mentions = mentions
            .iter()
            .enumerate()
            .map(|(index, value)| {
                mention(value).ok_or_else(|| SlackError::Mention {
                    index,
                    value: value.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { url, mentions })
    }

    /// The Block Kit payload for `m`; a template's `body` replaces the fields, lists and gate
    /// (in sections of at most 3 000 characters, split at line ends, at most [`BODY_SECTIONS`]).
    fn payload(&self, m: &Message, body: Option<&str>) -> Value {
        let mut blocks = vec![json!({
            "type": "header",
            "text": {"type": "plain_text", "text": clipped(&m.title(), HEADER_MAX, push_escaped), "emoji": true},
        })];
        if !self.mentions.is_empty() {
            blocks.push(section(self.mentions.join(" ")));
        }
        if let Some(body) = body {
            blocks.extend(sections(body).into_iter().map(section));
        } else {
            self.default_body(m, &mut blocks);
        }
        // The commit is linked from its field.
        if let Some(run) = m.run_url.as_deref().and_then(|u| link(u, "View run")) {
            blocks.push(json!({"type": "context", "elements": [mrkdwn(run)]}));
        }
        blocks.truncate(BLOCKS_MAX);
        json!({"text": self.fallback(m), "blocks": blocks})
    }

    /// The fields, failed and flaky tests and the gate.
    fn default_body(&self, m: &Message, blocks: &mut Vec<Value>) {
        blocks.push(json!({"type": "section", "fields": fields(m)}));
        if !m.failed.is_empty() {
            blocks.push(section(test_list("Failed tests", &m.failed, |t| {
                t.message
                    .as_deref()
                    .map(|msg| code(msg, ITEM_MAX))
                    .unwrap_or_default()
            })));
        }
        if !m.flaky.is_empty() {
            blocks.push(section(test_list("Flaky tests", &m.flaky, |t| {
                let note = format!("passed on attempt {}", t.attempts.max(2));
                match &t.message {
                    Some(msg) => format!("{note}, first failure {}", code(msg, ITEM_MAX)),
                    None => note,
                }
            })));
        }
        if let Some(gate) = &m.gate {
            let verdict = if gate.passed { "passed" } else { "blocked" };
            let mut text = format!("*Gate:* {verdict}");
            push_lines(
                &mut text,
                gate.reasons
                    .iter()
                    .map(|r| format!("• {}", code(r, SECTION_MAX / 4))),
                gate.reasons.len(),
            );
            blocks.push(section(text));
        }
    }

    /// The top-level `text`: what notifications and clients without blocks show.
    fn fallback(&self, m: &Message) -> String {
        let mut text = self
            .mentions
            .iter()
            .map(|x| format!("{x} "))
            .collect::<String>();
        text.push_str(&clipped(
            &format!("{} — {}", m.title(), m.counts()),
            TEXT_MAX.saturating_sub(text.len()),
            push_inert,
        ));
        text
    }
}

impl Notifier for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn render_with(&self, message: &Message, body: Option<&str>) -> Rendered {
        Rendered::Http(HttpRequest {
            url: self.url.clone(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: self.payload(message, body).to_string().into_bytes(),
        })
    }

    fn send<'a>(&'a self, client: &'a reqwest::Client, rendered: &'a Rendered) -> SendFuture<'a> {
        Box::pin(async move {
            let Rendered::Http(request) = rendered else {
                return Err(NotifyError::permanent(
                    "slack: the rendered message is not an HTTP request",
                ));
            };
            let answer = post(client, request).await?;
            let reason = answer.body.trim();
            let reason = match hint(reason) {
                Some(hint) => format!("{reason} ({hint})"),
                None => reason.to_owned(),
            };
            classify_status(
                answer.status,
                answer.retry_after.as_deref(),
                &request.shown_url(),
                &reason,
            )
            .map_err(|mut e| {
                e.message = super::robot::Scrubber::new(self.url.expose(), None).clean(&e.message);
                e
            })
        })
    }
}

/// What to do about Slack's documented error strings.
fn hint(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "no_service" | "no_team" | "team_disabled" | "invalid_token" => {
            "the webhook was revoked: create a new one and update the secret"
        }
        "channel_not_found" | "channel_is_archived" => {
            "the webhook's channel is gone: create a new webhook"
        }
        "action_prohibited" | "posting_to_general_channel_denied" => {
            "the workspace restricts posting here: ask a Slack admin"
        }
        "invalid_payload" | "invalid_blocks" | "invalid_blocks_format" => {
            "Slack refused the message: please report a cimon bug"
        }
        _ => return None,
    })
}

fn check_url(url: &str) -> Result<(), SlackError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| SlackError::Url(format!("not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(SlackError::Url(
            "must be an https:// incoming-webhook URL".into(),
        ));
    }
    Ok(())
}

/// A configured mention in Slack's syntax, or `None` when it is not a valid id.
fn mention(value: &str) -> Option<String> {
    let v = value.trim();
    let special = v.trim_start_matches(['@', '!']);
    if matches!(special, "here" | "channel" | "everyone") {
        return Some(format!("<!{special}>"));
    }
    let id = v
        .strip_prefix("<@")
        .or_else(|| v.strip_prefix("<!subteam^"))
        .and_then(|rest| rest.strip_suffix('>'))
        .unwrap_or(v);
    let valid = id.len() >= 3
        && id.len() <= 24
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    match id.as_bytes().first() {
        Some(b'U' | b'W') if valid => Some(format!("<@{id}>")),
        Some(b'S') if valid => Some(format!("<!subteam^{id}>")),
        _ => None,
    }
}

/// The fields: repository, workflow › job, branch, commit, duration, tests.
fn fields(m: &Message) -> Vec<Value> {
    let mut fields = Vec::new();
    let mut add = |label: &str, value: String| {
        let text = format!("*{label}*\n{value}");
        fields.push(mrkdwn(clipped_raw(text, FIELD_MAX)));
    };
    if let Some(repo) = &m.repository {
        add("Repository", code(repo, VALUE_MAX));
    }
    let pipeline: Vec<&str> = [m.workflow.as_deref(), m.job.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !pipeline.is_empty() {
        add("Workflow", code(&pipeline.join(" › "), VALUE_MAX));
    }
    if let Some(branch) = &m.branch {
        let pr = m
            .pull_request
            .map(|n| format!(" (PR #{n})"))
            .unwrap_or_default();
        add("Branch", format!("{}{pr}", code(branch, VALUE_MAX)));
    }
    if let Some(sha) = m.short_sha() {
        let label = clipped(sha, 12, push_inert);
        add(
            "Commit",
            m.commit_url
                .as_deref()
                .and_then(|u| link(u, &label))
                .unwrap_or_else(|| code(sha, 12)),
        );
    }
    if let Some(duration) = m.duration() {
        add("Duration", duration);
    }
    add("Tests", m.counts());
    fields
}

/// `*Failed tests* (N)` then one line per test (`• name — detail`) and "and N more", within
/// a section's limit.
fn test_list(title: &str, tests: &[TestLine], detail: impl Fn(&TestLine) -> String) -> String {
    let mut text = format!("*{title}* ({})", tests.len());
    let lines = tests.iter().take(TESTS_SHOWN).map(|t| {
        let detail = detail(t);
        let sep = if detail.is_empty() { "" } else { " — " };
        format!("• {}{sep}{detail}", code(&t.name, ITEM_MAX))
    });
    push_lines(&mut text, lines, tests.len());
    text
}

/// Appends `lines` to `text` while they fit in a section, then `_…and N more_` for the
/// `total − shown` items left out.
fn push_lines(text: &mut String, lines: impl Iterator<Item = String>, total: usize) {
    const MORE_RESERVE: usize = 40;
    let mut used = text.chars().count();
    let mut shown = 0;
    for line in lines {
        let n = line.chars().count() + 1;
        if used + n > SECTION_MAX - MORE_RESERVE {
            break;
        }
        text.push('\n');
        text.push_str(&line);
        used += n;
        shown += 1;
    }
    if total > shown {
        text.push_str(&format!("\n_…and {} more_", total - shown));
    }
}

/// A `section` block with `mrkdwn` text.
fn section(text: String) -> Value {
    json!({"type": "section", "text": mrkdwn(clipped_raw(text, SECTION_MAX))})
}

/// A `mrkdwn` text object that Slack does not auto-link or auto-mention (`verbatim`).
fn mrkdwn(text: String) -> Value {
    json!({"type": "mrkdwn", "text": text, "verbatim": true})
}

/// Untrusted text as inline code, escaped and cut to `max` characters.
fn code(s: &str, max: usize) -> String {
    let body = clipped(s, max, push_code);
    if body.is_empty() {
        "` `".into()
    } else {
        format!("`{body}`")
    }
}

/// `<url|label>` for an `http(s)` URL; `label` must be safe mrkdwn.
fn link(url: &str, label: &str) -> Option<String> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return None;
    }
    let mut href = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '|' => href.push_str("%7C"),
            ' ' => href.push_str("%20"),
            c => push_escaped(c, &mut href),
        }
    }
    Some(format!("<{href}|{label}>"))
}

/// One character of untrusted text: `&`, `<`, `>` as entities; line breaks and tabs as
/// spaces; other control characters as their visible symbols (`␛`); bidi overrides as `�`.
fn push_escaped(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '\r' | '\n' | '\t' => out.push(' '),
        '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')),
        '\u{7f}' => out.push('␡'),
        '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            out.push('\u{fffd}')
        }
        c => out.push(c),
    }
}

/// As [`push_escaped`], for inside inline code: a backtick would end it, so it becomes `ˋ`.
fn push_code(c: char, out: &mut String) {
    match c {
        '`' => out.push('ˋ'),
        c => push_escaped(c, out),
    }
}

/// As [`push_code`], for plain mrkdwn: `*`, `_`, `~` become look-alikes that cannot format.
fn push_inert(c: char, out: &mut String) {
    match c {
        '*' => out.push('∗'),
        '_' => out.push('＿'),
        '~' => out.push('∼'),
        c => push_code(c, out),
    }
}

/// `s` escaped by `escape` and at most `max` characters long (ending with `…` when cut);
/// never cuts inside an entity.
fn clipped(s: &str, max: usize, escape: fn(char, &mut String)) -> String {
    let mut out = String::new();
    let (mut used, mut keep) = (0, None);
    for c in s.chars() {
        let before = out.len();
        escape(c, &mut out);
        used += out[before..].chars().count();
        if keep.is_none() && used >= max {
            keep = Some(before);
        }
        if used > max {
            out.truncate(keep.unwrap_or(0));
            out.push('…');
            return out;
        }
    }
    out
}

/// A template's body in pieces of at most [`SECTION_MAX`] characters, cut at line ends (a
/// longer line is cut), at most [`BODY_SECTIONS`] of them.
fn sections(body: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for line in body.lines() {
        let line = clipped_raw(line.to_owned(), SECTION_MAX);
        if !current.is_empty() && current.chars().count() + 1 + line.chars().count() > SECTION_MAX {
            out.push(std::mem::take(&mut current));
            if out.len() == BODY_SECTIONS {
                return out;
            }
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out.truncate(BODY_SECTIONS);
    out
}

/// Untrusted text for a template: as the `text` fallback writes it (entities, look-alikes for
/// `*_~` and backticks, no line breaks).
pub(crate) fn escape_text(s: &str) -> String {
    clipped(s, usize::MAX, push_inert)
}

/// Already-safe mrkdwn cut to `max` characters (a last resort; lists stay within limits).
fn clipped_raw(text: String, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if text.chars().count() > max => format!("{}…", &text[..i]),
        _ => text,
    }
}

#[cfg(test)]
mod tests;
