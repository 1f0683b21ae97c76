//! The character encoding of a report file, and turning it into UTF-8 before anything else
//! reads it.
//!
//! XML 1.0 (§4.3.3) requires every processor to read UTF-8 and UTF-16. Most producers write
//! UTF-8; UTF-16 comes from Windows tools (Windows PowerShell 5's `Out-File` and `>` write
//! UTF-16LE, .NET's `Encoding.Unicode`); older JVM tools on Windows declare
//! `encoding="ISO-8859-1"` or `windows-1252`. [`sniff`] decides from the first bytes, the way
//! XML 1.0 Appendix F describes: a byte order mark, else the pattern of `<` and zero bytes,
//! else the `encoding` of the XML declaration. [`Decoded`] then hands out UTF-8:
//!
//! - UTF-8 (and US-ASCII, and no declaration): the bytes as they are, untouched;
//! - UTF-16LE/BE: transcoded; the byte order mark is dropped, an unpaired surrogate or a
//!   lone last byte becomes U+FFFD and is counted ([`Decoded::replaced`]);
//! - ISO-8859-1, Latin-1 and windows-1252: read as windows-1252, as the WHATWG Encoding
//!   Standard does for all these labels (what such files really hold);
//! - any other declared encoding (Shift_JIS, GBK, …): read as UTF-8, so ASCII names survive
//!   and other bytes are replaced by [`super::capped::Capped`]; the caller warns with the
//!   label ([`Sniffed::unsupported`]).
//!
//! Offsets after decoding are offsets in the UTF-8 stream; [`super::line_column`] decodes
//! the same way, so lines and columns point at the right place in the original file.

use std::io::{self, Chain, Cursor, Read};

/// How many bytes [`open`] looks at before deciding.
const SNIFF_BYTES: usize = 1024;

/// The encodings cimon decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (or a subset of it); read as is.
    Utf8,
    /// UTF-16, little-endian.
    Utf16Le,
    /// UTF-16, big-endian.
    Utf16Be,
    /// windows-1252, which the WHATWG standard also uses for ISO-8859-1 and Latin-1.
    Windows1252,
}

impl Encoding {
    /// About how many bytes of UTF-8 a file of `len` bytes in this encoding gives (test
    /// reports are mostly ASCII, which UTF-16 writes in two bytes).
    pub fn utf8_len(self, len: u64) -> u64 {
        match self {
            Self::Utf16Le | Self::Utf16Be => len / 2,
            Self::Utf8 | Self::Windows1252 => len,
        }
    }

    /// The name shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Utf16Le => "UTF-16LE",
            Self::Utf16Be => "UTF-16BE",
            Self::Windows1252 => "windows-1252",
        }
    }
}

/// What [`sniff`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    /// How the file is decoded.
    pub encoding: Encoding,
    /// Length of a UTF-16 byte order mark to drop (a UTF-8 one is left to the XML reader).
    pub bom: usize,
    /// A declared encoding cimon cannot decode (then `encoding` is UTF-8).
    pub unsupported: Option<String>,
}

/// Decides the encoding from the first bytes of a file (up to [`SNIFF_BYTES`]).
pub fn sniff(head: &[u8]) -> Sniffed {
    let found = |encoding, bom| Sniffed {
        encoding,
        bom,
        unsupported: None,
    };
    match head {
        [0xFF, 0xFE, ..] => return found(Encoding::Utf16Le, 2),
        [0xFE, 0xFF, ..] => return found(Encoding::Utf16Be, 2),
        // No byte order mark: the document starts with `<` or white space, an ASCII
        // character, which UTF-16 writes with a zero byte beside it.
        [a, 0, ..] if *a != 0 && a.is_ascii() => return found(Encoding::Utf16Le, 0),
        [0, b, ..] if *b != 0 && b.is_ascii() => return found(Encoding::Utf16Be, 0),
        _ => {}
    }
    if head.starts_with(b"\xEF\xBB\xBF") {
        // A UTF-8 byte order mark decides over a declaration that says otherwise.
        return found(Encoding::Utf8, 0);
    }
    match declared_encoding(head) {
        None => found(Encoding::Utf8, 0),
        Some(label) => match label_encoding(&label) {
            Some(encoding) => found(encoding, 0),
            None => Sniffed {
                encoding: Encoding::Utf8,
                bom: 0,
                unsupported: Some(label),
            },
        },
    }
}

