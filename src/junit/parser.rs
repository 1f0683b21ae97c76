//! The streaming JUnit-family reader: XML events in, [`TestCase`]s out.
//!
//! One pass, constant memory per element: text is only collected where the report keeps it
//! (bounded by [`super::text`]), and [`super::capped::Capped`] bounds what quick-xml buffers.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, Read};
use std::sync::Arc;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::model::{Attempt, Property, TestCase};

use super::capped::{ends_markup, Capped, CappedError};
use super::case::{self, CaseDraft, ResultAttrs, ResultKind, Texts};
use super::dialect::{Clues, Dialect};
use super::location;
use super::text::{clip, parse_seconds, Bounded, Keep, MESSAGE_LIMIT, NAME_LIMIT, PROPERTY_LIMIT};

/// How test cases are read.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Treat a test case repeated within one suite as a retry in every dialect (like
    /// `checkRetries` of action-junit-report), not only where the dialect says so.
    pub merge_repeated: bool,
    /// Longest run of character data handed to the XML reader (see [`Capped`]).
    pub run_cap: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            merge_repeated: false,
            run_cap: 64 * 1024,
        }
    }
}

/// What one report contributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The dialect of the file (the last one detected).
    pub dialect: Dialect,
    /// Test cases appended (after folding).
    pub tests: u64,
    /// Non-fatal observations (clamped durations, invalid UTF-8, truncation).
    pub warnings: Vec<String>,
}

/// Why a report could not be read. Offsets are byte offsets in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseFailure {
    /// The XML is not well-formed at `offset`.
    Syntax {
        /// Byte offset in the input.
        offset: u64,
        /// What the XML reader said.
        message: String,
    },
    /// Well-formed XML, but not a JUnit report.
    NotJunit {
        /// The root element's name.
        root: String,
        /// Byte offset of the root element.
        offset: u64,
    },
    /// No root element at all.
    Empty {
        /// Byte offset of the end of the input.
        offset: u64,
    },
    /// Reading failed.
    Io(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    None,
    CaseOut,
    CaseErr,
    Stack,
    SubOut,
    SubErr,
    Property,
}

struct Suite {
    name: Arc<str>,
    dialect: Dialect,
    seen: HashMap<u64, usize>,
    /// `tests` as the suite declares it.
    declared: u64,
    /// Test cases met inside this suite, nested suites included.
    cases: u64,
}

struct Open {
    kind: ResultKind,
    attrs: ResultAttrs,
}

struct State<'o> {
    opts: &'o ParseOptions,
    out: &'o mut Vec<TestCase>,
    /// Length of `out` before this report.
    first: usize,
    clues: Clues,
    suites: Vec<Suite>,
    case: Option<CaseDraft>,
    result: Option<Open>,
    target: Target,
    case_texts: Texts,
    sub_texts: Texts,
    property: Option<(Box<str>, Bounded)>,
    last_classname: Option<Arc<str>>,
    last_file: Option<Arc<str>>,
    clamped: u64,
    clipped: u64,
    /// Suites that declare tests but list none.
    empty_suites: Vec<(Arc<str>, u64)>,
    /// Size of the input in bytes, 0 when unknown (see [`State::reserve`]).
    input_len: u64,
    /// Bytes read when the current element ended.
    position: u64,
    /// Open elements.
    depth: usize,
    /// Whether the root element has been read.
    root_seen: bool,
}

/// Reads one report from `input`, appending its cases to `out`. On failure nothing is
/// appended (a report is taken whole or not at all).
pub fn parse<R: Read>(
    input: R,
    opts: &ParseOptions,
    out: &mut Vec<TestCase>,
) -> Result<Parsed, ParseFailure> {
    let mut capped = Capped::with_boundaries(input, opts.run_cap);
    let mut st = State::new(opts, out);
    let result = run(&mut xml_reader(&mut capped), &mut st);
    st.conclude(result, &capped)
}

