//! Custom message bodies: a channel's `template:` (a minijinja file) replaces the body the
//! channel renders; the channel keeps its envelope (title, mentions, buttons), its size limits
//! and its signing.
//!
//! - **Escaping per medium, by default.** Every value printed with `{{ … }}` is escaped for the
//!   channel's medium ([`Medium`]): Slack mrkdwn, Markdown for Teams, Discord, DingTalk, WeCom
//!   and Feishu (each with its channel's own rules), HTML for email. Links (`run_url`,
//!   `commit_url`) are given already made safe for the medium (only `http(s)`, characters that
//!   could end a link percent-encoded). `|safe` opts out, for text the author trusts.
//! - **Strict undefined**: a misspelt variable is an error, not an empty string.
//! - **Checked at config load**: [`Template::compile`] parses the file and renders it once
//!   against a full sample message per event, so a syntax error or an unknown variable stops
//!   everything (exit 2) before anything is sent, naming the template line. An error that only
//!   shows on a real run (say `gate.passed` when there is no gate) falls back to the default
//!   body with a warning.
//!
//! The context is documented in `docs/notify.md` ("Templates") and built by [`context`].

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use minijinja::{context, AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior, Value};

use crate::config::file::ChannelType;

use super::{Event, Message};

/// The name the template is registered under in its environment.
const NAME: &str = "body";

/// How printed values are escaped: the medium of the channel's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    /// Slack mrkdwn: `&<>` as entities, `*_~` and backticks as look-alikes.
    SlackMrkdwn,
    /// Adaptive Card Markdown: a backslash before CommonMark punctuation.
    TeamsMarkdown,
    /// Discord Markdown: a backslash before Markdown characters, `@everyone`/`@here` broken.
    DiscordMarkdown,
    /// DingTalk and WeCom Markdown (no escape character): look-alike characters.
    RobotMarkdown,
    /// Feishu card Markdown: HTML numeric entities.
    FeishuMarkdown,
    /// HTML (the email's HTML part).
    Html,
}

impl Medium {
    /// The medium of a channel type; `None` for the JSON webhook, whose payload is data, not
    /// a message (it takes no template).
    pub fn of(kind: ChannelType) -> Option<Self> {
        Some(match kind {
            ChannelType::Slack => Self::SlackMrkdwn,
            ChannelType::Teams => Self::TeamsMarkdown,
            ChannelType::Discord => Self::DiscordMarkdown,
            ChannelType::Dingtalk | ChannelType::Wecom => Self::RobotMarkdown,
            ChannelType::Feishu => Self::FeishuMarkdown,
            ChannelType::Email => Self::Html,
            ChannelType::Webhook => return None,
        })
    }

    /// `s` made inert for this medium.
    pub fn escape(self, s: &str) -> String {
        match self {
            Self::SlackMrkdwn => super::slack::escape_text(s),
            Self::TeamsMarkdown => super::teams::escape_text(s),
            Self::DiscordMarkdown => super::discord::escape_text(s),
            Self::RobotMarkdown => super::robot::lookalike(&super::robot::plain(s)),
            Self::FeishuMarkdown => super::robot::entities(&super::robot::plain(s)),
            Self::Html => crate::output::escape::html(s),
        }
    }

    /// `url` usable as a link target in this medium, or `None` when it is not `http(s)`.
    pub fn link(self, url: &str) -> Option<String> {
        let url = super::robot::link_url(url)?;
        Some(match self {
            Self::SlackMrkdwn | Self::Html => url.replace('&', "&amp;"),
            _ => url,
        })
    }
}

/// A template that cannot be used; the message names the template line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

impl TemplateError {
    fn of(e: &Error) -> Self {
        let mut text = match e.line() {
            Some(line) => format!("line {line}: {}", e.kind()),
            None => e.kind().to_string(),
        };
        if let Some(detail) = e.detail() {
            text.push_str(&format!(": {detail}"));
        }
        Self(text)
    }
}

/// A compiled template and the medium its values are escaped for.
#[derive(Clone)]
pub struct Template {
    env: Arc<Environment<'static>>,
    medium: Medium,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("medium", &self.medium)
            .finish_non_exhaustive()
    }
}

