//! Job files: every bad input of the issue gets a located error (`file:line:column`) with a help line, and a good file
//! resolves to the job the rest of the program runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use o365sync::cloud::Cloud;
use o365sync::content_type::ContentType;
use o365sync::job::{
    Compression, Context, Diagnostic, FileMode, Job, Loaded, OutputFormat, Passphrase, Severity,
    Signing, Sink, When, load, load_all,
};

/// A valid job; tests break one line of it. Line numbers matter: the assertions name them.
const GOOD: &str = "\
version: 1
name: contoso-gcc
tenant:
  id: 8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718
  cloud: gcc
  client_id: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a
  certificate: certs/certificate.pem
  private_key: certs/key.pem
content_types: [Audit.Exchange, DLP.All]
sync:
  start: 2d
  window: 1h
  lookback: 2h
  max_requests_per_minute: 2000
sink:
  type: jsonl
  path: out
";

fn now() -> Timestamp {
    "2026-11-26T12:00:00Z".parse().unwrap()
}

/// One real certificate and key for the whole test binary (RSA key generation is slow in debug builds).
fn credential() -> &'static o365sync::emulator::ThrowawayCertificate {
    static CERT: std::sync::OnceLock<o365sync::emulator::ThrowawayCertificate> =
        std::sync::OnceLock::new();
    CERT.get_or_init(|| o365sync::emulator::throwaway_certificate("job-files-test").unwrap())
}

/// A directory with `jobs/` and the certificate files GOOD refers to.
struct Fixture {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("jobs/certs")).unwrap();
        let cert = credential();
        let certs = dir.path().join("jobs/certs");
        std::fs::write(certs.join("certificate.pem"), &cert.certificate_pem).unwrap();
        std::fs::write(certs.join("key.pem"), &cert.private_key_pem).unwrap();
        std::fs::write(certs.join("pass.txt"), "not used: the key is not encrypted").unwrap();
        Fixture {
            dir,
            env: HashMap::from([("HOME_API".to_string(), "http://127.0.0.1:8400".to_string())]),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join("jobs").join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn load(&self, text: &str) -> Result<Loaded, Vec<Diagnostic>> {
        let path = self.write("job.yaml", text);
        let ctx = Context {
            env: &self.env,
            now: now(),
        };
        load(&path, &ctx).map_err(|d| d.0)
    }

    /// The diagnostics of a bad file as `line:column: message`, errors first.
    fn errors(&self, text: &str) -> Vec<Diagnostic> {
        let diags = self
            .load(text)
            .expect_err("the job file should be rejected");
        for d in &diags {
            assert!(!d.help.is_empty(), "no help for {d}");
            assert!(d.file.ends_with("jobs/job.yaml"), "{d}");
            assert!(!d.message.ends_with('.'), "message ends with a period: {d}");
        }
        diags
    }

    /// The single error of a bad file, as `line:column: message` (the message cut at `cut` characters).
    fn error(&self, text: &str) -> (String, Diagnostic) {
        let diags = self.errors(text);
        let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
        assert_eq!(errors.len(), 1, "expected one error, got {diags:#?}");
        let d = errors[0].clone();
        (format!("{}:{}", d.line, d.column), d)
    }
}

fn replace(old: &str, new: &str) -> String {
    assert!(GOOD.contains(old), "GOOD lacks {old:?}");
    GOOD.replacen(old, new, 1)
}

#[test]
fn a_good_job_resolves_paths_defaults_and_endpoints() {
    let fx = Fixture::new();
    let loaded = fx.load(GOOD).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let job: Job = loaded.job;
    let jobs = fx.dir.path().join("jobs");
    assert_eq!(job.name, "contoso-gcc");
    assert_eq!(job.tenant.cloud, Cloud::Gcc);
    assert_eq!(job.tenant.certificate, jobs.join("certs/certificate.pem"));
    assert_eq!(job.tenant.private_key, Some(jobs.join("certs/key.pem")));
    assert_eq!(
        job.tenant.publisher_id, job.tenant.id,
        "publisher_id defaults to the tenant"
    );
    assert_eq!(job.tenant.signing, Signing::Rs256);
    assert_eq!(job.tenant.passphrase, None);
    assert_eq!(
        job.content_types,
        [ContentType::Exchange, ContentType::DlpAll]
    );
    assert_eq!(job.sync.start, When::Ago(SignedDuration::from_hours(48)));
    assert_eq!(job.sync.window, SignedDuration::from_hours(1));
    assert_eq!(job.sync.lookback, SignedDuration::from_hours(2));
    assert_eq!(job.sync.max_requests_per_minute, 2000);
    assert_eq!(job.output.format, OutputFormat::Ocsf);
    assert!(!job.output.include_raw);
    assert_eq!(
        job.sink,
        Sink::Jsonl {
            path: jobs.join("out"),
            compress: None,
            file_mode: FileMode::JSONL,
        }
    );
    assert_eq!(
        job.endpoints().unwrap().token_url.as_str(),
        "https://login.microsoftonline.com/8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718/oauth2/v2.0/token"
    );
    assert_eq!(
        job.endpoints().unwrap().api_root.as_str(),
        "https://manage-gcc.office.com/api/v1.0/8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718/activity/feed"
    );
    assert_eq!(
        job.endpoints().unwrap().scope,
        "https://manage-gcc.office.com/.default"
    );
}

