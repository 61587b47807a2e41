//! What the network sinks (`elasticsearch`, `splunk_hec`, `azure_logs_ingestion`) share.
//!
//! A network write has two halves, as in Vector's sinks: *request building* and *sending*. [`encode`] reads the
//! blob's events part by part on tokio's blocking pool (parts may come from a spool file), de-duplicates them by
//! record `Id` and packs them into request bodies of at most a size limit, handing each body over as soon as it is
//! full through a bounded channel, so a large blob is never in memory whole. [`send_all`] sends those bodies with
//! a bounded number in flight; the blob is acknowledged only when every body was accepted (and, for Splunk,
//! indexed). [`Retries`] is the retry budget every request goes through: exponential backoff with jitter,
//! `Retry-After` honoured, a bounded number of attempts.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use super::{BlobMeta, EventParts, SinkError, SinkEvent, UniqueEvents};
pub(crate) use crate::api::client::retry_after;
use crate::api::retry::RetryPolicy;
use crate::auth::Secret;
pub(crate) use crate::cloud::host_of;

/// Where a destination's credential comes from: never inline in a job file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The name of an environment variable (`…_env`).
    Env(String),
    /// A file whose content, minus one trailing newline, is the secret (`…_file`).
    File(PathBuf),
}

impl SecretSource {
    /// Reads the secret; `what` names it in errors (e.g. `Splunk HEC token`). The value never appears in an error.
    pub fn read(&self, what: &'static str) -> Result<Secret<String>, SinkError> {
        let fail = |reason: String, hint| SinkError::Secret {
            what,
            source_name: self.describe(),
            reason,
            hint,
        };
        let mut value = match self {
            SecretSource::Env(var) => std::env::var(var).map_err(|e| {
                fail(
                    match e {
                        std::env::VarError::NotPresent => "it is not set".to_owned(),
                        std::env::VarError::NotUnicode(_) => "it is not UTF-8".to_owned(),
                    },
                    "export the variable before running o365sync, or name a file with the `_file` key",
                )
            })?,
            SecretSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
                fail(
                    e.to_string(),
                    "make the file readable by the user running o365sync, or use the `_env` key",
                )
            })?,
        };
        if value.ends_with('\n') {
            value.pop();
            if value.ends_with('\r') {
                value.pop();
            }
        }
        if value.trim().is_empty() {
            return Err(fail(
                "it is empty".to_owned(),
                "put the credential there (a file holds it on its first line)",
            ));
        }
        Ok(Secret::new(value))
    }

    /// Where the secret comes from, for messages.
    pub fn describe(&self) -> String {
        match self {
            SecretSource::Env(var) => format!("environment variable {var}"),
            SecretSource::File(path) => format!("file {}", path.display()),
        }
    }
}

/// An HTTP client for a destination: rustls with the system's roots, plus the PEM certificates of `ca_file` (a
/// private CA); never follows redirects (a redirect would carry the credential to another host).
pub(crate) fn client(
    ca_file: Option<&Path>,
    timeout: Duration,
) -> Result<reqwest::Client, SinkError> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            SinkError::Config(format!(
                "cannot read sink.ca_file `{}`: {e}; make it readable or remove ca_file to use the system's roots",
                path.display()
            ))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                SinkError::Config(format!(
                    "sink.ca_file `{}` holds no PEM certificate; give the CA certificate in PEM (-----BEGIN CERTIFICATE-----)",
                    path.display()
                ))
            })?;
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| SinkError::Config(format!("cannot build the HTTP client: {e}")))
}

/// Counters of one sink's deliveries, for the run report and the metrics.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    events_sent: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    ack_wait_ms_total: AtomicU64,
    ack_wait_ms_max: AtomicU64,
    acks: AtomicU64,
    oversized_fields: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryStats {
    /// HTTP requests sent (retries included, acknowledgement polls excluded).
    pub requests: u64,
    /// Events the destination accepted (for Elasticsearch: created or already there).
    pub events_sent: u64,
    /// Requests or items sent again after a retryable failure.
    pub retries: u64,
    /// Of those, the ones the destination throttled (429, 503 busy, rejected execution).
    pub throttled: u64,
    /// Acknowledged requests whose acknowledgement was waited for (Splunk with `ack: true`).
    pub acks: u64,
    /// Total milliseconds between a request's acceptance and its acknowledgement.
    pub ack_wait_ms_total: u64,
    /// The longest of those waits.
    pub ack_wait_ms_max: u64,
    /// Events with a field over the destination's field limit (Logs Ingestion truncates fields over 64 KB).
    pub oversized_fields: u64,
}

