//! One module per subcommand: orchestration only. `anyhow` lives here and nowhere deeper.

pub mod flush;
pub mod gate;
pub mod notify;
pub mod report;
pub mod serve;

use std::io::Write;

use crate::cli::{Cli, Command, SchemaKind};
use crate::exit_code;

/// Runs a parsed command line against an environment; returns the process exit code.
pub fn run(cli: Cli, env: crate::ci::Env) -> u8 {
    match cli.command {
        Command::Report(args) => report::run(*args, &env),
        Command::Serve(args) => serve::run(args, &env),
        Command::Flush(args) => flush::run(args, &env),
        Command::Notify(args) => notify::run(args, &env),
        Command::Gate(args) => gate::run(*args, &env),
        Command::Policy { action } => gate::run_policy(action),
        Command::Schema { which, markdown } => print_or_fail(&schema_text(which, markdown)),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "cimon", &mut std::io::stdout());
            exit_code::OK
        }
    }
}

/// `cimon schema WHICH [--markdown]`.
pub fn schema_text(which: SchemaKind, markdown: bool) -> String {
    let (schema, title) = match which {
        SchemaKind::RunReport => (
            crate::schema::run_report(),
            "Run report reference (`cimon.run/v1`)",
        ),
        SchemaKind::Openapi => (crate::schema::openapi(), "cimon serve API"),
        SchemaKind::Verdict => (
            crate::schema::verdict(),
            "Gate verdict reference (`cimon.verdict/v1`)",
        ),
        SchemaKind::Policy => (
            crate::config::schema(),
            "Configuration reference (`.cimon.yml`)",
        ),
    };
    if markdown {
        return crate::reference::render(&schema, title);
    }
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

fn print_or_fail(text: &str) -> u8 {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => exit_code::OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit_code::OK,
        Err(e) => {
            eprintln!("cimon: cannot write to stdout: {e}");
            exit_code::USAGE
        }
    }
}
