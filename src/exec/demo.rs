//! `o365sync demo`: a throwaway certificate, the embedded emulator and `jobs/demo.yaml`, end to end on 127.0.0.1.
//!
//! Everything lives below the demo directory (`--dir`, default the current directory): `jobs/demo.yaml` (written
//! from the copy built into the binary when absent), `out/demo/certificate.pem` and `key.pem` (generated once),
//! `out/demo/emulator-anchor` (the end of the emulated history, fixed on the first demo so that later demos see the
//! same blobs), `out/demo/events/` (the OCSF events) and the state under `--state-dir`. A second demo therefore
//! lists the same content and delivers nothing new.
//!
//! `--sink elasticsearch|splunk_hec|azure_logs_ingestion` delivers to that destination's receiver in the emulator
//! instead (Elasticsearch `_bulk` with item statuses, HEC with indexer acknowledgement, Logs Ingestion with an Azure
//! Monitor token from the demo's own certificate), as job `demo-<sink>` with state of its own, and counts what the
//! receiver holds. The receivers live in memory: a second demo with the same sink delivers nothing new to an empty
//! receiver.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};

use super::cli::{install_signals, print_report, runtime};
use super::{Mode, Settings, run_job};
use crate::cloud::Cloud;
use crate::content_type::ContentType;
use crate::emulator::{ContentSettings, Emulator, EmulatorConfig};
use crate::exit::Outcome;
use crate::global::GlobalArgs;
use crate::job::{self, Context, Env, ProcessEnv};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Directory the demo works in (its certificate, state and output go below it).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Deliver to this network sink's receiver in the emulator instead of files (job `demo-<sink>`, state of its
    /// own): nothing leaves the machine.
    #[arg(long, value_enum)]
    pub sink: Option<DemoSink>,
}

/// A network sink the demo can show end to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoSink {
    /// Elasticsearch/OpenSearch `_bulk`, exactly once.
    #[value(name = "elasticsearch")]
    Elasticsearch,
    /// Splunk HEC with indexer acknowledgement.
    #[value(name = "splunk_hec")]
    SplunkHec,
    /// Azure Monitor Logs Ingestion (Microsoft Sentinel).
    #[value(name = "azure_logs_ingestion")]
    AzureLogsIngestion,
}

/// The index the Elasticsearch demo writes.
const DEMO_INDEX: &str = "logs-o365.audit-demo";

impl DemoSink {
    fn name(self) -> &'static str {
        match self {
            DemoSink::Elasticsearch => "elasticsearch",
            DemoSink::SplunkHec => "splunk_hec",
            DemoSink::AzureLogsIngestion => "azure_logs_ingestion",
        }
    }

    /// The sink pointing at the emulator's receiver; the HEC token goes to a file below `out`.
    fn sink(self, url: &str, out: &Path) -> Result<job::Sink, DemoError> {
        use crate::sink::{elasticsearch, http::SecretSource, logs_ingestion, splunk};
        let url: url::Url = url
            .parse()
            .map_err(|e| DemoError::Job(format!("the emulator's url {url}: {e}")))?;
        Ok(match self {
            DemoSink::Elasticsearch => {
                job::Sink::Elasticsearch(elasticsearch::ElasticsearchConfig {
                    url,
                    index: DEMO_INDEX.into(),
                    auth: elasticsearch::ElasticAuth::None,
                    ca_file: None,
                    batch_bytes: elasticsearch::DEFAULT_BATCH_BYTES,
                })
            }
            DemoSink::SplunkHec => {
                let token = out.join("hec-token");
                write_private(&token, &crate::emulator::hec::HecSettings::default().token)?;
                job::Sink::SplunkHec(splunk::SplunkConfig {
                    url,
                    token: SecretSource::File(token),
                    index: None,
                    sourcetype: splunk::DEFAULT_SOURCETYPE.into(),
                    ack: true,
                    ca_file: None,
                    ack_timeout: splunk::DEFAULT_ACK_TIMEOUT,
                    batch_bytes: splunk::DEFAULT_BATCH_BYTES,
                })
            }
            DemoSink::AzureLogsIngestion => job::Sink::AzureLogsIngestion {
                config: logs_ingestion::LogsIngestionConfig {
                    endpoint: url,
                    dcr_immutable_id: crate::emulator::ingestion::DEFAULT_DCR.into(),
                    stream: crate::emulator::ingestion::DEFAULT_STREAM.into(),
                },
                auth: None,
            },
        })
    }

    /// Where the events are, and the OCSF events the receiver holds.
    fn received(self, receivers: &crate::emulator::Receivers) -> (String, Vec<serde_json::Value>) {
        match self {
            DemoSink::Elasticsearch => (
                format!("the emulator's Elasticsearch receiver, index {DEMO_INDEX}"),
                receivers
                    .elastic
                    .documents(DEMO_INDEX)
                    .into_values()
                    .collect(),
            ),
            DemoSink::SplunkHec => (
                "the emulator's Splunk HEC receiver".to_owned(),
                receivers
                    .hec
                    .events()
                    .into_iter()
                    .map(|mut e| e["event"].take())
                    .collect(),
            ),
            DemoSink::AzureLogsIngestion => (
                format!(
                    "the emulator's Logs Ingestion receiver, stream {}",
                    crate::emulator::ingestion::DEFAULT_STREAM
                ),
                receivers
                    .ingestion
                    .rows()
                    .into_iter()
                    .map(|mut r| r["Event"].take())
                    .collect(),
            ),
        }
    }
}

