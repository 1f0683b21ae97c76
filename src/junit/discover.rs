//! Finds test report files: explicit `--junit` globs, or well-known locations.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use walkdir::WalkDir;

/// Where reports are looked for when no `--junit` is given, relative to the working directory.
pub const DEFAULT_PATTERNS: &[&str] = &[
    "**/TEST-*.xml",
    "**/junit*.xml",
    "**/*-junit.xml",
    "**/*.junit.xml",
    "**/*_junit.xml",
    "target/nextest/**/junit.xml",
    "**/surefire-reports/*.xml",
    "**/failsafe-reports/*.xml",
    "**/build/test-results/**/*.xml",
    "**/test-results/**/*.xml",
    "**/test-reports/**/*.xml",
    "bazel-testlogs/**/test.xml",
];

/// Directories never searched by the default discovery (dependencies, VCS data, caches).
const SKIP_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    ".venv",
    "venv",
    ".tox",
    "__pycache__",
    ".gradle",
    ".cache",
];

/// A pattern that matched nothing, or could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The glob is not valid.
    #[error("--junit {pattern:?}: invalid glob: {source}")]
    BadGlob {
        /// The pattern.
        pattern: String,
        /// The glob error.
        source: globset::Error,
    },
}

/// The files found, sorted and without duplicates, plus patterns that matched nothing.
#[derive(Debug, Default)]
pub struct Found {
    /// Files to read.
    pub files: Vec<PathBuf>,
    /// Explicit patterns that matched no file.
    pub unmatched: Vec<String>,
}

fn glob(pattern: &str) -> Result<Glob, DiscoverError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|source| DiscoverError::BadGlob {
            pattern: pattern.into(),
            source,
        })
}

/// The directory a pattern can start walking from: its leading components without glob
/// metacharacters.
fn walk_root(pattern: &str) -> PathBuf {
    let mut root = PathBuf::new();
    for comp in Path::new(pattern).components() {
        let s = comp.as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[', '{']) {
            break;
        }
        root.push(comp);
    }
    root
}

/// Expands `patterns` relative to `base`. With no patterns, [`DEFAULT_PATTERNS`] are used
/// (and dependency directories skipped).
pub fn find(base: &Path, patterns: &[String]) -> Result<Found, DiscoverError> {
    let explicit = !patterns.is_empty();
    let list: Vec<String> = if explicit {
        patterns.to_vec()
    } else {
        DEFAULT_PATTERNS.iter().map(|s| s.to_string()).collect()
    };
    let mut found = BTreeSet::new();
    let mut unmatched = Vec::new();
    for pattern in &list {
        let before = found.len();
        let literal = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        if literal.is_file() {
            found.insert(clean(&literal));
        } else {
            let set: GlobSet =
                GlobSetBuilder::new()
                    .add(glob(pattern)?)
                    .build()
                    .map_err(|source| DiscoverError::BadGlob {
                        pattern: pattern.clone(),
                        source,
                    })?;
            let root = walk_root(pattern);
            let abs_pattern = Path::new(pattern).is_absolute();
            let start = if abs_pattern {
                root.clone()
            } else {
                base.join(&root)
            };
            let walker = WalkDir::new(&start)
                .follow_links(false)
                .into_iter()
                .filter_entry(|e| {
                    e.depth() == 0
                        || !(e.file_type().is_dir()
                            && !explicit
                            && SKIP_DIRS.iter().any(|d| e.file_name() == *d))
                            && e.file_name() != ".git"
                });
            for entry in walker.flatten() {
                if !entry.file_type().is_file() {
                    continue;
                }
                let path = entry.path();
                let rel = if abs_pattern {
                    path.to_path_buf()
                } else {
                    path.strip_prefix(base).unwrap_or(path).to_path_buf()
                };
                if set.is_match(&rel) {
                    found.insert(clean(&if abs_pattern { rel } else { base.join(rel) }));
                }
            }
        }
        if explicit && found.len() == before {
            unmatched.push(pattern.clone());
        }
    }
    let files = found.into_iter().map(|p| relative_to(&p, base)).collect();
    Ok(Found { files, unmatched })
}

fn clean(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

fn relative_to(p: &Path, base: &Path) -> PathBuf {
    let base = clean(base);
    match p.strip_prefix(&base) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        _ => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, "<testsuite/>").unwrap();
    }

    #[test]
    fn default_discovery_finds_well_known_reports_and_skips_dependencies() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "app/target/surefire-reports/TEST-com.acme.AppTest.xml",
            "target/nextest/ci/junit.xml",
            "web/junit.xml",
            "build/test-results/test/TEST-x.xml",
            "node_modules/pkg/junit.xml",
            "src/main.xml",
        ] {
            touch(root, f);
        }
        let found = find(root, &[]).unwrap();
        let names: Vec<String> = found
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "app/target/surefire-reports/TEST-com.acme.AppTest.xml",
                "build/test-results/test/TEST-x.xml",
                "target/nextest/ci/junit.xml",
                "web/junit.xml",
            ]
        );
    }

    #[test]
    fn explicit_globs_are_exact_and_report_unmatched_patterns() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "reports/a/one.xml");
        touch(root, "reports/two.xml");
        touch(root, "reports/b#c.xml");
        let found = find(
            root,
            &[
                "reports/*.xml".into(),
                "reports/**/one.xml".into(),
                "missing/*.xml".into(),
            ],
        )
        .unwrap();
        let names: Vec<String> = found
            .files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            names,
            ["reports/a/one.xml", "reports/b#c.xml", "reports/two.xml"]
        );
        assert_eq!(found.unmatched, ["missing/*.xml"]);
        assert!(matches!(
            find(root, &["a[".into()]),
            Err(DiscoverError::BadGlob { .. })
        ));
    }
}
