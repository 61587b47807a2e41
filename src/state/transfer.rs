//! `state export` and `state import`: one job's state database moved between state directories (volumes), for
//! re-sharding (a job moves to another StatefulSet replica, whose volume holds its state) or a restore.
//!
//! Export copies a consistent snapshot (`VACUUM INTO`, under the job's lock) to a new file, mode 0600, through a
//! temporary file that is linked into place only when complete (an existing file is never overwritten). The copy is
//! self-contained: no `-wal` file goes with it.
//!
//! Import checks the file before anything is created or changed (read-only, `immutable`: SQLite writes nothing next
//! to it): an o365sync state database of this job, of a schema this build knows, undamaged, recorded for the tenant,
//! cloud and client ID the job file names. Then, under the job's lock, it copies the file to a temporary file in the
//! state directory (0600), checks the copy again, migrates an older schema as opening does, syncs it and renames it
//! over `<job>.sqlite3`. Replacing existing state needs `force`; the replaced state's `-wal` and `-shm` are removed
//! first (after a best-effort checkpoint), as SQLite would otherwise apply them to the imported database.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::store::{self, JobState, StateDir};
use super::types::Identity;
use super::{StateError, schema};

/// What `state export` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// The job name.
    pub job: String,
    /// The job's state database that was copied.
    pub database: PathBuf,
    /// The file written.
    pub file: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its schema version.
    pub schema_version: i64,
    /// Content types with a live watermark.
    pub watermarks: usize,
    /// Record Ids in its record ledger.
    pub record_ledger: i64,
}

/// What `state import` installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The job name.
    pub job: String,
    /// The file read.
    pub file: PathBuf,
    /// The job's state database now.
    pub database: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The schema version the file had.
    pub schema_version_found: i64,
    /// The schema version installed (the file's, migrated to this build's).
    pub schema_version: i64,
    /// Content types with a live watermark.
    pub watermarks: usize,
    /// Record Ids in its record ledger.
    pub record_ledger: i64,
    /// Whether it replaced state the job had (`force`).
    pub replaced: bool,
}

/// `state export`: writes a consistent copy of `job`'s state database in `dir` to `dest`, a new file (mode 0600),
/// under the job's lock ([`StateError::Locked`] while a run holds it). Refused when `dest` exists or the job has no
/// state; nothing is created in `dir` then.
pub fn export(dir: &Path, job: &str, dest: &Path) -> Result<ExportReport, StateError> {
    store::check_job_name(job)?;
    let database = store::database_path(dir, job);
    if !database.exists() {
        return Err(StateError::NoState {
            job: job.to_owned(),
            path: database,
        });
    }
    if dest.symlink_metadata().is_ok() {
        return Err(StateError::ExportTargetExists(dest.to_owned()));
    }
    let _lock = StateDir::open(dir)?.lock(job)?;
    let conn = schema::open(&database, job, false)?.ok_or_else(|| StateError::NoState {
        job: job.to_owned(),
        path: database.clone(),
    })?;
    // Every writer holds the lock we hold: this summary describes exactly what is copied.
    let summary = super::show(dir, job, 0)?;
    let tmp = sibling(dest, "export");
    let unwritable = |p: &Path| {
        let p = p.to_owned();
        move |source| StateError::Unwritable { path: p, source }
    };
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        // VACUUM INTO writes into an existing file only when it is empty: create it 0600 first.
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(unwritable(&tmp))?;
        let tmp_str = utf8(&tmp)?;
        conn.execute("VACUUM INTO ?1", [tmp_str])
            .map_err(|e| StateError::sqlite(&database, e))?;
        conn.close()
            .map_err(|(_, e)| StateError::sqlite(&database, e))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(unwritable(&tmp))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(unwritable(&tmp))?;
        let bytes = std::fs::metadata(&tmp).map_err(unwritable(&tmp))?.len();
        place_new(&tmp, dest)?;
        Ok(bytes)
    })();
    let _ = std::fs::remove_file(&tmp);
    let bytes = written?;
    sync_parent(dest);
    Ok(ExportReport {
        job: job.to_owned(),
        database,
        file: dest.to_owned(),
        bytes,
        schema_version: summary.schema_version.unwrap_or(schema::CURRENT_VERSION),
        watermarks: summary
            .content_types
            .iter()
            .filter(|c| c.watermark.is_some())
            .count(),
        record_ledger: summary.record_ledger,
    })
}

