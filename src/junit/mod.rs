//! The JUnit-family test report reader.
//!
//! - [`discover`]: which files to read (`--junit GLOB`, or well-known paths);
//! - [`parser`]: the streaming reader (quick-xml behind [`capped::Capped`]), one pass,
//!   memory bounded by the number of test cases, never by the size of texts;
//! - [`case`]: one `<testcase>` → one [`TestCase`], with retries folded into attempts;
//! - [`dialect`]: which producer wrote a report and what a repeated test case means there;
//! - [`encoding`]: UTF-16 and windows-1252 files turned into UTF-8 before anything reads them;
//! - [`location`]: file/line from stack traces; [`text`]: limits and lenient attributes.
//!
//! A file that is not well-formed is rejected as a whole with its line and column; the
//! other files are still read.

pub mod capped;
pub mod case;
pub mod dialect;
pub mod discover;
pub mod encoding;
pub mod location;
pub mod parser;
mod pipeline;
pub mod text;

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::model::{ReportFile, TestCase};

pub use parser::{ParseFailure, ParseOptions, Parsed};

/// Why one report file could not be read: names the file, and the line and column.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is empty or holds no XML element.
    #[error(
        "{path}:{line}:{column}: empty file (no XML root element); was the test run interrupted?"
    )]
    Empty {
        /// The file.
        path: PathBuf,
        /// 1-based line of the end of the file.
        line: u64,
        /// 1-based column of the end of the file.
        column: u64,
    },
    /// The XML is not well-formed.
    #[error("{path}:{line}:{column}: not well-formed XML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// 1-based column (in characters).
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// Well-formed XML of another format.
    #[error("{path}:{line}:{column}: not a JUnit XML report: the root element is <{root}>{hint}")]
    NotJunit {
        /// The file.
        path: PathBuf,
        /// 1-based line of the root element.
        line: u64,
        /// 1-based column of the root element.
        column: u64,
        /// The root element.
        root: String,
        /// What the format probably is.
        hint: &'static str,
    },
}

impl ReportError {
    /// True when the file is XML of another format (skipped quietly during discovery).
    pub fn is_not_junit(&self) -> bool {
        matches!(self, Self::NotJunit { .. })
    }
}

fn format_hint(root: &str) -> &'static str {
    match root {
        "test-run" | "test-results" => {
            " (NUnit; cimon reads JUnit XML: convert with the NUnit JUnit transform)"
        }
        "assemblies" | "assembly" => " (xUnit.net; use a JUnit logger such as JunitXml.TestLogger)",
        "TestRun" => " (Visual Studio TRX; use a JUnit logger such as JunitXml.TestLogger)",
        "testng-results" => {
            " (TestNG's own format; read the JUnit reports TestNG also writes under junitreports/)"
        }
        _ => "",
    }
}

/// Files at least this large are parsed on two threads.
const PIPELINE_FROM_BYTES: u64 = 1 << 20;

