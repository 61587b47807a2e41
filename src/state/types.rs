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
}

impl Track {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Track::Live => "live",
            Track::Backfill => "backfill",
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
}

impl GapReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GapReason::ExpiredContent => "expired_content",
            GapReason::BeyondRetention => "beyond_retention",
            GapReason::SkippedByReset => "skipped_by_reset",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<GapReason> {
        match s {
            "expired_content" => Some(GapReason::ExpiredContent),
            "beyond_retention" => Some(GapReason::BeyondRetention),
            "skipped_by_reset" => Some(GapReason::SkippedByReset),
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
