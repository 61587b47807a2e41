//! The executor: the run loop that ties job, planner, state, API client, normalizer and sink together.
//!
//! Per (job, content type), in exactly this order (design brief §5):
//! take the job lock (held: [`Outcome::Locked`] at once, nothing changed) → plan → ensure subscriptions (the
//! 15-minute rule from state) → list each window → skip content IDs already terminal in the ledger → fetch →
//! normalize → drop record Ids already delivered (record ledger) → sink write → sink acknowledges a durable write →
//! commit the blob in state (blob done + record Ids, one transaction) → when every blob of a window is terminal,
//! complete the window → the state advances the watermark across contiguous completed windows.
//!
//! The content types of a job run concurrently, sharing the job's one [`ApiClient`] and so its one request budget
//! (shared in turn by every job of the same tenant in the run).
//! Several blobs of a job can await their sink's acknowledgement at once; a blob's check-ledger step reserves the
//! Ids it sends ([`in_flight`]), and a blob holding an Id another delivery has reserved waits for that delivery's
//! commit, so a record Id present in two blobs or content types is still delivered once.
//!
//! Public API: [`run_job`] (one job, live or backfill) returning a [`JobReport`]; [`Stop`] for graceful stops;
//! the command handlers live in [`cli`] (`run`, `backfill`, `state show`, `state reset`) and [`demo`].

mod audit_backfill;
pub mod cli;
pub mod demo;
mod hook;
mod in_flight;
pub mod metrics;
pub mod plan_view;
pub mod progress;
mod report;
pub mod schedule;
mod spool;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

use crate::api::{
    self, ApiClient, ApiConfig, ApiError, ApiRoot, BlobOutcome, ContentBlob, RawRecord, RecordSink,
};
use crate::auth::{Credential, TokenProvider, TokenProviderConfig};
use crate::content_type::ContentType;
use crate::exit::Outcome;
use crate::job::{Job, Loaded, model};
use crate::normalize;
use crate::plan::{self, BackfillInput, LiveInput};
use crate::reconcile::{self, ContentTypeChange, Reconciliation};
use crate::sink::{self, BlobMeta, SharedSink, SinkConfig, SinkError, SinkEvent, SinkKind};
use crate::state::{
    self, BackfillKind, GapReason, JobState, ListedBlob, RecordKey, RunKind, StateDir, StateError,
    Track,
};

pub use progress::{ContentProgress, Progress};
pub use report::{ContentTypeReport, JobReport};

/// A failure that stops a job (or one content type of it).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The state database or lock.
    #[error(transparent)]
    State(#[from] StateError),
    /// The sink refused a write.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The certificate or key.
    #[error(transparent)]
    Credential(#[from] crate::auth::CredentialError),
    /// The endpoints could not be resolved.
    #[error(transparent)]
    Endpoint(#[from] crate::cloud::EndpointError),
    /// A fatal API failure (configuration, consent, credentials).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The HTTP client or API root could not be set up.
    #[error("cannot set up the API client: {0}")]
    Client(String),
    /// Purview Audit Search failed for the whole backfill (permission, token, a next link to another host).
    #[error("{0}")]
    AuditSearch(String),
    /// A window the API would refuse (a planner bug, never expected).
    #[error("window {window} is not valid for the API: {reason}; report this as a bug")]
    Window {
        /// The window.
        window: String,
        /// Why.
        reason: String,
    },
    /// The whole backfill range is older than the API's retention.
    #[error(
        "backfill range [{from}, {to}) lies entirely beyond the API's 7-day retention (oldest readable instant \
         {floor}); nothing can be read there: choose a range after {floor}"
    )]
    BeyondRetention {
        /// Requested start.
        from: Timestamp,
        /// Requested end.
        to: Timestamp,
        /// The retention floor.
        floor: Timestamp,
    },
    /// The backfill range is empty or reversed.
    #[error(transparent)]
    Range(#[from] plan::PlanError),
    /// The job's state belongs to another tenant or cloud (refused before any request).
    #[error("{0}")]
    OtherTenant(Box<crate::job::Diagnostic>),
}

impl ExecError {
    /// The exit code this failure maps to.
    pub fn outcome(&self) -> Outcome {
        match self {
            ExecError::State(e) if e.is_locked() => Outcome::Locked,
            ExecError::Credential(e) => e.outcome(),
            ExecError::State(e) => e.outcome(),
            ExecError::Endpoint(_)
            | ExecError::BeyondRetention { .. }
            | ExecError::Range(_)
            | ExecError::OtherTenant(_) => Outcome::Invalid,
            _ => Outcome::Failed,
        }
    }
}

/// What a run does: the live sync, or a backfill of `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `o365sync run`.
    Live,
    /// `o365sync backfill --from --to [--redeliver]`.
    Backfill {
        /// Inclusive start.
        from: Timestamp,
        /// Exclusive end.
        to: Timestamp,
        /// Ignore the record ledger in the range and deliver again to the current sink.
        redeliver: bool,
    },
}

/// A graceful-stop request shared by every task of a run (SIGINT/SIGTERM): no new blob is taken, the blob in hand
/// is finished or abandoned, and what is complete stays committed.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<StopInner>);

#[derive(Debug, Default)]
struct StopInner {
    flag: AtomicBool,
    notify: Notify,
}

impl Stop {
    /// A stop that has not been requested.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Requests the stop.
    pub fn request(&self) {
        self.0.flag.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Whether the stop was requested.
    pub fn is_requested(&self) -> bool {
        self.0.flag.load(Ordering::SeqCst)
    }

    /// Resolves once the stop is requested.
    pub async fn requested(&self) {
        loop {
            let notified = self.0.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }
}

/// How to run jobs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The state directory (`--state-dir`).
    pub state_dir: PathBuf,
    /// The graceful-stop signal.
    pub stop: Stop,
    /// One request budget per tenant for the whole run: jobs reading the same tenant share it.
    pub budgets: api::Budgets,
    /// The progress display (bars on a terminal, counters only otherwise).
    pub progress: Progress,
    /// The memory budget of the whole run for blobs' events, shared fairly by the jobs running.
    pub(crate) memory: Arc<spool::RunMemory>,
    /// The HTTP clients of the run's API and token requests.
    pub(crate) http: Arc<SharedHttp>,
}

/// The HTTP clients the jobs of a run share: the TLS roots are read and the connection pools kept once per run,
/// not once per job (a thousand jobs of one run reach the same few hosts).
#[derive(Debug, Default)]
pub(crate) struct SharedHttp {
    api: std::sync::Mutex<Option<reqwest::Client>>,
    token: std::sync::OnceLock<reqwest::Client>,
}

impl SharedHttp {
    /// The Management Activity API's client, built with `config`'s timeouts on first use (every job uses the
    /// default timeouts).
    fn api(&self, config: &ApiConfig) -> Result<reqwest::Client, api::ClientBuildError> {
        let mut api = self
            .api
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = &*api {
            return Ok(c.clone());
        }
        let c = api::http_client(config)?;
        *api = Some(c.clone());
        Ok(c)
    }

