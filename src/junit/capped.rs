//! A `BufRead` adapter that keeps memory flat on any input.
//!
//! quick-xml buffers a whole event (a text node, a start tag with its attributes) before it
//! hands it over, so a 1 GiB `<system-out>` or a 10 MB `message="…"` would be held in memory
//! at once. [`Capped`] sits between the file and the XML reader and cuts every run of
//! character data (text, CDATA content, attribute values, comments) to `cap` bytes, dropping
//! the rest of the run before quick-xml ever sees it. Cuts never split a UTF-8 sequence or an
//! entity reference, and the markup around a run is always kept, so the stream the reader sees
//! stays well-formed exactly when the input was. Everything the report keeps is much smaller
//! than `cap`, so a cut run is always reported as truncated downstream.
//!
//! The adapter also rejects NUL bytes (not allowed anywhere in XML; a sign of a file that was
//! pre-allocated and never fully written) and records what it dropped so that a position in
//! the filtered stream maps back to the byte offset in the file for error messages.

use std::io::{self, BufRead, Read};

/// Bytes read from the file at a time.
const CHUNK: usize = 256 * 1024;
/// Longest markup (a tag without its attribute values) accepted before giving up.
const MAX_MARKUP: usize = 1024 * 1024;
/// Bytes of lookahead needed to classify `<![CDATA[`.
const LOOKAHEAD: usize = 9;
/// A cut may move this far past `cap` to avoid splitting an entity reference.
const ENTITY_SLACK: u64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    Text,
    Markup,
    Attr(u8),
    Cdata,
    Comment,
}

/// Caps every character-data run of an XML byte stream (see the module docs).
pub struct Capped<R> {
    inner: R,
    buf: Vec<u8>,
    /// Consumer position in `buf`.
    start: usize,
    /// End of filtered and UTF-8-checked bytes handed to the consumer.
    released: usize,
    /// End of filtered bytes (`released..ready` still awaits the UTF-8 check).
    ready: usize,
    /// End of raw bytes read from `inner`.
    end: usize,
    eof: bool,
    state: Lex,
    cap: u64,
    /// Bytes kept of the current run.
    run: u64,
    in_entity: bool,
    dropping: bool,
    markup: usize,
    /// Filtered bytes handed out before `buf[0]`.
    out_base: u64,
    dropped: u64,
    /// `(filtered offset, bytes dropped before it)`, one entry per cut.
    drops: Vec<(u64, u64)>,
    error: Option<(io::ErrorKind, String)>,
    replaced: u64,
    /// Whether `buf[ready..end]` may hold a NUL byte: when it cannot, runs skip the search.
    nul_ahead: bool,
}

impl<R: Read> Capped<R> {
    /// Wraps `inner`, cutting runs of character data to `cap` bytes.
    pub fn new(inner: R, cap: usize) -> Self {
        Self {
            inner,
            buf: vec![0; CHUNK + LOOKAHEAD],
            start: 0,
            released: 0,
            ready: 0,
            end: 0,
            eof: false,
            state: Lex::Text,
            cap: cap.max(16) as u64,
            run: 0,
            in_entity: false,
            dropping: false,
            markup: 0,
            out_base: 0,
            dropped: 0,
            drops: Vec::new(),
            error: None,
            replaced: 0,
            nul_ahead: false,
        }
    }

    /// Number of bytes that were not valid UTF-8 and were replaced with `?`.
    pub fn replaced_utf8(&self) -> u64 {
        self.replaced
    }

    /// True when any run was cut.
    pub fn truncated_any(&self) -> bool {
        !self.drops.is_empty()
    }

    /// Maps an offset in the filtered stream to the byte offset in the input.
    pub fn input_offset(&self, filtered: u64) -> u64 {
        let i = self.drops.partition_point(|&(at, _)| at <= filtered);
        if i == 0 {
            filtered
        } else {
            filtered + self.drops[i - 1].1
        }
    }

