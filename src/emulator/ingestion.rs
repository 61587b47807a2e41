//! An Azure Monitor Logs Ingestion API receiver, faithful to what a client observes: `POST
//! /dataCollectionRules/{dcr}/streams/{stream}?api-version=2023-01-01` with a JSON array (gzip allowed), a bearer
//! token that must come from this emulator's token endpoint for the cloud's Azure Monitor audience (401 otherwise,
//! and for an expired one), 404 for an unknown rule or stream, 413 over 1 MB (compressed or not), 400 for a body
//! that is not an array of objects, 204 on success; hostile on demand: 429 with `Retry-After`, 503.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Shared;
use super::token::{Audience, bearer_audience};

/// The data collection rule the receiver knows by default.
pub const DEFAULT_DCR: &str = "dcr-00000000000000000000000000000000";
/// The stream the rule declares by default.
pub const DEFAULT_STREAM: &str = "Custom-O365Audit_CL";

/// How the receiver behaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestionSettings {
    /// The rule's immutable ID.
    pub dcr_immutable_id: String,
    /// The stream it declares.
    pub stream: String,
    /// The largest body accepted, compressed or not.
    pub max_body: usize,
    /// Every N-th request is answered 429 with `Retry-After: 1` (0: never).
    pub throttle_every: u64,
    /// Every N-th request is answered 503 (0: never).
    pub unavailable_every: u64,
}

impl Default for IngestionSettings {
    fn default() -> Self {
        IngestionSettings {
            dcr_immutable_id: DEFAULT_DCR.into(),
            stream: DEFAULT_STREAM.into(),
            max_body: 1_000_000,
            throttle_every: 0,
            unavailable_every: 0,
        }
    }
}

/// The receiver's state: settings and every accepted row (repeats included).
#[derive(Debug, Default)]
pub struct IngestionReceiver {
    settings: Mutex<Option<IngestionSettings>>,
    rows: Mutex<Vec<Value>>,
    requests: AtomicU64,
    refused_too_large: AtomicU64,
}

impl IngestionReceiver {
    /// Forgets every accepted row (benchmarks keep memory flat).
    pub fn clear(&self) {
        self.rows.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Replaces the settings.
    pub fn set(&self, settings: IngestionSettings) {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = Some(settings);
    }

    /// The settings in force.
    pub fn settings(&self) -> IngestionSettings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default()
    }

    /// Every accepted row.
    pub fn rows(&self) -> Vec<Value> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Requests received, and those refused as too large.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.refused_too_large.load(Ordering::Relaxed),
        )
    }
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// `POST /dataCollectionRules/{dcr}/streams/{stream}`.
pub(crate) async fn ingest(
    State(shared): State<std::sync::Arc<Shared>>,
    Path((dcr, stream)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let receiver = &shared.receivers.ingestion;
    let settings = receiver.settings();
    let version = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "api-version")
            .map(|(_, v)| v.into_owned())
    });
    if version.as_deref() != Some("2023-01-01") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersion",
            "The api-version query parameter is missing or not supported; use 2023-01-01.",
        );
    }
    match bearer_audience(&shared, &headers) {
        // With a workspace directory configured, the rule's role assignment lives there: a token of the Microsoft
        // 365 tenant is valid but has no access to the rule.
        Some(Audience::Monitor) if shared.workspace.is_some() => {
            return refuse(
                StatusCode::FORBIDDEN,
                "OperationFailed",
                &format!(
                    "The authentication token provided does not have access to ingest data for the data collection rule with immutable Id '{dcr}'."
                ),
            );
        }
        Some(Audience::Monitor | Audience::WorkspaceMonitor) => {}
        Some(Audience::ManagementApi | Audience::Graph) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "InvalidAudience",
                "The access token was issued for another audience; request a token for https://monitor.azure.com or https://monitor.azure.us.",
            );
        }
        None => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "InvalidToken",
                "The access token is missing, invalid or expired.",
            );
        }
    }
    if !dcr.eq_ignore_ascii_case(&settings.dcr_immutable_id) {
        return refuse(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("Data collection rule with immutable Id '{dcr}' not found."),
        );
    }
    if stream != settings.stream {
        return refuse(
            StatusCode::NOT_FOUND,
            "InvalidStream",
            &format!("Stream '{stream}' is not declared in data collection rule '{dcr}'."),
        );
    }
    let n = receiver.requests.fetch_add(1, Ordering::Relaxed) + 1;
    if settings.throttle_every > 0 && n.is_multiple_of(settings.throttle_every) {
        let mut resp = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "The request rate limit of the data collection rule was exceeded.",
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    }
    if settings.unavailable_every > 0 && n.is_multiple_of(settings.unavailable_every) {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is temporarily unavailable.",
        );
    }
    let too_large = || {
        receiver.refused_too_large.fetch_add(1, Ordering::Relaxed);
        refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ContentLengthLimitExceeded",
            "The request body exceeds the maximum size of 1 MB.",
        )
    };
    if body.len() > settings.max_body {
        return too_large();
    }
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
    let plain = if gzip {
        let mut out = Vec::new();
        let limit = u64::try_from(settings.max_body).unwrap_or(u64::MAX) + 1;
        if flate2::read::GzDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out)
            .is_err()
        {
            return refuse(
                StatusCode::BAD_REQUEST,
                "InvalidContentEncoding",
                "The body is not valid gzip.",
            );
        }
        out
    } else {
        body.to_vec()
    };
    if plain.len() > settings.max_body {
        return too_large();
    }
    let rows: Vec<BTreeMap<String, Value>> = match serde_json::from_slice(&plain) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "InvalidContent",
                &format!("The body must be a JSON array of objects: {e}."),
            );
        }
    };
    receiver
        .rows
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(
            rows.into_iter()
                .map(|r| Value::Object(r.into_iter().collect())),
        );
    StatusCode::NO_CONTENT.into_response()
}