/// `state import`: installs the state database `file` (written by [`export`]) as `job`'s state in `dir`.
///
/// `expected` is what the job file names (see `reconcile::identity`): the tenant ID, cloud and client ID recorded in
/// the file must match it (a state recorded without them is accepted). Refused, with nothing created or changed,
/// when the file is not such a database ([`StateError::NotStateFile`], also for a damaged or truncated file), is of
/// another job ([`StateError::ImportOtherJob`]) or identity ([`StateError::ImportIdentity`]), is newer than this
/// build, when the job's lock is held, and when the job has state already unless `force`.
pub fn import(
    dir: &Path,
    job: &str,
    file: &Path,
    expected: &Identity,
    force: bool,
) -> Result<ImportReport, StateError> {
    store::check_job_name(job)?;
    let schema_version_found = {
        let conn = open_immutable(file)?;
        inspect(&conn, file, job, expected)?
    };
    let state_dir = StateDir::open(dir)?;
    let _lock = state_dir.lock(job)?;
    let database = state_dir.database_path(job);
    let replaced = database.exists();
    if replaced && !force {
        return Err(StateError::ImportWouldReplace {
            job: job.to_owned(),
            path: database,
        });
    }
    let tmp = sibling(&database, "import");
    remove_with_journals(&tmp);
    let installed = (|| {
        copy_private(file, &tmp)?;
        // The file may have changed since it was checked: check the copy, then migrate it as opening does.
        let copy = schema::connect(&tmp)?;
        inspect(&copy, file, job, expected)?;
        copy.close().map_err(|(_, e)| StateError::sqlite(&tmp, e))?;
        let conn = schema::open(&tmp, job, false)?.ok_or_else(|| StateError::NotStateFile {
            path: file.to_owned(),
            detail: "the copy vanished".into(),
        })?;
        // Out of WAL mode: the WAL is checkpointed into the file and removed, so the file alone is the state.
        conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
            r.get::<_, String>(0)
        })
        .map_err(|e| StateError::sqlite(&tmp, e))?;
        conn.close().map_err(|(_, e)| StateError::sqlite(&tmp, e))?;
        let summary =
            JobState::new(job.to_owned(), tmp.clone(), schema::connect(&tmp)?, None).summary(0)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(unwritable(&tmp))?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(unwritable(&tmp))?;
        let bytes = std::fs::metadata(&tmp).map_err(unwritable(&tmp))?.len();
        if replaced {
            retire(&database)?;
        }
        std::fs::rename(&tmp, &database).map_err(unwritable(&database))?;
        sync_parent(&database);
        Ok(ImportReport {
            job: job.to_owned(),
            file: file.to_owned(),
            database: database.clone(),
            bytes,
            schema_version_found,
            schema_version: summary.schema_version.unwrap_or(schema::CURRENT_VERSION),
            watermarks: summary
                .content_types
                .iter()
                .filter(|c| c.watermark.is_some())
                .count(),
            record_ledger: summary.record_ledger,
            replaced,
        })
    })();
    if installed.is_err() {
        remove_with_journals(&tmp);
    }
    installed
}

fn unwritable(p: &Path) -> impl FnOnce(std::io::Error) -> StateError + use<> {
    let p = p.to_owned();
    move |source| StateError::Unwritable { path: p, source }
}

fn utf8(p: &Path) -> Result<&str, StateError> {
    p.to_str().ok_or_else(|| StateError::Unwritable {
        path: p.to_owned(),
        source: std::io::Error::other("the path is not UTF-8"),
    })
}

/// A hidden temporary name next to `path`: `.NAME.WHAT-PID`.
fn sibling(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
}

fn sync_parent(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let _ = std::fs::File::open(parent).and_then(|d| d.sync_all());
}

