//! The API client against a hostile stand-in for the Management API (real HTTP on 127.0.0.1:0) for the answers the
//! emulator does not produce: paging loops, stale next-page links, `Retry-After`, redirects, fatal codes, skewed
//! clocks, bodies that end cleanly mid-array. Tokens come from auth's `TokenProvider` against the emulator's token
//! endpoint.

mod api_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use o365sync::api::{
    ApiClient, ApiConfig, ApiError, ApiRoot, BlobOutcome, ContentBlob, RawRecord, RetryPolicy,
    Window,
};
use o365sync::auth::TokenProvider;
use o365sync::content_type::ContentType;
use o365sync::emulator::{Emulator, EmulatorConfig, EmulatorHandle, throwaway_certificate};

/// One request as the hostile server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: String,
    user_agent: String,
    authorized: bool,
    at: Instant,
}

type Script = dyn Fn(usize, &Seen) -> Response + Send + Sync;

struct Hostile {
    seen: Mutex<Vec<Seen>>,
    count: AtomicUsize,
    script: Box<Script>,
}

async fn handle(State(h): State<Arc<Hostile>>, req: Request) -> Response {
    let header = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let seen = Seen {
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        user_agent: header(header::USER_AGENT),
        authorized: header(header::AUTHORIZATION).starts_with("Bearer "),
        at: Instant::now(),
    };
    let n = h.count.fetch_add(1, Ordering::SeqCst);
    h.seen.lock().unwrap().push(seen.clone());
    (h.script)(n, &seen)
}

struct Setup {
    emu: EmulatorHandle,
    hostile: Arc<Hostile>,
    base: String,
    client: ApiClient<TokenProvider>,
}

impl Setup {
    fn seen(&self) -> Vec<Seen> {
        self.hostile.seen.lock().unwrap().clone()
    }
}

