//! The embedded emulator of the Entra ID token endpoint and the Office 365 Management Activity API.
//!
//! Every test, benchmark and the demo run against it. It is faithful where a client can observe the real services
//! (paths, parameters, status codes, error bodies, the window and subscription rules) and hostile on purpose (late
//! content, duplicates, throttling, transient errors, cut-off bodies, a `NextPageUri` on another host).
//!
//! # Public API
//! - [`EmulatorConfig`] (plain fields with a [`Default`]; [`EmulatorConfig::trusting`] for one certificate;
//!   [`tenants`](EmulatorConfig::tenants), how many tenants are served, at most [`MAX_TENANTS`]), with
//!   [`ContentSettings`] (seed, anchor, hours, blobs per hour per [`ContentType`], records per blob, duplicate rate,
//!   a blob listed twice, large records, late blobs), [`Faults`] ([`Throttle`] + [`ThrottleStyle`], transient
//!   errors, truncated bodies, latency, foreign `NextPageUri`, token expiry every N requests), token lifetime and
//!   roles, page size, initial subscriptions.
//! - [`tenant_id`]`(i)`: the directory ID of generated tenant `i >= 1`, `7e4a47e0-0000-4000-8000-` + `i` as twelve
//!   lowercase hex digits (stable across runs and versions); tenant 0 is `config.tenant_id`.
//! - [`Emulator::start`] binds `127.0.0.1:0` (or `config.addr`) plus a second "foreign host" listener and returns an
//!   [`EmulatorHandle`]: [`url`](EmulatorHandle::url) (one base URL for `POST {url}/{tenant}/oauth2/v2.0/token` and
//!   the API under `{url}/api/v1.0/{tenant}/activity/feed` and `{url}/api/v1/…`),
//!   [`token_url`](EmulatorHandle::token_url), [`api_root`](EmulatorHandle::api_root),
//!   [`scope`](EmulatorHandle::scope), [`foreign_url`](EmulatorHandle::foreign_url),
//!   [`stats`](EmulatorHandle::stats) ([`Stats`]), [`ground_truth`](EmulatorHandle::ground_truth)
//!   ([`GroundTruth`], all or per content type), [`blobs`](EmulatorHandle::blobs) ([`BlobInfo`]),
//!   [`release_late`](EmulatorHandle::release_late), [`faults`](EmulatorHandle::faults) /
//!   [`set_faults`](EmulatorHandle::set_faults) (switch mid-run), [`expire_tokens`](EmulatorHandle::expire_tokens),
//!   [`expire_blob`](EmulatorHandle::expire_blob) and [`shutdown`](EmulatorHandle::shutdown). These speak of
//!   tenant 0 (`ground_truth`, `blobs`, `expire_blob`, `token_url`, `api_root`, `tenant_id`); for any tenant:
//!   [`tenant_ids`](EmulatorHandle::tenant_ids) (in order), [`tenant_count`](EmulatorHandle::tenant_count),
//!   [`ground_truth_of`](EmulatorHandle::ground_truth_of), [`blobs_of`](EmulatorHandle::blobs_of),
//!   [`expire_blob_of`](EmulatorHandle::expire_blob_of), [`token_url_of`](EmulatorHandle::token_url_of) and
//!   [`api_root_of`](EmulatorHandle::api_root_of). [`Stats`] covers all tenants, plus `requests_by_tenant` (API
//!   requests), `token_requests_by_tenant` and `peak_tenants_in_flight` (most distinct tenants with an API request
//!   being served at one instant; token requests excluded).
//! - [`throwaway_certificate`]: a self-signed RSA 2048 certificate, its PKCS#8 PEM key and DER bytes, for tests, the
//!   demo and `o365sync emulator`; [`certificates_from_pem`], [`x5t`], [`x5t_s256`].
//!
//! # Control endpoints (same listener)
//! `GET /_emulator/stats`, `GET /_emulator/tenants` (JSON array of the tenant IDs, in order),
//! `GET /_emulator/ground-truth[?contentType=CT][&tenant=ID]`, `GET /_emulator/blobs[?tenant=ID]`,
//! `POST /_emulator/release-late` (every tenant), `POST /_emulator/expire-tokens` (every tenant),
//! `POST /_emulator/expire-blob?contentId=ID[&tenant=ID]`, `GET /_emulator/faults`, `PUT /_emulator/faults` (a JSON
//! [`Faults`]). Without `tenant` they speak of tenant 0; an unknown tenant gets 404.
//!
//! # Tenants
//! Every tenant registers the same application (`client_id`) trusting the same certificates and has its own content
//! (the same [`ContentSettings`] under a seed derived from the base seed and its index; tenant 0 keeps the base seed,
//! so it serves exactly what a one-tenant emulator serves), subscriptions (`initial_subscriptions` applies to each),
//! throttle window, blobs served and expired. A tenant's content is generated on its first use. Content URIs carry
//! the tenant, so a fetch reaches that tenant's content. An access token is bound to the tenant that issued it: on
//! another tenant's feed it gets 400 AF20010, the service's tenant mismatch. Faults, late-blob release, token expiry
//! and the body cache are shared. Audit Search is emulated for tenant 0 only.
//!
//! # Records
//! Blobs hold realistic records of all five content types (see `records.rs`), messy on purpose. Records with
//! all-lower-case keys (some Exchange admin exports) carry their `Id` as `id`; the ground truth holds it either way.
//!
//! # Choices where Microsoft documents nothing
//! - A late blob cannot be fetched before it is listable (404 AF20050).
//! - A replayed `jti` answers AADSTS50013; time-range failures answer AADSTS700024; a wrong `aud` AADSTS50027.
//! - The 15-minute start rule is counted per content type (starting all five at once is normal).
//! - Truncation and the foreign `NextPageUri` apply to content listings and blobs; throttling, transient errors
//!   and truncation never touch the token endpoint or the control endpoints.
//! - An expired or unknown access token gets 401 `{"Message":"Authorization has been denied for this request."}`;
//!   a token without the `ActivityFeed.Read` role gets 401 AF10001.
//! - Throttling is one fixed one-minute window per tenant (one tenant's traffic never throttles another); requests
//!   without `PublisherIdentifier` are counted, not put into a smaller pool.

