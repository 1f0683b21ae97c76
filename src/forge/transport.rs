//! How forge requests travel and how their answers are judged.
//!
//! - [`github_client`]: octocrab over the process' shared reqwest client ([`client_for`]:
//!   rustls, timeouts, CA roots, `User-Agent: cimon/<version>`), with
//!   `Authorization: Bearer …` (marked sensitive) and `Accept: application/vnd.github+json`
//!   added by the [`Transport`] service; octocrab adds `X-GitHub-Api-Version`. Every URL is
//!   absolute, so a GHES `GITHUB_API_URL` is used as is.
//! - [`gitlab_once`]: one request with `PRIVATE-TOKEN` on the same shared client.
//! - [`classify`]: an HTTP answer → success, or a [`ForgeError`] for the retry stage
//!   (429, 5xx, GitHub's primary and secondary rate limits are transient, honouring
//!   `Retry-After` and the rate-limit reset; everything else is permanent).
//! - [`with_retry`]: one operation under [`crate::delivery::retry`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use octocrab::{OctoBody, Octocrab};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION};

use super::{ErrorKind, ForgeError};
use crate::delivery::retry::{self, parse_retry_after, Attempt, GiveUpReason, RetryPolicy};
use crate::http::{client_for, error_chain, mask_url, HttpConfig, Secret};

/// The media type GitHub recommends in `Accept`.
pub const GITHUB_MEDIA_TYPE: &str = "application/vnd.github+json";
/// How long cimon waits after a GitHub secondary rate limit that names no time (GitHub's
/// documentation: "wait for at least one minute").
pub const SECONDARY_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// How many characters of a forge's error message an error quotes.
const MESSAGE_LIMIT: usize = 300;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The shared reqwest client as the tower service under octocrab.
#[derive(Clone)]
struct Transport {
    client: reqwest::Client,
    authorization: HeaderValue,
}

impl tower::Service<http::Request<OctoBody>> for Transport {
    type Response = http::Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<OctoBody>) -> Self::Future {
        let client = self.client.clone();
        let authorization = self.authorization.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let mut headers = parts.headers;
            headers.insert(AUTHORIZATION, authorization);
            if !headers.contains_key(ACCEPT) {
                headers.insert(ACCEPT, HeaderValue::from_static(GITHUB_MEDIA_TYPE));
            }
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(headers)
                .body(body)
                .send()
                .await
                .map_err(|e| error_chain(&e.without_url()))?;
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = response
                .bytes()
                .await
                .map_err(|e| error_chain(&e.without_url()))?;
            let mut out = http::Response::new(Full::new(bytes));
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

/// An octocrab client for `token` over the shared HTTP client of `http`. Must be called
/// inside a Tokio runtime (octocrab spawns its request buffer).
pub fn github_client(token: &Secret, http: &HttpConfig) -> Result<Octocrab, ForgeError> {
    let setup = |message: String| ForgeError {
        kind: ErrorKind::Other,
        operation: "GitHub client".into(),
        status: None,
        message,
    };
    let client = client_for(http).map_err(|e| setup(e.to_string()))?;
    let mut authorization =
        HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
            setup("the GitHub token contains characters not allowed in a header".into())
        })?;
    authorization.set_sensitive(true);
    let octo = octocrab::OctocrabBuilder::new_empty()
        .with_service(Transport {
            client,
            authorization,
        })
        .with_auth(octocrab::AuthState::None)
        .build()
        .map_err(|e| setup(e.to_string()))?;
    Ok(octo)
}

/// A request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PATCH`.
    Patch,
    /// `PUT`.
    Put,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
            Self::Put => "PUT",
        }
    }

    fn method(self) -> reqwest::Method {
        match self {
            Self::Get => reqwest::Method::GET,
            Self::Post => reqwest::Method::POST,
            Self::Patch => reqwest::Method::PATCH,
            Self::Put => reqwest::Method::PUT,
        }
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: String,
    /// The `rel="next"` link, if any.
    pub next: Option<String>,
    /// GitLab's `X-Next-Page`, if any.
    pub next_page: Option<String>,
}

/// `VERB url` with the URL masked, for messages.
pub fn operation(verb: Verb, url: &str) -> String {
    format!("{} {}", verb.as_str(), mask_url(url))
}

fn transport_error(op: &str, message: String) -> Attempt<ForgeError> {
    Attempt::transient(ForgeError {
        kind: ErrorKind::Other,
        operation: op.to_owned(),
        status: None,
        message,
    })
}

