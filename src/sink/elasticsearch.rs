//! The `elasticsearch` sink: Elasticsearch 8/9 and OpenSearch 2/3 through the `_bulk` API.
//!
//! Every event is a `create` with `_id` = the record `Id`, so a blob delivered twice (a crash between the write and
//! the ledger's commit) finds its events already there: item status 409, counted as delivered. That makes delivery
//! exactly once across crashes, and `create` is the one operation data streams accept. Each document is the event
//! with `@timestamp` (the event time, RFC 3339) added in front, which data streams require.
//!
//! A `_bulk` answer is 200 even when items failed, so each item's status decides: 201 (or 200) and 409 are done;
//! 429 and `es_rejected_execution_exception` items are sent again, alone, with backoff; any other item error (a
//! mapping conflict, a document the index refuses) fails the blob, naming the record and the destination's reason.
//! A whole-request 429 or 5xx is retried; 401/403 fail at once with what to check.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use url::Url;

use super::http::{self, Attempt, Counters, Encoder, Network, Payload, Retries, SecretSource};
use super::{BlobMeta, SinkError, SinkEvent};
use crate::api::retry::RetryPolicy;
use crate::auth::Secret;

/// Default size of one `_bulk` body.
pub const DEFAULT_BATCH_BYTES: usize = 5 * 1024 * 1024;

/// `_bulk` requests of one blob in flight at once.
const IN_FLIGHT: usize = 2;

/// How the sink authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElasticAuth {
    /// No `Authorization` header (a cluster without security, e.g. a local test cluster).
    None,
    /// `Authorization: ApiKey <encoded>`: the base64 `id:api_key` that Elasticsearch returns as `encoded`.
    ApiKey(SecretSource),
    /// Basic authentication.
    Basic {
        /// The user name.
        username: String,
        /// Where the password comes from.
        password: SecretSource,
    },
}

/// The job file's `elasticsearch` sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElasticsearchConfig {
    /// The cluster's URL, e.g. `https://es.example.com:9200` (a path prefix is kept, for proxies).
    pub url: Url,
    /// An index, alias or data stream.
    pub index: String,
    /// How to authenticate.
    pub auth: ElasticAuth,
    /// A PEM file of CA certificates to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Largest `_bulk` body in bytes.
    pub batch_bytes: usize,
}

/// Writes NDJSON `_bulk` bodies: a `create` action line, then the document with `@timestamp`.
pub(crate) struct Bulk;

impl Encoder for Bulk {
    fn encode(&self, _: &BlobMeta, event: &SinkEvent, out: &mut Vec<u8>) -> Result<(), SinkError> {
        out.extend_from_slice(b"{\"create\":{\"_id\":");
        http::json_string(&event.id, out);
        out.extend_from_slice(b"}}\n{\"@timestamp\":\"");
        out.extend_from_slice(event.time.to_string().as_bytes());
        out.push(b'"');
        // The event is a JSON object (checked by the normalizer): splice its members after `@timestamp`.
        let members = event.line.strip_prefix(b"{").unwrap_or(&event.line);
        if members.first() != Some(&b'}') {
            out.push(b',');
        }
        out.extend_from_slice(members);
        out.push(b'\n');
        Ok(())
    }
}

/// The `elasticsearch` sink.
pub struct ElasticsearchSink {
    client: reqwest::Client,
    encoder: Arc<Bulk>,
    bulk_url: Url,
    authorization: Option<Secret<HeaderValue>>,
    description: String,
    batch_bytes: usize,
    policy: RetryPolicy,
    counters: Counters,
}

