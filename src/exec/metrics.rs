//! `run --metrics-file PATH`: the run's figures in the Prometheus text exposition format, written at the end of the
//! run for node_exporter's textfile collector.
//!
//! The file is written as `PATH.tmp`, synced, then renamed over `PATH`, so a collector never reads a partial file.
//! Every metric is a gauge about the last run (or, for watermarks and the certificate, the state at its end), named
//! `o365sync_…`, with the labels `job` and, per content type, `content_type`. A series whose value is unknown (no
//! watermark yet) is left out rather than given a made-up value.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::report::{ContentTypeReport, JobReport};

/// Failure to write the metrics file.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write the metrics file {path}: {source}: check that its directory exists and is writable by this user"
)]
pub struct MetricsError {
    /// The file that could not be written (the temporary or the final name).
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// What the metrics of one job are made of.
#[derive(Debug, Clone, Copy)]
pub struct JobMetrics<'a> {
    /// The job's run report.
    pub report: &'a JobReport,
    /// The end of the job's certificate validity (`None` when no credential was loaded).
    pub certificate_not_after: Option<Timestamp>,
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

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: Value) {
    out.push_str(name);
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
    }
    out.push('}');
    let _ = match value {
        Value::Int(n) => writeln!(out, " {n}"),
        Value::Float(x) if x.is_finite() => writeln!(out, " {x}"),
        Value::Float(_) => writeln!(out, " NaN"),
    };
}

fn header(out: &mut String, name: &str, help: &str) {
    // HELP text escapes backslash and line feed.
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// The metrics of `jobs` in the text exposition format; `now` is the end of the run.
pub fn render(jobs: &[JobMetrics<'_>], now: Timestamp) -> String {
    let mut out = String::new();
    for (name, help, value) in PER_TYPE {
        header(&mut out, name, help);
        for j in jobs {
            for c in &j.report.content_types {
                let Some(ct) = c.content_type else { continue };
                if let Some(v) = value(c, now) {
                    sample(
                        &mut out,
                        name,
                        &[("job", &j.report.job), ("content_type", ct.as_str())],
                        v,
                    );
                }
            }
        }
    }
    for (name, help, value) in PER_JOB {
        header(&mut out, name, help);
        for j in jobs {
            if let Some(v) = value(j, now) {
                sample(&mut out, name, &[("job", &j.report.job)], v);
            }
        }
    }
    out
}

/// Writes `text` to `path` atomically: `PATH.tmp`, synced, renamed over `PATH`.
pub fn write_file(path: &Path, text: &str) -> Result<(), MetricsError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let at = |p: &Path| {
        let p = p.to_owned();
        move |source| MetricsError { path: p, source }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_type::ContentType;

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

    /// `name{labels} value` lines keyed by `name{labels}`.
    fn samples(text: &str) -> std::collections::BTreeMap<String, String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').expect("name{labels} value");
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    #[test]
    fn every_metric_has_help_and_type_once_and_its_samples_follow() {
        let a = report("a", &[(ContentType::Exchange, Some(1_800_000_000))]);
        let b = report("b", &[(ContentType::General, Some(1_799_999_000))]);
        let jobs = [
            JobMetrics {
                report: &a,
                certificate_not_after: Some(t(1_900_000_000)),
            },
            JobMetrics {
                report: &b,
                certificate_not_after: None,
            },
        ];
        let text = render(&jobs, t(1_800_000_600));
        let mut current = None;
        let mut seen = std::collections::BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap().to_owned();
                assert!(seen.insert(name.clone()), "{name} twice");
                current = Some(name);
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                assert_eq!(
                    Some(rest.to_owned()),
                    current.as_ref().map(|n| format!("{n} gauge"))
                );
            } else {
                let name = line.split('{').next().unwrap();
                assert_eq!(Some(name), current.as_deref(), "{line}");
                assert!(name.starts_with("o365sync_"));
            }
        }
        assert_eq!(seen.len(), PER_TYPE.len() + PER_JOB.len());
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
        assert_eq!(
            s[r#"o365sync_certificate_not_after_timestamp_seconds{job="a"}"#],
            "1900000000"
        );
        assert!(!s.contains_key(r#"o365sync_certificate_not_after_timestamp_seconds{job="b"}"#));
        assert_eq!(
            s[r#"o365sync_last_run_timestamp_seconds{job="b"}"#],
            "1800000600"
        );
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
        let text = render(
            &[JobMetrics {
                report: &r,
                certificate_not_after: None,
            }],
            t(1_800_000_000),
        );
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
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_label("plain-job_1"), "plain-job_1");
    }

    #[test]
    fn lag_is_never_negative() {
        let t = Timestamp::from_second(1_800_000_000).unwrap();
        let later = Timestamp::from_second(1_800_000_090).unwrap();
        assert_eq!(lag(t, later), Value::Int(90));
        assert_eq!(lag(later, t), Value::Int(0));
    }
}
