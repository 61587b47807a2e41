//! The `jsonl` sink on a real file system: idempotence, crash safety, gzip and zstd, atomic visibility, clear errors.

mod sink_common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use o365sync::content_type::ContentType;
use o365sync::sink::jsonl::{self, JsonlSink};
use o365sync::sink::{Compression, Sink, SinkConfig, SinkKind};
use sink_common::*;

const CT: ContentType = ContentType::Exchange;

const COMPRESSIONS: [Option<Compression>; 3] =
    [None, Some(Compression::Gzip), Some(Compression::Zstd)];

#[test]
fn same_blob_delivered_twice_leaves_one_copy() {
    for compress in COMPRESSIONS {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = JsonlSink::open(dir.path(), compress).unwrap();
        let b = batch(CT, 1, 50);
        let first = sink.write_blob(&b).unwrap();
        let second = sink.write_blob(&b).unwrap();
        assert_eq!((first.events, first.written), (50, 50));
        assert_eq!(second.events, 50);
        assert_eq!(files_under(dir.path()).len(), 1, "{compress:?}");
        assert_eq!(jsonl_ids(dir.path()), expected_ids(&[b]), "{compress:?}");
    }
}

#[test]
fn crash_between_write_and_ack_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let batches: Vec<_> = (0..6).map(|n| batch(CT, n, 40 + n as usize)).collect();

    // First run: blobs 0 and 1 written and acknowledged, blob 2 written but the process dies before the ledger
    // commit, blob 3 dies half-way through its temporary file.
    let mut sink = JsonlSink::open(dir.path(), None).unwrap();
    for b in &batches[..3] {
        let _ = sink.write_blob(b).unwrap();
    }
    let crashed = sink.paths(&batches[3].meta());
    fs::create_dir_all(&crashed.dir).unwrap();
    fs::write(&crashed.temp, &batches[3].events[0].line[..20]).unwrap();
    drop(sink);

    // A reader sees blobs 0..=2 complete and nothing of blob 3.
    assert_eq!(jsonl_ids(dir.path()), expected_ids(&batches[..3]));

    // Next run: the ledger has 0 and 1 done, so 2..6 are delivered (again).
    let mut sink = JsonlSink::open(dir.path(), None).unwrap();
    for b in &batches[2..] {
        let ack = sink.write_blob(b).unwrap();
        assert_eq!(ack.written, b.events.len());
    }
    assert_eq!(jsonl_ids(dir.path()), expected_ids(&batches));
    let leftovers: Vec<_> = files_under(dir.path())
        .into_iter()
        .filter(|p| !jsonl::is_final_name(p.file_name().unwrap().to_str().unwrap()))
        .collect();
    assert!(leftovers.is_empty(), "stale temporaries: {leftovers:?}");
    assert_eq!(files_under(dir.path()).len(), 6);
}

#[test]
fn gzip_output_is_readable_by_gzip_and_flate2() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = JsonlSink::open(dir.path(), Some(Compression::Gzip)).unwrap();
    let b = batch(ContentType::AzureActiveDirectory, 7, 300);
    let _ = sink.write_blob(&b).unwrap();
    let files = files_under(dir.path());
    assert_eq!(files.len(), 1);
    let file = &files[0];
    assert!(file.to_str().unwrap().ends_with(".jsonl.gz"), "{file:?}");

    let out = Command::new("gzip")
        .arg("-dc")
        .arg(file)
        .output()
        .expect("gzip runs");
    assert!(
        out.status.success(),
        "gzip -d failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let by_gzip = String::from_utf8(out.stdout).unwrap();
    let by_flate2 = read_output(file);
    assert_eq!(by_gzip, by_flate2);
    let expected: String = b
        .events
        .iter()
        .map(|e| format!("{}\n", std::str::from_utf8(&e.line).unwrap()))
        .collect();
    assert_eq!(by_gzip, expected, "the lines, in order, byte for byte");

    // `gzip -t` agrees the member is complete (CRC and length trailer).
    let test = Command::new("gzip").arg("-t").arg(file).status().unwrap();
    assert!(test.success());
}

