//! The `splunk_hec` sink: Splunk's HTTP Event Collector, with indexer acknowledgement.
//!
//! Events go to `/services/collector/event` as concatenated HEC envelopes: `time` (the event time in epoch seconds
//! with milliseconds), `host` (the tenant ID), `source` (`o365sync:<content type>`), `sourcetype`, `index` when set,
//! and the event itself. Without acknowledgement HEC answers 200 as soon as it *received* a request, before the data
//! is indexed, so with `ack: true` (the default) every request goes on one channel (`X-Splunk-Request-Channel`, a
//! GUID per run) and its `ackId` is polled on `/services/collector/ack` until Splunk reports it indexed. A request
//! still unacknowledged after the acknowledgement timeout is sent again; when its attempts run out the blob stays
//! pending and the next run sends it again. Splunk has no idempotent write, so delivery is **at least once**: a
//! request indexed but acknowledged too late is indexed twice.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use url::Url;

use super::http::{self, Attempt, Counters, Encoder, Network, Payload, Retries, SecretSource};
use super::{BlobMeta, SinkError, SinkEvent};
use crate::api::retry::RetryPolicy;
use crate::auth::Secret;

/// The default `sourcetype`.
pub const DEFAULT_SOURCETYPE: &str = "o365:ocsf";

/// Default size of one request body (HEC's `max_content_length` is larger on every current Splunk).
pub const DEFAULT_BATCH_BYTES: usize = 1024 * 1024;

/// How long a request's acknowledgement is waited for before the request is sent again.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(120);

/// The pause before the first acknowledgement poll of a request.
const FIRST_POLL: Duration = Duration::from_millis(100);

/// Requests of one blob in flight at once.
const IN_FLIGHT: usize = 4;

/// The job file's `splunk_hec` sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplunkConfig {
    /// The collector's base URL, e.g. `https://splunk.example.com:8088`.
    pub url: Url,
    /// Where the HEC token comes from.
    pub token: SecretSource,
    /// The index (absent: the token's default index).
    pub index: Option<String>,
    /// The sourcetype.
    pub sourcetype: String,
    /// Whether to wait for indexer acknowledgement.
    pub ack: bool,
    /// A PEM file of CA certificates to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    /// How long an acknowledgement is waited for.
    pub ack_timeout: Duration,
    /// Largest request body in bytes.
    pub batch_bytes: usize,
}

/// Writes HEC event envelopes.
pub(crate) struct Envelopes {
    index: Option<String>,
    sourcetype: String,
}

impl Encoder for Envelopes {
    fn encode(
        &self,
        blob: &BlobMeta,
        event: &SinkEvent,
        out: &mut Vec<u8>,
    ) -> Result<(), SinkError> {
        let ms = event.time.as_millisecond();
        out.extend_from_slice(
            format!(
                "{{\"time\":{}{}.{:03},\"host\":",
                if ms < 0 { "-" } else { "" },
                (ms / 1000).unsigned_abs(),
                (ms % 1000).unsigned_abs()
            )
            .as_bytes(),
        );
        http::json_string(&event.tenant, out);
        out.extend_from_slice(b",\"source\":\"o365sync:");
        out.extend_from_slice(blob.content_type.as_str().as_bytes());
        out.extend_from_slice(b"\",\"sourcetype\":");
        http::json_string(&self.sourcetype, out);
        if let Some(index) = &self.index {
            out.extend_from_slice(b",\"index\":");
            http::json_string(index, out);
        }
        out.extend_from_slice(b",\"event\":");
        out.extend_from_slice(&event.line);
        out.push(b'}');
        Ok(())
    }
}

/// The `splunk_hec` sink.
pub struct SplunkSink {
    client: reqwest::Client,
    event_url: Url,
    ack_url: Url,
    authorization: Secret<HeaderValue>,
    /// The run's channel, when acknowledgement is on.
    channel: Option<HeaderValue>,
    encoder: Arc<Envelopes>,
    description: String,
    batch_bytes: usize,
    ack_timeout: Duration,
    /// The longest pause between two polls of one `ackId` (the first comes after [`FIRST_POLL`], then twice as
    /// long each time up to this).
    poll_every: Duration,
    policy: RetryPolicy,
    counters: Counters,
}

/// The channel header.
const CHANNEL: &str = "x-splunk-request-channel";

