//! `o365sync demo` end to end in a temporary directory: certificate, embedded emulator, `jobs/demo.yaml`, events
//! under `out/demo/`; the second demo delivers nothing new.

use std::process::Command;

fn demo(dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .arg("demo")
        .current_dir(dir)
        .env_remove("O365SYNC_STATE_DIR")
        .env("RUST_LOG", "warn")
        .output()
        .expect("demo runs")
}

#[test]
fn demo_end_to_end_then_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo(dir.path());
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    for f in [
        "jobs/demo.yaml",
        "out/demo/certificate.pem",
        "out/demo/key.pem",
        "state/demo.sqlite3",
    ] {
        assert!(dir.path().join(f).exists(), "{f} exists");
    }
    assert!(stdout.contains("OCSF events are in"), "{stdout}");
    assert!(
        stdout.contains("Authentication"),
        "counts per class: {stdout}"
    );
    assert!(stdout.contains("new events from"), "{stdout}");
    assert!(stdout.contains("state show"), "next commands: {stdout}");
    let events = count_lines(&dir.path().join("out/demo/events"));
    assert!(events > 1000, "{events} events");
    // the total printed is the number of lines on disk
    assert!(stdout.contains(&format!("({events} in all)")), "{stdout}");

    let second = demo(dir.path());
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(stdout.contains("nothing new"), "{stdout}");
    assert_eq!(count_lines(&dir.path().join("out/demo/events")), events);

    // the state the demo left is readable with the next command it suggests
    let show = Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .args(["state", "show", "jobs/demo.yaml"])
        .current_dir(dir.path())
        .env_remove("O365SYNC_STATE_DIR")
        .output()
        .unwrap();
    assert!(show.status.success());
    assert!(String::from_utf8_lossy(&show.stdout).contains("Audit.Exchange"));
}

fn count_lines(dir: &std::path::Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                n += std::fs::read_to_string(&p).unwrap().lines().count();
            }
        }
    }
    n
}
