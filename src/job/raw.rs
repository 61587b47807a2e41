//! Phase 1: the job file as written, deserialized with source spans. No interpretation happens here beyond YAML
//! itself: every scalar the later phases check is kept as a located string so that `${VAR}` expansion and validation
//! can point at it. The same types generate the JSON Schema (`o365sync schema`): their doc comments become the
//! schema's descriptions, and the `schemars(with = …)` attributes give each located value its documented type.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::cloud::Cloud;
use crate::content_type::ContentType;

/// A located string scalar.
pub type Text = Spanned<String>;

/// An o365sync job file (version 1): one Microsoft 365 tenant, the content types to collect, how to walk time, and
/// where the events go. Relative paths are relative to the job file; `${VAR}` and `${VAR:-default}` are expanded in
/// string values.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "o365sync job file (version 1)")]
pub struct RawJob {
    /// Job file format version. Always 1.
    #[schemars(with = "u32", range(min = 1, max = 1))]
    pub version: Spanned<u32>,
    /// Unique job name, `[a-z0-9][a-z0-9_-]*`, at most 64 characters. It names the job's state: to rename a job,
    /// move its state with `o365sync state rename OLD NEW` before the renamed job runs.
    #[schemars(with = "String", length(min = 1, max = 64))]
    pub name: Text,
    /// The tenant to read and the app registration (certificate credentials) to read it with.
    #[schemars(with = "RawTenant")]
    pub tenant: Spanned<RawTenant>,
    /// Content types to collect. Default: all five.
    #[serde(default)]
    #[schemars(
        with = "Option<Vec<ContentType>>",
        length(min = 1),
        extend("default" = ["Audit.AzureActiveDirectory", "Audit.Exchange", "Audit.SharePoint", "Audit.General", "DLP.All"])
    )]
    pub content_types: Option<Spanned<Vec<Text>>>,
    /// How far back to start, the listing window, the lookback and the request budget.
    #[serde(default)]
    #[schemars(with = "Option<RawSync>")]
    pub sync: Option<Spanned<RawSync>>,
    /// Event format.
    #[serde(default)]
    #[schemars(with = "Option<RawOutput>")]
    pub output: Option<Spanned<RawOutput>>,
    /// Where events are written.
    #[schemars(with = "RawSink")]
    pub sink: Spanned<RawSink>,
    /// Optional host overrides: a proxy, a private endpoint, or the local emulator.
    #[serde(default)]
    #[schemars(with = "Option<RawEndpoints>")]
    pub endpoints: Option<Spanned<RawEndpoints>>,
}

/// The tenant and its app registration. Only certificate credentials are accepted.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Tenant")]
pub struct RawTenant {
    /// Directory (tenant) ID, a GUID.
    #[schemars(with = "String")]
    pub id: Text,
    /// The Microsoft cloud the tenant lives in; sets the login authority, API host and token resource together.
    #[schemars(with = "Cloud")]
    pub cloud: Text,
    /// Application (client) ID of the app registration, a GUID.
    #[schemars(with = "String")]
    pub client_id: Text,
    /// The certificate registered on the app registration: PEM (UTF-8, or UTF-8/UTF-16 with a byte-order mark; CRLF
    /// is fine), DER (`.cer`/`.crt`), or PKCS#12 (`.pfx`/`.p12`) holding the certificate and its key, in which case
    /// `private_key` can be left out. The form is recognized from the content, not the file name.
    #[schemars(with = "String")]
    pub certificate: Text,
    /// The certificate's RSA private key: PEM (PKCS#8, possibly encrypted, or PKCS#1), DER (PKCS#8 or PKCS#1), or
    /// PKCS#12. May name the same file as `certificate`. Required unless `certificate` is a PKCS#12 file.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub private_key: Option<Text>,
    /// Name of the environment variable holding the passphrase of an encrypted private key or PKCS#12 file.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub private_key_passphrase_env: Option<Text>,
    /// File holding the passphrase of an encrypted private key or PKCS#12 file (alternative to
    /// `private_key_passphrase_env`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub private_key_passphrase_file: Option<Text>,
    /// Client assertion signing: RS256 (header `x5t`, default) or PS256 (header `x5t#S256`).
    #[serde(default)]
    #[schemars(with = "Option<Signing>", extend("default" = "RS256"))]
    pub signing: Option<Text>,
    /// `PublisherIdentifier` sent with every API call (a GUID). Default: the tenant ID.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub publisher_id: Option<Text>,
}

