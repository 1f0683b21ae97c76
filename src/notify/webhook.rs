//! The generic `webhook` channel: a documented, versioned JSON document POSTed to any URL,
//! signed per the Standard Webhooks specification and, optionally, GitHub-style.
//!
//! # Payload (`cimon.notification.v1`)
//! `Content-Type: application/json`, one object:
//! - `type`: always `"cimon.notification.v1"` (a breaking change gets a new version);
//! - `event`: why it is sent: `failure`, `fixed`, `still_failing`, `flaky`, `gate_failed`,
//!   `success`;
//! - `title`: a one-line summary (`❌ octo/app › CI › build failed on main`), plain text;
//! - `message`: every field of [`Message`] (`event`, `outcome`, `repository`, `workflow`,
//!   `job`, `branch`, `sha`, `pull_request`, `run_url`, `commit_url`, `duration_ms`,
//!   `median_duration_ms`, `tests` counts, `failed` and `flaky` tests with `name`,
//!   `message`, `attempts`, and `gate`), unescaped: receivers escape for their medium;
//! - `omitted`: `{"failed": N, "flaky": M}`, the tests left out of `message.failed` and
//!   `message.flaky`, which list at most [`MAX_LISTED`] each.
//!
//! Fields may be added within a version; none is removed or changes meaning.
//!
//! # Signatures (computed at send time, so each retry carries a fresh timestamp)
//! - Standard Webhooks (<https://www.standardwebhooks.com/>, spec §"Signature scheme"):
//!   `webhook-id` (`msg_` + 32 hex digits of the body's SHA-256: the same message keeps its
//!   id across retries and re-sends, so receivers can de-duplicate), `webhook-timestamp`
//!   (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`
//!   where the key is the base64 text after `whsec_` in the secret ([`sign_standard`]).
//! - GitHub (docs.github.com, "Validating webhook deliveries"): `X-Hub-Signature-256:
//!   sha256=<hex HMAC-SHA256(secret, body)>` ([`sign_github`]).
//!
//! # Answers
//! 2xx is success; 429 (with `Retry-After`), 5xx, timeouts and connection errors may pass on
//! retry; every other status is permanent ([`super::classify_status`]). Errors show the URL
//! as `scheme://host[:port]/…` only (a webhook URL often carries its token in the path) and
//! never contain the signing secrets.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderName, HeaderValue, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    classify_status, Event, HttpRequest, Message, Notifier, NotifyError, Rendered, SendFuture,
};
use crate::http::{error_chain, Secret};

/// The payload's `type`.
pub const PAYLOAD_TYPE: &str = "cimon.notification.v1";
/// The most tests listed in `message.failed` and in `message.flaky`.
pub const MAX_LISTED: usize = 50;
/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Header names the channel sets itself (extra headers may not override them).
const RESERVED_HEADERS: [&str; 7] = [
    "content-type",
    "content-length",
    "host",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-hub-signature-256",
];

/// The JSON document a webhook receives (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// Always [`PAYLOAD_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// Why it is sent.
    pub event: Event,
    /// A one-line summary, plain text.
    pub title: String,
    /// The message, with at most [`MAX_LISTED`] failed and flaky tests.
    pub message: Message,
    /// How many tests were left out of the lists.
    pub omitted: Omitted,
}

/// Tests left out of [`Payload::message`]'s lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Omitted {
    /// Failed or errored tests not in `message.failed`.
    pub failed: usize,
    /// Flaky tests not in `message.flaky`.
    pub flaky: usize,
}

/// Why a `webhook` channel's settings are invalid. Never contains the URL or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The URL does not parse or is not `http(s)`.
    #[error("webhook: `url` is not a valid http(s) URL: {0}")]
    Url(String),
    /// The Standard Webhooks secret is not `whsec_` + base64.
    #[error("webhook: `secret` must be `whsec_` followed by a base64 key: {0}")]
    Secret(String),
    /// The GitHub secret is empty.
    #[error("webhook: `github_secret` is empty")]
    GithubSecret,
    /// An extra header has an invalid name or value.
    #[error("webhook: header {name:?} is invalid: {reason}")]
    Header {
        /// The header's name.
        name: String,
        /// What is wrong (the value is never shown).
        reason: String,
    },
    /// An extra header would override one the channel sets.
    #[error("webhook: header {0:?} is set by cimon and cannot be overridden")]
    ReservedHeader(String),
}

