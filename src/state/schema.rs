//! The state database schema, its forward migrations and the checks made on every open.
//!
//! The schema version lives in `PRAGMA user_version`; `PRAGMA application_id` marks the file as ours. Migration `i`
//! (0-based) takes the schema from version `i` to `i + 1` inside one transaction, so a crash mid-migration leaves the
//! old version intact. A file whose version is newer than [`CURRENT_VERSION`] is refused and left untouched.

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::StateError;

/// `PRAGMA application_id` of an o365sync state database ("O365").
pub const APPLICATION_ID: i64 = 0x4F33_3635;

/// How long a statement waits for another connection's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// The forward migrations; `MIGRATIONS[i]` upgrades version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4];

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Tables every current database has (checked on open to catch a wrong or damaged schema).
const TABLES: &[&str] = &[
    "meta",
    "watermark",
    "completed_window",
    "content",
    "record",
    "subscription",
    "backfill",
    "gap",
    "run",
    "origin",
    "redelivered",
    "redelivered_blob",
    "audit_query",
];

/// Version 1. All instants are integer nanoseconds since the Unix epoch (UTC).
const V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE watermark (
    content_type TEXT PRIMARY KEY NOT NULL,
    at_ns        INTEGER NOT NULL,
    updated_ns   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE completed_window (
    content_type TEXT NOT NULL,
    track        TEXT NOT NULL CHECK (track IN ('live', 'backfill')),
    start_ns     INTEGER NOT NULL,
    end_ns       INTEGER NOT NULL CHECK (end_ns > start_ns),
    PRIMARY KEY (content_type, track, start_ns)
) WITHOUT ROWID;

CREATE TABLE content (
    content_type    TEXT NOT NULL,
    content_id      TEXT NOT NULL,
    created_ns      INTEGER NOT NULL,
    expiration_ns   INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'done', 'gap')),
    records_written INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    first_seen_ns   INTEGER NOT NULL,
    updated_ns      INTEGER NOT NULL,
    PRIMARY KEY (content_type, content_id)
) WITHOUT ROWID;
CREATE INDEX content_by_expiration ON content (expiration_ns);

