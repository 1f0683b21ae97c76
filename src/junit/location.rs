//! Finds a failing test's source file and line in its stack trace when the report has no
//! `file`/`line` attributes.
//!
//! Recognised frames (first match wins, searched in the first lines of the trace):
//! - JVM: `at pkg.Class.method(Class.java:42)` for a frame of the test's own class;
//! - Python: `File "tests/test_x.py", line 12, in test_x` (the last frame in a test file);
//! - JavaScript: `at fn (/src/foo.test.ts:12:5)` / `at /src/foo.test.ts:12:5`, outside
//!   `node_modules` and `node:` internals;
//! - Go: `foo_test.go:42: message`;
//! - Rust: `panicked at src/lib.rs:10:5`.

/// How far into a trace frames are looked for.
const SCAN_LIMIT: usize = 8 * 1024;

/// A source location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as the trace names it.
    pub file: String,
    /// 1-based line.
    pub line: u32,
}

/// Finds the location of the failure of a test of `classname` in `trace`.
pub fn find(trace: &str, classname: Option<&str>) -> Option<Location> {
    let trace = &trace[..floor(trace, SCAN_LIMIT)];
    jvm(trace, classname)
        .or_else(|| python(trace))
        .or_else(|| rust(trace))
        .or_else(|| go(trace))
        .or_else(|| javascript(trace))
}

fn floor(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn jvm(trace: &str, classname: Option<&str>) -> Option<Location> {
    let class = classname?;
    for line in trace.lines() {
        let Some(frame) = line.trim_start().strip_prefix("at ") else {
            continue;
        };
        let Some(open) = frame.find('(') else {
            continue;
        };
        let method = &frame[..open];
        let Some(dot) = method.rfind('.') else {
            continue;
        };
        let frame_class = &method[..dot];
        let own = frame_class == class
            || frame_class
                .strip_prefix(class)
                .is_some_and(|rest| rest.starts_with('$'));
        if !own {
            continue;
        }
        let inside = frame[open + 1..].trim_end().trim_end_matches(')');
        let (file, line_no) = inside.rsplit_once(':')?;
        let line_no = line_no.parse().ok()?;
        // Surefire gives the bare file name: put it under the package directory.
        let file = match class.rfind('.') {
            Some(p) if !file.contains('/') => format!("{}/{}", class[..p].replace('.', "/"), file),
            _ => file.to_string(),
        };
        return Some(Location {
            file,
            line: line_no,
        });
    }
    None
}

fn python(trace: &str) -> Option<Location> {
    let mut found = None;
    for line in trace.lines() {
        let Some(rest) = line.trim_start().strip_prefix("File \"") else {
            continue;
        };
        let Some((file, after)) = rest.split_once('"') else {
            continue;
        };
        let Some(num) = after
            .trim_start_matches(',')
            .trim_start()
            .strip_prefix("line ")
        else {
            continue;
        };
        let digits: String = num.chars().take_while(char::is_ascii_digit).collect();
        let Ok(n) = digits.parse() else { continue };
        let base = file.rsplit('/').next().unwrap_or(file);
        let is_test =
            base.starts_with("test_") || base.ends_with("_test.py") || file.contains("/tests/");
        if is_test || found.is_none() {
            found = Some(Location {
                file: file.to_string(),
                line: n,
            });
        }
    }
    found
}

fn rust(trace: &str) -> Option<Location> {
    let at = trace.find("panicked at ")?;
    let rest = &trace[at + "panicked at ".len()..];
    let spot = rest.split([',', '\n', ' ']).next()?.trim_end_matches(':');
    file_line(spot)
}

fn go(trace: &str) -> Option<Location> {
    trace.lines().find_map(|line| {
        let t = line.trim_start();
        let end = t.find(".go:")? + 3;
        let file = &t[..end];
        if file.contains(' ') || !file.ends_with("_test.go") {
            return None;
        }
        let digits: String = t[end + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Some(Location {
            file: file.to_string(),
            line: digits.parse().ok()?,
        })
    })
}

fn javascript(trace: &str) -> Option<Location> {
    trace.lines().find_map(|line| {
        let frame = line.trim_start().strip_prefix("at ")?;
        let spot = match (frame.rfind('('), frame.ends_with(')')) {
            (Some(open), true) => &frame[open + 1..frame.len() - 1],
            _ => frame,
        };
        if spot.contains("node_modules")
            || spot.starts_with("node:")
            || spot.starts_with("internal/")
        {
            return None;
        }
        let spot = spot.strip_prefix("file://").unwrap_or(spot);
        // path:line:column
        let (path_line, col) = spot.rsplit_once(':')?;
        col.parse::<u32>().ok()?;
        file_line(path_line)
    })
}

fn file_line(spot: &str) -> Option<Location> {
    let (file, line) = spot.rsplit_once(':')?;
    let (file, line) = match line.parse::<u32>() {
        Ok(l) => (file, l),
        // path:line:col
        Err(_) => return None,
    };
    if file.is_empty() {
        return None;
    }
    // `src/lib.rs:10:5` was split at the column: look one further.
    if let Some((f, l)) = file.rsplit_once(':') {
        if let Ok(l) = l.parse::<u32>() {
            return Some(Location {
                file: f.to_string(),
                line: l,
            });
        }
    }
    Some(Location {
        file: file.to_string(),
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(file: &str, line: u32) -> Option<Location> {
        Some(Location {
            file: file.into(),
            line,
        })
    }

    #[test]
    fn frames_of_each_language_are_found() {
        let table: [(&str, Option<&str>, Option<Location>); 8] = [
            (
                "java.lang.AssertionError: boom\n\tat org.junit.Assert.fail(Assert.java:88)\n\tat com.acme.CalcTest.adds(CalcTest.java:42)\n",
                Some("com.acme.CalcTest"),
                loc("com/acme/CalcTest.java", 42),
            ),
            (
                "\tat com.acme.CalcTest$Inner.x(CalcTest.java:7)",
                Some("com.acme.CalcTest"),
                loc("com/acme/CalcTest.java", 7),
            ),
            ("\tat other.Thing.x(Thing.java:7)", Some("com.acme.CalcTest"), None),
            (
                "Traceback (most recent call last):\n  File \"/usr/lib/python3/x.py\", line 3, in f\n  File \"tests/test_calc.py\", line 12, in test_add\n    assert 1 == 2\n",
                None,
                loc("tests/test_calc.py", 12),
            ),
            (
                "thread 'tests::adds' panicked at src/calc.rs:10:5:\nassertion failed",
                None,
                loc("src/calc.rs", 10),
            ),
            ("    calc_test.go:42: got 3, want 4", None, loc("calc_test.go", 42)),
            (
                "Error: expect(received)\n    at Object.<anonymous> (/home/runner/work/app/src/calc.test.ts:12:5)\n    at node:internal/x:1:1",
                None,
                loc("/home/runner/work/app/src/calc.test.ts", 12),
            ),
            ("    at /app/node_modules/jest/x.js:1:1", None, None),
        ];
        for (trace, class, want) in table {
            assert_eq!(find(trace, class), want, "{trace}");
        }
    }
}