mod api;
pub mod audit_search;
mod cert;
pub mod cli;
mod config;
mod content;
pub mod elastic;
pub mod hec;
pub mod ingestion;
mod records;
mod stats;
mod time;
mod token;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use cert::{ThrowawayCertificate, certificates_from_pem, throwaway_certificate, x5t, x5t_s256};
pub use config::{
    ContentSettings, DEFAULT_CLIENT_ID, DEFAULT_TENANT_ID, EmulatorConfig, Faults, MAX_TENANTS,
    Throttle, ThrottleStyle, WorkspaceRegistration, tenant_id,
};
pub use content::BlobInfo;
pub use stats::{FaultCounts, RequestCounts, Stats};

use crate::content_type::ContentType;

/// Why an emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}; choose another address or port")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A certificate could not be generated or read.
    #[error("{0}")]
    Certificate(String),
    /// The configuration is unusable.
    #[error("invalid emulator configuration: {0}")]
    Config(String),
}

/// Every distinct record `Id` the emulator can serve (expired blobs excluded, late blobs included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct GroundTruth {
    /// The record IDs of each content type.
    pub by_content_type: BTreeMap<ContentType, BTreeSet<String>>,
}

impl GroundTruth {
    /// The record IDs of every content type together.
    pub fn all(&self) -> BTreeSet<String> {
        self.by_content_type.values().flatten().cloned().collect()
    }

    /// The record IDs of one content type.
    pub fn of(&self, ct: ContentType) -> BTreeSet<String> {
        self.by_content_type.get(&ct).cloned().unwrap_or_default()
    }

    /// How many distinct records in all.
    pub fn len(&self) -> usize {
        self.by_content_type.values().map(BTreeSet::len).sum()
    }

    /// Whether there is no record at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Subscription {
    enabled: bool,
    ever_started: bool,
    last_start_ms: Option<i64>,
}

/// State shared by every tenant.
struct Inner {
    used_jti: HashSet<String>,
    /// SHA-256 of each issued access token → expiry (ms), issue number, audience and the index of the tenant that
    /// issued it (`None`: the workspace's directory).
    tokens: HashMap<Vec<u8>, token::Issued>,
    /// Issue number of the next access token.
    token_gen: u64,
    /// Tokens whose issue number is below this are refused.
    tokens_revoked_below: u64,
    /// The issue number of the next token at the last `expire_tokens_every` event.
    issued_before_last_expiry: u64,
}

