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

/// `text` in UTF-16, little- or big-endian, with or without a byte order mark.
fn utf16(text: &str, le: bool, bom: bool) -> Vec<u8> {
    let mut out = match (bom, le) {
        (false, _) => vec![],
        (true, true) => vec![0xFF, 0xFE],
        (true, false) => vec![0xFE, 0xFF],
    };
    for unit in text.encode_utf16() {
        out.extend_from_slice(&if le {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        });
    }
    out
}

fn case_names(report: &Value, suite: &str) -> Vec<String> {
    report["tests"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["suite"] == suite)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn utf16_and_latin1_reports_are_decoded() {
    let dir = tempfile::tempdir().unwrap();
    // Over 1 MiB, so the two-thread reader decodes it too.
    let mut big =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<testsuite name=\"big\">\n");
    for i in 0..20_000 {
        big.push_str(&format!(
            "  <testcase classname=\"Grüße\" name=\"t{i} 😀\"/>\n"
        ));
    }
    big.push_str("  <testcase classname=\"Grüße\" name=\"fails\"><failure message=\"ß≠ss\"/></testcase>\n</testsuite>\n");
    let big = utf16(&big, true, true);
    assert!(big.len() > 1 << 20);
    fs::write(dir.path().join("le-bom.xml"), &big).unwrap();
    fs::write(
        dir.path().join("be.xml"),
        utf16(
            "<testsuite name=\"be\"><testcase name=\"naïve\"/></testsuite>",
            false,
            false,
        ),
    )
    .unwrap();
    let mut latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<testsuite name=\"l1\"><testcase name=\"caf".to_vec();
    latin1.extend_from_slice(b"\xe9\"/></testsuite>\n");
    fs::write(dir.path().join("latin1.xml"), latin1).unwrap();

    let (report, stderr, code) = report_json(dir.path(), &[], &["--junit", "*.xml"]);
    assert_eq!(code, 0, "{stderr}");
    for f in report["tests"]["files"].as_array().unwrap() {
        assert!(f["error"].is_null(), "{f}");
    }
    assert!(!stderr.contains("replaced"), "nothing was lost: {stderr}");
    let big_names = case_names(&report, "big");
    assert_eq!(big_names.len(), 20_001);
    assert_eq!(big_names[7], "t7 😀");
    let failed = report["tests"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "fails")
        .unwrap();
    assert_eq!(failed["classname"], "Grüße");
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["attempts"][0]["details"]["message"], "ß≠ss");
    assert_eq!(case_names(&report, "be"), ["naïve"]);
    assert_eq!(case_names(&report, "l1"), ["café"]);
    assert_eq!(report["tests"]["summary"]["total"], 20_003);
}

#[test]
fn a_broken_utf16_report_names_the_line_and_column_of_the_text() {
    let (report, _) = run_with_bad(|p| {
        let doc = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<testsuite name=\"ü\">\n  <testcase name=\"ä\">\n  ö</testcas>\n</testsuite>\n";
        fs::write(p, utf16(doc, false, true)).unwrap()
    });
    let err = bad_error(&report);
    // Line 4, column 4 counted in characters, not in UTF-16 bytes.
    assert!(
        err.contains("bad.xml:4:4:") && err.contains("testcas"),
        "{err}"
    );
}

#[test]
fn an_encoding_cimon_cannot_decode_is_named_and_the_rest_is_read() {
    let (report, stderr) = run_with_bad(|p| {
        let mut doc = b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>\n<testsuite name=\"sj\"><testcase classname=\"c\" name=\"ok\"/><testcase name=\"".to_vec();
        doc.extend_from_slice(b"\x83e\x83X\x83g\"/></testsuite>");
        fs::write(p, doc).unwrap()
    });
    assert!(bad_file(&report)["error"].is_null());
    assert_eq!(bad_file(&report)["tests"], 2);
    assert!(case_names(&report, "sj").contains(&"ok".to_string()));
    assert!(
        stderr.contains("bad.xml: the declared encoding \"Shift_JIS\" is not one cimon decodes"),
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
