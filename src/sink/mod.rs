//! Sinks: where normalized events go. The file sinks:
//!
//! | `sink.type` | module | idempotence on re-delivery of a blob |
//! |---|---|---|
//! | `jsonl` | [`jsonl`] | one file per blob, named from its `contentId`: a re-delivery replaces the file |
//! | `stdout` | [`stdout`] | content IDs already written by this process are skipped; across runs the ledger decides |
//! | `sqlite` | [`sqlite`] | `INSERT OR IGNORE` keyed by record `Id` |
//!
//! # The commit protocol
//!
//! For each blob the executor fetches, normalizes, then hands the sink one [`Batch`]: the blob's identity
//! (content type, `contentId`, `contentCreated`) and its events (record `Id`, event time, OCSF `class_uid`, tenant,
//! and the serialized JSON line). [`Sink::write_blob`] returns an [`Ack`] only once the batch is durable (on disk
//! and synced, or handed to the reader of standard output); only then may the state ledger mark the blob done. If
//! the process dies between the write and the ledger commit, the next run delivers the same blob again, and every
//! sink turns that second delivery into a no-op or an exact replacement: nothing lost, nothing duplicated.
//!
//! Within a batch, events are de-duplicated by record `Id` (the first occurrence wins). Duplicates *across* blobs
//! are the record ledger's business (the executor filters them before building the batch); the SQLite sink ignores
//! them by construction as well.
//!
//! # One async seam, two kinds of sink
//!
//! The executor sees every sink as a [`Destination`] (async, behind [`SharedSink`]). The file sinks do blocking
//! file or SQLite I/O, so they implement the plain synchronous [`Sink`] trait (simple to test without a runtime) and
//! [`Blocking`] runs their writes on tokio's blocking pool. The network sinks implement [`Destination`] directly:
//! request building on the blocking pool, sending and acknowledgement asynchronous ([`http`]):
//!
//! | `sink.type` | module | acknowledgement | on re-delivery of a blob |
//! |---|---|---|---|
//! | `elasticsearch` | [`elasticsearch`] | `_bulk` item status 201, or 409 (already there) | `create` with `_id` = record `Id`: exactly once |
//! | `splunk_hec` | [`splunk`] | indexer acknowledgement (`ackId` polled true) | sent again: at least once |
//! | `azure_logs_ingestion` | [`logs_ingestion`] | 204 (accepted; the service has no later acknowledgement) | sent again: at least once |
//!
//! # Output layout of the `jsonl` sink
//!
//! ```text
//! <sink.path>/<content type>/<yyyy>/<mm>/<dd>/<HHMMSS>-<hash>.jsonl[.gz]
//! ```
//!
//! See [`jsonl`] for the details (the date is the blob's `contentCreated` in UTC, `<hash>` is derived from the
//! `contentId`, temporaries are hidden `.….tmp` files).

pub mod elasticsearch;
pub mod error;
pub mod file_mode;
pub mod http;
pub mod jsonl;
pub mod logs_ingestion;
pub mod splunk;
pub mod sqlite;
pub mod stdout;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::content_type::ContentType;

pub use error::SinkError;
pub use file_mode::FileMode;
pub use jsonl::JsonlSink;
pub use sqlite::SqliteSink;
pub use stdout::StdoutSink;

/// One normalized event, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkEvent {
    /// The audit record's `Id` (also the OCSF `metadata.uid`): the key every sink is idempotent on.
    pub id: String,
    /// The event time (OCSF `time`).
    pub time: jiff::Timestamp,
    /// The OCSF `class_uid` (0 for `format: raw`).
    pub class_uid: u32,
    /// The tenant (directory) ID the record belongs to (shared by every event of a job).
    pub tenant: Arc<str>,
    /// The event serialized as one line of UTF-8 JSON, without the trailing newline.
    pub line: Vec<u8>,
}

/// One content blob's worth of events, with the blob's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The blob's content type.
    pub content_type: ContentType,
    /// The blob's `contentId` (contains `$` and other characters unfit for file names).
    pub content_id: String,
    /// The blob's `contentCreated`: dates the blob in the `jsonl` layout.
    pub content_created: jiff::Timestamp,
    /// The blob's events, in the order they should be written.
    pub events: Vec<SinkEvent>,
}

/// Proof that a batch is durable: the only thing that allows the ledger to mark its blob done.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the blob may only be marked done after its acknowledgement"]
pub struct Ack {
    /// Events in the batch after de-duplication by record `Id` within it.
    pub events: usize,
    /// Events this delivery added to the output (0 when a re-delivery changed nothing, as in SQLite or stdout).
    pub written: usize,
}

/// A blob's identity: what a sink needs to know besides its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// The blob's content type.
    pub content_type: ContentType,
    /// The blob's `contentId`.
    pub content_id: String,
    /// The blob's `contentCreated`.
    pub content_created: jiff::Timestamp,
}

