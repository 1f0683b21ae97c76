//! Time parsing and duration arithmetic for providers: every duration cimon reports goes
//! through [`span_ms`] or [`clamp_ms`], which never return a negative or absurd value
//! silently — they clamp it and add a warning naming the field.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

use crate::model::RunReport;

/// The longest duration cimon believes (7 days); longer ones are clamped and flagged.
pub const MAX_PLAUSIBLE_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Parses a CI timestamp: RFC 3339 (`2020-01-20T09:42:40.000-08:00`, `…Z`) or GitLab's older
/// `2015-12-24 17:54:24 UTC`. `None` for anything else.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = text.strip_suffix(" UTC").unwrap_or(text);
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, format) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    None
}

/// A Unix timestamp in milliseconds (Jenkins); `None` for 0 (not started) or out of range.
pub fn from_epoch_ms(ms: i64) -> Option<DateTime<Utc>> {
    if ms <= 0 {
        return None;
    }
    Utc.timestamp_millis_opt(ms).single()
}

/// `end - start` in milliseconds, clamped to `0..=MAX_PLAUSIBLE_MS`; a clamp adds a warning
/// naming `field`.
pub fn span_ms(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    field: &str,
    warnings: &mut Vec<String>,
) -> u64 {
    clamp_ms((end - start).num_milliseconds(), field, warnings)
}

/// `ms` clamped to `0..=MAX_PLAUSIBLE_MS`; a clamp adds a warning naming `field`.
pub fn clamp_ms(ms: i64, field: &str, warnings: &mut Vec<String>) -> u64 {
    if ms < 0 {
        warnings.push(format!(
            "{field}: end before start by {} ms (clock skew?); clamped to 0",
            ms.unsigned_abs()
        ));
        return 0;
    }
    let ms = ms.unsigned_abs();
    if ms > MAX_PLAUSIBLE_MS {
        warnings.push(format!(
            "{field}: {ms} ms is longer than 7 days, which is not plausible; clamped to {MAX_PLAUSIBLE_MS}"
        ));
        return MAX_PLAUSIBLE_MS;
    }
    ms
}

/// Seconds (GitLab's fractional `duration`/`queued_duration`) to clamped milliseconds.
pub fn secs_to_ms(secs: f64, field: &str, warnings: &mut Vec<String>) -> Option<u64> {
    if !secs.is_finite() {
        return None;
    }
    // Saturating float→int conversion; the clamp then flags absurd values.
    Some(clamp_ms((secs * 1000.0).round() as i64, field, warnings))
}

/// Recomputes `duration_ms` from `started_at` and `finished_at`.
pub fn refresh_duration(report: &mut RunReport) {
    report.duration_ms = report.started_at.map(|start| {
        span_ms(
            start,
            report.finished_at,
            "duration_ms",
            &mut report.warnings,
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_in_every_ci_format() {
        let want = Utc.with_ymd_and_hms(2020, 1, 20, 17, 42, 40).unwrap();
        for text in [
            "2020-01-20T17:42:40Z",
            "2020-01-20T09:42:40.000-08:00",
            "2020-01-20 17:42:40 UTC",
            "2020-01-20T17:42:40",
        ] {
            assert_eq!(parse_time(text), Some(want), "{text}");
        }
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(
            from_epoch_ms(1_461_091_892_486).map(|t| t.to_rfc3339()),
            Some("2016-04-19T18:51:32.486+00:00".into())
        );
        assert_eq!(from_epoch_ms(0), None);
    }

    #[test]
    fn durations_are_clamped_and_flagged() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let table: [(i64, u64, Option<&str>); 4] = [
            (1_500, 1_500, None),
            (0, 0, None),
            (-2_000, 0, Some("queued_ms: end before start by 2000 ms")),
            (
                8 * 86_400_000,
                MAX_PLAUSIBLE_MS,
                Some("queued_ms: 691200000 ms is longer"),
            ),
        ];
        for (delta, want, warning) in table {
            let mut warnings = Vec::new();
            let end = t0 + chrono::Duration::milliseconds(delta);
            assert_eq!(
                span_ms(t0, end, "queued_ms", &mut warnings),
                want,
                "{delta}"
            );
            match warning {
                None => assert!(warnings.is_empty(), "{warnings:?}"),
                Some(w) => assert!(
                    warnings.len() == 1 && warnings[0].starts_with(w),
                    "{warnings:?}"
                ),
            }
        }
        let mut warnings = Vec::new();
        assert_eq!(secs_to_ms(0.023, "queued_ms", &mut warnings), Some(23));
        assert_eq!(secs_to_ms(f64::NAN, "queued_ms", &mut warnings), None);
        assert_eq!(secs_to_ms(-1.0, "queued_ms", &mut warnings), Some(0));
        assert_eq!(warnings.len(), 1);
    }
}
