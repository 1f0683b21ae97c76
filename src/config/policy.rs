//! `gate:` and `quarantine:` → [`crate::gate::Policy`]: globs compiled, dates parsed,
//! defaults applied, every error located. Also the file-wide literal-secret check.

use chrono::NaiveDate;
use globset::{Glob, GlobSetBuilder};
use serde_json::Value;

use super::file::{GateConfig, GateMode, NewFlaky, OnMissingHistory, QuarantineConfig};
use super::{ConfigError, Ctx, LITERAL_SECRETS};
use crate::gate::policy::{Globs, Policy, QuarantineEntry, DEFAULT_CONFIDENCE};
use crate::model::QuarantineNote;

/// Markers of well-known token formats: a string value containing one is a secret.
const TOKEN_PREFIXES: &[(&str, &str)] = &[
    ("ghp_", "a GitHub token"),
    ("gho_", "a GitHub token"),
    ("ghs_", "a GitHub token"),
    ("ghu_", "a GitHub token"),
    ("github_pat_", "a GitHub token"),
    ("glpat-", "a GitLab token"),
    ("xoxb-", "a Slack token"),
    ("xoxp-", "a Slack token"),
    ("https://hooks.slack.com/", "a Slack webhook URL"),
];

/// Refuses a secret written in the file: a key that names one (`token: …`) anywhere outside
/// `notify.channels` (checked there with the channel's context), or a value in a known token
/// format anywhere.
pub(super) fn literal_secrets(ctx: &Ctx<'_>) -> Result<(), ConfigError> {
    fn walk(ctx: &Ctx<'_>, v: &Value, at: &str) -> Result<(), ConfigError> {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let ptr = format!("{at}/{}", super::yaml::escape_token(k));
                    if LITERAL_SECRETS.contains(&k.as_str()) && !at.starts_with("/notify/channels/")
                    {
                        return Err(ctx.err(&ptr, String::new(), format!(
                            "{k}: a secret is never written in the file; use {k}_env (an environment variable) or {k}_file (a file)"
                        )));
                    }
                    walk(ctx, child, &ptr)?;
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(ctx, child, &format!("{at}/{i}"))?;
                }
            }
            Value::String(s) => {
                if let Some((_, what)) = TOKEN_PREFIXES.iter().find(|(p, _)| s.contains(p)) {
                    let field = at.rsplit('/').next().unwrap_or_default();
                    return Err(ctx.err(at, String::new(), format!(
                        "{field}: this value looks like {what}; secrets are never written in the file: put it in an environment variable or a file"
                    )));
                }
            }
            _ => {}
        }
        Ok(())
    }
    walk(ctx, &ctx.doc.value, "")
}

/// The source line as shown under an error: the value of a key that names a secret, and any
/// value in a known token format, replaced by `***`.
pub(super) fn redact_line(line: &str) -> String {
    let body = line.trim_start().trim_start_matches("- ");
    let key = body.split(':').next().unwrap_or_default().trim();
    let secret_key = body.contains(':') && LITERAL_SECRETS.contains(&key);
    let token = TOKEN_PREFIXES.iter().any(|(p, _)| line.contains(p));
    if !secret_key && !token {
        return line.to_owned();
    }
    match line.find(':') {
        Some(i) if secret_key || !line[..i].contains(['"', '\'']) => format!("{} ***", &line[..=i]),
        _ => "***".to_owned(),
    }
}

fn globs(ctx: &Ctx<'_>, ptr: &str, patterns: &[String]) -> Result<Globs, ConfigError> {
    let mut b = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        let g = Glob::new(p).map_err(|e| {
            ctx.err(
                &format!("{ptr}/{i}"),
                String::new(),
                format!("{p:?} is not a valid glob: {}", e.kind()),
            )
        })?;
        b.add(g);
    }
    let set = b
        .build()
        .map_err(|e| ctx.err(ptr, String::new(), e.to_string()))?;
    Ok(Globs {
        patterns: patterns.to_vec(),
        set,
    })
}

fn one_glob(
    ctx: &Ctx<'_>,
    ptr: &str,
    pattern: &Option<String>,
) -> Result<Option<Globs>, ConfigError> {
    match pattern {
        None => Ok(None),
        Some(p) => {
            let g = Glob::new(p).map_err(|e| {
                ctx.err(
                    ptr,
                    String::new(),
                    format!("{p:?} is not a valid glob: {}", e.kind()),
                )
            })?;
            let mut b = GlobSetBuilder::new();
            b.add(g);
            let set = b
                .build()
                .map_err(|e| ctx.err(ptr, String::new(), e.to_string()))?;
            Ok(Some(Globs {
                patterns: vec![p.clone()],
                set,
            }))
        }
    }
}

