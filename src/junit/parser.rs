//! The streaming JUnit-family reader: XML events in, [`TestCase`]s out.
//!
//! One pass, constant memory per element: text is only collected where the report keeps it
//! (bounded by [`super::text`]), and [`super::capped::Capped`] bounds what quick-xml buffers.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;
use std::sync::Arc;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::model::{Attempt, Property, TestCase};

use super::capped::{Capped, CappedError};
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
}

/// Reads one report from `input`, appending its cases to `out`. On failure nothing is
/// appended (a report is taken whole or not at all).
pub fn parse<R: Read>(
    input: R,
    opts: &ParseOptions,
    out: &mut Vec<TestCase>,
) -> Result<Parsed, ParseFailure> {
    let first = out.len();
    let mut reader = Reader::from_reader(Capped::new(input, opts.run_cap));
    let config = reader.config_mut();
    config.allow_dangling_amp = true;
    config.check_end_names = true;
    config.expand_empty_elements = false;
    let mut st = State {
        opts,
        out,
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
    };
    let result = run(&mut reader, &mut st);
    match result {
        Ok(()) => {
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
            let capped = reader.get_ref();
            if capped.replaced_utf8() > 0 {
                warnings.push(format!(
                    "{} bytes of invalid UTF-8 were replaced with '?'",
                    capped.replaced_utf8()
                ));
            }
            Ok(Parsed {
                dialect: st.clues.file(),
                tests: (st.out.len() - first) as u64,
                warnings,
            })
        }
        Err(failure) => {
            st.out.truncate(first);
            Err(failure)
        }
    }
}

