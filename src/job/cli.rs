//! The `validate` and `schema` commands, and the plan `o365sync plan` prints (its checkpoints come from state, read by
//! `exec::cli::plan`).

use std::io::Write;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use super::duration::format_duration;
use super::{Context, Job, ProcessEnv, load_all, schema_text};
use crate::content_type::ContentType;
use crate::exit::Outcome;
use crate::plan::{LiveInput, PlanReport, Window, plan_live};

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

/// Prints a job's plan for `o365sync plan JOB [--json]` (the caller reads the checkpoints from state).
pub fn print_plan(plan: &JobPlan, json: bool) -> Outcome {
    if json {
        match serde_json::to_string_pretty(plan) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: cannot print the plan as JSON: {e}");
                return Outcome::Failed;
            }
        }
    } else {
        print!("{}", render(plan));
    }
    Outcome::Done
}

/// What the state holds for one (job, content type): the input of the planner besides the job and the clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Exclusive upper bound of fully complete time; `None` before the first completed run.
    pub watermark: Option<Timestamp>,
    /// Completed windows (merged or not).
    pub completed: Vec<Window>,
}

/// The plan of a whole job, as `plan` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct JobPlan {
    /// Job name.
    pub job: String,
    /// Job file.
    pub file: PathBuf,
    /// Tenant ID.
    pub tenant: String,
    /// Cloud name.
    pub cloud: String,
    /// `PublisherIdentifier`.
    pub publisher_id: String,
    /// Token URL, API root and scope.
    pub endpoints: EndpointsView,
    /// Listing window, e.g. `1h`.
    pub window: String,
    /// Lookback, e.g. `2h`.
    pub lookback: String,
    /// The configured start (`7d` or an instant).
    pub start: String,
    /// The request budget.
    pub max_requests_per_minute: u32,
    /// Per content type.
    pub content_types: Vec<ContentTypePlan>,
}

/// The endpoints a run would call.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointsView {
    /// `{login}/{tenant}/oauth2/v2.0/token`.
    pub token_url: String,
    /// `{api}/api/v1.0/{tenant}/activity/feed`.
    pub api_root: String,
    /// The token scope.
    pub scope: String,
}

impl EndpointsView {
    /// What `job` resolves to, through the same [`Job::endpoints`] a run uses.
    fn of(job: &Job) -> EndpointsView {
        match job.endpoints() {
            Ok(e) => EndpointsView {
                token_url: e.token_url.to_string(),
                api_root: e.api_root.to_string(),
                scope: e.scope,
            },
            // Not for a loaded job (its tenant and overrides were checked when it loaded); shown, never hidden.
            Err(err) => EndpointsView {
                token_url: format!("cannot be resolved: {err}"),
                api_root: format!("cannot be resolved: {err}"),
                scope: job.tenant.cloud.scope(),
            },
        }
    }
}

/// The plan of one content type.
#[derive(Debug, Clone, Serialize)]
pub struct ContentTypePlan {
    /// The content type.
    pub content_type: ContentType,
    /// The stored watermark (`None`: first run).
    pub watermark: Option<Timestamp>,
    /// The planner's decisions and windows.
    #[serde(flatten)]
    pub plan: PlanReport,
}

/// Plans every content type of `job` for the clock reading `now`, reading checkpoints through `checkpoint`.
pub fn job_plan(
    job: &Job,
    now: Timestamp,
    checkpoint: impl Fn(&Job, ContentType) -> Checkpoint,
) -> JobPlan {
    let content_types = job
        .content_types
        .iter()
        .map(|&ct| {
            let cp = checkpoint(job, ct);
            let plan = plan_live(&LiveInput {
                now,
                watermark: cp.watermark,
                completed: &cp.completed,
                start: job.sync.start_at(now),
                window: job.sync.window,
                lookback: job.sync.lookback,
            });
            ContentTypePlan {
                content_type: ct,
                watermark: cp.watermark,
                plan,
            }
        })
        .collect();
    JobPlan {
        job: job.name.clone(),
        file: job.file.clone(),
        tenant: job.tenant.id.to_string(),
        cloud: job.tenant.cloud.to_string(),
        publisher_id: job.tenant.publisher_id.to_string(),
        endpoints: EndpointsView::of(job),
        window: format_duration(job.sync.window),
        lookback: format_duration(job.sync.lookback),
        start: job.sync.start.to_string(),
        max_requests_per_minute: job.sync.max_requests_per_minute,
        content_types,
    }
}

/// The human form of a plan.
pub fn render(plan: &JobPlan) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: &dyn std::fmt::Display| s.push_str(&format!("{k:<12} {v}\n"));
    line("job", &format!("{} ({})", plan.job, plan.file.display()));
    line("tenant", &plan.tenant);
    line("cloud", &plan.cloud);
    line("publisher", &plan.publisher_id);
    line("token url", &plan.endpoints.token_url);
    line("api root", &plan.endpoints.api_root);
    line("scope", &plan.endpoints.scope);
    line("window", &plan.window);
    line("lookback", &plan.lookback);
    line("start", &plan.start);
    line(
        "budget",
        &format!("{} requests/minute", plan.max_requests_per_minute),
    );
    if let Some(first) = plan.content_types.first() {
        line("now", &first.plan.now);
        line(
            "retention",
            &format!("from {} (now - 167h55m)", first.plan.retention_floor),
        );
    }
    for ct in &plan.content_types {
        let p = &ct.plan;
        s.push_str(&format!("\n{}\n", ct.content_type));
        let mut field =
            |k: &str, v: &dyn std::fmt::Display| s.push_str(&format!("  {k:<10} {v}\n"));
        match ct.watermark {
            Some(w) => field("watermark", &w),
            None => field("watermark", &"none (first run)"),
        }
        field("lookback", &plan.lookback);
        match p.clamped_start {
            Some(c) => field(
                "from",
                &format!("{} (start {c} clamped to retention)", p.origin),
            ),
            None => field("from", &p.origin),
        }
        for g in &p.gaps {
            field(
                "gap",
                &format!("{g} fell out of retention before it was synced"),
            );
        }
        field("windows", &p.windows.len());
        for w in &p.windows {
            s.push_str(&format!("    {w}\n"));
        }
    }
    s
}
