//! Fetching blobs: streamed and parsed record by record into a [`RecordSink`], retried whole when cut off or
//! invalid, with a terminal [`BlobOutcome`] per blob; many blobs at once with bounded concurrency.

use futures::{Stream, StreamExt, stream};
use reqwest::Method;

use crate::api::bearer::BearerSource;
use crate::api::blob::{ArrayParser, RawRecord};
use crate::api::client::{ApiClient, Failure};
use crate::api::error::{ApiError, ErrorClass, GapReason};
use crate::api::listing::ContentBlob;

/// Where a blob's records go while it is fetched.
///
/// Records arrive in order as they are parsed. When an attempt fails after some records (a body cut off, a
/// connection reset), [`RecordSink::discard`] is called before the next attempt, and again when the blob ends
/// without [`BlobOutcome::Delivered`], so a sink never keeps half a blob.
pub trait RecordSink: Send {
    /// Why the sink refused a record.
    type Error: std::fmt::Display;

    /// One record of the blob.
    fn record(&mut self, record: RawRecord) -> Result<(), Self::Error>;

    /// Forget every record delivered for this blob so far.
    fn discard(&mut self);

    /// Whether the sink parses every record itself and refuses one that is not valid JSON with an error for which
    /// [`RecordSink::is_invalid_record`] is true; the parser then skips its own syntax check.
    fn checks_json(&self) -> bool {
        false
    }

    /// Whether `error` means the record was not valid JSON: the body is then treated as corrupt (counted, and the
    /// blob fetched again) rather than refused.
    fn is_invalid_record(_error: &Self::Error) -> bool {
        false
    }
}

/// Collects records in memory (small blobs, tests, tools).
impl RecordSink for Vec<RawRecord> {
    type Error = std::convert::Infallible;

    fn record(&mut self, record: RawRecord) -> Result<(), Self::Error> {
        self.push(record);
        Ok(())
    }

    fn discard(&mut self) {
        self.clear();
    }
}

/// The terminal state of one blob, for the executor's ledger.
#[derive(Debug, Clone)]
pub enum BlobOutcome {
    /// Every record was parsed and handed to the sink.
    Delivered {
        /// Records delivered.
        records: u64,
    },
    /// The blob is gone (AF20050 missing, AF20051 expired, AF20052 bad ID): record a gap, do not retry.
    Gap {
        /// Why.
        reason: GapReason,
        /// The service's answer.
        detail: String,
    },
    /// Not fetched: the window must stay incomplete (and the job stop when [`ApiError::is_fatal`]).
    Failed {
        /// Why.
        error: ApiError,
    },
}

impl BlobOutcome {
    /// Whether the blob reached a state the window can complete with (delivered, or a recorded gap).
    pub fn is_terminal(&self) -> bool {
        !matches!(self, BlobOutcome::Failed { .. })
    }
}

/// A fetched blob with its outcome and its sink.
#[derive(Debug)]
pub struct Fetched<S> {
    /// The blob.
    pub blob: ContentBlob,
    /// What happened.
    pub outcome: BlobOutcome,
    /// The sink that received its records.
    pub sink: S,
}

impl<B: BearerSource> ApiClient<B> {
    /// Fetches one blob into `sink`. The `contentUri` must be on the API origin (else no request is sent and the
    /// blob fails); `PublisherIdentifier` is appended when missing.
    pub async fn fetch_blob<S: RecordSink>(&self, blob: &ContentBlob, sink: &mut S) -> BlobOutcome {
        let operation = format!("fetching blob {}", blob.content_id);
        let url = match self.root().pin(&blob.content_uri) {
            Ok(u) => u,
            Err(error) => {
                return BlobOutcome::Failed {
                    error: ApiError::Uri { operation, error },
                };
            }
        };
        let mut retrier = self.retrier();
        loop {
            let failure = match self.blob_attempt(&url, sink).await {
                Ok(records) => return BlobOutcome::Delivered { records },
                Err(f) => f,
            };
            sink.discard();
            if let Failure::Service(e) = &failure {
                if let ErrorClass::Gone(reason) = e.class() {
                    return BlobOutcome::Gap {
                        reason,
                        detail: e.to_string(),
                    };
                }
                // a plain 404 for a blob past its expiration: it expired
                if e.status == 404 && e.code.is_none() && blob.is_expired(jiff::Timestamp::now()) {
                    return BlobOutcome::Gap {
                        reason: GapReason::Expired,
                        detail: e.to_string(),
                    };
                }
            }
            if let Err(f) = retrier.next(failure).await {
                return BlobOutcome::Failed {
                    error: f.into_api_error(&operation, None),
                };
            }
        }
    }

    async fn blob_attempt<S: RecordSink>(
        &self,
        url: &url::Url,
        sink: &mut S,
    ) -> Result<u64, Failure> {
        let resp = self.attempt(Method::GET, url).await?;
        let mut body = resp.bytes_stream();
        let mut parser = if sink.checks_json() {
            ArrayParser::without_json_check()
        } else {
            ArrayParser::new()
        };
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                // the connection dropped mid-body: a cut-off blob
                self.count_bad_body();
                Failure::Transport(format!(
                    "reading the blob failed (cut off): {}",
                    e.without_url()
                ))
            })?;
            parser
                .feed(&chunk, &mut |r| sink.record(r))
                .map_err(|e| match e {
                    Ok(bad) => {
                        self.count_bad_body();
                        Failure::Body(bad.to_string())
                    }
                    Err(invalid) if S::is_invalid_record(&invalid) => {
                        self.count_bad_body();
                        Failure::Body(invalid.to_string())
                    }
                    Err(refused) => Failure::Sink(refused.to_string()),
                })?;
        }
        parser.finish().map_err(|bad| {
            self.count_bad_body();
            Failure::Body(bad.to_string())
        })
    }

    /// Fetches `blobs` with at most the configured number in flight, all sharing the tenant's budget. Each blob
    /// gets a fresh sink from `make_sink`; results arrive in completion order.
    pub fn fetch_blobs<'a, S, F, I>(
        &'a self,
        blobs: I,
        mut make_sink: F,
    ) -> impl Stream<Item = Fetched<S>> + 'a
    where
        I: IntoIterator<Item = ContentBlob>,
        I::IntoIter: 'a,
        S: RecordSink + 'a,
        F: FnMut(&ContentBlob) -> S + 'a,
    {
        let concurrency = self.inner.concurrency;
        stream::iter(blobs)
            .map(move |blob| {
                let mut sink = make_sink(&blob);
                async move {
                    let outcome = self.fetch_blob(&blob, &mut sink).await;
                    Fetched {
                        blob,
                        outcome,
                        sink,
                    }
                }
            })
            .buffer_unordered(concurrency)
    }
}
