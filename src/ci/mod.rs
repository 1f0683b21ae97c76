//! CI providers: who/what/where a run is, its outcome and its timings.
//!
//! A [`Provider`] builds the [`RunReport`] of the current CI job in two phases:
//! [`Provider::current_run`] reads the injected [`Env`] only (no network), and
//! [`Provider::fetch_timings`] refines job/step timings from the CI's API when
//! [`ApiCredentials`] allow — it never fails, a problem becomes one warning in the report.
//! [`detect`] picks the provider. Flags ([`RunOverrides`]) win over the environment.
//!
//! Per-provider definitions of `job`, `run_attempt` and the commit are documented in
//! [`github`], [`gitlab`], [`jenkins`] and [`generic`].

pub mod credentials;
pub mod env;
#[cfg(test)]
mod fixtures;
pub mod generic;
pub mod github;
pub mod gitlab;
pub mod jenkins;
pub mod previous;
pub mod remote;
pub mod timing;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use chrono::{DateTime, Utc};

pub use self::credentials::{
    credentials_from_env, try_credentials_from_env, ApiCredentials, CredentialsError,
};
pub use self::env::Env;
pub use crate::http::Secret;
use crate::http::{HttpConfig, HttpError};
use crate::model::{
    Commit, DataSource, ProviderKind, Reporter, RunOutcome, RunReport, TestResults, REPORT_SCHEMA,
};

/// Which provider to use: detected from the environment, or forced by `--provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderChoice {
    /// Detect from the environment ([`detect_kind`]).
    #[default]
    Auto,
    /// GitHub Actions.
    Github,
    /// GitLab CI/CD.
    Gitlab,
    /// Jenkins.
    Jenkins,
    /// Any other CI, or none: flags and `git`.
    Generic,
}

/// `--provider` got a word that names no provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider {0:?}; expected auto, github, gitlab, jenkins or generic")]
pub struct UnknownProvider(pub String);

impl FromStr for ProviderChoice {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Self::Auto,
            "github" | "github-actions" | "gha" => Self::Github,
            "gitlab" | "gitlab-ci" => Self::Gitlab,
            "jenkins" => Self::Jenkins,
            "generic" | "none" => Self::Generic,
            _ => return Err(UnknownProvider(s.to_owned())),
        })
    }
}

impl fmt::Display for ProviderChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Jenkins => "jenkins",
            Self::Generic => "generic",
        })
    }
}

/// What flags can supply (the generic provider) or override (every other provider).
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct RunOverrides {
    /// `--repository`.
    pub repository: Option<String>,
    /// `--workflow`.
    pub workflow: Option<String>,
    /// `--job` (on GitHub, pass the matrix leg here so matrix jobs get distinct keys).
    pub job: Option<String>,
    /// `--run-id`.
    pub run_id: Option<String>,
    /// `--sha`.
    pub sha: Option<String>,
    /// `--branch`.
    pub branch: Option<String>,
    /// `--url`.
    pub url: Option<String>,
    /// `--run-attempt` (0 is ignored with a warning).
    pub run_attempt: Option<u32>,
    /// `--pull-request`.
    pub pull_request: Option<u64>,
    /// `--status`: the raw CI status word (`${{ job.status }}`, `$CI_JOB_STATUS`,
    /// `${currentBuild.currentResult}`), mapped by [`RunOutcome::parse_ci_status`].
    pub status: Option<String>,
}

/// The future returned by [`Provider::fetch_timings`].
pub type TimingsFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The future returned by [`Provider::previous_outcome`].
pub type PreviousFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<RunOutcome>, HttpError>> + Send + 'a>>;

/// A CI system cimon can describe the current job of.
pub trait Provider: Send + Sync {
    /// Which CI this is.
    fn kind(&self) -> ProviderKind;

    /// Identity, outcome and env-derived timings. No network. `now` is the report time: the
    /// job's end when the CI gives no end time. `tests` is left empty.
    fn current_run(&self, env: &Env, overrides: &RunOverrides, now: DateTime<Utc>) -> RunReport;

