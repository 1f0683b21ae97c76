//! The one retry stage of every network write cimon makes (the endpoint, later the channels).
//!
//! - [`RetryPolicy`]: exponential backoff with **full jitter** — before retry `n` (0-based) the
//!   stage sleeps `random(0, min(cap, base·2ⁿ))`, at most half the time left — within a total
//!   deadline. A `Retry-After` from the server is a lower bound of the wait.
//!   [`RetryPolicy::decide`] is the pure decision.
//! - [`Attempt`]: how one try failed: [`Attempt::Transient`] (connect error, timeout, 429,
//!   5xx: a retry may help, optionally not before `Retry-After`) or [`Attempt::Permanent`].
//! - [`run`]: drives an operation until it succeeds, fails permanently, or the deadline passes.
//!   Each attempt is also cut at the deadline, so a server that never answers costs no more
//!   than the deadline.
//! - [`parse_retry_after`]: `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use tokio::time::Instant;

/// How often and how long to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The backoff ceiling before the first retry; it doubles for each further retry.
    pub base: Duration,
    /// The largest backoff ceiling.
    pub cap: Duration,
    /// The total time allowed, attempts and waits included.
    pub deadline: Duration,
    /// The most attempts made (the first one included); at least one is always made.
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// Default backoff ceiling before the first retry.
    pub const DEFAULT_BASE: Duration = Duration::from_millis(500);
    /// Default largest backoff ceiling.
    pub const DEFAULT_CAP: Duration = Duration::from_secs(10);
    /// Default total deadline.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
    /// Default attempt limit (the deadline usually ends things first).
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

    /// The default policy with another total deadline.
    pub fn with_deadline(deadline: Duration) -> Self {
        Self {
            deadline,
            ..Self::default()
        }
    }

    /// The backoff ceiling before retry `retry` (0 = the first retry): `min(cap, base·2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// What to do after `attempts` failed transient attempts, `elapsed` after the start.
    /// `unit` is a random number in `[0, 1)` (the jitter); `retry_after` the server's minimum
    /// wait.
    ///
    /// The jittered wait is `unit·ceiling(attempts − 1)`, shortened to at most half the time
    /// left so that a last attempt still fits before the deadline; the wait is the larger of
    /// that and `retry_after`. The stage gives up when `retry_after` reaches the deadline, when
    /// no time is left, or when the attempt limit is reached.
    pub fn decide(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        elapsed: Duration,
        unit: f64,
    ) -> Decision {
        if attempts >= self.max_attempts.max(1) {
            return Decision::GiveUp(GiveUpReason::Attempts);
        }
        let remaining = self.deadline.saturating_sub(elapsed);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let jitter = self
            .ceiling(attempts.saturating_sub(1))
            .mul_f64(unit)
            .min(remaining / 2);
        let wait = retry_after.map_or(jitter, |at_least| at_least.max(jitter));
        if remaining.is_zero() || wait >= remaining {
            return Decision::GiveUp(GiveUpReason::Deadline);
        }
        Decision::Wait(wait)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Self::DEFAULT_BASE,
            cap: Self::DEFAULT_CAP,
            deadline: Self::DEFAULT_DEADLINE,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// The outcome of [`RetryPolicy::decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Sleep this long, then try again.
    Wait(Duration),
    /// Stop.
    GiveUp(GiveUpReason),
}

/// Why the stage stopped without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    /// The operation failed in a way a retry cannot fix.
    Permanent,
    /// The deadline passed, or the next wait would have reached it.
    Deadline,
    /// The attempt limit was reached.
    Attempts,
}

/// How one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt<E> {
    /// A retry may help (connect error, timeout, 429, 5xx), not before `retry_after` if set.
    Transient {
        /// What went wrong.
        error: E,
        /// The server's `Retry-After`, parsed.
        retry_after: Option<Duration>,
    },
    /// A retry cannot help (4xx other than 429, TLS, a malformed request).
    Permanent(E),
}

impl<E> Attempt<E> {
    /// A transient failure without `Retry-After`.
    pub fn transient(error: E) -> Self {
        Self::Transient {
            error,
            retry_after: None,
        }
    }

    /// The error, whatever its kind.
    pub fn error(&self) -> &E {
        match self {
            Self::Transient { error, .. } | Self::Permanent(error) => error,
        }
    }
}

/// A success and what it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done<T> {
    /// The operation's result.
    pub value: T,
    /// Attempts made, this one included.
    pub attempts: u32,
    /// Time from the start of the stage.
    pub elapsed: Duration,
}

