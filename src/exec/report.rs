//! The run report: per content type what was listed, fetched, skipped, written; per job requests, throttles,
//! duration and the outcome. Printed on standard error (human text, or one JSON object with `--log-format json`)
//! and stored with the run in the state's history.

use std::fmt;
use std::time::Instant;

use jiff::Timestamp;
use serde::Serialize;

use super::{ExecError, Mode};
use crate::content_type::ContentType;
use crate::exit::Outcome;

/// What one content type did during a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ContentTypeReport {
    /// The content type.
    pub content_type: Option<ContentType>,
    /// Windows the planner asked for.
    pub windows_planned: usize,
    /// Windows listed to their last page.
    pub windows_listed: u64,
    /// Windows completed (every blob terminal).
    pub windows_completed: u64,
    /// Windows whose listing failed (they stay incomplete; the next run lists them again).
    pub windows_failed: u64,
    /// Blobs listed.
    pub blobs_listed: u64,
    /// Blobs fetched and delivered.
    pub blobs_fetched: u64,
    /// Blobs skipped: already terminal in the ledger.
    pub blobs_skipped: u64,
    /// Blobs that could not be fetched this time (they stay pending).
    pub blobs_failed: u64,
    /// Blobs recorded as gaps (expired or missing content).
    pub blob_gaps: u64,
    /// Windows recorded as gaps (beyond retention).
    pub window_gaps: u64,
    /// Records written to the sink.
    pub records_written: u64,
    /// Records dropped as already delivered (or repeated within a blob).
    pub records_duplicate: u64,
    /// The live watermark after the run.
    pub watermark: Option<Timestamp>,
    /// The first non-fatal error, if any.
    pub error: Option<String>,
}

/// What a backfill read from Purview Audit Search, by UTC day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditSearchReport {
    /// Days the range needed.
    pub days_planned: u64,
    /// Days read to their last page in this run.
    pub days_done: u64,
    /// Days an earlier run had already read (or recorded as gaps).
    pub days_skipped: u64,
    /// Days recorded as gaps (queries failed or never finished).
    pub days_gap: u64,
    /// Queries created (a resumed one is not created again).
    pub queries_created: u64,
    /// Queries an earlier run had created and this one polled or paged on.
    pub queries_resumed: u64,
    /// Pages read.
    pub pages: u64,
    /// Records read (all content types, before routing and de-duplication).
    pub records_read: u64,
    /// Requests sent to Graph, and those answered 429.
    pub requests: u64,
    /// Requests answered 429.
    pub throttled: u64,
    /// What the range asks for that the audit log itself does not keep, said once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl AuditSearchReport {
    pub(crate) fn absorb(&mut self, o: &AuditSearchReport) {
        self.days_done += o.days_done;
        self.days_skipped += o.days_skipped;
        self.days_gap += o.days_gap;
        self.queries_created += o.queries_created;
        self.queries_resumed += o.queries_resumed;
        self.pages += o.pages;
        self.records_read += o.records_read;
    }
}

impl ContentTypeReport {
    /// An empty report of content type `ct` (nothing done yet, no watermark).
    pub fn new(ct: ContentType) -> Self {
        ContentTypeReport {
            content_type: Some(ct),
            ..ContentTypeReport::default()
        }
    }

    /// Adds the counters of `other` (one window's worth) to these; keeps the first error.
    pub(crate) fn absorb(&mut self, other: &ContentTypeReport) {
        self.windows_listed += other.windows_listed;
        self.windows_completed += other.windows_completed;
        self.windows_failed += other.windows_failed;
        self.blobs_listed += other.blobs_listed;
        self.blobs_fetched += other.blobs_fetched;
        self.blobs_skipped += other.blobs_skipped;
        self.blobs_failed += other.blobs_failed;
        self.blob_gaps += other.blob_gaps;
        self.window_gaps += other.window_gaps;
        self.records_written += other.records_written;
        self.records_duplicate += other.records_duplicate;
        if self.error.is_none() {
            self.error.clone_from(&other.error);
        }
    }

    fn incomplete(&self) -> bool {
        self.windows_failed > 0 || self.blobs_failed > 0
    }
}

