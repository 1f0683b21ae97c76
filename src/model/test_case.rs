//! Test results: one [`TestCase`] per test after retries are folded, its attempts, and the
//! per-file bookkeeping of the reports they came from.
//!
//! Layout matters here: a report can hold millions of cases, so a case keeps shared strings
//! (`suite`, `classname`, `file`) behind `Arc<str>`, a single attempt inline, and failure
//! details behind one pointer that passing attempts leave empty.

use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use smallvec::SmallVec;

use super::TestOutcome;

/// Every test of a run, with the files they were read from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestResults {
    /// Counts over `cases`.
    pub summary: TestSummary,
    /// One entry per test (retries folded into `attempts`).
    #[serde(serialize_with = "super::json::serialize_cases")]
    pub cases: Vec<TestCase>,
    /// The report files that were read, with what each gave or why it failed.
    pub files: Vec<ReportFile>,
}

/// Counts of tests by final outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TestSummary {
    /// Number of tests (`passed + failed + errored + skipped`).
    pub total: u64,
    /// Tests whose final attempt passed (flaky ones included).
    pub passed: u64,
    /// Tests whose final attempt failed an assertion.
    pub failed: u64,
    /// Tests whose final attempt errored.
    pub errored: u64,
    /// Tests skipped, disabled or ignored.
    pub skipped: u64,
    /// Tests that failed and then passed on a retry within this run.
    pub flaky: u64,
    /// Sum of every attempt's duration, in milliseconds.
    pub duration_ms: u64,
}

impl TestSummary {
    /// Counts `cases`.
    pub fn of(cases: &[TestCase]) -> Self {
        let mut s = Self::default();
        for case in cases {
            s.add(case);
        }
        s
    }

    /// Adds one case to the counts.
    pub fn add(&mut self, case: &TestCase) {
        self.total += 1;
        match case.outcome {
            TestOutcome::Passed => self.passed += 1,
            TestOutcome::Failed => self.failed += 1,
            TestOutcome::Errored => self.errored += 1,
            TestOutcome::Skipped => self.skipped += 1,
        }
        self.flaky += u64::from(case.flaky);
        self.duration_ms = self.duration_ms.saturating_add(case.duration_ms);
    }
}

/// A stable test identity: the first 64 bits of SHA-256 over repository, suite, classname and
/// name (separated by U+001F), written as 16 lowercase hex digits. Never derived from
/// timings, messages or file paths, so history can join on it across runs.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TestId(pub u64);

impl TestId {
    /// Derives the identity of a test.
    pub fn derive(repository: &str, suite: &str, classname: &str, name: &str) -> Self {
        let mut h = Sha256::new();
        for (i, part) in [repository, suite, classname, name].iter().enumerate() {
            if i > 0 {
                h.update([0x1f]);
            }
            h.update(part.as_bytes());
        }
        Self::from_digest(&h.finalize())
    }
}

impl TestId {
    /// Sets the `id` of every case to [`TestId::derive`] of `repository` and the case.
    ///
    /// Same result as calling `derive` per case, faster on large reports: cases of one class
    /// share the hash state of `repository␟suite␟classname␟`, and large slices are split
    /// between two threads.
    pub fn assign(repository: &str, cases: &mut [TestCase]) {
        const PARALLEL_FROM: usize = 20_000;
        if cases.len() < PARALLEL_FROM {
            Self::assign_serial(repository, cases);
            return;
        }
        let (left, right) = cases.split_at_mut(cases.len() / 2);
        std::thread::scope(|s| {
            s.spawn(|| Self::assign_serial(repository, right));
            Self::assign_serial(repository, left);
        });
    }

    fn assign_serial(repository: &str, cases: &mut [TestCase]) {
        let mut prefix: Option<(Arc<str>, Option<Arc<str>>, Sha256)> = None;
        for case in cases {
            let reuse = matches!(&prefix, Some((suite, classname, _))
                if *suite == case.suite && *classname == case.classname);
            if !reuse {
                let mut h = Sha256::new();
                h.update(repository.as_bytes());
                h.update([0x1f]);
                h.update(case.suite.as_bytes());
                h.update([0x1f]);
                h.update(case.classname.as_deref().unwrap_or("").as_bytes());
                h.update([0x1f]);
                prefix = Some((case.suite.clone(), case.classname.clone(), h));
            }
            if let Some((_, _, h)) = &prefix {
                let mut h = h.clone();
                h.update(case.name.as_bytes());
                case.id = Self::from_digest(&h.finalize());
            }
        }
    }

    fn from_digest(digest: &[u8]) -> Self {
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Self(u64::from_be_bytes(first))
    }
}

impl fmt::Display for TestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for TestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TestId({self})")
    }
}

impl TestId {
    /// The 16 lowercase hex digits, without going through `fmt`.
    pub(crate) fn hex(self) -> [u8; 16] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = HEX[((self.0 >> (60 - 4 * i)) & 0xf) as usize];
        }
        out
    }
}

impl Serialize for TestId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex = self.hex();
        // The digits are ASCII: this never fails.
        s.serialize_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

