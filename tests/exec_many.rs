//! Many jobs in one run (`run --max-jobs`, turns) and the service mode (`run --every`), with the real binary
//! against the in-process emulator.

mod exec_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use exec_support::*;
use o365sync::emulator::Faults;

/// Writes a job `name` next to the harness's job file: the same tenant, its own sink directory `out-<name>`, with
/// `start` and the content types given.
fn add_job(env: &Env, name: &str, start: &str, content_types: &str) -> PathBuf {
    let yaml = std::fs::read_to_string(&env.job_file)
        .unwrap()
        .replace(
            "name: t\n",
            &format!("name: {name}\ncontent_types: [{content_types}]\n"),
        )
        .replace("start: 2d", &format!("start: {start}"))
        .replace("path: ../out", &format!("path: ../out-{name}"));
    let file = env.job_file.with_file_name(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    file
}

/// Every JSON run report on `stderr`, by job name.
fn reports(stderr: &[u8]) -> std::collections::BTreeMap<String, serde_json::Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("content_types").is_some())
        .map(|v| (v["job"].as_str().unwrap().to_owned(), v))
        .collect()
}

/// The log event of the run's summary (`run over: …`).
fn summary(stderr: &[u8]) -> serde_json::Value {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["peak_jobs"].is_u64())
        .unwrap_or_else(|| panic!("no run summary in {}", String::from_utf8_lossy(stderr)))
}

async fn runs_of(env: &Env, job: &Path) -> Vec<serde_json::Value> {
    let out = env
        .run(&["state", "show", &job.display().to_string(), "--json"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["runs"].as_array().cloned().unwrap_or_default()
}

fn ts(v: &serde_json::Value) -> jiff::Timestamp {
    v.as_str().expect("timestamp").parse().expect("RFC 3339")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_a_long_backlog_yields_its_turn_and_the_others_are_not_starved() {
    let faults = Faults {
        latency_ms: 5,
        ..Faults::default()
    };
    let env = setup(content(31, 30, 0), faults, DEFAULT_SYNC).await;
    // the harness's job (`t`, 2 days of every content type) comes first in the directory; three small jobs after it
    let small: Vec<PathBuf> = (1..=3)
        .map(|i| add_job(&env, &format!("small-{i}"), "3h", "Audit.General"))
        .collect();
    let big = env.job_file.with_file_name("a-big.yaml");
    std::fs::rename(&env.job_file, &big).unwrap();
    let dir = env.job_file.parent().unwrap().display().to_string();
    let mut c = env.command(&["--log-format", "json", "run", "--max-jobs", "1", &dir]);
    c.env("O365SYNC_TEST_TURN_MS", "150")
        .env("RUST_LOG", "info");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let reports = reports(&out.stderr);
    assert_eq!(reports.len(), 4, "{stderr}");
    let summary = summary(&out.stderr);
    assert_eq!(summary["peak_jobs"], 1, "{summary}");
    let big_turns = reports["t"]["turns"].as_u64().unwrap();
    assert!(big_turns >= 2, "the big job yielded: {}", reports["t"]);

    // the big job is exact over its turns: every record once
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());
    // each small job ran to its end, once per record, while the big one still had work
    let big_runs = runs_of(&env, &big).await;
    assert_eq!(
        big_runs.len() as u64,
        big_turns,
        "one run recorded per turn"
    );
    let big_end = big_runs.iter().map(|r| ts(&r["ended"])).max().unwrap();
    let general: BTreeSet<String> = env
        .emu
        .ground_truth()
        .of(o365sync::content_type::ContentType::General);
    for (i, job) in small.iter().enumerate() {
        let name = format!("small-{}", i + 1);
        assert_eq!(reports[&name]["outcome"], "done", "{}", reports[&name]);
        let ids = delivered_ids(&env.dir.path().join(format!("out-{name}")));
        assert!(!ids.is_empty(), "{name} delivered records");
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), ids.len(), "{name}: no record twice");
        assert!(unique.is_subset(&general), "{name}: only its content type");
        let runs = runs_of(&env, job).await;
        let end = runs.iter().map(|r| ts(&r["ended"])).max().unwrap();
        assert!(
            end < big_end,
            "{name} finished ({end}) before the big job's last turn ({big_end})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_jobs_runs_every_job_and_never_more_at_once() {
    // 12 tenants, one job each; the emulator counts how many distinct tenants it serves at the same instant
    let faults = Faults {
        latency_ms: 20,
        ..Faults::default()
    };
    let env = setup_with(content(32, 4, 0), faults, DEFAULT_SYNC, |c| c.tenants = 12).await;
    let tenants = env.emu.tenant_ids();
    for (i, tenant) in tenants.iter().enumerate().skip(1) {
        let file = add_job(&env, &format!("j{i:02}"), "5h", "Audit.Exchange");
        let yaml = std::fs::read_to_string(&file)
            .unwrap()
            .replace(env.emu.tenant_id(), tenant);
        std::fs::write(&file, yaml).unwrap();
    }
    let dir = env.job_file.parent().unwrap().display().to_string();
    let mut c = env.command(&["--log-format", "json", "run", "--max-jobs", "3", &dir]);
    c.env("RUST_LOG", "info");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // seen from outside: never more than 3 tenants' requests in flight at once, yet more than one at times
    let stats = env.emu.stats();
    assert!(
        (2..=3).contains(&stats.peak_tenants_in_flight),
        "peak tenants in flight {}",
        stats.peak_tenants_in_flight
    );
    let summary = summary(&out.stderr);
    let peak = summary["peak_jobs"].as_u64().unwrap();
    assert!((2..=3).contains(&peak), "{summary}");
    assert_eq!(reports(&out.stderr).len(), 12);
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());
    for (i, tenant) in tenants.iter().enumerate().skip(1) {
        let truth = env
            .emu
            .ground_truth_of(tenant)
            .unwrap()
            .of(o365sync::content_type::ContentType::Exchange);
        let ids = delivered_ids(&env.dir.path().join(format!("out-j{i:02}")));
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), ids.len(), "job j{i:02}: no record twice");
        assert_eq!(unique, truth, "job j{i:02} is exact");
    }
}

