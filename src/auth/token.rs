//! The token client and cache: a v2 client-credentials request with a certificate assertion, cached per
//! (tenant, client, scope), refreshed ahead of expiry by one request that concurrent callers share.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use jiff::Timestamp;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::aadsts::{AadstsCode, AdviceContext};
use super::assertion::AssertionError;
use super::credential::Credential;
use super::secret::Secret;
use crate::cloud::Endpoints;

/// A cached token is replaced this long before it expires (capped at half its lifetime).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A bearer access token. `Debug` shows only its sequence number and expiry.
#[derive(Clone)]
pub struct AccessToken {
    value: Secret<String>,
    serial: u64,
    expires_at: Timestamp,
}

impl AccessToken {
    /// The token, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        self.value.expose()
    }

    /// An `Authorization: Bearer …` header value marked sensitive (HTTP stacks do not log it).
    pub fn authorization(&self) -> Option<reqwest::header::HeaderValue> {
        let mut v =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", self.expose())).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    /// Which token request of this provider produced it (1 for the first).
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// When Entra ID said it expires.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// The `roles` claim of the token payload, decoded without verification (for `doctor`: ActivityFeed.Read
    /// should be there). Empty when the token is not a JWT or has no roles.
    pub fn roles(&self) -> Vec<String> {
        let Some(payload) = self.expose().split('.').nth(1) else {
            return Vec::new();
        };
        let Ok(bytes) =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
        else {
            return Vec::new();
        };
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("roles").and_then(|r| r.as_array()).map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
            })
            .unwrap_or_default()
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.serial == other.serial && self.value == other.value
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("serial", &self.serial)
            .field("expires_at", &self.expires_at)
            .field("value", &self.value)
            .finish()
    }
}

/// Why no token could be obtained. Each message names the host or the AADSTS code and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint could not be reached or did not answer.
    #[error(
        "cannot reach the token endpoint {host}: {reason}: check the network, proxy and DNS, and that `tenant.cloud` (or `endpoints.login`) is right"
    )]
    Network {
        /// Host (and port) of the token endpoint.
        host: String,
        /// What failed (connect, timeout, …).
        reason: String,
    },
    /// Entra ID refused the request with an AADSTS code.
    #[error("the token endpoint {host} refused the request ({code}, {error}): {advice}")]
    Rejected {
        /// Host of the token endpoint.
        host: String,
        /// The first of `error_codes`.
        code: AadstsCode,
        /// The OAuth `error` field, e.g. `invalid_client`.
        error: String,
        /// What it means and what to do.
        advice: String,
        /// HTTP status.
        status: u16,
    },
    /// An error answer without AADSTS codes.
    #[error(
        "the token endpoint {host} refused the request with HTTP {status} ({error}): check `tenant.id`, `tenant.client_id`, `tenant.cloud` and `endpoints.login`"
    )]
    Refused {
        /// Host of the token endpoint.
        host: String,
        /// HTTP status.
        status: u16,
        /// The OAuth `error` field, or `no error body`.
        error: String,
    },
    /// A 2xx answer that is not a usable token response.
    #[error(
        "the token endpoint {host} sent an unusable answer ({reason}): check that `endpoints.login` points at Entra ID or the emulator"
    )]
    InvalidResponse {
        /// Host of the token endpoint.
        host: String,
        /// What is missing or wrong.
        reason: String,
    },
    /// The client assertion could not be signed.
    #[error(transparent)]
    Assertion(#[from] AssertionError),
}

impl TokenError {
    /// A token failure happens at run time: exit code 1 (what completed stays committed).
    pub fn outcome(&self) -> crate::exit::Outcome {
        crate::exit::Outcome::Failed
    }

