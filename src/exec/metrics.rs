//! The run's figures as Prometheus metrics, kept in a `prometheus-client` [`Registry`] and exposed in the Prometheus
//! text format (version 0.0.4): written to a file by `run --metrics-file` (for node_exporter's textfile collector) and
//! served over HTTP by [`serve`] (`GET /metrics`).
//!
//! [`Metrics`] holds the registry behind a lock. [`Metrics::record_run`] rebuilds it from the latest run and swaps it
//! in, so the series of a job that is gone from the job files vanish with the next run. The per-job figures are
//! gauges about the last run (or, for watermarks and the certificate, the state at its end), named `o365sync_…`, with
//! the labels `job` and, per content type, `content_type`. A series whose value is unknown (no watermark yet) is left
//! out rather than given a made-up value, and a metric without any series is left out with its `# HELP` and `# TYPE`.
//! The process's own figures have no labels: counters of runs and failed runs, the duration and end of the last run,
//! and the jobs running and waiting right now.
//!
//! The file is written as `PATH.tmp`, synced, then renamed over `PATH`, so a collector never reads a partial file.

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, PoisonError, RwLock};

use jiff::Timestamp;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;

use super::report::{ContentTypeReport, JobReport};
use crate::exit::Outcome;

/// The `Content-Type` of what [`Metrics::render`] returns (the Prometheus text format, version 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Failure to write or serve the metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The metrics file could not be written.
    #[error(
        "cannot write the metrics file {path}: {source}: check that its directory exists and is writable by this user"
    )]
    Write {
        /// The file that could not be written (the temporary or the final name).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The metrics endpoint could not listen on its address.
    #[error("cannot serve the metrics on {addr}: {source}: choose another address or port")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// What the metrics of one job are made of.
#[derive(Debug, Clone, Copy)]
pub struct JobMetrics<'a> {
    /// The job's run report.
    pub report: &'a JobReport,
    /// The end of the job's certificate validity (`None` when no credential was loaded).
    pub certificate_not_after: Option<Timestamp>,
}

/// The figures of one run of all jobs, for the process's own metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunFigures {
    /// When the run started.
    pub started: Timestamp,
    /// When it ended.
    pub finished: Timestamp,
    /// Its outcome (the worst over its jobs and job files); `Failed` and `Invalid` count as failed runs.
    pub outcome: Outcome,
}

impl RunFigures {
    /// Whether the run counts in `o365sync_run_failures_total`: its outcome is `Failed` or `Invalid` (exit code 1 or
    /// 2); data gaps (3) and a job skipped by its lock (75) are not failures of the run.
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed | Outcome::Invalid)
    }

    /// Seconds between the start and the end, never negative.
    fn duration_seconds(&self) -> f64 {
        self.finished
            .duration_since(self.started)
            .as_secs_f64()
            .max(0.0)
    }
}

/// A sample value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Int(i64),
    Float(f64),
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

type PerType = fn(&ContentTypeReport, Timestamp) -> Option<Value>;
type PerJob = fn(&JobMetrics<'_>, Timestamp) -> Option<Value>;

/// Labels of the per (job, content type) series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    job: String,
    content_type: String,
}

/// Labels of the per job series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
}

