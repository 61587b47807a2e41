//! The state directory and one job's state database: every read and write of checkpoints and ledgers.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use jiff::{SignedDuration, Timestamp};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, ToSql, Transaction, TransactionBehavior, params};

use super::types::*;
use super::window::{self, Window};
use super::{JobLock, StateError, schema};
use crate::content_type::ContentType;

/// Record Ids are kept this long after first seen (blobs live 7 days; one more day of margin).
pub const RECORD_LEDGER_RETENTION: SignedDuration = SignedDuration::from_hours(8 * 24);
/// Content ledger rows are kept this long after their `contentExpiration`.
pub const CONTENT_LEDGER_GRACE: SignedDuration = SignedDuration::from_hours(24);
/// Completed windows ending longer ago than this are forgotten (nothing that old can be listed again).
pub const WINDOW_RETENTION: SignedDuration = SignedDuration::from_hours(8 * 24);
/// The API wants at least this long between subscription start requests.
pub const SUBSCRIPTION_START_INTERVAL: SignedDuration = SignedDuration::from_mins(15);
/// How many run history entries are kept.
pub const RUN_HISTORY_KEPT: i64 = 1000;

/// Ids per `IN (...)` batch in content ledger look-ups.
const BATCH: usize = 500;

/// Record ledger bucket of records without a creation time.
pub const BUCKET_UNTIMED: i64 = -1;
/// Record ledger bucket of the Ids carried over from schema version 1 (whose times were not kept).
pub const BUCKET_MIGRATED: i64 = -2;

/// A record `Id` as the record ledger keys it: the Id and, when the record has one, its own creation time.
/// Copies of a record carry the same time, so they meet in the same bucket (the hour of that time).
pub trait LedgerKey {
    /// The record `Id`.
    fn record_id(&self) -> &str;
    /// The record's creation time (`CreationTime`), when it has one.
    fn created(&self) -> Option<Timestamp>;
}

impl<S: AsRef<str>> LedgerKey for S {
    fn record_id(&self) -> &str {
        self.as_ref()
    }

    fn created(&self) -> Option<Timestamp> {
        None
    }
}

impl LedgerKey for RecordKey {
    fn record_id(&self) -> &str {
        &self.id
    }

    fn created(&self) -> Option<Timestamp> {
        self.created
    }
}

/// The ledger bucket of a record created at `created`: the hour since the Unix epoch (never negative, so never one
/// of the special buckets).
pub fn ledger_bucket(created: Option<Timestamp>) -> i64 {
    created.map_or(BUCKET_UNTIMED, |t| t.as_second().div_euclid(3600).max(0))
}

/// A record `Id` as the ledger stores it: a GUID (what Microsoft's `Id`s are) as its 16 bytes, anything else as
/// text. Smaller rows mean fewer pages for a blob's inserts to touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum StoredId<'a> {
    Guid([u8; 16]),
    Text(&'a str),
}

impl<'a> StoredId<'a> {
    fn of(id: &'a str) -> Self {
        match uuid::Uuid::try_parse(id) {
            Ok(u) => StoredId::Guid(*u.as_bytes()),
            Err(_) => StoredId::Text(id),
        }
    }
}

impl ToSql for StoredId<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            StoredId::Guid(b) => ValueRef::Blob(b),
            StoredId::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

/// `(bucket, stored Id, Id)` of each key, sorted (B-tree order: neighbouring keys share pages).
fn sorted_keys<K: LedgerKey>(keys: &[K]) -> Vec<(i64, StoredId<'_>, &str)> {
    let mut v: Vec<(i64, StoredId<'_>, &str)> = keys
        .iter()
        .map(|k| {
            let id = k.record_id();
            (ledger_bucket(k.created()), StoredId::of(id), id)
        })
        .collect();
    v.sort_unstable();
    v
}

impl ToSql for ContentType {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(
            self.as_str().as_bytes(),
        )))
    }
}

impl FromSql for ContentType {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// Instants are stored as integer nanoseconds since the Unix epoch.
pub(crate) fn ns(t: Timestamp) -> Result<i64, StateError> {
    i64::try_from(t.as_nanosecond()).map_err(|_| StateError::TimeOutOfRange(t))
}

fn ts(n: i64) -> rusqlite::Result<Timestamp> {
    Timestamp::from_nanosecond(i128::from(n)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e))
    })
}

/// Internal error: a SQLite error (classified with the file path at the boundary) or a state error.
pub(crate) enum E {
    Sql(rusqlite::Error),
    State(StateError),
}

impl From<rusqlite::Error> for E {
    fn from(e: rusqlite::Error) -> Self {
        E::Sql(e)
    }
}

impl From<StateError> for E {
    fn from(e: StateError) -> Self {
        E::State(e)
    }
}

/// The state directory (`--state-dir`): one database `<job>.sqlite3` and one lock file `<job>.lock` per job.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// Opens the state directory, creating it with mode 0700 when missing.
    pub fn open(path: impl Into<PathBuf>) -> Result<StateDir, StateError> {
        let path = path.into();
        schema::ensure_dir(&path)?;
        Ok(StateDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database file of `job`.
    pub fn database_path(&self, job: &str) -> PathBuf {
        database_path(&self.path, job)
    }

    /// Takes `job`'s exclusive lock, failing at once with [`StateError::Locked`] when another run holds it.
    pub fn lock(&self, job: &str) -> Result<JobLock, StateError> {
        check_job_name(job)?;
        JobLock::acquire(&self.path, job)
    }

    /// Opens (creating on first use) the state of the job whose lock is `lock`. The state keeps the lock until
    /// dropped.
    pub fn open_job(&self, lock: JobLock) -> Result<JobState, StateError> {
        let path = self.database_path(lock.job());
        let conn = schema::open(&path, lock.job(), true)?.ok_or_else(|| StateError::Corrupt {
            path: path.clone(),
            detail: "the file vanished while being opened".into(),
        })?;
        Ok(JobState::new(lock.job().to_owned(), path, conn, Some(lock)))
    }

    /// `state rename OLD NEW`: moves the state of job `old` to job `new`, holding both jobs' locks. Refused when
    /// `new` already has state. The database is copied to a temporary file (a consistent snapshot, `VACUUM INTO`),
    /// renamed to `new` there, synced and moved into place; only then is the old file removed. A crash leaves the
    /// old state, or both (the old one stays authoritative until removed), never neither.
    pub fn rename(&self, old: &str, new: &str) -> Result<PathBuf, StateError> {
        check_job_name(old)?;
        check_job_name(new)?;
        if old == new {
            return Err(StateError::RenameToItself(old.to_owned()));
        }
        let _old_lock = self.lock(old)?;
        let _new_lock = self.lock(new)?;
        let (from, to) = (self.database_path(old), self.database_path(new));
        if to.exists() {
            return Err(StateError::RenameTargetExists {
                job: new.to_owned(),
                path: to,
            });
        }
        let conn = schema::open(&from, old, false)?.ok_or_else(|| StateError::NoState {
            job: old.to_owned(),
            path: from.clone(),
        })?;
        let mut tmp = to.clone().into_os_string();
        tmp.push(format!(".rename-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let unwritable = |p: &Path| {
            let p = p.to_owned();
            move |source| StateError::Unwritable { path: p, source }
        };
        let _ = std::fs::remove_file(&tmp);
        let copied = (|| {
            let tmp_str = tmp.to_str().ok_or_else(|| StateError::Unwritable {
                path: tmp.clone(),
                source: std::io::Error::other("the path is not UTF-8"),
            })?;
            conn.execute("VACUUM INTO ?1", [tmp_str])
                .map_err(|e| StateError::sqlite(&from, e))?;
            drop(conn);
            std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .map_err(unwritable(&tmp))?;
            let copy = Connection::open(&tmp).map_err(|e| StateError::sqlite(&tmp, e))?;
            copy.execute("UPDATE meta SET value = ?1 WHERE key = 'job'", [new])
                .map_err(|e| StateError::sqlite(&tmp, e))?;
            copy.close().map_err(|(_, e)| StateError::sqlite(&tmp, e))?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(unwritable(&tmp))?;
            std::fs::rename(&tmp, &to).map_err(unwritable(&to))?;
            sync_dir(&self.path);
            Ok(())
        })();
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut s = from.clone().into_os_string();
            s.push(suffix);
            match std::fs::remove_file(PathBuf::from(&s)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(unwritable(Path::new(&s))(e)),
            }
        }
        sync_dir(&self.path);
        Ok(to)
    }

    /// The names of the jobs that have a state database in this directory, sorted.
    pub fn jobs(&self) -> Result<Vec<String>, StateError> {
        job_names(&self.path)
    }

    /// Takes the lock and opens the state in one step.
    pub fn lock_and_open(&self, job: &str) -> Result<JobState, StateError> {
        let lock = self.lock(job)?;
        self.open_job(lock)
    }
}

/// The names of the jobs that have a state database in `dir`, sorted; none when the directory does not exist
/// (nothing is created).
pub fn job_names(dir: &Path) -> Result<Vec<String>, StateError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(StateError::Unwritable {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut jobs: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let job = name.strip_suffix(".sqlite3")?;
            check_job_name(job).is_ok().then(|| job.to_owned())
        })
        .collect();
    jobs.sort();
    Ok(jobs)
}