    /// Job/step timings (and queue time) from the CI API when `creds` allow. Never fails: on
    /// any error (401/403/404/5xx/timeout/rate limit/bad JSON) it pushes exactly one warning
    /// (masked URL, HTTP status) into `report.warnings` and keeps the env-derived data.
    /// Recomputes `report.key` when it refines the identity (GitLab's attempt).
    fn fetch_timings<'a>(
        &'a self,
        report: &'a mut RunReport,
        env: &'a Env,
        creds: &'a ApiCredentials,
    ) -> TimingsFuture<'a>;

    /// The outcome of the previous run of the same pipeline that succeeded or failed, from the
    /// CI's API (GitHub: the workflow's previous completed run on the branch; GitLab: the
    /// ref's previous pipeline; Jenkins: the job's previous completed build). Cancelled and
    /// skipped runs are passed over. `Ok(None)`: there is none, or the API cannot be asked
    /// (no credentials, identity incomplete). Errors are masked and never contain a token.
    fn previous_outcome<'a>(
        &'a self,
        _report: &'a RunReport,
        _env: &'a Env,
        _creds: &'a ApiCredentials,
    ) -> PreviousFuture<'a> {
        Box::pin(async { Ok(None) })
    }
}

/// How many earlier runs [`Provider::previous_outcome`] looks at for one that succeeded or
/// failed.
pub const PREVIOUS_RUNS: usize = 20;

/// The provider the environment points at: `GITHUB_ACTIONS=true` → GitHub,
/// `GITLAB_CI=true` → GitLab, `JENKINS_URL` (or `BUILD_URL` with `JENKINS_HOME`) → Jenkins,
/// else generic.
///
/// `GITLAB_CI` set to anything else (gitlab-ci-local sets `false` to say "not a real GitLab")
/// still means GitLab when the job's own variables (`CI_JOB_ID`, `CI_PROJECT_PATH`) are there:
/// the run then carries the job's status and start time from `CI_*` like on GitLab.
pub fn detect_kind(env: &Env) -> ProviderKind {
    let gitlab_emulated = env.get(env::GITLAB_CI).is_some()
        && env.get(env::CI_JOB_ID).is_some()
        && env.get(env::CI_PROJECT_PATH).is_some();
    if env.is_true(env::GITHUB_ACTIONS) {
        ProviderKind::Github
    } else if env.is_true(env::GITLAB_CI) || gitlab_emulated {
        ProviderKind::Gitlab
    } else if env.get(env::JENKINS_URL).is_some()
        || (env.get(env::BUILD_URL).is_some() && env.get(env::JENKINS_HOME).is_some())
    {
        ProviderKind::Jenkins
    } else {
        ProviderKind::Generic
    }
}

/// The provider for `choice` (detected for [`ProviderChoice::Auto`]), with the default HTTP
/// settings plus `SSL_CERT_FILE` from `env`.
pub fn detect(env: &Env, choice: ProviderChoice) -> Box<dyn Provider> {
    detect_with(env, choice, http_config_from_env(env))
}

/// [`detect`] with explicit HTTP settings (timeouts, CA file).
pub fn detect_with(env: &Env, choice: ProviderChoice, http: HttpConfig) -> Box<dyn Provider> {
    let kind = match choice {
        ProviderChoice::Auto => detect_kind(env),
        ProviderChoice::Github => ProviderKind::Github,
        ProviderChoice::Gitlab => ProviderKind::Gitlab,
        ProviderChoice::Jenkins => ProviderKind::Jenkins,
        ProviderChoice::Generic => ProviderKind::Generic,
    };
    match kind {
        ProviderKind::Github => Box::new(github::Github::new(http)),
        ProviderKind::Gitlab => Box::new(gitlab::Gitlab::new(http)),
        ProviderKind::Jenkins => Box::new(jenkins::Jenkins::new(http)),
        ProviderKind::Generic => Box::new(generic::Generic::new(generic::SystemGit::default())),
    }
}

/// Default HTTP settings with `SSL_CERT_FILE` from `env` as the extra CA file.
pub fn http_config_from_env(env: &Env) -> HttpConfig {
    HttpConfig {
        ca_file: env.get(env::SSL_CERT_FILE).map(Into::into),
        ..HttpConfig::default()
    }
}

