//! YAML → JSON values with the source position of every node, so that schema errors (which
//! name a JSON pointer) can name a line and column.
//!
//! Plain scalars follow the YAML 1.2 core schema (`true`/`false`, `null`/`~`/empty, integers
//! incl. `0x`/`0o`, floats incl. `.inf`/`.nan`); `yes`, `no`, `on`, `0755` stay strings.
//! Anchors and aliases work, `<<` merge keys are applied, duplicate keys and tags are errors.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

/// A YAML document read into JSON, with positions by JSON pointer (`""` is the root).
#[derive(Debug, Clone, Default)]
pub struct Located {
    /// The value.
    pub value: Value,
    /// Where each node starts; keys of mappings map to the key's position.
    pub positions: HashMap<String, Pos>,
}

impl Located {
    /// The position of `pointer`, or of its nearest ancestor that has one.
    pub fn pos(&self, pointer: &str) -> Pos {
        let mut p = pointer.to_string();
        loop {
            if let Some(pos) = self.positions.get(&p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None => return Pos { line: 1, col: 1 },
            }
        }
    }
}

/// A YAML syntax error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {}, column {}: {message}", pos.line, pos.col)]
pub struct YamlError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

fn pos_of(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        col: span.start.col() + 1,
    }
}

/// Escapes one JSON-pointer token.
pub fn escape_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

struct Builder<'a> {
    events: Vec<(Event<'a>, Span)>,
    at: usize,
    anchors: HashMap<usize, Value>,
    positions: HashMap<String, Pos>,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Option<(Event<'a>, Span)> {
        let e = self.events.get(self.at).cloned();
        self.at += 1;
        e
    }

    fn node(&mut self, pointer: &str) -> Result<Value, YamlError> {
        let Some((event, span)) = self.next() else {
            return Err(YamlError {
                pos: Pos::default(),
                message: "unexpected end of the document".into(),
            });
        };
        let pos = pos_of(&span);
        self.positions.entry(pointer.to_string()).or_insert(pos);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                if tag.is_some() {
                    return Err(YamlError {
                        pos,
                        message: "YAML tags are not supported here".into(),
                    });
                }
                let v = if style == ScalarStyle::Plain {
                    plain(&text)
                } else {
                    Value::String(text.into_owned())
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::Alias(id) => self.anchors.get(&id).cloned().ok_or(YamlError {
                pos,
                message: "alias to an unknown anchor".into(),
            }),
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    if matches!(self.events.get(self.at), Some((Event::SequenceEnd, _))) {
                        self.at += 1;
                        break;
                    }
                    let child = format!("{pointer}/{}", items.len());
                    items.push(self.node(&child)?);
                }
                let v = Value::Array(items);
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::MappingStart(anchor, _) => {
                let mut map = Map::new();
                let mut merged = Map::new();
                loop {
                    if matches!(self.events.get(self.at), Some((Event::MappingEnd, _))) {
                        self.at += 1;
                        break;
                    }
                    let key_pos = self
                        .events
                        .get(self.at)
                        .map(|(_, s)| pos_of(s))
                        .unwrap_or(pos);
                    let key = match self.node(&format!("{pointer}/\u{0}key"))? {
                        Value::String(s) => s,
                        Value::Null => "null".into(),
                        other => other.to_string(),
                    };
                    let child = format!("{pointer}/{}", escape_token(&key));
                    self.positions.insert(child.clone(), key_pos);
                    let value = self.node(&child)?;
                    if key == "<<" {
                        let sources = match value {
                            Value::Array(list) => list,
                            other => vec![other],
                        };
                        for source in sources {
                            let Value::Object(m) = source else {
                                return Err(YamlError {
                                    pos: key_pos,
                                    message: "`<<` merges a mapping or a list of mappings".into(),
                                });
                            };
                            for (k, v) in m {
                                merged.entry(k).or_insert(v);
                            }
                        }
                        continue;
                    }
                    if map.contains_key(&key) {
                        return Err(YamlError {
                            pos: key_pos,
                            message: format!("duplicate key {key:?}"),
                        });
                    }
                    map.insert(key, value);
                }
                for (k, v) in merged {
                    map.entry(k).or_insert(v);
                }
                let v = Value::Object(map);
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            other => Err(YamlError {
                pos,
                message: format!("unexpected YAML event {other:?}"),
            }),
        }
    }
}