impl DeliveryStats {
    /// Adds `other` (another turn of the same job).
    pub(crate) fn absorb(&mut self, other: &DeliveryStats) {
        self.requests += other.requests;
        self.events_sent += other.events_sent;
        self.retries += other.retries;
        self.throttled += other.throttled;
        self.acks += other.acks;
        self.ack_wait_ms_total += other.ack_wait_ms_total;
        self.ack_wait_ms_max = self.ack_wait_ms_max.max(other.ack_wait_ms_max);
        self.oversized_fields += other.oversized_fields;
    }
}

impl Counters {
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn sent(&self, events: usize) {
        self.events_sent.fetch_add(events as u64, Ordering::Relaxed);
    }
    pub(crate) fn retry(&self, throttled: bool) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        if throttled {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        }
    }
    pub(crate) fn acknowledged(&self, waited: Duration) {
        let ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
        self.acks.fetch_add(1, Ordering::Relaxed);
        self.ack_wait_ms_total.fetch_add(ms, Ordering::Relaxed);
        self.ack_wait_ms_max.fetch_max(ms, Ordering::Relaxed);
    }
    pub(crate) fn oversized(&self) {
        self.oversized_fields.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn snapshot(&self) -> DeliveryStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DeliveryStats {
            requests: get(&self.requests),
            events_sent: get(&self.events_sent),
            retries: get(&self.retries),
            throttled: get(&self.throttled),
            acks: get(&self.acks),
            ack_wait_ms_total: get(&self.ack_wait_ms_total),
            ack_wait_ms_max: get(&self.ack_wait_ms_max),
            oversized_fields: get(&self.oversized_fields),
        }
    }
}

/// A network sink: how it encodes and sends one body. Every such sink is a [`Destination`] through the one impl
/// below: request building on the blocking pool ([`encode`]), then sending with a bounded number in flight
/// ([`send_all`]).
pub(crate) trait Network: Send + Sync {
    /// How events become request bodies.
    type Enc: Encoder;
    /// Bodies of one blob in flight at once.
    const IN_FLIGHT: usize;

    fn encoder(&self) -> Arc<Self::Enc>;
    /// Largest body in bytes.
    fn max_body(&self) -> usize;
    fn description(&self) -> &str;
    fn counters(&self) -> &Counters;
    /// Sends one body until the destination accepted (and, where it can, acknowledged) it.
    fn send(&self, payload: Payload) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// [`Destination::probe`].
    fn check(&self) -> futures::future::BoxFuture<'_, Result<String, SinkError>>;
}

impl<T: Network> super::Destination for T {
    fn deliver(
        &self,
        blob: BlobMeta,
        parts: Box<dyn EventParts>,
    ) -> futures::future::BoxFuture<'_, Result<super::Ack, SinkError>> {
        Box::pin(async move {
            let (bodies, encoded) = encode(blob, parts, self.encoder(), self.max_body());
            let events = send_all(bodies, encoded, T::IN_FLIGHT, |p| self.send(p)).await?;
            Ok(super::Ack {
                events,
                written: events,
            })
        })
    }

    fn describe(&self) -> &str {
        self.description()
    }

    fn stats(&self) -> Option<DeliveryStats> {
        Some(self.counters().snapshot())
    }

    fn probe(&self) -> Option<futures::future::BoxFuture<'_, Result<String, SinkError>>> {
        Some(self.check())
    }
}

/// How a sink turns events into request bodies.
pub(crate) trait Encoder: Send + Sync + 'static {
    /// Bytes that open a body (`[` for a JSON array).
    const OPEN: &'static [u8] = b"";
    /// Bytes between two events in a body (`,` in a JSON array).
    const SEPARATOR: &'static [u8] = b"";
    /// Bytes that close a body.
    const CLOSE: &'static [u8] = b"";

    /// Appends one event's bytes to `out`.
    fn encode(
        &self,
        blob: &BlobMeta,
        event: &SinkEvent,
        out: &mut Vec<u8>,
    ) -> Result<(), SinkError>;
}

/// One event in a [`Payload`]: its record `Id` and where its bytes lie in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub id: String,
    pub range: std::ops::Range<usize>,
}

/// One request body and the events in it, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Payload {
    pub body: Vec<u8>,
    pub items: Vec<Item>,
}

/// Bodies queued between the encoder and the senders, beyond those in flight.
const QUEUED_BODIES: usize = 2;

