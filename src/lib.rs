//! cimon: a CI reporter in one static binary.
//!
//! `cimon report` runs at the end of a CI job (GitHub Actions, GitLab CI, Jenkins or any other)
//! and collects the run — who/what/where, outcome, job and step timings, and every test from
//! the JUnit-family XML the job wrote — into one versioned run report (`cimon.run/v1`).
//!
//! The crate is organised by responsibility (see `ARCHITECTURE.md`):
//! - [`model`]: the run report types (plain data, no I/O);
//! - [`ci`]: CI providers, detected from an injected environment map;
//! - [`junit`]: the streaming JUnit-family parser and retry folding;
//! - [`output`]: text, JSON and Markdown renderers and GitHub workflow integration;
//! - [`commands`]: one module per subcommand, the only place `anyhow` is used;
//! - [`exit_code`]: the documented process exit codes.

pub mod ci;
pub mod exit_code;
pub mod http;
pub mod junit;
pub mod model;