/// Moves the complete `tmp` to `dest` without ever replacing an existing `dest`: a hard link fails when `dest`
/// exists; where hard links are not supported, a check and a rename.
fn place_new(tmp: &Path, dest: &Path) -> Result<(), StateError> {
    match std::fs::hard_link(tmp, dest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(StateError::ExportTargetExists(dest.to_owned()))
        }
        Err(_) if dest.symlink_metadata().is_ok() => {
            Err(StateError::ExportTargetExists(dest.to_owned()))
        }
        Err(_) => std::fs::rename(tmp, dest).map_err(unwritable(dest)),
    }
}

/// Opens `file` read-only as an immutable database: SQLite creates no `-wal`, `-shm` or journal next to it and
/// takes no lock.
fn open_immutable(file: &Path) -> Result<Connection, StateError> {
    let not_state = |detail: String| StateError::NotStateFile {
        path: file.to_owned(),
        detail,
    };
    let meta = std::fs::metadata(file).map_err(|source| StateError::Unreadable {
        path: file.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        return Err(not_state("not a regular file".into()));
    }
    if meta.len() == 0 {
        return Err(not_state("the file is empty".into()));
    }
    let absolute = std::path::absolute(file).map_err(|source| StateError::Unreadable {
        path: file.to_owned(),
        source,
    })?;
    let mut uri = url::Url::from_file_path(&absolute)
        .map_err(|()| not_state("its path cannot be given to SQLite".into()))?;
    uri.set_query(Some("immutable=1"));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(uri.as_str(), flags)
        .map_err(|e| not_state(format!("SQLite cannot open it: {e}")))
}

/// Checks that `conn` (a copy or the file itself) holds an undamaged o365sync state database of `job`, of a schema
/// this build knows, recorded for `expected`'s tenant, cloud and client ID. Returns its schema version.
fn inspect(
    conn: &Connection,
    file: &Path,
    job: &str,
    expected: &Identity,
) -> Result<i64, StateError> {
    let not_state = |detail: String| StateError::NotStateFile {
        path: file.to_owned(),
        detail,
    };
    let sql = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => not_state("not a SQLite database".into()),
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            not_state(format!("damaged or truncated: {e}"))
        }
        _ => not_state(format!("SQLite cannot read it: {e}")),
    };
    let schema::Header {
        app_id,
        version,
        objects,
    } = schema::header(conn).map_err(sql)?;
    if objects == 0 {
        return Err(not_state("a SQLite database without tables".into()));
    }
    if app_id != schema::APPLICATION_ID {
        return Err(not_state(format!(
            "a SQLite database with application id {app_id:#x}, not o365sync state"
        )));
    }
    if version > schema::CURRENT_VERSION {
        return Err(StateError::NewerSchema {
            path: file.to_owned(),
            found: version,
            supported: schema::CURRENT_VERSION,
        });
    }
    if version < 1 {
        return Err(not_state(format!("schema version {version}")));
    }
    let check: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(sql)?;
    if check != "ok" {
        return Err(not_state(format!("damaged: {check}")));
    }
    let mut meta = conn.prepare("SELECT key, value FROM meta").map_err(sql)?;
    let rows: Vec<(String, String)> = meta
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(sql)?;
    let value = |key: &str| rows.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    match value("job") {
        Some(found) if found == job => {}
        Some(found) => {
            return Err(StateError::ImportOtherJob {
                path: file.to_owned(),
                job: job.to_owned(),
                found: found.to_owned(),
            });
        }
        None => return Err(not_state("the job name is missing".into())),
    }
    for (key, what, fold) in [
        ("tenant_id", "tenant", true),
        ("cloud", "cloud", false),
        ("client_id", "client ID", true),
    ] {
        let (Some(found), Some(want)) = (value(key), expected.get(key)) else {
            continue;
        };
        let same = if fold {
            found.eq_ignore_ascii_case(want)
        } else {
            found == want
        };
        if !same {
            return Err(StateError::ImportIdentity {
                path: file.to_owned(),
                job: job.to_owned(),
                what,
                found: found.to_owned(),
                expected: want.to_owned(),
            });
        }
    }
    Ok(version)
}