/// One tenant (directory) served: its ID, its lazily generated content and its own state.
pub(crate) struct Tenant {
    index: usize,
    id: String,
    catalog: OnceLock<Box<content::Catalog>>,
    state: Mutex<TenantState>,
    api_requests: AtomicU64,
    token_requests: AtomicU64,
}

/// What a tenant's requests change: subscriptions, its throttle window, blobs served and expired.
struct TenantState {
    subscriptions: BTreeMap<ContentType, Subscription>,
    throttle_window_start: i64,
    throttle_count: u32,
    throttle_answers: u64,
    served: HashSet<usize>,
    expired: HashSet<usize>,
}

impl Tenant {
    fn new(index: usize, id: String, initial_subscriptions: &[ContentType]) -> Self {
        let subscriptions = ContentType::ALL
            .into_iter()
            .map(|ct| {
                let on = initial_subscriptions.contains(&ct);
                (
                    ct,
                    Subscription {
                        enabled: on,
                        ever_started: on,
                        last_start_ms: None,
                    },
                )
            })
            .collect();
        Tenant {
            index,
            id,
            catalog: OnceLock::new(),
            state: Mutex::new(TenantState {
                subscriptions,
                throttle_window_start: 0,
                throttle_count: 0,
                throttle_answers: 0,
                served: HashSet::new(),
                expired: HashSet::new(),
            }),
            api_requests: AtomicU64::new(0),
            token_requests: AtomicU64::new(0),
        }
    }

    /// The tenant's directory ID.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    fn state(&self) -> MutexGuard<'_, TenantState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// State shared by every request handler.
pub(crate) struct Shared {
    /// Every tenant served, tenant 0 first (`config.tenant_id`).
    tenants: Vec<Tenant>,
    /// The content settings of every tenant (each under its own seed, see [`content::tenant_seed`]).
    content: ContentSettings,
    client_id: String,
    cloud: crate::cloud::Cloud,
    token_lifetime_ms: i64,
    roles: Vec<String>,
    page_size: usize,
    seed: u64,
    started_ms: i64,
    late_after_ms: Option<i64>,
    certs: Vec<cert::RegisteredCertificate>,
    workspace: Option<Workspace>,
    /// The end of the emulated history (content becomes available up to it).
    anchor_ms: i64,
    audit_search: audit_search::AuditSearchService,
    bodies: Mutex<BodyCache>,
    counters: stats::Counters,
    tenants_in_flight: Mutex<stats::TenantsInFlight>,
    late_released: AtomicBool,
    faults: Mutex<Faults>,
    inner: Mutex<Inner>,
    request_no: AtomicU64,
    token_key: [u8; 32],
    foreign_addr: SocketAddr,
    receivers: Receivers,
}

/// The workspace's directory ([`WorkspaceRegistration`]) with its certificates parsed.
pub(crate) struct Workspace {
    tenant_id: String,
    client_id: String,
    cloud: crate::cloud::Cloud,
    certs: Vec<cert::RegisteredCertificate>,
}

/// The destinations' receivers served beside the API, so a network sink runs end to end without a SIEM.
#[derive(Debug, Default)]
pub struct Receivers {
    /// Elasticsearch `_bulk` at `{url}/{index}/_bulk`.
    pub elastic: elastic::ElasticReceiver,
    /// Splunk HEC at `{url}/services/collector/…`.
    pub hec: hec::HecReceiver,
    /// Logs Ingestion at `{url}/dataCollectionRules/{dcr}/streams/{stream}`.
    pub ingestion: ingestion::IngestionReceiver,
}

/// Generated blob bodies of every tenant kept for later fetches, by (tenant, blob), up to a byte cap (first come,
/// first kept; never evicted).
struct BodyCache {
    bodies: HashMap<(usize, usize), Bytes>,
    bytes: usize,
    cap: usize,
}

impl BodyCache {
    fn new(cap: usize) -> Self {
        BodyCache {
            bodies: HashMap::new(),
            bytes: 0,
            cap,
        }
    }
}

impl Shared {
    /// Tenant 0: `config.tenant_id`.
    fn first(&self) -> &Tenant {
        &self.tenants[0]
    }

