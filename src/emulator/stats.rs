//! The emulator's counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Live counters (atomics), snapshotted into [`Stats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub token: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub tokens_refused: AtomicU64,
    pub subscriptions_start: AtomicU64,
    pub subscriptions_list: AtomicU64,
    pub subscriptions_stop: AtomicU64,
    pub content_list: AtomicU64,
    pub blob_fetch: AtomicU64,
    pub unauthorized: AtomicU64,
    pub throttled_429: AtomicU64,
    pub throttled_403: AtomicU64,
    pub transient_500: AtomicU64,
    pub transient_503: AtomicU64,
    pub truncated: AtomicU64,
    pub foreign_next_page: AtomicU64,
    pub tokens_expired: AtomicU64,
    pub api_requests: AtomicU64,
    pub without_publisher_identifier: AtomicU64,
    pub blob_refetches: AtomicU64,
    pub blobs_served: AtomicU64,
    pub starts_too_soon: AtomicU64,
    pub window_errors: AtomicU64,
    pub expired_fetches: AtomicU64,
    pub unknown_fetches: AtomicU64,
    pub foreign_requests: AtomicU64,
    pub foreign_bearer_tokens: AtomicU64,
    pub in_flight: AtomicU64,
    pub peak_concurrency: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Requests received, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RequestCounts {
    /// `POST /{tenant}/oauth2/v2.0/token`.
    pub token: u64,
    /// `POST …/subscriptions/start`.
    pub subscriptions_start: u64,
    /// `GET …/subscriptions/list`.
    pub subscriptions_list: u64,
    /// `POST …/subscriptions/stop`.
    pub subscriptions_stop: u64,
    /// `GET …/subscriptions/content` (each page counts).
    pub content_list: u64,
    /// `GET …/audit/{contentId}`.
    pub blob_fetch: u64,
}

/// Faults injected, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FaultCounts {
    /// Throttled with HTTP 429 and `Retry-After`.
    pub throttled_429: u64,
    /// Throttled with HTTP 403 AF429.
    pub throttled_403: u64,
    /// Transient HTTP 500 AF50000.
    pub transient_500: u64,
    /// Transient HTTP 503 AF50000.
    pub transient_503: u64,
    /// Bodies cut off mid-way.
    pub truncated: u64,
    /// `NextPageUri` headers pointing at the foreign listener.
    pub foreign_next_page: u64,
    /// Times every issued access token was made to expire (`expire_tokens_every`, not the control call).
    pub tokens_expired: u64,
}

impl FaultCounts {
    /// Every injected fault.
    pub fn total(&self) -> u64 {
        self.throttled_429
            + self.throttled_403
            + self.transient_500
            + self.transient_503
            + self.truncated
            + self.foreign_next_page
            + self.tokens_expired
    }
}

/// A snapshot of the emulator's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Stats {
    /// Requests by kind.
    pub requests: RequestCounts,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Token requests refused (any AADSTS error).
    pub tokens_refused: u64,
    /// API requests answered 401 (missing, unknown or expired token).
    pub unauthorized: u64,
    /// Throttled requests (429 and 403 AF429).
    pub throttled: u64,
    /// Faults injected.
    pub faults: FaultCounts,
    /// API requests without a `PublisherIdentifier` query parameter.
    pub without_publisher_identifier: u64,
    /// Complete blob bodies served.
    pub blobs_served: u64,
    /// Fetches of a blob whose complete body had already been served.
    pub blob_refetches: u64,
    /// Subscription starts sooner than 15 minutes after the previous start of the same content type.
    pub starts_too_soon: u64,
    /// Listings refused with AF20055.
    pub window_errors: u64,
    /// Fetches answered AF20051 (expired).
    pub expired_fetches: u64,
    /// Fetches answered 404 AF20050 (unknown content).
    pub unknown_fetches: u64,
    /// Most API and token requests in flight at once.
    pub peak_concurrency: u64,
    /// Requests received by the foreign listener.
    pub foreign_requests: u64,
    /// Requests carrying a bearer token received by the foreign listener (each one a leaked token).
    pub foreign_bearer_tokens: u64,
    /// Management API requests (subscriptions, listings, blobs; not token requests) by the tenant ID in their
    /// URL, counted as they arrive whatever their answer; tenants without any request are left out, and so are
    /// URLs naming no tenant the emulator serves.
    #[serde(default)]
    pub requests_by_tenant: BTreeMap<String, u64>,
    /// Token requests (`POST /{tenant}/oauth2/v2.0/token`, issued or refused) by the tenant ID in their URL;
    /// tenants without any request are left out, and so are the workspace's directory and unknown tenants.
    #[serde(default)]
    pub token_requests_by_tenant: BTreeMap<String, u64>,
    /// The largest number of distinct tenants that had at least one Management API request (subscriptions,
    /// listing or blob; not a token request) being served at the same instant: a request counts from its arrival
    /// until its response is produced (a streamed body may still be on its way).
    #[serde(default)]
    pub peak_tenants_in_flight: u64,
}

