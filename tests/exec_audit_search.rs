//! `backfill` beyond the Management API's 7 days, through the real binary: the part older than the retention floor
//! comes from the emulator's Purview Audit Search (Graph), the rest from the Management API, and every record arrives
//! once, through throttling, SIGKILLs while polling and while paging, and resumed queries.

mod exec_support;

use std::collections::BTreeSet;

use exec_support::*;
use jiff::{SignedDuration, Timestamp};
use o365sync::emulator::audit_search::AuditSearchSettings;

/// The Management API's content covers the last 166 hours; Audit Search alone has the 6 days before 7 days ago.
async fn env(seed: u64, search: AuditSearchSettings) -> Env {
    setup_with(
        content(seed, 166, 0),
        Default::default(),
        DEFAULT_SYNC,
        |c| {
            c.audit_search = search;
        },
    )
    .await
}

fn settings() -> AuditSearchSettings {
    AuditSearchSettings {
        history_days: 6,
        records_per_hour: 2,
        polls_until_done: 2,
        page_size: 20,
        throttle_every: 0,
        fail_every: 0,
    }
}

const DAY: i64 = 86_400;

/// The UTC days the backfill searches for `[from, floor)`.
fn days(from: Timestamp, floor: Timestamp) -> (Timestamp, Timestamp, u64) {
    let start = from.as_second().div_euclid(DAY) * DAY;
    let end = (floor.as_second() + DAY - 1).div_euclid(DAY) * DAY;
    (
        Timestamp::from_second(start).unwrap(),
        Timestamp::from_second(end).unwrap(),
        ((end - start) / DAY) as u64,
    )
}

/// What a backfill of `[from, to)` must deliver: every record Audit Search has for the part of the days searched
/// inside the range (from `from` to the end of the day of the retention floor, or `to` when sooner), and every
/// record of the Management API's blobs available in `[floor, to)` (none is older than 166 hours, so the exact floor
/// does not matter).
fn expected(env: &Env, from: Timestamp, to: Timestamp) -> (BTreeSet<String>, u64) {
    let floor = Timestamp::now() - SignedDuration::from_secs(167 * 3600 + 55 * 60);
    let (_, end, n) = days(from, floor);
    let mut all = env.emu.audit_log_ids(from, end.min(to));
    for b in env.emu.blobs() {
        if b.content_created_ms < to.as_millisecond() {
            all.extend(b.record_ids);
        }
    }
    (all, n)
}

/// `backfill JOB --from FROM --to TO` with JSON logs: the output and the run report.
async fn backfill(
    env: &Env,
    from: Timestamp,
    to: Timestamp,
) -> (std::process::Output, serde_json::Value) {
    let job = env.job();
    let (from, to) = (from.to_string(), to.to_string());
    let out = env
        .run(&[
            "--log-format",
            "json",
            "backfill",
            &job,
            "--from",
            &from,
            "--to",
            &to,
        ])
        .await;
    let report = last_json(&out.stderr);
    (out, report)
}