/// What one job's run did.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    /// The job name.
    pub job: String,
    /// `run` or `backfill`.
    pub kind: &'static str,
    /// The backfill range, for backfills.
    pub range: Option<(Timestamp, Timestamp)>,
    /// When the run started.
    pub started: Timestamp,
    /// Wall-clock duration in seconds.
    pub duration_seconds: f64,
    /// The exit code of this job.
    pub exit_code: u8,
    /// `done`, `gaps`, `locked`, `failed`, `invalid`.
    pub outcome: &'static str,
    /// Per content type.
    pub content_types: Vec<ContentTypeReport>,
    /// API requests sent (every attempt).
    pub requests: u64,
    /// Throttled responses.
    pub throttled: u64,
    /// Retried attempts.
    pub retries: u64,
    /// Gaps recorded during this run.
    pub gaps_recorded: usize,
    /// A stop was requested (SIGINT/SIGTERM) and the run ended early.
    pub interrupted: bool,
    /// Standard output (the sink) was closed by its reader.
    pub output_closed: bool,
    /// A network sink's deliveries (requests, events sent, retries, throttles, acknowledgement waits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sink: Option<crate::sink::http::DeliveryStats>,
    /// A backfill's Purview Audit Search part (history older than the Management API's 7 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_search: Option<AuditSearchReport>,
    /// The error that stopped the job, if any.
    pub error: Option<String>,
    /// Turns the job ran in a run over many jobs (it yields to waiting jobs after its turn; see `exec::schedule`).
    pub turns: u32,
    #[serde(skip)]
    failure: Option<Outcome>,
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Done => "done",
        Outcome::Gaps => "gaps",
        Outcome::Locked => "locked",
        Outcome::Failed => "failed",
        Outcome::Invalid => "invalid",
    }
}

impl JobReport {
    /// An empty report of job `job` started at `started` (nothing done yet, outcome `done`).
    pub fn new(job: &str, mode: Mode, started: Timestamp) -> Self {
        JobReport {
            job: job.to_owned(),
            kind: match mode {
                Mode::Live => "run",
                Mode::Backfill {
                    redeliver: false, ..
                } => "backfill",
                Mode::Backfill {
                    redeliver: true, ..
                } => "redeliver",
            },
            range: match mode {
                Mode::Live => None,
                Mode::Backfill { from, to, .. } => Some((from, to)),
            },
            started,
            duration_seconds: 0.0,
            exit_code: 0,
            outcome: "done",
            content_types: Vec::new(),
            requests: 0,
            throttled: 0,
            retries: 0,
            gaps_recorded: 0,
            interrupted: false,
            output_closed: false,
            sink: None,
            audit_search: None,
            error: None,
            turns: 1,
            failure: None,
        }
    }

    /// The report of a job whose task ended abnormally (a bug: a panic).
    pub(crate) fn crashed(job: &str, cause: &str) -> Self {
        let mut r = JobReport::new(job, Mode::Live, Timestamp::now());
        r.failure = Some(Outcome::Failed);
        r.error = Some(format!(
            "the job's task ended abnormally ({cause}); report this as a bug"
        ));
        r.exit_code = Outcome::Failed.code();
        r.outcome = outcome_name(Outcome::Failed);
        r
    }

    /// Whether the job stopped on a failure or because its output was closed (it is not queued for another turn).
    pub(crate) fn halted(&self) -> bool {
        self.failure.is_some() || self.output_closed
    }

    /// Adds the next turn of the same job: counters add up, the watermarks and the outcome are the last turn's
    /// (the first failure is kept), and the windows planned are those completed before plus those the last turn
    /// planned (each turn plans again what is left).
    pub(crate) fn absorb_turn(&mut self, next: JobReport) {
        for c in next.content_types {
            match self
                .content_types
                .iter_mut()
                .find(|m| m.content_type == c.content_type)
            {
                Some(m) => {
                    m.windows_planned = usize::try_from(m.windows_completed)
                        .unwrap_or(usize::MAX)
                        .saturating_add(c.windows_planned);
                    m.absorb(&c);
                    m.watermark = c.watermark;
                }
                None => self.content_types.push(c),
            }
        }
        self.duration_seconds += next.duration_seconds;
        self.requests += next.requests;
        self.throttled += next.throttled;
        self.retries += next.retries;
        self.gaps_recorded += next.gaps_recorded;
        self.interrupted = next.interrupted;
        self.output_closed |= next.output_closed;
        match (&mut self.sink, next.sink) {
            (Some(s), Some(n)) => s.absorb(&n),
            (s @ None, n) => *s = n,
            (Some(_), None) => {}
        }
        if self.failure.is_none() {
            self.failure = next.failure;
            self.error = next.error;
        }
        self.turns += next.turns;
        let outcome = self.outcome();
        self.exit_code = outcome.code();
        self.outcome = outcome_name(outcome);
    }

