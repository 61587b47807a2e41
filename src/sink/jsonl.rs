//! The `jsonl` sink: a directory tree of JSON lines files, one file per content blob, each appearing atomically.
//!
//! # Output layout
//!
//! ```text
//! <sink.path>/
//!   Audit.Exchange/                          content type, as the API spells it
//!     2026/11/26/                            the blob's contentCreated, UTC: yyyy/mm/dd
//!       184502-3f9a0c1e5b7d4e9fa1b2c3d4e5f60718.jsonl      HHMMSS of contentCreated, '-', hash of contentId
//!       184502-3f9a0c1e5b7d4e9fa1b2c3d4e5f60718.jsonl.gz   (with `compress: gzip`)
//!       184502-3f9a0c1e5b7d4e9fa1b2c3d4e5f60718.jsonl.zst  (with `compress: zstd`)
//! ```
//!
//! - Every file holds the events of exactly one blob, one OCSF JSON object per line, each line ended by `\n`.
//! - The file name is `<HHMMSS>-<32 lowercase hex digits>.jsonl` (or `.jsonl.gz`, `.jsonl.zst`), where the hex digits are the first
//!   16 bytes of SHA-256 over the blob's `contentId` (content IDs contain `$` and are long, so they are hashed). The
//!   same blob therefore always lands at the same path: re-delivering it after a crash *replaces* the file, it never
//!   adds a second copy. Sorting names within a day orders files by blob creation time.
//! - Files appear atomically: the batch is written to a temporary `.<final name>.tmp` in the same directory, synced
//!   (`fsync`), renamed over the final name, and the directory is synced. Temporary names start with `.` and end in
//!   `.tmp`, so they never match `*.jsonl`, `*.jsonl.gz` or `*.jsonl.zst`; a reader that only opens those never sees a partial line
//!   or file. Temporaries left by a crash are removed the next time the sink writes into their directory, or by
//!   [`JsonlSink::remove_stale_temporaries`].
//! - A blob whose batch is empty (every record already written from another blob) gets no file; a file left for it
//!   by an earlier, unacknowledged delivery is removed.
//! - Switching `compress` is safe: writing `X.jsonl.zst` removes a `X.jsonl` or `X.jsonl.gz` of the same blob, and
//!   so on for every pair.
//! - Files are created with mode `0640` and directories `0750` whatever the umask, or as `sink.file_mode` says
//!   ([`FileMode`]); an existing output directory keeps its mode.
//!
//! One output directory belongs to one job: the job lock keeps two runs of a job apart, not two jobs sharing a
//! directory.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;

use super::{Ack, BlobMeta, Compression, EventParts, FileMode, Sink, SinkError, UniqueEvents};

/// Suffix of plain files.
pub const PLAIN_SUFFIX: &str = ".jsonl";
/// Suffix of gzip files.
pub const GZIP_SUFFIX: &str = ".jsonl.gz";
/// Suffix of zstd files.
pub const ZSTD_SUFFIX: &str = ".jsonl.zst";
/// The suffixes of final files, plain first.
pub const FINAL_SUFFIXES: [&str; 3] = [PLAIN_SUFFIX, GZIP_SUFFIX, ZSTD_SUFFIX];
/// Suffix of temporary files (which also start with `.`).
pub const TEMP_SUFFIX: &str = ".tmp";

/// The `jsonl` sink. See the module documentation for the layout.
#[derive(Debug)]
pub struct JsonlSink {
    root: PathBuf,
    compress: Option<Compression>,
    /// The mode of the files created.
    mode: FileMode,
    /// Day directories known to exist (created and synced, and swept of stale temporaries) during this process.
    ready_dirs: HashSet<PathBuf>,
}

/// Where one blob goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobPaths {
    /// The day directory.
    pub dir: PathBuf,
    /// The final file for the configured compression.
    pub file: PathBuf,
    /// The final files of the same blob under the other compressions (removed when `file` is written).
    pub others: Vec<PathBuf>,
    /// The temporary file `file` is written through.
    pub temp: PathBuf,
}

impl JsonlSink {
    /// Opens (creating if needed) the output directory `root`, with the default mode ([`FileMode::JSONL`]).
    pub fn open(
        root: impl Into<PathBuf>,
        compress: Option<Compression>,
    ) -> Result<Self, SinkError> {
        JsonlSink::open_with_mode(root, compress, FileMode::JSONL)
    }

