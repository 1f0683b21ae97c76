//! The CI environment as an injected map, and the name of every variable cimon reads.
//!
//! Providers never call `std::env` themselves: the process environment is read once by
//! [`Env::from_process`] and passed down, so tests build an [`Env`] from pairs or from a
//! `KEY=VALUE` fixture file and never depend on the machine they run on.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// GitHub Actions: https://docs.github.com/en/actions/reference/variables-reference
// ---------------------------------------------------------------------------------------------

/// `true` inside GitHub Actions.
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
/// `owner/name` of the repository.
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
/// The workflow's name (or its file path when it has no `name:`).
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_WORKFLOW: &str = "GITHUB_WORKFLOW";
/// The workflow file of the run, `owner/repo/.github/workflows/build.yml@refs/heads/main`
/// (the file name finds the previous run of the same workflow).
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_WORKFLOW_REF: &str = "GITHUB_WORKFLOW_REF";
/// The job's id (the key under `jobs:`), shared by every leg of a matrix.
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_JOB: &str = "GITHUB_JOB";
/// The run's unique id.
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_RUN_ID: &str = "GITHUB_RUN_ID";
/// The attempt of the run: 1, then 2 for the first re-run, …
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_RUN_ATTEMPT: &str = "GITHUB_RUN_ATTEMPT";
/// The workflow's run counter.
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_RUN_NUMBER: &str = "GITHUB_RUN_NUMBER";
/// The commit that triggered the run (for `pull_request`, the merge commit).
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_SHA: &str = "GITHUB_SHA";
/// The full ref (`refs/heads/main`, `refs/pull/7/merge`, `refs/tags/v1`).
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_REF: &str = "GITHUB_REF";
/// The short ref name (`main`, `7/merge`, `v1`).
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_REF_NAME: &str = "GITHUB_REF_NAME";
/// `branch` or `tag`.
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_REF_TYPE: &str = "GITHUB_REF_TYPE";
/// The pull request's source branch (pull request events only).
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_HEAD_REF: &str = "GITHUB_HEAD_REF";
/// The pull request's target branch (pull request events only).
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_BASE_REF: &str = "GITHUB_BASE_REF";
/// The triggering event (`push`, `pull_request`, …).
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_EVENT_NAME: &str = "GITHUB_EVENT_NAME";
/// Path of the JSON file holding the webhook payload of the event.
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_EVENT_PATH: &str = "GITHUB_EVENT_PATH";
/// Who triggered the run.
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_ACTOR: &str = "GITHUB_ACTOR";
/// `https://github.com` or the GitHub Enterprise Server URL.
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
/// The REST API base URL (`https://api.github.com`, or `…/api/v3` on GHES).
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const GITHUB_API_URL: &str = "GITHUB_API_URL";
/// The name of the runner executing the job.
///
/// <https://docs.github.com/en/actions/reference/variables-reference>
pub const RUNNER_NAME: &str = "RUNNER_NAME";
/// A token the workflow passes explicitly (`env: GITHUB_TOKEN: ${{ github.token }}`); it
/// needs `actions: read`.
///
/// <https://docs.github.com/en/actions/tutorials/authenticate-with-github_token>
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";

// ---------------------------------------------------------------------------------------------
// GitLab CI/CD: https://docs.gitlab.com/ci/variables/predefined_variables/
// ---------------------------------------------------------------------------------------------

