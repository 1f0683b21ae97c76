//! Microsoft Teams through a Workflows webhook (Power Automate's "When a Teams webhook request
//! is received" trigger posting the card to a channel or chat): an Adaptive Card with the
//! title, a fact set, the failed and flaky tests, the gate and link buttons.
//!
//! Vendor documentation followed:
//! - Workflows webhooks, which replace the retired Office 365 connectors and their
//!   `MessageCard`: <https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook>
//!   and <https://support.microsoft.com/office/8ae491c7-0394-4861-ba59-055e33f75498>: POST
//!   `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
//!   "content":{…}}]}`, answered `202 Accepted`; errors as `{"error":{"code","message"}}`,
//!   throttling as `429` with `Retry-After`;
//! - Adaptive Cards 1.4 (<https://adaptivecards.io/explorer/>) and the `TextBlock` Markdown
//!   subset (CommonMark: bold, italic, lists, links):
//!   <https://learn.microsoft.com/en-us/adaptive-cards/authoring-cards/text-features>;
//! - mentions (`<at>…</at>` plus `msteams.entities`) and the full-width card:
//!   <https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-format>;
//! - the message size limit (about 28 KB):
//!   <https://learn.microsoft.com/en-us/microsoftteams/platform/bots/how-to/format-your-bot-messages>.
//!
//! Untrusted strings are CommonMark-escaped with backslashes (`\ * _ [ ] ( ) # < ~ { }`, the
//! backtick, and a list marker at the start), line breaks become spaces, so `{{` cannot start a
//! date function either. Only the configured `mentions` are mentions.

use serde_json::{json, Value};

use super::{
    classify_status, post, Event, HttpRequest, Message, Notifier, NotifyError, Rendered,
    SendFuture, TestLine,
};
use crate::http::Secret;

/// Largest request body sent, below Teams' ~28 KB message limit.
const BODY_MAX: usize = 27_000;
/// Tests listed before "and N more" (fewer when the card would be too large).
const TESTS_SHOWN: usize = 10;
/// Characters of a test name kept.
const NAME_MAX: usize = 200;
/// Characters of a test message, gate reason or fact value kept.
const TEXT_MAX: usize = 300;
/// Most bytes of a template's body (the card stays under [`BODY_MAX`]).
const TEMPLATE_MAX: usize = 20_000;

/// A validated Teams channel: the Workflows webhook URL (a secret, signed by its `sig`
/// parameter) and the people to mention.
#[derive(Debug, Clone)]
pub struct Teams {
    url: Secret,
    /// User principal names or Entra (Azure AD) object ids.
    mentions: Vec<String>,
}

/// Why a Teams channel's settings are invalid. Never contains the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeamsError {
    /// The URL is not an `http(s)` URL.
    #[error("url: {0}")]
    Url(String),
    /// The URL is an Office 365 connector's, which Microsoft retired.
    #[error(
        "url: this is an Office 365 connector URL; connectors are retired: create a Workflows \
         webhook (Teams › Workflows › \"Post to a channel when a webhook request is received\") \
         and use its URL"
    )]
    RetiredConnector,
    /// A mention is neither a user principal name nor an object id.
    #[error("mentions[{index}]: `{value}` is not a user principal name (alice@example.com) or an Entra object id")]
    Mention {
        /// Position in the list.
        index: usize,
        /// What was written.
        value: String,
    },
}

impl Teams {
    /// A channel posting to the Workflows webhook `url`, mentioning `mentions` (user principal
    /// names such as `alice@example.com`, or Entra object ids).
    pub fn new(url: Secret, mentions: Vec<String>) -> Result<Self, TeamsError> {
        check_url(url.expose())?;
        for (index, value) in mentions.iter().enumerate() {
            if !is_user(value) {
                return Err(TeamsError::Mention {
                    index,
                    value: value.clone(),
                });
            }
        }
        Ok(Self { url, mentions })
    }