    /// The token endpoint's client.
    fn token(&self) -> reqwest::Client {
        self.token.get_or_init(TokenProvider::shared_client).clone()
    }
}

impl Settings {
    /// Settings for a run keeping its state in `state_dir`, with the run-wide memory budget.
    pub fn new(state_dir: PathBuf, progress: Progress) -> Settings {
        Settings {
            state_dir,
            stop: Stop::new(),
            budgets: api::Budgets::new(),
            progress,
            memory: spool::RunMemory::new(spool::RUN_MEMORY, spool::JOB_MEMORY),
            http: Arc::default(),
        }
    }
}

/// Everything the content types of one job share during a run.
struct Ctx<'a> {
    job: &'a Job,
    /// The job's certificate credential (Graph tokens for Audit Search come from it too).
    credential: Arc<Credential>,
    state: &'a JobState,
    client: ApiClient<TokenProvider>,
    sink: SharedSink,
    stop: Stop,
    /// The job's turn in a run over many jobs: once over, no new window starts.
    turn: &'a schedule::Turn,
    /// The record Ids handed to the sink and not yet committed, across the job's content types.
    in_flight: in_flight::InFlight,
    /// Blobs fetched or being fetched and not yet committed, across the job's content types and windows: bounds
    /// the work a run holds while the sink is slower than the API.
    held: tokio::sync::Semaphore,
    /// The bytes of event lines those blobs may keep in memory together; the rest is spilled to `spool_dir`.
    memory: Arc<spool::MemoryBudget>,
    /// Where blobs over the memory budget are spilled (the state directory).
    spool_dir: PathBuf,
    options: normalize::Options,
    tenant: Arc<str>,
    /// The progress of each content type.
    progress: Vec<(ContentType, ContentProgress)>,
    /// The run's progress display (a backfill's Audit Search part adds a bar of its own).
    display: Progress,
}

impl Ctx<'_> {
    /// The progress of `ct` (counters only for a content type the job does not collect, which never happens).
    fn progress(&self, ct: ContentType) -> ContentProgress {
        self.progress
            .iter()
            .find(|(c, _)| *c == ct)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(ContentProgress::hidden)
    }
}

/// A content type's run ended early.
enum Halt {
    /// A failure that stops the job.
    Fatal(ExecError),
    /// The reader of standard output went away: stop quietly, exit 0.
    OutputClosed,
}

impl From<StateError> for Halt {
    fn from(e: StateError) -> Self {
        Halt::Fatal(e.into())
    }
}

/// Runs one job (live or backfill) to its end and reports what happened. Never panics on bad input; every failure
/// ends up in the report's outcome and error.
pub async fn run_job(loaded: &Loaded, settings: &Settings, mode: Mode) -> JobReport {
    run_turn(loaded, settings, mode, &schedule::Turn::unlimited()).await
}

/// Runs one turn of a job: like [`run_job`], but no new window starts once `turn` is over (the scheduler then
/// queues the job again).
pub(crate) async fn run_turn(
    loaded: &Loaded,
    settings: &Settings,
    mode: Mode,
    turn: &schedule::Turn,
) -> JobReport {
    let job = &loaded.job;
    let started = Instant::now();
    let started_at = Timestamp::now();
    let mut report = JobReport::new(&job.name, mode, started_at);
    match mode {
        Mode::Live => {
            tracing::info!(job = %job.name, kind = report.kind, status = "started", "job started")
        }
        Mode::Backfill {
            from,
            to,
            redeliver,
        } => tracing::info!(
            job = %job.name,
            kind = report.kind,
            from = %from,
            to = %to,
            redeliver,
            status = "started",
            "job started"
        ),
    }
    // 1. the lock: a held lock means exit 75 at once, nothing changed
    let state = match StateDir::open(&settings.state_dir).and_then(|dir| {
        let lock = dir.lock(&job.name)?;
        dir.open_job(lock)
    }) {
        Ok(s) => s,
        Err(e) => {
            report.fail(ExecError::State(e), started);
            log_finish(&report);
            return report;
        }
    };
    // 2. the job file against what the state recorded: another tenant is refused before anything is written
    let changes = match reconcile_state(loaded, &state, started_at) {
        Ok(c) => c,
        Err(e) => {
            report.fail(e, started);
            log_finish(&report);
            return report;
        }
    };
    let run_id = match state.begin_run(
        match mode {
            Mode::Live => RunKind::Run,
            Mode::Backfill { .. } => RunKind::Backfill,
        },
        started_at,
    ) {
        Ok(id) => Some(id),
        Err(e) => {
            report.fail(e.into(), started);
            log_finish(&report);
            return report;
        }
    };
    let result = run_locked(loaded, settings, mode, turn, &state, &changes, &mut report).await;
    match result {
        Ok(()) => {}
        Err(Halt::Fatal(e)) => report.set_error(e),
        Err(Halt::OutputClosed) => {
            tracing::info!(job = %job.name, "standard output was closed by its reader: stopping cleanly");
            report.output_closed = true;
        }
    }
    if let Ok(gaps) = state.gaps_since(started_at) {
        report.gaps_recorded = gaps.len();
    }
    report.finish(started);
    if let Some(id) = run_id
        && let Err(e) = state.finish_run(id, Timestamp::now(), report.outcome_name(), &report)
    {
        tracing::warn!(job = %job.name, "could not record the run in the state: {e}");
    }
    log_finish(&report);
    report
}

