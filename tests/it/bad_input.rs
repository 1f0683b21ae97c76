//! Bad input: every broken report gives a clear message naming the file (and line/column),
//! nothing crashes, and the other reports of the run are still counted.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde_json::Value;

use super::common::{fixture, report_json};

const GOOD: &str = "reports/test-reporter/__tests__/fixtures/external/java/junit4-basic.xml";

/// Runs `report` on the good file plus `bad.xml` (written by `write`), returns the report
/// and stderr after checking that the good file's six tests are there.
fn run_with_bad(write: impl FnOnce(&Path)) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(fixture(GOOD), dir.path().join("good.xml")).unwrap();
    write(&dir.path().join("bad.xml"));
    let (report, stderr, code) = report_json(dir.path(), &[], &["--junit", "*.xml"]);
    assert_eq!(code, 0, "a reporter problem never fails the job: {stderr}");
    let good = report["tests"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "good.xml")
        .unwrap();
    assert_eq!(good["tests"], 6, "the good report still counts");
    (report, stderr)
}

fn bad_file(report: &Value) -> &Value {
    report["tests"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "bad.xml")
        .unwrap()
}

fn bad_error(report: &Value) -> String {
    bad_file(report)["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error for bad.xml: {report}"))
        .to_string()
}

#[test]
fn empty_file() {
    let (report, stderr) = run_with_bad(|p| fs::write(p, "").unwrap());
    let err = bad_error(&report);
    assert!(err.contains("bad.xml:1:1: empty file"), "{err}");
    assert!(stderr.contains("empty file"), "{stderr}");
    assert_eq!(report["tests"]["summary"]["total"], 6);
}

#[test]
fn truncated_xml_names_line_and_column() {
    let (report, _) = run_with_bad(|p| {
        fs::write(p, "<testsuite name=\"s\">\n  <testcase name=\"a\"/>\n  <testcase name=\"b\">\n    <failure message=\"x\">tra").unwrap()
    });
    let err = bad_error(&report);
    assert!(err.contains("bad.xml:4:"), "{err}");
    assert!(
        err.contains("not closed") || err.contains("not well-formed"),
        "{err}"
    );
    assert_eq!(
        bad_file(&report)["tests"],
        0,
        "a broken file is rejected whole"
    );
}

#[test]
fn nul_bytes() {
    let (report, _) = run_with_bad(|p| {
        fs::write(
            p,
            b"<testsuite>\n<testcase name=\"a\">\0\0\0</testcase></testsuite>",
        )
        .unwrap()
    });
    let err = bad_error(&report);
    assert!(
        err.contains("bad.xml:2:20:") && err.contains("NUL"),
        "{err}"
    );
}

#[test]
fn a_tag_of_a_million_attributes_is_refused_with_its_line() {
    // 2 MiB of attributes in one start tag: larger than the parser ever buffers for a tag.
    let (report, _) = run_with_bad(|p| {
        let mut f = fs::File::create(p).unwrap();
        f.write_all(b"<testsuite name=\"s\">\n  <testcase name=\"a\"/>\n  <testcase")
            .unwrap();
        for i in 0..200_000 {
            write!(f, " a{i}=\"x\"").unwrap();
        }
        f.write_all(b"/>\n</testsuite>\n").unwrap();
    });
    let err = bad_error(&report);
    assert!(
        err.contains("bad.xml:3:") && err.contains("tag longer than"),
        "{err}"
    );
    assert_eq!(bad_file(&report)["tests"], 0);
}

