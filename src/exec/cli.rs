//! The `run`, `backfill` and `state` (show, reset, rename, forget, export, import) commands.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;

use super::metrics::{self, JobMetrics, Metrics, RunFigures};
use super::plan_view::{self, Checkpoint};
use super::{JobReport, Mode, Progress, Settings, Stop, run_job, schedule};
use crate::content_type::ContentType;
use crate::exit::Outcome;
use crate::global::GlobalArgs;
use crate::job::{self, Context, Job, Loaded, ProcessEnv};
use crate::logging::LogFormat;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The job file.
    pub job: PathBuf,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Plan `backfill JOB --from T --to T` instead of the next run: which part goes to Purview Audit Search (older
    /// than the Management API's 7 days) and which to the Management API. An RFC 3339 instant or a duration.
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// End of the backfill range to plan (with `--from`).
    #[arg(long, requires = "from")]
    pub to: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Job files or directories of job files.
    #[arg(default_value = "jobs")]
    pub paths: Vec<PathBuf>,
    /// Write Prometheus text-format metrics here at the end of the run (with `--every`: of each run).
    #[arg(long)]
    pub metrics_file: Option<PathBuf>,
    /// Jobs running at once; the others wait their turn. Default: 16 per CPU core, at least 16 and at most 256.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_jobs: Option<u32>,
    /// Run only the jobs of shard INDEX of COUNT (0-based INDEX, or a StatefulSet pod name ending in `-ORDINAL`),
    /// chosen by a stable hash of each job's `name`.
    #[arg(long, env = "O365SYNC_SHARD", value_name = "INDEX/COUNT")]
    pub shard: Option<crate::shard::Shard>,
    /// Run again and again: start a run every DURATION (such as `10m`; plus up to 10 % jitter) until SIGTERM or
    /// SIGINT. Job files are read again before each run; a job's lock is held only while it runs.
    #[arg(long, value_name = "DURATION", value_parser = parse_every)]
    pub every: Option<std::time::Duration>,
    /// Serve the Prometheus metrics over HTTP at this address (`GET /metrics`), such as `127.0.0.1:9464`.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// A `--every` duration: at least one second.
fn parse_every(s: &str) -> Result<std::time::Duration, String> {
    let d = job::duration::parse_duration(s).map_err(|e| e.to_string())?;
    match std::time::Duration::try_from(d) {
        Ok(d) if d >= std::time::Duration::from_secs(1) => Ok(d),
        _ => Err(format!("`{s}` is too short: give at least 1s, such as 10m")),
    }
}

#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The job file.
    pub job: PathBuf,
    /// Start of the range: an RFC 3339 instant or a duration before now such as `3d`.
    #[arg(long)]
    pub from: String,
    /// End of the range: an RFC 3339 instant or a duration before now.
    #[arg(long)]
    pub to: String,
    /// Deliver the range again to the current sink, ignoring the record ledger (after a sink change; idempotent
    /// sinks absorb repeats). Needs --from and --to.
    #[arg(long)]
    pub redeliver: bool,
}

#[derive(Debug, clap::Subcommand)]
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
    /// Move a job's state to a new job name (after renaming the job in its job file)
    Rename {
        /// The old job name (`name:` of the job file before the rename).
        old: String,
        /// The new job name.
        new: String,
    },
    /// Write a consistent copy of a job's state to a file, to move it to another state directory (volume)
    Export {
        /// The job file.
        job: PathBuf,
        /// The file to write (default: `<job name>.o365sync-state` in the current directory); never overwritten.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Install a file written by `state export` as a job's state (same job, tenant, cloud and client ID)
    Import {
        /// The job file.
        job: PathBuf,
        /// The file written by `state export`.
        file: PathBuf,
        /// Replace the state the job has (stop every run of the job first).
        #[arg(long)]
        force: bool,
    },
    /// Remove the state of a content type the job file no longer collects
    Forget {
        /// The job file.
        job: PathBuf,
        /// The content type to forget (one the job file no longer lists).
        #[arg(long)]
        content_type: String,
    },
}

/// Blocking threads of the executor's runtime per core. A state commit waits for its fsync on one of them (the
/// worker it was called on hands its other tasks over meanwhile, see `state::store::off_worker`), as do the file
/// sinks' writes; a run of many jobs therefore keeps every core busy while commits wait for the disk, and the
/// threads (each with its own allocator cache) stay bounded.
const BLOCKING_THREADS_PER_CORE: usize = 4;