/// Compares the job file with the state (see [`crate::reconcile`]): refuses a state of another tenant or cloud,
/// logs a credential rotation, a sink change and content types added or removed once (at the run that sees them),
/// then records what this run uses.
fn reconcile_state(
    loaded: &Loaded,
    state: &JobState,
    now: Timestamp,
) -> Result<Reconciliation, ExecError> {
    let job = &loaded.job.name;
    let summary = state.summary(0)?;
    let changes = reconcile::reconcile(loaded, &summary, now);
    if let Some(refusal) = &changes.refusal {
        return Err(ExecError::OtherTenant(Box::new(refusal.diagnostic(loaded))));
    }
    for rotation in &changes.rotations {
        tracing::info!(job = %job, "credential rotation: {rotation}");
    }
    if let Some(sink) = &changes.sink {
        tracing::warn!(job = %job, "the sink changed from {} to {}: only new data goes to the new sink; to send what the API still serves again: {}", sink.from, sink.to, sink.redeliver);
    }
    for change in &changes.content_types {
        match change {
            ContentTypeChange::Added { content_type } => {
                tracing::info!(job = %job, content_type = %content_type, "content type added: it starts at the job's start");
            }
            ContentTypeChange::Removed { content_type, .. } => {
                tracing::warn!(job = %job, content_type = %content_type, "content type no longer in the job file: its state is kept (see `o365sync plan`)");
            }
            ContentTypeChange::StartEarlier { .. } | ContentTypeChange::StartLater { .. } => {}
        }
    }
    state.record_identity(&reconcile::identity(loaded))?;
    Ok(changes)
}

/// One line per finished job: info when it did all it had to, a warning otherwise (the report follows).
fn log_finish(r: &JobReport) {
    let records = r.records_written();
    let blobs = r.blobs_fetched();
    let duration = (r.duration_seconds * 1000.0).round() / 1000.0;
    if r.outcome() == Outcome::Done {
        tracing::info!(
            job = %r.job,
            kind = r.kind,
            status = r.outcome,
            exit_code = r.exit_code,
            blobs_fetched = blobs,
            records_written = records,
            duration_seconds = duration,
            "job finished"
        );
    } else {
        tracing::warn!(
            job = %r.job,
            kind = r.kind,
            status = r.outcome,
            exit_code = r.exit_code,
            blobs_fetched = blobs,
            records_written = records,
            duration_seconds = duration,
            error = r.error.as_deref().unwrap_or(""),
            "job finished"
        );
    }
}

async fn run_locked(
    loaded: &Loaded,
    settings: &Settings,
    mode: Mode,
    turn: &schedule::Turn,
    state: &JobState,
    changes: &Reconciliation,
    report: &mut JobReport,
) -> Result<(), Halt> {
    let job = &loaded.job;
    let client = build_client(job, loaded.credential.clone(), settings).map_err(Halt::Fatal)?;
    let sink = open_sink(loaded).map_err(Halt::Fatal)?;
    let ctx = Ctx {
        job,
        credential: Arc::clone(&loaded.credential),
        state,
        client,
        sink,
        stop: settings.stop.clone(),
        turn,
        in_flight: in_flight::InFlight::default(),
        held: tokio::sync::Semaphore::new(BLOBS_HELD),
        memory: settings.memory.for_job(),
        spool_dir: settings.state_dir.clone(),
        options: normalize::Options {
            format: job.output.format,
            include_raw: job.output.include_raw,
        },
        tenant: job.tenant.id.to_string().into(),
        progress: job
            .content_types
            .iter()
            .map(|&ct| (ct, settings.progress.content_type(&job.name, ct)))
            .collect(),
        display: settings.progress.clone(),
    };
    // Backfill ranges are checked before any request. What a backfill (not a redelivery) needs from before the
    // Management API's retention is read from Purview Audit Search.
    let mut audit_part = None;
    if let Mode::Backfill {
        from,
        to,
        redeliver,
    } = mode
    {
        let now = Timestamp::now();
        let floor = plan::retention_floor(now);
        if from >= to {
            return Err(Halt::Fatal(plan::PlanError::EmptyRange { from, to }.into()));
        }
        if redeliver && to <= floor {
            return Err(Halt::Fatal(ExecError::BeyondRetention { from, to, floor }));
        }
        if !redeliver && from < floor {
            audit_part = Some((from, to, floor));
        }
        if redeliver && let Some(range) = state::Window::new(from.max(floor), to.min(now)) {
            let resumed = state.begin_redelivery(&job.content_types, range, now)?;
            tracing::info!(job = %job.name, window = %range, resumed, "redelivering to the current sink: the record ledger is ignored in this range");
        }
    }
    ensure_subscriptions(&ctx).await?;

    let runs = job.content_types.iter().map(|&ct| {
        let ctx = &ctx;
        async move {
            let mut r = ContentTypeReport::new(ct);
            let res = match mode {
                Mode::Live => run_live(ctx, ct, changes, &mut r).await,
                Mode::Backfill {
                    from,
                    to,
                    redeliver,
                } => {
                    let kind = if redeliver {
                        BackfillKind::Redeliver
                    } else {
                        BackfillKind::Command
                    };
                    run_backfill(ctx, ct, from, to, kind, &mut r).await
                }
            };
            r.watermark = ctx.state.watermark(ct).ok().flatten();
            (r, res)
        }
    });
    let mut by_type = std::collections::BTreeMap::new();
    let audit = async {
        match audit_part {
            Some((from, to, floor)) => {
                Some(audit_backfill::run(&ctx, from, to, floor, &mut by_type).await)
            }
            None => None,
        }
    };
    let (results, audit) = futures::join!(futures::future::join_all(runs), audit);
    let mut halt = None;
    let mut halts = Vec::new();
    for (mut r, res) in results {
        if let Some(ct) = r.content_type
            && let Some(part) = by_type.get(&ct)
        {
            r.absorb(part);
        }
        report.content_types.push(r);
        if let Err(h) = res {
            halts.push(h);
        }
    }
    match audit {
        Some(Ok(a)) => report.audit_search = Some(a),
        Some(Err(h)) => halts.push(h),
        None => {}
    }
    for h in halts {
        match (&halt, h) {
            (Some(Halt::Fatal(_)), _) => {}
            (_, h) => halt = Some(h),
        }
    }
    for (_, p) in &ctx.progress {
        p.finish();
    }
    let stats = ctx.client.stats();
    report.requests = stats.requests;
    report.throttled = stats.throttled;
    report.retries = stats.retries;
    report.sink = ctx.sink.stats();
    report.interrupted = ctx.stop.is_requested();
    match halt {
        Some(h) => Err(h),
        None => Ok(()),
    }
}