#[test]
fn zstd_output_round_trips_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = JsonlSink::open(dir.path(), Some(Compression::Zstd)).unwrap();
    assert!(sink.describe().ends_with("(zstd)"), "{}", sink.describe());
    let batches: Vec<_> = (0..3).map(|n| batch(CT, n, 100 + n as usize)).collect();
    for b in &batches {
        let ack = sink.write_blob(b).unwrap();
        assert_eq!(ack.written, b.events.len());
    }
    let files = files_under(dir.path());
    assert_eq!(files.len(), 3);
    for (n, (file, b)) in files.iter().zip(&batches).enumerate() {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            name,
            format!(
                "{}-{}.jsonl.zst",
                184500 + n,
                jsonl::content_id_hash(&b.content_id)
            )
        );
        assert!(jsonl::is_final_name(name) && !jsonl::is_temp_name(name));
        let compressed = fs::read(file).unwrap();
        assert_eq!(
            &compressed[..4],
            [0x28, 0xb5, 0x2f, 0xfd],
            "zstd frame magic"
        );
        let expected: Vec<u8> = b
            .events
            .iter()
            .flat_map(|e| e.line.iter().copied().chain([b'\n']))
            .collect();
        assert_eq!(
            zstd::decode_all(&compressed[..]).unwrap(),
            expected,
            "{name}"
        );
        assert_eq!(jsonl::read_lines(file).unwrap(), expected, "{name}");
        // The zstd tool agrees the frame is complete, where it is installed.
        if let Ok(status) = Command::new("zstd").arg("-tq").arg(file).status() {
            assert!(status.success(), "zstd -t {name}");
        }
    }
    assert_eq!(jsonl_ids(dir.path()), expected_ids(&batches));
}

#[test]
fn zstd_temporaries_are_swept_and_an_emptied_blob_loses_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = JsonlSink::open(dir.path(), Some(Compression::Zstd)).unwrap();
    let mut b = batch(CT, 7, 5);
    let paths = sink.paths(&b.meta());
    assert!(paths.file.to_str().unwrap().ends_with(".jsonl.zst"));
    let temp = paths.temp.file_name().unwrap().to_str().unwrap();
    assert!(
        temp.starts_with('.') && temp.ends_with(".jsonl.zst.tmp"),
        "{temp}"
    );
    assert!(jsonl::is_temp_name(temp) && !jsonl::is_final_name(temp));

    // A crash left a partial temporary: the next write into the directory sweeps it.
    let crashed = sink.paths(&batch(CT, 8, 1).meta());
    fs::create_dir_all(&crashed.dir).unwrap();
    fs::write(&crashed.temp, [0x28, 0xb5, 0x2f, 0xfd, 0]).unwrap();
    let _ = sink.write_blob(&b).unwrap();
    assert_eq!(files_under(dir.path()), vec![paths.file.clone()]);
    fs::write(&crashed.temp, b"partial").unwrap();
    assert_eq!(sink.remove_stale_temporaries().unwrap(), 1);

    // Re-delivered with every record already written elsewhere: the unacknowledged file goes.
    b.events.clear();
    let _ = sink.write_blob(&b).unwrap();
    assert!(files_under(dir.path()).is_empty());
}

#[test]
fn layout_is_content_type_then_utc_date_of_content_created() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = JsonlSink::open(dir.path().join("new/out"), None).unwrap();
    let mut b = batch(ContentType::DlpAll, 3, 2);
    b.content_created = "2026-12-31T23:59:58-02:00".parse().unwrap();
    let _ = sink.write_blob(&b).unwrap();
    let files = files_under(&dir.path().join("new/out"));
    assert_eq!(files.len(), 1);
    let relative = files[0].strip_prefix(dir.path().join("new/out")).unwrap();
    let parts: Vec<_> = relative.iter().map(|p| p.to_str().unwrap()).collect();
    assert_eq!(&parts[..4], ["DLP.All", "2027", "01", "01"]);
    assert_eq!(
        parts[4],
        format!("015958-{}.jsonl", jsonl::content_id_hash(&b.content_id))
    );
    assert!(!parts[4].contains('$'));
}

