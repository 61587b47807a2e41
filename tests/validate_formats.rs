//! `validate --format text|json|github` and `--strict` through the real binary: GitHub workflow commands checked line
//! by line (escaping included), the JSON document parsed, and the exit codes.

use std::path::Path;
use std::process::{Command, Output};

const TENANT: &str = "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718";

/// A valid job without warnings; `NAME` and the sink are replaced per file.
fn job(name: &str, sync: &str, sink: &str) -> String {
    format!(
        "version: 1
name: {name}
tenant:
  id: {TENANT}
  cloud: gcc
  client_id: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a
  certificate: cert.pem
  private_key: key.pem
content_types: [Audit.Exchange, DLP.All]
sync:
{sync}sink:
{sink}"
    )
}

/// Several errors in one file: a bad GUID (line 4), a bad duration (line 11) and an unknown key (line 12).
const ERRORS: &str = "\
version: 1
name: errors
tenant:
  id: 8f3a1c2e-5b7d-4e9f-a1b2
  cloud: gcc
  client_id: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a
  certificate: cert.pem
  private_key: key.pem
sync:
  start: 1d
  window: 90 minutes please
  lookbak: 2h
sink:
  type: stdout
";

/// Malformed YAML: a quote that never closes.
const SYNTAX: &str = "\
version: 1
name: syntax
tenant:
  id: \"8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718
  cloud: gcc
";

fn o365sync(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "off")
        .output()
        .expect("run o365sync")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 stdout")
}

