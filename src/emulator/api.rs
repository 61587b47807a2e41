//! The Management Activity API (`/api/v1.0/{tenant}/activity/feed/…` and `/api/v1/…`), the foreign-host listener and
//! the control endpoints.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::json;

use super::config::ThrottleStyle;
use super::content::{hash, unit};
use super::stats::{InFlight, TenantInFlight, bump};
use super::time::{self, DAY, HOUR, MINUTE, SECOND};
use super::{Faults, Shared, Tenant, token};
use crate::content_type::ContentType;

const FEED: &str = "/api/{version}/{tenant}/activity/feed";

/// The main listener: token endpoint, API and control endpoints.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token::token))
        .route(&format!("{FEED}/subscriptions/start"), post(start))
        .route(&format!("{FEED}/subscriptions/stop"), post(stop))
        .route(
            &format!("{FEED}/subscriptions/list"),
            get(list_subscriptions),
        )
        .route(&format!("{FEED}/subscriptions/content"), get(list_content))
        .route(&format!("{FEED}/audit/{{content_id}}"), get(blob))
        .route("/", get(super::elastic::info))
        // The index segment shares the token route's parameter name: the router allows one name per position.
        .route("/{tenant}/_bulk", post(super::elastic::bulk))
        .route("/services/collector/event", post(super::hec::event))
        .route("/services/collector", post(super::hec::event))
        .route("/services/collector/ack", post(super::hec::ack))
        .route("/services/collector/health", get(super::hec::health))
        .route(
            "/dataCollectionRules/{dcr}/streams/{stream}",
            post(super::ingestion::ingest),
        )
        .route(
            "/v1.0/security/auditLog/queries",
            post(super::audit_search::create),
        )
        .route(
            "/v1.0/security/auditLog/queries/{id}",
            get(super::audit_search::get_query),
        )
        .route(
            "/v1.0/security/auditLog/queries/{id}/records",
            get(super::audit_search::records),
        )
        .route("/_emulator/stats", get(control_stats))
        .route("/_emulator/tenants", get(control_tenants))
        .route("/_emulator/ground-truth", get(control_ground_truth))
        .route("/_emulator/blobs", get(control_blobs))
        .route("/_emulator/release-late", post(control_release_late))
        .route("/_emulator/expire-tokens", post(control_expire_tokens))
        .route("/_emulator/expire-blob", post(control_expire_blob))
        .route(
            "/_emulator/faults",
            get(control_get_faults).put(control_put_faults),
        )
        .fallback(not_found)
        .with_state(shared)
}

/// The foreign listener: answers everything with an empty array and counts the bearer tokens it is handed.
pub(crate) fn foreign_router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(foreign).with_state(shared)
}

async fn foreign(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    bump(&shared.counters.foreign_requests);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.len() > 7 && h[..7].eq_ignore_ascii_case("bearer "));
    if bearer {
        bump(&shared.counters.foreign_bearer_tokens);
    }
    axum::Json(json!([])).into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"Message": "No HTTP resource was found that matches the request URI."})),
    )
        .into_response()
}

/// An API error body: `{"error":{"code":…,"message":…}}`.
fn af(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message.into()}})),
    )
        .into_response()
}

/// The query string as pairs, looked up case-insensitively.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<String>) -> Self {
        Query(
            raw.map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Start,
    Stop,
    ListSubscriptions,
    ListContent,
    Blob,
}

impl Kind {
    fn method(self) -> &'static str {
        match self {
            Kind::Start => "StartSubscription",
            Kind::Stop => "StopSubscription",
            Kind::ListSubscriptions => "ListSubscriptions",
            Kind::ListContent => "ListContent",
            Kind::Blob => "GetBlob",
        }
    }
}

fn draw(shared: &Shared, n: u64, domain: u64) -> f64 {
    unit(hash(&[shared.seed, n, domain]))
}

/// Counts an API request in flight, overall and for the tenant its URL names (if the emulator serves it), until
/// the handler returns.
fn arrive<'a>(shared: &'a Shared, tenant: &str) -> (InFlight<'a>, Option<TenantInFlight<'a>>) {
    let overall = InFlight::enter(&shared.counters);
    let of_tenant = shared
        .tenant(tenant)
        .map(|t| TenantInFlight::enter(&shared.tenants_in_flight, t.index));
    (overall, of_tenant)
}