    /// The `message` envelope around the card, at most `shown` tests per list.
    fn payload(&self, m: &Message, shown: usize, body: Option<&str>) -> Value {
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": self.card(m, shown, body),
            }],
        })
    }

    /// The card; a template's `body` (cut to [`TEMPLATE_MAX`] bytes) replaces the facts,
    /// lists and gate.
    fn card(&self, m: &Message, shown: usize, template: Option<&str>) -> Value {
        let color = match m.event {
            Event::Failure | Event::StillFailing | Event::GateFailed => "Attention",
            Event::Fixed | Event::Success => "Good",
            Event::Flaky => "Warning",
        };
        let mut body = vec![json!({
            "type": "TextBlock", "text": md(&m.title(), TEXT_MAX), "size": "Large",
            "weight": "Bolder", "color": color, "wrap": true,
        })];
        if !self.mentions.is_empty() {
            let text = self
                .mentions
                .iter()
                .map(|u| format!("<at>{u}</at>"))
                .collect::<Vec<_>>()
                .join(" ");
            body.push(text_block(text));
        }
        if let Some(text) = template {
            let text = super::robot::cut_to(text.to_owned(), TEMPLATE_MAX, super::robot::bytes);
            body.push(text_block(text));
        } else {
            default_body(m, shown, &mut body);
        }
        let actions: Vec<Value> = [
            (m.run_url.as_deref(), "View run"),
            (m.commit_url.as_deref(), "View commit"),
        ]
        .into_iter()
        .filter_map(|(url, title)| {
            let url = url.filter(|u| u.starts_with("https://") || u.starts_with("http://"))?;
            Some(json!({"type": "Action.OpenUrl", "title": title, "url": url}))
        })
        .collect();
        if !actions.is_empty() {
            body.push(json!({"type": "ActionSet", "actions": actions}));
        }
        let entities: Vec<Value> = self
            .mentions
            .iter()
            .map(|u| json!({"type": "mention", "text": format!("<at>{u}</at>"), "mentioned": {"id": u, "name": u}}))
            .collect();
        json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
            "msteams": {"width": "Full", "entities": entities},
        })
    }
}

/// The default body: facts, failed and flaky tests (at most `shown` each), the gate.
fn default_body(m: &Message, shown: usize, body: &mut Vec<Value>) {
    body.push(json!({"type": "FactSet", "facts": facts(m)}));
    if !m.failed.is_empty() {
        list(body, "Failed tests", &m.failed, shown, |t| {
            t.message
                .as_deref()
                .map(|msg| md(msg, TEXT_MAX))
                .unwrap_or_default()
        });
    }
    if !m.flaky.is_empty() {
        list(body, "Flaky tests", &m.flaky, shown, |t| {
            let note = format!("passed on attempt {}", t.attempts.max(2));
            match &t.message {
                Some(msg) => format!("{note}, first failure: {}", md(msg, TEXT_MAX)),
                None => note,
            }
        });
    }
    if let Some(gate) = &m.gate {
        let verdict = if gate.passed { "passed" } else { "blocked" };
        body.push(text_block(format!("**Gate:** {verdict}")));
        for reason in gate.reasons.iter().take(TESTS_SHOWN) {
            body.push(item(format!("• {}", md(reason, TEXT_MAX))));
        }
    }
}

impl Notifier for Teams {
    fn kind(&self) -> &'static str {
        "teams"
    }

    /// The card with up to ten tests per list, fewer while the body exceeds 27 000 bytes.
    fn render_with(&self, message: &Message, template: Option<&str>) -> Rendered {
        let mut shown = TESTS_SHOWN;
        let body = loop {
            let body = self.payload(message, shown, template).to_string();
            if body.len() <= BODY_MAX || shown == 0 {
                break body;
            }
            shown -= 1;
        };
        Rendered::Http(HttpRequest {
            url: self.url.clone(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into_bytes(),
        })
    }

    fn send<'a>(&'a self, client: &'a reqwest::Client, rendered: &'a Rendered) -> SendFuture<'a> {
        Box::pin(async move {
            let Rendered::Http(request) = rendered else {
                return Err(NotifyError::permanent(
                    "teams: the rendered message is not an HTTP request",
                ));
            };
            let answer = post(client, request).await?;
            let mut reason = error_text(&answer.body);
            if let Some(hint) = hint(answer.status) {
                reason.push_str(&format!(" ({hint})"));
            }
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

/// `code: message` from a Power Automate error body, else the body itself.
fn error_text(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    match error.and_then(|e| {
        Some((
            e["code"].as_str()?,
            e["message"].as_str().unwrap_or_default(),
        ))
    }) {
        Some((code, message)) => format!("{code}: {message}"),
        None => body.trim().to_owned(),
    }
}

/// What to do about a permanent failure.
fn hint(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "the workflow refused the card: check that its trigger accepts any JSON and that it posts the attached card",
        401 | 403 => "the URL's signature is missing or wrong, or the trigger requires sign-in: copy the URL again from the workflow",
        404 => "the workflow was deleted or turned off: create it again and update the secret",
        _ => return None,
    })
}

