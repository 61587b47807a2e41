//! The checkpoint state against real SQLite files in temporary directories.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use o365sync::content_type::ContentType::{self, Exchange, General, SharePoint};
use o365sync::state::{
    self, ContentStatus, GapReason, GapScope, JobState, ListedBlob, RecordKey, RunKind, StateDir,
    StateError, Track, Window,
};

fn base() -> Timestamp {
    "2026-11-20T00:00:00Z".parse().unwrap()
}

/// `base() + h hours`.
fn t(h: i64) -> Timestamp {
    base() + SignedDuration::from_hours(h)
}

fn w(a: i64, b: i64) -> Window {
    Window::new(t(a), t(b)).unwrap()
}

fn blob(id: &str, created_h: i64) -> ListedBlob {
    ListedBlob {
        content_id: format!("20261120{id}$audit_exchange$Audit_Exchange$nam0042"),
        created: t(created_h),
        expiration: t(created_h) + SignedDuration::from_hours(7 * 24),
    }
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:05}")).collect()
}

/// Locks and opens a job's state. Other tests of this binary spawn child processes: between its fork and its exec a
/// child shares every open file description of this process, this job's lock file's included, so a lock just
/// released can look held for that instant. A lock still held after a second is a real failure.
fn open(dir: &Path, job: &str) -> JobState {
    let state_dir = StateDir::open(dir).unwrap();
    let mut tries = 0;
    loop {
        match state_dir.lock_and_open(job) {
            Err(e) if e.is_locked() && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.unwrap(),
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn commit_marks_the_blob_done_and_ledgers_its_record_ids() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "job1");
    let b = blob("a", 1);
    assert!(
        s.register_listed(Exchange, std::slice::from_ref(&b), t(2))
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.begin_attempt(Exchange, &b, t(2)).unwrap(), 1);
    let written = ids("r", 3);
    let report = s.commit_blob(Exchange, &b, &written, t(2)).unwrap();
    assert_eq!(report.new_record_ids, 3);
    let entry = s.content_entry(Exchange, &b.content_id).unwrap().unwrap();
    assert_eq!(entry.status, ContentStatus::Done);
    assert_eq!((entry.records_written, entry.attempts), (3, 1));
    assert_eq!(entry.blob, b);
    assert_eq!(
        s.terminal_content_ids(Exchange, &[b.content_id.as_str(), "other"])
            .unwrap(),
        HashSet::from([b.content_id.clone()])
    );
    // per content type: the same content ID under another type is not terminal
    assert!(
        s.terminal_content_ids(General, &[b.content_id.as_str()])
            .unwrap()
            .is_empty()
    );
    // listing it again reports it terminal
    assert_eq!(
        s.register_listed(Exchange, &[b.clone(), blob("b", 1)], t(3))
            .unwrap(),
        HashSet::from([b.content_id.clone()])
    );
}

#[test]
fn delivered_record_ids_answers_for_thousands_of_ids_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "job1");
    let first = ids("x", 3000);
    s.commit_blob(Exchange, &blob("a", 1), &first, t(2))
        .unwrap();
    // half old, half new, more than one batch of each
    let mut query: Vec<String> = first[1000..2600].to_vec();
    query.extend(ids("y", 1700));
    let found = s.delivered_record_ids(&query).unwrap();
    assert_eq!(found.len(), 1600);
    assert!(found.iter().all(|id| id.starts_with("x-")));
    assert!(found.contains("x-01000") && found.contains("x-02599"));
    // a second blob carrying some of the same records adds only the new ones
    let mut second = first[2990..].to_vec();
    second.extend(ids("z", 5));
    let report = s
        .commit_blob(General, &blob("b", 1), &second, t(2))
        .unwrap();
    assert_eq!(report.new_record_ids, 5);
    assert_eq!(s.record_ledger_len().unwrap(), 3005);
    assert!(
        s.delivered_record_ids(&Vec::<String>::new())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_commit_failing_midway_leaves_neither_the_blob_done_nor_any_record_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "job1");
    let b = blob("a", 1);
    s.register_listed(Exchange, std::slice::from_ref(&b), t(2))
        .unwrap();
    // A real fault inside the transaction: the record inserts succeed, then marking the blob done aborts.
    let raw = rusqlite::Connection::open(s.path()).unwrap();
    raw.execute_batch(
        "CREATE TRIGGER crash BEFORE UPDATE ON content BEGIN SELECT RAISE(ABORT, 'simulated crash'); END;",
    )
    .unwrap();
    let written = ids("r", 50);
    let err = s.commit_blob(Exchange, &b, &written, t(2)).unwrap_err();
    assert!(err.to_string().contains("simulated crash"), "{err}");
    assert!(s.delivered_record_ids(&written).unwrap().is_empty());
    let entry = s.content_entry(Exchange, &b.content_id).unwrap().unwrap();
    assert_eq!(entry.status, ContentStatus::Pending);
    assert_eq!(s.record_ledger_len().unwrap(), 0);
    raw.execute_batch("DROP TRIGGER crash").unwrap();
    s.commit_blob(Exchange, &b, &written, t(2)).unwrap();
    assert_eq!(s.delivered_record_ids(&written).unwrap().len(), 50);
}

