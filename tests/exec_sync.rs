//! The executor's guarantees against the emulator with faults on, through the real binary: complete and exact,
//! idempotent, late content, overlap (exit 75), gaps (exit 3, shown by `state show`), `state reset`, graceful stop.

mod exec_support;

use std::collections::BTreeSet;
use std::time::Duration;

use exec_support::*;
use o365sync::emulator::Faults;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_and_exact_over_30_hours_then_idempotent() {
    let env = setup(content(11, 30, 0), hostile(), DEFAULT_SYNC).await;
    let truth = env.emu.ground_truth().all();
    assert!(truth.len() > 2000, "30 hours of five content types");

    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "first run: {report}");
    assert_exact(&env.delivered(), &truth);
    assert_eq!(total(&report, "records_written") as usize, truth.len());
    assert!(
        total(&report, "records_duplicate") > 0,
        "the emulator repeats records across blobs"
    );
    let stats = env.emu.stats();
    assert!(
        stats.faults.transient_500 + stats.faults.transient_503 > 0,
        "faults were on"
    );
    assert_eq!(
        stats.requests.subscriptions_start, 5,
        "the fresh tenant's five subscriptions were started"
    );
    assert!(report["requests"].as_u64().unwrap() > 0);

    // Idempotent: the second run fetches no blob again and delivers nothing new.
    let fetches = env.emu.stats().requests.blob_fetch;
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "second run: {report}");
    assert_eq!(
        env.emu.stats().requests.blob_fetch,
        fetches,
        "no blob fetched again"
    );
    assert_eq!(total(&report, "blobs_fetched"), 0);
    assert_eq!(total(&report, "records_written"), 0);
    assert!(
        total(&report, "blobs_skipped") > 0,
        "the lookback was listed again and skipped"
    );
    assert_eq!(
        env.emu.stats().requests.subscriptions_start,
        5,
        "enabled subscriptions are not started again"
    );
    assert_exact(&env.delivered(), &truth);

    // Every content type's watermark reached the run's now.
    let state = env.state_json().await;
    for ct in state["content_types"].as_array().unwrap() {
        assert!(ct["watermark"].is_string(), "{ct}");
        assert_eq!(ct["ledger"]["pending"], 0, "{ct}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_content_is_picked_up_inside_the_lookback_without_duplicates() {
    let sync = SyncKeys {
        start: "1d",
        window: "1h",
        lookback: "8h",
    };
    let env = setup(content(12, 6, 1), hostile(), sync).await;
    let late: BTreeSet<String> = env
        .emu
        .blobs()
        .into_iter()
        .filter(|b| b.late)
        .flat_map(|b| b.record_ids)
        .collect();
    let regular: BTreeSet<String> = env
        .emu
        .blobs()
        .into_iter()
        .filter(|b| !b.late)
        .flat_map(|b| b.record_ids)
        .collect();
    assert!(
        !late.is_subset(&regular),
        "late blobs carry records of their own"
    );

    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_exact(&env.delivered(), &regular);

    assert!(env.emu.release_late() > 0);
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(
        total(&report, "blobs_fetched"),
        5,
        "one late blob per content type"
    );
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_while_one_holds_the_lock_exits_75_and_changes_nothing() {
    let env = setup(content(13, 4, 0), Faults::default(), DEFAULT_SYNC).await;
    let job = env.job();
    let mut first = env.start_paused(&["run", &job], "commit:3").await;
    let before = env.state_json().await;
    let files_before = env.delivered();

    let second = env.run(&["run", &job]).await;
    assert_eq!(
        second.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(String::from_utf8_lossy(&second.stderr).contains("lock"));
    let backfill = env
        .run(&["backfill", &job, "--from", "3h", "--to", "1h"])
        .await;
    assert_eq!(backfill.status.code(), Some(75));
    let reset = env.run(&["state", "reset", &job, "--to", "1h"]).await;
    assert_eq!(reset.status.code(), Some(75));

    let mut after = env.state_json().await;
    // the runs list is the same too: the refused runs left no trace
    after["runs"] = before["runs"].clone();
    assert_eq!(before, after);
    assert_eq!(files_before, env.delivered());
    first.kill().expect("kill");
    let _ = first.wait();

    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_content_is_a_recorded_gap_exit_3_and_shown_by_state_show() {
    let env = setup(content(14, 4, 0), hostile(), DEFAULT_SYNC).await;
    let blobs = env.emu.blobs();
    let victim = blobs.iter().find(|b| !b.late).expect("a blob");
    assert!(env.emu.expire_blob(&victim.content_id));

    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(3), "{report}");
    assert_eq!(total(&report, "blob_gaps"), 1);
    assert_eq!(report["gaps_recorded"], 1);
    // everything else arrived
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());

    let state = env.state_json().await;
    let gaps = state["gaps"].as_array().expect("gaps");
    assert_eq!(gaps.len(), 1, "{state}");
    assert_eq!(gaps[0]["content_id"], victim.content_id.as_str());
    assert_eq!(gaps[0]["reason"], "expired_content");
    let text = env.run(&["state", "show", &env.job()]).await;
    assert!(String::from_utf8_lossy(&text.stdout).contains(&victim.content_id));

    // The gap is terminal: the window completed, and the next run records nothing new.
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["gaps_recorded"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_reset_rereads_from_there_without_duplicates() {
    let env = setup(content(15, 8, 0), Faults::default(), DEFAULT_SYNC).await;
    let truth = env.emu.ground_truth().all();
    let (out, _) = env.sync().await;
    assert_eq!(out.status.code(), Some(0));
    let job = env.job();
    // `plan` reads the checkpoints the run left
    let plan = env.run(&["plan", &job, "--json"]).await;
    assert!(plan.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
    for ct in plan["content_types"].as_array().unwrap() {
        assert!(ct["watermark"].is_string(), "{ct}");
    }

    let reset = env
        .run(&[
            "state",
            "reset",
            &job,
            "--content-type",
            "Audit.Exchange",
            "--to",
            "6h",
        ])
        .await;
    assert_eq!(
        reset.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    assert!(String::from_utf8_lossy(&reset.stdout).contains("Audit.Exchange"));
    let state = env.state_json().await;
    let exchange = state["content_types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["content_type"] == "Audit.Exchange")
        .unwrap()
        .clone();
    let wm: jiff::Timestamp = exchange["watermark"].as_str().unwrap().parse().unwrap();
    assert!(jiff::Timestamp::now().duration_since(wm) >= jiff::SignedDuration::from_hours(6));

    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let ex = report["content_types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["content_type"] == "Audit.Exchange")
        .unwrap();
    assert!(
        ex["windows_listed"].as_u64().unwrap() >= 6,
        "re-read from the reset point: {ex}"
    );
    assert!(ex["blobs_skipped"].as_u64().unwrap() >= 10, "{ex}");
    assert_eq!(ex["records_written"], 0);
    assert_exact(&env.delivered(), &truth);

    let bad = env
        .run(&[
            "state",
            "reset",
            &job,
            "--content-type",
            "Nope",
            "--to",
            "1h",
        ])
        .await;
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully_and_the_next_run_completes_exactly() {
    let faults = Faults {
        latency_ms: 30,
        ..hostile()
    };
    let env = setup(content(16, 12, 0), faults, DEFAULT_SYNC).await;
    let job = env.job();
    let mut child = env
        .command(&["--log-format", "json", "run", &job])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    // wait until some blobs were delivered, then ask it to stop
    while env.delivered().len() < 50 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be stopped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(kill.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .unwrap();
    let report = last_json(&out.stderr);
    assert_eq!(report["interrupted"], true, "{report}");
    assert_eq!(out.status.code(), Some(1));
    let partial = env.delivered();
    assert!(
        partial.len() < env.emu.ground_truth().len(),
        "stopped before the end"
    );

    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_over_a_directory_runs_every_job_and_combines_exit_codes() {
    let env = setup(content(17, 3, 0), Faults::default(), DEFAULT_SYNC).await;
    // a second job of the same tenant, into its own sink
    let second = std::fs::read_to_string(&env.job_file)
        .unwrap()
        .replace("name: t", "name: t2")
        .replace("path: ../out", "path: ../out2");
    std::fs::write(env.job_file.with_file_name("t2.yaml"), second).unwrap();
    let dir = env.job_file.parent().unwrap().display().to_string();
    let out = env.run(&["--log-format", "json", "run", &dir]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth = env.emu.ground_truth().all();
    assert_exact(&env.delivered(), &truth);
    assert_exact(&delivered_ids(&env.dir.path().join("out2")), &truth);

    // one job locked by a paused run: the other still runs, and the combined code is 75
    let mut paused = env.start_paused(&["run", &env.job()], "listed:1").await;
    let out = env.run(&["run", &dir]).await;
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    paused.kill().unwrap();
    let _ = paused.wait();

    // an invalid file among them: the valid job runs, the exit code is 2
    std::fs::write(
        env.job_file.with_file_name("bad.yaml"),
        "version: 1\nname: Bad Name\n",
    )
    .unwrap();
    let out = env.run(&["run", &dir]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_sink_closed_by_its_reader_is_a_clean_exit_and_the_rest_comes_next_time() {
    use std::io::BufRead;
    let env = setup(content(18, 6, 0), Faults::default(), DEFAULT_SYNC).await;
    let yaml = std::fs::read_to_string(&env.job_file)
        .unwrap()
        .replace("  type: jsonl\n  path: ../out\n", "  type: stdout\n");
    std::fs::write(&env.job_file, yaml).unwrap();
    let job = env.job();
    let mut child = env
        .command(&["run", &job])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).expect("one line");
        line
        // the reader goes away here, like `| head -n 1`
    })
    .await
    .unwrap();
    let event: serde_json::Value = serde_json::from_str(&first).expect("an OCSF event");
    assert!(event["metadata"]["uid"].is_string());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth = env.emu.ground_truth().all();
    let ledger = env.state_json().await["record_ledger"].as_u64().unwrap() as usize;
    assert!(
        ledger < truth.len(),
        "stopped early: {ledger} of {}",
        truth.len()
    );

    // the next run, with a reader that stays, delivers the rest: every record once over both runs
    let out = env.run(&["run", &job]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["metadata"]["uid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no record twice in the second run");
    assert_eq!(ids.len() + ledger, truth.len());
    assert_eq!(
        env.state_json().await["record_ledger"].as_u64().unwrap() as usize,
        truth.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watermark_older_than_retention_becomes_a_recorded_gap_exit_3() {
    let env = setup(content(19, 2, 0), Faults::default(), DEFAULT_SYNC).await;
    let job = env.job();
    let (out, _) = env.sync().await;
    assert_eq!(out.status.code(), Some(0));

    // moved back past the API's retention: the unreadable part is a gap, the readable part is re-listed
    let reset = env
        .run(&[
            "state",
            "reset",
            &job,
            "--content-type",
            "Audit.Exchange",
            "--to",
            "8d",
        ])
        .await;
    assert_eq!(
        reset.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(3), "{report}");
    // the planner's gap, plus (usually) the second or so the retention limit moved on between planning and
    // listing, which the API client cut from the first readable window: adjacent, and also recorded
    assert!((1..=2).contains(&total(&report, "window_gaps")), "{report}");
    assert_eq!(
        total(&report, "records_written"),
        0,
        "nothing delivered twice"
    );
    let state = env.state_json().await;
    let gaps = state["gaps"].as_array().unwrap();
    assert!((1..=2).contains(&gaps.len()), "{state}");
    for g in gaps {
        assert_eq!(g["reason"], "beyond_retention");
        assert_eq!(g["content_type"], "Audit.Exchange");
    }
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());

    // the gap is terminal: the watermark passed it and the next run is clean
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_failure_exits_1_keeps_what_completed_and_the_next_run_finishes() {
    let faults = Faults {
        foreign_next_page: true,
        ..Faults::default()
    };
    let env = setup_with(content(20, 4, 0), faults, DEFAULT_SYNC, |c| c.page_size = 1).await;
    let truth = env.emu.ground_truth().all();
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(total(&report, "windows_failed") > 0, "{report}");
    let first = env.delivered();
    assert!(first.len() < truth.len());
    let state = env.state_json().await;
    for ct in state["content_types"].as_array().unwrap() {
        // the watermark stays before the first incomplete window
        let wm: jiff::Timestamp = ct["watermark"].as_str().unwrap().parse().unwrap();
        assert!(
            jiff::Timestamp::now().duration_since(wm) > jiff::SignedDuration::from_mins(30),
            "{ct}"
        );
    }

    env.emu.set_faults(Faults::default()).expect("faults off");
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_exact(&env.delivered(), &truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_database_is_a_clear_error_never_a_silent_reset() {
    let env = setup(content(22, 1, 0), Faults::default(), DEFAULT_SYNC).await;
    std::fs::create_dir_all(&env.state_dir).unwrap();
    let db = env.state_dir.join("t.sqlite3");
    let garbage = b"this is not a SQLite database, and o365sync must not replace it".repeat(100);
    std::fs::write(&db, &garbage).unwrap();
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(1), "{report}");
    let error = report["error"].as_str().expect("the error is reported");
    assert!(error.contains("t.sqlite3"), "{error}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        garbage,
        "the damaged file is left alone"
    );
    assert!(env.delivered().is_empty(), "nothing was fetched or written");
    assert_eq!(env.emu.stats().requests.blob_fetch, 0);
}