/// Whether `job` has a state database in `dir` (a file check: nothing is opened or created).
pub fn has_state(dir: &Path, job: &str) -> bool {
    check_job_name(job).is_ok() && database_path(dir, job).exists()
}

fn sync_dir(dir: &Path) {
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
}

pub(crate) fn database_path(dir: &Path, job: &str) -> PathBuf {
    dir.join(format!("{job}.sqlite3"))
}

/// Job names become file names: `[a-z0-9][a-z0-9_-]*`, as the job file requires.
pub(crate) fn check_job_name(job: &str) -> Result<(), StateError> {
    let mut chars = job.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if first_ok && rest_ok && job.len() <= 200 {
        Ok(())
    } else {
        Err(StateError::InvalidJobName(job.to_owned()))
    }
}

/// One job's state: watermarks, completed windows, ledgers, backfill progress, subscriptions, gaps and runs.
///
/// Every method is one SQLite transaction. The handle is `Sync` (one connection behind a mutex), so the content
/// types of a job can share it through an `Arc`. Opened for writing only through [`StateDir::open_job`], which
/// needs the job's [`JobLock`].
#[derive(Debug)]
pub struct JobState {
    job: String,
    path: PathBuf,
    conn: Mutex<Connection>,
    _lock: Option<JobLock>,
}