#[test]
fn an_uncommitted_transaction_dropped_with_its_connection_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = {
        let s = open(dir.path(), "job1");
        s.register_listed(Exchange, &[blob("a", 1)], t(2)).unwrap();
        s.path().to_owned()
    };
    // What commit_blob writes, in a transaction whose connection goes away before COMMIT.
    {
        let mut raw = rusqlite::Connection::open(&path).unwrap();
        let tx = raw.transaction().unwrap();
        tx.execute(
            "INSERT INTO record (bucket, record_id, first_seen_ns) VALUES (-1, 'r-1', 0)",
            [],
        )
        .unwrap();
        tx.execute("UPDATE content SET status = 'done'", [])
            .unwrap();
        std::mem::forget(tx); // no commit, no rollback call: the connection is simply dropped
    }
    let s = open(dir.path(), "job1");
    assert!(s.delivered_record_ids(&["r-1"]).unwrap().is_empty());
    let b = blob("a", 1);
    assert_eq!(
        s.content_entry(Exchange, &b.content_id)
            .unwrap()
            .unwrap()
            .status,
        ContentStatus::Pending
    );
}

const CRASH_CHILD: &str = "O365SYNC_STATE_TEST_CRASH_CHILD";

/// A child process commits blobs as fast as it can and is killed with SIGKILL in the middle; afterwards every blob
/// is either done with all its record Ids in the ledger, or not done with none of them.
#[test]
fn sigkill_during_commits_never_splits_a_blob_from_its_record_ids() {
    if let Ok(dir) = std::env::var(CRASH_CHILD) {
        let s = open(Path::new(&dir), "crashy");
        for i in 0.. {
            let b = blob(&format!("{i:06}"), 1);
            s.commit_blob(Exchange, &b, &ids(&format!("blob{i}"), 200), t(2))
                .unwrap();
            println!("\ncommitted {i}");
        }
        return;
    }
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    for kill_after in [1usize, 7, 25] {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sigkill_during_commits_never_splits_a_blob_from_its_record_ids",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_CHILD, dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let mut seen = 0;
        while seen < kill_after {
            let line = lines.next().expect("child output").unwrap();
            // libtest may print its own text on the same line; look for our marker
            if line.contains("committed ") {
                seen += 1;
            }
        }
        child.kill().unwrap(); // SIGKILL, mid-stream of commits
        child.wait().unwrap();
        let s = open(dir.path(), "crashy");
        let mut done = 0;
        for i in 0..100_000 {
            let b = blob(&format!("{i:06}"), 1);
            let entry = s.content_entry(Exchange, &b.content_id).unwrap();
            let delivered = s
                .delivered_record_ids(&ids(&format!("blob{i}"), 200))
                .unwrap()
                .len();
            match entry {
                Some(e) => {
                    assert_eq!(e.status, ContentStatus::Done);
                    assert_eq!(
                        delivered, 200,
                        "blob {i} done but its Ids are not all ledgered"
                    );
                    done += 1;
                }
                None => {
                    assert_eq!(delivered, 0, "blob {i} not done but some Ids are ledgered");
                    break;
                }
            }
        }
        assert!(done >= kill_after, "{done} < {kill_after}");
        assert_eq!(s.record_ledger_len().unwrap(), 200 * done as i64);
        drop(s);
        // start the next round from scratch
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
    }
}

#[test]
fn windows_completed_out_of_order_merge_and_the_watermark_moves_only_when_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "job1");
    assert_eq!(s.watermark(Exchange).unwrap(), None);
    assert_eq!(s.init_watermark(Exchange, t(0), t(10)).unwrap(), t(0));
    // a second init does not move it
    assert_eq!(s.init_watermark(Exchange, t(5), t(10)).unwrap(), t(0));
    let none: [&str; 0] = [];
    assert_eq!(
        s.complete_window(Exchange, Track::Live, w(2, 3), &none, t(10))
            .unwrap(),
        Some(t(0))
    );
    assert_eq!(
        s.complete_window(Exchange, Track::Live, w(4, 5), &none, t(10))
            .unwrap(),
        Some(t(0))
    );
    assert_eq!(
        s.completed_windows(Exchange, Track::Live).unwrap(),
        vec![w(2, 3), w(4, 5)]
    );
    assert_eq!(
        s.complete_window(Exchange, Track::Live, w(0, 1), &none, t(10))
            .unwrap(),
        Some(t(1))
    );
    // filling [1, 2) joins [0, 3); [3, 4) is still missing
    assert_eq!(
        s.complete_window(Exchange, Track::Live, w(1, 2), &none, t(10))
            .unwrap(),
        Some(t(3))
    );
    assert_eq!(
        s.completed_windows(Exchange, Track::Live).unwrap(),
        vec![w(0, 3), w(4, 5)]
    );
    assert_eq!(
        s.complete_window(Exchange, Track::Live, w(3, 4), &none, t(10))
            .unwrap(),
        Some(t(5))
    );
    assert_eq!(
        s.completed_windows(Exchange, Track::Live).unwrap(),
        vec![w(0, 5)]
    );
    // re-listing inside the lookback completes an old window again: nothing moves back
    assert_eq!(
        s.complete_window(Exchange, Track::Live, w(3, 5), &none, t(10))
            .unwrap(),
        Some(t(5))
    );
    assert_eq!(s.watermark(Exchange).unwrap(), Some(t(5)));
    // other content types are independent
    assert_eq!(s.watermark(SharePoint).unwrap(), None);
    assert_eq!(
        s.complete_window(SharePoint, Track::Live, w(0, 1), &none, t(10))
            .unwrap(),
        None,
        "without an initial watermark nothing is assumed"
    );
}