impl SplunkSink {
    /// Reads the token and builds the HTTP client; no request is sent.
    pub fn open(config: &SplunkConfig) -> Result<Self, SinkError> {
        let token = config.token.read("Splunk HEC token")?;
        let mut authorization = HeaderValue::from_str(&format!("Splunk {}", token.expose().trim()))
            .map_err(|_| SinkError::Secret {
                what: "Splunk HEC token",
                source_name: config.token.describe(),
                reason: "it contains characters an HTTP header cannot carry".into(),
                hint: "give the token's GUID exactly as Splunk shows it",
            })?;
        authorization.set_sensitive(true);
        let endpoint = |path: &str| -> Result<Url, SinkError> {
            let mut url = config.url.clone();
            url.path_segments_mut()
                .map_err(|()| {
                    SinkError::Config("sink.url cannot hold a path: give an http(s) URL".into())
                })?
                .pop_if_empty()
                .extend(path.split('/'));
            Ok(url)
        };
        let channel = config
            .ack
            .then(|| HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()))
            .transpose()
            .map_err(|e| SinkError::Config(format!("cannot make a channel header: {e}")))?;
        Ok(SplunkSink {
            client: http::client(config.ca_file.as_deref(), Duration::from_secs(60))?,
            event_url: endpoint("services/collector/event")?,
            ack_url: endpoint("services/collector/ack")?,
            authorization: Secret::new(authorization),
            channel,
            encoder: Arc::new(Envelopes {
                index: config.index.clone(),
                sourcetype: config.sourcetype.clone(),
            }),
            description: format!("splunk_hec:{}", http::host_of(&config.url)),
            batch_bytes: config.batch_bytes.max(1024),
            ack_timeout: config.ack_timeout,
            poll_every: Duration::from_secs(2),
            policy: RetryPolicy::default(),
            counters: Counters::default(),
        })
    }

    fn post(&self, url: &Url) -> reqwest::RequestBuilder {
        let request = self
            .client
            .post(url.clone())
            .header(AUTHORIZATION, self.authorization.expose().clone());
        match &self.channel {
            Some(c) => request.header(CHANNEL, c.clone()),
            None => request,
        }
    }

    /// Sends one body until Splunk accepted it (and, with acknowledgement, indexed it).
    async fn send_body(&self, payload: Payload) -> Result<(), SinkError> {
        let mut retries = Retries::new(&self.policy, &self.counters, &self.description);
        loop {
            let attempt = match self.attempt(&payload).await {
                Attempt::Done(Some(ack_id)) => self.acknowledged(ack_id).await,
                other => other.map_done(),
            };
            if retries.again(attempt).await?.is_some() {
                self.counters.sent(payload.items.len());
                return Ok(());
            }
        }
    }

    /// One request: `Done(Some(ackId))` to wait for, `Done(None)` when acknowledgement is off.
    async fn attempt(&self, payload: &Payload) -> Attempt<Option<u64>> {
        self.counters.request();
        let response = self
            .post(&self.event_url)
            .header(CONTENT_TYPE, "application/json")
            .body(payload.body.clone())
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                return http::network(
                    &e,
                    "check that Splunk is up and sink.url names the HEC port",
                );
            }
        };
        let status = response.status();
        let after = http::retry_after(response.headers());
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return http::network(&e, "check the network between o365sync and Splunk"),
        };
        let answer: HecAnswer = serde_json::from_slice(&body).unwrap_or_default();
        if status.is_success() && answer.code == Some(0) {
            return match (self.channel.is_some(), answer.ack_id) {
                (true, Some(id)) => Attempt::Done(Some(id)),
                (true, None) => Attempt::Fail(self.error(
                    "Splunk accepted the events but returned no ackId".into(),
                    "enable indexer acknowledgement on the HEC token, or set `ack: false` (events are then \
                     acknowledged on receipt, before indexing)",
                )),
                (false, _) => Attempt::Done(None),
            };
        }
        let text = answer.text.clone().unwrap_or_else(|| http::excerpt(&body));
        let problem = format!(
            "HTTP {status}, HEC code {}: {text}",
            answer.code.map_or("none".into(), |c| c.to_string())
        );
        match (status, answer.code) {
            (_, Some(9)) | (StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS, _) => Attempt::Retry {
                after,
                throttled: true,
                problem,
                hint: "Splunk is busy: give the indexers more capacity, or raise the HEC queue size".into(),
            },
            (s, _) if s.is_server_error() => Attempt::Retry {
                after,
                throttled: false,
                problem,
                hint: "check Splunk's health (GET /services/collector/health)".into(),
            },
            (_, Some(1)) => Attempt::Fail(self.error(problem, "the HEC token is disabled: enable it in Splunk (Settings > Data inputs > HTTP Event Collector)")),
            (_, Some(2..=4)) | (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => Attempt::Fail(self.error(
                problem,
                "check the HEC token (token_env / token_file) against Splunk's HTTP Event Collector inputs",
            )),
            (_, Some(7)) => Attempt::Fail(self.error(
                problem,
                "the index does not exist or the token may not write to it: fix sink.index or the token's allowed indexes",
            )),
            (_, Some(10 | 11)) => Attempt::Fail(self.error(
                problem,
                "the HEC token requires indexer acknowledgement: set `ack: true` in the sink section",
            )),
            (_, Some(14)) => Attempt::Fail(self.error(
                problem,
                "indexer acknowledgement is disabled on this HEC token: enable it, or set `ack: false`",
            )),
            _ => Attempt::Fail(self.error(problem, "check sink.url, sink.index and sink.sourcetype")),
        }
    }

    /// Polls `ack_id` until Splunk reports it indexed (`Done`), or the timeout passes (`Retry`: the body is sent
    /// again).
    async fn acknowledged(&self, ack_id: u64) -> Attempt<()> {
        let accepted = Instant::now();
        let body = format!("{{\"acks\":[{ack_id}]}}");
        // Indexing usually takes well under a second; later polls back off to `poll_every`.
        let mut wait = FIRST_POLL;
        loop {
            tokio::time::sleep(wait.min(self.ack_timeout)).await;
            wait = (wait * 2).min(self.poll_every);
            let response = self
                .post(&self.ack_url)
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            if let Ok(r) = response {
                let status = r.status();
                let bytes = r.bytes().await.unwrap_or_default();
                if status.is_success() {
                    let answer: AckAnswer = serde_json::from_slice(&bytes).unwrap_or_default();
                    if answer.acks.get(&ack_id.to_string()).copied() == Some(true) {
                        self.counters.acknowledged(accepted.elapsed());
                        return Attempt::Done(());
                    }
                } else if matches!(
                    status,
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST
                ) {
                    let answer: HecAnswer = serde_json::from_slice(&bytes).unwrap_or_default();
                    return Attempt::Fail(self.error(
                        format!(
                            "polling the acknowledgement answered HTTP {status}: {}",
                            answer.text.unwrap_or_else(|| http::excerpt(&bytes))
                        ),
                        "check that indexer acknowledgement is enabled on the HEC token",
                    ));
                }
            }
            if accepted.elapsed() >= self.ack_timeout {
                return Attempt::Retry {
                    after: None,
                    throttled: false,
                    problem: format!(
                        "request {ack_id} was not acknowledged as indexed within {} s",
                        self.ack_timeout.as_secs()
                    ),
                    hint: "Splunk's indexers are slow or lost the data: check the indexer queue; the events are \
                           sent again, so some may be indexed twice"
                        .into(),
                };
            }
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

impl Network for SplunkSink {
    type Enc = Envelopes;
    const IN_FLIGHT: usize = IN_FLIGHT;

    fn encoder(&self) -> Arc<Envelopes> {
        Arc::clone(&self.encoder)
    }

    fn max_body(&self) -> usize {
        self.batch_bytes
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
            // HEC checks the token (and the channel) before the body: an empty body answers 400 "No data" (code
            // 5) with a valid token and 401/403 without, so nothing is indexed.
            let response = self
                .post(&self.event_url)
                .header(CONTENT_TYPE, "application/json")
                .body(Vec::new())
                .send()
                .await
                .map_err(|e| {
                    self.error(
                        format!("cannot reach the collector: {}", crate::auth::network_reason(&e)),
                        "check sink.url (the HEC port, 8088 by default), the network and, for a private CA, sink.ca_file",
                    )
                })?;
            let status = response.status();
            let body = response.bytes().await.unwrap_or_default();
            let answer: HecAnswer = serde_json::from_slice(&body).unwrap_or_default();
            match answer.code {
                Some(5 | 0) => Ok(format!(
                    "reachable, the token is accepted{}; index {}, sourcetype {}",
                    if self.channel.is_some() {
                        " on an acknowledgement channel"
                    } else {
                        ""
                    },
                    self.encoder
                        .index
                        .as_deref()
                        .unwrap_or("(the token's default)"),
                    self.encoder.sourcetype
                )),
                _ => Err(self.error(
                    format!(
                        "HTTP {status}, HEC code {}: {}",
                        answer.code.map_or("none".into(), |c| c.to_string()),
                        answer.text.unwrap_or_else(|| http::excerpt(&body))
                    ),
                    match answer.code {
                        Some(1) => "the HEC token is disabled: enable it in Splunk",
                        Some(10 | 11) => {
                            "the token requires indexer acknowledgement: set `ack: true`"
                        }
                        _ => "check the HEC token (token_env / token_file) and sink.url",
                    },
                )),
            }
        })
    }
}

