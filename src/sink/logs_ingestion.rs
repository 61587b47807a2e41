//! The `azure_logs_ingestion` sink: Azure Monitor's Logs Ingestion API, the way into Microsoft Sentinel and Log
//! Analytics on every US cloud.
//!
//! Each request is `POST {endpoint}/dataCollectionRules/{dcr}/streams/{stream}?api-version=2023-01-01` with a
//! gzip-compressed JSON array of rows, under the service's 1 MB limit (counted on the uncompressed body, the stricter
//! reading). A row is an envelope whose columns never change, so one custom table serves OCSF events and raw records
//! alike (docs/sentinel.md has the table, the DCR and its `transformKql`):
//!
//! | column | type | value |
//! |---|---|---|
//! | `TimeGenerated` | datetime | the event time |
//! | `RecordId` | string | the audit record's `Id` |
//! | `ContentType` | string | `Audit.Exchange`, … |
//! | `ClassUid` | int | the OCSF `class_uid` (0 for raw records) |
//! | `TenantId` | string | the Microsoft 365 tenant |
//! | `Event` | dynamic | the OCSF event (or the raw record) |
//!
//! The token comes from a certificate credential, for the cloud's Azure Monitor audience
//! (`https://monitor.azure.com/.default` for commercial and GCC, `https://monitor.azure.us/.default` for GCC High
//! and DoD): the job's own, from the same authority as the Management API's, or the one of the sink's `auth` block,
//! from its tenant's authority and for its cloud (a workspace in another tenant or cloud). A 204 means the rows are accepted; the service has no
//! later acknowledgement. A repeat delivery after a crash sends the rows again (at least once; `RecordId`
//! de-duplicates in queries). 429 honours `Retry-After`; 5xx and network failures are retried; 401 refreshes the
//! token once; 413 splits the body in two.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use url::Url;

use super::http::{self, Attempt, Counters, Encoder, Item, Network, Payload, Retries};
use super::{BlobMeta, SinkError, SinkEvent};
use crate::api::retry::RetryPolicy;
use crate::auth::TokenProvider;

/// The service's limit on one call.
pub const MAX_BODY_BYTES: usize = 1_000_000;

/// Fields longer than this are truncated by the service.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Requests of one blob in flight at once.
const IN_FLIGHT: usize = 2;

/// The API version of the ingestion call.
pub const API_VERSION: &str = "2023-01-01";

/// The job file's `azure_logs_ingestion` sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsIngestionConfig {
    /// A data collection endpoint, or the DCR's own logs ingestion endpoint.
    pub endpoint: Url,
    /// The DCR's immutable ID (`dcr-…`).
    pub dcr_immutable_id: String,
    /// The stream declared in the DCR (`Custom-…`).
    pub stream: String,
}

/// Writes the JSON array of envelopes.
pub(crate) struct Rows {
    counters: Arc<Counters>,
}

impl Encoder for Rows {
    const OPEN: &'static [u8] = b"[";
    const SEPARATOR: &'static [u8] = b",";
    const CLOSE: &'static [u8] = b"]";

    fn encode(
        &self,
        blob: &BlobMeta,
        event: &SinkEvent,
        out: &mut Vec<u8>,
    ) -> Result<(), SinkError> {
        if event.line.len() > MAX_FIELD_BYTES {
            self.counters.oversized();
            tracing::warn!(
                record = %event.id,
                bytes = event.line.len(),
                "an event is over the Logs Ingestion API's 64 KB field limit: the service truncates its Event column"
            );
        }
        out.extend_from_slice(b"{\"TimeGenerated\":\"");
        out.extend_from_slice(event.time.to_string().as_bytes());
        out.extend_from_slice(b"\",\"RecordId\":");
        http::json_string(&event.id, out);
        out.extend_from_slice(b",\"ContentType\":\"");
        out.extend_from_slice(blob.content_type.as_str().as_bytes());
        out.extend_from_slice(
            format!("\",\"ClassUid\":{},\"TenantId\":", event.class_uid).as_bytes(),
        );
        http::json_string(&event.tenant, out);
        out.extend_from_slice(b",\"Event\":");
        out.extend_from_slice(&event.line);
        out.push(b'}');
        Ok(())
    }
}

/// The `azure_logs_ingestion` sink.
pub struct LogsIngestionSink {
    client: reqwest::Client,
    url: Url,
    tokens: TokenProvider,
    encoder: Arc<Rows>,
    description: String,
    max_body: usize,
    policy: RetryPolicy,
    counters: Arc<Counters>,
}