/// Per (job, content type) metrics: name, help, value.
const PER_TYPE: &[(&str, &str, PerType)] = &[
    (
        "o365sync_last_run_records_written",
        "Records written to the sink in the last run.",
        |c, _| Some(c.records_written.into()),
    ),
    (
        "o365sync_last_run_records_duplicate",
        "Records dropped in the last run as already delivered or repeated.",
        |c, _| Some(c.records_duplicate.into()),
    ),
    (
        "o365sync_last_run_blobs_fetched",
        "Content blobs fetched and delivered in the last run.",
        |c, _| Some(c.blobs_fetched.into()),
    ),
    (
        "o365sync_last_run_blobs_skipped",
        "Content blobs listed again in the last run and skipped (already delivered or recorded as gaps).",
        |c, _| Some(c.blobs_skipped.into()),
    ),
    (
        "o365sync_last_run_blobs_failed",
        "Content blobs that could not be fetched in the last run (fetched again by the next run).",
        |c, _| Some(c.blobs_failed.into()),
    ),
    (
        "o365sync_last_run_gaps",
        "Data gaps recorded in the last run (expired blobs and windows beyond retention); see `o365sync state show`.",
        |c, _| Some((c.blob_gaps + c.window_gaps).into()),
    ),
    (
        "o365sync_last_run_windows_listed",
        "Time windows listed to their last page in the last run.",
        |c, _| Some(c.windows_listed.into()),
    ),
    (
        "o365sync_last_run_windows_failed",
        "Time windows whose listing failed in the last run (listed again by the next run).",
        |c, _| Some(c.windows_failed.into()),
    ),
    (
        "o365sync_watermark_timestamp_seconds",
        "Live watermark: everything before this instant (Unix seconds) is delivered or recorded as a gap.",
        |c, _| c.watermark.map(|w| Value::Int(w.as_second())),
    ),
    (
        "o365sync_watermark_lag_seconds",
        "Seconds between the live watermark and the end of the last run.",
        |c, now| c.watermark.map(|w| lag(w, now)),
    ),
];

/// Per job metrics: name, help, value.
const PER_JOB: &[(&str, &str, PerJob)] = &[
    (
        "o365sync_last_run_requests",
        "Management Activity API requests sent in the last run (every attempt).",
        |j, _| Some(j.report.requests.into()),
    ),
    (
        "o365sync_last_run_throttles",
        "Throttled API responses (429 or AF429) in the last run.",
        |j, _| Some(j.report.throttled.into()),
    ),
    (
        "o365sync_last_run_retries",
        "Retried API attempts in the last run.",
        |j, _| Some(j.report.retries.into()),
    ),
    (
        "o365sync_last_run_sink_requests",
        "Requests sent to a network sink (Elasticsearch, Splunk HEC, Logs Ingestion) in the last run, retries included.",
        |j, _| j.report.sink.map(|s| s.requests.into()),
    ),
    (
        "o365sync_last_run_sink_events_sent",
        "Events a network sink accepted in the last run (for Elasticsearch: created or already there).",
        |j, _| j.report.sink.map(|s| s.events_sent.into()),
    ),
    (
        "o365sync_last_run_sink_retries",
        "Requests or items sent again to a network sink in the last run.",
        |j, _| j.report.sink.map(|s| s.retries.into()),
    ),
    (
        "o365sync_last_run_sink_throttles",
        "Network sink answers that said it was overloaded (429, HEC 503 busy, rejected execution) in the last run.",
        |j, _| j.report.sink.map(|s| s.throttled.into()),
    ),
    (
        "o365sync_last_run_sink_ack_wait_seconds_max",
        "Longest wait for a Splunk indexer acknowledgement in the last run.",
        |j, _| {
            j.report
                .sink
                .map(|s| Value::Float(s.ack_wait_ms_max as f64 / 1000.0))
        },
    ),
    (
        "o365sync_last_run_duration_seconds",
        "Wall-clock duration of the last run.",
        |j, _| Some(Value::Float(j.report.duration_seconds)),
    ),
    (
        "o365sync_last_run_exit_code",
        "Exit code of the job in the last run: 0 done, 1 failed or incomplete, 2 invalid, 3 gaps recorded, 75 locked.",
        |j, _| Some(Value::Int(i64::from(j.report.exit_code))),
    ),
    (
        "o365sync_last_run_timestamp_seconds",
        "When the last run ended (Unix seconds).",
        |_, now| Some(Value::Int(now.as_second())),
    ),
    (
        "o365sync_job_watermark_timestamp_seconds",
        "The job's oldest live watermark over its content types (Unix seconds).",
        |j, _| job_watermark(j.report).map(|w| Value::Int(w.as_second())),
    ),
    (
        "o365sync_job_watermark_lag_seconds",
        "Seconds between the job's oldest live watermark and the end of the last run.",
        |j, now| job_watermark(j.report).map(|w| lag(w, now)),
    ),
    (
        "o365sync_certificate_not_after_timestamp_seconds",
        "End of the validity of the job's certificate (Unix seconds).",
        |j, _| j.certificate_not_after.map(|t| Value::Int(t.as_second())),
    ),
];