/// The `encoding` pseudo-attribute of an XML declaration at the start of `text`.
fn declared_encoding(text: &[u8]) -> Option<String> {
    let decl = text.strip_prefix(b"<?xml")?;
    if !decl.first().is_some_and(u8::is_ascii_whitespace) {
        return None;
    }
    let decl = &decl[..memchr::memmem::find(decl, b"?>")?];
    let at = memchr::memmem::find(decl, b"encoding")?;
    let rest = decl[at + b"encoding".len()..].trim_ascii_start();
    let rest = rest.strip_prefix(b"=")?.trim_ascii_start();
    let (&quote, rest) = rest.split_first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &rest[..memchr::memchr(quote, rest)?];
    // XML 1.0 production EncName: [A-Za-z] ([A-Za-z0-9._] | '-')*; anything else is not a
    // name (and never reaches a warning).
    let is_name = value.first().is_some_and(u8::is_ascii_alphabetic)
        && value.len() <= 40
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    is_name.then(|| String::from_utf8_lossy(value).into_owned())
}

/// The encoding a declared label means; `None` when cimon cannot decode it. A UTF-16 label
/// on bytes that are not UTF-16 (no zero bytes) is taken for what the bytes are: UTF-8.
fn label_encoding(label: &str) -> Option<Encoding> {
    let l = label.to_ascii_lowercase();
    match l.as_str() {
        "utf-8" | "utf8" | "unicode-1-1-utf-8" | "us-ascii" | "ascii" | "utf-16" | "utf-16le"
        | "utf-16be" | "ucs-2" | "unicode" => Some(Encoding::Utf8),
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "iso88591" | "latin1" | "latin-1" | "l1"
        | "cp1252" | "windows-1252" | "x-cp1252" | "cp819" | "ibm819" | "iso-ir-100"
        | "csisolatin1" | "iso_8859-1:1987" => Some(Encoding::Windows1252),
        _ => None,
    }
}

/// The reader [`open`] gives: the sniffed bytes again, then the rest.
pub type Source<R> = Chain<Cursor<Vec<u8>>, R>;

/// Reads the first bytes of `inner`, decides its encoding, and returns a reader of UTF-8.
pub fn open<R: Read>(mut inner: R) -> io::Result<(Decoded<Source<R>>, Sniffed)> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    (&mut inner)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)?;
    let sniffed = sniff(&head);
    let source = Cursor::new(head).chain(inner);
    let decoded = match sniffed.encoding {
        Encoding::Utf8 => Decoded::Utf8(source),
        other => {
            let mut t = Transcode::new(source, other);
            t.skip = sniffed.bom;
            Decoded::Other(t)
        }
    };
    Ok((decoded, sniffed))
}

/// UTF-8 out of a file in one of the [`Encoding`]s.
pub enum Decoded<R> {
    /// Already UTF-8: read straight through.
    Utf8(R),
    /// Transcoded.
    Other(Transcode<R>),
}

impl<R> Decoded<R> {
    /// Characters that could not be decoded and became U+FFFD (UTF-16 only: UTF-8 is
    /// checked later by [`super::capped::Capped`]).
    pub fn replaced(&self) -> u64 {
        match self {
            Self::Utf8(_) => 0,
            Self::Other(t) => t.replaced,
        }
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Utf8(r) => r.read(buf),
            Self::Other(t) => t.read(buf),
        }
    }
}

/// Bytes read from the inner reader per refill.
const CHUNK: usize = 64 * 1024;

/// A transcoder from UTF-16 or windows-1252 to UTF-8.
pub struct Transcode<R> {
    inner: R,
    encoding: Encoding,
    /// Input bytes not decoded yet (at most one byte of a UTF-16 unit between refills).
    raw: Vec<u8>,
    /// Decoded UTF-8 not handed out yet: `out[at..]`.
    out: Vec<u8>,
    at: usize,
    /// A high surrogate waiting for its low half.
    high: Option<u16>,
    /// Input bytes still to drop (the byte order mark).
    skip: usize,
    eof: bool,
    replaced: u64,
}

impl<R: Read> Transcode<R> {
    fn new(inner: R, encoding: Encoding) -> Self {
        Self {
            inner,
            encoding,
            raw: Vec::with_capacity(CHUNK + 1),
            out: Vec::with_capacity(CHUNK * 2),
            at: 0,
            high: None,
            skip: 0,
            eof: false,
            replaced: 0,
        }
    }

