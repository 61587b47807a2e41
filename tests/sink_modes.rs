//! Permissions of what the file sinks create, whatever the process umask: `jsonl` files 0640 and directories 0750,
//! the SQLite sink's database (and its -wal and -shm files) 0600, and `sink.file_mode` changing either. One test in
//! its own binary: the umask is process-wide.

mod sink_common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use o365sync::content_type::ContentType;
use o365sync::sink::{Compression, FileMode, Sink, SinkConfig, SinkKind};
use sink_common::*;

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every directory and file under `root`, `root` included.
fn tree(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut dirs, mut files) = (vec![root.to_owned()], Vec::new());
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path.clone());
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    (dirs, files)
}

fn open(kind: SinkKind, path: PathBuf, file_mode: Option<FileMode>) -> Box<dyn Sink> {
    o365sync::sink::open(&SinkConfig {
        kind,
        path: Some(path),
        compress: (kind == SinkKind::Jsonl).then_some(Compression::Zstd),
        file_mode,
    })
    .unwrap()
}

/// Delivers one blob of `events` events and checks that the sink acknowledged them all.
fn write(sink: &mut dyn Sink, ct: ContentType, n: u32, events: usize) {
    let ack = sink.write_blob(&batch(ct, n, events)).unwrap();
    assert_eq!(ack.events, events);
}

fn set_umask(mask: u32) {
    // SAFETY: umask only swaps the process's file creation mask; this binary runs one test.
    unsafe {
        libc::umask(mask as libc::mode_t);
    }
}

#[test]
fn file_sinks_create_exactly_their_modes_whatever_the_umask() {
    for umask in [0o000, 0o022, 0o077] {
        set_umask(umask);
        let tmp = tempfile::tempdir().unwrap();

        // jsonl, default: files 0640, every directory the sink made 0750 (the output root included).
        let root = tmp.path().join("out/jsonl");
        let mut sink = open(SinkKind::Jsonl, root.clone(), None);
        for n in 0..3 {
            write(sink.as_mut(), ContentType::Exchange, n, 5);
        }
        // a blob delivered again replaces its file, with the same mode
        write(sink.as_mut(), ContentType::Exchange, 0, 5);
        drop(sink);
        let (dirs, files) = tree(&root);
        assert_eq!(files.len(), 3, "umask {umask:03o}");
        assert!(
            dirs.len() >= 5,
            "root, content type, year, month, day: {dirs:?}"
        );
        for f in &files {
            assert_eq!(mode(f), 0o640, "umask {umask:03o}: {}", f.display());
        }
        for d in dirs.iter().chain([&tmp.path().join("out")]) {
            assert_eq!(mode(d), 0o750, "umask {umask:03o}: {}", d.display());
        }

        // jsonl with `file_mode: "0600"`: the files and directories follow it.
        let private = tmp.path().join("private");
        let mut sink = open(
            SinkKind::Jsonl,
            private.clone(),
            Some(FileMode::parse("0600").unwrap()),
        );
        write(sink.as_mut(), ContentType::SharePoint, 1, 2);
        drop(sink);
        let (dirs, files) = tree(&private);
        assert!(
            files.iter().all(|f| mode(f) == 0o600),
            "umask {umask:03o}: {files:?}"
        );
        assert!(
            dirs.iter().all(|d| mode(d) == 0o700),
            "umask {umask:03o}: {dirs:?}"
        );

        // sqlite, default: the database and SQLite's -wal and -shm files 0600, its new directory 0700.
        let db = tmp.path().join("db/events.sqlite3");
        let mut sink = open(SinkKind::Sqlite, db.clone(), None);
        write(sink.as_mut(), ContentType::Exchange, 1, 5);
        let wal = db.with_extension("sqlite3-wal");
        let shm = db.with_extension("sqlite3-shm");
        for f in [&db, &wal, &shm] {
            assert_eq!(mode(f), 0o600, "umask {umask:03o}: {}", f.display());
        }
        assert_eq!(mode(db.parent().unwrap()), 0o700, "umask {umask:03o}");
        drop(sink);

        // sqlite with `file_mode: "0640"`.
        let shared = tmp.path().join("shared.sqlite3");
        let mut sink = open(
            SinkKind::Sqlite,
            shared.clone(),
            Some(FileMode::parse("0640").unwrap()),
        );
        write(sink.as_mut(), ContentType::Exchange, 1, 5);
        assert_eq!(mode(&shared), 0o640, "umask {umask:03o}");
        assert_eq!(
            mode(&shared.with_extension("sqlite3-wal")),
            0o640,
            "umask {umask:03o}"
        );
        drop(sink);
    }
    set_umask(0o022);

    // What the operator made keeps its mode: an existing output directory and an existing database.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("existing");
    fs::create_dir(&root).unwrap();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
    let mut sink = open(SinkKind::Jsonl, root.clone(), None);
    write(sink.as_mut(), ContentType::Exchange, 1, 1);
    assert_eq!(mode(&root), 0o755);
    let db = tmp.path().join("existing.sqlite3");
    drop(open(SinkKind::Sqlite, db.clone(), None));
    fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
    let mut sink = open(SinkKind::Sqlite, db.clone(), None);
    write(sink.as_mut(), ContentType::Exchange, 1, 1);
    assert_eq!(mode(&db), 0o644);
}
