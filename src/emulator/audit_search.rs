//! Microsoft Purview Audit Search through Microsoft Graph (`/v1.0/security/auditLog/queries`), faithful to what a
//! client observes: a query is created (201, `notStarted`), runs for a configurable number of polls (`running`), then
//! `succeeded` (or `failed`, on demand); its records are read page by page through `@odata.nextLink`, an absolute URL
//! on the host the client called. Records have Graph's `auditLogRecord` shape, with the original audit record in
//! `auditData` and its OData annotations (`@odata.type`, `<Key>@odata.type: #Int64`), `CreationTime` ending in `Z`.
//!
//! The unified audit log it searches holds every record of the Management API's catalog and, before it, history only
//! Audit Search has: `history_days` of generated records whose content became available before `anchor − 168 h`,
//! so none of them is ever listed by the Management API. Bearer tokens must be for Graph and carry
//! `AuditLogsQuery.Read.All` (or a per-service `AuditLogsQuery-….Read.All`); GCC High and DoD tenants get 404 (the
//! service is not offered there). An emulator serving several tenants emulates Audit Search for tenant 0 only: a
//! Graph token of another tenant gets 403 `Forbidden`. Hostile on demand: 429 with `Retry-After`, failed queries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Shared;
use super::content::{Rng, hash};
use super::records::{self, RecordContext};
use super::time::{self, DAY, HOUR};
use super::token::{Audience, bearer};
use crate::content_type::ContentType;

/// How Audit Search behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSearchSettings {
    /// Days of history only Audit Search has, ending 168 hours before the anchor.
    pub history_days: u32,
    /// Records generated per hour of that history.
    pub records_per_hour: u32,
    /// Polls of a query answered `notStarted`/`running` before it is `succeeded`.
    pub polls_until_done: u32,
    /// Records per page.
    pub page_size: usize,
    /// Every N-th request is answered 429 with `Retry-After: 1` (0: never).
    pub throttle_every: u64,
    /// Every N-th query created ends `failed` (0: never).
    pub fail_every: u64,
}

impl Default for AuditSearchSettings {
    fn default() -> Self {
        AuditSearchSettings {
            history_days: 14,
            records_per_hour: 2,
            polls_until_done: 2,
            page_size: 25,
            throttle_every: 0,
            fail_every: 0,
        }
    }
}

#[derive(Debug, Clone)]
struct Query {
    start_ms: i64,
    end_ms: i64,
    display_name: String,
    /// `serviceFilters` (workloads, lower case) and `recordTypeFilters` (Graph's record type names): empty, all.
    services: Vec<String>,
    record_types: Vec<String>,
    polls_left: u32,
    fails: bool,
    /// Its records, computed when it succeeds.
    records: Option<Vec<Value>>,
}

/// The service's state: settings, queries and counters.
#[derive(Debug, Default)]
pub struct AuditSearchService {
    settings: Mutex<AuditSearchSettings>,
    queries: Mutex<HashMap<String, Query>>,
    created: AtomicU64,
    requests: AtomicU64,
    pages: AtomicU64,
}

impl AuditSearchService {
    pub(crate) fn new(settings: AuditSearchSettings) -> Self {
        AuditSearchService {
            settings: Mutex::new(settings),
            ..Default::default()
        }
    }

    /// Replaces the settings.
    pub fn set(&self, settings: AuditSearchSettings) {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = settings;
    }