    /// Reads and decodes the next chunk into `out`; false at the end of the input.
    fn refill(&mut self) -> io::Result<bool> {
        self.out.clear();
        self.at = 0;
        while self.out.is_empty() {
            if self.eof {
                return Ok(false);
            }
            let kept = self.raw.len();
            self.raw.resize(kept + CHUNK, 0);
            let n = loop {
                match self.inner.read(&mut self.raw[kept..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.raw.truncate(kept);
                        return Err(e);
                    }
                }
            };
            self.raw.truncate(kept + n);
            let skip = self.skip.min(self.raw.len());
            self.raw.drain(..skip);
            self.skip -= skip;
            if n == 0 {
                self.eof = true;
                self.finish();
            } else {
                self.decode();
            }
        }
        Ok(true)
    }

    /// Decodes the whole units of `raw`, keeping an odd last byte for the next refill.
    fn decode(&mut self) {
        let (raw, out) = (&mut self.raw, &mut self.out);
        match self.encoding {
            Encoding::Utf8 => out.extend_from_slice(raw),
            Encoding::Windows1252 => {
                for &b in raw.iter() {
                    push_char(out, windows_1252(b));
                }
            }
            Encoding::Utf16Le | Encoding::Utf16Be => {
                let le = self.encoding == Encoding::Utf16Le;
                let whole = raw.len() & !1;
                for pair in raw[..whole].chunks_exact(2) {
                    let unit = if le {
                        u16::from_le_bytes([pair[0], pair[1]])
                    } else {
                        u16::from_be_bytes([pair[0], pair[1]])
                    };
                    utf16_unit(unit, &mut self.high, out, &mut self.replaced);
                }
                raw.drain(..whole);
                return;
            }
        }
        raw.clear();
    }

    /// At the end of the input: a surrogate or byte left over is a character lost.
    fn finish(&mut self) {
        let lost = u64::from(self.high.take().is_some()) + u64::from(!self.raw.is_empty());
        for _ in 0..lost {
            push_char(&mut self.out, char::REPLACEMENT_CHARACTER);
        }
        self.replaced += lost;
        self.raw.clear();
    }
}