#[test]
fn defaults_env_expansion_endpoint_overrides_and_passphrase_sources() {
    let mut fx = Fixture::new();
    fx.env.insert("KEY_PASS".into(), "not-printed".into());
    let text = "\
version: 1
name: ${JOB_NAME:-gcc-high-1}
tenant:
  id: 8F3A1C2E-5B7D-4E9F-A1B2-C3D4E5F60718
  cloud: gcc-high
  client_id: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a
  certificate: ${CERT_DIR:-certs}/certificate.pem
  private_key: certs/key.pem
  private_key_passphrase_env: KEY_PASS
  signing: PS256
  publisher_id: 11111111-2222-4333-8444-555555555555
sink:
  type: sqlite
  path: /var/lib/o365sync/events.db
endpoints:
  login: ${HOME_API}
  api: https://[::1]:9443/
";
    let job = fx.load(text).unwrap().job;
    assert_eq!(job.name, "gcc-high-1");
    assert_eq!(
        job.tenant.id.to_string(),
        "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718"
    );
    assert_eq!(job.tenant.signing, Signing::Ps256);
    assert_eq!(
        job.tenant.passphrase,
        Some(Passphrase::Env("KEY_PASS".into()))
    );
    assert_eq!(
        job.tenant.publisher_id.to_string(),
        "11111111-2222-4333-8444-555555555555"
    );
    assert_eq!(job.content_types, ContentType::ALL, "all five by default");
    assert_eq!(job.sync.start, When::Ago(SignedDuration::from_hours(168)));
    assert_eq!(
        job.sink,
        Sink::Sqlite {
            path: PathBuf::from("/var/lib/o365sync/events.db"),
            file_mode: FileMode::SQLITE,
        }
    );
    assert_eq!(
        job.endpoints().unwrap().token_url.as_str(),
        "http://127.0.0.1:8400/8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718/oauth2/v2.0/token"
    );
    assert_eq!(
        job.endpoints().unwrap().api_root.as_str(),
        "https://[::1]:9443/api/v1.0/8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718/activity/feed"
    );
    assert_eq!(
        job.endpoints().unwrap().scope,
        "https://manage.office365.us/.default",
        "overrides never change the scope"
    );
    assert!(
        !format!("{job:?}").contains("not-printed"),
        "the passphrase is never read into the job"
    );

    let text = replace(
        "  private_key: certs/key.pem\n",
        "  private_key: certs/key.pem\n  private_key_passphrase_file: certs/pass.txt\n",
    );
    let job = fx.load(&text).unwrap().job;
    assert_eq!(
        job.tenant.passphrase,
        Some(Passphrase::File(fx.dir.path().join("jobs/certs/pass.txt")))
    );
}

#[test]
fn malformed_yaml() {
    let fx = Fixture::new();
    let (at, d) = fx.error(&replace("  cloud: gcc\n", "  cloud: 'gcc\n"));
    assert_eq!(at, "5:10");
    assert!(d.message.starts_with("malformed YAML"), "{d}");
    let (at, d) = fx.error(&replace("  window: 1h\n", "  window: 1h\n bad: : x\n"));
    assert_eq!(at, "13:2");
    assert!(d.message.starts_with("malformed YAML"), "{d}");
    let (at, d) = fx.error("");
    assert_eq!(at, "1:1");
    assert_eq!(d.message, "the job file is empty");
    let (at, d) = fx.error(&replace("  window: 1h\n", "  window: 1h\n  window: 2h\n"));
    assert_eq!(at, "13:3");
    assert_eq!(d.message, "duplicate key `window`");
    let (at, d) = fx.error(&format!("{GOOD}---\nversion: 1\n"));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("19:1", "more than one YAML document in a job file")
    );
}