    /// The settings in force.
    pub fn settings(&self) -> AuditSearchSettings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Queries created, requests received (all routes) and record pages served.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.created.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
            self.pages.load(Ordering::Relaxed),
        )
    }

    fn queries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Query>> {
        self.queries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The hours of history only Audit Search has: `[start, end)` in milliseconds, by when content became available.
pub(crate) fn history_range(anchor_ms: i64, settings: &AuditSearchSettings) -> (i64, i64) {
    let end = anchor_ms - 168 * HOUR;
    (end - i64::from(settings.history_days) * DAY, end)
}

/// Parses a `CreationTime` as the emulator writes it (zoneless, fractional, space-separated, or ending in `Z`).
pub(crate) fn creation_ms(record: &Value) -> Option<i64> {
    let map = record.as_object()?;
    let text = map
        .get("CreationTime")
        .or_else(|| map.get("creationtime"))?
        .as_str()?;
    let text = text.trim_end_matches('Z').replace(' ', "T");
    let dt: jiff::civil::DateTime = text.parse().ok()?;
    Some(
        jiff::tz::TimeZone::UTC
            .to_timestamp(dt)
            .ok()?
            .as_millisecond(),
    )
}

/// Every record of the unified audit log created in `[start_ms, end_ms)`, once per `Id`, in creation order: the
/// generated history and the Management API catalog's records.
pub(crate) fn unified_log(shared: &Shared, start_ms: i64, end_ms: i64) -> Vec<Value> {
    let settings = shared.audit_search.settings();
    let mut found: BTreeMap<(i64, String), Value> = BTreeMap::new();
    let mut keep = |rec: Value| {
        if let (Some(at), Some(id)) = (creation_ms(&rec), record_id(&rec))
            && at >= start_ms
            && at < end_ms
        {
            found.entry((at, id)).or_insert(rec);
        }
    };
    // The generated history: a record's creation is at most 3 days before its availability.
    let (h_start, h_end) = history_range(shared.anchor_ms, &settings);
    let mut hour = h_start.max(start_ms - HOUR).div_euclid(HOUR) * HOUR;
    while hour < h_end.min(end_ms + 4 * DAY) {
        for i in 0..settings.records_per_hour {
            keep(history_record(shared, hour, i));
        }
        hour += HOUR;
    }
    // The Management API's catalog (tenant 0's: Audit Search is emulated for it alone), whose records are in the
    // log too.
    let catalog = shared.catalog(shared.first());
    for (i, b) in catalog.blobs.iter().enumerate() {
        if b.created_ms >= start_ms - HOUR && b.created_ms < end_ms + 4 * DAY {
            let body: Vec<Value> = serde_json::from_slice(&catalog.body(i)).unwrap_or_default();
            for rec in body {
                keep(rec);
            }
        }
    }
    found.into_values().collect()
}

fn record_id(rec: &Value) -> Option<String> {
    let map = rec.as_object()?;
    map.get("Id")
        .or_else(|| map.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The `i`-th generated record of the history hour starting at `hour_ms`.
fn history_record(shared: &Shared, hour_ms: i64, i: u32) -> Value {
    let seed = shared.seed;
    let h = hash(&[seed, hour_ms as u64, u64::from(i), 0xA5]);
    let ct = ContentType::ALL[(h % 5) as usize];
    let mut rng = Rng::new(h);
    let id = rng.guid();
    let ctx = RecordContext {
        id,
        tenant_id: shared.first().id(),
        available_ms: hour_ms + (h >> 8) as i64 % HOUR,
        large_rate: 0.0,
        large_parameters: 0,
    };
    records::record(ct, &ctx, &mut rng)
}

/// The Ids of the unified log created in `[start_ms, end_ms)` (for tests: what Audit Search alone can give).
pub(crate) fn truth(shared: &Shared, start_ms: i64, end_ms: i64) -> BTreeSet<String> {
    unified_log(shared, start_ms, end_ms)
        .iter()
        .filter_map(record_id)
        .collect()
}

/// A Management API record as Graph's `auditLogRecord` presents it (for tests: what Audit Search returns for it).
pub fn graph_record(rec: &Value) -> Value {
    let mut data: Map<String, Value> = rec.as_object().cloned().unwrap_or_default();
    let get = |k: &str| {
        data.get(k)
            .or_else(|| data.get(&k.to_lowercase()))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let created = get("CreationTime");
    // Graph writes UTC with a `Z`; a time that already names its zone (or is not ISO 8601) is left as it is.
    let created = created.as_str().map(|c| {
        let zoned = c
            .get(11..)
            .is_some_and(|t| t.contains(['Z', 'z', '+', '-']));
        if zoned || c.as_bytes().get(10) != Some(&b'T') {
            c.to_owned()
        } else {
            format!("{c}Z")
        }
    });
    let record_type = match get("RecordType") {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    let type_name = record_type
        .and_then(crate::normalize::record_types::record_type)
        .map(|r| lower_camel(r.name))
        .unwrap_or_else(|| "unknownFutureValue".to_owned());
    let out = json!({
        "id": get("Id"),
        "createdDateTime": created.clone().map(|c| if c.ends_with('Z') { c } else { format!("{c}Z") }),
        "auditLogRecordType": type_name,
        "operation": get("Operation"),
        "organizationId": get("OrganizationId"),
        "userType": "regular",
        "userId": get("UserKey"),
        "userPrincipalName": get("UserId"),
        "service": get("Workload"),
        "objectId": get("ObjectId"),
        "clientIp": get("ClientIP"),
        "administrativeUnits": [],
    });
    if let Some(c) = created {
        let key = if data.contains_key("CreationTime") {
            "CreationTime"
        } else {
            "creationtime"
        };
        data.insert(key.to_owned(), Value::String(c));
    }
    let ints: Vec<String> = data
        .iter()
        .filter(|(_, v)| v.is_i64() || v.is_u64())
        .map(|(k, _)| k.clone())
        .collect();
    for k in ints {
        data.insert(format!("{k}@odata.type"), json!("#Int64"));
    }
    let mut audit_data = Map::new();
    audit_data.insert(
        "@odata.type".into(),
        json!("#microsoft.graph.security.defaultAuditData"),
    );
    audit_data.extend(data);
    let mut out = out.as_object().cloned().unwrap_or_default();
    out.insert("auditData".into(), Value::Object(audit_data));
    Value::Object(out)
}

fn lower_camel(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// The checks every request passes: counted, throttled on demand, a Graph token with the permission, a cloud
/// that has the service.
fn gate(shared: &Shared, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let service = &shared.audit_search;
    let n = service.requests.fetch_add(1, Ordering::Relaxed) + 1;
    if !shared.cloud.has_audit_search() {
        return Err(Box::new(graph_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "Resource not found for the segment 'auditLog'.",
        )));
    }
    let every = service.settings().throttle_every;
    if every > 0 && n.is_multiple_of(every) {
        let mut resp = graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests.",
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Err(Box::new(resp));
    }
    match bearer(shared, headers) {
        Some((Audience::Graph, Some(0))) => {}
        Some((Audience::Graph, _)) => {
            return Err(Box::new(graph_error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "The emulator serves Audit Search for its first tenant only: use a token of that tenant.",
            )));
        }
        Some(_) => {
            return Err(Box::new(graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience.",
            )));
        }
        None => {
            return Err(Box::new(graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty, invalid or expired.",
            )));
        }
    }
    let allowed = shared.roles.iter().any(|r| {
        r == "AuditLogsQuery.Read.All"
            || (r.starts_with("AuditLogsQuery-") && r.ends_with(".Read.All"))
    });
    if !allowed {
        return Err(Box::new(graph_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Missing application permission: AuditLogsQuery.Read.All.",
        )));
    }
    Ok(())
}

fn query_json(id: &str, q: &Query, status: &str) -> Value {
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/auditLog/queries/$entity",
        "id": id,
        "displayName": q.display_name,
        "filterStartDateTime": time::rfc3339_millis(q.start_ms),
        "filterEndDateTime": time::rfc3339_millis(q.end_ms),
        "recordTypeFilters": [],
        "keywordFilter": null,
        "serviceFilters": [],
        "operationFilters": [],
        "userPrincipalNameFilters": [],
        "ipAddressFilters": [],
        "objectIdFilters": [],
        "administrativeUnitIdFilters": [],
        "status": status,
    })
}

