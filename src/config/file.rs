//! `.cimon.yml` as the user writes it: the serde + JSON Schema types behind
//! `schemas/policy.v1.json`. Validation and secret resolution live in [`super`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::notify::Event;

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "cimon configuration (.cimon.yml), version 1")]
pub struct ConfigFile {
    /// Always 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// Notification channels and de-duplication.
    #[serde(default)]
    pub notify: Option<NotifyConfig>,
    /// The merge gate's policy (see `docs/gate.md`).
    #[serde(default)]
    pub gate: Option<GateConfig>,
    /// Tests whose flakiness is known and owned: excused by the gate until `until`.
    #[serde(default)]
    pub quarantine: Option<Vec<QuarantineConfig>>,
}

/// `gate:`, the flakiness policy (`docs/gate.md` gives every default).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// Scope: branch globs whose history is judged and whose runs (and pull requests into
    /// them) are gated (default: every branch).
    #[serde(default)]
    pub branches: Option<Vec<String>>,
    /// Scope: test globs (on the suite, classname, name, `classname.name` or the test id);
    /// other tests are ignored (default: every test).
    #[serde(default)]
    pub tests: Option<Vec<String>>,
    /// The history judged: the newest `runs` runs, and/or those of the last `days` days.
    #[serde(default)]
    pub window: Option<WindowConfig>,
    /// Tests with fewer judged runs (passed or failed) in the window are not judged
    /// (default 10).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub min_runs: Option<u32>,
    /// The thresholds.
    #[serde(default)]
    pub rules: Option<RulesConfig>,
    /// `enforce`: a violated rule fails the gate; `warn`: it only warns (default `enforce`).
    #[serde(default)]
    pub mode: Option<GateMode>,
    /// What the verdict is when no history can be read (default `warn`).
    #[serde(default)]
    pub on_missing_history: Option<OnMissingHistory>,
    /// When every failed test of the current run is quarantined or known to be flaky, say
    /// that the run's failure is excused (default false).
    #[serde(default)]
    pub allow_known_flaky_failures: Option<bool>,
}

/// `gate.window`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// The newest this many runs that reported tests (default 100).
    #[serde(default)]
    #[schemars(range(min = 2, max = 1000))]
    pub runs: Option<u32>,
    /// Only runs that finished in the last this many days (default: no limit).
    #[serde(default)]
    #[schemars(range(min = 1, max = 3650))]
    pub days: Option<u32>,
}

/// `gate.rules`: every rule is optional; an absent rule is not checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Per test: largest flip rate (pass↔fail transitions / (runs − 1)); also the flip rate
    /// above which a test counts as flaky (0.1 when absent).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_flip_rate: Option<f64>,
    /// Per test: largest failure rate; violated when the lower Wilson bound at `confidence`
    /// is above it (broken tests are not judged by it).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_failure_rate: Option<f64>,
    /// Confidence of the Wilson bound (default 0.95).
    #[serde(default)]
    #[schemars(range(min = 0.5, max = 0.999))]
    pub confidence: Option<f64>,
    /// Per suite: most flaky tests (quarantined ones not counted).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub max_flaky_tests: Option<u64>,
    /// Per suite: largest share of the window's runs that needed a retry.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_flaky_run_rate: Option<f64>,
    /// A test flaky in this pull request's runs but not flaky on the base branch
    /// (default `warn`).
    #[serde(default)]
    pub new_flaky: Option<NewFlaky>,
}

/// `gate.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GateMode {
    /// Violations fail the gate.
    Enforce,
    /// Violations only warn.
    Warn,
}

/// `gate.rules.new_flaky`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NewFlaky {
    /// A new flaky test fails the gate.
    Fail,
    /// It warns.
    Warn,
    /// It is not checked.
    Ignore,
}

/// `gate.on_missing_history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnMissingHistory {
    /// Judge the current run alone, pass otherwise.
    Pass,
    /// Warn.
    Warn,
    /// Fail.
    Fail,
}

