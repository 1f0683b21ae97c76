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
    pub gate: Option<serde_json::Map<String, serde_json::Value>>,
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