CREATE TABLE record (
    record_id     TEXT PRIMARY KEY NOT NULL,
    content_type  TEXT NOT NULL,
    first_seen_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX record_by_first_seen ON record (first_seen_ns);

CREATE TABLE subscription (
    content_type  TEXT PRIMARY KEY NOT NULL,
    last_start_ns INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE backfill (
    content_type TEXT NOT NULL,
    from_ns      INTEGER NOT NULL,
    to_ns        INTEGER NOT NULL,
    position_ns  INTEGER NOT NULL,
    started_ns   INTEGER NOT NULL,
    updated_ns   INTEGER NOT NULL,
    finished_ns  INTEGER,
    PRIMARY KEY (content_type, from_ns, to_ns)
) WITHOUT ROWID;

CREATE TABLE gap (
    id           INTEGER PRIMARY KEY,
    content_type TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('window', 'blob')),
    start_ns     INTEGER NOT NULL,
    end_ns       INTEGER NOT NULL,
    content_id   TEXT NOT NULL DEFAULT '',
    reason       TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '',
    recorded_ns  INTEGER NOT NULL,
    UNIQUE (content_type, kind, start_ns, end_ns, content_id)
);

CREATE TABLE run (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    started_ns INTEGER NOT NULL,
    ended_ns   INTEGER,
    outcome    TEXT,
    counters   TEXT
);
";

/// Version 2: the record ledger is keyed by `(bucket, record_id)`, where `bucket` is the hour (since the Unix epoch)
/// of the record's own creation time: copies of a record share it, and one blob's records fall in a few adjacent
/// buckets, so a blob's inserts and look-ups touch a few pages instead of pages all over an index of random Ids.
/// `record_id` holds a GUID `Id` as its 16 bytes (a BLOB), any other `Id` as text.
/// Ids of version 1 (no time known) move to the [`super::store::BUCKET_MIGRATED`] bucket, which look-ups also
/// search until pruning has emptied it; records without a time go to [`super::store::BUCKET_UNTIMED`].
const V2: &str = "
CREATE TABLE record_v2 (
    bucket        INTEGER NOT NULL,
    record_id     TEXT NOT NULL,
    first_seen_ns INTEGER NOT NULL,
    PRIMARY KEY (bucket, record_id)
) WITHOUT ROWID;
INSERT INTO record_v2 (bucket, record_id, first_seen_ns) SELECT -2, record_id, first_seen_ns FROM record;
DROP TABLE record;
ALTER TABLE record_v2 RENAME TO record;
CREATE INDEX record_by_first_seen ON record (first_seen_ns);
";

/// Version 3: what the job file asked for, so a changed job file can be reconciled with the state.
/// - `origin`: per content type, where the job's history begins (the first run's start, moved earlier when the job
///   file's `start` moves earlier) and the `start` as the job file wrote it at the last run. Existing content types
///   get the earlier of their watermark and their oldest completed live window, and an unknown (empty) `start`.
/// - `backfill.kind`: `command` (`o365sync backfill`), `start` (the range a `start` moved earlier added, read by
///   `run`) or `redeliver` (`backfill --redeliver`); part of the key, so the three never share progress.
/// - `completed_window.track` may be `redeliver`: a redelivery's own progress, never mixed with the live or
///   backfill windows it reads again.
/// - `redelivered`: the record Ids a redelivery has delivered to the current sink (keyed like `record`), so a record
///   in two blobs is redelivered once, and `redelivered_blob` the blobs it has committed (a resumed redelivery
///   skips them: writing such a blob again would replace its delivered records with the rest); both emptied when
///   no redelivery is left unfinished.
///
/// The tenant, cloud, client ID, certificate thumbprint and sink the state was last run with live in `meta`.
const V3: &str = "
CREATE TABLE origin (
    content_type TEXT PRIMARY KEY NOT NULL,
    at_ns        INTEGER NOT NULL,
    start        TEXT NOT NULL,
    updated_ns   INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO origin (content_type, at_ns, start, updated_ns)
    SELECT w.content_type,
           min(w.at_ns, coalesce((SELECT min(c.start_ns) FROM completed_window c
                                  WHERE c.content_type = w.content_type AND c.track = 'live'), w.at_ns)),
           '', w.updated_ns
    FROM watermark w;

CREATE TABLE backfill_v3 (
    content_type TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('command', 'start', 'redeliver')),
    from_ns      INTEGER NOT NULL,
    to_ns        INTEGER NOT NULL,
    position_ns  INTEGER NOT NULL,
    started_ns   INTEGER NOT NULL,
    updated_ns   INTEGER NOT NULL,
    finished_ns  INTEGER,
    PRIMARY KEY (content_type, kind, from_ns, to_ns)
) WITHOUT ROWID;
INSERT INTO backfill_v3 (content_type, kind, from_ns, to_ns, position_ns, started_ns, updated_ns, finished_ns)
    SELECT content_type, 'command', from_ns, to_ns, position_ns, started_ns, updated_ns, finished_ns FROM backfill;
DROP TABLE backfill;
ALTER TABLE backfill_v3 RENAME TO backfill;

CREATE TABLE completed_window_v3 (
    content_type TEXT NOT NULL,
    track        TEXT NOT NULL CHECK (track IN ('live', 'backfill', 'redeliver')),
    start_ns     INTEGER NOT NULL,
    end_ns       INTEGER NOT NULL CHECK (end_ns > start_ns),
    PRIMARY KEY (content_type, track, start_ns)
) WITHOUT ROWID;
INSERT INTO completed_window_v3 SELECT content_type, track, start_ns, end_ns FROM completed_window;
DROP TABLE completed_window;
ALTER TABLE completed_window_v3 RENAME TO completed_window;

CREATE TABLE redelivered (
    bucket    INTEGER NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (bucket, record_id)
) WITHOUT ROWID;
CREATE TABLE redelivered_blob (
    content_type TEXT NOT NULL,
    content_id   TEXT NOT NULL,
    PRIMARY KEY (content_type, content_id)
) WITHOUT ROWID;
";

/// Version 4: `audit_query`, the Purview Audit Search queries of `backfill` beyond the Management API's 7 days, one
/// per query window (all content types at once): the query ID, where it stands (`created` → `paging` → `done`, or
/// `gap`), the next page's link (empty: the first page), pages and records read, and how many queries were created
/// for the window. A resumed backfill polls and pages from here instead of creating the query again.
const V4: &str = "
CREATE TABLE audit_query (
    start_ns     INTEGER NOT NULL,
    end_ns       INTEGER NOT NULL CHECK (end_ns > start_ns),
    query_id     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('created', 'paging', 'done', 'gap')),
    next_link    TEXT NOT NULL DEFAULT '',
    pages_done   INTEGER NOT NULL DEFAULT 0,
    records_read INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 1,
    updated_ns   INTEGER NOT NULL,
    PRIMARY KEY (start_ns, end_ns)
) WITHOUT ROWID;
";