/// [`parse`] on two threads: one reads the input through [`Capped`] (cutting, NUL and UTF-8
/// checks) and tokenises it, the other builds the test cases from the events (see
/// [`super::pipeline`]). Same result as [`parse`]; worth it for inputs of a few MB and more.
///
/// `len` is the input's size in bytes when known (0 otherwise): the case list is then grown
/// to about the number of cases the whole input holds, at the rate read so far, instead of
/// doubling.
pub fn parse_pipelined<R: Read + Send>(
    input: R,
    len: u64,
    opts: &ParseOptions,
    out: &mut Vec<TestCase>,
) -> Result<Parsed, ParseFailure> {
    let mut st = State::new(opts, out);
    st.input_len = len;
    let (result, capped) = super::pipeline::run(
        Capped::with_boundaries(input, opts.run_cap),
        |event, pos| st.dispatch(event, pos),
    );
    st.conclude(result, &capped)
}

/// The XML reader as every parse configures it.
pub(super) fn xml_reader<B: BufRead>(source: B) -> Reader<B> {
    let mut reader = Reader::from_reader(source);
    let config = reader.config_mut();
    config.allow_dangling_amp = true;
    config.check_end_names = true;
    config.expand_empty_elements = false;
    reader
}

/// A [`ParseFailure`] whose offsets are still in the filtered stream (see [`Capped`]).
pub(super) struct Failure(pub(super) ParseFailure);

impl Failure {
    fn map_offsets<R: Read>(self, capped: &Capped<R>) -> ParseFailure {
        let map = |o: u64| capped.input_offset(o);
        match self.0 {
            ParseFailure::Syntax { offset, message } => ParseFailure::Syntax {
                offset: map(offset),
                message,
            },
            ParseFailure::NotJunit { root, offset } => ParseFailure::NotJunit {
                root,
                offset: map(offset),
            },
            ParseFailure::Empty { offset } => ParseFailure::Empty {
                offset: map(offset),
            },
            ParseFailure::Io(m) => ParseFailure::Io(m),
        }
    }
}

impl<'o> State<'o> {
    fn new(opts: &'o ParseOptions, out: &'o mut Vec<TestCase>) -> Self {
        let first = out.len();
        State {
            opts,
            out,
            first,
            clues: Clues::default(),
            suites: Vec::new(),
            case: None,
            result: None,
            target: Target::None,
            case_texts: Texts::default(),
            sub_texts: Texts::default(),
            property: None,
            last_classname: None,
            last_file: None,
            clamped: 0,
            clipped: 0,
            empty_suites: Vec::new(),
            input_len: 0,
            position: 0,
            depth: 0,
            root_seen: false,
        }
    }

    /// Turns the outcome of [`run`] into the result of a parse: warnings on success, and on
    /// failure the cases of this report removed and offsets mapped back to the input.
    fn conclude<R: Read>(
        self,
        result: Result<(), Failure>,
        capped: &Capped<R>,
    ) -> Result<Parsed, ParseFailure> {
        let st = self;
        if let Err(failure) = result {
            st.out.truncate(st.first);
            return Err(failure.map_offsets(capped));
        }
        let mut warnings = Vec::new();
        if st.clamped > 0 {
            warnings.push(format!(
                "{} test durations were negative, not numbers or over 7 days and were clamped",
                st.clamped
            ));
        }
        if st.clipped > 0 {
            warnings.push(format!(
                "{} names or attribute values were longer than {NAME_LIMIT} bytes and were cut",
                st.clipped
            ));
        }
        for (suite, declared) in &st.empty_suites {
            warnings.push(format!(
                "suite {suite:?} declares {declared} tests but lists no <testcase>: only listed test cases are counted"
            ));
        }
        if capped.replaced_utf8() > 0 {
            warnings.push(format!(
                "{} bytes of invalid UTF-8 were replaced with '?'",
                capped.replaced_utf8()
            ));
        }
        Ok(Parsed {
            dialect: st.clues.file(),
            tests: (st.out.len() - st.first) as u64,
            warnings,
        })
    }
}

fn run<R: Read>(reader: &mut Reader<&mut Capped<R>>, st: &mut State<'_>) -> Result<(), Failure> {
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        let event = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => return Err(syntax(reader, e)),
        };
        let pos = reader.buffer_position();
        let markup = ends_markup(&event);
        if st.dispatch(event, pos)? {
            return Ok(());
        }
        if markup {
            reader.get_mut().boundary(pos);
        }
        buf.clear();
    }
}