impl Counters {
    pub fn snapshot(&self) -> Stats {
        let faults = FaultCounts {
            throttled_429: get(&self.throttled_429),
            throttled_403: get(&self.throttled_403),
            transient_500: get(&self.transient_500),
            transient_503: get(&self.transient_503),
            truncated: get(&self.truncated),
            foreign_next_page: get(&self.foreign_next_page),
            tokens_expired: get(&self.tokens_expired),
        };
        Stats {
            requests: RequestCounts {
                token: get(&self.token),
                subscriptions_start: get(&self.subscriptions_start),
                subscriptions_list: get(&self.subscriptions_list),
                subscriptions_stop: get(&self.subscriptions_stop),
                content_list: get(&self.content_list),
                blob_fetch: get(&self.blob_fetch),
            },
            tokens_issued: get(&self.tokens_issued),
            tokens_refused: get(&self.tokens_refused),
            unauthorized: get(&self.unauthorized),
            throttled: faults.throttled_429 + faults.throttled_403,
            faults,
            without_publisher_identifier: get(&self.without_publisher_identifier),
            blobs_served: get(&self.blobs_served),
            blob_refetches: get(&self.blob_refetches),
            starts_too_soon: get(&self.starts_too_soon),
            window_errors: get(&self.window_errors),
            expired_fetches: get(&self.expired_fetches),
            unknown_fetches: get(&self.unknown_fetches),
            peak_concurrency: get(&self.peak_concurrency),
            foreign_requests: get(&self.foreign_requests),
            foreign_bearer_tokens: get(&self.foreign_bearer_tokens),
            ..Stats::default()
        }
    }
}

/// Counts a request in flight until dropped, keeping the peak.
pub(crate) struct InFlight<'a>(&'a Counters);

impl<'a> InFlight<'a> {
    pub fn enter(c: &'a Counters) -> Self {
        let now = c.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        c.peak_concurrency.fetch_max(now, Ordering::SeqCst);
        InFlight(c)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How many API requests each tenant (by index) has in flight, and the most distinct tenants ever in flight at once.
#[derive(Default)]
pub(crate) struct TenantsInFlight {
    counts: HashMap<usize, u64>,
    peak: u64,
}

impl TenantsInFlight {
    pub fn peak(&self) -> u64 {
        self.peak
    }
}

/// Counts one API request of a tenant in flight until dropped, keeping the peak of distinct tenants.
pub(crate) struct TenantInFlight<'a> {
    set: &'a Mutex<TenantsInFlight>,
    tenant: usize,
}

impl<'a> TenantInFlight<'a> {
    pub fn enter(set: &'a Mutex<TenantsInFlight>, tenant: usize) -> Self {
        let mut s = set.lock().unwrap_or_else(|e| e.into_inner());
        *s.counts.entry(tenant).or_default() += 1;
        let distinct = s.counts.len() as u64;
        s.peak = s.peak.max(distinct);
        TenantInFlight { set, tenant }
    }
}

impl Drop for TenantInFlight<'_> {
    fn drop(&mut self) {
        let mut s = self.set.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = s.counts.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.counts.remove(&self.tenant);
            }
        }
    }
}