/// Pages of the state database kept in memory per connection, as SQLite's negative KiB count (4 MiB): the
/// record ledger's pages touched by a blob's look-ups and inserts stay cached between the two.
const CACHE_KIB: i64 = 4096;

/// WAL pages after which a commit checkpoints them into the database (SQLite's default is 1000): consecutive blobs
/// dirty the same ledger pages, so a larger WAL copies each page back once for many commits. The WAL file may grow
/// to about this many 4 KiB pages (40 MiB) on disk.
const WAL_CHECKPOINT_PAGES: i64 = 10_000;

/// Creates the state directory (mode 0700) when it is missing and checks that it is a directory.
pub fn ensure_dir(dir: &Path) -> Result<(), StateError> {
    use std::os::unix::fs::DirBuilderExt;
    let unwritable = |source| StateError::Unwritable {
        path: dir.to_owned(),
        source,
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(unwritable)?;
    }
    let meta = std::fs::metadata(dir).map_err(unwritable)?;
    if !meta.is_dir() {
        return Err(unwritable(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    Ok(())
}

/// Opens (creating and initializing when `create` and missing) the database of `job` at `path`, checks it, applies
/// pending migrations and sets the connection up (WAL, `synchronous = FULL`, busy timeout).
///
/// Returns `Ok(None)` when the file is missing and `create` is false.
pub fn open(path: &Path, job: &str, create: bool) -> Result<Option<Connection>, StateError> {
    if !path.exists() {
        if !create {
            return Ok(None);
        }
        initialize(path, job)?;
    }
    tighten_mode(path)?;
    let conn = connect(path)?;
    check_identity(&conn, path, job)?;
    let sql = |e| StateError::sqlite(path, e);
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StateError::NoWal {
            path: path.to_owned(),
            mode,
        });
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -{CACHE_KIB}; \
         PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES};"
    ))
    .map_err(sql)?;
    let mut conn = conn;
    migrate(&mut conn, path, MIGRATIONS)?;
    check_tables(&conn, path)?;
    check_job(&conn, path, job)?;
    Ok(Some(conn))
}

