//! `state export` / `state import` through the real binary, with state made by real runs against the in-process
//! emulator: a job's state moved to another state directory (volume) is the same state and the job resumes from it;
//! another tenant's state, existing state without --force, a held lock, garbage and truncated files are refused and
//! write nothing.

mod exec_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use exec_support::*;
use o365sync::emulator::Faults;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The binary run in the job's temporary directory with another `--state-dir`.
async fn run_in(env: &Env, state_dir: &Path, args: &[&str]) -> Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_o365sync"));
    c.arg("--state-dir")
        .arg(state_dir)
        .args(args)
        .current_dir(env.dir.path())
        .env_remove("O365SYNC_STATE_DIR")
        .env_remove("O365SYNC_TEST_PAUSE_AT")
        .env("RUST_LOG", "warn");
    tokio::task::spawn_blocking(move || c.output().expect("binary runs"))
        .await
        .expect("join")
}

/// `state show --json` against `state_dir`, without the database path (which names the directory).
async fn show(env: &Env, state_dir: &Path) -> serde_json::Value {
    let out = run_in(env, state_dir, &["state", "show", &env.job(), "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v.as_object_mut().unwrap().remove("database");
    v
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The names in `dir` (none when it does not exist).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn synced() -> Env {
    let env = setup(content(61, 6, 0), Faults::default(), DEFAULT_SYNC).await;
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    env
}

async fn export(env: &Env, to: &Path) -> Output {
    env.run(&[
        "state",
        "export",
        &env.job(),
        "--output",
        to.to_str().unwrap(),
    ])
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_state_imported_elsewhere_is_the_same_state_and_the_job_resumes_from_it() {
    let env = synced().await;
    let file = env.dir.path().join("t.export");
    let out = export(&env, &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("state of job `t` exported from "),
        "{}",
        stdout(&out)
    );
    assert_eq!(mode(&file), 0o600);
    assert!(
        !Path::new(&format!("{}-wal", file.display())).exists(),
        "self-contained"
    );
    let exported = std::fs::read(&file).unwrap();

    // never overwrites
    let again = export(&env, &file).await;
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read(&file).unwrap(), exported);

    // the default file name, in the current directory
    let out = run_in(&env, &env.state_dir, &["state", "export", &env.job()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(env.dir.path().join("t.o365sync-state").is_file());

    let other: PathBuf = env.dir.path().join("volume-b").join("state");
    let out = run_in(
        &env,
        &other,
        &["state", "import", &env.job(), file.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("state of job `t` imported from "),
        "{}",
        stdout(&out)
    );
    let database = other.join("t.sqlite3");
    assert_eq!(mode(&database), 0o600);
    assert_eq!(
        listing(&other),
        ["t.lock", "t.sqlite3"],
        "no temporary file left"
    );
    assert_eq!(show(&env, &other).await, show(&env, &env.state_dir).await);

    // the job resumes from the imported state: nothing is delivered twice
    let before = env.delivered().len();
    let out = run_in(&env, &other, &["run", &env.job()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let delivered = env.delivered();
    assert_exact(&delivered, &env.emu.ground_truth().all());
    assert!(delivered.len() >= before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_state_is_replaced_only_with_force() {
    let env = synced().await;
    let file = env.dir.path().join("t.export");
    assert_eq!(export(&env, &file).await.status.code(), Some(0));
    let database = env.state_dir.join("t.sqlite3");
    let before = std::fs::read(&database).unwrap();
    let out = env
        .run(&["state", "import", &env.job(), file.to_str().unwrap()])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already has state") && stderr(&out).contains("--force"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&database).unwrap(), before, "left untouched");

    let shown = show(&env, &env.state_dir).await;
    let out = env
        .run(&[
            "state",
            "import",
            &env.job(),
            file.to_str().unwrap(),
            "--force",
        ])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("replaced the state the job had"),
        "{}",
        stdout(&out)
    );
    assert_eq!(mode(&database), 0o600);
    assert_eq!(show(&env, &env.state_dir).await, shown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_of_another_tenant_is_refused_and_nothing_is_written() {
    let a = synced().await;
    let b = setup_with(content(62, 6, 0), Faults::default(), DEFAULT_SYNC, |c| {
        c.tenant_id = "0b5e2c1d-3f4a-4b6c-9d8e-7f6a5b4c3d2e".into();
    })
    .await;
    let (out, report) = b.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let file = b.dir.path().join("b.export");
    assert_eq!(export(&b, &file).await.status.code(), Some(0));

    // into a fresh state directory: refused before anything is created
    let fresh = a.dir.path().join("fresh-state");
    let out = run_in(
        &a,
        &fresh,
        &["state", "import", &a.job(), file.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("belongs to tenant {}", b.emu.tenant_id()))
            && err.contains(a.emu.tenant_id())
            && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(!fresh.exists(), "{:?}", listing(&fresh));

    // over existing state, even with --force: refused, the state untouched
    let shown = show(&a, &a.state_dir).await;
    let out = a
        .run(&[
            "state",
            "import",
            &a.job(),
            file.to_str().unwrap(),
            "--force",
        ])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(show(&a, &a.state_dir).await, shown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_is_exit_75_for_export_and_import() {
    let env = synced().await;
    let file = env.dir.path().join("t.export");
    assert_eq!(export(&env, &file).await.status.code(), Some(0));
    let lock = o365sync::state::StateDir::open(&env.state_dir)
        .unwrap()
        .lock("t")
        .unwrap();
    let out = export(&env, &env.dir.path().join("second.export")).await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is locked by another run"),
        "{}",
        stderr(&out)
    );
    assert!(!env.dir.path().join("second.export").exists());
    let out = env
        .run(&[
            "state",
            "import",
            &env.job(),
            file.to_str().unwrap(),
            "--force",
        ])
        .await;
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    drop(lock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_truncated_and_foreign_files_are_refused_and_create_nothing() {
    let env = synced().await;
    let file = env.dir.path().join("t.export");
    assert_eq!(export(&env, &file).await.status.code(), Some(0));
    let whole = std::fs::read(&file).unwrap();
    let bad = env.dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    let foreign = bad.join("foreign.sqlite3");
    {
        let conn = rusqlite::Connection::open(&foreign).unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT, value TEXT); INSERT INTO meta VALUES ('job', 't');",
        )
        .unwrap();
    }
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            write(
                &bad,
                "garbage",
                b"this is not a database at all, just text\n".repeat(100),
            ),
            "not a SQLite database",
        ),
        (write(&bad, "empty", Vec::new()), "(the file is empty)"),
        (
            write(&bad, "truncated", whole[..whole.len() / 2].to_vec()),
            "damaged or truncated",
        ),
        (
            write(&bad, "header-only", whole[..100].to_vec()),
            "damaged or truncated",
        ),
        (foreign, "application id"),
        (bad.join("missing"), "cannot read"),
        (bad.clone(), "not a regular file"),
    ];
    let state = env.dir.path().join("untouched-state");
    for (path, message) in cases {
        let out = run_in(
            &env,
            &state,
            &["state", "import", &env.job(), path.to_str().unwrap()],
        )
        .await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}: {}",
            path.display(),
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(message),
            "{}: {}",
            path.display(),
            stderr(&out)
        );
        assert!(!state.exists(), "{}: {:?}", path.display(), listing(&state));
    }
    // the files themselves are left as they were (no -wal or -shm next to them)
    assert!(
        listing(&bad)
            .iter()
            .all(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
    );
    // and existing state is not touched by a bad file, even with --force
    let shown = show(&env, &env.state_dir).await;
    let out = env
        .run(&[
            "state",
            "import",
            &env.job(),
            bad.join("truncated").to_str().unwrap(),
            "--force",
        ])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(show(&env, &env.state_dir).await, shown);
}

fn write(dir: &Path, name: &str, bytes: Vec<u8>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}