impl Batch {
    /// The blob's identity.
    pub fn meta(&self) -> BlobMeta {
        BlobMeta {
            content_type: self.content_type,
            content_id: self.content_id.clone(),
            content_created: self.content_created,
        }
    }
}

/// A blob's events handed to a sink part by part, in order: a large blob never has to be in memory whole.
pub trait EventParts: Send {
    /// The next part, or `Ok(None)` after the last. An error abandons the write: the sink acknowledges nothing
    /// and leaves nothing partial under a final name.
    fn next_part(&mut self) -> Result<Option<&[SinkEvent]>, SinkError>;
}

/// A batch's events as one part.
struct WholeBatch<'a>(Option<&'a [SinkEvent]>);

impl EventParts for WholeBatch<'_> {
    fn next_part(&mut self) -> Result<Option<&[SinkEvent]>, SinkError> {
        Ok(self.0.take())
    }
}

/// A sink: writes one blob's events durably, idempotently on re-delivery.
pub trait Sink: Send {
    /// Writes the events of `blob`, read part by part from `parts`, and returns once they are durable. On error
    /// nothing is acknowledged and nothing partial is left under a final name; the caller must not mark the blob
    /// done.
    fn write_parts(
        &mut self,
        blob: &BlobMeta,
        parts: &mut dyn EventParts,
    ) -> Result<Ack, SinkError>;

    /// Writes a whole batch: [`Sink::write_parts`] with one part.
    fn write_blob(&mut self, batch: &Batch) -> Result<Ack, SinkError> {
        self.write_parts(&batch.meta(), &mut WholeBatch(Some(&batch.events)))
    }

    /// A short description for logs, e.g. `jsonl:/var/lib/o365sync/out (gzip)`.
    fn describe(&self) -> String;
}

/// The three sink types of the job file's `sink.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// A directory tree of JSON lines files.
    Jsonl,
    /// JSON lines on standard output.
    Stdout,
    /// One SQLite table.
    Sqlite,
}

/// Compression of `jsonl` files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// gzip (`.jsonl.gz`), readable by `gzip -d` and `zcat`.
    Gzip,
    /// Zstandard (`.jsonl.zst`), readable by `zstd -d` and `zstdcat`: smaller and faster than gzip.
    Zstd,
}

impl Compression {
    /// The job file's spelling (`gzip`, `zstd`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// The job file's `sink:` section, with `path` already resolved against the job file's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// `jsonl`, `stdout` or `sqlite`.
    #[serde(rename = "type")]
    pub kind: SinkKind,
    /// The output directory (`jsonl`) or database file (`sqlite`); not allowed for `stdout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// `gzip` or `zstd` to compress `jsonl` files (absent: plain); not allowed for the other types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compress: Option<Compression>,
    /// Permission bits of the files created (`jsonl` default `0640`, `sqlite` `0600`; see [`FileMode`]); not
    /// allowed for `stdout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<FileMode>,
}

impl SinkConfig {
    /// Checks the combination of fields without touching the file system.
    pub fn validate(&self) -> Result<(), SinkError> {
        match (self.kind, &self.path, self.compress) {
            (SinkKind::Jsonl | SinkKind::Sqlite, None, _) => Err(SinkError::Config(format!(
                "sink type `{}` needs a `path`: add `path: <directory or file>` to the sink section",
                self.kind.as_str()
            ))),
            (SinkKind::Stdout, Some(_), _) => Err(SinkError::Config(
                "sink type `stdout` takes no `path`: remove it, or use type `jsonl` or `sqlite`"
                    .into(),
            )),
            (SinkKind::Stdout, _, _) if self.file_mode.is_some() => Err(SinkError::Config(
                "`file_mode` applies to the file sinks only: remove it from the `stdout` sink"
                    .into(),
            )),
            (SinkKind::Stdout | SinkKind::Sqlite, _, Some(_)) => Err(SinkError::Config(format!(
                "`compress` applies to sink type `jsonl` only: remove it from the `{}` sink",
                self.kind.as_str()
            ))),
            _ => Ok(()),
        }
    }
}

impl SinkKind {
    /// The job file's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            SinkKind::Jsonl => "jsonl",
            SinkKind::Stdout => "stdout",
            SinkKind::Sqlite => "sqlite",
        }
    }
}

/// Opens the sink a job's configuration describes (creating its directory or database if needed).
pub fn open(config: &SinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    config.validate()?;
    match (config.kind, &config.path) {
        (SinkKind::Jsonl, Some(path)) => Ok(Box::new(JsonlSink::open_with_mode(
            path,
            config.compress,
            config.file_mode.unwrap_or(FileMode::JSONL),
        )?)),
        (SinkKind::Sqlite, Some(path)) => Ok(Box::new(SqliteSink::open_with_mode(
            path,
            config.file_mode.unwrap_or(FileMode::SQLITE),
        )?)),
        (SinkKind::Stdout, _) => Ok(Box::new(StdoutSink::stdout())),
        (SinkKind::Jsonl | SinkKind::Sqlite, None) => Err(SinkError::Config(
            "sink needs a `path`: add it to the sink section".into(),
        )),
    }
}

