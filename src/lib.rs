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
//! - [`output`]: text, Markdown and GitHub Actions renderers;
//! - [`delivery`]: posting reports to a `cimon serve` endpoint, retries, the spool;
//! - [`commands`]: one module per subcommand, the only place `anyhow` is used;
//! - [`exit_code`]: the documented process exit codes.

#![warn(missing_docs)]

pub mod ci;
pub mod cli;
pub mod commands;
pub mod config;
pub mod delivery;
pub mod exit_code;
pub mod forge;
pub mod gate;
pub mod history;
pub mod http;
pub mod junit;
pub mod logging;
pub mod model;
pub mod notify;
pub mod output;
pub mod reference;
pub mod schema;
pub mod server;
pub mod store;

use std::ffi::OsString;

use clap::Parser;

/// Parses `args`, runs the command against `env` and returns the process exit code.
pub fn main_with(args: impl IntoIterator<Item = OsString>, env: ci::Env) -> u8 {
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit_code::USAGE
            } else {
                exit_code::OK
            };
        }
    };
    http::install_crypto_provider();
    logging::init(cli.verbose, cli.quiet, env.get("CIMON_LOG"));
    commands::run(cli, env)
}