impl<R: Read> Read for Transcode<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.out.len() && !self.refill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Appends one UTF-16 code unit, pairing surrogates; what cannot be paired becomes U+FFFD.
fn utf16_unit(unit: u16, high: &mut Option<u16>, out: &mut Vec<u8>, replaced: &mut u64) {
    if let Some(h) = high.take() {
        if (0xDC00..0xE000).contains(&unit) {
            let c = 0x10000 + ((u32::from(h) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
            push_char(
                out,
                char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER),
            );
            return;
        }
        push_char(out, char::REPLACEMENT_CHARACTER);
        *replaced += 1;
    }
    match unit {
        0..=0x7F => out.push(unit as u8),
        0xD800..=0xDBFF => *high = Some(unit),
        0xDC00..=0xDFFF => {
            push_char(out, char::REPLACEMENT_CHARACTER);
            *replaced += 1;
        }
        _ => push_char(
            out,
            char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER),
        ),
    }
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// One windows-1252 byte as a character (WHATWG's index: 0x80–0x9F hold the typographic
/// characters; the five bytes it leaves undefined map to the C1 controls of the same value).
fn windows_1252(b: u8) -> char {
    const HIGH: [u16; 32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ];
    match b {
        0x80..=0x9F => char::from_u32(u32::from(HIGH[usize::from(b - 0x80)]))
            .unwrap_or(char::REPLACEMENT_CHARACTER),
        _ => char::from(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> (String, Sniffed, u64) {
        let (mut d, sniffed) = open(Pieces { data: bytes, n: 0 }).unwrap();
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        (String::from_utf8(out).unwrap(), sniffed, d.replaced())
    }

    /// Hands out 1, 2, 3, … bytes per read, so units and surrogate pairs straddle reads.
    struct Pieces<'a> {
        data: &'a [u8],
        n: usize,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.n = self.n % 7 + 1;
            let k = self.n.min(out.len()).min(self.data.len());
            out[..k].copy_from_slice(&self.data[..k]);
            self.data = &self.data[k..];
            Ok(k)
        }
    }

    fn utf16(text: &str, le: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(if le { &[0xFF, 0xFE] } else { &[0xFE, 0xFF] });
        }
        for u in text.encode_utf16() {
            out.extend_from_slice(&if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        out
    }

    const DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<testsuite name=\"ü\">\
        <testcase name=\"smile 😀 ok\"/></testsuite>\n";

    #[test]
    fn utf16_in_both_byte_orders_with_and_without_a_bom_reads_as_the_same_text() {
        for (le, bom, want) in [
            (true, true, Encoding::Utf16Le),
            (true, false, Encoding::Utf16Le),
            (false, true, Encoding::Utf16Be),
            (false, false, Encoding::Utf16Be),
        ] {
            let (text, sniffed, replaced) = decode_all(&utf16(DOC, le, bom));
            assert_eq!(sniffed.encoding, want, "le={le} bom={bom}");
            assert_eq!(text, DOC, "le={le} bom={bom}");
            assert_eq!(replaced, 0);
        }
    }

    #[test]
    fn broken_utf16_becomes_replacement_characters_and_is_counted() {
        // A lone low surrogate, a high surrogate followed by a letter, and an odd last byte.
        let mut bytes = utf16("<a>", true, true);
        bytes.extend_from_slice(&0xDC00u16.to_le_bytes());
        bytes.extend_from_slice(&0xD800u16.to_le_bytes());
        bytes.extend_from_slice(&u16::from(b'x').to_le_bytes());
        bytes.extend_from_slice(&utf16("</a>", true, false));
        bytes.push(b'!');
        let (text, _, replaced) = decode_all(&bytes);
        assert_eq!(text, "<a>\u{FFFD}\u{FFFD}x</a>\u{FFFD}");
        assert_eq!(replaced, 3);
        // A high surrogate at the very end.
        let mut bytes = utf16("<a/>", false, false);
        bytes.extend_from_slice(&0xD83Du16.to_be_bytes());
        let (text, _, replaced) = decode_all(&bytes);
        assert_eq!((text.as_str(), replaced), ("<a/>\u{FFFD}", 1));
    }

    #[test]
    fn latin1_and_windows_1252_declarations_decode_their_high_bytes() {
        for label in ["ISO-8859-1", "latin1", "windows-1252", "Cp1252"] {
            let mut bytes = format!("<?xml version='1.0' encoding='{label}'?><t n=\"").into_bytes();
            bytes.extend_from_slice(&[b'c', b'a', b'f', 0xE9, b' ', 0x80, 0x93, 0x81, b'"']);
            bytes.extend_from_slice(b"/>");
            let (text, sniffed, _) = decode_all(&bytes);
            assert_eq!(sniffed.encoding, Encoding::Windows1252, "{label}");
            assert!(
                text.ends_with("<t n=\"café €“\u{81}\"/>"),
                "{label}: {text:?}"
            );
        }
    }

    #[test]
    fn utf8_and_undeclared_files_pass_through_untouched() {
        for head in [
            &b"<testsuite/>"[..],
            b"\xEF\xBB\xBF<?xml version=\"1.0\"?><t/>",
            b"<?xml version=\"1.0\" encoding=\"utf-8\"?><t/>",
            // Declared UTF-16, written in UTF-8 (no zero bytes): the bytes win.
            b"<?xml version=\"1.0\" encoding=\"UTF-16\"?><t/>",
            // A UTF-8 byte order mark wins over the declaration.
            b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><t/>",
            b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><t/>",
            b"",
        ] {
            let s = sniff(head);
            assert_eq!(
                (s.encoding, s.bom, s.unsupported),
                (Encoding::Utf8, 0, None)
            );
            let (mut d, _) = open(head).unwrap();
            assert!(matches!(d, Decoded::Utf8(_)));
            let mut out = Vec::new();
            d.read_to_end(&mut out).unwrap();
            assert_eq!(out, head);
        }
    }

    #[test]
    fn an_encoding_cimon_cannot_decode_is_named_and_read_as_utf8() {
        let s = sniff(b"<?xml version=\"1.0\" encoding=\"Shift_JIS\" ?><t/>");
        assert_eq!(s.encoding, Encoding::Utf8);
        assert_eq!(s.unsupported.as_deref(), Some("Shift_JIS"));
        // Not a declaration, or no encoding in it: nothing to say.
        for head in [
            &b"<?xml-stylesheet encoding=\"x\"?><t/>"[..],
            b"<?xml version=\"1.0\"?><t encoding=\"x\"/>",
            b"<?xml version=\"1.0\" encoding=x?><t/>",
            b"<?xml version=\"1.0\" encoding=\"<b>x</b>\"?><t/>",
            b"<?xml version=\"1.0\" encoding=\"\"?><t/>",
        ] {
            assert_eq!(
                sniff(head).unsupported,
                None,
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn a_long_file_decodes_across_many_refills() {
        let body: String = (0..20_000)
            .map(|i| format!("<testcase name=\"t{i} ß😀\"/>\n"))
            .collect();
        let doc = format!("<testsuite>{body}</testsuite>");
        let (text, _, replaced) = decode_all(&utf16(&doc, true, true));
        assert_eq!((text.len(), replaced), (doc.len(), 0));
        assert_eq!(text, doc);
    }
}