/// Lists the subscriptions once and starts the missing ones (the 15-minute rule read from and written to state).
/// A non-fatal failure here is only logged: listing a window starts a missing subscription again.
async fn ensure_subscriptions(ctx: &Ctx<'_>) -> Result<(), Halt> {
    let mut wanted = Vec::new();
    for &ct in &ctx.job.content_types {
        wanted.push((ct, ctx.state.last_subscription_start(ct)?));
    }
    match ctx
        .client
        .ensure_subscriptions(&wanted, Timestamp::now())
        .await
    {
        Ok(checks) => {
            for (check, (_, before)) in checks.iter().zip(&wanted) {
                if check.last_start != *before
                    && let Some(at) = check.last_start
                {
                    ctx.state
                        .record_subscription_start(check.content_type, at)?;
                }
            }
            Ok(())
        }
        Err(e) if e.is_fatal() => Err(Halt::Fatal(e.into())),
        Err(e) => {
            tracing::warn!(job = %ctx.job.name, "could not check the subscriptions: {e}");
            Ok(())
        }
    }
}

/// The API client of a job, signing its token requests with the credential checked when the job loaded.
fn build_client(
    job: &Job,
    credential: Arc<Credential>,
    settings: &Settings,
) -> Result<ApiClient<TokenProvider>, ExecError> {
    let endpoints = job.endpoints()?;
    let provider = TokenProvider::with_client(
        credential,
        TokenProviderConfig::new(job.tenant.client_id.to_string(), endpoints.clone()),
        settings.http.token(),
    );
    let root = ApiRoot::from_root_url(endpoints.api_root, &job.tenant.publisher_id.to_string())
        .map_err(|e| ExecError::Client(e.to_string()))?;
    let mut config = ApiConfig::new(root);
    config.max_requests_per_minute = job.sync.max_requests_per_minute;
    let budget = settings
        .budgets
        .for_tenant(&job.tenant.id.to_string(), job.sync.max_requests_per_minute);
    let http = settings
        .http
        .api(&config)
        .map_err(|e| ExecError::Client(e.to_string()))?;
    Ok(ApiClient::with_http(config, provider, budget, http))
}

/// Opens the job's sink: reads a network sink's credential, or creates a file sink's directory or database. A
/// Logs Ingestion sink gets tokens for its cloud's Azure Monitor audience from its `auth` registration's credential
/// and authority, or else the job's own (`endpoints.login` included either way).
pub fn open_sink(loaded: &Loaded) -> Result<SharedSink, ExecError> {
    let job = &loaded.job;
    let destination: Arc<dyn sink::Destination> = match &job.sink {
        model::Sink::Elasticsearch(config) => {
            Arc::new(sink::elasticsearch::ElasticsearchSink::open(config)?)
        }
        model::Sink::SplunkHec(config) => Arc::new(sink::splunk::SplunkSink::open(config)?),
        model::Sink::AzureLogsIngestion { config, auth } => {
            let (registration, credential) = match auth {
                None => (&job.tenant, &loaded.credential),
                Some(auth) => (
                    auth,
                    loaded.sink_credential.as_ref().ok_or_else(|| {
                        ExecError::Client(
                            "the credential of sink.auth was not loaded; load the job file again"
                                .to_owned(),
                        )
                    })?,
                ),
            };
            let mut endpoints = job.endpoints_of(registration)?;
            endpoints.scope = registration.cloud.monitor_scope();
            let tokens = TokenProvider::new(
                Arc::clone(credential),
                TokenProviderConfig::new(registration.client_id.to_string(), endpoints),
            );
            Arc::new(sink::logs_ingestion::LogsIngestionSink::open(
                config, tokens,
            )?)
        }
        model::Sink::Jsonl {
            path,
            compress,
            file_mode,
        } => Arc::new(sink::Blocking::new(sink::open(&SinkConfig {
            kind: SinkKind::Jsonl,
            path: Some(path.clone()),
            compress: *compress,
            file_mode: Some(*file_mode),
        })?)),
        model::Sink::Sqlite { path, file_mode } => {
            Arc::new(sink::Blocking::new(sink::open(&SinkConfig {
                kind: SinkKind::Sqlite,
                path: Some(path.clone()),
                compress: None,
                file_mode: Some(*file_mode),
            })?))
        }
        model::Sink::Stdout => Arc::new(sink::Blocking::new(sink::open(&SinkConfig {
            kind: SinkKind::Stdout,
            path: None,
            compress: None,
            file_mode: None,
        })?)),
    };
    Ok(SharedSink::from_destination(destination))
}

fn to_plan(w: &state::Window) -> plan::Window {
    plan::Window::new(w.start, w.end)
}

async fn run_live(
    ctx: &Ctx<'_>,
    ct: ContentType,
    changes: &Reconciliation,
    r: &mut ContentTypeReport,
) -> Result<(), Halt> {
    let now = Timestamp::now();
    let watermark = ctx.state.watermark(ct)?;
    let completed: Vec<plan::Window> = ctx
        .state
        .completed_windows(ct, Track::Live)?
        .iter()
        .map(to_plan)
        .collect();
    let report = plan::plan_live(&LiveInput {
        now,
        watermark,
        completed: &completed,
        start: ctx.job.sync.start_at(now),
        window: ctx.job.sync.window,
        lookback: ctx.job.sync.lookback,
    });
    let start = ctx.job.sync.start.to_string();
    if watermark.is_none() {
        // A duration start is relative to now: pin the first run's origin so later runs agree on it.
        ctx.state.init_watermark(ct, report.origin, now)?;
    }
    // `start` moved earlier than the recorded origin: the added time becomes a range of the backfill track (the live
    // watermark stays), its part beyond retention a gap; the origin moves back so the next run sees no change.
    let earlier = changes.content_types.iter().find_map(|c| match c {
        ContentTypeChange::StartEarlier {
            content_type,
            new_origin,
            readable,
            beyond_retention,
            ..
        } if *content_type == ct => Some((*new_origin, *readable, *beyond_retention)),
        _ => None,
    });
    if let Some((new_origin, readable, beyond)) = earlier {
        let to_state = |w: Option<plan::Window>| w.and_then(|w| state::Window::new(w.start, w.end));
        tracing::info!(job = %ctx.job.name, content_type = %ct, start = %start, "start moved earlier than the recorded origin: reading the added time on the backfill track");
        if let Some(b) = to_state(beyond) {
            tracing::warn!(job = %ctx.job.name, content_type = %ct, window = %b, status = "gap", "the job file's start reaches beyond the API's retention: recording a gap");
            r.window_gaps += 1;
        }
        ctx.state.extend_origin(
            ct,
            new_origin,
            &start,
            to_state(readable),
            to_state(beyond),
            now,
        )?;
    } else {
        ctx.state.record_start(ct, &start, now)?;
    }
    if let Some(clamped) = report.clamped_start {
        tracing::info!(job = %ctx.job.name, content_type = %ct, "start {clamped} is older than the API's retention: starting at {}", report.origin);
    }
    for gap in &report.gaps {
        if let Some(w) = state::Window::new(gap.start, gap.end) {
            tracing::warn!(job = %ctx.job.name, content_type = %ct, window = %w, status = "gap", "never synced and now beyond the API's retention: recording a gap");
            ctx.state.record_window_gap(
                ct,
                Track::Live,
                w,
                GapReason::BeyondRetention,
                "the window fell out of the API's 7-day retention before it was synced",
                now,
            )?;
            r.window_gaps += 1;
        }
    }
    r.windows_planned = report.windows.len();
    ctx.progress(ct)
        .windows_planned(report.windows.len() as u64);
    // On a first run clamped to retention nothing before the (moving) limit was promised: a listing cut there is
    // no gap.
    let cut_is_gap = report.clamped_start.is_none();
    run_windows(ctx, ct, Track::Live, &report.windows, cut_is_gap, r).await?;
    // Ranges a `start` moved earlier added (this run's or an interrupted earlier run's), after the live windows.
    for b in ctx.state.backfills(Some(ct))? {
        if b.kind == BackfillKind::Start
            && b.finished.is_none()
            && !ctx.stop.is_requested()
            && !ctx.turn.is_over()
        {
            run_backfill(ctx, ct, b.range.start, b.range.end, BackfillKind::Start, r).await?;
        }
    }
    Ok(())
}

