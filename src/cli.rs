//! The command tree of design brief §1 and the dispatch from each command to the library.
//!
//! Each command's arguments live here; each handler lives in the module that owns the concept.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::Outcome;

/// Pulls Microsoft 365 audit logs through the Office 365 Management Activity API and delivers them as OCSF events.
#[derive(Debug, Parser)]
#[command(name = "o365sync", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted by every command.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Directory holding the SQLite state (checkpoints, ledgers, run history).
    #[arg(
        long,
        global = true,
        env = "O365SYNC_STATE_DIR",
        default_value = "state"
    )]
    pub state_dir: PathBuf,
    /// Log line format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Less log output (-q warnings only, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

/// Log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate job files (files or directories; default jobs/)
    Validate(ValidateArgs),
    /// Print, without network, what `run` would do
    Plan(PlanArgs),
    /// Incremental sync of one job, several, or every job in a directory (default jobs/)
    Run(RunArgs),
    /// Fill a historical range without moving the live watermark
    Backfill(BackfillArgs),
    /// Inspect or deliberately move a job's watermarks
    #[command(subcommand)]
    State(StateCommand),
    /// Read raw records (a JSON array or JSON lines) and write OCSF events as JSON lines to stdout
    Normalize(NormalizeArgs),
    /// Preflight checks: certificate and key, token, roles, subscriptions, clock skew
    Doctor(DoctorArgs),
    /// Serve the built-in emulator of the Entra token endpoint and the Management Activity API
    Emulator(Box<crate::emulator::cli::EmulatorArgs>),
    /// Throwaway certificate + embedded emulator + jobs/demo.yaml -> events under out/demo/
    Demo(DemoArgs),
    /// Print the job file's JSON Schema
    Schema,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Job files or directories of job files.
    #[arg(default_value = "jobs")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The job file.
    pub job: PathBuf,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Job files or directories of job files.
    #[arg(default_value = "jobs")]
    pub paths: Vec<PathBuf>,
    /// Write Prometheus text-format metrics here at the end of the run.
    #[arg(long)]
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The job file.
    pub job: PathBuf,
    /// Start of the range: an RFC 3339 instant or a duration before now such as `3d`.
    #[arg(long)]
    pub from: String,
    /// End of the range: an RFC 3339 instant or a duration before now.
    #[arg(long)]
    pub to: String,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Show the watermarks, completed windows, gaps and recent runs of a job
    Show {
        /// The job file.
        job: PathBuf,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move a watermark deliberately
    Reset {
        /// The job file.
        job: PathBuf,
        /// Only this content type (default: all of the job's).
        #[arg(long)]
        content_type: Option<String>,
        /// The new watermark: an RFC 3339 instant or a duration before now.
        #[arg(long)]
        to: String,
    },
}

/// Exit codes: 0 done, 3 malformed lines were skipped (each reported with its line number), 1 the input could not be
/// read to its end, 2 usage.
#[derive(Debug, Args)]
pub struct NormalizeArgs {
    /// The content type the records came from (guessed from each record when absent).
    #[arg(long)]
    pub content_type: Option<String>,
    /// Output OCSF events, or the records unchanged.
    #[arg(long, value_enum, default_value_t = crate::normalize::Format::Ocsf)]
    pub format: crate::normalize::Format,
    /// Add the original record to each OCSF event as `raw_data`.
    #[arg(long)]
    pub include_raw: bool,
    /// Input file (a JSON array or JSON lines); `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The job file.
    pub job: PathBuf,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory the demo works in (its certificate, state and output go below it).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

/// Parses the process arguments, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are successes; every other parse failure is a usage error (2).
            return if e.use_stderr() {
                Outcome::Invalid.into()
            } else {
                Outcome::Done.into()
            };
        }
    };
    crate::logging::init(cli.global.log_format, cli.global.verbose, cli.global.quiet);
    run(cli).into()
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Outcome {
    match cli.command {
        Command::Emulator(args) => crate::emulator::cli::run(*args),
        Command::Validate(args) => crate::job::cli::validate(args),
        Command::Plan(args) => crate::exec::cli::plan(&cli.global, args),
        Command::Run(args) => crate::exec::cli::run(&cli.global, args),
        Command::Backfill(args) => crate::exec::cli::backfill(&cli.global, args),
        Command::State(cmd) => crate::exec::cli::state(&cli.global, cmd),
        Command::Normalize(args) => crate::normalize::cli::run(args),
        Command::Doctor(args) => crate::doctor::run(args, &cli.global),
        Command::Demo(args) => crate::exec::demo::run(&cli.global, args),
        Command::Schema => crate::job::cli::schema(),
    }
}
