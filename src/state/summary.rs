//! What `o365sync state show JOB [--json]` prints: a serializable summary of one job's state.

use std::fmt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use super::store::{self, E, JobState};
use super::types::*;
use super::{StateError, Window, schema};
use crate::content_type::ContentType;

/// How many runs `state show` lists by default.
pub const DEFAULT_RUNS_SHOWN: usize = 10;

/// The state of one job, for humans (`Display`) and scripts (`Serialize`).
#[derive(Debug, Clone, Serialize)]
pub struct StateSummary {
    /// The job name.
    pub job: String,
    /// The database file.
    pub database: PathBuf,
    /// Whether the job has any state yet (false before its first run).
    pub exists: bool,
    /// The schema version of the file.
    pub schema_version: Option<i64>,
    /// The tenant, cloud, client, certificate and sink of the last run (empty before the first run).
    pub identity: Identity,
    /// One entry per content type that has any state.
    pub content_types: Vec<ContentTypeSummary>,
    /// Record Ids in the record ledger.
    pub record_ledger: i64,
    /// Every recorded gap, oldest first.
    pub gaps: Vec<Gap>,
    /// The newest runs, newest first.
    pub runs: Vec<RunRecord>,
}

/// The state of one content type of a job.
#[derive(Debug, Clone, Serialize)]
pub struct ContentTypeSummary {
    /// The content type.
    pub content_type: ContentType,
    /// The live watermark.
    pub watermark: Option<Timestamp>,
    /// Where its history begins, and the job file's `start` at the last run.
    pub origin: Option<Origin>,
    /// Completed windows of the live sync.
    pub completed_windows: Vec<Window>,
    /// Completed windows of backfills.
    pub backfill_windows: Vec<Window>,
    /// Backfill ranges and their progress.
    pub backfills: Vec<BackfillProgress>,
    /// The last subscription start requested.
    pub last_subscription_start: Option<Timestamp>,
    /// Content ledger counts.
    pub ledger: LedgerCounts,
}

/// Content ledger counts of one content type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LedgerCounts {
    /// Blobs listed but not delivered yet.
    pub pending: i64,
    /// Blobs delivered.
    pub done: i64,
    /// Blobs recorded as gaps.
    pub gap: i64,
    /// Records written from the blobs in the ledger.
    pub records_written: i64,
}

/// Reads the summary of `job` from the state directory `dir` without taking the job's lock (a running job may be
/// writing; WAL gives a consistent snapshot) and without creating anything. A job that never ran gets an empty
/// summary with `exists: false`.
pub fn show(dir: &Path, job: &str, runs: usize) -> Result<StateSummary, StateError> {
    store::check_job_name(job)?;
    let path = store::database_path(dir, job);
    let Some(conn) = schema::open(&path, job, false)? else {
        return Ok(StateSummary {
            job: job.to_owned(),
            database: path,
            exists: false,
            schema_version: None,
            identity: Identity::default(),
            content_types: Vec::new(),
            record_ledger: 0,
            gaps: Vec::new(),
            runs: Vec::new(),
        });
    };
    JobState::new(job.to_owned(), path, conn, None).summary(runs)
}

/// `state reset --to`: takes the job's lock (failing with [`StateError::Locked`] while a run holds it) and moves
/// the live watermark of each of `content_types` to `to`. See [`JobState::reset_watermark`].
pub fn reset(
    dir: &Path,
    job: &str,
    content_types: &[ContentType],
    to: Timestamp,
    now: Timestamp,
) -> Result<Vec<ResetReport>, StateError> {
    let state = super::StateDir::open(dir)?.lock_and_open(job)?;
    content_types
        .iter()
        .map(|&ct| state.reset_watermark(ct, to, now))
        .collect()
}

