//! The JSON form of one [`TestCase`], written field by field: the bytes serde's derive gives
//! under [`Serializer`] (the equality is tested in `json::tests`), without serde's per-field
//! calls and without escaping the constant keys. A report can hold millions of cases, and
//! this is most of the JSON writer's work. Rare parts (failure details, properties) still go
//! through serde.

use std::io::Write;

use serde::Serialize;

use super::{write_str, write_u64, Error, Serializer};
use crate::model::TestCase;

/// Appends `case` as a JSON object to the serializer's buffer.
pub(super) fn write_case<W: Write>(ser: &mut Serializer<W>, case: &TestCase) -> Result<(), Error> {
    let out = &mut ser.buf;
    out.extend_from_slice(b"{\"id\":\"");
    out.extend_from_slice(&case.id.hex());
    out.extend_from_slice(b"\",\"suite\":");
    write_str(out, &case.suite);
    out.extend_from_slice(b",\"classname\":");
    match &case.classname {
        Some(c) => write_str(out, c),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"name\":");
    write_str(out, &case.name);
    if let Some(file) = &case.file {
        out.extend_from_slice(b",\"file\":");
        write_str(out, file);
    }
    if let Some(line) = case.line {
        out.extend_from_slice(b",\"line\":");
        write_u64(out, u64::from(line));
    }
    out.extend_from_slice(b",\"outcome\":\"");
    out.extend_from_slice(case.outcome.as_str().as_bytes());
    out.extend_from_slice(if case.flaky {
        b"\",\"flaky\":true,\"duration_ms\":"
    } else {
        b"\",\"flaky\":false,\"duration_ms\":"
    });
    write_u64(out, case.duration_ms);
    out.extend_from_slice(b",\"attempts\":[");
    for (i, attempt) in case.attempts.iter().enumerate() {
        let out = &mut ser.buf;
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"outcome\":\"");
        out.extend_from_slice(attempt.outcome.as_str().as_bytes());
        out.extend_from_slice(b"\",\"duration_ms\":");
        write_u64(out, attempt.duration_ms);
        if let Some(details) = &attempt.details {
            out.extend_from_slice(b",\"details\":");
            details.serialize(&mut *ser)?;
        }
        ser.buf.push(b'}');
    }
    ser.buf.push(b']');
    if !case.properties.is_empty() {
        ser.buf.extend_from_slice(b",\"properties\":");
        case.properties.serialize(&mut *ser)?;
    }
    ser.buf.push(b'}');
    Ok(())
}
