//! The Management Activity API client against the embedded emulator over real HTTP, with real certificate auth
//! (auth's `TokenProvider`) and the emulator's faults switched on.

mod api_support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use o365sync::api::{
    ApiClient, ApiConfig, ApiError, ApiRoot, BlobOutcome, ContentBlob, Fetched, GapReason, Listing,
    RawRecord, RetryPolicy, SubscriptionAction, UriError, Window,
};
use o365sync::auth::TokenProvider;
use o365sync::content_type::ContentType;
use o365sync::emulator::{
    ContentSettings, Emulator, EmulatorConfig, EmulatorHandle, Faults, Throttle, ThrottleStyle,
    throwaway_certificate,
};

type Client = ApiClient<TokenProvider>;

/// Content the tests list: `hours` of history, no late blobs (they are not listable until released).
fn content(hours: u32, blobs_per_hour: u32, records_per_blob: u32) -> ContentSettings {
    ContentSettings {
        seed: 7,
        hours,
        records_per_blob,
        late_blobs: 0,
        ..ContentSettings::default().with_blobs_per_hour(blobs_per_hour)
    }
}

async fn emulator(configure: impl FnOnce(&mut EmulatorConfig)) -> (EmulatorHandle, Client) {
    emulator_with(configure, |_| {}).await
}

async fn emulator_with(
    configure: impl FnOnce(&mut EmulatorConfig),
    tune: impl FnOnce(&mut ApiConfig),
) -> (EmulatorHandle, Client) {
    let cert = throwaway_certificate("o365sync api tests").expect("certificate");
    let mut config = EmulatorConfig::trusting(cert.certificate_der.clone());
    config.initial_subscriptions = ContentType::ALL.to_vec();
    configure(&mut config);
    let emu = Emulator::start(config).await.expect("emulator starts");
    let client = client_for(&emu, &cert.certificate_pem, &cert.private_key_pem, tune);
    (emu, client)
}

fn client_for(
    emu: &EmulatorHandle,
    cert_pem: &str,
    key_pem: &str,
    tune: impl FnOnce(&mut ApiConfig),
) -> Client {
    let (provider, endpoints) = api_support::provider(emu, cert_pem, key_pem, emu.url());
    let root = ApiRoot::from_root_url(endpoints.api_root, emu.tenant_id()).expect("root");
    let mut config = ApiConfig::new(root);
    config.retry = RetryPolicy {
        max_attempts: 10,
        min_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(60),
    };
    tune(&mut config);
    ApiClient::new(config, provider).expect("client")
}

/// Windows of at most 12 hours covering the last `hours` (plus a margin) up to now.
fn windows(hours: i64) -> Vec<Window> {
    let now = Timestamp::now();
    let mut start = now - SignedDuration::from_hours(hours) - SignedDuration::from_mins(5);
    let end = now + SignedDuration::from_secs(1);
    let mut out = Vec::new();
    while start < end {
        let stop = (start + SignedDuration::from_hours(12)).min(end);
        out.push(Window::new(start, stop).expect("window"));
        start = out.last().map(Window::end).unwrap_or(stop);
    }
    out
}

struct Synced {
    listings: Vec<Listing>,
    fetched: Vec<Fetched<Vec<RawRecord>>>,
}

impl Synced {
    fn blobs(&self) -> Vec<&ContentBlob> {
        self.listings.iter().flat_map(|l| l.blobs.iter()).collect()
    }

    fn delivered_ids(&self) -> BTreeSet<String> {
        self.fetched
            .iter()
            .filter(|f| matches!(f.outcome, BlobOutcome::Delivered { .. }))
            .flat_map(|f| f.sink.iter().filter_map(|r| r.id()))
            .collect()
    }

    fn delivered_blob_ids(&self) -> BTreeSet<String> {
        self.fetched
            .iter()
            .filter(|f| matches!(f.outcome, BlobOutcome::Delivered { .. }))
            .map(|f| f.blob.content_id.clone())
            .collect()
    }
}

