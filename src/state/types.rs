//! Plain data types of the state API: listed blobs, gaps, runs, backfill progress, reports.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Window;
use crate::content_type::ContentType;

/// Which set of completed windows a window belongs to: the live sync (which moves the watermark) or backfills
/// (which never do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Track {
    /// `run`: completing windows advances the live watermark.
    Live,
    /// `backfill`: completing windows advances backfill progress only.
    Backfill,
    /// `backfill --redeliver`: a redelivery's own progress (it reads again what the other tracks completed).
    Redeliver,
}

impl Track {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Track::Live => "live",
            Track::Backfill => "backfill",
            Track::Redeliver => "redeliver",
        }
    }
}

/// One blob as the content listing returned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedBlob {
    /// The opaque `contentId`.
    pub content_id: String,
    /// `contentCreated`.
    pub created: Timestamp,
    /// `contentExpiration`.
    pub expiration: Timestamp,
}

/// Where a blob stands in the content ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentStatus {
    /// Listed (maybe attempted) but not delivered yet.
    Pending,
    /// Delivered: the sink acknowledged every record, and the record Ids are in the record ledger.
    Done,
    /// Given up and recorded as a gap (expired or missing content).
    Gap,
}

impl ContentStatus {
    /// The ledger's spelling: `pending`, `done` or `gap`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentStatus::Pending => "pending",
            ContentStatus::Done => "done",
            ContentStatus::Gap => "gap",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<ContentStatus> {
        match s {
            "pending" => Some(ContentStatus::Pending),
            "done" => Some(ContentStatus::Done),
            "gap" => Some(ContentStatus::Gap),
            _ => None,
        }
    }

    /// Done or gap: nothing more will happen to this blob.
    pub fn is_terminal(self) -> bool {
        self != ContentStatus::Pending
    }
}

/// One row of the content ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentEntry {
    /// The blob.
    pub blob: ListedBlob,
    /// Its status.
    pub status: ContentStatus,
    /// Records the sink wrote from it.
    pub records_written: i64,
    /// Fetch attempts so far.
    pub attempts: i64,
}

/// Why data is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// A listed blob could no longer be fetched (AF20050 / AF20051, or expired before its turn).
    ExpiredContent,
    /// A window lies beyond the API's 7-day retention and was never synced.
    BeyondRetention,
    /// `state reset --to` moved the watermark forward over windows never synced.
    SkippedByReset,
    /// Older than the Management API's 7 days, in a cloud without Purview Audit Search for applications (GCC High,
    /// DoD).
    NoAuditSearch,
    /// Purview Audit Search could not answer for the window (queries failed or never finished).
    AuditSearchFailed,
}

/// A Purview Audit Search query of a backfill window, as the state keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// The records' creation range it searches.
    pub window: super::Window,
    /// Graph's query ID.
    pub query_id: String,
    /// Where it stands.
    pub status: AuditQueryStatus,
    /// The next page to read (`None`: the first).
    pub next_link: Option<String>,
    /// Pages read and delivered.
    pub pages_done: u32,
    /// Records read.
    pub records_read: u64,
    /// Queries created for the window so far.
    pub attempts: u32,
}

/// Where an Audit Search query stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditQueryStatus {
    /// Created: polled until it succeeds.
    Created,
    /// Succeeded: its pages are being read.
    Paging,
    /// Every page delivered.
    Done,
    /// Given up: the window is a recorded gap.
    Gap,
}

impl AuditQueryStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AuditQueryStatus::Created => "created",
            AuditQueryStatus::Paging => "paging",
            AuditQueryStatus::Done => "done",
            AuditQueryStatus::Gap => "gap",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "created" => Some(AuditQueryStatus::Created),
            "paging" => Some(AuditQueryStatus::Paging),
            "done" => Some(AuditQueryStatus::Done),
            "gap" => Some(AuditQueryStatus::Gap),
            _ => None,
        }
    }
}

impl GapReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GapReason::ExpiredContent => "expired_content",
            GapReason::BeyondRetention => "beyond_retention",
            GapReason::SkippedByReset => "skipped_by_reset",
            GapReason::NoAuditSearch => "no_audit_search",
            GapReason::AuditSearchFailed => "audit_search_failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<GapReason> {
        match s {
            "expired_content" => Some(GapReason::ExpiredContent),
            "beyond_retention" => Some(GapReason::BeyondRetention),
            "skipped_by_reset" => Some(GapReason::SkippedByReset),
            "no_audit_search" => Some(GapReason::NoAuditSearch),
            "audit_search_failed" => Some(GapReason::AuditSearchFailed),
            _ => None,
        }
    }
}

impl fmt::Display for GapReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GapReason::ExpiredContent => "content expired before it was fetched",
            GapReason::BeyondRetention => "beyond the API's 7-day retention",
            GapReason::SkippedByReset => "skipped by `state reset`",
            GapReason::NoAuditSearch => {
                "older than 7 days, and this cloud has no Audit Search for applications"
            }
            GapReason::AuditSearchFailed => "Audit Search could not answer for it",
        })
    }
}

/// What a gap covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GapScope {
    /// A whole window was never listed.
    Window {
        /// The window.
        window: Window,
    },
    /// One listed blob was never delivered.
    Blob {
        /// Its `contentId`.
        content_id: String,
        /// Its `contentCreated`.
        created: Timestamp,
    },
}

/// A recorded data gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The content type.
    pub content_type: ContentType,
    /// The window or blob missing.
    #[serde(flatten)]
    pub scope: GapScope,
    /// Why.
    pub reason: GapReason,
    /// Details (for example the API's error code and message).
    pub detail: String,
    /// When it was recorded.
    pub recorded_at: Timestamp,
}