/// Copies `from` to the new file `to`, created with mode 0600, and syncs it.
fn copy_private(from: &Path, to: &Path) -> Result<(), StateError> {
    let mut source = std::fs::File::open(from).map_err(|source| StateError::Unreadable {
        path: from.to_owned(),
        source,
    })?;
    let mut dest = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(unwritable(to))?;
    std::io::copy(&mut source, &mut dest).map_err(unwritable(to))?;
    dest.flush().map_err(unwritable(to))?;
    dest.sync_all().map_err(unwritable(to))
}

/// Before the imported file takes the name of `database`: its WAL is checkpointed when possible (a crash before the
/// rename leaves the replaced state whole), then its `-wal` and `-shm` are removed, which SQLite would otherwise
/// apply to the imported file.
fn retire(database: &Path) -> Result<(), StateError> {
    if let Ok(conn) = schema::connect(database) {
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let _ = conn.close();
    }
    for suffix in ["-wal", "-shm"] {
        let p = with_suffix(database, suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(unwritable(&p)(e)),
        }
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.to_owned().into_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn remove_with_journals(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(with_suffix(path, suffix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state database of job `t` at schema version `version`, with one watermark, tenant `tenant`.
    fn old_export(path: &Path, version: usize, tenant: &str) {
        let mut conn = Connection::open(path).unwrap();
        schema::migrate(&mut conn, path, &schema::MIGRATIONS[..version]).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO meta (key, value) VALUES ('job', 't'), ('tenant_id', '{tenant}'), ('cloud', 'gcc');
             INSERT INTO watermark (content_type, at_ns, updated_ns) VALUES ('Audit.Exchange', 5, 6);"
        ))
        .unwrap();
    }

    fn tenant(id: &str) -> Identity {
        Identity {
            tenant_id: Some(id.into()),
            cloud: Some("gcc".into()),
            client_id: Some("c".into()),
            ..Identity::default()
        }
    }

    #[test]
    fn an_older_schema_is_migrated_on_import_and_the_file_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("old.export");
        old_export(&file, 3, "ABC");
        let original = std::fs::read(&file).unwrap();
        let state = dir.path().join("state");
        let r = import(&state, "t", &file, &tenant("abc"), false).unwrap();
        assert_eq!(
            (
                r.schema_version_found,
                r.schema_version,
                r.watermarks,
                r.replaced
            ),
            (3, schema::CURRENT_VERSION, 1, false)
        );
        assert_eq!(std::fs::read(&file).unwrap(), original);
        let shown = super::super::show(&state, "t", 0).unwrap();
        assert_eq!(shown.schema_version, Some(schema::CURRENT_VERSION));
        assert_eq!(shown.identity.tenant_id.as_deref(), Some("ABC"));
        let mode = std::fs::metadata(&r.database).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn refusals_leave_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("old.export");
        old_export(&file, 4, "abc");
        let state = dir.path().join("state");
        let err = import(&state, "t", &file, &tenant("other"), false).unwrap_err();
        assert!(
            matches!(err, StateError::ImportIdentity { what: "tenant", .. }),
            "{err}"
        );
        let err = import(&state, "u", &file, &tenant("abc"), false).unwrap_err();
        assert!(matches!(err, StateError::ImportOtherJob { .. }), "{err}");
        assert_eq!(err.outcome(), crate::exit::Outcome::Invalid);
        assert!(!state.exists());
        // a state recorded without an identity is accepted
        import(&state, "t", &file, &Identity::default(), false).unwrap();
        let err = import(&state, "t", &file, &tenant("abc"), false).unwrap_err();
        assert!(
            matches!(err, StateError::ImportWouldReplace { .. }),
            "{err}"
        );
        let names: Vec<String> = std::fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    }

    #[test]
    fn export_refuses_a_job_without_state_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let err = export(&state, "t", &dir.path().join("t.export")).unwrap_err();
        assert!(matches!(err, StateError::NoState { .. }), "{err}");
        assert!(!state.exists() && !dir.path().join("t.export").exists());
    }
}
