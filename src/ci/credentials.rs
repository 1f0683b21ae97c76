//! Credentials for the CI APIs, read from the environment or from files it names.
//!
//! Precedence per credential: the `CIMON_*` variable, then its `*_FILE` variant, then (GitHub
//! only) `GITHUB_TOKEN`. File contents are trimmed. Values are [`Secret`]s: `Debug` masks them.

use std::path::PathBuf;

use super::env::{self, Env};
use crate::http::Secret;

/// Tokens and users for the CI APIs. Never logged: `Debug` prints `***` for every secret.
#[derive(Default, Clone, Debug)]
pub struct ApiCredentials {
    /// Token for the GitHub Actions API (needs `actions: read`).
    pub github_token: Option<Secret>,
    /// Token for the GitLab API (`read_api`), sent as `PRIVATE-TOKEN`.
    pub gitlab_token: Option<Secret>,
    /// Jenkins user for basic authentication.
    pub jenkins_user: Option<String>,
    /// Jenkins API token of [`ApiCredentials::jenkins_user`].
    pub jenkins_token: Option<Secret>,
}

impl ApiCredentials {
    /// `text` with every credential value replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        [&self.github_token, &self.gitlab_token, &self.jenkins_token]
            .into_iter()
            .flatten()
            .fold(text.to_owned(), |text, secret| secret.redact(&text))
    }
}

/// A `*_FILE` variable names a file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "{variable}: cannot read {}: {source}; set it to a readable file or unset it",
    path.display()
)]
pub struct CredentialsError {
    /// The variable naming the file.
    pub variable: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// Reads the credentials; a `*_FILE` that cannot be read is an error (a configuration
/// mistake the user should hear about).
pub fn try_credentials_from_env(env: &Env) -> Result<ApiCredentials, CredentialsError> {
    let github_token =
        match value_or_file(env, env::CIMON_GITHUB_TOKEN, env::CIMON_GITHUB_TOKEN_FILE)? {
            Some(token) => Some(token),
            None => env.get(env::GITHUB_TOKEN).map(|t| t.trim().to_owned()),
        };
    Ok(ApiCredentials {
        github_token: github_token.map(Secret::from),
        gitlab_token: value_or_file(env, env::CIMON_GITLAB_TOKEN, env::CIMON_GITLAB_TOKEN_FILE)?
            .map(Secret::from),
        jenkins_user: value_or_file(env, env::CIMON_JENKINS_USER, env::CIMON_JENKINS_USER_FILE)?,
        jenkins_token: value_or_file(env, env::CIMON_JENKINS_TOKEN, env::CIMON_JENKINS_TOKEN_FILE)?
            .map(Secret::from),
    })
}

/// Reads the credentials, never failing: a `*_FILE` that cannot be read is logged (without
/// its content) and that credential is left out.
pub fn credentials_from_env(env: &Env) -> ApiCredentials {
    match try_credentials_from_env(env) {
        Ok(creds) => creds,
        Err(first) => {
            tracing::warn!("{first}");
            let mut creds = ApiCredentials::default();
            let read = |value: &'static str, file: &'static str| {
                value_or_file(env, value, file).unwrap_or_else(|e| {
                    if e.variable != first.variable {
                        tracing::warn!("{e}");
                    }
                    None
                })
            };
            creds.github_token = read(env::CIMON_GITHUB_TOKEN, env::CIMON_GITHUB_TOKEN_FILE)
                .or_else(|| env.get(env::GITHUB_TOKEN).map(|t| t.trim().to_owned()))
                .map(Secret::from);
            creds.gitlab_token =
                read(env::CIMON_GITLAB_TOKEN, env::CIMON_GITLAB_TOKEN_FILE).map(Secret::from);
            creds.jenkins_user = read(env::CIMON_JENKINS_USER, env::CIMON_JENKINS_USER_FILE);
            creds.jenkins_token =
                read(env::CIMON_JENKINS_TOKEN, env::CIMON_JENKINS_TOKEN_FILE).map(Secret::from);
            creds
        }
    }
}

fn value_or_file(
    env: &Env,
    value: &'static str,
    file: &'static str,
) -> Result<Option<String>, CredentialsError> {
    if let Some(v) = env.get(value).map(str::trim).filter(|v| !v.is_empty()) {
        return Ok(Some(v.to_owned()));
    }
    let Some(path) = env.get(file) else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    let text = std::fs::read_to_string(&path).map_err(|source| CredentialsError {
        variable: file,
        path,
        source,
    })?;
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_files_and_masking() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gl");
        std::fs::write(&file, "glpat-from-file\n").unwrap();
        let file = file.to_string_lossy().into_owned();

        let env = Env::from_pairs([
            ("GITHUB_TOKEN", "ghs_plain"),
            ("CIMON_GITHUB_TOKEN", "ghp_cimon"),
            ("CIMON_GITLAB_TOKEN_FILE", file.as_str()),
            ("CIMON_JENKINS_USER", "alice"),
            ("CIMON_JENKINS_TOKEN", "11aa"),
        ]);
        let creds = try_credentials_from_env(&env).unwrap();
        assert_eq!(
            creds.github_token.as_ref().map(Secret::expose),
            Some("ghp_cimon")
        );
        assert_eq!(
            creds.gitlab_token.as_ref().map(Secret::expose),
            Some("glpat-from-file")
        );
        assert_eq!(creds.jenkins_user.as_deref(), Some("alice"));
        assert_eq!(
            creds.jenkins_token.as_ref().map(Secret::expose),
            Some("11aa")
        );
        let debug = format!("{creds:?}");
        for secret in ["ghp_cimon", "glpat-from-file", "11aa"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert_eq!(creds.redact("a ghp_cimon b glpat-from-file"), "a *** b ***");

        let only_github = Env::from_pairs([("GITHUB_TOKEN", "ghs_plain")]);
        let creds = credentials_from_env(&only_github);
        assert_eq!(
            creds.github_token.as_ref().map(Secret::expose),
            Some("ghs_plain")
        );
        assert!(creds.gitlab_token.is_none() && creds.jenkins_user.is_none());
    }

    #[test]
    fn unreadable_files_are_errors_or_skipped() {
        let env = Env::from_pairs([
            ("CIMON_GITLAB_TOKEN_FILE", "/nonexistent/cimon/token"),
            ("CIMON_GITHUB_TOKEN", "ghp_ok"),
        ]);
        let err = try_credentials_from_env(&env).unwrap_err().to_string();
        assert!(
            err.starts_with("CIMON_GITLAB_TOKEN_FILE: cannot read /nonexistent/cimon/token"),
            "{err}"
        );
        let creds = credentials_from_env(&env);
        assert!(creds.gitlab_token.is_none());
        assert_eq!(
            creds.github_token.as_ref().map(Secret::expose),
            Some("ghp_ok")
        );
    }
}
