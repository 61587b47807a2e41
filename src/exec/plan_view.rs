//! What `o365sync plan JOB [--json]` prints: the job, its endpoints, per content type the watermark, the lookback
//! and the exact windows the next `run` lists, and — like `terraform plan` — what differs between the job file and
//! what the state recorded at the last run ([`crate::reconcile`]), with the backfill windows a `start` moved earlier
//! adds under their own heading. The checkpoints come from state (read by `exec::cli::plan`, without the lock).

use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use crate::content_type::ContentType;
use crate::exit::Outcome;
use crate::job::Job;
use crate::job::duration::format_duration;
use crate::plan::{BackfillInput, LiveInput, PlanReport, Window, plan_backfill, plan_live};
use crate::reconcile::{ContentTypeChange, Reconciliation};

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

/// Where each part of a `backfill JOB --from --to` range is read from, as `plan --from --to` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct BackfillPlan {
    /// The job.
    pub job: String,
    /// The range asked for.
    pub from: Timestamp,
    /// Its end.
    pub to: Timestamp,
    /// The Management API's retention floor at planning time (now − 167h55m).
    pub retention_floor: Timestamp,
    /// The part older than the floor: Purview Audit Search, one query per UTC day (commercial and GCC).
    pub audit_search_days: Vec<Window>,
    /// The part older than the floor in a cloud without Audit Search: recorded as a gap.
    pub gap: Option<Window>,
    /// Why there is a gap.
    pub gap_reason: Option<String>,
    /// The part the Management API still serves, listed in `sync.window` windows per content type.
    pub management_api: Option<Window>,
    /// Listing windows per content type in it.
    pub management_api_windows: usize,
    /// The job's content types.
    pub content_types: Vec<ContentType>,
}

/// Plans `backfill` of `[from, to)` for `job` at `now` (no state is read: days or windows already done are skipped
/// when the backfill runs).
pub fn backfill_plan(job: &Job, from: Timestamp, to: Timestamp, now: Timestamp) -> BackfillPlan {
    let floor = crate::plan::retention_floor(now);
    let old = (from < floor).then(|| Window::new(from, to.min(floor)));
    let cloud = job.tenant.cloud;
    let (audit_search_days, gap, gap_reason) = match old {
        Some(_) if cloud.has_audit_search() => (
            super::audit_backfill::days(from, to.min(floor))
                .iter()
                .map(|w| Window::new(w.start, w.end))
                .collect(),
            None,
            None,
        ),
        Some(w) => (
            Vec::new(),
            Some(w),
            Some(format!(
                "older than the Management API's 7 days, and {cloud} has no Purview Audit Search for applications"
            )),
        ),
        None => (Vec::new(), None, None),
    };
    let api = (to > floor).then(|| Window::new(from.max(floor), to.min(now)));
    let windows = api
        .and_then(|w| {
            plan_backfill(&BackfillInput {
                now,
                from: w.start,
                to: w.end,
                completed: &[],
                window: job.sync.window,
            })
            .ok()
        })
        .map_or(0, |p| p.windows.len());
    BackfillPlan {
        job: job.name.clone(),
        from,
        to,
        retention_floor: floor,
        audit_search_days,
        gap,
        gap_reason,
        management_api: api,
        management_api_windows: windows,
        content_types: job.content_types.clone(),
    }
}

/// Prints a [`BackfillPlan`] (text or JSON).
pub fn print_backfill_plan(plan: &BackfillPlan, json: bool) -> Outcome {
    if json {
        return match serde_json::to_string_pretty(plan) {
            Ok(s) => {
                println!("{s}");
                Outcome::Done
            }
            Err(e) => {
                eprintln!("error: cannot print the plan as JSON: {e}");
                Outcome::Failed
            }
        };
    }
    let mut out = format!(
        "backfill of job {} over [{}, {}) (the Management API keeps content since {}):\n",
        plan.job, plan.from, plan.to, plan.retention_floor
    );
    if let (Some(first), Some(last)) = (
        plan.audit_search_days.first(),
        plan.audit_search_days.last(),
    ) {
        out.push_str(&format!(
            "  Purview Audit Search: [{}, {}), {} UTC day(s), one query each, for all {} content type(s)\n",
            first.start,
            last.end,
            plan.audit_search_days.len(),
            plan.content_types.len()
        ));
    }
    if let (Some(g), Some(why)) = (&plan.gap, &plan.gap_reason) {
        out.push_str(&format!(
            "  recorded as a gap: [{}, {}): {why}\n",
            g.start, g.end
        ));
    }
    if let Some(w) = &plan.management_api {
        out.push_str(&format!(
            "  Management Activity API: [{}, {}), {} window(s) per content type\n",
            w.start, w.end, plan.management_api_windows
        ));
    }
    print!("{out}");
    Outcome::Done
}

