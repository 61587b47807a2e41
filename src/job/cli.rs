//! The `validate` and `schema` commands.

use std::io::Write;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use super::{Batch, Context, Diagnostic, ProcessEnv, load_all, schema_text};
use crate::content_type::ContentType;
use crate::exit::Outcome;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Output: `text` (file:line:column lines, errors and warnings on stderr), `json` (one document on stdout) or
    /// `github` (one GitHub Actions workflow command per diagnostic on stdout, shown inline on pull requests)
    #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
    pub format: ValidateFormat,
    /// Warnings fail the run too (exit code 2), e.g. a start clamped to retention or a deprecated key
    #[arg(long)]
    pub strict: bool,
    /// Job files or directories of job files.
    #[arg(default_value = "jobs")]
    pub paths: Vec<PathBuf>,
}

/// How `validate` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ValidateFormat {
    /// `file:line:column: message` and a `help:` line per diagnostic on stderr, `FILE: ok (…)` per good file on
    /// stdout.
    #[default]
    Text,
    /// One JSON document on stdout (see [`ValidateReport`]).
    Json,
    /// `::error file=F,line=L,col=C::message (help: …)` or `::warning …` per diagnostic on stdout; nothing for a
    /// valid file.
    Github,
}

/// The JSON document of `validate --format json`. The field names are a stable interface for CI tooling.
#[derive(Debug, Clone, Serialize)]
pub struct ValidateReport {
    /// Format version of this document (1).
    pub version: u32,
    /// True when the command exits 0: no errors, and no warnings under `--strict`.
    pub ok: bool,
    /// Whether `--strict` was given.
    pub strict: bool,
    /// Every file (or directory that gave a diagnostic), in the order examined.
    pub files: Vec<FileReport>,
    /// Counts over `files`.
    pub summary: Summary,
}

/// What `validate` found in one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The path as given on the command line or found in a directory.
    pub file: String,
    /// True when the job loaded (it may still have warnings).
    pub ok: bool,
    /// The job, when it loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<JobSummary>,
    /// Errors and warnings, each with `severity`, `file`, `line`, `column`, `message` and `help`.
    pub diagnostics: Vec<Diagnostic>,
}

/// The job a valid file describes.
#[derive(Debug, Clone, Serialize)]
pub struct JobSummary {
    /// Job name.
    pub name: String,
    /// Tenant ID.
    pub tenant: String,
    /// Cloud name.
    pub cloud: String,
    /// Content types, in the order written.
    pub content_types: Vec<ContentType>,
}

/// Counts of a validation run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Files (and directories that gave a diagnostic) examined.
    pub files: usize,
    /// Files whose job loaded.
    pub valid: usize,
    /// Files that did not load.
    pub invalid: usize,
    /// Error diagnostics.
    pub errors: usize,
    /// Warning diagnostics.
    pub warnings: usize,
}

impl ValidateReport {
    /// Gathers a loaded batch into one report per file, in the order the files were examined.
    pub fn of(batch: &Batch, strict: bool) -> ValidateReport {
        let mut files: Vec<FileReport> = batch
            .loaded
            .iter()
            .map(|loaded| FileReport {
                file: loaded.job.file.display().to_string(),
                ok: true,
                job: Some(JobSummary {
                    name: loaded.job.name.clone(),
                    tenant: loaded.job.tenant.id.to_string(),
                    cloud: loaded.job.tenant.cloud.to_string(),
                    content_types: loaded.job.content_types.clone(),
                }),
                diagnostics: {
                    let mut warnings = loaded.warnings.clone();
                    warnings.sort_by_key(|d| (d.line, d.column));
                    warnings
                },
            })
            .chain(batch.failed.iter().map(|failed| {
                FileReport {
                    file: failed
                        .0
                        .first()
                        .map(|d| d.file.display().to_string())
                        .unwrap_or_default(),
                    ok: false,
                    job: None,
                    diagnostics: failed.0.clone(),
                }
            }))
            .collect();
        let order = |file: &str| {
            batch
                .files
                .iter()
                .position(|f| f.display().to_string() == file)
                .unwrap_or(usize::MAX)
        };
        files.sort_by_cached_key(|f| order(&f.file));
        let diagnostics = || files.iter().flat_map(|f| &f.diagnostics);
        let summary = Summary {
            files: files.len(),
            valid: files.iter().filter(|f| f.ok).count(),
            invalid: files.iter().filter(|f| !f.ok).count(),
            errors: diagnostics().filter(|d| d.is_error()).count(),
            warnings: diagnostics().filter(|d| !d.is_error()).count(),
        };
        ValidateReport {
            version: 1,
            ok: summary.errors == 0 && summary.invalid == 0 && !(strict && summary.warnings > 0),
            strict,
            files,
            summary,
        }
    }

    /// Exit code 0 when `ok`, else 2.
    pub fn outcome(&self) -> Outcome {
        if self.ok {
            Outcome::Done
        } else {
            Outcome::Invalid
        }
    }
}

/// `o365sync validate [--format text|json|github] [--strict] [PATH…]`: every file is checked and every bad one
/// reported; exit 0 when all are valid (and, with `--strict`, without warnings), else 2.
pub fn validate(args: ValidateArgs) -> Outcome {
    let ctx = Context {
        env: &ProcessEnv,
        now: Timestamp::now(),
    };
    let batch = load_all(&args.paths, &ctx);
    let report = ValidateReport::of(&batch, args.strict);
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    match args.format {
        ValidateFormat::Text => print_text(&report, &mut out, &mut err),
        ValidateFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(s) => {
                let _ = writeln!(out, "{s}");
            }
            Err(e) => {
                let _ = writeln!(err, "error: cannot print the report as JSON: {e}");
                return Outcome::Failed;
            }
        },
        ValidateFormat::Github => {
            for d in report.files.iter().flat_map(|f| &f.diagnostics) {
                let _ = writeln!(out, "{}", d.github_command());
            }
            print_verdict(&report, &mut err);
        }
    }
    report.outcome()
}

/// The text form: `FILE: ok (…)` on stdout, every diagnostic on stderr, then the verdict.
fn print_text(report: &ValidateReport, out: &mut dyn Write, err: &mut dyn Write) {
    for file in &report.files {
        for d in &file.diagnostics {
            let _ = writeln!(err, "{d}");
        }
        if let Some(job) = &file.job {
            let _ = writeln!(
                out,
                "{}: ok (job {}, {} cloud, {})",
                file.file,
                job.name,
                job.cloud,
                job.content_types
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    print_verdict(report, err);
}

/// The closing `error: …` line on stderr when the run fails.
fn print_verdict(report: &ValidateReport, err: &mut dyn Write) {
    let s = &report.summary;
    if s.invalid > 0 {
        let _ = writeln!(
            err,
            "error: {} of {} job files are invalid",
            s.invalid, s.files
        );
    } else if !report.ok {
        let _ = writeln!(
            err,
            "error: {} warning(s) and --strict: fix them, or run without --strict to accept them",
            s.warnings
        );
    }
}

/// `o365sync schema`: the job file's JSON Schema on stdout.
pub fn schema() -> Outcome {
    print!("{}", schema_text());
    Outcome::Done
}
