//! The `email` channel: a notification as a `multipart/alternative` email (plain text and
//! HTML, RFC 2046 §5.1.4) sent over SMTP with lettre's async tokio transport (rustls + ring).
//!
//! - [`Email`]: the validated channel (`host`, `port`, [`SmtpTls`], optional credentials,
//!   `from`, `to`, timeout);
//! - `render` is pure: [`render_subject`] (the message title, control characters — CR and LF
//!   included — neutralised, so no header can be injected), [`render_text`] and
//!   [`render_html`] (every untrusted string HTML-escaped; links only for `http(s)` URLs;
//!   at most [`MAX_LISTED`] tests per list, then "and N more");
//! - `send` makes one attempt. TLS per config: `starttls` (RFC 3207, required: no
//!   credentials or mail go out if the server cannot upgrade), `tls` (implicit TLS,
//!   RFC 8314 §3) or `none`. Roots: the platform store (honouring `SSL_CERT_FILE`) plus the
//!   bundled Mozilla roots, so minimal containers work.
//! - Failures are classified per RFC 5321 §4.2.1: a 4yz reply, a timeout or a network error
//!   may pass on retry; a 5yz reply (550 mailbox unavailable, 535 authentication failed), a
//!   TLS failure or a client-side refusal (no usable AUTH mechanism, no STARTTLS) will not.
//!   The password never appears in an error.

use std::fmt::Write as _;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};

use super::{Message, Notifier, NotifyError, Rendered, SendFuture, TestLine};
use crate::http::{error_chain, Secret};
use crate::output::escape;

/// The most tests listed per section (failed, flaky); the rest are counted ("and N more").
pub const MAX_LISTED: usize = 50;
/// Longest test name shown, in bytes (a longer one is cut and ends with `…`).
const MAX_NAME: usize = 300;
/// Longest failure message line shown, in bytes.
const MAX_MESSAGE: usize = 300;
/// Longest subject, in bytes.
const MAX_SUBJECT: usize = 200;
/// Most bytes of a template's output in the HTML part.
const MAX_TEMPLATE_BYTES: usize = 100_000;
/// Default time allowed for one attempt (connect, TLS, AUTH, the whole SMTP dialogue).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (RFC 3207); refuses to go on without it.
    #[serde(rename = "starttls")]
    StartTls,
    /// TLS from the first byte ("implicit TLS", RFC 8314 §3, port 465).
    Tls,
    /// No encryption (a local relay or a test server only).
    None,
}

impl SmtpTls {
    /// The word used in `.cimon.yml` (`starttls`, `tls`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StartTls => "starttls",
            Self::Tls => "tls",
            Self::None => "none",
        }
    }

    /// Parses the word used in `.cimon.yml`.
    pub fn parse(word: &str) -> Option<Self> {
        [Self::StartTls, Self::Tls, Self::None]
            .into_iter()
            .find(|t| t.as_str() == word)
    }

    /// The usual port: 587 (submission) for STARTTLS, 465 (submissions) for TLS, 25 without.
    pub fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::Tls => 465,
            Self::None => 25,
        }
    }
}

/// Why an `email` channel's settings are invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// `host` is empty or contains whitespace.
    #[error("email: `host` must be a host name or an IP address, got {0:?}")]
    Host(String),
    /// `port` is 0.
    #[error("email: `port` must be between 1 and 65535")]
    Port,
    /// `from` or one of `to` is not an RFC 5322 address.
    #[error("email: `{field}` is not a valid email address ({value:?}): {reason}")]
    Address {
        /// `from` or `to`.
        field: &'static str,
        /// The value given.
        value: String,
        /// What the parser said.
        reason: String,
    },
    /// `to` is empty.
    #[error("email: `to` lists no recipient")]
    NoRecipient,
}

/// The `email` channel, validated.
#[derive(Debug, Clone)]
pub struct Email {
    host: String,
    port: u16,
    tls: SmtpTls,
    credentials: Option<(String, Secret)>,
    from: Mailbox,
    to: Vec<Mailbox>,
    timeout: Duration,
}

