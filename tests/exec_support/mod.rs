//! Shared harness of the executor tests: an in-process emulator on 127.0.0.1:0, a job file in a temporary
//! directory pointing at it, and the real `o365sync` binary run against both (so locks, signals and SIGKILL are
//! real).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use o365sync::content_type::ContentType;
use o365sync::emulator::{
    ContentSettings, Emulator, EmulatorConfig, EmulatorHandle, Faults, throwaway_certificate,
};
use tempfile::TempDir;

/// The faults every guarantee is tested under: transient 5xx and cut-off bodies.
pub fn hostile() -> Faults {
    Faults {
        transient_error_rate: 0.05,
        truncated_body_rate: 0.05,
        ..Faults::default()
    }
}

/// Content: `hours` of history, 2 blobs per hour per content type, 10 records each, duplicates on.
pub fn content(seed: u64, hours: u32, late_blobs: u32) -> ContentSettings {
    ContentSettings {
        seed,
        hours,
        late_blobs,
        ..ContentSettings::default()
    }
}

pub struct Env {
    pub dir: TempDir,
    pub emu: EmulatorHandle,
    pub job_file: PathBuf,
    pub state_dir: PathBuf,
    pub out_dir: PathBuf,
}

/// The job file's `sync:` section.
pub struct SyncKeys {
    pub start: &'static str,
    pub window: &'static str,
    pub lookback: &'static str,
}

pub const DEFAULT_SYNC: SyncKeys = SyncKeys {
    start: "2d",
    window: "1h",
    lookback: "2h",
};

pub async fn setup(content: ContentSettings, faults: Faults, sync: SyncKeys) -> Env {
    setup_with(content, faults, sync, |_| {}).await
}

/// [`setup`] with a last say over the emulator's configuration.
pub async fn setup_with(
    content: ContentSettings,
    faults: Faults,
    sync: SyncKeys,
    configure: impl FnOnce(&mut EmulatorConfig),
) -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let cert = throwaway_certificate("o365sync exec tests").expect("certificate");
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs dir");
    std::fs::write(certs.join("certificate.pem"), &cert.certificate_pem).expect("cert");
    std::fs::write(certs.join("key.pem"), &cert.private_key_pem).expect("key");
    let mut config = EmulatorConfig::trusting(cert.certificate_der.clone());
    config.content = content;
    config.faults = faults;
    configure(&mut config);
    let emu = Emulator::start(config).await.expect("emulator starts");
    let jobs = dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).expect("jobs dir");
    let job_file = jobs.join("t.yaml");
    let yaml = format!(
        "version: 1
name: t
tenant:
  id: {tenant}
  cloud: commercial
  client_id: {client}
  certificate: ../certs/certificate.pem
  private_key: ../certs/key.pem
sync:
  start: {start}
  window: {window}
  lookback: {lookback}
  max_requests_per_minute: 10000
sink:
  type: jsonl
  path: ../out
endpoints:
  login: {url}
  api: {url}
  graph: {url}
",
        tenant = emu.tenant_id(),
        client = emu.client_id(),
        url = emu.url(),
        start = sync.start,
        window = sync.window,
        lookback = sync.lookback,
    );
    std::fs::write(&job_file, yaml).expect("job file");
    Env {
        state_dir: dir.path().join("state"),
        out_dir: dir.path().join("out"),
        job_file,
        emu,
        dir,
    }
}

