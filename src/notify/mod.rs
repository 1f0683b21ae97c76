//! Notifications: one engine, one interface, one file per channel (like Alertmanager's
//! `notify/`).
//!
//! - [`message`]: what is said — a [`Message`] built from a run report and an [`Event`]
//!   (pure, no I/O);
//! - one module per channel (`slack`, `teams`, `discord`, `dingtalk`, `wecom`, `feishu`,
//!   `email`, `webhook`), each with a pure `render` (snapshot-tested) and a single-attempt
//!   `send`; channels never retry themselves;
//! - the retry stage is [`crate::delivery::retry`], shared with `report --endpoint`;
//!   [`NotifyError`] says whether a retry may help.
//!
//! Untrusted strings (test names, messages, branch names) are escaped by each channel for its
//! own medium (`crate::output::escape` has the shared helpers).

pub mod channels;
#[cfg(test)]
mod conformance;
pub mod dingtalk;
pub mod discord;
pub mod dispatch;
pub mod email;
pub mod fanout;
pub mod feishu;
pub mod message;
mod robot;
pub mod slack;
pub mod state;
pub mod teams;
pub mod template;
pub mod webhook;
pub mod wecom;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use message::{Event, GateNote, Message, TestLine};

use crate::http::Secret;

/// An HTTP request a channel will send: the pure output of `render`.
#[derive(Clone)]
pub struct HttpRequest {
    /// The URL, which often carries a token: never print it; use [`HttpRequest::shown_url`].
    pub url: Secret,
    /// Extra headers (`Content-Type` included).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The URL with secrets masked, for logs and the result table.
    pub fn shown_url(&self) -> String {
        mask_webhook_url(self.url.expose())
    }

    /// The body as JSON, for snapshot tests.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("url", &self.shown_url())
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// An email a channel will send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// `From`.
    pub from: String,
    /// `To` (one or more).
    pub to: Vec<String>,
    /// `Subject`.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// What `render` produces.
#[derive(Debug, Clone)]
pub enum Rendered {
    /// A webhook call.
    Http(HttpRequest),
    /// An email.
    Email(Email),
}

/// Why one attempt to send failed. The message never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyError {
    /// What went wrong (masked URL, HTTP status, the vendor's error code and text).
    pub message: String,
    /// True when a retry may help (connect error, timeout, 429, 5xx, a vendor rate-limit code).
    pub retryable: bool,
    /// How long the vendor asked to wait (`Retry-After`, Discord's `retry_after`).
    pub retry_after: Option<Duration>,
}

impl NotifyError {
    /// A failure a retry may fix.
    pub fn transient(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            retry_after,
        }
    }

    /// A failure a retry cannot fix (bad signature, unknown webhook, malformed payload).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
    }
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The future of [`Notifier::send`].
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NotifyError>> + Send + 'a>>;

/// A notification channel.
pub trait Notifier: Send + Sync {
    /// The channel's type name as written in `.cimon.yml` (`slack`, `dingtalk`, …).
    fn kind(&self) -> &'static str;
    /// The message as this channel's payload, with `body` (a rendered [`template`], already
    /// escaped for the channel's medium) in place of the default body when given; the
    /// envelope, limits and mentions stay the channel's. Pure: same input, same output.
    fn render_with(&self, message: &Message, body: Option<&str>) -> Rendered;
    /// The message as this channel's payload, with the default body.
    fn render(&self, message: &Message) -> Rendered {
        self.render_with(message, None)
    }
    /// One attempt to deliver `rendered` (signing, where the vendor requires it, happens
    /// here with the current time). Never retries.
    fn send<'a>(&'a self, client: &'a reqwest::Client, rendered: &'a Rendered) -> SendFuture<'a>;
}

/// Classifies an HTTP answer the way every webhook channel does: 2xx is success (the caller
/// still checks vendor error codes in the body), 429 and 5xx are transient (with
/// `Retry-After`), every other status is permanent. `shown_url` must already be masked.
pub fn classify_status(
    status: u16,
    retry_after: Option<&str>,
    shown_url: &str,
    body: &str,
) -> Result<(), NotifyError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let excerpt: String = body.chars().take(300).collect();
    let message = format!("{shown_url} answered HTTP {status}: {excerpt}");
    let wait =
        retry_after.and_then(|v| crate::delivery::retry::parse_retry_after(v, chrono::Utc::now()));
    if status == 429 || status >= 500 {
        Err(NotifyError::transient(message, wait))
    } else {
        Err(NotifyError::permanent(message))
    }
}

/// `url` fit for logs and the result table: [`crate::http::mask_url`] (userinfo, token-like
/// query values) and, because Slack (`/services/T…/B…/<token>`), Discord
/// (`/webhooks/<id>/<token>`) and Feishu (`/hook/<uuid>`) put the secret in the path, every
/// path segment that looks like a token (16 or more URL-safe characters) replaced by `***`.
pub fn mask_webhook_url(url: &str) -> String {
    let masked = crate::http::mask_url(url);
    let authority = masked.find("://").map_or(0, |i| i + 3);
    let path_start = masked[authority..]
        .find('/')
        .map_or(masked.len(), |i| authority + i);
    let path_end = masked[path_start..]
        .find(['?', '#'])
        .map_or(masked.len(), |i| path_start + i);
    let path = masked[path_start..path_end]
        .split('/')
        .map(|segment| {
            if looks_like_token(segment) {
                "***"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    format!("{}{path}{}", &masked[..path_start], &masked[path_end..])
}

fn looks_like_token(segment: &str) -> bool {
    segment.len() >= 16
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'%'))
}

/// A webhook's answer, read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// The HTTP status code.
    pub status: u16,
    /// The `Retry-After` header, unparsed.
    pub retry_after: Option<String>,
    /// The body (empty when it could not be read).
    pub body: String,
}

/// One POST of `request` as rendered (URL, headers, body); never retries. Getting no answer
/// is a [`NotifyError`] naming the masked URL: timeouts, connect errors and dropped
/// connections are transient, request-building and redirect errors permanent. The caller
/// judges the answer ([`classify_status`] plus the vendor's body).
pub async fn post(
    client: &reqwest::Client,
    request: &HttpRequest,
) -> Result<HttpAnswer, NotifyError> {
    let shown = request.shown_url();
    let mut builder = client.post(request.url.expose()).body(request.body.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let response = builder.send().await.map_err(|e| {
        let (timeout, permanent) = (e.is_timeout(), e.is_builder() || e.is_redirect());
        let what = request
            .url
            .redact(&crate::http::error_chain(&e.without_url()));
        let message = if timeout {
            format!("POST {shown}: no answer in time ({what})")
        } else {
            format!("POST {shown}: {what}")
        };
        tracing::debug!("{message}");
        if permanent {
            NotifyError::permanent(message)
        } else {
            NotifyError::transient(message, None)
        }
    })?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.unwrap_or_default();
    tracing::debug!(url = %shown, status, "webhook answered");
    Ok(HttpAnswer {
        status,
        retry_after,
        body,
    })
}