impl ElasticsearchSink {
    /// Reads the credential and builds the HTTP client; no request is sent.
    pub fn open(config: &ElasticsearchConfig) -> Result<Self, SinkError> {
        let authorization = match &config.auth {
            ElasticAuth::None => None,
            ElasticAuth::ApiKey(source) => {
                let key = source.read("Elasticsearch API key")?;
                Some(header(&format!("ApiKey {}", key.expose().trim()))?)
            }
            ElasticAuth::Basic { username, password } => {
                let password = password.read("Elasticsearch password")?;
                let pair = format!("{username}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                Some(header(&format!("Basic {encoded}"))?)
            }
        };
        let mut bulk_url = config.url.clone();
        bulk_url
            .path_segments_mut()
            .map_err(|()| {
                SinkError::Config("sink.url cannot hold a path: give an http(s) URL".into())
            })?
            .pop_if_empty()
            .push(&config.index)
            .push("_bulk");
        Ok(ElasticsearchSink {
            encoder: Arc::new(Bulk),
            client: http::client(config.ca_file.as_deref(), Duration::from_secs(120))?,
            description: format!(
                "elasticsearch:{}/{}",
                http::host_of(&config.url),
                config.index
            ),
            bulk_url,
            authorization,
            batch_bytes: config.batch_bytes.max(1024),
            policy: RetryPolicy::default(),
            counters: Counters::default(),
        })
    }

    /// Sends one body until every item in it is created or already there.
    async fn send_body(&self, payload: Payload) -> Result<(), SinkError> {
        let mut retries = Retries::new(&self.policy, &self.counters, &self.description);
        let mut pending = payload;
        loop {
            let attempt = self.attempt(&pending).await;
            match attempt {
                Attempt::Done(None) => return Ok(()),
                Attempt::Done(Some(again)) => {
                    // Some items were throttled: only they go again.
                    let n = again.items.len();
                    pending = again;
                    retries
                        .again::<()>(Attempt::Retry {
                            after: None,
                            throttled: true,
                            problem: format!("{n} documents were rejected as too many requests"),
                            hint: "the cluster is overloaded: give it more capacity, or run fewer jobs against it at once".into(),
                        })
                        .await?;
                }
                other => {
                    retries.again(other.map_done()).await?;
                }
            }
        }
    }

    /// One `_bulk` request: `Done(None)` when every item is done, `Done(Some(rest))` with the items to send again.
    async fn attempt(&self, payload: &Payload) -> Attempt<Option<Payload>> {
        self.counters.request();
        let mut request = self
            .client
            .post(self.bulk_url.clone())
            .header(CONTENT_TYPE, "application/x-ndjson")
            .body(payload.body.clone());
        if let Some(auth) = &self.authorization {
            request = request.header(AUTHORIZATION, auth.expose().clone());
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                return http::network(&e, "check that the cluster is up and sink.url is right");
            }
        };
        let status = response.status();
        let after = http::retry_after(response.headers());
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return http::network(&e, "check the network between o365sync and the cluster");
            }
        };
        match status {
            StatusCode::OK => self.items(payload, &body),
            StatusCode::UNAUTHORIZED => self.fail(
                status,
                &body,
                "check the API key (api_key_env / api_key_file) or the user name and password",
            ),
            StatusCode::FORBIDDEN => self.fail(
                status,
                &body,
                "the credential lacks a privilege: grant `create_doc` (and `auto_configure` for a new data stream) on the index",
            ),
            StatusCode::NOT_FOUND => self.fail(
                status,
                &body,
                "the index does not exist and the cluster does not create indices on demand: create it, or fix sink.index",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => self.fail(
                status,
                &body,
                "a _bulk body exceeds the cluster's http.max_content_length: raise it",
            ),
            s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => Attempt::Retry {
                after,
                throttled: s == StatusCode::TOO_MANY_REQUESTS,
                problem: format!("HTTP {s}: {}", http::excerpt(&body)),
                hint: "the cluster is overloaded or failing: check its health".into(),
            },
            s => self.fail(s, &body, "check sink.url and sink.index"),
        }
    }

    fn fail<T>(&self, status: StatusCode, body: &[u8], hint: &str) -> Attempt<T> {
        Attempt::Fail(SinkError::Remote {
            destination: self.description.clone(),
            problem: format!("_bulk answered HTTP {status}: {}", http::excerpt(body)),
            hint: hint.into(),
        })
    }

    /// Reads a 200 answer's per-item results.
    fn items(&self, payload: &Payload, body: &[u8]) -> Attempt<Option<Payload>> {
        let answer: BulkAnswer = match serde_json::from_slice(body) {
            Ok(a) => a,
            Err(e) => {
                return Attempt::Retry {
                    after: None,
                    throttled: false,
                    problem: format!("the _bulk answer is not the expected JSON ({e}): {}", http::excerpt(body)),
                    hint: "check that sink.url points at Elasticsearch or OpenSearch, not a proxy's error page".into(),
                };
            }
        };
        if answer.items.len() != payload.items.len() {
            return Attempt::Retry {
                after: None,
                throttled: false,
                problem: format!(
                    "the _bulk answer has {} items for {} documents",
                    answer.items.len(),
                    payload.items.len()
                ),
                hint: "check that sink.url points at Elasticsearch or OpenSearch".into(),
            };
        }
        let mut again = Payload::default();
        let mut done = 0;
        for (item, sent) in answer.items.iter().zip(&payload.items) {
            let result = item.result();
            match result.status {
                200 | 201 | 409 => done += 1,
                429 => again_item(&mut again, payload, sent),
                _ if result.error_type() == Some("es_rejected_execution_exception") => {
                    again_item(&mut again, payload, sent)
                }
                status => {
                    self.counters.sent(done);
                    let (kind, reason) = result.error_text();
                    return Attempt::Fail(SinkError::Remote {
                        destination: self.description.clone(),
                        problem: format!(
                            "the document of record `{}` was refused (item status {status}, {kind}): {reason}",
                            sent.id
                        ),
                        hint: "the index mapping conflicts with the event: install the OCSF index template \
                               (docs/elasticsearch.md) or use a new index"
                            .into(),
                    });
                }
            }
        }
        self.counters.sent(done);
        Attempt::Done((!again.items.is_empty()).then_some(again))
    }
}