/// Runs `f`, which blocks on the disk (a commit waits for its fsync), so that the async runtime it may be called
/// from keeps its other tasks running meanwhile: on a multi-threaded tokio runtime the worker hands its queue to
/// another thread for the time of `f` (`block_in_place`); anywhere else `f` just runs. A run of many jobs then keeps
/// every core busy while commits wait for the disk.
fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// `tx.execute` through the connection's statement cache (each statement is parsed once per connection, not once
/// per call).
fn exec(tx: &Transaction<'_>, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

/// `tx.query_row` through the connection's statement cache.
fn row<T>(
    tx: &Transaction<'_>,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    tx.prepare_cached(sql)?.query_row(params, f)
}

impl JobState {
    pub(crate) fn new(
        job: String,
        path: PathBuf,
        conn: Connection,
        lock: Option<JobLock>,
    ) -> JobState {
        JobState {
            job,
            path,
            conn: Mutex::new(conn),
            _lock: lock,
        }
    }

    /// The job name.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the guard cannot leave a transaction open: `Transaction` rolls back on drop.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn map<T>(&self, r: Result<T, E>) -> Result<T, StateError> {
        r.map_err(|e| match e {
            E::Sql(e) => StateError::sqlite(&self.path, e),
            E::State(e) => e,
        })
    }

    /// Runs `f` in an immediate (write) transaction and commits it.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, StateError> {
        off_worker(|| {
            let mut conn = self.conn();
            let r = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let v = f(&tx)?;
                tx.commit()?;
                Ok(v)
            })();
            self.map(r)
        })
    }

    /// Runs `f` in a read transaction (one consistent snapshot).
    fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T, E>) -> Result<T, StateError> {
        let mut conn = self.conn();
        let r = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let v = f(&tx)?;
            tx.finish()?;
            Ok(v)
        })();
        self.map(r)
    }

    // ---- watermark and completed windows ----------------------------------------------------------------------

    /// The live watermark of `ct`: everything before it is complete. `None` before the first run.
    pub fn watermark(&self, ct: ContentType) -> Result<Option<Timestamp>, StateError> {
        self.read(|tx| get_watermark(tx, ct))
    }

    /// Sets the live watermark of `ct` to `start` unless it has one already (and its origin, where its history
    /// begins, unless it has one); returns the watermark in force.
    pub fn init_watermark(
        &self,
        ct: ContentType,
        start: Timestamp,
        now: Timestamp,
    ) -> Result<Timestamp, StateError> {
        let (start_ns, now_ns) = (ns(start)?, ns(now)?);
        self.write(|tx| {
            exec(tx,
                "INSERT OR IGNORE INTO watermark (content_type, at_ns, updated_ns) VALUES (?1, ?2, ?3)",
                params![ct, start_ns, now_ns],
            )?;
            exec(tx,
                "INSERT OR IGNORE INTO origin (content_type, at_ns, start, updated_ns) VALUES (?1, ?2, '', ?3)",
                params![ct, start_ns, now_ns],
            )?;
            Ok(get_watermark(tx, ct)?.unwrap_or(start))
        })
    }

    /// The completed windows of `ct` on `track`, sorted, merged (disjoint and non-adjacent).
    pub fn completed_windows(
        &self,
        ct: ContentType,
        track: Track,
    ) -> Result<Vec<Window>, StateError> {
        self.read(|tx| load_windows(tx, ct, track))
    }

    /// Marks `window` of `ct` complete on `track`, after checking that every blob listed in it (`content_ids`, all
    /// of them, including those skipped as already done) is terminal in the content ledger. Merges it with
    /// adjacent or overlapping completed windows, then advances the live watermark (for [`Track::Live`]; the
    /// watermark must have been set with [`JobState::init_watermark`]) or the progress of backfill ranges (for
    /// [`Track::Backfill`]) across contiguous completed windows. Returns the live watermark after the call.
    pub fn complete_window<S: AsRef<str>>(
        &self,
        ct: ContentType,
        track: Track,
        window: Window,
        content_ids: &[S],
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StateError> {
        let now_ns = ns(now)?;
        self.write(|tx| {
            let terminal = terminal_ids(tx, ct, content_ids)?;
            let missing: Vec<&str> = content_ids
                .iter()
                .map(AsRef::as_ref)
                .filter(|id| !terminal.contains(*id))
                .collect();
            if let Some(first) = missing.first() {
                return Err(StateError::WindowIncomplete {
                    content_type: ct,
                    window: window.to_string(),
                    pending: missing.len(),
                    first: (*first).to_owned(),
                }
                .into());
            }
            complete_in_tx(tx, ct, track, window, now_ns)
        })
    }

    // ---- content ledger ---------------------------------------------------------------------------------------

    /// Enters freshly listed blobs into the content ledger as pending (those already known keep their status) and
    /// returns the content IDs among them that are already terminal (done or gap): those need no fetch.
    pub fn register_listed(
        &self,
        ct: ContentType,
        blobs: &[ListedBlob],
        now: Timestamp,
    ) -> Result<HashSet<String>, StateError> {
        let now_ns = ns(now)?;
        let rows = blobs
            .iter()
            .map(|b| Ok((b.content_id.as_str(), ns(b.created)?, ns(b.expiration)?)))
            .collect::<Result<Vec<_>, StateError>>()?;
        self.write(|tx| insert_listed(tx, ct, &rows, now_ns))
    }

    /// A window's listing in one transaction: [`JobState::register_listed`]; then, when `attempts`, one more fetch
    /// attempt counted for every blob not terminal ([`JobState::begin_attempts`]); and when every blob is terminal
    /// (or none was listed), the window completed on `track` ([`JobState::complete_window`]). One commit (one
    /// fsync) per window instead of two; a window re-listed in the lookback with nothing new costs one.
    pub fn enter_listing(
        &self,
        ct: ContentType,
        track: Track,
        window: Window,
        blobs: &[ListedBlob],
        attempts: bool,
        now: Timestamp,
    ) -> Result<EnteredListing, StateError> {
        let now_ns = ns(now)?;
        let rows = blobs
            .iter()
            .map(|b| Ok((b.content_id.as_str(), ns(b.created)?, ns(b.expiration)?)))
            .collect::<Result<Vec<_>, StateError>>()?;
        self.write(|tx| {
            let terminal = insert_listed(tx, ct, &rows, now_ns)?;
            let pending = rows.iter().filter(|r| !terminal.contains(r.0));
            if attempts {
                let mut stmt = tx.prepare_cached(
                    "UPDATE content SET attempts = attempts + 1, updated_ns = ?3
                     WHERE content_type = ?1 AND content_id = ?2",
                )?;
                for (id, _, _) in pending.clone() {
                    stmt.execute(params![ct, id, now_ns])?;
                }
            }
            let completed = pending.count() == 0;
            if completed {
                complete_in_tx(tx, ct, track, window, now_ns)?;
            }
            Ok(EnteredListing {
                terminal,
                completed,
            })
        })
    }

    /// Which of `content_ids` are terminal (done or recorded as a gap) for `ct`. Batched; fine for thousands.
    pub fn terminal_content_ids<S: AsRef<str>>(
        &self,
        ct: ContentType,
        content_ids: &[S],
    ) -> Result<HashSet<String>, StateError> {
        self.read(|tx| terminal_ids(tx, ct, content_ids))
    }

    /// The ledger entry of one blob.
    pub fn content_entry(
        &self,
        ct: ContentType,
        content_id: &str,
    ) -> Result<Option<ContentEntry>, StateError> {
        self.read(|tx| {
            row(
                tx,
                "SELECT created_ns, expiration_ns, status, records_written, attempts FROM content
                 WHERE content_type = ?1 AND content_id = ?2",
                params![ct, content_id],
                |r| {
                    let status: String = r.get(2)?;
                    Ok((r.get(0)?, r.get(1)?, status, r.get(3)?, r.get(4)?))
                },
            )
            .optional()?
            .map(
                |(c, x, status, records_written, attempts): (i64, i64, String, i64, i64)| {
                    Ok(ContentEntry {
                        blob: ListedBlob {
                            content_id: content_id.to_owned(),
                            created: ts(c)?,
                            expiration: ts(x)?,
                        },
                        status: ContentStatus::parse(&status)
                            .ok_or_else(|| corrupt(&self.path, "content status"))?,
                        records_written,
                        attempts,
                    })
                },
            )
            .transpose()
        })
    }

    /// Counts one more fetch attempt of each of `blobs` (entering them as pending if new), in one transaction.
    pub fn begin_attempts(
        &self,
        ct: ContentType,
        blobs: &[ListedBlob],
        now: Timestamp,
    ) -> Result<(), StateError> {
        let now_ns = ns(now)?;
        let rows = blobs
            .iter()
            .map(|b| Ok((b, ns(b.created)?, ns(b.expiration)?)))
            .collect::<Result<Vec<_>, StateError>>()?;
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO content
                   (content_type, content_id, created_ns, expiration_ns, status, attempts, first_seen_ns, updated_ns)
                 VALUES (?1, ?2, ?3, ?4, 'pending', 1, ?5, ?5)
                 ON CONFLICT (content_type, content_id) DO UPDATE
                   SET attempts = attempts + 1, updated_ns = excluded.updated_ns",
            )?;
            for (blob, c, x) in &rows {
                stmt.execute(params![ct, blob.content_id, c, x, now_ns])?;
            }
            Ok(())
        })
    }

    /// Counts one more fetch attempt of `blob` (entering it as pending if new); returns the attempts so far.
    pub fn begin_attempt(
        &self,
        ct: ContentType,
        blob: &ListedBlob,
        now: Timestamp,
    ) -> Result<i64, StateError> {
        let (c, x, now_ns) = (ns(blob.created)?, ns(blob.expiration)?, ns(now)?);
        self.write(|tx| {
            exec(tx,
                "INSERT INTO content
                   (content_type, content_id, created_ns, expiration_ns, status, attempts, first_seen_ns, updated_ns)
                 VALUES (?1, ?2, ?3, ?4, 'pending', 1, ?5, ?5)
                 ON CONFLICT (content_type, content_id) DO UPDATE
                   SET attempts = attempts + 1, updated_ns = excluded.updated_ns",
                params![ct, blob.content_id, c, x, now_ns],
            )?;
            Ok(row(tx,
                "SELECT attempts FROM content WHERE content_type = ?1 AND content_id = ?2",
                params![ct, blob.content_id],
                |r| r.get(0),
            )?)
        })
    }

    /// The commit step of the protocol, after the sink acknowledged a durable write: in one transaction, adds the
    /// record Ids the sink wrote from `blob` to the record ledger and marks the blob done. Either both happen or
    /// neither does.
    pub fn commit_blob<K: LedgerKey>(
        &self,
        ct: ContentType,
        blob: &ListedBlob,
        record_ids_written: &[K],
        now: Timestamp,
    ) -> Result<CommitReport, StateError> {
        self.commit(ct, blob, record_ids_written, false, now)
    }

    /// [`JobState::commit_blob`] for a blob of a redelivery: its record Ids also enter the redelivery's own ledger
    /// (see [`JobState::redelivered_record_ids`]), in the same transaction.
    pub fn commit_redelivered_blob<K: LedgerKey>(
        &self,
        ct: ContentType,
        blob: &ListedBlob,
        record_ids_written: &[K],
        now: Timestamp,
    ) -> Result<CommitReport, StateError> {
        self.commit(ct, blob, record_ids_written, true, now)
    }

    fn commit<K: LedgerKey>(
        &self,
        ct: ContentType,
        blob: &ListedBlob,
        record_ids_written: &[K],
        redelivered: bool,
        now: Timestamp,
    ) -> Result<CommitReport, StateError> {
        let (c, x, now_ns) = (ns(blob.created)?, ns(blob.expiration)?, ns(now)?);
        let written = i64::try_from(record_ids_written.len()).unwrap_or(i64::MAX);
        let keys = sorted_keys(record_ids_written);
        self.write(|tx| {
            let mut new_record_ids = 0;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO record (bucket, record_id, first_seen_ns) VALUES (?1, ?2, ?3)",
                )?;
                for (bucket, stored, _) in &keys {
                    new_record_ids += stmt.execute(params![bucket, stored, now_ns])?;
                }
            }
            if redelivered {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO redelivered (bucket, record_id) VALUES (?1, ?2)",
                )?;
                for (bucket, stored, _) in &keys {
                    stmt.execute(params![bucket, stored])?;
                }
                exec(tx,
                    "INSERT OR IGNORE INTO redelivered_blob (content_type, content_id) VALUES (?1, ?2)",
                    params![ct, blob.content_id],
                )?;
            }
            exec(tx,
                "INSERT INTO content
                   (content_type, content_id, created_ns, expiration_ns, status, records_written, attempts,
                    first_seen_ns, updated_ns)
                 VALUES (?1, ?2, ?3, ?4, 'done', ?5, 1, ?6, ?6)
                 ON CONFLICT (content_type, content_id) DO UPDATE
                   SET status = 'done', records_written = records_written + excluded.records_written,
                       updated_ns = excluded.updated_ns",
                params![ct, blob.content_id, c, x, written, now_ns],
            )?;
            Ok(CommitReport { new_record_ids })
        })
    }

    // ---- record ledger ----------------------------------------------------------------------------------------

    /// Which of `record_ids` were already delivered (by any blob of any content type of this job): a point look-up
    /// per key, in key order.
    pub fn delivered_record_ids<K: LedgerKey>(
        &self,
        record_ids: &[K],
    ) -> Result<HashSet<String>, StateError> {
        let keys = sorted_keys(record_ids);
        self.read(|tx| {
            let mut found = HashSet::new();
            if keys.is_empty() {
                return Ok(found);
            }
            let migrated: bool = row(
                tx,
                "SELECT EXISTS (SELECT 1 FROM record WHERE bucket = ?1)",
                [BUCKET_MIGRATED],
                |r| r.get(0),
            )?;
            let mut stmt =
                tx.prepare_cached("SELECT 1 FROM record WHERE bucket = ?1 AND record_id = ?2")?;
            for (bucket, stored, id) in &keys {
                // Ids carried over from version 1 were stored as text.
                if stmt.exists(params![bucket, stored])?
                    || (migrated && stmt.exists(params![BUCKET_MIGRATED, id])?)
                {
                    found.insert((*id).to_owned());
                }
            }
            Ok(found)
        })
    }

    /// Which of `record_ids` the current redelivery has delivered already (the record ledger is ignored: a
    /// redelivery sends again what it holds).
    pub fn redelivered_record_ids<K: LedgerKey>(
        &self,
        record_ids: &[K],
    ) -> Result<HashSet<String>, StateError> {
        let keys = sorted_keys(record_ids);
        self.read(|tx| {
            let mut found = HashSet::new();
            let mut stmt = tx
                .prepare_cached("SELECT 1 FROM redelivered WHERE bucket = ?1 AND record_id = ?2")?;
            for (bucket, stored, id) in &keys {
                if stmt.exists(params![bucket, stored])? {
                    found.insert((*id).to_owned());
                }
            }
            Ok(found)
        })
    }

    /// Which of `content_ids` of `ct` the current redelivery has committed (a resumed redelivery skips them).
    pub fn redelivered_blobs<S: AsRef<str>>(
        &self,
        ct: ContentType,
        content_ids: &[S],
    ) -> Result<HashSet<String>, StateError> {
        self.read(|tx| {
            let mut found = HashSet::new();
            let mut stmt = tx.prepare_cached(
                "SELECT 1 FROM redelivered_blob WHERE content_type = ?1 AND content_id = ?2",
            )?;
            for id in content_ids {
                if stmt.exists(params![ct, id.as_ref()])? {
                    found.insert(id.as_ref().to_owned());
                }
            }
            Ok(found)
        })
    }

    // ---- gaps -------------------------------------------------------------------------------------------------

    /// Records that `blob` will never be delivered (expired or missing content) and marks it terminal, in one
    /// transaction. Returns whether the gap is new (recording the same gap twice keeps one; a blob already done is
    /// no gap and is left as it is).
    pub fn record_blob_gap(
        &self,
        ct: ContentType,
        blob: &ListedBlob,
        reason: GapReason,
        detail: &str,
        now: Timestamp,
    ) -> Result<bool, StateError> {
        let (c, x, now_ns) = (ns(blob.created)?, ns(blob.expiration)?, ns(now)?);
        self.write(|tx| {
            let status: Option<String> = tx
                .query_row(
                    "SELECT status FROM content WHERE content_type = ?1 AND content_id = ?2",
                    params![ct, blob.content_id],
                    |r| r.get(0),
                )
                .optional()?;
            if status.as_deref() == Some(ContentStatus::Done.as_str()) {
                // Delivered after all (for example by an earlier attempt): nothing is missing.
                return Ok(false);
            }
            exec(tx,
                "INSERT INTO content
                   (content_type, content_id, created_ns, expiration_ns, status, first_seen_ns, updated_ns)
                 VALUES (?1, ?2, ?3, ?4, 'gap', ?5, ?5)
                 ON CONFLICT (content_type, content_id) DO UPDATE
                   SET status = 'gap', updated_ns = excluded.updated_ns",
                params![ct, blob.content_id, c, x, now_ns],
            )?;
            let n = exec(tx,
                "INSERT OR IGNORE INTO gap (content_type, kind, start_ns, end_ns, content_id, reason, detail, recorded_ns)
                 VALUES (?1, 'blob', ?2, ?2, ?3, ?4, ?5, ?6)",
                params![ct, c, blob.content_id, reason.as_str(), detail, now_ns],
            )?;
            Ok(n > 0)
        })
    }

    /// Records that `window` of `ct` can no longer be synced (beyond retention) and, since nothing more can happen
    /// to it, completes it on `track` so the watermark or backfill progress may pass it. Returns whether the gap
    /// is new.
    pub fn record_window_gap(
        &self,
        ct: ContentType,
        track: Track,
        window: Window,
        reason: GapReason,
        detail: &str,
        now: Timestamp,
    ) -> Result<bool, StateError> {
        let now_ns = ns(now)?;
        let (s, e) = (ns(window.start)?, ns(window.end)?);
        self.write(|tx| {
            let new = insert_window_gap(tx, ct, s, e, reason, detail, now_ns)?;
            complete_in_tx(tx, ct, track, window, now_ns)?;
            Ok(new)
        })
    }

    // ---- Audit Search queries --------------------------------------------------------------------------------

    /// The Audit Search query of backfill window `window`, if one was created.
    pub fn audit_query(&self, window: Window) -> Result<Option<AuditQuery>, StateError> {
        let (s, e) = (ns(window.start)?, ns(window.end)?);
        self.read(|tx| {
            row(tx,
                "SELECT query_id, status, next_link, pages_done, records_read, attempts FROM audit_query
                 WHERE start_ns = ?1 AND end_ns = ?2",
                params![s, e],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                },
            )
            .optional()?
            .map(|(query_id, status, next, pages, records, attempts)| {
                Ok(AuditQuery {
                    window,
                    query_id,
                    status: AuditQueryStatus::parse(&status)
                        .ok_or_else(|| corrupt(&self.path, "audit query status"))?,
                    next_link: (!next.is_empty()).then_some(next),
                    pages_done: u32::try_from(pages).unwrap_or(u32::MAX),
                    records_read: u64::try_from(records).unwrap_or(0),
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                })
            })
            .transpose()
        })
    }

    /// Saves where an Audit Search query stands (one transaction).
    pub fn save_audit_query(&self, q: &AuditQuery, now: Timestamp) -> Result<(), StateError> {
        let (s, e, now_ns) = (ns(q.window.start)?, ns(q.window.end)?, ns(now)?);
        self.write(|tx| {
            exec(tx,
                "INSERT INTO audit_query
                   (start_ns, end_ns, query_id, status, next_link, pages_done, records_read, attempts, updated_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (start_ns, end_ns) DO UPDATE SET
                   query_id = excluded.query_id, status = excluded.status, next_link = excluded.next_link,
                   pages_done = excluded.pages_done, records_read = excluded.records_read,
                   attempts = excluded.attempts, updated_ns = excluded.updated_ns",
                params![
                    s,
                    e,
                    q.query_id,
                    q.status.as_str(),
                    q.next_link.as_deref().unwrap_or(""),
                    i64::from(q.pages_done),
                    i64::try_from(q.records_read).unwrap_or(i64::MAX),
                    i64::from(q.attempts),
                    now_ns
                ],
            )?;
            Ok(())
        })
    }

    /// All recorded gaps of `ct` (or of every content type), oldest first.
    pub fn gaps(&self, ct: Option<ContentType>) -> Result<Vec<Gap>, StateError> {
        self.read(|tx| load_gaps(tx, ct, &self.path))
    }

    /// Gaps recorded at or after `since` (for example: during this run).
    pub fn gaps_since(&self, since: Timestamp) -> Result<Vec<Gap>, StateError> {
        let since = ns(since)?;
        Ok(self
            .gaps(None)?
            .into_iter()
            .filter(|g| ns(g.recorded_at).is_ok_and(|r| r >= since))
            .collect())
    }

    // ---- backfill ---------------------------------------------------------------------------------------------

    /// Starts (or resumes, when the same range was requested before) a backfill of `range` for `ct`; its position
    /// starts at `range.start` and already counts windows completed by earlier backfills or the live sync.
    pub fn begin_backfill(
        &self,
        ct: ContentType,
        range: Window,
        now: Timestamp,
    ) -> Result<BackfillProgress, StateError> {
        self.begin_backfill_of(ct, BackfillKind::Command, range, now)
    }

    /// [`JobState::begin_backfill`] for a range of the given kind (each kind keeps its own progress).
    pub fn begin_backfill_of(
        &self,
        ct: ContentType,
        kind: BackfillKind,
        range: Window,
        now: Timestamp,
    ) -> Result<BackfillProgress, StateError> {
        let (f, t, now_ns) = (ns(range.start)?, ns(range.end)?, ns(now)?);
        self.write(|tx| {
            insert_backfill(tx, ct, kind, f, t, now_ns)?;
            advance_backfills(tx, ct, now_ns)?;
            let all = load_backfills(tx, Some(ct))?;
            Ok(all
                .into_iter()
                .find(|b| b.range == range && b.kind == kind)
                .ok_or(rusqlite::Error::QueryReturnedNoRows)?)
        })
    }

    /// Starts a redelivery of `range` for `content_types` (`backfill --redeliver`), or resumes it when an unfinished
    /// redelivery of the same range exists; returns whether it resumed. Starting a new one forgets every earlier
    /// redelivery (its progress and the Ids it delivered), so the range is delivered to the current sink again.
    pub fn begin_redelivery(
        &self,
        content_types: &[ContentType],
        range: Window,
        now: Timestamp,
    ) -> Result<bool, StateError> {
        let (f, t, now_ns) = (ns(range.start)?, ns(range.end)?, ns(now)?);
        self.write(|tx| {
            let unfinished: Vec<BackfillProgress> = load_backfills(tx, None)?
                .into_iter()
                .filter(|b| b.kind == BackfillKind::Redeliver && b.finished.is_none())
                .collect();
            let resumed = !unfinished.is_empty() && unfinished.iter().all(|b| b.range == range);
            if !resumed {
                exec(tx, "DELETE FROM backfill WHERE kind = 'redeliver'", [])?;
                exec(
                    tx,
                    "DELETE FROM completed_window WHERE track = 'redeliver'",
                    [],
                )?;
                exec(tx, "DELETE FROM redelivered", [])?;
                exec(tx, "DELETE FROM redelivered_blob", [])?;
            }
            for &ct in content_types {
                insert_backfill(tx, ct, BackfillKind::Redeliver, f, t, now_ns)?;
            }
            Ok(resumed)
        })
    }

    // ---- origin and identity ----------------------------------------------------------------------------------

    /// Where the history of `ct` begins and the `start` the job file had at the last run (`None`: never run).
    pub fn origin(&self, ct: ContentType) -> Result<Option<Origin>, StateError> {
        self.read(|tx| load_origin(tx, ct))
    }

    /// Notes the job file's `start` as written at this run (what `plan` compares the next job file with).
    pub fn record_start(
        &self,
        ct: ContentType,
        start: &str,
        now: Timestamp,
    ) -> Result<(), StateError> {
        let now_ns = ns(now)?;
        self.write(|tx| {
            exec(
                tx,
                "UPDATE origin SET start = ?2, updated_ns = ?3 WHERE content_type = ?1",
                params![ct, start, now_ns],
            )?;
            Ok(())
        })
    }

    /// The job file's `start` moved earlier than the origin of `ct`: in one transaction, the origin becomes
    /// `origin`, the readable part of the added time (`readable`) becomes a [`BackfillKind::Start`] range for `run`
    /// to read on the backfill track, and the part beyond the API's retention (`beyond`) a recorded gap. The live
    /// watermark is not touched.
    pub fn extend_origin(
        &self,
        ct: ContentType,
        origin: Timestamp,
        start: &str,
        readable: Option<Window>,
        beyond: Option<Window>,
        now: Timestamp,
    ) -> Result<(), StateError> {
        let (o, now_ns) = (ns(origin)?, ns(now)?);
        self.write(|tx| {
            exec(tx,
                "INSERT INTO origin (content_type, at_ns, start, updated_ns) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (content_type) DO UPDATE
                   SET at_ns = min(at_ns, excluded.at_ns), start = excluded.start, updated_ns = excluded.updated_ns",
                params![ct, o, start, now_ns],
            )?;
            if let Some(r) = readable {
                insert_backfill(tx, ct, BackfillKind::Start, ns(r.start)?, ns(r.end)?, now_ns)?;
            }
            if let Some(b) = beyond {
                insert_window_gap(
                    tx,
                    ct,
                    ns(b.start)?,
                    ns(b.end)?,
                    GapReason::BeyondRetention,
                    "the job file's start moved earlier, to time the API's 7-day retention no longer serves",
                    now_ns,
                )?;
                complete_in_tx(tx, ct, Track::Backfill, b, now_ns)?;
            }
            advance_backfills(tx, ct, now_ns)?;
            Ok(())
        })
    }

    /// The tenant, cloud, client, certificate and sink the state was last run with (fields unknown to an older
    /// state are `None`).
    pub fn identity(&self) -> Result<Identity, StateError> {
        self.read(load_identity)
    }

    /// Records what this run uses (see [`JobState::identity`]).
    pub fn record_identity(&self, identity: &Identity) -> Result<(), StateError> {
        self.write(|tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?;
            for key in Identity::KEYS {
                if let Some(v) = identity.get(key) {
                    stmt.execute(params![key, v])?;
                }
            }
            Ok(())
        })
    }

    /// Backfill ranges of `ct` (or of every content type), oldest request first.
    pub fn backfills(&self, ct: Option<ContentType>) -> Result<Vec<BackfillProgress>, StateError> {
        self.read(|tx| load_backfills(tx, ct))
    }

    // ---- subscriptions ----------------------------------------------------------------------------------------

    /// When a subscription start was last requested for `ct` (the API wants 15 minutes between starts).
    pub fn last_subscription_start(
        &self,
        ct: ContentType,
    ) -> Result<Option<Timestamp>, StateError> {
        self.read(|tx| {
            row(
                tx,
                "SELECT last_start_ns FROM subscription WHERE content_type = ?1",
                [ct],
                |r| ts(r.get(0)?),
            )
            .optional()
            .map_err(E::from)
        })
    }

    /// The earliest instant a new subscription start for `ct` respects the 15-minute rule: `None` when none was
    /// ever requested (start now), else the last start + [`SUBSCRIPTION_START_INTERVAL`].
    pub fn next_subscription_start_allowed(
        &self,
        ct: ContentType,
    ) -> Result<Option<Timestamp>, StateError> {
        Ok(self.last_subscription_start(ct)?.map(|last| {
            last.checked_add(SUBSCRIPTION_START_INTERVAL)
                .unwrap_or(Timestamp::MAX)
        }))
    }

    /// Notes that a subscription start was requested for `ct` at `at`.
    pub fn record_subscription_start(
        &self,
        ct: ContentType,
        at: Timestamp,
    ) -> Result<(), StateError> {
        let at = ns(at)?;
        self.write(|tx| {
            exec(
                tx,
                "INSERT INTO subscription (content_type, last_start_ns) VALUES (?1, ?2)
                 ON CONFLICT (content_type) DO UPDATE SET last_start_ns = excluded.last_start_ns",
                params![ct, at],
            )?;
            Ok(())
        })
    }

    // ---- run history ------------------------------------------------------------------------------------------

    /// Opens a run history entry.
    pub fn begin_run(&self, kind: RunKind, now: Timestamp) -> Result<RunId, StateError> {
        let now_ns = ns(now)?;
        self.write(|tx| {
            exec(
                tx,
                "INSERT INTO run (kind, started_ns) VALUES (?1, ?2)",
                params![kind.as_str(), now_ns],
            )?;
            Ok(RunId(tx.last_insert_rowid()))
        })
    }

    /// Closes a run history entry with its outcome and counters (any serializable value, stored as JSON).
    pub fn finish_run(
        &self,
        id: RunId,
        now: Timestamp,
        outcome: &str,
        counters: &impl serde::Serialize,
    ) -> Result<(), StateError> {
        let now_ns = ns(now)?;
        let json = serde_json::to_string(counters).map_err(|e| StateError::Sqlite {
            path: self.path.clone(),
            source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
        })?;
        self.write(|tx| {
            exec(
                tx,
                "UPDATE run SET ended_ns = ?2, outcome = ?3, counters = ?4 WHERE id = ?1",
                params![id.0, now_ns, outcome, json],
            )?;
            Ok(())
        })
    }

    /// The newest `limit` runs, newest first.
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        self.read(|tx| load_runs(tx, limit))
    }

    // ---- reset and pruning ------------------------------------------------------------------------------------

    /// `state reset --to`: moves the live watermark of `ct` to `to` and cuts the completed live windows at `to`
    /// (so everything from `to` on is listed again), keeping both ledgers so that the re-read skips blobs and
    /// records already delivered. Moving forward over time never synced records a [`GapReason::SkippedByReset`]
    /// gap, never silently. `to` must not be in the future.
    pub fn reset_watermark(
        &self,
        ct: ContentType,
        to: Timestamp,
        now: Timestamp,
    ) -> Result<ResetReport, StateError> {
        if to > now {
            return Err(StateError::ResetInFuture {
                content_type: ct,
                to,
            });
        }
        let (to_ns, now_ns) = (ns(to)?, ns(now)?);
        self.write(|tx| {
            let previous = get_watermark(tx, ct)?;
            let windows = load_windows(tx, ct, Track::Live)?;
            let kept = window::truncate_at(&windows, to);
            let windows_changed = windows.iter().filter(|w| !kept.contains(w)).count();
            store_windows(tx, ct, Track::Live, &kept)?;
            let mut gaps = Vec::new();
            if let Some(prev) = previous.filter(|p| *p < to) {
                // Moving forward: the parts of [prev, to) never completed are skipped, and say so.
                let mut cursor = prev;
                for w in windows.iter().filter(|w| w.end > prev && w.start < to) {
                    gaps.extend(Window::new(cursor, w.start.min(to)));
                    cursor = cursor.max(w.end);
                }
                gaps.extend(Window::new(cursor, to));
                for hole in &gaps {
                    insert_window_gap(tx, ct, ns(hole.start)?, ns(hole.end)?, GapReason::SkippedByReset, "", now_ns)?;
                }
                // The skipped time is terminal now: completed windows reach the new watermark.
                store_windows(tx, ct, Track::Live, &window::merge_into(&kept, Window { start: prev, end: to }))?;
            }
            exec(tx,
                "INSERT INTO watermark (content_type, at_ns, updated_ns) VALUES (?1, ?2, ?3)
                 ON CONFLICT (content_type) DO UPDATE SET at_ns = excluded.at_ns, updated_ns = excluded.updated_ns",
                params![ct, to_ns, now_ns],
            )?;
            Ok(ResetReport {
                content_type: ct,
                previous,
                watermark: to,
                windows_changed,
                gaps,
            })
        })
    }

    /// Forgets what can no longer matter: content ledger rows a day past their expiry (only terminal ones; a
    /// pending blob stays visible), record Ids first seen more than 8 days ago, completed windows that ended more
    /// than 8 days ago, and run history beyond the newest [`RUN_HISTORY_KEPT`]. Watermarks, gaps and backfill
    /// progress are kept.
    pub fn prune(&self, now: Timestamp) -> Result<PruneReport, StateError> {
        let content_cut = ns(now - CONTENT_LEDGER_GRACE)?;
        let record_cut = ns(now - RECORD_LEDGER_RETENTION)?;
        let window_cut = ns(now - WINDOW_RETENTION)?;
        self.write(|tx| {
            Ok(PruneReport {
                content: exec(tx,
                    "DELETE FROM content WHERE expiration_ns < ?1 AND status IN ('done', 'gap')",
                    [content_cut],
                )?,
                records: exec(tx, "DELETE FROM record WHERE first_seen_ns < ?1", [record_cut])?,
                windows: exec(tx, "DELETE FROM completed_window WHERE end_ns < ?1", [window_cut])?,
                runs: exec(tx,
                    "DELETE FROM run WHERE id NOT IN (SELECT id FROM run ORDER BY id DESC LIMIT ?1)",
                    [RUN_HISTORY_KEPT],
                )?,
            })
        })
    }

    /// Removes what the state holds for `ct` (watermark, origin, completed windows, content ledger, backfill
    /// ranges, subscription start), for a content type the job no longer collects. Recorded gaps stay (no gap is
    /// ever silent), and so does the job's record ledger. Returns the rows removed.
    pub fn forget(&self, ct: ContentType) -> Result<usize, StateError> {
        self.write(|tx| {
            let mut n = 0;
            for table in [
                "watermark",
                "origin",
                "completed_window",
                "content",
                "backfill",
                "subscription",
            ] {
                n += exec(
                    tx,
                    &format!("DELETE FROM {table} WHERE content_type = ?1"),
                    [ct],
                )?;
            }
            Ok(n)
        })
    }

    /// Number of rows in the record ledger.
    pub fn record_ledger_len(&self) -> Result<i64, StateError> {
        self.read(|tx| Ok(row(tx, "SELECT count(*) FROM record", [], |r| r.get(0))?))
    }

    /// Runs SQLite's full integrity check; `Err(Corrupt)` when it finds damage.
    pub fn integrity_check(&self) -> Result<(), StateError> {
        let result: String =
            self.read(|tx| Ok(row(tx, "PRAGMA integrity_check(1)", [], |r| r.get(0))?))?;
        if result == "ok" {
            Ok(())
        } else {
            Err(StateError::Corrupt {
                path: self.path.clone(),
                detail: result,
            })
        }
    }

    pub(crate) fn with_read<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, StateError> {
        self.read(f)
    }
}