#[derive(Deserialize, Default)]
struct HecAnswer {
    text: Option<String>,
    code: Option<u32>,
    #[serde(rename = "ackId")]
    ack_id: Option<u64>,
}

#[derive(Deserialize, Default)]
struct AckAnswer {
    #[serde(default)]
    acks: std::collections::HashMap<String, bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_type::ContentType;

    #[test]
    fn envelopes_carry_time_source_and_the_event() {
        let blob = BlobMeta {
            content_type: ContentType::SharePoint,
            content_id: "c".into(),
            content_created: jiff::Timestamp::UNIX_EPOCH,
        };
        let event = SinkEvent {
            id: "1".into(),
            time: "2026-12-05T07:00:00.25Z".parse().unwrap(),
            class_uid: 1,
            tenant: "tenant-1".into(),
            line: br#"{"class_uid":1}"#.to_vec(),
        };
        let mut out = Vec::new();
        let enc = Envelopes {
            index: Some("o365".into()),
            sourcetype: DEFAULT_SOURCETYPE.into(),
        };
        enc.encode(&blob, &event, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["time"].as_f64(), Some(1_796_454_000.25));
        assert_eq!(v["host"], "tenant-1");
        assert_eq!(v["source"], "o365sync:Audit.SharePoint");
        assert_eq!(v["sourcetype"], "o365:ocsf");
        assert_eq!(v["index"], "o365");
        assert_eq!(v["event"]["class_uid"], 1);
    }
}