/// Builds the runtime the executor runs on: a worker per core, and a bounded pool of blocking threads.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Outcome> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads((cores * BLOCKING_THREADS_PER_CORE).max(8))
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            Outcome::Failed
        })
}

/// Requests `stop` on SIGINT or SIGTERM (a second signal is left to the default action of the first handler's
/// absence: the process keeps stopping gracefully).
pub(crate) fn install_signals(stop: &Stop) {
    let s = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::warn!("interrupted: finishing the blob in hand, then stopping");
        s.request();
    });
    #[cfg(unix)]
    {
        let s = stop.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                term.recv().await;
                tracing::warn!("terminated: finishing the blob in hand, then stopping");
                s.request();
            }
        });
    }
}

/// Prints a job's report on standard error, as text or one JSON line.
pub(crate) fn print_report(report: &JobReport, format: LogFormat) {
    let mut err = std::io::stderr().lock();
    match format {
        LogFormat::Text => {
            let _ = write!(err, "{report}");
        }
        LogFormat::Json => match serde_json::to_string(report) {
            Ok(s) => {
                let _ = writeln!(err, "{s}");
            }
            Err(e) => {
                let _ = writeln!(err, "error: cannot print the run report as JSON: {e}");
            }
        },
    }
}

/// Prints a problem found before any job runs (a job file's diagnostic or warning, a bad flag): as it is with text
/// logs; with `--log-format json` as a log event (the text in `message`), so standard error stays one JSON object
/// per line.
fn problem(format: LogFormat, error: bool, text: &str) {
    match (format, error) {
        (LogFormat::Text, _) => eprintln!("{text}"),
        (LogFormat::Json, true) => tracing::error!(status = "invalid", "{text}"),
        (LogFormat::Json, false) => tracing::warn!("{text}"),
    }
}

fn load_one(path: &Path, format: LogFormat) -> Result<Loaded, Outcome> {
    match job::load_current(path) {
        Ok(l) => {
            for w in &l.warnings {
                problem(format, false, &w.to_string());
            }
            Ok(l)
        }
        Err(d) => {
            problem(format, true, &d.to_string());
            Err(Outcome::Invalid)
        }
    }
}

/// `o365sync run [JOB|DIR…]`: every job independently, at most `--max-jobs` at once; the highest-priority exit code
/// wins. With `--every`, runs again and again until SIGTERM or SIGINT.
pub fn run(global: &GlobalArgs, args: RunArgs) -> Outcome {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(o) => return o,
    };
    let settings = settings(global);
    let limits = schedule::Limits::new(schedule::fit_open_files(
        args.max_jobs
            .map_or_else(schedule::default_max_jobs, |n| n as usize),
    ));
    rt.block_on(async {
        install_signals(&settings.stop);
        let metrics = Metrics::new();
        let server = match args.metrics_listen {
            None => None,
            Some(addr) => {
                let stop = settings.stop.clone();
                match metrics::serve(addr, metrics.clone(), async move { stop.requested().await })
                    .await
                {
                    Ok((bound, task)) => {
                        tracing::info!(address = %bound, "serving the metrics at http://{bound}/metrics");
                        Some(task)
                    }
                    Err(e) => {
                        problem(global.log_format, true, &format!("error: {e}"));
                        return Outcome::Failed;
                    }
                }
            }
        };
        let outcome = runs(global, &args, &settings, limits, &metrics).await;
        if let Some(task) = server {
            // the server stops with the stop signal; a batch run ends it here
            settings.stop.request();
            let _ = task.await;
        }
        outcome
    })
}

/// The run, or with `--every` the runs until a stop is requested.
async fn runs(
    global: &GlobalArgs,
    args: &RunArgs,
    settings: &Settings,
    limits: schedule::Limits,
    metrics: &Metrics,
) -> Outcome {
    let Some(every) = args.every else {
        return run_once(global, args, settings, limits, metrics).await;
    };
    // The service mode: a run, then a pause of `every` from its start plus up to 10 % jitter (at once when the run
    // took longer), until a stop is requested; the stop lets the blobs in flight reach their commit.
    loop {
        let started = tokio::time::Instant::now();
        let outcome = run_once(global, args, settings, limits, metrics).await;
        if settings.stop.is_requested() {
            tracing::info!("stopping: the run in progress ended cleanly");
            break;
        }
        let jitter = every.mul_f64(rand::random_range(0.0..=0.1));
        let next = started + every + jitter;
        tracing::info!(
            outcome = ?outcome,
            next_in_seconds = next.saturating_duration_since(tokio::time::Instant::now()).as_secs(),
            "run finished; waiting for the next"
        );
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = settings.stop.requested() => {
                tracing::info!("stopping between runs");
                break;
            }
        }
    }
    // A service stopped on request exits 0 whatever its runs did: each run's outcome is in its reports, its logs
    // and the metrics.
    Outcome::Done
}