/// A backfill range of `kind`: `command` and `start` ranges skip time the live sync or other backfills completed
/// (their blobs are in the ledgers); a redelivery reads everything again and skips only its own completed windows.
async fn run_backfill(
    ctx: &Ctx<'_>,
    ct: ContentType,
    from: Timestamp,
    to: Timestamp,
    kind: BackfillKind,
    r: &mut ContentTypeReport,
) -> Result<(), Halt> {
    let now = Timestamp::now();
    let track = kind.track();
    let tracks: &[Track] = match kind {
        BackfillKind::Redeliver => &[Track::Redeliver],
        BackfillKind::Command | BackfillKind::Start => &[Track::Backfill, Track::Live],
    };
    let mut completed: Vec<plan::Window> = Vec::new();
    for &t in tracks {
        completed.extend(ctx.state.completed_windows(ct, t)?.iter().map(to_plan));
    }
    let completed = plan::merge(&completed);
    let bp = plan::plan_backfill(&BackfillInput {
        now,
        from,
        to,
        completed: &completed,
        window: ctx.job.sync.window,
    })
    .map_err(|e| Halt::Fatal(e.into()))?;
    let range_end = to.min(bp.now);
    // A `start` range was entered by `extend_origin`, a redelivery by `begin_redelivery`.
    if kind == BackfillKind::Command
        && let Some(range) = state::Window::new(
            from.max(plan::retention_floor(now)).min(range_end),
            range_end,
        )
    {
        ctx.state.begin_backfill_of(ct, kind, range, now)?;
    }
    if let Some(u) = bp.unavailable.filter(|_| kind == BackfillKind::Redeliver) {
        tracing::warn!(job = %ctx.job.name, content_type = %ct, window = %u, "the part of the range beyond the API's 7-day retention cannot be sent again");
    } else if kind == BackfillKind::Command {
        // The part beyond the retention is read from Purview Audit Search (`audit_backfill`), which records its
        // own gaps.
    } else if let Some(u) = bp.unavailable {
        // Only the part nothing ever delivered is a gap.
        for part in subtract(u, &completed) {
            if let Some(w) = state::Window::new(part.start, part.end) {
                tracing::warn!(job = %ctx.job.name, content_type = %ct, window = %w, status = "gap", "backfill range beyond the API's retention: recording a gap");
                ctx.state.record_window_gap(
                    ct,
                    Track::Backfill,
                    w,
                    GapReason::BeyondRetention,
                    "requested by backfill, but older than the API's 7-day retention",
                    now,
                )?;
                r.window_gaps += 1;
            }
        }
    }
    if let Some(f) = bp.future {
        tracing::info!(job = %ctx.job.name, content_type = %ct, window = %f, "the part of the range in the future is left out");
    }
    r.windows_planned += bp.windows.len();
    ctx.progress(ct).windows_planned(bp.windows.len() as u64);
    // A cut at the retention floor is covered by Purview Audit Search's last day when a backfill has it.
    let cut_is_gap = match kind {
        BackfillKind::Redeliver => false,
        BackfillKind::Command => !ctx.job.tenant.cloud.has_audit_search(),
        BackfillKind::Start => true,
    };
    run_windows(ctx, ct, track, &bp.windows, cut_is_gap, r).await
}

/// `w` minus the (sorted, merged) windows `cut`.
fn subtract(w: plan::Window, cut: &[plan::Window]) -> Vec<plan::Window> {
    let mut out = Vec::new();
    let mut start = w.start;
    for c in cut {
        if c.end <= start || c.start >= w.end {
            continue;
        }
        if c.start > start {
            out.push(plan::Window::new(start, c.start));
        }
        start = start.max(c.end);
    }
    if start < w.end {
        out.push(plan::Window::new(start, w.end));
    }
    out
}

/// Windows of one content type listed and fetched at once. Completion order does not matter: the state advances the
/// watermark only across contiguous completed windows.
const WINDOWS_IN_FLIGHT: usize = 4;

/// Blobs a job holds at once (being fetched, or fetched and waiting for the sink), whatever the number of content
/// types and windows in flight. Their events share the job's share of the run's memory budget ([`spool::RunMemory`]); what does not
/// fit is spilled to the state directory.
const BLOBS_HELD: usize = 8;

async fn run_windows(
    ctx: &Ctx<'_>,
    ct: ContentType,
    track: Track,
    windows: &[plan::Window],
    cut_is_gap: bool,
    r: &mut ContentTypeReport,
) -> Result<(), Halt> {
    let runs = futures::stream::iter(windows.iter().copied())
        .map(|w| async move {
            let mut part = ContentTypeReport::default();
            // no new window once a stop was requested or the job's turn is over
            let res = if ctx.stop.is_requested() || ctx.turn.is_over() {
                Ok(())
            } else {
                run_window(ctx, ct, track, w, cut_is_gap, &mut part).await
            };
            (part, res)
        })
        .buffered(WINDOWS_IN_FLIGHT);
    tokio::pin!(runs);
    let progress = ctx.progress(ct);
    while let Some((part, res)) = runs.next().await {
        progress.window_done();
        r.absorb(&part);
        // a halt drops the windows in flight: their blobs stay pending, which the protocol tolerates
        res?;
    }
    Ok(())
}