#[test]
fn wrong_types() {
    let fx = Fixture::new();
    let (at, d) = fx.error(&replace("version: 1", "version: one"));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("1:10", "expected a whole number")
    );
    let (at, d) = fx.error(&replace(
        "content_types: [Audit.Exchange, DLP.All]",
        "content_types: Audit.Exchange",
    ));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("9:16", "expected a list")
    );
    let (at, d) = fx.error(&replace(
        "  max_requests_per_minute: 2000",
        "  max_requests_per_minute: [2000]",
    ));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("14:28", "expected a single value, found a list or mapping")
    );
    let (at, d) = fx.error(&replace("  type: jsonl\n", "  type: jsonl\n  gzip: yes\n"));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("17:9", "expected true or false")
    );
    let (at, d) = fx.error(&replace(
        "  id: 8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718",
        "  id: {a: b}",
    ));
    assert_eq!(at, "4:7");
    assert!(d.message.starts_with("expected a single value"), "{d}");
    let (at, d) = fx.error(&replace(
        "sink:\n  type: jsonl\n  path: out\n",
        "sink: jsonl\n",
    ));
    assert_eq!(at, "15:7");
    assert!(d.message.starts_with("expected a mapping"), "{d}");
    let (at, d) = fx.error(&replace("  window: 1h", "  window: 3600"));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("12:11", "window: `3600` has no unit")
    );
}

#[test]
fn unknown_and_missing_keys() {
    let fx = Fixture::new();
    let (at, d) = fx.error(&format!("{GOOD}colour: blue\n"));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("18:1", "unknown key `colour`")
    );
    assert!(d.help.contains("version, name, tenant"), "{}", d.help);
    let (at, d) = fx.error(&replace("  lookback: 2h", "  lookbak: 2h"));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("13:3", "unknown key `lookbak`")
    );
    assert!(d.help.starts_with("did you mean `lookback`?"), "{}", d.help);
    let (at, d) = fx.error(&replace("  cloud: gcc\n", ""));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("3:1", "missing key `cloud` in `tenant`")
    );
    let (at, d) = fx.error(&replace("version: 1\n", ""));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("1:1", "missing key `version`")
    );
}

#[test]
fn client_secret_explains_that_certificates_are_required() {
    let fx = Fixture::new();
    let (at, d) = fx.error(&replace(
        "  private_key: certs/key.pem\n",
        "  private_key: certs/key.pem\n  client_secret: abc~123\n",
    ));
    assert_eq!(at, "9:3");
    assert!(
        d.message.contains("`client_secret` is not supported"),
        "{d}"
    );
    assert!(d.message.contains("certificate"), "{d}");
    assert!(d.help.contains("tenant.certificate"), "{}", d.help);
    assert!(
        !d.to_string().contains("abc~123"),
        "the secret is echoed: {d}"
    );
}

#[test]
fn bad_guids() {
    let fx = Fixture::new();
    let (at, d) = fx.error(&replace(
        "  id: 8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718",
        "  id: contoso.onmicrosoft.com",
    ));
    assert_eq!(at, "4:7");
    assert_eq!(
        d.message,
        "tenant.id `contoso.onmicrosoft.com` is not a GUID (a domain name does not work here)"
    );
    assert!(d.help.contains("Directory (tenant) ID"), "{}", d.help);
    let (at, d) = fx.error(&replace(
        "0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a",
        "0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a",
    ));
    assert_eq!(at, "6:14");
    assert!(d.message.starts_with("tenant.client_id"), "{d}");
    let (at, _) = fx.error(&replace(
        "0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a",
        "00000000-0000-0000-0000-000000000000",
    ));
    assert_eq!(at, "6:14", "the nil GUID is no client");
    let (at, _) = fx.error(&replace(
        "  private_key: certs/key.pem\n",
        "  private_key: certs/key.pem\n  publisher_id: zzz\n",
    ));
    assert_eq!(at, "9:17");
}

#[test]
fn window_over_24_hours_and_other_bad_durations() {
    let fx = Fixture::new();
    let (at, d) = fx.error(&replace("  window: 1h", "  window: 25h"));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("12:11", "window 1d1h is outside 1m ..= 24h")
    );
    let (at, _) = fx.error(&replace("  window: 1h", "  window: 30s"));
    assert_eq!(at, "12:11");
    assert!(fx.load(&replace("  window: 1h", "  window: PT24H")).is_ok());
    assert!(fx.load(&replace("  window: 1h", "  window: 1m")).is_ok());
    let (at, d) = fx.error(&replace("  lookback: 2h", "  lookback: 8d"));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("13:13", "lookback 8d is longer than 7d")
    );
    let (at, d) = fx.error(&replace("  lookback: 2h", "  lookback: P1M"));
    assert_eq!(at, "13:13");
    assert!(d.message.contains("months or years"), "{d}");
    let (at, d) = fx.error(&replace("  start: 2d", "  start: last tuesday"));
    assert_eq!(at, "11:10");
    assert!(
        d.message
            .starts_with("start: `last tuesday` is neither a duration"),
        "{d}"
    );
    let (at, _) = fx.error(&replace(
        "  max_requests_per_minute: 2000",
        "  max_requests_per_minute: 0",
    ));
    assert_eq!(at, "14:28");
}