/// One run over the job files of `args`: load them (again, in the service mode: they may have changed), keep the
/// jobs of the shard, run them within `limits`, print the reports and write the metrics.
async fn run_once(
    global: &GlobalArgs,
    args: &RunArgs,
    settings: &Settings,
    limits: schedule::Limits,
    metrics: &Metrics,
) -> Outcome {
    let started = Timestamp::now();
    let ctx = Context {
        env: &ProcessEnv,
        now: started,
    };
    let batch = job::load_all(&args.paths, &ctx);
    let mut outcome = Outcome::Done;
    for failed in &batch.failed {
        problem(global.log_format, true, &failed.to_string());
        outcome = outcome.worst(Outcome::Invalid);
    }
    if batch.loaded.is_empty() {
        if batch.failed.is_empty() {
            problem(
                global.log_format,
                true,
                "error: no job files found: give a job file or a directory holding *.yaml job files",
            );
        }
        metrics.record_run(
            &[],
            Timestamp::now(),
            &RunFigures {
                started,
                finished: Timestamp::now(),
                outcome: Outcome::Invalid,
            },
        );
        return Outcome::Invalid;
    }
    let all = batch.loaded.len();
    let jobs: Vec<Arc<Loaded>> = batch
        .loaded
        .into_iter()
        .filter(|l| args.shard.is_none_or(|s| s.contains(&l.job.name)))
        .map(Arc::new)
        .collect();
    if let Some(shard) = args.shard {
        tracing::info!(shard = %shard, jobs = jobs.len(), of = all, "running the jobs of shard {shard}");
    }
    for l in &jobs {
        for w in &l.warnings {
            problem(global.log_format, false, &w.to_string());
        }
    }
    let fresh: Vec<&Loaded> = jobs
        .iter()
        .map(|l| &**l)
        .filter(|l| !crate::state::has_state(&global.state_dir, &l.job.name))
        .collect();
    if !fresh.is_empty() {
        warn_renamed(&global.state_dir, &fresh, global.log_format);
    }
    let observer: Arc<dyn schedule::Observer> = Arc::new(metrics.clone());
    let (reports, figures) = schedule::run_jobs(&jobs, settings, limits, observer).await;
    settings.progress.finish();
    for r in &reports {
        print_report(r, global.log_format);
        outcome = outcome.worst(r.outcome());
    }
    if jobs.len() > 1 {
        tracing::info!(
            jobs = jobs.len(),
            max_jobs = limits.max_jobs,
            peak_jobs = figures.peak_jobs,
            turns = figures.turns,
            "run over: {} jobs, at most {} at once, in {} turns",
            jobs.len(),
            figures.peak_jobs,
            figures.turns
        );
    }
    record_metrics(
        metrics,
        started,
        outcome,
        &global.state_dir,
        &jobs,
        &reports,
    );
    if let Some(path) = &args.metrics_file {
        outcome = outcome.worst(write_metrics(path, metrics));
    }
    outcome
}

/// The settings of a run from the global options: bars on a terminal unless `-q`.
pub(crate) fn settings(global: &GlobalArgs) -> Settings {
    Settings::new(
        global.state_dir.clone(),
        Progress::for_stderr(global.quiet == 0),
    )
}

/// Writes the metrics of the run's jobs to `path`; a failure is reported and makes the run's exit code 1 (the
/// monitoring that reads the file would otherwise go stale unnoticed), but changes nothing that was synced.
fn write_metrics(path: &Path, metrics: &Metrics) -> Outcome {
    match metrics::write_file(path, &metrics.render()) {
        Ok(()) => {
            tracing::debug!(path = %path.display(), "metrics written");
            Outcome::Done
        }
        Err(e) => {
            tracing::error!("{e}");
            Outcome::Failed
        }
    }
}