    /// The tenant with this directory ID (any letter case).
    pub(crate) fn tenant(&self, id: &str) -> Option<&Tenant> {
        let first = self.first();
        if id.eq_ignore_ascii_case(&first.id) {
            return Some(first);
        }
        config::tenant_index(id)
            .filter(|i| *i >= 1)
            .and_then(|i| self.tenants.get(i))
    }

    /// The tenant's catalog, generated on first use.
    fn catalog<'a>(&self, tenant: &'a Tenant) -> &'a content::Catalog {
        tenant.catalog.get_or_init(|| {
            let settings = ContentSettings {
                seed: content::tenant_seed(self.content.seed, tenant.index),
                ..self.content.clone()
            };
            Box::new(content::Catalog::new(&settings, &tenant.id, self.anchor_ms))
        })
    }

    /// The body of blob `i` of a tenant, generated once and kept while the cache has room.
    fn body(&self, tenant: &Tenant, i: usize) -> Bytes {
        let lock = || self.bodies.lock().unwrap_or_else(|e| e.into_inner());
        let key = (tenant.index, i);
        if let Some(b) = lock().bodies.get(&key) {
            return b.clone();
        }
        let body = Bytes::from(self.catalog(tenant).body(i));
        let mut cache = lock();
        if cache.bytes + body.len() <= cache.cap {
            cache.bytes += body.len();
            cache.bodies.insert(key, body.clone());
        }
        body
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn faults(&self) -> Faults {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Whether late blobs are listable (the same instant for every tenant).
    fn late_visible(&self) -> bool {
        self.late_released.load(Ordering::SeqCst)
            || self
                .late_after_ms
                .is_some_and(|d| time::now_ms() >= self.started_ms + d)
    }

    fn blob_expired(&self, catalog: &content::Catalog, state: &TenantState, blob: usize) -> bool {
        state.expired.contains(&blob)
            || catalog.blobs[blob].created_ms + content::RETENTION <= time::now_ms()
    }

    fn ground_truth(&self, tenant: &Tenant) -> GroundTruth {
        let catalog = self.catalog(tenant);
        let expired: Vec<bool> = {
            let state = tenant.state();
            (0..catalog.blobs.len())
                .map(|i| self.blob_expired(catalog, &state, i))
                .collect()
        };
        let mut gt = GroundTruth::default();
        for (i, b) in catalog.blobs.iter().enumerate() {
            if expired[i] {
                continue;
            }
            gt.by_content_type
                .entry(b.content_type)
                .or_default()
                .extend(catalog.record_ids(i));
        }
        gt
    }

    /// Makes late blobs listable in every tenant; returns how many late blobs each tenant has (all tenants share
    /// the content settings, so the same number).
    fn release_late(&self) -> usize {
        self.late_released.store(true, Ordering::SeqCst);
        self.catalog(self.first())
            .blobs
            .iter()
            .filter(|b| b.late)
            .count()
    }

    fn expire_tokens(&self) {
        let mut inner = self.inner();
        inner.tokens_revoked_below = inner.token_gen;
    }

    /// An `expire_tokens_every` event: the tokens already issued at the previous event expire, so every token
    /// lives through at least one interval, as a real token outlives the requests made right after it was issued
    /// (else a token fetched after a 401 could be expired again before its first use, under concurrency).
    fn expire_aged_tokens(&self) {
        let mut inner = self.inner();
        inner.tokens_revoked_below = inner
            .tokens_revoked_below
            .max(inner.issued_before_last_expiry);
        inner.issued_before_last_expiry = inner.token_gen;
    }

    fn expire_blob(&self, tenant: &Tenant, content_id: &str) -> bool {
        match self.catalog(tenant).find(content_id) {
            Some(i) => {
                tenant.state().expired.insert(i);
                true
            }
            None => false,
        }
    }

    fn stats(&self) -> Stats {
        let mut stats = self.counters.snapshot();
        for t in &self.tenants {
            let api = t.api_requests.load(Ordering::Relaxed);
            if api > 0 {
                stats.requests_by_tenant.insert(t.id.clone(), api);
            }
            let token = t.token_requests.load(Ordering::Relaxed);
            if token > 0 {
                stats.token_requests_by_tenant.insert(t.id.clone(), token);
            }
        }
        stats.peak_tenants_in_flight = self
            .tenants_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .peak();
        stats
    }
}

/// Starts emulators.
pub struct Emulator;

impl Emulator {
    /// Validates the configuration, generates the catalog, binds both listeners and serves until the handle is shut
    /// down or dropped.
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        validate(&config)?;
        let certs = config
            .trusted_certificates
            .iter()
            .map(|der| cert::RegisteredCertificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()?;
        let workspace = match &config.workspace {
            None => None,
            Some(w) => Some(Workspace {
                tenant_id: w.tenant_id.clone(),
                client_id: w.client_id.clone(),
                cloud: w.cloud,
                certs: w
                    .trusted_certificates
                    .iter()
                    .map(|der| cert::RegisteredCertificate::from_der(der))
                    .collect::<Result<Vec<_>, _>>()?,
            }),
        };
        let addr = config
            .addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let foreign_bind = SocketAddr::new(local.ip(), 0);
        let foreign =
            TcpListener::bind(foreign_bind)
                .await
                .map_err(|source| EmulatorError::Bind {
                    addr: foreign_bind,
                    source,
                })?;
        let foreign_addr = foreign.local_addr().map_err(|source| EmulatorError::Bind {
            addr: foreign_bind,
            source,
        })?;

        let start_ms = time::now_ms();
        let anchor_ms = config
            .content
            .anchor
            .map_or(start_ms, |a| a.as_millisecond());
        let mut token_key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut token_key).map_err(|_| {
            EmulatorError::Config("cannot draw random bytes for the token key".to_owned())
        })?;
        let tenants = (0..config.tenants)
            .map(|i| {
                let id = if i == 0 {
                    config.tenant_id.clone()
                } else {
                    tenant_id(i)
                };
                Tenant::new(i, id, &config.initial_subscriptions)
            })
            .collect();
        let shared = Arc::new(Shared {
            tenants,
            content: config.content.clone(),
            client_id: config.client_id.clone(),
            cloud: config.cloud,
            token_lifetime_ms: i64::try_from(config.token_lifetime.as_millis())
                .unwrap_or(i64::MAX / 4),
            roles: config.roles.clone(),
            page_size: config.page_size,
            seed: config.content.seed,
            started_ms: start_ms,
            late_after_ms: config
                .content
                .late_after
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)),
            certs,
            workspace,
            anchor_ms,
            audit_search: audit_search::AuditSearchService::new(config.audit_search.clone()),
            bodies: Mutex::new(BodyCache::new(config.body_cache_bytes)),
            counters: stats::Counters::default(),
            tenants_in_flight: Mutex::new(stats::TenantsInFlight::default()),
            late_released: AtomicBool::new(false),
            faults: Mutex::new(config.faults.clone()),
            inner: Mutex::new(Inner {
                used_jti: HashSet::new(),
                tokens: HashMap::new(),
                token_gen: 0,
                tokens_revoked_below: 0,
                issued_before_last_expiry: 0,
            }),
            request_no: AtomicU64::new(0),
            token_key,
            foreign_addr,
            receivers: Receivers::default(),
        });

        let (stop_tx, stop_rx) = watch::channel(false);
        let main = spawn_server(listener, api::router(shared.clone()), stop_rx.clone());
        let foreign_task = spawn_server(foreign, api::foreign_router(shared.clone()), stop_rx);
        tracing::info!(
            url = %format!("http://{local}"),
            foreign = %foreign_addr,
            tenants = config.tenants,
            "emulator listening"
        );
        Ok(EmulatorHandle {
            shared,
            addr: local,
            foreign_addr,
            stop: stop_tx,
            tasks: vec![main, foreign_task],
        })
    }
}