/// The `webhook` channel, validated.
#[derive(Debug, Clone)]
pub struct Webhook {
    url: Secret,
    key: Option<SigningKey>,
    github_secret: Option<Secret>,
    headers: Vec<(String, String)>,
}

/// A decoded Standard Webhooks key and the text it came from (for redaction).
#[derive(Clone)]
struct SigningKey {
    text: Secret,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Webhook {
    /// A channel posting to `url` (`http` or `https`), unsigned until a secret is added.
    pub fn new(url: Secret) -> Result<Self, WebhookError> {
        let parsed =
            reqwest::Url::parse(url.expose()).map_err(|e| WebhookError::Url(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(WebhookError::Url(format!(
                "scheme {:?} (want http or https)",
                parsed.scheme()
            )));
        }
        Ok(Self {
            url,
            key: None,
            github_secret: None,
            headers: Vec::new(),
        })
    }

    /// Signs with Standard Webhooks headers; `secret` is `whsec_` + base64.
    pub fn with_secret(mut self, secret: Secret) -> Result<Self, WebhookError> {
        let bytes = decode_secret(secret.expose())?;
        self.key = Some(SigningKey {
            text: secret,
            bytes,
        });
        Ok(self)
    }

    /// Also signs GitHub-style (`X-Hub-Signature-256`) with `secret`.
    pub fn with_github_secret(mut self, secret: Secret) -> Result<Self, WebhookError> {
        if secret.expose().is_empty() {
            return Err(WebhookError::GithubSecret);
        }
        self.github_secret = Some(secret);
        Ok(self)
    }

    /// Adds a static header to every request (for example an `Authorization` the receiver
    /// wants). The value may be a credential: it is never shown.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, WebhookError> {
        let invalid = |reason: String| WebhookError::Header {
            name: name.to_owned(),
            reason,
        };
        let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        if RESERVED_HEADERS.contains(&parsed.as_str()) {
            return Err(WebhookError::ReservedHeader(name.to_owned()));
        }
        HeaderValue::from_str(value)
            .map_err(|_| invalid("the value has control characters or non-ASCII bytes".into()))?;
        self.headers.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// The signature headers for a request: Standard Webhooks (when a secret is set: the
    /// `webhook-timestamp` and `webhook-signature`; `webhook-id` comes with the rendered
    /// request) and GitHub's `X-Hub-Signature-256` (when a GitHub secret is set).
    pub fn signature_headers(
        &self,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(key) = &self.key {
            out.push(("webhook-timestamp".to_owned(), timestamp.to_string()));
            out.push((
                "webhook-signature".to_owned(),
                sign_standard(&key.bytes, id, timestamp, body),
            ));
        }
        if let Some(secret) = &self.github_secret {
            out.push((
                "X-Hub-Signature-256".to_owned(),
                sign_github(secret.expose().as_bytes(), body),
            ));
        }
        out
    }

    /// `text` with the URL, the parts of it that may be tokens (path segments, query values,
    /// userinfo) and every secret replaced by `***`.
    fn redact(&self, text: &str) -> String {
        let mut text = self.url.redact(text);
        if let Ok(url) = reqwest::Url::parse(self.url.expose()) {
            let segments = url
                .path_segments()
                .into_iter()
                .flatten()
                .filter(|s| s.len() >= 8);
            let mut parts: Vec<String> = segments.map(str::to_owned).collect();
            parts.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
            parts.extend(url.password().map(str::to_owned));
            parts.push(url.username().to_owned());
            for part in parts {
                text = Secret::new(part).redact(&text);
            }
        }
        if let Some(key) = &self.key {
            text = key.text.redact(&text);
            let bare = key.text.expose().strip_prefix(SECRET_PREFIX).unwrap_or("");
            text = Secret::new(bare).redact(&text);
        }
        if let Some(secret) = &self.github_secret {
            text = secret.redact(&text);
        }
        for (_, value) in &self.headers {
            text = Secret::new(value.as_str()).redact(&text);
        }
        text
    }

    async fn deliver(
        &self,
        client: &reqwest::Client,
        request: &HttpRequest,
    ) -> Result<(), NotifyError> {
        let shown = shown_url(request.url.expose());
        let id = request
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("webhook-id"))
            .map_or_else(|| message_id(&request.body), |(_, v)| v.clone());
        let timestamp = chrono::Utc::now().timestamp();
        let mut builder = client.post(request.url.expose());
        for (name, value) in request
            .headers
            .iter()
            .cloned()
            .chain(self.signature_headers(&id, timestamp, &request.body))
        {
            builder = builder.header(name, value);
        }
        let response = builder
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e| {
                let permanent = e.is_builder() || e.is_redirect();
                let text = self.redact(&error_chain(&e.without_url()));
                let message = format!("webhook {shown}: {text}");
                if permanent {
                    NotifyError::permanent(message)
                } else {
                    NotifyError::transient(message, None)
                }
            })?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        classify_status(
            status,
            retry_after.as_deref(),
            &format!("webhook {shown}"),
            &body,
        )
        .map_err(|e| NotifyError {
            message: self.redact(&e.message),
            ..e
        })
    }
}

