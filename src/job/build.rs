//! Phase 3: resolve. Paths become relative to the job file's directory, and the files the auth module will read
//! (certificate, private key, passphrase file) must exist and be readable, each failure located where the path was
//! written. The files' contents are not parsed here: that is the auth module's job.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::diag::{Issue, Loc};
use super::model::{Job, Passphrase, Sink};
use super::validate::Checked;

/// Resolves a validated job read from `file`.
pub(crate) fn build(checked: Checked, file: &Path) -> Result<Job, Vec<Issue>> {
    let Checked { mut job, locs, .. } = checked;
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut errors = Vec::new();

    job.file = file.to_path_buf();
    job.tenant.certificate = base_join(&base, &job.tenant.certificate);
    job.tenant.private_key = base_join(&base, &job.tenant.private_key);
    check_readable(
        &job.tenant.certificate,
        "certificate",
        locs.certificate,
        &mut errors,
    );
    check_readable(
        &job.tenant.private_key,
        "private key",
        locs.private_key,
        &mut errors,
    );
    if let Some(Passphrase::File(p)) = &mut job.tenant.passphrase {
        *p = base_join(&base, p);
        check_readable(p, "passphrase file", locs.passphrase_file, &mut errors);
    }
    match &mut job.sink {
        Sink::Jsonl { path, .. } | Sink::Sqlite { path } => *path = base_join(&base, path),
        Sink::Stdout => {}
    }
    if errors.is_empty() {
        Ok(job)
    } else {
        Err(errors)
    }
}

/// `path` relative to `base` unless it is absolute.
fn base_join(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn check_readable(path: &Path, what: &str, loc: Option<Loc>, errors: &mut Vec<Issue>) {
    let loc = loc.unwrap_or(Loc::START);
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => errors.push(Issue::error(
            loc,
            format!("{what} file {shown} does not exist"),
            "relative paths are relative to the job file's directory; check the path, or create the file",
        )),
        Err(e) => errors.push(Issue::error(
            loc,
            format!("cannot read {what} file {shown}: {e}"),
            "make the file readable by the user running o365sync",
        )),
        Ok(m) if !m.is_file() => errors.push(Issue::error(
            loc,
            format!("{what} path {shown} is not a file"),
            "point it at the PEM file itself",
        )),
        Ok(_) => {
            if let Err(e) = File::open(path) {
                errors.push(Issue::error(
                    loc,
                    format!("cannot read {what} file {shown}: {e}"),
                    "make the file readable by the user running o365sync",
                ));
            }
        }
    }
}
