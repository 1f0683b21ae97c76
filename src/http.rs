//! The shared HTTP client and the secret handling of every network caller.
//!
//! - [`build_client`] / [`client_for`]: one `reqwest` client per process, rustls with the
//!   ring provider (never OpenSSL), user agent `cimon/<version>`, connect and total
//!   timeouts. CA roots: the platform store (which honours `SSL_CERT_FILE`/`SSL_CERT_DIR`)
//!   plus [`HttpConfig::ca_file`]; when the platform has none (minimal containers), the
//!   bundled `webpki-root-certs` plus the CA file.
//! - [`Secret`]: a credential whose `Debug`/`Display` print `***`.
//! - [`mask_url`]: a URL fit for logs and warnings (no userinfo, token-like query values masked).
//! - [`get_json`]: one GET with authentication, decoding JSON, errors naming the masked URL and
//!   the HTTP status ([`HttpError`]). It does not retry: callers that may wait decide that.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Certificate, Client};
use serde::de::DeserializeOwned;

/// The `User-Agent` of every request: `cimon/<version>`.
pub const USER_AGENT: &str = concat!("cimon/", env!("CARGO_PKG_VERSION"));
/// Default time allowed to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for a whole request, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Installs rustls' ring crypto provider as the process default. Idempotent: later calls (and
/// a provider installed by someone else first) are fine.
pub fn install_crypto_provider() {
    // `Err` only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How to build a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request.
    pub timeout: Duration,
    /// A PEM bundle of extra CA certificates (for example from `SSL_CERT_FILE`).
    pub ca_file: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            ca_file: None,
        }
    }
}

/// Builds a client for `config`: platform roots plus the CA file, or, when the platform has
/// no CA store, the bundled roots plus the CA file.
pub fn build_client(config: &HttpConfig) -> Result<Client, HttpError> {
    install_crypto_provider();
    let extra = match &config.ca_file {
        Some(path) => load_pem_bundle(path)?,
        None => Vec::new(),
    };
    let builder = || {
        Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .tls_backend_rustls()
    };
    match builder().tls_certs_merge(extra.clone()).build() {
        Ok(client) => Ok(client),
        Err(platform_err) => {
            tracing::debug!(
                "no usable platform CA store ({platform_err}); using the bundled webpki roots"
            );
            let bundled = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .filter_map(|der| Certificate::from_der(der.as_ref()).ok());
            builder()
                .tls_certs_only(bundled.chain(extra))
                .build()
                .map_err(|e| HttpError::Client(e.without_url().to_string()))
        }
    }
}

/// The process-wide client for `config`: the default configuration's client is built once and
/// shared; any other configuration gets a fresh client.
pub fn client_for(config: &HttpConfig) -> Result<Client, HttpError> {
    static SHARED: OnceLock<Result<Client, String>> = OnceLock::new();
    if *config != HttpConfig::default() {
        return build_client(config);
    }
    SHARED
        .get_or_init(|| build_client(config).map_err(|e| e.to_string()))
        .clone()
        .map_err(HttpError::Client)
}