    /// Reads more input and filters it; returns the number of bytes read.
    fn refill(&mut self) -> io::Result<usize> {
        // Keep what is not yet released, drop what the consumer has taken.
        let base = self.released;
        self.out_base += base as u64;
        self.buf.copy_within(base..self.end, 0);
        self.end -= base;
        self.ready -= base;
        self.start = 0;
        self.released = 0;
        let mut read = 0;
        while !self.eof && self.end < CHUNK {
            match self.inner.read(&mut self.buf[self.end..CHUNK + LOOKAHEAD]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.end += n;
                    read = n;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // One search over the new bytes instead of one per run.
        self.nul_ahead = memchr::memchr(0, &self.buf[self.ready..self.end]).is_some();
        self.process();
        self.validate_utf8();
        Ok(read)
    }

    /// Releases `released..ready` after replacing every byte that is not part of valid UTF-8
    /// with `?` (same length, so offsets stay true). A sequence cut by the end of the data
    /// waits for the next read, unless the input has ended.
    fn validate_utf8(&mut self) {
        let final_chunk = self.eof && self.ready == self.end;
        let mut at = self.released;
        // The common case, valid text, is checked with SIMD; errors are located with std.
        if simdutf8::basic::from_utf8(&self.buf[at..self.ready]).is_ok() {
            at = self.ready;
        }
        while at < self.ready {
            match std::str::from_utf8(&self.buf[at..self.ready]) {
                Ok(_) => at = self.ready,
                Err(e) => {
                    at += e.valid_up_to();
                    match e.error_len() {
                        Some(n) => {
                            self.buf[at..at + n].fill(b'?');
                            self.replaced += n as u64;
                            at += n;
                        }
                        None if final_chunk || self.error.is_some() => {
                            let n = self.ready - at;
                            self.buf[at..self.ready].fill(b'?');
                            self.replaced += n as u64;
                            at = self.ready;
                        }
                        None => break,
                    }
                }
            }
        }
        self.released = at;
    }

    /// Filters `buf[ready..end]` in place, advancing `ready`.
    fn process(&mut self) {
        let mut r = self.ready;
        let mut w = self.ready;
        let end = self.end;
        while r < end && self.error.is_none() {
            let rest = &self.buf[r..end];
            match self.state {
                Lex::Text => {
                    let (span, term) = match memchr::memchr(b'<', rest) {
                        Some(i) => (i, true),
                        None => (rest.len(), false),
                    };
                    if !self.run_span(&mut r, &mut w, span) {
                        break;
                    }
                    if !term {
                        continue;
                    }
                    // Classify the markup that starts here.
                    let ahead = &self.buf[r..end];
                    if ahead.len() < LOOKAHEAD && !self.eof {
                        break;
                    }
                    let (next, len) = if ahead.starts_with(b"<![CDATA[") {
                        (Lex::Cdata, 9)
                    } else if ahead.starts_with(b"<!--") {
                        (Lex::Comment, 4)
                    } else {
                        (Lex::Markup, 1)
                    };
                    self.keep(&mut r, &mut w, len);
                    self.end_run(next);
                }
                Lex::Markup => match memchr::memchr3(b'"', b'\'', b'>', rest) {
                    Some(i) => {
                        let q = rest[i];
                        self.keep(&mut r, &mut w, i + 1);
                        self.end_run(if q == b'>' { Lex::Text } else { Lex::Attr(q) });
                    }
                    None => {
                        let n = rest.len();
                        self.markup += n;
                        self.keep(&mut r, &mut w, n);
                        if self.markup > MAX_MARKUP {
                            self.fail(
                                io::ErrorKind::InvalidData,
                                format!("markup longer than {MAX_MARKUP} bytes"),
                            );
                        }
                    }
                },
                Lex::Attr(q) => {
                    let (span, term) = match memchr::memchr(q, rest) {
                        Some(i) => (i, true),
                        None => (rest.len(), false),
                    };
                    if !self.run_span(&mut r, &mut w, span) {
                        break;
                    }
                    if term {
                        self.keep(&mut r, &mut w, 1);
                        self.end_run(Lex::Markup);
                    }
                }
                Lex::Cdata | Lex::Comment => {
                    let pat: &[u8] = if self.state == Lex::Cdata {
                        b"]]>"
                    } else {
                        b"-->"
                    };
                    match memchr::memmem::find(rest, pat) {
                        Some(i) => {
                            if !self.run_span(&mut r, &mut w, i) {
                                break;
                            }
                            self.keep(&mut r, &mut w, 3);
                            self.end_run(Lex::Text);
                        }
                        None => {
                            // Leave two bytes in case the terminator straddles the chunk.
                            let span = if self.eof {
                                rest.len()
                            } else {
                                rest.len().saturating_sub(2)
                            };
                            if span == 0 {
                                break;
                            }
                            self.run_span(&mut r, &mut w, span);
                            if !self.eof {
                                break;
                            }
                        }
                    }
                }
            }
        }
        if w != r {
            self.buf.copy_within(r..end, w);
        }
        self.end = w + (end - r);
        self.ready = w;
    }

    /// Passes `buf[r..r+span]` (content of the current run) through the cap. Returns false
    /// when processing must stop (a NUL byte).
    fn run_span(&mut self, r: &mut usize, w: &mut usize, span: usize) -> bool {
        let bytes = &self.buf[*r..*r + span];
        if let Some(i) = self.nul_ahead.then(|| memchr::memchr(0, bytes)).flatten() {
            self.run_span(r, w, i);
            self.fail(
                io::ErrorKind::InvalidData,
                "NUL byte (0x00) in the file".into(),
            );
            return false;
        }
        let mut kept = 0usize;
        if !self.dropping {
            let zone = self.cap.saturating_sub(16);
            let fast = (zone.saturating_sub(self.run) as usize).min(span);
            kept = fast;
            self.run += fast as u64;
            // Near the cap: walk byte by byte to find a safe cut.
            while kept < span {
                let b = self.buf[*r + kept];
                let at_cap = self.run >= self.cap;
                let safe = !self.in_entity && (b & 0xC0) != 0x80;
                if at_cap && (safe || self.run >= self.cap + ENTITY_SLACK) {
                    self.dropping = true;
                    break;
                }
                match b {
                    b'&' => self.in_entity = true,
                    b';' => self.in_entity = false,
                    _ => {}
                }
                kept += 1;
                self.run += 1;
            }
        }
        self.keep(r, w, kept);
        let drop = span - kept;
        if drop > 0 {
            *r += drop;
            self.dropped += drop as u64;
            let at = self.out_base + *w as u64;
            match self.drops.last_mut() {
                Some(last) if last.0 == at => last.1 = self.dropped,
                _ => self.drops.push((at, self.dropped)),
            }
        }
        true
    }

    fn keep(&mut self, r: &mut usize, w: &mut usize, n: usize) {
        if *r != *w {
            self.buf.copy_within(*r..*r + n, *w);
        }
        *r += n;
        *w += n;
    }

    fn end_run(&mut self, next: Lex) {
        self.state = next;
        self.run = 0;
        self.in_entity = false;
        self.dropping = false;
        if next != Lex::Markup {
            self.markup = 0;
        }
    }

    fn fail(&mut self, kind: io::ErrorKind, message: String) {
        self.error.get_or_insert((kind, message));
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Capped<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        loop {
            if self.start < self.released {
                return Ok(&self.buf[self.start..self.released]);
            }
            if let Some((kind, message)) = &self.error {
                let at = self.out_base + self.released as u64;
                return Err(io::Error::new(
                    *kind,
                    CappedError {
                        message: message.clone(),
                        filtered_offset: at,
                    },
                ));
            }
            if self.eof && self.released == self.end {
                return Ok(&[]);
            }
            let read = self.refill()?;
            if read == 0 && self.eof && self.released == 0 && self.end > 0 && self.error.is_none() {
                // At the end of input nothing more can be filtered: hand out the raw rest.
                self.ready = self.end;
                self.validate_utf8();
            }
        }
    }

    fn consume(&mut self, amt: usize) {
        self.start = (self.start + amt).min(self.released);
    }
}

/// An error raised by [`Capped`] itself, with the filtered-stream offset where it stopped.
#[derive(Debug, Clone)]
pub struct CappedError {
    /// What is wrong with the input.
    pub message: String,
    /// Offset in the filtered stream (map with [`Capped::input_offset`]).
    pub filtered_offset: u64,
}

impl std::fmt::Display for CappedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CappedError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(input: &[u8], cap: usize) -> (Vec<u8>, Capped<&[u8]>) {
        let mut c = Capped::new(input, cap);
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap();
        (out, c)
    }

    #[test]
    fn small_documents_pass_through_unchanged() {
        let doc =
            b"<?xml version='1.0'?><a x=\"1 > 0\" y='q\"'><!-- it's --><![CDATA[a<b]]>t&amp;</a>";
        let (out, c) = filter(doc, 64);
        assert_eq!(out, doc.to_vec());
        assert!(!c.truncated_any());
    }

    #[test]
    fn long_text_attributes_cdata_and_comments_are_cut() {
        let long = "x".repeat(10_000);
        let doc = format!("<a m=\"{long}\">{long}<![CDATA[{long}]]><!--{long}--></a>");
        let (out, c) = filter(doc.as_bytes(), 100);
        let out = String::from_utf8(out).unwrap();
        assert!(c.truncated_any());
        let x100 = "x".repeat(100);
        assert_eq!(
            out,
            format!("<a m=\"{x100}\">{x100}<![CDATA[{x100}]]><!--{x100}--></a>")
        );
    }

    #[test]
    fn cuts_never_split_entities_or_utf8() {
        let text = format!("{}&amp;{}", "a".repeat(98), "é".repeat(100));
        let doc = format!("<a>{text}</a>");
        let (out, _) = filter(doc.as_bytes(), 100);
        let out = String::from_utf8(out).expect("valid UTF-8 after the cut");
        assert!(
            out.starts_with(&format!("<a>{}&amp;", "a".repeat(98))),
            "{out}"
        );
        assert!(out.ends_with("</a>"));
    }

    #[test]
    fn runs_longer_than_a_chunk_are_cut_and_offsets_map_back() {
        let long = "y".repeat(3 * CHUNK + 17);
        let doc = format!("<a>{long}</a><b/>");
        let (out, c) = filter(doc.as_bytes(), 1000);
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out, format!("<a>{}</a><b/>", "y".repeat(1000)));
        let b_filtered = out.find("<b/>").unwrap() as u64;
        assert_eq!(c.input_offset(b_filtered), doc.find("<b/>").unwrap() as u64);
        assert_eq!(c.input_offset(2), 2);
    }

