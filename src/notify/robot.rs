//! What the three group-robot channels ([`super::dingtalk`], [`super::wecom`],
//! [`super::feishu`]) share: their webhooks answer HTTP 200 with an error code in a JSON body,
//! sign with HMAC-SHA256 over a timestamp, carry the token in the URL, render a restricted
//! Markdown with tight size limits, and mention people with vendor-specific syntax.
//!
//! - text: [`plain`] (no control characters, ANSI sequences or line breaks), [`clip`],
//!   [`lookalike`] (DingTalk and WeCom document no escape syntax, so markup characters become
//!   look-alikes that carry no meaning), [`entities`] (Feishu documents HTML numeric entities),
//!   [`link_url`];
//! - layout: [`markdown_body`] — facts, then the failed / flaky / gate lists, each cut to fit
//!   the vendor's byte limit with "… and N more";
//! - configuration checks: [`check_url`], [`mention`];
//! - sending: [`post`] (one POST, transport errors classified), [`Scrubber`] (no token or
//!   secret in any message), [`shown_url`], [`vendor_error`], [`hmac_sha256_base64`].

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{HttpRequest, Message, NotifyError, Rendered};
use crate::http::{error_chain, Secret};

/// Longest test name shown (characters).
pub(crate) const MAX_NAME_CHARS: usize = 200;
/// Longest first line of a failure message shown (characters).
pub(crate) const MAX_MESSAGE_CHARS: usize = 200;
/// Failed tests listed before "… and N more".
pub(crate) const TOP_FAILED: usize = 10;
/// Flaky tests listed before "… and N more".
pub(crate) const TOP_FLAKY: usize = 5;
/// Gate reasons listed before "… and N more".
pub(crate) const TOP_REASONS: usize = 5;
/// How much of a vendor's answer is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How much of a vendor's error text a message quotes (characters).
const MAX_VENDOR_TEXT: usize = 200;

/// `s` on one line: ANSI escape sequences, control characters and bidirectional overrides
/// removed, line breaks and tabs turned into single spaces.
pub(crate) fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI (`ESC [ parameters final-byte`) entirely; otherwise the next character.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for n in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&n) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' | '\n' | '\t' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c if c.is_control() || is_bidi(c) => {}
            c => out.push(c),
        }
    }
    out
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// `s` cut to at most `max` characters, the last one being `…` when it was cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// For DingTalk and WeCom Markdown, which document no escape syntax: every character that can
/// open markup (emphasis, code, links and images, headings, quotes, HTML such as `<font>`,
/// WeCom's `<@userid>`, DingTalk's `@mobile`, entities) is replaced by a look-alike that the
/// renderers do not interpret. The text stays readable; it can no longer format, link or
/// mention.
pub(crate) fn lookalike(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '*' => '∗',
            '_' => '＿',
            '`' => 'ˋ',
            '[' => '［',
            ']' => '］',
            '<' => '＜',
            '>' => '＞',
            '#' => '＃',
            '@' => '＠',
            '~' => '～',
            '|' => '｜',
            '&' => '＆',
            '\\' => '＼',
            c => c,
        })
        .collect()
}

