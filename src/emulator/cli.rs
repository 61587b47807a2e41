//! `o365sync emulator`: arguments and entry point.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::{ContentSettings, Emulator, EmulatorConfig, Faults, Throttle, ThrottleStyle};
use crate::cloud::Cloud;
use crate::content_type::ContentType;
use crate::exit::Outcome;

fn parse_type_rate(value: &str) -> Result<(ContentType, u32), String> {
    let (ct, n) = value
        .split_once('=')
        .ok_or_else(|| format!("`{value}` is not CT=N, e.g. Audit.Exchange=6"))?;
    let ct = ct.parse::<ContentType>().map_err(|e| e.to_string())?;
    let n = n
        .parse::<u32>()
        .map_err(|_| format!("`{n}` is not a number of blobs per hour"))?;
    Ok((ct, n))
}

/// How throttled requests are answered (`--throttle-style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ThrottleStyleArg {
    /// HTTP 429 with `Retry-After`.
    #[value(name = "429")]
    Status429,
    /// HTTP 403 AF429 without `Retry-After`.
    #[value(name = "403")]
    Status403,
    /// Alternately one and the other.
    Mixed,
}

/// Options of `o365sync emulator`.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8400")]
    pub addr: std::net::SocketAddr,
    /// Write the bound port to this file once listening.
    #[arg(long)]
    pub port_file: Option<PathBuf>,
    /// Seed of the generated content.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Directory (tenant) ID to serve (tenant 0 of --tenants).
    #[arg(long, default_value = super::DEFAULT_TENANT_ID)]
    pub tenant_id: String,
    /// Tenants to serve: tenant 0 is --tenant-id, tenant i (1..N) is 7e4a47e0-0000-4000-8000-<i as 12 hex digits>;
    /// each has its own content (seed derived from --seed), subscriptions, throttle window and tokens, and trusts
    /// the same application and certificate.
    #[arg(long, default_value_t = 1)]
    pub tenants: usize,
    /// Write the ID of every tenant served, one per line in order, to this file once listening, before the
    /// --port-file (for scripts that generate job files).
    #[arg(long)]
    pub tenants_file: Option<PathBuf>,
    /// Application (client) ID to register.
    #[arg(long, default_value = super::DEFAULT_CLIENT_ID)]
    pub client_id: String,
    /// Cloud whose resource the token endpoint expects in `scope` (commercial, gcc, gcc-high, dod).
    #[arg(long, default_value = "commercial")]
    pub cloud: Cloud,
    /// Trust the certificate(s) in this PEM file; without it a throwaway certificate is generated.
    #[arg(long)]
    pub trust_cert: Option<PathBuf>,
    /// Where to write the generated throwaway certificate and key (without --trust-cert).
    #[arg(long, default_value = "state/emulator")]
    pub cert_dir: PathBuf,
    /// Write every record Id tenant 0 can serve (JSON, by content type) to this file at start.
    #[arg(long)]
    pub ground_truth_file: Option<PathBuf>,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, default_value_t = 3599)]
    pub token_lifetime: u64,
    /// Application roles granted (comma-separated); without ActivityFeed.Read the API answers 401 AF10001.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ActivityFeed.Read,ActivityFeed.ReadDlp,AuditLogsQuery.Read.All"
    )]
    pub roles: Vec<String>,
    /// Start with all five subscriptions enabled.
    #[arg(long)]
    pub subscribed: bool,
    /// Entries per listing page.
    #[arg(long, default_value_t = 100)]
    pub page_size: usize,
    /// Hours of history.
    #[arg(long, default_value_t = 24)]
    pub hours: u32,
    /// Blobs per hour for each content type.
    #[arg(long, default_value_t = 2)]
    pub blobs_per_hour: u32,
    /// Blobs per hour for one content type, overriding --blobs-per-hour (repeatable), e.g. `Audit.Exchange=6`.
    #[arg(long, value_name = "CT=N", value_parser = parse_type_rate)]
    pub type_blobs_per_hour: Vec<(ContentType, u32)>,
    /// Records per blob.
    #[arg(long, default_value_t = 10)]
    pub records_per_blob: u32,
    /// Large blobs per content type: its first N blobs hold --large-blob-records records each.
    #[arg(long, default_value_t = 0)]
    pub large_blobs: u32,
    /// Records in each large blob (about 1 KB each: 50000 make a blob of about 50 MB).
    #[arg(long, default_value_t = 0)]
    pub large_blob_records: u32,
    /// Fraction of record slots repeating a record of an earlier blob.
    #[arg(long, default_value_t = 0.05)]
    pub duplicate_rate: f64,
    /// Do not list one blob per content type twice.
    #[arg(long)]
    pub no_blob_listed_twice: bool,
    /// Fraction of very large records.
    #[arg(long, default_value_t = 0.002)]
    pub large_record_rate: f64,
    /// Parameters in a very large record.
    #[arg(long, default_value_t = 400)]
    pub large_record_parameters: u32,
    /// Late blobs per content type.
    #[arg(long, default_value_t = 1)]
    pub late_blobs: u32,
    /// Seconds after start after which late blobs become listable (default: only on POST /_emulator/release-late).
    #[arg(long)]
    pub late_after: Option<u64>,
    /// API requests per minute before throttling (default: no throttling).
    #[arg(long)]
    pub throttle_rpm: Option<u32>,
    /// How throttled requests are answered.
    #[arg(long, value_enum, default_value_t = ThrottleStyleArg::Mixed)]
    pub throttle_style: ThrottleStyleArg,
    /// Fraction of API requests answered 500/503 AF50000.
    #[arg(long, default_value_t = 0.0)]
    pub transient_rate: f64,
    /// Fraction of listing and blob bodies cut off mid-way.
    #[arg(long, default_value_t = 0.0)]
    pub truncate_rate: f64,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Point every NextPageUri at another host (a second listener that counts the tokens it receives).
    #[arg(long)]
    pub foreign_next_page: bool,
    /// Every N-th API request finds expired (401) every access token already issued at the previous such request.
    #[arg(long)]
    pub expire_tokens_every: Option<u64>,
    /// Days of history only Purview Audit Search has, before the Management API's 7 days (`backfill --from 30d`).
    #[arg(long, default_value_t = 23)]
    pub audit_search_days: u32,
    /// Audit Search polls answered `notStarted`/`running` before a query succeeds.
    #[arg(long, default_value_t = 2)]
    pub audit_search_polls: u32,
    /// MiB of generated blob bodies kept in memory for later fetches (benchmarks raise it).
    #[arg(long, default_value_t = 64)]
    pub body_cache_mb: usize,
}