impl LogsIngestionSink {
    /// A sink that authenticates with `tokens` (a provider for the cloud's Azure Monitor scope); no request is sent.
    pub fn open(config: &LogsIngestionConfig, tokens: TokenProvider) -> Result<Self, SinkError> {
        let mut url = config.endpoint.clone();
        url.path_segments_mut()
            .map_err(|()| {
                SinkError::Config("sink.endpoint cannot hold a path: give an https URL".into())
            })?
            .pop_if_empty()
            .extend([
                "dataCollectionRules",
                &config.dcr_immutable_id,
                "streams",
                &config.stream,
            ]);
        url.query_pairs_mut()
            .append_pair("api-version", API_VERSION);
        let counters = Arc::new(Counters::default());
        Ok(LogsIngestionSink {
            client: http::client(None, Duration::from_secs(60))?,
            url,
            tokens,
            encoder: Arc::new(Rows {
                counters: Arc::clone(&counters),
            }),
            description: format!(
                "azure_logs_ingestion:{}/{}",
                http::host_of(&config.endpoint),
                config.stream
            ),
            max_body: MAX_BODY_BYTES,
            policy: RetryPolicy::default(),
            counters,
        })
    }

    /// Sends one body; after a 413 its two halves are sent instead, each on its own.
    async fn send_body(&self, payload: Payload) -> Result<(), SinkError> {
        let mut queue = vec![payload];
        while let Some(payload) = queue.pop() {
            if let Some((a, b)) = self.send_one(&payload).await? {
                queue.push(b);
                queue.push(a);
            }
        }
        Ok(())
    }

    /// Sends one body: `Some(halves)` when the service found it too large and it can be split.
    async fn send_one(&self, payload: &Payload) -> Result<Option<(Payload, Payload)>, SinkError> {
        let gz = gzip(&payload.body).map_err(|e| SinkError::Worker(format!("gzip: {e}")))?;
        let mut retries = Retries::new(&self.policy, &self.counters, &self.description);
        let mut refreshed = false;
        loop {
            let attempt = self.attempt(&gz, payload, &mut refreshed).await;
            if let Some(split) = retries.again(attempt).await? {
                if split.is_none() {
                    self.counters.sent(payload.items.len());
                }
                return Ok(split);
            }
        }
    }

    async fn attempt(
        &self,
        gz: &[u8],
        payload: &Payload,
        refreshed: &mut bool,
    ) -> Attempt<Option<(Payload, Payload)>> {
        let token = match self.tokens.token().await {
            Ok(t) => t,
            Err(e) if e.is_transient() => {
                return Attempt::Retry {
                    after: None,
                    throttled: false,
                    problem: format!("cannot get a token for Azure Monitor: {e}"),
                    hint: "check the network to the cloud's login endpoint".into(),
                };
            }
            Err(e) => {
                return Attempt::Fail(self.error(
                    format!("cannot get a token for Azure Monitor: {e}"),
                    "the job's app registration must be able to get tokens for Azure Monitor in its cloud",
                ));
            }
        };
        let Some(authorization) = token.authorization() else {
            return Attempt::Fail(self.error(
                "the token endpoint returned a token that cannot be sent as a header".into(),
                "check the login endpoint",
            ));
        };
        self.counters.request();
        let response = self
            .client
            .post(self.url.clone())
            .header(AUTHORIZATION, authorization)
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "gzip")
            .body(gz.to_vec())
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                return http::network(&e, "check the network to the data collection endpoint");
            }
        };
        let status = response.status();
        let after = http::retry_after(response.headers());
        let body = response.bytes().await.unwrap_or_default();
        let problem = || format!("HTTP {status}: {}", http::excerpt(&body));
        match status {
            s if s.is_success() => Attempt::Done(None),
            StatusCode::UNAUTHORIZED if !*refreshed => {
                *refreshed = true;
                self.tokens.invalidate(&token).await;
                Attempt::Retry {
                    after: Some(Duration::ZERO),
                    throttled: false,
                    problem: problem(),
                    hint: "the token was refused: check the app registration's tenant and cloud".into(),
                }
            }
            StatusCode::UNAUTHORIZED => Attempt::Fail(self.error(
                problem(),
                "the token was refused twice: check that the endpoint belongs to the job's cloud (Azure Government \
                 hosts end in .azure.us)",
            )),
            StatusCode::FORBIDDEN => Attempt::Fail(self.error(
                problem(),
                "assign the role Monitoring Metrics Publisher on the data collection rule to the app registration \
                 writing to it (sink.auth, or the job's tenant without it), in the rule's own tenant; a rule in \
                 another tenant or cloud needs `sink.auth` (docs/sentinel.md)",
            )),
            StatusCode::NOT_FOUND => Attempt::Fail(self.error(
                problem(),
                "check sink.dcr_immutable_id and sink.stream against the data collection rule (its immutableId and \
                 streamDeclarations)",
            )),
            StatusCode::PAYLOAD_TOO_LARGE if payload.items.len() > 1 => Attempt::Done(Some(split(payload))),
            StatusCode::PAYLOAD_TOO_LARGE => Attempt::Fail(self.error(
                format!("record `{}` alone is over the service's size limit", payload.items[0].id),
                "the record cannot be sent to this destination; write this job to a file sink instead",
            )),
            s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => Attempt::Retry {
                after,
                throttled: s == StatusCode::TOO_MANY_REQUESTS,
                problem: problem(),
                hint: "the data collection rule's ingestion limits are reached or the service is failing".into(),
            },
            _ => Attempt::Fail(self.error(
                problem(),
                "the data collection rule refused the rows: check that its stream declares the columns in \
                 docs/sentinel.md",
            )),
        }
    }

    fn error(&self, problem: String, hint: &str) -> SinkError {
        SinkError::Remote {
            destination: self.description.clone(),
            problem,
            hint: hint.into(),
        }
    }
}

