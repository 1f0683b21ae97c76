//! Bounded text buffers and lenient attribute parsing for test reports.

/// Longest `message` kept, in bytes.
pub const MESSAGE_LIMIT: usize = 4 * 1024;
/// Longest stack trace (a result element's text) kept, in bytes.
pub const STACK_TRACE_LIMIT: usize = 16 * 1024;
/// Longest captured output kept per stream (`system-out`, `system-err`), in bytes: the tail.
pub const OUTPUT_LIMIT: usize = 16 * 1024;
/// Longest name, classname, suite, file or property value kept, in bytes.
pub const NAME_LIMIT: usize = 4 * 1024;
/// At most this many properties are kept per test case.
pub const PROPERTY_LIMIT: usize = 64;

/// Which end of an over-long text is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The beginning (messages, stack traces: the first lines say what failed).
    Head,
    /// The end (captured output: the last lines precede the failure).
    Tail,
}

/// A text accumulator that never holds more than `limit` bytes (plus one chunk while
/// trimming a tail) and remembers whether it cut anything.
#[derive(Debug, Clone)]
pub struct Bounded {
    text: String,
    limit: usize,
    keep: Keep,
    truncated: bool,
    seen: bool,
}

impl Bounded {
    /// An empty buffer.
    pub fn new(limit: usize, keep: Keep) -> Self {
        Self {
            text: String::new(),
            limit,
            keep,
            truncated: false,
            seen: false,
        }
    }

    /// Clears the buffer for reuse, keeping its allocation.
    pub fn clear(&mut self) {
        self.text.clear();
        self.truncated = false;
        self.seen = false;
    }

    /// Marks that the element was present (even when empty).
    pub fn mark_seen(&mut self) {
        self.seen = true;
    }

    /// Appends text, cutting at the limit.
    pub fn push(&mut self, s: &str) {
        self.seen = true;
        match self.keep {
            Keep::Head => {
                let room = self.limit.saturating_sub(self.text.len());
                if s.len() <= room {
                    self.text.push_str(s);
                } else {
                    self.text.push_str(&s[..floor_char_boundary(s, room)]);
                    self.truncated = true;
                }
            }
            Keep::Tail => {
                if s.len() >= self.limit {
                    self.text.clear();
                    self.text
                        .push_str(&s[ceil_char_boundary(s, s.len() - self.limit)..]);
                    self.truncated = true;
                } else {
                    self.text.push_str(s);
                    if self.text.len() > self.limit {
                        let cut = ceil_char_boundary(&self.text, self.text.len() - self.limit);
                        self.text.drain(..cut);
                        self.truncated = true;
                    }
                }
            }
        }
    }

    /// Marks the text as cut upstream (a run the reader already shortened).
    pub fn mark_truncated(&mut self) {
        self.truncated = true;
    }

    /// True when anything was cut.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The trimmed text as an owned box, or `None` when empty.
    pub fn take(&mut self) -> Option<Box<str>> {
        let t = self.text.trim_matches(|c: char| c.is_whitespace());
        let out = if t.is_empty() {
            None
        } else {
            Some(Box::from(t))
        };
        self.text.clear();
        out
    }

    /// True when the element was seen at all.
    pub fn seen(&self) -> bool {
        self.seen
    }
}