/// Encodes a blob's events into bodies of at most `max_body` bytes (an event larger than that travels alone) on the
/// blocking pool. Returns the bodies as they fill up and, once the receiver is drained, the number of distinct
/// events through the join handle.
pub(crate) fn encode<E: Encoder>(
    blob: BlobMeta,
    mut parts: Box<dyn EventParts>,
    encoder: Arc<E>,
    max_body: usize,
) -> (
    mpsc::Receiver<Result<Payload, SinkError>>,
    tokio::task::JoinHandle<usize>,
) {
    let (tx, rx) = mpsc::channel(QUEUED_BODIES);
    let handle = tokio::task::spawn_blocking(move || {
        let mut unique = UniqueEvents::new(&blob);
        let mut payload = Payload::default();
        let mut scratch = Vec::new();
        let flush = |payload: &mut Payload| {
            let mut full = std::mem::take(payload);
            full.body.extend_from_slice(E::CLOSE);
            tx.blocking_send(Ok(full)).is_ok()
        };
        loop {
            let part = match parts.next_part() {
                Ok(Some(part)) => part,
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return unique.len();
                }
            };
            for event in part {
                match unique.admit(event) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return unique.len();
                    }
                }
                scratch.clear();
                if let Err(e) = encoder.encode(&blob, event, &mut scratch) {
                    let _ = tx.blocking_send(Err(e));
                    return unique.len();
                }
                let added = scratch.len() + E::SEPARATOR.len();
                if !payload.items.is_empty()
                    && payload.body.len() + added + E::CLOSE.len() > max_body
                    && !flush(&mut payload)
                {
                    return unique.len();
                }
                if payload.items.is_empty() {
                    payload.body.extend_from_slice(E::OPEN);
                } else {
                    payload.body.extend_from_slice(E::SEPARATOR);
                }
                let start = payload.body.len();
                payload.body.extend_from_slice(&scratch);
                payload.items.push(Item {
                    id: event.id.clone(),
                    range: start..payload.body.len(),
                });
            }
        }
        if !payload.items.is_empty() {
            flush(&mut payload);
        }
        unique.len()
    });
    (rx, handle)
}