/// Records the run (the jobs' reports, with the watermarks of jobs that did not sync read from their state) in
/// the metrics.
fn record_metrics(
    metrics: &Metrics,
    started: Timestamp,
    outcome: Outcome,
    state_dir: &Path,
    jobs: &[Arc<Loaded>],
    reports: &[JobReport],
) {
    let reports: Vec<JobReport> = jobs
        .iter()
        .zip(reports)
        .map(|(l, r)| with_state_watermarks(r, &l.job, state_dir))
        .collect();
    let figures: Vec<JobMetrics<'_>> = jobs
        .iter()
        .zip(&reports)
        .map(|(l, r)| JobMetrics {
            report: r,
            certificate_not_after: Some(l.credential.info().not_after),
        })
        .collect();
    let now = Timestamp::now();
    let run = RunFigures {
        started,
        finished: now,
        outcome,
    };
    metrics.record_run(&figures, now, &run);
}

fn parse_instant(
    flag: &str,
    value: &str,
    now: Timestamp,
    format: LogFormat,
) -> Result<Timestamp, Outcome> {
    job::duration::parse_when(value)
        .map(|w| w.resolve(now))
        .map_err(|e| {
            problem(format, true, &format!("error: {flag}: {e}"));
            Outcome::Invalid
        })
}

/// A job that stopped before syncing (its lock was held, its state could not be opened) has no content types in its
/// report: for the metrics they are added with nothing done and the watermarks read, without the lock, from the
/// state, so the watermark series do not vanish while another run holds the job.
fn with_state_watermarks(report: &JobReport, job: &Job, state_dir: &Path) -> JobReport {
    let mut r = report.clone();
    if r.content_types.is_empty() {
        let summary = crate::state::show(state_dir, &job.name, 0).ok();
        for &ct in &job.content_types {
            let mut c = super::ContentTypeReport::new(ct);
            c.watermark = summary
                .as_ref()
                .and_then(|s| s.content_types.iter().find(|c| c.content_type == ct))
                .and_then(|c| c.watermark);
            r.content_types.push(c);
        }
    }
    r
}

/// `o365sync backfill JOB --from T --to T`.
pub fn backfill(global: &GlobalArgs, args: BackfillArgs) -> Outcome {
    let job = match load_one(&args.job, global.log_format) {
        Ok(j) => j,
        Err(o) => return o,
    };
    let now = Timestamp::now();
    let (from, to) = match (
        parse_instant("--from", &args.from, now, global.log_format),
        parse_instant("--to", &args.to, now, global.log_format),
    ) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(o), _) | (_, Err(o)) => return o,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(o) => return o,
    };
    let settings = settings(global);
    let report = rt.block_on(async {
        install_signals(&settings.stop);
        run_job(
            &job,
            &settings,
            Mode::Backfill {
                from,
                to,
                redeliver: args.redeliver,
            },
        )
        .await
    });
    settings.progress.finish();
    print_report(&report, global.log_format);
    report.outcome()
}

/// `o365sync state show|reset`.
pub fn state(global: &GlobalArgs, cmd: StateCommand) -> Outcome {
    match cmd {
        StateCommand::Show { job, json } => show(global, &job, json),
        StateCommand::Reset {
            job,
            content_type,
            to,
        } => reset(global, &job, content_type.as_deref(), &to),
        StateCommand::Rename { old, new } => rename(global, &old, &new),
        StateCommand::Forget { job, content_type } => forget(global, &job, &content_type),
        StateCommand::Export { job, output } => export(global, &job, output),
        StateCommand::Import { job, file, force } => import(global, &job, &file, force),
    }
}

/// `state export JOB [--output FILE]`.
fn export(global: &GlobalArgs, job_file: &Path, output: Option<PathBuf>) -> Outcome {
    let job = match load_one(job_file, global.log_format) {
        Ok(l) => l.job,
        Err(o) => return o,
    };
    let dest = output.unwrap_or_else(|| PathBuf::from(format!("{}.o365sync-state", job.name)));
    match crate::state::export(&global.state_dir, &job.name, &dest) {
        Ok(r) => {
            println!(
                "state of job `{}` exported from {} to {} ({} bytes, schema version {}, {} watermarks, {} record \
                 Ids): install it with `o365sync state import JOB {}`",
                r.job,
                r.database.display(),
                r.file.display(),
                r.bytes,
                r.schema_version,
                r.watermarks,
                r.record_ledger,
                r.file.display()
            );
            Outcome::Done
        }
        Err(e) => state_failure(&e),
    }
}

