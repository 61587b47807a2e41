//! A changed job file is reconciled with its state (issue 14), through the real binary against the in-process
//! emulator: a state of another tenant is refused before any request; `start` moved earlier reads the added time
//! once on the backfill track without moving the live watermark; content types added and removed; a sink change
//! and `backfill --redeliver`; `state rename` and the hint that names it.

mod exec_support;

use std::collections::BTreeSet;

use exec_support::*;
use o365sync::content_type::ContentType;
use o365sync::emulator::Faults;

fn edit(env: &Env, from: &str, to: &str) {
    let text = std::fs::read_to_string(&env.job_file).expect("job file");
    assert!(text.contains(from), "job file holds {from:?}:\n{text}");
    std::fs::write(&env.job_file, text.replacen(from, to, 1)).expect("job file written");
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Record Ids of the (not late) blobs of `ct` (every type when `None`) created at or after `from_ms`.
fn records_since(env: &Env, ct: Option<ContentType>, from_ms: i64) -> BTreeSet<String> {
    env.emu
        .blobs()
        .into_iter()
        .filter(|b| {
            !b.late && b.content_created_ms >= from_ms && ct.is_none_or(|c| c == b.content_type)
        })
        .flat_map(|b| b.record_ids)
        .collect()
}

fn ms(v: &serde_json::Value) -> i64 {
    v.as_str()
        .expect("an instant")
        .parse::<jiff::Timestamp>()
        .expect("RFC 3339")
        .as_millisecond()
}

async fn plan_json(env: &Env) -> serde_json::Value {
    let out = env.run(&["plan", &env.job(), "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "plan --json: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("plan --json prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_of_another_tenant_is_refused_before_any_request_and_rename_frees_the_name() {
    let a = setup(content(31, 6, 0), Faults::default(), DEFAULT_SYNC).await;
    let b = setup_with(content(32, 6, 0), Faults::default(), DEFAULT_SYNC, |c| {
        c.tenant_id = "0b5e2c1d-3f4a-4b6c-9d8e-7f6a5b4c3d2e".into();
    })
    .await;
    assert_ne!(a.emu.tenant_id(), b.emu.tenant_id());
    let (out, report) = a.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let runs_before = a.state_json().await["runs"].as_array().unwrap().len();

    // Another cloud for the same tenant is refused the same way, at tenant.cloud.
    edit(&a, "cloud: commercial", "cloud: gcc");
    let plan = a.run(&["plan", &a.job()]).await;
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    let at_cloud = format!("{}:5:10: ", a.job_file.display());
    assert!(stderr(&plan).contains(&at_cloud), "{}", stderr(&plan));
    edit(&a, "cloud: gcc", "cloud: commercial");

    // The job file now names tenant B (its endpoints and certificate), under the same name.
    let text = std::fs::read_to_string(&a.job_file).unwrap();
    let b_certs = b.dir.path().join("certs");
    let switched = text
        .replace(a.emu.tenant_id(), b.emu.tenant_id())
        .replace(a.emu.client_id(), b.emu.client_id())
        .replace(&a.emu.url(), &b.emu.url())
        .replace(
            "../certs/certificate.pem",
            &b_certs.join("certificate.pem").display().to_string(),
        )
        .replace(
            "../certs/key.pem",
            &b_certs.join("key.pem").display().to_string(),
        );
    std::fs::write(&a.job_file, switched).unwrap();

    // `plan` and `run` refuse with the located diagnostic at tenant.id, exit 2, before any request.
    let at = format!("{}:4:7: ", a.job_file.display());
    let plan = a.run(&["plan", &a.job()]).await;
    assert_eq!(plan.status.code(), Some(2), "{}", stderr(&plan));
    assert!(stderr(&plan).contains(&at), "{}", stderr(&plan));
    assert!(
        stderr(&plan).contains(a.emu.tenant_id()),
        "names the state's tenant"
    );
    assert!(
        stderr(&plan).contains("state rename t t-"),
        "says what to do"
    );
    let out = a.run(&["run", &a.job()]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&at), "{}", stderr(&out));
    let stats = b.emu.stats();
    assert_eq!(
        stats.requests.token, 0,
        "no token was requested from tenant B"
    );
    assert_eq!(
        stats.requests.content_list + stats.requests.subscriptions_list,
        0
    );
    let state = a.state_json().await;
    assert_eq!(
        state["identity"]["tenant_id"],
        a.emu.tenant_id(),
        "nothing written"
    );
    assert_eq!(
        state["runs"].as_array().unwrap().len(),
        runs_before,
        "no run recorded"
    );

    // Renaming the old state frees the name: the new tenant starts from its own `start`.
    let short = &a.emu.tenant_id()[..8];
    let renamed = format!("t-{short}");
    let out = a.run(&["state", "rename", "t", &renamed]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (out, report) = a.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let both: BTreeSet<String> = a
        .emu
        .ground_truth()
        .all()
        .union(&b.emu.ground_truth().all())
        .cloned()
        .collect();
    assert_exact(&a.delivered(), &both);
    assert_eq!(
        a.state_json().await["identity"]["tenant_id"],
        b.emu.tenant_id()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_moved_earlier_is_read_once_on_the_backfill_track_and_the_live_cursor_stays() {
    let sync = SyncKeys {
        start: "6h",
        window: "1h",
        lookback: "1h",
    };
    let env = setup(content(33, 30, 0), hostile(), sync).await;
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let state = env.state_json().await;
    let first: Vec<(String, i64, serde_json::Value)> = state["content_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["content_type"].as_str().unwrap().to_owned(),
                ms(&c["watermark"]),
                c["completed_windows"].clone(),
            )
        })
        .collect();
    let origin = ms(&state["content_types"][0]["origin"]["at"]);
    assert_exact(&env.delivered(), &records_since(&env, None, origin));

    // The job file now starts 20 hours back: plan lists the added time under its own heading.
    edit(&env, "start: 6h", "start: 20h");
    let plan = env.run(&["plan", &env.job()]).await;
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains("backfill (start moved earlier; the live watermark does not move)"),
        "{text}"
    );
    assert!(text.contains("start moved earlier (6h -> 20h)"), "{text}");
    let json = plan_json(&env).await;
    for ct in json["content_types"].as_array().unwrap() {
        let windows = ct["backfill_windows"].as_array().unwrap();
        assert!(windows.len() >= 13, "about 14 hourly windows: {ct}");
    }
    let changes = json["changes"]["content_types"].as_array().unwrap();
    assert_eq!(changes.len(), 5);
    assert!(
        changes.iter().all(|c| c["change"] == "start_earlier"),
        "{changes:?}"
    );

    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let state = env.state_json().await;
    let new_origin = ms(&state["content_types"][0]["origin"]["at"]);
    assert!(
        new_origin <= origin - 13 * 3_600_000,
        "the origin moved back"
    );
    assert_exact(&env.delivered(), &records_since(&env, None, new_origin));
    for (c, (ct, watermark, _)) in state["content_types"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&first)
    {
        assert_eq!(c["content_type"], ct.as_str());
        assert!(
            ms(&c["watermark"]) >= *watermark,
            "the live watermark never moves back: {c}"
        );
        let live_start = ms(&c["completed_windows"][0]["start"]);
        assert!(
            live_start >= origin - 1000,
            "the added time is on the backfill track: {c}"
        );
        assert!(!c["backfill_windows"].as_array().unwrap().is_empty(), "{c}");
        assert!(
            c["backfills"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["kind"] == "start" && b["finished"].is_string()),
            "{c}"
        );
    }

    // Nothing changed any more: the next run fetches nothing and plan says so.
    let fetches = env.emu.stats().requests.blob_fetch;
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(
        env.emu.stats().requests.blob_fetch,
        fetches,
        "nothing read twice"
    );
    let plan = env.run(&["plan", &env.job()]).await;
    assert!(
        stdout(&plan).contains("none: the job file matches"),
        "{}",
        stdout(&plan)
    );

    // Beyond retention: the part the API no longer serves is a recorded gap (exit 3), the rest is still exact.
    edit(&env, "start: 20h", "start: 9d");
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(3), "{report}");
    let state = env.state_json().await;
    let gaps = state["gaps"].as_array().unwrap();
    assert!(
        gaps.iter().all(|g| g["reason"] == "beyond_retention"),
        "{gaps:?}"
    );
    for ct in ContentType::ALL {
        assert!(
            gaps.iter().any(|g| g["content_type"] == ct.as_str()),
            "a gap for {ct}: {gaps:?}"
        );
    }
    let oldest = ms(&state["content_types"][0]["origin"]["at"]);
    assert_exact(&env.delivered(), &records_since(&env, None, oldest));
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());

    // Moved later: nothing is dropped, and plan says so.
    edit(&env, "start: 9d", "start: 1h");
    let plan = env.run(&["plan", &env.job()]).await;
    assert!(
        stdout(&plan)
            .contains("start moved later (9d -> 1h): nothing already collected is dropped"),
        "{}",
        stdout(&plan)
    );
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_type_added_starts_at_start_and_one_removed_keeps_its_state() {
    let env = setup(content(34, 8, 0), Faults::default(), DEFAULT_SYNC).await;
    edit(&env, "sync:\n", "content_types: [Audit.Exchange]\nsync:\n");
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let truth = env.emu.ground_truth();
    assert_exact(&env.delivered(), &truth.of(ContentType::Exchange));

    edit(
        &env,
        "content_types: [Audit.Exchange]",
        "content_types: [Audit.SharePoint]",
    );
    let plan = env.run(&["plan", &env.job()]).await;
    let text = stdout(&plan);
    assert!(
        text.contains("+ Audit.SharePoint: added; starts at `start` (2d)"),
        "{text}"
    );
    assert!(
        text.contains("- Audit.Exchange: no longer in the job file; its state is kept"),
        "{text}"
    );
    assert!(text.contains("state forget"), "{text}");
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let both: BTreeSet<String> = truth
        .of(ContentType::Exchange)
        .union(&truth.of(ContentType::SharePoint))
        .cloned()
        .collect();
    assert_exact(&env.delivered(), &both);
    let state = env.state_json().await;
    let kept: Vec<&str> = state["content_types"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["watermark"].is_string())
        .map(|c| c["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(kept, ["Audit.Exchange", "Audit.SharePoint"]);

    // Forgetting a content type the job still collects is refused; the removed one goes.
    let job = env.job();
    for (ct, code) in [("Audit.SharePoint", 2), ("Audit.Exchange", 0)] {
        let out = env
            .run(&["state", "forget", &job, "--content-type", ct])
            .await;
        assert_eq!(out.status.code(), Some(code), "{ct}: {}", stderr(&out));
    }
    let plan = env.run(&["plan", &env.job()]).await;
    assert!(
        !stdout(&plan).contains("Audit.Exchange"),
        "{}",
        stdout(&plan)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_sink_gets_new_data_only_and_redeliver_sends_a_range_again_once() {
    let env = setup(content(35, 10, 0), hostile(), DEFAULT_SYNC).await;
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let truth = env.emu.ground_truth().all();
    assert_exact(&env.delivered(), &truth);

    edit(&env, "path: ../out", "path: ../out2");
    let out2 = env.dir.path().join("out2");
    let json = plan_json(&env).await;
    let sink = &json["changes"]["sink"];
    assert!(sink["from"].as_str().unwrap().ends_with("/out"), "{sink}");
    assert!(sink["to"].as_str().unwrap().ends_with("/out2"), "{sink}");
    let command = sink["redeliver"].as_str().unwrap().to_owned();
    assert!(
        command.starts_with("o365sync backfill ") && command.ends_with(" --redeliver"),
        "{command}"
    );
    let plan = env.run(&["plan", &env.job()]).await;
    assert!(
        stdout(&plan).contains("from now on only new data goes to the new sink"),
        "{}",
        stdout(&plan)
    );

    // The next run sends nothing old to the new sink.
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        delivered_ids(&out2).is_empty(),
        "old data stays where it went"
    );

    // Usage: --redeliver needs a range.
    let out = env.run(&["backfill", &env.job(), "--redeliver"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // The command plan named sends the range again, each record once, to the current sink.
    let args: Vec<&str> = command.split(' ').skip(1).collect();
    let out = env.run(&args).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_exact(&delivered_ids(&out2), &truth);
    // Again: a finished redelivery starts over, and the jsonl sink replaces what it wrote.
    let out = env.run(&args).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_exact(&delivered_ids(&out2), &truth);
    assert_exact(&env.delivered(), &truth);

    // The live sync's ledgers were not disturbed: nothing is fetched again.
    let fetches = env.emu.stats().requests.blob_fetch;
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(env.emu.stats().requests.blob_fetch, fetches);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_job_is_pointed_at_state_rename_which_keeps_its_history() {
    let env = setup(content(36, 6, 0), Faults::default(), DEFAULT_SYNC).await;
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let truth = env.emu.ground_truth().all();

    edit(&env, "name: t\n", "name: t2\n");
    let plan = env.run(&["plan", &env.job()]).await;
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    assert!(
        stderr(&plan).contains("o365sync state rename t t2"),
        "{}",
        stderr(&plan)
    );

    // Refused: the same name, an unknown old name, a new name that has state.
    for (old, new) in [("t", "t"), ("nope", "t3")] {
        let out = env.run(&["state", "rename", old, new]).await;
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    }
    let out = env.run(&["state", "rename", "t", "t2"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!env.state_dir.join("t.sqlite3").exists());
    let out = env.run(&["state", "rename", "t2", "t2"]).await;
    assert_eq!(out.status.code(), Some(2));
    std::fs::copy(
        env.state_dir.join("t2.sqlite3"),
        env.state_dir.join("t4.sqlite3"),
    )
    .unwrap();
    let out = env.run(&["state", "rename", "t2", "t4"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already has state"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(env.state_dir.join("t4.sqlite3")).unwrap();

    // The renamed job goes on where it was: nothing fetched again, nothing twice.
    let fetches = env.emu.stats().requests.blob_fetch;
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(env.emu.stats().requests.blob_fetch, fetches);
    assert_exact(&env.delivered(), &truth);
    let plan = env.run(&["plan", &env.job()]).await;
    assert!(!stderr(&plan).contains("state rename"), "{}", stderr(&plan));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_is_fine_and_logged_once() {
    let second = o365sync::emulator::throwaway_certificate("o365sync rotated").unwrap();
    let der = second.certificate_der.clone();
    let env = setup_with(
        content(37, 4, 0),
        Faults::default(),
        DEFAULT_SYNC,
        move |c| {
            c.trusted_certificates.push(der);
        },
    )
    .await;
    let certs = env.dir.path().join("certs");
    std::fs::write(certs.join("certificate2.pem"), &second.certificate_pem).unwrap();
    std::fs::write(certs.join("key2.pem"), &second.private_key_pem).unwrap();
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let before = env.state_json().await["identity"]["certificate_sha1"].clone();

    edit(
        &env,
        "../certs/certificate.pem",
        "../certs/certificate2.pem",
    );
    edit(&env, "../certs/key.pem", "../certs/key2.pem");
    let plan = env.run(&["plan", &env.job()]).await;
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains("~ credentials: certificate changed from SHA-1"),
        "{}",
        stdout(&plan)
    );
    let run = |env: &Env| {
        let mut c = env.command(&["run", &env.job()]);
        c.env("RUST_LOG", "info");
        tokio::task::spawn_blocking(move || c.output().expect("binary runs"))
    };
    let out = run(&env).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out)
            .matches("credential rotation: certificate changed")
            .count(),
        1,
        "{}",
        stderr(&out)
    );
    let after = env.state_json().await["identity"]["certificate_sha1"].clone();
    assert_ne!(before, after, "the new thumbprint is recorded");
    let out = run(&env).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("credential rotation"),
        "logged once: {}",
        stderr(&out)
    );
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_redelivery_resumes_and_delivers_each_record_once() {
    // No faults here: every fetch counts, so the figure below shows what the resumed redelivery skipped.
    let env = setup(content(38, 8, 0), Faults::default(), DEFAULT_SYNC).await;
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let truth = env.emu.ground_truth().all();
    edit(&env, "path: ../out", "path: ../out2");
    let out2 = env.dir.path().join("out2");
    let command = plan_json(&env).await["changes"]["sink"]["redeliver"]
        .as_str()
        .unwrap()
        .to_owned();
    let args: Vec<&str> = command.split(' ').skip(1).collect();
    let mut child = env.start_paused(&args, "commit:6").await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let partial = delivered_ids(&out2);
    assert!(
        !partial.is_empty() && partial.len() < truth.len(),
        "killed half way: {}",
        partial.len()
    );
    let state = env.state_json().await;
    let redeliveries: Vec<&serde_json::Value> = state["content_types"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["backfills"].as_array().unwrap())
        .filter(|b| b["kind"] == "redeliver")
        .collect();
    assert_eq!(redeliveries.len(), 5);
    assert!(
        redeliveries.iter().any(|b| b["finished"].is_null()),
        "unfinished"
    );

    let fetches = env.emu.stats().requests.blob_fetch;
    let out = env.run(&args).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_exact(&delivered_ids(&out2), &truth);
    let refetched = env.emu.stats().requests.blob_fetch - fetches;
    let blobs = env.emu.blobs().len() as u64;
    assert!(
        refetched < blobs,
        "the resumed redelivery skipped what it had completed: {refetched} of {blobs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mistyped_tenant_that_never_read_anything_may_be_corrected() {
    let env = setup(content(39, 4, 0), Faults::default(), DEFAULT_SYNC).await;
    let right = env.emu.tenant_id().to_owned();
    let wrong = "11111111-2222-4333-8444-555555555555";
    edit(&env, &right, wrong);
    let (out, report) = env.sync().await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "the emulator does not know that tenant: {report}"
    );
    assert_eq!(env.state_json().await["identity"]["tenant_id"], wrong);

    // Nothing was read from the mistyped tenant: the corrected job file runs.
    edit(&env, wrong, &right);
    let plan = env.run(&["plan", &env.job()]).await;
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());
}
