//! The one error type of the sinks, with a hint for the operator in every message.

use std::io;
use std::path::PathBuf;

/// What the operator is told after every failed write: nothing was acknowledged, so nothing is lost.
const REDELIVERED: &str =
    "nothing was acknowledged, so the next run delivers the pending blobs again";

/// Why a sink refused or failed a batch. Every variant except [`SinkError::OutputClosed`] is a runtime failure:
/// the blob stays not done and the next run delivers it again.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The reader of standard output went away (EPIPE, e.g. `o365sync run … | head`). Not a failure: the run
    /// should stop cleanly (exit 0) without marking the blob done.
    #[error("output closed: the reader of standard output went away")]
    OutputClosed,

    /// A file system operation failed.
    #[error("cannot {action} `{}`: {cause}; {}; {REDELIVERED}", path.display(), io_hint(cause))]
    Io {
        /// What was being done, e.g. `rename into place`.
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        cause: io::Error,
    },

    /// Writing to standard output failed for another reason than a closed pipe.
    #[error(
        "cannot write to standard output: {cause}; {}; {REDELIVERED}",
        io_hint(cause)
    )]
    Stdout {
        /// The operating system's error.
        cause: io::Error,
    },

    /// The SQLite database refused an operation.
    #[error("sqlite sink `{}`: cannot {action}: {cause}; {}; {REDELIVERED}", path.display(), sqlite_hint(cause))]
    Sqlite {
        /// What was being done, e.g. `insert events`.
        action: &'static str,
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        cause: rusqlite::Error,
    },

    /// The database was created by a newer o365sync with a schema this version does not know.
    #[error(
        "sqlite sink `{}` has schema version {found}, newer than the {supported} this o365sync understands: upgrade o365sync or point sink.path at a new file",
        path.display()
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Its `PRAGMA user_version`.
        found: i64,
        /// The version this build writes.
        supported: i64,
    },

    /// An event's serialized line cannot be stored as one JSON line.
    #[error(
        "event `{id}` of blob `{content_id}` cannot be written: {reason}; this is a bug in the normalizer, please report it"
    )]
    InvalidEvent {
        /// The record `Id`.
        id: String,
        /// The blob it came from.
        content_id: String,
        /// What is wrong with its line.
        reason: &'static str,
    },

    /// A large blob's events, spilled to a temporary file in the state directory, could not be read back.
    #[error(
        "cannot read a blob's events back from its temporary file in the state directory: {cause}; check the free \
         space and permissions of the state directory (--state-dir); {REDELIVERED}"
    )]
    Spool {
        /// The operating system's error.
        cause: io::Error,
    },

    /// The sink section of the job is inconsistent.
    #[error("invalid sink configuration: {0}")]
    Config(String),

    /// The blocking worker that runs a write stopped (it panicked or the runtime shut down).
    #[error("the sink worker stopped before acknowledging: {0}; {REDELIVERED}")]
    Worker(String),

    /// A destination's credential (API key, password, HEC token) could not be read. Names the source, never the
    /// value.
    #[error("cannot read the {what} from {source_name}: {reason}; {hint}")]
    Secret {
        /// What the secret is, e.g. `Elasticsearch API key`.
        what: &'static str,
        /// Where it should come from, e.g. `environment variable ES_API_KEY`.
        source_name: String,
        /// Why it could not be read.
        reason: String,
        /// What to do.
        hint: &'static str,
    },

    /// A network destination refused or failed a request, or never acknowledged it.
    #[error("{destination}: {problem}; {hint}; {REDELIVERED}")]
    Remote {
        /// The sink's description (type and host, never a credential).
        destination: String,
        /// What went wrong, with the destination's own error text where it gave one.
        problem: String,
        /// What to do.
        hint: String,
    },
}

impl SinkError {
    /// True for [`SinkError::OutputClosed`]: the executor stops the run, leaves the blob not done and exits 0.
    pub fn is_output_closed(&self) -> bool {
        matches!(self, SinkError::OutputClosed)
    }

    /// An [`SinkError::Io`] for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, cause: io::Error) -> Self {
        SinkError::Io {
            action,
            path: path.into(),
            cause,
        }
    }

    /// An [`SinkError::Sqlite`] for `action` on `path`.
    pub(crate) fn sqlite(
        action: &'static str,
        path: impl Into<PathBuf>,
        cause: rusqlite::Error,
    ) -> Self {
        SinkError::Sqlite {
            action,
            path: path.into(),
            cause,
        }
    }
}

/// What to do about an I/O error, by kind.
fn io_hint(e: &io::Error) -> &'static str {
    use io::ErrorKind::*;
    match e.kind() {
        StorageFull | QuotaExceeded | FileTooLarge => {
            "the file system is full: free space or point sink.path at a larger volume"
        }
        PermissionDenied => {
            "permission denied: give the user running o365sync write access, or change sink.path"
        }
        ReadOnlyFilesystem => {
            "the file system is read-only: remount it read-write, or change sink.path"
        }
        NotADirectory => {
            "a component of the path is a file, not a directory: move that file away, or change sink.path"
        }
        IsADirectory => "the path is a directory: remove it, or change sink.path",
        AlreadyExists => {
            "a file is in the way of a directory the sink needs: move it away, or change sink.path"
        }
        NotFound => {
            "a directory of the path vanished: check that sink.path exists and is not being moved"
        }
        _ => "check sink.path and the file system it is on",
    }
}

/// What to do about a SQLite error, by its primary code.
fn sqlite_hint(e: &rusqlite::Error) -> &'static str {
    use rusqlite::ErrorCode::*;
    match e.sqlite_error_code() {
        Some(DiskFull) => {
            "the file system is full: free space or point sink.path at a larger volume"
        }
        Some(ReadOnly) => {
            "the database is read-only: make the file and its directory writable (the file system too), or change sink.path"
        }
        Some(PermissionDenied) | Some(CannotOpen) => {
            "give the user running o365sync write access to the file and its directory, or change sink.path"
        }
        Some(DatabaseBusy) | Some(DatabaseLocked) => {
            "another process holds the database: stop it or give this job its own sink.path"
        }
        Some(DatabaseCorrupt) | Some(NotADatabase) => {
            "the file is not a healthy SQLite database: move it away and run again"
        }
        _ => "check sink.path and the file system it is on",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_say_what_to_do() {
        let full = SinkError::io(
            "write",
            "/out/x.jsonl",
            io::Error::from(io::ErrorKind::StorageFull),
        );
        let text = full.to_string();
        assert!(text.starts_with("cannot write `/out/x.jsonl`"), "{text}");
        assert!(text.contains("free space"), "{text}");
        assert!(text.contains("delivers the pending blobs again"), "{text}");
        assert!(!text.ends_with('.'), "{text}");

        let ro = SinkError::io(
            "create",
            "/ro",
            io::Error::from(io::ErrorKind::ReadOnlyFilesystem),
        );
        assert!(ro.to_string().contains("remount it read-write"));
        assert!(!ro.is_output_closed());
        assert!(SinkError::OutputClosed.is_output_closed());
    }
}
