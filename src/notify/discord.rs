//! Discord through a channel webhook: one embed (title linking to the run, counts, failed and
//! flaky tests, fields, gate) and the configured mentions in `content`.
//!
//! Vendor documentation followed:
//! - executing a webhook: <https://discord.com/developers/docs/resources/webhook#execute-webhook>
//!   (POST JSON to `/api/webhooks/{id}/{token}`, answered `204 No Content`, or `200` with
//!   `?wait=true`);
//! - embed limits: <https://discord.com/developers/docs/resources/message#embed-object-embed-limits>
//!   (title 256, description 4 096, 25 fields of 256/1 024, footer 2 048, 6 000 in all);
//! - allowed mentions: <https://discord.com/developers/docs/resources/message#allowed-mentions-object>
//!   (`parse: []` always, so nothing a test name says can ping; configured users and roles
//!   are listed explicitly);
//! - errors and rate limits: <https://discord.com/developers/docs/topics/opcodes-and-status-codes#json>
//!   (`{"code", "message"}`) and <https://discord.com/developers/docs/topics/rate-limits>
//!   (`429` with `Retry-After` and a JSON `retry_after` in seconds, fractional);
//! - Markdown: <https://support.discord.com/hc/en-us/articles/210298617> (a backslash escapes).
//!
//! Untrusted strings get a backslash before every Markdown character (`\ * _ ~ | > # - [ ] ( ) <`
//! and the backtick), line breaks become spaces, and `@everyone`/`@here` get a zero-width space so they do not even
//! look like mentions.

use std::time::Duration;

use serde_json::{json, Value};

use super::{
    classify_status, post, Event, HttpRequest, Message, Notifier, NotifyError, Rendered,
    SendFuture, TestLine,
};
use crate::http::Secret;

/// Most characters in an embed title.
const TITLE_MAX: usize = 256;
/// Most characters in an embed description.
const DESCRIPTION_MAX: usize = 4096;
/// Most fields in an embed.
const FIELDS_MAX: usize = 25;
/// Most characters in a field value.
const FIELD_VALUE_MAX: usize = 1024;
/// Most characters in all embeds of a message (title, description, fields, footer, author).
const TOTAL_MAX: usize = 6000;
/// Tests listed before "and N more".
const TESTS_SHOWN: usize = 10;
/// Characters of a test name, message or field value kept.
const ITEM_MAX: usize = 200;

/// A validated Discord channel: the webhook URL (its token is the secret) and the users and
/// roles to mention.
#[derive(Debug, Clone)]
pub struct Discord {
    url: Secret,
    /// User ids to mention.
    users: Vec<String>,
    /// Role ids to mention.
    roles: Vec<String>,
}

/// Why a Discord channel's settings are invalid. Never contains the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscordError {
    /// The URL is not a webhook URL.
    #[error("url: {0}")]
    Url(String),
    /// A mention is not a user or role id.
    #[error(
        "mentions[{index}]: `{value}` is not a user id (123…, <@123…>, user:123…) or a role id \
         (<@&123…>, role:123…); @everyone and @here are not sent"
    )]
    Mention {
        /// Position in the list.
        index: usize,
        /// What was written.
        value: String,
    },
}

impl Discord {
    /// A channel posting to the webhook `url` (`https://discord.com/api/webhooks/{id}/{token}`),
    /// mentioning `mentions`: user ids (`123…`, `<@123…>`, `user:123…`) and role ids
    /// (`<@&123…>`, `role:123…`).
    pub fn new(url: Secret, mentions: Vec<String>) -> Result<Self, DiscordError> {
        check_url(url.expose())?;
        let (mut users, mut roles) = (Vec::new(), Vec::new());
        for (index, value) in mentions.iter().enumerate() {
            match mention(value) {
                Some(Mention::User(id)) => users.push(id),
                Some(Mention::Role(id)) => roles.push(id),
                None => {
                    return Err(DiscordError::Mention {
                        index,
                        value: value.clone(),
                    })
                }
            }
        }
        Ok(Self { url, users, roles })
    }

    fn payload(&self, m: &Message, body: Option<&str>) -> Value {
        let mut payload = json!({
            "embeds": [embed(m, body)],
            "allowed_mentions": {"parse": []},
        });
        let content: Vec<String> = (self.users.iter().map(|id| format!("<@{id}>")))
            .chain(self.roles.iter().map(|id| format!("<@&{id}>")))
            .collect();
        if !content.is_empty() {
            payload["content"] = json!(content.join(" "));
        }
        if !self.users.is_empty() {
            payload["allowed_mentions"]["users"] = json!(self.users);
        }
        if !self.roles.is_empty() {
            payload["allowed_mentions"]["roles"] = json!(self.roles);
        }
        payload
    }
}