/// The executor's face of a sink: asynchronous, shared by the tasks of a run.
///
/// A file sink does blocking I/O behind it ([`Blocking`]); a network sink builds its requests on the blocking pool
/// and sends them asynchronously with a bounded number in flight ([`http`]). Either way the returned [`Ack`] means
/// what [`Sink::write_parts`] promises: the destination holds the blob's events durably.
pub trait Destination: Send + Sync {
    /// Delivers `blob`'s events, read from `parts`; see [`Sink::write_parts`] for the contract.
    fn deliver(
        &self,
        blob: BlobMeta,
        parts: Box<dyn EventParts>,
    ) -> futures::future::BoxFuture<'_, Result<Ack, SinkError>>;

    /// A short description for logs and messages (type and place, never a credential).
    fn describe(&self) -> &str;

    /// Delivery counters of a network sink; `None` for the file sinks.
    fn stats(&self) -> Option<http::DeliveryStats> {
        None
    }

    /// For `doctor`: checks that a network destination is reachable, takes the credential and accepts writes to
    /// the configured index or stream, without storing an event; `None` for the file sinks (doctor inspects their
    /// paths itself). `Ok` says what was checked.
    fn probe(&self) -> Option<futures::future::BoxFuture<'_, Result<String, SinkError>>> {
        None
    }
}

/// A synchronous [`Sink`] as a [`Destination`]: each write runs on tokio's blocking pool, and writes from several
/// tasks are serialized behind a mutex. A write whose future is dropped still runs to completion on the pool; its
/// acknowledgement is merely lost, which the commit protocol tolerates.
pub struct Blocking {
    inner: Arc<Mutex<Box<dyn Sink>>>,
    description: String,
}

impl Blocking {
    /// Wraps a sink.
    pub fn new(sink: Box<dyn Sink>) -> Self {
        let description = sink.describe();
        Blocking {
            inner: Arc::new(Mutex::new(sink)),
            description,
        }
    }
}

impl Destination for Blocking {
    fn deliver(
        &self,
        blob: BlobMeta,
        mut parts: Box<dyn EventParts>,
    ) -> futures::future::BoxFuture<'_, Result<Ack, SinkError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                // A panic in an earlier write poisons the mutex; the on-disk protocol is atomic, so carrying on is
                // safe.
                let mut sink = inner.lock().unwrap_or_else(PoisonError::into_inner);
                sink.write_parts(&blob, parts.as_mut())
            })
            .await
            .map_err(|e| SinkError::Worker(e.to_string()))?
        })
    }

    fn describe(&self) -> &str {
        &self.description
    }
}

/// A [`Destination`] shared by the executor's tasks (cheap to clone).
#[derive(Clone)]
pub struct SharedSink {
    inner: Arc<dyn Destination>,
}

impl std::fmt::Debug for SharedSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedSink")
            .field(&self.inner.describe())
            .finish()
    }
}

impl SharedSink {
    /// Wraps a synchronous sink ([`Blocking`]).
    pub fn new(sink: Box<dyn Sink>) -> Self {
        Self::from_destination(Arc::new(Blocking::new(sink)))
    }

    /// Wraps a destination.
    pub fn from_destination(inner: Arc<dyn Destination>) -> Self {
        SharedSink { inner }
    }

    /// The destination's description.
    pub fn describe(&self) -> &str {
        self.inner.describe()
    }

    /// Delivery counters of a network sink.
    pub fn stats(&self) -> Option<http::DeliveryStats> {
        self.inner.stats()
    }

    /// [`Destination::probe`].
    pub async fn probe(&self) -> Option<Result<String, SinkError>> {
        Some(self.inner.probe()?.await)
    }

    /// Delivers `blob`'s events, read from `parts`. Must be called within a tokio runtime.
    pub async fn write_parts(
        &self,
        blob: BlobMeta,
        parts: Box<dyn EventParts>,
    ) -> Result<Ack, SinkError> {
        self.inner.deliver(blob, parts).await
    }

    /// Delivers `batch`: [`SharedSink::write_parts`] with one part.
    pub async fn write_blob(&self, batch: Batch) -> Result<Ack, SinkError> {
        let meta = batch.meta();
        self.write_parts(meta, Box::new(OnePart::new(batch.events)))
            .await
    }
}

/// Events owned in memory, handed over as one part.
#[derive(Debug)]
pub struct OnePart {
    events: Vec<SinkEvent>,
    given: bool,
}

