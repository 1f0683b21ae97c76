//! Compact binary forms stored next to the relational rows.
//!
//! - The **report** (`run_reports.report`): the report's JSON, compressed (about 10× smaller
//!   for a typical report), behind a one-byte codec tag: `1` raw deflate (the report
//!   serialised again, or an uncompressed post deflated once), `2` gzip (the posted body
//!   itself, kept as is: no re-serialisation, no second compression). Readers decode both.
//! - The **test outcomes of a run** (`run_tests_packed.tests`): 9 bytes per test — the id
//!   (big-endian `i64`) and a code (bits 0–1 the outcome, bit 2 flaky) — sorted by id,
//!   behind a one-byte version. `test_stats` reads one such value per run of the window
//!   instead of one row per test result: 100 values instead of 1 M rows for the benchmark's
//!   window, which is what keeps `GET /api/v1/tests` fast. `test_results` keeps one row per
//!   test result for `test_history` and for SQL users.

use std::io::Read;

use flate2::read::{DeflateDecoder, GzDecoder};
use flate2::write::DeflateEncoder;
use flate2::Compression;
use serde::Serialize;

use super::record::TestRecord;
use super::{Posted, StoreError};
use crate::model::TestOutcome;

/// Codec tag of a deflated report.
const DEFLATE: u8 = 1;
/// Codec tag of a report stored as the gzip body it was posted as.
const GZIP: u8 = 2;
/// Version tag of packed test outcomes.
const TESTS_V1: u8 = 1;
const ENTRY: usize = 9;
const FLAKY: u8 = 0b100;

/// The stored form of a report: its JSON (byte for byte `serde_json`'s, written by the
/// faster [`crate::model::json`] writer straight into the compressor, with no JSON text
/// in between).
pub(crate) fn pack_report<T: Serialize + ?Sized>(report: &T) -> Result<Vec<u8>, StoreError> {
    deflated(16 * 1024, |encoder| {
        crate::model::json::to_writer(encoder, report)
    })
}

/// The tag [`DEFLATE`] and what `write` writes, deflated; `capacity` sizes the output.
fn deflated(
    capacity: usize,
    write: impl FnOnce(&mut DeflateEncoder<Vec<u8>>) -> std::io::Result<()>,
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(capacity);
    out.push(DEFLATE);
    let mut encoder = DeflateEncoder::new(out, Compression::fast());
    write(&mut encoder)
        .and_then(|()| encoder.finish())
        .map_err(|e| StoreError::Query(format!("compressing the report: {e}")))
}

/// The stored form of a report from the body it was posted as: a gzip body is kept as is,
/// a plain JSON body is deflated once.
pub(crate) fn pack_posted(posted: Posted<'_>) -> Result<Vec<u8>, StoreError> {
    match posted {
        Posted::Gzip(body) => {
            let mut out = Vec::with_capacity(body.len() + 1);
            out.push(GZIP);
            out.extend_from_slice(body);
            Ok(out)
        }
        Posted::Json(json) => deflated(json.len() / 8 + 64, |encoder| {
            std::io::Write::write_all(encoder, json)
        }),
    }
}

/// The JSON text of a stored report.
pub(crate) fn unpack_report(stored: &[u8]) -> Result<String, StoreError> {
    let failed =
        |e: std::io::Error| StoreError::Query(format!("decompressing a stored report: {e}"));
    match stored.split_first() {
        Some((&DEFLATE, deflated)) => {
            let mut json = String::with_capacity(deflated.len() * 10);
            DeflateDecoder::new(deflated)
                .read_to_string(&mut json)
                .map_err(failed)?;
            Ok(json)
        }
        Some((&GZIP, gzip)) => {
            // The same decoder as the ingest's (`server::ingest::gunzip`): the same text.
            let mut json = String::with_capacity(gzip.len() * 10);
            GzDecoder::new(gzip)
                .read_to_string(&mut json)
                .map_err(failed)?;
            Ok(json)
        }
        _ => Err(StoreError::Query(
            "a stored report has an unknown encoding".into(),
        )),
    }
}

fn code(outcome: TestOutcome, flaky: bool) -> u8 {
    let o = match outcome {
        TestOutcome::Passed => 0,
        TestOutcome::Failed => 1,
        TestOutcome::Errored => 2,
        TestOutcome::Skipped => 3,
    };
    o | if flaky { FLAKY } else { 0 }
}