#[test]
fn a_window_completes_only_when_every_listed_blob_is_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "job1");
    s.init_watermark(Exchange, t(0), t(10)).unwrap();
    let (a, b, c) = (blob("a", 0), blob("b", 0), blob("c", 0));
    s.register_listed(Exchange, &[a.clone(), b.clone(), c.clone()], t(2))
        .unwrap();
    let listed = [&a, &b, &c].map(|x| x.content_id.clone());
    s.commit_blob(Exchange, &a, &ids("a", 2), t(2)).unwrap();
    let err = s
        .complete_window(Exchange, Track::Live, w(0, 1), &listed, t(2))
        .unwrap_err();
    assert!(
        matches!(err, StateError::WindowIncomplete { pending: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("cannot complete"), "{err}");
    assert_eq!(s.watermark(Exchange).unwrap(), Some(t(0)));
    assert!(
        s.completed_windows(Exchange, Track::Live)
            .unwrap()
            .is_empty()
    );
    // an ID never seen at all is not terminal either
    assert!(
        s.complete_window(Exchange, Track::Live, w(0, 1), &["unknown"], t(2))
            .is_err()
    );
    s.commit_blob(Exchange, &b, &ids("b", 2), t(2)).unwrap();
    assert!(
        s.record_blob_gap(
            Exchange,
            &c,
            GapReason::ExpiredContent,
            "AF20051 content expired",
            t(2)
        )
        .unwrap()
    );
    // a blob delivered already is no gap
    assert!(
        !s.record_blob_gap(Exchange, &a, GapReason::ExpiredContent, "late 404", t(2))
            .unwrap()
    );
    // recording it twice keeps one gap
    assert!(
        !s.record_blob_gap(Exchange, &c, GapReason::ExpiredContent, "again", t(3))
            .unwrap()
    );
    assert_eq!(
        s.complete_window(Exchange, Track::Live, w(0, 1), &listed, t(2))
            .unwrap(),
        Some(t(1))
    );
    let gaps = s.gaps(Some(Exchange)).unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(
        gaps[0].scope,
        GapScope::Blob {
            content_id: c.content_id.clone(),
            created: c.created
        }
    );
    assert_eq!(gaps[0].detail, "AF20051 content expired");
    assert_eq!(
        s.content_entry(Exchange, &c.content_id)
            .unwrap()
            .unwrap()
            .status,
        ContentStatus::Gap
    );
}

#[test]
fn a_window_gap_is_recorded_once_and_lets_the_watermark_pass() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "job1");
    s.init_watermark(Exchange, t(0), t(200)).unwrap();
    assert!(
        s.record_window_gap(
            Exchange,
            Track::Live,
            w(0, 2),
            GapReason::BeyondRetention,
            "",
            t(200)
        )
        .unwrap()
    );
    assert!(
        !s.record_window_gap(
            Exchange,
            Track::Live,
            w(0, 2),
            GapReason::BeyondRetention,
            "",
            t(201)
        )
        .unwrap()
    );
    assert_eq!(s.watermark(Exchange).unwrap(), Some(t(2)));
    let gaps = s.gaps(None).unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].reason, GapReason::BeyondRetention);
    assert_eq!(gaps[0].scope, GapScope::Window { window: w(0, 2) });
    assert_eq!(s.gaps_since(t(200)).unwrap().len(), 1);
    assert!(s.gaps_since(t(201)).unwrap().is_empty());
}

#[test]
fn backfill_keeps_its_own_progress_and_never_moves_the_live_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "job1");
    s.init_watermark(Exchange, t(100), t(120)).unwrap();
    let none: [&str; 0] = [];
    let p = s.begin_backfill(Exchange, w(10, 14), t(120)).unwrap();
    assert_eq!((p.position, p.finished), (t(10), None));
    s.complete_window(Exchange, Track::Backfill, w(11, 12), &none, t(121))
        .unwrap();
    assert_eq!(s.backfills(Some(Exchange)).unwrap()[0].position, t(10));
    let live = s
        .complete_window(Exchange, Track::Backfill, w(10, 11), &none, t(121))
        .unwrap();
    assert_eq!(live, Some(t(100)));
    assert_eq!(s.backfills(None).unwrap()[0].position, t(12));
    assert_eq!(s.watermark(Exchange).unwrap(), Some(t(100)));
    assert!(
        s.completed_windows(Exchange, Track::Live)
            .unwrap()
            .is_empty()
    );
    // resuming the same range continues where it stopped
    let resumed = s.begin_backfill(Exchange, w(10, 14), t(130)).unwrap();
    assert_eq!(resumed.position, t(12));
    assert_eq!(resumed.started, t(120));
    s.complete_window(Exchange, Track::Backfill, w(12, 14), &none, t(131))
        .unwrap();
    let done = &s.backfills(Some(Exchange)).unwrap()[0];
    assert_eq!((done.position, done.finished), (t(14), Some(t(131))));
    assert_eq!(
        s.completed_windows(Exchange, Track::Backfill).unwrap(),
        vec![w(10, 14)]
    );
    assert_eq!(s.watermark(Exchange).unwrap(), Some(t(100)));
    // a new range already covered by earlier backfills starts out finished
    let covered = s.begin_backfill(Exchange, w(11, 13), t(140)).unwrap();
    assert_eq!(covered.finished, Some(t(140)));
}

