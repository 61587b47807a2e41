//! Property: whatever the sequence of deliveries and crashes (after a durable write but before the ledger commit,
//! or in the middle of writing), once a final run delivers every blob not marked done, each sink holds every record
//! exactly once.

mod sink_common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use o365sync::content_type::ContentType;
use o365sync::sink::jsonl::{self, JsonlSink};
use o365sync::sink::{Batch, Compression, Sink, SqliteSink};
use proptest::prelude::*;
use sink_common::*;

/// What happens to one delivery.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Written, acknowledged, marked done in the ledger.
    Ack(usize),
    /// Written durably, then the process dies before the ledger commit.
    CrashAfterWrite(usize),
    /// The process dies half-way through writing (a partial temporary file for jsonl).
    CrashMidWrite(usize),
}

const BLOBS: usize = 5;

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..BLOBS).prop_map(Step::Ack),
        (0..BLOBS).prop_map(Step::CrashAfterWrite),
        (0..BLOBS).prop_map(Step::CrashMidWrite),
    ]
}

fn blobs() -> Vec<Batch> {
    // Two content types, and blob 3 created on the next day: several directories are involved.
    (0..BLOBS)
        .map(|n| {
            let ct = if n % 2 == 0 {
                ContentType::Exchange
            } else {
                ContentType::General
            };
            let mut b = batch(ct, n as u32, 3 + n);
            if n == 3 {
                b.content_created += jiff::SignedDuration::from_hours(24);
            }
            b
        })
        .collect()
}

/// Plays `steps` like the executor would (skipping blobs the ledger has done), then a final complete run.
fn play<S: Sink>(steps: &[Step], open: impl Fn() -> S, crash_mid_write: impl Fn(&S, &Batch)) {
    let blobs = blobs();
    let mut done = BTreeSet::new();
    let mut sink = open();
    for &step in steps {
        let (Step::Ack(k) | Step::CrashAfterWrite(k) | Step::CrashMidWrite(k)) = step;
        if done.contains(&k) {
            continue;
        }
        match step {
            Step::Ack(_) => {
                let _ack = sink.write_blob(&blobs[k]).unwrap();
                done.insert(k);
            }
            Step::CrashAfterWrite(_) => {
                let _lost_ack = sink.write_blob(&blobs[k]).unwrap();
                sink = open();
            }
            Step::CrashMidWrite(_) => {
                crash_mid_write(&sink, &blobs[k]);
                sink = open();
            }
        }
    }
    for (k, b) in blobs.iter().enumerate() {
        if !done.contains(&k) {
            let _ = sink.write_blob(b).unwrap();
        }
    }
}

fn no_temporaries(root: &Path) -> bool {
    files_under(root)
        .iter()
        .all(|p| jsonl::is_final_name(p.file_name().unwrap().to_str().unwrap()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn jsonl_holds_every_record_once_after_any_crashes(
        steps in prop::collection::vec(step(), 0..10),
        compress in prop::sample::select(vec![None, Some(Compression::Gzip), Some(Compression::Zstd)]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        play(
            &steps,
            || JsonlSink::open(dir.path(), compress).unwrap(),
            |sink, b| {
                let paths = sink.paths(&b.meta());
                fs::create_dir_all(&paths.dir).unwrap();
                fs::write(&paths.temp, &b.events[0].line[..10]).unwrap();
            },
        );
        prop_assert_eq!(jsonl_ids(dir.path()), expected_ids(&blobs()));
        prop_assert!(no_temporaries(dir.path()));
        prop_assert_eq!(files_under(dir.path()).len(), BLOBS);
    }

    #[test]
    fn sqlite_holds_every_record_once_after_any_crashes(steps in prop::collection::vec(step(), 0..10)) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("events.db");
        play(
            &steps,
            || SqliteSink::open(&db).unwrap(),
            // A transaction cut short by a crash is rolled back by SQLite; in process, dropping it does the same.
            |_, _| {},
        );
        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut stmt = conn.prepare("SELECT id FROM events").unwrap();
        let ids: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        let unique: BTreeSet<_> = ids.iter().cloned().collect();
        prop_assert_eq!(ids.len(), unique.len());
        let expected: BTreeSet<_> = expected_ids(&blobs()).into_keys().collect();
        prop_assert_eq!(unique, expected);
    }
}