/// One entry of `quarantine:`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuarantineConfig {
    /// A test id (16 hex digits) or a glob on the name, `classname.name` or classname.
    #[serde(default)]
    pub test: Option<String>,
    /// A glob on the suite.
    #[serde(default)]
    pub suite: Option<String>,
    /// A glob on the classname.
    #[serde(default)]
    pub classname: Option<String>,
    /// A glob on the name.
    #[serde(default)]
    pub name: Option<String>,
    /// Who owns the fix (`@team`, an email…).
    pub owner: String,
    /// Why (a ticket).
    pub reason: String,
    /// Last day (UTC, `YYYY-MM-DD`) the entry excuses; after it, it warns.
    #[serde(default)]
    #[schemars(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub until: Option<String>,
}

/// `notify:`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Where notifications go.
    pub channels: Vec<ChannelConfig>,
    /// How long a `still_failing` (or a test's `flaky`) notification stays quiet after one was
    /// sent (`4h` by default; `30m`, `1d`…).
    #[serde(default)]
    pub repeat_interval: Option<String>,
    /// The branch that `branches` defaults to (else the CI's default branch, else `main` and
    /// `master`).
    #[serde(default)]
    pub default_branch: Option<String>,
}

/// The channel types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelType {
    /// Slack incoming webhook.
    Slack,
    /// Microsoft Teams Workflows webhook.
    Teams,
    /// Discord webhook.
    Discord,
    /// DingTalk custom robot.
    Dingtalk,
    /// WeCom group robot.
    Wecom,
    /// Feishu / Lark custom bot.
    Feishu,
    /// Email over SMTP.
    Email,
    /// A generic webhook (Standard Webhooks signature).
    Webhook,
}

impl ChannelType {
    /// Every type, as written in the file.
    pub const NAMES: [&'static str; 8] = [
        "slack", "teams", "discord", "dingtalk", "wecom", "feishu", "email", "webhook",
    ];

    /// The name written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::Discord => "discord",
            Self::Dingtalk => "dingtalk",
            Self::Wecom => "wecom",
            Self::Feishu => "feishu",
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }
}

/// How email reaches the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS (required).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (a local relay only).
    None,
}

/// One entry of `notify.channels`. Secrets are only ever named (`*_env`: an environment
/// variable; `*_file`: a file), never written here.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// The channel type.
    #[serde(rename = "type")]
    pub kind: Option<ChannelType>,
    /// A label for logs and the result table (default: the type and position).
    #[serde(default)]
    pub name: Option<String>,
    /// Events that notify (default: failure, fixed).
    #[serde(default)]
    pub events: Option<Vec<Event>>,
    /// Branch globs (default: the default branch).
    #[serde(default)]
    pub branches: Option<Vec<String>>,
    /// A minijinja file, relative to this file's folder, for the message body (see
    /// `docs/notify.md`); not for `webhook`.
    #[serde(default)]
    pub template: Option<String>,
    /// Who to mention (user/group ids in the channel's own syntax).
    #[serde(default)]
    pub mentions: Option<Vec<String>>,
    /// Give up on this channel after this long, retries included (default `30s`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Environment variable holding the webhook URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// File holding the webhook URL.
    #[serde(default)]
    pub url_file: Option<String>,
    /// Environment variable holding the signing secret (DingTalk, Feishu, webhook `whsec_…`).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// File holding the signing secret.
    #[serde(default)]
    pub secret_file: Option<String>,
    /// Environment variable holding a GitHub-style `X-Hub-Signature-256` secret (webhook).
    #[serde(default)]
    pub github_secret_env: Option<String>,
    /// File holding a GitHub-style signature secret (webhook).
    #[serde(default)]
    pub github_secret_file: Option<String>,
    /// Environment variable holding the SMTP password (email).
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the SMTP password (email).
    #[serde(default)]
    pub password_file: Option<String>,
    /// SMTP server (email).
    #[serde(default)]
    pub host: Option<String>,
    /// SMTP port (email; default 587 with STARTTLS, 465 with TLS, 25 without).
    #[serde(default)]
    pub port: Option<u16>,
    /// SMTP transport security (email; default `starttls`).
    #[serde(default)]
    pub tls: Option<TlsMode>,
    /// SMTP user (email).
    #[serde(default)]
    pub username: Option<String>,
    /// Sender address (email).
    #[serde(default)]
    pub from: Option<String>,
    /// Recipients (email).
    #[serde(default)]
    pub to: Option<Vec<String>>,
    /// Extra static headers (webhook).
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
}