fn check_url(url: &str) -> Result<(), TeamsError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| TeamsError::Url(format!("not a URL ({e})")))?;
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    if !matches!(parsed.scheme(), "https" | "http") || host.is_empty() {
        return Err(TeamsError::Url(
            "must be the https:// URL of a Workflows webhook".into(),
        ));
    }
    let connector = host.ends_with(".webhook.office.com")
        || (matches!(
            host.as_str(),
            "outlook.office.com" | "outlook.office365.com"
        ) && parsed.path().starts_with("/webhook"));
    if connector {
        return Err(TeamsError::RetiredConnector);
    }
    Ok(())
}

/// A user principal name (`alice@example.com`) or an object id (a GUID).
fn is_user(value: &str) -> bool {
    let safe = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@.-_+'".contains(c));
    let upn = value.split('@').count() == 2 && !value.starts_with('@') && !value.ends_with('@');
    let guid = value.len() == 36
        && value.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    safe && (upn || guid)
}

/// Repository, workflow › job, branch, commit, duration, tests.
fn facts(m: &Message) -> Vec<Value> {
    let mut facts = Vec::new();
    let mut add = |title: &str, value: String| facts.push(json!({"title": title, "value": value}));
    if let Some(repo) = &m.repository {
        add("Repository", md(repo, TEXT_MAX));
    }
    let pipeline: Vec<&str> = [m.workflow.as_deref(), m.job.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !pipeline.is_empty() {
        add("Workflow", md(&pipeline.join(" › "), TEXT_MAX));
    }
    if let Some(branch) = &m.branch {
        let pr = m
            .pull_request
            .map(|n| format!(" (PR #{n})"))
            .unwrap_or_default();
        add("Branch", format!("{}{pr}", md(branch, TEXT_MAX)));
    }
    if let Some(sha) = m.short_sha() {
        add("Commit", md(sha, 12));
    }
    if let Some(duration) = m.duration() {
        add("Duration", duration);
    }
    add("Tests", m.counts());
    facts
}

/// A heading, one block per test (`• **name** — detail`) and "and N more".
fn list(
    body: &mut Vec<Value>,
    title: &str,
    tests: &[TestLine],
    shown: usize,
    detail: impl Fn(&TestLine) -> String,
) {
    let mut heading = text_block(format!("**{title}** ({})", tests.len()));
    heading["spacing"] = json!("Medium");
    body.push(heading);
    for t in tests.iter().take(shown) {
        let detail = detail(t);
        let sep = if detail.is_empty() { "" } else { " — " };
        body.push(item(format!(
            "• **{}**{sep}{detail}",
            md(&t.name, NAME_MAX)
        )));
    }
    if tests.len() > shown {
        let mut more = item(format!("…and {} more", tests.len() - shown));
        more["isSubtle"] = json!(true);
        body.push(more);
    }
}

fn text_block(text: String) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true})
}

/// A list item: a text block close to the previous one.
fn item(text: String) -> Value {
    json!({"type": "TextBlock", "text": text, "wrap": true, "spacing": "Small"})
}

/// Untrusted text for a template (see [`md`]).
pub(crate) fn escape_text(s: &str) -> String {
    md(s, usize::MAX)
}

/// Untrusted text for a `TextBlock` or fact: escaped, cut to `max` characters, with a list
/// marker (`-`, `+`, `1.`) at its start escaped too.
fn md(s: &str, max: usize) -> String {
    let mut out = clipped(s, max, push_md);
    let digits = out.bytes().take_while(u8::is_ascii_digit).count();
    if out.starts_with(['-', '+']) || (digits > 0 && out[digits..].starts_with(['.', ')'])) {
        out.insert(digits, '\\');
    }
    out
}

/// One character of untrusted text: CommonMark punctuation that can format, link, open HTML
/// or a date function (`{{DATE(…)}}`) gets a backslash (the subset has no quotes or tables,
/// so `>` and `|` stay as they are); line breaks and tabs become spaces, other control
/// characters their visible symbols (`␛`), bidi overrides `�`.
fn push_md(c: char, out: &mut String) {
    match c {
        '\\' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '<' | '`' | '~' | '{' | '}' => {
            out.push('\\');
            out.push(c);
        }
        '\r' | '\n' | '\t' => out.push(' '),
        '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')),
        '\u{7f}' => out.push('␡'),
        '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            out.push('\u{fffd}')
        }
        c => out.push(c),
    }
}

/// `s` escaped by `escape` and at most `max` characters long (ending with `…` when cut);
/// never cuts an escape sequence in two.
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

#[cfg(test)]
mod tests;
