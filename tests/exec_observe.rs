//! What operators see of a run, through the real binary against the in-process emulator: the metrics file, JSON and
//! text logs (fields, levels), and no progress bars or escape codes without a terminal.

mod exec_support;

use std::collections::{BTreeMap, BTreeSet};

use exec_support::*;
use o365sync::emulator::Faults;

/// One sample of a metrics file.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition format strictly: every line is `# HELP`, `# TYPE`, `name{labels} value` or, for the
/// process's own metrics, `name value`; every metric has its HELP and TYPE before its samples.
fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut helped = BTreeSet::new();
    let mut typed = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty(), "{line}");
            assert!(helped.insert(name.to_owned()), "HELP twice: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["gauge", "counter"].contains(&kind),
                "unexpected type: {line}"
            );
            assert!(typed.insert(name.to_owned()), "TYPE twice: {line}");
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (open, close) = match line.find('{') {
            Some(open) => (open, line.rfind('}').expect("closing brace")),
            None => {
                let space = line.find(' ').expect("name value");
                (space, space)
            }
        };
        let name = &line[..open];
        assert!(
            name.starts_with("o365sync_")
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad metric name: {line}"
        );
        assert!(
            helped.contains(name) && typed.contains(name),
            "sample before its HELP/TYPE: {line}"
        );
        let mut labels = BTreeMap::new();
        let body = line.get(open + 1..close).unwrap_or_default();
        let mut rest = body;
        while !rest.is_empty() {
            let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                let (i, c) = chars.next().expect("closing quote");
                match c {
                    '\\' => match chars.next().expect("escape").1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    '"' => break i,
                    c => value.push(c),
                }
            };
            labels.insert(key.to_owned(), value);
            rest = after[end + 1..]
                .strip_prefix(',')
                .unwrap_or(&after[end + 1..]);
        }
        let value: f64 = line[close + 1..]
            .trim_start_matches(' ')
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