    /// Opens (creating if needed) the output directory `root`; files are created with `mode`, directories with
    /// [`FileMode::dir`].
    pub fn open_with_mode(
        root: impl Into<PathBuf>,
        compress: Option<Compression>,
        mode: FileMode,
    ) -> Result<Self, SinkError> {
        let root = root.into();
        match fs::metadata(&root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(SinkError::io(
                    "use as output directory",
                    &root,
                    io::Error::from(io::ErrorKind::NotADirectory),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => create_dirs_durably(&root, mode)?,
            Err(e) => return Err(SinkError::io("open output directory", &root, e)),
        }
        Ok(JsonlSink {
            root,
            compress,
            mode,
            ready_dirs: HashSet::new(),
        })
    }

    /// The output directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The paths one blob is written to (pure: touches nothing).
    pub fn paths(&self, blob: &BlobMeta) -> BlobPaths {
        let at = jiff::tz::Offset::UTC.to_datetime(blob.content_created);
        let dir = self
            .root
            .join(blob.content_type.as_str())
            .join(format!("{:04}", at.year()))
            .join(format!("{:02}", at.month()))
            .join(format!("{:02}", at.day()));
        let stem = format!(
            "{:02}{:02}{:02}-{}",
            at.hour(),
            at.minute(),
            at.second(),
            content_id_hash(&blob.content_id)
        );
        let suffix = suffix(self.compress);
        let name = format!("{stem}{suffix}");
        BlobPaths {
            temp: dir.join(format!(".{name}{TEMP_SUFFIX}")),
            file: dir.join(name),
            others: FINAL_SUFFIXES
                .iter()
                .filter(|s| **s != suffix)
                .map(|s| dir.join(format!("{stem}{s}")))
                .collect(),
            dir,
        }
    }

    /// Walks the whole output tree and removes temporaries left by crashed writes; returns how many. Only safe while
    /// no other process writes into this directory (the job lock guarantees it for one job).
    pub fn remove_stale_temporaries(&self) -> Result<usize, SinkError> {
        let mut removed = 0;
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let entries =
                fs::read_dir(&dir).map_err(|e| SinkError::io("list directory", &dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| SinkError::io("list directory", &dir, e))?;
                let kind = entry
                    .file_type()
                    .map_err(|e| SinkError::io("inspect", entry.path(), e))?;
                if kind.is_dir() {
                    stack.push(entry.path());
                }
            }
            removed += sweep_dir(&dir)?;
        }
        Ok(removed)
    }

    /// Creates the day directory (syncing each parent whose entries changed) and sweeps it, once per process (again
    /// if something removed it meanwhile, e.g. a shipper cleaning up behind itself).
    fn prepare_dir(&mut self, dir: &Path) -> Result<(), SinkError> {
        if self.ready_dirs.contains(dir) && dir.is_dir() {
            return Ok(());
        }
        let relative = dir.strip_prefix(&self.root).unwrap_or(dir);
        let mut current = self.root.clone();
        for component in relative.components() {
            let parent = current.clone();
            current.push(component);
            match self.mode.create_dir(&current) {
                Ok(()) => sync_dir(&parent)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && current.is_dir() => {}
                Err(e) => return Err(SinkError::io("create directory", &current, e)),
            }
        }
        sweep_dir(dir)?;
        self.ready_dirs.insert(dir.to_path_buf());
        Ok(())
    }
}

impl Sink for JsonlSink {
    fn write_parts(
        &mut self,
        blob: &BlobMeta,
        parts: &mut dyn EventParts,
    ) -> Result<Ack, SinkError> {
        let paths = self.paths(blob);
        let mut unique = UniqueEvents::new(blob);
        let mut temp = None;
        let written = self.write_temp(&paths, &mut unique, parts, &mut temp);
        let file = match (written, temp) {
            (Ok(()), Some(temp)) => temp.finish(&paths.temp),
            (Ok(()), None) => {
                // Nothing to write, not even a directory; but a file left by an unacknowledged earlier delivery
                // must go.
                let mut removed = remove_if_present(&paths.file)?;
                for other in &paths.others {
                    removed |= remove_if_present(other)?;
                }
                if removed {
                    sync_dir(&paths.dir)?;
                }
                return Ok(Ack {
                    events: 0,
                    written: 0,
                });
            }
            (Err(e), _) => Err(e),
        };
        if let Err(e) = file {
            // Best effort: a leftover is hidden from readers and swept on the next write into this directory.
            let _ = fs::remove_file(&paths.temp);
            return Err(e);
        }
        if let Err(e) = fs::rename(&paths.temp, &paths.file) {
            let _ = fs::remove_file(&paths.temp);
            return Err(SinkError::io("rename into place", &paths.file, e));
        }
        sync_dir(&paths.dir)?;
        Ok(Ack {
            events: unique.len(),
            written: unique.len(),
        })
    }