#[test]
fn start_older_than_retention_is_clamped_with_a_located_warning() {
    let fx = Fixture::new();
    let loaded = fx.load(&replace("  start: 2d", "  start: 30d")).unwrap();
    let w = &loaded.warnings[0];
    assert_eq!((w.severity, w.line, w.column), (Severity::Warning, 11, 10));
    assert!(w.to_string().contains(":11:10: warning: start 30d reaches past the API's 7-day retention; the first run is clamped"), "{w}");

    let loaded = fx
        .load(&replace("  start: 2d", "  start: 2026-10-01T00:00:00Z"))
        .unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(
        (loaded.warnings[0].line, loaded.warnings[0].column),
        (11, 10)
    );
    // The planner does what the warning says.
    let plan = o365sync::exec::plan_view::job_plan(
        &loaded.job,
        now(),
        |_, _| Default::default(),
        &Default::default(),
    );
    for ct in &plan.content_types {
        assert_eq!(
            ct.plan.clamped_start,
            Some("2026-10-01T00:00:00Z".parse().unwrap())
        );
        assert_eq!(
            ct.plan.windows[0].start,
            "2026-11-19T12:05:00Z".parse::<Timestamp>().unwrap()
        );
        assert!(ct.plan.gaps.is_empty());
    }

    let loaded = fx.load(&replace("  start: 2d", "  start: 7d")).unwrap();
    assert!(
        loaded.warnings.is_empty(),
        "7d means as far as the API goes: {:?}",
        loaded.warnings
    );
}

#[test]
fn unknown_content_type_and_duplicates() {
    let fx = Fixture::new();
    let (at, d) = fx.error(&replace(
        "[Audit.Exchange, DLP.All]",
        "[Audit.Exchange, Audit.Teams]",
    ));
    assert_eq!(at, "9:33");
    assert!(
        d.message.starts_with("unknown content type `Audit.Teams`"),
        "{d}"
    );
    assert!(d.help.contains("Audit.General"), "{}", d.help);
    let (at, d) = fx.error(&replace("[Audit.Exchange, DLP.All]", "[DLP.All, dlp.all]"));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("9:26", "content type DLP.All is listed twice")
    );
    let (at, _) = fx.error(&replace("[Audit.Exchange, DLP.All]", "[]"));
    assert_eq!(at, "9:16");
}

#[test]
fn unknown_cloud() {
    let fx = Fixture::new();
    let (at, d) = fx.error(&replace("  cloud: gcc", "  cloud: azure-china"));
    assert_eq!(at, "5:10");
    assert_eq!(
        d.message,
        "unknown cloud `azure-china`: use one of commercial, gcc, gcc-high, dod"
    );
}

#[test]
fn plain_http_only_to_loopback_and_endpoints_are_hosts_only() {
    let fx = Fixture::new();
    let with = |login: &str| format!("{GOOD}endpoints:\n  login: {login}\n");
    let (at, d) = fx.error(&with("http://proxy.contoso.example:8080"));
    assert_eq!(at, "19:10");
    assert_eq!(
        d.message,
        "endpoints.login `http://proxy.contoso.example:8080` uses plain http to a non-loopback host"
    );
    let (at, _) = fx.error(&with("http://10.0.0.1"));
    assert_eq!(at, "19:10");
    let (at, d) = fx.error(&with("https://proxy.example/o365"));
    assert_eq!(at, "19:10");
    assert!(
        d.message.contains("more than a scheme, host and port"),
        "{d}"
    );
    let (at, _) = fx.error(&with("https://user:pw@proxy.example"));
    assert_eq!(at, "19:10");
    let (at, _) = fx.error(&with("ftp://127.0.0.1"));
    assert_eq!(at, "19:10");
    for ok in [
        "http://127.0.0.1:8400",
        "http://localhost:1",
        "http://[::1]:2",
        "https://proxy.example:8443/",
    ] {
        assert!(fx.load(&with(ok)).is_ok(), "{ok}");
    }
}

#[test]
fn unset_variables_without_default_are_errors() {
    let fx = Fixture::new();
    let (at, d) = fx.error(&replace(
        "  certificate: certs/certificate.pem",
        "  certificate: ${CERT_DIR}/certificate.pem",
    ));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("7:16", "environment variable `CERT_DIR` is not set")
    );
    assert!(d.help.contains("${CERT_DIR:-value}"), "{}", d.help);
    let (at, d) = fx.error(&replace(
        "  private_key: certs/key.pem\n",
        "  private_key: certs/key.pem\n  private_key_passphrase_env: NO_SUCH_PASS\n",
    ));
    assert_eq!(at, "9:31");
    assert!(d.message.contains("`NO_SUCH_PASS`"), "{d}");
}