impl EmulatorArgs {
    fn config(&self, trusted: Vec<Vec<u8>>) -> EmulatorConfig {
        EmulatorConfig {
            addr: Some(self.addr),
            tenant_id: self.tenant_id.clone(),
            tenants: self.tenants,
            client_id: self.client_id.clone(),
            cloud: self.cloud,
            trusted_certificates: trusted,
            workspace: None,
            audit_search: crate::emulator::audit_search::AuditSearchSettings {
                history_days: self.audit_search_days,
                polls_until_done: self.audit_search_polls,
                ..Default::default()
            },
            token_lifetime: Duration::from_secs(self.token_lifetime),
            roles: self.roles.clone(),
            initial_subscriptions: if self.subscribed {
                ContentType::ALL.to_vec()
            } else {
                Vec::new()
            },
            page_size: self.page_size,
            content: ContentSettings {
                seed: self.seed,
                hours: self.hours,
                records_per_blob: self.records_per_blob,
                large_blobs: self.large_blobs,
                large_blob_records: self.large_blob_records,
                duplicate_record_rate: self.duplicate_rate,
                blob_listed_twice: !self.no_blob_listed_twice,
                large_record_rate: self.large_record_rate,
                large_record_parameters: self.large_record_parameters,
                late_blobs: self.late_blobs,
                late_after: self.late_after.map(Duration::from_secs),
                ..ContentSettings::default()
            }
            .with_blobs_per_hour(self.blobs_per_hour)
            .with_type_blobs_per_hour(&self.type_blobs_per_hour),
            faults: Faults {
                throttle: self.throttle_rpm.map(|rpm| Throttle {
                    requests_per_minute: rpm,
                    style: match self.throttle_style {
                        ThrottleStyleArg::Status429 => ThrottleStyle::Status429,
                        ThrottleStyleArg::Status403 => ThrottleStyle::Status403,
                        ThrottleStyleArg::Mixed => ThrottleStyle::Mixed,
                    },
                }),
                transient_error_rate: self.transient_rate,
                truncated_body_rate: self.truncate_rate,
                latency_ms: self.latency_ms,
                foreign_next_page: self.foreign_next_page,
                expire_tokens_every: self.expire_tokens_every,
            },
            body_cache_bytes: self.body_cache_mb.saturating_mul(1 << 20),
        }
    }
}

