//! The generic provider: any other CI, or a developer's machine. Identity comes from flags
//! ([`RunOverrides`]) and, where flags are silent, from the local `git` repository through the
//! [`Git`] trait (so tests never spawn `git` unless they choose [`SystemGit`]).
//!
//! `started_at` is unknown, `finished_at` is the report time; `run_attempt` is 1 unless
//! `--run-attempt` says otherwise. With no flags and no git the report is still complete and
//! valid: every identity field is `null` and the key is `generic/-/-/-/1/-`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};

use super::remote::repository_from_remote;
use super::{
    apply_overrides, finish, new_report, resolve_outcome, set_source, ApiCredentials, Env,
    Provider, RunOverrides, TimingsFuture,
};
use crate::model::{DataSource, ProviderKind, RunReport};

/// What the generic provider asks the local repository.
pub trait Git: Send + Sync {
    /// The full SHA of `HEAD`.
    fn head_sha(&self) -> Option<String>;
    /// The current branch (`None` when `HEAD` is detached).
    fn branch(&self) -> Option<String>;
    /// The URL of the `origin` remote.
    fn origin_url(&self) -> Option<String>;
}

/// [`Git`] by running the `git` executable in a directory (the working directory by default).
/// Any failure (no git, not a repository) gives `None`.
#[derive(Debug, Clone, Default)]
pub struct SystemGit {
    /// Where to run `git`; the process's working directory when `None`.
    pub dir: Option<PathBuf>,
}

impl SystemGit {
    fn run(&self, args: &[&str]) -> Option<String> {
        let mut cmd = Command::new("git");
        cmd.args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .env("GIT_TERMINAL_PROMPT", "0");
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        let output = cmd.output().ok()?;
        if !output.status.success() {
            return None;
        }
        let text = String::from_utf8(output.stdout).ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }
}

impl Git for SystemGit {
    fn head_sha(&self) -> Option<String> {
        self.run(&["rev-parse", "HEAD"])
    }

    fn branch(&self) -> Option<String> {
        self.run(&["rev-parse", "--abbrev-ref", "HEAD"])
            .filter(|b| b != "HEAD")
    }

    fn origin_url(&self) -> Option<String> {
        self.run(&["config", "--get", "remote.origin.url"])
    }
}

/// A [`Git`] that knows nothing (no repository).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGit;

impl Git for NoGit {
    fn head_sha(&self) -> Option<String> {
        None
    }
    fn branch(&self) -> Option<String> {
        None
    }
    fn origin_url(&self) -> Option<String> {
        None
    }
}

/// The generic provider.
pub struct Generic {
    git: Box<dyn Git>,
}

impl Generic {
    /// A provider that asks `git` for what flags do not say.
    pub fn new(git: impl Git + 'static) -> Self {
        Self { git: Box::new(git) }
    }
}

