//! Log set-up: `tracing` to standard error, as text or JSON, at a level from `-v`/`-q` (or `RUST_LOG`).
//!
//! Every log line is written in one piece; while the executor shows progress bars ([`route_through`]), each line is
//! printed with the bars cleared and then redrawn below it, so log lines and bars never interleave.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::MultiProgress;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The bars log lines are printed above, while a run shows them.
static BARS: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Prints log lines above `bars` from now on (`None`: straight to standard error again).
pub fn route_through(bars: Option<MultiProgress>) {
    let mut slot = BARS.lock().unwrap_or_else(|p| p.into_inner());
    *slot = bars;
}

/// The subscriber's writer: standard error, through the progress bars when they are shown.
#[derive(Debug, Clone, Copy, Default)]
struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine
    }
}

/// One formatted log event (the fmt layer writes each event with one `write_all`).
#[derive(Debug)]
struct LogLine;

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bars = BARS.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match bars {
            Some(bars) => bars.suspend(|| std::io::stderr().lock().write_all(buf))?,
            None => std::io::stderr().lock().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Installs the global subscriber. Calling it twice is harmless (the second call does nothing).
pub fn init(format: LogFormat, verbose: u8, quiet: u8) {
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // Colours only on a terminal (never escape codes in files, pipes, cron mail or CI logs), and never with NO_COLOR.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = !no_color && std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(Stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