impl Notifier for Discord {
    fn kind(&self) -> &'static str {
        "discord"
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
                    "discord: the rendered message is not an HTTP request",
                ));
            };
            let answer = post(client, request).await?;
            let body: Option<Value> = serde_json::from_str(&answer.body).ok();
            let reason = match body
                .as_ref()
                .and_then(|b| Some((b["code"].as_i64()?, b["message"].as_str()?)))
            {
                Some((code, message)) => match hint(code) {
                    Some(hint) => format!("Discord error {code}: {message} ({hint})"),
                    None => format!("Discord error {code}: {message}"),
                },
                None => match body.as_ref().and_then(|b| b["message"].as_str()) {
                    Some(message) => message.to_owned(),
                    None => answer.body.trim().to_owned(),
                },
            };
            classify_status(
                answer.status,
                answer.retry_after.as_deref(),
                &request.shown_url(),
                &reason,
            )
            .map_err(|mut e| {
                e.message = super::robot::Scrubber::new(self.url.expose(), None).clean(&e.message);
                // The body's `retry_after` is more precise than the header's whole seconds.
                let precise = body.as_ref().and_then(|b| b["retry_after"].as_f64());
                if let Some(wait) = precise.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
                    if e.retryable {
                        e.retry_after = Some(wait);
                    }
                }
                e
            })
        })
    }
}

/// What to do about Discord's documented JSON error codes.
fn hint(code: i64) -> Option<&'static str> {
    Some(match code {
        10015 | 50027 => {
            "the webhook was deleted or its token is wrong: create a new one and update the secret"
        }
        50035 | 50006 => "Discord refused the message: please report a cimon bug",
        _ => return None,
    })
}