fn entry(ctx: &Ctx<'_>, i: usize, q: &QuarantineConfig) -> Result<QuarantineEntry, ConfigError> {
    let ptr = format!("/quarantine/{i}");
    let field = |f: &str| format!("{ptr}/{f}");
    if q.test.is_none() && q.suite.is_none() && q.classname.is_none() && q.name.is_none() {
        return Err(ctx.err(
            &ptr,
            String::new(),
            format!(
                "quarantine[{i}]: name the tests: test (an id or a glob), suite, classname or name"
            ),
        ));
    }
    for (f, v) in [("owner", &q.owner), ("reason", &q.reason)] {
        if v.trim().is_empty() {
            return Err(ctx.err(
                &field(f),
                String::new(),
                format!("quarantine[{i}]: {f}: must not be empty"),
            ));
        }
    }
    let until = match &q.until {
        None => None,
        Some(d) => Some(NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|e| {
            ctx.err(
                &field("until"),
                String::new(),
                format!("quarantine[{i}]: until: {d:?} is not a date (YYYY-MM-DD): {e}"),
            )
        })?),
    };
    let mut pattern = Vec::new();
    for (f, v) in [
        ("test", &q.test),
        ("suite", &q.suite),
        ("classname", &q.classname),
        ("name", &q.name),
    ] {
        if let Some(v) = v {
            pattern.push(format!("{f}: {v}"));
        }
    }
    let line = ctx.doc.pos(&ptr).line;
    Ok(QuarantineEntry {
        test: one_glob(ctx, &field("test"), &q.test)?,
        suite: one_glob(ctx, &field("suite"), &q.suite)?,
        classname: one_glob(ctx, &field("classname"), &q.classname)?,
        name: one_glob(ctx, &field("name"), &q.name)?,
        note: QuarantineNote {
            pattern: pattern.join(", "),
            owner: q.owner.clone(),
            reason: q.reason.clone(),
            until: q.until.clone(),
            origin: format!("{}:{line}", ctx.file),
        },
        until,
        location: crate::model::SourceLocation {
            path: ctx.file.to_owned(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
        },
    })
}

/// The policy, when the file has `gate:` or `quarantine:`.
pub(super) fn build(
    ctx: &Ctx<'_>,
    gate: Option<&GateConfig>,
    quarantine: Option<&[QuarantineConfig]>,
) -> Result<Option<Policy>, ConfigError> {
    if gate.is_none() && quarantine.is_none() {
        return Ok(None);
    }
    let empty = GateConfig::default();
    let g = gate.unwrap_or(&empty);
    let rules = g.rules.clone().unwrap_or_default();
    let window = g.window.clone().unwrap_or_default();
    let defaults = Policy::default();
    let mut entries = Vec::new();
    for (i, q) in quarantine.unwrap_or_default().iter().enumerate() {
        entries.push(entry(ctx, i, q)?);
    }
    Ok(Some(Policy {
        source: ctx.file.to_owned(),
        branches: match &g.branches {
            Some(b) => Some(globs(ctx, "/gate/branches", b)?),
            None => None,
        },
        tests: match &g.tests {
            Some(t) => Some(globs(ctx, "/gate/tests", t)?),
            None => None,
        },
        window_runs: window.runs.unwrap_or(defaults.window_runs),
        window_days: window.days,
        min_runs: g.min_runs.unwrap_or(defaults.min_runs),
        max_flip_rate: rules.max_flip_rate,
        max_failure_rate: rules.max_failure_rate,
        confidence: rules.confidence.unwrap_or(DEFAULT_CONFIDENCE),
        max_flaky_tests: rules.max_flaky_tests,
        max_flaky_run_rate: rules.max_flaky_run_rate,
        new_flaky: rules.new_flaky.unwrap_or(NewFlaky::Warn),
        mode: g.mode.unwrap_or(GateMode::Enforce),
        on_missing_history: g.on_missing_history.unwrap_or(OnMissingHistory::Warn),
        allow_known_flaky_failures: g.allow_known_flaky_failures.unwrap_or(false),
        quarantine: entries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_lines() {
        let table = [
            ("  token: abc", "  token: ***"),
            ("    - url: https://x", "    - url: ***"),
            ("    reason: 'see ghp_123'", "    reason: ***"),
            ("  - 'ghp_123: x'", "***"),
            ("  min_runs: 10", "  min_runs: 10"),
            ("  url_env: SLACK", "  url_env: SLACK"),
        ];
        for (line, want) in table {
            assert_eq!(redact_line(line), want, "{line}");
        }
    }

    #[test]
    fn the_issue_example_gives_the_documented_policy() {
        let text = "version: 1\ngate:\n  branches: [main]\n  window: { runs: 50 }\n  min_runs: 10\n  rules:\n    max_flip_rate: 0.1\n    max_flaky_tests: 0\n  mode: enforce\nquarantine:\n  - test: \"*flaky_cache*\"\n    owner: \"@qa\"\n    reason: \"known race, JIRA-123\"\n    until: 2099-01-01\n";
        let p = crate::config::parse_policy(".cimon.yml", text)
            .unwrap()
            .gate
            .unwrap();
        assert!(p.gates_branch("main") && !p.gates_branch("dev"));
        assert_eq!((p.window_runs, p.window_days, p.min_runs), (50, None, 10));
        assert_eq!((p.max_flip_rate, p.max_flaky_tests), (Some(0.1), Some(0)));
        assert_eq!((p.mode, p.new_flaky), (GateMode::Enforce, NewFlaky::Warn));
        assert_eq!(p.on_missing_history, OnMissingHistory::Warn);
        let q = &p.quarantine[0];
        assert_eq!(q.until, NaiveDate::from_ymd_opt(2099, 1, 1));
        assert_eq!(q.note.origin, ".cimon.yml:11");
        let t = |name: &'static str| crate::gate::policy::TestName {
            id: "0123456789abcdef",
            suite: "s",
            classname: Some("tests.test_cache"),
            name,
        };
        assert!(q.matches(&t("test_flaky_cache_evicts")));
        assert!(!q.matches(&t("test_cache_evicts")));
    }
}