    /// The AADSTS code, when Entra ID gave one.
    pub fn aadsts(&self) -> Option<AadstsCode> {
        match self {
            TokenError::Rejected { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether retrying later may help (network failures, 5xx, throttling).
    pub fn is_transient(&self) -> bool {
        match self {
            TokenError::Network { .. } => true,
            TokenError::Refused { status, .. } => *status == 429 || *status >= 500,
            TokenError::Rejected { code, status, .. } => {
                matches!(code.0, 50196 | 90055) || *status == 429 || *status >= 500
            }
            _ => false,
        }
    }
}

/// What a [`TokenProvider`] requests: one (tenant, client, scope) at one token URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenProviderConfig {
    /// Application (client) ID.
    pub client_id: String,
    /// Resolved endpoints (token URL, scope, cloud, tenant).
    pub endpoints: Endpoints,
    /// How long before expiry a cached token is replaced (capped at half the token's lifetime).
    pub refresh_margin: Duration,
    /// Timeout of one token request.
    pub timeout: Duration,
    /// Extra attempts after a transient failure (network, 5xx, 429), with exponential backoff from 500 ms.
    pub retries: u32,
}

impl TokenProviderConfig {
    /// Defaults: 5-minute refresh margin, 30 s timeout, 2 retries.
    pub fn new(client_id: impl Into<String>, endpoints: Endpoints) -> Self {
        TokenProviderConfig {
            client_id: client_id.into(),
            endpoints,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            timeout: Duration::from_secs(30),
            retries: 2,
        }
    }
}

struct Cached {
    token: AccessToken,
    refresh_at: Instant,
    expires_at: Instant,
}

struct Inner {
    config: TokenProviderConfig,
    credential: Arc<Credential>,
    http: reqwest::Client,
    cache: Mutex<Option<Cached>>,
    requests: AtomicU64,
    issued: AtomicU64,
    skew: std::sync::Mutex<Option<jiff::SignedDuration>>,
}

/// Local clock minus the token endpoint's `Date` above which a warning is logged.
const SKEW_WARNING: jiff::SignedDuration = jiff::SignedDuration::from_mins(2);

/// Hands out access tokens for one (tenant, client, scope), caching them. Clones share the cache.
///
/// ```no_run
/// # async fn f(provider: o365sync::auth::TokenProvider) -> Result<(), o365sync::auth::TokenError> {
/// let token = provider.token().await?;
/// // … the API answered 401 with this token:
/// provider.invalidate(&token).await;
/// let fresh = provider.token().await?; // retry the request once with `fresh`
/// # let _ = fresh; Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("tenant", &self.inner.config.endpoints.tenant)
            .field("client_id", &self.inner.config.client_id)
            .field("scope", &self.inner.config.endpoints.scope)
            .field("token_requests", &self.token_requests())
            .finish()
    }
}

/// When a token received at `received` with `lifetime` is due for replacement: `margin` before expiry, but never
/// earlier than half-way through its lifetime (short-lived tokens would otherwise be fetched for every call).
fn refresh_at(received: Instant, lifetime: Duration, margin: Duration) -> Instant {
    received + lifetime.saturating_sub(margin.min(lifetime / 2))
}

impl TokenProvider {
    /// A provider with its own HTTP client, which never follows redirects (a redirected POST would hand the
    /// client assertion to another host).
    pub fn new(credential: Arc<Credential>, config: TokenProviderConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self::with_client(credential, config, http)
    }

