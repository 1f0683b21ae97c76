//! Bearer-token authentication with scopes.
//!
//! Tokens are never stored or logged in clear: the server keeps SHA-256 hashes and compares
//! the hash of the presented token with each of them in constant time. `CIMON_TOKEN` gives one
//! token with every scope (quick start); `--tokens FILE` holds named tokens, one per line:
//!
//! ```text
//! # name      scopes               sha256 of the token
//! ci-ingest   ingest               sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
//! grafana     read                 sha256:fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9
//! ops         ingest,read,admin    sha256:…
//! ```
//!
//! (`printf %s "$TOKEN" | sha256sum` gives the hash.) A missing or unknown token is 401; a
//! known token without the needed scope is 403.

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `POST /api/v1/runs`.
    Ingest,
    /// Every `GET` of the API and `/metrics`.
    Read,
    /// Everything.
    Admin,
}

impl Scope {
    fn parse(word: &str) -> Option<Self> {
        match word {
            "ingest" => Some(Self::Ingest),
            "read" => Some(Self::Read),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    hash: [u8; 32],
    scopes: Vec<Scope>,
}

/// The configured tokens, or none at all (`--insecure-no-auth`).
#[derive(Debug, Clone)]
pub struct Auth {
    entries: Vec<Entry>,
    disabled: bool,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No token, or one that matches no entry.
    Unauthenticated,
    /// A known token without the scope.
    Forbidden {
        /// The token's name.
        name: String,
    },
}

/// A tokens file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The file cannot be read.
    #[error("--tokens {path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("--tokens {path}:{line}: {message}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Auth {
    /// No authentication at all.
    pub fn disabled() -> Self {
        Self {
            entries: Vec::new(),
            disabled: true,
        }
    }

    /// One token with every scope.
    pub fn single(token: &str) -> Self {
        Self {
            entries: vec![Entry {
                name: "CIMON_TOKEN".into(),
                hash: sha256(token.as_bytes()),
                scopes: vec![Scope::Admin],
            }],
            disabled: false,
        }
    }

    /// Parses a tokens file (see the module docs).
    pub fn parse(path: &str, text: &str) -> Result<Self, AuthError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |message: String| AuthError::Line {
                path: path.into(),
                line: i + 1,
                message,
            };
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [name, scopes, hash] = parts[..] else {
                return Err(err("expected `name scopes sha256:HEX`".into()));
            };
            let scopes = scopes
                .split(',')
                .map(|s| {
                    Scope::parse(s.trim())
                        .ok_or_else(|| err(format!("unknown scope {s:?} (ingest, read, admin)")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let hex = hash.strip_prefix("sha256:").ok_or_else(|| {
                err("the token must be given as its hash, `sha256:HEX` (printf %s \"$TOKEN\" | sha256sum); a clear token is refused".into())
            })?;
            let hash =
                decode_hex32(hex).ok_or_else(|| err("a SHA-256 hash is 64 hex digits".into()))?;
            entries.push(Entry {
                name: name.to_string(),
                hash,
                scopes,
            });
        }
        if entries.is_empty() {
            return Err(AuthError::Line {
                path: path.into(),
                line: 0,
                message: "no token in the file".into(),
            });
        }
        Ok(Self {
            entries,
            disabled: false,
        })
    }

    /// Loads a tokens file.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&shown, &text)
    }

    /// Checks an `Authorization` header value for `scope`. Returns the token's name.
    pub fn check(&self, authorization: Option<&str>, scope: Scope) -> Result<String, Denied> {
        if self.disabled {
            return Ok("anonymous".into());
        }
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Denied::Unauthenticated)?;
        let presented = sha256(token.as_bytes());
        // Compare with every entry so the time does not depend on which one matches.
        let mut found: Option<&Entry> = None;
        for entry in &self.entries {
            if bool::from(entry.hash.ct_eq(&presented)) {
                found = Some(entry);
            }
        }
        let entry = found.ok_or(Denied::Unauthenticated)?;
        if entry.scopes.contains(&Scope::Admin) || entry.scopes.contains(&scope) {
            Ok(entry.name.clone())
        } else {
            Err(Denied::Forbidden {
                name: entry.name.clone(),
            })
        }
    }
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_line(name: &str, scopes: &str, token: &str) -> String {
        let h: String = sha256(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{name} {scopes} sha256:{h}\n")
    }

    #[test]
    fn scopes_give_401_or_403() {
        let text = format!(
            "# tokens\n{}{}",
            hash_line("ci", "ingest", "t-ingest"),
            hash_line("dash", "read", "t-read")
        );
        let auth = Auth::parse("tokens", &text).unwrap();
        assert_eq!(
            auth.check(Some("Bearer t-ingest"), Scope::Ingest),
            Ok("ci".into())
        );
        assert_eq!(
            auth.check(Some("Bearer t-read"), Scope::Ingest),
            Err(Denied::Forbidden {
                name: "dash".into()
            })
        );
        assert_eq!(
            auth.check(Some("Bearer nope"), Scope::Read),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(auth.check(None, Scope::Read), Err(Denied::Unauthenticated));
        assert_eq!(
            auth.check(Some("Basic abc"), Scope::Read),
            Err(Denied::Unauthenticated)
        );
        let single = Auth::single("s3cret");
        assert!(single.check(Some("Bearer s3cret"), Scope::Ingest).is_ok());
        assert!(single.check(Some("Bearer s3cret"), Scope::Read).is_ok());
        assert!(Auth::disabled().check(None, Scope::Ingest).is_ok());
    }

    #[test]
    fn bad_files_name_the_line_and_refuse_clear_tokens() {
        let err = Auth::parse("t", "ci ingest plaintext-token\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t:1:") && err.contains("clear token is refused"),
            "{err}"
        );
        let err = Auth::parse("t", "\nci fly sha256:00\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t:2:") && err.contains("unknown scope"),
            "{err}"
        );
        assert!(Auth::parse("t", "# nothing\n").is_err());
        assert!(!err.contains("plaintext-token"));
    }
}