pub(crate) fn corrupt(path: &Path, what: &str) -> E {
    E::State(StateError::Corrupt {
        path: path.to_owned(),
        detail: format!("unreadable {what}"),
    })
}

fn placeholders(n: usize, first: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn get_watermark(tx: &Transaction<'_>, ct: ContentType) -> Result<Option<Timestamp>, E> {
    Ok(tx
        .query_row(
            "SELECT at_ns FROM watermark WHERE content_type = ?1",
            [ct],
            |r| ts(r.get(0)?),
        )
        .optional()?)
}

/// Enters listed blobs (content ID, created, expiration) into the content ledger as pending (those already known
/// keep their status); returns the content IDs among them that are terminal.
fn insert_listed(
    tx: &Transaction<'_>,
    ct: ContentType,
    rows: &[(&str, i64, i64)],
    now_ns: i64,
) -> Result<HashSet<String>, E> {
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO content
               (content_type, content_id, created_ns, expiration_ns, status, first_seen_ns, updated_ns)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
        )?;
        for (id, created, expiration) in rows {
            stmt.execute(params![ct, id, created, expiration, now_ns])?;
        }
    }
    terminal_ids(tx, ct, &rows.iter().map(|r| r.0).collect::<Vec<_>>())
}

fn terminal_ids<S: AsRef<str>>(
    tx: &Transaction<'_>,
    ct: ContentType,
    ids: &[S],
) -> Result<HashSet<String>, E> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(BATCH) {
        let sql = format!(
            "SELECT content_id FROM content WHERE content_type = ?1 AND status IN ('done', 'gap')
               AND content_id IN ({})",
            placeholders(chunk.len(), 2)
        );
        let mut stmt = tx.prepare_cached(&sql)?;
        let strs: Vec<&str> = chunk.iter().map(AsRef::as_ref).collect();
        let args: Vec<&dyn ToSql> = std::iter::once(&ct as &dyn ToSql)
            .chain(strs.iter().map(|s| s as &dyn ToSql))
            .collect();
        let rows = stmt.query_map(&args[..], |r| r.get::<_, String>(0))?;
        for row in rows {
            found.insert(row?);
        }
    }
    Ok(found)
}

