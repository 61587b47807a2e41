//! The per-job lock file: one run of a job at a time, across processes.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::StateError;

/// Proof that this process holds a job's exclusive lock. Released when dropped (and by the OS if the process dies).
///
/// The lock is an advisory whole-file lock (`File::try_lock`, `flock(2)` on Unix) on `<state dir>/<job>.lock`; the
/// file keeps the holder's process ID as a hint for humans. Taking it never waits.
#[derive(Debug)]
pub struct JobLock {
    job: String,
    path: PathBuf,
    _file: File,
}

impl JobLock {
    /// Takes the lock of `job` in the (existing) directory `dir`, or fails at once with [`StateError::Locked`].
    pub(crate) fn acquire(dir: &Path, job: &str) -> Result<JobLock, StateError> {
        let path = dir.join(format!("{job}.lock"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|source| StateError::Unwritable {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StateError::Locked {
                    job: job.to_owned(),
                    path,
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(StateError::Unwritable { path, source });
            }
        }
        // Best effort: the PID is informational only, the lock itself is what counts.
        let _ = file
            .set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(JobLock {
            job: job.to_owned(),
            path,
            _file: file,
        })
    }

    /// The job this lock belongs to.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
