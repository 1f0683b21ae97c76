//! The spool: a directory of reports that could not be delivered, for `cimon flush`.
//!
//! - A report is saved atomically (a hidden temporary file, synced, then hard-linked to its
//!   final name, which fails rather than overwrite) as
//!   `<UTC timestamp>-<first 16 hex of SHA-256(run key)>.json`; a name already taken gets a
//!   `-1`, `-2`, … suffix. Files are plain JSON, the report as `report` emitted it.
//! - A flusher **claims** a file by renaming it to `<name>.claim-<unix secs>-<pid>-<random>`:
//!   rename is atomic, so of two flushers only one gets each file. The claim is then deleted
//!   (after a 2xx), released back to `<name>` (not delivered), or set aside as `<name>.bad`
//!   (not a report). A claim older than [`STALE_CLAIM`] belongs to a flusher that died and is
//!   offered again.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::ci::Env;

/// The name of the spool directory under `$RUNNER_TEMP` or the temp dir.
pub const SPOOL_DIR_NAME: &str = "cimon-spool";
/// After this long a claim is taken to be abandoned (its flusher crashed).
pub const STALE_CLAIM: Duration = Duration::from_secs(3600);
const CLAIM_MARK: &str = ".claim-";
const EXTENSION: &str = ".json";

/// A spool operation failed.
#[derive(Debug, thiserror::Error)]
#[error("spool {}: cannot {action} {}: {source}", dir.display(), path.display())]
pub struct SpoolError {
    /// The spool directory.
    pub dir: PathBuf,
    /// What was being done (`write`, `read`, `claim`, …).
    pub action: &'static str,
    /// The file or directory concerned.
    pub path: PathBuf,
    /// The I/O error.
    pub source: io::Error,
}