/// Builds a fresh database under a temporary name and renames it into place, so the final name never holds a
/// half-initialized file: an empty or headerless file there is damage, not a new database.
fn initialize(path: &Path, job: &str) -> Result<(), StateError> {
    let tmp = temp_name(path);
    let unwritable = |p: &Path| {
        let p = p.to_owned();
        move |source| StateError::Unwritable { path: p, source }
    };
    let _ = std::fs::remove_file(&tmp);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(unwritable(&tmp))?;
    let result = (|| {
        let mut conn = connect(&tmp)?;
        // Nothing needs a sync before the whole file is synced below, ahead of its rename into place: a crash
        // before then leaves only the temporary file (a dozen fsyncs fewer per new job).
        conn.execute_batch("PRAGMA synchronous = OFF")
            .map_err(|e| StateError::sqlite(&tmp, e))?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(|e| StateError::sqlite(&tmp, e))?;
        migrate(&mut conn, &tmp, MIGRATIONS)?;
        conn.execute("INSERT INTO meta (key, value) VALUES ('job', ?1)", [job])
            .map_err(|e| StateError::sqlite(&tmp, e))?;
        conn.close().map_err(|(_, e)| StateError::sqlite(&tmp, e))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(unwritable(&tmp))?;
        // Another process may have won the race to create it; theirs is as good as ours.
        if path.exists() {
            let _ = std::fs::remove_file(&tmp);
            return Ok(());
        }
        std::fs::rename(&tmp, path).map_err(unwritable(path))?;
        if let Some(parent) = path.parent() {
            let _ = std::fs::File::open(parent).and_then(|d| d.sync_all());
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        for suffix in ["-wal", "-shm"] {
            let mut s = tmp.clone().into_os_string();
            s.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(s));
        }
    }
    result
}

fn temp_name(path: &Path) -> PathBuf {
    let mut s = path.to_owned().into_os_string();
    s.push(format!(".init-{}", std::process::id()));
    PathBuf::from(s)
}

/// State files are mode 0600; a database found with wider permissions is tightened (SQLite gives its `-wal` and
/// `-shm` files the database's mode).
fn tighten_mode(path: &Path) -> Result<(), StateError> {
    let unwritable = |source| StateError::Unwritable {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(unwritable)?;
    if !meta.is_file() {
        return Err(StateError::Corrupt {
            path: path.to_owned(),
            detail: "not a regular file".into(),
        });
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(unwritable)?;
    }
    Ok(())
}

pub(crate) fn connect(path: &Path) -> Result<Connection, StateError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| StateError::sqlite(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| StateError::sqlite(path, e))?;
    // Every statement the store runs stays prepared (the store has about 60; the default keeps 16).
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// What a database's header and schema table say about it.
pub(crate) struct Header {
    /// `PRAGMA application_id` (ours: [`APPLICATION_ID`]).
    pub app_id: i64,
    /// `PRAGMA user_version`: the schema version.
    pub version: i64,
    /// Objects (tables, indexes) in its schema.
    pub objects: i64,
}

/// Reads the [`Header`] (reading it is also what makes SQLite notice a file that is not a database or is cut).
pub(crate) fn header(conn: &Connection) -> rusqlite::Result<Header> {
    Ok(Header {
        app_id: conn.query_row("PRAGMA application_id", [], |r| r.get(0))?,
        version: conn.query_row("PRAGMA user_version", [], |r| r.get(0))?,
        objects: conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?,
    })
}

/// Refuses files that are not SQLite, not ours, or newer than this build. Reading the header is also what makes
/// SQLite notice a truncated file.
fn check_identity(conn: &Connection, path: &Path, job: &str) -> Result<(), StateError> {
    let Header {
        app_id,
        version,
        objects,
    } = header(conn).map_err(|e| StateError::sqlite(path, e))?;
    if objects == 0 && version == 0 {
        return Err(StateError::Corrupt {
            path: path.to_owned(),
            detail: "the file holds no schema (empty or truncated)".into(),
        });
    }
    if app_id != APPLICATION_ID {
        return Err(StateError::Foreign {
            path: path.to_owned(),
            job: job.to_owned(),
            detail: format!("a SQLite database with application id {app_id:#x}"),
        });
    }
    if version > CURRENT_VERSION {
        return Err(StateError::NewerSchema {
            path: path.to_owned(),
            found: version,
            supported: CURRENT_VERSION,
        });
    }
    if version < 1 {
        return Err(StateError::Corrupt {
            path: path.to_owned(),
            detail: format!("schema version {version}"),
        });
    }
    Ok(())
}

/// Applies `migrations[v..]` to a database at version `v`, each in its own immediate transaction.
pub(crate) fn migrate(
    conn: &mut Connection,
    path: &Path,
    migrations: &[&str],
) -> Result<(), StateError> {
    let sql = |e| StateError::sqlite(path, e);
    // Up to date (the common case): no write lock needed, so `state show` never waits for a running job.
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql)?;
    if current == migrations.len() as i64 {
        return Ok(());
    }
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        let known = migrations.len() as i64;
        if version > known {
            return Err(StateError::NewerSchema {
                path: path.to_owned(),
                found: version,
                supported: known,
            });
        }
        if version == known {
            return Ok(());
        }
        let index = usize::try_from(version).map_err(|_| StateError::Corrupt {
            path: path.to_owned(),
            detail: format!("schema version {version}"),
        })?;
        tx.execute_batch(migrations[index]).map_err(sql)?;
        tx.execute_batch(&format!(
            "PRAGMA user_version = {}; PRAGMA application_id = {APPLICATION_ID};",
            version + 1
        ))
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
    }
}