/// A plain scalar under the YAML 1.2 core schema.
fn plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => {
            // JSON has no infinities or NaN: keep the text.
            return Value::String(text.into());
        }
        _ => {}
    }
    let (sign, digits) = match text.strip_prefix('-') {
        Some(d) => (-1i64, d),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let int = if let Some(hex) = text.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = text.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()
    } else if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !(digits.len() > 1 && digits.starts_with('0'))
    {
        digits.parse::<i64>().ok().map(|n| n * sign)
    } else {
        None
    };
    if let Some(n) = int {
        return Value::Number(n.into());
    }
    let is_float = {
        let t = digits;
        let mut saw_digit = false;
        let mut ok = !t.is_empty();
        for (i, c) in t.char_indices() {
            match c {
                '0'..='9' => saw_digit = true,
                '.' | 'e' | 'E' => {}
                '+' | '-' if i > 0 && matches!(t.as_bytes()[i - 1], b'e' | b'E') => {}
                _ => ok = false,
            }
        }
        ok && saw_digit
            && (t.contains('.') || t.contains(['e', 'E']))
            && !(t.starts_with('0') && t.len() > 1 && !t.starts_with("0."))
    };
    if is_float {
        if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(text.into())
}

/// Parses one YAML document. An empty document is `null`.
pub fn parse(text: &str) -> Result<Located, YamlError> {
    let mut events = Vec::new();
    for item in Parser::new_from_str(text) {
        match item {
            Ok(ev) => events.push(ev),
            Err(e) => {
                let m = e.marker();
                return Err(YamlError {
                    pos: Pos {
                        line: m.line(),
                        col: m.col() + 1,
                    },
                    message: e.info().to_string(),
                });
            }
        }
    }
    let docs = events
        .iter()
        .filter(|(e, _)| matches!(e, Event::DocumentStart(_)))
        .count();
    if docs > 1 {
        return Err(YamlError {
            pos: Pos { line: 1, col: 1 },
            message: "expected one YAML document, found several".into(),
        });
    }
    let body: Vec<(Event<'_>, Span)> = events
        .into_iter()
        .filter(|(e, _)| {
            !matches!(
                e,
                Event::StreamStart
                    | Event::StreamEnd
                    | Event::DocumentStart(_)
                    | Event::DocumentEnd
                    | Event::Nothing
            )
        })
        .collect();
    if body.is_empty() {
        return Ok(Located {
            value: Value::Null,
            positions: HashMap::new(),
        });
    }
    let mut b = Builder {
        events: body,
        at: 0,
        anchors: HashMap::new(),
        positions: HashMap::new(),
    };
    let value = b.node("")?;
    b.positions.retain(|k, _| !k.contains('\u{0}'));
    Ok(Located {
        value,
        positions: b.positions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_schema_scalars() {
        let doc = parse("a: yes\nb: true\nc: 0755\nd: 12\ne: -3\nf: 1.5\ng: ~\nh:\ni: '12'\nj: 0x1f\nk: 1e3\nl: .inf\n").unwrap();
        assert_eq!(
            doc.value,
            json!({"a": "yes", "b": true, "c": "0755", "d": 12, "e": -3, "f": 1.5, "g": null, "h": null, "i": "12", "j": 31, "k": 1000.0, "l": ".inf"})
        );
    }

    #[test]
    fn positions_name_lines_and_columns() {
        let doc = parse("version: 1\nnotify:\n  channels:\n    - type: slack\n      url_env: X\n")
            .unwrap();
        assert_eq!(doc.pos("/notify/channels/0/type"), Pos { line: 4, col: 7 });
        assert_eq!(
            doc.pos("/notify/channels/0/url_env"),
            Pos { line: 5, col: 7 }
        );
        assert_eq!(doc.pos("/notify/channels/0/nope"), Pos { line: 4, col: 7 });
    }

    #[test]
    fn anchors_merges_and_duplicates() {
        let doc = parse("base: &b {events: [failure]}\nch:\n  <<: *b\n  type: slack\n").unwrap();
        assert_eq!(
            doc.value["ch"],
            json!({"events": ["failure"], "type": "slack"})
        );
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos.line, 3);
        assert!(err.message.contains("duplicate key"));
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1, "{err}");
        assert_eq!(parse("").unwrap().value, Value::Null);
    }
}