impl State<'_> {
    /// Takes one XML event; `pos` is the reader's position just after it. True at the end
    /// of the input.
    fn dispatch(&mut self, event: Event<'_>, pos: u64) -> Result<bool, Failure> {
        match event {
            Event::Start(e) => {
                check_root(&mut self.root_seen, &e, pos)?;
                self.depth += 1;
                self.start(&e);
            }
            Event::Empty(e) => {
                check_root(&mut self.root_seen, &e, pos)?;
                self.start(&e);
                self.position = pos;
                self.end(e.local_name().as_ref());
            }
            Event::End(e) => {
                self.depth = self.depth.saturating_sub(1);
                self.position = pos;
                self.end(e.local_name().as_ref());
            }
            Event::Text(t) => {
                if self.target != Target::None {
                    self.text(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if self.target != Target::None {
                    self.text(&t);
                }
            }
            Event::GeneralRef(r) => {
                if self.target != Target::None {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => self.text(c.encode_utf8(&mut [0; 4])),
                        Ok(None) => match resolve_predefined_entity(&r) {
                            Some(s) => self.text(s),
                            // Entities declared in a DOCTYPE are never expanded: keep the reference.
                            None => self.text(&format!("&{};", &*r)),
                        },
                        Err(_) => self.text(&format!("&{};", &*r)),
                    }
                }
            }
            Event::Eof => {
                if !self.root_seen {
                    return Err(Failure(ParseFailure::Empty { offset: pos }));
                }
                if self.depth > 0 {
                    return Err(Failure(ParseFailure::Syntax {
                        offset: pos,
                        message: format!(
                            "unexpected end of file: {} element(s) not closed (a truncated report?)",
                            self.depth
                        ),
                    }));
                }
                return Ok(true);
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
        Ok(false)
    }
}

fn check_root(root_seen: &mut bool, e: &BytesStart<'_>, end: u64) -> Result<(), Failure> {
    if *root_seen {
        return Ok(());
    }
    *root_seen = true;
    let name = e.local_name();
    match name.as_ref() {
        "testsuites" | "testsuite" => Ok(()),
        other => {
            // The start tag has just been read: it began at the last '<' before `end`.
            let len = e.len() as u64 + 2;
            Err(Failure(ParseFailure::NotJunit {
                root: other.to_string(),
                offset: end.saturating_sub(len + 1),
            }))
        }
    }
}

/// The failure for an error of the XML reader (or of [`Capped`] under it).
pub(super) fn syntax<B>(reader: &Reader<B>, e: quick_xml::Error) -> Failure {
    if let quick_xml::Error::Io(io) = &e {
        if let Some(c) = io.get_ref().and_then(|x| x.downcast_ref::<CappedError>()) {
            return Failure(ParseFailure::Syntax {
                offset: c.filtered_offset,
                message: c.message.clone(),
            });
        }
        return Failure(ParseFailure::Io(io.to_string()));
    }
    Failure(ParseFailure::Syntax {
        offset: reader.error_position(),
        message: e.to_string(),
    })
}

/// Resolves the predefined entities and character references of an attribute value; any
/// other reference (a DOCTYPE entity) is kept as written, never expanded.
fn unescape(raw: &str) -> Cow<'_, str> {
    if memchr::memchr(b'&', raw.as_bytes()).is_none() {
        return raw.into();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let resolved = after.find(';').filter(|&semi| semi <= 32).and_then(|semi| {
            let name = &after[..semi];
            let text = if let Some(num) = name.strip_prefix('#') {
                let code = match num.strip_prefix('x') {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse().ok(),
                };
                code.and_then(char::from_u32)
                    .filter(|&c| c != '\0')
                    .map(String::from)
            } else {
                resolve_predefined_entity(name).map(String::from)
            };
            text.map(|t| (t, semi))
        });
        match resolved {
            Some((text, semi)) => {
                out.push_str(&text);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.into()
}

fn hash_identity(classname: Option<&str>, name: &str) -> u64 {
    let mut h = DefaultHasher::new();
    classname.hash(&mut h);
    name.hash(&mut h);
    h.finish()
}

impl State<'_> {
    fn suite_dialect(&self) -> Dialect {
        self.suites.last().map_or(self.clues.file(), |s| s.dialect)
    }

    /// Reads an attribute value, unescaped and clipped to `limit`; borrowed from `raw` when
    /// it has no reference and fits.
    fn attr<'r>(&mut self, raw: &'r str, limit: usize) -> (Cow<'r, str>, bool) {
        let (value, cut) = match unescape(raw) {
            Cow::Borrowed(v) => {
                let (v, cut) = clip(v, limit);
                (Cow::Borrowed(v), cut)
            }
            Cow::Owned(v) => match clip(&v, limit) {
                (c, true) => (Cow::Owned(c.to_string()), true),
                (_, false) => (Cow::Owned(v), false),
            },
        };
        if cut {
            self.clipped += 1;
        }
        (value, cut)
    }

    fn start(&mut self, e: &BytesStart<'_>) {
        let local = e.local_name();
        let name = local.as_ref();
        if self.case.is_some() {
            self.start_in_case(name, e);
            return;
        }
        match name {
            "testsuites" => {
                if let Some(n) = attr_raw(e, "name") {
                    self.clues.root_name(&unescape(n));
                }
            }
            "testsuite" => {
                let (mut suite_name, mut has_file, mut has_assertions) = (None, false, false);
                let mut declared = 0;
                for (key, value) in attributes(e) {
                    match key {
                        "name" => suite_name = Some(self.attr(value, NAME_LIMIT).0),
                        "tests" => declared = value.trim().parse().unwrap_or(0),
                        "file" => has_file = true,
                        "assertions" => has_assertions = true,
                        _ => {}
                    }
                }
                let name: Arc<str> = match suite_name {
                    Some(n) if !n.is_empty() => Arc::from(&*n),
                    _ => self
                        .suites
                        .last()
                        .map_or_else(|| Arc::from(""), |s| s.name.clone()),
                };
                let dialect = self.clues.suite(&name, has_file, has_assertions);
                self.suites.push(Suite {
                    name,
                    dialect,
                    seen: HashMap::new(),
                    declared,
                    cases: 0,
                });
            }
            "property" => {
                if let Some(n) = attr_raw(e, "name") {
                    let current = self.suite_dialect();
                    let d = self.clues.suite_property(&unescape(n), current);
                    if let Some(s) = self.suites.last_mut() {
                        s.dialect = d;
                    }
                }
            }
            "testcase" => self.start_case(e),
            _ => {}
        }
    }

    fn start_case(&mut self, e: &BytesStart<'_>) {
        let mut draft = CaseDraft::default();
        for (key, value) in attributes(e) {
            match key {
                "name" => draft.name = Box::from(&*self.attr(value, NAME_LIMIT).0),
                "classname" | "class" => {
                    let v = self.attr(value, NAME_LIMIT).0;
                    draft.classname = Some(intern(&mut self.last_classname, &v));
                }
                "file" | "filepath" => {
                    let v = self.attr(value, NAME_LIMIT).0;
                    if !v.is_empty() {
                        draft.file = Some(intern(&mut self.last_file, &v));
                    }
                }
                "line" | "lineno" => draft.line = value.trim().parse().ok(),
                "time" => {
                    let (ms, clamped) = parse_seconds(value);
                    draft.duration_ms = ms;
                    self.clamped += u64::from(clamped);
                }
                "status" => {
                    let v = value.trim().to_ascii_lowercase();
                    if matches!(
                        v.as_str(),
                        "disabled" | "ignored" | "skipped" | "notrun" | "not run" | "pending"
                    ) {
                        draft.not_run = true;
                    }
                }
                "result" => {
                    let v = value.trim().to_ascii_lowercase();
                    if matches!(v.as_str(), "skipped" | "suppressed") {
                        draft.not_run = true;
                    }
                }
                _ => {}
            }
        }
        self.case = Some(draft);
        self.case_texts.clear();
    }

    fn start_in_case(&mut self, name: &str, e: &BytesStart<'_>) {
        if let Some(kind) = ResultKind::of(name) {
            if self.result.is_some() {
                return;
            }
            if !matches!(kind, ResultKind::Main(_)) {
                self.clues.rerun_element();
            }
            let mut attrs = ResultAttrs::default();
            for (key, value) in attributes(e) {
                match key {
                    "message" => {
                        let (v, cut) = self.attr(value, MESSAGE_LIMIT);
                        attrs.truncated |= cut;
                        attrs.message = (!v.is_empty()).then(|| Box::from(&*v));
                    }
                    "type" => {
                        let (v, cut) = self.attr(value, NAME_LIMIT);
                        attrs.truncated |= cut;
                        attrs.kind = (!v.is_empty()).then(|| Box::from(&*v));
                    }
                    "time" => {
                        let (ms, clamped) = parse_seconds(value);
                        attrs.duration_ms = ms;
                        self.clamped += u64::from(clamped);
                    }
                    _ => {}
                }
            }
            self.sub_texts.clear();
            self.result = Some(Open { kind, attrs });
            self.target = Target::Stack;
            return;
        }
        let in_result = self.result.is_some();
        match (name, in_result) {
            ("system-out", false) => self.target = Target::CaseOut,
            ("system-err", false) => self.target = Target::CaseErr,
            ("system-out", true) => self.target = Target::SubOut,
            ("system-err", true) => self.target = Target::SubErr,
            ("stackTrace", true) => self.target = Target::Stack,
            ("property", false) => {
                let mut pname = None;
                let mut value = None;
                for (key, raw) in attributes(e) {
                    match key {
                        "name" => pname = Some(self.attr(raw, NAME_LIMIT).0),
                        "value" => value = Some(self.attr(raw, NAME_LIMIT).0),
                        _ => {}
                    }
                }
                let Some(pname) = pname else { return };
                let mut text = Bounded::new(NAME_LIMIT, Keep::Head);
                if let Some(v) = value {
                    text.push(&v);
                }
                self.property = Some((Box::from(&*pname), text));
                self.target = Target::Property;
            }
            _ => {}
        }
    }

    fn text(&mut self, s: &str) {
        let buf = match self.target {
            Target::None => return,
            Target::CaseOut => &mut self.case_texts.out,
            Target::CaseErr => &mut self.case_texts.err,
            Target::Stack => &mut self.sub_texts.stack,
            Target::SubOut => &mut self.sub_texts.out,
            Target::SubErr => &mut self.sub_texts.err,
            Target::Property => match &mut self.property {
                Some((_, b)) => b,
                None => return,
            },
        };
        buf.push(s);
    }

    fn end(&mut self, name: &str) {
        if self.case.is_none() {
            if name == "testsuite" {
                if let Some(done) = self.suites.pop() {
                    if done.cases == 0 && done.declared > 0 {
                        self.empty_suites.push((done.name, done.declared));
                    }
                    if let Some(parent) = self.suites.last_mut() {
                        parent.cases += done.cases;
                    }
                }
            }
            return;
        }
        match name {
            "testcase" => self.finish_case(),
            "system-out" | "system-err" | "stackTrace" => {
                self.target = if self.result.is_some() {
                    Target::Stack
                } else {
                    Target::None
                };
            }
            "property" => {
                self.target = Target::None;
                if let (Some((pname, mut value)), Some(case)) =
                    (self.property.take(), self.case.as_mut())
                {
                    if case.properties.len() < PROPERTY_LIMIT {
                        let value = value.take().unwrap_or_default();
                        case.properties.push(Property { name: pname, value });
                    }
                }
            }
            other => {
                let Some(kind) = ResultKind::of(other) else {
                    return;
                };
                let Some(open) = self.result.take() else {
                    return;
                };
                if open.kind != kind {
                    self.result = Some(open);
                    return;
                }
                self.target = Target::None;
                let duration_ms = open.attrs.duration_ms;
                let details = case::details(open.attrs, &mut self.sub_texts);
                let Some(case) = self.case.as_mut() else {
                    return;
                };
                match kind {
                    ResultKind::Main(outcome) => case.main_result(outcome, details),
                    ResultKind::Flaky(outcome) => {
                        case.flaky.push(Attempt {
                            outcome,
                            duration_ms,
                            details,
                        });
                    }
                    ResultKind::Rerun(outcome) => {
                        case.reruns.push(Attempt {
                            outcome,
                            duration_ms,
                            details,
                        });
                    }
                }
            }
        }
    }

    fn finish_case(&mut self) {
        self.target = Target::None;
        self.result = None;
        let Some(mut draft) = self.case.take() else {
            return;
        };
        if draft.file.is_none() {
            let trace = draft
                .details
                .as_ref()
                .and_then(|d| d.stack_trace.as_deref())
                .or_else(|| {
                    draft
                        .flaky
                        .iter()
                        .chain(&draft.reruns)
                        .find_map(|a| a.details.as_ref()?.stack_trace.as_deref())
                });
            if let Some(loc) = trace.and_then(|t| location::find(t, draft.classname.as_deref())) {
                draft.file = Some(intern(&mut self.last_file, &loc.file));
                draft.line = Some(loc.line);
            }
        }
        let suite_name = self
            .suites
            .last()
            .map_or_else(|| Arc::from(""), |s| s.name.clone());
        let dialect = self.suite_dialect();
        let case = draft.finish(suite_name, &mut self.case_texts);
        let fold_here = self.opts.merge_repeated || dialect.repeats_are_retries();
        if let Some(suite) = self.suites.last_mut() {
            suite.cases += 1;
        }
        if fold_here {
            if let Some(suite) = self.suites.last_mut() {
                let key = hash_identity(case.classname.as_deref(), &case.name);
                if let Some(&i) = suite.seen.get(&key) {
                    if let Some(first) = self
                        .out
                        .get_mut(i)
                        .filter(|f| f.name == case.name && f.classname == case.classname)
                    {
                        case::fold(first, case, dialect.bare_repeat_is_failure());
                        return;
                    }
                }
                suite.seen.insert(key, self.out.len());
            }
        }
        if self.out.len() == self.out.capacity() {
            self.reserve();
        }
        self.out.push(case);
    }

    /// Makes room for the cases the rest of the input will hold at the rate seen so far, so
    /// that a large report grows its case list once or twice instead of doubling it a dozen
    /// times (with an allocator that cannot grow in place, each doubling moves every case
    /// and holds both copies for a moment).
    fn reserve(&mut self) {
        let seen = self.out.len() - self.first;
        if let Some(more) = room_for_rest(seen, self.position, self.input_len) {
            if self.out.try_reserve_exact(more).is_err() {
                self.out.reserve(1);
            }
        }
    }
}

/// How many more cases to make room for after `seen` cases in the first `position` bytes of
/// an input of `input_len` bytes; `None` while too little has been read to tell (then `Vec`
/// doubles as usual). The margin of one half covers a tail denser than the head (a Surefire
/// file's first cases sit behind its properties); room never used costs address space, not
/// memory, since untouched pages are never mapped in.
fn room_for_rest(seen: usize, position: u64, input_len: u64) -> Option<usize> {
    const MIN_SEEN: usize = 1024;
    if seen < MIN_SEEN || position == 0 || input_len <= position {
        return None;
    }
    let per_case = position as f64 / seen as f64;
    let rest = (input_len - position) as f64 / per_case;
    Some((rest * 1.5) as usize + 1)
}

/// Shares one allocation between consecutive equal values (a class's cases are adjacent).
fn intern(last: &mut Option<Arc<str>>, value: &str) -> Arc<str> {
    match last {
        Some(prev) if **prev == *value => prev.clone(),
        _ => {
            let a: Arc<str> = value.into();
            *last = Some(a.clone());
            a
        }
    }
}

fn attr_raw<'a>(e: &'a BytesStart<'_>, key: &str) -> Option<&'a str> {
    attributes(e).find(|&(k, _)| k == key).map(|(_, v)| v)
}

/// The attributes of a start tag as `(local name, raw value)`, in order.
///
/// Well-formed attribute lists (`key="v"` or `key='v'` separated by whitespace, the only
/// form producers write) are split with `memchr`. At the first thing that is not, the rest
/// comes from quick-xml's own lenient iterator (which skips malformed attributes), so the
/// result is always the same as quick-xml's.
fn attributes<'a>(e: &'a BytesStart<'_>) -> Attributes<'a> {
    Attributes {
        tag: e,
        raw: e.attributes_raw(),
        at: 0,
        yielded: 0,
        slow: None,
    }
}

struct Attributes<'a> {
    tag: &'a BytesStart<'a>,
    raw: &'a str,
    at: usize,
    yielded: usize,
    slow: Option<quick_xml::events::attributes::Attributes<'a>>,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.slow.is_none() {
            match split_next(self.raw, &mut self.at) {
                Split::Attr(key, value) => {
                    self.yielded += 1;
                    return Some((key, value));
                }
                Split::End => return None,
                Split::Unusual => {
                    let mut slow = self.tag.attributes();
                    slow.with_checks(false);
                    // The well-formed prefix reads the same either way.
                    for _ in (&mut slow).flatten().take(self.yielded) {}
                    self.slow = Some(slow);
                }
            }
        }
        let slow = self.slow.as_mut()?;
        for a in slow.flatten() {
            // With checks off, values are always slices of the tag.
            if let Cow::Borrowed(v) = a.value {
                return Some((local(a.key.into_inner()), v));
            }
        }
        None
    }
}

