//! One `cimon serve` endpoint: where runs are posted, with which token, and how one POST of a
//! report goes (gzip, bearer token, what counts as success, what may be retried).
//!
//! [`Endpoint::post_once`] is a single attempt classified for the retry stage;
//! [`Endpoint::deliver`] runs it under a [`RetryPolicy`]. Messages name the URL masked
//! ([`mask_url`]) and never contain the token.

use std::fmt;
use std::io::Write;
use std::time::Duration;

use chrono::Utc;
use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::{header, Client, Response, StatusCode, Url};

use super::retry::{self, Attempt, GiveUpReason, RetryPolicy};
use super::DeliveryError;
use crate::http::{client_for, error_chain, mask_url, HttpConfig, Secret};

/// The ingest path, appended to the endpoint's base URL.
pub const RUNS_PATH: &str = "/api/v1/runs";
/// How many characters of a server's answer a message quotes.
pub const ANSWER_LIMIT: usize = 500;

/// A `cimon serve` endpoint ready to receive reports.
#[derive(Debug, Clone)]
pub struct Endpoint {
    runs_url: Url,
    masked: String,
    token: Option<Secret>,
    client: Client,
}

impl Endpoint {
    /// The endpoint at `base` (`https://cimon.example.com`, maybe with a path prefix);
    /// reports go to `{base}/api/v1/runs`, authenticated by `token` when there is one.
    pub fn new(
        base: &str,
        token: Option<Secret>,
        http: &HttpConfig,
    ) -> Result<Self, DeliveryError> {
        let invalid = |reason: String| DeliveryError::InvalidEndpoint {
            url: mask_url(base),
            reason,
        };
        let mut url = Url::parse(base.trim()).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid(
                "expected an http:// or https:// URL with a host".into(),
            ));
        }
        let path = format!("{}{RUNS_PATH}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.set_fragment(None);
        let client = client_for(http).map_err(DeliveryError::Client)?;
        Ok(Self {
            masked: mask_url(url.as_str()),
            runs_url: url,
            token,
            client,
        })
    }

    /// The URL reports are posted to, fit for messages (secrets masked).
    pub fn url(&self) -> &str {
        &self.masked
    }

    /// Posts `json` (a run report) under `policy`: compressed once, then retried on connect
    /// errors, timeouts, 429 and 5xx, honouring `Retry-After`, until the deadline.
    pub async fn deliver(
        &self,
        json: &[u8],
        policy: &RetryPolicy,
    ) -> Result<Delivered, Undelivered> {
        let undelivered = |reason, last, cut_by_deadline, attempts, elapsed| Undelivered {
            url: self.masked.clone(),
            reason,
            last,
            cut_by_deadline,
            attempts,
            elapsed,
            deadline: policy.deadline,
        };
        let body = gzip(json).map_err(|e| {
            let last = PostError::Transport(format!("cannot compress the report: {e}"));
            undelivered(
                GiveUpReason::Permanent,
                Some(last),
                false,
                0,
                Duration::ZERO,
            )
        })?;
        match retry::run(policy, || self.post_once(body.clone())).await {
            Ok(done) => Ok(Delivered {
                stored: done.value,
                attempts: done.attempts,
                elapsed: done.elapsed,
            }),
            Err(failed) => Err(undelivered(
                failed.reason,
                failed.last,
                failed.cut_by_deadline,
                failed.attempts,
                failed.elapsed,
            )),
        }
    }

    /// One POST of an already gzip-compressed report.
    pub async fn post_once(&self, gzipped: Vec<u8>) -> Result<Stored, Attempt<PostError>> {
        let mut request = self
            .client
            .post(self.runs_url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_ENCODING, "gzip")
            .header(header::ACCEPT, "application/json")
            .body(gzipped);
        if let Some(token) = &self.token {
            // `bearer_auth` marks the header sensitive.
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await.map_err(|e| self.classify(e))?;
        let status = response.status();
        match status.as_u16() {
            201 => return Ok(Stored::Created),
            200 => return Ok(Stored::AlreadyStored),
            _ if status.is_success() => return Ok(Stored::Accepted(status.as_u16())),
            _ => {}
        }
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, Utc::now()));
        let answer = self.redact(&read_answer(response).await);
        let error = PostError::Status {
            status: status.as_u16(),
            answer,
        };
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(Attempt::Transient { error, retry_after })
        } else {
            Err(Attempt::Permanent(error))
        }
    }

    fn redact(&self, text: &str) -> String {
        match &self.token {
            Some(token) => token.redact(text),
            None => text.to_owned(),
        }
    }

    /// Connect errors, timeouts and connections dropped before an answer may be retried
    /// (the write is idempotent on the run key); TLS, redirect and request-building errors
    /// cannot be fixed by waiting.
    fn classify(&self, e: reqwest::Error) -> Attempt<PostError> {
        let (timeout, connect) = (e.is_timeout(), e.is_connect());
        let permanent = is_tls(&e) || e.is_builder() || e.is_redirect();
        let message = self.redact(&error_chain(&e.without_url()));
        if timeout {
            Attempt::transient(PostError::Timeout)
        } else if permanent {
            Attempt::Permanent(PostError::Transport(message))
        } else if connect {
            Attempt::transient(PostError::Connect(message))
        } else {
            Attempt::transient(PostError::Transport(message))
        }
    }
}

