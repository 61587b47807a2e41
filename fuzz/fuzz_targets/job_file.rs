//! The job-file loader on arbitrary text: YAML with spans, `${VAR}` expansion, durations, validation and the build
//! phase (which reads the certificate files the job names; real fixture credentials lie beside the file). A bad
//! file gives diagnostics that point inside the file (1-based line and column of a line that exists), say what to
//! do, and end without a period; never a panic. Durations print back to the same value.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use o365sync::job::duration::{format_duration, parse_duration};
use o365sync::job::expand::{Env, expand};
use o365sync::job::{Context, load_str};

struct FuzzEnv;

impl Env for FuzzEnv {
    fn var(&self, name: &str) -> Option<String> {
        match name {
            "TENANT_ID" => Some("8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718".into()),
            "CERTS" => Some("../certs".into()),
            "EMPTY" => Some(String::new()),
            "O365SYNC_DEMO_URL" => Some("http://127.0.0.1:8400".into()),
            "KEY_PASS" => Some("fuzz-passphrase".into()),
            _ => None,
        }
    }
}

/// `<tmp>/jobs/job.yaml` is where the text is said to be; `<tmp>/certs/` holds the fixture credentials
/// (`cert.pem`, `key.pem`, `combined.pem`, `plain.pfx`, ...), so that seed jobs naming `../certs/...` build.
fn job_path() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        let certs = dir.join("certs");
        std::fs::create_dir_all(&certs).expect("certs dir");
        std::fs::create_dir_all(dir.join("jobs")).expect("jobs dir");
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/credentials");
        for entry in std::fs::read_dir(&fixtures).expect("fixtures/credentials") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), certs.join(entry.file_name())).expect("copy credential");
        }
        dir.join("jobs/job.yaml")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let ctx = Context {
        env: &FuzzEnv,
        now: jiff::Timestamp::from_second(1_767_225_600).expect("now"),
    };
    if let Err(diagnostics) = load_str(&text, job_path(), &ctx) {
        // lines at LF, each without the CR of a CRLF (a lone CR is refused)
        let lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        assert!(
            !diagnostics.0.is_empty(),
            "a refused job file without a diagnostic"
        );
        for d in &diagnostics.0 {
            assert!(d.line >= 1 && d.column >= 1, "0 in a location: {d:?}");
            assert!(
                d.line as usize <= lines.len(),
                "line {} past the end ({} lines): {d:?}",
                d.line,
                lines.len()
            );
            let width = lines[d.line as usize - 1].chars().count();
            assert!(
                d.column as usize <= width + 1,
                "column {} past the line's end ({width}): {d:?}",
                d.column
            );
            assert!(
                !d.message.is_empty() && !d.message.ends_with('.'),
                "message: {:?}",
                d.message
            );
            assert!(!d.help.is_empty(), "no help: {d:?}");
        }
    }
    if text.len() <= 64 {
        if let Ok(d) = parse_duration(&text) {
            let printed = format_duration(d);
            assert_eq!(
                parse_duration(&printed).ok(),
                Some(d),
                "{text:?} printed as {printed:?}"
            );
        }
    }
    if let Ok(expanded) = expand(&text, &FuzzEnv)
        && !text.contains('$')
    {
        assert_eq!(expanded, text, "expansion changed text without a `$`");
    }
});