    /// An HTTP client for [`TokenProvider::with_client`], shared by the providers of a run: it never follows a
    /// redirect; each request gets its provider's timeout.
    pub fn shared_client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    }

    /// A provider using `http` (to share connection pools and proxy settings). Build that client with
    /// `redirect(Policy::none())`; `config.timeout` is applied to each token request.
    pub fn with_client(
        credential: Arc<Credential>,
        config: TokenProviderConfig,
        http: reqwest::Client,
    ) -> Self {
        TokenProvider {
            inner: Arc::new(Inner {
                config,
                credential,
                http,
                cache: Mutex::new(None),
                requests: AtomicU64::new(0),
                issued: AtomicU64::new(0),
                skew: std::sync::Mutex::new(None),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TokenProviderConfig {
        &self.inner.config
    }

    /// How many HTTP requests this provider (and its clones) sent to the token endpoint.
    pub fn token_requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Local clock minus the token endpoint's `Date` header at the last answer (1 s resolution), if any.
    /// Entra ID refuses assertions outside their time range (AADSTS700024), so `doctor` reports this.
    pub fn clock_skew(&self) -> Option<jiff::SignedDuration> {
        *self.inner.skew.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A valid token: the cached one, or a fresh one when it is within the refresh margin of expiry.
    ///
    /// Concurrent callers wait for one shared request. If refreshing fails while the cached token is still
    /// valid, the cached token is returned and the failure logged.
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let mut cache = self.inner.cache.lock().await;
        let now = Instant::now();
        if let Some(c) = cache.as_ref()
            && now < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        match self.request().await {
            Ok(fresh) => {
                let token = fresh.token.clone();
                *cache = Some(fresh);
                Ok(token)
            }
            Err(e) => match cache.as_ref() {
                Some(c) if Instant::now() < c.expires_at => {
                    tracing::warn!(error = %e, "token refresh failed; using the cached token until it expires");
                    Ok(c.token.clone())
                }
                _ => Err(e),
            },
        }
    }

    /// Drops `rejected` from the cache (the API answered 401 to it), so the next [`TokenProvider::token`]
    /// requests a new one. A token already replaced is ignored, so many callers reporting the same 401 cause
    /// one refresh.
    pub async fn invalidate(&self, rejected: &AccessToken) {
        let mut cache = self.inner.cache.lock().await;
        if cache.as_ref().is_some_and(|c| c.token == *rejected) {
            tracing::debug!(
                serial = rejected.serial,
                "access token rejected by the API; dropping it"
            );
            *cache = None;
        }
    }

    async fn request(&self) -> Result<Cached, TokenError> {
        let mut attempt = 0;
        loop {
            match self.request_once().await {
                Err(e) if e.is_transient() && attempt < self.inner.config.retries => {
                    let wait = Duration::from_millis(500) * 2u32.saturating_pow(attempt);
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "token request failed; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn request_once(&self) -> Result<Cached, TokenError> {
        let cfg = &self.inner.config;
        let host = cfg.endpoints.login_host();
        let assertion = self
            .inner
            .credential
            .client_assertion(&cfg.client_id, cfg.endpoints.token_url.as_str())?;
        tracing::debug!(
            host = %host,
            tenant = %cfg.endpoints.tenant,
            client_id = %cfg.client_id,
            scope = %cfg.endpoints.scope,
            signing = %self.inner.credential.signing(),
            x5t_sha1 = %self.inner.credential.thumbprints().sha1_hex,
            jti = %assertion.jti(),
            "requesting an access token"
        );
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", cfg.client_id.as_str()),
            ("scope", cfg.endpoints.scope.as_str()),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", assertion.expose()),
        ];
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let response = self
            .inner
            .http
            .post(cfg.endpoints.token_url.clone())
            .timeout(cfg.timeout)
            .form(&form)
            .send()
            .await
            .map_err(|e| network_error(&host, &e))?;
        let status = response.status();
        self.observe_date(&host, response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|e| network_error(&host, &e))?;
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            return Err(self.error_from(&host, status.as_u16(), json.as_ref()));
        }
        let json = json.ok_or_else(|| TokenError::InvalidResponse {
            host: host.clone(),
            reason: "the body is not JSON".to_owned(),
        })?;
        let value = json
            .get("access_token")
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| TokenError::InvalidResponse {
                host: host.clone(),
                reason: "no access_token".to_owned(),
            })?;
        let token_type = json
            .get("token_type")
            .and_then(|v| v.as_str())
            .unwrap_or("Bearer");
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(TokenError::InvalidResponse {
                host,
                reason: format!("token_type is {token_type}, not Bearer"),
            });
        }
        let expires_in = json
            .get("expires_in")
            .and_then(lenient_seconds)
            .ok_or_else(|| TokenError::InvalidResponse {
                host: host.clone(),
                reason: "expires_in is missing or not a number of seconds".to_owned(),
            })?;
        let lifetime = Duration::from_secs(expires_in);
        let serial = self.inner.issued.fetch_add(1, Ordering::Relaxed) + 1;
        let expires_at = Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(
                expires_in.min(i64::MAX as u64) as i64,
            ))
            .unwrap_or(Timestamp::MAX);
        tracing::info!(host = %host, serial, expires_in, "access token acquired");
        Ok(Cached {
            token: AccessToken {
                value: Secret::new(value.to_owned()),
                serial,
                expires_at,
            },
            refresh_at: refresh_at(sent, lifetime, cfg.refresh_margin),
            expires_at: sent + lifetime,
        })
    }

    fn observe_date(&self, host: &str, headers: &reqwest::header::HeaderMap) {
        let Some(server) = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                jiff::fmt::rfc2822::DateTimeParser::new()
                    .parse_timestamp(v)
                    .ok()
            })
        else {
            return;
        };
        let skew = Timestamp::now().duration_since(server);
        if skew.abs() > SKEW_WARNING {
            tracing::warn!(
                host = %host,
                skew_seconds = skew.as_secs(),
                "the local clock differs from the token endpoint's: synchronise it (NTP), or Entra ID will refuse assertions (AADSTS700024)"
            );
        }
        *self.inner.skew.lock().unwrap_or_else(|p| p.into_inner()) = Some(skew);
    }

    fn error_from(&self, host: &str, status: u16, json: Option<&serde_json::Value>) -> TokenError {
        let cfg = &self.inner.config;
        let error = json
            .and_then(|j| j.get("error"))
            .and_then(|e| e.as_str())
            .unwrap_or("no error body")
            .to_owned();
        let code = json
            .and_then(|j| j.get("error_codes"))
            .and_then(|c| c.as_array())
            .and_then(|a| a.first())
            .and_then(|c| c.as_u64())
            .and_then(|c| u32::try_from(c).ok());
        match code {
            Some(code) => {
                let code = AadstsCode(code);
                let cloud = cfg.endpoints.cloud.name();
                let advice = code.advice(&AdviceContext {
                    cloud,
                    tenant: &cfg.endpoints.tenant,
                    client_id: &cfg.client_id,
                    scope: &cfg.endpoints.scope,
                    sha1: &self.inner.credential.thumbprints().sha1_hex,
                });
                TokenError::Rejected {
                    host: host.to_owned(),
                    code,
                    error,
                    advice,
                    status,
                }
            }
            None => TokenError::Refused {
                host: host.to_owned(),
                status,
                error,
            },
        }
    }
}

