//! The `validate` and `schema` commands.

use std::io::Write;
use std::path::PathBuf;

use jiff::Timestamp;

use super::{Context, ProcessEnv, load_all, schema_text};
use crate::exit::Outcome;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Job files or directories of job files.
    #[arg(default_value = "jobs")]
    pub paths: Vec<PathBuf>,
}

/// `o365sync validate [PATH…]`: every file is checked and every bad one reported; exit 0 when all are valid, else 2.
pub fn validate(args: ValidateArgs) -> Outcome {
    let ctx = Context {
        env: &ProcessEnv,
        now: Timestamp::now(),
    };
    let batch = load_all(&args.paths, &ctx);
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for loaded in &batch.loaded {
        for w in &loaded.warnings {
            let _ = writeln!(err, "{w}");
        }
        let _ = writeln!(
            out,
            "{}: ok (job {}, {} cloud, {})",
            loaded.job.file.display(),
            loaded.job.name,
            loaded.job.tenant.cloud,
            loaded
                .job
                .content_types
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for failed in &batch.failed {
        let _ = writeln!(err, "{failed}");
    }
    if batch.failed.is_empty() {
        Outcome::Done
    } else {
        let _ = writeln!(
            err,
            "error: {} of {} job files are invalid",
            batch.failed.len(),
            batch.failed.len() + batch.loaded.len()
        );
        Outcome::Invalid
    }
}

/// `o365sync schema`: the job file's JSON Schema on stdout.
pub fn schema() -> Outcome {
    print!("{}", schema_text());
    Outcome::Done
}