impl Template {
    /// Compiles `source` for `medium` and renders it once against a full sample message for
    /// each of `events`, so unknown variables are found now rather than on a real run.
    pub fn compile(source: &str, medium: Medium, events: &[Event]) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::Custom("cimon"));
        env.set_formatter(move |out, state, value| {
            if value.is_undefined() {
                return Err(Error::from(ErrorKind::UndefinedError));
            }
            if value.is_none() {
                return Ok(());
            }
            let text = value.to_string();
            let safe = value.is_safe() || state.auto_escape() == AutoEscape::None;
            let text = if safe { text } else { medium.escape(&text) };
            out.write_str(&text).map_err(Error::from)
        });
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|e| TemplateError::of(&e))?;
        let template = Self {
            env: Arc::new(env),
            medium,
        };
        for event in events {
            template.render(&sample(*event))?;
        }
        Ok(template)
    }

    /// Reads the template at `path` (relative to the folder of `config_file`) and compiles it
    /// for the medium of `kind`, checked against a sample of each of `events`. The error
    /// names the template file and line.
    pub fn load(
        config_file: &str,
        kind: ChannelType,
        path: &str,
        events: &[Event],
        read_file: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Self, String> {
        let medium = Medium::of(kind).ok_or_else(|| {
            format!(
                "a {} channel sends structured JSON and takes no template",
                kind.as_str()
            )
        })?;
        let full = Path::new(config_file)
            .parent()
            .unwrap_or(Path::new(""))
            .join(path);
        let source =
            read_file(&full).map_err(|e| format!("cannot read {}: {e}", full.display()))?;
        Self::compile(&source, medium, events).map_err(|e| format!("{}: {e}", full.display()))
    }

    /// The body for `message`, escaped for the medium (the channel applies its limits).
    pub fn render(&self, message: &Message) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| TemplateError::of(&e))?;
        template
            .render(context(message, self.medium))
            .map(|s| s.trim().to_owned())
            .map_err(|e| TemplateError::of(&e))
    }
}

/// The template context of `m` (documented in `docs/notify.md`).
pub fn context(m: &Message, medium: Medium) -> Value {
    let link = |u: &Option<String>| {
        u.as_deref()
            .and_then(|u| medium.link(u))
            .map_or(Value::from(()), Value::from_safe_string)
    };
    let human = |ms: Option<u64>| ms.map(crate::output::human_duration);
    context! {
        event => m.event.as_str(),
        event_phrase => m.event.phrase(),
        icon => m.event.icon(),
        title => m.title(),
        outcome => m.outcome.as_str(),
        repository => m.repository,
        workflow => m.workflow,
        job => m.job,
        branch => m.branch,
        sha => m.sha,
        short_sha => m.short_sha(),
        pull_request => m.pull_request,
        run_url => link(&m.run_url),
        commit_url => link(&m.commit_url),
        duration_ms => m.duration_ms,
        median_duration_ms => m.median_duration_ms,
        duration => human(m.duration_ms),
        median_duration => human(m.median_duration_ms),
        tests => Value::from_serialize(m.tests),
        counts => m.counts(),
        failed => Value::from_serialize(&m.failed),
        flaky => Value::from_serialize(&m.flaky),
        gate => Value::from_serialize(&m.gate),
    }
}

/// A message with every field set and every list non-empty, used to check a template.
fn sample(event: Event) -> Message {
    use super::message::{GateNote, TestLine};
    let test = |name: &str| TestLine {
        name: name.into(),
        message: Some("expected 1 but was 2".into()),
        attempts: 2,
    };
    Message {
        event,
        outcome: crate::model::RunOutcome::Failure,
        repository: Some("octo/app".into()),
        workflow: Some("CI".into()),
        job: Some("build".into()),
        branch: Some("main".into()),
        sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
        pull_request: Some(1),
        run_url: Some("https://ci.example.com/run/1".into()),
        commit_url: Some("https://ci.example.com/commit/0123456".into()),
        duration_ms: Some(60_000),
        median_duration_ms: Some(50_000),
        tests: crate::model::TestSummary {
            total: 3,
            passed: 1,
            failed: 1,
            flaky: 1,
            skipped: 1,
            ..Default::default()
        },
        failed: vec![test("a.Test.fails")],
        flaky: vec![test("a.Test.flakes")],
        gate: Some(GateNote {
            passed: false,
            reasons: vec!["a reason".into()],
        }),
    }
}

#[cfg(test)]
mod tests;