#[test]
fn empty_batch_writes_nothing_and_clears_an_unacknowledged_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = JsonlSink::open(dir.path(), None).unwrap();
    let mut b = batch(CT, 4, 0);
    let ack = sink.write_blob(&b).unwrap();
    assert_eq!((ack.events, ack.written), (0, 0));
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "not even a directory"
    );

    // An earlier delivery (not acknowledged) wrote the records; meanwhile another blob committed them, so the
    // executor now delivers this blob with nothing left: its old file must go, or those records would be doubled.
    b = batch(CT, 4, 5);
    let _ = sink.write_blob(&b).unwrap();
    b.events.clear();
    let _ = sink.write_blob(&b).unwrap();
    assert!(files_under(dir.path()).is_empty());
}

#[test]
fn a_day_directory_removed_behind_the_sink_is_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = JsonlSink::open(dir.path(), None).unwrap();
    let first = batch(CT, 1, 3);
    let _ = sink.write_blob(&first).unwrap();
    // A shipper that deletes what it has shipped, directories included.
    fs::remove_dir_all(dir.path().join(CT.as_str())).unwrap();
    let second = batch(CT, 2, 3);
    let _ = sink.write_blob(&second).unwrap();
    assert_eq!(jsonl_ids(dir.path()), expected_ids(&[second]));
}

#[test]
fn switching_compression_keeps_one_copy_of_a_blob() {
    let dir = tempfile::tempdir().unwrap();
    let b = batch(CT, 5, 10);
    // Every order of the three encodings: each write replaces whichever file an earlier one left.
    for compress in [
        Some(Compression::Zstd),
        None,
        Some(Compression::Zstd),
        Some(Compression::Gzip),
        Some(Compression::Zstd),
    ] {
        let _ = JsonlSink::open(dir.path(), compress)
            .unwrap()
            .write_blob(&b)
            .unwrap();
        let files = files_under(dir.path());
        assert_eq!(files.len(), 1, "{compress:?}: {files:?}");
        let name = files[0].file_name().unwrap().to_str().unwrap();
        assert!(name.ends_with(jsonl::suffix(compress)), "{name}");
        assert_eq!(
            jsonl_ids(dir.path()),
            expected_ids(std::slice::from_ref(&b))
        );
    }
    let _ = JsonlSink::open(dir.path(), None)
        .unwrap()
        .write_blob(&b)
        .unwrap();
    let _ = JsonlSink::open(dir.path(), Some(Compression::Gzip))
        .unwrap()
        .write_blob(&b)
        .unwrap();
    let files = files_under(dir.path());
    assert_eq!(files.len(), 1);
    assert!(files[0].to_str().unwrap().ends_with(".gz"));
    assert_eq!(jsonl_ids(dir.path()), expected_ids(&[b]));
}