/// `jobs/` with the certificate and key, and the job files given.
fn jobs(files: &[(&str, String)]) -> tempfile::TempDir {
    static CERT: std::sync::OnceLock<o365sync::emulator::ThrowawayCertificate> =
        std::sync::OnceLock::new();
    let cert =
        CERT.get_or_init(|| o365sync::emulator::throwaway_certificate("validate-formats").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs");
    std::fs::create_dir(&jobs).unwrap();
    std::fs::write(jobs.join("cert.pem"), &cert.certificate_pem).unwrap();
    std::fs::write(jobs.join("key.pem"), &cert.private_key_pem).unwrap();
    for (name, text) in files {
        std::fs::write(jobs.join(name), text).unwrap();
    }
    dir
}

/// The five files of the brief: valid, several errors, warnings only, malformed YAML, and a file whose name and
/// value need escaping.
fn mixed() -> tempfile::TempDir {
    jobs(&[
        (
            "a-valid.yaml",
            job("valid", "  start: 1d\n", "  type: stdout\n"),
        ),
        ("b-errors.yaml", ERRORS.to_string()),
        (
            "c-warning.yaml",
            job(
                "warning",
                "  start: 30d\n",
                "  type: jsonl\n  path: ../out\n  gzip: true\n",
            ),
        ),
        ("d-syntax.yaml", SYNTAX.to_string()),
        (
            "e,we:ird%.yaml",
            job(
                "weird",
                "  start: 1d\n",
                "  type: \"kafka,a:b 100%\\nnext\\rline\"\n",
            ),
        ),
    ])
}

#[test]
fn github_format_prints_one_escaped_workflow_command_per_diagnostic() {
    let dir = mixed();
    let out = o365sync(dir.path(), &["validate", "--format", "github", "jobs"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let expected = [
        "::error file=jobs/b-errors.yaml,line=4,col=7::tenant.id `8f3a1c2e-5b7d-4e9f-a1b2` is not a GUID (help: use the Directory (tenant) ID shown on the Entra admin center's Overview page, written like 8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718)",
        "::error file=jobs/b-errors.yaml,line=11,col=11::window: `90 minutes please` is not a duration (help: write a duration like 30s, 15m, 2h, 7d, 1h30m or ISO 8601 PT1H)",
        "::error file=jobs/b-errors.yaml,line=12,col=3::unknown key `lookbak` (help: did you mean `lookback`? allowed keys here: start, window, lookback, max_requests_per_minute)",
        "::warning file=jobs/c-warning.yaml,line=11,col=10::start 30d reaches past the API's 7-day retention; the first run is clamped to start at now - 167h55m (help: the API keeps content for 7 days only; set start to 7d or less to say what the first run reads)",
        "::warning file=jobs/c-warning.yaml,line=15,col=9::sink.gzip is deprecated: write `compress: gzip` instead (help: replace `gzip: true` with `compress: gzip` (or `compress: zstd` for smaller files))",
        "::error file=jobs/d-syntax.yaml,line=4,col=7::malformed YAML: unclosed quote (help: check the indentation, quoting and `key: value` syntax at this position)",
        "::error file=jobs/e%2Cwe%3Aird%25.yaml,line=13,col=9::unknown sink type `kafka,a:b 100%25%0Anext%0Dline` (help: use jsonl, stdout, sqlite, elasticsearch, splunk_hec or azure_logs_ingestion)",
    ];
    for (i, (got, want)) in lines.iter().zip(expected).enumerate() {
        assert_eq!(*got, want, "line {}", i + 1);
    }
    assert_eq!(lines.len(), expected.len(), "{text}");
    // Nothing else on stdout, and nothing for the valid file.
    assert!(!text.contains("a-valid"), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("error: 3 of 5 job files are invalid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn github_format_names_a_file_that_cannot_be_read() {
    let dir = jobs(&[]);
    let out = o365sync(
        dir.path(),
        &["validate", "--format", "github", "jobs/missing,1.yaml"],
    );
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].starts_with(
            "::error file=jobs/missing%2C1.yaml,line=1,col=1::cannot read job file: No such file or directory"
        ),
        "{text}"
    );
    assert!(lines[0].ends_with("(help: check the path; a job file is a UTF-8 YAML file)"));
}

#[test]
fn json_format_is_one_document_with_every_file_and_a_summary() {
    let dir = mixed();
    let out = o365sync(dir.path(), &["validate", "--format", "json", "jobs"]);
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["strict"], false);
    assert_eq!(
        doc["summary"],
        serde_json::json!({"files": 5, "valid": 2, "invalid": 3, "errors": 5, "warnings": 2})
    );
    let files = doc["files"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["file"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "jobs/a-valid.yaml",
            "jobs/b-errors.yaml",
            "jobs/c-warning.yaml",
            "jobs/d-syntax.yaml",
            "jobs/e,we:ird%.yaml"
        ]
    );

    let valid = &files[0];
    assert_eq!(valid["ok"], true);
    assert_eq!(
        valid["job"],
        serde_json::json!({"name": "valid", "tenant": TENANT, "cloud": "gcc", "content_types": ["Audit.Exchange", "DLP.All"]})
    );
    assert_eq!(valid["diagnostics"], serde_json::json!([]));

    let errors = &files[1];
    assert_eq!(errors["ok"], false);
    assert!(errors.get("job").is_none(), "no job for an invalid file");
    let diags = errors["diagnostics"].as_array().unwrap();
    let at: Vec<(u64, u64)> = diags
        .iter()
        .map(|d| (d["line"].as_u64().unwrap(), d["column"].as_u64().unwrap()))
        .collect();
    assert_eq!(at, [(4, 7), (11, 11), (12, 3)]);
    assert_eq!(
        diags[2],
        serde_json::json!({
            "severity": "error",
            "file": "jobs/b-errors.yaml",
            "line": 12,
            "column": 3,
            "message": "unknown key `lookbak`",
            "help": "did you mean `lookback`? allowed keys here: start, window, lookback, max_requests_per_minute"
        })
    );

    let warning = &files[2];
    assert_eq!(warning["ok"], true);
    assert_eq!(warning["job"]["name"], "warning");
    let severities: Vec<&str> = warning["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["severity"].as_str().unwrap())
        .collect();
    assert_eq!(severities, ["warning", "warning"]);

    assert_eq!(
        files[3]["diagnostics"][0]["message"],
        "malformed YAML: unclosed quote"
    );
    // JSON carries the value as it is: no workflow-command escaping.
    assert_eq!(
        files[4]["diagnostics"][0]["message"],
        "unknown sink type `kafka,a:b 100%\nnext\rline`"
    );
}

#[test]
fn strict_turns_warnings_into_exit_2_in_every_format() {
    let dir = jobs(&[(
        "warn.yaml",
        job(
            "warn",
            "  start: 1d\n",
            "  type: jsonl\n  path: ../out\n  gzip: true\n",
        ),
    )]);
    for format in ["text", "json", "github"] {
        let lenient = o365sync(dir.path(), &["validate", "--format", format, "jobs"]);
        assert_eq!(lenient.status.code(), Some(0), "{format} without --strict");
        let strict = o365sync(
            dir.path(),
            &["validate", "--format", format, "--strict", "jobs"],
        );
        assert_eq!(strict.status.code(), Some(2), "{format} with --strict");
        match format {
            "json" => {
                let doc: serde_json::Value = serde_json::from_slice(&strict.stdout).unwrap();
                assert_eq!((&doc["ok"], &doc["strict"]), (&false.into(), &true.into()));
                assert_eq!(doc["summary"]["warnings"], 1);
                assert_eq!(doc["summary"]["invalid"], 0);
                let doc: serde_json::Value = serde_json::from_slice(&lenient.stdout).unwrap();
                assert_eq!(doc["ok"], true);
            }
            "github" => {
                // The same single warning either way; only the exit code differs.
                assert_eq!(stdout(&strict), stdout(&lenient));
                assert_eq!(
                    stdout(&strict),
                    "::warning file=jobs/warn.yaml,line=15,col=9::sink.gzip is deprecated: write `compress: gzip` instead (help: replace `gzip: true` with `compress: gzip` (or `compress: zstd` for smaller files))\n"
                );
            }
            _ => {
                let stderr = String::from_utf8_lossy(&strict.stderr);
                assert!(
                    stderr.starts_with("jobs/warn.yaml:15:9: warning: sink.gzip is deprecated"),
                    "{stderr}"
                );
                assert!(
                    stderr.contains("error: 1 warning(s) and --strict"),
                    "{stderr}"
                );
            }
        }
    }

    // A clean file passes --strict; several paths (as pre-commit passes them) are all checked.
    let dir = jobs(&[
        ("one.yaml", job("one", "  start: 1d\n", "  type: stdout\n")),
        ("two.yaml", job("two", "  start: 2d\n", "  type: stdout\n")),
    ]);
    let out = o365sync(
        dir.path(),
        &[
            "validate",
            "--strict",
            "--format",
            "github",
            "jobs/one.yaml",
            "jobs/two.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
}
