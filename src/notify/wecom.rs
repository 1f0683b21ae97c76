//! The `wecom` channel: a WeCom (企业微信) group robot webhook
//! (群机器人配置说明, <https://developer.work.weixin.qq.com/document/path/91770>).
//!
//! - `render` is pure: `{"msgtype":"markdown","markdown":{"content":…}}`. The content is at
//!   most [`MAX_CONTENT_BYTES`] bytes of UTF-8 (the documented limit), cut on a character
//!   boundary, lists ending with "… and N more". The configured mentions are written as
//!   `<@userid>` (the only way to mention in markdown). Untrusted strings go through
//!   `robot::lookalike`, so `<font>`, `<@…>`, links, `**`, `` ` `` and `>` cannot come from
//!   a test name or branch.
//! - `send` makes one attempt; WeCom robots have no signature (the `key` in the URL is the
//!   credential).
//! - WeCom answers HTTP 200 with `{"errcode":0,"errmsg":"ok"}`; a non-zero `errcode` is an
//!   error inside the 200, classified by [`classify_code`] from the global error code table
//!   (全局错误码, <https://developer.work.weixin.qq.com/document/path/90313>).

use serde::Deserialize;
use serde_json::json;

use super::robot::{self, Dialect, Scrubber};
use super::{classify_status, HttpRequest, Message, Notifier, NotifyError, Rendered, SendFuture};
use crate::http::Secret;

/// WeCom's limit on markdown `content`: 4096 bytes of UTF-8.
pub const MAX_CONTENT_BYTES: usize = 4096;
/// Longest title line, in characters.
const MAX_TITLE_CHARS: usize = 100;

const DIALECT: Dialect = Dialect {
    escape: robot::lookalike,
    paragraph: "\n",
    cost: robot::bytes,
};

/// Why a WeCom channel configuration is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeComError {
    /// The webhook URL is unusable (the URL itself is shown masked).
    #[error("invalid WeCom webhook URL {url}: {reason}")]
    Url {
        /// The URL, masked.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A mention is not a WeCom user id.
    #[error("invalid WeCom mention {mention:?}: {reason}")]
    Mention {
        /// The mention as configured.
        mention: String,
        /// What is wrong.
        reason: String,
    },
}

/// A validated WeCom group robot.
#[derive(Debug, Clone)]
pub struct WeCom {
    url: Secret,
    mentions: Vec<String>,
}

impl WeCom {
    /// A robot posting to `url` (`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`),
    /// mentioning the WeCom user ids `mentions`.
    pub fn new(url: Secret, mentions: &[String]) -> Result<Self, WeComError> {
        let parsed = robot::check_url(url.expose()).map_err(|reason| WeComError::Url {
            url: robot::shown_url(url.expose()),
            reason,
        })?;
        let mentions = mentions
            .iter()
            .map(|raw| {
                robot::mention(raw).map_err(|reason| WeComError::Mention {
                    mention: raw.clone(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            url: Secret::new(parsed.as_str()),
            mentions,
        })
    }
}

/// Whether a retry may help with WeCom error `code`, and a hint for the user (全局错误码,
/// <https://developer.work.weixin.qq.com/document/path/90313>).
pub fn classify_code(code: i64) -> (bool, &'static str) {
    match code {
        -1 => (true, "WeCom is busy; try again"),
        45009 => (
            true,
            "API frequency limit: a robot may send 20 messages a minute",
        ),
        45033 => (true, "too many concurrent calls"),
        93000 => (
            false,
            "the webhook URL is invalid or the robot was removed from the group",
        ),
        93004 => (false, "the robot is disabled"),
        93008 => (false, "the robot is not in the group"),
        44004 => (false, "the content is empty"),
        45002 => (false, "the content is too long"),
        40008 => (false, "invalid message type"),
        40035 | 40058 => (false, "invalid parameter"),
        _ => (false, "see WeCom's global error code table"),
    }
}

/// The body of a WeCom answer.
#[derive(Debug, Deserialize)]
struct Answer {
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: String,
}

/// Checks a WeCom answer (after the HTTP status was found successful).
fn check_answer(shown: &str, body: &str) -> Result<(), NotifyError> {
    match serde_json::from_str::<Answer>(body) {
        Ok(Answer {
            errcode: Some(0), ..
        }) => Ok(()),
        Ok(Answer {
            errcode: Some(code),
            errmsg,
        }) => {
            let (retryable, hint) = classify_code(code);
            Err(robot::vendor_error(
                shown, "WeCom", code, &errmsg, hint, retryable, None,
            ))
        }
        _ => Err(robot::unexpected_answer(shown, "WeCom", body)),
    }
}

impl Notifier for WeCom {
    fn kind(&self) -> &'static str {
        "wecom"
    }

    fn render_with(&self, message: &Message, template: Option<&str>) -> Rendered {
        let title = robot::clip(&robot::plain(&message.title()), MAX_TITLE_CHARS);
        let head = format!("### {}\n", robot::lookalike(&title));
        let mut tail = String::new();
        if let Some(url) = message.run_url.as_deref().and_then(robot::link_url) {
            tail.push_str(&format!("\n[View run]({url})"));
        }
        if !self.mentions.is_empty() {
            tail.push('\n');
            let tags: Vec<String> = self.mentions.iter().map(|id| format!("<@{id}>")).collect();
            tail.push_str(&tags.join(" "));
        }
        tail.push_str("\n<font color=\"comment\">cimon</font>");
        let content = robot::body(message, template, &DIALECT, &head, &tail, MAX_CONTENT_BYTES);
        let body = json!({ "msgtype": "markdown", "markdown": { "content": content } });
        Rendered::Http(HttpRequest {
            url: self.url.clone(),
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: serde_json::to_vec(&body).unwrap_or_default(),
        })
    }

    fn send<'a>(&'a self, client: &'a reqwest::Client, rendered: &'a Rendered) -> SendFuture<'a> {
        Box::pin(async move {
            let request = robot::http_request(rendered, self.kind())?;
            let url = request.url.expose();
            let shown = robot::shown_url(url);
            let scrub = Scrubber::new(url, None);
            let answer =
                robot::post(client, url, request, request.body.clone(), &shown, &scrub).await?;
            classify_status(
                answer.status,
                answer.retry_after.as_deref(),
                &shown,
                &answer.body,
            )?;
            check_answer(&shown, &answer.body)
        })
    }
}

#[cfg(test)]
mod tests;