fn value(samples: &[Sample], name: &str, content_type: Option<&str>) -> f64 {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels["job"] == "t"
                && s.labels.get("content_type").map(String::as_str) == content_type
        })
        .unwrap_or_else(|| panic!("no sample {name} {content_type:?}"))
        .value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_file_matches_the_run_the_sink_and_the_state() {
    let env = setup(content(41, 3, 0), Faults::default(), DEFAULT_SYNC).await;
    let dir = env.dir.path().join("textfile");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("o365sync.prom");
    let metrics = path.display().to_string();
    let job = env.job();
    let run = [
        "--log-format",
        "json",
        "run",
        "--metrics-file",
        &metrics,
        &job,
    ];
    let out = env.run(&run).await;
    let report = last_json(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let text = std::fs::read_to_string(&path).expect("metrics file written");
    let samples = parse_metrics(&text);
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary left next to the metrics file"
    );

    // Per content type: the report's figures, and records written add up to the sink's lines.
    let state = env.state_json().await;
    let mut written = 0.0;
    for c in report["content_types"].as_array().unwrap() {
        let ct = c["content_type"].as_str().unwrap();
        let v = |name| value(&samples, name, Some(ct));
        assert_eq!(
            v("o365sync_last_run_records_written"),
            c["records_written"].as_f64().unwrap()
        );
        assert_eq!(
            v("o365sync_last_run_records_duplicate"),
            c["records_duplicate"].as_f64().unwrap()
        );
        assert_eq!(
            v("o365sync_last_run_blobs_fetched"),
            c["blobs_fetched"].as_f64().unwrap()
        );
        assert!(v("o365sync_last_run_blobs_fetched") > 0.0, "{ct}");
        assert_eq!(v("o365sync_last_run_blobs_failed"), 0.0);
        assert_eq!(v("o365sync_last_run_gaps"), 0.0);
        assert_eq!(
            v("o365sync_last_run_windows_listed"),
            c["windows_listed"].as_f64().unwrap()
        );
        written += v("o365sync_last_run_records_written");
        // The watermark is the state's.
        let st = state["content_types"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["content_type"] == ct)
            .expect("content type in the state");
        let wm: jiff::Timestamp = st["watermark"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            v("o365sync_watermark_timestamp_seconds"),
            wm.as_second() as f64
        );
        assert_eq!(
            v("o365sync_watermark_lag_seconds"),
            value(&samples, "o365sync_last_run_timestamp_seconds", None) - wm.as_second() as f64
        );
    }
    assert_eq!(written as usize, env.delivered().len());
    assert!(written > 0.0);

    // Per job.
    let job_value = |name| value(&samples, name, None);
    assert_eq!(job_value("o365sync_last_run_throttles"), 0.0);
    assert_eq!(job_value("o365sync_last_run_exit_code"), 0.0);
    assert_eq!(
        job_value("o365sync_last_run_requests"),
        report["requests"].as_f64().unwrap()
    );
    assert_eq!(
        job_value("o365sync_last_run_retries"),
        report["retries"].as_f64().unwrap()
    );
    assert!(job_value("o365sync_last_run_duration_seconds") > 0.0);
    let now = jiff::Timestamp::now().as_second() as f64;
    let ended = job_value("o365sync_last_run_timestamp_seconds");
    assert!(ended <= now && ended > now - 3600.0);
    assert!(
        job_value("o365sync_certificate_not_after_timestamp_seconds") > now,
        "the test certificate is valid"
    );
    let oldest = samples
        .iter()
        .filter(|s| s.name == "o365sync_watermark_timestamp_seconds")
        .map(|s| s.value)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(
        job_value("o365sync_job_watermark_timestamp_seconds"),
        oldest
    );
    // The process's own figures: one run, not failed, ended with the jobs'.
    let process = |name: &str| {
        samples
            .iter()
            .find(|s| s.name == name && s.labels.is_empty())
            .unwrap_or_else(|| panic!("no sample {name}"))
            .value
    };
    assert_eq!(process("o365sync_runs_total"), 1.0);
    assert_eq!(process("o365sync_run_failures_total"), 0.0);
    assert_eq!(process("o365sync_run_last_timestamp_seconds"), ended);

    // A second run replaces the file: nothing new, everything listed again is skipped.
    let out = env.run(&run).await;
    assert_eq!(out.status.code(), Some(0));
    let samples = parse_metrics(&std::fs::read_to_string(&path).unwrap());
    let sum = |name: &str| -> f64 {
        samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .sum()
    };
    assert_eq!(sum("o365sync_last_run_records_written"), 0.0);
    assert_eq!(sum("o365sync_last_run_blobs_fetched"), 0.0);
    assert!(sum("o365sync_last_run_blobs_skipped") > 0.0);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_skipped_by_the_lock_still_reports_exit_75_and_the_state_watermarks() {
    let env = setup(content(46, 2, 0), Faults::default(), DEFAULT_SYNC).await;
    let job = env.job();
    let path = env.dir.path().join("o365sync.prom");
    let metrics = path.display().to_string();
    let mut paused = env.start_paused(&["run", &job], "listed:1").await;
    let out = env.run(&["run", "--metrics-file", &metrics, &job]).await;
    assert_eq!(out.status.code(), Some(75));
    let samples = parse_metrics(&std::fs::read_to_string(&path).expect("metrics written"));
    paused.kill().unwrap();
    let _ = paused.wait();
    assert_eq!(value(&samples, "o365sync_last_run_exit_code", None), 75.0);
    // A first run saves its origin as the watermark before it lists: the paused run had done so at least for the
    // content type it listed. The skipped run reports exactly the state's watermarks, and none where there is none.
    let state = env.state_json().await;
    let mut with_watermark = 0;
    for st in state["content_types"].as_array().unwrap() {
        let ct = st["content_type"].as_str().unwrap();
        let series = samples.iter().find(|s| {
            s.name == "o365sync_watermark_timestamp_seconds"
                && s.labels.get("content_type").map(String::as_str) == Some(ct)
        });
        match st["watermark"].as_str() {
            Some(wm) => {
                let wm: jiff::Timestamp = wm.parse().unwrap();
                assert_eq!(series.map(|s| s.value), Some(wm.as_second() as f64), "{ct}");
                with_watermark += 1;
            }
            None => assert!(series.is_none(), "{ct}: no watermark, no series"),
        }
        assert_eq!(
            value(&samples, "o365sync_last_run_records_written", Some(ct)),
            0.0
        );
    }
    assert!(with_watermark > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_file_that_cannot_be_written_is_an_error_naming_it_and_exit_1() {
    let env = setup(content(42, 1, 0), Faults::default(), DEFAULT_SYNC).await;
    let path = env.dir.path().join("no-such-dir").join("o365sync.prom");
    let metrics = path.display().to_string();
    let job = env.job();
    let out = env.run(&["run", "--metrics-file", &metrics, &job]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot write the metrics file") && stderr.contains("no-such-dir"),
        "{stderr}"
    );
    // The sync itself completed.
    assert!(!env.delivered().is_empty());
}

/// Every line of `stderr` as a JSON object.
fn json_lines(stderr: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
            assert!(v.is_object(), "{l}");
            v
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_the_executor_fields() {
    let env = setup(content(43, 2, 0), Faults::default(), DEFAULT_SYNC).await;
    let job = env.job();
    let mut c = env.command(&["--log-format", "json", "-v", "run", &job]);
    c.env_remove("RUST_LOG");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !out.stderr.contains(&0x1b),
        "no escape codes without a terminal"
    );
    let lines = json_lines(&out.stderr);
    let report = lines.last().unwrap();
    assert!(report.get("content_types").is_some(), "the report ends it");
    let events: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l.get("level").is_some()).collect();

    // Per blob, at debug: job, content type, window, content ID and status.
    let delivered: Vec<_> = events
        .iter()
        .filter(|e| e["message"] == "blob delivered")
        .collect();
    assert_eq!(delivered.len() as u64, total(report, "blobs_fetched"));
    let mut ids = BTreeSet::new();
    for e in &delivered {
        assert_eq!(e["level"], "DEBUG");
        assert_eq!(e["job"], "t");
        assert_eq!(e["status"], "delivered");
        assert!(
            e["content_type"].as_str().unwrap().starts_with("Audit.")
                || e["content_type"] == "DLP.All"
        );
        let window = e["window"].as_str().unwrap();
        assert!(window.starts_with('[') && window.contains(", "), "{window}");
        assert!(ids.insert(e["content_id"].as_str().unwrap().to_owned()));
        assert!(e["records_written"].is_u64());
    }
    // Per window, at debug.
    let windows = events
        .iter()
        .filter(|e| e["message"] == "window completed")
        .count() as u64;
    assert_eq!(windows, total(report, "windows_completed"));
    for e in events.iter().filter(|e| e["message"] == "window listed") {
        assert_eq!(e["status"], "listed");
        assert!(e["window"].is_string() && e["content_type"].is_string());
    }
    // Per job, at info: started, finished with its outcome.
    let started: Vec<_> = events
        .iter()
        .filter(|e| e["message"] == "job started")
        .collect();
    let finished: Vec<_> = events
        .iter()
        .filter(|e| e["message"] == "job finished")
        .collect();
    assert_eq!((started.len(), finished.len()), (1, 1));
    assert_eq!(started[0]["level"], "INFO");
    assert_eq!(started[0]["job"], "t");
    assert_eq!(finished[0]["level"], "INFO");
    assert_eq!(finished[0]["status"], "done");
    assert_eq!(finished[0]["exit_code"], 0);
    assert_eq!(
        finished[0]["records_written"].as_u64(),
        Some(total(report, "records_written"))
    );

    // A job file that does not load: its diagnostic is a JSON event too, and the valid job still runs.
    std::fs::write(
        env.job_file.with_file_name("bad.yaml"),
        "version: 1\nname: Bad Name\n",
    )
    .unwrap();
    let dir = env.job_file.parent().unwrap().display().to_string();
    let mut c = env.command(&["--log-format", "json", "run", &dir]);
    c.env_remove("RUST_LOG");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let lines = json_lines(&out.stderr);
    let rejected: Vec<_> = lines
        .iter()
        .filter(|l| l["level"] == "ERROR" && l["status"] == "invalid")
        .collect();
    assert_eq!(rejected.len(), 1, "{lines:?}");
    assert!(
        rejected[0]["message"]
            .as_str()
            .unwrap()
            .contains("bad.yaml"),
        "{rejected:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "job finished" && l["job"] == "t")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_verbosity_logs_the_job_not_each_blob_and_draws_no_bars_without_a_terminal() {
    let env = setup(content(44, 2, 0), Faults::default(), DEFAULT_SYNC).await;
    let job = env.job();
    let mut c = env.command(&["run", &job]);
    c.env_remove("RUST_LOG").env("TERM", "xterm-256color");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\x1b'),
        "no escape codes without a terminal: {stderr:?}"
    );
    assert!(!stderr.contains('\r'), "no bar redraws: {stderr:?}");
    assert!(!stderr.contains("windows ·"), "no progress bar: {stderr}");
    let log: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" INFO ") || l.contains(" WARN ") || l.contains(" DEBUG "))
        .collect();
    assert_eq!(
        log.iter().filter(|l| l.contains("job started")).count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        log.iter().filter(|l| l.contains("job finished")).count(),
        1,
        "{stderr}"
    );
    for l in &log {
        assert!(!l.contains(" DEBUG "), "{l}");
        assert!(
            !l.contains("content_id"),
            "no per-blob line at the default level: {l}"
        );
        assert!(
            !l.contains("window="),
            "no per-window line at the default level: {l}"
        );
    }
    assert!(
        log.iter().any(|l| l.contains("job finished")
            && l.contains("job=t")
            && l.contains("status=\"done\"")),
        "{stderr}"
    );
    // The run report follows the log.
    assert!(stderr.contains("run t: done (exit 0)"), "{stderr}");

    // Backfill draws no bars either.
    let mut c = env.command(&["backfill", &job, "--from", "3h", "--to", "1h"]);
    c.env_remove("RUST_LOG").env("TERM", "xterm-256color");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "{stderr:?}"
    );
    assert!(stderr.contains("backfill t"), "{stderr}");
}