#[test]
fn a_tailing_reader_never_sees_a_partial_line_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let batches: Vec<_> = (0..40).map(|n| batch(CT, n, 200)).collect();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut checked = 0usize;
            loop {
                let finished = done.load(Ordering::Acquire);
                if root.join(CT.as_str()).exists() {
                    for file in files_under(&root) {
                        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
                        if jsonl::is_final_name(&name) {
                            // Complete: every line parses, the file ends with a newline, all 200 events are there.
                            let mut counts = BTreeMap::new();
                            count_ids(&read_output(&file), &mut counts);
                            assert_eq!(counts.len(), 200, "{name}");
                            checked += 1;
                        }
                    }
                }
                if finished {
                    return checked;
                }
            }
        });
        let mut sink = JsonlSink::open(&root, Some(Compression::Gzip)).unwrap();
        for (i, b) in batches.iter().enumerate() {
            // Every other blob is delivered twice: a replacement must be atomic too.
            let _ = sink.write_blob(b).unwrap();
            if i % 2 == 0 {
                let _ = sink.write_blob(b).unwrap();
            }
        }
        done.store(true, Ordering::Release);
        let checked = reader.join().expect("reader saw only complete files");
        assert!(checked >= 40, "the last pass alone checks all 40 files");
    });
    assert_eq!(jsonl_ids(&root), expected_ids(&batches));
}

#[test]
fn stale_temporaries_are_swept_and_never_look_final() {
    let dir = tempfile::tempdir().unwrap();
    let sink = JsonlSink::open(dir.path(), None).unwrap();
    let mut temps = Vec::new();
    for n in 0..3 {
        let paths = sink.paths(&batch(ContentType::General, n * 100_000, 1).meta());
        fs::create_dir_all(&paths.dir).unwrap();
        fs::write(&paths.temp, b"{\"partial").unwrap();
        let name = paths.temp.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(jsonl::is_temp_name(&name) && !jsonl::is_final_name(&name));
        temps.push(paths.temp);
    }
    fs::write(dir.path().join("notes.txt"), b"keep me").unwrap();
    assert_eq!(sink.remove_stale_temporaries().unwrap(), 3);
    assert!(temps.iter().all(|t| !t.exists()));
    assert!(
        dir.path().join("notes.txt").exists(),
        "foreign files are left alone"
    );
}

#[test]
fn permission_denied_is_a_clear_error() {
    // Tests run as root, which chmod does not stop; sysfs refuses directory creation even to root.
    let err = JsonlSink::open("/sys/o365sync-sink-test/out", None).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("/sys/o365sync-sink-test"), "{text}");
    assert!(
        text.contains("permission denied: give the user running o365sync write access"),
        "{text}"
    );
    assert!(!Path::new("/sys/o365sync-sink-test").exists());
}

#[test]
fn a_file_in_the_way_is_a_clear_error_and_leaves_nothing_final() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("file"), b"x").unwrap();
    let err = JsonlSink::open(dir.path().join("file"), None).unwrap_err();
    assert!(
        err.to_string().contains("is a file, not a directory"),
        "{err}"
    );
    let err = JsonlSink::open(dir.path().join("file/out"), None).unwrap_err();
    assert!(
        err.to_string().contains("is a file, not a directory"),
        "{err}"
    );

    // The content type's directory is blocked by a regular file: the write fails, nothing appears.
    let root = dir.path().join("out");
    let mut sink = JsonlSink::open(&root, None).unwrap();
    fs::write(root.join(CT.as_str()), b"in the way").unwrap();
    let err = sink.write_blob(&batch(CT, 1, 3)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("a file is in the way"), "{text}");
    assert!(text.contains("delivers the pending blobs again"), "{text}");
    assert_eq!(files_under(&root), vec![root.join(CT.as_str())]);
}

#[test]
fn open_from_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = SinkConfig {
        kind: SinkKind::Jsonl,
        path: Some(dir.path().join("o")),
        compress: Some(Compression::Gzip),
        file_mode: None,
    };
    let mut sink = o365sync::sink::open(&config).unwrap();
    assert!(sink.describe().ends_with("(gzip)"));
    let _ = sink.write_blob(&batch(CT, 9, 4)).unwrap();
    assert_eq!(jsonl_ids(&dir.path().join("o")).len(), 4);
}

// ---- Disk full and read-only file systems, in a private mount namespace -------------------------------------------