fn load_pem_bundle(path: &Path) -> Result<Vec<Certificate>, HttpError> {
    let ca_err = |message: String| HttpError::CaFile {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
    let certs = Certificate::from_pem_bundle(&bytes).map_err(|e| ca_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(ca_err("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

/// A credential. `Debug` and `Display` print `***`; [`Secret::expose`] gives the value to the
/// one place that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself, for the request that needs it. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of this secret replaced by `***` (defence in depth for
    /// messages built from third-party errors).
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < 4 {
            // Replacing a 1–3 character "secret" would mangle ordinary text.
            return text.to_owned();
        }
        text.replace(&self.0, "***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `url` fit for a log line: userinfo (`user:password@`) removed and the values of token-like
/// query (and fragment) parameters replaced by `***`. Works on text that is not a valid URL.
pub fn mask_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((a, b)) => (a, Some(b)),
        None => (url, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((a, b)) => (a, Some(b)),
        None => (before_fragment, None),
    };
    let mut out = strip_userinfo(base);
    if let Some(query) = query {
        out.push('?');
        out.push_str(&mask_pairs(query));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(&mask_pairs(fragment));
    }
    out
}

fn strip_userinfo(base: &str) -> String {
    if let Some(i) = base.find("://") {
        let rest = &base[i + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            return format!("{}{}", &base[..i + 3], &rest[at + 1..]);
        }
    }
    base.to_owned()
}

fn mask_pairs(pairs: &str) -> String {
    pairs
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !value.is_empty() && is_secret_key(key) => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    matches!(k.as_str(), "key" | "sig" | "code" | "auth")
        || [
            "token",
            "secret",
            "password",
            "passwd",
            "signature",
            "credential",
            "apikey",
        ]
        .iter()
        .any(|word| k.contains(word))
        || k.ends_with("_key")
        || k.ends_with("-key")
}

/// A failed HTTP exchange. Every variant names the URL with secrets masked ([`mask_url`]).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The client could not be built (TLS configuration).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// The CA file could not be used.
    #[error("cannot read CA certificates from {}: {message}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The server answered with a non-success status.
    #[error("GET {url}: HTTP {status}{}{}", reason_suffix(*.status), retry_suffix(.retry_after.as_deref()))]
    Status {
        /// The masked URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The `Retry-After` header, when the server sent one.
        retry_after: Option<String>,
    },
    /// No complete answer within the timeout.
    #[error("GET {url}: timed out after {} s", .after.as_secs_f64())]
    Timeout {
        /// The masked URL.
        url: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// Connection, TLS or protocol failure.
    #[error("GET {url}: {message}")]
    Transport {
        /// The masked URL.
        url: String,
        /// What failed (never contains the URL's secrets).
        message: String,
    },
    /// The body is not the JSON that was expected.
    #[error("GET {url}: the response is not the expected JSON: {message}")]
    Decode {
        /// The masked URL.
        url: String,
        /// The decoder's message.
        message: String,
    },
}

fn reason_suffix(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

fn retry_suffix(retry_after: Option<&str>) -> String {
    retry_after
        .map(|r| format!(" (rate limited; Retry-After: {r})"))
        .unwrap_or_default()
}

impl HttpError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// No credentials.
    None,
    /// A header carrying the secret as is (`PRIVATE-TOKEN: …`).
    Header(&'static str, &'a Secret),
    /// `Authorization: Bearer …`.
    Bearer(&'a Secret),
    /// `Authorization: Basic base64(user:token)`.
    Basic(&'a str, &'a Secret),
}

/// A decoded JSON body and the `rel="next"` page link, if any.
#[derive(Debug)]
pub struct JsonPage<T> {
    /// The decoded body.
    pub body: T,
    /// The absolute URL of the next page (from the `Link` header).
    pub next: Option<String>,
}

/// Sends one GET to `url` and decodes the JSON answer. Non-2xx statuses, timeouts, transport
/// failures and undecodable bodies become an [`HttpError`] naming the masked URL.
pub async fn get_json<T: DeserializeOwned>(
    client: &Client,
    url: &str,
    auth: Auth<'_>,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<JsonPage<T>, HttpError> {
    let masked = mask_url(url);
    let mut request = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request = match auth {
        Auth::None => request,
        Auth::Header(name, secret) => request.header(name, secret.expose()),
        Auth::Bearer(secret) => request.bearer_auth(secret.expose()),
        Auth::Basic(user, secret) => request.basic_auth(user, Some(secret.expose())),
    };
    let transport = |e: reqwest::Error| {
        if e.is_timeout() {
            HttpError::Timeout {
                url: masked.clone(),
                after: timeout,
            }
        } else {
            HttpError::Transport {
                url: masked.clone(),
                message: error_chain(&e.without_url()),
            }
        }
    };
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if !status.is_success() {
        return Err(HttpError::Status {
            url: masked.clone(),
            status: status.as_u16(),
            retry_after: header("retry-after").map(|v| v.chars().take(64).collect()),
        });
    }
    let next = header("link").and_then(|l| next_link(&l));
    let bytes = response.bytes().await.map_err(transport)?;
    let body = serde_json::from_slice(&bytes).map_err(|e| HttpError::Decode {
        url: masked.clone(),
        message: e.to_string(),
    })?;
    Ok(JsonPage { body, next })
}

/// An error and its sources, joined by `: `.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

/// The URL of the `rel="next"` entry of an RFC 8288 `Link` header.
pub fn next_link(link_header: &str) -> Option<String> {
    link_header.split(',').find_map(|entry| {
        let (target, params) = entry.trim().split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_owned())
    })
}

/// True when `a` and `b` share scheme, host and port (credentials must not follow a link to
/// another origin).
pub fn same_origin(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a), reqwest::Url::parse(b)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.port_or_known_default() == b.port_or_known_default()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
