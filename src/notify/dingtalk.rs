//! The `dingtalk` channel: a DingTalk (钉钉) custom group robot webhook
//! (<https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages>).
//!
//! - `render` is pure: a `markdown` message (`title` + `text`, with
//!   `at: {atMobiles, atUserIds, isAtAll: false}` built only from the configured mentions, each
//!   also written as `@id` in the text, as DingTalk requires), or an `actionCard` with a
//!   "View run" button. The text stays within [`MAX_TEXT_BYTES`]; lists end with "… and N
//!   more". Untrusted strings go through `robot::lookalike`: no `@mobile`, `@all`, link,
//!   emphasis or HTML can come from a test name or branch.
//! - `send` makes one attempt. With a signing secret (安全设置 → 加签) it appends
//!   `&timestamp=<ms>&sign=<urlencode(base64(HMAC-SHA256(secret, "<ms>\n<secret>")))>` at send
//!   time ([`sign`], [`signed_url`]).
//! - DingTalk answers HTTP 200 with `{"errcode":0,"errmsg":"ok"}`; a non-zero `errcode` is an
//!   error inside the 200, classified by [`classify_code`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::robot::{self, Dialect, Scrubber};
use super::{classify_status, HttpRequest, Message, Notifier, NotifyError, Rendered, SendFuture};
use crate::http::Secret;

/// DingTalk's limit on a markdown `text`, in bytes.
pub const MAX_TEXT_BYTES: usize = 20_000;
/// Longest `title` (the preview shown in the conversation list), in characters.
const MAX_TITLE_CHARS: usize = 100;

const DIALECT: Dialect = Dialect {
    escape: robot::lookalike,
    paragraph: "\n\n",
    cost: robot::bytes,
};

/// Which DingTalk message type is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DingTalkFormat {
    /// `msgtype: markdown` (mentions allowed; a "View run" link in the text).
    #[default]
    Markdown,
    /// `msgtype: actionCard` with a "View run" button (DingTalk cannot mention in cards).
    /// Falls back to markdown when the run has no URL.
    ActionCard,
}

/// Why a DingTalk channel configuration is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DingTalkError {
    /// The webhook URL is unusable (the URL itself is shown masked).
    #[error("invalid DingTalk webhook URL {url}: {reason}")]
    Url {
        /// The URL, masked.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The signing secret is empty.
    #[error("the DingTalk signing secret is empty")]
    EmptySecret,
    /// A mention is not a mobile number or user id.
    #[error("invalid DingTalk mention {mention:?}: {reason}")]
    Mention {
        /// The mention as configured.
        mention: String,
        /// What is wrong.
        reason: String,
    },
    /// `actionCard` messages cannot mention anyone.
    #[error("DingTalk actionCard messages cannot mention anyone; use format markdown or remove the mentions")]
    MentionsNeedMarkdown,
}

/// A validated DingTalk custom robot.
#[derive(Debug, Clone)]
pub struct DingTalk {
    url: Secret,
    secret: Option<Secret>,
    mobiles: Vec<String>,
    user_ids: Vec<String>,
    format: DingTalkFormat,
}

impl DingTalk {
    /// A robot posting to `url` (`https://oapi.dingtalk.com/robot/send?access_token=…`),
    /// signing with `secret` (the `SEC…` value of 加签) when given, mentioning `mentions`
    /// (mobile numbers go to `atMobiles`, anything else to `atUserIds`).
    pub fn new(
        url: Secret,
        secret: Option<Secret>,
        mentions: &[String],
        format: DingTalkFormat,
    ) -> Result<Self, DingTalkError> {
        let url_error = |reason: String| DingTalkError::Url {
            url: robot::shown_url(url.expose()),
            reason,
        };
        let parsed = robot::check_url(url.expose()).map_err(url_error)?;
        if secret.is_some()
            && parsed
                .query_pairs()
                .any(|(k, _)| k == "sign" || k == "timestamp")
        {
            return Err(url_error(
                "it already has timestamp/sign parameters; configure the webhook URL without them"
                    .into(),
            ));
        }
        if secret
            .as_ref()
            .is_some_and(|s| s.expose().trim().is_empty())
        {
            return Err(DingTalkError::EmptySecret);
        }
        let (mut mobiles, mut user_ids) = (Vec::new(), Vec::new());
        for raw in mentions {
            let id = robot::mention(raw).map_err(|reason| DingTalkError::Mention {
                mention: raw.clone(),
                reason,
            })?;
            if is_mobile(&id) {
                mobiles.push(id);
            } else {
                user_ids.push(id);
            }
        }
        if format == DingTalkFormat::ActionCard && !(mobiles.is_empty() && user_ids.is_empty()) {
            return Err(DingTalkError::MentionsNeedMarkdown);
        }
        Ok(Self {
            url: Secret::new(parsed.as_str()),
            secret,
            mobiles,
            user_ids,
            format,
        })
    }
}

/// A mobile number as DingTalk's `atMobiles` takes it: digits, maybe `+` and `-`.
fn is_mobile(id: &str) -> bool {
    let digits = id.chars().filter(char::is_ascii_digit).count();
    digits >= 5
        && id
            .chars()
            .all(|c| c.is_ascii_digit() || c == '+' || c == '-')
}

