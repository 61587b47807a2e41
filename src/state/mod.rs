//! The checkpoint state: the only module that touches the state database.
//!
//! Layout: the state directory (`--state-dir`, created 0700 when missing) holds, per job, one SQLite database
//! `<job>.sqlite3` (WAL mode, `synchronous = FULL`, mode 0600, schema versioned by `PRAGMA user_version`) and one
//! lock file `<job>.lock`. One file per job keeps jobs independent: `run jobs/` never contends across jobs, and a
//! damaged file affects one job only.
//!
//! Per (job, content type) it keeps the live watermark, the completed windows (merged), a content ledger
//! (`contentId` → created, expiration, status, records written, attempts), backfill progress, the last
//! subscription start and gaps; per job a record ledger (record `Id` → first seen) and the run history.
//!
//! The executor's commit protocol (design brief §5), one call per step, each one transaction:
//! 1. [`StateDir::lock`] the job (a second run gets [`StateError::Locked`] at once → exit code 75), then
//!    [`StateDir::open_job`]; [`JobState::init_watermark`] with the job's start on first use.
//! 2. List a window; [`JobState::register_listed`] returns the content IDs already terminal (skip them).
//! 3. For each other blob: [`JobState::begin_attempt`], fetch, normalize, drop the records whose Ids
//!    [`JobState::delivered_record_ids`] reports, hand the rest to the sink, and once the sink acknowledged a
//!    durable write, [`JobState::commit_blob`] with the Ids written (blob done + Ids in the ledger, atomically).
//!    Content that cannot be fetched any more: [`JobState::record_blob_gap`].
//! 4. [`JobState::complete_window`] with every content ID listed in the window: refused unless all are terminal;
//!    then the window merges into the completed windows and the watermark advances across contiguous ones.
//! 5. Windows beyond retention: [`JobState::record_window_gap`] (recorded and completed, so the watermark passes).
//!
//! A crash between any two steps leaves a state from which the next run neither loses nor duplicates a record:
//! a blob written by the sink but not committed is fetched again, and its records, written again under the same
//! Ids, are deduplicated by the sink (idempotent on `Id`).

mod error;
mod lock;
pub mod schema;
mod store;
mod summary;
mod transfer;
mod types;
pub mod window;

pub use error::StateError;
pub use lock::JobLock;
pub use store::{
    BUCKET_MIGRATED, BUCKET_UNTIMED, CONTENT_LEDGER_GRACE, JobState, LedgerKey,
    RECORD_LEDGER_RETENTION, RUN_HISTORY_KEPT, SUBSCRIPTION_START_INTERVAL, StateDir,
    WINDOW_RETENTION, has_state, job_names,
};
pub use summary::{
    ContentTypeSummary, DEFAULT_RUNS_SHOWN, LedgerCounts, StateSummary, reset, show,
};
pub use transfer::{ExportReport, ImportReport, export, import};
pub use types::{
    AuditQuery, AuditQueryStatus, BackfillKind, BackfillProgress, CommitReport, ContentEntry,
    ContentStatus, EnteredListing, Gap, GapReason, GapScope, Identity, ListedBlob, Origin,
    PruneReport, RecordKey, ResetReport, RunId, RunKind, RunRecord, Track,
};
pub use window::Window;
