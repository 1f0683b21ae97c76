//! Command-line interface: clap types only, no behaviour.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// cimon: collect a CI run and its test results into one versioned run report.
#[derive(Debug, Parser)]
#[command(name = "cimon", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). `CIMON_LOG` takes a
    /// tracing filter (e.g. `cimon=debug`) and wins over -v.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// cimon's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collect the current CI run and its test reports into a run report.
    Report(Box<ReportArgs>),
    /// Run the central endpoint: ingest API, history queries, `/metrics`.
    Serve(ServeArgs),
    /// Re-send reports spooled by `report --endpoint` when the endpoint was unreachable.
    Flush(FlushArgs),
    /// Send a run report to the channels of `.cimon.yml` (de-duplicated, state-change alerts).
    Notify(NotifyArgs),
    /// Judge the flakiness policy of `.cimon.yml` over the history and this run: a verdict
    /// (pass, warn, fail) and an exit code branch protection can require.
    Gate(Box<GateArgs>),
    /// Work with the policy file.
    Policy {
        /// What to do.
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Print a JSON Schema.
    Schema {
        /// Which schema.
        #[arg(value_enum)]
        which: SchemaKind,
        /// Print it as a Markdown reference (`docs/configuration.md`) instead of JSON.
        #[arg(long)]
        markdown: bool,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `cimon policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyAction {
    /// Validate a policy file (default: `.cimon.yml`, else `.github/cimon.yml`): exit 0 when
    /// valid, 2 with located errors otherwise. `notify:` secrets are not resolved.
    Check {
        /// The file.
        file: Option<PathBuf>,
    },
}

/// `cimon gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// The policy file (default: `.cimon.yml`, else `.github/cimon.yml`; none: the defaults).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The current run's report (JSON, from `report --output`); repeatable for a matrix.
    #[arg(long = "report", value_name = "FILE")]
    pub reports: Vec<PathBuf>,
    /// History from a local SQLite file (the one `report --history PATH` appends to).
    #[arg(long, value_name = "PATH", conflicts_with = "endpoint")]
    pub history: Option<PathBuf>,
    /// History from a `cimon serve` endpoint (else `CIMON_ENDPOINT`); the token comes from
    /// `CIMON_TOKEN` or `CIMON_TOKEN_FILE`.
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the JSON verdict to this file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 3 when the history cannot be read (default: a warning, and
    /// `on_missing_history` decides).
    #[arg(long)]
    pub strict: bool,
    /// GitHub Actions: do not append to `$GITHUB_STEP_SUMMARY`.
    #[arg(long)]
    pub no_summary: bool,
    /// Also write one sticky pull-request comment (GitHub) / merge-request note (GitLab) with
    /// the run's results and the verdict, updated in place on later runs.
    #[arg(long)]
    pub comment: bool,
    /// When the verdict is fail, send `gate_failed` to the channels of the `notify:` section
    /// of the policy file.
    #[arg(long)]
    pub notify: bool,
    /// The branch whose history is the baseline (default: the pull request's base branch,
    /// else the run's branch).
    #[arg(long, value_name = "BRANCH")]
    pub base_branch: Option<String>,
    /// Which CI to read the run's identity from when no `--report` is given.
    #[arg(long, value_enum, default_value_t = ProviderArg::Auto)]
    pub provider: ProviderArg,
    /// Identity overrides (repository, branch, commit, pull request).
    #[command(flatten)]
    pub run: RunFlags,
}

/// Schemas cimon publishes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaKind {
    /// The run report (`cimon.run/v1`).
    RunReport,
    /// The OpenAPI document of `cimon serve`.
    Openapi,
    /// The configuration file `.cimon.yml` (notifications, gate policy).
    Policy,
    /// The verdict of `cimon gate --format json` (`cimon.verdict/v1`).
    Verdict,
}

/// Output formats of `report` on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A compact human summary (coloured on a terminal).
    Text,
    /// The run report as JSON.
    Json,
    /// A Markdown summary (as written to the GitHub job summary).
    Markdown,
}

/// Which CI to read the run from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// Detect from the environment.
    Auto,
    /// GitHub Actions.
    Github,
    /// GitLab CI.
    Gitlab,
    /// Jenkins.
    Jenkins,
    /// Anything else: flags and `git`.
    Generic,
}

impl From<ProviderArg> for crate::ci::ProviderChoice {
    fn from(arg: ProviderArg) -> Self {
        match arg {
            ProviderArg::Auto => Self::Auto,
            ProviderArg::Github => Self::Github,
            ProviderArg::Gitlab => Self::Gitlab,
            ProviderArg::Jenkins => Self::Jenkins,
            ProviderArg::Generic => Self::Generic,
        }
    }
}