#[test]
fn missing_credential_files_are_located_errors() {
    let fx = Fixture::new();
    let text = replace(
        "  certificate: certs/certificate.pem",
        "  certificate: certs/nope.pem",
    );
    let text = text.replace(
        "  private_key: certs/key.pem\n",
        "  private_key: certs/key.pem\n  private_key_passphrase_file: certs\n",
    );
    let diags = fx.errors(&text);
    let got: Vec<String> = diags
        .iter()
        .map(|d| format!("{}:{}", d.line, d.column))
        .collect();
    assert_eq!(got, ["7:16", "9:32"]);
    assert!(
        diags[0].message.starts_with("certificate file "),
        "{}",
        diags[0]
    );
    assert!(
        diags[0].message.ends_with("certs/nope.pem does not exist"),
        "{}",
        diags[0]
    );
    assert!(diags[1].message.contains("is not a file"), "{}", diags[1]);
}

#[test]
fn every_problem_of_a_file_is_reported_in_order() {
    let fx = Fixture::new();
    let text = GOOD
        .replace("  cloud: gcc", "  cloud: gov")
        .replace("name: contoso-gcc", "name: Contoso GCC")
        .replace("  window: 1h", "  window: 2d")
        .replace("  path: out\n", "");
    let diags = fx.errors(&text);
    let got: Vec<String> = diags
        .iter()
        .map(|d| format!("{}:{}", d.line, d.column))
        .collect();
    assert_eq!(got, ["2:7", "5:10", "12:11", "16:3"], "{diags:#?}");
    assert_eq!(diags[3].message, "sink type jsonl needs a `path`");
    let shown = diags[0].to_string();
    assert!(shown.ends_with("jobs/job.yaml:2:7: invalid job name `Contoso GCC`\nhelp: use lowercase letters, digits, `_` and `-`, starting with a letter or digit, at most 64 characters (e.g. contoso-gcc)"), "{shown}");
}

#[test]
fn output_and_sink_combinations() {
    let fx = Fixture::new();
    let (at, d) = fx.error(&format!(
        "{GOOD}output:\n  format: raw\n  include_raw: true\n"
    ));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("20:16", "include_raw applies to format ocsf only")
    );
    let (at, _) = fx.error(&format!("{GOOD}output:\n  format: parquet\n"));
    assert_eq!(at, "19:11");
    let (at, d) = fx.error(&replace(
        "  type: jsonl\n  path: out\n",
        "  type: stdout\n  path: out\n",
    ));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("17:9", "sink type stdout takes no `path`")
    );
    let (at, _) = fx.error(&replace("  type: jsonl\n", "  type: kafka\n"));
    assert_eq!(at, "16:9");
    let job = fx
        .load(&replace("  type: jsonl\n  path: out\n", "  type: stdout\n"))
        .unwrap()
        .job;
    assert_eq!(job.sink, Sink::Stdout);
    let job = fx
        .load(&format!("{GOOD}  compress: gzip\noutput:\n  format: raw\n"))
        .unwrap()
        .job;
    assert!(matches!(
        job.sink,
        Sink::Jsonl {
            compress: Some(Compression::Gzip),
            ..
        }
    ));
    assert_eq!(job.output.format, OutputFormat::Raw);
}

#[test]
fn sink_file_mode_is_octal_safe_and_for_the_file_sinks_only() {
    let fx = Fixture::new();
    let mode = |text: &str| match fx.load(text).map(|l| l.job.sink) {
        Ok(Sink::Jsonl { file_mode, .. } | Sink::Sqlite { file_mode, .. }) => file_mode,
        other => panic!("{other:?}"),
    };
    assert_eq!(mode(GOOD), FileMode::JSONL);
    for text in ["\"0600\"", "0600", "'600'", "0o600"] {
        assert_eq!(
            mode(&format!("{GOOD}  file_mode: {text}\n")).file(),
            0o600,
            "{text}"
        );
    }
    let sqlite = GOOD
        .replace("type: jsonl", "type: sqlite")
        .replace("path: out", "path: out/x.db");
    assert_eq!(mode(&sqlite), FileMode::SQLITE);
    assert_eq!(
        mode(&format!("{sqlite}  file_mode: \"0640\"\n")).file(),
        0o640
    );

    // Errors, each located at the value, saying what to write.
    for (text, says) in [
        (
            "\"0666\"",
            "sink.file_mode 0666 lets anyone write the audit data",
        ),
        (
            "\"rw-r-----\"",
            "sink.file_mode `rw-r-----` is not an octal file mode",
        ),
        (
            "\"0440\"",
            "sink.file_mode 0440 does not let the owner read and write",
        ),
        (
            "\"4750\"",
            "sink.file_mode 4750 sets setuid, setgid or sticky bits",
        ),
    ] {
        let (at, d) = fx.error(&format!("{GOOD}  file_mode: {text}\n"));
        assert_eq!(d.message, says, "{text}");
        assert_eq!(at, "18:14", "{text}");
        assert!(!d.help.is_empty());
    }
    let stdout = format!(
        "{}  file_mode: \"0600\"\n",
        GOOD.replace("type: jsonl\n  path: out\n", "type: stdout\n")
    );
    let (_, d) = fx.error(&stdout);
    assert!(
        d.message.contains("file_mode applies to the file sinks"),
        "{d:?}"
    );
    let es = format!("{GOOD}  file_mode: \"0600\"\n").replace(
        "type: jsonl\n  path: out\n",
        "type: elasticsearch\n  url: https://es.example:9200\n  index: o365\n",
    );
    let (_, d) = fx.error(&es);
    assert!(
        d.message
            .contains("`file_mode` does not apply to sink type elasticsearch"),
        "{d:?}"
    );
}