/// What went wrong with a request that got no answer: timed out, connection failed or request failed, with the
/// root cause from the source chain (e.g. "Connection refused"), never the URL.
pub(crate) fn network_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    match last {
        Some(last) => format!("{kind} ({last})"),
        None => kind.to_owned(),
    }
}

fn network_error(host: &str, e: &reqwest::Error) -> TokenError {
    TokenError::Network {
        host: host.to_owned(),
        reason: network_reason(e),
    }
}

/// `expires_in` as a number or a numeric string (the v1 endpoint sends strings).
fn lenient_seconds(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        serde_json::Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_is_read_from_numbers_and_strings() {
        assert_eq!(lenient_seconds(&serde_json::json!(3599)), Some(3599));
        assert_eq!(lenient_seconds(&serde_json::json!("3599")), Some(3599));
        assert_eq!(lenient_seconds(&serde_json::json!(" 60 ")), Some(60));
        assert_eq!(lenient_seconds(&serde_json::json!(59.9)), Some(59));
        assert_eq!(lenient_seconds(&serde_json::json!(-1)), None);
        assert_eq!(lenient_seconds(&serde_json::json!("soon")), None);
        assert_eq!(lenient_seconds(&serde_json::json!(null)), None);
    }

    #[test]
    fn refresh_happens_a_margin_before_expiry_capped_at_half_the_lifetime() {
        let t0 = Instant::now();
        let hour = Duration::from_secs(3600);
        let five = Duration::from_secs(300);
        assert_eq!(refresh_at(t0, hour, five), t0 + Duration::from_secs(3300));
        assert_eq!(
            refresh_at(t0, Duration::from_secs(120), five),
            t0 + Duration::from_secs(60)
        );
        assert_eq!(refresh_at(t0, hour, Duration::ZERO), t0 + hour);
        assert_eq!(refresh_at(t0, Duration::ZERO, five), t0);
    }

    #[test]
    fn roles_are_decoded_from_the_payload_and_debug_redacts() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = b64.encode(br#"{"roles":["ActivityFeed.Read","ActivityFeed.ReadDlp"]}"#);
        let token = AccessToken {
            value: Secret::new(format!("eyJhbGciOiJub25lIn0.{payload}.sig")),
            serial: 1,
            expires_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(token.roles(), ["ActivityFeed.Read", "ActivityFeed.ReadDlp"]);
        let debug = format!("{token:?}");
        assert!(!debug.contains(&payload), "{debug}");
        assert!(debug.contains("[redacted]"));
        assert!(token.authorization().is_some_and(|h| h.is_sensitive()));
        let opaque = AccessToken {
            value: Secret::new("opaque".into()),
            serial: 2,
            expires_at: Timestamp::UNIX_EPOCH,
        };
        assert!(opaque.roles().is_empty());
    }
}
