//! The process exit codes cimon uses (see `docs/exit-codes.md` and `../DESIGN.md`).

/// Everything went as asked.
pub const OK: u8 = 0;
/// The gate (or `--fail-on-test-failure`) says no.
pub const FAILED: u8 = 1;
/// Usage, configuration or input error (bad flags, no test report with `--require-tests`).
pub const USAGE: u8 = 2;
/// Infrastructure error (endpoint, API, channel), only with `--strict`.
pub const INFRA: u8 = 3;