impl Email {
    /// A channel sending from `from` to every address of `to` through `host:port`.
    /// Addresses may carry a display name (`CI <ci@example.com>`).
    pub fn new(
        host: impl Into<String>,
        port: u16,
        tls: SmtpTls,
        from: &str,
        to: &[String],
    ) -> Result<Self, EmailError> {
        let host = host.into();
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::Host(host));
        }
        if port == 0 {
            return Err(EmailError::Port);
        }
        let parse = |field: &'static str, value: &str| {
            value
                .trim()
                .parse::<Mailbox>()
                .map_err(|e| EmailError::Address {
                    field,
                    value: value.to_owned(),
                    reason: e.to_string(),
                })
        };
        let from = parse("from", from)?;
        let to = to
            .iter()
            .map(|t| parse("to", t))
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(EmailError::NoRecipient);
        }
        Ok(Self {
            host,
            port,
            tls,
            credentials: None,
            from,
            to,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Authenticates (AUTH PLAIN or LOGIN, whichever the server offers) as `username`.
    pub fn with_credentials(mut self, username: impl Into<String>, password: Secret) -> Self {
        self.credentials = Some((username.into(), password));
        self
    }

    /// Time allowed for one attempt, the whole SMTP dialogue included.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `smtp://host:port`, as errors name the server (never with credentials).
    fn server(&self) -> String {
        format!("smtp://{}:{} ({})", self.host, self.port, self.tls.as_str())
    }

    /// Text fit for an error message: the password replaced by `***`.
    fn redact(&self, text: &str) -> String {
        match &self.credentials {
            Some((_, password)) => password.redact(text),
            None => text.to_owned(),
        }
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .timeout(Some(self.timeout));
        if self.tls != SmtpTls::None {
            crate::http::install_crypto_provider();
            let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .filter_map(|der| Certificate::from_der(der.to_vec()).ok());
            let params = roots
                .fold(TlsParameters::builder(self.host.clone()), |b, cert| {
                    b.add_root_certificate(cert)
                })
                .build_rustls()
                .map_err(|e| NotifyError::permanent(format!("email via {}: {e}", self.server())))?;
            builder = builder.tls(match self.tls {
                SmtpTls::Tls => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        }
        if let Some((username, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose().to_owned(),
            ));
        }
        Ok(builder.build())
    }

    async fn deliver(&self, mail: &super::Email) -> Result<(), NotifyError> {
        let server = self.server();
        let message = build_message(mail)
            .map_err(|e| NotifyError::permanent(format!("email via {server}: {e}")))?;
        let transport = self.transport()?;
        match tokio::time::timeout(self.timeout, transport.send(message)).await {
            Err(_) => Err(NotifyError::transient(
                format!(
                    "email via {server}: no answer within {}s",
                    self.timeout.as_secs_f64()
                ),
                None,
            )),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                let text = self.redact(&error_chain(&e));
                let message = format!("email via {server}: {text}");
                Err(if failure_of(&e).retryable() {
                    NotifyError::transient(message, None)
                } else {
                    NotifyError::permanent(message)
                })
            }
        }
    }
}

impl Notifier for Email {
    fn kind(&self) -> &'static str {
        "email"
    }

    /// A template's `body` replaces the HTML part's content; the text part stays the default.
    fn render_with(&self, message: &Message, body: Option<&str>) -> Rendered {
        Rendered::Email(super::Email {
            from: self.from.to_string(),
            to: self.to.iter().map(Mailbox::to_string).collect(),
            subject: render_subject(message),
            text: render_text(message),
            html: match body {
                Some(body) => render_templated_html(message, body),
                None => render_html(message),
            },
        })
    }

    fn send<'a>(&'a self, _client: &'a reqwest::Client, rendered: &'a Rendered) -> SendFuture<'a> {
        Box::pin(async move {
            match rendered {
                Rendered::Email(mail) => self.deliver(mail).await,
                Rendered::Http(_) => Err(NotifyError::permanent(
                    "email: asked to send an HTTP request, not an email",
                )),
            }
        })
    }
}

/// The rendered email as a lettre message. The subject is neutralised again: a
/// [`super::Email`] may have been built elsewhere.
fn build_message(mail: &super::Email) -> Result<lettre::Message, String> {
    let mailbox = |value: &str| {
        value
            .parse::<Mailbox>()
            .map_err(|e| format!("invalid address {value:?}: {e}"))
    };
    let mut builder = lettre::Message::builder()
        .from(mailbox(&mail.from)?)
        .subject(subject_line(&mail.subject));
    for to in &mail.to {
        builder = builder.to(mailbox(to)?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| e.to_string())
}

/// What went wrong in one SMTP attempt, reduced to what decides a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// A negative SMTP reply with this code.
    Reply(u16),
    /// Connecting or waiting for the server took too long.
    Timeout,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// The client refused to go on (no usable AUTH mechanism, no STARTTLS, bad input).
    Client,
    /// A network error, a refused connection or a garbled reply.
    Network,
}