/// Splits a body of rows into two halves.
fn split(payload: &Payload) -> (Payload, Payload) {
    let half = payload.items.len() / 2;
    let build = |items: &[Item]| {
        let mut p = Payload::default();
        p.body.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                p.body.push(b',');
            }
            let start = p.body.len();
            p.body.extend_from_slice(&payload.body[item.range.clone()]);
            p.items.push(Item {
                id: item.id.clone(),
                range: start..p.body.len(),
            });
        }
        p.body.push(b']');
        p
    };
    (build(&payload.items[..half]), build(&payload.items[half..]))
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
    gz.write_all(body)?;
    gz.finish()
}

impl Network for LogsIngestionSink {
    type Enc = Rows;
    const IN_FLIGHT: usize = IN_FLIGHT;

    fn encoder(&self) -> Arc<Rows> {
        Arc::clone(&self.encoder)
    }

    fn max_body(&self) -> usize {
        self.max_body
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn send(&self, payload: Payload) -> impl Future<Output = Result<(), SinkError>> + Send {
        self.send_body(payload)
    }

    fn check(&self) -> futures::future::BoxFuture<'_, Result<String, SinkError>> {
        Box::pin(async move {
            // An empty array goes through the whole path (token audience, role on the rule, rule and stream)
            // without adding a row.
            let empty = Payload {
                body: b"[]".to_vec(),
                items: Vec::new(),
            };
            let gz = gzip(&empty.body).map_err(|e| SinkError::Worker(format!("gzip: {e}")))?;
            let mut refreshed = true;
            match self.attempt(&gz, &empty, &mut refreshed).await {
                Attempt::Done(_) => Ok(format!(
                    "a token for {} was issued and an empty write to stream {} of {} was accepted",
                    self.tokens.config().endpoints.scope,
                    self.url
                        .path_segments()
                        .and_then(|mut s| s.nth(3))
                        .unwrap_or("?"),
                    self.url
                        .path_segments()
                        .and_then(|mut s| s.nth(1))
                        .unwrap_or("?"),
                )),
                Attempt::Retry { problem, hint, .. } => Err(self.error(problem, &hint)),
                Attempt::Fail(e) => Err(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_type::ContentType;

    #[test]
    fn rows_are_envelopes_and_halves_stay_valid_json() {
        let blob = BlobMeta {
            content_type: ContentType::AzureActiveDirectory,
            content_id: "c".into(),
            content_created: jiff::Timestamp::UNIX_EPOCH,
        };
        let rows = Rows {
            counters: Arc::new(Counters::default()),
        };
        let mut payload = Payload::default();
        payload.body.push(b'[');
        for i in 0..5 {
            if i > 0 {
                payload.body.push(b',');
            }
            let start = payload.body.len();
            let event = SinkEvent {
                id: format!("id-{i}"),
                time: "2026-12-05T07:00:00Z".parse().unwrap(),
                class_uid: 3002,
                tenant: "t".into(),
                line: format!("{{\"n\":{i}}}").into_bytes(),
            };
            rows.encode(&blob, &event, &mut payload.body).unwrap();
            payload.items.push(Item {
                id: event.id,
                range: start..payload.body.len(),
            });
        }
        payload.body.push(b']');
        let all: Vec<serde_json::Value> = serde_json::from_slice(&payload.body).unwrap();
        assert_eq!(all[1]["RecordId"], "id-1");
        assert_eq!(all[1]["ContentType"], "Audit.AzureActiveDirectory");
        assert_eq!(all[1]["ClassUid"], 3002);
        assert_eq!(all[1]["TimeGenerated"], "2026-12-05T07:00:00Z");
        assert_eq!(all[1]["Event"]["n"], 1);
        let (a, b) = split(&payload);
        let a: Vec<serde_json::Value> = serde_json::from_slice(&a.body).unwrap();
        let b: Vec<serde_json::Value> = serde_json::from_slice(&b.body).unwrap();
        assert_eq!((a.len(), b.len()), (2, 3));
        assert_eq!(b[0]["RecordId"], "id-2");
    }
}