/// Copies one item of `payload` into the body sent again.
fn again_item(again: &mut Payload, payload: &Payload, item: &http::Item) {
    let start = again.body.len();
    again
        .body
        .extend_from_slice(&payload.body[item.range.clone()]);
    again.items.push(http::Item {
        id: item.id.clone(),
        range: start..again.body.len(),
    });
}

fn header(value: &str) -> Result<Secret<HeaderValue>, SinkError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| SinkError::Secret {
        what: "Elasticsearch credential",
        source_name: "the job's sink section".into(),
        reason: "it contains characters an HTTP header cannot carry".into(),
        hint: "give the key or password as printable ASCII",
    })?;
    v.set_sensitive(true);
    Ok(Secret::new(v))
}

impl Network for ElasticsearchSink {
    type Enc = Bulk;
    const IN_FLIGHT: usize = IN_FLIGHT;

    fn encoder(&self) -> Arc<Bulk> {
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
            // `GET /` answers only with a valid credential (401 otherwise) and names the product and version.
            let mut root = self.bulk_url.clone();
            if let Ok(mut segments) = root.path_segments_mut() {
                segments.pop().pop();
            }
            let mut request = self.client.get(root);
            if let Some(auth) = &self.authorization {
                request = request.header(AUTHORIZATION, auth.expose().clone());
            }
            let response = request.send().await.map_err(|e| SinkError::Remote {
                destination: self.description.clone(),
                problem: format!(
                    "cannot reach the cluster: {}",
                    crate::auth::network_reason(&e)
                ),
                hint: "check sink.url, the network and, for a private CA, sink.ca_file".into(),
            })?;
            let status = response.status();
            let body = response.bytes().await.unwrap_or_default();
            if status == StatusCode::UNAUTHORIZED {
                return Err(SinkError::Remote {
                    destination: self.description.clone(),
                    problem: format!("the cluster refused the credential (HTTP 401): {}", http::excerpt(&body)),
                    hint: "check the API key (api_key_env / api_key_file) or the user name and password".into(),
                });
            }
            if !status.is_success() {
                return Err(SinkError::Remote {
                    destination: self.description.clone(),
                    problem: format!("GET / answered HTTP {status}: {}", http::excerpt(&body)),
                    hint: "check that sink.url points at Elasticsearch or OpenSearch".into(),
                });
            }
            let info: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let version = &info["version"];
            Ok(format!(
                "reachable and authenticated: {} {} (cluster {}); events go to `{}` as create with _id = record Id",
                version["distribution"].as_str().unwrap_or("elasticsearch"),
                version["number"].as_str().unwrap_or("?"),
                info["cluster_name"].as_str().unwrap_or("?"),
                self.bulk_url
                    .path()
                    .trim_end_matches("/_bulk")
                    .trim_start_matches('/'),
            ))
        })
    }
}

