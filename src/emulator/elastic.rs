//! An Elasticsearch `_bulk` receiver, faithful to what a client observes: `GET /` (cluster info), `POST
//! /{index}/_bulk` with NDJSON, per-item results under a 200 (`create` of an existing `_id` → 409
//! `version_conflict_engine_exception`), data streams (`logs-*-*`) accepting only `create` and only documents with
//! `@timestamp`, API-key authentication (401 `security_exception`), and hostile on demand: whole-request 429, item
//! 429 `es_rejected_execution_exception`, item 400 `document_parsing_exception` for a refused field.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Shared;

/// How the receiver behaves (all off by default: no authentication, no faults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ElasticSettings {
    /// The API key (`encoded` form) every request must carry; `None`: no authentication.
    pub api_key: Option<String>,
    /// Every N-th `_bulk` request is answered 429 as a whole (0: never).
    pub throttle_every: u64,
    /// Every N-th item is answered 429 `es_rejected_execution_exception` (0: never).
    pub reject_item_every: u64,
    /// A top-level field whose presence makes an item fail with a mapping error (400).
    pub refuse_field: Option<String>,
}

/// The receiver's state: settings and every stored document by index and `_id`.
#[derive(Debug, Default)]
pub struct ElasticReceiver {
    settings: Mutex<ElasticSettings>,
    documents: Mutex<BTreeMap<String, BTreeMap<String, Value>>>,
    requests: AtomicU64,
    items: AtomicU64,
    conflicts: AtomicU64,
}

impl ElasticReceiver {
    /// Forgets every stored document (benchmarks keep memory flat).
    pub fn clear(&self) {
        self.documents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Replaces the settings.
    pub fn set(&self, settings: ElasticSettings) {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = settings;
    }

    /// The documents of one index by `_id`.
    pub fn documents(&self, index: &str) -> BTreeMap<String, Value> {
        self.documents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(index)
            .cloned()
            .unwrap_or_default()
    }

    /// `_bulk` requests received, items received, and items answered 409.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.items.load(Ordering::Relaxed),
            self.conflicts.load(Ordering::Relaxed),
        )
    }

    fn settings(&self) -> ElasticSettings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn error(status: StatusCode, kind: &str, reason: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

fn authorized(settings: &ElasticSettings, headers: &HeaderMap) -> bool {
    match &settings.api_key {
        None => true,
        Some(key) => headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("ApiKey "))
            .is_some_and(|k| k.trim() == key),
    }
}

fn unauthenticated() -> Response {
    let mut resp = error(
        StatusCode::UNAUTHORIZED,
        "security_exception",
        "unable to authenticate with provided credentials and anonymous access is not allowed for this request",
    );
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("ApiKey"),
    );
    resp
}

/// `GET /`: the cluster's identity (what `doctor` asks first).
pub(crate) async fn info(
    State(shared): State<std::sync::Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    let receiver = &shared.receivers.elastic;
    if !authorized(&receiver.settings(), &headers) {
        return unauthenticated();
    }
    axum::Json(json!({
        "name": "o365sync-emulator",
        "cluster_name": "emulator",
        "version": {"number": "8.19.0", "distribution": "elasticsearch"},
        "tagline": "You Know, for Search",
    }))
    .into_response()
}

/// Whether an index name is a data stream under Elasticsearch's built-in `logs-*-*` template.
fn is_data_stream(index: &str) -> bool {
    index.starts_with("logs-") && index.matches('-').count() >= 2
}