/// `true` inside GitLab CI/CD.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const GITLAB_CI: &str = "GITLAB_CI";
/// The project's full path, `group/subgroup/project`.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_PROJECT_PATH: &str = "CI_PROJECT_PATH";
/// The project's numeric id (used in API paths).
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_PROJECT_ID: &str = "CI_PROJECT_ID";
/// The pipeline's instance-wide id.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_PIPELINE_ID: &str = "CI_PIPELINE_ID";
/// The pipeline's project-scoped number.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_PIPELINE_IID: &str = "CI_PIPELINE_IID";
/// How the pipeline was triggered (`push`, `merge_request_event`, `schedule`, …).
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_PIPELINE_SOURCE: &str = "CI_PIPELINE_SOURCE";
/// The pipeline's name from `workflow:name`, when set.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_PIPELINE_NAME: &str = "CI_PIPELINE_NAME";
/// The pipeline's web URL.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_PIPELINE_URL: &str = "CI_PIPELINE_URL";
/// When the pipeline was created (ISO 8601).
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_PIPELINE_CREATED_AT: &str = "CI_PIPELINE_CREATED_AT";
/// The job's name (`rspec 1/3` for a `parallel` job).
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_JOB_NAME: &str = "CI_JOB_NAME";
/// The job's instance-wide id (a retry gets a new one).
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_JOB_ID: &str = "CI_JOB_ID";
/// The job's web URL.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_JOB_URL: &str = "CI_JOB_URL";
/// In `after_script`: `success`, `failed` or `canceled` (`running` before).
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_JOB_STATUS: &str = "CI_JOB_STATUS";
/// When the job started (ISO 8601).
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_JOB_STARTED_AT: &str = "CI_JOB_STARTED_AT";
/// The commit the pipeline runs for.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_COMMIT_SHA: &str = "CI_COMMIT_SHA";
/// The branch (absent in merge request and tag pipelines).
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_COMMIT_BRANCH: &str = "CI_COMMIT_BRANCH";
/// The branch or tag name the pipeline runs for.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_COMMIT_REF_NAME: &str = "CI_COMMIT_REF_NAME";
/// The tag name (tag pipelines only).
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_COMMIT_TAG: &str = "CI_COMMIT_TAG";
/// The merge request's project-scoped number.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables_for_merge_request_pipelines/>
pub const CI_MERGE_REQUEST_IID: &str = "CI_MERGE_REQUEST_IID";
/// The merge request's target branch.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables_for_merge_request_pipelines/>
pub const CI_MERGE_REQUEST_TARGET_BRANCH_NAME: &str = "CI_MERGE_REQUEST_TARGET_BRANCH_NAME";
/// The merge request's source branch.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables_for_merge_request_pipelines/>
pub const CI_MERGE_REQUEST_SOURCE_BRANCH_NAME: &str = "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME";
/// The source branch's head commit (merged results pipelines only).
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables_for_merge_request_pipelines/>
pub const CI_MERGE_REQUEST_SOURCE_BRANCH_SHA: &str = "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA";
/// `detached`, `merged_result` or `merge_train`.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables_for_merge_request_pipelines/>
pub const CI_MERGE_REQUEST_EVENT_TYPE: &str = "CI_MERGE_REQUEST_EVENT_TYPE";
/// The login of the user who started the pipeline.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const GITLAB_USER_LOGIN: &str = "GITLAB_USER_LOGIN";
/// The REST API v4 base URL (`https://gitlab.example.com/api/v4`).
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_API_V4_URL: &str = "CI_API_V4_URL";
/// The instance's base URL.
///
/// <https://docs.gitlab.com/ci/variables/predefined_variables/>
pub const CI_SERVER_URL: &str = "CI_SERVER_URL";

// ---------------------------------------------------------------------------------------------
// Jenkins: https://www.jenkins.io/doc/book/pipeline/jenkins-file/#using-environment-variables
// ---------------------------------------------------------------------------------------------