impl<'de> Deserialize<'de> for TestId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if text.len() != 16 {
            return Err(serde::de::Error::custom("a test id has 16 hex digits"));
        }
        u64::from_str_radix(&text, 16)
            .map(Self)
            .map_err(|_| serde::de::Error::custom("a test id has 16 hex digits"))
    }
}

impl JsonSchema for TestId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TestId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9a-f]{16}$",
            "description": "Stable test identity: 64 bits of SHA-256 over repository, suite, classname and name, in hex."
        })
    }
}

/// The attempts of a test; one inline, more on the heap.
pub type Attempts = SmallVec<[Attempt; 1]>;

/// One test, with its retries folded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TestCase {
    /// Stable identity (see [`TestId`]).
    pub id: TestId,
    /// The innermost `<testsuite>` name ("" when the report has none).
    #[schemars(with = "String")]
    pub suite: Arc<str>,
    /// The `classname` attribute, when present.
    #[schemars(with = "Option<String>")]
    pub classname: Option<Arc<str>>,
    /// The test's name.
    #[schemars(with = "String")]
    pub name: Box<str>,
    /// The source file, from the `file` attribute or the stack trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub file: Option<Arc<str>>,
    /// The line in `file`, from the `line` attribute or the stack trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The outcome of the final attempt.
    pub outcome: TestOutcome,
    /// True when an attempt failed and a later one passed, within this run.
    pub flaky: bool,
    /// Sum of the attempts' durations, in milliseconds.
    pub duration_ms: u64,
    /// Every execution, in order; the last one decides `outcome`.
    #[schemars(with = "Vec<Attempt>", length(min = 1))]
    pub attempts: Attempts,
    /// `<property>` elements of the test case.
    #[serde(default, skip_serializing_if = "<[Property]>::is_empty")]
    #[schemars(with = "Vec<Property>")]
    pub properties: Box<[Property]>,
}

/// One execution of a test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Attempt {
    /// The attempt's outcome.
    pub outcome: TestOutcome,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Message, stack trace and output of a failed, errored or skipped attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<Details>>,
}

/// What a failed, errored or skipped attempt reported. Every text is truncated to a
/// documented size (`docs/report-format.md`); `truncated` says whether anything was cut.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Details {
    /// The `message` attribute (the skip reason for a skipped test).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Box<str>>,
    /// The `type` attribute (often the exception class).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<Box<str>>,
    /// The element's text: usually the stack trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<Box<str>>,
    /// Captured standard output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_out: Option<Box<str>>,
    /// Captured standard error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_err: Option<Box<str>>,
    /// True when any text above was cut to its size limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// A `<property name value>` of a test case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Property {
    /// The property's name.
    pub name: Box<str>,
    /// Its value (the element's text when it has no `value` attribute).
    pub value: Box<str>,
}

/// One test report file that was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReportFile {
    /// The path as found (relative to the working directory when it was matched by a glob).
    pub path: String,
    /// The producer's dialect, as detected (`surefire`, `pytest`, `jest`, `nextest`, `go`, …).
    pub dialect: String,
    /// Test cases this file contributed (after folding).
    pub tests: u64,
    /// Why the file was rejected or only partly read, with line and column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_id_is_stable_and_includes_every_part() {
        let a = TestId::derive("octo/app", "suite", "pkg.Class", "test");
        assert_eq!(a, TestId::derive("octo/app", "suite", "pkg.Class", "test"));
        assert_ne!(a, TestId::derive("octo/app", "other", "pkg.Class", "test"));
        assert_ne!(
            a,
            TestId::derive("octo/other", "suite", "pkg.Class", "test")
        );
        // The separator keeps parts from sliding into each other.
        assert_ne!(
            TestId::derive("r", "ab", "c", "d"),
            TestId::derive("r", "a", "bc", "d")
        );
        let text = a.to_string();
        assert_eq!(text.len(), 16);
        let back: TestId = serde_json::from_value(serde_json::json!(text)).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn assigning_ids_in_bulk_equals_deriving_each() {
        let mut cases: Vec<TestCase> = (0..50_000u32)
            .map(|i| TestCase {
                id: TestId::default(),
                suite: format!("suite{}", i / 1000).into(),
                classname: (i % 7 != 0).then(|| format!("pkg.C{}", i / 300).into()),
                name: format!("t{i}").into(),
                file: None,
                line: None,
                outcome: TestOutcome::Passed,
                flaky: false,
                duration_ms: 0,
                attempts: Attempts::new(),
                properties: Box::default(),
            })
            .collect();
        TestId::assign("octo/app", &mut cases);
        for c in &cases {
            let want = TestId::derive(
                "octo/app",
                &c.suite,
                c.classname.as_deref().unwrap_or(""),
                &c.name,
            );
            assert_eq!(c.id, want, "{}", c.name);
        }
    }

    #[test]
    fn a_case_stays_small() {
        // Memory per test case is a product promise (BENCHMARKS.md): keep the struct compact.
        assert!(
            std::mem::size_of::<TestCase>() <= 160,
            "{}",
            std::mem::size_of::<TestCase>()
        );
    }
}