fn sigterm(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

async fn wait_exit(mut child: Child, within: Duration) -> std::process::Output {
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "still running after {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_repeats_the_run_releasing_the_lock_between_runs_and_stops_on_sigterm() {
    let env = setup(content(33, 3, 0), Faults::default(), DEFAULT_SYNC).await;
    let job = env.job();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let child = env
        .command(&[
            "--log-format",
            "json",
            "run",
            "--every",
            "1s",
            "--metrics-listen",
            &listen,
            &job,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // two runs recorded, each ended: the lock was taken and released by each
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = runs_of(&env, &env.job_file).await;
        if runs.len() >= 2 && runs.iter().all(|r| r["ended"].is_string()) {
            break;
        }
        assert!(Instant::now() < deadline, "no second run: {runs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // between runs the job is free: another command takes its lock
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = env
            .run(&["state", "forget", &job, "--content-type", "DLP.All"])
            .await;
        // exit 2: the job still collects DLP.All (so nothing changes), after its lock was taken; 75: locked
        match out.status.code() {
            Some(75) => {
                assert!(
                    Instant::now() < deadline,
                    "the lock was never free between runs"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => break,
        }
    }
    // the metrics over HTTP: the job's series, and the process's run counter past the two runs
    let body = reqwest::get(format!("http://{listen}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .unwrap();
    let value = |prefix: &str| -> f64 {
        body.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {body}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(value("o365sync_runs_total ") >= 2.0, "{body}");
    assert_eq!(value("o365sync_run_failures_total "), 0.0, "{body}");
    assert_eq!(value("o365sync_jobs_queued "), 0.0, "{body}");
    assert_eq!(
        value("o365sync_last_run_exit_code{job=\"t\"}"),
        0.0,
        "{body}"
    );
    assert!(
        body.contains("o365sync_watermark_timestamp_seconds{"),
        "{body}"
    );
    sigterm(&child);
    let out = wait_exit(child, Duration::from_secs(15)).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());
    // the server stopped with the process
    assert!(
        reqwest::get(format!("http://{listen}/metrics"))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stopped_mid_blob_loses_nothing_and_the_next_start_delivers_the_rest_once() {
    let faults = Faults {
        latency_ms: 40,
        ..hostile()
    };
    let env = setup(content(34, 12, 0), faults, DEFAULT_SYNC).await;
    let job = env.job();
    let child = env
        .command(&["--log-format", "json", "run", "--every", "10m", &job])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.delivered().len() < 40 {
        assert!(Instant::now() < deadline, "nothing delivered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sigterm(&child);
    let out = wait_exit(child, Duration::from_secs(30)).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report = last_json(&out.stderr);
    assert_eq!(report["interrupted"], true, "stopped mid-run: {report}");
    let partial = env.delivered();
    let truth = env.emu.ground_truth().all();
    assert!(partial.len() < truth.len(), "stopped before the end");
    let once: BTreeSet<&String> = partial.iter().collect();
    assert_eq!(once.len(), partial.len(), "nothing twice before the stop");

    // the next start (the service restarted) delivers what was pending, nothing twice
    let child = env
        .command(&["--log-format", "json", "run", "--every", "10m", &job])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let runs = runs_of(&env, &env.job_file).await;
        if runs.len() >= 2 && runs[0]["ended"].is_string() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second start did not finish its run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sigterm(&child);
    let out = wait_exit(child, Duration::from_secs(15)).await;
    assert_eq!(out.status.code(), Some(0));
    assert_exact(&env.delivered(), &truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_jobs_is_lowered_to_what_the_open_files_limit_allows() {
    let env = setup(content(35, 2, 0), Faults::default(), DEFAULT_SYNC).await;
    for i in 0..29 {
        add_job(&env, &format!("k{i:02}"), "3h", "Audit.SharePoint");
    }
    let dir = env.job_file.parent().unwrap().display().to_string();
    let bin = env!("CARGO_BIN_EXE_o365sync");
    let state = env.state_dir.display().to_string();
    // a hard limit of 700 open files: (700 - 128) / 32 = 17 jobs at once
    let mut c = std::process::Command::new("bash");
    c.args([
        "-c",
        &format!(
            "ulimit -Sn 256 && ulimit -Hn 700 && exec {bin} --state-dir {state} --log-format json run --max-jobs 100 {dir}"
        ),
    ])
    .env("RUST_LOG", "info")
    .env_remove("O365SYNC_STATE_DIR");
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "100 jobs at once need 3328 open files but the limit is 700: running 17 at once"
        ),
        "{stderr}"
    );
    let peak = summary(&out.stderr)["peak_jobs"].as_u64().unwrap();
    assert!((1..=17).contains(&peak), "peak {peak}");
    assert_eq!(reports(&out.stderr).len(), 30);
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_run_every_job_exactly_once_between_them() {
    let env = setup(content(36, 2, 0), Faults::default(), DEFAULT_SYNC).await;
    let names: Vec<String> = (0..9).map(|i| format!("tenant-{i}-audit")).collect();
    for name in &names {
        add_job(&env, name, "3h", "Audit.General");
    }
    std::fs::remove_file(&env.job_file).unwrap();
    let dir = env.job_file.parent().unwrap().display().to_string();
    // what `shards` says each of 3 shards runs
    let out = env.run(&["shards", &dir, "--count", "3", "--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let assignment: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ran_by: std::collections::BTreeMap<String, String> = Default::default();
    for index in 0..3 {
        // shard 1 through the environment, as a pod name; the others through the flag
        let mut c = if index == 1 {
            let mut c = env.command(&["--log-format", "json", "run", &dir]);
            c.env("O365SYNC_SHARD", "o365sync-1/3");
            c
        } else {
            env.command(&[
                "--log-format",
                "json",
                "run",
                "--shard",
                &format!("{index}/3"),
                &dir,
            ])
        };
        let out = tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ran: BTreeSet<String> = reports(&out.stderr).into_keys().collect();
        let expected: BTreeSet<String> = assignment["shards"][index]["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            ran, expected,
            "shard {index} ran the jobs `shards` assigned it"
        );
        for job in ran {
            assert!(
                ran_by.insert(job.clone(), index.to_string()).is_none(),
                "{job} ran in two shards"
            );
        }
    }
    // together: every job once, each exact
    assert_eq!(ran_by.keys().cloned().collect::<Vec<_>>(), {
        let mut n = names.clone();
        n.sort();
        n
    });
    let general = env
        .emu
        .ground_truth()
        .of(o365sync::content_type::ContentType::General);
    for name in &names {
        let ids = delivered_ids(&env.dir.path().join(format!("out-{name}")));
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), ids.len(), "{name}: no record twice");
        assert!(!unique.is_empty() && unique.is_subset(&general), "{name}");
    }
    // a bad shard is a usage error before anything runs
    let out = env.run(&["run", "--shard", "3/3", &dir]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("shard index 3 is not below the count 3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
