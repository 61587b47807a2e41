//! A Splunk HTTP Event Collector receiver, faithful to what a client observes: `POST /services/collector/event`
//! with concatenated event envelopes and `Authorization: Splunk <token>` (401 code 2 without a token, 403 code 4
//! for a wrong one, 403 code 1 for a disabled one), indexer acknowledgement per channel (400 code 10 without a
//! channel, an `ackId` per request, `POST /services/collector/ack` reporting `true` once and then forgetting it),
//! 400 code 7 for an index the token may not write, `GET /services/collector/health`; hostile on demand: 503 code 9
//! (server busy), acknowledgements that come only after N polls, or (every N-th) never.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Shared;

/// How the receiver behaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HecSettings {
    /// The token every request must carry.
    pub token: String,
    /// Whether the token has indexer acknowledgement enabled.
    pub ack: bool,
    /// Whether the token is disabled.
    pub disabled: bool,
    /// The indexes the token may write (empty: any).
    pub indexes: Vec<String>,
    /// Every N-th event request is answered 503 "Server is busy" (0: never).
    pub busy_every: u64,
    /// Polls of an `ackId` answered `false` before it is reported `true`.
    pub ack_after_polls: u32,
    /// Every N-th `ackId` is never acknowledged (the events are indexed, the client is never told; 0: never).
    pub lose_ack_every: u64,
}

impl Default for HecSettings {
    fn default() -> Self {
        HecSettings {
            token: "00000000-0000-4000-8000-00000000c0de".into(),
            ack: true,
            disabled: false,
            indexes: Vec::new(),
            busy_every: 0,
            ack_after_polls: 1,
            lose_ack_every: 0,
        }
    }
}

#[derive(Debug, Default)]
struct Channel {
    next_ack: u64,
    /// `ackId` → polls still answered `false`.
    pending: HashMap<u64, u32>,
}

/// The receiver's state: settings, every indexed event (in arrival order) and the channels.
#[derive(Debug, Default)]
pub struct HecReceiver {
    settings: Mutex<HecSettings>,
    events: Mutex<Vec<Value>>,
    channels: Mutex<BTreeMap<String, Channel>>,
    requests: AtomicU64,
    polls: AtomicU64,
    /// The most `ackId`s of one channel awaiting acknowledgement at once.
    most_pending: AtomicU64,
}

impl HecReceiver {
    /// Forgets every indexed event (benchmarks keep memory flat).
    pub fn clear(&self) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Replaces the settings.
    pub fn set(&self, settings: HecSettings) {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = settings;
    }

    /// The settings in force.
    pub fn settings(&self) -> HecSettings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every indexed envelope (`time`, `host`, `source`, `sourcetype`, `index`, `event`), repeats included.
    pub fn events(&self) -> Vec<Value> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The most requests of one channel that awaited their acknowledgement at the same time (lost ones included):
    /// above 1 when a client keeps several requests in flight.
    pub fn most_pending_acks(&self) -> u64 {
        self.most_pending.load(Ordering::Relaxed)
    }

    /// Event requests and acknowledgement polls received.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.polls.load(Ordering::Relaxed),
        )
    }
}

fn answer(status: StatusCode, text: &str, code: u32) -> Response {
    (status, axum::Json(json!({"text": text, "code": code}))).into_response()
}

/// A HEC refusal: status, text and code.
type Refusal = (StatusCode, &'static str, u32);

fn refused((status, text, code): Refusal) -> Response {
    answer(status, text, code)
}

/// Checks the token; the refusal to send otherwise.
fn check_token(settings: &HecSettings, headers: &HeaderMap) -> Result<(), Refusal> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Splunk "));
    match given {
        None => Err((StatusCode::UNAUTHORIZED, "Token is required", 2)),
        Some(t) if t.trim() != settings.token => Err((StatusCode::FORBIDDEN, "Invalid token", 4)),
        Some(_) if settings.disabled => Err((StatusCode::FORBIDDEN, "Token disabled", 1)),
        Some(_) => Ok(()),
    }
}

/// The request's channel (header or `?channel=`) when acknowledgement is on; the refusal otherwise.
fn channel(
    settings: &HecSettings,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Option<String>, Refusal> {
    if !settings.ack {
        return Ok(None);
    }
    let from_query = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "channel")
            .map(|(_, v)| v.into_owned())
    });
    let given = headers
        .get("x-splunk-request-channel")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or(from_query);
    match given {
        None => Err((StatusCode::BAD_REQUEST, "Data channel is missing", 10)),
        Some(c) if uuid::Uuid::parse_str(&c).is_err() => {
            Err((StatusCode::BAD_REQUEST, "Invalid data channel", 11))
        }
        Some(c) => Ok(Some(c.to_ascii_lowercase())),
    }
}