/// Reads one report file, appending its cases to `out` (nothing is appended on error).
pub fn parse_file(
    path: &Path,
    opts: &ParseOptions,
    out: &mut Vec<TestCase>,
) -> Result<Parsed, ReportError> {
    let io_error = |source| ReportError::Io {
        path: path.into(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let len = file.metadata().map_or(0, |m| m.len());
    let (mut input, sniffed) = encoding::open(file).map_err(io_error)?;
    // Large files are read on a second thread (see `parser::parse_pipelined`).
    let parsed = if len >= PIPELINE_FROM_BYTES {
        let utf8_len = sniffed.encoding.utf8_len(len);
        parser::parse_pipelined(&mut input, utf8_len, opts, out)
    } else {
        parser::parse(&mut input, opts, out)
    };
    let parsed = parsed.map(|mut parsed| {
        if let Some(label) = &sniffed.unsupported {
            parsed.warnings.insert(0, format!(
                "the declared encoding {label:?} is not one cimon decodes (UTF-8, UTF-16, ISO-8859-1/windows-1252): read as UTF-8"
            ));
        }
        if input.replaced() > 0 {
            parsed.warnings.push(format!(
                "{} characters of broken {} were replaced with U+FFFD",
                input.replaced(),
                sniffed.encoding.as_str()
            ));
        }
        parsed
    });
    match parsed {
        Ok(parsed) => Ok(parsed),
        Err(ParseFailure::Empty { offset }) => {
            let (line, column) = line_column(path, offset).unwrap_or((1, 1));
            Err(ReportError::Empty {
                path: path.into(),
                line,
                column,
            })
        }
        Err(ParseFailure::Io(message)) => Err(ReportError::Io {
            path: path.into(),
            source: io::Error::other(message),
        }),
        Err(ParseFailure::NotJunit { root, offset }) => {
            let hint = format_hint(&root);
            let (line, column) = line_column(path, offset).unwrap_or((1, 1));
            Err(ReportError::NotJunit {
                path: path.into(),
                line,
                column,
                root,
                hint,
            })
        }
        Err(ParseFailure::Syntax { offset, message }) => {
            let (line, column) = line_column(path, offset).unwrap_or((0, 0));
            Err(ReportError::Syntax {
                path: path.into(),
                line,
                column,
                message,
            })
        }
    }
}

/// What [`parse_files`] found.
#[derive(Debug, Default)]
pub struct ParsedFiles {
    /// One record per file, in order.
    pub files: Vec<ReportFile>,
    /// The files that could not be read.
    pub errors: Vec<ReportError>,
    /// Non-fatal observations, each prefixed with its file.
    pub warnings: Vec<String>,
}

/// Reads every file, in order, into one list of cases and one record per file. Errors are
/// recorded on their file; they never stop the others.
pub fn parse_files(
    paths: &[PathBuf],
    opts: &ParseOptions,
    cases: &mut Vec<TestCase>,
) -> ParsedFiles {
    let mut out = ParsedFiles {
        files: Vec::with_capacity(paths.len()),
        ..ParsedFiles::default()
    };
    for path in paths {
        let shown = path.display().to_string();
        match parse_file(path, opts, cases) {
            Ok(parsed) => {
                out.warnings
                    .extend(parsed.warnings.iter().map(|w| format!("{shown}: {w}")));
                out.files.push(ReportFile {
                    path: shown,
                    dialect: parsed.dialect.as_str().into(),
                    tests: parsed.tests,
                    error: None,
                });
            }
            Err(e) => {
                out.files.push(ReportFile {
                    path: shown,
                    dialect: "unknown".into(),
                    tests: 0,
                    error: Some(e.to_string()),
                });
                out.errors.push(e);
            }
        }
    }
    out
}

/// 1-based line and column (in characters) of a byte offset in a file.
///
/// The offset is one in the file decoded as [`encoding::open`] decodes it, which is also what
/// the parser counts in.
pub fn line_column(path: &Path, offset: u64) -> io::Result<(u64, u64)> {
    let (decoded, _) = encoding::open(File::open(path)?)?;
    let mut reader = BufReader::with_capacity(256 * 1024, decoded);
    let (mut line, mut line_start_bytes) = (1u64, Vec::new());
    let mut pos = 0u64;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() || pos >= offset {
            break;
        }
        let take = chunk.len().min((offset - pos) as usize);
        let part = &chunk[..take];
        match memchr::memrchr(b'\n', part) {
            Some(i) => {
                line += memchr::memchr_iter(b'\n', part).count() as u64;
                line_start_bytes.clear();
                line_start_bytes.extend_from_slice(&part[i + 1..]);
            }
            None => line_start_bytes.extend_from_slice(part),
        }
        if line_start_bytes.len() > 1 << 20 {
            // A very long line: keep counting characters without keeping the bytes.
            let chars = String::from_utf8_lossy(&line_start_bytes).chars().count();
            line_start_bytes.clear();
            line_start_bytes.resize(chars.min(1 << 20), b' ');
        }
        pos += take as u64;
        reader.consume(take);
    }
    let column = String::from_utf8_lossy(&line_start_bytes).chars().count() as u64 + 1;
    Ok((line, column))
}