async fn serve(hostile: Arc<Hostile>) -> String {
    let app = Router::new().fallback(handle).with_state(hostile);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

async fn setup(script: impl Fn(usize, &Seen) -> Response + Send + Sync + 'static) -> Setup {
    setup_with(script, |_| {}).await
}

async fn setup_with(
    script: impl Fn(usize, &Seen) -> Response + Send + Sync + 'static,
    tune: impl FnOnce(&mut ApiConfig),
) -> Setup {
    let cert = throwaway_certificate("o365sync hostile tests").unwrap();
    let emu = Emulator::start(EmulatorConfig::trusting(cert.certificate_der.clone()))
        .await
        .unwrap();
    let hostile = Arc::new(Hostile {
        seen: Mutex::new(Vec::new()),
        count: AtomicUsize::new(0),
        script: Box::new(script),
    });
    let base = serve(Arc::clone(&hostile)).await;
    let (provider, endpoints) = api_support::provider(
        &emu,
        &cert.certificate_pem,
        &cert.private_key_pem,
        base.clone(),
    );
    let mut config = ApiConfig::new(ApiRoot::from_root_url(endpoints.api_root, "pub-id").unwrap());
    config.retry = RetryPolicy {
        max_attempts: 4,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
    };
    tune(&mut config);
    let client = ApiClient::new(config, provider).unwrap();
    Setup {
        emu,
        hostile,
        base,
        client,
    }
}

fn json(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn af(status: StatusCode, code: &str) -> Response {
    json(
        status,
        format!(r#"{{"error":{{"code":"{code}","message":"test {code}"}}}}"#),
    )
}

fn blobs_page(base: &str, ids: &[&str]) -> String {
    let items: Vec<_> = ids
        .iter()
        .map(|id| {
            serde_json::json!({
                "contentType": "Audit.Exchange",
                "contentId": id,
                "contentUri": format!("{base}/api/v1.0/t/activity/feed/audit/{id}"),
                "contentCreated": "2026-11-26T10:00:00.000Z",
                "contentExpiration": "2026-12-03T10:00:00.000Z"
            })
        })
        .collect();
    serde_json::to_string(&items).unwrap()
}

fn with_next(mut r: Response, name: &'static str, uri: &str) -> Response {
    r.headers_mut()
        .insert(name, HeaderValue::from_str(uri).unwrap());
    r
}

fn window() -> Window {
    let now = Timestamp::now();
    Window::new(now - SignedDuration::from_hours(1), now).unwrap()
}

fn shared_base() -> Arc<Mutex<String>> {
    Arc::new(Mutex::new(String::new()))
}

/// A listed blob of `content_type` whose `contentUri` is on the stand-in server at `base`.
fn blob_at(base: &str, content_type: &str, content_id: &str) -> ContentBlob {
    ContentBlob {
        content_type: content_type.into(),
        content_id: content_id.into(),
        content_uri: format!("{base}/api/v1.0/t/activity/feed/audit/{content_id}"),
        content_created: None,
        content_expiration: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_follows_any_header_case_and_stops_on_a_loop() {
    let base = shared_base();
    let b = Arc::clone(&base);
    let s = setup(move |_, seen| {
        let base = b.lock().unwrap().clone();
        let page = seen
            .query
            .split('&')
            .find_map(|kv| kv.strip_prefix("page="))
            .unwrap_or("1")
            .to_owned();
        let next =
            |n: &str| format!("{base}/api/v1/t/activity/feed/subscriptions/content?page={n}");
        match page.as_str() {
            "1" => with_next(
                json(StatusCode::OK, blobs_page(&base, &["a", "b"])),
                "nextpageuri",
                &next("2"),
            ),
            "2" => with_next(
                json(StatusCode::OK, blobs_page(&base, &["b", "c"])),
                "NextPageUrl",
                &next("3"),
            ),
            // page 3 links back to page 2
            _ => with_next(
                json(StatusCode::OK, blobs_page(&base, &["d"])),
                "NextPageUri",
                &next("2"),
            ),
        }
    })
    .await;
    *base.lock().unwrap() = s.base.clone();
    let err = s
        .client
        .list_content(ContentType::Exchange, window())
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::PageLoop { page: 3, .. }), "{err}");
    let seen = s.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|r| r.query.contains("PublisherIdentifier=pub-id")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|r| r.user_agent.starts_with("o365sync/") && r.authorized)
    );
    // Microsoft's `api/v1` page path is used as given
    assert!(seen[1].path.starts_with("/api/v1/"), "{}", seen[1].path);
    s.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_next_page_relists_the_window() {
    let base = shared_base();
    let b = Arc::clone(&base);
    let stale_once = Arc::new(AtomicUsize::new(0));
    let s = setup(move |_, seen| {
        let base = b.lock().unwrap().clone();
        if seen.query.contains("nextPage=") {
            if stale_once.fetch_add(1, Ordering::SeqCst) == 0 {
                return af(StatusCode::BAD_REQUEST, "AF20031");
            }
            return json(StatusCode::OK, blobs_page(&base, &["c"]));
        }
        let next = format!("{base}/api/v1.0/t/activity/feed/subscriptions/content?nextPage=xyz");
        with_next(
            json(StatusCode::OK, blobs_page(&base, &["a", "b"])),
            "NextPageUri",
            &next,
        )
    })
    .await;
    *base.lock().unwrap() = s.base.clone();
    let listing = s
        .client
        .list_content(ContentType::Exchange, window())
        .await
        .unwrap();
    let ids: Vec<_> = listing
        .blobs
        .iter()
        .map(|b| b.content_id.as_str())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(listing.relists, 1);
    assert_eq!(listing.duplicates, 2, "the fresh listing repeats a and b");
    assert_eq!(s.seen().len(), 4);
    s.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_attempts_are_bounded() {
    let s = setup(|n, _| match n {
        0 => {
            let mut r = af(StatusCode::TOO_MANY_REQUESTS, "AF429");
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        1 => json(StatusCode::OK, "[]".into()),
        _ => json(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"Message":"busy"}"#.into(),
        ),
    })
    .await;
    let listing = s
        .client
        .list_content(ContentType::General, window())
        .await
        .unwrap();
    assert!(listing.blobs.is_empty());
    let seen = s.seen();
    assert!(
        seen[1].at - seen[0].at >= Duration::from_millis(950),
        "Retry-After: 1 not honoured"
    );
    assert_eq!(s.client.stats().throttled, 1);

    // always 503: exactly max_attempts requests, then a clear failure that is not fatal for the job
    let err = s
        .client
        .list_content(ContentType::General, window())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Exhausted { attempts: 4, .. }),
        "{err}"
    );
    assert!(!err.is_fatal());
    assert!(err.to_string().contains("window stays incomplete"), "{err}");
    assert_eq!(s.seen().len(), 2 + 4);
    s.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fatal_codes_stop_at_once_with_advice() {
    let s = setup(|n, _| match n {
        0 => af(StatusCode::FORBIDDEN, "AF10001"),
        1 => af(StatusCode::BAD_REQUEST, "AF20055"),
        2 => json(
            StatusCode::FORBIDDEN,
            "<html><body><h1>403</h1>AF429 Too many requests</body></html>".into(),
        ),
        3 => json(StatusCode::OK, "[]".into()),
        _ => af(StatusCode::BAD_REQUEST, "AF20011"),
    })
    .await;
    let err = s.client.list_subscriptions().await.unwrap_err();
    assert!(err.is_fatal());
    assert!(err.to_string().contains("ActivityFeed.Read"), "{err}");
    let err = s
        .client
        .list_content(ContentType::DlpAll, window())
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::BadWindow { .. }), "{err}");
    assert!(err.to_string().contains("clock"), "{err}");
    // an HTML throttling page is recognised and retried
    let listing = s
        .client
        .list_content(ContentType::DlpAll, window())
        .await
        .unwrap();
    assert!(listing.blobs.is_empty());
    let err = s.client.list_subscriptions().await.unwrap_err();
    assert!(
        err.is_fatal() && err.to_string().contains("audit logging"),
        "{err}"
    );
    assert_eq!(s.seen().len(), 5);
    s.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_and_skew_is_measured() {
    let foreign = Arc::new(Hostile {
        seen: Mutex::new(Vec::new()),
        count: AtomicUsize::new(0),
        script: Box::new(|_, _| json(StatusCode::OK, "[]".into())),
    });
    let foreign_base = serve(Arc::clone(&foreign)).await;
    let target = format!("{foreign_base}/steal");
    let s = setup(move |n, _| {
        let mut r = if n == 0 {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::FOUND;
            r.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_str(&target).unwrap());
            r
        } else {
            json(StatusCode::OK, "[]".into())
        };
        // the server's clock is two hours ahead
        let date = (Timestamp::now() + SignedDuration::from_hours(2))
            .strftime("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        r.headers_mut()
            .insert(header::DATE, HeaderValue::from_str(&date).unwrap());
        r
    })
    .await;
    let err = s.client.list_subscriptions().await.unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert_eq!(
        foreign.count.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
    let skew = s.client.clock_skew().unwrap();
    assert!(
        (skew - SignedDuration::from_hours(2)).abs() < SignedDuration::from_secs(5),
        "{skew:?}"
    );
    s.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_ending_mid_array_is_refetched_and_never_half_delivered() {
    let full =
        r#"[{"Id":"r1","Operation":"A"},{"Id":"r2","Operation":"B"},{"Id":"r3","Operation":"C"}]"#;
    let s = setup(move |n, _| match n {
        // a clean end of body after two records: valid HTTP, cut-off JSON
        0 => json(StatusCode::OK, full[..60].to_owned()),
        1 => json(StatusCode::OK, "[{\"Id\":\"r1\"} garbage".to_owned()),
        _ => json(StatusCode::OK, full.to_owned()),
    })
    .await;
    let blob = blob_at(&s.base, "Audit.Exchange", "x$y");

    /// A sink that records every call, to see the discards.
    #[derive(Default)]
    struct Log {
        records: Vec<RawRecord>,
        discards: usize,
        peak: usize,
    }
    impl o365sync::api::RecordSink for Log {
        type Error = String;
        fn record(&mut self, record: RawRecord) -> Result<(), String> {
            self.records.push(record);
            self.peak = self.peak.max(self.records.len());
            Ok(())
        }
        fn discard(&mut self) {
            self.discards += 1;
            self.records.clear();
        }
    }
    let mut sink = Log::default();
    match s.client.fetch_blob(&blob, &mut sink).await {
        BlobOutcome::Delivered { records } => assert_eq!(records, 3),
        other => panic!("{other:?}"),
    }
    let ids: Vec<_> = sink.records.iter().filter_map(|r| r.id()).collect();
    assert_eq!(ids, ["r1", "r2", "r3"]);
    assert_eq!(sink.discards, 2);
    assert_eq!(s.client.stats().bad_bodies, 2);
    let seen = s.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter().all(|r| r.query == "PublisherIdentifier=pub-id"),
        "{seen:?}"
    );
    s.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_error_fails_the_blob_without_retrying() {
    let s = setup(|_, _| json(StatusCode::OK, r#"[{"Id":"r1"},{"Id":"r2"}]"#.into())).await;
    struct Full;
    impl o365sync::api::RecordSink for Full {
        type Error = &'static str;
        fn record(&mut self, _: RawRecord) -> Result<(), &'static str> {
            Err("disk full")
        }
        fn discard(&mut self) {}
    }
    let blob = blob_at(&s.base, "", "b");
    match s.client.fetch_blob(&blob, &mut Full).await {
        BlobOutcome::Failed {
            error: ApiError::Sink { detail, .. },
        } => assert_eq!(detail, "disk full"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.seen().len(), 1);
    s.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_checks_json_itself_gets_invalid_records_treated_as_a_corrupt_body() {
    let s = setup(move |n, _| match n {
        // well-formed structure, but the second record is not JSON: only the sink's own parse can tell
        0 => json(StatusCode::OK, r#"[{"Id":"r1"},{"Id":tru}]"#.to_owned()),
        _ => json(StatusCode::OK, r#"[{"Id":"r1"},{"Id":"r2"}]"#.to_owned()),
    })
    .await;
    /// Parses each record (as the executor's normalizer does) and asks the parser not to check them twice.
    #[derive(Default)]
    struct Parsing {
        ids: Vec<String>,
        discards: usize,
    }
    impl o365sync::api::RecordSink for Parsing {
        type Error = String;
        fn record(&mut self, record: RawRecord) -> Result<(), String> {
            let v: serde_json::Value =
                serde_json::from_str(&record.json).map_err(|e| format!("invalid: {e}"))?;
            self.ids
                .push(v["Id"].as_str().unwrap_or_default().to_owned());
            Ok(())
        }
        fn discard(&mut self) {
            self.discards += 1;
            self.ids.clear();
        }
        fn checks_json(&self) -> bool {
            true
        }
        fn is_invalid_record(error: &String) -> bool {
            error.starts_with("invalid: ")
        }
    }
    let blob = blob_at(&s.base, "Audit.Exchange", "x$z");
    let mut sink = Parsing::default();
    match s.client.fetch_blob(&blob, &mut sink).await {
        BlobOutcome::Delivered { records } => assert_eq!(records, 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(sink.ids, ["r1", "r2"]);
    assert_eq!(
        sink.discards, 1,
        "the half-taken first attempt was discarded"
    );
    assert_eq!(s.client.stats().bad_bodies, 1, "counted as a corrupt body");
    assert_eq!(s.seen().len(), 2, "and fetched again");
    s.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_paces_requests() {
    // 120 per minute = 2 per second with a burst of 2: 8 requests take at least 3 seconds
    let s = setup_with(
        |_, _| json(StatusCode::OK, "[]".into()),
        |c| c.max_requests_per_minute = 120,
    )
    .await;
    for _ in 0..8 {
        s.client
            .list_content(ContentType::General, window())
            .await
            .unwrap();
    }
    let seen = s.seen();
    let span = seen[7].at - seen[0].at;
    assert!(
        span >= Duration::from_millis(2900),
        "8 requests in {span:?} at 120/minute"
    );
    s.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_are_clamped_to_retention_and_sent_as_utc_seconds() {
    let s = setup(|_, _| json(StatusCode::OK, "[]".into())).await;
    let now = Timestamp::now();
    let requested = Window::new(
        now - SignedDuration::from_hours(7 * 24 + 12),
        now - SignedDuration::from_hours(6 * 24 + 12),
    )
    .unwrap();
    let listing = s
        .client
        .list_content(ContentType::Exchange, requested)
        .await
        .unwrap();
    let (cut_from, cut_to) = listing.cut.expect("the part beyond retention is reported");
    assert_eq!(cut_from, requested.start());
    assert_eq!(cut_to, listing.window.start());
    assert!(listing.window.start() >= now - SignedDuration::from_mins(167 * 60 + 55));
    let query = s.seen()[0].query.clone();
    let start = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("startTime="))
        .unwrap()
        .replace("%3A", ":");
    assert_eq!(start, listing.window.start_param());
    assert_eq!(start.len(), "YYYY-MM-DDTHH:MM:SS".len(), "{start}");

    // entirely beyond retention: an error (a gap to record), and no request
    let gone = Window::new(
        now - SignedDuration::from_hours(9 * 24),
        now - SignedDuration::from_hours(8 * 24),
    )
    .unwrap();
    let err = s
        .client
        .list_content(ContentType::Exchange, gone)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Window { .. }), "{err}");
    assert!(err.to_string().contains("retention"), "{err}");
    assert_eq!(s.seen().len(), 1);
    s.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_futures_run_on_spawned_tasks() {
    let s = setup(|_, seen| {
        if seen.path.ends_with("/subscriptions/content") {
            json(StatusCode::OK, "[]".into())
        } else {
            json(StatusCode::OK, r#"[{"Id":"r1"}]"#.into())
        }
    })
    .await;
    let blob = blob_at(&s.base, "", "b");
    let client = s.client.clone();
    let listed =
        tokio::spawn(async move { client.list_content(ContentType::General, window()).await });
    let client = s.client.clone();
    let fetched = tokio::spawn(async move {
        let mut sink = Vec::new();
        let outcome = client.fetch_blob(&blob, &mut sink).await;
        (outcome, sink.len())
    });
    assert!(listed.await.unwrap().is_ok());
    let (outcome, n) = fetched.await.unwrap();
    assert!(
        matches!(outcome, BlobOutcome::Delivered { records: 1 }) && n == 1,
        "{outcome:?}"
    );
    s.emu.shutdown().await;
}