/// `json` compressed with gzip.
pub fn gzip(json: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
    encoder.write_all(json)?;
    encoder.finish()
}

/// Whether a TLS error is somewhere in `error`'s chain (also inside `io::Error`s, whose
/// `source` skips the wrapped error).
fn is_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<rustls::Error>() {
            return true;
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            if is_tls(inner) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// The first [`ANSWER_LIMIT`] characters of a response body, whitespace collapsed.
async fn read_answer(mut response: Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < 4 * ANSWER_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > ANSWER_LIMIT {
        let mut cut: String = collapsed.chars().take(ANSWER_LIMIT).collect();
        cut.push('…');
        cut
    } else {
        collapsed
    }
}

/// What a 2xx answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// 201: the run is new.
    Created,
    /// 200: the server already had this run (same key); nothing was stored twice.
    AlreadyStored,
    /// Another 2xx.
    Accepted(u16),
}

/// A report the endpoint accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// What the server said.
    pub stored: Stored,
    /// Attempts it took.
    pub attempts: u32,
    /// Time it took.
    pub elapsed: Duration,
}

/// How one POST failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The server answered with a non-2xx status.
    #[error("HTTP {status}{}{}", reason(*.status), answer_suffix(.answer))]
    Status {
        /// The status code.
        status: u16,
        /// The start of the server's answer ([`ANSWER_LIMIT`] characters, token redacted).
        answer: String,
    },
    /// The request timed out (the client's own timeout).
    #[error("the request timed out")]
    Timeout,
    /// No connection could be made.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// Anything else between sending and the answer (TLS, a dropped connection, …).
    #[error("{0}")]
    Transport(String),
}

fn reason(status: u16) -> String {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

fn answer_suffix(answer: &str) -> String {
    if answer.is_empty() {
        String::new()
    } else {
        format!(": {answer}")
    }
}

impl PostError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A report that could not be delivered, with everything the one warning needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    /// The masked URL.
    pub url: String,
    /// Why the retry stage stopped.
    pub reason: GiveUpReason,
    /// The last completed attempt's error.
    pub last: Option<PostError>,
    /// Whether the deadline cut an attempt still waiting for an answer.
    pub cut_by_deadline: bool,
    /// Attempts started.
    pub attempts: u32,
    /// Time spent.
    pub elapsed: Duration,
    /// The deadline that applied.
    pub deadline: Duration,
}

impl Undelivered {
    /// The server refused this particular report (400, 413, 422): sending it again will not
    /// help, but other reports may still go through.
    pub fn refused_report(&self) -> bool {
        self.reason == GiveUpReason::Permanent
            && matches!(
                self.last.as_ref().and_then(PostError::status),
                Some(400 | 413 | 422)
            )
    }

    /// The server answered with a final refusal (any 4xx other than 429).
    pub fn refused(&self) -> bool {
        self.reason == GiveUpReason::Permanent
            && self.last.as_ref().and_then(PostError::status).is_some()
    }
}