fn spawn_server(
    listener: TcpListener,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "emulator listener stopped");
        }
    })
}

fn validate(config: &EmulatorConfig) -> Result<(), EmulatorError> {
    let bad = |m: &str| Err(EmulatorError::Config(m.to_owned()));
    if config.trusted_certificates.is_empty() {
        return bad(
            "no trusted certificate: register at least one certificate (der bytes) for the application",
        );
    }
    if config.tenant_id.trim().is_empty() || config.client_id.trim().is_empty() {
        return bad("tenant id and client id must not be empty");
    }
    if config.tenants == 0 || config.tenants > MAX_TENANTS {
        return Err(EmulatorError::Config(format!(
            "the number of tenants must lie between 1 and {MAX_TENANTS}"
        )));
    }
    if config::tenant_index(&config.tenant_id).is_some_and(|i| i >= 1 && i < config.tenants) {
        return bad(
            "the tenant id is also the id of a generated tenant: choose a tenant id outside the 7e4a47e0-0000-4000-8000-… pattern",
        );
    }
    if let Some(w) = &config.workspace {
        if w.trusted_certificates.is_empty() {
            return bad(
                "no trusted certificate for the workspace: register at least one certificate (der bytes) for its application",
            );
        }
        if w.tenant_id.trim().is_empty()
            || w.client_id.trim().is_empty()
            || w.tenant_id.eq_ignore_ascii_case(&config.tenant_id)
            || config::tenant_index(&w.tenant_id).is_some_and(|i| i >= 1 && i < config.tenants)
        {
            return bad(
                "the workspace needs a tenant id and client id of its own, not the microsoft 365 tenant's",
            );
        }
    }
    if config.page_size == 0 {
        return bad("page size must be at least 1");
    }
    if config.content.records_per_blob == 0 {
        return bad("records per blob must be at least 1");
    }
    let rates = [
        (
            "duplicate record rate",
            config.content.duplicate_record_rate,
        ),
        ("large record rate", config.content.large_record_rate),
    ];
    for (name, rate) in rates {
        if !(0.0..=1.0).contains(&rate) {
            return Err(EmulatorError::Config(format!(
                "{name} must lie between 0 and 1"
            )));
        }
    }
    check_faults(&config.faults).map_err(EmulatorError::Config)
}