/// `POST /v1.0/security/auditLog/queries`.
pub(crate) async fn create(
    State(shared): State<std::sync::Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return *r;
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The request body is not valid JSON.",
        );
    };
    let instant = |k: &str| {
        req.get(k)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_millisecond())
    };
    let (Some(start_ms), Some(end_ms)) =
        (instant("filterStartDateTime"), instant("filterEndDateTime"))
    else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "filterStartDateTime and filterEndDateTime are required, as ISO 8601 instants.",
        );
    };
    if start_ms >= end_ms {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "filterStartDateTime must be before filterEndDateTime.",
        );
    }
    let service = &shared.audit_search;
    let settings = service.settings();
    let n = service.created.fetch_add(1, Ordering::Relaxed) + 1;
    let id = Rng::new(hash(&[shared.seed, n, 0xA7])).guid();
    let q = Query {
        start_ms,
        end_ms,
        display_name: req
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        services: strings(&req, "serviceFilters")
            .into_iter()
            .map(|s| s.to_ascii_lowercase())
            .collect(),
        record_types: strings(&req, "recordTypeFilters"),
        polls_left: settings.polls_until_done,
        fails: settings.fail_every > 0 && n.is_multiple_of(settings.fail_every),
        records: None,
    };
    let body = query_json(&id, &q, "notStarted");
    service.queries().insert(id, q);
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

