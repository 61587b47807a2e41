//! The options every command accepts (`--state-dir`, `--log-format`, `-v`/`-q`).

use std::path::PathBuf;

use clap::Args;

use crate::logging::LogFormat;

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
