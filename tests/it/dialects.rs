//! Retry dialects: attempts and `flaky` per producer (docs/retry-dialects.md).

use std::path::Path;

use cimon::junit::{self, ParseOptions};
use cimon::model::{TestCase, TestOutcome, TestSummary};

use TestOutcome::{Errored, Failed, Passed};

fn parse(file: &str, merge_repeated: bool) -> (Vec<TestCase>, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dialects")
        .join(file);
    let mut cases = Vec::new();
    let opts = ParseOptions {
        merge_repeated,
        ..ParseOptions::default()
    };
    let parsed = junit::parse_file(&path, &opts, &mut cases).unwrap();
    (cases, parsed.dialect.as_str().to_string())
}

fn case<'a>(cases: &'a [TestCase], name: &str) -> &'a TestCase {
    cases
        .iter()
        .find(|c| &*c.name == name)
        .unwrap_or_else(|| panic!("no test {name}"))
}

fn outcomes(c: &TestCase) -> Vec<TestOutcome> {
    c.attempts.iter().map(|a| a.outcome).collect()
}

#[test]
fn surefire_flaky_and_rerun_elements() {
    let (cases, dialect) = parse("surefire-rerun.xml", false);
    assert_eq!(dialect, "surefire");
    assert_eq!(cases.len(), 4);
    let flaky = case(&cases, "addsItem");
    assert_eq!(outcomes(flaky), [Failed, Errored, Passed]);
    assert!(flaky.flaky && flaky.outcome == Passed);
    let first = flaky.attempts[0].details.as_deref().unwrap();
    assert_eq!(first.message.as_deref(), Some("expected:<2> but was:<1>"));
    assert_eq!(first.system_out.as_deref(), Some("attempt 1"));
    assert_eq!(
        (flaky.file.as_deref(), flaky.line),
        (Some("com/acme/CartTest.java"), Some(31))
    );

    let failing = case(&cases, "removesItem");
    assert_eq!(outcomes(failing), [Failed, Failed, Failed]);
    assert!(!failing.flaky && failing.outcome == Failed);
    assert_eq!(
        failing.attempts[2]
            .details
            .as_deref()
            .unwrap()
            .message
            .as_deref(),
        Some("boom a third time")
    );

    let s = TestSummary::of(&cases);
    assert_eq!((s.total, s.passed, s.failed, s.flaky), (4, 3, 1, 1));
}

#[test]
fn nextest_retries_keep_their_own_durations() {
    let (cases, dialect) = parse("nextest-retries.xml", false);
    assert_eq!(dialect, "nextest");
    let adds = case(&cases, "tests::adds");
    assert_eq!(outcomes(adds), [Failed, Passed]);
    assert!(adds.flaky);
    assert_eq!(adds.attempts[0].duration_ms, 120);
    assert_eq!(adds.attempts[1].duration_ms, 300);
    assert_eq!(adds.duration_ms, 420);
    assert_eq!(
        (adds.file.as_deref(), adds.line),
        (Some("src/lib.rs"), Some(10))
    );
    let divides = case(&cases, "tests::divides");
    assert_eq!(outcomes(divides), [Failed, Failed]);
    assert_eq!(divides.outcome, Failed);
    let s = TestSummary::of(&cases);
    assert_eq!((s.total, s.passed, s.failed, s.flaky), (3, 2, 1, 1));
}

#[test]
fn pytest_rerunfailures_repeated_cases_are_attempts() {
    let (cases, dialect) = parse("pytest-rerunfailures.xml", false);
    assert_eq!(dialect, "pytest");
    assert_eq!(cases.len(), 4, "7 <testcase> elements are 4 tests");
    let flaky = case(&cases, "test_flaky");
    assert_eq!(
        outcomes(flaky),
        [Failed, Passed],
        "the bare rerun record was a failure"
    );
    assert!(flaky.flaky);
    let fails = case(&cases, "test_always_fails");
    assert_eq!(outcomes(fails), [Failed, Failed, Failed]);
    assert!(!fails.flaky && fails.outcome == Failed);
    assert!(!case(&cases, "test_stable").flaky);
    let s = TestSummary::of(&cases);
    assert_eq!((s.total, s.passed, s.failed, s.flaky), (4, 3, 1, 1));
}

#[test]
fn jest_invocations_property_counts_attempts() {
    let (cases, dialect) = parse("jest-invocations.xml", false);
    assert_eq!(dialect, "jest");
    let adds = case(&cases, "cart adds an item");
    assert_eq!(outcomes(adds), [Failed, Failed, Passed]);
    assert!(adds.flaky);
    let removes = case(&cases, "cart removes an item");
    assert_eq!(outcomes(removes), [Failed, Failed]);
    assert!(!removes.flaky);
    assert_eq!(removes.line, Some(14));
    assert!(!case(&cases, "cart totals").flaky);
}

#[test]
fn go_reruns_fold_in_the_package_suite() {
    let (cases, dialect) = parse("go-rerun.xml", false);
    assert_eq!(dialect, "go");
    assert_eq!(cases.len(), 3);
    let add = case(&cases, "TestAdd");
    assert_eq!(outcomes(add), [Failed, Passed]);
    assert!(add.flaky);
    assert_eq!(
        (add.file.as_deref(), add.line),
        (Some("cart_test.go"), Some(12))
    );
    let total = case(&cases, "TestTotal");
    assert_eq!(outcomes(total), [Failed, Failed]);
}

#[test]
fn repeated_names_elsewhere_are_separate_tests_unless_asked() {
    let (cases, dialect) = parse("testng-dataprovider.xml", false);
    assert_eq!(dialect, "junit");
    assert_eq!(cases.len(), 3, "data-provider rows are three tests");
    assert!(cases.iter().all(|c| c.attempts.len() == 1 && !c.flaky));
    let s = TestSummary::of(&cases);
    assert_eq!((s.passed, s.failed), (2, 1));
    // --merge-repeated folds them like action-junit-report's checkRetries.
    let (merged, _) = parse("testng-dataprovider.xml", true);
    assert_eq!(merged.len(), 1);
    assert!(merged[0].flaky);
}