/// A spool directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// The spool in `dir` (created when a report is first saved).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The default directory: `$RUNNER_TEMP/cimon-spool`, else `<temp dir>/cimon-spool`.
    pub fn default_dir(env: &Env) -> PathBuf {
        env.get("RUNNER_TEMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(SPOOL_DIR_NAME)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn error(&self, action: &'static str, path: &Path, source: io::Error) -> SpoolError {
        SpoolError {
            dir: self.dir.clone(),
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Saves `json`, the report with run key `key`, atomically and without overwriting any
    /// other file; returns its path.
    pub fn save(&self, key: &str, json: &[u8]) -> Result<PathBuf, SpoolError> {
        fs::create_dir_all(&self.dir).map_err(|e| self.error("create", &self.dir, e))?;
        let stem = file_stem(key, Utc::now());
        let tmp = self.dir.join(format!(
            ".{stem}.{}-{:08x}.tmp",
            std::process::id(),
            fastrand::u32(..)
        ));
        let written = fs::File::create_new(&tmp).and_then(|mut file| {
            file.write_all(json)?;
            file.sync_all()
        });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(self.error("write", &tmp, e));
        }
        let placed = place_new(&tmp, &self.dir, &stem, EXTENSION).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            self.error("write", &self.dir.join(format!("{stem}{EXTENSION}")), e)
        })?;
        sync_dir(&self.dir);
        Ok(placed)
    }

    /// The files waiting to be sent, oldest first: `*.json` (not hidden) and abandoned claims.
    /// A directory that does not exist holds nothing.
    pub fn pending(&self) -> Result<Vec<PathBuf>, SpoolError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error("list", &self.dir, e)),
        };
        let now = SystemTime::now();
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.error("list", &self.dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let wanted =
                !name.starts_with('.') && (name.ends_with(EXTENSION) || is_stale_claim(name, now));
            if !wanted || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(UNIX_EPOCH);
            found.push((modified, name.to_owned(), entry.path()));
        }
        found.sort();
        Ok(found.into_iter().map(|(_, _, path)| path).collect())
    }

    /// Claims `path` (from [`Spool::pending`]) for this process; `None` when another flusher
    /// got it first.
    pub fn claim(&self, path: &Path) -> Result<Option<Claim>, SpoolError> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let original = name.split(CLAIM_MARK).next().unwrap_or(name).to_owned();
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claimed = self.dir.join(format!(
            "{original}{CLAIM_MARK}{secs}-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        match fs::rename(path, &claimed) {
            Ok(()) => Ok(Some(Claim {
                spool: self.clone(),
                claimed,
                original,
                settled: false,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error("claim", path, e)),
        }
    }
}

/// A spool file this process holds. Dropping it unsettled releases it.
#[derive(Debug)]
pub struct Claim {
    spool: Spool,
    claimed: PathBuf,
    original: String,
    settled: bool,
}

impl Claim {
    /// The file's spool path when not claimed (for messages).
    pub fn original(&self) -> PathBuf {
        self.spool.dir.join(&self.original)
    }

    /// The file's content.
    pub fn read(&self) -> Result<Vec<u8>, SpoolError> {
        fs::read(&self.claimed).map_err(|e| self.spool.error("read", &self.claimed, e))
    }

    /// Deletes the file (it was delivered).
    pub fn delete(mut self) -> Result<(), SpoolError> {
        self.settled = true;
        match fs::remove_file(&self.claimed) {
            Ok(()) => Ok(()),
            // Taken over as stale and delivered by another flusher: gone is gone.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.spool.error("delete", &self.claimed, e)),
        }
    }

    /// Puts the file back under its spool name (or a free variant of it).
    pub fn release(mut self) -> Result<PathBuf, SpoolError> {
        self.settled = true;
        self.put_back()
    }

    fn put_back(&self) -> Result<PathBuf, SpoolError> {
        let stem = self
            .original
            .strip_suffix(EXTENSION)
            .unwrap_or(&self.original);
        place_new(&self.claimed, &self.spool.dir, stem, EXTENSION)
            .map_err(|e| self.spool.error("release", &self.claimed, e))
    }

    /// Moves the file aside as `<name>.bad` (never deleted); returns the new path.
    pub fn set_aside(mut self) -> Result<PathBuf, SpoolError> {
        self.settled = true;
        place_new(&self.claimed, &self.spool.dir, &self.original, ".bad")
            .map_err(|e| self.spool.error("set aside", &self.claimed, e))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.settled {
            if let Err(e) = self.put_back() {
                tracing::warn!("{e}");
            }
        }
    }
}

/// `<UTC timestamp>-<hash of the key>`, which sorts by time.
pub fn file_stem(key: &str, now: DateTime<Utc>) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hash}", now.format("%Y%m%dT%H%M%S%.6fZ"))
}

fn is_stale_claim(name: &str, now: SystemTime) -> bool {
    let Some((_, claim)) = name.split_once(CLAIM_MARK) else {
        return false;
    };
    let Some(secs) = claim.split('-').next().and_then(|s| s.parse::<u64>().ok()) else {
        return false;
    };
    let claimed_at = UNIX_EPOCH + Duration::from_secs(secs);
    now.duration_since(claimed_at)
        .is_ok_and(|age| age >= STALE_CLAIM)
}