#[test]
fn reset_moves_the_watermark_back_and_keeps_the_ledgers() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "job1");
    s.init_watermark(Exchange, t(0), t(10)).unwrap();
    let b = blob("late", 4);
    s.register_listed(Exchange, std::slice::from_ref(&b), t(6))
        .unwrap();
    s.commit_blob(Exchange, &b, &ids("r", 10), t(6)).unwrap();
    for (a, e) in [(0, 2), (2, 4), (4, 6)] {
        s.complete_window(
            Exchange,
            Track::Live,
            w(a, e),
            &[b.content_id.as_str()],
            t(6),
        )
        .unwrap();
    }
    assert_eq!(s.watermark(Exchange).unwrap(), Some(t(6)));
    let report = s.reset_watermark(Exchange, t(3), t(10)).unwrap();
    assert_eq!(report.previous, Some(t(6)));
    assert_eq!(report.watermark, t(3));
    assert_eq!(report.windows_changed, 1);
    assert!(report.gaps.is_empty());
    assert_eq!(s.watermark(Exchange).unwrap(), Some(t(3)));
    assert_eq!(
        s.completed_windows(Exchange, Track::Live).unwrap(),
        vec![w(0, 3)]
    );
    // the re-read finds the blob and its records already delivered
    assert_eq!(
        s.register_listed(Exchange, std::slice::from_ref(&b), t(11))
            .unwrap(),
        HashSet::from([b.content_id.clone()])
    );
    assert_eq!(s.delivered_record_ids(&ids("r", 10)).unwrap().len(), 10);
    assert!(s.gaps(None).unwrap().is_empty());
    // and completing the re-read windows advances again
    assert_eq!(
        s.complete_window(
            Exchange,
            Track::Live,
            w(3, 6),
            &[b.content_id.as_str()],
            t(11)
        )
        .unwrap(),
        Some(t(6))
    );
    // the future is refused
    let err = s.reset_watermark(Exchange, t(20), t(10)).unwrap_err();
    assert!(matches!(err, StateError::ResetInFuture { .. }), "{err}");
}

#[test]
fn reset_forward_records_the_skipped_time_as_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "job1");
    s.init_watermark(Exchange, t(0), t(1)).unwrap();
    let none: [&str; 0] = [];
    s.complete_window(Exchange, Track::Live, w(3, 4), &none, t(10))
        .unwrap();
    let report = s.reset_watermark(Exchange, t(6), t(10)).unwrap();
    assert_eq!(report.gaps, vec![w(0, 3), w(4, 6)]);
    assert_eq!(s.watermark(Exchange).unwrap(), Some(t(6)));
    assert_eq!(
        s.completed_windows(Exchange, Track::Live).unwrap(),
        vec![w(0, 6)]
    );
    let reasons: Vec<_> = s.gaps(None).unwrap().iter().map(|g| g.reason).collect();
    assert_eq!(reasons, vec![GapReason::SkippedByReset; 2]);
    // a content type without state gets its watermark set, nothing else
    let r = s.reset_watermark(General, t(5), t(10)).unwrap();
    assert_eq!((r.previous, r.gaps.len()), (None, 0));
}

#[test]
fn pruning_forgets_expired_content_and_old_record_ids_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "job1");
    let old = blob("old", 0);
    let old_pending = blob("oldpending", 0);
    let fresh = blob("fresh", 24 * 7);
    s.register_listed(Exchange, std::slice::from_ref(&old_pending), t(1))
        .unwrap();
    s.commit_blob(Exchange, &old, &ids("old", 5), t(1)).unwrap();
    s.commit_blob(Exchange, &fresh, &ids("fresh", 5), t(24 * 7 + 1))
        .unwrap();
    let none: [&str; 0] = [];
    s.init_watermark(Exchange, t(0), t(0)).unwrap();
    s.complete_window(Exchange, Track::Live, w(0, 1), &none, t(1))
        .unwrap();
    s.complete_window(
        Exchange,
        Track::Live,
        w(24 * 7, 24 * 7 + 1),
        &none,
        t(24 * 7 + 1),
    )
    .unwrap();
    let run = s.begin_run(RunKind::Run, t(1)).unwrap();
    s.finish_run(run, t(2), "done", &serde_json::json!({}))
        .unwrap();
    // nine days on: the old blob expired two days ago, its records were first seen nine days ago
    let now = t(24 * 9);
    let report = s.prune(now).unwrap();
    assert_eq!(report.content, 1);
    assert_eq!(report.records, 5);
    assert_eq!(report.windows, 1);
    assert_eq!(report.runs, 0);
    assert!(
        s.content_entry(Exchange, &old.content_id)
            .unwrap()
            .is_none()
    );
    assert!(
        s.content_entry(Exchange, &old_pending.content_id)
            .unwrap()
            .is_some(),
        "a pending blob is never forgotten silently"
    );
    assert!(
        s.content_entry(Exchange, &fresh.content_id)
            .unwrap()
            .is_some()
    );
    assert!(s.delivered_record_ids(&ids("old", 5)).unwrap().is_empty());
    assert_eq!(s.delivered_record_ids(&ids("fresh", 5)).unwrap().len(), 5);
    assert_eq!(s.watermark(Exchange).unwrap(), Some(t(1)));
    assert_eq!(s.prune(now).unwrap(), Default::default());
}

