//! The "limit" baseline of BENCHMARKS.md: raw quick-xml event iteration over a file, with
//! no JUnit logic, no text collection and no allocation per event.
//!
//! ```text
//! cargo run --release --example xml_tokenize -- report.xml
//! ```
//!
//! Prints the number of events read. `cimon report` is measured against this loop.

use std::fs::File;
use std::io::BufReader;
use std::process::ExitCode;

use quick_xml::events::Event;
use quick_xml::Reader;

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: xml_tokenize FILE");
        return ExitCode::from(2);
    };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {e}", path.to_string_lossy());
            return ExitCode::from(1);
        }
    };
    let mut reader = Reader::from_reader(BufReader::with_capacity(256 * 1024, file));
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut events = 0u64;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) => break,
            Ok(_) => events += 1,
            Err(e) => {
                eprintln!("at {}: {e}", reader.error_position());
                return ExitCode::from(1);
            }
        }
        buf.clear();
    }
    println!("events={events}");
    ExitCode::SUCCESS
}