/// The local part of a (possibly prefixed) name: after the first `:`.
fn local(name: &str) -> &str {
    match name.bytes().position(|b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

enum Split<'a> {
    Attr(&'a str, &'a str),
    End,
    Unusual,
}

/// The next attribute of a well-formed list from `*at`, advancing `*at`.
fn split_next<'a>(raw: &'a str, at: &mut usize) -> Split<'a> {
    let bytes = raw.as_bytes();
    let mut i = *at;
    while i < bytes.len() && is_xml_space(bytes[i]) {
        i += 1;
    }
    if i == bytes.len() {
        return Split::End;
    }
    let key_start = i;
    while i < bytes.len() && !matches!(bytes[i], b'=' | b'"' | b'\'' | b'<' | b'>') {
        if is_xml_space(bytes[i]) {
            return Split::Unusual;
        }
        i += 1;
    }
    if i == key_start || bytes.get(i) != Some(&b'=') {
        return Split::Unusual;
    }
    let key_end = i;
    let quote = match bytes.get(i + 1) {
        Some(&q) if q == b'"' || q == b'\'' => q,
        _ => return Split::Unusual,
    };
    let value_start = i + 2;
    let Some(close) = memchr::memchr(quote, &bytes[value_start..]).map(|n| value_start + n) else {
        return Split::Unusual;
    };
    if close + 1 < bytes.len() && !is_xml_space(bytes[close + 1]) {
        return Split::Unusual;
    }
    *at = close + 1;
    // Every index above is at an ASCII byte, so these are char boundaries.
    Split::Attr(local(&raw[key_start..key_end]), &raw[value_start..close])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(input: &[u8], opts: &ParseOptions) -> (Result<Parsed, ParseFailure>, Vec<TestCase>) {
        let mut serial = Vec::new();
        let a = parse(input, opts, &mut serial);
        let mut piped = Vec::new();
        let b = parse_pipelined(input, input.len() as u64, opts, &mut piped);
        assert_eq!(a, b);
        assert_eq!(serial, piped);
        (a, serial)
    }

    #[test]
    fn the_case_list_makes_room_for_the_rest_of_the_input_at_the_rate_read_so_far() {
        // 1 024 cases in the first 256 KiB of 25 MiB: about 99 k more, plus half.
        let more = room_for_rest(1024, 256 << 10, 25 << 20).unwrap();
        assert_eq!(more, (((25 << 20) - (256 << 10)) / 256) * 3 / 2 + 1);
        // Too early, or nothing left to read: no estimate.
        assert_eq!(room_for_rest(1023, 256 << 10, 25 << 20), None);
        assert_eq!(room_for_rest(2048, 25 << 20, 25 << 20), None);
        assert_eq!(room_for_rest(2048, 0, 25 << 20), None);
    }

    #[test]
    fn a_large_report_read_with_its_size_known_gives_every_case() {
        let mut xml = String::from("<testsuite name=\"s\">\n");
        for i in 0..20_000 {
            xml.push_str(&format!(
                "  <testcase name=\"case{i}\" classname=\"a.B\" time=\"0.001\"/>\n"
            ));
        }
        xml.push_str("</testsuite>\n");
        let (parsed, cases) = both(xml.as_bytes(), &ParseOptions::default());
        assert_eq!(parsed.map(|p| p.tests), Ok(20_000));
        assert_eq!(cases[19_999].name.as_ref(), "case19999");
    }

    #[test]
    fn the_pipelined_reader_gives_the_same_result_on_every_fixture() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut seen = 0;
        for entry in walkdir::WalkDir::new(root) {
            let entry = entry.unwrap();
            if entry.path().extension().is_some_and(|e| e == "xml") {
                let bytes = std::fs::read(entry.path()).unwrap();
                for merge_repeated in [false, true] {
                    let opts = ParseOptions {
                        merge_repeated,
                        ..ParseOptions::default()
                    };
                    let _ = both(&bytes, &opts);
                }
                seen += 1;
            }
        }
        assert!(seen > 20, "{seen} fixtures");
    }

    #[test]
    fn the_pipelined_reader_maps_errors_and_cuts_like_the_serial_one() {
        // Runs longer than the cap (64 KiB) in several places, over several read chunks.
        let long = "out &amp; é\n".repeat(8_000);
        let mut doc = String::from("<testsuites><testsuite name=\"s\">");
        for i in 0..300 {
            let trace = if i % 50 == 0 { long.as_str() } else { "trace" };
            let out = if i % 10 == 0 { long.as_str() } else { "" };
            doc.push_str(&format!(
                "<testcase name=\"t{i}\" classname=\"c\" time=\"0.{i}\"><failure message=\"m &amp; {}\">{trace}</failure><system-out>{out}</system-out></testcase>",
                &long[..40]
            ));
            if i == 10 {
                doc.push_str(&format!("<!-- {long} --><![CDATA[{long}]]>"));
            }
        }
        doc.push_str("</testsuite></testsuites>");
        let opts = ParseOptions::default();
        let (ok, cases) = both(doc.as_bytes(), &opts);
        assert_eq!(ok.unwrap().tests, 300);
        assert!(cases[0].attempts[0].details.as_ref().unwrap().truncated);
        // Errors after many cut runs: the offset points into the original input.
        for bad in ["\0", "<x></y>", "<unclosed>"] {
            let mut broken = doc.replace("</testsuite></testsuites>", "");
            let at = broken.len() as u64;
            broken.push_str(bad);
            let (err, cases) = both(broken.as_bytes(), &opts);
            assert!(cases.is_empty());
            match err.unwrap_err() {
                ParseFailure::Syntax { offset, .. } => {
                    assert!(
                        offset >= at && offset <= broken.len() as u64,
                        "{offset} {at}"
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn attributes_read_like_quick_xml_whatever_the_form() {
        let tags = [
            r#"<t name="a" classname='b' time="1"/>"#,
            r#"<t  name = "a"	classname="b"
                time="1" />"#,
            r#"<t xsi:type="x" xmlns:xsi="u" a:b:c="d"/>"#,
            r#"<t name="a"classname="b"/>"#,
            r#"<t name=a classname="b"/>"#,
            r#"<t name classname="b"/>"#,
            r#"<t name="" classname="b" name="again"/>"#,
            r#"<t name="it's" other='say "hi"'/>"#,
            r#"<t name="&lt;x&gt;" =="bad" time="2"/>"#,
            r#"<t/>"#,
        ];
        for tag in tags {
            let mut reader = Reader::from_str(tag);
            let Ok(Event::Empty(e)) = reader.read_event() else {
                panic!("{tag}");
            };
            let ours: Vec<(String, String)> = attributes(&e)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let theirs: Vec<(String, String)> = e
                .attributes()
                .with_checks(false)
                .flatten()
                .map(|a| (a.key.local_name().as_ref().to_string(), a.value.to_string()))
                .collect();
            assert_eq!(ours, theirs, "{tag}");
        }
    }
}