/// Checks that fault rates lie in `0..=1` and a throttle budget is positive.
pub(crate) fn check_faults(f: &Faults) -> Result<(), String> {
    for (name, rate) in [
        ("transient error rate", f.transient_error_rate),
        ("truncated body rate", f.truncated_body_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("{name} must lie between 0 and 1"));
        }
    }
    if f.expire_tokens_every == Some(0) {
        return Err("token expiry period must be at least 1 request".to_owned());
    }
    if f.throttle.is_some_and(|t| t.requests_per_minute == 0) {
        return Err("throttle budget must be at least 1 request per minute".to_owned());
    }
    Ok(())
}

/// A running emulator. Dropping it stops the listeners.
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    foreign_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("url", &self.url())
            .field("foreign_url", &self.foreign_url())
            .finish()
    }
}

impl EmulatorHandle {
    /// The base URL serving the token endpoint, the API and the control endpoints, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the foreign-host listener (a hostile `NextPageUri` points at the host the client used, on
    /// this port).
    pub fn foreign_url(&self) -> String {
        format!("http://{}", self.foreign_addr)
    }

    /// The ID of tenant 0 (`config.tenant_id`).
    pub fn tenant_id(&self) -> &str {
        &self.shared.first().id
    }

    /// The ID of every tenant served, in order: tenant 0 (`config.tenant_id`), then [`tenant_id`]`(1)` and so on.
    pub fn tenant_ids(&self) -> Vec<String> {
        self.shared.tenants.iter().map(|t| t.id.clone()).collect()
    }

    /// How many tenants are served.
    pub fn tenant_count(&self) -> usize {
        self.shared.tenants.len()
    }

    /// The client ID registered.
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The token URL of tenant 0, `{url}/{tenant}/oauth2/v2.0/token` (also the `aud` a client assertion must carry).
    pub fn token_url(&self) -> String {
        self.token_url_of(self.tenant_id())
    }

