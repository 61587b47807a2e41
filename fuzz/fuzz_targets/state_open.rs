//! A job's state database from arbitrary bytes (a damaged disk, a stray file, a tampered volume): `state show`
//! (read-only), `state import` and a run's open each give a clear error or a working state, never a panic; a refusal
//! leaves the file byte for byte as it was and creates nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365sync::content_type::ContentType;
use o365sync::state::{Identity, StateDir, import, show};

const JOB: &str = "fuzz";

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fuzz_target!(|data: &[u8]| {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("state");
    std::fs::create_dir(&dir).expect("state dir");
    let db = dir.join(format!("{JOB}.sqlite3"));
    std::fs::write(&db, data).expect("write the database");

    // `state show`: read-only whatever it finds.
    let shown = show(&dir, JOB, 3);
    assert_eq!(
        std::fs::read(&db).expect("read back"),
        data,
        "state show changed the file ({shown:?})"
    );
    assert_eq!(
        files(&dir),
        vec![format!("{JOB}.sqlite3")],
        "state show left files behind ({shown:?})"
    );

    // `state import` of the bytes into an empty state directory: all or nothing.
    let other = tmp.path().join("other");
    match import(&other, JOB, &db, &Identity::default(), false) {
        Ok(_) => assert!(
            other.join(format!("{JOB}.sqlite3")).exists(),
            "import succeeded without a database"
        ),
        Err(_) => {
            assert!(
                !other.join(format!("{JOB}.sqlite3")).exists(),
                "a refused import installed a database: {:?}",
                files(&other)
            );
        }
    }
    assert_eq!(
        std::fs::read(&db).expect("read back"),
        data,
        "state import changed its source"
    );

    // A run's open: refused with the file untouched, or a state that answers.
    let opened = StateDir::open(&dir).and_then(|d| d.lock_and_open(JOB));
    match opened {
        Err(error) => {
            let now = std::fs::read(&db).expect("read back");
            assert!(now == data, "a refused open ({error}) changed the file");
        }
        Ok(state) => {
            let _ = state.summary(3);
            for ct in ContentType::ALL {
                let _ = state.watermark(ct);
            }
        }
    }
});
