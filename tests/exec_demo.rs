//! `o365sync demo` end to end in a temporary directory: certificate, embedded emulator, `jobs/demo.yaml`, events
//! under `out/demo/`; the second demo delivers nothing new.

use std::process::Command;

fn demo(dir: &std::path::Path) -> std::process::Output {
    demo_with(dir, &[])
}

fn demo_with(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .arg("demo")
        .args(args)
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

#[test]
fn demo_with_each_network_sink_delivers_what_the_file_demo_writes() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo(dir.path());
    assert_eq!(first.status.code(), Some(0));
    let events = count_lines(&dir.path().join("out/demo/events"));
    for sink in ["elasticsearch", "splunk_hec", "azure_logs_ingestion"] {
        let out = demo_with(dir.path(), &["--sink", sink]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{sink}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The same content, delivered as job demo-<sink> with state of its own, arrives whole at the receiver.
        assert!(
            stdout.contains("receiver") && stdout.contains(&format!("({events} in all)")),
            "{sink}: {stdout}"
        );
        assert!(stdout.contains("new events from"), "{sink}: {stdout}");
        assert!(
            dir.path()
                .join(format!("state/demo-{sink}.sqlite3"))
                .exists(),
            "{sink}"
        );
        assert!(
            stdout.contains(&format!("o365sync demo --sink {sink}")),
            "{sink}: the next commands: {stdout}"
        );
    }
    assert_eq!(
        count_lines(&dir.path().join("out/demo/events")),
        events,
        "the sink demos wrote no files"
    );
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
