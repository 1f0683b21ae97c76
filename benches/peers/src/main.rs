//! Loads a JUnit XML file with the `quick-junit` crate's deserializer
//! (`Report::deserialize_from_str`, the whole file read into a `String` first, as its docs
//! show) and counts the test cases. Exit code 1 and the error on stderr when it rejects the
//! file (quick-junit requires RFC 3339 timestamps with a zone; Surefire writes none).

use std::process::ExitCode;

use quick_junit::Report;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: quick_junit_bench FILE");
        return ExitCode::from(2);
    };
    let xml = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}: {e}", path.to_string_lossy());
            return ExitCode::from(1);
        }
    };
    let report = match Report::deserialize_from_str(&xml) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("quick-junit rejected {}: {e}", path.to_string_lossy());
            return ExitCode::from(1);
        }
    };
    let cases: usize = report.test_suites.iter().map(|s| s.test_cases.len()).sum();
    println!("cases={cases} suites={}", report.test_suites.len());
    ExitCode::SUCCESS
}