/// How the job walks time.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Sync")]
pub struct RawSync {
    /// How far back the first run reaches: a duration (`7d`, `36h`, `PT1H`) or an RFC 3339 instant
    /// (`2026-11-20T00:00:00Z`). Clamped to the API's retention (now − 167h55m). Default: `7d`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("default" = "7d"))]
    pub start: Option<Text>,
    /// Listing window, `1m` ..= `24h`. Default: `1h`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("default" = "1h"))]
    pub window: Option<Text>,
    /// How much before the watermark each run re-lists for late content, `0s` ..= `7d`. Default: `2h`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("default" = "2h"))]
    pub lookback: Option<Text>,
    /// The job's request budget against the API, shared by its content types. Default: 2000.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 1, max = 10000), extend("default" = 2000))]
    pub max_requests_per_minute: Option<Spanned<u32>>,
}

/// Event format.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Output")]
pub struct RawOutput {
    /// `ocsf` (OCSF 1.8.0 events, default) or `raw` (the original records unchanged).
    #[serde(default)]
    #[schemars(with = "Option<OutputFormat>", extend("default" = "ocsf"))]
    pub format: Option<Text>,
    /// `ocsf` only: also keep the original record in `raw_data`. Default: false.
    #[serde(default)]
    #[schemars(with = "Option<bool>", extend("default" = false))]
    pub include_raw: Option<Spanned<bool>>,
}

/// Where events are written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Sink")]
pub struct RawSink {
    /// `jsonl` (a directory of JSON-lines files), `stdout`, `sqlite` (one database file), `elasticsearch`
    /// (Elasticsearch or OpenSearch `_bulk`), `splunk_hec` (Splunk HTTP Event Collector) or `azure_logs_ingestion`
    /// (Azure Monitor Logs Ingestion API: Microsoft Sentinel, Log Analytics).
    #[serde(rename = "type")]
    #[schemars(with = "SinkKind")]
    pub kind: Text,
    /// `jsonl`: the output directory; `sqlite`: the database file. Not allowed for the other types.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub path: Option<Text>,
    /// `jsonl` only: compress each file with `gzip` (`.jsonl.gz`) or `zstd` (`.jsonl.zst`), or not (`none`).
    /// Default: `none`.
    #[serde(default)]
    #[schemars(with = "Option<Compress>", extend("default" = "none"))]
    pub compress: Option<Text>,
    /// Deprecated: write `compress: gzip` instead (`gzip: true` still works and gives a warning; `gzip` and
    /// `compress` together are an error).
    #[serde(default)]
    #[schemars(with = "Option<bool>", extend("deprecated" = true))]
    pub gzip: Option<Spanned<bool>>,
    /// `jsonl`, `sqlite`: the permission bits of the files created, as octal digits in quotes, e.g. `"0640"`.
    /// Directories the sink creates get the same bits plus search where read is granted (`0640` → `0750`). Set
    /// exactly, whatever the umask; an existing directory or database keeps its mode. The owner must be able to
    /// read and write; world-writable modes and special bits are refused. Default: `"0640"` for `jsonl` (a log
    /// shipper in the file's group can read), `"0600"` for `sqlite`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("pattern" = "^(0o)?[0-7]{3,4}$"))]
    pub file_mode: Option<Text>,
    /// `elasticsearch`, `splunk_hec`: the destination's base URL, e.g. `https://es.example.com:9200` or
    /// `https://splunk.example.com:8088`. `https` except for loopback hosts.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub url: Option<Text>,
    /// `elasticsearch`: the index, alias or data stream (required; lower case). `splunk_hec`: the index (default:
    /// the token's default index).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub index: Option<Text>,
    /// `elasticsearch`: the environment variable holding the API key (the base64 `encoded` form).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub api_key_env: Option<Text>,
    /// `elasticsearch`: a file holding the API key (the base64 `encoded` form) on its first line.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub api_key_file: Option<Text>,
    /// `elasticsearch`: the user name for basic authentication (with `password_env` or `password_file`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub username: Option<Text>,
    /// `elasticsearch`: the environment variable holding the password.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub password_env: Option<Text>,
    /// `elasticsearch`: a file holding the password on its first line.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub password_file: Option<Text>,
    /// `elasticsearch`, `splunk_hec`: a PEM file of CA certificates to trust besides the system's (a private CA).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub ca_file: Option<Text>,
    /// `splunk_hec`: the environment variable holding the HEC token.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub token_env: Option<Text>,
    /// `splunk_hec`: a file holding the HEC token on its first line.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub token_file: Option<Text>,
    /// `splunk_hec`: the sourcetype. Default: `o365:ocsf`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("default" = "o365:ocsf"))]
    pub sourcetype: Option<Text>,
    /// `splunk_hec`: wait for indexer acknowledgement before a blob counts as delivered. Default: true.
    #[serde(default)]
    #[schemars(with = "Option<bool>", extend("default" = true))]
    pub ack: Option<Spanned<bool>>,
    /// `splunk_hec` with `ack: true`: how long a request's indexer acknowledgement is waited for before the request
    /// is sent again, e.g. `2m`. Default: `2m`.
    #[serde(default)]
    #[schemars(with = "Option<String>", extend("default" = "2m"))]
    pub ack_timeout: Option<Text>,
    /// `azure_logs_ingestion`: the data collection endpoint, or the DCR's own logs ingestion endpoint, e.g.
    /// `https://my-dce-abcd.usgovvirginia-1.ingest.monitor.azure.us`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub endpoint: Option<Text>,
    /// `azure_logs_ingestion`: the data collection rule's immutable ID, `dcr-` and 32 hexadecimal digits.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub dcr_immutable_id: Option<Text>,
    /// `azure_logs_ingestion`: the stream the rule declares, e.g. `Custom-O365Audit_CL`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub stream: Option<Text>,
    /// `azure_logs_ingestion`: the app registration that writes to the data collection rule, when it is not the
    /// job's own: the workspace's tenant (e.g. an Azure Government workspace beside a GCC tenant) and its
    /// certificate credential, with the same keys as `tenant` (`id`, `cloud`, `client_id`, `certificate`,
    /// `private_key`, `private_key_passphrase_env` or `_file`, `signing`; not `publisher_id`). The token is requested
    /// from this tenant's authority for its cloud's Azure Monitor audience. Default: the job's `tenant`.
    #[serde(default)]
    #[schemars(with = "Option<RawTenant>")]
    pub auth: Option<Spanned<RawTenant>>,
}