pub(crate) fn load_windows(
    tx: &Transaction<'_>,
    ct: ContentType,
    track: Track,
) -> Result<Vec<Window>, E> {
    let mut stmt = tx.prepare_cached(
        "SELECT start_ns, end_ns FROM completed_window WHERE content_type = ?1 AND track = ?2 ORDER BY start_ns",
    )?;
    let rows = stmt.query_map(params![ct, track.as_str()], |r| {
        Ok((ts(r.get(0)?)?, ts(r.get(1)?)?))
    })?;
    let mut out: Vec<Window> = Vec::new();
    for row in rows {
        let (s, e) = row?;
        // Stored windows are merged already; merging again is a cheap guard against hand edits.
        if let Some(w) = Window::new(s, e) {
            out = window::merge_into(&out, w);
        }
    }
    Ok(out)
}

fn store_windows(
    tx: &Transaction<'_>,
    ct: ContentType,
    track: Track,
    windows: &[Window],
) -> Result<(), E> {
    exec(
        tx,
        "DELETE FROM completed_window WHERE content_type = ?1 AND track = ?2",
        params![ct, track.as_str()],
    )?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO completed_window (content_type, track, start_ns, end_ns) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for w in windows {
        stmt.execute(params![ct, track.as_str(), ns(w.start)?, ns(w.end)?])?;
    }
    Ok(())
}

