//! The repository's `.cimon.yml`: found, parsed with positions, checked against the JSON
//! Schema (`schemas/policy.v1.json`, generated from [`file`]), then validated and resolved
//! into typed settings. Secrets are resolved here from the injected environment or from
//! files; a literal secret in the file is refused with a hint.
//!
//! Every error names the file, the line and column, and — for a channel — its position, type
//! and the field, so a bad configuration is fixed in one go and nothing is sent before it is.

mod error;
pub mod file;
mod policy;
mod schema;
pub mod yaml;

use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::ci::Env;
use crate::http::Secret;
use crate::notify::Event;

use self::file::{ChannelConfig, ChannelType, ConfigFile, TlsMode};
use self::yaml::{Located, Pos};

/// Where the configuration is looked for, in order, relative to the repository root.
pub const DEFAULT_PATHS: &[&str] = &[
    ".cimon.yml",
    ".cimon.yaml",
    ".github/cimon.yml",
    ".github/cimon.yaml",
];

/// Keys that would hold a secret literally; each has an `_env`/`_file` form.
const LITERAL_SECRETS: &[&str] = &[
    "url",
    "secret",
    "password",
    "token",
    "github_secret",
    "webhook",
    "webhook_url",
    "key",
];

pub use error::{did_you_mean, ConfigError};
pub use schema::schema;

/// The validated configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it came from.
    pub path: Option<PathBuf>,
    /// Notification settings, when there is a `notify:` section.
    pub notify: Option<Notify>,
    /// The gate policy (`gate:` and `quarantine:`), when either is present.
    pub gate: Option<crate::gate::Policy>,
}

/// `notify:`, validated.
#[derive(Debug, Clone)]
pub struct Notify {
    /// The channels, in file order.
    pub channels: Vec<ChannelSpec>,
    /// Quiet period of repeated notifications.
    pub repeat_interval: Duration,
    /// `default_branch`, when given.
    pub default_branch: Option<String>,
}

/// One channel, validated, with its secrets resolved.
#[derive(Debug, Clone)]
pub struct ChannelSpec {
    /// `name`, else `<type>#<position from 1>`.
    pub label: String,
    /// Where the channel is written, `file:line:column: notify.channels[i] (type): `, the
    /// prefix of any later error about it.
    pub origin: String,
    /// The type.
    pub kind: ChannelType,
    /// Events that notify.
    pub events: Vec<Event>,
    /// Branch globs; `None`: the default branch.
    pub branches: Option<BranchFilter>,
    /// The compiled `template` (read relative to the configuration file's folder).
    pub template: Option<crate::notify::template::Template>,
    /// Mentions.
    pub mentions: Vec<String>,
    /// Deadline for this channel, retries included.
    pub timeout: Duration,
    /// The webhook URL (every channel but email).
    pub url: Option<Secret>,
    /// Signing secret (DingTalk, Feishu, webhook).
    pub secret: Option<Secret>,
    /// GitHub-style signature secret (webhook).
    pub github_secret: Option<Secret>,
    /// SMTP settings (email).
    pub smtp: Option<Smtp>,
    /// Extra headers (webhook).
    pub headers: Vec<(String, String)>,
}

/// SMTP settings of an email channel.
#[derive(Debug, Clone)]
pub struct Smtp {
    /// Server.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Transport security.
    pub tls: TlsMode,
    /// User.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// Sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
}

/// Compiled branch globs.
#[derive(Debug, Clone)]
pub struct BranchFilter {
    /// As written.
    pub patterns: Vec<String>,
    set: GlobSet,
}

impl BranchFilter {
    /// True when `branch` matches one of the globs.
    pub fn matches(&self, branch: &str) -> bool {
        self.set.is_match(branch)
    }
}

/// Finds the configuration: `explicit` (`--config`) or the first of [`DEFAULT_PATHS`] under
/// `root`.
pub fn find(root: &Path, explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    DEFAULT_PATHS
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.is_file())
}

/// Reads and validates the configuration at `path` (missing → error).
pub fn load(path: &Path, env: &Env) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: shown.clone(),
        line: 1,
        col: 1,
        context: String::new(),
        message: format!("cannot read the configuration: {e}"),
        source_line: String::new(),
    })?;
    let mut config = parse(&shown, &text, env, &|p| std::fs::read_to_string(p))?;
    config.path = Some(path.to_path_buf());
    Ok(config)
}