/// Runs the ignored test `name` of this binary inside `unshare -rm` after `setup` (a shell snippet on "$1", the
/// directory). Returns false (after saying so) where user namespaces are unavailable.
fn in_namespace(setup: &str, dir: &Path, name: &str) -> bool {
    let probe = Command::new("unshare").args(["-rm", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED {name}: `unshare -rm` (user + mount namespaces) is not available here");
        return false;
    }
    let exe = std::env::current_exe().unwrap();
    let script = format!(
        r#"{setup} && exec "$2" --exact "$3" --include-ignored --nocapture --test-threads=1"#
    );
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script, "sh"])
        .arg(dir)
        .arg(exe)
        .arg(name)
        .env("O365SYNC_SINK_TEST_DIR", dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CHILD OK"),
        "child {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[test]
fn disk_full_is_a_clear_error_and_leaves_nothing_partial() {
    let dir = tempfile::tempdir().unwrap();
    in_namespace(
        r#"mount -t tmpfs -o size=512k o365sync-full "$1""#,
        dir.path(),
        "child_disk_full",
    );
}

#[test]
#[ignore = "runs inside a private mount namespace, started by disk_full_is_a_clear_error_and_leaves_nothing_partial"]
fn child_disk_full() {
    let root = std::path::PathBuf::from(std::env::var("O365SYNC_SINK_TEST_DIR").unwrap());
    let mut sink = JsonlSink::open(&root, None).unwrap();
    let small = batch(CT, 1, 10);
    let _ = sink.write_blob(&small).unwrap();
    // About 1.5 MB of lines into a 512 KiB file system.
    let big = batch(CT, 2, 3000);
    let err = sink.write_blob(&big).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("the file system is full: free space"),
        "{text}"
    );
    assert_eq!(
        jsonl_ids(&root),
        expected_ids(std::slice::from_ref(&small)),
        "nothing of the big blob"
    );
    assert_eq!(
        files_under(&root).len(),
        1,
        "no temporary left: {:?}",
        files_under(&root)
    );

    // The same for SQLite: the failed batch's transaction is rolled back, earlier batches stay.
    let db = root.join("events.db");
    let mut sqlite = o365sync::sink::SqliteSink::open(&db).unwrap();
    let _ = sqlite.write_blob(&small).unwrap();
    let err = sqlite.write_blob(&big).unwrap_err();
    assert!(err.to_string().contains("free space"), "{err}");
    drop(sqlite);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 10);
    println!("CHILD OK: {text}");
}

#[test]
fn read_only_file_system_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = JsonlSink::open(dir.path(), None).unwrap();
    let _ = sink.write_blob(&batch(CT, 1, 5)).unwrap();
    drop(o365sync::sink::SqliteSink::open(dir.path().join("events.db")).unwrap());
    in_namespace(
        r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1""#,
        dir.path(),
        "child_read_only",
    );
    // Back outside: still exactly the first blob.
    assert_eq!(jsonl_ids(dir.path()), expected_ids(&[batch(CT, 1, 5)]));
}

#[test]
#[ignore = "runs inside a private mount namespace, started by read_only_file_system_is_a_clear_error"]
fn child_read_only() {
    let root = std::path::PathBuf::from(std::env::var("O365SYNC_SINK_TEST_DIR").unwrap());
    let before = files_under(&root);
    let mut sink = JsonlSink::open(&root, None).unwrap();
    for b in [
        batch(CT, 1, 5),
        batch(CT, 2, 5),
        batch(ContentType::General, 3, 5),
    ] {
        let err = sink.write_blob(&b).unwrap_err();
        assert!(
            err.to_string()
                .contains("the file system is read-only: remount it read-write"),
            "{err}"
        );
    }
    let err = o365sync::sink::SqliteSink::open(root.join("events.db")).unwrap_err();
    assert!(
        err.to_string()
            .contains("the file system is read-only: remount it read-write"),
        "{err}"
    );
    assert_eq!(files_under(&root), before);
    println!("CHILD OK: {err}");
}
