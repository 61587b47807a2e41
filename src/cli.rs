//! The command tree of design brief §1 and the dispatch from each command to the library.
//!
//! Only the assembly: each command's arguments (its clap `Args`) and its handler live in the module that owns the
//! concept, and no module imports this one.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::doctor::DoctorArgs;
use crate::exec::cli::{BackfillArgs, PlanArgs, RunArgs, StateCommand};
use crate::exec::demo::DemoArgs;
use crate::exit::Outcome;
pub use crate::global::GlobalArgs;
use crate::job::cli::ValidateArgs;
use crate::normalize::cli::NormalizeArgs;
use crate::shard::cli::ShardsArgs;

/// Pulls Microsoft 365 audit logs through the Office 365 Management Activity API and delivers them as OCSF events.
#[derive(Debug, Parser)]
#[command(name = "o365sync", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate job files (files or directories; default jobs/)
    Validate(ValidateArgs),
    /// Print, without network, what `run` would do
    Plan(PlanArgs),
    /// Incremental sync of one job, several, or every job in a directory (default jobs/)
    Run(RunArgs),
    /// Print which shard of `run --shard INDEX/COUNT` runs each job, and which jobs move when COUNT changes
    Shards(ShardsArgs),
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
        Command::Shards(args) => crate::shard::cli::shards(&cli.global, args),
        Command::Backfill(args) => crate::exec::cli::backfill(&cli.global, args),
        Command::State(cmd) => crate::exec::cli::state(&cli.global, cmd),
        Command::Normalize(args) => crate::normalize::cli::run(args),
        Command::Doctor(args) => crate::doctor::run(args, &cli.global),
        Command::Demo(args) => crate::exec::demo::run(&cli.global, args),
        Command::Schema => crate::job::cli::schema(),
    }
}
