//! The `feishu` channel: a Feishu / Lark (飞书) custom bot webhook
//! (自定义机器人使用指南, <https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot>).
//!
//! - `render` is pure: `{"msg_type":"interactive","card":{…}}` — a header coloured by event, a
//!   markdown element (facts, failed / flaky tests, gate reasons, "… and N more"), a "View
//!   run" button, mentions as `<at id=…></at>` for the configured ids only. Untrusted strings
//!   go through `robot::entities` (the card docs' HTML-entity escaping), so `<at id=all>`,
//!   links, emphasis and `<font>` cannot come from a test name or branch. The whole request
//!   body stays within [`MAX_BODY_BYTES`] (the custom bot's 20 KB limit), signature included.
//! - `send` makes one attempt. With a signing secret (签名校验) it adds `timestamp` (seconds,
//!   a string) and `sign` = base64(HMAC-SHA256(key = "{timestamp}\n{secret}", message = ""))
//!   to the JSON body at send time ([`sign`], [`signed_body`]).
//! - Feishu answers HTTP 200 with `{"code":0,"msg":"success"}` (older: `StatusCode`); a
//!   non-zero code is an error inside the 200, classified by [`classify_code`]. Rate limits
//!   may also come as HTTP 429/400 with code 99991400 and `x-ogw-ratelimit-reset`
//!   (<https://open.feishu.cn/document/server-docs/api-call-guide/frequency-control>).

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::robot::{self, Dialect, Scrubber};
use super::{
    classify_status, Event, HttpRequest, Message, Notifier, NotifyError, Rendered, SendFuture,
};
use crate::http::Secret;

/// The custom bot's limit on a request body ("请求体的数据大小不能超过 20 KB").
pub const MAX_BODY_BYTES: usize = 20_000;
/// Room kept for `"timestamp"` and `"sign"`, added at send time.
const SIGNATURE_RESERVE: usize = 100;
/// Longest header title, in characters.
const MAX_TITLE_CHARS: usize = 100;

const DIALECT: Dialect = Dialect {
    escape: robot::entities,
    paragraph: "\n",
    cost: json_cost,
};

/// The bytes `s` takes inside a JSON string.
fn json_cost(s: &str) -> usize {
    serde_json::to_string(s).map_or(s.len(), |j| j.len().saturating_sub(2))
}

/// Why a Feishu channel configuration is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeishuError {
    /// The webhook URL is unusable (the URL itself is shown masked).
    #[error("invalid Feishu webhook URL {url}: {reason}")]
    Url {
        /// The URL, masked.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The signing secret is empty.
    #[error("the Feishu signing secret is empty")]
    EmptySecret,
    /// A mention is not an open_id or user_id.
    #[error("invalid Feishu mention {mention:?}: {reason}")]
    Mention {
        /// The mention as configured.
        mention: String,
        /// What is wrong.
        reason: String,
    },
}

/// A validated Feishu / Lark custom bot.
#[derive(Debug, Clone)]
pub struct Feishu {
    url: Secret,
    secret: Option<Secret>,
    mentions: Vec<String>,
}