fn complete_in_tx(
    tx: &Transaction<'_>,
    ct: ContentType,
    track: Track,
    w: Window,
    now_ns: i64,
) -> Result<Option<Timestamp>, E> {
    let merged = window::merge_into(&load_windows(tx, ct, track)?, w);
    store_windows(tx, ct, track, &merged)?;
    let watermark = get_watermark(tx, ct)?;
    match track {
        Track::Live => {
            if let Some(current) = watermark {
                let next = window::advance(current, &merged);
                if next != current {
                    exec(
                        tx,
                        "UPDATE watermark SET at_ns = ?2, updated_ns = ?3 WHERE content_type = ?1",
                        params![ct, ns(next)?, now_ns],
                    )?;
                }
                return Ok(Some(next));
            }
            Ok(None)
        }
        Track::Backfill | Track::Redeliver => {
            advance_backfills(tx, ct, now_ns)?;
            Ok(watermark)
        }
    }
}

/// Moves every unfinished backfill range of `ct` across contiguous windows completed by backfill or the live sync.
/// A redelivery moves across its own windows only. When no redelivery is left unfinished, the Ids it delivered are
/// forgotten.
fn advance_backfills(tx: &Transaction<'_>, ct: ContentType, now_ns: i64) -> Result<(), E> {
    let mut done = load_windows(tx, ct, Track::Live)?;
    for w in load_windows(tx, ct, Track::Backfill)? {
        done = window::merge_into(&done, w);
    }
    let redelivered = load_windows(tx, ct, Track::Redeliver)?;
    for b in load_backfills(tx, Some(ct))? {
        if b.finished.is_some() {
            continue;
        }
        let covered = match b.kind {
            BackfillKind::Redeliver => &redelivered,
            BackfillKind::Command | BackfillKind::Start => &done,
        };
        let next = window::advance(b.position, covered).min(b.range.end);
        if next != b.position {
            let finished = (next >= b.range.end).then_some(now_ns);
            exec(
                tx,
                "UPDATE backfill SET position_ns = ?5, updated_ns = ?6, finished_ns = ?7
                 WHERE content_type = ?1 AND kind = ?2 AND from_ns = ?3 AND to_ns = ?4",
                params![
                    ct,
                    b.kind.as_str(),
                    ns(b.range.start)?,
                    ns(b.range.end)?,
                    ns(next)?,
                    now_ns,
                    finished
                ],
            )?;
        }
    }
    let open: bool = row(
        tx,
        "SELECT EXISTS (SELECT 1 FROM backfill WHERE kind = 'redeliver' AND finished_ns IS NULL)",
        [],
        |r| r.get(0),
    )?;
    if !open {
        exec(tx, "DELETE FROM redelivered", [])?;
        exec(tx, "DELETE FROM redelivered_blob", [])?;
    }
    Ok(())
}

