//! The `cimon` binary: everything lives in the library (see `cimon::main_with`).

fn main() -> std::process::ExitCode {
    let env = cimon::ci::Env::from_process();
    std::process::ExitCode::from(cimon::main_with(std::env::args_os(), env))
}