/// The demo job as shipped (written to `jobs/demo.yaml` when the demo directory has none).
const DEMO_JOB: &str = include_str!("../../jobs/demo.yaml");
/// The tenant and client IDs of `jobs/demo.yaml`.
const DEMO_TENANT: &str = "00000000-0000-4000-8000-00000000d3e0";
const DEMO_CLIENT: &str = "00000000-0000-4000-8000-0000000c11e0";
/// The emulated history: fixed seed, 24 hours before the anchor.
const DEMO_SEED: u64 = 2026;
const DEMO_HOURS: u32 = 24;
/// An anchor older than this is replaced (the API serves 7 days; the demo job reaches back 2).
const ANCHOR_MAX_AGE: SignedDuration = SignedDuration::from_hours(36);

/// The process environment plus `O365SYNC_DEMO_URL` (no global environment mutation).
struct DemoEnv {
    url: String,
}

impl Env for DemoEnv {
    fn var(&self, name: &str) -> Option<String> {
        if name == "O365SYNC_DEMO_URL" {
            Some(self.url.clone())
        } else {
            ProcessEnv.var(name)
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error("cannot {action} `{}`: {source}; check that the demo directory is writable", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Emulator(#[from] crate::emulator::EmulatorError),
    #[error("{0}")]
    Job(String),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DemoError {
    let path = path.to_owned();
    move |source| DemoError::Io {
        action,
        path,
        source,
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), DemoError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(io("create", path))?;
    f.write_all(text.as_bytes()).map_err(io("write", path))?;
    f.sync_all().map_err(io("sync", path))
}

/// The certificate DER, generating the pair on first use.
fn certificate(out: &Path) -> Result<Vec<u8>, DemoError> {
    let cert = out.join("certificate.pem");
    let key = out.join("key.pem");
    if !cert.exists() || !key.exists() {
        let t = crate::emulator::throwaway_certificate("o365sync demo")?;
        write_private(&key, &t.private_key_pem)?;
        write_private(&cert, &t.certificate_pem)?;
        eprintln!(
            "demo: generated a throwaway certificate in {}",
            out.display()
        );
    }
    let pem = std::fs::read(&cert).map_err(io("read", &cert))?;
    crate::emulator::certificates_from_pem(&pem)?
        .into_iter()
        .next()
        .ok_or_else(|| {
            DemoError::Job(format!(
                "{} holds no certificate: delete it and run the demo again",
                cert.display()
            ))
        })
}

/// The end of the emulated history: kept from the previous demo while recent enough.
fn anchor(out: &Path, now: Timestamp) -> Result<Timestamp, DemoError> {
    let path = out.join("emulator-anchor");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(t) = text.trim().parse::<Timestamp>()
        && t <= now
        && now.duration_since(t) < ANCHOR_MAX_AGE
    {
        return Ok(t);
    }
    let t =
        Timestamp::from_second(now.as_second() - now.as_second().rem_euclid(3600)).unwrap_or(now);
    std::fs::write(&path, format!("{t}\n")).map_err(io("write", &path))?;
    Ok(t)
}

/// `a/./b/../c` → `a/c`, lexically (for printing paths).
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Counts events by OCSF class.
fn count_events<'a>(events: impl Iterator<Item = &'a serde_json::Value>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for v in events {
        let class = v
            .get("class_name")
            .and_then(|c| c.as_str())
            .unwrap_or("unknown");
        *counts.entry(class.to_owned()).or_insert(0) += 1;
    }
    counts
}

/// Counts the events under the jsonl output by OCSF class.
fn count_classes(dir: &Path) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for p in crate::sink::jsonl::files_below(dir) {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.ends_with(".jsonl") || name.starts_with('.') {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let events: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_default())
            .collect();
        for (class, n) in count_events(events.iter()) {
            *counts.entry(class).or_insert(0) += n;
        }
    }
    counts
}

/// `o365sync demo`.
pub fn run(global: &GlobalArgs, args: DemoArgs) -> Outcome {
    match demo(global, &args.dir, args.sink) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: demo: {e}");
            Outcome::Failed
        }
    }
}

fn demo(global: &GlobalArgs, dir: &Path, sink: Option<DemoSink>) -> Result<Outcome, DemoError> {
    let jobs = dir.join("jobs");
    let job_file = jobs.join("demo.yaml");
    if !job_file.exists() {
        std::fs::create_dir_all(&jobs).map_err(io("create", &jobs))?;
        std::fs::write(&job_file, DEMO_JOB).map_err(io("write", &job_file))?;
    }
    let out = dir.join("out").join("demo");
    std::fs::create_dir_all(&out).map_err(io("create", &out))?;
    let der = certificate(&out)?;
    let now = Timestamp::now();
    let anchor = anchor(&out, now)?;
    let state_dir = if global.state_dir.is_relative() {
        dir.join(&global.state_dir)
    } else {
        global.state_dir.clone()
    };

    let rt = match runtime() {
        Ok(rt) => rt,
        Err(o) => return Ok(o),
    };
    rt.block_on(async {
        let mut config = EmulatorConfig::trusting(der);
        config.tenant_id = DEMO_TENANT.into();
        config.client_id = DEMO_CLIENT.into();
        config.cloud = Cloud::Gcc;
        config.initial_subscriptions = ContentType::ALL.to_vec();
        config.content = ContentSettings {
            seed: DEMO_SEED,
            anchor: Some(anchor),
            hours: DEMO_HOURS,
            late_blobs: 0,
            ..ContentSettings::default()
        };
        let emu = Emulator::start(config).await?;
        eprintln!("demo: emulator of Entra ID and the Management Activity API at {}", emu.url());
        let env = DemoEnv { url: emu.url() };
        let mut loaded = job::load(&job_file, &Context { env: &env, now })
            .map_err(|d| DemoError::Job(d.to_string()))?;
        if let Some(kind) = sink {
            loaded.job.name = format!("{}-{}", loaded.job.name, kind.name());
            loaded.job.sink = kind.sink(&emu.url(), &out)?;
            eprintln!("demo: delivering to the emulator's {} receiver, as job {}", kind.name(), loaded.job.name);
        }
        let settings = Settings {
            state_dir,
            ..super::cli::settings(global)
        };
        install_signals(&settings.stop);
        let report = run_job(&loaded, &settings, Mode::Live).await;
        settings.progress.finish();
        let (place, counts) = match sink {
            Some(kind) => {
                let (place, events) = kind.received(emu.receivers());
                (place, count_events(events.iter()))
            }
            None => {
                let events_dir = match &loaded.job.sink {
                    job::Sink::Jsonl { path, .. } => tidy(path),
                    _ => out.join("events"),
                };
                let counts = count_classes(&events_dir);
                (events_dir.display().to_string(), counts)
            }
        };
        emu.shutdown().await;
        print_report(&report, global.log_format);
        let total: u64 = counts.values().sum();
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "\nOCSF events are in {place} ({total} in all):");
        for (class, n) in &counts {
            let _ = writeln!(o, "  {n:>6}  {class}");
        }
        let new = report.records_written();
        if new == 0 {
            let _ = writeln!(o, "this run: nothing new (every blob was already delivered; {} listed again and skipped)",
                report.content_types.iter().map(|c| c.blobs_skipped).sum::<u64>());
        } else {
            let _ = writeln!(o, "this run: {new} new events from {} blobs", report.blobs_fetched());
        }
        let jf = tidy(&job_file);
        let jf = jf.display();
        let sd = if global.state_dir == Path::new("state") {
            String::new()
        } else {
            format!("--state-dir {} ", tidy(&settings.state_dir).display())
        };
        let _ = writeln!(o, "\nnext, try:");
        match sink {
            None => {
                let _ = writeln!(o, "  o365sync demo                                   # again: incremental, nothing new");
                let _ = writeln!(o, "  o365sync demo --sink splunk_hec                 # or elasticsearch, azure_logs_ingestion: a SIEM's API, in the emulator");
                let _ = writeln!(o, "  o365sync {sd}state show {jf}");
                let _ = writeln!(o, "  o365sync {sd}plan {jf}");
            }
            Some(kind) => {
                let again = format!("o365sync demo --sink {}", kind.name());
                let _ = writeln!(o, "  {again:<47} # again: incremental, nothing new");
                let _ = writeln!(o, "  o365sync demo                                   # the same content into files");
            }
        }
        let _ = writeln!(o, "  o365sync validate jobs/");
        let _ = writeln!(o, "  o365sync normalize --content-type Audit.Exchange fixtures/corpus/microsoft-docs.jsonl");
        Ok(report.outcome())
    })
}