impl Failure {
    /// RFC 5321 §4.2.1: 4yz replies are transient, 5yz permanent. Timeouts and network
    /// errors may pass; TLS and client-side refusals are configuration problems.
    fn retryable(self) -> bool {
        match self {
            Self::Reply(code) => (400..500).contains(&code),
            Self::Timeout | Self::Network => true,
            Self::Tls | Self::Client => false,
        }
    }
}

fn failure_of(e: &lettre::transport::smtp::Error) -> Failure {
    if let Some(code) = e.status() {
        let code = u16::from(code.severity as u8) * 100
            + u16::from(code.category as u8) * 10
            + u16::from(code.detail as u8);
        Failure::Reply(code)
    } else if e.is_timeout() {
        Failure::Timeout
    } else if e.is_tls() {
        Failure::Tls
    } else if e.is_client() {
        Failure::Client
    } else {
        Failure::Network
    }
}

/// The subject: the message title on one line, at most [`MAX_SUBJECT`] bytes.
pub fn render_subject(message: &Message) -> String {
    subject_line(&message.title())
}

/// `text` fit for a header: every control character (CR and LF included) and bidi override
/// becomes a space, runs of spaces collapse, the result is clipped.
fn subject_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_SUBJECT + 4));
    for c in text.chars() {
        let c = if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            ' '
        } else {
            c
        };
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    clipped(out.trim(), MAX_SUBJECT)
}

/// `s` cut to at most `limit` bytes on a character boundary, with `…` when cut.
fn clipped(s: &str, limit: usize) -> String {
    match crate::junit::text::clip(s, limit) {
        (kept, true) => format!("{kept}…"),
        (kept, false) => kept.to_owned(),
    }
}

/// A URL that may become a link: `http(s)` only, no whitespace or control characters.
fn safe_link(url: Option<&str>) -> Option<&str> {
    let url = url?;
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    (scheme_ok && clean).then_some(url)
}