/// Sends every body from `bodies` through `send`, at most `in_flight` at once, and returns the number of events
/// in them once all were accepted, or the first error (the others are then abandoned: the blob is not
/// acknowledged and will be delivered again).
pub(crate) async fn send_all<F, Fut>(
    bodies: mpsc::Receiver<Result<Payload, SinkError>>,
    encoded: tokio::task::JoinHandle<usize>,
    in_flight: usize,
    send: F,
) -> Result<usize, SinkError>
where
    F: Fn(Payload) -> Fut,
    Fut: Future<Output = Result<(), SinkError>>,
{
    let stream = futures::stream::unfold(bodies, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let results = stream
        .map(|payload| {
            let sent = payload.map(&send);
            async move {
                match sent {
                    Ok(fut) => fut.await,
                    Err(e) => Err(e),
                }
            }
        })
        .buffer_unordered(in_flight.max(1));
    let mut results = std::pin::pin!(results);
    while let Some(result) = results.next().await {
        result?;
    }
    encoded.await.map_err(|e| SinkError::Worker(e.to_string()))
}

/// The outcome of one attempt of a request (see [`Retries`]).
pub(crate) enum Attempt<T> {
    /// Done.
    Done(T),
    /// Worth another try: `after` the destination's `Retry-After` if it gave one; `throttled` when it said it was
    /// overloaded; `problem` describes the failure if it is the last.
    Retry {
        after: Option<Duration>,
        throttled: bool,
        problem: String,
        hint: String,
    },
    /// Will not succeed by trying again.
    Fail(SinkError),
}

impl<T> Attempt<T> {
    /// The same attempt with the done value dropped (for [`Retries::again`] when the value was already used).
    pub(crate) fn map_done(self) -> Attempt<()> {
        match self {
            Attempt::Done(_) => Attempt::Done(()),
            Attempt::Retry {
                after,
                throttled,
                problem,
                hint,
            } => Attempt::Retry {
                after,
                throttled,
                problem,
                hint,
            },
            Attempt::Fail(e) => Attempt::Fail(e),
        }
    }
}

/// Appends `s` as a JSON string.
pub(crate) fn json_string(s: &str, out: &mut Vec<u8>) {
    // Serializing a `str` into a `Vec` cannot fail: there is no I/O and every `str` is representable.
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

/// The retry budget of one request: [`Retries::again`] waits before the next attempt, or gives up with a
/// [`SinkError::Remote`] naming the last problem once `policy` has no attempts left.
pub(crate) struct Retries<'a> {
    policy: &'a RetryPolicy,
    counters: &'a Counters,
    destination: &'a str,
    backoff: Box<dyn Iterator<Item = Duration> + Send>,
}

impl<'a> Retries<'a> {
    pub(crate) fn new(
        policy: &'a RetryPolicy,
        counters: &'a Counters,
        destination: &'a str,
    ) -> Self {
        Retries {
            policy,
            counters,
            destination,
            backoff: Box::new(policy.backoff()),
        }
    }

    /// Waits before trying again after `attempt` asked for it; an error when attempts are exhausted or `attempt`
    /// failed for good.
    pub(crate) async fn again<T>(&mut self, attempt: Attempt<T>) -> Result<Option<T>, SinkError> {
        match attempt {
            Attempt::Done(v) => Ok(Some(v)),
            Attempt::Fail(e) => Err(e),
            Attempt::Retry {
                after,
                throttled,
                problem,
                hint,
            } => match self.backoff.next() {
                Some(delay) => {
                    self.counters.retry(throttled);
                    let delay = self.policy.delay(delay, after);
                    tracing::debug!(
                        destination = self.destination,
                        %problem,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "retrying"
                    );
                    tokio::time::sleep(delay).await;
                    Ok(None)
                }
                None => Err(SinkError::Remote {
                    destination: self.destination.to_owned(),
                    problem: format!(
                        "{problem} (gave up after {} attempts)",
                        self.policy.max_attempts
                    ),
                    hint,
                }),
            },
        }
    }
}

/// A network failure as a retryable attempt.
pub(crate) fn network<T>(e: &reqwest::Error, hint: &str) -> Attempt<T> {
    Attempt::Retry {
        after: None,
        throttled: false,
        problem: crate::auth::network_reason(e),
        hint: hint.to_owned(),
    }
}

/// The start of a response body for an error message: on one line, at most 300 characters (the API client's rule).
pub(crate) fn excerpt(body: &[u8]) -> String {
    crate::api::error::sanitize(&String::from_utf8_lossy(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_type::ContentType;
    use crate::sink::OnePart;

    struct Lines;
    impl Encoder for Lines {
        const OPEN: &'static [u8] = b"[";
        const SEPARATOR: &'static [u8] = b",";
        const CLOSE: &'static [u8] = b"]";
        fn encode(&self, _: &BlobMeta, e: &SinkEvent, out: &mut Vec<u8>) -> Result<(), SinkError> {
            out.extend_from_slice(&e.line);
            Ok(())
        }
    }

    fn event(id: &str, len: usize) -> SinkEvent {
        SinkEvent {
            id: id.into(),
            time: jiff::Timestamp::UNIX_EPOCH,
            class_uid: 1,
            tenant: "t".into(),
            line: format!("\"{}\"", "x".repeat(len)).into_bytes(),
        }
    }

    fn meta() -> BlobMeta {
        BlobMeta {
            content_type: ContentType::Exchange,
            content_id: "c".into(),
            content_created: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn bodies_stay_under_the_limit_and_hold_every_event_once() {
        let events: Vec<_> = (0..50)
            .map(|i| event(&format!("id{}", i % 40), 20))
            .collect();
        let (mut rx, done) = encode(meta(), Box::new(OnePart::new(events)), Arc::new(Lines), 100);
        let mut ids = Vec::new();
        while let Some(p) = rx.recv().await {
            let p = p.unwrap();
            assert!(p.body.len() <= 100, "{}", p.body.len());
            let parsed: Vec<String> = serde_json::from_slice(&p.body).unwrap();
            assert_eq!(parsed.len(), p.items.len());
            for item in &p.items {
                assert_eq!(
                    &p.body[item.range.clone()],
                    format!("\"{}\"", "x".repeat(20)).as_bytes()
                );
            }
            ids.extend(p.items.into_iter().map(|i| i.id));
        }
        assert_eq!(done.await.unwrap(), 40);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 40);
    }

    #[tokio::test]
    async fn an_event_over_the_limit_travels_alone() {
        let events = vec![event("a", 10), event("b", 500), event("c", 10)];
        let (mut rx, _) = encode(meta(), Box::new(OnePart::new(events)), Arc::new(Lines), 100);
        let mut sizes = Vec::new();
        while let Some(p) = rx.recv().await {
            sizes.push(p.unwrap().items.len());
        }
        assert_eq!(sizes, vec![1, 1, 1]);
    }

    #[test]
    fn secrets_are_read_without_their_newline_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cr3t-value\n").unwrap();
        let secret = SecretSource::File(path.clone()).read("test token").unwrap();
        assert_eq!(secret.expose(), "s3cr3t-value");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        std::fs::write(&path, "\n").unwrap();
        let err = SecretSource::File(path).read("test token").unwrap_err();
        assert!(err.to_string().contains("it is empty"), "{err}");
        let err = SecretSource::Env("O365SYNC_TEST_SURELY_UNSET_VAR".into())
            .read("test token")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable O365SYNC_TEST_SURELY_UNSET_VAR"),
            "{err}"
        );
        assert!(err.contains("not set"), "{err}");
    }

    #[test]
    fn excerpts_are_short_and_on_one_line() {
        assert_eq!(excerpt(b"a\n  b"), "a b");
        assert_eq!(excerpt("x".repeat(400).as_bytes()).chars().count(), 301);
    }
}