/// Cuts `s` to at most `limit` bytes on a character boundary; returns whether it cut.
pub fn clip(s: &str, limit: usize) -> (&str, bool) {
    if s.len() <= limit {
        (s, false)
    } else {
        (&s[..floor_char_boundary(s, limit)], true)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Longest duration accepted for one test: 7 days. Longer values are clamped.
pub const MAX_TEST_MS: u64 = 7 * 24 * 3600 * 1000;

/// Parses a `time` attribute (seconds, as producers write it) into milliseconds.
///
/// Accepts `1.5`, `1,5` (comma decimal separator), `1,234.5` (thousands separator), `1e-3`
/// and surrounding spaces. Returns `(ms, clamped)`: negative, non-finite or values over
/// [`MAX_TEST_MS`] are clamped into range and flagged; text that is not a number gives
/// `(0, true)`.
pub fn parse_seconds(raw: &str) -> (u64, bool) {
    let t = raw.trim();
    if t.is_empty() {
        return (0, false);
    }
    if let Some(ms) = plain_millis(t) {
        return (ms, false);
    }
    let parsed = t.parse::<f64>().ok().or_else(|| {
        let normalised = if t.contains('.') {
            t.replace(',', "")
        } else {
            t.replace(',', ".")
        };
        normalised.parse::<f64>().ok()
    });
    match parsed {
        Some(s) if s.is_finite() && s >= 0.0 => {
            let ms = (s * 1000.0).round();
            if ms > MAX_TEST_MS as f64 {
                (MAX_TEST_MS, true)
            } else {
                (ms as u64, false)
            }
        }
        _ => (0, true),
    }
}

/// The common case of [`parse_seconds`] without floating point: digits, optionally a dot
/// and at most three more digits (`0.012`, `12`, `3.5`). Exact: such a value times 1000 is
/// an integer, which is what rounding the `f64` product gives too. `None` for anything else.
fn plain_millis(t: &str) -> Option<u64> {
    let b = t.as_bytes();
    let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if int_len == 0 || int_len > 12 {
        return None;
    }
    let mut ms = b[..int_len]
        .iter()
        .fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'))
        * 1000;
    match &b[int_len..] {
        [] => {}
        [b'.', frac @ ..] if frac.len() <= 3 && frac.iter().all(u8::is_ascii_digit) => {
            let mut scale = 100;
            for &d in frac {
                ms += u64::from(d - b'0') * scale;
                scale /= 10;
            }
        }
        _ => return None,
    }
    (ms <= MAX_TEST_MS).then_some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_leniently_and_clamp() {
        let table = [
            ("1.5", (1500, false)),
            (" 0.0004 ", (0, false)),
            ("0.0006", (1, false)),
            ("1,5", (1500, false)),
            ("1,234.5", (1_234_500, false)),
            ("2e-3", (2, false)),
            ("", (0, false)),
            ("-3", (0, true)),
            ("NaN", (0, true)),
            ("<<computed>>", (0, true)),
            ("99999999999", (MAX_TEST_MS, true)),
            ("0.892", (892, false)),
            ("12", (12_000, false)),
            ("3.", (3000, false)),
            ("0.05", (50, false)),
            ("0.1234", (123, false)),
            ("0.0005", (1, false)),
            ("604800", (MAX_TEST_MS, false)),
            ("604800.001", (MAX_TEST_MS, true)),
            (".5", (500, false)),
        ];
        for (raw, want) in table {
            assert_eq!(parse_seconds(raw), want, "{raw:?}");
        }
        // The integer fast path agrees with the floating-point rule it replaces.
        for ms in (0..200_000u64).step_by(7).chain([604_799_999, 604_800_000]) {
            for text in [
                format!("{}.{:03}", ms / 1000, ms % 1000),
                format!("{}", ms / 1000),
            ] {
                let exact = (text.parse::<f64>().unwrap() * 1000.0).round() as u64;
                assert_eq!(plain_millis(&text), Some(exact), "{text}");
            }
        }
    }

    #[test]
    fn head_keeps_the_beginning_on_char_boundaries() {
        let mut b = Bounded::new(5, Keep::Head);
        b.push("abc");
        b.push("déf");
        assert_eq!(b.as_str(), "abcd");
        assert!(b.truncated());
    }

    #[test]
    fn tail_keeps_the_end() {
        let mut b = Bounded::new(4, Keep::Tail);
        b.push("12");
        b.push("345");
        assert_eq!(b.as_str(), "2345");
        assert!(b.truncated());
        b.push(&"z".repeat(10));
        assert_eq!(b.as_str(), "zzzz");
        b.clear();
        b.push("ab");
        assert_eq!(b.take().as_deref(), Some("ab"));
        assert!(!b.truncated());
    }
}