/// The Jenkins root URL (needs "Jenkins URL" configured).
///
/// <https://www.jenkins.io/doc/book/pipeline/jenkins-file/#using-environment-variables>
pub const JENKINS_URL: &str = "JENKINS_URL";
/// The controller's home directory.
///
/// <https://www.jenkins.io/doc/book/managing/system-properties/>
pub const JENKINS_HOME: &str = "JENKINS_HOME";
/// The build's URL, ending in `/`.
///
/// <https://www.jenkins.io/doc/book/pipeline/jenkins-file/#using-environment-variables>
pub const BUILD_URL: &str = "BUILD_URL";
/// The job's full name (`folder/job`, `repo/PR-7` in a multibranch project).
///
/// <https://www.jenkins.io/doc/book/pipeline/jenkins-file/#using-environment-variables>
pub const JOB_NAME: &str = "JOB_NAME";
/// The job's short name (the last segment of `JOB_NAME`).
///
/// <https://www.jenkins.io/doc/book/pipeline/jenkins-file/#using-environment-variables>
pub const JOB_BASE_NAME: &str = "JOB_BASE_NAME";
/// The build number within the job.
///
/// <https://www.jenkins.io/doc/book/pipeline/jenkins-file/#using-environment-variables>
pub const BUILD_NUMBER: &str = "BUILD_NUMBER";
/// The build id (equal to the number since Jenkins 1.597).
///
/// <https://www.jenkins.io/doc/book/pipeline/jenkins-file/#using-environment-variables>
pub const BUILD_ID: &str = "BUILD_ID";
/// The commit checked out by the Git plugin.
///
/// <https://plugins.jenkins.io/git/#plugin-content-environment-variables>
pub const GIT_COMMIT: &str = "GIT_COMMIT";
/// The remote branch checked out by the Git plugin (`origin/main`).
///
/// <https://plugins.jenkins.io/git/#plugin-content-environment-variables>
pub const GIT_BRANCH: &str = "GIT_BRANCH";
/// The remote URL of the Git plugin's repository.
///
/// <https://plugins.jenkins.io/git/#plugin-content-environment-variables>
pub const GIT_URL: &str = "GIT_URL";
/// The branch a multibranch job builds (`PR-7` for a change request).
///
/// <https://www.jenkins.io/doc/book/pipeline/multibranch/#additional-environment-variables>
pub const BRANCH_NAME: &str = "BRANCH_NAME";
/// The change request (pull request) number.
///
/// <https://www.jenkins.io/doc/book/pipeline/multibranch/#additional-environment-variables>
pub const CHANGE_ID: &str = "CHANGE_ID";
/// The change request's target branch.
///
/// <https://www.jenkins.io/doc/book/pipeline/multibranch/#additional-environment-variables>
pub const CHANGE_TARGET: &str = "CHANGE_TARGET";
/// The change request's source branch.
///
/// <https://www.jenkins.io/doc/book/pipeline/multibranch/#additional-environment-variables>
pub const CHANGE_BRANCH: &str = "CHANGE_BRANCH";
/// The change request author's user name.
///
/// <https://www.jenkins.io/doc/book/pipeline/multibranch/#additional-environment-variables>
pub const CHANGE_AUTHOR: &str = "CHANGE_AUTHOR";
/// The tag a multibranch job builds.
///
/// <https://www.jenkins.io/doc/book/pipeline/multibranch/#additional-environment-variables>
pub const TAG_NAME: &str = "TAG_NAME";

// ---------------------------------------------------------------------------------------------
// cimon's own variables: docs/configuration.md
// ---------------------------------------------------------------------------------------------