#[test]
fn sink_compress_and_its_deprecated_gzip_alias() {
    let fx = Fixture::new();
    let compress = |text: &str| match fx.load(text).map(|l| l.job.sink) {
        Ok(Sink::Jsonl { compress, .. }) => compress,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        compress(&format!("{GOOD}  compress: zstd\n")),
        Some(Compression::Zstd)
    );
    assert_eq!(
        compress(&format!("{GOOD}  compress: gzip\n")),
        Some(Compression::Gzip)
    );
    assert_eq!(compress(&format!("{GOOD}  compress: none\n")), None);
    assert_eq!(compress(GOOD), None);
    let mut env = fx.env.clone();
    env.insert("SINK_COMPRESS".into(), "zstd".into());
    let path = fx.write(
        "env.yaml",
        &format!("{GOOD}  compress: ${{SINK_COMPRESS:-none}}\n"),
    );
    let loaded = load(
        &path,
        &Context {
            env: &env,
            now: now(),
        },
    )
    .unwrap();
    assert!(matches!(
        loaded.job.sink,
        Sink::Jsonl {
            compress: Some(Compression::Zstd),
            ..
        }
    ));

    // The deprecated key still works, with a located warning that says what to write instead.
    let loaded = fx.load(&format!("{GOOD}  gzip: true\n")).unwrap();
    assert!(matches!(
        loaded.job.sink,
        Sink::Jsonl {
            compress: Some(Compression::Gzip),
            ..
        }
    ));
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    let w = &loaded.warnings[0];
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!((w.line, w.column), (18, 9));
    assert!(w.to_string().ends_with("jobs/job.yaml:18:9: warning: sink.gzip is deprecated: write `compress: gzip` instead\nhelp: replace `gzip: true` with `compress: gzip` (or `compress: zstd` for smaller files)"), "{w}");
    let loaded = fx.load(&format!("{GOOD}  gzip: false\n")).unwrap();
    assert!(matches!(
        loaded.job.sink,
        Sink::Jsonl { compress: None, .. }
    ));
    assert_eq!(
        loaded.warnings[0].message,
        "sink.gzip is deprecated: remove `gzip: false`"
    );

    // Errors, each located at the key's value.
    let (at, d) = fx.error(&format!("{GOOD}  compress: gzip\n  gzip: true\n"));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("19:9", "sink.gzip and sink.compress are both given")
    );
    let (at, d) = fx.error(&format!("{GOOD}  compress: brotli\n"));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        ("18:13", "unknown compression `brotli`")
    );
    assert!(d.help.contains("zstd"), "{d}");
    let (at, d) = fx.error(&replace(
        "  type: jsonl\n  path: out\n",
        "  type: stdout\n  compress: zstd\n",
    ));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        (
            "17:13",
            "compress applies to sink type jsonl only, not stdout"
        )
    );
    let (at, d) = fx.error(&replace(
        "  type: jsonl\n  path: out\n",
        "  type: sqlite\n  path: out.db\n  compress: gzip\n",
    ));
    assert_eq!(
        (at.as_str(), d.message.as_str()),
        (
            "18:13",
            "compress applies to sink type jsonl only, not sqlite"
        )
    );
}

#[test]
fn a_directory_reports_every_bad_file_and_duplicate_names() {
    let fx = Fixture::new();
    fx.write("a-good.yaml", GOOD);
    fx.write("b-bad.yaml", &replace("  cloud: gcc", "  cloud: moon"));
    fx.write("c-twin.yml", GOOD);
    fx.write("d-worse.yaml", "version: [\n");
    fx.write("notes.txt", "not a job");
    let ctx = Context {
        env: &fx.env,
        now: now(),
    };
    let batch = load_all(&[fx.dir.path().join("jobs")], &ctx);
    assert_eq!(batch.loaded.len(), 1);
    let shown: Vec<String> = batch
        .failed
        .iter()
        .map(|d| {
            let d = &d.0[0];
            format!(
                "{}:{}:{}",
                Path::new(&d.file).file_name().unwrap().to_string_lossy(),
                d.line,
                d.column
            )
        })
        .collect();
    assert_eq!(
        shown,
        ["b-bad.yaml:5:10", "c-twin.yml:2:7", "d-worse.yaml:1:10"]
    );
    assert!(
        batch.failed[1].0[0].message.contains("already used by"),
        "{}",
        batch.failed[1]
    );
}

