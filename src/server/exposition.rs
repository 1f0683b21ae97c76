//! Prometheus exposition: the classic text format (0.0.4) and OpenMetrics 1.0, chosen from
//! the scraper's `Accept` header. Small on purpose: families are built per scrape from the
//! store, so no registry or global state is needed.

use std::fmt::Write;

/// Metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A monotonic count; samples carry the `_total` suffix.
    Counter,
    /// Buckets (`_bucket` with `le`), `_sum` and `_count`.
    Histogram,
}

/// One sample of a family.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Appended to the family name: `""`, `_total`, `_bucket`, `_sum`, `_count`.
    pub suffix: &'static str,
    /// Label pairs, in order.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

/// A metric family.
#[derive(Debug, Clone)]
pub struct Family {
    /// Name without the `_total` of counters.
    pub name: &'static str,
    /// Help text (required by `promtool check metrics`).
    pub help: &'static str,
    /// Type.
    pub kind: Kind,
    /// Samples.
    pub samples: Vec<Sample>,
}

/// The two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Classic,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// Picks the format from an `Accept` header: OpenMetrics when the scraper asks for it.
    pub fn negotiate(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Classic,
        }
    }

    /// The `Content-Type` of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Classic => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.is_nan() {
        "NaN".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Renders `families` in `format`.
pub fn encode(families: &[Family], format: Format) -> String {
    let mut out = String::new();
    for f in families {
        if f.samples.is_empty() && format == Format::Classic {
            continue;
        }
        let (type_name, kind) = match (f.kind, format) {
            (Kind::Counter, Format::Classic) => (format!("{}_total", f.name), "counter"),
            (Kind::Counter, Format::OpenMetrics) => (f.name.to_string(), "counter"),
            (Kind::Gauge, _) => (f.name.to_string(), "gauge"),
            (Kind::Histogram, _) => (f.name.to_string(), "histogram"),
        };
        let _ = writeln!(out, "# HELP {type_name} {}", escape_help(f.help));
        let _ = writeln!(out, "# TYPE {type_name} {kind}");
        for s in &f.samples {
            out.push_str(f.name);
            out.push_str(s.suffix);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(k);
                    out.push_str("=\"");
                    escape_label(v, &mut out);
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            out.push_str(&number(s.value));
            out.push('\n');
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn families() -> Vec<Family> {
        vec![
            Family {
                name: "x_runs",
                help: "Runs.\nSecond line",
                kind: Kind::Counter,
                samples: vec![Sample {
                    suffix: "_total",
                    labels: vec![("repo", "a\"b\\c\nd".into())],
                    value: 3.0,
                }],
            },
            Family {
                name: "x_seconds",
                help: "Seconds.",
                kind: Kind::Histogram,
                samples: vec![
                    Sample {
                        suffix: "_bucket",
                        labels: vec![("le", "1".into())],
                        value: 1.0,
                    },
                    Sample {
                        suffix: "_bucket",
                        labels: vec![("le", "+Inf".into())],
                        value: 2.0,
                    },
                    Sample {
                        suffix: "_sum",
                        labels: vec![],
                        value: 2.5,
                    },
                    Sample {
                        suffix: "_count",
                        labels: vec![],
                        value: 2.0,
                    },
                ],
            },
        ]
    }

    #[test]
    fn classic_and_openmetrics_differ_where_the_specs_do() {
        let classic = encode(&families(), Format::Classic);
        assert!(classic
            .starts_with("# HELP x_runs_total Runs.\\nSecond line\n# TYPE x_runs_total counter\n"));
        assert!(classic.contains("x_runs_total{repo=\"a\\\"b\\\\c\\nd\"} 3\n"));
        assert!(classic.contains("x_seconds_sum 2.5\n"));
        assert!(!classic.contains("# EOF"));
        let om = encode(&families(), Format::OpenMetrics);
        assert!(om.contains("# TYPE x_runs counter\n"));
        assert!(om.ends_with("# EOF\n"));
    }

    #[test]
    fn negotiation_follows_accept() {
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Classic);
        assert_eq!(Format::negotiate(None), Format::Classic);
    }
}