#[test]
fn a_second_handle_on_a_locked_job_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let sd = StateDir::open(dir.path()).unwrap();
    let first = sd.lock_and_open("job1").unwrap();
    let err = sd.lock("job1").unwrap_err();
    assert!(err.is_locked(), "{err}");
    assert_eq!(err.outcome().code(), 75);
    assert!(err.to_string().contains("job `job1` is locked"), "{err}");
    assert!(matches!(
        sd.lock_and_open("job1"),
        Err(StateError::Locked { .. })
    ));
    // other jobs are independent
    let other = sd.lock_and_open("job2").unwrap();
    // reset takes the lock too
    let err = state::reset(dir.path(), "job1", &[Exchange], t(0), t(1)).unwrap_err();
    assert!(err.is_locked(), "{err}");
    // show does not need it
    assert!(state::show(dir.path(), "job1", 5).unwrap().exists);
    drop(first);
    drop(other);
    let again = sd.lock("job1").unwrap();
    assert_eq!(again.job(), "job1");
}

const LOCK_CHILD: &str = "O365SYNC_STATE_TEST_LOCK_CHILD";

/// Another process holding the lock (a child running this very test in child mode) locks this one out; its exit
/// releases the lock.
#[test]
fn the_lock_is_exclusive_between_processes() {
    if let Ok(dir) = std::env::var(LOCK_CHILD) {
        let _state = open(Path::new(&dir), "shared");
        println!("\nlock held");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap(); // hold until the parent closes stdin
        return;
    }
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_lock_is_exclusive_between_processes",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LOCK_CHILD, dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("child output").unwrap();
        if line.contains("lock held") {
            break;
        }
    }
    let sd = StateDir::open(dir.path()).unwrap();
    let err = sd.lock("shared").unwrap_err();
    assert!(err.is_locked(), "{err}");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    sd.lock_and_open("shared").unwrap();
}

#[test]
fn reopening_preserves_everything() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let s = open(dir.path(), "job1");
        s.init_watermark(Exchange, t(0), t(1)).unwrap();
        let b = blob("a", 0);
        s.register_listed(Exchange, &[b.clone(), blob("p", 0)], t(1))
            .unwrap();
        s.commit_blob(Exchange, &b, &ids("r", 7), t(1)).unwrap();
        s.complete_window(
            Exchange,
            Track::Live,
            w(0, 1),
            &[b.content_id.as_str()],
            t(1),
        )
        .unwrap();
        s.record_window_gap(
            SharePoint,
            Track::Live,
            w(0, 1),
            GapReason::BeyondRetention,
            "x",
            t(1),
        )
        .unwrap();
        s.begin_backfill(Exchange, w(-5, -1), t(1)).unwrap();
        s.record_subscription_start(General, t(1)).unwrap();
        let run = s.begin_run(RunKind::Run, t(1)).unwrap();
        s.finish_run(
            run,
            t(2),
            "gaps",
            &serde_json::json!({"Audit.Exchange": {"blobs": 1}}),
        )
        .unwrap();
        s.begin_run(RunKind::Backfill, t(3)).unwrap();
        serde_json::to_value(s.summary(10).unwrap()).unwrap()
    };
    let s = open(dir.path(), "job1");
    let after = serde_json::to_value(s.summary(10).unwrap()).unwrap();
    assert_eq!(before, after);
    assert_eq!(s.last_subscription_start(General).unwrap(), Some(t(1)));
    assert_eq!(
        s.next_subscription_start_allowed(General).unwrap(),
        Some(t(1) + SignedDuration::from_mins(15))
    );
    assert_eq!(s.next_subscription_start_allowed(Exchange).unwrap(), None);
    assert_eq!(s.delivered_record_ids(&ids("r", 7)).unwrap().len(), 7);
    let runs = s.recent_runs(10).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].ended, None);
    assert_eq!(runs[1].outcome.as_deref(), Some("gaps"));
    assert_eq!(
        runs[1].counters,
        Some(serde_json::json!({"Audit.Exchange": {"blobs": 1}}))
    );
}