/// What a run does: make sure the subscriptions exist, list every window of every content type, fetch every blob.
async fn sync(client: &Client, hours: i64) -> Result<Synced, ApiError> {
    let now = Timestamp::now();
    let wanted: Vec<_> = ContentType::ALL.iter().map(|&ct| (ct, None)).collect();
    client.ensure_subscriptions(&wanted, now).await?;
    let mut listings = Vec::new();
    for ct in ContentType::ALL {
        for w in windows(hours) {
            listings.push(client.list_content(ct, w).await?);
        }
    }
    let blobs: Vec<ContentBlob> = listings
        .iter()
        .flat_map(|l| l.blobs.iter().cloned())
        .collect();
    let fetched = client
        .fetch_blobs(blobs, |_| Vec::new())
        .collect::<Vec<_>>()
        .await;
    Ok(Synced { listings, fetched })
}

fn emulator_blob_ids(emu: &EmulatorHandle) -> BTreeSet<String> {
    emu.blobs().into_iter().map(|b| b.content_id).collect()
}

/// Revokes every token the emulator issued once it has served `blob_fetches` blob fetches (checked every `poll`).
fn expire_tokens_after(
    emu: &Arc<EmulatorHandle>,
    blob_fetches: u64,
    poll: Duration,
) -> tokio::task::JoinHandle<()> {
    let emu = Arc::clone(emu);
    tokio::spawn(async move {
        while emu.stats().requests.blob_fetch < blob_fetches {
            tokio::time::sleep(poll).await;
        }
        emu.expire_tokens();
    })
}