/// The identifier of a run in the run history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RunId(pub i64);

/// What kind of command a run was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// `o365sync run`.
    Run,
    /// `o365sync backfill`.
    Backfill,
}

impl RunKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunKind::Run => "run",
            RunKind::Backfill => "backfill",
        }
    }
}

/// One entry of the run history. A run without `ended` was interrupted (or is still running).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Its identifier.
    pub id: RunId,
    /// `run` or `backfill` (other values from newer versions are kept as text).
    pub kind: String,
    /// When it started.
    pub started: Timestamp,
    /// When it ended, if it did.
    pub ended: Option<Timestamp>,
    /// Its outcome (for example `done`, `gaps`, `failed`).
    pub outcome: Option<String>,
    /// Per-content-type counters, as the executor reported them.
    pub counters: Option<serde_json::Value>,
}

/// Progress of one backfill range of one content type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillProgress {
    /// The content type.
    pub content_type: ContentType,
    /// Who asked for it.
    pub kind: BackfillKind,
    /// The range requested.
    pub range: Window,
    /// Everything in `[range.start, position)` is complete.
    pub position: Timestamp,
    /// When it was first requested.
    pub started: Timestamp,
    /// When it last moved.
    pub updated: Timestamp,
    /// When it reached the end of its range.
    pub finished: Option<Timestamp>,
}

/// A record `Id` with the record's own creation time, as the executor hands it to the record ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordKey {
    /// The record `Id` (or the digest standing in for a missing one).
    pub id: String,
    /// The record's `CreationTime`, when it has one.
    pub created: Option<Timestamp>,
}

/// What `enter_listing` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnteredListing {
    /// The content IDs listed that are already terminal (done or a gap): no fetch needed.
    pub terminal: std::collections::HashSet<String>,
    /// Every blob listed was terminal, so the window was completed in the same transaction.
    pub completed: bool,
}

/// What `commit_blob` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitReport {
    /// Record Ids newly added to the record ledger (the others were already there).
    pub new_record_ids: usize,
}

/// What `reset_watermark` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResetReport {
    /// The content type.
    pub content_type: ContentType,
    /// The watermark before.
    pub previous: Option<Timestamp>,
    /// The watermark now.
    pub watermark: Timestamp,
    /// Completed live windows dropped or cut at the new watermark.
    pub windows_changed: usize,
    /// When moving forward: the never-completed parts skipped, each recorded as a gap.
    pub gaps: Vec<Window>,
}

/// What `prune` removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PruneReport {
    /// Content ledger rows past expiry.
    pub content: usize,
    /// Record ledger rows older than 8 days.
    pub records: usize,
    /// Completed windows ending more than 8 days ago.
    pub windows: usize,
    /// Run history entries beyond the newest [`super::RUN_HISTORY_KEPT`].
    pub runs: usize,
}

/// Who asked for a backfill range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackfillKind {
    /// `o365sync backfill JOB --from --to`.
    Command,
    /// The job file's `start` moved earlier than the recorded origin: `run` reads the range it added.
    Start,
    /// `o365sync backfill JOB --from --to --redeliver`: delivered again to the current sink.
    Redeliver,
}

impl BackfillKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BackfillKind::Command => "command",
            BackfillKind::Start => "start",
            BackfillKind::Redeliver => "redeliver",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<BackfillKind> {
        match s {
            "command" => Some(BackfillKind::Command),
            "start" => Some(BackfillKind::Start),
            "redeliver" => Some(BackfillKind::Redeliver),
            _ => None,
        }
    }

    /// The track whose completed windows this kind of range records.
    pub fn track(self) -> Track {
        match self {
            BackfillKind::Command | BackfillKind::Start => Track::Backfill,
            BackfillKind::Redeliver => Track::Redeliver,
        }
    }
}

/// Whose state this is and where it delivered: recorded at every run, compared with the job file by `plan` and
/// `run` (a different tenant or cloud is refused; a different client, certificate or sink is reported).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Directory (tenant) ID.
    pub tenant_id: Option<String>,
    /// Cloud name (`commercial`, `gcc`, `gcc-high`, `dod`).
    pub cloud: Option<String>,
    /// Application (client) ID.
    pub client_id: Option<String>,
    /// SHA-1 thumbprint of the certificate (hex, as the portal shows it; public).
    pub certificate_sha1: Option<String>,
    /// The sink, as `type` or `type:path` (or URL).
    pub sink: Option<String>,
}

impl Identity {
    pub(crate) const KEYS: [&'static str; 5] = [
        "tenant_id",
        "cloud",
        "client_id",
        "certificate_sha1",
        "sink",
    ];

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        match key {
            "tenant_id" => self.tenant_id.as_deref(),
            "cloud" => self.cloud.as_deref(),
            "client_id" => self.client_id.as_deref(),
            "certificate_sha1" => self.certificate_sha1.as_deref(),
            "sink" => self.sink.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn set(&mut self, key: &str, value: String) {
        match key {
            "tenant_id" => self.tenant_id = Some(value),
            "cloud" => self.cloud = Some(value),
            "client_id" => self.client_id = Some(value),
            "certificate_sha1" => self.certificate_sha1 = Some(value),
            "sink" => self.sink = Some(value),
            _ => {}
        }
    }
}

/// Where a content type's history begins, and the job file's `start` as it was written at the last run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The first instant the job promised to collect (the first run's start, or an earlier `start`).
    pub at: Timestamp,
    /// `sync.start` as the job file wrote it at the last run (`7d`, an instant); empty when not known.
    pub start: String,
}