fn check_tables(conn: &Connection, path: &Path) -> Result<(), StateError> {
    let mut stmt = conn
        .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1")
        .map_err(|e| StateError::sqlite(path, e))?;
    for table in TABLES {
        let present = stmt
            .exists([table])
            .map_err(|e| StateError::sqlite(path, e))?;
        if !present {
            return Err(StateError::Corrupt {
                path: path.to_owned(),
                detail: format!("table `{table}` is missing"),
            });
        }
    }
    Ok(())
}

fn check_job(conn: &Connection, path: &Path, job: &str) -> Result<(), StateError> {
    let found: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'job'", [], |r| r.get(0))
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(|e| StateError::sqlite(path, e))?;
    match found {
        Some(name) if name == job => Ok(()),
        Some(name) => Err(StateError::Foreign {
            path: path.to_owned(),
            job: job.to_owned(),
            detail: format!("it belongs to job `{name}`"),
        }),
        None => Err(StateError::Corrupt {
            path: path.to_owned(),
            detail: "the job name is missing".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_migration_upgrades_an_existing_database_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        initialize(&path, "t").unwrap();
        {
            let conn = connect(&path).unwrap();
            conn.execute(
                "INSERT INTO watermark (content_type, at_ns, updated_ns) VALUES ('Audit.Exchange', 5, 6)",
                [],
            )
            .unwrap();
        }
        let v5 = "ALTER TABLE watermark ADD COLUMN note TEXT NOT NULL DEFAULT 'migrated'";
        let mut conn = connect(&path).unwrap();
        migrate(&mut conn, &path, &[V1, V2, V3, V4, v5]).unwrap();
        let (at, note, version): (i64, String, i64) = conn
            .query_row(
                "SELECT at_ns, note, (SELECT user_version FROM pragma_user_version) FROM watermark",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((at, note.as_str(), version), (5, "migrated", 5));
        // running the same migrations again is a no-op
        migrate(&mut conn, &path, &[V1, V2, V3, V4, v5]).unwrap();
        // and this build (which only knows version 4) now refuses the file
        drop(conn);
        let err = open(&path, "t", false).unwrap_err();
        assert!(
            matches!(
                err,
                StateError::NewerSchema {
                    found: 5,
                    supported: 4,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_failing_migration_leaves_the_old_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        initialize(&path, "t").unwrap();
        let mut conn = connect(&path).unwrap();
        let bad = "CREATE TABLE extra (x INTEGER); INSERT INTO no_such_table VALUES (1);";
        assert!(migrate(&mut conn, &path, &[V1, V2, V3, V4, bad]).is_err());
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        let extra: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'extra'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!((version, extra), (4, 0));
    }

    #[test]
    fn version_3_gives_each_watermark_an_origin_and_keeps_backfills_and_windows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &path, &[V1, V2]).unwrap();
        conn.execute_batch(
            "INSERT INTO watermark VALUES ('Audit.Exchange', 500, 9), ('DLP.All', 700, 9);
             INSERT INTO completed_window VALUES ('Audit.Exchange', 'live', 300, 500),
                                                 ('Audit.Exchange', 'backfill', 100, 200);
             INSERT INTO backfill VALUES ('Audit.Exchange', 100, 200, 200, 1, 2, 3);",
        )
        .unwrap();
        migrate(&mut conn, &path, MIGRATIONS).unwrap();
        let origins: Vec<(String, i64, String)> = conn
            .prepare("SELECT content_type, at_ns, start FROM origin ORDER BY content_type")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            origins,
            [
                ("Audit.Exchange".to_owned(), 300, String::new()),
                ("DLP.All".to_owned(), 700, String::new())
            ]
        );
        let kind: String = conn
            .query_row("SELECT kind FROM backfill", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kind, "command");
        let windows: i64 = conn
            .query_row("SELECT count(*) FROM completed_window", [], |r| r.get(0))
            .unwrap();
        assert_eq!(windows, 2);
        conn.execute(
            "INSERT INTO completed_window VALUES ('DLP.All', 'redeliver', 1, 2)",
            [],
        )
        .unwrap();
    }
}