impl JobState {
    /// The summary `state show` prints, from one consistent snapshot.
    pub fn summary(&self, runs: usize) -> Result<StateSummary, StateError> {
        let path = self.path().to_owned();
        self.with_read(|tx| {
            let schema_version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            let mut present = Vec::new();
            {
                let mut stmt = tx.prepare(
                    "SELECT content_type FROM watermark UNION SELECT content_type FROM completed_window
                     UNION SELECT content_type FROM content UNION SELECT content_type FROM subscription
                     UNION SELECT content_type FROM backfill UNION SELECT content_type FROM gap
                     UNION SELECT content_type FROM origin",
                )?;
                for ct in stmt.query_map([], |r| r.get::<_, ContentType>(0))? {
                    present.push(ct?);
                }
            }
            present.sort();
            let mut content_types = Vec::new();
            for ct in present {
                let ledger = tx.query_row(
                    "SELECT coalesce(sum(status = 'pending'), 0), coalesce(sum(status = 'done'), 0),
                            coalesce(sum(status = 'gap'), 0), coalesce(sum(records_written), 0)
                     FROM content WHERE content_type = ?1",
                    [ct],
                    |r| {
                        Ok(LedgerCounts {
                            pending: r.get(0)?,
                            done: r.get(1)?,
                            gap: r.get(2)?,
                            records_written: r.get(3)?,
                        })
                    },
                )?;
                let last_subscription_start = {
                    use rusqlite::OptionalExtension;
                    tx.query_row(
                        "SELECT last_start_ns FROM subscription WHERE content_type = ?1",
                        [ct],
                        |r| r.get::<_, i64>(0),
                    )
                    .optional()?
                    .map(|n| Timestamp::from_nanosecond(i128::from(n)))
                    .transpose()
                    .map_err(|_| store::corrupt(&path, "subscription time"))?
                };
                content_types.push(ContentTypeSummary {
                    content_type: ct,
                    watermark: store::get_watermark(tx, ct)?,
                    origin: store::load_origin(tx, ct)?,
                    completed_windows: store::load_windows(tx, ct, Track::Live)?,
                    backfill_windows: store::load_windows(tx, ct, Track::Backfill)?,
                    backfills: store::load_backfills(tx, Some(ct))?,
                    last_subscription_start,
                    ledger,
                });
            }
            let record_ledger = tx.query_row("SELECT count(*) FROM record", [], |r| r.get(0))?;
            Ok::<_, E>(StateSummary {
                job: self.job().to_owned(),
                database: path.clone(),
                exists: true,
                schema_version: Some(schema_version),
                identity: store::load_identity(tx)?,
                content_types,
                record_ledger,
                gaps: store::load_gaps(tx, None, &path)?,
                runs: store::load_runs(tx, runs)?,
            })
        })
    }
}

fn opt(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| t.to_string())
}

impl fmt::Display for StateSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "job {} (state {})", self.job, self.database.display())?;
        if !self.exists {
            return writeln!(f, "  no state yet: the job has never run");
        }
        let id = &self.identity;
        if let (Some(tenant), Some(cloud)) = (&id.tenant_id, &id.cloud) {
            writeln!(f, "  tenant: {tenant} ({cloud} cloud)")?;
        }
        if let Some(client) = &id.client_id {
            writeln!(
                f,
                "  client: {client}, certificate SHA-1 {}",
                id.certificate_sha1.as_deref().unwrap_or("-")
            )?;
        }
        if let Some(sink) = &id.sink {
            writeln!(f, "  sink: {sink}")?;
        }
        writeln!(f, "  record ledger: {} record Ids", self.record_ledger)?;
        for c in &self.content_types {
            writeln!(f, "{}", c.content_type)?;
            writeln!(f, "  watermark: {}", opt(c.watermark))?;
            if let Some(o) = &c.origin {
                if o.start.is_empty() {
                    writeln!(f, "  origin: {}", o.at)?;
                } else {
                    writeln!(f, "  origin: {} (start: {})", o.at, o.start)?;
                }
            }
            let l = c.ledger;
            writeln!(
                f,
                "  blobs: {} done, {} pending, {} gaps; {} records written",
                l.done, l.pending, l.gap, l.records_written
            )?;
            let list = |ws: &[Window]| {
                if ws.is_empty() {
                    "none".to_owned()
                } else {
                    ws.iter()
                        .map(Window::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            writeln!(f, "  completed windows: {}", list(&c.completed_windows))?;
            if !c.backfill_windows.is_empty() {
                writeln!(f, "  backfilled windows: {}", list(&c.backfill_windows))?;
            }
            for b in &c.backfills {
                let status = match b.finished {
                    Some(t) => format!("finished {t}"),
                    None => format!("at {}", b.position),
                };
                let kind = match b.kind {
                    BackfillKind::Command => "backfill",
                    BackfillKind::Start => "backfill (start moved earlier)",
                    BackfillKind::Redeliver => "redelivery",
                };
                writeln!(f, "  {kind} {}: {status}", b.range)?;
            }
            writeln!(
                f,
                "  last subscription start: {}",
                opt(c.last_subscription_start)
            )?;
        }
        if self.gaps.is_empty() {
            writeln!(f, "gaps: none")?;
        } else {
            writeln!(f, "gaps: {}", self.gaps.len())?;
            for g in &self.gaps {
                let what = match &g.scope {
                    GapScope::Window { window } => format!("window {window}"),
                    GapScope::Blob {
                        content_id,
                        created,
                    } => format!("blob {content_id} (created {created})"),
                };
                let detail = if g.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", g.detail)
                };
                writeln!(
                    f,
                    "  {} {what}: {}{detail} (recorded {})",
                    g.content_type, g.reason, g.recorded_at
                )?;
            }
        }
        if self.runs.is_empty() {
            writeln!(f, "runs: none")?;
        } else {
            writeln!(f, "runs (newest first):")?;
            for r in &self.runs {
                let outcome = match (&r.ended, &r.outcome) {
                    (Some(end), Some(o)) => format!("{o}, ended {end}"),
                    _ => "interrupted or still running".to_owned(),
                };
                writeln!(
                    f,
                    "  #{} {} started {}: {outcome}",
                    r.id.0, r.kind, r.started
                )?;
            }
        }
        Ok(())
    }
}
