//! The HTTP core: one attempt of a request (budget, token, `PublisherIdentifier`, `User-Agent`, `Date` check, error
//! parsing) and the retry loop around it (throttling, transient failures, one token refresh on 401).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, Response};
use url::Url;

use crate::api::bearer::{BearerError, BearerSource};
use crate::api::budget::{Budget, DEFAULT_REQUESTS_PER_MINUTE};
use crate::api::clock::SkewMonitor;
use crate::api::error::{ApiError, ErrorClass, ServiceError, parse_retry_after};
use crate::api::retry::RetryPolicy;
use crate::api::urls::ApiRoot;

/// The `User-Agent` of every request: `o365sync/<version>`.
pub const USER_AGENT: &str = concat!("o365sync/", env!("CARGO_PKG_VERSION"));

/// Largest error body read (the rest is ignored).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Default number of blobs fetched at once.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// How a client talks to one tenant's API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// API root and publisher identifier.
    pub root: ApiRoot,
    /// The tenant's request budget (`sync.max_requests_per_minute`).
    pub max_requests_per_minute: u32,
    /// Blobs fetched concurrently (at least 1).
    pub concurrency: usize,
    /// Retry policy for every request.
    pub retry: RetryPolicy,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Longest silence while reading a response before the attempt counts as failed (transient).
    pub read_timeout: Duration,
}

