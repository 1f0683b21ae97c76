//! `cimon flush`: re-send the reports `report --endpoint` spooled when the endpoint was
//! unreachable. Prints one summary line (`sent N, kept M`); exits 0, or 3 with `--strict`
//! when a report is still not delivered, or 2 when no endpoint is configured.

use std::io::Write;

use anyhow::{Context, Result};

use crate::ci::Env;
use crate::cli::FlushArgs;
use crate::delivery::{self, FlushSummary};
use crate::exit_code;

/// Re-sends spooled reports; returns the exit code.
pub fn run(args: FlushArgs, env: &Env) -> u8 {
    match execute(&args, env) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            exit_code::USAGE
        }
    }
}

fn execute(args: &FlushArgs, env: &Env) -> Result<u8> {
    let endpoint = delivery::endpoint_from(&args.delivery, env)?.with_context(|| {
        format!(
            "no endpoint to flush to: pass --endpoint URL or set {}",
            delivery::CIMON_ENDPOINT
        )
    })?;
    let spool = delivery::spool_from(&args.delivery, env);
    let policy = delivery::policy_from(&args.delivery);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let summary = match runtime.block_on(delivery::flush(&endpoint, &spool, &policy)) {
        Ok(summary) => summary,
        Err(e) => {
            tracing::warn!("{e}");
            return Ok(if args.strict {
                exit_code::INFRA
            } else {
                exit_code::OK
            });
        }
    };
    let line = summary_line(&summary, &spool.dir().display().to_string());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    Ok(if args.strict && summary.kept + summary.bad > 0 {
        exit_code::INFRA
    } else {
        exit_code::OK
    })
}

fn summary_line(s: &FlushSummary, dir: &str) -> String {
    let mut line = format!("cimon flush: sent {}, kept {}", s.sent, s.kept);
    if s.untried > 0 {
        line.push_str(&format!(" ({} not tried)", s.untried));
    }
    if s.bad > 0 {
        line.push_str(&format!(", {} not a report (moved to *.bad)", s.bad));
    }
    line.push_str(&format!(" [{dir}]"));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_one_line() {
        let s = FlushSummary {
            sent: 2,
            kept: 3,
            untried: 2,
            bad: 1,
        };
        assert_eq!(
            summary_line(&s, "/tmp/cimon-spool"),
            "cimon flush: sent 2, kept 3 (2 not tried), 1 not a report (moved to *.bad) \
             [/tmp/cimon-spool]"
        );
        assert_eq!(
            summary_line(&FlushSummary::default(), "d"),
            "cimon flush: sent 0, kept 0 [d]"
        );
    }
}