impl Notifier for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    /// The payload is data, not prose: it takes no template (the configuration refuses one),
    /// so `_template` is not used.
    fn render_with(&self, message: &Message, _template: Option<&str>) -> Rendered {
        let body = render_body(message);
        let mut headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("webhook-id".to_owned(), message_id(&body)),
        ];
        headers.extend(self.headers.iter().cloned());
        Rendered::Http(HttpRequest {
            url: self.url.clone(),
            headers,
            body,
        })
    }

    fn send<'a>(&'a self, client: &'a reqwest::Client, rendered: &'a Rendered) -> SendFuture<'a> {
        Box::pin(async move {
            match rendered {
                Rendered::Http(request) => self.deliver(client, request).await,
                Rendered::Email(_) => Err(NotifyError::permanent(
                    "webhook: asked to send an email, not an HTTP request",
                )),
            }
        })
    }
}

/// The payload for `message` (see the module documentation). Pure.
pub fn render_payload(message: &Message) -> Payload {
    let mut listed = message.clone();
    listed.failed.truncate(MAX_LISTED);
    listed.flaky.truncate(MAX_LISTED);
    Payload {
        kind: PAYLOAD_TYPE.to_owned(),
        event: message.event,
        title: message.title(),
        message: listed,
        omitted: Omitted {
            failed: message.failed.len().saturating_sub(MAX_LISTED),
            flaky: message.flaky.len().saturating_sub(MAX_LISTED),
        },
    }
}

/// The request body: [`render_payload`] as compact JSON.
pub fn render_body(message: &Message) -> Vec<u8> {
    // Serialising plain structs with string keys cannot fail.
    serde_json::to_vec(&render_payload(message)).unwrap_or_default()
}

/// The Standard Webhooks `webhook-id` of a body: `msg_` + the first 16 bytes of its SHA-256
/// in hex. Stable across retries; different for any other message.
pub fn message_id(body: &[u8]) -> String {
    format!("msg_{}", hex(&Sha256::digest(body)[..16]))
}

/// The Standard Webhooks key of `secret`: the base64 after the optional `whsec_` prefix.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, WebhookError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let bytes = BASE64
        .decode(encoded.trim())
        .map_err(|_| WebhookError::Secret("the key is not valid base64".into()))?;
    if bytes.is_empty() {
        return Err(WebhookError::Secret("the key is empty".into()));
    }
    Ok(bytes)
}

/// The `webhook-signature` value: `v1,` + base64 of HMAC-SHA256(`key`,
/// `"{id}.{timestamp}.{body}"`) (Standard Webhooks, symmetric scheme).
pub fn sign_standard(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let signed = hmac_sha256(
        key,
        &[
            id.as_bytes(),
            b".",
            timestamp.to_string().as_bytes(),
            b".",
            body,
        ],
    );
    format!("v1,{}", BASE64.encode(signed))
}

/// The `X-Hub-Signature-256` value: `sha256=` + hex of HMAC-SHA256(`secret`, `body`).
pub fn sign_github(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex(&hmac_sha256(secret, &[body])))
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length (RFC 2104 §2): `new_from_slice` cannot fail; the
    // zero-key fallback only satisfies the type.
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| Hmac::<Sha256>::new(&Default::default()));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `scheme://host[:port]/…`: enough to say which receiver failed, never its token.
fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rest = if u.path() == "/" && u.query().is_none() {
                "/"
            } else {
                "/…"
            };
            format!(
                "{}://{}{port}{rest}",
                u.scheme(),
                u.host_str().unwrap_or("?")
            )
        }
        Err(_) => "<invalid URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests;