/// The token, then the channel: what every request to the collector is checked for first.
fn authorize(
    settings: &HecSettings,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Option<String>, Refusal> {
    check_token(settings, headers)?;
    channel(settings, headers, query)
}

/// `POST /services/collector/event`.
pub(crate) async fn event(
    State(shared): State<std::sync::Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let receiver = &shared.receivers.hec;
    let settings = receiver.settings();
    let channel = match authorize(&settings, &headers, query.as_deref()) {
        Ok(c) => c,
        Err(r) => return refused(r),
    };
    let n = receiver.requests.fetch_add(1, Ordering::Relaxed) + 1;
    if settings.busy_every > 0 && n.is_multiple_of(settings.busy_every) {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "Server is busy", 9);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return answer(StatusCode::BAD_REQUEST, "No data", 5);
    }
    let mut parsed = Vec::new();
    for (i, envelope) in serde_json::Deserializer::from_slice(&body)
        .into_iter::<Value>()
        .enumerate()
    {
        let refuse = |text: &str, code: u32| {
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"text": text, "code": code, "invalid-event-number": i})),
            )
                .into_response()
        };
        let Ok(envelope) = envelope else {
            return refuse("Invalid data format", 6);
        };
        match envelope.get("event") {
            None => return refuse("Event field is required", 12),
            Some(Value::String(s)) if s.is_empty() => {
                return refuse("Event field cannot be blank", 13);
            }
            Some(_) => {}
        }
        if let Some(index) = envelope.get("index").and_then(Value::as_str)
            && !settings.indexes.is_empty()
            && !settings.indexes.iter().any(|i| i == index)
        {
            return refuse("Incorrect index", 7);
        }
        parsed.push(envelope);
    }
    receiver
        .events
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(parsed);
    match channel {
        None => answer(StatusCode::OK, "Success", 0),
        Some(c) => {
            let mut channels = receiver.channels.lock().unwrap_or_else(|e| e.into_inner());
            let ch = channels.entry(c).or_default();
            let id = ch.next_ack;
            ch.next_ack += 1;
            let lost =
                settings.lose_ack_every > 0 && (id + 1).is_multiple_of(settings.lose_ack_every);
            let polls = if lost {
                u32::MAX
            } else {
                settings.ack_after_polls
            };
            ch.pending.insert(id, polls);
            receiver
                .most_pending
                .fetch_max(ch.pending.len() as u64, Ordering::Relaxed);
            (
                StatusCode::OK,
                axum::Json(json!({"text": "Success", "code": 0, "ackId": id})),
            )
                .into_response()
        }
    }
}

#[derive(Deserialize)]
struct AckQuery {
    acks: Vec<u64>,
}

/// `POST /services/collector/ack`.
pub(crate) async fn ack(
    State(shared): State<std::sync::Arc<Shared>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let receiver = &shared.receivers.hec;
    let settings = receiver.settings();
    let channel = match authorize(&settings, &headers, query.as_deref()) {
        Ok(Some(c)) => c,
        // No channel is asked for only when the token has acknowledgement off.
        Ok(None) => return answer(StatusCode::BAD_REQUEST, "ACK is disabled", 14),
        Err(r) => return refused(r),
    };
    let Ok(asked) = serde_json::from_slice::<AckQuery>(&body) else {
        return answer(StatusCode::BAD_REQUEST, "Invalid data format", 6);
    };
    receiver.polls.fetch_add(1, Ordering::Relaxed);
    let mut channels = receiver.channels.lock().unwrap_or_else(|e| e.into_inner());
    let ch = channels.entry(channel).or_default();
    let mut acks = serde_json::Map::new();
    for id in asked.acks {
        let done = match ch.pending.get_mut(&id) {
            Some(0) => {
                ch.pending.remove(&id);
                true
            }
            Some(left) => {
                if *left != u32::MAX {
                    *left -= 1;
                }
                false
            }
            None => false,
        };
        acks.insert(id.to_string(), Value::Bool(done));
    }
    axum::Json(json!({ "acks": acks })).into_response()
}

/// `GET /services/collector/health`.
pub(crate) async fn health() -> Response {
    answer(StatusCode::OK, "HEC is healthy", 17)
}
