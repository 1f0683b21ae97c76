//! Test support shared by the robot channels: a client, expected outcomes, a closed port.

use std::time::Duration;

use crate::http::{build_client, HttpConfig};
use crate::notify::NotifyError;

/// A client with a short total timeout.
pub(crate) fn client() -> reqwest::Client {
    build_client(&HttpConfig {
        timeout: Duration::from_millis(700),
        connect_timeout: Duration::from_millis(700),
        ca_file: None,
    })
    .unwrap()
}

/// What one attempt should come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Delivered.
    Ok,
    /// A retry may help, not before this wait.
    Transient(Option<Duration>),
    /// A retry cannot help.
    Permanent,
}

/// What `result` came to.
pub(crate) fn outcome(result: &Result<(), NotifyError>) -> Expect {
    match result {
        Ok(()) => Expect::Ok,
        Err(e) if e.retryable => Expect::Transient(e.retry_after),
        Err(_) => Expect::Permanent,
    }
}

/// A local port nothing listens on.
pub(crate) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