impl ApiConfig {
    /// Defaults: 2000 requests per minute, 8 concurrent blob fetches, 8 attempts, 10 s connect, 60 s read timeout.
    pub fn new(root: ApiRoot) -> ApiConfig {
        ApiConfig {
            root,
            max_requests_per_minute: DEFAULT_REQUESTS_PER_MINUTE,
            concurrency: DEFAULT_CONCURRENCY,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// Counters of what a client did (for run reports and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiStats {
    /// Requests sent (every attempt).
    pub requests: u64,
    /// Attempts repeated after a retryable failure.
    pub retries: u64,
    /// Throttled responses (429 or AF429).
    pub throttled: u64,
    /// Transient failures (connection, timeout, 408, 5xx, AF500xx).
    pub transient: u64,
    /// Blob or listing bodies that were cut off or not valid JSON.
    pub bad_bodies: u64,
    /// Tokens dropped after a 401.
    pub token_refreshes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    transient: AtomicU64,
    bad_bodies: AtomicU64,
    token_refreshes: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Why one attempt failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The service answered with an error.
    Service(ServiceError),
    /// 401: the token used (a `BearerSource::Token`) is attached so that exactly it can be invalidated.
    Unauthorized(ServiceError, Arc<dyn std::any::Any + Send + Sync>),
    /// Connection, timeout or body-read trouble.
    Transport(String),
    /// A body that was cut off or not the JSON expected.
    Body(String),
    /// No token.
    Token(BearerError),
    /// The sink refused a record.
    Sink(String),
    /// Retries used up; the last failure.
    Exhausted { attempts: u32, last: Box<Failure> },
}

impl Failure {
    fn retryable(&self) -> bool {
        match self {
            Failure::Service(e) => {
                matches!(e.class(), ErrorClass::Throttled | ErrorClass::Transient)
            }
            Failure::Transport(_) | Failure::Body(_) => true,
            Failure::Token(e) => e.transient,
            _ => false,
        }
    }

    fn throttled(&self) -> bool {
        matches!(self, Failure::Service(e) if e.class() == ErrorClass::Throttled)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Service(e) => e.retry_after,
            _ => None,
        }
    }

    /// A one-line description (no token, no query strings).
    pub(crate) fn describe(&self) -> String {
        match self {
            Failure::Service(e) | Failure::Unauthorized(e, _) => e.to_string(),
            Failure::Transport(m) | Failure::Body(m) | Failure::Sink(m) => m.clone(),
            Failure::Token(e) => e.to_string(),
            Failure::Exhausted { last, .. } => last.describe(),
        }
    }
}

pub(crate) struct Inner<B> {
    pub(crate) http: reqwest::Client,
    pub(crate) root: ApiRoot,
    pub(crate) bearer: B,
    pub(crate) budget: Arc<Budget>,
    pub(crate) retry: RetryPolicy,
    pub(crate) concurrency: usize,
    pub(crate) skew: SkewMonitor,
    pub(crate) counters: Counters,
}

/// A client of one tenant's Management Activity API. Cheap to clone; clones share the budget, token and counters.
pub struct ApiClient<B> {
    pub(crate) inner: Arc<Inner<B>>,
}

impl<B> Clone for ApiClient<B> {
    fn clone(&self) -> Self {
        ApiClient {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// The HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("could not set up the HTTP client: {0}")]
pub struct ClientBuildError(String);

/// Idle connections kept per host by a client: enough for the jobs of a run sharing it, bounded whatever their
/// number.
const IDLE_PER_HOST: usize = 32;

/// The HTTP client of the Management Activity API: never follows a redirect (it could carry the token elsewhere),
/// with `config`'s timeouts.
pub fn http_client(config: &ApiConfig) -> Result<reqwest::Client, ClientBuildError> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .read_timeout(config.read_timeout)
        .pool_max_idle_per_host(IDLE_PER_HOST)
        .build()
        .map_err(|e| ClientBuildError(e.without_url().to_string()))
}

impl<B: BearerSource> ApiClient<B> {
    /// A client with its own request budget.
    pub fn new(config: ApiConfig, bearer: B) -> Result<ApiClient<B>, ClientBuildError> {
        let budget = Arc::new(Budget::per_minute(config.max_requests_per_minute));
        ApiClient::with_budget(config, bearer, budget)
    }

    /// A client sharing `budget` with other clients of the same tenant (its `max_requests_per_minute` is ignored).
    pub fn with_budget(
        config: ApiConfig,
        bearer: B,
        budget: Arc<Budget>,
    ) -> Result<ApiClient<B>, ClientBuildError> {
        let http = http_client(&config)?;
        Ok(ApiClient::with_http(config, bearer, budget, http))
    }

    /// A client sending its requests through `http`, an HTTP client built by [`http_client`] with the same
    /// timeouts (the jobs of a run share one, its connection pool and its TLS roots).
    pub fn with_http(
        config: ApiConfig,
        bearer: B,
        budget: Arc<Budget>,
        http: reqwest::Client,
    ) -> ApiClient<B> {
        ApiClient {
            inner: Arc::new(Inner {
                http,
                root: config.root,
                bearer,
                budget,
                retry: config.retry,
                concurrency: config.concurrency.max(1),
                skew: SkewMonitor::new(),
                counters: Counters::default(),
            }),
        }
    }

    /// The API root.
    pub fn root(&self) -> &ApiRoot {
        &self.inner.root
    }

    /// The shared request budget.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.inner.budget
    }

    /// The latest clock skew seen in a `Date` header (server minus local).
    pub fn clock_skew(&self) -> Option<jiff::SignedDuration> {
        self.inner.skew.skew()
    }

    /// The local clock corrected by the latest skew seen in a `Date` header: the service's idea of now.
    pub fn server_now(&self) -> jiff::Timestamp {
        let now = jiff::Timestamp::now();
        match self.clock_skew() {
            Some(skew) => now.checked_add(skew).unwrap_or(now),
            None => now,
        }
    }

    /// What the client did so far.
    pub fn stats(&self) -> ApiStats {
        let c = &self.inner.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ApiStats {
            requests: l(&c.requests),
            retries: l(&c.retries),
            throttled: l(&c.throttled),
            transient: l(&c.transient),
            bad_bodies: l(&c.bad_bodies),
            token_refreshes: l(&c.token_refreshes),
        }
    }

    /// One attempt: waits for the budget, gets a token, sends, and turns a non-2xx answer into a [`Failure`].
    /// `url` must already be pinned to the API origin and carry `PublisherIdentifier`.
    pub(crate) async fn attempt(&self, method: Method, url: &Url) -> Result<Response, Failure> {
        let inner = &*self.inner;
        inner.budget.acquire().await;
        let token = inner.bearer.bearer().await.map_err(Failure::Token)?;
        bump(&inner.counters.requests);
        let mut req = inner
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(B::secret(&token));
        if method == Method::POST {
            req = req.header(reqwest::header::CONTENT_LENGTH, 0);
        }
        let resp = req.send().await.map_err(|e| {
            bump(&inner.counters.transient);
            Failure::Transport(format!("request failed: {}", e.without_url()))
        })?;
        if let Some(date) = resp
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
        {
            inner.skew.observe(date, jiff::Timestamp::now());
        }
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = retry_after(resp.headers());
        let body = read_limited(resp, MAX_ERROR_BODY).await;
        let err = ServiceError::parse(status.as_u16(), &body, retry_after);
        match err.class() {
            ErrorClass::Throttled => bump(&inner.counters.throttled),
            ErrorClass::Transient => bump(&inner.counters.transient),
            _ => {}
        }
        if status.as_u16() == 401 {
            return Err(Failure::Unauthorized(err, Arc::new(token)));
        }
        Err(Failure::Service(err))
    }

    pub(crate) fn retrier(&self) -> Retrier<'_, B> {
        Retrier {
            client: self,
            backoff: Box::new(self.inner.retry.backoff()),
            attempts: 0,
            refreshed: false,
        }
    }

    /// Runs `f` until it succeeds, fails for good, or the attempts are used up.
    pub(crate) async fn with_retry<T, F, Fut>(&self, mut f: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut retrier = self.retrier();
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) => retrier.next(e).await?,
            }
        }
    }

    pub(crate) fn count_bad_body(&self) {
        bump(&self.inner.counters.bad_bodies);
    }
}