/// The run's idempotency key: `provider/repository/workflow/run_id/run_attempt/job`, missing
/// parts as `-`. The repository keeps its `/`s (`owner/name`, GitLab subgroups); in the other
/// parts `%` and `/` are percent-encoded, so the last four segments always split cleanly.
pub fn run_key(report: &RunReport) -> String {
    fn part(value: Option<&str>, keep_slash: bool) -> String {
        let value = value.map(str::trim).filter(|v| !v.is_empty());
        let Some(value) = value else {
            return "-".into();
        };
        let mut out = String::with_capacity(value.len());
        for c in value.chars() {
            match c {
                '%' => out.push_str("%25"),
                '/' if !keep_slash => out.push_str("%2F"),
                c if c.is_control() => out.push_str(&format!("%{:02X}", u32::from(c) & 0xff)),
                c => out.push(c),
            }
        }
        out
    }
    [
        report.provider.as_str().to_owned(),
        part(report.repository.as_deref(), true),
        part(report.workflow.as_deref(), false),
        part(report.run_id.as_deref(), false),
        report.run_attempt.max(1).to_string(),
        part(report.job.as_deref(), false),
    ]
    .join("/")
}

/// An empty report for `kind` at `now`: attempt 1, outcome unknown, no timings, no tests.
pub(crate) fn new_report(kind: ProviderKind, now: DateTime<Utc>) -> RunReport {
    RunReport {
        schema: REPORT_SCHEMA.into(),
        key: String::new(),
        provider: kind,
        repository: None,
        workflow: None,
        job: None,
        run_id: None,
        run_attempt: 1,
        run_number: None,
        url: None,
        event: None,
        actor: None,
        commit: Commit::default(),
        outcome: RunOutcome::Unknown,
        started_at: None,
        finished_at: now,
        duration_ms: None,
        queued_ms: None,
        steps: Vec::new(),
        tests: TestResults::default(),
        sources: Default::default(),
        warnings: Vec::new(),
        reporter: Reporter::default(),
    }
}

/// Sets `sources[group] = source`.
pub(crate) fn set_source(report: &mut RunReport, group: &str, source: DataSource) {
    report.sources.insert(group.to_owned(), source);
}

/// Applies the identity and commit flags over env-derived values (marking the group `flag`).
pub(crate) fn apply_overrides(report: &mut RunReport, o: &RunOverrides) {
    fn set(slot: &mut Option<String>, value: &Option<String>) -> bool {
        match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => {
                *slot = Some(v.to_owned());
                true
            }
            None => false,
        }
    }
    let mut identity = false;
    identity |= set(&mut report.repository, &o.repository);
    identity |= set(&mut report.workflow, &o.workflow);
    identity |= set(&mut report.job, &o.job);
    identity |= set(&mut report.run_id, &o.run_id);
    identity |= set(&mut report.url, &o.url);
    match o.run_attempt {
        Some(0) => report
            .warnings
            .push("--run-attempt 0 ignored: attempts start at 1".into()),
        Some(n) => {
            report.run_attempt = n;
            identity = true;
            set_source(report, "attempt", DataSource::Flag);
        }
        None => {}
    }
    let mut commit = false;
    commit |= set(&mut report.commit.sha, &o.sha);
    commit |= set(&mut report.commit.branch, &o.branch);
    if let Some(pr) = o.pull_request {
        report.commit.pull_request = Some(pr);
        commit = true;
    }
    if identity {
        set_source(report, "identity", DataSource::Flag);
    }
    if commit {
        set_source(report, "commit", DataSource::Flag);
    }
}

/// Sets the outcome from `--status` (flag), else from the CI's own status word (env), else
/// unknown (derived). An unrecognised `--status` word is a warning.
pub(crate) fn resolve_outcome(report: &mut RunReport, flag: Option<&str>, env_word: Option<&str>) {
    if let Some(word) = flag.map(str::trim).filter(|w| !w.is_empty()) {
        if let Some(outcome) = RunOutcome::parse_ci_status(word) {
            report.outcome = outcome;
            set_source(report, "outcome", DataSource::Flag);
            return;
        }
        report.warnings.push(format!(
            "--status {word:?} is not a known CI status (success, failure, cancelled, skipped, …); ignored"
        ));
    }
    if let Some(outcome) = env_word.and_then(RunOutcome::parse_ci_status) {
        report.outcome = outcome;
        set_source(report, "outcome", DataSource::Env);
        return;
    }
    report.outcome = RunOutcome::Unknown;
    set_source(report, "outcome", DataSource::Derived);
}