/// Checks and faults every API request goes through, in the order of the real service: authentication, tenant,
/// throttling (each tenant its own window), transient failure. Returns the request number, the faults in force
/// and the tenant.
async fn gate<'a>(
    shared: &'a Shared,
    kind: Kind,
    version: &str,
    tenant: &str,
    headers: &HeaderMap,
    query: &Query,
) -> Result<(u64, Faults, &'a Tenant), Response> {
    let counter = match kind {
        Kind::Start => &shared.counters.subscriptions_start,
        Kind::Stop => &shared.counters.subscriptions_stop,
        Kind::ListSubscriptions => &shared.counters.subscriptions_list,
        Kind::ListContent => &shared.counters.content_list,
        Kind::Blob => &shared.counters.blob_fetch,
    };
    bump(counter);
    let url_tenant = shared.tenant(tenant);
    if let Some(t) = url_tenant {
        bump(&t.api_requests);
    }
    let n = shared.request_no.fetch_add(1, Ordering::Relaxed);
    if version != "v1.0" && version != "v1" {
        return Err(not_found().await);
    }
    if query.get("PublisherIdentifier").is_none_or(str::is_empty) {
        bump(&shared.counters.without_publisher_identifier);
    }
    let faults = shared.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let api_no = shared.counters.api_requests.fetch_add(1, Ordering::Relaxed) + 1;
    if faults
        .expire_tokens_every
        .is_some_and(|every| every > 0 && api_no.is_multiple_of(every))
    {
        bump(&shared.counters.tokens_expired);
        shared.expire_aged_tokens();
    }
    let Some(token_tenant) =
        token::management_bearer(shared, headers).and_then(|i| shared.tenants.get(i))
    else {
        bump(&shared.counters.unauthorized);
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"Message": "Authorization has been denied for this request."})),
        )
            .into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return Err(resp);
    };
    if !shared.roles.iter().any(|r| r == "ActivityFeed.Read") {
        bump(&shared.counters.unauthorized);
        return Err(af(
            StatusCode::UNAUTHORIZED,
            "AF10001",
            format!(
                "The permission set ({}) sent in the request does not include the expected permission ActivityFeed.Read.",
                shared.roles.join(",")
            ),
        ));
    }
    // A token is bound to the tenant that issued it: another tenant's URL (served here or not) is a mismatch.
    let Some(t) = url_tenant.filter(|t| t.index == token_tenant.index) else {
        return Err(af(
            StatusCode::BAD_REQUEST,
            "AF20010",
            format!(
                "The tenant ID passed in the URL ({tenant}) does not match the tenant ID passed in the access token ({}).",
                token_tenant.id
            ),
        ));
    };
    if let Some(budget) = faults.throttle {
        let mut inner = t.state();
        let now = time::now_ms();
        if now - inner.throttle_window_start >= MINUTE {
            inner.throttle_window_start = now;
            inner.throttle_count = 0;
        }
        inner.throttle_count = inner.throttle_count.saturating_add(1);
        if inner.throttle_count > budget.requests_per_minute {
            let answer = inner.throttle_answers;
            inner.throttle_answers += 1;
            let retry = ((inner.throttle_window_start + MINUTE - now + SECOND - 1) / SECOND).max(1);
            drop(inner);
            let publisher = query.get("PublisherIdentifier").unwrap_or_default();
            let message = format!(
                "Too many requests. Method={}, PublisherId={publisher}",
                kind.method()
            );
            let as_429 = match budget.style {
                ThrottleStyle::Status429 => true,
                ThrottleStyle::Status403 => false,
                ThrottleStyle::Mixed => answer.is_multiple_of(2),
            };
            return Err(if as_429 {
                bump(&shared.counters.throttled_429);
                let mut resp = af(StatusCode::TOO_MANY_REQUESTS, "AF429", message);
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry));
                resp
            } else {
                bump(&shared.counters.throttled_403);
                af(StatusCode::FORBIDDEN, "AF429", message)
            });
        }
    }
    if faults.transient_error_rate > 0.0 && draw(shared, n, 11) < faults.transient_error_rate {
        let status = if hash(&[shared.seed, n, 12]).is_multiple_of(2) {
            bump(&shared.counters.transient_500);
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            bump(&shared.counters.transient_503);
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Err(af(
            status,
            "AF50000",
            "An internal error occurred. Retry the request.",
        ));
    }
    Ok((n, faults, t))
}

