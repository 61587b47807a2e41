//! The resolved job: plain, checked values the rest of the program uses. Nothing here refers back to YAML.

use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};
use url::Url;
use uuid::Uuid;

use crate::cloud::Cloud;
use crate::content_type::ContentType;

pub use super::duration::When;

/// A loaded, validated job with paths resolved against the job file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job file it came from.
    pub file: PathBuf,
    /// The unique job name (`[a-z0-9][a-z0-9_-]*`); it keys the job's state.
    pub name: String,
    /// The tenant and its credentials (paths only: the auth module loads them).
    pub tenant: Tenant,
    /// Content types to collect, in the order written, without duplicates.
    pub content_types: Vec<ContentType>,
    /// How the job walks time.
    pub sync: Sync,
    /// Event format.
    pub output: Output,
    /// Where events go.
    pub sink: Sink,
    /// Host overrides (`None`: the cloud's own).
    pub endpoints: Endpoints,
}

/// The tenant and the app registration's certificate credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Directory (tenant) ID.
    pub id: Uuid,
    /// The cloud; sets authority, API host and resource together.
    pub cloud: Cloud,
    /// Application (client) ID.
    pub client_id: Uuid,
    /// Certificate file: PEM, DER or PKCS#12 (exists and is readable when the job loaded).
    pub certificate: PathBuf,
    /// Private key file (exists and is readable when the job loaded); `None`: `certificate` is a PKCS#12 file
    /// holding the key.
    pub private_key: Option<PathBuf>,
    /// Where the passphrase of an encrypted private key or PKCS#12 file comes from.
    pub passphrase: Option<Passphrase>,
    /// Client assertion signing algorithm.
    pub signing: Signing,
    /// `PublisherIdentifier` for every API call (default: the tenant ID).
    pub publisher_id: Uuid,
}

/// Where an encrypted private key's passphrase comes from (the source only, never the secret): the auth module's
/// own type; the variable was set and the file readable when the job loaded.
pub use crate::auth::PassphraseSource as Passphrase;

/// Client assertion signing algorithm: the auth module's own type.
pub use crate::auth::SigningAlgorithm as Signing;

/// How the job walks time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sync {
    /// How far back the first run reaches (clamped to retention by the planner).
    pub start: When,
    /// Listing window, 1 m ..= 24 h.
    pub window: SignedDuration,
    /// How much before the watermark each run re-lists, 0 ..= 7 d.
    pub lookback: SignedDuration,
    /// The job's request budget, shared by its content types.
    pub max_requests_per_minute: u32,
}

impl Sync {
    /// The first run's start for a clock reading (before clamping to retention).
    pub fn start_at(&self, now: Timestamp) -> Timestamp {
        self.start.resolve(now)
    }
}

/// Event format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// OCSF or raw.
    pub format: OutputFormat,
    /// OCSF only: keep the original record in `raw_data`.
    pub include_raw: bool,
}

/// Event format: the normalizer's own.
pub use crate::normalize::Format as OutputFormat;

/// Where events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// A directory of JSON-lines files.
    Jsonl {
        /// The output directory (resolved against the job file).
        path: PathBuf,
        /// `None`: plain `.jsonl` files; gzip (`.jsonl.gz`) or zstd (`.jsonl.zst`).
        compress: Option<Compression>,
        /// The mode of the files created (default `0640`; directories get search where read is granted).
        file_mode: FileMode,
    },
    /// JSON lines on standard output.
    Stdout,
    /// One SQLite database file.
    Sqlite {
        /// The database file (resolved against the job file).
        path: PathBuf,
        /// The mode of a new database file (default `0600`).
        file_mode: FileMode,
    },
    /// Elasticsearch or OpenSearch `_bulk` (`ca_file` and secret files resolved against the job file).
    Elasticsearch(ElasticsearchConfig),
    /// Splunk HTTP Event Collector (`ca_file` and the token file resolved against the job file).
    SplunkHec(SplunkConfig),
    /// Azure Monitor Logs Ingestion API.
    AzureLogsIngestion {
        /// The endpoint, rule and stream.
        config: LogsIngestionConfig,
        /// The app registration that writes to the rule (certificate paths resolved against the job file); `None`:
        /// the job's own `tenant`.
        auth: Option<Tenant>,
    },
}

/// The network sinks' configurations: the sink module's own types.
pub use crate::sink::elasticsearch::{ElasticAuth, ElasticsearchConfig};
pub use crate::sink::http::SecretSource;
pub use crate::sink::logs_ingestion::LogsIngestionConfig;
pub use crate::sink::splunk::SplunkConfig;

/// Compression of `jsonl` files: the sink module's own type.
pub use crate::sink::Compression;
/// Permissions of what the file sinks create: the sink module's own type.
pub use crate::sink::FileMode;

/// Host overrides: scheme, host and port only (checked), `http` only for loopback.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoints {
    /// Replaces the cloud's login authority.
    pub login: Option<Url>,
    /// Replaces the cloud's API host.
    pub api: Option<Url>,
    /// Replaces the cloud's Microsoft Graph host (Purview Audit Search).
    pub graph: Option<Url>,
}

impl Job {
    /// The endpoints a run calls (token URL, API root, scope), resolved by the cloud module from the job's cloud and
    /// host overrides.
    pub fn endpoints(&self) -> Result<crate::cloud::Endpoints, crate::cloud::EndpointError> {
        self.endpoints_of(&self.tenant)
    }

    /// The Purview Audit Search root of the job's tenant (`endpoints.graph` included).
    pub fn audit_search_root(&self) -> Result<Url, crate::cloud::EndpointError> {
        let graph = self
            .endpoints
            .graph
            .as_ref()
            .map(|u| u.origin().ascii_serialization());
        self.tenant.cloud.audit_search_root(graph.as_deref())
    }

    /// The endpoints of another registration of the job (a sink's `auth`): its own tenant and cloud, with the job's
    /// host overrides.
    pub fn endpoints_of(
        &self,
        tenant: &Tenant,
    ) -> Result<crate::cloud::Endpoints, crate::cloud::EndpointError> {
        let origin = |u: &Option<Url>| u.as_ref().map(|u| u.origin().ascii_serialization());
        tenant.cloud.endpoints(
            &tenant.id.to_string(),
            &crate::cloud::EndpointOverrides {
                login: origin(&self.endpoints.login),
                api: origin(&self.endpoints.api),
            },
        )
    }
}