    /// The token URL of any tenant, `{url}/{tenant}/oauth2/v2.0/token` (not checked: an unknown tenant gets
    /// AADSTS90002 there).
    pub fn token_url_of(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.url())
    }

    /// The API root of tenant 0, `{url}/api/v1.0/{tenant}/activity/feed`.
    pub fn api_root(&self) -> String {
        self.api_root_of(self.tenant_id())
    }

    /// The API root of any tenant, `{url}/api/v1.0/{tenant}/activity/feed` (not checked).
    pub fn api_root_of(&self, tenant: &str) -> String {
        format!("{}/api/v1.0/{tenant}/activity/feed", self.url())
    }

    /// The scope the token endpoint expects.
    pub fn scope(&self) -> String {
        self.shared.cloud.scope()
    }

    /// A snapshot of the counters (all tenants together, with the per-tenant request counts).
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Every distinct record `Id` tenant 0 can serve (late blobs included, expired blobs excluded).
    pub fn ground_truth(&self) -> GroundTruth {
        self.shared.ground_truth(self.shared.first())
    }

    /// The ground truth of any tenant (its content is generated if it was not yet); `None` for an unknown tenant.
    pub fn ground_truth_of(&self, tenant: &str) -> Option<GroundTruth> {
        let t = self.shared.tenant(tenant)?;
        Some(self.shared.ground_truth(t))
    }

    /// Every blob of tenant 0 with its record IDs (late and expired ones included).
    pub fn blobs(&self) -> Vec<BlobInfo> {
        self.shared.catalog(self.shared.first()).describe()
    }

    /// Every blob of any tenant; `None` for an unknown tenant.
    pub fn blobs_of(&self, tenant: &str) -> Option<Vec<BlobInfo>> {
        let t = self.shared.tenant(tenant)?;
        Some(self.shared.catalog(t).describe())
    }

    /// Makes every late blob of every tenant listable now; returns how many late blobs each tenant has.
    pub fn release_late(&self) -> usize {
        self.shared.release_late()
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    /// Replaces the faults in force (takes effect with the next request).
    pub fn set_faults(&self, faults: Faults) -> Result<(), EmulatorError> {
        check_faults(&faults).map_err(EmulatorError::Config)?;
        self.shared.set_faults(faults);
        Ok(())
    }

    /// Makes every access token issued so far, by any tenant, expired (the next API call with one gets 401).
    pub fn expire_tokens(&self) {
        self.shared.expire_tokens();
    }

    /// Purview Audit Search, served on [`EmulatorHandle::url`] under `/v1.0/security/auditLog/`.
    pub fn audit_search(&self) -> &audit_search::AuditSearchService {
        &self.shared.audit_search
    }

    /// The `Id` of every record of the unified audit log created in `[from, to)`: what Audit Search answers for that
    /// range (generated history and the Management API catalog's records alike).
    pub fn audit_log_ids(&self, from: jiff::Timestamp, to: jiff::Timestamp) -> BTreeSet<String> {
        audit_search::truth(&self.shared, from.as_millisecond(), to.as_millisecond())
    }

    /// The destinations' receivers (Elasticsearch, Splunk HEC, Logs Ingestion) served on [`EmulatorHandle::url`].
    pub fn receivers(&self) -> &Receivers {
        &self.shared.receivers
    }

    /// Makes one blob of tenant 0 expired (AF20051 from now on); false when no blob has this ID.
    pub fn expire_blob(&self, content_id: &str) -> bool {
        self.shared.expire_blob(self.shared.first(), content_id)
    }

    /// Makes one blob of any tenant expired; false when the tenant is unknown or has no blob with this ID.
    pub fn expire_blob_of(&self, tenant: &str, content_id: &str) -> bool {
        self.shared
            .tenant(tenant)
            .is_some_and(|t| self.shared.expire_blob(t, content_id))
    }

    /// Stops both listeners and waits (at most five seconds) for open connections to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for mut t in self.tasks.drain(..) {
            if tokio::time::timeout(std::time::Duration::from_secs(5), &mut t)
                .await
                .is_err()
            {
                t.abort();
            }
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The bodies of the blobs the emulator would serve for `settings` (tenant `tenant_id`, history ending at
/// `anchor_ms`), in catalog order: real-shaped content blobs without a server, for seed corpora and benchmarks.
pub fn blob_bodies(settings: &ContentSettings, tenant_id: &str, anchor_ms: i64) -> Vec<Vec<u8>> {
    let catalog = content::Catalog::new(settings, tenant_id, anchor_ms);
    (0..catalog.blobs.len()).map(|i| catalog.body(i)).collect()
}