/// One GitHub request through octocrab, classified.
pub async fn github_once(
    octo: &Octocrab,
    verb: Verb,
    url: &str,
    body: Option<&serde_json::Value>,
    token: &Secret,
) -> Result<Answer, Attempt<ForgeError>> {
    let op = operation(verb, url);
    let failed = |e: octocrab::Error| transport_error(&op, token.redact(&error_chain(&e)));
    let response = match verb {
        Verb::Get => octo._get(url).await,
        Verb::Post => octo._post(url, body).await,
        Verb::Patch => octo._patch(url, body).await,
        Verb::Put => octo._put(url, body).await,
    }
    .map_err(failed)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = octo.body_to_string(response).await.map_err(failed)?;
    finish(&op, status, &headers, text, token)
}

/// One GitLab request (`PRIVATE-TOKEN`), classified.
pub async fn gitlab_once(
    client: &reqwest::Client,
    verb: Verb,
    url: &str,
    body: Option<&serde_json::Value>,
    token: &Secret,
) -> Result<Answer, Attempt<ForgeError>> {
    let op = operation(verb, url);
    let failed = |e: reqwest::Error| transport_error(&op, error_chain(&e.without_url()));
    let mut token_header = HeaderValue::from_str(token.expose()).map_err(|_| {
        Attempt::Permanent(ForgeError {
            kind: ErrorKind::Other,
            operation: op.clone(),
            status: None,
            message: "CIMON_GITLAB_TOKEN contains characters not allowed in a header".into(),
        })
    })?;
    token_header.set_sensitive(true);
    let mut request = client
        .request(verb.method(), url)
        .header("PRIVATE-TOKEN", token_header)
        .header(ACCEPT, "application/json");
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.map_err(failed)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.map_err(failed)?;
    finish(&op, status, &headers, text, token)
}

fn finish(
    op: &str,
    status: u16,
    headers: &HeaderMap,
    body: String,
    token: &Secret,
) -> Result<Answer, Attempt<ForgeError>> {
    classify(op, status, headers, &body, Utc::now()).map_err(|attempt| match attempt {
        Attempt::Transient { error, retry_after } => Attempt::Transient {
            error: redacted(error, token),
            retry_after,
        },
        Attempt::Permanent(error) => Attempt::Permanent(redacted(error, token)),
    })?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Ok(Answer {
        status,
        next: header("link").and_then(|l| crate::http::next_link(&l)),
        next_page: header("x-next-page").filter(|p| !p.trim().is_empty()),
        body,
    })
}

fn redacted(mut error: ForgeError, token: &Secret) -> ForgeError {
    error.message = token.redact(&error.message);
    error
}

/// Judges an answer: 2xx is success; 429, 5xx and GitHub's rate-limited 403 (primary:
/// `x-ratelimit-remaining: 0`; secondary: the message says "rate limit") are transient,
/// waiting for `Retry-After`, else the rate-limit reset, else
/// [`SECONDARY_RATE_LIMIT_WAIT`] for a secondary limit; 401/403 are permission errors,
/// 404 not found, the rest permanent.
pub fn classify(
    op: &str,
    status: u16,
    headers: &HeaderMap,
    body: &str,
    now: DateTime<Utc>,
) -> Result<(), Attempt<ForgeError>> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let message = error_message(body);
    let exhausted = ["x-ratelimit-remaining", "ratelimit-remaining"]
        .iter()
        .any(|h| header(h).map(str::trim) == Some("0"));
    let secondary = message.to_ascii_lowercase().contains("rate limit");
    let rate_limited = status == 429 || (status == 403 && (exhausted || secondary));
    let kind = match status {
        _ if rate_limited => ErrorKind::RateLimit,
        401 | 403 => ErrorKind::Permission,
        404 => ErrorKind::NotFound,
        _ => ErrorKind::Other,
    };
    let error = ForgeError {
        kind,
        operation: op.to_owned(),
        status: Some(status),
        message,
    };
    if rate_limited || status >= 500 {
        let reset = ["x-ratelimit-reset", "ratelimit-reset"]
            .iter()
            .find_map(|h| header(h))
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|epoch| {
                // GitHub sends epoch seconds; GitLab's `RateLimit-Reset` is epoch seconds too.
                Duration::from_secs(u64::try_from(epoch - now.timestamp()).unwrap_or(0))
            });
        let retry_after = header("retry-after")
            .and_then(|v| parse_retry_after(v, now))
            .or(if exhausted { reset } else { None })
            .or((rate_limited && secondary).then_some(SECONDARY_RATE_LIMIT_WAIT));
        return Err(Attempt::Transient { error, retry_after });
    }
    Err(Attempt::Permanent(error))
}