#[test]
fn invalid_utf8_is_replaced_and_reported() {
    let (report, stderr) = run_with_bad(|p| {
        fs::write(
            p,
            b"<testsuite><testcase classname=\"c\" name=\"caf\xe9\"/></testsuite>",
        )
        .unwrap()
    });
    assert!(bad_file(&report)["error"].is_null());
    assert_eq!(bad_file(&report)["tests"], 1);
    let names: Vec<&str> = report["tests"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(names.contains(&"caf?"), "{names:?}");
    assert!(
        stderr.contains("bad.xml") && stderr.contains("invalid UTF-8"),
        "{stderr}"
    );
}

#[test]
fn doctype_entities_are_never_expanded_nor_fetched() {
    let secret = tempfile::NamedTempFile::new().unwrap();
    fs::write(secret.path(), "TOP-SECRET-CONTENT").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let secret_path = secret.path().display().to_string();
    let (report, _) = run_with_bad(|p| {
        let doc = format!(
            r#"<?xml version="1.0"?>
<!DOCTYPE testsuite [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY file SYSTEM "file://{secret_path}">
  <!ENTITY net SYSTEM "http://127.0.0.1:{port}/x">
]>
<testsuite name="xxe"><testcase classname="c" name="a &file; &net; &lol3;"><failure message="&file;">&file;&net;&lol3;</failure></testcase></testsuite>"#
        );
        fs::write(p, doc).unwrap();
    });
    let text = report.to_string();
    assert!(
        !text.contains("TOP-SECRET-CONTENT"),
        "an external entity was expanded"
    );
    assert!(!text.contains("lollol"), "an internal entity was expanded");
    let name = report["tests"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["suite"] == "xxe")
        .unwrap()["name"]
        .clone();
    assert_eq!(
        name, "a &file; &net; &lol3;",
        "references are kept as written"
    );
    assert!(listener.accept().is_err(), "nothing may be fetched");
}

#[test]
fn a_ten_megabyte_message_is_cut_and_flagged() {
    let (report, _) = run_with_bad(|p| {
        let mut f = fs::File::create(p).unwrap();
        write!(
            f,
            "<testsuite name=\"s\"><testcase classname=\"c\" name=\"big\"><failure message=\""
        )
        .unwrap();
        f.write_all(&vec![b'm'; 10 * 1024 * 1024]).unwrap();
        write!(f, "\">").unwrap();
        f.write_all(&vec![b's'; 10 * 1024 * 1024]).unwrap();
        write!(f, "</failure></testcase></testsuite>").unwrap();
    });
    let case = report["tests"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "big")
        .unwrap();
    let details = &case["attempts"][0]["details"];
    assert_eq!(details["truncated"], true);
    assert_eq!(
        details["message"].as_str().unwrap().len(),
        cimon::junit::text::MESSAGE_LIMIT
    );
    assert_eq!(
        details["stack_trace"].as_str().unwrap().len(),
        cimon::junit::text::STACK_TRACE_LIMIT
    );
}

#[test]
fn a_one_gibibyte_report_of_captured_output() {
    let (report, _) = run_with_bad(|p| {
        let mut f = std::io::BufWriter::new(fs::File::create(p).unwrap());
        write!(f, "<testsuite name=\"s\"><testcase classname=\"c\" name=\"noisy\"><failure message=\"x\"/><system-out>").unwrap();
        let line = b"INFO some log line that repeats &amp; repeats <![CDATA[ ]]> \xc3\xa9\n";
        let chunk: Vec<u8> = line.iter().copied().cycle().take(1 << 20).collect();
        // Keep the chunk free of a cut CDATA/entity at its end: whole lines only.
        let whole = chunk.len() - chunk.len() % line.len();
        let mut written = 0usize;
        while written < 1 << 30 {
            f.write_all(&chunk[..whole]).unwrap();
            written += whole;
        }
        write!(
            f,
            "</system-out></testcase><testcase classname=\"c\" name=\"after\"/></testsuite>"
        )
        .unwrap();
    });
    assert_eq!(
        bad_file(&report)["tests"],
        2,
        "the case after the huge output is read too"
    );
    let case = report["tests"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "noisy")
        .unwrap();
    let out = case["attempts"][0]["details"]["system_out"]
        .as_str()
        .unwrap();
    assert!(out.len() <= cimon::junit::text::OUTPUT_LIMIT);
    assert_eq!(case["attempts"][0]["details"]["truncated"], true);
}
