//! From validated channel settings to channel implementations: the one place that knows
//! every channel's constructor. Errors are prefixed with where the channel is written.

use crate::config::file::{ChannelType, TlsMode};
use crate::config::ChannelSpec;

use super::dingtalk::{DingTalk, DingTalkFormat};
use super::discord::Discord;
use super::email::{Email, SmtpTls};
use super::fanout::Channel;
use super::feishu::Feishu;
use super::slack::Slack;
use super::teams::Teams;
use super::webhook::Webhook;
use super::wecom::WeCom;
use super::Notifier;

/// Builds one channel. The error names the file, line, channel and field.
pub fn build(spec: &ChannelSpec) -> Result<Channel, String> {
    let fail = |e: &dyn std::fmt::Display| format!("{}{e}", spec.origin);
    let url = || {
        spec.url
            .clone()
            .ok_or_else(|| format!("{}url_env: missing", spec.origin))
    };
    let notifier: Box<dyn Notifier> = match spec.kind {
        ChannelType::Slack => {
            Box::new(Slack::new(url()?, spec.mentions.clone()).map_err(|e| fail(&e))?)
        }
        ChannelType::Teams => {
            Box::new(Teams::new(url()?, spec.mentions.clone()).map_err(|e| fail(&e))?)
        }
        ChannelType::Discord => {
            Box::new(Discord::new(url()?, spec.mentions.clone()).map_err(|e| fail(&e))?)
        }
        ChannelType::Dingtalk => Box::new(
            DingTalk::new(
                url()?,
                spec.secret.clone(),
                &spec.mentions,
                DingTalkFormat::Markdown,
            )
            .map_err(|e| fail(&e))?,
        ),
        ChannelType::Wecom => Box::new(WeCom::new(url()?, &spec.mentions).map_err(|e| fail(&e))?),
        ChannelType::Feishu => Box::new(
            Feishu::new(url()?, spec.secret.clone(), &spec.mentions).map_err(|e| fail(&e))?,
        ),
        ChannelType::Email => {
            let smtp = spec
                .smtp
                .as_ref()
                .ok_or_else(|| format!("{}host: missing", spec.origin))?;
            let tls = match smtp.tls {
                TlsMode::Starttls => SmtpTls::StartTls,
                TlsMode::Tls => SmtpTls::Tls,
                TlsMode::None => SmtpTls::None,
            };
            let mut email = Email::new(smtp.host.clone(), smtp.port, tls, &smtp.from, &smtp.to)
                .map_err(|e| fail(&e))?
                .with_timeout(spec.timeout);
            if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                email = email.with_credentials(user.clone(), password.clone());
            }
            Box::new(email)
        }
        ChannelType::Webhook => {
            let mut hook = Webhook::new(url()?).map_err(|e| fail(&e))?;
            if let Some(s) = &spec.secret {
                hook = hook.with_secret(s.clone()).map_err(|e| fail(&e))?;
            }
            if let Some(s) = &spec.github_secret {
                hook = hook.with_github_secret(s.clone()).map_err(|e| fail(&e))?;
            }
            for (name, value) in &spec.headers {
                hook = hook.with_header(name, value).map_err(|e| fail(&e))?;
            }
            Box::new(hook)
        }
    };
    Ok(Channel {
        spec: spec.clone(),
        notifier,
    })
}

/// Builds every channel, or returns every error (one per line).
pub fn build_all(specs: &[ChannelSpec]) -> Result<Vec<Channel>, String> {
    let mut channels = Vec::new();
    let mut errors = Vec::new();
    for spec in specs {
        match build(spec) {
            Ok(c) => channels.push(c),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(channels)
    } else {
        Err(errors.join("\n"))
    }
}