    fn describe(&self) -> String {
        match self.compress {
            Some(c) => format!("jsonl:{} ({})", self.root.display(), c.as_str()),
            None => format!("jsonl:{}", self.root.display()),
        }
    }
}

/// The file-name part derived from a `contentId`: 32 lowercase hex digits of SHA-256.
pub fn content_id_hash(content_id: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, content_id.as_bytes());
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file below `dir`, at any depth (directories that cannot be read are passed over): what a reader of the
/// output tree walks.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files
}

/// The suffix of final files for a compression: `.jsonl`, `.jsonl.gz` or `.jsonl.zst`.
pub const fn suffix(compress: Option<Compression>) -> &'static str {
    match compress {
        None => PLAIN_SUFFIX,
        Some(Compression::Gzip) => GZIP_SUFFIX,
        Some(Compression::Zstd) => ZSTD_SUFFIX,
    }
}

/// The compression a final file name says it has: `None` when it is not a final name, `Some(None)` for plain.
pub fn compression_of(name: &str) -> Option<Option<Compression>> {
    if name.starts_with('.') {
        return None;
    }
    [None, Some(Compression::Gzip), Some(Compression::Zstd)]
        .into_iter()
        .find(|c| name.ends_with(suffix(*c)))
}

/// True if `name` is a final file name of this sink (what a tailing reader should pick up).
pub fn is_final_name(name: &str) -> bool {
    compression_of(name).is_some()
}

/// True if `name` is a temporary of this sink.
pub fn is_temp_name(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
        .is_some_and(|n| FINAL_SUFFIXES.iter().any(|s| n.ends_with(s)))
}

/// The JSON lines of a final file, decompressed according to its suffix (what a reader of the output tree does).
pub fn read_lines(path: &Path) -> io::Result<Vec<u8>> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let file = File::open(path)?;
    let mut out = Vec::new();
    match compression_of(name) {
        Some(Some(Compression::Gzip)) => {
            io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(file), &mut out)?
        }
        Some(Some(Compression::Zstd)) => {
            io::Read::read_to_end(&mut zstd::stream::read::Decoder::new(file)?, &mut out)?
        }
        _ => io::Read::read_to_end(&mut &file, &mut out)?,
    };
    Ok(out)
}

impl JsonlSink {
    /// Writes the events of `parts` that `unique` admits to the blob's temporary file, created (truncating a
    /// stale one) at the first event: `temp` stays `None` for a blob without events.
    fn write_temp(
        &mut self,
        paths: &BlobPaths,
        unique: &mut UniqueEvents,
        parts: &mut dyn EventParts,
        temp: &mut Option<TempFile>,
    ) -> Result<(), SinkError> {
        let err = |e| SinkError::io("write", &paths.temp, e);
        while let Some(part) = parts.next_part()? {
            for event in part {
                if !unique.admit(event)? {
                    continue;
                }
                let out = match temp {
                    Some(t) => t,
                    None => {
                        self.prepare_dir(&paths.dir)?;
                        // An unacknowledged earlier delivery may have left a file of this blob under either name:
                        // the one we are about to write is replaced by the rename, the other must go first (if we
                        // crash after removing it, the blob is still not done and comes again).
                        for other in &paths.others {
                            remove_if_present(other)?;
                        }
                        temp.insert(TempFile::create(&paths.temp, self.compress, self.mode)?)
                    }
                };
                out.write_line(&event.line).map_err(err)?;
            }
        }
        Ok(())
    }
}