/// When to colour text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// On a terminal, and in GitHub Actions / GitLab CI logs, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// `cimon report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Test report files (JUnit XML): a path or a glob (`**` crosses directories). Repeatable.
    /// Without it, well-known locations are searched (`**/TEST-*.xml`, `**/junit*.xml`,
    /// `target/nextest/**/junit.xml`, …; see `docs/report-format.md`).
    #[arg(long = "junit", value_name = "GLOB")]
    pub junit: Vec<String>,
    /// The job's status as the CI knows it: `${{ job.status }}` (GitHub),
    /// `$CI_JOB_STATUS` (GitLab), `${currentBuild.currentResult}` (Jenkins).
    #[arg(long)]
    pub status: Option<String>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Which CI to read the run from.
    #[arg(long, value_enum, default_value_t = ProviderArg::Auto)]
    pub provider: ProviderArg,
    /// Exit 1 when a test failed or errored.
    #[arg(long)]
    pub fail_on_test_failure: bool,
    /// Exit 2 when no test report was found or none could be read.
    #[arg(long)]
    pub require_tests: bool,
    /// Exit non-zero on reporter problems too (unreadable reports: 2; API failures: 3)
    /// instead of warning.
    #[arg(long)]
    pub strict: bool,
    /// Fold test cases repeated within a suite into one test with several attempts, in every
    /// dialect (by default only where the producer means a retry: pytest, go).
    #[arg(long)]
    pub merge_repeated: bool,
    /// Directory that report globs are relative to.
    #[arg(short = 'C', long, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// When to colour text output.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
    /// GitHub Actions: do not append to `$GITHUB_STEP_SUMMARY`.
    #[arg(long)]
    pub no_summary: bool,
    /// GitHub Actions: at most this many failed-test annotations (0 disables them).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub max_annotations: usize,
    /// Read the GitHub token from this file (else `GITHUB_TOKEN` / `CIMON_GITHUB_TOKEN`).
    #[arg(long, value_name = "FILE")]
    pub github_token_file: Option<PathBuf>,
    /// Post the report to a `cimon serve` endpoint (else `CIMON_ENDPOINT`); the token comes
    /// from `CIMON_TOKEN` or `CIMON_TOKEN_FILE`.
    #[command(flatten)]
    pub delivery: DeliveryArgs,
    /// Also append the run to a local SQLite history file (for `gate` without a server).
    #[arg(long, value_name = "PATH")]
    pub history: Option<PathBuf>,
    /// Send notifications for this run to the channels of the configuration.
    #[arg(long)]
    pub notify: bool,
    /// The configuration file (default: `.cimon.yml`, else `.github/cimon.yml`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Identity and timing overrides (needed only outside a known CI).
    #[command(flatten)]
    pub run: RunFlags,
}

/// Flags that supply or override the run's identity.
#[derive(Debug, Default, Args)]
pub struct RunFlags {
    /// Repository (`owner/name`).
    #[arg(long)]
    pub repository: Option<String>,
    /// Workflow or pipeline name.
    #[arg(long)]
    pub workflow: Option<String>,
    /// Job name.
    #[arg(long)]
    pub job: Option<String>,
    /// Run identifier.
    #[arg(long)]
    pub run_id: Option<String>,
    /// Run attempt (1 for the first run).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub run_attempt: Option<u32>,
    /// Commit SHA.
    #[arg(long)]
    pub sha: Option<String>,
    /// Branch.
    #[arg(long)]
    pub branch: Option<String>,
    /// Pull/merge request number.
    #[arg(long)]
    pub pull_request: Option<u64>,
    /// Link to the run.
    #[arg(long)]
    pub url: Option<String>,
}

/// Where and how reports are delivered (`report`, `flush`).
#[derive(Debug, Default, Args)]
pub struct DeliveryArgs {
    /// Base URL of a `cimon serve` endpoint (else `CIMON_ENDPOINT`).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Directory for reports that could not be delivered (default: `$RUNNER_TEMP/cimon-spool`
    /// or the temp dir).
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// Give up delivering after this many seconds in all (retries included).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub deadline: u64,
}

/// `cimon flush`.
#[derive(Debug, Args)]
pub struct FlushArgs {
    /// Where to deliver.
    #[command(flatten)]
    pub delivery: DeliveryArgs,
    /// Exit 3 when a report could not be delivered (default: warn, exit 0).
    #[arg(long)]
    pub strict: bool,
}

/// `cimon serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The store: `sqlite://PATH` or `postgres://…` (else `CIMON_DATABASE_URL`, else
    /// `sqlite://cimon.db`).
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// Named tokens with scopes (`ingest`, `read`, `admin`), stored as SHA-256 hashes. Without
    /// it, `CIMON_TOKEN` is one token with every scope.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// Serve without authentication (only on a loopback address).
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Largest accepted request body, compressed or not, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body: usize,
    /// Pipelines without a run for this long disappear from `/metrics` (e.g. `7d`, `12h`).
    #[arg(long, value_name = "DURATION", default_value = "7d")]
    pub metrics_ttl: String,
    /// A configuration whose `notify:` channels get every ingested run (state in the store).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `cimon notify`.
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// The run report (JSON, as written by `report --output`).
    #[arg(long, value_name = "FILE")]
    pub report: PathBuf,
    /// Send this event regardless of the state (failure, fixed, still_failing, flaky,
    /// gate_failed, success).
    #[arg(long, value_name = "EVENT")]
    pub event: Option<String>,
    /// The configuration file (default: `.cimon.yml`, else `.github/cimon.yml`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Keep the notification state in this local SQLite file (as `report --history`).
    #[arg(long, value_name = "PATH")]
    pub history: Option<PathBuf>,
    /// Exit 3 when a channel could not be reached (default: warn, exit 0).
    #[arg(long)]
    pub strict: bool,
}