/// Every blob reached a terminal outcome, and exactly the emulator's blobs and records were delivered.
fn assert_delivered_everything(synced: &Synced, emu: &EmulatorHandle) {
    let failed: Vec<_> = synced
        .fetched
        .iter()
        .filter(|f| !f.outcome.is_terminal())
        .collect();
    assert!(
        failed.is_empty(),
        "{:?}",
        failed.iter().map(|f| &f.outcome).collect::<Vec<_>>()
    );
    assert_eq!(synced.delivered_blob_ids(), emulator_blob_ids(emu));
    assert_eq!(synced.delivered_ids(), emu.ground_truth().all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_sync_delivers_every_blob_and_record_once() {
    let (emu, client) = emulator(|c| {
        c.content = content(6, 2, 5);
        c.page_size = 7;
    })
    .await;
    let synced = sync(&client, 6).await.expect("sync");

    assert_eq!(synced.delivered_blob_ids(), emulator_blob_ids(&emu));
    assert_eq!(synced.delivered_ids(), emu.ground_truth().all());
    // one blob per content type is listed twice and kept once
    let dups: usize = synced.listings.iter().map(|l| l.duplicates).sum();
    assert_eq!(dups, ContentType::ALL.len());
    assert_eq!(synced.blobs().len(), emu.blobs().len());
    assert!(
        synced.listings.iter().any(|l| l.pages > 1),
        "paging was exercised"
    );

    let stats = emu.stats();
    assert_eq!(stats.without_publisher_identifier, 0);
    assert_eq!(stats.blob_refetches, 0, "no blob fetched twice");
    assert_eq!(
        stats.requests.subscriptions_start, 0,
        "all were enabled: no start"
    );
    assert_eq!(stats.requests.subscriptions_list, 1);
    assert_eq!(stats.window_errors, 0);
    // records are repeated across blobs: more delivered than distinct
    let delivered: usize = synced.fetched.iter().map(|f| f.sink.len()).sum();
    assert!(delivered > emu.ground_truth().len());
    assert_eq!(client.stats().retries, 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_truncation_and_token_expiry_lose_nothing() {
    let (emu, client) = emulator(|c| {
        c.content = content(12, 4, 6);
        c.page_size = 10;
        c.faults = Faults {
            transient_error_rate: 0.05,
            truncated_body_rate: 0.03,
            ..Faults::default()
        };
    })
    .await;
    let emu = Arc::new(emu);
    // revoke every token once the run is well under way
    let watcher = expire_tokens_after(&emu, 60, Duration::from_millis(5));
    let synced = sync(&client, 12).await.expect("sync");
    watcher.await.expect("watcher");

    assert_delivered_everything(&synced, &emu);

    let stats = emu.stats();
    let ours = client.stats();
    assert!(
        stats.faults.transient_500 + stats.faults.transient_503 > 0,
        "{stats:?}"
    );
    assert!(stats.faults.truncated > 0, "{stats:?}");
    assert!(
        stats.unauthorized > 0 && ours.token_refreshes > 0,
        "{stats:?} {ours:?}"
    );
    // every injected fault was noticed and retried (a cut-off body fails at the header or the body read)
    let injected = stats.faults.transient_500 + stats.faults.transient_503 + stats.faults.truncated;
    assert!(
        ours.transient + ours.bad_bodies >= injected,
        "{ours:?} {stats:?}"
    );
    assert!(ours.retries >= injected, "{ours:?} {stats:?}");
    assert_eq!(stats.without_publisher_identifier, 0);
    // a truncated blob is fetched again, but no complete blob twice
    assert_eq!(stats.blob_refetches, 0);
    // a blob cut off mid-way never leaves records behind: every sink holds exactly its blob's records
    let by_id: HashMap<String, usize> = emu
        .blobs()
        .into_iter()
        .map(|b| (b.content_id, b.record_ids.len()))
        .collect();
    for f in &synced.fetched {
        assert_eq!(
            Some(&f.sink.len()),
            by_id.get(&f.blob.content_id),
            "{}",
            f.blob.content_id
        );
    }
    if let Ok(emu) = Arc::try_unwrap(emu) {
        emu.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_next_page_gets_no_token_and_leaves_the_window_incomplete() {
    let (emu, client) = emulator(|c| {
        c.content = content(3, 4, 2);
        c.page_size = 3;
        c.faults.foreign_next_page = true;
    })
    .await;
    let w = windows(3)[0];
    let err = client
        .list_content(ContentType::Exchange, w)
        .await
        .expect_err("the window must not be reported complete");
    match &err {
        ApiError::Uri {
            error: UriError::ForeignOrigin { found, .. },
            ..
        } => assert_eq!(found, &emu.foreign_url()),
        other => panic!("unexpected error: {other}"),
    }
    assert!(err.to_string().contains("refusing to follow"), "{err}");
    let stats = emu.stats();
    assert!(stats.faults.foreign_next_page > 0);
    assert_eq!(stats.foreign_requests, 0);
    assert_eq!(stats.foreign_bearer_tokens, 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_start_once_and_respect_the_fifteen_minute_rule() {
    let (emu, client) = emulator(|c| {
        c.content = content(2, 2, 2);
        c.initial_subscriptions = vec![ContentType::Exchange];
    })
    .await;
    let now = Timestamp::now();
    let wanted: Vec<_> = ContentType::ALL.iter().map(|&ct| (ct, None)).collect();
    let checks = client
        .ensure_subscriptions(&wanted, now)
        .await
        .expect("ensure");
    for c in &checks {
        if c.content_type == ContentType::Exchange {
            assert_eq!(c.action, SubscriptionAction::Enabled);
            assert_eq!(c.last_start, None);
        } else {
            assert_eq!(c.action, SubscriptionAction::Started);
            assert_eq!(c.last_start, Some(now));
        }
    }
    assert_eq!(emu.stats().requests.subscriptions_start, 4);

    // the next run lists them as enabled and starts nothing
    let again: Vec<_> = checks
        .iter()
        .map(|c| (c.content_type, c.last_start))
        .collect();
    let checks = client
        .ensure_subscriptions(&again, now + SignedDuration::from_mins(1))
        .await
        .expect("ensure");
    assert!(
        checks
            .iter()
            .all(|c| c.action == SubscriptionAction::Enabled)
    );
    assert_eq!(emu.stats().requests.subscriptions_start, 4);

    // a start within 15 minutes of the last one is not sent
    let last = Some(now);
    let check = client
        .start_subscription(
            ContentType::General,
            last,
            now + SignedDuration::from_mins(14),
        )
        .await
        .expect("start");
    assert_eq!(
        check.action,
        SubscriptionAction::Deferred {
            next_allowed: now + SignedDuration::from_mins(15)
        }
    );
    assert_eq!(check.last_start, last);
    assert_eq!(emu.stats().requests.subscriptions_start, 4);

    // AF20024 on an enabled subscription counts as success and records the start
    let later = now + SignedDuration::from_mins(16);
    let check = client
        .start_subscription(ContentType::Exchange, None, later)
        .await
        .expect("start");
    assert_eq!(check.action, SubscriptionAction::AlreadyEnabled);
    assert_eq!(check.last_start, Some(later));
    assert_eq!(emu.stats().starts_too_soon, 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_without_subscription_starts_it_when_allowed() {
    let (emu, client) = emulator(|c| {
        c.content = content(2, 2, 2);
        c.initial_subscriptions = Vec::new();
    })
    .await;
    let w = windows(2)[0];
    let now = Timestamp::now();

    let err = client
        .list_content(ContentType::SharePoint, w)
        .await
        .expect_err("no subscription");
    assert!(matches!(err, ApiError::NotSubscribed { .. }), "{err}");

    // a start sent 5 minutes ago blocks another one: the error says when the next is allowed
    let mut last = Some(now - SignedDuration::from_mins(5));
    let err = client
        .list_content_subscribing(ContentType::SharePoint, w, &mut last, now)
        .await
        .expect_err("deferred");
    assert!(err.to_string().contains("next is allowed at"), "{err}");
    assert_eq!(emu.stats().requests.subscriptions_start, 0);

    let mut last = None;
    let listing = client
        .list_content_subscribing(ContentType::SharePoint, w, &mut last, now)
        .await
        .expect("listed after starting");
    assert_eq!(last, Some(now));
    assert_eq!(emu.stats().requests.subscriptions_start, 1);
    assert!(!listing.blobs.is_empty());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_missing_blobs_become_gaps() {
    let (emu, client) = emulator(|c| c.content = content(2, 2, 3)).await;
    let listing = client
        .list_content(ContentType::Exchange, windows(2)[0])
        .await
        .expect("list");
    let target = listing.blobs[0].clone();
    assert!(emu.expire_blob(&target.content_id));
    let mut sink = Vec::new();
    match client.fetch_blob(&target, &mut sink).await {
        BlobOutcome::Gap { reason, detail } => {
            assert_eq!(reason, GapReason::Expired);
            assert!(detail.contains("AF20051"), "{detail}");
        }
        other => panic!("expected a gap, got {other:?}"),
    }
    assert!(sink.is_empty());

    let mut missing = listing.blobs[1].clone();
    missing.content_uri = missing
        .content_uri
        .replace(&missing.content_id, "20990101000000000000000$nope");
    match client.fetch_blob(&missing, &mut Vec::new()).await {
        BlobOutcome::Gap { reason, .. } => assert_eq!(reason, GapReason::Missing),
        other => panic!("expected a gap, got {other:?}"),
    }

    // a contentUri on another origin is refused before any request
    let before = emu.stats();
    let mut foreign = listing.blobs[1].clone();
    foreign.content_uri = format!("{}/api/v1.0/x/activity/feed/audit/abc", emu.foreign_url());
    match client.fetch_blob(&foreign, &mut Vec::new()).await {
        BlobOutcome::Failed {
            error: ApiError::Uri { .. },
        } => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    let after = emu.stats();
    assert_eq!(after.foreign_requests, 0);
    assert_eq!(after.requests.blob_fetch, before.requests.blob_fetch);
    assert_eq!(after.without_publisher_identifier, 0);
    emu.shutdown().await;
}

/// Syncs 4 hours of content with 50 ms latency per request; returns the emulator's peak concurrency and the time.
async fn timed_latency_sync(
    concurrency: usize,
    max_requests_per_minute: u32,
) -> (u64, Duration, usize) {
    let (emu, client) = emulator_with(
        |c| {
            c.content = content(4, 4, 3);
            c.faults.latency_ms = 50;
        },
        |a| {
            a.concurrency = concurrency;
            a.max_requests_per_minute = max_requests_per_minute;
        },
    )
    .await;
    let started = Instant::now();
    let synced = sync(&client, 4).await.expect("sync");
    let took = started.elapsed();
    assert_eq!(synced.delivered_ids(), emu.ground_truth().all());
    let peak = emu.stats().peak_concurrency;
    emu.shutdown().await;
    (peak, took, synced.fetched.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_concurrency_overlaps_requests_without_exceeding_the_bound() {
    // a budget that does not bind, so that only concurrency decides
    let (peak8, concurrent, blobs) = timed_latency_sync(8, 60_000).await;
    assert!((2..=8).contains(&peak8), "peak concurrency {peak8}");
    let (peak1, sequential, _) = timed_latency_sync(1, 60_000).await;
    assert_eq!(peak1, 1);
    // the figure for the report (not asserted: timings belong in the benchmark)
    eprintln!(
        "50 ms latency, {blobs} blobs: concurrency 8 took {concurrent:?}, concurrency 1 took {sequential:?} ({:.1}x)",
        sequential.as_secs_f64() / concurrent.as_secs_f64()
    );
}

/// The scenario: 5 % transient errors, 3 % truncated bodies, throttling at 300 requests/minute mixing 429
/// and 403 AF429, token expiry mid-run, records repeated across blobs and a blob listed twice. The client's budget
/// is the tenant's 300/minute; the run is long enough (over a minute of requests) for the throttle to matter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_fault_scenario_at_300_requests_per_minute() {
    let (emu, client) = emulator_with(
        |c| {
            c.content = content(20, 3, 4);
            c.page_size = 25;
            c.faults = Faults {
                throttle: Some(Throttle {
                    requests_per_minute: 300,
                    style: ThrottleStyle::Mixed,
                }),
                transient_error_rate: 0.05,
                truncated_body_rate: 0.03,
                ..Faults::default()
            };
        },
        |a| a.max_requests_per_minute = 300,
    )
    .await;
    let emu = Arc::new(emu);
    let watcher = expire_tokens_after(&emu, 150, Duration::from_millis(20));
    let synced = sync(&client, 20).await.expect("sync");
    watcher.await.expect("watcher");

    assert_delivered_everything(&synced, &emu);
    let dups: usize = synced.listings.iter().map(|l| l.duplicates).sum();
    assert_eq!(dups, ContentType::ALL.len());

    let stats = emu.stats();
    let ours = client.stats();
    eprintln!("emulator: {stats:?}\nclient: {ours:?}");
    assert_eq!(stats.without_publisher_identifier, 0);
    assert_eq!(stats.blob_refetches, 0);
    assert!(stats.unauthorized > 0 && ours.token_refreshes > 0);
    assert!(stats.faults.transient_500 + stats.faults.transient_503 > 0);
    assert!(stats.faults.truncated > 0);
    // more than a minute of requests went out, yet the 300/minute budget was exceeded by a few requests at most
    let api_requests = stats.requests.subscriptions_list
        + stats.requests.subscriptions_start
        + stats.requests.content_list
        + stats.requests.blob_fetch;
    assert!(api_requests > 300, "{api_requests}");
    assert!(stats.throttled <= 10, "throttled {} times", stats.throttled);
    assert_eq!(ours.throttled, stats.throttled);
    if let Ok(emu) = Arc::try_unwrap(emu) {
        emu.shutdown().await;
    }
}
