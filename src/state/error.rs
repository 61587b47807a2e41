//! Errors of the state store. Every variant names the file involved and says what to do.

use std::path::PathBuf;

use jiff::Timestamp;

use crate::content_type::ContentType;
use crate::exit::Outcome;

/// What can go wrong with the state directory, a job's lock or its state database.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another process (or another handle in this one) holds the job's lock; the executor maps this to exit code 75.
    #[error(
        "job `{job}` is locked by another run ({}): wait for it to finish, or check that no other o365sync process runs this job",
        path.display()
    )]
    Locked {
        /// The job name.
        job: String,
        /// The lock file.
        path: PathBuf,
    },
    /// The state directory or a file in it cannot be created or written.
    #[error(
        "cannot write state at {}: {source}: make the state directory a writable directory, or choose another with --state-dir",
        path.display()
    )]
    Unwritable {
        /// The directory or file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The database file is damaged, truncated or not a SQLite database at all. Never reset silently.
    #[error(
        "state database {} is corrupt ({detail}): move it aside and restore it from a backup; removing it starts the job over and may deliver records already written",
        path.display()
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The file is a SQLite database, but not an o365sync state database (or one of another job).
    #[error(
        "{} is not the o365sync state database of job `{job}` ({detail}): move it out of the state directory",
        path.display()
    )]
    Foreign {
        /// The database file.
        path: PathBuf,
        /// The job whose state was expected.
        job: String,
        /// What was found instead.
        detail: String,
    },
    /// The database was written by a newer o365sync whose schema this build does not know.
    #[error(
        "state database {} has schema version {found}, newer than the {supported} this o365sync knows: upgrade o365sync (the file was left untouched)",
        path.display()
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// SQLite could not switch the database to WAL journaling (for example on a network filesystem).
    #[error(
        "state database {} cannot use WAL journaling (journal mode stayed `{mode}`): put the state directory on a local filesystem",
        path.display()
    )]
    NoWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// A job name that cannot name state files.
    #[error(
        "invalid job name `{0}`: use lower-case letters, digits, `_` and `-`, starting with a letter or digit"
    )]
    InvalidJobName(String),
    /// `complete_window` was called while some blob of the window is not terminal yet.
    #[error(
        "window {window} of {content_type} cannot complete: {pending} of its blobs are not done or recorded as gaps (first: {first}); finish or record them first"
    )]
    WindowIncomplete {
        /// The content type.
        content_type: ContentType,
        /// The window, as text.
        window: String,
        /// How many listed blobs are not terminal.
        pending: usize,
        /// The first such content ID.
        first: String,
    },
    /// A reset target in the future.
    #[error(
        "cannot move the watermark of {content_type} to {to}, which is in the future: choose an instant before now"
    )]
    ResetInFuture {
        /// The content type.
        content_type: ContentType,
        /// The requested watermark.
        to: Timestamp,
    },
    /// `state rename` of a job that has no state.
    #[error(
        "job `{job}` has no state in this state directory ({} does not exist): check the name with `ls` in the state directory, or --state-dir",
        path.display()
    )]
    NoState {
        /// The job name.
        job: String,
        /// Where its database would be.
        path: PathBuf,
    },
    /// `state rename` onto a name that already has state.
    #[error(
        "job `{job}` already has state ({}): choose another new name, or move that state aside first if it is not needed",
        path.display()
    )]
    RenameTargetExists {
        /// The new name.
        job: String,
        /// Its database.
        path: PathBuf,
    },
    /// `state rename` with the same old and new name.
    #[error("cannot rename job `{0}` to itself: give a different new name")]
    RenameToItself(String),
    /// `state export` onto a file that exists: export never overwrites.
    #[error(
        "{} already exists: choose another file with --output, or move that one aside (export never overwrites)",
        .0.display()
    )]
    ExportTargetExists(PathBuf),
    /// `state import` of a file that cannot be read.
    #[error("cannot read {}: {source}: check the path and its permissions (nothing was changed)", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// `state import` of a file that is not an o365sync state database, or a damaged or truncated one.
    #[error(
        "{} is not an o365sync state export ({detail}): give a file written by `o365sync state export`, copied whole (nothing was changed)",
        path.display()
    )]
    NotStateFile {
        /// The file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// `state import` of the state of another job.
    #[error(
        "{} holds the state of job `{found}`, not of job `{job}`: import it with the job file of `{found}` (then, to use another name, `o365sync state rename {found} NEW`) (nothing was changed)",
        path.display()
    )]
    ImportOtherJob {
        /// The file.
        path: PathBuf,
        /// The job imported into.
        job: String,
        /// The job the file belongs to.
        found: String,
    },
    /// `state import` of a state recorded for another tenant, cloud or client ID than the job file names.
    #[error(
        "the state in {} belongs to {what} {found}, not to the {what} {expected} that job `{job}` names: a job's state describes one tenant's history and would skip another's; import it with the job file it was exported with, or give this tenant a job of its own (a new `name`) that starts at `start` (nothing was changed)",
        path.display()
    )]
    ImportIdentity {
        /// The file.
        path: PathBuf,
        /// The job imported into.
        job: String,
        /// `tenant`, `cloud` or `client ID`.
        what: &'static str,
        /// What the file recorded.
        found: String,
        /// What the job file names.
        expected: String,
    },
    /// `state import` over existing state without `--force`.
    #[error(
        "job `{job}` already has state ({}): pass --force to replace it (stop every run of the job first), or move it aside",
        path.display()
    )]
    ImportWouldReplace {
        /// The job.
        job: String,
        /// Its database.
        path: PathBuf,
    },
    /// A timestamp outside the range the state can store (years 1678 ..= 2261).
    #[error("timestamp {0} is out of the range the state stores (years 1678 to 2261)")]
    TimeOutOfRange(Timestamp),
    /// Any other SQLite failure (disk full, I/O error, lock timeout, ...).
    #[error(
        "state database {}: {source}: check the disk and that no other program holds the file",
        path.display()
    )]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
}

impl StateError {
    /// Whether this is the "another run holds the lock" error (exit code 75).
    pub fn is_locked(&self) -> bool {
        matches!(self, StateError::Locked { .. })
    }

    /// The exit code this error ends a job with: 75 when locked out, 2 for an invalid job name or reset target,
    /// a refused rename, export or import (usage; nothing written), 1 for everything else (runtime failure; what completed stays committed).
    pub fn outcome(&self) -> Outcome {
        match self {
            StateError::Locked { .. } => Outcome::Locked,
            StateError::InvalidJobName(_)
            | StateError::ResetInFuture { .. }
            | StateError::NoState { .. }
            | StateError::RenameTargetExists { .. }
            | StateError::RenameToItself(_)
            | StateError::ExportTargetExists(_)
            | StateError::Unreadable { .. }
            | StateError::NotStateFile { .. }
            | StateError::ImportOtherJob { .. }
            | StateError::ImportIdentity { .. }
            | StateError::ImportWouldReplace { .. } => Outcome::Invalid,
            _ => Outcome::Failed,
        }
    }

    /// Classifies a SQLite error on `path`: corruption gets its own clear error, the rest stays a SQLite error.
    pub(crate) fn sqlite(path: &std::path::Path, e: rusqlite::Error) -> StateError {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => StateError::Corrupt {
                path: path.to_owned(),
                detail: "file is not a SQLite database".into(),
            },
            Some(ErrorCode::DatabaseCorrupt) => StateError::Corrupt {
                path: path.to_owned(),
                detail: format!("SQLite reports: {e}"),
            },
            _ => StateError::Sqlite {
                path: path.to_owned(),
                source: e,
            },
        }
    }
}
