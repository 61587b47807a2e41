//! The `sqlite` sink: one table of events keyed by record `Id`.
//!
//! ```sql
//! CREATE TABLE events (
//!     id           TEXT PRIMARY KEY NOT NULL,  -- the audit record's Id (OCSF metadata.uid)
//!     time         INTEGER NOT NULL,           -- event time, milliseconds since the Unix epoch (OCSF time)
//!     class_uid    INTEGER NOT NULL,           -- OCSF class_uid
//!     content_type TEXT NOT NULL,              -- e.g. Audit.Exchange
//!     tenant       TEXT NOT NULL,              -- tenant (directory) ID
//!     content_id   TEXT NOT NULL,              -- the blob the event was first written from
//!     event        TEXT NOT NULL               -- the JSON event, as in the jsonl output
//! );
//! CREATE INDEX events_time ON events (time);
//! CREATE INDEX events_class_time ON events (class_uid, time);
//! ```
//!
//! Writes use `INSERT OR IGNORE`, one transaction per batch, so a re-delivered blob or a record repeated in another
//! blob adds nothing. The database runs in WAL mode with `synchronous = FULL` (a committed batch survives power loss,
//! which is what the acknowledgement promises); readers can query while the sink writes. A new database file is
//! created with mode 0600 (SQLite gives its `-wal` and `-shm` files the same mode). The schema version is kept in
//! `PRAGMA user_version`.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};

use super::{Ack, BlobMeta, EventParts, FileMode, Sink, SinkError, UniqueEvents};

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id           TEXT PRIMARY KEY NOT NULL,
    time         INTEGER NOT NULL,
    class_uid    INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    tenant       TEXT NOT NULL,
    content_id   TEXT NOT NULL,
    event        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE INDEX IF NOT EXISTS events_class_time ON events (class_uid, time);
";

const INSERT: &str =
    "INSERT OR IGNORE INTO events (id, time, class_uid, content_type, tenant, content_id, event)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// The `sqlite` sink.
#[derive(Debug)]
pub struct SqliteSink {
    path: PathBuf,
    conn: Connection,
}

impl SqliteSink {
    /// Opens (creating if needed, with its parent directories) the database at `path`, created with mode `0600`
    /// ([`FileMode::SQLITE`]).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, SinkError> {
        SqliteSink::open_with_mode(path, FileMode::SQLITE)
    }

    /// Opens (creating if needed, with its parent directories) the database at `path`. A new database file gets
    /// `mode` exactly (SQLite gives its `-wal` and `-shm` files the same), new directories [`FileMode::dir`]; an
    /// existing database keeps its mode.
    pub fn open_with_mode(path: impl Into<PathBuf>, mode: FileMode) -> Result<Self, SinkError> {
        let path = path.into();
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        mode.create_dir_all(dir, |_| Ok(()))?;
        // SQLite reports a read-only or full file system only as "unable to open database file": a probe of our own
        // gets the precise error (SQLite needs to create its -wal and -shm files next to the database anyway).
        probe_writable(dir)?;
        create_new_file(&path, mode)?;
        let err = |action| {
            let path = path.clone();
            move |e| SinkError::sqlite(action, path, e)
        };
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(err("open the database"))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(err("set the busy timeout"))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(err("switch to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SinkError::io(
                "switch to WAL mode",
                &path,
                std::io::Error::other(format!("journal mode stayed `{mode}`")),
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err("set synchronous = FULL"))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(err("read the schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(SinkError::NewerSchema {
                path,
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < SCHEMA_VERSION {
            conn.execute_batch(&format!(
                "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(err("create the events table"))?;
        }
        Ok(SqliteSink { path, conn })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates and removes a hidden file in `dir`, to turn an unwritable directory into a precise error.
fn probe_writable(dir: &Path) -> Result<(), SinkError> {
    let probe = dir.join(format!(".o365sync-probe-{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .map_err(|e| SinkError::io("create a file in", dir, e))?;
    std::fs::remove_file(&probe).map_err(|e| SinkError::io("remove", &probe, e))
}

/// Creates `path` with exactly `mode` if it does not exist (an existing file keeps its mode).
fn create_new_file(path: &Path, mode: FileMode) -> Result<(), SinkError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode.file());
    match options.open(path) {
        Ok(file) => mode
            .apply(&file)
            .and_then(|()| file.sync_all())
            .map_err(|e| SinkError::io("create database file", path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(SinkError::io("create database file", path, e)),
    }
}

impl Sink for SqliteSink {
    fn write_parts(
        &mut self,
        blob: &BlobMeta,
        parts: &mut dyn EventParts,
    ) -> Result<Ack, SinkError> {
        let mut unique = UniqueEvents::new(blob);
        let path = &self.path;
        let err = |action| move |e| SinkError::sqlite(action, path, e);
        // One transaction for the whole blob: an error (or a failing part) rolls it back when `tx` drops.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err("begin a transaction"))?;
        let mut written = 0;
        {
            let mut insert = tx
                .prepare_cached(INSERT)
                .map_err(err("prepare the insert"))?;
            while let Some(part) = parts.next_part()? {
                for event in part {
                    if !unique.admit(event)? {
                        continue;
                    }
                    // admit checked the line is UTF-8.
                    let json = std::str::from_utf8(&event.line).unwrap_or_default();
                    written += insert
                        .execute(params![
                            event.id,
                            event.time.as_millisecond(),
                            event.class_uid,
                            blob.content_type.as_str(),
                            event.tenant,
                            blob.content_id,
                            json,
                        ])
                        .map_err(err("insert events"))?;
                }
            }
        }
        if unique.len() == 0 {
            // nothing was written: no commit to sync
            drop(tx);
        } else {
            tx.commit().map_err(err("commit the batch"))?;
        }
        Ok(Ack {
            events: unique.len(),
            written,
        })
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }
}