/// Reads and validates the configuration at `path` for the gate (`gate`, `policy check`):
/// the whole file is checked (schema, keys, literal secrets, the policy), but `notify:`
/// secrets are not resolved, so a job without the channels' variables can read it.
/// [`Config::notify`] is always `None`.
pub fn load_policy(path: &Path) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: shown.clone(),
        line: 1,
        col: 1,
        context: String::new(),
        message: format!("cannot read the configuration: {e}"),
        source_line: String::new(),
    })?;
    let mut config = parse_policy(&shown, &text)?;
    config.path = Some(path.to_path_buf());
    Ok(config)
}

/// [`parse`] without resolving `notify:` secrets (see [`load_policy`]).
pub fn parse_policy(file: &str, text: &str) -> Result<Config, ConfigError> {
    parse_inner(file, text, None)
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    doc: &'a Located,
}

impl Ctx<'_> {
    fn err(&self, pointer: &str, context: String, message: impl Into<String>) -> ConfigError {
        let Pos { line, col } = self.doc.pos(pointer);
        ConfigError {
            file: self.file.into(),
            line,
            col,
            context,
            message: message.into(),
            source_line: error::source_line(self.text, line),
        }
    }
}

fn channel_context(i: usize, kind: Option<&str>) -> String {
    match kind {
        Some(k) => format!("notify.channels[{i}] ({k}): "),
        None => format!("notify.channels[{i}]: "),
    }
}

/// Parses and validates configuration text. `read_file` reads `*_file` secrets.
pub fn parse(
    file: &str,
    text: &str,
    env: &Env,
    read_file: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<Config, ConfigError> {
    parse_inner(file, text, Some((env, read_file)))
}

type Resolve<'a> = Option<(&'a Env, &'a dyn Fn(&Path) -> std::io::Result<String>)>;

fn parse_inner(file: &str, text: &str, resolve: Resolve<'_>) -> Result<Config, ConfigError> {
    let doc = yaml::parse(text).map_err(|e| ConfigError {
        file: file.into(),
        line: e.pos.line,
        col: e.pos.col,
        context: String::new(),
        message: format!("not valid YAML: {}", e.message),
        source_line: error::source_line(text, e.pos.line),
    })?;
    let ctx = Ctx {
        file,
        text,
        doc: &doc,
    };
    if !doc.value.is_object() {
        return Err(ctx.err(
            "",
            String::new(),
            "the configuration must be a mapping with `version: 1`",
        ));
    }
    // Clear messages first for the mistakes people make, then the schema for the rest.
    if let Some(channels) = doc
        .value
        .pointer("/notify/channels")
        .and_then(|c| c.as_array())
    {
        for (i, ch) in channels.iter().enumerate() {
            let ptr = format!("/notify/channels/{i}");
            let kind = ch.get("type").and_then(|t| t.as_str());
            if let Some(k) = kind {
                if !ChannelType::NAMES.contains(&k) {
                    return Err(ctx.err(
                        &format!("{ptr}/type"),
                        channel_context(i, None),
                        format!(
                            "type: unknown channel type {k:?}; expected one of {}",
                            ChannelType::NAMES.join(", ")
                        ),
                    ));
                }
            }
            for key in LITERAL_SECRETS {
                if ch.get(*key).is_some() {
                    return Err(ctx.err(
                        &format!("{ptr}/{key}"),
                        channel_context(i, kind),
                        format!("{key}: a secret is never written in the file; use {key}_env (an environment variable) or {key}_file (a file)"),
                    ));
                }
            }
        }
    }
    policy::literal_secrets(&ctx)?;
    let schema = schema();
    if let Some((pointer, key, allowed)) = error::unknown_key(&schema, &doc.value) {
        let hint = match did_you_mean(&key, &allowed) {
            Some(near) => format!("; did you mean `{near}`?"),
            None => format!("; expected one of {}", allowed.join(", ")),
        };
        let parent = pointer.rsplit_once('/').map_or("", |(p, _)| p);
        let context = channel_prefix(&pointer, &doc.value);
        return Err(ctx.err(
            &pointer,
            context,
            format!(
                "unknown key `{key}` in {}{hint}",
                if parent.is_empty() { "/" } else { parent }
            ),
        ));
    }
    let validator = jsonschema::validator_for(&schema)
        .map_err(|e| ctx.err("", String::new(), format!("internal schema error: {e}")))?;
    if let Some(e) = validator.iter_errors(&doc.value).next() {
        let pointer = e.instance_path().to_string();
        let context = channel_prefix(&pointer, &doc.value);
        return Err(ctx.err(
            &pointer,
            context,
            format!(
                "{} (at {}; schema {}){}",
                e,
                if pointer.is_empty() { "/" } else { &pointer },
                e.schema_path(),
                yaml_1_1_hint(doc.value.pointer(&pointer))
            ),
        ));
    }
    let parsed: ConfigFile = serde_json::from_value(doc.value.clone()).map_err(|e| {
        ctx.err(
            "",
            String::new(),
            format!("cannot read the configuration: {e}"),
        )
    })?;
    let notify = match (parsed.notify, resolve) {
        (None, _) | (Some(_), None) => None,
        (Some(n), Some((env, read_file))) => {
            let repeat_interval = match n.repeat_interval.as_deref() {
                None => Duration::from_secs(4 * 3600),
                Some(t) => crate::server::parse_ttl(t).ok_or_else(|| {
                    ctx.err(
                        "/notify/repeat_interval",
                        String::new(),
                        format!("repeat_interval: {t:?} is not a duration such as 4h, 30m, 1d"),
                    )
                })?,
            };
            let mut channels = Vec::new();
            for (i, ch) in n.channels.iter().enumerate() {
                channels.push(channel(&ctx, i, ch, env, read_file)?);
            }
            Some(Notify {
                channels,
                repeat_interval,
                default_branch: n.default_branch.clone(),
            })
        }
    };
    let gate = policy::build(&ctx, parsed.gate.as_ref(), parsed.quarantine.as_deref())?;
    Ok(Config {
        path: None,
        notify,
        gate,
    })
}

/// YAML 1.1 booleans are strings in YAML 1.2 (which cimon reads): say so.
fn yaml_1_1_hint(value: Option<&serde_json::Value>) -> &'static str {
    match value.and_then(|v| v.as_str()) {
        Some("yes" | "no" | "on" | "off" | "y" | "n" | "Yes" | "No" | "YES" | "NO") => {
            "; YAML 1.2 reads it as a string: write true or false"
        }
        _ => "",
    }
}