fn insert_backfill(
    tx: &Transaction<'_>,
    ct: ContentType,
    kind: BackfillKind,
    from_ns: i64,
    to_ns: i64,
    now_ns: i64,
) -> Result<(), E> {
    exec(tx,
        "INSERT OR IGNORE INTO backfill (content_type, kind, from_ns, to_ns, position_ns, started_ns, updated_ns)
         VALUES (?1, ?2, ?3, ?4, ?3, ?5, ?5)",
        params![ct, kind.as_str(), from_ns, to_ns, now_ns],
    )?;
    Ok(())
}

pub(crate) fn load_origin(tx: &Transaction<'_>, ct: ContentType) -> Result<Option<Origin>, E> {
    Ok(tx
        .query_row(
            "SELECT at_ns, start FROM origin WHERE content_type = ?1",
            [ct],
            |r| {
                Ok(Origin {
                    at: ts(r.get(0)?)?,
                    start: r.get(1)?,
                })
            },
        )
        .optional()?)
}

pub(crate) fn load_identity(tx: &Transaction<'_>) -> Result<Identity, E> {
    let mut identity = Identity::default();
    let mut stmt = tx.prepare_cached("SELECT key, value FROM meta")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (k, v) = row?;
        identity.set(&k, v);
    }
    Ok(identity)
}

