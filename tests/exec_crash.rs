//! Crash safety: the binary is SIGKILLed at several points of the commit protocol (after the sink acknowledged a
//! blob but before the ledger commit, right after a commit, right after a listing entered the ledger), each time on
//! the same state and output, with the emulator's faults on; the final run ends with exactly the ground truth.

mod exec_support;

use exec_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_several_points_then_rerun_ends_with_exactly_the_ground_truth() {
    let env = setup(content(21, 10, 1), hostile(), DEFAULT_SYNC).await;
    env.emu.release_late();
    let truth = env.emu.ground_truth().all();
    let job = env.job();

    let mut previous = 0;
    for at in [
        "ack:1",
        "commit:7",
        "ack:12",
        "listed:20",
        "ack:9",
        "commit:10",
    ] {
        let mut child = env.start_paused(&["run", &job], at).await;
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("reaped");
        assert!(!status.success(), "killed at {at}");
        // Whatever is in the output is whole records of the ground truth; progress never goes backwards.
        let now = env.delivered();
        for id in &now {
            assert!(
                truth.contains(id),
                "after the kill at {at}: {id} is not a ground-truth record"
            );
        }
        let distinct: std::collections::BTreeSet<_> = now.iter().collect();
        assert!(
            distinct.len() >= previous,
            "after the kill at {at}: records vanished"
        );
        previous = distinct.len();
        // no temporary file is left under a final name
        assert_no_partial_files(&env.out_dir);
    }
    assert!(previous < truth.len(), "the kills happened before the end");

    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_exact(&env.delivered(), &truth);

    // and the run after that changes nothing
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(total(&report, "blobs_fetched"), 0);
    assert_exact(&env.delivered(), &truth);
}

fn assert_no_partial_files(dir: &std::path::Path) {
    for p in o365sync::sink::jsonl::files_below(dir) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with('.') || name.ends_with(".jsonl"),
            "unexpected file {}",
            p.display()
        );
    }
}