fn channel_prefix(pointer: &str, value: &serde_json::Value) -> String {
    let mut parts = pointer.split('/').skip(1);
    if parts.next() == Some("notify") && parts.next() == Some("channels") {
        if let Some(i) = parts.next().and_then(|i| i.parse::<usize>().ok()) {
            let kind = value
                .pointer(&format!("/notify/channels/{i}/type"))
                .and_then(|t| t.as_str());
            return channel_context(i, kind);
        }
    }
    String::new()
}

fn channel(
    ctx: &Ctx<'_>,
    i: usize,
    ch: &ChannelConfig,
    env: &Env,
    read_file: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<ChannelSpec, ConfigError> {
    let ptr = format!("/notify/channels/{i}");
    let Some(kind) = ch.kind else {
        return Err(ctx.err(
            &ptr,
            channel_context(i, None),
            format!("type: missing; one of {}", ChannelType::NAMES.join(", ")),
        ));
    };
    let context = channel_context(i, Some(kind.as_str()));
    let err = |field: &str, message: String| {
        ctx.err(
            &format!("{ptr}/{field}"),
            context.clone(),
            format!("{field}: {message}"),
        )
    };
    let secret = |name: &str,
                  env_key: &Option<String>,
                  file_key: &Option<String>|
     -> Result<Option<Secret>, ConfigError> {
        match (env_key, file_key) {
            (Some(_), Some(_)) => Err(err(
                &format!("{name}_env"),
                format!("give {name}_env or {name}_file, not both"),
            )),
            (Some(var), None) => match env.get(var) {
                Some(v) => Ok(Some(Secret::new(v.trim()))),
                None => Err(err(
                    &format!("{name}_env"),
                    format!("the environment variable {var} is not set (or is empty)"),
                )),
            },
            (None, Some(path)) => match read_file(Path::new(path)) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(Secret::new(v.trim()))),
                Ok(_) => Err(err(&format!("{name}_file"), format!("{path} is empty"))),
                Err(e) => Err(err(
                    &format!("{name}_file"),
                    format!("cannot read {path}: {e}"),
                )),
            },
            (None, None) => Ok(None),
        }
    };
    let url = secret("url", &ch.url_env, &ch.url_file)?;
    let signing = secret("secret", &ch.secret_env, &ch.secret_file)?;
    let github_secret = secret(
        "github_secret",
        &ch.github_secret_env,
        &ch.github_secret_file,
    )?;
    let password = secret("password", &ch.password_env, &ch.password_file)?;
    let (url_field, url_var) = match (&ch.url_env, &ch.url_file) {
        (Some(v), _) => ("url_env", format!("the value of {v}")),
        (_, Some(f)) => ("url_file", format!("the content of {f}")),
        _ => ("url_env", String::new()),
    };
    if kind == ChannelType::Email {
        if url.is_some() {
            return Err(err(
                url_field,
                "an email channel has no URL: give host, from and to".into(),
            ));
        }
    } else {
        let Some(u) = &url else {
            return Err(err("url_env", "missing: name the environment variable (url_env) or file (url_file) that holds the webhook URL".into()));
        };
        match reqwest::Url::parse(u.expose()) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
            _ => {
                return Err(err(
                    url_field,
                    format!("{url_var} is not a valid http(s) URL"),
                ))
            }
        }
    }
    let not_for = |field: &str, present: bool, types: &[ChannelType]| -> Result<(), ConfigError> {
        if present && !types.contains(&kind) {
            let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
            return Err(err(
                field,
                format!("only for {} channels", names.join(", ")),
            ));
        }
        Ok(())
    };
    not_for(
        "secret_env",
        signing.is_some(),
        &[
            ChannelType::Dingtalk,
            ChannelType::Feishu,
            ChannelType::Webhook,
        ],
    )?;
    not_for(
        "github_secret_env",
        github_secret.is_some(),
        &[ChannelType::Webhook],
    )?;
    not_for("headers", ch.headers.is_some(), &[ChannelType::Webhook])?;
    for (field, present) in [
        ("host", ch.host.is_some()),
        ("port", ch.port.is_some()),
        ("tls", ch.tls.is_some()),
        ("username", ch.username.is_some()),
        ("from", ch.from.is_some()),
        ("to", ch.to.is_some()),
        ("password_env", password.is_some()),
    ] {
        not_for(field, present, &[ChannelType::Email])?;
    }
    let smtp = if kind == ChannelType::Email {
        let host = ch
            .host
            .clone()
            .ok_or_else(|| err("host", "missing: the SMTP server".into()))?;
        let from = ch
            .from
            .clone()
            .ok_or_else(|| err("from", "missing: the sender address".into()))?;
        let to = ch
            .to
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| err("to", "missing: at least one recipient".into()))?;
        for (field, addr) in std::iter::once(("from", &from)).chain(to.iter().map(|t| ("to", t))) {
            if !addr.contains('@') || addr.contains(['\r', '\n']) {
                return Err(err(field, format!("{addr:?} is not an email address")));
            }
        }
        let tls = ch.tls.unwrap_or(TlsMode::Starttls);
        let port = ch.port.unwrap_or(match tls {
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
            TlsMode::None => 25,
        });
        if password.is_some() && ch.username.is_none() {
            return Err(err(
                "username",
                "missing: a password needs a username".into(),
            ));
        }
        Some(Smtp {
            host,
            port,
            tls,
            username: ch.username.clone(),
            password,
            from,
            to,
        })
    } else {
        None
    };
    let branches = match &ch.branches {
        None => None,
        Some(patterns) => {
            let mut b = GlobSetBuilder::new();
            for p in patterns {
                let g = Glob::new(p)
                    .map_err(|e| err("branches", format!("{p:?} is not a valid glob: {e}")))?;
                b.add(g);
            }
            let set = b.build().map_err(|e| err("branches", e.to_string()))?;
            Some(BranchFilter {
                patterns: patterns.clone(),
                set,
            })
        }
    };
    let timeout = match ch.timeout.as_deref() {
        None => Duration::from_secs(30),
        Some(t) => crate::server::parse_ttl(t).ok_or_else(|| {
            err(
                "timeout",
                format!("{t:?} is not a duration such as 30s, 2m"),
            )
        })?,
    };
    let events = ch
        .events
        .clone()
        .unwrap_or_else(|| vec![Event::Failure, Event::Fixed]);
    let template = match &ch.template {
        None => None,
        Some(path) => Some(
            crate::notify::template::Template::load(ctx.file, kind, path, &events, read_file)
                .map_err(|m| err("template", m))?,
        ),
    };
    let Pos { line, col } = ctx.doc.pos(&ptr);
    Ok(ChannelSpec {
        label: ch
            .name
            .clone()
            .unwrap_or_else(|| format!("{}#{}", kind.as_str(), i + 1)),
        origin: format!("{}:{line}:{col}: {context}", ctx.file),
        kind,
        events,
        branches,
        template,
        mentions: ch.mentions.clone().unwrap_or_default(),
        timeout,
        url,
        secret: signing,
        github_secret,
        smtp,
        headers: ch.headers.clone().unwrap_or_default().into_iter().collect(),
    })
}

#[cfg(test)]
mod tests;