/// Runs the emulator until interrupted.
pub fn run(args: EmulatorArgs) -> Outcome {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Outcome::Failed;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => Outcome::Done,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.downcast_ref::<super::EmulatorError>() {
                Some(super::EmulatorError::Config(_)) => Outcome::Invalid,
                _ => Outcome::Failed,
            }
        }
    }
}

async fn serve(args: EmulatorArgs) -> anyhow::Result<()> {
    let (trusted, origin) = match &args.trust_cert {
        Some(path) => {
            let pem = std::fs::read(path).with_context(|| {
                format!(
                    "cannot read {}: give a readable pem certificate",
                    path.display()
                )
            })?;
            let ders = super::certificates_from_pem(&pem)?;
            (
                ders,
                format!("trusting the certificate(s) in {}", path.display()),
            )
        }
        None => {
            let cert = super::throwaway_certificate("o365sync emulator")?;
            std::fs::create_dir_all(&args.cert_dir).with_context(|| {
                format!(
                    "cannot create {}: choose another --cert-dir",
                    args.cert_dir.display()
                )
            })?;
            let cert_path = args.cert_dir.join("certificate.pem");
            let key_path = args.cert_dir.join("key.pem");
            std::fs::write(&cert_path, &cert.certificate_pem)
                .with_context(|| format!("cannot write {}", cert_path.display()))?;
            write_private(&key_path, cert.private_key_pem.as_bytes())
                .with_context(|| format!("cannot write {}", key_path.display()))?;
            (
                vec![cert.certificate_der],
                format!(
                    "trusting a generated throwaway certificate: {} (key {})",
                    cert_path.display(),
                    key_path.display()
                ),
            )
        }
    };
    let config = args.config(trusted);
    let handle = Emulator::start(config).await?;
    if let Some(path) = &args.ground_truth_file {
        let json = serde_json::to_vec_pretty(&handle.ground_truth().by_content_type)?;
        std::fs::write(path, json)
            .with_context(|| format!("cannot write the ground truth file {}", path.display()))?;
    }
    if let Some(path) = &args.tenants_file {
        let mut lines = handle.tenant_ids().join("\n");
        lines.push('\n');
        std::fs::write(path, lines)
            .with_context(|| format!("cannot write the tenants file {}", path.display()))?;
    }
    if let Some(path) = &args.port_file {
        // Written whole under a temporary name, then renamed: a reader never sees an empty port file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, handle.addr().port().to_string())
            .and_then(|()| std::fs::rename(&tmp, path))
            .with_context(|| format!("cannot write the port file {}", path.display()))?;
    }
    println!("o365sync emulator listening on {}", handle.url());
    println!("tenant id:  {}", handle.tenant_id());
    if handle.tenant_count() > 1 {
        println!(
            "tenants:    {} ({} and {} to {})",
            handle.tenant_count(),
            handle.tenant_id(),
            super::tenant_id(1),
            super::tenant_id(handle.tenant_count() - 1)
        );
    }
    println!("client id:  {}", handle.client_id());
    println!("cloud:      {} (scope {})", args.cloud, handle.scope());
    println!("token url:  {}", handle.token_url());
    println!("api root:   {}", handle.api_root());
    println!("foreign:    {}", handle.foreign_url());
    println!("{origin}");
    println!(
        "control:    {}/_emulator/stats, /_emulator/tenants, /_emulator/ground-truth[?tenant=ID], /_emulator/release-late",
        handle.url()
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for ctrl-c")?;
    println!("stats: {}", serde_json::to_string(&handle.stats())?);
    handle.shutdown().await;
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