/// A failure and what was tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaveUp<E> {
    /// Why the stage stopped.
    pub reason: GiveUpReason,
    /// The error of the last attempt that completed (`None` when every attempt was cut by
    /// the deadline, or when none could be started).
    pub last: Option<E>,
    /// Whether the deadline cut an attempt that was still waiting for an answer.
    pub cut_by_deadline: bool,
    /// Attempts started.
    pub attempts: u32,
    /// Time from the start of the stage.
    pub elapsed: Duration,
}

/// Runs `op` under `policy` with random jitter ([`run_with`] with `fastrand`).
pub async fn run<T, E, F, Fut>(policy: &RetryPolicy, op: F) -> Result<Done<T>, GaveUp<E>>
where
    E: fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    run_with(policy, fastrand::f64, op).await
}

/// Runs `op` until it succeeds, fails permanently, the attempt limit is reached or the
/// deadline passes. `unit` supplies the jitter (numbers in `[0, 1)`). Each attempt is
/// cancelled (its future dropped) when the deadline passes.
pub async fn run_with<T, E, F, Fut>(
    policy: &RetryPolicy,
    mut unit: impl FnMut() -> f64,
    mut op: F,
) -> Result<Done<T>, GaveUp<E>>
where
    E: fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let start = Instant::now();
    let mut attempts = 0u32;
    let mut last: Option<E> = None;
    let gave_up = |reason, last, cut_by_deadline, attempts| GaveUp {
        reason,
        last,
        cut_by_deadline,
        attempts,
        elapsed: start.elapsed(),
    };
    loop {
        let Some(remaining) = policy
            .deadline
            .checked_sub(start.elapsed())
            .filter(|r| !r.is_zero())
        else {
            return Err(gave_up(GiveUpReason::Deadline, last, false, attempts));
        };
        attempts += 1;
        let outcome = match tokio::time::timeout(remaining, op()).await {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::info!(attempt = attempts, "no answer before the deadline");
                return Err(gave_up(GiveUpReason::Deadline, last, true, attempts));
            }
        };
        let (error, retry_after) = match outcome {
            Ok(value) => {
                return Ok(Done {
                    value,
                    attempts,
                    elapsed: start.elapsed(),
                })
            }
            Err(Attempt::Permanent(error)) => {
                return Err(gave_up(
                    GiveUpReason::Permanent,
                    Some(error),
                    false,
                    attempts,
                ));
            }
            Err(Attempt::Transient { error, retry_after }) => (error, retry_after),
        };
        match policy.decide(attempts, retry_after, start.elapsed(), unit()) {
            Decision::Wait(wait) => {
                tracing::info!(
                    attempt = attempts,
                    "{error}; retrying in {:.2} s",
                    wait.as_secs_f64()
                );
                last = Some(error);
                tokio::time::sleep(wait).await;
            }
            Decision::GiveUp(reason) => {
                return Err(gave_up(reason, Some(error), false, attempts));
            }
        }
    }
}

