//! Test support shared by the provider tests: fixture loading, the expected identity of an env
//! fixture, and the fault table every `fetch_timings` must survive with exactly one warning.

use chrono::{DateTime, Utc};
use wiremock::{MockBuilder, MockServer, ResponseTemplate};

use super::{ApiCredentials, Env, Provider, RunOverrides};
use crate::model::{RunOutcome, RunReport};

/// Loads `tests/fixtures/env/<name>`.
pub(crate) fn env_fixture(name: &str) -> Env {
    Env::from_file(format!("tests/fixtures/env/{name}")).expect("env fixture")
}

/// The text of `tests/fixtures/api/<path>`.
pub(crate) fn api_fixture(path: &str) -> String {
    std::fs::read_to_string(format!("tests/fixtures/api/{path}")).expect("api fixture")
}

/// Parses an RFC 3339 time in tests.
pub(crate) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test time")
        .with_timezone(&Utc)
}

/// What an env fixture must produce.
#[derive(Debug, Default)]
pub(crate) struct Identity {
    pub key: &'static str,
    pub repository: Option<&'static str>,
    pub workflow: Option<&'static str>,
    pub job: Option<&'static str>,
    pub run_id: Option<&'static str>,
    pub run_attempt: u32,
    pub run_number: Option<u64>,
    pub url: Option<&'static str>,
    pub event: Option<&'static str>,
    pub actor: Option<&'static str>,
    pub sha: Option<&'static str>,
    pub branch: Option<&'static str>,
    pub tag: Option<&'static str>,
    pub git_ref: Option<&'static str>,
    pub pull_request: Option<u64>,
    pub base_branch: Option<&'static str>,
    pub outcome: Option<RunOutcome>,
}

/// Asserts that `report` validates against the run-report JSON Schema.
pub(crate) fn assert_valid(report: &RunReport) {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let v =
        VALIDATOR.get_or_init(|| jsonschema::validator_for(&crate::schema::run_report()).unwrap());
    let value = serde_json::to_value(report).unwrap();
    let errors: Vec<String> = v
        .iter_errors(&value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report {} does not match the schema: {errors:?}",
        report.key
    );
}

impl Identity {
    /// Asserts every field against `report`, and that it validates against the schema.
    pub(crate) fn check(&self, name: &str, r: &RunReport) {
        assert_valid(r);
        let s = |v: &Option<String>| v.clone();
        let o = |v: Option<&str>| v.map(str::to_owned);
        assert_eq!(r.key, self.key, "{name}: key");
        assert_eq!(s(&r.repository), o(self.repository), "{name}: repository");
        assert_eq!(s(&r.workflow), o(self.workflow), "{name}: workflow");
        assert_eq!(s(&r.job), o(self.job), "{name}: job");
        assert_eq!(s(&r.run_id), o(self.run_id), "{name}: run_id");
        assert_eq!(r.run_attempt, self.run_attempt, "{name}: run_attempt");
        assert_eq!(r.run_number, self.run_number, "{name}: run_number");
        assert_eq!(s(&r.url), o(self.url), "{name}: url");
        assert_eq!(s(&r.event), o(self.event), "{name}: event");
        assert_eq!(s(&r.actor), o(self.actor), "{name}: actor");
        assert_eq!(s(&r.commit.sha), o(self.sha), "{name}: sha");
        assert_eq!(s(&r.commit.branch), o(self.branch), "{name}: branch");
        assert_eq!(s(&r.commit.tag), o(self.tag), "{name}: tag");
        assert_eq!(s(&r.commit.git_ref), o(self.git_ref), "{name}: ref");
        assert_eq!(
            r.commit.pull_request, self.pull_request,
            "{name}: pull_request"
        );
        assert_eq!(
            s(&r.commit.base_branch),
            o(self.base_branch),
            "{name}: base_branch"
        );
        assert_eq!(
            r.outcome,
            self.outcome.unwrap_or(RunOutcome::Unknown),
            "{name}: outcome"
        );
        assert_eq!(r.schema, crate::model::REPORT_SCHEMA, "{name}: schema");
        assert!(r.tests.cases.is_empty(), "{name}: tests");
    }
}

/// A way for a CI API call to fail.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    Status(u16),
    RateLimited,
    Malformed,
    Slow,
}

/// Every fault of the contract.
pub(crate) const FAULTS: [Fault; 7] = [
    Fault::Status(401),
    Fault::Status(403),
    Fault::Status(404),
    Fault::Status(500),
    Fault::RateLimited,
    Fault::Malformed,
    Fault::Slow,
];

impl Fault {
    fn response(self) -> ResponseTemplate {
        match self {
            Fault::Status(code) => {
                ResponseTemplate::new(code).set_body_string(r#"{"message":"no"}"#)
            }
            Fault::RateLimited => ResponseTemplate::new(429)
                .insert_header("retry-after", "60")
                .set_body_string(r#"{"message":"API rate limit exceeded"}"#),
            Fault::Malformed => ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string(r#"{"jobs": [ {"name": "build", "#),
            Fault::Slow => ResponseTemplate::new(200)
                .set_body_string("{}")
                .set_delay(std::time::Duration::from_secs(3)),
        }
    }

    fn expected_text(self) -> String {
        match self {
            Fault::Status(code) => format!("HTTP {code}"),
            Fault::RateLimited => {
                "HTTP 429 Too Many Requests (rate limited; Retry-After: 60)".into()
            }
            Fault::Malformed => "not the expected JSON".into(),
            Fault::Slow => "timed out".into(),
        }
    }
}

/// Runs every [`FAULTS`] case against `provider`: a fresh mock server answers `route` with the
/// fault; `fetch_timings` must add exactly one warning naming the (masked) URL path and the
/// status, without `secret`, and keep every env-derived field.
pub(crate) async fn check_faults(
    provider: &dyn Provider,
    env_for: impl Fn(&str) -> Env,
    creds: &ApiCredentials,
    secret: &str,
    route: impl Fn() -> MockBuilder,
    url_part: &str,
    now: DateTime<Utc>,
) {
    for fault in FAULTS {
        let server = MockServer::start().await;
        route().respond_with(fault.response()).mount(&server).await;
        let env = env_for(&server.uri());
        let mut report = provider.current_run(&env, &RunOverrides::default(), now);
        let before = report.clone();
        provider.fetch_timings(&mut report, &env, creds).await;
        assert_valid(&report);
        let added = &report.warnings[before.warnings.len()..];
        assert_eq!(added.len(), 1, "{fault:?}: {added:?}");
        let warning = &added[0];
        assert!(
            warning.contains(&fault.expected_text()),
            "{fault:?}: {warning}"
        );
        assert!(warning.contains(url_part), "{fault:?}: {warning}");
        assert!(
            !warning.contains(secret),
            "{fault:?} leaks the secret: {warning}"
        );
        let mut kept = report.clone();
        kept.warnings = before.warnings.clone();
        assert_eq!(kept, before, "{fault:?}: env-derived data changed");
    }
}