/// For Feishu/Lark card Markdown (`lark_md`): the special characters become HTML numeric
/// entities (`&#42;`), as the card documentation prescribes ("特殊字符转义说明",
/// <https://open.feishu.cn/document/feishu-cards/card-components/content-components/rich-text>).
/// `<` covers `<at id=all>`, `<font>` and `<a>`; `:` and `/` keep emoji codes and bare URLs
/// inert.
pub(crate) fn entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' | '<' | '>' | '~' | '-' | '!' | '*' | '/' | '\\' | '[' | ']' | '(' | ')' | '#'
            | ':' | '+' | '"' | '\'' | '`' | '$' | '_' | '|' | '@' | '{' | '}' => {
                out.push_str(&format!("&#{};", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// `url` usable as a Markdown link target or button URL: only `http(s)`, no whitespace or
/// control characters, and the characters that could end the link or open markup
/// percent-encoded. `None` when it is not such a URL.
pub(crate) fn link_url(url: &str) -> Option<String> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            c if c.is_control() || c.is_whitespace() => return None,
            '(' | ')' | '<' | '>' | '"' | '\'' | '`' | '[' | ']' | '{' | '}' | '|' | '\\' | '^' => {
                out.push_str(&format!("%{:02X}", c as u32));
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// How a channel writes Markdown.
pub(crate) struct Dialect {
    /// Neutralises untrusted text ([`lookalike`] or [`entities`]).
    pub escape: fn(&str) -> String,
    /// What separates two paragraphs.
    pub paragraph: &'static str,
    /// What the vendor's limit counts for a piece of text (bytes, or bytes once JSON-encoded).
    pub cost: fn(&str) -> usize,
}

/// The UTF-8 length: WeCom and DingTalk limit their Markdown in bytes.
pub(crate) fn bytes(s: &str) -> usize {
    s.len()
}

/// One list of the body: a heading, the first items, and how many there are in all.
struct Section {
    heading: &'static str,
    items: Vec<String>,
    total: usize,
}

/// The body of a notification: `head`, the facts (commit, pull request, duration, tests,
/// gate), the failed tests, flaky tests and gate reasons (each list at most its top N, then as
/// many as fit, then "… and N more"), and `tail`; its cost at most `max`. Untrusted strings go
/// through `dialect.escape`; `head` and `tail` are used as given.
pub(crate) fn markdown_body(
    message: &Message,
    dialect: &Dialect,
    head: &str,
    tail: &str,
    max: usize,
) -> String {
    let esc = |s: &str, n: usize| (dialect.escape)(&clip(&plain(s), n));
    let mut facts = Vec::new();
    if let Some(short) = message.short_sha() {
        let short = esc(short, 12);
        match message.commit_url.as_deref().and_then(link_url) {
            Some(url) => facts.push(format!("**Commit:** [{short}]({url})")),
            None => facts.push(format!("**Commit:** {short}")),
        }
    }
    if let Some(pr) = message.pull_request {
        facts.push(format!("**Pull request:** {pr}"));
    }
    if let Some(duration) = message.duration() {
        facts.push(format!("**Duration:** {duration}"));
    }
    facts.push(format!("**Tests:** {}", message.counts()));
    if let Some(gate) = &message.gate {
        let verdict = if gate.passed { "passed" } else { "blocked" };
        facts.push(format!("**Gate:** {verdict}"));
    }
    let test_line = |t: &super::TestLine, detail: Option<String>| {
        let name = esc(&t.name, MAX_NAME_CHARS);
        match detail {
            Some(d) if !d.is_empty() => format!("- **{name}** — {d}"),
            _ => format!("- **{name}**"),
        }
    };
    let sections = [
        Section {
            heading: "**Failed tests**",
            items: message
                .failed
                .iter()
                .take(TOP_FAILED)
                .map(|t| test_line(t, t.message.as_deref().map(|m| esc(m, MAX_MESSAGE_CHARS))))
                .collect(),
            total: message.failed.len(),
        },
        Section {
            heading: "**Flaky tests**",
            items: message
                .flaky
                .iter()
                .take(TOP_FLAKY)
                .map(|t| test_line(t, Some(format!("passed after {} attempts", t.attempts))))
                .collect(),
            total: message.flaky.len(),
        },
        Section {
            heading: "**Gate reasons**",
            items: message
                .gate
                .iter()
                .flat_map(|g| &g.reasons)
                .take(TOP_REASONS)
                .map(|r| format!("- {}", esc(r, MAX_MESSAGE_CHARS)))
                .collect(),
            total: message.gate.as_ref().map_or(0, |g| g.reasons.len()),
        },
    ];
    let cost = dialect.cost;
    let p = dialect.paragraph;
    let mut out = String::from(head);
    out.push_str(&facts.join(p));
    let mut used = cost(&out) + cost(tail);
    for section in sections.iter().filter(|s| s.total > 0) {
        let more = |n: usize| format!("\n- … and {n} more");
        let heading = format!("{p}{}{p}", section.heading);
        // Room for the heading and at least the "and N more" line, or the section is left out.
        if used + cost(&heading) + cost(&more(section.total)) > max {
            break;
        }
        out.push_str(&heading);
        used += cost(&heading);
        let mut shown = 0;
        for item in &section.items {
            let sep = if shown == 0 { "" } else { "\n" };
            let piece = format!("{sep}{item}");
            let left = section.total - shown - 1;
            let reserve = if left > 0 { cost(&more(left)) } else { 0 };
            if used + cost(&piece) + reserve > max {
                break;
            }
            out.push_str(&piece);
            used += cost(&piece);
            shown += 1;
        }
        if shown < section.total {
            let line = if shown == 0 {
                format!("- … {} in all", section.total)
            } else {
                more(section.total - shown)
            };
            out.push_str(&line);
            used += cost(&line);
        }
    }
    out.push_str(tail);
    cut_to(out, max, cost)
}

/// The body of a notification whose middle is a template's output (already escaped):
/// `head`, `template` cut to what `max` leaves, `tail` — so mentions and the footer survive.
pub(crate) fn templated_body(
    template: &str,
    dialect: &Dialect,
    head: &str,
    tail: &str,
    max: usize,
) -> String {
    let cost = dialect.cost;
    let room = max.saturating_sub(cost(head) + cost(tail));
    let middle = cut_to(template.to_owned(), room, cost);
    cut_to(format!("{head}{middle}{tail}"), max, cost)
}

/// The body of a robot message: `template` (see [`templated_body`]) or the default layout
/// ([`markdown_body`]).
pub(crate) fn body(
    message: &Message,
    template: Option<&str>,
    dialect: &Dialect,
    head: &str,
    tail: &str,
    max: usize,
) -> String {
    match template {
        Some(t) => templated_body(t, dialect, head, tail, max),
        None => markdown_body(message, dialect, head, tail, max),
    }
}

/// `s` shortened on a character boundary until its cost is at most `max` (a last resort: the
/// layout keeps within the limit unless the fixed parts alone exceed it). `cost` must grow
/// with the prefix; the cut is found by bisection, so a large template output stays cheap.
pub(crate) fn cut_to(mut s: String, max: usize, cost: fn(&str) -> usize) -> String {
    if cost(&s) <= max {
        return s;
    }
    let room = max.saturating_sub(cost("…"));
    let boundaries: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
    // The longest prefix (ending at a char boundary) that fits: boundaries[lo] always fits.
    let (mut lo, mut hi) = (0, boundaries.len());
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if cost(&s[..boundaries[mid]]) <= room {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    s.truncate(boundaries.get(lo).copied().unwrap_or(0));
    s.push('…');
    s
}

/// A mention as configured (`alice`, `@alice`, `13800000000`), validated: letters, digits,
/// `.`, `_`, `-` and `+`, at most 64 characters; never `all` (cimon does not notify everyone).
pub(crate) fn mention(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    let id = trimmed.strip_prefix('@').unwrap_or(trimmed);
    if id.is_empty() {
        return Err("it is empty".into());
    }
    if id.eq_ignore_ascii_case("all") || id.eq_ignore_ascii_case("everyone") {
        return Err("mentioning everyone is not supported; list the people to mention".into());
    }
    if id.chars().count() > 64 {
        return Err("it is longer than 64 characters".into());
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
    {
        return Err("only letters, digits, '.', '_', '-' and '+' are allowed".into());
    }
    Ok(id.to_owned())
}

/// Checks a webhook URL: absolute, `https` (or `http`, for proxies and tests), with a host.
/// The reason never quotes the URL.
pub(crate) fn check_url(raw: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| format!("it is not a URL ({e})"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("the scheme must be https, not {}", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host".into());
    }
    Ok(url)
}

/// `url` fit for messages: [`super::mask_webhook_url`] (userinfo, token-like query values and
/// path segments) plus whatever follows `/hook/`, however short: the token of Feishu/Lark
/// webhooks (`/open-apis/bot/v2/hook/<token>`).
pub(crate) fn shown_url(url: &str) -> String {
    let mut masked = super::mask_webhook_url(url);
    if let Some(i) = masked.find("/hook/") {
        let start = i + "/hook/".len();
        let end = masked[start..]
            .find(['?', '#', '/'])
            .map_or(masked.len(), |e| start + e);
        if end > start {
            masked.replace_range(start..end, "***");
        }
    }
    masked
}

/// Removes every credential of one request from text quoted in a message: the URL, its query
/// values and long path segments (the token), and the signing secret.
pub(crate) struct Scrubber {
    words: Vec<String>,
}

impl Scrubber {
    /// For a request to `url` signed with `secret`.
    pub(crate) fn new(url: &str, secret: Option<&Secret>) -> Self {
        let mut words = vec![url.to_owned()];
        if let Ok(parsed) = reqwest::Url::parse(url) {
            if let Some(query) = parsed.query() {
                for pair in query.split('&') {
                    if let Some((_, value)) = pair.split_once('=') {
                        words.push(value.to_owned());
                    }
                }
            }
            for (_, value) in parsed.query_pairs() {
                words.push(value.into_owned());
            }
            if let Some(segments) = parsed.path_segments() {
                words.extend(segments.filter(|s| s.len() >= 16).map(str::to_owned));
            }
        }
        words.extend(secret.map(|s| s.expose().to_owned()));
        // Short values ("1", "true") would mangle ordinary text; long words first.
        words.retain(|w| w.len() >= 6);
        words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        words.dedup();
        Self { words }
    }

    /// Also removes `word` (a signature computed at send time).
    pub(crate) fn also(mut self, word: &str) -> Self {
        if word.len() >= 6 {
            self.words.push(word.to_owned());
            self.words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        }
        self
    }

    /// `text` with every credential replaced by `***`.
    pub(crate) fn clean(&self, text: &str) -> String {
        self.words
            .iter()
            .fold(text.to_owned(), |acc, w| acc.replace(w.as_str(), "***"))
    }
}

/// HMAC-SHA256 of `message` keyed with `key`, in standard padded base64.
pub(crate) fn hmac_sha256_base64(key: &[u8], message: &[u8]) -> String {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail.
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// The HTTP request inside `rendered`, or a permanent error for `kind`.
pub(crate) fn http_request<'a>(
    rendered: &'a Rendered,
    kind: &str,
) -> Result<&'a HttpRequest, NotifyError> {
    match rendered {
        Rendered::Http(request) => Ok(request),
        Rendered::Email(_) => Err(NotifyError::permanent(format!(
            "{kind}: cannot send an email; this channel posts to a webhook"
        ))),
    }
}

/// A vendor's answer to one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// `Retry-After`.
    pub retry_after: Option<String>,
    /// `x-ogw-ratelimit-reset` (seconds; Feishu's rate-limit hint).
    pub ratelimit_reset: Option<String>,
    /// The body (at most 64 KiB), scrubbed of credentials.
    pub body: String,
}

/// One POST of `body` to `url` with `request`'s headers. Timeouts and transport errors are
/// transient, request-building and redirect errors permanent; messages name `shown` and pass
/// through `scrub`.
pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    request: &HttpRequest,
    body: Vec<u8>,
    shown: &str,
    scrub: &Scrubber,
) -> Result<Answer, NotifyError> {
    let mut builder = client.post(url).body(body);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let response = builder
        .send()
        .await
        .map_err(|e| transport_error(e, shown, scrub))?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let status = response.status().as_u16();
    let retry_after = header("retry-after");
    let ratelimit_reset = header("x-ogw-ratelimit-reset");
    let bytes = response
        .bytes()
        .await
        .map_err(|e| transport_error(e, shown, scrub))?;
    let body = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ANSWER_BYTES)]);
    Ok(Answer {
        status,
        retry_after,
        ratelimit_reset,
        body: scrub.clean(&body),
    })
}

fn transport_error(e: reqwest::Error, shown: &str, scrub: &Scrubber) -> NotifyError {
    let (timeout, permanent) = (e.is_timeout(), e.is_builder() || e.is_redirect());
    let detail = scrub.clean(&error_chain(&e.without_url()));
    if timeout {
        NotifyError::transient(format!("{shown}: no answer in time ({detail})"), None)
    } else if permanent {
        NotifyError::permanent(format!("{shown}: {detail}"))
    } else {
        NotifyError::transient(format!("{shown}: {detail}"), None)
    }
}

/// The error for a vendor error code in an answer: `"{shown} answered {vendor} error
/// {code}: {text} ({hint})"`, transient when `retryable`.
pub(crate) fn vendor_error(
    shown: &str,
    vendor: &str,
    code: i64,
    text: &str,
    hint: &str,
    retryable: bool,
    retry_after: Option<Duration>,
) -> NotifyError {
    let text = clip(&plain(text), MAX_VENDOR_TEXT);
    let message = format!("{shown} answered {vendor} error {code}: {text} ({hint})");
    if retryable {
        NotifyError::transient(message, retry_after)
    } else {
        NotifyError::permanent(message)
    }
}

/// The error for a 2xx answer that is not the vendor's JSON.
pub(crate) fn unexpected_answer(shown: &str, vendor: &str, body: &str) -> NotifyError {
    NotifyError::permanent(format!(
        "{shown} answered HTTP 200 without {vendor}'s JSON result ({:?}); is the URL a {vendor} webhook?",
        clip(&plain(body), MAX_VENDOR_TEXT)
    ))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod testing;