/// Single-quotes `s` for `sh -c`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// On a terminal (a pseudo-terminal from util-linux `script`), `run` draws bars, and every log line stays whole on
/// its own line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_bars_are_drawn_and_log_lines_stay_whole() {
    let script = std::path::Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!(
            "SKIPPED: util-linux `script` is not installed (no pseudo-terminal to run under)"
        );
        return;
    }
    // Slow requests keep the run going long enough for the ticker to redraw (the first frame is drawn at once).
    let faults = Faults {
        latency_ms: 20,
        ..Faults::default()
    };
    let env = setup(content(45, 3, 0), faults, DEFAULT_SYNC).await;
    let cmd = format!(
        "{} --state-dir {} run {}",
        sh_quote(env!("CARGO_BIN_EXE_o365sync")),
        sh_quote(&env.state_dir.display().to_string()),
        sh_quote(&env.job()),
    );
    let mut c = std::process::Command::new(script);
    c.args(["-qefc", &cmd, "/dev/null"])
        .env_remove("RUST_LOG")
        .env_remove("O365SYNC_STATE_DIR")
        .env_remove("O365SYNC_TEST_PAUSE_AT")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .stdin(std::process::Stdio::null());
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{transcript}");
    assert!(
        transcript.contains("windows ·") && transcript.contains("records ("),
        "a progress bar was drawn: {transcript:?}"
    );
    assert!(transcript.contains("t Audit.Exchange"), "{transcript:?}");
    // Each log line is written whole, between bar frames: no frame inside it.
    let segments: Vec<&str> = transcript.split(['\n', '\r']).collect();
    for needle in ["job started", "job finished"] {
        let hits: Vec<&&str> = segments.iter().filter(|s| s.contains(needle)).collect();
        assert_eq!(hits.len(), 1, "{needle}: {transcript:?}");
        assert!(!hits[0].contains("windows ·"), "{hits:?}");
    }
    assert!(
        transcript.contains("run t: done (exit 0)"),
        "{transcript:?}"
    );
    assert!(!env.delivered().is_empty());
}
