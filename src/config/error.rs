//! [`ConfigError`]: a configuration problem located at file:line:column, shown with the
//! offending source line and a caret; and the unknown-key check with its "did you mean".

use std::fmt;

use serde_json::Value;

/// A configuration problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// `notify.channels[1] (dingtalk): secret_env: ` or empty.
    pub context: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// The source line the error points at (empty when unknown).
    pub source_line: String,
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}{}",
            self.file, self.line, self.col, self.context, self.message
        )?;
        if !self.source_line.trim().is_empty() {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            // The caret sits under the column, counted in characters.
            let caret = " ".repeat(self.col.saturating_sub(1));
            write!(
                f,
                "\n{pad} |\n{number} | {}\n{pad} | {caret}^",
                crate::output::escape::terminal(&self.source_line)
            )?;
        }
        Ok(())
    }
}

/// The `n`-th (1-based) line of `text`, without its line break, secrets redacted.
pub(super) fn source_line(text: &str, n: usize) -> String {
    super::policy::redact_line(text.lines().nth(n.saturating_sub(1)).unwrap_or_default())
}

/// The first key of the document that the schema does not allow, as (JSON pointer of the
/// key, the key, the keys allowed there). Follows `properties`, `items` and local `$ref`s.
pub(super) fn unknown_key(schema: &Value, doc: &Value) -> Option<(String, String, Vec<String>)> {
    walk(schema, schema, doc, String::new())
}

fn resolve<'a>(root: &'a Value, mut node: &'a Value) -> &'a Value {
    for _ in 0..8 {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
                Some(target) => node = target,
                None => return node,
            },
            None => return node,
        }
    }
    node
}

fn walk(
    root: &Value,
    schema: &Value,
    doc: &Value,
    at: String,
) -> Option<(String, String, Vec<String>)> {
    let schema = resolve(root, schema);
    match doc {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object)?;
            let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
            for (key, value) in map {
                let ptr = format!("{at}/{}", super::yaml::escape_token(key));
                match props.get(key) {
                    Some(sub) => {
                        if let Some(found) = walk(root, sub, value, ptr) {
                            return Some(found);
                        }
                    }
                    None if closed => {
                        return Some((ptr, key.clone(), props.keys().cloned().collect()));
                    }
                    None => {}
                }
            }
            None
        }
        Value::Array(items) => {
            let item_schema = schema.get("items")?;
            items
                .iter()
                .enumerate()
                .find_map(|(i, v)| walk(root, item_schema, v, format!("{at}/{i}")))
        }
        _ => None,
    }
}

/// The allowed word closest to `word` when it is a plausible misspelling (edit distance at
/// most a third of the word, and at most 3).
pub fn did_you_mean<'a>(word: &str, allowed: &'a [String]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    allowed
        .iter()
        .map(|a| (levenshtein(&word.to_lowercase(), &a.to_lowercase()), a))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, a)| (*d, a.len()))
        .map(|(_, a)| a.as_str())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let allowed: Vec<String> = ["max_flip_rate", "max_failure_rate", "min_runs", "mode"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            did_you_mean("max_flip_rat", &allowed),
            Some("max_flip_rate")
        );
        assert_eq!(did_you_mean("min_run", &allowed), Some("min_runs"));
        assert_eq!(did_you_mean("Mode", &allowed), Some("mode"));
        assert_eq!(did_you_mean("colour", &allowed), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }

    #[test]
    fn the_snippet_points_at_the_column() {
        let e = ConfigError {
            file: "f.yml".into(),
            line: 12,
            col: 5,
            context: String::new(),
            message: "bad".into(),
            source_line: "  x: \u{1b}[31m".into(),
        };
        assert_eq!(
            e.to_string(),
            "f.yml:12:5: bad\n   |\n12 |   x: \\u{1b}[31m\n   |     ^"
        );
    }
}
