//! `o365sync shards DIR --count N [--json] [--from-count M]` through the real binary over a directory of generated
//! job files.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use o365sync::shard::shard_of;

fn job_yaml(name: &str) -> String {
    format!(
        "version: 1
name: {name}
tenant:
  id: 8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718
  cloud: gcc
  client_id: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a
  certificate: cert.pem
  private_key: key.pem
sink:
  type: stdout
"
    )
}

/// A temporary directory with `jobs/` holding `n` job files `job-000.yaml`… (job names `job-000`…).
fn jobs_dir(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs");
    std::fs::create_dir(&jobs).unwrap();
    let cert = o365sync::emulator::throwaway_certificate("shards-test").unwrap();
    std::fs::write(jobs.join("cert.pem"), &cert.certificate_pem).unwrap();
    std::fs::write(jobs.join("key.pem"), &cert.private_key_pem).unwrap();
    for i in 0..n {
        let name = format!("job-{i:03}");
        std::fs::write(jobs.join(format!("{name}.yaml")), job_yaml(&name)).unwrap();
    }
    dir
}

fn o365sync(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .args(args)
        .current_dir(dir)
        .env_remove("O365SYNC_SHARD")
        .env_remove("O365SYNC_STATE_DIR")
        .output()
        .expect("run o365sync")
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = o365sync(dir, args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn names(jobs: &serde_json::Value) -> Vec<String> {
    jobs.as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_assignment_is_disjoint_complete_and_the_hash_of_each_name() {
    let dir = jobs_dir(40);
    let v = json(dir.path(), &["shards", "--count", "3", "--json"]);
    assert_eq!(v["count"], 3);
    assert!(v.get("moves").is_none());
    let shards = v["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 3);
    let mut all = BTreeSet::new();
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["index"], i);
        for j in s["jobs"].as_array().unwrap() {
            let name = j["name"].as_str().unwrap();
            assert_eq!(shard_of(name, 3) as usize, i, "{name}");
            assert_eq!(j["file"], format!("jobs/{name}.yaml"));
            assert!(all.insert(name.to_owned()), "{name} in two shards");
        }
    }
    let expected: BTreeSet<String> = (0..40).map(|i| format!("job-{i:03}")).collect();
    assert_eq!(all, expected);

    // The text form: a heading per shard, then its jobs and files, indented.
    let out = o365sync(dir.path(), &["shards", "jobs", "--count", "3"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for (i, s) in shards.iter().enumerate() {
        let jobs = names(&s["jobs"]);
        let heading = format!("shard {i}/3: {} jobs\n", jobs.len());
        let at = text
            .find(&heading)
            .unwrap_or_else(|| panic!("{heading}in {text}"));
        let body: Vec<&str> = text[at + heading.len()..]
            .lines()
            .take_while(|l| l.starts_with("  "))
            .collect();
        assert_eq!(body.len(), jobs.len(), "{text}");
        for (line, name) in body.iter().zip(&jobs) {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(words, [name.as_str(), &format!("jobs/{name}.yaml")]);
        }
    }
}

#[test]
fn growing_the_count_moves_jobs_only_to_the_new_shard() {
    let dir = jobs_dir(40);
    let v = json(
        dir.path(),
        &["shards", "--count", "4", "--from-count", "3", "--json"],
    );
    assert_eq!(v["from_count"], 3);
    let moves = v["moves"].as_array().unwrap();
    assert!(!moves.is_empty() && moves.len() < 20, "{moves:?}");
    for m in moves {
        let name = m["name"].as_str().unwrap();
        assert_eq!(m["to"], 3, "{name}");
        assert_eq!(m["from"], shard_of(name, 3), "{name}");
        assert_eq!(m["file"], format!("jobs/{name}.yaml"));
    }
    // exactly the jobs of the new shard moved, and no other job changed shard
    assert_eq!(names(&v["moves"]), names(&v["shards"][3]["jobs"]));
    let before = json(dir.path(), &["shards", "--count", "3", "--json"]);
    for i in 0..3 {
        let stayed: BTreeSet<String> = names(&v["shards"][i]["jobs"]).into_iter().collect();
        let had: BTreeSet<String> = names(&before["shards"][i]["jobs"]).into_iter().collect();
        assert!(stayed.is_subset(&had), "shard {i} gained jobs");
    }

    let out = o365sync(dir.path(), &["shards", "--count", "4", "--from-count", "3"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let heading = format!("moves from 3 to 4 shards: {} jobs\n", moves.len());
    assert!(text.contains(&heading), "{text}");
    let first = &moves[0];
    let line = format!(
        "shard {} -> 3  jobs/{}.yaml",
        first["from"],
        first["name"].as_str().unwrap()
    );
    assert!(text.contains(&line), "{text}");
}

#[test]
fn invalid_files_and_duplicate_names_are_reported_and_nothing_is_printed() {
    let dir = jobs_dir(3);
    let jobs = dir.path().join("jobs");
    std::fs::write(jobs.join("twin.yaml"), job_yaml("job-001")).unwrap();
    let out = o365sync(dir.path(), &["shards", "--count", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "jobs/twin.yaml:2:7: job name `job-001` is already used by jobs/job-001.yaml"
        ),
        "{stderr}"
    );

    std::fs::remove_file(jobs.join("twin.yaml")).unwrap();
    std::fs::write(jobs.join("broken.yaml"), "version: 1\nname: Bad Name\n").unwrap();
    let out = o365sync(dir.path(), &["shards", "--count", "2", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("jobs/broken.yaml:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // usage errors: a count of 0, a missing count
    assert_eq!(
        o365sync(dir.path(), &["shards", "--count", "0"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(o365sync(dir.path(), &["shards"]).status.code(), Some(2));
    // an empty directory
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir(empty.path().join("jobs")).unwrap();
    assert_eq!(
        o365sync(empty.path(), &["shards", "--count", "2"])
            .status
            .code(),
        Some(2)
    );
}