impl fmt::Display for Undelivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "POST {}: ", self.url)?;
        let deadline = self.deadline.as_secs_f64();
        match (&self.reason, &self.last) {
            (GiveUpReason::Permanent, Some(last)) => {
                write!(f, "{last}")?;
                if let Some(hint) = self
                    .last
                    .as_ref()
                    .and_then(PostError::status)
                    .and_then(hint)
                {
                    write!(f, " ({hint})")?;
                }
            }
            (GiveUpReason::Deadline, last) if self.cut_by_deadline => {
                write!(f, "no answer within the {deadline} s deadline")?;
                if let Some(last) = last {
                    write!(f, " (an earlier attempt: {last})")?;
                }
            }
            (GiveUpReason::Deadline, Some(last)) => {
                write!(f, "{last}; no success within the {deadline} s deadline")?;
            }
            (GiveUpReason::Attempts, Some(last)) => write!(f, "{last}; gave up")?,
            (_, _) => write!(f, "the {deadline} s deadline was spent before an attempt")?,
        }
        write!(
            f,
            " ({} attempt{} in {:.1} s)",
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64()
        )
    }
}

fn hint(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("set CIMON_TOKEN or CIMON_TOKEN_FILE to a token of the server"),
        403 => Some("the token lacks the ingest scope"),
        404 => Some("is the URL the base of a `cimon serve` endpoint?"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn undelivered(reason: GiveUpReason, last: Option<PostError>, cut: bool) -> Undelivered {
        Undelivered {
            url: "https://h/api/v1/runs".into(),
            reason,
            last,
            cut_by_deadline: cut,
            attempts: 2,
            elapsed: Duration::from_millis(3_010),
            deadline: Duration::from_secs(3),
        }
    }

    #[test]
    fn the_runs_url_keeps_a_prefix_and_masks_secrets() {
        let http = HttpConfig::default();
        let table = [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v1/runs"),
            (
                "https://ci.example/cimon/",
                "https://ci.example/cimon/api/v1/runs",
            ),
            (
                "https://u:pw@ci.example/?token=t",
                "https://ci.example/api/v1/runs?token=***",
            ),
        ];
        for (base, want) in table {
            assert_eq!(Endpoint::new(base, None, &http).unwrap().url(), want);
        }
        for bad in [
            "ci.example",
            "ftp://ci.example",
            "http://",
            "https://u:pw@[::1",
        ] {
            let e = Endpoint::new(bad, None, &http).unwrap_err().to_string();
            assert!(!e.contains("pw"), "{e}");
            assert!(e.contains("--endpoint"), "{e}");
        }
    }

    #[test]
    fn gzip_round_trips() {
        let json = br#"{"schema":"cimon.run/v1"}"#;
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gzip(json).unwrap()[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out.as_bytes(), json);
    }

    #[test]
    fn messages_say_what_happened() {
        let status = |s, answer: &str| PostError::Status {
            status: s,
            answer: answer.into(),
        };
        let table = [
            (
                undelivered(GiveUpReason::Permanent, Some(status(400, "bad key")), false),
                "POST https://h/api/v1/runs: HTTP 400 Bad Request: bad key (2 attempts in 3.0 s)",
            ),
            (
                undelivered(GiveUpReason::Permanent, Some(status(401, "")), false),
                "POST https://h/api/v1/runs: HTTP 401 Unauthorized (set CIMON_TOKEN or \
                 CIMON_TOKEN_FILE to a token of the server) (2 attempts in 3.0 s)",
            ),
            (
                undelivered(GiveUpReason::Deadline, Some(status(503, "")), true),
                "POST https://h/api/v1/runs: no answer within the 3 s deadline (an earlier \
                 attempt: HTTP 503 Service Unavailable) (2 attempts in 3.0 s)",
            ),
            (
                undelivered(
                    GiveUpReason::Deadline,
                    Some(PostError::Connect("connection refused".into())),
                    false,
                ),
                "POST https://h/api/v1/runs: cannot connect: connection refused; no success \
                 within the 3 s deadline (2 attempts in 3.0 s)",
            ),
            (
                undelivered(GiveUpReason::Deadline, None, false),
                "POST https://h/api/v1/runs: the 3 s deadline was spent before an attempt \
                 (2 attempts in 3.0 s)",
            ),
        ];
        for (failure, want) in table {
            assert_eq!(failure.to_string(), want);
        }
        assert!(
            undelivered(GiveUpReason::Permanent, Some(status(422, "")), false).refused_report()
        );
        assert!(
            !undelivered(GiveUpReason::Permanent, Some(status(401, "")), false).refused_report()
        );
        assert!(!undelivered(GiveUpReason::Deadline, Some(status(400, "")), false).refused());
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::General("bad certificate".into()),
        );
        assert!(is_tls(&tls));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!is_tls(&refused));
    }
}