/// Host overrides. They replace the scheme, host and port only: the token URL stays
/// `{login}/{tenant}/oauth2/v2.0/token`, the API root `{api}/api/v1.0/{tenant}/activity/feed`, and the scope the
/// cloud's resource + `/.default`. Plain `http://` is allowed only for loopback addresses.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Endpoints")]
pub struct RawEndpoints {
    /// Replaces the cloud's login authority, e.g. `http://127.0.0.1:8400`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub login: Option<Text>,
    /// Replaces the cloud's Management Activity API host, e.g. `http://127.0.0.1:8400`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub api: Option<Text>,
    /// Replaces the cloud's Microsoft Graph host (Purview Audit Search, read by `backfill` for what is older than the
    /// Management API's 7 days), e.g. `http://127.0.0.1:8400`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub graph: Option<Text>,
}
// The three enums below exist for the schema only: the job file holds these values as located strings, which the
// validation phase checks (so `${VAR}` works in them and errors point at them).

/// Client assertion signing algorithm.
#[derive(Debug, JsonSchema)]
#[allow(dead_code)]
pub enum Signing {
    /// RSASSA-PKCS1-v1_5 with SHA-256; the assertion names the certificate by `x5t` (SHA-1 thumbprint).
    RS256,
    /// RSASSA-PSS with SHA-256; the assertion names the certificate by `x5t#S256` (SHA-256 thumbprint).
    PS256,
}

/// Event format.
#[derive(Debug, JsonSchema)]
#[schemars(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum OutputFormat {
    /// OCSF 1.8.0 events.
    Ocsf,
    /// The original audit records, unchanged.
    Raw,
}

/// Compression of `jsonl` files.
#[derive(Debug, JsonSchema)]
#[schemars(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum Compress {
    /// gzip, `.jsonl.gz` files (`zcat`, `gzip -d`).
    Gzip,
    /// Zstandard, `.jsonl.zst` files (`zstdcat`, `zstd -d`): smaller and faster than gzip.
    Zstd,
    /// Plain `.jsonl` files.
    None,
}

/// Sink kind.
#[derive(Debug, JsonSchema)]
#[schemars(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum SinkKind {
    /// A directory of JSON-lines files, written atomically.
    Jsonl,
    /// JSON lines on standard output.
    Stdout,
    /// One SQLite database of events keyed by record `Id`.
    Sqlite,
    /// Elasticsearch 8/9 or OpenSearch 2/3 `_bulk`, exactly once (`create` with `_id` = record `Id`).
    Elasticsearch,
    /// Splunk HTTP Event Collector with indexer acknowledgement, at least once.
    #[schemars(rename = "splunk_hec")]
    SplunkHec,
    /// Azure Monitor Logs Ingestion API (Microsoft Sentinel, Log Analytics), at least once.
    #[schemars(rename = "azure_logs_ingestion")]
    AzureLogsIngestion,
}