#[derive(Deserialize)]
struct BulkAnswer {
    #[serde(default)]
    items: Vec<BulkItem>,
}

/// One item of a `_bulk` answer, keyed by its operation (`create` here; `index` from a proxy that rewrites).
#[derive(Deserialize)]
struct BulkItem {
    #[serde(alias = "index")]
    create: Option<ItemResult>,
}

impl BulkItem {
    fn result(&self) -> ItemResult {
        self.create.clone().unwrap_or(ItemResult {
            status: 0,
            error: None,
        })
    }
}

#[derive(Deserialize, Clone)]
struct ItemResult {
    #[serde(default)]
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl ItemResult {
    fn error_type(&self) -> Option<&str> {
        self.error.as_ref()?.get("type")?.as_str()
    }

    /// The error's type and reason (with its cause's reason, where a mapping error names the field).
    fn error_text(&self) -> (String, String) {
        let Some(error) = &self.error else {
            return ("no error given".into(), "no reason given".into());
        };
        let kind = self.error_type().unwrap_or("unknown error").to_owned();
        let mut reason = error
            .get("reason")
            .and_then(|r| r.as_str())
            .unwrap_or("no reason given")
            .to_owned();
        if let Some(cause) = error
            .get("caused_by")
            .and_then(|c| c.get("reason"))
            .and_then(|r| r.as_str())
        {
            reason.push_str(": ");
            reason.push_str(cause);
        }
        (kind, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_type::ContentType;

    #[test]
    fn documents_get_the_timestamp_in_front() {
        let blob = BlobMeta {
            content_type: ContentType::Exchange,
            content_id: "c".into(),
            content_created: jiff::Timestamp::UNIX_EPOCH,
        };
        let event = SinkEvent {
            id: "a\"b".into(),
            time: "2026-12-05T07:00:00Z".parse().unwrap(),
            class_uid: 1,
            tenant: "t".into(),
            line: br#"{"class_uid":1}"#.to_vec(),
        };
        let mut out = Vec::new();
        Bulk.encode(&blob, &event, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"create\":{\"_id\":\"a\\\"b\"}}\n{\"@timestamp\":\"2026-12-05T07:00:00Z\",\"class_uid\":1}\n"
        );
        let mut out = Vec::new();
        let empty = SinkEvent {
            line: b"{}".to_vec(),
            ..event
        };
        Bulk.encode(&blob, &empty, &mut out).unwrap();
        assert!(out.ends_with(b"{\"@timestamp\":\"2026-12-05T07:00:00Z\"}\n"));
    }

    #[test]
    fn the_credential_never_shows() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "c2VjcmV0LWlkOnNlY3JldC1rZXk=\n").unwrap();
        let sink = ElasticsearchSink::open(&ElasticsearchConfig {
            url: "https://es.example.com:9200".parse().unwrap(),
            index: "logs-o365-default".into(),
            auth: ElasticAuth::ApiKey(SecretSource::File(key)),
            ca_file: None,
            batch_bytes: DEFAULT_BATCH_BYTES,
        })
        .unwrap();
        assert_eq!(
            sink.description(),
            "elasticsearch:es.example.com:9200/logs-o365-default"
        );
        assert_eq!(
            sink.bulk_url.as_str(),
            "https://es.example.com:9200/logs-o365-default/_bulk"
        );
        assert_eq!(format!("{:?}", sink.authorization), "Some([redacted])");
    }
}