/// A GitHub token for the Actions API; wins over [`GITHUB_TOKEN`].
pub const CIMON_GITHUB_TOKEN: &str = "CIMON_GITHUB_TOKEN";
/// A file holding the GitHub token.
pub const CIMON_GITHUB_TOKEN_FILE: &str = "CIMON_GITHUB_TOKEN_FILE";
/// A GitLab personal/project access token with `read_api` (sent as `PRIVATE-TOKEN`).
pub const CIMON_GITLAB_TOKEN: &str = "CIMON_GITLAB_TOKEN";
/// A file holding the GitLab token.
pub const CIMON_GITLAB_TOKEN_FILE: &str = "CIMON_GITLAB_TOKEN_FILE";
/// The Jenkins user for basic authentication.
pub const CIMON_JENKINS_USER: &str = "CIMON_JENKINS_USER";
/// A file holding the Jenkins user.
pub const CIMON_JENKINS_USER_FILE: &str = "CIMON_JENKINS_USER_FILE";
/// The Jenkins user's API token.
pub const CIMON_JENKINS_TOKEN: &str = "CIMON_JENKINS_TOKEN";
/// A file holding the Jenkins API token.
pub const CIMON_JENKINS_TOKEN_FILE: &str = "CIMON_JENKINS_TOKEN_FILE";
/// A PEM bundle of extra CA certificates, the OpenSSL convention.
///
/// <https://docs.openssl.org/master/man3/SSL_CTX_load_verify_locations/>
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// Why an environment file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// The file could not be read.
    #[error("cannot read environment file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not `KEY=VALUE`.
    #[error("{path}:{line}: expected KEY=VALUE, a comment (#) or a blank line")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
    },
}

/// The CI environment: variable name → value, read once from the process
/// ([`Env::from_process`]) or built in tests ([`Env::from_pairs`], [`Env::from_file`]).
///
/// [`Env::get`] treats an empty value as absent, as CI systems often export empty variables.
/// `Debug` prints the variable names only: values may be secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// Reads the environment of the current process (variables that are not valid UTF-8 are
    /// skipped).
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self { vars }
    }

    /// Builds an environment from `(name, value)` pairs.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Loads a file of `KEY=VALUE` lines. Blank lines and lines starting with `#` are skipped;
    /// the value is everything after the first `=`, verbatim (no quoting, no expansion).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, EnvError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| EnvError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut vars = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some((key, value)) = trimmed.split_once('=') else {
                return Err(EnvError::Syntax {
                    path: path.to_path_buf(),
                    line: i + 1,
                });
            };
            let key = key.trim();
            if key.is_empty() {
                return Err(EnvError::Syntax {
                    path: path.to_path_buf(),
                    line: i + 1,
                });
            }
            vars.insert(key.to_owned(), value.to_owned());
        }
        Ok(Self { vars })
    }

    /// The value of `name`; `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// True when `name` is set to `true` (case-insensitive).
    pub fn is_true(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// The value of `name` parsed as a number; `None` when unset, empty or not a number.
    pub fn get_parsed<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.get(name)?.trim().parse().ok()
    }

    /// Returns a copy with `name` set to `value` (handy in tests).
    #[must_use]
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_absent_and_files_parse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ci.env");
        std::fs::write(&path, "# comment\n\nA=1\nB=\nC=x=y\n  D = spaced\n").unwrap();
        let env = Env::from_file(&path).unwrap();
        assert_eq!(env.get("A"), Some("1"));
        assert_eq!(env.get("B"), None);
        assert_eq!(env.get("C"), Some("x=y"));
        assert_eq!(env.get("D"), Some(" spaced"));
        assert_eq!(env.get_parsed::<u32>("A"), Some(1));
        assert_eq!(env.get("MISSING"), None);

        std::fs::write(&path, "A=1\nnot a pair\n").unwrap();
        let err = Env::from_file(&path).unwrap_err().to_string();
        assert!(
            err.ends_with(":2: expected KEY=VALUE, a comment (#) or a blank line"),
            "{err}"
        );
        assert!(Env::from_file(dir.path().join("missing")).is_err());
    }

    #[test]
    fn debug_never_prints_values() {
        let env = Env::from_pairs([("GITHUB_TOKEN", "ghp_secret"), ("CI", "true")]);
        let text = format!("{env:?}");
        assert!(
            text.contains("GITHUB_TOKEN") && !text.contains("ghp_secret"),
            "{text}"
        );
        assert!(env.is_true("CI") && !env.is_true("GITHUB_TOKEN"));
    }

    #[test]
    fn from_process_reads_something() {
        // The only test that touches the real environment, and it only checks the type works.
        let env = Env::from_process();
        let _ = env.get("PATH");
    }
}