fn listed_blob(blob: &ContentBlob, window: &plan::Window) -> ListedBlob {
    let created = blob.content_created.unwrap_or(window.start);
    ListedBlob {
        content_id: blob.content_id.clone(),
        created,
        expiration: blob.content_expiration.unwrap_or_else(|| {
            created
                .saturating_add(SignedDuration::from_hours(7 * 24))
                .unwrap_or(created)
        }),
    }
}

async fn run_window(
    ctx: &Ctx<'_>,
    ct: ContentType,
    track: Track,
    w: plan::Window,
    cut_is_gap: bool,
    r: &mut ContentTypeReport,
) -> Result<(), Halt> {
    let (Some(sw), Ok(aw)) = (
        state::Window::new(w.start, w.end),
        api::Window::new(w.start, w.end),
    ) else {
        return Err(Halt::Fatal(ExecError::Window {
            window: w.to_string(),
            reason: "empty, too long or out of range".into(),
        }));
    };
    let mut last_start = ctx.state.last_subscription_start(ct)?;
    let before = last_start;
    // A stop abandons a listing still in progress (it may be waiting out throttling): nothing of it was recorded.
    let listing = tokio::select! {
        biased;
        () = ctx.stop.requested() => None,
        l = ctx.client.list_content_subscribing(ct, aw, &mut last_start, Timestamp::now()) => Some(l),
    };
    if last_start != before
        && let Some(at) = last_start
    {
        ctx.state.record_subscription_start(ct, at)?;
    }
    let Some(listing) = listing else {
        return Ok(());
    };
    let listing = match listing {
        Ok(l) => l,
        Err(e) if e.is_fatal() => return Err(Halt::Fatal(e.into())),
        Err(e) => {
            tracing::warn!(job = %ctx.job.name, content_type = %ct, window = %w, status = "list_failed", "listing failed, the next run lists the window again: {e}");
            r.windows_failed += 1;
            r.error.get_or_insert_with(|| e.to_string());
            return Ok(());
        }
    };
    r.windows_listed += 1;
    if let Some((from, to)) = listing.cut {
        record_cut(ctx, ct, track, plan::Window::new(from, to), cut_is_gap, r)?;
    }
    r.blobs_listed += listing.blobs.len() as u64;
    let progress = ctx.progress(ct);
    progress.blobs_listed(listing.blobs.len() as u64);
    let now = Timestamp::now();
    let listed: Vec<ListedBlob> = listing.blobs.iter().map(|b| listed_blob(b, &w)).collect();
    // The listing, the attempts of the blobs to fetch, and the window's completion when nothing is left to fetch:
    // one transaction.
    let (terminal, completed) = if track == Track::Redeliver {
        ctx.state.register_listed(ct, &listed, now)?;
        // A redelivery fetches every blob again but those it committed itself (a resumed one); its own Id ledger
        // keeps a record in two blobs from going twice.
        let ids: Vec<&str> = listed.iter().map(|b| b.content_id.as_str()).collect();
        (ctx.state.redelivered_blobs(ct, &ids)?, false)
    } else {
        let entered =
            ctx.state
                .enter_listing(ct, track, sw, &listed, !ctx.stop.is_requested(), now)?;
        (entered.terminal, entered.completed)
    };
    hook::reached(hook::Point::Listed);
    r.blobs_skipped += terminal.len() as u64;
    progress.blobs_done(terminal.len() as u64);
    if completed {
        tracing::debug!(job = %ctx.job.name, content_type = %ct, window = %w, status = "listed", listed = listed.len(), pending = 0, "window listed");
        r.windows_completed += 1;
        tracing::debug!(job = %ctx.job.name, content_type = %ct, window = %w, status = "completed", "window completed");
        return Ok(());
    }
    let ids: Vec<&str> = listed.iter().map(|b| b.content_id.as_str()).collect();
    let pending: Vec<ContentBlob> = listing
        .blobs
        .into_iter()
        .filter(|b| !terminal.contains(&b.content_id))
        .collect();
    tracing::debug!(job = %ctx.job.name, content_type = %ct, window = %w, status = "listed", listed = ids.len(), pending = pending.len(), "window listed");
    let mut complete = true;
    if !pending.is_empty() {
        if ctx.stop.is_requested() {
            return Ok(());
        }
        if track == Track::Redeliver {
            let attempts: Vec<ListedBlob> = pending.iter().map(|b| listed_blob(b, &w)).collect();
            ctx.state.begin_attempts(ct, &attempts, now)?;
        }
        // Each blob is fetched, then delivered: up to `DEFAULT_CONCURRENCY` at once, so several blobs can await
        // the sink's acknowledgement together. A stop abandons the fetches in flight and starts no new blob, but
        // lets the deliveries in flight reach their commit.
        let stream = futures::stream::iter(pending)
            .map(|blob| async move {
                if ctx.stop.is_requested() {
                    return Ok(None);
                }
                // The permit is released once the blob is committed (or abandoned). The semaphore is never closed.
                let permit = ctx.held.acquire().await.ok();
                let events = Normalized::new(ctx, ct, listed_blob(&blob, &w).created);
                // Fetching, parsing and normalizing run as a task of their own, so the blobs in flight spread over
                // every core; a dropped task (stop, halt) is aborted.
                let client = ctx.client.clone();
                let task = AbortOnDrop(tokio::spawn(async move {
                    let mut events = events;
                    let outcome = client.fetch_blob(&blob, &mut events).await;
                    (blob, outcome, events)
                }));
                let fetched = tokio::select! {
                    biased;
                    () = ctx.stop.requested() => return Ok(None),
                    f = task => f,
                };
                let (blob, outcome, events) = fetched.map_err(|e| {
                    Halt::Fatal(ExecError::Client(format!(
                        "a blob's fetch task ended abnormally ({e}); report this as a bug"
                    )))
                })?;
                let lb = listed_blob(&blob, &w);
                let done = match outcome {
                    BlobOutcome::Delivered { .. } => {
                        Done::Delivered(deliver(ctx, ct, track, &lb, events).await?)
                    }
                    BlobOutcome::Gap { reason, detail } => {
                        Done::Gap(format!("{reason}: {detail}"), reason.to_string())
                    }
                    BlobOutcome::Failed { error } => Done::Failed(error),
                };
                drop(permit);
                Ok::<_, Halt>(Some((lb, done)))
            })
            .buffer_unordered(api::DEFAULT_CONCURRENCY);
        tokio::pin!(stream);
        while let Some(next) = stream.next().await {
            let Some((lb, done)) = next? else {
                continue;
            };
            progress.blobs_done(1);
            match done {
                Done::Delivered(d) => {
                    r.records_duplicate += d.duplicates;
                    r.records_written += d.written;
                    r.blobs_fetched += 1;
                    progress.records_written(d.written);
                    tracing::debug!(job = %ctx.job.name, content_type = %ct, window = %w, content_id = %lb.content_id, status = "delivered", records_written = d.written, "blob delivered");
                }
                Done::Gap(detail, reason) => {
                    tracing::warn!(job = %ctx.job.name, content_type = %ct, window = %w, content_id = %lb.content_id, status = "gap", "content can no longer be fetched ({reason}): recording a gap");
                    ctx.state.record_blob_gap(
                        ct,
                        &lb,
                        GapReason::ExpiredContent,
                        &detail,
                        Timestamp::now(),
                    )?;
                    r.blob_gaps += 1;
                }
                Done::Failed(error) => {
                    complete = false;
                    r.blobs_failed += 1;
                    if error.is_fatal() {
                        return Err(Halt::Fatal(error.into()));
                    }
                    tracing::warn!(job = %ctx.job.name, content_type = %ct, window = %w, content_id = %lb.content_id, status = "failed", "blob not fetched, the next run fetches it again: {error}");
                    r.error.get_or_insert_with(|| error.to_string());
                }
            }
        }
        if ctx.stop.is_requested() {
            // Abandoned blobs stay pending; complete_window below would refuse anyway.
            let terminal = ctx.state.terminal_content_ids(ct, &ids)?;
            complete &= terminal.len() == ids.len();
        }
    }
    if complete {
        match ctx
            .state
            .complete_window(ct, track, sw, &ids, Timestamp::now())
        {
            Ok(_) => {
                r.windows_completed += 1;
                tracing::debug!(job = %ctx.job.name, content_type = %ct, window = %w, status = "completed", "window completed");
            }
            Err(StateError::WindowIncomplete { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The API client cut the start of a window that had slipped past the retention limit by the time it was listed:
/// whatever of it no completed window covers is a recorded gap (never a silent one).
fn record_cut(
    ctx: &Ctx<'_>,
    ct: ContentType,
    track: Track,
    cut: plan::Window,
    cut_is_gap: bool,
    r: &mut ContentTypeReport,
) -> Result<(), Halt> {
    if !cut_is_gap || cut.is_empty() {
        return Ok(());
    }
    let mut covered: Vec<plan::Window> = ctx
        .state
        .completed_windows(ct, Track::Live)?
        .iter()
        .map(to_plan)
        .collect();
    covered.extend(
        ctx.state
            .completed_windows(ct, Track::Backfill)?
            .iter()
            .map(to_plan),
    );
    for part in subtract(cut, &plan::merge(&covered)) {
        if let Some(w) = state::Window::new(part.start, part.end) {
            tracing::warn!(job = %ctx.job.name, content_type = %ct, window = %w, status = "gap", "reached the API's retention limit before it was listed: recording a gap");
            ctx.state.record_window_gap(
                ct,
                track,
                w,
                GapReason::BeyondRetention,
                "the window's start passed the API's 7-day retention before it was listed",
                Timestamp::now(),
            )?;
            r.window_gaps += 1;
        }
    }
    Ok(())
}

/// The events of one blob, normalized record by record as the body streams in: only their output lines are held
/// (in memory within the job's budget, else in a spill file), never the parsed records. Repeated record Ids within
/// the blob are kept once.
struct Normalized {
    ct: ContentType,
    options: normalize::Options,
    tenant: Arc<str>,
    /// The time of events whose record has none: the blob's creation.
    created: Timestamp,
    spool: spool::Spool,
    duplicates: u64,
    /// The service the records come from, when not the Management API (`metadata.log_provider`).
    provider: Option<&'static str>,
}

impl Normalized {
    fn new(ctx: &Ctx<'_>, ct: ContentType, created: Timestamp) -> Self {
        Normalized {
            ct,
            options: ctx.options,
            tenant: Arc::clone(&ctx.tenant),
            created,
            spool: spool::Spool::new(
                Arc::clone(&ctx.memory),
                &ctx.spool_dir,
                Arc::clone(&ctx.tenant),
            ),
            duplicates: 0,
            provider: None,
        }
    }
}

/// Why a record of a blob was not taken.
#[derive(Debug, thiserror::Error)]
enum RecordError {
    /// The record is not valid JSON (the body is treated as corrupt and fetched again).
    #[error("record is not valid JSON: {0}")]
    Invalid(serde_json::Error),
    /// Spilling to the state directory failed.
    #[error("cannot spill the blob's events to the state directory: {0}")]
    Spool(#[from] std::io::Error),
}

impl RecordSink for Normalized {
    type Error = RecordError;

    fn record(&mut self, rec: RawRecord) -> Result<(), Self::Error> {
        // The record's exact bytes: raw output and `raw_data` keep them, and OCSF events copy unmapped values
        // verbatim. What the byte-level normalizer cannot read goes through a `serde_json::Value` if it is JSON.
        let mut event =
            match normalize::normalize_bytes(rec.json.as_bytes(), Some(self.ct), &self.options) {
                Ok(e) => e,
                Err(_) => {
                    serde_json::from_str::<serde::de::IgnoredAny>(&rec.json)
                        .map_err(RecordError::Invalid)?;
                    normalize::normalize_value(rec.value(), Some(self.ct), &self.options)
                }
            };
        if let Some(provider) = self.provider {
            event.set_log_provider(provider);
        }
        let id = match event.id() {
            Some(id) if !id.is_empty() => id.to_owned(),
            // No Id: a stable digest of the record keeps re-deliveries idempotent.
            _ => format!("sha256:{}", hex_digest(rec.json.as_bytes())),
        };
        if self.spool.contains(&id) {
            self.duplicates += 1;
            return Ok(());
        }
        // An OCSF line is about 1.7 times its record (measured over the emulator's and the corpus' records):
        // reserving once saves the reallocations of a growing buffer.
        let mut line = Vec::with_capacity(rec.json.len() * 7 / 4 + 256);
        event.write_json(&mut line);
        let created = event
            .time_ms()
            .and_then(|ms| Timestamp::from_millisecond(ms).ok());
        Ok(self.spool.push(
            created,
            SinkEvent {
                id,
                time: created.unwrap_or(self.created),
                class_uid: event.class_uid().unwrap_or(0),
                tenant: Arc::clone(&self.tenant),
                line,
            },
        )?)
    }

    fn checks_json(&self) -> bool {
        true
    }

    fn is_invalid_record(error: &RecordError) -> bool {
        matches!(error, RecordError::Invalid(_))
    }

    fn discard(&mut self) {
        self.spool.clear();
        self.duplicates = 0;
    }
}

/// A spawned task that is aborted when its handle is dropped (a stopped or halted run leaves no fetch behind).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// What became of one blob of a window.
enum Done {
    /// Fetched, delivered, committed.
    Delivered(Delivery),
    /// Gone from the API: (the service's answer, why).
    Gap(String, String),
    /// Not fetched.
    Failed(ApiError),
}

/// One blob's delivery, in records.
struct Delivery {
    /// New records the sink acknowledged and the ledger committed.
    written: u64,
    /// Records dropped as repeats: within the blob, or already delivered.
    duplicates: u64,
}

/// Drop delivered Ids → sink → ack → commit, for one fetched and normalized blob.
async fn deliver(
    ctx: &Ctx<'_>,
    ct: ContentType,
    track: Track,
    blob: &ListedBlob,
    normalized: Normalized,
) -> Result<Delivery, Halt> {
    let mut spool = normalized.spool;
    if spool.is_spilled() {
        tracing::debug!(job = %ctx.job.name, content_type = %ct, content_id = %blob.content_id, records = spool.len(), "blob over the memory budget: its events were spilled to the state directory");
    }
    let spool_error = |cause| Halt::Fatal(ExecError::Sink(SinkError::Spool { cause }));
    // The keys of the blobs being delivered are in memory (at most `BLOBS_HELD`).
    let keys = spool.keys().map_err(spool_error)?;
    // The Ids sent are reserved until the commit below (or a failure) releases them.
    let (delivered, _claim) = ctx
        .in_flight
        .claim(
            keys.iter().map(|k| k.id.as_str()),
            || match track {
                Track::Redeliver => ctx.state.redelivered_record_ids(&keys),
                Track::Live | Track::Backfill => ctx.state.delivered_record_ids(&keys),
            },
            |delivered, id| delivered.contains(id),
        )
        .await?;
    let duplicates = normalized.duplicates + delivered.len() as u64;
    let fresh_ids: Vec<RecordKey> = keys
        .into_iter()
        .filter(|k| !delivered.contains(&k.id))
        .collect();
    let parts = spool.into_parts(delivered).map_err(spool_error)?;
    // Written even when empty: the sink then removes what an unacknowledged earlier delivery may have left.
    let meta = BlobMeta {
        content_type: ct,
        content_id: blob.content_id.clone(),
        content_created: blob.created,
    };
    let ack = match ctx.sink.write_parts(meta, parts).await {
        Ok(a) => a,
        Err(e) if e.is_output_closed() => return Err(Halt::OutputClosed),
        Err(e) => return Err(Halt::Fatal(e.into())),
    };
    hook::reached(hook::Point::Ack);
    match track {
        Track::Redeliver => {
            ctx.state
                .commit_redelivered_blob(ct, blob, &fresh_ids, Timestamp::now())?
        }
        Track::Live | Track::Backfill => {
            ctx.state
                .commit_blob(ct, blob, &fresh_ids, Timestamp::now())?
        }
    };
    hook::reached(hook::Point::Commit);
    let _ = ack;
    Ok(Delivery {
        written: fresh_ids.len() as u64,
        duplicates,
    })
}

fn hex_digest(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + h * 3600).unwrap()
    }

    fn w(a: i64, b: i64) -> plan::Window {
        plan::Window::new(t(a), t(b))
    }

    #[test]
    fn subtract_leaves_the_uncovered_parts() {
        assert_eq!(subtract(w(0, 10), &[]), vec![w(0, 10)]);
        assert_eq!(
            subtract(w(0, 10), &[w(2, 3), w(5, 7)]),
            vec![w(0, 2), w(3, 5), w(7, 10)]
        );
        assert_eq!(subtract(w(0, 10), &[w(-5, 4), w(8, 20)]), vec![w(4, 8)]);
        assert!(subtract(w(0, 10), &[w(-1, 11)]).is_empty());
        assert_eq!(subtract(w(0, 10), &[w(10, 12), w(-3, 0)]), vec![w(0, 10)]);
    }

    #[test]
    fn records_without_id_get_a_stable_digest_key() {
        let a = hex_digest(br#"{"Operation":"x"}"#);
        assert_eq!(a, hex_digest(br#"{"Operation":"x"}"#));
        assert_ne!(a, hex_digest(br#"{"Operation":"y"}"#));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn listed_blobs_without_times_fall_back_to_the_window_and_seven_days() {
        let blob = ContentBlob {
            content_type: "Audit.Exchange".into(),
            content_id: "id$1".into(),
            content_uri: "http://127.0.0.1/x".into(),
            content_created: None,
            content_expiration: None,
        };
        let lb = listed_blob(&blob, &w(0, 1));
        assert_eq!(lb.created, t(0));
        assert_eq!(lb.expiration, t(7 * 24));
    }

    #[tokio::test]
    async fn stop_wakes_waiters_and_stays_requested() {
        let stop = Stop::new();
        assert!(!stop.is_requested());
        let waiter = {
            let s = stop.clone();
            tokio::spawn(async move { s.requested().await })
        };
        stop.request();
        waiter.await.unwrap();
        assert!(stop.is_requested());
        // a waiter arriving after the request returns at once
        stop.requested().await;
    }

    #[test]
    fn error_outcomes_follow_the_exit_code_contract() {
        let floor = t(0);
        let e = ExecError::BeyondRetention {
            from: t(-10),
            to: t(-5),
            floor,
        };
        assert_eq!(e.outcome(), Outcome::Invalid);
        assert!(e.to_string().contains("retention"));
        let e = ExecError::Client("x".into());
        assert_eq!(e.outcome(), Outcome::Failed);
    }
}