    #[test]
    fn runs_dropped_over_many_chunks_keep_the_stream_intact() {
        let long = "m".repeat(10 * CHUNK);
        let doc = format!("<a m=\"{long}\">{long}</a>");
        let (out, _) = filter(doc.as_bytes(), 100);
        let x = "m".repeat(100);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("<a m=\"{x}\">{x}</a>")
        );
    }

    #[test]
    fn nul_bytes_are_an_error_at_their_offset() {
        let doc = b"<a>ok\0bad</a>";
        let mut c = Capped::new(&doc[..], 64);
        let mut out = Vec::new();
        let err = c.read_to_end(&mut out).unwrap_err();
        assert_eq!(out, b"<a>ok");
        let inner = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<CappedError>())
            .unwrap();
        assert_eq!(inner.filtered_offset, 5);
        assert!(inner.message.contains("NUL"));
    }

    #[test]
    fn nul_bytes_are_found_in_any_chunk() {
        // Small elements across several chunks, then a NUL: each read's search finds it.
        let mut doc = String::from("<a>");
        while doc.len() < 2 * CHUNK + 5 {
            doc.push_str("<b x=\"1\">yy</b>");
        }
        let at = doc.len();
        doc.push_str("z\0</a>");
        let mut c = Capped::new(doc.as_bytes(), 64);
        let mut out = Vec::new();
        let err = c.read_to_end(&mut out).unwrap_err();
        let inner = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<CappedError>())
            .unwrap();
        assert_eq!(inner.filtered_offset, at as u64 + 1);
        assert_eq!(out, doc.as_bytes()[..at + 1].to_vec());
    }

    #[test]
    fn invalid_utf8_is_replaced_in_place() {
        let doc = b"<a>ok\xff\xfe \xc3\xa9 \xe2\x82</a>";
        let (out, c) = filter(doc, 64);
        assert_eq!(String::from_utf8(out).unwrap(), "<a>ok?? \u{e9} ??</a>");
        assert_eq!(c.replaced_utf8(), 4);
    }

    #[test]
    fn terminators_split_across_reads_are_found() {
        // A reader that hands out one byte at a time.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || out.is_empty() {
                    return Ok(0);
                }
                out[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let doc = b"<a><![CDATA[x]]y]]><!-- - -- --><b c='>'/></a>";
        let mut c = Capped::new(Trickle(doc), 64);
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap();
        assert_eq!(out, doc.to_vec());
    }
}