fn range() -> (Timestamp, Timestamp) {
    let now = Timestamp::now();
    (
        now - SignedDuration::from_hours(12 * 24),
        now - SignedDuration::from_hours(6 * 24),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_from_12_to_6_days_ago_delivers_every_record_once_through_throttling() {
    let env = env(
        61,
        AuditSearchSettings {
            throttle_every: 7,
            ..settings()
        },
    )
    .await;
    let (from, to) = range();
    let (out, report) = backfill(&env, from, to).await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let (truth, days) = expected(&env, from, to);
    let delivered = env.delivered();
    assert_exact(&delivered, &truth);
    let search = &report["audit_search"];
    assert_eq!(search["days_planned"], days, "{report}");
    assert_eq!(search["days_done"], days, "{report}");
    assert_eq!(search["queries_created"], days, "{report}");
    assert!(search["throttled"].as_u64().unwrap() > 0, "429s: {report}");
    let (created, _, _) = env.emu.audit_search().counts();
    assert_eq!(created, days, "one query per day");
    // Only Audit Search has the history before 7 days ago (the Management API's content is at most 166 hours old,
    // its records at most 3 days older): its events name it.
    let history = env
        .emu
        .audit_log_ids(from, from + SignedDuration::from_hours(36));
    let mut named = 0;
    for v in delivered_events(&env.out_dir) {
        let id = v["metadata"]["uid"].as_str().unwrap().to_owned();
        if history.contains(&id) {
            assert_eq!(
                v["metadata"]["log_provider"], "Microsoft Purview Audit Search",
                "{v}"
            );
            assert!(v.to_string().find("@odata").is_none(), "{v}");
            named += 1;
        }
    }
    assert!(
        history.len() > 50,
        "{} records only Audit Search has",
        history.len()
    );
    assert_eq!(
        named,
        history.len(),
        "each of them delivered once, naming Audit Search"
    );

    // Again: every day is done, nothing is searched or delivered twice.
    let (out, report) = backfill(&env, from, to).await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["audit_search"]["days_skipped"], days, "{report}");
    assert_eq!(env.emu.audit_search().counts().0, days);
    assert_exact(&env.delivered(), &truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_polling_and_while_paging_then_the_same_command_finishes_without_new_queries()
{
    let env = env(62, settings()).await;
    let (from, to) = range();
    let job = env.job();
    let (from_s, to_s) = (from.to_string(), to.to_string());
    let args = ["backfill", job.as_str(), "--from", &from_s, "--to", &to_s];
    for at in ["polled:1", "paged:3"] {
        let mut child = env.start_paused(&args, at).await;
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("reaped");
        assert!(!status.success(), "killed at {at}");
    }
    let mut full = vec!["--log-format", "json"];
    full.extend(args);
    let out = env.run(&full).await;
    let report = last_json(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let (truth, days) = expected(&env, from, to);
    assert_exact(&env.delivered(), &truth);
    assert!(
        report["audit_search"]["queries_resumed"].as_u64().unwrap() > 0,
        "{report}"
    );
    let (created, _, _) = env.emu.audit_search().counts();
    assert_eq!(created, days, "no query was created again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_query_is_created_again_and_then_the_day_is_a_gap_with_its_reason() {
    let env = env(
        63,
        AuditSearchSettings {
            // every query fails: each day is tried three times, then recorded as a gap
            fail_every: 1,
            polls_until_done: 0,
            ..settings()
        },
    )
    .await;
    let now = Timestamp::now();
    let (from, to) = (
        now - SignedDuration::from_hours(10 * 24),
        now - SignedDuration::from_hours(9 * 24),
    );
    let (out, report) = backfill(&env, from, to).await;
    assert_eq!(out.status.code(), Some(3), "{report}");
    let days = report["audit_search"]["days_planned"].as_u64().unwrap();
    assert_eq!(report["audit_search"]["days_gap"], days, "{report}");
    assert_eq!(env.emu.audit_search().counts().0, 3 * days);
    let state = env.state_json().await;
    let gaps = state["gaps"].as_array().unwrap();
    assert!(
        gaps.iter().all(|g| g["reason"] == "audit_search_failed"
            && g["detail"].as_str().unwrap().contains("3 queries")),
        "{state}"
    );
    assert_eq!(gaps.len() as u64, 5 * days, "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_graph_permission_the_error_names_it() {
    let env = setup_with(content(64, 2, 0), Default::default(), DEFAULT_SYNC, |c| {
        c.roles = vec!["ActivityFeed.Read".into(), "ActivityFeed.ReadDlp".into()];
    })
    .await;
    let job = env.job();
    let out = env
        .run(&["backfill", &job, "--from", "9d", "--to", "1s"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AuditLogsQuery.Read.All"), "{err}");
    // What the Management API had is delivered all the same.
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_which_api_reads_which_part_of_a_backfill() {
    let env = env(65, settings()).await;
    let job = env.job();
    let out = env
        .run(&["plan", &job, "--from", "12d", "--to", "6d", "--json"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let days = plan["audit_search_days"].as_array().unwrap().len();
    assert!((6..=7).contains(&days), "{plan}");
    assert!(plan["gap"].is_null(), "{plan}");
    // a day of one-hour windows, the first and last cut where the floor and `to` fall within their hours
    let windows = plan["management_api_windows"].as_u64().unwrap();
    assert!((24..=25).contains(&windows), "{plan}");
    let text = env
        .run(&["plan", &job, "--from", "12d", "--to", "6d"])
        .await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Purview Audit Search:"), "{text}");
    assert!(text.contains("Management Activity API:"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_that_never_finishes_is_given_up_after_the_bounded_wait_and_recorded_with_the_reason()
 {
    let env = env(
        66,
        AuditSearchSettings {
            polls_until_done: u32::MAX,
            ..settings()
        },
    )
    .await;
    let now = Timestamp::now();
    let (from, to) = (
        now - SignedDuration::from_hours(10 * 24),
        now - SignedDuration::from_hours(9 * 24),
    );
    let (from, to) = (from.to_string(), to.to_string());
    let job = env.job();
    let mut cmd = env.command(&[
        "--log-format",
        "json",
        "backfill",
        &job,
        "--from",
        &from,
        "--to",
        &to,
    ]);
    // The half hour a real query is given, cut to a second for the test.
    cmd.env("O365SYNC_TEST_AUDIT_QUERY_WAIT_MS", "1000");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let report = last_json(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{report}");
    let days = report["audit_search"]["days_planned"].as_u64().unwrap();
    assert_eq!(report["audit_search"]["days_gap"], days, "{report}");
    assert_eq!(
        env.emu.audit_search().counts().0,
        3 * days,
        "three queries per day"
    );
    let state = env.state_json().await;
    for g in state["gaps"].as_array().unwrap() {
        assert_eq!(g["reason"], "audit_search_failed", "{state}");
        assert!(
            g["detail"]
                .as_str()
                .unwrap()
                .contains("did not finish within 1s"),
            "{state}"
        );
    }
}