/// What the state holds for one (job, content type): the input of the planner besides the job and the clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Exclusive upper bound of fully complete time; `None` before the first completed run.
    pub watermark: Option<Timestamp>,
    /// Completed windows (merged or not).
    pub completed: Vec<Window>,
    /// Completed windows of the backfill track.
    pub backfill_completed: Vec<Window>,
    /// Unfinished ranges a `start` moved earlier added (read by the next `run`).
    pub start_ranges: Vec<Window>,
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
    /// Whether the job has state (false before its first run; `exec::cli::plan` sets it).
    pub has_state: bool,
    /// What differs between the job file and what the state recorded at the last run.
    pub changes: Reconciliation,
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
    /// Windows the next `run` reads on the backfill track because `start` moved earlier than the recorded origin
    /// (never moving the live watermark); empty when none.
    pub backfill_windows: Vec<Window>,
    /// The part of that added time beyond the API's retention: recorded as a gap by the next `run` (exit code 3).
    pub backfill_gap: Option<Window>,
}

/// Plans every content type of `job` for the clock reading `now`, reading checkpoints through `checkpoint`; `changes`
/// (from [`crate::reconcile::reconcile`]) adds the backfill windows of a `start` moved earlier and is shown as is.
pub fn job_plan(
    job: &Job,
    now: Timestamp,
    checkpoint: impl Fn(&Job, ContentType) -> Checkpoint,
    changes: &Reconciliation,
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
            let earlier = changes.content_types.iter().find_map(|c| match c {
                ContentTypeChange::StartEarlier {
                    content_type,
                    readable,
                    beyond_retention,
                    ..
                } if *content_type == ct => Some((*readable, *beyond_retention)),
                _ => None,
            });
            let mut ranges = cp.start_ranges.clone();
            ranges.extend(earlier.and_then(|(readable, _)| readable));
            let mut done = cp.completed.clone();
            done.extend(cp.backfill_completed.iter().copied());
            let done = crate::plan::merge(&done);
            let mut backfill_windows: Vec<Window> = ranges
                .iter()
                .filter_map(|r| {
                    plan_backfill(&BackfillInput {
                        now,
                        from: r.start,
                        to: r.end,
                        completed: &done,
                        window: job.sync.window,
                    })
                    .ok()
                })
                .flat_map(|p| p.windows)
                .collect();
            backfill_windows.sort();
            backfill_windows.dedup();
            ContentTypePlan {
                content_type: ct,
                watermark: cp.watermark,
                plan,
                backfill_windows,
                backfill_gap: earlier.and_then(|(_, beyond)| beyond),
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
        has_state: false,
        changes: changes.clone(),
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
        if !ct.backfill_windows.is_empty() || ct.backfill_gap.is_some() {
            s.push_str("  backfill (start moved earlier; the live watermark does not move)\n");
            if let Some(g) = &ct.backfill_gap {
                s.push_str(&format!(
                    "    gap        {g} is beyond the API's retention: recorded as a gap (exit code 3)\n"
                ));
            }
            s.push_str(&format!("    windows    {}\n", ct.backfill_windows.len()));
            for w in &ct.backfill_windows {
                s.push_str(&format!("      {w}\n"));
            }
        }
    }
    s.push_str(&render_changes(plan));
    s
}

/// The "changes" section: what differs from the state's record of the last run, one line per change.
fn render_changes(plan: &JobPlan) -> String {
    let c = &plan.changes;
    let mut s = String::from("\nchanges since the last run\n");
    if !plan.has_state {
        s.push_str("  none: the job has no state yet (its first run starts at `start`)\n");
        return s;
    }
    if c.is_empty() {
        s.push_str("  none: the job file matches what the state recorded\n");
        return s;
    }
    if let Some(r) = &c.refusal {
        s.push_str(&format!(
            "  ! tenant: the state belongs to tenant {} ({} cloud), the job file names {} ({} cloud): `run` refuses \
             this job\n",
            r.state_tenant, r.state_cloud, r.job_tenant, r.job_cloud
        ));
    }
    for rotation in &c.rotations {
        s.push_str(&format!("  ~ credentials: {rotation} (rotation: fine)\n"));
    }
    if let Some(sink) = &c.sink {
        s.push_str(&format!(
            "  ~ sink: {} -> {}: from now on only new data goes to the new sink\n    to send earlier data again: {}\n",
            sink.from, sink.to, sink.redeliver
        ));
    }
    for change in &c.content_types {
        let line = match change {
            ContentTypeChange::Added { content_type } => {
                format!(
                    "  + {content_type}: added; starts at `start` ({})\n",
                    plan.start
                )
            }
            ContentTypeChange::Removed {
                content_type,
                watermark,
            } => format!(
                "  - {content_type}: no longer in the job file; its state is kept (watermark {}): adding it back \
                 resumes there; to remove it: o365sync state forget {} --content-type {content_type}\n",
                watermark.map_or_else(|| "none".to_owned(), |w| w.to_string()),
                plan.file.display()
            ),
            ContentTypeChange::StartEarlier {
                content_type,
                recorded_start,
                start,
                origin,
                new_origin,
                ..
            } => format!(
                "  ~ {content_type}: start moved earlier ({} -> {start}): [{new_origin}, {origin}) is read on the \
                 backfill track by the next run (listed above)\n",
                if recorded_start.is_empty() {
                    "?"
                } else {
                    recorded_start
                }
            ),
            ContentTypeChange::StartLater {
                content_type,
                recorded_start,
                start,
                origin,
            } => format!(
                "  ~ {content_type}: start moved later ({recorded_start} -> {start}): nothing already collected is \
                 dropped; the history still begins at {origin} and the live watermark stays\n"
            ),
        };
        s.push_str(&line);
    }
    s
}