/// Whether a Graph record passes a query's `serviceFilters` (lower-cased) and `recordTypeFilters` (empty: all).
fn matches_filters(g: &Value, services: &[String], record_types: &[String]) -> bool {
    let service = g["service"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let record_type = g["auditLogRecordType"].as_str().unwrap_or_default();
    (services.is_empty() || services.contains(&service))
        && (record_types.is_empty() || record_types.iter().any(|t| t == record_type))
}

/// The strings of array `key` of a request body.
fn strings(req: &Value, key: &str) -> Vec<String> {
    req.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /v1.0/security/auditLog/queries/{id}`.
pub(crate) async fn get_query(
    State(shared): State<std::sync::Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return *r;
    }
    let service = &shared.audit_search;
    let mut queries = service.queries();
    let Some(q) = queries.get_mut(&id) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The audit log query was not found.",
        );
    };
    let status = if q.polls_left > 0 {
        let s = if q.polls_left == service.settings().polls_until_done {
            "notStarted"
        } else {
            "running"
        };
        q.polls_left -= 1;
        s
    } else if q.fails {
        "failed"
    } else {
        "succeeded"
    };
    let body = query_json(&id, q, status);
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// `GET /v1.0/security/auditLog/queries/{id}/records[?$skiptoken=N]`.
pub(crate) async fn records(
    State(shared): State<std::sync::Arc<Shared>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = gate(&shared, &headers) {
        return *r;
    }
    let service = &shared.audit_search;
    let (start_ms, end_ms, done, cached, services, record_types) = {
        let queries = service.queries();
        let Some(q) = queries.get(&id) else {
            return graph_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "The audit log query was not found.",
            );
        };
        (
            q.start_ms,
            q.end_ms,
            q.polls_left == 0 && !q.fails,
            q.records.is_some(),
            q.services.clone(),
            q.record_types.clone(),
        )
    };
    if !done {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The audit log query has not succeeded; its records cannot be read.",
        );
    }
    if !cached {
        let found: Vec<Value> = unified_log(&shared, start_ms, end_ms)
            .iter()
            .map(graph_record)
            .filter(|g| matches_filters(g, &services, &record_types))
            .collect();
        if let Some(q) = service.queries().get_mut(&id) {
            q.records.get_or_insert(found);
        }
    }
    let skip: usize = query
        .as_deref()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "$skiptoken")
                .and_then(|(_, v)| v.parse().ok())
        })
        .unwrap_or(0);
    let page_size = service.settings().page_size.max(1);
    let queries = service.queries();
    let all = queries
        .get(&id)
        .and_then(|q| q.records.as_ref())
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let page: Vec<Value> = all.iter().skip(skip).take(page_size).cloned().collect();
    service.pages.fetch_add(1, Ordering::Relaxed);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#security/auditLog/queries('{id}')/records",
        "value": page,
    });
    if skip + page_size < all.len() {
        body["@odata.nextLink"] = json!(format!(
            "http://{host}/v1.0/security/auditLog/queries/{id}/records?$skiptoken={}",
            skip + page_size
        ));
    }
    (StatusCode::OK, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_record_is_routed_to_the_content_type_it_was_made_for() {
        for ct in ContentType::ALL {
            for n in 0..400u64 {
                let mut rng = Rng::new(hash(&[n, 77]));
                let ctx = RecordContext {
                    id: rng.guid(),
                    tenant_id: "t",
                    available_ms: 1_795_000_000_000,
                    large_rate: 0.0,
                    large_parameters: 0,
                };
                let rec = records::record(ct, &ctx, &mut rng);
                let m = rec.as_object().unwrap();
                let field = |k: &str| m.get(k).or_else(|| m.get(&k.to_lowercase()));
                let rt = field("RecordType").and_then(|v| match v {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                });
                let workload = field("Workload").and_then(Value::as_str);
                assert_eq!(
                    crate::normalize::record_types::content_type_of(rt, workload),
                    ct,
                    "{rec}"
                );
            }
        }
    }

    #[test]
    fn service_and_record_type_filters_select_records() {
        let g = graph_record(&json!({"Id": "a", "RecordType": 2, "Workload": "Exchange"}));
        let none: &[String] = &[];
        assert!(matches_filters(&g, none, none));
        assert!(matches_filters(&g, &["exchange".into()], none));
        assert!(!matches_filters(&g, &["sharepoint".into()], none));
        assert!(matches_filters(&g, none, &["exchangeItem".into()]));
        assert!(!matches_filters(
            &g,
            &["exchange".into()],
            &["sharePoint".into()]
        ));
    }

    #[test]
    fn graph_records_carry_the_audit_record_with_annotations() {
        let rec = json!({"Id": "a", "CreationTime": "2026-11-20T10:00:00", "RecordType": 15, "Workload": "AzureActiveDirectory", "Operation": "UserLoggedIn", "UserId": "u@x"});
        let g = graph_record(&rec);
        assert_eq!(g["id"], "a");
        assert_eq!(g["createdDateTime"], "2026-11-20T10:00:00Z");
        assert_eq!(g["auditLogRecordType"], "azureActiveDirectoryStsLogon");
        assert_eq!(
            g["auditData"]["@odata.type"],
            "#microsoft.graph.security.defaultAuditData"
        );
        assert_eq!(g["auditData"]["RecordType@odata.type"], "#Int64");
        assert_eq!(g["auditData"]["CreationTime"], "2026-11-20T10:00:00Z");
        assert_eq!(creation_ms(&g["auditData"]), creation_ms(&rec));
    }
}
