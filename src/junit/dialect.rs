//! Which tool wrote a report, and what that means for repeated test cases.
//!
//! Producers disagree on what a `<testcase>` written twice means. Only some dialects use
//! repetition for retries; elsewhere it is a different test that happens to share a name
//! (TestNG data providers, parameterised tests, the same name in two suites). The rules per
//! dialect are documented in `docs/retry-dialects.md`:
//!
//! | dialect | retry marker | what it means |
//! |---|---|---|
//! | Surefire/Failsafe, Gradle-with-plugin, cargo-nextest | `<flakyFailure>`/`<flakyError>` children | the test failed N times, then passed |
//! | same | `<rerunFailure>`/`<rerunError>` children next to `<failure>`/`<error>` | every run failed |
//! | pytest + pytest-rerunfailures | the same `<testcase>` repeated in the `pytest` suite; reruns carry no result element | the earlier copies are failed attempts |
//! | go-junit-report / gotestsum `--rerun-fails` | the same test repeated in a package suite (suite property `go.version`) | each copy is one attempt with its own result |
//! | jest-junit | testcase property `invocations` = N | the test ran N times (N-1 failures before the final result) |
//!
//! Anything else keeps repeated test cases as separate tests, unless the user opts in with
//! `--merge-repeated`.

/// The producer of a report, as far as it can be told from the XML itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Plain JUnit XML (Ant, Surefire, Gradle, PHPUnit, Bazel, …): no repetition semantics.
    Junit,
    /// Maven Surefire / Failsafe (`testsuite` with the Surefire schema or rerun elements).
    Surefire,
    /// pytest's junitxml (suite named `pytest`).
    Pytest,
    /// cargo-nextest (`testsuites name="nextest-run"`).
    Nextest,
    /// go-junit-report / gotestsum (suite property `go.version`).
    Go,
    /// jest-junit (`testsuites name="jest tests"` by default).
    Jest,
    /// mocha-junit-reporter (`testsuites name="Mocha Tests"`).
    Mocha,
    /// PHPUnit (nested suites with `file` attributes and `assertions`).
    Phpunit,
    /// Playwright's junit reporter.
    Playwright,
}

impl Dialect {
    /// The name written into the report (`tests.files[].dialect`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Junit => "junit",
            Self::Surefire => "surefire",
            Self::Pytest => "pytest",
            Self::Nextest => "nextest",
            Self::Go => "go",
            Self::Jest => "jest",
            Self::Mocha => "mocha",
            Self::Phpunit => "phpunit",
            Self::Playwright => "playwright",
        }
    }

    /// True when a test case repeated within one suite is another attempt of the same test.
    pub fn repeats_are_retries(self) -> bool {
        matches!(self, Self::Pytest | Self::Go)
    }

    /// True when a repeated case without a result element means "this attempt failed and was
    /// re-run" (pytest-rerunfailures writes reruns with no `<failure>`).
    pub fn bare_repeat_is_failure(self) -> bool {
        matches!(self, Self::Pytest)
    }
}

/// Collects clues while a file is read and settles the dialect of each suite.
#[derive(Debug, Clone, Copy)]
pub struct Clues {
    file: Dialect,
}

impl Default for Clues {
    fn default() -> Self {
        Self {
            file: Dialect::Junit,
        }
    }
}

impl Clues {
    /// The dialect known for the whole file so far.
    pub fn file(&self) -> Dialect {
        self.file
    }

    /// Looks at the root `<testsuites name=…>`.
    pub fn root_name(&mut self, name: &str) {
        self.file = match name {
            "nextest-run" => Dialect::Nextest,
            "jest tests" => Dialect::Jest,
            "Mocha Tests" => Dialect::Mocha,
            _ => self.file,
        };
    }

    /// The dialect of a `<testsuite>` given its name and attributes, before its properties.
    pub fn suite(&mut self, name: &str, has_file_attr: bool, has_assertions: bool) -> Dialect {
        if name == "pytest" {
            self.file = Dialect::Pytest;
            return Dialect::Pytest;
        }
        if self.file == Dialect::Junit && has_file_attr && has_assertions {
            self.file = Dialect::Phpunit;
        }
        self.file
    }

    /// A `<property>` of a `<testsuite>` (`go.version`, Surefire's `surefire.version`…).
    pub fn suite_property(&mut self, name: &str, current: Dialect) -> Dialect {
        match name {
            "go.version" => {
                self.file = Dialect::Go;
                Dialect::Go
            }
            n if n.starts_with("surefire.") || n == "maven.version" => {
                if current == Dialect::Junit {
                    self.file = Dialect::Surefire;
                    Dialect::Surefire
                } else {
                    current
                }
            }
            _ => current,
        }
    }

    /// A Surefire/nextest rerun element was seen.
    pub fn rerun_element(&mut self) {
        if self.file == Dialect::Junit {
            self.file = Dialect::Surefire;
        }
    }
}