/// The retry state of one logical request.
pub(crate) struct Retrier<'a, B> {
    client: &'a ApiClient<B>,
    backoff: Box<dyn Iterator<Item = Duration> + Send>,
    attempts: u32,
    refreshed: bool,
}

impl<B: BearerSource> Retrier<'_, B> {
    /// Decides about a failed attempt: `Ok(())` after waiting when it should be tried again, else the failure to
    /// report ([`Failure::Exhausted`] when the attempts are used up).
    pub(crate) async fn next(&mut self, failure: Failure) -> Result<(), Failure> {
        self.attempts += 1;
        let inner = &*self.client.inner;
        if let Failure::Unauthorized(_, token) = &failure {
            if self.refreshed {
                return Err(failure);
            }
            // the token expired or was revoked: drop it and try once more at once
            if let Some(token) = token.downcast_ref::<B::Token>() {
                inner.bearer.invalidate(token).await;
            }
            bump(&inner.counters.token_refreshes);
            self.refreshed = true;
            tracing::debug!("the service rejected the access token; fetching a fresh one");
            return Ok(());
        }
        if !failure.retryable() {
            return Err(failure);
        }
        let Some(backoff) = self.backoff.next() else {
            return Err(Failure::Exhausted {
                attempts: self.attempts,
                last: Box::new(failure),
            });
        };
        let delay = inner.retry.delay(backoff, failure.retry_after());
        if failure.throttled() {
            // the whole tenant is over its budget: hold every request back, not only this one
            inner.budget.pause_for(delay);
        }
        bump(&inner.counters.retries);
        tracing::debug!(
            attempt = self.attempts,
            delay_ms = delay.as_millis() as u64,
            error = %failure.describe(),
            "retrying"
        );
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

impl Failure {
    /// The error reported for a failure that ended an operation. `content_type` names the subscription for
    /// AF20022/AF20023.
    pub(crate) fn into_api_error(
        self,
        operation: &str,
        content_type: Option<crate::content_type::ContentType>,
    ) -> ApiError {
        let operation = operation.to_owned();
        match self {
            Failure::Exhausted { attempts, last } => ApiError::Exhausted {
                operation,
                attempts,
                last: last.describe(),
            },
            Failure::Unauthorized(error, _) => ApiError::Unauthorized { operation, error },
            Failure::Token(error) => ApiError::Token { operation, error },
            Failure::Sink(detail) => ApiError::Sink { operation, detail },
            Failure::Transport(m) | Failure::Body(m) => ApiError::Exhausted {
                operation,
                attempts: 1,
                last: m,
            },
            Failure::Service(error) => match (error.class(), content_type) {
                (ErrorClass::NotSubscribed, Some(content_type)) => ApiError::NotSubscribed {
                    operation,
                    content_type,
                    detail: error.to_string(),
                },
                (ErrorClass::BadWindow, _) => ApiError::BadWindow { operation, error },
                (ErrorClass::Throttled | ErrorClass::Transient, _) => ApiError::Exhausted {
                    operation,
                    attempts: 1,
                    last: error.to_string(),
                },
                _ => {
                    let advice = error.advice();
                    ApiError::Fatal {
                        operation,
                        error,
                        advice,
                    }
                }
            },
        }
    }
}

/// A `Retry-After` header: delay seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(v, jiff::Timestamp::now())
}

/// Reads at most `limit` bytes of a body (errors end the read: the body is only used for an error message).
async fn read_limited(mut resp: Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match resp.chunk().await {
            Ok(Some(c)) => out.extend_from_slice(&c[..c.len().min(limit - out.len())]),
            _ => break,
        }
    }
    out
}

/// Looks up the next-page header whatever its case or spelling (`NextPageUri`, `Nextpageuri`, `NextPageUrl`).
pub fn next_page_header(headers: &HeaderMap) -> Option<String> {
    ["nextpageuri", "nextpageurl"].iter().find_map(|name| {
        headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    #[test]
    fn next_page_header_any_case_and_spelling() {
        for name in ["NextPageUri", "Nextpageuri", "NEXTPAGEURI", "NextPageUrl"] {
            let mut h = HeaderMap::new();
            h.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("https://manage.office.com/next?x=1"),
            );
            assert_eq!(
                next_page_header(&h).as_deref(),
                Some("https://manage.office.com/next?x=1"),
                "{name}"
            );
        }
        let mut h = HeaderMap::new();
        h.insert("nextpageuri", HeaderValue::from_static("  "));
        assert_eq!(next_page_header(&h), None);
        assert_eq!(next_page_header(&HeaderMap::new()), None);
    }

    #[test]
    fn user_agent_names_the_program_and_version() {
        assert_eq!(
            USER_AGENT,
            format!("o365sync/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