    /// Records the failure that stopped the job.
    pub(crate) fn set_error(&mut self, e: ExecError) {
        self.failure = Some(e.outcome());
        self.error = Some(e.to_string());
    }

    pub(crate) fn fail(&mut self, e: ExecError, started: Instant) {
        self.set_error(e);
        self.finish(started);
    }

    /// Sets the duration and the outcome from what happened.
    pub(crate) fn finish(&mut self, started: Instant) {
        self.duration_seconds = started.elapsed().as_secs_f64();
        let outcome = self.outcome();
        self.exit_code = outcome.code();
        self.outcome = outcome_name(outcome);
    }

    /// The outcome: a stopping failure, else an incomplete or interrupted run (1), else recorded gaps (3), else 0.
    pub fn outcome(&self) -> Outcome {
        if let Some(f) = self.failure {
            return f;
        }
        if self.output_closed {
            return Outcome::Done;
        }
        if self.interrupted || self.content_types.iter().any(ContentTypeReport::incomplete) {
            return Outcome::Failed;
        }
        if self.gaps_recorded > 0 {
            return Outcome::Gaps;
        }
        Outcome::Done
    }

    pub(crate) fn outcome_name(&self) -> &'static str {
        outcome_name(self.outcome())
    }

    /// Records written over all content types.
    pub fn records_written(&self) -> u64 {
        self.content_types.iter().map(|c| c.records_written).sum()
    }

    /// Blobs fetched over all content types.
    pub fn blobs_fetched(&self) -> u64 {
        self.content_types.iter().map(|c| c.blobs_fetched).sum()
    }
}

impl fmt::Display for JobReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let range = match self.range {
            Some((a, b)) => format!(" [{a}, {b})"),
            None => String::new(),
        };
        writeln!(
            f,
            "{} {}{}: {} (exit {}) in {:.1}s; {} requests, {} throttled, {} retried",
            self.kind,
            self.job,
            range,
            self.outcome,
            self.exit_code,
            self.duration_seconds,
            self.requests,
            self.throttled,
            self.retries
        )?;
        for c in &self.content_types {
            let name = c.content_type.map(|c| c.as_str()).unwrap_or("?");
            writeln!(
                f,
                "  {name}: windows {} listed/{} completed/{} failed; blobs {} fetched, {} skipped, {} failed, {} gaps; \
                 records {} written, {} duplicate; watermark {}",
                c.windows_listed,
                c.windows_completed,
                c.windows_failed,
                c.blobs_fetched,
                c.blobs_skipped,
                c.blobs_failed,
                c.blob_gaps + c.window_gaps,
                c.records_written,
                c.records_duplicate,
                c.watermark
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "none".into())
            )?;
            if let Some(e) = &c.error {
                writeln!(f, "    last error: {e}")?;
            }
        }
        if let Some(a) = &self.audit_search {
            writeln!(
                f,
                "  Purview Audit Search: days {} planned/{} done/{} already done/{} gaps; queries {} created, {} resumed; {} pages, {} records read; {} requests, {} throttled",
                a.days_planned,
                a.days_done,
                a.days_skipped,
                a.days_gap,
                a.queries_created,
                a.queries_resumed,
                a.pages,
                a.records_read,
                a.requests,
                a.throttled
            )?;
            if let Some(note) = &a.note {
                writeln!(f, "    {note}")?;
            }
        }
        if self.gaps_recorded > 0 {
            writeln!(
                f,
                "  {} data gaps recorded: see `o365sync state show` for the job",
                self.gaps_recorded
            )?;
        }
        if self.interrupted {
            writeln!(
                f,
                "  interrupted: what completed is committed; the next run continues from there"
            )?;
        }
        if self.output_closed {
            writeln!(
                f,
                "  standard output was closed: what was acknowledged is committed"
            )?;
        }
        if let Some(e) = &self.error {
            writeln!(f, "  error: {e}")?;
        }
        Ok(())
    }
}