impl Feishu {
    /// A bot posting to `url` (`https://open.feishu.cn/open-apis/bot/v2/hook/…`, or the
    /// `open.larksuite.com` equivalent), signing with `secret` when given, mentioning the
    /// open_ids / user_ids `mentions`.
    pub fn new(
        url: Secret,
        secret: Option<Secret>,
        mentions: &[String],
    ) -> Result<Self, FeishuError> {
        let parsed = robot::check_url(url.expose()).map_err(|reason| FeishuError::Url {
            url: robot::shown_url(url.expose()),
            reason,
        })?;
        if secret
            .as_ref()
            .is_some_and(|s| s.expose().trim().is_empty())
        {
            return Err(FeishuError::EmptySecret);
        }
        let mentions = mentions
            .iter()
            .map(|raw| {
                robot::mention(raw).map_err(|reason| FeishuError::Mention {
                    mention: raw.clone(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            url: Secret::new(parsed.as_str()),
            secret,
            mentions,
        })
    }
}

/// The signature of 签名校验: base64(HMAC-SHA256 keyed with `"{timestamp_s}\n{secret}"` over
/// an empty message).
pub fn sign(secret: &str, timestamp_s: i64) -> String {
    robot::hmac_sha256_base64(format!("{timestamp_s}\n{secret}").as_bytes(), b"")
}

/// `body` (a JSON object) with `"timestamp": "<seconds>"` and `"sign"` added.
pub fn signed_body(body: &[u8], secret: &Secret, timestamp_s: i64) -> Result<Vec<u8>, NotifyError> {
    let mut value: Value = serde_json::from_slice(body).map_err(|e| {
        NotifyError::permanent(format!("feishu: the rendered body is not JSON: {e}"))
    })?;
    let Some(object) = value.as_object_mut() else {
        return Err(NotifyError::permanent(
            "feishu: the rendered body is not a JSON object",
        ));
    };
    object.insert("timestamp".into(), Value::String(timestamp_s.to_string()));
    object.insert(
        "sign".into(),
        Value::String(sign(secret.expose(), timestamp_s)),
    );
    serde_json::to_vec(&value).map_err(|e| NotifyError::permanent(format!("feishu: {e}")))
}

/// Whether a retry may help with Feishu code `code` (answered with `msg`), and a hint.
/// Sources: the custom bot guide (9499 Bad Request, 19021 sign, 19022 IP, 19024 keywords,
/// 11232 frequency limit) and the frequency-control guide (99991400). 9499 also comes with
/// "too many request" when rate limited; only that text makes it retryable.
pub fn classify_code(code: i64, msg: &str) -> (bool, &'static str) {
    let msg = msg.to_ascii_lowercase();
    match code {
        11232 => (
            true,
            "frequency limit: a bot may send 100 messages a minute and 5 a second",
        ),
        99991400 => (true, "request frequency limit"),
        9499 if msg.contains("too many request") || msg.contains("frequency") => {
            (true, "rate limited")
        }
        9499 => (
            false,
            "bad request: the body is malformed or larger than 20 KB",
        ),
        19021 => (
            false,
            "the signature does not match or the clock is more than an hour off: check the signing secret",
        ),
        19022 => (false, "this machine's IP address is not in the bot's allow list"),
        19024 => (
            false,
            "the bot's custom keyword is missing from the message; add the keyword `cimon`",
        ),
        19001 => (false, "the webhook token is invalid: copy the webhook URL again"),
        19002 => (false, "invalid parameter"),
        _ => (false, "see Feishu's error codes"),
    }
}

/// The code and message of a Feishu answer (`code`/`msg`, or the older
/// `StatusCode`/`StatusMessage`).
fn answer_code(body: &str) -> Option<(i64, String)> {
    #[derive(Deserialize)]
    struct Answer {
        code: Option<i64>,
        msg: Option<String>,
        #[serde(rename = "StatusCode")]
        status_code: Option<i64>,
        #[serde(rename = "StatusMessage")]
        status_message: Option<String>,
    }
    let a: Answer = serde_json::from_str(body).ok()?;
    let code = a.code.or(a.status_code)?;
    Some((code, a.msg.or(a.status_message).unwrap_or_default()))
}

/// Classifies a whole answer: a rate-limit code wins whatever the status (Feishu sends 99991400
/// with 429 or 400), then the status, then the code of a 2xx answer.
fn check_answer(answer: &robot::Answer, shown: &str) -> Result<(), NotifyError> {
    let parsed = answer_code(&answer.body);
    if let Some((code, msg)) = &parsed {
        let (retryable, hint) = classify_code(*code, msg);
        if *code != 0 && retryable {
            let reset = answer
                .ratelimit_reset
                .as_deref()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let after = reset.or_else(|| {
                answer
                    .retry_after
                    .as_deref()
                    .and_then(|v| crate::delivery::retry::parse_retry_after(v, chrono::Utc::now()))
            });
            return Err(robot::vendor_error(
                shown, "Feishu", *code, msg, hint, true, after,
            ));
        }
    }
    classify_status(
        answer.status,
        answer.retry_after.as_deref(),
        shown,
        &answer.body,
    )?;
    match parsed {
        Some((0, _)) => Ok(()),
        Some((code, msg)) => {
            let (_, hint) = classify_code(code, &msg);
            Err(robot::vendor_error(
                shown, "Feishu", code, &msg, hint, false, None,
            ))
        }
        None => Err(robot::unexpected_answer(shown, "Feishu", &answer.body)),
    }
}

/// The header colour of an event (card header templates).
fn template(event: Event) -> &'static str {
    match event {
        Event::Failure | Event::StillFailing => "red",
        Event::Fixed | Event::Success => "green",
        Event::Flaky => "orange",
        Event::GateFailed => "carmine",
    }
}

impl Feishu {
    /// The request body with the markdown `content`.
    fn body(&self, message: &Message, title: &str, content: &str) -> Value {
        let mut elements = vec![json!({ "tag": "markdown", "content": content })];
        if let Some(url) = message.run_url.as_deref().and_then(robot::link_url) {
            elements.push(json!({
                "tag": "action",
                "actions": [{
                    "tag": "button",
                    "text": { "tag": "plain_text", "content": "View run" },
                    "type": "primary",
                    "url": url,
                }],
            }));
        }
        json!({
            "msg_type": "interactive",
            "card": {
                "config": { "wide_screen_mode": true },
                "header": {
                    "template": template(message.event),
                    "title": { "tag": "plain_text", "content": title },
                },
                "elements": elements,
            },
        })
    }
}

impl Notifier for Feishu {
    fn kind(&self) -> &'static str {
        "feishu"
    }

    fn render_with(&self, message: &Message, template: Option<&str>) -> Rendered {
        // plain_text is shown as is: the title only needs to be one clean line.
        let title = robot::clip(&robot::plain(&message.title()), MAX_TITLE_CHARS);
        let mut tail = String::new();
        if !self.mentions.is_empty() {
            tail.push('\n');
            let tags: Vec<String> = self
                .mentions
                .iter()
                .map(|id| format!("<at id={id}></at>"))
                .collect();
            tail.push_str(&tags.join(" "));
        }
        tail.push_str("\n<font color='grey'>cimon</font>");
        let skeleton = serde_json::to_vec(&self.body(message, &title, "")).map_or(0, |b| b.len());
        let budget = MAX_BODY_BYTES.saturating_sub(SIGNATURE_RESERVE + skeleton);
        let content = robot::body(message, template, &DIALECT, "", &tail, budget);
        Rendered::Http(HttpRequest {
            url: self.url.clone(),
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: serde_json::to_vec(&self.body(message, &title, &content)).unwrap_or_default(),
        })
    }

    fn send<'a>(&'a self, client: &'a reqwest::Client, rendered: &'a Rendered) -> SendFuture<'a> {
        Box::pin(async move {
            let request = robot::http_request(rendered, self.kind())?;
            let url = request.url.expose();
            let shown = robot::shown_url(url);
            let mut scrub = Scrubber::new(url, self.secret.as_ref());
            let body = match &self.secret {
                Some(secret) => {
                    let now = chrono::Utc::now().timestamp();
                    scrub = scrub.also(&sign(secret.expose(), now));
                    signed_body(&request.body, secret, now)?
                }
                None => request.body.clone(),
            };
            let answer = robot::post(client, url, request, body, &shown, &scrub).await?;
            check_answer(&answer, &shown)
        })
    }
}

#[cfg(test)]
mod tests;