fn run<R: Read>(reader: &mut Reader<Capped<R>>, st: &mut State<'_>) -> Result<(), ParseFailure> {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut depth = 0usize;
    let mut root_seen = false;
    loop {
        let event = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => return Err(syntax(reader, e)),
        };
        match event {
            Event::Start(e) => {
                check_root(&mut root_seen, &e, reader)?;
                depth += 1;
                st.start(&e);
            }
            Event::Empty(e) => {
                check_root(&mut root_seen, &e, reader)?;
                st.start(&e);
                st.end(e.local_name().as_ref());
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                st.end(e.local_name().as_ref());
            }
            Event::Text(t) => {
                if st.target != Target::None {
                    st.text(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if st.target != Target::None {
                    st.text(&t);
                }
            }
            Event::GeneralRef(r) => {
                if st.target != Target::None {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => st.text(c.encode_utf8(&mut [0; 4])),
                        Ok(None) => match resolve_predefined_entity(&r) {
                            Some(s) => st.text(s),
                            // Entities declared in a DOCTYPE are never expanded: keep the reference.
                            None => st.text(&format!("&{};", &*r)),
                        },
                        Err(_) => st.text(&format!("&{};", &*r)),
                    }
                }
            }
            Event::Eof => {
                if !root_seen {
                    return Err(ParseFailure::Empty {
                        offset: reader.get_ref().input_offset(reader.buffer_position()),
                    });
                }
                if depth > 0 {
                    return Err(ParseFailure::Syntax {
                        offset: reader.get_ref().input_offset(reader.buffer_position()),
                        message: format!("unexpected end of file: {depth} element(s) not closed (a truncated report?)"),
                    });
                }
                return Ok(());
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
        buf.clear();
    }
}

fn check_root<R: Read>(
    root_seen: &mut bool,
    e: &BytesStart<'_>,
    reader: &Reader<Capped<R>>,
) -> Result<(), ParseFailure> {
    if *root_seen {
        return Ok(());
    }
    *root_seen = true;
    let name = e.local_name();
    match name.as_ref() {
        "testsuites" | "testsuite" => Ok(()),
        other => {
            // The start tag has just been read: it began at the last '<' before this point.
            let end = reader.buffer_position();
            let len = e.len() as u64 + 2;
            let offset = reader.get_ref().input_offset(end.saturating_sub(len + 1));
            Err(ParseFailure::NotJunit {
                root: other.to_string(),
                offset,
            })
        }
    }
}

fn syntax<R: Read>(reader: &Reader<Capped<R>>, e: quick_xml::Error) -> ParseFailure {
    let capped = reader.get_ref();
    if let quick_xml::Error::Io(io) = &e {
        if let Some(c) = io.get_ref().and_then(|x| x.downcast_ref::<CappedError>()) {
            return ParseFailure::Syntax {
                offset: capped.input_offset(c.filtered_offset),
                message: c.message.clone(),
            };
        }
        return ParseFailure::Io(io.to_string());
    }
    ParseFailure::Syntax {
        offset: capped.input_offset(reader.error_position()),
        message: e.to_string(),
    }
}

/// Resolves the predefined entities and character references of an attribute value; any
/// other reference (a DOCTYPE entity) is kept as written, never expanded.
fn unescape(raw: &str) -> std::borrow::Cow<'_, str> {
    if !raw.contains('&') {
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

    /// Reads an attribute value, unescaped and clipped to `limit`.
    fn attr(&mut self, raw: &str, limit: usize) -> (String, bool) {
        let value = unescape(raw);
        let (v, cut) = clip(&value, limit);
        if cut {
            self.clipped += 1;
        }
        (v.to_string(), cut)
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
                    self.clues.root_name(&unescape(&n));
                }
            }
            "testsuite" => {
                let (mut suite_name, mut has_file, mut has_assertions) = (None, false, false);
                let mut declared = 0;
                for a in e.attributes().with_checks(false).flatten() {
                    match a.key.local_name().as_ref() {
                        "name" => suite_name = Some(self.attr(&a.value, NAME_LIMIT).0),
                        "tests" => declared = a.value.trim().parse().unwrap_or(0),
                        "file" => has_file = true,
                        "assertions" => has_assertions = true,
                        _ => {}
                    }
                }
                let name: Arc<str> = match suite_name {
                    Some(n) if !n.is_empty() => n.into(),
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
                    let d = self.clues.suite_property(&unescape(&n), current);
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
        for a in e.attributes().with_checks(false).flatten() {
            match a.key.local_name().as_ref() {
                "name" => draft.name = self.attr(&a.value, NAME_LIMIT).0.into_boxed_str(),
                "classname" | "class" => {
                    let v = self.attr(&a.value, NAME_LIMIT).0;
                    draft.classname = Some(intern(&mut self.last_classname, v));
                }
                "file" | "filepath" => {
                    let v = self.attr(&a.value, NAME_LIMIT).0;
                    if !v.is_empty() {
                        draft.file = Some(intern(&mut self.last_file, v));
                    }
                }
                "line" | "lineno" => draft.line = a.value.trim().parse().ok(),
                "time" => {
                    let (ms, clamped) = parse_seconds(&a.value);
                    draft.duration_ms = ms;
                    self.clamped += u64::from(clamped);
                }
                "status" => {
                    let v = a.value.trim().to_ascii_lowercase();
                    if matches!(
                        v.as_str(),
                        "disabled" | "ignored" | "skipped" | "notrun" | "not run" | "pending"
                    ) {
                        draft.not_run = true;
                    }
                }
                "result" => {
                    let v = a.value.trim().to_ascii_lowercase();
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
            for a in e.attributes().with_checks(false).flatten() {
                match a.key.local_name().as_ref() {
                    "message" => {
                        let (v, cut) = self.attr(&a.value, MESSAGE_LIMIT);
                        attrs.truncated |= cut;
                        attrs.message = (!v.is_empty()).then(|| v.into_boxed_str());
                    }
                    "type" => {
                        let (v, cut) = self.attr(&a.value, NAME_LIMIT);
                        attrs.truncated |= cut;
                        attrs.kind = (!v.is_empty()).then(|| v.into_boxed_str());
                    }
                    "time" => {
                        let (ms, clamped) = parse_seconds(&a.value);
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
                for a in e.attributes().with_checks(false).flatten() {
                    match a.key.local_name().as_ref() {
                        "name" => pname = Some(self.attr(&a.value, NAME_LIMIT).0),
                        "value" => value = Some(self.attr(&a.value, NAME_LIMIT).0),
                        _ => {}
                    }
                }
                let Some(pname) = pname else { return };
                let mut text = Bounded::new(NAME_LIMIT, Keep::Head);
                if let Some(v) = value {
                    text.push(&v);
                }
                self.property = Some((pname.into_boxed_str(), text));
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
                draft.file = Some(intern(&mut self.last_file, loc.file));
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
        self.out.push(case);
    }
}

fn intern(last: &mut Option<Arc<str>>, value: String) -> Arc<str> {
    match last {
        Some(prev) if **prev == *value => prev.clone(),
        _ => {
            let a: Arc<str> = value.into();
            *last = Some(a.clone());
            a
        }
    }
}

fn attr_raw<'a>(e: &'a BytesStart<'_>, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.local_name().as_ref() == key)
        .map(|a| a.value)
}