/// A blob's temporary file being written, plain, gzip or zstd.
enum TempFile {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

impl TempFile {
    fn create(
        temp: &Path,
        compress: Option<Compression>,
        mode: FileMode,
    ) -> Result<TempFile, SinkError> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode.file())
            .open(temp)
            .map_err(|e| SinkError::io("create temporary file", temp, e))?;
        // exactly the mode, whatever the umask or a stale temporary's mode (the rename keeps it)
        mode.apply(&file)
            .map_err(|e| SinkError::io("set the mode of", temp, e))?;
        let out = BufWriter::with_capacity(256 * 1024, file);
        Ok(match compress {
            Some(Compression::Gzip) => {
                TempFile::Gzip(GzEncoder::new(out, flate2::Compression::default()))
            }
            Some(Compression::Zstd) => TempFile::Zstd(
                zstd::stream::write::Encoder::new(out, zstd::DEFAULT_COMPRESSION_LEVEL)
                    .map_err(|e| SinkError::io("start zstd in", temp, e))?,
            ),
            None => TempFile::Plain(out),
        })
    }

    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let out: &mut dyn Write = match self {
            TempFile::Plain(w) => w,
            TempFile::Gzip(w) => w,
            TempFile::Zstd(w) => w,
        };
        out.write_all(line)?;
        out.write_all(b"\n")
    }

    /// Flushes everything (the gzip trailer or the zstd frame end included) and syncs the file.
    fn finish(self, temp: &Path) -> Result<(), SinkError> {
        let err = |e| SinkError::io("write", temp, e);
        let out = match self {
            TempFile::Plain(w) => w,
            TempFile::Gzip(gz) => gz.finish().map_err(err)?,
            TempFile::Zstd(zst) => zst.finish().map_err(err)?,
        };
        let file = out
            .into_inner()
            .map_err(|e| SinkError::io("write", temp, e.into_error()))?;
        file.sync_all().map_err(|e| SinkError::io("sync", temp, e))
    }
}

/// Creates `dir` and its missing ancestors with `mode`'s directory mode, syncing the parent of each directory created
/// so the new entries survive a crash.
fn create_dirs_durably(dir: &Path, mode: FileMode) -> Result<(), SinkError> {
    mode.create_dir_all(dir, |created| {
        let parent = created.parent().filter(|p| !p.as_os_str().is_empty());
        sync_dir(parent.unwrap_or(Path::new(".")))
    })
}

/// Removes `path` if it exists; true if it did.
fn remove_if_present(path: &Path) -> Result<bool, SinkError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(SinkError::io("remove", path, e)),
    }
}

/// Removes this sink's temporaries directly in `dir`; returns how many.
fn sweep_dir(dir: &Path) -> Result<usize, SinkError> {
    let mut removed = 0;
    let entries = fs::read_dir(dir).map_err(|e| SinkError::io("list directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| SinkError::io("list directory", dir, e))?;
        let name = entry.file_name();
        if name.to_str().is_some_and(is_temp_name) && remove_if_present(&entry.path())? {
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Makes a directory's entries (created, renamed, removed files) durable.
fn sync_dir(dir: &Path) -> Result<(), SinkError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SinkError::io("sync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_type::ContentType;
    use crate::sink::Batch;

    #[test]
    fn names_are_stable_hidden_when_temporary_and_dated_in_utc() {
        let sink = JsonlSink {
            root: PathBuf::from("/out"),
            compress: None,
            mode: FileMode::JSONL,
            ready_dirs: HashSet::new(),
        };
        let batch = Batch {
            content_type: ContentType::SharePoint,
            content_id: "20261126184502093028384$20261126184502093028384$audit_sharepoint$Audit_SharePoint$na"
                .into(),
            content_created: "2026-11-26T23:45:02.093-05:00".parse().unwrap(),
            events: vec![],
        };
        let paths = sink.paths(&batch.meta());
        assert_eq!(paths.dir, Path::new("/out/Audit.SharePoint/2026/11/27"));
        let name = paths.file.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("044502-"), "{name}");
        assert_eq!(name.len(), "044502-".len() + 32 + PLAIN_SUFFIX.len());
        assert!(is_final_name(name));
        assert!(!is_temp_name(name));
        let temp = paths.temp.file_name().unwrap().to_str().unwrap();
        assert!(is_temp_name(temp) && !is_final_name(temp), "{temp}");
        let others: Vec<&str> = paths.others.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(others.len(), 2, "{others:?}");
        assert!(others[0].ends_with(GZIP_SUFFIX) && others[1].ends_with(ZSTD_SUFFIX));
        assert!(
            others
                .iter()
                .all(|o| o.starts_with(paths.file.to_str().unwrap()))
        );
        assert_eq!(sink.paths(&batch.meta()), paths, "same blob, same paths");
        let mut other = batch.clone();
        other.content_id.push('x');
        assert_ne!(sink.paths(&other.meta()).file, paths.file);
    }
}