/// `state import JOB FILE [--force]`.
fn import(global: &GlobalArgs, job_file: &Path, file: &Path, force: bool) -> Outcome {
    let loaded = match load_one(job_file, global.log_format) {
        Ok(l) => l,
        Err(o) => return o,
    };
    let expected = crate::reconcile::identity(&loaded);
    match crate::state::import(&global.state_dir, &loaded.job.name, file, &expected, force) {
        Ok(r) => {
            let migrated = if r.schema_version_found == r.schema_version {
                String::new()
            } else {
                format!(", migrated from version {}", r.schema_version_found)
            };
            println!(
                "state of job `{}` imported from {} to {} ({} bytes, schema version {}{migrated}, {} watermarks, {} \
                 record Ids{})",
                r.job,
                r.file.display(),
                r.database.display(),
                r.bytes,
                r.schema_version,
                r.watermarks,
                r.record_ledger,
                if r.replaced {
                    "; replaced the state the job had"
                } else {
                    ""
                }
            );
            Outcome::Done
        }
        Err(e) => state_failure(&e),
    }
}

/// Maps a state error of a `state` subcommand to its message and exit code.
fn state_failure(e: &crate::state::StateError) -> Outcome {
    eprintln!("error: {e}");
    e.outcome()
}

fn rename(global: &GlobalArgs, old: &str, new: &str) -> Outcome {
    match crate::state::StateDir::open(&global.state_dir).and_then(|d| d.rename(old, new)) {
        Ok(path) => {
            println!(
                "state of job `{old}` is now the state of job `{new}` ({})",
                path.display()
            );
            Outcome::Done
        }
        Err(e) => state_failure(&e),
    }
}

fn forget(global: &GlobalArgs, job_file: &Path, content_type: &str) -> Outcome {
    let job = match load_one(job_file, global.log_format) {
        Ok(l) => l.job,
        Err(o) => return o,
    };
    let ct = match content_type.parse::<ContentType>() {
        Ok(ct) => ct,
        Err(e) => {
            eprintln!("error: {e}");
            return Outcome::Invalid;
        }
    };
    if job.content_types.contains(&ct) {
        eprintln!(
            "error: job {} still collects {ct}: remove it from `content_types` in {} first",
            job.name,
            job.file.display()
        );
        return Outcome::Invalid;
    }
    match crate::state::StateDir::open(&global.state_dir)
        .and_then(|d| d.lock_and_open(&job.name))
        .and_then(|s| s.forget(ct))
    {
        Ok(rows) => {
            println!(
                "{ct}: state forgotten ({rows} rows removed; recorded gaps and the record ledger kept)"
            );
            Outcome::Done
        }
        Err(e) => state_failure(&e),
    }
}

fn show(global: &GlobalArgs, job_file: &Path, json: bool) -> Outcome {
    let state_dir = &global.state_dir;
    let job = match load_one(job_file, global.log_format) {
        Ok(l) => l.job,
        Err(o) => return o,
    };
    match crate::state::show(state_dir, &job.name, crate::state::DEFAULT_RUNS_SHOWN) {
        Ok(summary) => {
            let mut out = std::io::stdout().lock();
            if json {
                match serde_json::to_string_pretty(&summary) {
                    Ok(s) => {
                        let _ = writeln!(out, "{s}");
                    }
                    Err(e) => {
                        eprintln!("error: cannot print the state as JSON: {e}");
                        return Outcome::Failed;
                    }
                }
            } else {
                let _ = write!(out, "{summary}");
            }
            Outcome::Done
        }
        Err(e) => {
            eprintln!("error: {e}");
            Outcome::Failed
        }
    }
}

fn reset(global: &GlobalArgs, job_file: &Path, content_type: Option<&str>, to: &str) -> Outcome {
    let state_dir = &global.state_dir;
    let job = match load_one(job_file, global.log_format) {
        Ok(l) => l.job,
        Err(o) => return o,
    };
    let now = Timestamp::now();
    let to = match parse_instant("--to", to, now, global.log_format) {
        Ok(t) => t,
        Err(o) => return o,
    };
    let cts: Vec<ContentType> = match content_type {
        None => job.content_types.clone(),
        Some(s) => match s.parse::<ContentType>() {
            Ok(ct) if job.content_types.contains(&ct) => vec![ct],
            Ok(ct) => {
                eprintln!(
                    "error: job {} does not collect {ct}: use one of its content types ({})",
                    job.name,
                    job.content_types
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return Outcome::Invalid;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Outcome::Invalid;
            }
        },
    };
    match crate::state::reset(state_dir, &job.name, &cts, to, now) {
        Ok(reports) => {
            for r in &reports {
                println!(
                    "{}: watermark {} -> {} ({} completed windows changed{})",
                    r.content_type,
                    r.previous
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "none".into()),
                    r.watermark,
                    r.windows_changed,
                    if r.gaps.is_empty() {
                        String::new()
                    } else {
                        format!("; {} never-synced windows recorded as gaps", r.gaps.len())
                    }
                );
            }
            Outcome::Done
        }
        Err(e) if e.is_locked() => {
            eprintln!("error: {e}");
            Outcome::Locked
        }
        Err(e) => {
            eprintln!("error: {e}");
            Outcome::Failed
        }
    }
}