#[test]
fn show_summarizes_the_state_for_humans_and_json() {
    let dir = tempfile::tempdir().unwrap();
    // a job that never ran: an empty summary, and nothing created
    let missing = state::show(&dir.path().join("nowhere"), "job1", 5).unwrap();
    assert!(!missing.exists);
    assert!(missing.to_string().contains("never run"));
    assert!(!dir.path().join("nowhere").exists());

    let s = open(dir.path(), "job1");
    s.init_watermark(Exchange, t(0), t(1)).unwrap();
    s.register_listed(Exchange, &[blob("p", 0)], t(1)).unwrap();
    s.record_window_gap(
        Exchange,
        Track::Live,
        w(0, 2),
        GapReason::BeyondRetention,
        "",
        t(200),
    )
    .unwrap();
    s.begin_run(RunKind::Run, t(200)).unwrap();
    // a running job in the middle of a write transaction does not stop `state show` (WAL readers never wait)
    let mut writer = rusqlite::Connection::open(s.path()).unwrap();
    let open_tx = writer
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    open_tx.execute("DELETE FROM gap", []).unwrap();
    let summary = state::show(dir.path(), "job1", 5).unwrap();
    drop(open_tx);
    let text = summary.to_string();
    assert!(text.contains("Audit.Exchange"), "{text}");
    assert!(text.contains(&format!("watermark: {}", t(2))), "{text}");
    assert!(text.contains("beyond the API's 7-day retention"), "{text}");
    assert!(text.contains("1 pending"), "{text}");
    assert!(text.contains("interrupted or still running"), "{text}");
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["job"], "job1");
    assert_eq!(json["schema_version"], state::schema::CURRENT_VERSION);
    assert_eq!(json["content_types"][0]["content_type"], "Audit.Exchange");
    assert_eq!(json["content_types"][0]["watermark"], t(2).to_string());
    assert_eq!(json["content_types"][0]["ledger"]["pending"], 1);
    assert_eq!(json["gaps"][0]["kind"], "window");
    assert_eq!(json["gaps"][0]["reason"], "beyond_retention");
}

#[test]
fn state_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("a/b/state");
    let s = open(&state_dir, "job1");
    s.commit_blob(Exchange, &blob("a", 0), &ids("r", 1), t(1))
        .unwrap();
    assert_eq!(mode(&state_dir), 0o700);
    assert_eq!(mode(s.path()), 0o600);
    assert_eq!(mode(&state_dir.join("job1.lock")), 0o600);
    for suffix in ["-wal", "-shm"] {
        let p = state_dir.join(format!("job1.sqlite3{suffix}"));
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    drop(s);
    // a database found with wider permissions is tightened on open
    let db = state_dir.join("job1.sqlite3");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _s = open(&state_dir, "job1");
    assert_eq!(mode(&db), 0o600);
}

#[test]
fn an_unusable_state_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state");
    std::fs::write(&file, b"not a directory").unwrap();
    let err = StateDir::open(&file).unwrap_err();
    assert!(matches!(err, StateError::Unwritable { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&file.display().to_string()) && msg.contains("--state-dir"),
        "{msg}"
    );
    let err = StateDir::open(file.join("below")).unwrap_err();
    assert!(matches!(err, StateError::Unwritable { .. }), "{err}");
}

#[test]
fn invalid_job_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sd = StateDir::open(dir.path()).unwrap();
    for bad in ["", "../x", "Upper", "a/b", "-x", "a b"] {
        assert!(
            matches!(sd.lock(bad), Err(StateError::InvalidJobName(_))),
            "{bad:?}"
        );
    }
}

/// Creates the state of `job1`, with some content, and returns the database path.
fn populated(dir: &Path) -> std::path::PathBuf {
    let s = open(dir, "job1");
    for i in 0..40 {
        s.commit_blob(
            Exchange,
            &blob(&format!("{i}"), 0),
            &ids(&format!("b{i}"), 50),
            t(1),
        )
        .unwrap();
    }
    s.path().to_owned()
}

fn assert_corrupt(dir: &Path, db: &Path) {
    let err = StateDir::open(dir)
        .unwrap()
        .lock_and_open("job1")
        .unwrap_err();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&db.display().to_string()), "{msg}");
    assert!(msg.contains("restore it from a backup"), "{msg}");
    let err = state::show(dir, "job1", 5).unwrap_err();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
}

#[test]
fn garbage_in_the_database_file_is_reported_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated(dir.path());
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&db, &garbage).unwrap();
    assert_corrupt(dir.path(), &db);
    assert_eq!(
        std::fs::read(&db).unwrap(),
        garbage,
        "the file must be left untouched"
    );
}

#[test]
fn a_truncated_database_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated(dir.path());
    let len = std::fs::metadata(&db).unwrap().len();
    assert!(len > 16 * 4096, "{len}");
    let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
    f.set_len(len / 3).unwrap();
    drop(f);
    assert_corrupt(dir.path(), &db);
    // truncated to nothing: still damage, never a fresh start
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(0)
        .unwrap();
    assert_corrupt(dir.path(), &db);
}