/// The forge's error text: GitHub/GitLab `message` (and GitHub's validation `errors`), else
/// the start of the body; at most [`MESSAGE_LIMIT`] characters, on one line.
fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let text = match &parsed {
        Some(v) => {
            let main = v
                .get("message")
                .or_else(|| v.get("error"))
                .map(|m| match m {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| body.to_owned());
            match v.get("errors") {
                Some(errors) => format!("{main} {errors}"),
                None => main,
            }
        }
        None => body.to_owned(),
    };
    super::limits::one_line(&text, MESSAGE_LIMIT)
}

/// Runs `op` under `policy`; a give-up becomes the last error (or a timeout error naming
/// `what`).
pub async fn with_retry<T, F, Fut>(policy: &RetryPolicy, what: &str, op: F) -> Result<T, ForgeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<ForgeError>>>,
{
    match retry::run(policy, op).await {
        Ok(done) => Ok(done.value),
        Err(failed) => {
            let mut error = failed.last.unwrap_or_else(|| ForgeError {
                kind: ErrorKind::Other,
                operation: what.to_owned(),
                status: None,
                message: String::new(),
            });
            if failed.reason != GiveUpReason::Permanent {
                let after = format!(
                    "gave up after {} attempt(s) in {:.1} s",
                    failed.attempts,
                    failed.elapsed.as_secs_f64()
                );
                error.message = if error.message.is_empty() {
                    after
                } else {
                    format!("{} ({after})", error.message)
                };
            }
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    /// (status, headers, body, kind, transient, retry_after seconds)
    type Row<'a> = (
        u16,
        HeaderMap,
        &'a str,
        Option<ErrorKind>,
        bool,
        Option<u64>,
    );

    #[test]
    fn classification_table() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let t = now.timestamp();
        let integration = r#"{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest"}"#;
        let secondary = r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#;
        let reset = (t + 120).to_string();
        let table: Vec<Row> = vec![
            (201, headers(&[]), "{}", None, false, None),
            (
                403,
                headers(&[]),
                integration,
                Some(ErrorKind::Permission),
                false,
                None,
            ),
            (
                401,
                headers(&[]),
                "{}",
                Some(ErrorKind::Permission),
                false,
                None,
            ),
            (
                404,
                headers(&[]),
                "{}",
                Some(ErrorKind::NotFound),
                false,
                None,
            ),
            (422, headers(&[]), "{}", Some(ErrorKind::Other), false, None),
            (
                500,
                headers(&[]),
                "oops",
                Some(ErrorKind::Other),
                true,
                None,
            ),
            (
                502,
                headers(&[("retry-after", "3")]),
                "",
                Some(ErrorKind::Other),
                true,
                Some(3),
            ),
            (
                429,
                headers(&[("retry-after", "7")]),
                "{}",
                Some(ErrorKind::RateLimit),
                true,
                Some(7),
            ),
            (
                403,
                headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &reset),
                ]),
                r#"{"message":"API rate limit exceeded"}"#,
                Some(ErrorKind::RateLimit),
                true,
                Some(120),
            ),
            (
                403,
                headers(&[]),
                secondary,
                Some(ErrorKind::RateLimit),
                true,
                Some(60),
            ),
            (
                403,
                headers(&[("retry-after", "5")]),
                secondary,
                Some(ErrorKind::RateLimit),
                true,
                Some(5),
            ),
            (
                429,
                headers(&[("ratelimit-remaining", "0"), ("ratelimit-reset", &reset)]),
                r#"{"message":"429 Too Many Requests"}"#,
                Some(ErrorKind::RateLimit),
                true,
                Some(120),
            ),
        ];
        for (status, h, body, kind, transient, wait) in table {
            let got = classify("POST x", status, &h, body, now);
            match (got, kind) {
                (Ok(()), None) => {}
                (Err(Attempt::Transient { error, retry_after }), Some(k)) if transient => {
                    assert_eq!(error.kind, k, "{status} {body}");
                    assert_eq!(
                        retry_after,
                        wait.map(Duration::from_secs),
                        "{status} {body}"
                    );
                    assert_eq!(error.status, Some(status));
                }
                (Err(Attempt::Permanent(error)), Some(k)) if !transient => {
                    assert_eq!(error.kind, k, "{status} {body}");
                }
                (other, _) => panic!("{status} {body}: {other:?}"),
            }
        }
    }

    #[test]
    fn error_messages_are_the_forges_own_on_one_line() {
        assert_eq!(
            error_message(r#"{"message":"Validation Failed","errors":[{"code":"custom"}]}"#),
            r#"Validation Failed [{"code":"custom"}]"#
        );
        assert_eq!(
            error_message(r#"{"error":"insufficient_scope"}"#),
            "insufficient_scope"
        );
        assert_eq!(
            error_message("<html>\nbad gateway</html>"),
            "<html> bad gateway</html>"
        );
        assert_eq!(
            error_message(&"x".repeat(1_000)).chars().count(),
            MESSAGE_LIMIT
        );
    }
}