impl OnePart {
    /// `events` as a single part.
    pub fn new(events: Vec<SinkEvent>) -> Self {
        OnePart {
            events,
            given: false,
        }
    }
}

impl EventParts for OnePart {
    fn next_part(&mut self) -> Result<Option<&[SinkEvent]>, SinkError> {
        if std::mem::replace(&mut self.given, true) {
            return Ok(None);
        }
        Ok(Some(&self.events))
    }
}

/// Checks each event of one blob and drops repeated record `Id`s (first occurrence wins), across parts.
pub(crate) struct UniqueEvents {
    seen: HashSet<String>,
    content_id: String,
}

impl UniqueEvents {
    pub(crate) fn new(blob: &BlobMeta) -> Self {
        UniqueEvents {
            seen: HashSet::new(),
            content_id: blob.content_id.clone(),
        }
    }

    /// Events admitted so far.
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether `event` is the first of its `Id` in the blob; an error for an event no sink may write.
    pub(crate) fn admit(&mut self, event: &SinkEvent) -> Result<bool, SinkError> {
        if self.seen.contains(event.id.as_str()) {
            return Ok(false);
        }
        let invalid = |reason| SinkError::InvalidEvent {
            id: event.id.clone(),
            content_id: self.content_id.clone(),
            reason,
        };
        if event.id.is_empty() {
            return Err(invalid("the record Id is empty"));
        }
        if event.line.is_empty() {
            return Err(invalid("its JSON line is empty"));
        }
        if memchr::memchr2(b'\n', b'\r', &event.line).is_some() {
            return Err(invalid("its JSON line contains a line break"));
        }
        if std::str::from_utf8(&event.line).is_err() {
            return Err(invalid("its JSON line is not UTF-8"));
        }
        self.seen.insert(event.id.clone());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Result<SinkConfig, serde_saphyr::Error> {
        serde_saphyr::from_str(yaml)
    }

    #[test]
    fn config_parses_the_job_file_shapes() {
        let c = config("type: jsonl\npath: out/x\ncompress: gzip\n").unwrap();
        assert_eq!(c.kind, SinkKind::Jsonl);
        assert_eq!(c.compress, Some(Compression::Gzip));
        assert!(c.validate().is_ok());
        assert!(config("type: stdout\n").unwrap().validate().is_ok());
        assert!(config("type: kafka\n").is_err());
        assert!(config("type: jsonl\npath: x\nzip: true\n").is_err());
    }

    #[test]
    fn inconsistent_configs_say_what_to_change() {
        let no_path = config("type: sqlite\n").unwrap().validate().unwrap_err();
        assert!(no_path.to_string().contains("needs a `path`"), "{no_path}");
        let stdout_path = config("type: stdout\npath: x\n")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(stdout_path.to_string().contains("takes no `path`"));
        let gz = config("type: sqlite\npath: x.db\ncompress: gzip\n")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(gz.to_string().contains("`jsonl` only"), "{gz}");
        assert!(open(&config("type: jsonl\n").unwrap()).is_err());
    }

    fn event(id: &str, line: &[u8]) -> SinkEvent {
        SinkEvent {
            id: id.into(),
            time: jiff::Timestamp::UNIX_EPOCH,
            class_uid: 3002,
            tenant: "t".into(),
            line: line.to_vec(),
        }
    }

    #[test]
    fn unique_events_drops_repeats_and_rejects_bad_lines() {
        let meta = BlobMeta {
            content_type: ContentType::Exchange,
            content_id: "a$b".into(),
            content_created: jiff::Timestamp::UNIX_EPOCH,
        };
        let mut unique = UniqueEvents::new(&meta);
        assert!(unique.admit(&event("1", b"{}")).unwrap());
        assert!(unique.admit(&event("2", b"{}")).unwrap());
        assert!(!unique.admit(&event("1", b"{\"x\":1}")).unwrap());
        assert_eq!(unique.len(), 2);
        let err = unique.admit(&event("3", b"{\n}")).unwrap_err();
        assert!(err.to_string().contains("line break"), "{err}");
        let err = unique.admit(&event("4", b"\xff")).unwrap_err();
        assert!(err.to_string().contains("UTF-8"), "{err}");
        assert!(unique.admit(&event("", b"{}")).is_err());
        assert!(unique.admit(&event("5", b"")).is_err());
    }

    #[test]
    fn a_batch_is_one_part() {
        let events = vec![event("1", b"{}")];
        let mut whole = WholeBatch(Some(&events));
        assert_eq!(whole.next_part().unwrap().map(<[SinkEvent]>::len), Some(1));
        assert!(whole.next_part().unwrap().is_none());
        let mut owned = OnePart::new(events);
        assert_eq!(owned.next_part().unwrap().map(<[SinkEvent]>::len), Some(1));
        assert!(owned.next_part().unwrap().is_none());
    }
}
