//! Sending one message to every channel: concurrently, each within its own deadline, retries
//! through the shared stage ([`crate::delivery::retry`]). One failing or hanging channel never
//! delays another; the result is one row per channel.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::config::ChannelSpec;
use crate::delivery::retry::{self, Attempt, RetryPolicy};

use super::{Message, Notifier};

/// A configured channel: its settings and its implementation.
pub struct Channel {
    /// Validated settings (label, events, branches, deadline, template).
    pub spec: ChannelSpec,
    /// The implementation.
    pub notifier: Box<dyn Notifier>,
}

/// What happened on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Delivered.
    Sent,
    /// Not for this channel (event not subscribed, branch not matched).
    Skipped(String),
    /// Given up; the message is masked.
    Failed(String),
}

/// One row of the result table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelResult {
    /// The channel's label.
    pub label: String,
    /// Its type.
    pub kind: &'static str,
    /// What happened.
    pub status: Status,
    /// Attempts made.
    pub attempts: u32,
    /// Time spent.
    pub elapsed: Duration,
}

fn policy(deadline: Duration) -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(500),
        cap: Duration::from_secs(10),
        deadline,
        max_attempts: 6,
    }
}

/// Why `channel` does not take `message` on `branch`, if it does not.
pub fn skip_reason(
    spec: &ChannelSpec,
    message: &Message,
    default_branches: &[String],
) -> Option<String> {
    if !spec.events.contains(&message.event) {
        return Some(format!(
            "event {} not in its events",
            message.event.as_str()
        ));
    }
    let branch = message.branch.as_deref().unwrap_or("");
    let matched = match &spec.branches {
        Some(filter) => filter.matches(branch),
        None => default_branches.iter().any(|b| b == branch),
    };
    if !matched {
        return Some(format!("branch {branch:?} not in its branches"));
    }
    None
}

async fn one(
    channel: &Channel,
    message: &Message,
    client: &reqwest::Client,
    default_branches: &[String],
) -> ChannelResult {
    let started = Instant::now();
    let row = |status, attempts| ChannelResult {
        label: channel.spec.label.clone(),
        kind: channel.notifier.kind(),
        status,
        attempts,
        elapsed: started.elapsed(),
    };
    if let Some(reason) = skip_reason(&channel.spec, message, default_branches) {
        return row(Status::Skipped(reason), 0);
    }
    let rendered = render(channel, message);
    let deadline = channel.spec.timeout;
    let policy = policy(deadline);
    let stage = retry::run(&policy, || async {
        channel.notifier.send(client, &rendered).await.map_err(|e| {
            if e.retryable {
                let retry_after = e.retry_after;
                Attempt::Transient {
                    error: e,
                    retry_after,
                }
            } else {
                Attempt::Permanent(e)
            }
        })
    });
    // The stage keeps its deadline; this bound is the guarantee for a channel that hangs.
    match tokio::time::timeout(deadline + Duration::from_millis(250), stage).await {
        Ok(Ok(done)) => row(Status::Sent, done.attempts),
        Ok(Err(gave_up)) => {
            let why = gave_up
                .last
                .map(|e| e.message)
                .unwrap_or_else(|| format!("no answer within {deadline:?}"));
            row(Status::Failed(why), gave_up.attempts)
        }
        Err(_) => row(Status::Failed(format!("no answer within {deadline:?}")), 0),
    }
}

/// The channel's payload for `message`: with its template's body when it has one; when the
/// template fails on this message (an optional value used unguarded), the default body and a
/// warning.
pub fn render(channel: &Channel, message: &Message) -> super::Rendered {
    let Some(template) = &channel.spec.template else {
        return channel.notifier.render(message);
    };
    match template.render(message) {
        Ok(body) => channel.notifier.render_with(message, Some(&body)),
        Err(e) => {
            tracing::warn!(
                "{}: the template failed on this message ({e}); sending the default message",
                channel.spec.label
            );
            channel.notifier.render(message)
        }
    }
}

/// Sends `message` to every channel at once; results in channel order.
pub async fn send_all(
    channels: &[Channel],
    message: &Message,
    client: &reqwest::Client,
    default_branches: &[String],
) -> Vec<ChannelResult> {
    futures_util::future::join_all(
        channels
            .iter()
            .map(|c| one(c, message, client, default_branches)),
    )
    .await
}

/// The result table, one line per channel.
pub fn table(results: &[ChannelResult]) -> String {
    let mut out = String::new();
    for r in results {
        let (status, detail) = match &r.status {
            Status::Sent => ("sent", String::new()),
            Status::Skipped(why) => ("skipped", why.clone()),
            Status::Failed(why) => ("FAILED", why.clone()),
        };
        let detail = crate::output::escape::terminal(&detail).into_owned();
        let _ = writeln!(
            out,
            "  {:<20} {:<9} {:<8} {:>2} attempt{} {:>7}  {}",
            crate::output::escape::terminal(&r.label),
            r.kind,
            status,
            r.attempts,
            if r.attempts == 1 { " " } else { "s" },
            crate::output::human_duration(r.elapsed.as_millis() as u64),
            detail
        );
    }
    out
}