impl Env {
    /// The binary with `--state-dir` and the given arguments.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_o365sync"));
        c.arg("--state-dir").arg(&self.state_dir);
        c.args(args);
        c.env_remove("O365SYNC_TEST_PAUSE_AT");
        c.env_remove("O365SYNC_STATE_DIR");
        c.env("RUST_LOG", "warn");
        c
    }

    /// Runs the binary to its end (off the runtime's worker so the in-process emulator keeps serving).
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        tokio::task::spawn_blocking(move || c.output().expect("binary runs"))
            .await
            .expect("join")
    }

    /// `run <job>` with the JSON run report.
    pub async fn sync(&self) -> (Output, serde_json::Value) {
        let job = self.job_file.display().to_string();
        let out = self.run(&["--log-format", "json", "run", &job]).await;
        let report = last_json(&out.stderr);
        (out, report)
    }

    /// Starts the binary with a pause point (`ack:N` or `commit:N`) and waits until it is reached.
    pub async fn start_paused(&self, args: &[&str], at: &str) -> Child {
        let flag = self
            .dir
            .path()
            .join(format!("paused-{}", at.replace(':', "-")));
        let _ = std::fs::remove_file(&flag);
        let mut c = self.command(args);
        c.env("O365SYNC_TEST_PAUSE_AT", at)
            .env("O365SYNC_TEST_PAUSE_FILE", &flag)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = c.spawn().expect("binary starts");
        loop {
            if flag.exists() {
                return child;
            }
            if let Some(status) = child.try_wait().expect("wait") {
                panic!("the run ended ({status}) before reaching pause point {at}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Replaces the job file's `sink:` section (a jsonl sink to `../out`) with `section` (its indented keys).
    pub fn set_sink(&self, section: &str) {
        let yaml = std::fs::read_to_string(&self.job_file).expect("job file");
        let old = "sink:\n  type: jsonl\n  path: ../out\n";
        assert!(yaml.contains(old), "the job file has the default sink");
        std::fs::write(
            &self.job_file,
            yaml.replace(old, &format!("sink:\n{section}")),
        )
        .expect("job file");
    }

    pub fn job(&self) -> String {
        self.job_file.display().to_string()
    }

    /// Every record Id in the sink's files (one entry per line: duplicates show up twice).
    pub fn delivered(&self) -> Vec<String> {
        delivered_ids(&self.out_dir)
    }

    /// `state show --json`.
    pub async fn state_json(&self) -> serde_json::Value {
        let job = self.job();
        let out = self.run(&["state", "show", &job, "--json"]).await;
        assert!(
            out.status.success(),
            "state show: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("state show prints JSON")
    }
}

/// The last line of `stderr` that parses as a JSON object (the run report).
pub fn last_json(stderr: &[u8]) -> serde_json::Value {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .filter(|v| v.get("content_types").is_some())
        })
        .unwrap_or_else(|| panic!("no run report in: {}", String::from_utf8_lossy(stderr)))
}

/// Sums a counter over the report's content types.
pub fn total(report: &serde_json::Value, key: &str) -> u64 {
    report["content_types"]
        .as_array()
        .expect("content types")
        .iter()
        .map(|c| c[key].as_u64().expect("counter"))
        .sum()
}

pub fn delivered_ids(dir: &Path) -> Vec<String> {
    delivered_events(dir)
        .iter()
        .map(|v| {
            v["metadata"]["uid"]
                .as_str()
                .expect("metadata.uid")
                .to_owned()
        })
        .collect()
}

/// Every event in the jsonl sink's files below `dir` (one entry per line).
pub fn delivered_events(dir: &Path) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    for p in o365sync::sink::jsonl::files_below(dir) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        assert!(name.ends_with(".jsonl"), "unexpected file {}", p.display());
        for line in std::fs::read_to_string(&p).expect("read").lines() {
            events.push(serde_json::from_str(line).expect("each line is JSON"));
        }
    }
    events
}

/// Asserts each Id appears once and the set is exactly `truth`.
pub fn assert_exact(delivered: &[String], truth: &BTreeSet<String>) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in delivered {
        *counts.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(
        twice.is_empty(),
        "records delivered more than once: {twice:?}"
    );
    let got: BTreeSet<String> = delivered.iter().cloned().collect();
    let missing: Vec<_> = truth.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(truth).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} records missing, e.g. {missing:?}",
        truth.len() - (got.len() - got.difference(truth).count())
    );
    assert!(
        extra.is_empty(),
        "records not in the ground truth: {extra:?}"
    );
}

pub fn all_types() -> Vec<ContentType> {
    ContentType::ALL.to_vec()
}