/// `o365sync plan JOB [--json]` with the job's real checkpoints: the planner's input read (without the lock, from
/// one snapshot) from the state, so `plan` shows what the next `run` will do, and how the job file differs from what
/// the state recorded at the last run. A state of another tenant is the same located error (exit 2) as for `run`.
pub fn plan(global: &GlobalArgs, args: PlanArgs) -> Outcome {
    let loaded = match load_one(&args.job, global.log_format) {
        Ok(l) => l,
        Err(o) => return o,
    };
    let job = &loaded.job;
    if let (Some(from), Some(to)) = (&args.from, &args.to) {
        let now = Timestamp::now();
        let (from, to) = match (
            parse_instant("--from", from, now, global.log_format),
            parse_instant("--to", to, now, global.log_format),
        ) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(o), _) | (_, Err(o)) => return o,
        };
        return plan_view::print_backfill_plan(
            &plan_view::backfill_plan(job, from, to, now),
            args.json,
        );
    }
    let summary = match crate::state::show(&global.state_dir, &job.name, 0) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return e.outcome();
        }
    };
    let now = Timestamp::now();
    let changes = crate::reconcile::reconcile(&loaded, &summary, now);
    if let Some(refusal) = &changes.refusal {
        eprintln!("{}", refusal.diagnostic(&loaded));
        return Outcome::Invalid;
    }
    if !summary.exists {
        warn_renamed(&global.state_dir, &[&loaded], global.log_format);
    }
    let window = |w: &crate::state::Window| crate::plan::Window::new(w.start, w.end);
    let checkpoint = |_: &Job, ct: ContentType| {
        summary
            .content_types
            .iter()
            .find(|c| c.content_type == ct)
            .map(|c| Checkpoint {
                watermark: c.watermark,
                completed: c.completed_windows.iter().map(window).collect(),
                backfill_completed: c.backfill_windows.iter().map(window).collect(),
                start_ranges: c
                    .backfills
                    .iter()
                    .filter(|b| b.kind == crate::state::BackfillKind::Start && b.finished.is_none())
                    .map(|b| window(&b.range))
                    .collect(),
            })
            .unwrap_or_default()
    };
    let mut plan = plan_view::job_plan(job, now, checkpoint, &changes);
    plan.has_state = summary.exists;
    plan_view::print_plan(&plan, args.json)
}

/// For each of `jobs` that has no state yet: when the state directory holds state of the same tenant under a name
/// no job file next to it uses, the job was probably renamed; say so and name the command that moves the state.
fn warn_renamed(state_dir: &Path, jobs: &[&Loaded], format: LogFormat) {
    let Ok(names) = crate::state::job_names(state_dir) else {
        return;
    };
    let files: Vec<&Path> = jobs.iter().map(|l| l.job.file.as_path()).collect();
    let mut used = job::names_near(&files);
    used.extend(jobs.iter().map(|l| l.job.name.clone()));
    let orphans: Vec<(String, crate::state::StateSummary)> = names
        .into_iter()
        .filter(|n| !used.contains(n))
        .filter_map(|n| {
            crate::state::show(state_dir, &n, 0)
                .ok()
                .map(|summary| (n, summary))
        })
        .collect();
    for loaded in jobs {
        let tenant = loaded.job.tenant.id.to_string();
        for (old, summary) in &orphans {
            if summary
                .identity
                .tenant_id
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(&tenant))
            {
                problem(
                    format,
                    false,
                    &format!(
                        "warning: job `{new}` has no state yet, but the state directory holds state of the same \
                         tenant under `{old}`, which no job file uses\nhelp: if the job was renamed, run `o365sync \
                         state rename {old} {new}` before its first run, or it starts over from `start`",
                        new = loaded.job.name
                    ),
                );
            }
        }
    }
}