/// Parses a `Retry-After` value: delay-seconds (`120`) or an HTTP-date in any of the three
/// formats RFC 9110 accepts (IMF-fixdate, RFC 850, asctime). A date in the past is a zero
/// delay; anything else unparsable is `None`.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Longer than u64 seconds: as good as forever.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc2822(value) {
        return Some(at.with_timezone(&Utc));
    }
    // RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use chrono::TimeZone;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy(base: u64, cap: u64, deadline: u64) -> RetryPolicy {
        RetryPolicy {
            base: ms(base),
            cap: ms(cap),
            deadline: ms(deadline),
            max_attempts: 10,
        }
    }

    #[test]
    fn ceiling_doubles_up_to_the_cap() {
        let p = policy(500, 10_000, 30_000);
        let table = [
            (0, 500),
            (1, 1_000),
            (2, 2_000),
            (4, 8_000),
            (5, 10_000),
            (31, 10_000),
            (32, 10_000),
            (u32::MAX, 10_000),
        ];
        for (retry, want) in table {
            assert_eq!(p.ceiling(retry), ms(want), "retry {retry}");
        }
    }

    #[test]
    fn decide_table() {
        use Decision::{GiveUp, Wait};
        let p = policy(500, 10_000, 30_000);
        // (attempts, retry_after, elapsed, unit) -> decision
        let table: &[(u32, Option<u64>, u64, f64, Decision)] = &[
            // Full jitter: 0 ..= ceiling.
            (1, None, 0, 0.0, Wait(ms(0))),
            (1, None, 0, 0.5, Wait(ms(250))),
            (2, None, 0, 0.5, Wait(ms(500))),
            (3, None, 0, 1.0, Wait(ms(2_000))),
            (9, None, 0, 1.0, Wait(ms(10_000))),
            // Out-of-range randomness is clamped.
            (1, None, 0, 7.0, Wait(ms(500))),
            (1, None, 0, f64::NAN, Wait(ms(0))),
            // Retry-After is a lower bound; jitter above it wins.
            (1, Some(1_000), 0, 0.3, Wait(ms(1_000))),
            (5, Some(1_000), 0, 1.0, Wait(ms(8_000))),
            // The deadline bounds everything, Retry-After included.
            (1, Some(60_000), 0, 0.0, GiveUp(GiveUpReason::Deadline)),
            (1, Some(1_000), 29_000, 0.0, GiveUp(GiveUpReason::Deadline)),
            (1, Some(999), 29_000, 0.0, Wait(ms(999))),
            // A jittered wait leaves half the time left for a last attempt.
            (4, None, 25_000, 1.0, Wait(ms(2_500))),
            (4, None, 25_000, 0.25, Wait(ms(1_000))),
            (2, None, 29_998, 1.0, Wait(ms(1))),
            (1, None, 30_000, 0.0, GiveUp(GiveUpReason::Deadline)),
            // The attempt limit.
            (10, None, 0, 0.0, GiveUp(GiveUpReason::Attempts)),
        ];
        for &(attempts, retry_after, elapsed, unit, want) in table {
            let got = p.decide(attempts, retry_after.map(ms), ms(elapsed), unit);
            assert_eq!(
                got, want,
                "attempts {attempts}, retry_after {retry_after:?}, elapsed {elapsed}, unit {unit}"
            );
        }
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let p = RetryPolicy::default();
        for attempts in 1..8 {
            let ceiling = p.ceiling(attempts - 1);
            for _ in 0..1_000 {
                match p.decide(attempts, None, Duration::ZERO, fastrand::f64()) {
                    Decision::Wait(wait) => assert!(wait <= ceiling, "{wait:?} > {ceiling:?}"),
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn retry_after_seconds_and_http_dates() {
        let now = Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 0).unwrap();
        let table = [
            ("1", Some(1)),
            (" 120 ", Some(120)),
            ("0", Some(0)),
            ("99999999999999999999999", Some(u64::MAX)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(37)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(37)),
            ("Sun Nov  6 08:49:37 1994", Some(37)),
            ("Sun, 06 Nov 1994 08:48:00 GMT", Some(0)),
            ("-5", None),
            ("1.5", None),
            ("", None),
            ("soon", None),
        ];
        for (value, want) in table {
            assert_eq!(
                parse_retry_after(value, now),
                want.map(Duration::from_secs),
                "{value:?}"
            );
        }
    }

    #[derive(Debug, PartialEq)]
    struct Oops(&'static str);

    impl fmt::Display for Oops {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    #[tokio::test]
    async fn retries_transient_failures_until_success() {
        let calls = AtomicU32::new(0);
        let done = run(&policy(1, 4, 5_000), || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(Attempt::transient(Oops("503"))),
                _ => Ok("stored"),
            }
        })
        .await
        .unwrap();
        assert_eq!((done.value, done.attempts), ("stored", 3));
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried() {
        let calls = AtomicU32::new(0);
        let failed = run(&policy(1, 4, 5_000), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Attempt::Permanent(Oops("400")))
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(failed.reason, GiveUpReason::Permanent);
        assert_eq!(failed.last, Some(Oops("400")));
    }

    #[tokio::test]
    async fn honours_retry_after() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let done = run_with(
            &policy(1, 1, 5_000),
            || 0.0,
            || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(Attempt::Transient {
                        error: Oops("429"),
                        retry_after: Some(ms(200)),
                    }),
                    _ => Ok(()),
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(done.attempts, 2);
        assert!(start.elapsed() >= ms(200), "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn a_hanging_attempt_is_cut_at_the_deadline() {
        let start = Instant::now();
        let calls = AtomicU32::new(0);
        let failed = run(&policy(1, 4, 300), || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(Attempt::transient(Oops("connection refused")))
            } else {
                std::future::pending::<Result<(), Attempt<Oops>>>().await
            }
        })
        .await
        .unwrap_err();
        let took = start.elapsed();
        assert!(took >= ms(300) && took < ms(2_000), "{took:?}");
        assert_eq!(failed.reason, GiveUpReason::Deadline);
        assert!(failed.cut_by_deadline);
        assert_eq!(failed.last, Some(Oops("connection refused")));
        assert_eq!(failed.attempts, 2);
    }

    #[tokio::test]
    async fn a_spent_deadline_starts_nothing() {
        let failed = run(&policy(1, 4, 0), || async { Ok::<(), Attempt<Oops>>(()) })
            .await
            .unwrap_err();
        assert_eq!(
            (failed.attempts, failed.reason),
            (0, GiveUpReason::Deadline)
        );
    }
}