/// `POST /{index}/_bulk`.
pub(crate) async fn bulk(
    State(shared): State<std::sync::Arc<Shared>>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let receiver = &shared.receivers.elastic;
    let settings = receiver.settings();
    if !authorized(&settings, &headers) {
        return unauthenticated();
    }
    let n = receiver.requests.fetch_add(1, Ordering::Relaxed) + 1;
    if settings.throttle_every > 0 && n.is_multiple_of(settings.throttle_every) {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "es_rejected_execution_exception",
            "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1, max_coordinating_and_primary_bytes=0]",
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-ndjson")
        && !content_type.starts_with("application/json")
    {
        return error(
            StatusCode::NOT_ACCEPTABLE,
            "media_type_header_exception",
            &format!("Content-Type header [{content_type}] is not supported"),
        );
    }
    if !body.ends_with(b"\n") {
        return error(
            StatusCode::BAD_REQUEST,
            "illegal_argument_exception",
            "The bulk request must be terminated by a newline [\\n]",
        );
    }
    let data_stream = is_data_stream(&index);
    let mut lines = body.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let mut items = Vec::new();
    let mut errors = false;
    let mut docs = receiver.documents.lock().unwrap_or_else(|e| e.into_inner());
    while let Some(action) = lines.next() {
        let Ok(action) = serde_json::from_slice::<BTreeMap<String, Value>>(action) else {
            return error(
                StatusCode::BAD_REQUEST,
                "x_content_parse_exception",
                "Malformed action/metadata line",
            );
        };
        let Some((op, meta)) = action.into_iter().next() else {
            return error(
                StatusCode::BAD_REQUEST,
                "illegal_argument_exception",
                "Malformed action/metadata line",
            );
        };
        let Some(source) = lines.next() else {
            return error(
                StatusCode::BAD_REQUEST,
                "illegal_argument_exception",
                "The bulk request must be terminated by a newline [\\n]",
            );
        };
        let id = meta.get("_id").and_then(Value::as_str).map(str::to_owned);
        let k = receiver.items.fetch_add(1, Ordering::Relaxed) + 1;
        let item = |status: u16, error: Option<Value>| {
            let mut result = json!({"_index": index, "_id": id, "status": status});
            if let Some(e) = error {
                result["error"] = e;
            }
            json!({ op.clone(): result })
        };
        let failure = |kind: &str, reason: String| json!({"type": kind, "reason": reason});
        let doc: Option<Value> = serde_json::from_slice(source).ok();
        let outcome = if op != "create" && op != "index" {
            (
                400,
                Some(failure(
                    "illegal_argument_exception",
                    format!("Unknown action [{op}]"),
                )),
            )
        } else if data_stream && op != "create" {
            (
                400,
                Some(failure(
                    "illegal_argument_exception",
                    format!(
                        "only write ops with an op_type of create are allowed in data streams: [{index}]"
                    ),
                )),
            )
        } else if settings.reject_item_every > 0 && k.is_multiple_of(settings.reject_item_every) {
            (
                429,
                Some(failure(
                    "es_rejected_execution_exception",
                    "rejected execution of primary operation [shard_detail=[emulator][0]]".into(),
                )),
            )
        } else {
            match doc {
                None => (
                    400,
                    Some(failure("document_parsing_exception", "[1:1] failed to parse: not a JSON object".into())),
                ),
                Some(doc) if data_stream && doc.get("@timestamp").is_none() => (
                    400,
                    Some(failure(
                        "document_parsing_exception",
                        "[1:1] failed to parse: data stream timestamp field [@timestamp] is missing".into(),
                    )),
                ),
                Some(doc)
                    if settings
                        .refuse_field
                        .as_deref()
                        .is_some_and(|f| doc.get(f).is_some()) =>
                {
                    let field = settings.refuse_field.clone().unwrap_or_default();
                    (
                        400,
                        Some(json!({
                            "type": "document_parsing_exception",
                            "reason": format!("[1:20] failed to parse field [{field}] of type [long] in document with id '{}'", id.clone().unwrap_or_default()),
                            "caused_by": {"type": "illegal_argument_exception", "reason": format!("For input string: \"{field}\"")},
                        })),
                    )
                }
                Some(doc) => {
                    let stored = docs.entry(index.clone()).or_default();
                    let id = id.clone().unwrap_or_else(|| format!("auto-{k}"));
                    if op == "create" && stored.contains_key(&id) {
                        receiver.conflicts.fetch_add(1, Ordering::Relaxed);
                        (
                            409,
                            Some(failure(
                                "version_conflict_engine_exception",
                                format!("[{id}]: version conflict, document already exists (current version [1])"),
                            )),
                        )
                    } else {
                        stored.insert(id, doc);
                        (201, None)
                    }
                }
            }
        };
        errors |= outcome.1.is_some();
        items.push(item(outcome.0, outcome.1));
    }
    drop(docs);
    axum::Json(json!({"took": 1, "errors": errors, "items": items})).into_response()
}