fn lag(watermark: Timestamp, now: Timestamp) -> Value {
    Value::Int((now.as_second() - watermark.as_second()).max(0))
}

/// The oldest watermark over the content types; `None` unless every content type has one.
fn job_watermark(report: &JobReport) -> Option<Timestamp> {
    let marks: Option<Vec<Timestamp>> = report.content_types.iter().map(|c| c.watermark).collect();
    marks?.into_iter().min()
}

/// The process's own metrics: name (counters without their `_total`, which the encoder appends) and help.
const RUNS: (&str, &str) = (
    "o365sync_runs",
    "Runs of all jobs this process has completed (with --every, one per interval).",
);
const RUN_FAILURES: (&str, &str) = (
    "o365sync_run_failures",
    "Runs of this process that failed (exit code 1) or met invalid job files or usage (exit code 2).",
);
const RUN_DURATION: (&str, &str) = (
    "o365sync_run_last_duration_seconds",
    "Wall-clock duration of the last run of all jobs.",
);
const RUN_TIMESTAMP: (&str, &str) = (
    "o365sync_run_last_timestamp_seconds",
    "When the last run of all jobs ended (Unix seconds).",
);
const JOBS_ACTIVE: (&str, &str) = ("o365sync_jobs_active", "Jobs running right now.");
const JOBS_QUEUED: (&str, &str) = (
    "o365sync_jobs_queued",
    "Jobs waiting for their turn to run right now.",
);

/// Registers `samples` as a gauge family `name`, integer or floating point as the values are.
fn register_family<L>(registry: &mut Registry, name: &str, help: &str, samples: Vec<(L, Value)>)
where
    L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static,
{
    let help = help_text(help);
    if samples.iter().any(|(_, v)| matches!(v, Value::Float(_))) {
        let family = Family::<L, Gauge<f64, AtomicU64>>::default();
        for (labels, v) in samples {
            let v = match v {
                Value::Int(n) => n as f64,
                Value::Float(x) => x,
            };
            family.get_or_create(&labels).set(v);
        }
        registry.register(name, help, family);
    } else {
        let family = Family::<L, Gauge>::default();
        for (labels, v) in samples {
            if let Value::Int(n) = v {
                family.get_or_create(&labels).set(n);
            }
        }
        registry.register(name, help, family);
    }
}

/// `prometheus-client` ends every help text with a period: the text without its own.
fn help_text(help: &str) -> &str {
    help.strip_suffix('.').unwrap_or(help)
}