impl Provider for Generic {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Generic
    }

    fn current_run(&self, _env: &Env, overrides: &RunOverrides, now: DateTime<Utc>) -> RunReport {
        let mut report = new_report(ProviderKind::Generic, now);
        set_source(&mut report, "identity", DataSource::Derived);
        set_source(&mut report, "commit", DataSource::Derived);
        apply_overrides(&mut report, overrides);

        let wants = |flag: &Option<String>| flag.as_deref().is_none_or(|f| f.trim().is_empty());
        if wants(&overrides.repository) {
            if let Some(repo) = self
                .git
                .origin_url()
                .as_deref()
                .and_then(repository_from_remote)
            {
                report.repository = Some(repo);
                if report.sources.get("identity") == Some(&DataSource::Derived) {
                    set_source(&mut report, "identity", DataSource::Git);
                }
            }
        }
        let mut from_git = false;
        if wants(&overrides.sha) {
            report.commit.sha = self.git.head_sha();
            from_git |= report.commit.sha.is_some();
        }
        if wants(&overrides.branch) {
            report.commit.branch = self.git.branch();
            from_git |= report.commit.branch.is_some();
        }
        if let Some(branch) = &report.commit.branch {
            report.commit.git_ref = Some(format!("refs/heads/{branch}"));
        }
        if from_git && report.sources.get("commit") == Some(&DataSource::Derived) {
            set_source(&mut report, "commit", DataSource::Git);
        }
        // Without a CI run id, every local run is a run of its own: name it by the time of
        // the report, so its key stays the same when the same report is re-sent (flush) but
        // two runs never share one.
        if report.run_id.is_none() {
            report.run_id = Some(format!("local-{}", now.timestamp_millis()));
        }
        resolve_outcome(&mut report, overrides.status.as_deref(), None);
        finish(&mut report);
        report
    }

    fn fetch_timings<'a>(
        &'a self,
        _report: &'a mut RunReport,
        _env: &'a Env,
        _creds: &'a ApiCredentials,
    ) -> TimingsFuture<'a> {
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunOutcome;
    use chrono::TimeZone;

    struct FakeGit;

    impl Git for FakeGit {
        fn head_sha(&self) -> Option<String> {
            Some("0123456789abcdef0123456789abcdef01234567".into())
        }
        fn branch(&self) -> Option<String> {
            Some("main".into())
        }
        fn origin_url(&self) -> Option<String> {
            Some("git@github.com:octo/app.git".into())
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
    }

    #[test]
    fn no_env_no_flags_no_git_is_still_a_complete_report() {
        let env = Env::from_file("tests/fixtures/env/generic-none.env").unwrap();
        let report = Generic::new(NoGit).current_run(&env, &RunOverrides::default(), now());
        assert_eq!(report.key, "generic/-/-/local-1795687200000/1/-");
        assert_eq!(report.schema, crate::model::REPORT_SCHEMA);
        assert_eq!(report.outcome, RunOutcome::Unknown);
        assert_eq!((report.started_at, report.finished_at), (None, now()));
        assert_eq!((report.duration_ms, report.queued_ms), (None, None));
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(report.sources.get("identity"), Some(&DataSource::Derived));
        assert_eq!(report.sources.get("timings"), Some(&DataSource::Derived));
        // It serialises, and the JSON has every top-level field.
        let json = serde_json::to_value(&report).unwrap();
        for field in [
            "schema",
            "key",
            "provider",
            "commit",
            "outcome",
            "finished_at",
            "reporter",
        ] {
            assert!(json.get(field).is_some(), "{field}");
        }
    }

    #[test]
    fn git_fills_what_flags_leave_out() {
        let env = Env::default();
        let report = Generic::new(FakeGit).current_run(&env, &RunOverrides::default(), now());
        assert_eq!(report.repository.as_deref(), Some("octo/app"));
        assert_eq!(report.commit.branch.as_deref(), Some("main"));
        assert_eq!(report.commit.git_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(report.sources.get("identity"), Some(&DataSource::Git));
        assert_eq!(report.sources.get("commit"), Some(&DataSource::Git));
        assert_eq!(report.key, "generic/octo/app/-/local-1795687200000/1/-");

        let flags = RunOverrides {
            repository: Some("acme/site".into()),
            workflow: Some("nightly".into()),
            job: Some("e2e".into()),
            run_id: Some("77".into()),
            run_attempt: Some(2),
            branch: Some("release/1.0".into()),
            status: Some("FAILURE".into()),
            ..RunOverrides::default()
        };
        let report = Generic::new(FakeGit).current_run(&env, &flags, now());
        assert_eq!(report.key, "generic/acme/site/nightly/77/2/e2e");
        assert_eq!(report.commit.branch.as_deref(), Some("release/1.0"));
        assert_eq!(
            report.commit.sha.as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(report.outcome, RunOutcome::Failure);
        assert_eq!(report.sources.get("identity"), Some(&DataSource::Flag));
        assert_eq!(report.sources.get("commit"), Some(&DataSource::Flag));
        assert_eq!(report.sources.get("outcome"), Some(&DataSource::Flag));
    }

    #[test]
    fn system_git_outside_a_repository_knows_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let git = SystemGit {
            dir: Some(dir.path().to_path_buf()),
        };
        assert_eq!(git.head_sha(), None);
        assert_eq!(git.branch(), None);
        assert_eq!(git.origin_url(), None);
    }
}