#[test]
fn network_sinks_resolve_and_their_mistakes_are_located() {
    use o365sync::job::model::{ElasticAuth, SecretSource};
    let mut fx = Fixture::new();
    fx.env.insert("ES_KEY".into(), "a2V5".into());
    let sink = |section: &str| replace("  type: jsonl\n  path: out\n", section);

    let job = fx
        .load(&sink(
            "  type: elasticsearch\n  url: https://es.example.com:9200\n  index: logs-o365.audit-default\n  api_key_env: ES_KEY\n  ca_file: certs/ca.pem\n",
        ))
        .unwrap()
        .job;
    let Sink::Elasticsearch(es) = &job.sink else {
        panic!("{:?}", job.sink)
    };
    assert_eq!(es.url.as_str(), "https://es.example.com:9200/");
    assert_eq!(
        es.auth,
        ElasticAuth::ApiKey(SecretSource::Env("ES_KEY".into()))
    );
    assert!(
        es.ca_file.as_ref().unwrap().ends_with("jobs/certs/ca.pem"),
        "{:?}",
        es.ca_file
    );

    let job = fx
        .load(&sink("  type: splunk_hec\n  url: https://splunk.example.com:8088\n  token_file: certs/pass.txt\n"))
        .unwrap()
        .job;
    let Sink::SplunkHec(hec) = &job.sink else {
        panic!("{:?}", job.sink)
    };
    assert!(hec.ack, "acknowledgement is on by default");
    assert_eq!(hec.sourcetype, "o365:ocsf");
    assert_eq!(hec.ack_timeout, std::time::Duration::from_secs(120));
    assert!(matches!(&hec.token, SecretSource::File(p) if p.ends_with("jobs/certs/pass.txt")));

    let job = fx
        .load(&sink(
            "  type: azure_logs_ingestion\n  endpoint: https://dce-1.usgovvirginia-1.ingest.monitor.azure.us\n  dcr_immutable_id: dcr-0123456789abcdef0123456789abcdef\n  stream: Custom-O365Audit_CL\n",
        ))
        .unwrap()
        .job;
    assert!(
        matches!(&job.sink, Sink::AzureLogsIngestion { config, auth: None } if config.stream == "Custom-O365Audit_CL")
    );

    // `auth`: another registration (tenant, cloud, certificate), its paths resolved like the tenant's and its
    // credential loaded and checked at load time.
    let li = "  type: azure_logs_ingestion\n  endpoint: https://dce-1.usgovvirginia-1.ingest.monitor.azure.us\n  dcr_immutable_id: dcr-0123456789abcdef0123456789abcdef\n  stream: Custom-O365Audit_CL\n";
    let auth = |body: &str| sink(&format!("{li}  auth:\n{body}"));
    let good_auth = "    id: 5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f\n    cloud: gcc-high\n    client_id: 7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9\n    certificate: certs/certificate.pem\n    private_key: certs/key.pem\n";
    let loaded = fx.load(&auth(good_auth)).unwrap();
    let Sink::AzureLogsIngestion {
        auth: Some(registration),
        ..
    } = &loaded.job.sink
    else {
        panic!("{:?}", loaded.job.sink)
    };
    assert_eq!(
        registration.id.to_string(),
        "5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
    );
    assert_eq!(registration.cloud, o365sync::cloud::Cloud::GccHigh);
    assert!(
        registration
            .certificate
            .ends_with("jobs/certs/certificate.pem")
    );
    assert!(
        registration
            .private_key
            .as_ref()
            .unwrap()
            .ends_with("jobs/certs/key.pem")
    );
    let sink_credential = loaded.sink_credential.as_ref().expect("loaded");
    assert_eq!(
        sink_credential.info().thumbprints,
        loaded.credential.info().thumbprints
    );
    let endpoints = loaded.job.endpoints_of(registration).unwrap();
    assert_eq!(
        endpoints.token_url.as_str(),
        "https://login.microsoftonline.us/5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f/oauth2/v2.0/token"
    );
    assert!(fx.load(&sink(li)).unwrap().sink_credential.is_none());
    let auth_cases = [
        (
            good_auth.replace("client_id: 7e6d5c4b", "client_id: xe6d5c4b"),
            "23:16",
            "sink.auth.client_id `xe6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9` is not a GUID",
        ),
        (
            good_auth.replace("gcc-high", "azure-government"),
            "22:12",
            "unknown cloud `azure-government`",
        ),
        (
            good_auth.replace("certs/key.pem", "certs/missing.pem"),
            "25:18",
            "private key file",
        ),
        (
            format!("{good_auth}    publisher_id: 5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f\n"),
            "26:19",
            "publisher_id does not apply to sink.auth",
        ),
        (
            good_auth.replace("    private_key: certs/key.pem\n", ""),
            "24:18",
            "no private key",
        ),
    ];
    for (body, at, message) in &auth_cases {
        let diags = fx.errors(&auth(body));
        let first = diags.iter().find(|d| d.is_error()).unwrap();
        assert_eq!(
            format!("{}:{}", first.line, first.column),
            *at,
            "{body}: {first}"
        );
        assert!(first.message.contains(message), "{body}: {first}");
    }

    // Each mistake is located at its key's value.
    let cases = [
        (
            "  type: elasticsearch\n  url: http://es.example.com:9200\n  index: o365\n",
            "17:8",
            "sink.url `http://es.example.com:9200` uses plain http to a non-loopback host",
        ),
        (
            "  type: elasticsearch\n  url: https://es.example.com\n  index: O365\n",
            "18:10",
            "`O365` is not a valid index name (`O`)",
        ),
        (
            "  type: elasticsearch\n  url: https://es.example.com\n  index: o365\n  api_key_env: ES_KEY\n  username: elastic\n  password_env: ES_KEY\n",
            "20:13",
            "both an API key and a user name or password are given",
        ),
        (
            "  type: elasticsearch\n  url: https://es.example.com\n  index: o365\n  api_key_env: UNSET_KEY\n",
            "19:16",
            "environment variable `UNSET_KEY` (the Elasticsearch API key) is not set",
        ),
        (
            "  type: splunk_hec\n  url: https://splunk.example.com:8088\n",
            "16:3",
            "the sink has no HEC token",
        ),
        (
            "  type: splunk_hec\n  url: https://splunk.example.com:8088\n  token_env: ES_KEY\n  token_file: x\n",
            "18:14",
            "both token_env and token_file are set",
        ),
        (
            "  type: splunk_hec\n  url: https://splunk.example.com:8088\n  token_env: ES_KEY\n  path: out\n",
            "19:9",
            "`path` does not apply to sink type splunk_hec",
        ),
        (
            "  type: jsonl\n  path: out\n  index: o365\n",
            "18:10",
            "`index` does not apply to sink type jsonl",
        ),
        (
            "  type: azure_logs_ingestion\n  endpoint: https://dce.ingest.monitor.azure.com\n  dcr_immutable_id: 0123\n  stream: Custom-X_CL\n",
            "18:21",
            "`0123` is not a data collection rule's immutable ID",
        ),
        (
            "  type: azure_logs_ingestion\n  endpoint: https://dce.ingest.monitor.azure.com/x\n  dcr_immutable_id: dcr-0123456789abcdef0123456789abcdef\n  stream: O365Audit_CL\n",
            "17:13",
            "sink.endpoint `https://dce.ingest.monitor.azure.com/x` has more than a scheme, host and port",
        ),
        (
            "  type: splunk_hec\n  url: https://splunk.example.com:8088\n  token_env: ES_KEY\n  ack_timeout: 2h\n",
            "19:16",
            "sink.ack_timeout 2h is out of range",
        ),
        (
            "  type: elasticsearch\n  url: https://es.example.com\n  index: o365\n  api_key_env: ES_KEY\n  auth:\n    id: 5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f\n    cloud: gcc-high\n    client_id: 7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9\n    certificate: certs/certificate.pem\n",
            "21:5",
            "`auth` does not apply to sink type elasticsearch",
        ),
    ];
    for (section, at, message) in cases {
        let diags = fx.errors(&sink(section));
        let first = diags.iter().find(|d| d.is_error()).unwrap();
        assert_eq!(
            (
                format!("{}:{}", first.line, first.column),
                first.message.as_str()
            ),
            (at.to_owned(), message),
            "{section}"
        );
    }
    // A stream that is not a stream name is reported beside the endpoint's error.
    let diags = fx.errors(&sink(cases[9].0));
    assert!(
        diags
            .iter()
            .any(|d| d.message.contains("is not a stream name")),
        "{diags:#?}"
    );
}

/// Fuzzing finding (`fuzz/` target `job_file`, minimized to `_:`): once the unknown key was set aside, the end of
/// the input was located on a line past the end of the file.
#[test]
fn every_diagnostic_is_located_inside_the_file() {
    let fx = Fixture::new();
    for text in [
        "_:",
        "_:\n",
        "version: 1\r\n_:",
        "version: 1\nname: x\ncontent_types: [Audit.Exchange",
    ] {
        let lines = text.split('\n').collect::<Vec<_>>();
        for d in fx.errors(text) {
            assert!(
                d.line >= 1 && d.line as usize <= lines.len(),
                "{text:?}: line {} of {}: {d}",
                d.line,
                lines.len()
            );
            let width = lines[d.line as usize - 1].chars().count();
            assert!(
                d.column >= 1 && d.column as usize <= width + 1,
                "{text:?}: {d}"
            );
        }
    }
    assert_eq!(
        fx.errors("# nothing here\n")[0].message,
        "the job file is empty"
    );
}