#[test]
fn a_foreign_or_mismatched_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("job1.sqlite3");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE events (id TEXT PRIMARY KEY, json TEXT)")
            .unwrap();
    }
    let err = StateDir::open(dir.path())
        .unwrap()
        .lock_and_open("job1")
        .unwrap_err();
    assert!(matches!(err, StateError::Foreign { .. }), "{err:?}");
    assert!(
        err.to_string().contains("not the o365sync state database"),
        "{err}"
    );

    // our database under another job's name
    let dir2 = tempfile::tempdir().unwrap();
    let theirs = populated(dir2.path());
    std::fs::copy(&theirs, dir2.path().join("job2.sqlite3")).unwrap();
    let err = StateDir::open(dir2.path())
        .unwrap()
        .lock_and_open("job2")
        .unwrap_err();
    assert!(err.to_string().contains("belongs to job `job1`"), "{err}");

    // our application id, but a table dropped
    {
        let c = rusqlite::Connection::open(&theirs).unwrap();
        c.execute_batch("DROP TABLE record").unwrap();
    }
    assert_corrupt(dir2.path(), &theirs);
}

#[test]
fn a_database_from_a_newer_version_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated(dir.path());
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("PRAGMA user_version = 99").unwrap();
    }
    let bytes = std::fs::read(&db).unwrap();
    let err = StateDir::open(dir.path())
        .unwrap()
        .lock_and_open("job1")
        .unwrap_err();
    assert!(
        matches!(
            err,
            StateError::NewerSchema {
                found: 99,
                supported: state::schema::CURRENT_VERSION,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade o365sync"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), bytes);
}

#[test]
fn the_schema_version_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated(dir.path());
    let c = rusqlite::Connection::open(&db).unwrap();
    let (version, app, mode): (i64, i64, String) = c
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), \
                    (SELECT application_id FROM pragma_application_id), \
                    (SELECT journal_mode FROM pragma_journal_mode)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(version, state::schema::CURRENT_VERSION);
    assert_eq!(app, state::schema::APPLICATION_ID);
    assert_eq!(mode, "wal");
}

#[test]
fn content_types_share_one_handle_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(open(dir.path(), "job1"));
    let cts: [ContentType; 3] = [Exchange, SharePoint, General];
    std::thread::scope(|scope| {
        for ct in cts {
            let s = s.clone();
            scope.spawn(move || {
                s.init_watermark(ct, t(0), t(0)).unwrap();
                for i in 0..20 {
                    let b = blob(&format!("{ct}{i}"), i);
                    s.register_listed(ct, std::slice::from_ref(&b), t(30))
                        .unwrap();
                    s.commit_blob(ct, &b, &ids(&format!("{ct}{i}"), 10), t(30))
                        .unwrap();
                    s.complete_window(
                        ct,
                        Track::Live,
                        w(i, i + 1),
                        &[b.content_id.as_str()],
                        t(30),
                    )
                    .unwrap();
                }
            });
        }
    });
    for ct in cts {
        assert_eq!(s.watermark(ct).unwrap(), Some(t(20)));
    }
    assert_eq!(s.record_ledger_len().unwrap(), 600);
}

#[test]
fn a_brief_lock_held_by_another_connection_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "job1");
    let path = s.path().to_owned();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut raw = rusqlite::Connection::open(&path).unwrap();
        let tx = raw
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        held_tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        tx.commit().unwrap();
    });
    held_rx.recv().unwrap();
    // without the busy timeout this write would fail at once with "database is locked"
    s.record_subscription_start(Exchange, t(1)).unwrap();
    holder.join().unwrap();
    assert_eq!(s.last_subscription_start(Exchange).unwrap(), Some(t(1)));
}

#[test]
fn damage_inside_the_file_is_reported_as_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated(dir.path());
    let mut bytes = std::fs::read(&db).unwrap();
    let len = bytes.len();
    // scribble over pages in the middle of the file, leaving the header intact
    for (i, b) in bytes[len / 3..2 * len / 3].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    std::fs::write(&db, &bytes).unwrap();
    match StateDir::open(dir.path()).unwrap().lock_and_open("job1") {
        Err(err) => assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}"),
        Ok(s) => {
            // the header survived: the damage shows on the first full look, as a corruption error
            let err = s.integrity_check().unwrap_err();
            assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
            let lookups = (0..40)
                .map(|i| s.delivered_record_ids(&ids(&format!("b{i}"), 50)))
                .find_map(Result::err);
            if let Some(err) = lookups {
                assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
            }
        }
    }
}

#[test]
fn the_reset_command_moves_each_given_content_type() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path(), "job1");
        for ct in [Exchange, General] {
            s.init_watermark(ct, t(0), t(0)).unwrap();
            s.complete_window(ct, Track::Live, w(0, 8), &[] as &[&str], t(9))
                .unwrap();
        }
    }
    let reports = state::reset(dir.path(), "job1", &[Exchange, General], t(4), t(10)).unwrap();
    assert_eq!(reports.len(), 2);
    assert!(
        reports
            .iter()
            .all(|r| r.previous == Some(t(8)) && r.watermark == t(4))
    );
    let summary = state::show(dir.path(), "job1", 5).unwrap();
    for c in &summary.content_types {
        assert_eq!(c.watermark, Some(t(4)));
        assert_eq!(c.completed_windows, vec![w(0, 4)]);
    }
    let err = state::reset(dir.path(), "job1", &[Exchange], t(11), t(10)).unwrap_err();
    assert_eq!(err.outcome().code(), 2);
    // the lock was released after each reset
    open(dir.path(), "job1");
}