/// Moves `from` to `dir/<stem><ext>`, or `dir/<stem>-<n><ext>` when that is taken, never
/// replacing a file: a hard link (which fails on an existing name) then removing `from`.
/// Where hard links are not supported, a rename after checking the name is free.
fn place_new(from: &Path, dir: &Path, stem: &str, ext: &str) -> io::Result<PathBuf> {
    for n in 0..10_000u32 {
        let name = if n == 0 {
            format!("{stem}{ext}")
        } else {
            format!("{stem}-{n}{ext}")
        };
        let to = dir.join(name);
        match fs::hard_link(from, &to) {
            Ok(()) => {
                fs::remove_file(from)?;
                return Ok(to);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
            Err(_) if !to.exists() => {
                fs::rename(from, &to)?;
                return Ok(to);
            }
            Err(_) => continue,
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free name for {stem}{ext}"),
    ))
}

/// Makes a rename durable where the platform allows it (best effort).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn names_sort_by_time_and_carry_the_key_hash() {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
        let stem = file_stem("github/o/r/ci/1/1/build", at);
        assert!(stem.starts_with("20261126T100000.000000Z-"), "{stem}");
        assert_eq!(stem.len(), "20261126T100000.000000Z-".len() + 16);
        assert_ne!(stem, file_stem("github/o/r/ci/1/2/build", at));
    }

    #[test]
    fn save_never_overwrites_and_pending_lists_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool"));
        assert!(
            spool.pending().unwrap().is_empty(),
            "a missing dir is empty"
        );
        let a = spool.save("k", b"{\"n\":1}").unwrap();
        let b = spool.save("k", b"{\"n\":2}").unwrap();
        assert_ne!(a, b);
        let pending = spool.pending().unwrap();
        assert_eq!(pending, vec![a.clone(), b.clone()]);
        assert_eq!(fs::read(&a).unwrap(), b"{\"n\":1}");
        // Nothing else is left behind (no temporary files).
        assert_eq!(fs::read_dir(spool.dir()).unwrap().count(), 2);

        // The same name twice gets a suffix.
        let tmp = spool.dir().join(".x.tmp");
        fs::write(&tmp, "3").unwrap();
        let stem = a.file_stem().unwrap().to_str().unwrap();
        let placed = place_new(&tmp, spool.dir(), stem, EXTENSION).unwrap();
        assert_eq!(placed, spool.dir().join(format!("{stem}-1.json")));
        assert_eq!(fs::read(&a).unwrap(), b"{\"n\":1}");
    }

    #[test]
    fn a_claim_is_exclusive_and_settles_three_ways() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        let path = spool.save("k", b"{}").unwrap();

        let claim = spool.claim(&path).unwrap().expect("first claim wins");
        assert!(spool.claim(&path).unwrap().is_none(), "second claim loses");
        assert!(
            spool.pending().unwrap().is_empty(),
            "a fresh claim is not pending"
        );
        assert_eq!(claim.original(), path);
        assert_eq!(claim.release().unwrap(), path);

        let claim = spool.claim(&path).unwrap().unwrap();
        drop(claim);
        assert!(path.exists(), "dropping a claim releases it");

        let claim = spool.claim(&path).unwrap().unwrap();
        let bad = claim.set_aside().unwrap();
        assert!(bad.to_str().unwrap().ends_with(".json.bad"), "{bad:?}");
        assert!(!path.exists() && bad.exists());
        assert!(spool.pending().unwrap().is_empty(), "*.bad is not pending");

        let path = spool.save("k", b"{}").unwrap();
        spool.claim(&path).unwrap().unwrap().delete().unwrap();
        assert_eq!(
            fs::read_dir(spool.dir()).unwrap().count(),
            1,
            "only the .bad file"
        );
    }

    #[test]
    fn abandoned_claims_are_offered_again() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        let old = SystemTime::now() - STALE_CLAIM - Duration::from_secs(5);
        let secs = old.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let stale = dir
            .path()
            .join(format!("a.json{CLAIM_MARK}{secs}-1-00000000"));
        let fresh = dir
            .path()
            .join(format!("b.json{CLAIM_MARK}{}-1-00000000", secs + 3_000));
        fs::write(&stale, "{}").unwrap();
        fs::write(&fresh, "{}").unwrap();
        assert_eq!(spool.pending().unwrap(), vec![stale.clone()]);
        let claim = spool.claim(&stale).unwrap().unwrap();
        assert_eq!(claim.original(), dir.path().join("a.json"));
        assert_eq!(claim.release().unwrap(), dir.path().join("a.json"));
    }
}