/// Registers the per job and per content type gauges of `jobs`; `now` is the end of the run.
fn register_jobs(registry: &mut Registry, jobs: &[JobMetrics<'_>], now: Timestamp) {
    for (name, help, value) in PER_TYPE {
        let mut samples = Vec::new();
        for j in jobs {
            for c in &j.report.content_types {
                let Some(ct) = c.content_type else { continue };
                if let Some(v) = value(c, now) {
                    let labels = TypeLabels {
                        job: j.report.job.clone(),
                        content_type: ct.as_str().to_owned(),
                    };
                    samples.push((labels, v));
                }
            }
        }
        register_family(registry, name, help, samples);
    }
    for (name, help, value) in PER_JOB {
        let samples = jobs
            .iter()
            .filter_map(|j| {
                let labels = JobLabels {
                    job: j.report.job.clone(),
                };
                value(j, now).map(|v| (labels, v))
            })
            .collect();
        register_family(registry, name, help, samples);
    }
}

/// The process's own counters and gauges: they outlive the registry rebuilt by each run.
#[derive(Debug, Default)]
struct Process {
    runs: Counter,
    run_failures: Counter,
    jobs_active: Gauge,
    jobs_queued: Gauge,
}

impl Process {
    /// Registers these, and the last run's figures when there was one.
    fn register(&self, registry: &mut Registry, last: Option<&RunFigures>) {
        registry.register(RUNS.0, help_text(RUNS.1), self.runs.clone());
        registry.register(
            RUN_FAILURES.0,
            help_text(RUN_FAILURES.1),
            self.run_failures.clone(),
        );
        if let Some(run) = last {
            let duration = Gauge::<f64, AtomicU64>::default();
            duration.set(run.duration_seconds());
            registry.register(RUN_DURATION.0, help_text(RUN_DURATION.1), duration);
            let ended = Gauge::<i64>::default();
            ended.set(run.finished.as_second());
            registry.register(RUN_TIMESTAMP.0, help_text(RUN_TIMESTAMP.1), ended);
        }
        registry.register(
            JOBS_ACTIVE.0,
            help_text(JOBS_ACTIVE.1),
            self.jobs_active.clone(),
        );
        registry.register(
            JOBS_QUEUED.0,
            help_text(JOBS_QUEUED.1),
            self.jobs_queued.clone(),
        );
    }
}

#[derive(Debug)]
struct Inner {
    /// The figures of the last run and the process's own, swapped whole by [`Metrics::record_run`].
    registry: RwLock<Registry>,
    process: Process,
}

/// The metrics of this process: the last run's figures per job and content type, and the process's own counters and
/// gauges. Cheap to clone (the clones share everything); safe to use from any thread.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Metrics before any run: no per-job series, no runs yet, no job running or waiting.
    pub fn new() -> Metrics {
        let process = Process::default();
        let mut registry = Registry::default();
        process.register(&mut registry, None);
        Metrics {
            inner: Arc::new(Inner {
                registry: RwLock::new(registry),
                process,
            }),
        }
    }

    /// Records a finished run: the per-job and per-content-type series become exactly those of `jobs` (a job that
    /// is not among them loses its series), `now` being the end of the run for the lags and the per-job
    /// `o365sync_last_run_timestamp_seconds`; the run counters and the last run's duration and end follow `run`.
    pub fn record_run(&self, jobs: &[JobMetrics<'_>], now: Timestamp, run: &RunFigures) {
        let process = &self.inner.process;
        process.runs.inc();
        if run.failed() {
            process.run_failures.inc();
        }
        let mut registry = Registry::default();
        register_jobs(&mut registry, jobs, now);
        process.register(&mut registry, Some(run));
        *self
            .inner
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner) = registry;
    }

    /// Sets `o365sync_jobs_active`: the jobs running right now.
    pub fn set_jobs_active(&self, n: i64) {
        self.inner.process.jobs_active.set(n);
    }

    /// Sets `o365sync_jobs_queued`: the jobs waiting for their turn right now.
    pub fn set_jobs_queued(&self, n: i64) {
        self.inner.process.jobs_queued.set(n);
    }

    /// The metrics in the Prometheus text format (version 0.0.4, [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let registry = self
            .inner
            .registry
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        if let Err(e) = prometheus_text::encode(&mut out, &registry) {
            // Writing to a string fails only if a metric cannot encode itself: better no metrics than a part.
            tracing::error!(error = %e, "cannot encode the metrics");
            out.clear();
        }
        out
    }
}

/// Writes `text` to `path` atomically: `PATH.tmp`, synced, renamed over `PATH`.
pub fn write_file(path: &Path, text: &str) -> Result<(), MetricsError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let at = |p: &Path| {
        let p = p.to_owned();
        move |source| MetricsError::Write { path: p, source }
    };
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(at(&tmp)(e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        at(path)(e)
    })
}

/// Serves `metrics` over HTTP on `addr` until `stop` resolves: `GET /metrics` answers [`Metrics::render`] as
/// [`CONTENT_TYPE`], any other path 404. Returns the address bound (port 0 picks a free port) and the server's task,
/// which ends once `stop` has resolved and the requests in progress are answered.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, JoinHandle<()>), MetricsError> {
    let bind = |source| MetricsError::Bind { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind)?;
    let local = listener.local_addr().map_err(bind)?;
    let router = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .fallback(not_found)
        .with_state(metrics);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, addr = %local, "the metrics endpoint stopped");
        }
    });
    Ok((local, task))
}

async fn scrape(
    axum::extract::State(metrics): axum::extract::State<Metrics>,
) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)],
        metrics.render(),
    )
}

async fn not_found() -> impl axum::response::IntoResponse {
    (
        axum::http::StatusCode::NOT_FOUND,
        "not found: the metrics are at /metrics\n",
    )
}