/// The signature of DingTalk's 加签: `urlencode(base64(HMAC-SHA256(key = secret,
/// message = "{timestamp_ms}\n{secret}")))`.
pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    let message = format!("{timestamp_ms}\n{secret}");
    percent_encode(&robot::hmac_sha256_base64(
        secret.as_bytes(),
        message.as_bytes(),
    ))
}

/// `url` with `&timestamp=…&sign=…` appended (`?` when it has no query).
pub fn signed_url(url: &str, secret: &Secret, timestamp_ms: i64) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{sep}timestamp={timestamp_ms}&sign={}",
        sign(secret.expose(), timestamp_ms)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a retry may help with DingTalk error `code` (answered with `errmsg`), and a hint
/// for the user. Sources: the error table of "自定义机器人发送群消息"
/// (<https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages>), the
/// security settings page for `310000`, and the `130101` "send too fast, exceed 20 times per
/// minute" answer of the older API.
pub fn classify_code(code: i64, errmsg: &str) -> (bool, &'static str) {
    let msg = errmsg.to_ascii_lowercase();
    match code {
        -1 => (true, "DingTalk is busy; try again"),
        410100 | 130101 => (
            true,
            "rate limited: a robot may send 20 messages a minute, then waits 10 minutes",
        ),
        _ if msg.contains("too fast") => (true, "rate limited"),
        310000 if msg.contains("keyword") => (
            false,
            "the robot's custom keyword is missing from the message; add the keyword `cimon`",
        ),
        310000 if msg.contains("sign") => (
            false,
            "the signature does not match: check the signing secret (SEC…)",
        ),
        310000 if msg.contains("timestamp") => (
            false,
            "the timestamp was refused: the clock is more than an hour off",
        ),
        310000 if msg.contains("ip") => (
            false,
            "this machine's IP address is not in the robot's allow list",
        ),
        310000 => (false, "the robot's security settings refused the message"),
        400101 | 300001 | 300005 => (
            false,
            "the access_token does not exist: copy the webhook URL again",
        ),
        400102 => (
            false,
            "the robot is disabled; ask a group admin to enable it",
        ),
        400106 => (false, "the robot does not exist or is not in the group"),
        400013 => (false, "the group was dissolved"),
        400105 => (false, "DingTalk does not support this message type"),
        430101..=430104 => (false, "DingTalk refused the content as unsafe"),
        90030 => (false, "the webhook's call quota is used up"),
        _ => (false, "see DingTalk's error code table"),
    }
}

/// The body of a DingTalk answer. Rate-limit answers may carry `"wait": <seconds>`.
#[derive(Debug, Deserialize)]
struct Answer {
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: String,
    wait: Option<u64>,
}

/// Checks a DingTalk answer (after the HTTP status was found successful).
fn check_answer(shown: &str, body: &str) -> Result<(), NotifyError> {
    match serde_json::from_str::<Answer>(body) {
        Ok(Answer {
            errcode: Some(0), ..
        }) => Ok(()),
        Ok(Answer {
            errcode: Some(code),
            errmsg,
            wait,
        }) => {
            let (retryable, hint) = classify_code(code, &errmsg);
            let after = wait.filter(|_| retryable).map(Duration::from_secs);
            Err(robot::vendor_error(
                shown, "DingTalk", code, &errmsg, hint, retryable, after,
            ))
        }
        _ => Err(robot::unexpected_answer(shown, "DingTalk", body)),
    }
}

impl Notifier for DingTalk {
    fn kind(&self) -> &'static str {
        "dingtalk"
    }

    fn render_with(&self, message: &Message, template: Option<&str>) -> Rendered {
        let title = robot::clip(&robot::plain(&message.title()), MAX_TITLE_CHARS);
        let run = message.run_url.as_deref().and_then(robot::link_url);
        let card_url = run
            .as_ref()
            .filter(|_| self.format == DingTalkFormat::ActionCard);
        let head = format!("#### {}\n\n", robot::lookalike(&title));
        let mut tail = String::new();
        if let (Some(url), None) = (&run, card_url) {
            tail.push_str(&format!("\n\n[View run]({url})"));
        }
        let mentions: Vec<String> = self
            .mobiles
            .iter()
            .chain(&self.user_ids)
            .map(|id| format!("@{id}"))
            .collect();
        if !mentions.is_empty() {
            tail.push_str("\n\n");
            tail.push_str(&mentions.join(" "));
        }
        tail.push_str("\n\n###### cimon");
        let text = robot::body(message, template, &DIALECT, &head, &tail, MAX_TEXT_BYTES);
        let body = match card_url {
            Some(url) => json!({
                "msgtype": "actionCard",
                "actionCard": {
                    "title": title,
                    "text": text,
                    "btnOrientation": "0",
                    "singleTitle": "View run",
                    "singleURL": url,
                },
            }),
            None => json!({
                "msgtype": "markdown",
                "markdown": { "title": title, "text": text },
                "at": {
                    "atMobiles": self.mobiles,
                    "atUserIds": self.user_ids,
                    "isAtAll": false,
                },
            }),
        };
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
            let shown = robot::shown_url(request.url.expose());
            let url = match &self.secret {
                Some(secret) => signed_url(
                    request.url.expose(),
                    secret,
                    chrono::Utc::now().timestamp_millis(),
                ),
                None => request.url.expose().to_owned(),
            };
            let scrub = Scrubber::new(&url, self.secret.as_ref());
            let answer =
                robot::post(client, &url, request, request.body.clone(), &shown, &scrub).await?;
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