fn outcome(code: u8) -> TestOutcome {
    match code & 0b11 {
        0 => TestOutcome::Passed,
        1 => TestOutcome::Failed,
        2 => TestOutcome::Errored,
        _ => TestOutcome::Skipped,
    }
}

/// The packed outcomes of a run's tests (`tests` sorted by id, as
/// [`TestRecord::of_cases`] makes them).
pub(crate) fn pack_tests(tests: &[TestRecord<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + tests.len() * ENTRY);
    out.push(TESTS_V1);
    for t in tests {
        out.extend_from_slice(&t.test.to_be_bytes());
        out.push(code(t.outcome, t.flaky));
    }
    out
}

/// Calls `each(test, outcome, flaky)` for every entry of packed outcomes.
pub(crate) fn unpack_tests(
    packed: &[u8],
    mut each: impl FnMut(i64, TestOutcome, bool),
) -> Result<(), StoreError> {
    let bad = || StoreError::Query("malformed packed test outcomes in the store".into());
    let (&version, entries) = packed.split_first().ok_or_else(bad)?;
    if version != TESTS_V1 || entries.len() % ENTRY != 0 {
        return Err(bad());
    }
    for entry in entries.chunks_exact(ENTRY) {
        let mut id = [0u8; 8];
        id.copy_from_slice(&entry[..8]);
        each(
            i64::from_be_bytes(id),
            outcome(entry[8]),
            entry[8] & FLAKY != 0,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_smaller() {
        let report =
            serde_json::json!({"cases": vec![serde_json::json!({"name": "a test ✓"}); 500]});
        let json = serde_json::to_string(&report).unwrap();
        let packed = pack_report(&report).unwrap();
        assert!(packed.len() * 10 < json.len(), "{}", packed.len());
        assert_eq!(unpack_report(&packed).unwrap(), json);
        assert!(unpack_report(&[]).is_err());
        assert!(unpack_report(&[9, 1, 2]).is_err());
        assert!(unpack_report(&[DEFLATE, 0xff, 0xff]).is_err());
        assert!(unpack_report(&[GZIP, 0x1f, 0x8b, 0xff]).is_err());
    }

    #[test]
    fn posted_bodies_are_stored_readably() {
        let json =
            serde_json::to_string(&serde_json::json!({"cases": vec!["a test ✓"; 500]})).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        std::io::Write::write_all(&mut gz, json.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();

        let stored = pack_posted(Posted::Gzip(&gz)).unwrap();
        assert_eq!((stored[0], &stored[1..]), (GZIP, gz.as_slice()));
        assert_eq!(unpack_report(&stored).unwrap(), json);

        let stored = pack_posted(Posted::Json(json.as_bytes())).unwrap();
        assert_eq!(stored[0], DEFLATE);
        assert!(stored.len() * 10 < json.len(), "{}", stored.len());
        assert_eq!(unpack_report(&stored).unwrap(), json);
    }

    #[test]
    fn test_outcomes_round_trip() {
        let record = |test, outcome, flaky| TestRecord {
            test,
            suite: "",
            classname: None,
            name: "",
            outcome,
            flaky,
            attempts: 1,
            duration_ms: 0,
        };
        let tests = [
            record(i64::MIN, TestOutcome::Passed, true),
            record(-1, TestOutcome::Failed, false),
            record(0, TestOutcome::Errored, false),
            record(i64::MAX, TestOutcome::Skipped, false),
        ];
        let packed = pack_tests(&tests);
        assert_eq!(packed.len(), 1 + 4 * ENTRY);
        let mut seen = Vec::new();
        unpack_tests(&packed, |t, o, f| seen.push((t, o, f))).unwrap();
        let want: Vec<_> = tests.iter().map(|t| (t.test, t.outcome, t.flaky)).collect();
        assert_eq!(seen, want);
        assert!(unpack_tests(&packed[..packed.len() - 1], |_, _, _| {}).is_err());
        assert!(unpack_tests(&[], |_, _, _| {}).is_err());
        assert!(unpack_tests(&[2], |_, _, _| {}).is_err());
    }
}