/// The scheduler's jobs running and queued, as the gauges `o365sync_jobs_active` and `o365sync_jobs_queued`.
impl super::schedule::Observer for Metrics {
    fn jobs(&self, active: usize, queued: usize) {
        self.set_jobs_active(i64::try_from(active).unwrap_or(i64::MAX));
        self.set_jobs_queued(i64::try_from(queued).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::content_type::ContentType;
    use crate::sink::http::DeliveryStats;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn report(name: &str, marks: &[(ContentType, Option<i64>)]) -> JobReport {
        let mut r = JobReport::new(name, super::super::Mode::Live, t(1_800_000_000));
        for &(ct, mark) in marks {
            let mut c = ContentTypeReport::new(ct);
            c.records_written = 42;
            c.blobs_fetched = 4;
            c.blob_gaps = 1;
            c.window_gaps = 2;
            c.watermark = mark.map(t);
            r.content_types.push(c);
        }
        r.requests = 17;
        r.throttled = 2;
        r.duration_seconds = 1.25;
        r
    }

    fn job(report: &JobReport) -> JobMetrics<'_> {
        JobMetrics {
            report,
            certificate_not_after: None,
        }
    }

    fn figures(outcome: Outcome) -> RunFigures {
        RunFigures {
            started: t(1_800_000_000),
            finished: t(1_800_000_090),
            outcome,
        }
    }

    /// The text of one run of `jobs` ended at `now`.
    fn render_run(jobs: &[JobMetrics<'_>], now: Timestamp) -> String {
        let m = Metrics::new();
        m.record_run(jobs, now, &figures(Outcome::Done));
        m.render()
    }

    /// `name{labels} value` lines keyed by `name{labels}`.
    fn samples(text: &str) -> BTreeMap<String, String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').expect("name{labels} value");
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    /// Every metric name with its type, checking that HELP and TYPE come once each, in that order, before the
    /// metric's samples, which all follow together.
    fn families(text: &str) -> BTreeMap<String, String> {
        let mut current: Option<String> = None;
        let mut typed = BTreeMap::new();
        let mut helped = BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap().to_owned();
                assert!(helped.insert(name.clone()), "{name} twice");
                assert!(!rest.ends_with(".."), "{line}");
                current = Some(name);
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert_eq!(Some(name), current.as_deref(), "{line}");
                assert!(typed.insert(name.to_owned(), kind.to_owned()).is_none());
            } else {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(Some(name), current.as_deref(), "{line}");
                assert!(typed.contains_key(name), "{line}");
                assert!(name.starts_with("o365sync_"));
            }
        }
        assert_eq!(helped.len(), typed.len());
        typed
    }

