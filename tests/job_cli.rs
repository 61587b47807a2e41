//! The `validate`, `plan` and `schema` commands as a user runs them: exit codes, located errors, the printed plan.

use std::path::Path;
use std::process::{Command, Output};

const GOOD: &str = "\
version: 1
name: cli-job
tenant:
  id: 8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718
  cloud: dod
  client_id: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a
  certificate: cert.pem
  private_key: key.pem
content_types: [Audit.General, Audit.Exchange]
sync:
  start: 30d
  window: 24h
sink:
  type: stdout
endpoints:
  api: ${CLI_TEST_API:-http://127.0.0.1:8400}
";

fn o365sync(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .args(args)
        .current_dir(dir)
        .env_remove("CLI_TEST_API")
        .output()
        .expect("run o365sync")
}

fn jobs_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs");
    std::fs::create_dir(&jobs).unwrap();
    let cert = o365sync::emulator::throwaway_certificate("job-cli-test").unwrap();
    std::fs::write(jobs.join("cert.pem"), &cert.certificate_pem).unwrap();
    std::fs::write(jobs.join("key.pem"), &cert.private_key_pem).unwrap();
    std::fs::write(jobs.join("good.yaml"), GOOD).unwrap();
    dir
}

#[test]
fn validate_accepts_good_jobs_with_exit_0_and_prints_warnings() {
    let dir = jobs_dir();
    let out = o365sync(dir.path(), &["validate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("jobs/good.yaml: ok (job cli-job, dod cloud")
    );
    assert!(
        stderr.starts_with("jobs/good.yaml:11:10: warning: start 30d reaches past"),
        "{stderr}"
    );
    assert!(stderr.contains("\nhelp: "), "{stderr}");
}

#[test]
fn validate_reports_every_bad_file_with_exit_2() {
    let dir = jobs_dir();
    let jobs = dir.path().join("jobs");
    std::fs::write(
        jobs.join("a.yaml"),
        GOOD.replace("name: cli-job", "name: a\nclient_secret: x"),
    )
    .unwrap();
    std::fs::write(
        jobs.join("z.yaml"),
        GOOD.replace("name: cli-job", "name: z")
            .replace("window: 24h", "window: 48h"),
    )
    .unwrap();
    let out = o365sync(dir.path(), &["validate", "jobs"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("jobs/a.yaml:3:1: `client_secret` is not supported"),
        "{stderr}"
    );
    assert!(
        stderr.contains("jobs/z.yaml:12:11: window 2d is outside 1m ..= 24h\nhelp: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: 2 of 3 job files are invalid"),
        "{stderr}"
    );

    let out = o365sync(dir.path(), &["validate", "jobs/missing.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("jobs/missing.yaml:1:1: cannot read job file")
    );
}

#[test]
fn schema_prints_the_committed_schema() {
    let out = o365sync(Path::new(env!("CARGO_MANIFEST_DIR")), &["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/job.schema.json"),
    )
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);
}

#[test]
fn plan_prints_endpoints_watermarks_and_windows_without_network() {
    let dir = jobs_dir();
    let out = o365sync(dir.path(), &["plan", "jobs/good.yaml", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["job"], "cli-job");
    assert_eq!(plan["cloud"], "dod");
    assert_eq!(plan["tenant"], "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718");
    assert_eq!(plan["publisher_id"], "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718");
    assert_eq!(
        plan["endpoints"]["token_url"],
        "https://login.microsoftonline.us/8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718/oauth2/v2.0/token"
    );
    assert_eq!(
        plan["endpoints"]["api_root"],
        "http://127.0.0.1:8400/api/v1.0/8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718/activity/feed"
    );
    assert_eq!(
        plan["endpoints"]["scope"],
        "https://manage.protection.apps.mil/.default"
    );
    let cts = plan["content_types"].as_array().unwrap();
    assert_eq!(cts.len(), 2);
    assert_eq!(cts[0]["content_type"], "Audit.General");
    for ct in cts {
        assert!(ct["watermark"].is_null());
        // start 30d is clamped: 167h55m from the retention floor to now, cut at UTC midnights, is 7 or 8 windows.
        let windows = ct["windows"].as_array().unwrap();
        assert!((7..=8).contains(&windows.len()), "{windows:?}");
        assert_eq!(windows[0]["start"], ct["retention_floor"]);
        assert_eq!(windows[windows.len() - 1]["end"], ct["now"]);
        for w in &windows[1..] {
            assert!(w["start"].as_str().unwrap().ends_with("T00:00:00Z"), "{w}");
        }
        assert!(ct["clamped_start"].is_string());
    }

    let out = o365sync(dir.path(), &["plan", "jobs/good.yaml"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(text.contains("watermark  none (first run)"), "{text}");
    assert!(text.contains("clamped to retention"), "{text}");
    assert!(
        text.contains("scope        https://manage.protection.apps.mil/.default"),
        "{text}"
    );

    let out = o365sync(dir.path(), &["plan", "jobs/nope.yaml"]);
    assert_eq!(out.status.code(), Some(2));
}
