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
//!
//! # Raw mode
//!
//! Following every run costs about as much as tokenising, and nearly every run of a real
//! report is short. A consumer that reports where each tag and CDATA section ends (see
//! [`ends_markup`]), with [`Capped::boundary`], gets the bytes unlexed instead ("raw mode",
//! enabled by [`Capped::with_boundaries`]). A run always starts after the last boundary, so
//! as long as the consumer has read less than half the cap past it, no run can have reached
//! the cap. When it wants more than that without a new boundary, or a NUL byte is next, the
//! adapter lexes again from the last boundary (the bytes already handed out never change:
//! nothing in them could be cut) and cuts as above; it goes back to raw mode at the next end
//! of markup. The filtered stream is the same either way.

use std::io::{self, BufRead, Read};

use quick_xml::events::Event;

/// Bytes read from the file at a time.
const CHUNK: usize = 256 * 1024;
/// Longest tag accepted before giving up, its attribute values counted after cutting (so
/// that a tag of a million attributes cannot fill memory either).
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
    /// How far past the last boundary raw bytes may be handed out; 0 when raw mode is off.
    window: usize,
    /// Raw mode: bytes from this index on are not lexed, and the lexer state there is
    /// `Text` with an empty run. `None` while lexing.
    raw_from: Option<usize>,
    /// Raw mode: index of the first NUL byte at or after `raw_from`.
    nul_at: Option<usize>,
    /// Filtered offset of the end of the last markup event (see [`Capped::boundary`]).
    mark: u64,
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
            window: 0,
            raw_from: None,
            nul_at: None,
            mark: 0,
        }
    }

    /// Like [`Capped::new`], for a consumer that calls [`Capped::boundary`] after every
    /// markup event: runs are then only followed where one could reach the cap (see the
    /// module docs). Same output.
    pub fn with_boundaries(inner: R, cap: usize) -> Self {
        let mut c = Self::new(inner, cap);
        // A run within the window must stay below the zone where cuts are decided.
        let window = (c.cap / 2) as usize;
        if window + 16 < c.cap as usize {
            c.window = window;
            c.raw_from = Some(0);
        }
        c
    }

    /// Records that the consumer has just read a whole markup event (see [`ends_markup`])
    /// ending at `filtered`, its position in the filtered stream.
    pub fn boundary(&mut self, filtered: u64) {
        self.mark = filtered;
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

    /// Where lexing would restart in raw mode: the last boundary, or where raw mode began.
    fn window_start(&self, raw_from: usize) -> usize {
        let mark = self.mark.saturating_sub(self.out_base);
        raw_from.max(usize::try_from(mark).unwrap_or(usize::MAX).min(self.end))
    }

    /// Raw mode: how far bytes may be handed out, at most: the window's edge, or a NUL byte.
    fn barrier(&self, raw_from: usize) -> usize {
        let edge = self.window_start(raw_from) + self.window;
        self.nul_at.map_or(edge, |n| edge.min(n))
    }

    /// Checks UTF-8 as far as bytes may be handed out: what is lexed, or in raw mode what is
    /// read, up to the barrier (bytes past it may still be cut, and are checked once they
    /// are kept).
    fn settle(&mut self) {
        let upto = match self.raw_from {
            Some(from) => self.end.min(self.barrier(from)),
            None => self.ready,
        };
        self.validate_utf8(upto);
    }

    /// Leaves raw mode: lexes again from the last boundary, so that what follows is cut
    /// where it must be.
    fn lex_from_boundary(&mut self) {
        let Some(from) = self.raw_from.take() else {
            return;
        };
        let restart = self.window_start(from);
        self.end_run(Lex::Text);
        self.nul_at = None;
        // Runs between `restart` and `start` are shorter than the window: lexing them again
        // cuts nothing, so the bytes the consumer has seen stay as they were.
        self.ready = restart;
        self.released = self.start;
        self.nul_ahead = memchr::memchr(0, &self.buf[restart..self.end]).is_some();
        self.process();
        self.settle();
    }

    /// Reads more input and filters it; returns the number of bytes read.
    fn refill(&mut self) -> io::Result<usize> {
        // Drop what the consumer has taken, but keep what may be lexed again: everything
        // from the last boundary in raw mode, everything not yet lexed otherwise.
        let base = match self.raw_from {
            Some(from) => self.released.min(self.window_start(from)),
            None => self.released.min(self.ready),
        };
        self.out_base += base as u64;
        self.buf.copy_within(base..self.end, 0);
        self.end -= base;
        self.ready -= base;
        self.start -= base;
        self.released -= base;
        // Raw mode may have begun before the last boundary: the boundary is then where it begins.
        self.raw_from = self.raw_from.map(|i| i.saturating_sub(base));
        self.nul_at = self.nul_at.map(|i| i - base);
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
        if self.raw_from.is_some() {
            if self.nul_at.is_none() {
                let new = self.ready;
                self.nul_at = memchr::memchr(0, &self.buf[new..self.end]).map(|i| new + i);
            }
            self.ready = self.end;
        } else {
            // One search over the new bytes instead of one per run.
            self.nul_ahead = memchr::memchr(0, &self.buf[self.ready..self.end]).is_some();
            self.process();
        }
        self.settle();
        Ok(read)
    }

    /// Releases `released..upto` after replacing every byte that is not part of valid UTF-8
    /// with `?` (same length, so offsets stay true). A sequence cut by `upto` waits for the
    /// next call, unless the input has ended there.
    fn validate_utf8(&mut self, upto: usize) {
        if self.released >= upto {
            // Nothing new; or just back from raw mode, with the lexer still behind what was
            // handed out.
            return;
        }
        let final_chunk = self.eof && upto == self.end;
        let mut at = self.released;
        // The common case, valid text, is checked with SIMD; errors are located with std.
        if simdutf8::basic::from_utf8(&self.buf[at..upto]).is_ok() {
            at = upto;
        }
        while at < upto {
            match std::str::from_utf8(&self.buf[at..upto]) {
                Ok(_) => at = upto,
                Err(e) => {
                    at += e.valid_up_to();
                    match e.error_len() {
                        Some(n) => {
                            self.buf[at..at + n].fill(b'?');
                            self.replaced += n as u64;
                            at += n;
                        }
                        None if final_chunk || self.error.is_some() => {
                            let n = upto - at;
                            self.buf[at..upto].fill(b'?');
                            self.replaced += n as u64;
                            at = upto;
                        }
                        None => break,
                    }
                }
            }
        }
        self.released = at;
    }

    /// Filters `buf[ready..end]` in place, advancing `ready`. With boundaries reported, it
    /// goes back to raw mode at the first end of markup.
    fn process(&mut self) {
        let mut r = self.ready;
        let mut w = self.ready;
        let end = self.end;
        let mut back_to_raw = false;
        while r < end && self.error.is_none() && !back_to_raw {
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
                        self.grow_tag(i + 1);
                        self.end_run(if q == b'>' { Lex::Text } else { Lex::Attr(q) });
                        back_to_raw = q == b'>' && self.window > 0;
                    }
                    None => {
                        let n = rest.len();
                        self.keep(&mut r, &mut w, n);
                        self.grow_tag(n);
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
                        self.grow_tag(usize::try_from(self.run).unwrap_or(usize::MAX) + 1);
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
                            back_to_raw = self.window > 0;
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
        if back_to_raw {
            self.raw_from = Some(w);
            self.nul_at = memchr::memchr(0, &self.buf[w..self.end]).map(|i| w + i);
            self.ready = self.end;
        }
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
        if !matches!(next, Lex::Markup | Lex::Attr(_)) {
            self.markup = 0;
        }
    }

    /// Counts `n` more bytes of the current tag, failing past [`MAX_MARKUP`].
    fn grow_tag(&mut self, n: usize) {
        self.markup = self.markup.saturating_add(n);
        if self.markup > MAX_MARKUP {
            self.fail(
                io::ErrorKind::InvalidData,
                format!(
                    "a tag longer than {MAX_MARKUP} bytes (attribute values counted as cut to {} bytes)",
                    self.cap
                ),
            );
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
            if self.raw_from.is_some() {
                // A new boundary may have moved the window on.
                self.settle();
            }
            if self.start < self.released {
                return Ok(&self.buf[self.start..self.released]);
            }
            if let Some(from) = self.raw_from {
                if self.barrier(from) < self.end {
                    // Raw mode stops here: the window is used up, or a NUL byte is next.
                    self.lex_from_boundary();
                    continue;
                }
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
                self.validate_utf8(self.end);
            }
        }
    }

    fn consume(&mut self, amt: usize) {
        self.start = (self.start + amt).min(self.released);
    }
}

/// True for the quick-xml events after which [`Capped::boundary`] may be reported: tags and
/// CDATA sections, which end exactly where this adapter's lexer sees the markup end.
/// Comments, declarations, processing instructions and DOCTYPEs are left out: quick-xml may
/// end them elsewhere (`<!-->`, a `>` inside `<?pi ?>` or an internal subset), and leaving
/// them out only means lexing from an earlier boundary.
pub fn ends_markup(event: &Event<'_>) -> bool {
    matches!(
        event,
        Event::Start(_) | Event::Empty(_) | Event::End(_) | Event::CData(_)
    )
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

    /// Reads `c` to its error: what it let through, and the error.
    fn filter_failing(mut c: Capped<&[u8]>) -> (Vec<u8>, CappedError) {
        let mut out = Vec::new();
        let err = c.read_to_end(&mut out).unwrap_err();
        let inner = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<CappedError>())
            .unwrap()
            .clone();
        (out, inner)
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
        let (out, inner) = filter_failing(Capped::new(&doc[..], 64));
        assert_eq!(out, b"<a>ok");
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
        let (out, inner) = filter_failing(Capped::new(doc.as_bytes(), 64));
        assert_eq!(inner.filtered_offset, at as u64 + 1);
        assert_eq!(out, doc.as_bytes()[..at + 1].to_vec());
    }

    /// A reader handing out pieces of pseudo-random sizes.
    struct Pieces<'a> {
        data: &'a [u8],
        rng: u64,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let want = (next(&mut self.rng) % 70_000 + 1) as usize;
            let n = want.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn next(rng: &mut u64) -> u64 {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    }

    /// A document of tags, attributes, text, references, CDATA, comments and processing
    /// instructions, with runs from empty to many times `cap`, and now and then a NUL byte
    /// or invalid UTF-8.
    fn random_document(rng: &mut u64, cap: usize) -> Vec<u8> {
        fn run(rng: &mut u64, cap: usize, forbidden: u8) -> Vec<u8> {
            let len = match next(rng) % 8 {
                0..=4 => (next(rng) % 20) as usize,
                5 => cap / 2 + (next(rng) % 40) as usize - 20,
                6 => cap + (next(rng) % 40) as usize - 20,
                _ => (next(rng) % (5 * cap as u64)) as usize,
            };
            let alphabet: &[&[u8]] = &[
                b"a",
                b"b",
                b" ",
                b"\n",
                b"&amp;",
                b"&#233;",
                b"\xc3\xa9",
                b"\xe2\x82\xac",
                b">",
                b"\"",
                b"'",
                b"]",
                b"-",
                b"\xff",
                b"\0",
            ];
            let mut out = Vec::new();
            while out.len() < len {
                let piece = alphabet[(next(rng) % alphabet.len() as u64) as usize];
                // NUL and invalid bytes are rare; the run's terminator never appears.
                let rare = matches!(piece, b"\xff" | b"\0") && !next(rng).is_multiple_of(500);
                if rare || piece.contains(&forbidden) {
                    continue;
                }
                out.extend_from_slice(piece);
            }
            out
        }
        let mut doc =
            b"<?xml version=\"1.0\"?><!DOCTYPE root [ <!ENTITY e \"v>\"> ]><root>".to_vec();
        for _ in 0..(next(rng) % 400) {
            match next(rng) % 6 {
                0 | 1 => {
                    doc.extend_from_slice(b"<t");
                    for k in 0..(next(rng) % 4) {
                        let q = if next(rng).is_multiple_of(3) {
                            b'\''
                        } else {
                            b'"'
                        };
                        doc.extend_from_slice(format!(" a{k}=").as_bytes());
                        doc.push(q);
                        doc.extend(run(rng, cap, q).into_iter().filter(|&b| b != b'<'));
                        doc.push(q);
                    }
                    doc.extend_from_slice(if next(rng).is_multiple_of(2) {
                        b"/>"
                    } else {
                        b"></t>"
                    });
                }
                2 => doc.extend(run(rng, cap, b'<')),
                3 => {
                    doc.extend_from_slice(b"<![CDATA[");
                    doc.extend(run(rng, cap, b']'));
                    doc.extend_from_slice(b"]]>");
                }
                4 => {
                    doc.extend_from_slice(b"<!--");
                    doc.extend(run(rng, cap, b'-'));
                    doc.extend_from_slice(b"-->");
                }
                _ => {
                    // Comments and instructions that quick-xml ends elsewhere than a lexer.
                    let odd: &[&[u8]] = &[b"<?pi a > b 'c?>", b"<!-->", b"<!---->", b"<?pi?>"];
                    doc.extend_from_slice(odd[(next(rng) % odd.len() as u64) as usize]);
                }
            }
        }
        doc.extend_from_slice(b"</root>");
        doc
    }

    /// What quick-xml reads through `capped`: each event with its end offset in the filtered
    /// stream and in the input, then the error if any, or else the bytes replaced. (Past an
    /// error nothing is compared: lexing everything reads ahead of the reader.)
    fn read_all(mut capped: Capped<Pieces<'_>>, boundaries: bool) -> Vec<String> {
        use quick_xml::events::Event;
        let mut seen = Vec::new();
        let mut reader = quick_xml::Reader::from_reader(&mut capped);
        reader.config_mut().allow_dangling_amp = true;
        let mut buf = Vec::new();
        loop {
            match reader.read_event_into(&mut buf) {
                Ok(Event::Eof) => break,
                Ok(event) => {
                    let pos = reader.buffer_position();
                    let input = reader.get_ref().input_offset(pos);
                    seen.push(format!("{event:?} at {pos} ({input})"));
                    if boundaries && ends_markup(&event) {
                        reader.get_mut().boundary(pos);
                    }
                }
                Err(e) => {
                    let pos = reader.error_position();
                    let input = reader.get_ref().input_offset(pos);
                    seen.push(format!("error {e} at {pos} ({input})"));
                    break;
                }
            }
            buf.clear();
        }
        drop(reader);
        if !seen.last().is_some_and(|s| s.starts_with("error")) {
            seen.push(format!("replaced {}", capped.replaced_utf8()));
        }
        seen
    }

    #[test]
    fn raw_mode_reads_exactly_like_lexing_everything() {
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        for round in 0..300 {
            let cap = [40, 100, 333, 4096][round % 4];
            let doc = random_document(&mut rng, cap);
            let seed = next(&mut rng);
            let plain = Capped::new(
                Pieces {
                    data: &doc,
                    rng: seed,
                },
                cap,
            );
            let raw = Capped::with_boundaries(
                Pieces {
                    data: &doc,
                    rng: seed,
                },
                cap,
            );
            let (a, b) = (read_all(plain, false), read_all(raw, true));
            if a != b {
                let at = a
                    .iter()
                    .zip(&b)
                    .position(|(x, y)| x != y)
                    .unwrap_or(a.len().min(b.len()));
                panic!(
                    "round {round}, cap {cap}, {} bytes: first difference at event {at}:\n  lexing: {:?}\n  raw:    {:?}",
                    doc.len(),
                    a.get(at),
                    b.get(at)
                );
            }
        }
    }

    #[test]
    fn a_tag_of_a_million_attributes_is_an_error_not_a_memory_hog() {
        let mut doc = String::from("<a><b");
        for i in 0..200_000 {
            doc.push_str(&format!(" a{i}=\"x\""));
        }
        doc.push_str("/></a>");
        for raw in [false, true] {
            let (out, inner) = filter_failing(if raw {
                Capped::with_boundaries(doc.as_bytes(), 64 * 1024)
            } else {
                Capped::new(doc.as_bytes(), 64 * 1024)
            });
            assert!(
                inner.message.contains("tag longer than"),
                "{}",
                inner.message
            );
            assert!(
                out.len() <= MAX_MARKUP + CHUNK,
                "{} bytes let through",
                out.len()
            );
        }
        // Long values cut to the cap count as cut: ten of them are fine.
        let long = "v".repeat(1_000_000);
        let mut doc = String::from("<a");
        for i in 0..10 {
            doc.push_str(&format!(" m{i}=\"{long}\""));
        }
        doc.push_str("/>");
        let (out, c) = filter(doc.as_bytes(), 64 * 1024);
        assert!(c.truncated_any());
        assert!(out.ends_with(b"/>"));
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