    #[test]
    fn every_metric_has_help_and_type_once_and_its_samples_follow() {
        let mut a = report("a", &[(ContentType::Exchange, Some(1_800_000_000))]);
        a.sink = Some(DeliveryStats {
            requests: 5,
            ack_wait_ms_max: 1500,
            ..DeliveryStats::default()
        });
        let b = report("b", &[(ContentType::General, Some(1_799_999_000))]);
        let jobs = [
            JobMetrics {
                report: &a,
                certificate_not_after: Some(t(1_900_000_000)),
            },
            job(&b),
        ];
        let text = render_run(&jobs, t(1_800_000_600));
        let kinds = families(&text);
        let mut expected: BTreeMap<String, String> = PER_TYPE
            .iter()
            .map(|m| m.0)
            .chain(PER_JOB.iter().map(|m| m.0))
            .chain([
                RUN_DURATION.0,
                RUN_TIMESTAMP.0,
                JOBS_ACTIVE.0,
                JOBS_QUEUED.0,
            ])
            .map(|n| (n.to_owned(), "gauge".to_owned()))
            .collect();
        for counter in [RUNS.0, RUN_FAILURES.0] {
            expected.insert(format!("{counter}_total"), "counter".to_owned());
        }
        assert_eq!(kinds, expected);
        let s = samples(&text);
        assert_eq!(
            s[r#"o365sync_last_run_records_written{job="a",content_type="Audit.Exchange"}"#],
            "42"
        );
        assert_eq!(
            s[r#"o365sync_last_run_gaps{job="b",content_type="Audit.General"}"#],
            "3"
        );
        assert_eq!(
            s[r#"o365sync_watermark_lag_seconds{job="a",content_type="Audit.Exchange"}"#],
            "600"
        );
        assert_eq!(s[r#"o365sync_job_watermark_lag_seconds{job="b"}"#], "1600");
        assert_eq!(s[r#"o365sync_last_run_duration_seconds{job="a"}"#], "1.25");
        assert_eq!(s[r#"o365sync_last_run_throttles{job="a"}"#], "2");
        assert_eq!(s[r#"o365sync_last_run_sink_requests{job="a"}"#], "5");
        assert_eq!(
            s[r#"o365sync_last_run_sink_ack_wait_seconds_max{job="a"}"#],
            "1.5"
        );
        assert!(!s.contains_key(r#"o365sync_last_run_sink_requests{job="b"}"#));
        assert_eq!(
            s[r#"o365sync_certificate_not_after_timestamp_seconds{job="a"}"#],
            "1900000000"
        );
        assert!(!s.contains_key(r#"o365sync_certificate_not_after_timestamp_seconds{job="b"}"#));
        assert_eq!(
            s[r#"o365sync_last_run_timestamp_seconds{job="b"}"#],
            "1800000600"
        );
        assert_eq!(s["o365sync_runs_total"], "1");
        assert_eq!(s["o365sync_run_failures_total"], "0");
        assert_eq!(s["o365sync_run_last_duration_seconds"], "90.0");
        assert_eq!(s["o365sync_run_last_timestamp_seconds"], "1800000090");
        assert_eq!(s["o365sync_jobs_active"], "0");
    }

    #[test]
    fn help_texts_are_the_same_as_before_the_registry() {
        let a = report("a", &[(ContentType::Exchange, Some(1_800_000_000))]);
        let text = render_run(&[job(&a)], t(1_800_000_600));
        for (name, help, _) in PER_TYPE {
            assert!(text.contains(&format!("# HELP {name} {help}\n")), "{name}");
        }
        assert!(text.contains(
            "# HELP o365sync_last_run_exit_code Exit code of the job in the last run: 0 done, 1 failed or \
             incomplete, 2 invalid, 3 gaps recorded, 75 locked.\n"
        ));
        for (_, help) in [
            RUNS,
            RUN_FAILURES,
            RUN_DURATION,
            RUN_TIMESTAMP,
            JOBS_ACTIVE,
            JOBS_QUEUED,
        ] {
            assert!(help.ends_with('.') && !help.ends_with(".."), "{help}");
        }
        for (_, help, _) in PER_TYPE {
            assert!(help.ends_with('.'), "{help}");
        }
        for (_, help, _) in PER_JOB {
            assert!(help.ends_with('.'), "{help}");
        }
    }

    #[test]
    fn unknown_watermarks_are_left_out_and_names_escaped() {
        let r = report(
            "we\"ird",
            &[
                (ContentType::Exchange, Some(1_800_000_000)),
                (ContentType::General, None),
            ],
        );
        let text = render_run(&[job(&r)], t(1_800_000_000));
        let s = samples(&text);
        assert!(s.contains_key(r#"o365sync_watermark_timestamp_seconds{job="we\"ird",content_type="Audit.Exchange"}"#), "{text}");
        assert!(
            !s.keys()
                .any(|k| k.starts_with("o365sync_watermark_timestamp_seconds")
                    && k.contains("Audit.General"))
        );
        assert!(
            !s.keys().any(|k| k.starts_with("o365sync_job_watermark")),
            "one content type has no watermark yet"
        );
        assert!(
            !text.contains("o365sync_job_watermark"),
            "a metric without series is left out, HELP and TYPE included"
        );
    }

    #[test]
    fn the_file_is_replaced_atomically_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o365sync.prom");
        write_file(&path, "a 1\n").unwrap();
        write_file(&path, "b 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b 2\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let err = write_file(&dir.path().join("missing/x.prom"), "").unwrap_err();
        assert!(err.to_string().contains("missing/x.prom.tmp"), "{err}");
        assert!(err.to_string().contains("check that its directory exists"));
    }

    #[test]
    fn label_values_are_escaped() {
        let r = report("a\"b\\c\nd", &[]);
        let text = render_run(&[job(&r)], t(1_800_000_000));
        assert!(
            text.contains("o365sync_last_run_requests{job=\"a\\\"b\\\\c\\nd\"} 17\n"),
            "{text}"
        );
        let plain = report("plain-job_1", &[]);
        let text = render_run(&[job(&plain)], t(1_800_000_000));
        assert!(text.contains("o365sync_last_run_requests{job=\"plain-job_1\"} 17\n"));
    }

    #[test]
    fn lag_is_never_negative() {
        let t = Timestamp::from_second(1_800_000_000).unwrap();
        let later = Timestamp::from_second(1_800_000_090).unwrap();
        assert_eq!(lag(t, later), Value::Int(90));
        assert_eq!(lag(later, t), Value::Int(0));
        let backwards = RunFigures {
            started: later,
            finished: t,
            outcome: Outcome::Done,
        };
        assert_eq!(backwards.duration_seconds(), 0.0);
    }

    #[test]
    fn before_any_run_only_the_process_metrics_are_there() {
        let m = Metrics::new();
        let text = m.render();
        let kinds = families(&text);
        assert_eq!(
            kinds.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "o365sync_jobs_active",
                "o365sync_jobs_queued",
                "o365sync_run_failures_total",
                "o365sync_runs_total",
            ],
            "no last run yet: {text}"
        );
        let s = samples(&text);
        assert_eq!(s["o365sync_runs_total"], "0");
    }

    #[test]
    fn a_vanished_job_loses_its_series_on_the_next_run() {
        let m = Metrics::new();
        let a = report("a", &[(ContentType::Exchange, Some(1_800_000_000))]);
        let b = report("b", &[(ContentType::General, Some(1_800_000_000))]);
        m.record_run(
            &[job(&a), job(&b)],
            t(1_800_000_060),
            &figures(Outcome::Done),
        );
        let text = m.render();
        assert!(text.contains(r#"{job="b"}"#) && text.contains(r#"{job="b","#));
        m.record_run(&[job(&a)], t(1_800_000_120), &figures(Outcome::Done));
        let text = m.render();
        assert!(!text.contains(r#"job="b""#), "{text}");
        let s = samples(&text);
        assert_eq!(
            s[r#"o365sync_last_run_timestamp_seconds{job="a"}"#],
            "1800000120"
        );
        m.record_run(&[], t(1_800_000_180), &figures(Outcome::Invalid));
        let text = m.render();
        assert!(!text.contains("job="), "{text}");
        assert!(!text.contains("o365sync_last_run_"), "{text}");
        families(&text);
    }

    #[test]
    fn counters_increase_across_runs_and_gauges_follow_the_scheduler() {
        let m = Metrics::new();
        let other = m.clone();
        let a = report("a", &[]);
        for outcome in [
            Outcome::Done,
            Outcome::Gaps,
            Outcome::Locked,
            Outcome::Failed,
            Outcome::Invalid,
            Outcome::Done,
        ] {
            m.record_run(&[job(&a)], t(1_800_000_000), &figures(outcome));
        }
        other.set_jobs_active(3);
        other.set_jobs_queued(12);
        let s = samples(&m.render());
        assert_eq!(s["o365sync_runs_total"], "6");
        assert_eq!(s["o365sync_run_failures_total"], "2");
        assert_eq!(s["o365sync_jobs_active"], "3");
        assert_eq!(s["o365sync_jobs_queued"], "12");
        // The gauges survive the next run's registry.
        m.record_run(&[job(&a)], t(1_800_000_000), &figures(Outcome::Done));
        let s = samples(&m.render());
        assert_eq!(s["o365sync_runs_total"], "7");
        assert_eq!(s["o365sync_jobs_active"], "3");
        assert_eq!(s["o365sync_jobs_queued"], "12");
    }

    #[test]
    fn only_failed_and_invalid_runs_are_failures() {
        let failed = |o| figures(o).failed();
        assert!(failed(Outcome::Failed) && failed(Outcome::Invalid));
        assert!(!failed(Outcome::Done) && !failed(Outcome::Gaps) && !failed(Outcome::Locked));
    }
}