fn timed(id: &str, created: Timestamp) -> RecordKey {
    RecordKey {
        id: id.to_owned(),
        created: Some(created),
    }
}

#[test]
fn the_record_ledger_finds_copies_of_a_record_by_its_id_and_creation_time() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "job1");
    // 3000 records created over three hours, committed by two blobs of two content types
    let keys: Vec<RecordKey> = (0..3000)
        .map(|i| {
            timed(
                &format!("r-{i:05}"),
                t(0) + SignedDuration::from_secs(i * 3),
            )
        })
        .collect();
    s.commit_blob(Exchange, &blob("a", 3), &keys[..2000], t(4))
        .unwrap();
    s.commit_blob(General, &blob("b", 3), &keys[2000..], t(4))
        .unwrap();
    assert_eq!(s.record_ledger_len().unwrap(), 3000);
    // copies (same Id, same time) are found whichever blob or content type delivered them
    let found = s.delivered_record_ids(&keys[1500..2500]).unwrap();
    assert_eq!(found.len(), 1000);
    assert!(found.contains("r-01999") && found.contains("r-02000"));
    // an unknown Id is not, nor is an Id that never came with that time
    let fresh = [timed("r-99999", t(1)), timed("r-00001", t(30))];
    assert!(s.delivered_record_ids(&fresh).unwrap().is_empty());
    // records without a time have a bucket of their own
    s.commit_blob(Exchange, &blob("c", 3), &["untimed-1"], t(4))
        .unwrap();
    assert_eq!(s.delivered_record_ids(&["untimed-1"]).unwrap().len(), 1);
    assert!(
        s.delivered_record_ids(&[timed("untimed-1", t(1))])
            .unwrap()
            .is_empty()
    );
    // committing a copy again adds nothing
    let again = s
        .commit_blob(Exchange, &blob("d", 3), &keys[..10], t(5))
        .unwrap();
    assert_eq!(again.new_record_ids, 0);
    // pruning still goes by first sight
    let pruned = s.prune(t(4) + state::RECORD_LEDGER_RETENTION + SignedDuration::from_hours(1));
    assert_eq!(pruned.unwrap().records, 3001);
}

#[test]
fn a_version_1_record_ledger_is_migrated_and_its_ids_still_deduplicate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job1.sqlite3");
    {
        // a database as version 1 of o365sync left it
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(state::schema::MIGRATIONS[0]).unwrap();
        c.execute_batch(&format!(
            "PRAGMA user_version = 1; PRAGMA application_id = {};",
            state::schema::APPLICATION_ID
        ))
        .unwrap();
        c.execute("INSERT INTO meta (key, value) VALUES ('job', 'job1')", [])
            .unwrap();
        for id in ["old-1", "old-2"] {
            c.execute(
                "INSERT INTO record (record_id, content_type, first_seen_ns) VALUES (?1, 'Audit.Exchange', ?2)",
                rusqlite::params![id, t(1).as_nanosecond() as i64],
            )
            .unwrap();
        }
    }
    let s = open(dir.path(), "job1");
    assert_eq!(s.record_ledger_len().unwrap(), 2);
    // the old Ids carry no time: a copy arriving with its time is still recognized
    let found = s
        .delivered_record_ids(&[
            timed("old-1", t(0)),
            timed("new-1", t(0)),
            timed("old-2", t(5)),
        ])
        .unwrap();
    assert_eq!(
        found,
        HashSet::from(["old-1".to_owned(), "old-2".to_owned()])
    );
    // and they are pruned like any other Id
    let pruned = s
        .prune(t(1) + state::RECORD_LEDGER_RETENTION + SignedDuration::from_hours(1))
        .unwrap();
    assert_eq!(pruned.records, 2);
    assert!(
        s.delivered_record_ids(&[timed("old-1", t(0))])
            .unwrap()
            .is_empty()
    );
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, state::schema::CURRENT_VERSION);
}

#[test]
fn guid_ids_are_stored_as_16_bytes_and_other_ids_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "job1");
    let guid = "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718";
    let digest = "sha256:0123abcd";
    s.commit_blob(
        Exchange,
        &blob("a", 1),
        &[timed(guid, t(0)), timed(digest, t(0))],
        t(2),
    )
    .unwrap();
    let types: Vec<String> = rusqlite::Connection::open(s.path())
        .unwrap()
        .prepare("SELECT typeof(record_id) FROM record ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(types, ["blob", "text"]);
    // the same GUID written another way is the same record; the text Id is found as it is
    let found = s
        .delivered_record_ids(&[
            timed(&guid.to_uppercase(), t(0)),
            timed(digest, t(0)),
            timed("sha256:0123ABCD", t(0)),
        ])
        .unwrap();
    assert_eq!(found.len(), 2);
    assert!(found.contains(digest) && !found.contains("sha256:0123ABCD"));
}