/// Fills the defaults every provider shares and computes the key.
pub(crate) fn finish(report: &mut RunReport) {
    if report.started_at.is_none() {
        set_source(report, "timings", DataSource::Derived);
    }
    timing::refresh_duration(report);
    report.key = run_key(report);
}

/// What a failed API call leaves in the report, for [`api_warning`].
pub(crate) const KEPT_ENV_TIMINGS: &str = "timings come from the environment only";

/// The warning pushed when a CI API call fails: provider, masked URL, status (from the
/// error), what to check, what the report `kept`; every credential value redacted.
pub(crate) fn api_warning(
    kind: ProviderKind,
    error: &HttpError,
    kept: &str,
    creds: &ApiCredentials,
) -> String {
    let (name, credential, permission) = match kind {
        ProviderKind::Github => (
            "GitHub",
            "CIMON_GITHUB_TOKEN / GITHUB_TOKEN",
            "the token needs `actions: read` on the repository",
        ),
        ProviderKind::Gitlab => (
            "GitLab",
            "CIMON_GITLAB_TOKEN",
            "the token needs the `read_api` scope and Reporter access (CI_JOB_TOKEN cannot read pipeline jobs)",
        ),
        ProviderKind::Jenkins => (
            "Jenkins",
            "CIMON_JENKINS_USER / CIMON_JENKINS_TOKEN",
            "the user needs Overall/Read and Job/Read",
        ),
        ProviderKind::Generic => ("CI", "the credentials", "check the permissions"),
    };
    let hint = match error.status() {
        Some(401) => format!(" (check {credential})"),
        Some(403 | 404) => format!(" ({permission})"),
        _ => String::new(),
    };
    creds.redact(&format!("{name} API: {error}{hint}; {kept}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
    }

    #[test]
    fn detection_follows_the_documented_order() {
        let table: [(&[(&str, &str)], ProviderKind); 9] = [
            (&[("GITHUB_ACTIONS", "true")], ProviderKind::Github),
            (&[("GITLAB_CI", "true")], ProviderKind::Gitlab),
            (
                &[
                    ("GITLAB_CI", "false"),
                    ("CI_JOB_ID", "495704"),
                    ("CI_PROJECT_PATH", "acme/shop"),
                ],
                ProviderKind::Gitlab,
            ),
            (&[("GITLAB_CI", "false")], ProviderKind::Generic),
            (
                &[("JENKINS_URL", "https://ci.example/")],
                ProviderKind::Jenkins,
            ),
            (
                &[
                    ("BUILD_URL", "https://ci/job/x/1/"),
                    ("JENKINS_HOME", "/var/jenkins"),
                ],
                ProviderKind::Jenkins,
            ),
            (
                &[("BUILD_URL", "https://other-ci/1")],
                ProviderKind::Generic,
            ),
            (
                &[("GITHUB_ACTIONS", "false"), ("CI", "true")],
                ProviderKind::Generic,
            ),
            (&[], ProviderKind::Generic),
        ];
        for (pairs, want) in table {
            let env = Env::from_pairs(pairs.iter().copied());
            assert_eq!(detect_kind(&env), want, "{pairs:?}");
            assert_eq!(detect(&env, ProviderChoice::Auto).kind(), want, "{pairs:?}");
        }
        let github = Env::from_pairs([("GITHUB_ACTIONS", "true")]);
        assert_eq!(
            detect(&github, ProviderChoice::Generic).kind(),
            ProviderKind::Generic
        );
        assert_eq!(
            detect(&Env::default(), ProviderChoice::Jenkins).kind(),
            ProviderKind::Jenkins
        );
    }

    #[test]
    fn provider_choice_parses_and_prints() {
        for (word, want) in [
            ("auto", ProviderChoice::Auto),
            ("GitHub", ProviderChoice::Github),
            ("gitlab", ProviderChoice::Gitlab),
            ("jenkins", ProviderChoice::Jenkins),
            ("generic", ProviderChoice::Generic),
        ] {
            let parsed: ProviderChoice = word.parse().unwrap();
            assert_eq!(parsed, want);
            assert_eq!(parsed.to_string().parse::<ProviderChoice>().unwrap(), want);
        }
        let err = "circleci"
            .parse::<ProviderChoice>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"circleci\"") && err.contains("generic"),
            "{err}"
        );
    }

    #[test]
    fn keys_escape_every_part_but_the_repository() {
        let mut r = new_report(ProviderKind::Gitlab, now());
        assert_eq!(run_key(&r), "gitlab/-/-/-/1/-");
        r.repository = Some("group/sub/project".into());
        r.workflow = Some("a/b 100%".into());
        r.run_id = Some("42".into());
        r.run_attempt = 3;
        r.job = Some("rspec 1/3".into());
        assert_eq!(
            run_key(&r),
            "gitlab/group/sub/project/a%2Fb 100%25/42/3/rspec 1%2F3"
        );
        r.job = Some("  ".into());
        r.run_attempt = 0;
        assert_eq!(run_key(&r), "gitlab/group/sub/project/a%2Fb 100%25/42/1/-");
    }

    #[test]
    fn overrides_win_and_are_recorded() {
        let mut r = new_report(ProviderKind::Github, now());
        r.repository = Some("octo/app".into());
        r.job = Some("build".into());
        apply_overrides(
            &mut r,
            &RunOverrides {
                job: Some("build (ubuntu, 1.80)".into()),
                run_attempt: Some(0),
                sha: Some("abc".into()),
                pull_request: Some(9),
                ..RunOverrides::default()
            },
        );
        assert_eq!(r.job.as_deref(), Some("build (ubuntu, 1.80)"));
        assert_eq!(r.run_attempt, 1);
        assert_eq!(r.warnings, ["--run-attempt 0 ignored: attempts start at 1"]);
        assert_eq!(
            (r.commit.sha.as_deref(), r.commit.pull_request),
            (Some("abc"), Some(9))
        );
        assert_eq!(r.sources.get("identity"), Some(&DataSource::Flag));
        assert_eq!(r.sources.get("commit"), Some(&DataSource::Flag));
        assert_eq!(r.sources.get("attempt"), None);
    }

    #[test]
    fn outcome_prefers_the_flag_then_the_env() {
        let table = [
            (
                Some("success"),
                Some("failed"),
                RunOutcome::Success,
                DataSource::Flag,
                0,
            ),
            (
                None,
                Some("canceled"),
                RunOutcome::Cancelled,
                DataSource::Env,
                0,
            ),
            (
                Some("bogus"),
                Some("failed"),
                RunOutcome::Failure,
                DataSource::Env,
                1,
            ),
            (
                None,
                Some("running"),
                RunOutcome::Unknown,
                DataSource::Derived,
                0,
            ),
            (
                Some("bogus"),
                None,
                RunOutcome::Unknown,
                DataSource::Derived,
                1,
            ),
        ];
        for (flag, env_word, want, source, warnings) in table {
            let mut r = new_report(ProviderKind::Gitlab, now());
            resolve_outcome(&mut r, flag, env_word);
            assert_eq!(r.outcome, want, "{flag:?} {env_word:?}");
            assert_eq!(
                r.sources.get("outcome"),
                Some(&source),
                "{flag:?} {env_word:?}"
            );
            assert_eq!(r.warnings.len(), warnings, "{:?}", r.warnings);
        }
    }

    #[test]
    fn api_warnings_never_carry_credentials() {
        let creds = ApiCredentials {
            github_token: Some(Secret::new("ghp_topsecret")),
            ..ApiCredentials::default()
        };
        let error = HttpError::Status {
            url: "https://x/?a=ghp_topsecret".into(),
            status: 401,
            retry_after: None,
        };
        let text = api_warning(ProviderKind::Github, &error, KEPT_ENV_TIMINGS, &creds);
        assert_eq!(
            text,
            "GitHub API: GET https://x/?a=***: HTTP 401 Unauthorized (check CIMON_GITHUB_TOKEN / GITHUB_TOKEN); timings come from the environment only"
        );
    }
}