fn check_url(url: &str) -> Result<(), DiscordError> {
    let bad = || {
        DiscordError::Url(
            "must be a webhook URL: https://discord.com/api/webhooks/<id>/<token>".into(),
        )
    };
    let parsed =
        reqwest::Url::parse(url).map_err(|e| DiscordError::Url(format!("not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none() {
        return Err(bad());
    }
    let segments: Vec<&str> = parsed
        .path_segments()
        .map(|s| s.collect())
        .unwrap_or_default();
    let at = segments
        .iter()
        .position(|s| *s == "webhooks")
        .ok_or_else(bad)?;
    match (segments.get(at + 1), segments.get(at + 2)) {
        (Some(id), Some(token)) if is_snowflake(id) && !token.is_empty() => Ok(()),
        _ => Err(bad()),
    }
}

enum Mention {
    User(String),
    Role(String),
}

fn mention(value: &str) -> Option<Mention> {
    let v = value.trim();
    let (role, id) = if let Some(id) = v.strip_prefix("<@&").and_then(|r| r.strip_suffix('>')) {
        (true, id)
    } else if let Some(id) = v.strip_prefix("<@").and_then(|r| r.strip_suffix('>')) {
        (false, id.trim_start_matches('!'))
    } else if let Some(id) = v.strip_prefix("role:") {
        (true, id)
    } else {
        (false, v.strip_prefix("user:").unwrap_or(v))
    };
    is_snowflake(id).then(|| {
        if role {
            Mention::Role(id.into())
        } else {
            Mention::User(id.into())
        }
    })
}

fn is_snowflake(id: &str) -> bool {
    (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// The embed, within every per-field limit and the 6 000-character total.
/// The embed; a template's body replaces the description and fields (within the same limits).
fn embed(m: &Message, template: Option<&str>) -> Value {
    let title = escaped(&m.title(), TITLE_MAX);
    let footer = "cimon";
    let mut fields = Vec::new();
    if template.is_some() {
        return finish(m, title, footer, fields, template);
    }
    let mut add = |name: &str, value: String, inline: bool| {
        fields.push(json!({"name": name, "value": value, "inline": inline}));
    };
    if let Some(repo) = &m.repository {
        add("Repository", escaped(repo, ITEM_MAX), true);
    }
    let pipeline: Vec<&str> = [m.workflow.as_deref(), m.job.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !pipeline.is_empty() {
        add("Workflow", escaped(&pipeline.join(" › "), ITEM_MAX), true);
    }
    if let Some(branch) = &m.branch {
        let pr = m
            .pull_request
            .map(|n| format!(" (PR #{n})"))
            .unwrap_or_default();
        add("Branch", format!("{}{pr}", escaped(branch, ITEM_MAX)), true);
    }
    if let Some(sha) = m.short_sha() {
        let sha = escaped(sha, 12);
        add(
            "Commit",
            m.commit_url
                .as_deref()
                .and_then(|u| link(u, &sha))
                .unwrap_or(sha),
            true,
        );
    }
    if let Some(duration) = m.duration() {
        add("Duration", duration, true);
    }
    if let Some(gate) = &m.gate {
        let verdict = if gate.passed { "passed" } else { "blocked" };
        let mut value = format!("**{verdict}**");
        let reasons = gate
            .reasons
            .iter()
            .map(|r| format!("• {}", escaped(r, ITEM_MAX)));
        push_lines(&mut value, reasons, gate.reasons.len(), FIELD_VALUE_MAX);
        add("Gate", value, false);
    }
    fields.truncate(FIELDS_MAX);
    finish(m, title, footer, fields, None)
}

/// The embed around `fields`: the description is `template`, cut to what the limits leave,
/// or the counts and test lists.
fn finish(
    m: &Message,
    title: String,
    footer: &str,
    fields: Vec<Value>,
    template: Option<&str>,
) -> Value {
    let used = title.chars().count()
        + footer.len()
        + fields
            .iter()
            .map(|f| chars(&f["name"]) + chars(&f["value"]))
            .sum::<usize>();
    let budget = DESCRIPTION_MAX.min(TOTAL_MAX.saturating_sub(used));
    let description = match template {
        Some(text) => super::robot::clip(text, budget),
        None => description(m, budget),
    };
    let color = match m.event {
        Event::Failure | Event::StillFailing | Event::GateFailed => 0xCF222E,
        Event::Fixed | Event::Success => 0x1A7F37,
        Event::Flaky => 0xBF8700,
    };
    let mut embed = json!({
        "title": title,
        "description": description,
        "color": color,
        "fields": fields,
        "footer": {"text": footer},
    });
    if let Some(url) = m.run_url.as_deref().filter(|u| is_http(u)) {
        embed["url"] = json!(url);
    }
    embed
}

/// The default description: the counts, then failed and flaky tests within `budget`.
fn description(m: &Message, budget: usize) -> String {
    let mut description = format!("**{}**", m.counts());
    for (heading, tests, flaky) in [
        ("Failed tests", &m.failed, false),
        ("Flaky tests", &m.flaky, true),
    ] {
        if !tests.is_empty() {
            description.push_str(&format!("\n\n**{heading}** ({})", tests.len()));
            let lines = tests.iter().take(TESTS_SHOWN).map(|t| line(t, flaky));
            push_lines(&mut description, lines, tests.len(), budget);
        }
    }
    description
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// `• **name** — message` (or `passed on attempt N` for a flaky test).
fn line(t: &TestLine, flaky: bool) -> String {
    let name = escaped(&t.name, ITEM_MAX);
    let message = t.message.as_deref().map(|msg| escaped(msg, ITEM_MAX));
    match (flaky, message) {
        (true, Some(msg)) => format!(
            "• **{name}** — passed on attempt {}, first failure: {msg}",
            t.attempts.max(2)
        ),
        (true, None) => format!("• **{name}** — passed on attempt {}", t.attempts.max(2)),
        (false, Some(msg)) => format!("• **{name}** — {msg}"),
        (false, None) => format!("• **{name}**"),
    }
}

/// Appends `lines` to `text` while the whole stays within `max` characters, then
/// `*…and N more*` for the `total − shown` left out.
fn push_lines(text: &mut String, lines: impl Iterator<Item = String>, total: usize, max: usize) {
    const MORE_RESERVE: usize = 30;
    let mut used = text.chars().count();
    let mut shown = 0;
    for line in lines {
        let n = line.chars().count() + 1;
        if used + n > max.saturating_sub(MORE_RESERVE) {
            break;
        }
        text.push('\n');
        text.push_str(&line);
        used += n;
        shown += 1;
    }
    if total > shown {
        text.push_str(&format!("\n*…and {} more*", total - shown));
    }
}

fn is_http(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// `[label](url)` for an `http(s)` URL; `label` must be escaped already.
fn link(url: &str, label: &str) -> Option<String> {
    is_http(url).then(|| {
        let href = url
            .replace('(', "%28")
            .replace(')', "%29")
            .replace(' ', "%20");
        format!("[{label}]({href})")
    })
}

/// Untrusted text for a template (see [`escaped`]).
pub(crate) fn escape_text(s: &str) -> String {
    escaped(s, usize::MAX)
}

/// Untrusted text, escaped and cut to `max` characters; `@everyone` and `@here` broken by a
/// zero-width space.
fn escaped(s: &str, max: usize) -> String {
    let s = s
        .replace("@everyone", "@\u{200b}everyone")
        .replace("@here", "@\u{200b}here");
    clipped(&s, max, push_escaped)
}

/// One character of untrusted text: a backslash before Markdown characters, line breaks and
/// tabs as spaces, other control characters as their visible symbols (`␛`), bidi overrides
/// as `�`.
fn push_escaped(c: char, out: &mut String) {
    match c {
        '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '#' | '-' | '[' | ']' | '(' | ')' => {
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