/// The `contentType` parameter, or the response refusing it.
fn content_type(query: &Query) -> Result<ContentType, Box<Response>> {
    let Some(raw) = query.get("contentType") else {
        return Err(Box::new(af(
            StatusCode::BAD_REQUEST,
            "AF20001",
            "Missing parameter: contentType.",
        )));
    };
    raw.parse::<ContentType>().map_err(|_| {
        Box::new(af(
            StatusCode::BAD_REQUEST,
            "AF20020",
            format!("Invalid content type: {raw}. Use one of Audit.AzureActiveDirectory, Audit.Exchange, Audit.SharePoint, Audit.General, DLP.All."),
        ))
    })
}

/// The gate and the `contentType` of a subscription start or stop: the content type, or the response refusing it.
async fn subscription_target<'a>(
    shared: &'a Shared,
    kind: Kind,
    version: &str,
    tenant: &str,
    headers: &HeaderMap,
    raw: Option<String>,
) -> Result<(&'a Tenant, ContentType), Response> {
    let query = Query::parse(raw);
    let (_, _, t) = gate(shared, kind, version, tenant, headers, &query).await?;
    let ct = content_type(&query).map_err(|r| *r)?;
    Ok((t, ct))
}

async fn start(
    State(shared): State<Arc<Shared>>,
    Path((version, tenant)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let _in_flight = arrive(&shared, &tenant);
    let (t, ct) =
        match subscription_target(&shared, Kind::Start, &version, &tenant, &headers, raw).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let now = time::now_ms();
    let mut state = t.state();
    let sub = state.subscriptions.entry(ct).or_default();
    if sub
        .last_start_ms
        .is_some_and(|last| now - last < 15 * MINUTE)
    {
        bump(&shared.counters.starts_too_soon);
    }
    sub.last_start_ms = Some(now);
    if sub.enabled {
        return af(
            StatusCode::BAD_REQUEST,
            "AF20024",
            "The subscription is already enabled. No property change.",
        );
    }
    sub.enabled = true;
    sub.ever_started = true;
    axum::Json(json!({"contentType": ct.as_str(), "status": "enabled", "webhook": null}))
        .into_response()
}

async fn stop(
    State(shared): State<Arc<Shared>>,
    Path((version, tenant)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let _in_flight = arrive(&shared, &tenant);
    let (t, ct) =
        match subscription_target(&shared, Kind::Stop, &version, &tenant, &headers, raw).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let mut state = t.state();
    let sub = state.subscriptions.entry(ct).or_default();
    if !sub.enabled {
        return af(
            StatusCode::BAD_REQUEST,
            "AF20022",
            "No subscription found for the specified content type.",
        );
    }
    sub.enabled = false;
    StatusCode::OK.into_response()
}

async fn list_subscriptions(
    State(shared): State<Arc<Shared>>,
    Path((version, tenant)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let _in_flight = arrive(&shared, &tenant);
    let query = Query::parse(raw);
    let t = match gate(
        &shared,
        Kind::ListSubscriptions,
        &version,
        &tenant,
        &headers,
        &query,
    )
    .await
    {
        Ok((_, _, t)) => t,
        Err(r) => return r,
    };
    let state = t.state();
    let list: Vec<_> = state
        .subscriptions
        .iter()
        .filter(|(_, s)| s.ever_started)
        .map(|(ct, s)| {
            json!({
                "contentType": ct.as_str(),
                "status": if s.enabled { "enabled" } else { "disabled" },
                "webhook": null
            })
        })
        .collect();
    axum::Json(list).into_response()
}

fn window_error(shared: &Shared, why: &str) -> Response {
    bump(&shared.counters.window_errors);
    af(
        StatusCode::BAD_REQUEST,
        "AF20055",
        format!(
            "Start time and end time must both be specified (or both omitted) and must be less than or equal to 24 hours apart, with the start time prior to end time and start time no more than 7 days in the past. ({why})"
        ),
    )
}

fn page_token(created_ms: i64, seq: u32) -> String {
    format!("{:016x}{:08x}", created_ms as u64, seq)
}

fn parse_page_token(token: &str) -> Option<(i64, u32)> {
    if token.len() != 24 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let created = u64::from_str_radix(&token[..16], 16).ok()? as i64;
    let seq = u32::from_str_radix(&token[16..], 16).ok()?;
    Some((created, seq))
}

fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned()
}

/// The host part of a `Host` header value (`[::1]:80` → `[::1]`, `localhost:80` → `localhost`).
fn host_name(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn window_text(ms: i64) -> String {
    if ms % SECOND == 0 {
        time::zoneless(ms)
    } else {
        time::format(ms, "%Y-%m-%dT%H:%M:%S%.3f")
    }
}

async fn list_content(
    State(shared): State<Arc<Shared>>,
    Path((version, tenant)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let _in_flight = arrive(&shared, &tenant);
    let query = Query::parse(raw);
    let (n, faults, t) = match gate(
        &shared,
        Kind::ListContent,
        &version,
        &tenant,
        &headers,
        &query,
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ct = match content_type(&query) {
        Ok(ct) => ct,
        Err(r) => return *r,
    };
    let sub = t
        .state()
        .subscriptions
        .get(&ct)
        .copied()
        .unwrap_or_default();
    if !sub.ever_started {
        return af(
            StatusCode::BAD_REQUEST,
            "AF20022",
            "No subscription found for the specified content type.",
        );
    }
    if !sub.enabled {
        return af(
            StatusCode::BAD_REQUEST,
            "AF20023",
            "The subscription was disabled by the tenant administrator or the publisher. Start it again.",
        );
    }
    let now = time::now_ms();
    let (from, to) = match (query.get("startTime"), query.get("endTime")) {
        (None, None) => (now - DAY, now),
        (Some(s), Some(e)) => {
            let (Some(from), Some(to)) = (time::parse_window_time(s), time::parse_window_time(e))
            else {
                return window_error(
                    &shared,
                    "a time could not be read: use YYYY-MM-DDTHH:MM:SS in UTC",
                );
            };
            (from, to)
        }
        _ => return window_error(&shared, "only one of startTime and endTime was given"),
    };
    if from >= to {
        return window_error(&shared, "startTime is not before endTime");
    }
    if to - from > DAY {
        return window_error(&shared, "the window is longer than 24 hours");
    }
    if from < now - 7 * DAY - HOUR {
        return window_error(&shared, "startTime is more than 7 days in the past");
    }
    let after = match query.get("nextPage") {
        None => None,
        Some(t) => match parse_page_token(t) {
            Some((created, seq)) if created >= from && created < to => Some((created, seq)),
            _ => {
                return af(
                    StatusCode::BAD_REQUEST,
                    "AF20031",
                    format!("Invalid nextPage Input: {t}."),
                );
            }
        },
    };
    let late_visible = shared.late_visible();
    let catalog = shared.catalog(t);
    let (entries, more) = catalog.list(ct, from, to, after, shared.page_size, late_visible);
    let base = format!("http://{}", host(&headers));
    let items: Vec<_> = entries
        .iter()
        .map(|e| {
            let b = &catalog.blobs[e.blob];
            json!({
                "contentType": ct.as_str(),
                "contentId": b.content_id,
                "contentUri": format!("{base}/api/v1.0/{}/activity/feed/audit/{}", t.id, b.content_id),
                "contentCreated": time::rfc3339_millis(b.created_ms),
                "contentExpiration": time::rfc3339_millis(b.created_ms + super::content::RETENTION),
            })
        })
        .collect();
    let body = serde_json::to_vec(&items).unwrap_or_else(|_| b"[]".to_vec());
    let mut resp =
        if faults.truncated_body_rate > 0.0 && draw(&shared, n, 21) < faults.truncated_body_rate {
            bump(&shared.counters.truncated);
            truncated(body.into())
        } else {
            json_body(body)
        };
    if more && let Some(last) = entries.last() {
        let next_base = if faults.foreign_next_page {
            bump(&shared.counters.foreign_next_page);
            format!(
                "http://{}:{}",
                host_name(&host(&headers)),
                shared.foreign_addr.port()
            )
        } else {
            base
        };
        let uri = format!(
            "{next_base}/api/v1/{}/activity/feed/subscriptions/content?contentType={}&startTime={}&endTime={}&nextPage={}",
            t.id,
            ct.as_str(),
            window_text(from),
            window_text(to),
            page_token(last.created_ms, last.seq)
        );
        if let Ok(v) = HeaderValue::from_str(&uri) {
            resp.headers_mut().insert("NextPageUri", v);
        }
    }
    resp
}

fn json_body(body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// A 200 response announcing the full length but dropping the connection half-way.
fn truncated(body: Bytes) -> Response {
    let len = body.len();
    let cut = (len / 2).clamp(1, len.max(1));
    let first = Bytes::copy_from_slice(&body[..cut.min(len)]);
    // Headers and the first half go out; only then does the connection break (a pause lets hyper flush them).
    let first = futures::stream::iter([Ok::<Bytes, std::io::Error>(first)]);
    let cut_off = futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "emulated cut-off body",
        ))
    });
    let mut resp = Response::new(Body::from_stream(futures::StreamExt::chain(first, cut_off)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

async fn blob(
    State(shared): State<Arc<Shared>>,
    Path((version, tenant, content_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let _in_flight = arrive(&shared, &tenant);
    let query = Query::parse(raw);
    let (n, faults, t) = match gate(&shared, Kind::Blob, &version, &tenant, &headers, &query).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let unknown = || {
        bump(&shared.counters.unknown_fetches);
        af(
            StatusCode::NOT_FOUND,
            "AF20050",
            "The specified content does not exist.",
        )
    };
    let catalog = shared.catalog(t);
    let Some(i) = catalog.find(&content_id) else {
        return unknown();
    };
    let refetch = {
        let state = t.state();
        if catalog.blobs[i].late && !shared.late_visible() {
            drop(state);
            return unknown();
        }
        if shared.blob_expired(catalog, &state, i) {
            drop(state);
            bump(&shared.counters.expired_fetches);
            return af(
                StatusCode::BAD_REQUEST,
                "AF20051",
                format!(
                    "Content requested with the key {content_id} has already expired. Content older than 7 days cannot be retrieved."
                ),
            );
        }
        state.served.contains(&i)
    };
    if refetch {
        bump(&shared.counters.blob_refetches);
    }
    let body = shared.body(t, i);
    if faults.truncated_body_rate > 0.0 && draw(&shared, n, 22) < faults.truncated_body_rate {
        bump(&shared.counters.truncated);
        return truncated(body);
    }
    t.state().served.insert(i);
    bump(&shared.counters.blobs_served);
    json_body(body)
}

async fn control_stats(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.stats()).into_response()
}

async fn control_tenants(State(shared): State<Arc<Shared>>) -> Response {
    let ids: Vec<&str> = shared.tenants.iter().map(|t| t.id.as_str()).collect();
    axum::Json(ids).into_response()
}

/// The tenant named by `?tenant=ID` (tenant 0 without it), or the response refusing it.
fn control_tenant<'a>(shared: &'a Shared, query: &Query) -> Result<&'a Tenant, Box<Response>> {
    match query.get("tenant") {
        None => Ok(shared.first()),
        Some(id) => shared.tenant(id).ok_or_else(|| {
            Box::new(
                (
                    StatusCode::NOT_FOUND,
                    format!("no tenant has the id {id}; GET /_emulator/tenants lists them"),
                )
                    .into_response(),
            )
        }),
    }
}

async fn control_ground_truth(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    let t = match control_tenant(&shared, &query) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let gt = shared.ground_truth(t);
    match query.get("contentType") {
        None => axum::Json(gt.by_content_type).into_response(),
        Some(raw) => match raw.parse::<ContentType>() {
            Ok(ct) => axum::Json(gt.of(ct)).into_response(),
            Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        },
    }
}

async fn control_blobs(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let query = Query::parse(raw);
    match control_tenant(&shared, &query) {
        Ok(t) => axum::Json(shared.catalog(t).describe()).into_response(),
        Err(r) => *r,
    }
}

async fn control_release_late(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(json!({"released": shared.release_late()})).into_response()
}

async fn control_expire_tokens(State(shared): State<Arc<Shared>>) -> Response {
    shared.expire_tokens();
    StatusCode::NO_CONTENT.into_response()
}

async fn control_expire_blob(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = Query::parse(raw);
    let t = match control_tenant(&shared, &query) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    match query.get("contentId") {
        Some(id) if shared.expire_blob(t, id) => StatusCode::NO_CONTENT.into_response(),
        Some(_) => (StatusCode::NOT_FOUND, "no blob has this content id").into_response(),
        None => (StatusCode::BAD_REQUEST, "give the blob as ?contentId=ID").into_response(),
    }
}

async fn control_get_faults(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.faults()).into_response()
}

async fn control_put_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("cannot read faults: {e}; send a json object"),
            )
                .into_response();
        }
    };
    if let Err(e) = super::check_faults(&faults) {
        return (StatusCode::BAD_REQUEST, e).into_response();
    }
    shared.set_faults(faults);
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port_only() {
        assert_eq!(host_name("127.0.0.1:8400"), "127.0.0.1");
        assert_eq!(host_name("[::1]:8400"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("localhost"), "localhost");
    }

    #[test]
    fn page_tokens_round_trip_and_garbage_is_refused() {
        let t = page_token(1_700_000_000_123, 42);
        assert_eq!(parse_page_token(&t), Some((1_700_000_000_123, 42)));
        assert_eq!(parse_page_token("not-a-token"), None);
        assert_eq!(parse_page_token(&"g".repeat(24)), None);
    }
}