#[allow(clippy::too_many_arguments)]
fn insert_window_gap(
    tx: &Transaction<'_>,
    ct: ContentType,
    start_ns: i64,
    end_ns: i64,
    reason: GapReason,
    detail: &str,
    now_ns: i64,
) -> Result<bool, E> {
    let n = exec(tx,
        "INSERT OR IGNORE INTO gap (content_type, kind, start_ns, end_ns, content_id, reason, detail, recorded_ns)
         VALUES (?1, 'window', ?2, ?3, '', ?4, ?5, ?6)",
        params![ct, start_ns, end_ns, reason.as_str(), detail, now_ns],
    )?;
    Ok(n > 0)
}

pub(crate) fn load_gaps(
    tx: &Transaction<'_>,
    ct: Option<ContentType>,
    path: &Path,
) -> Result<Vec<Gap>, E> {
    let mut stmt = tx.prepare_cached(
        "SELECT content_type, kind, start_ns, end_ns, content_id, reason, detail, recorded_ns FROM gap
         WHERE ?1 IS NULL OR content_type = ?1 ORDER BY start_ns, id",
    )?;
    let rows = stmt.query_map([ct], |r| {
        Ok((
            r.get::<_, ContentType>(0)?,
            r.get::<_, String>(1)?,
            ts(r.get(2)?)?,
            ts(r.get(3)?)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            ts(r.get(7)?)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (content_type, kind, start, end, content_id, reason, detail, recorded_at) = row?;
        let scope = match kind.as_str() {
            "window" => GapScope::Window {
                window: Window::new(start, end).ok_or_else(|| corrupt(path, "gap window"))?,
            },
            _ => GapScope::Blob {
                content_id,
                created: start,
            },
        };
        out.push(Gap {
            content_type,
            scope,
            reason: GapReason::parse(&reason).ok_or_else(|| corrupt(path, "gap reason"))?,
            detail,
            recorded_at,
        });
    }
    Ok(out)
}

pub(crate) fn load_backfills(
    tx: &Transaction<'_>,
    ct: Option<ContentType>,
) -> Result<Vec<BackfillProgress>, E> {
    let mut stmt = tx.prepare_cached(
        "SELECT content_type, from_ns, to_ns, position_ns, started_ns, updated_ns, finished_ns, kind FROM backfill
         WHERE ?1 IS NULL OR content_type = ?1 ORDER BY started_ns, from_ns",
    )?;
    let rows = stmt.query_map([ct], |r| {
        let (from, to) = (ts(r.get(1)?)?, ts(r.get(2)?)?);
        let kind: String = r.get(7)?;
        Ok(BackfillProgress {
            content_type: r.get(0)?,
            kind: BackfillKind::parse(&kind).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    7,
                    rusqlite::types::Type::Text,
                    format!("unknown backfill kind `{kind}`").into(),
                )
            })?,
            range: Window {
                start: from,
                end: to,
            },
            position: ts(r.get(3)?)?,
            started: ts(r.get(4)?)?,
            updated: ts(r.get(5)?)?,
            finished: r.get::<_, Option<i64>>(6)?.map(ts).transpose()?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn load_runs(tx: &Transaction<'_>, limit: usize) -> Result<Vec<RunRecord>, E> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, kind, started_ns, ended_ns, outcome, counters FROM run ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        let counters: Option<String> = r.get(5)?;
        Ok(RunRecord {
            id: RunId(r.get(0)?),
            kind: r.get(1)?,
            started: ts(r.get(2)?)?,
            ended: r.get::<_, Option<i64>>(3)?.map(ts).transpose()?,
            outcome: r.get(4)?,
            counters: counters.and_then(|c| serde_json::from_str(&c).ok()),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
