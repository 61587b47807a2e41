//! `o365sync emulator`: arguments and entry point.

use clap::Args;

use crate::exit::Outcome;

/// Options of `o365sync emulator`.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8400")]
    pub addr: std::net::SocketAddr,
    /// Write the bound port to this file once listening.
    #[arg(long)]
    pub port_file: Option<std::path::PathBuf>,
    /// Seed of the generated content.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Runs the emulator until interrupted.
pub fn run(_args: EmulatorArgs) -> Outcome {
    eprintln!("error: `o365sync emulator` is not implemented yet");
    Outcome::Invalid
}
