//! What an emulator serves and how hostile it is: [`EmulatorConfig`], [`ContentSettings`] and [`Faults`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cloud::Cloud;
use crate::content_type::ContentType;

/// Everything an emulator instance needs. Start from [`EmulatorConfig::default`] and set fields.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Where to listen; `None` binds `127.0.0.1:0`.
    pub addr: Option<SocketAddr>,
    /// The directory (tenant) ID the emulator answers for: tenant 0 of [`EmulatorConfig::tenants`].
    pub tenant_id: String,
    /// How many tenants (directories) the emulator serves, at least 1 (default 1). Tenant 0 is
    /// [`EmulatorConfig::tenant_id`]; tenant `i` (`1..tenants`) is [`tenant_id`]`(i)`. Every tenant has its own
    /// content (the same [`ContentSettings`] under a seed derived from the base seed and the tenant index; tenant 0
    /// uses the base seed itself), subscriptions, throttle window and access tokens, and registers the same
    /// application ([`EmulatorConfig::client_id`]) trusting the same certificates. A tenant's content is generated
    /// on its first use, so thousands of tenants cost little until asked for.
    pub tenants: usize,
    /// The application (client) ID registered in the emulated tenant.
    pub client_id: String,
    /// The cloud whose resource the token endpoint expects in `scope` (`cloud.scope()`).
    pub cloud: Cloud,
    /// DER bytes of every certificate registered for the application (at least one).
    pub trusted_certificates: Vec<Vec<u8>>,
    /// Lifetime of the access tokens issued.
    pub token_lifetime: Duration,
    /// Application roles granted (the `roles` claim of access tokens). Without `ActivityFeed.Read` every API request
    /// gets 401 AF10001, as when admin consent is missing.
    pub roles: Vec<String>,
    /// Content types whose subscription is already enabled at start (default: none, as in a fresh tenant).
    pub initial_subscriptions: Vec<ContentType>,
    /// Maximum number of entries in one page of a content listing.
    pub page_size: usize,
    /// The generated content.
    pub content: ContentSettings,
    /// Fault injection at start (switchable later through the handle or the control endpoint).
    pub faults: Faults,
    /// A second directory, the Log Analytics workspace's tenant (possibly in another cloud, e.g. Azure Government
    /// beside a GCC tenant), whose app registration gets Azure Monitor tokens only. When set, the Logs Ingestion
    /// receiver accepts only its tokens, as a data collection rule whose role assignment lives in that tenant does.
    pub workspace: Option<WorkspaceRegistration>,
    /// Purview Audit Search: its history before the Management API's, query lifecycle and faults.
    pub audit_search: super::audit_search::AuditSearchSettings,
    /// Bytes of generated blob bodies kept for later fetches (generating a body costs far more than serving it;
    /// benchmarks raise this so the emulator does not compete with the collector for CPU). Bodies beyond it are
    /// generated again at each fetch.
    pub body_cache_bytes: usize,
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("addr", &self.addr)
            .field("tenant_id", &self.tenant_id)
            .field("tenants", &self.tenants)
            .field("client_id", &self.client_id)
            .field("cloud", &self.cloud)
            .field("trusted_certificates", &self.trusted_certificates.len())
            .field("token_lifetime", &self.token_lifetime)
            .field("roles", &self.roles)
            .field("initial_subscriptions", &self.initial_subscriptions)
            .field("page_size", &self.page_size)
            .field("content", &self.content)
            .field("faults", &self.faults)
            .field("workspace", &self.workspace)
            .field("audit_search", &self.audit_search)
            .field("body_cache_bytes", &self.body_cache_bytes)
            .finish()
    }
}

/// Default tenant ID of the emulator.
pub const DEFAULT_TENANT_ID: &str = "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718";
/// The prefix of every generated tenant ID (see [`tenant_id`]).
const TENANT_ID_PREFIX: &str = "7e4a47e0-0000-4000-8000-";

/// Most tenants one emulator serves.
pub const MAX_TENANTS: usize = 1_000_000;

/// The directory ID of tenant `i` (`i >= 1`) of a multi-tenant emulator: `7e4a47e0-0000-4000-8000-` followed by
/// `i` as twelve lowercase hexadecimal digits, e.g. `tenant_id(1)` = `7e4a47e0-0000-4000-8000-000000000001` and
/// `tenant_id(255)` = `7e4a47e0-0000-4000-8000-0000000000ff` (a version-4-shaped GUID). The pattern is stable
/// across runs and versions. Tenant 0 is not named by it: it is [`EmulatorConfig::tenant_id`].
pub fn tenant_id(i: usize) -> String {
    format!("{TENANT_ID_PREFIX}{i:012x}")
}

/// The index `i` whose [`tenant_id`] is `id` (any letter case), if `id` follows the pattern.
pub(crate) fn tenant_index(id: &str) -> Option<usize> {
    let prefix = id.get(..TENANT_ID_PREFIX.len())?;
    let digits = id.get(TENANT_ID_PREFIX.len()..)?;
    if !prefix.eq_ignore_ascii_case(TENANT_ID_PREFIX)
        || digits.len() != 12
        || !digits.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    usize::from_str_radix(digits, 16).ok()
}

/// Default client ID of the emulator.
pub const DEFAULT_CLIENT_ID: &str = "0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a";

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            addr: None,
            tenant_id: DEFAULT_TENANT_ID.to_owned(),
            tenants: 1,
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            cloud: Cloud::Commercial,
            trusted_certificates: Vec::new(),
            token_lifetime: Duration::from_secs(3599),
            roles: vec![
                "ActivityFeed.Read".to_owned(),
                "ActivityFeed.ReadDlp".to_owned(),
                "AuditLogsQuery.Read.All".to_owned(),
            ],
            initial_subscriptions: Vec::new(),
            page_size: 100,
            content: ContentSettings::default(),
            faults: Faults::default(),
            workspace: None,
            audit_search: Default::default(),
            body_cache_bytes: DEFAULT_BODY_CACHE_BYTES,
        }
    }
}

