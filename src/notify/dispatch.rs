//! One notification round for a run: decide the events from the alert state, build the
//! messages, fan them out, remember what was sent.
//!
//! State comes from a [`Store`] (the server's, or the local `--history` file) under the key
//! `notify:<alert key>`; without a store, from the outcome of the previous run as the CI's
//! API reports it, and nothing is remembered (so `still_failing` cannot be rate-limited).

use std::time::Duration;

use chrono::Utc;

use crate::model::{RunOutcome, RunReport};
use crate::store::Store;

use super::fanout::{send_all, Channel, ChannelResult, Status};
use super::message::{GateNote, Message};
use super::state::{alert_key, decide, AlertState};
use super::Event;

/// Where the alert state comes from.
pub enum StateSource<'a> {
    /// A store: read before, written after.
    Store(&'a dyn Store),
    /// The previous run's outcome (from the CI's API), nothing remembered.
    Previous(Option<RunOutcome>),
}

/// Everything a notification round needs besides the run.
pub struct Setup {
    /// The channels.
    pub channels: Vec<Channel>,
    /// Quiet period of repeated notifications.
    pub repeat_interval: Duration,
    /// The branches channels without `branches` listen to.
    pub default_branches: Vec<String>,
}

/// What a round did.
#[derive(Debug, Default)]
pub struct Round {
    /// The events sent (or attempted).
    pub events: Vec<Event>,
    /// One row per channel and event.
    pub results: Vec<(Event, ChannelResult)>,
    /// Problems with the state (never fatal).
    pub warnings: Vec<String>,
}

impl Round {
    /// True when a channel that should have received a message did not.
    pub fn failed(&self) -> bool {
        self.results
            .iter()
            .any(|(_, r)| matches!(r.status, Status::Failed(_)))
    }
}

fn state_key(report: &RunReport) -> String {
    format!("notify:{}", alert_key(report))
}

/// Runs one round. `forced` sends that event regardless of state (`cimon notify --event`).
pub async fn notify(
    setup: &Setup,
    report: &RunReport,
    source: StateSource<'_>,
    forced: Option<Event>,
    client: &reqwest::Client,
) -> Round {
    let mut round = Round::default();
    let now = Utc::now();
    let state = match &source {
        StateSource::Store(store) => match store.state(&state_key(report)).await {
            Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_else(|e| {
                round.warnings.push(format!(
                    "notification state for {} is unreadable ({e}); starting afresh",
                    alert_key(report)
                ));
                AlertState::default()
            }),
            Ok(None) => AlertState::default(),
            Err(e) => {
                round
                    .warnings
                    .push(format!("cannot read the notification state: {e}"));
                AlertState::default()
            }
        },
        StateSource::Previous(previous) => AlertState {
            failing: previous.and_then(|o| match o {
                RunOutcome::Failure => Some(true),
                RunOutcome::Success => Some(false),
                _ => None,
            }),
            ..AlertState::default()
        },
    };
    let decision = decide(&state, report, now, setup.repeat_interval);
    let mut messages = Vec::new();
    match forced {
        Some(event) => messages.push(Message::from_report(report, event)),
        None => {
            if let Some(event) = decision.event {
                messages.push(Message::from_report(report, event));
            }
            if !decision.flaky_tests.is_empty() {
                let mut m = Message::from_report(report, Event::Flaky);
                let ids: Vec<&str> = decision.flaky_tests.iter().map(String::as_str).collect();
                let names: Vec<String> = report
                    .tests
                    .cases
                    .iter()
                    .filter(|c| ids.contains(&c.id.to_string().as_str()))
                    .map(crate::output::full_name)
                    .collect();
                m.flaky.retain(|t| names.contains(&t.name));
                messages.push(m);
            }
        }
    }
    let mut next = decision.next.clone();
    for message in &messages {
        round.events.push(message.event);
        let results = send_all(&setup.channels, message, client, &setup.default_branches).await;
        let delivered = results.iter().any(|r| r.status == Status::Sent);
        if !delivered && forced.is_none() {
            // Nothing got through: do not remember it as sent, so the next run tries again.
            match message.event {
                Event::Flaky => next
                    .sent
                    .retain(|k, _| !k.starts_with("flaky:") || state.sent.contains_key(k)),
                e => {
                    match state.sent.get(e.as_str()) {
                        Some(t) => next.sent.insert(e.as_str().into(), *t),
                        None => next.sent.remove(e.as_str()),
                    };
                }
            }
        }
        round
            .results
            .extend(results.into_iter().map(|r| (message.event, r)));
    }
    if let StateSource::Store(store) = source {
        if forced.is_none() {
            match serde_json::to_string(&next) {
                Ok(text) => {
                    if let Err(e) = store.put_state(&state_key(report), &text).await {
                        round
                            .warnings
                            .push(format!("cannot save the notification state: {e}"));
                    }
                }
                Err(e) => round
                    .warnings
                    .push(format!("cannot save the notification state: {e}")),
            }
        }
    }
    round
}

/// Sends `gate_failed` about `report` with the gate's reasons (`cimon gate --notify`). No
/// de-duplication state: each gate run that says no is one decision people must hear about;
/// the channels' `events` and `branches` filters still apply.
pub async fn notify_gate_failed(
    setup: &Setup,
    report: &RunReport,
    note: GateNote,
    client: &reqwest::Client,
) -> Round {
    let mut message = Message::from_report(report, Event::GateFailed);
    message.gate = Some(note);
    let results = send_all(&setup.channels, &message, client, &setup.default_branches).await;
    Round {
        events: vec![Event::GateFailed],
        results: results
            .into_iter()
            .map(|r| (Event::GateFailed, r))
            .collect(),
        warnings: Vec::new(),
    }
}

/// The result table of a round, for stderr.
pub fn table(round: &Round) -> String {
    if round.results.is_empty() {
        return "cimon notify: nothing to send (no event for this run)\n".into();
    }
    let mut out = String::new();
    for event in &round.events {
        out.push_str(&format!("cimon notify: {}\n", event.as_str()));
        let rows: Vec<ChannelResult> = round
            .results
            .iter()
            .filter(|(e, _)| e == event)
            .map(|(_, r)| r.clone())
            .collect();
        out.push_str(&super::fanout::table(&rows));
    }
    out
}