/// The facts table: label, value (plain, untrusted) and an optional link.
fn facts(m: &Message) -> Vec<(&'static str, String, Option<&str>)> {
    let rows: [(&'static str, Option<String>, Option<&str>); 9] = [
        ("Outcome", Some(m.outcome.as_str().to_owned()), None),
        ("Repository", m.repository.clone(), None),
        ("Workflow", m.workflow.clone(), None),
        ("Job", m.job.clone(), None),
        ("Branch", m.branch.clone(), None),
        (
            "Commit",
            m.short_sha().map(str::to_owned),
            safe_link(m.commit_url.as_deref()),
        ),
        (
            "Pull request",
            m.pull_request.map(|n| format!("#{n}")),
            None,
        ),
        ("Duration", m.duration(), None),
        ("Tests", Some(m.counts()), None),
    ];
    rows.into_iter()
        .filter_map(|(label, value, link)| Some((label, value?, link)))
        .collect()
}

/// One test as a line: `name — message` (plain, untrusted, clipped).
fn test_parts(t: &TestLine) -> (String, Option<String>) {
    let name = clipped(&t.name, MAX_NAME);
    let message = t.message.as_deref().map(|m| clipped(m, MAX_MESSAGE));
    (name, message)
}

/// The sections listing tests: title, tests and how many are not listed.
fn sections(m: &Message) -> Vec<(String, &[TestLine], usize)> {
    let mut out = Vec::new();
    for (what, list) in [("Failed tests", &m.failed), ("Flaky tests", &m.flaky)] {
        if !list.is_empty() {
            let shown = list.len().min(MAX_LISTED);
            out.push((
                format!("{what} ({})", list.len()),
                &list[..shown],
                list.len() - shown,
            ));
        }
    }
    out
}

/// The plain-text part. Untrusted strings have control characters made visible and stay
/// on one line each.
pub fn render_text(m: &Message) -> String {
    let plain = |s: &str| escape::terminal(s).into_owned();
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", plain(&m.title()));
    for (label, value, link) in facts(m) {
        let _ = match link {
            Some(url) => writeln!(out, "{label}: {} <{url}>", plain(&value)),
            None => writeln!(out, "{label}: {}", plain(&value)),
        };
    }
    for (title, tests, more) in sections(m) {
        let _ = writeln!(out, "\n{title}:");
        for t in tests {
            let (name, message) = test_parts(t);
            let retries = if t.attempts > 1 {
                format!(" ({} attempts)", t.attempts)
            } else {
                String::new()
            };
            let _ = match message {
                Some(msg) => writeln!(out, "  - {}{retries}: {}", plain(&name), plain(&msg)),
                None => writeln!(out, "  - {}{retries}", plain(&name)),
            };
        }
        if more > 0 {
            let _ = writeln!(out, "  … and {more} more");
        }
    }
    if let Some(gate) = &m.gate {
        let verdict = if gate.passed { "passed" } else { "blocked" };
        let _ = writeln!(out, "\nGate: {verdict}");
        for reason in gate.reasons.iter().take(MAX_LISTED) {
            let _ = writeln!(out, "  - {}", plain(&clipped(reason, MAX_MESSAGE)));
        }
    }
    if let Some(url) = safe_link(m.run_url.as_deref()) {
        let _ = writeln!(out, "\nRun: {url}");
    }
    out.push_str("\n-- \nSent by cimon\n");
    out
}

/// The HTML part: a small self-contained document with inline styles. Every untrusted string
/// is HTML-escaped; only `http(s)` URLs become links.
pub fn render_html(m: &Message) -> String {
    let h = |s: &str| escape::html(s);
    let mut out = open_document(m);
    out.push_str("<table style=\"border-collapse: collapse;\">\n");
    for (label, value, link) in facts(m) {
        let value = match link {
            Some(url) => format!("<a href=\"{}\"><code>{}</code></a>", h(url), h(&value)),
            None => h(&value),
        };
        let _ = writeln!(
            out,
            "<tr><th style=\"text-align: left; padding: 2px 12px 2px 0;\">{label}</th><td>{value}</td></tr>"
        );
    }
    out.push_str("</table>\n");
    for (section, tests, more) in sections(m) {
        let _ = writeln!(
            out,
            "<h3 style=\"margin: 16px 0 4px 0;\">{}</h3>\n<ul>",
            h(&section)
        );
        for t in tests {
            let (name, message) = test_parts(t);
            let retries = if t.attempts > 1 {
                format!(" ({} attempts)", t.attempts)
            } else {
                String::new()
            };
            let _ = match message {
                Some(msg) => writeln!(
                    out,
                    "<li><code>{}</code>{retries}: {}</li>",
                    h(&name),
                    h(&msg)
                ),
                None => writeln!(out, "<li><code>{}</code>{retries}</li>", h(&name)),
            };
        }
        if more > 0 {
            let _ = writeln!(out, "<li>… and {more} more</li>");
        }
        out.push_str("</ul>\n");
    }
    if let Some(gate) = &m.gate {
        let verdict = if gate.passed { "passed" } else { "blocked" };
        let _ = writeln!(
            out,
            "<h3 style=\"margin: 16px 0 4px 0;\">Gate: {verdict}</h3>\n<ul>"
        );
        for reason in gate.reasons.iter().take(MAX_LISTED) {
            let _ = writeln!(out, "<li>{}</li>", h(&clipped(reason, MAX_MESSAGE)));
        }
        out.push_str("</ul>\n");
    }
    if let Some(url) = safe_link(m.run_url.as_deref()) {
        let _ = writeln!(out, "<p><a href=\"{}\">View the run</a></p>", h(url));
    }
    out.push_str(CLOSE_DOCUMENT);
    out
}

/// The HTML part around a template's output (already HTML-escaped where it printed values),
/// cut to [`MAX_TEMPLATE_BYTES`].
pub fn render_templated_html(m: &Message, body: &str) -> String {
    let mut out = open_document(m);
    out.push_str(&super::robot::cut_to(
        body.to_owned(),
        MAX_TEMPLATE_BYTES,
        super::robot::bytes,
    ));
    out.push('\n');
    out.push_str(CLOSE_DOCUMENT);
    out
}

/// The start of the HTML part, up to the title heading.
fn open_document(m: &Message) -> String {
    let title = escape::html(&m.title());
    format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n</head>\n\
         <body style=\"font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; font-size: 14px; color: #1f2328;\">\n\
         <h2 style=\"margin: 0 0 12px 0;\">{title}</h2>\n"
    )
}

/// The end of the HTML part.
const CLOSE_DOCUMENT: &str =
    "<p style=\"color: #59636e; font-size: 12px;\">Sent by cimon</p>\n</body>\n</html>\n";

#[cfg(test)]
mod tests;