/// The workspace's directory and the app registration that writes to its data collection rule.
#[derive(Clone)]
pub struct WorkspaceRegistration {
    /// The workspace's directory (tenant) ID.
    pub tenant_id: String,
    /// The application (client) ID registered there.
    pub client_id: String,
    /// The workspace's cloud: its Azure Monitor scope is the only one the directory issues tokens for.
    pub cloud: Cloud,
    /// DER bytes of every certificate registered for that application (at least one).
    pub trusted_certificates: Vec<Vec<u8>>,
}

impl std::fmt::Debug for WorkspaceRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceRegistration")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("cloud", &self.cloud)
            .field("trusted_certificates", &self.trusted_certificates.len())
            .finish()
    }
}

/// Default of [`EmulatorConfig::body_cache_bytes`]: 64 MiB.
pub const DEFAULT_BODY_CACHE_BYTES: usize = 64 << 20;

impl EmulatorConfig {
    /// The default configuration trusting one certificate (DER).
    pub fn trusting(certificate_der: Vec<u8>) -> Self {
        EmulatorConfig {
            trusted_certificates: vec![certificate_der],
            ..EmulatorConfig::default()
        }
    }
}

/// The seeded content: which blobs exist, when they became available, and what is in them.
///
/// Record and content IDs depend only on the seed and these settings; times are placed relative to the start of the
/// emulator (the 7-day rule needs them to be recent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentSettings {
    /// Seed of every generated value.
    pub seed: u64,
    /// The end of the history (default: the instant the emulator starts). Two emulators with the same settings and
    /// anchor serve byte-identical blobs under identical content IDs.
    pub anchor: Option<jiff::Timestamp>,
    /// Hours of history before the start (blobs have `contentCreated` in `[start - hours, start)`).
    pub hours: u32,
    /// Blobs per hour for each content type (a type missing here has no content).
    pub blobs_per_hour: BTreeMap<ContentType, u32>,
    /// Records in each blob (except the large blobs).
    pub records_per_blob: u32,
    /// Large blobs per content type: the first `large_blobs` blobs (by position) of each content type hold
    /// `large_blob_records` records instead of `records_per_blob` (for memory benchmarks: tens of MB per blob).
    #[serde(default)]
    pub large_blobs: u32,
    /// Records in each large blob.
    #[serde(default)]
    pub large_blob_records: u32,
    /// Fraction (0..=1) of record slots that repeat a record of an earlier blob of the same content type.
    pub duplicate_record_rate: f64,
    /// One blob per content type is listed twice.
    pub blob_listed_twice: bool,
    /// Fraction (0..=1) of records that are very large (hundreds of parameters).
    pub large_record_rate: f64,
    /// Parameters in a large record.
    pub large_record_parameters: u32,
    /// Late blobs per content type: `contentCreated` in the past, listable only after `late_after` or a control call.
    pub late_blobs: u32,
    /// Delay after start after which late blobs become listable by themselves (`None`: only on a control call).
    pub late_after: Option<Duration>,
}

impl Default for ContentSettings {
    fn default() -> Self {
        ContentSettings {
            seed: 1,
            anchor: None,
            hours: 24,
            blobs_per_hour: ContentType::ALL.into_iter().map(|ct| (ct, 2)).collect(),
            records_per_blob: 10,
            large_blobs: 0,
            large_blob_records: 0,
            duplicate_record_rate: 0.05,
            blob_listed_twice: true,
            large_record_rate: 0.002,
            large_record_parameters: 400,
            late_blobs: 1,
            late_after: None,
        }
    }
}

impl ContentSettings {
    /// Sets the same number of blobs per hour for all five content types.
    pub fn with_blobs_per_hour(mut self, blobs: u32) -> Self {
        self.blobs_per_hour = ContentType::ALL.into_iter().map(|ct| (ct, blobs)).collect();
        self
    }

    /// Overrides the blobs per hour of some content types (0 removes a type's content).
    pub fn with_type_blobs_per_hour(mut self, overrides: &[(ContentType, u32)]) -> Self {
        for (ct, n) in overrides {
            self.blobs_per_hour.insert(*ct, *n);
        }
        self
    }
}

/// How throttled requests are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ThrottleStyle {
    /// HTTP 429 with `Retry-After`.
    Status429,
    /// HTTP 403 with code AF429 and no `Retry-After` (Microsoft's own example).
    Status403,
    /// Alternately one and the other.
    #[default]
    Mixed,
}

/// A per-tenant request budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttle {
    /// API requests allowed per minute (fixed one-minute windows from the first request).
    pub requests_per_minute: u32,
    /// How throttled requests are answered.
    #[serde(default)]
    pub style: ThrottleStyle,
}

/// Fault injection. Every field is independent; the default injects nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Faults {
    /// A per-tenant requests-per-minute budget on the Management API.
    pub throttle: Option<Throttle>,
    /// Fraction (0..=1) of API requests answered 500 or 503 with AF50000.
    pub transient_error_rate: f64,
    /// Fraction (0..=1) of blob and listing responses cut off mid-body (the connection drops).
    pub truncated_body_rate: f64,
    /// Latency added to every request, in milliseconds.
    pub latency_ms: u64,
    /// Every `NextPageUri` points at the foreign listener (another port) instead of the emulator.
    pub foreign_next_page: bool,
    /// Token expiry mid-run: every N-th API request finds expired (401) every access token that was already issued
    /// at the previous such request (so each token lives through at least N requests).
    pub expire_tokens_every: Option<u64>,
}
