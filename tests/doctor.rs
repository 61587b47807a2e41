//! `o365sync doctor` against the embedded emulator over real HTTP: a good job passes every check, and each broken
//! set-up fails (or warns on) the right check with the right fix. The library function runs in-process with its
//! output captured; the exit-code contract (0, 1, 2) and "nothing written to the state directory" go through the
//! binary.

use std::path::{Path, PathBuf};
use std::process::Output;

use jiff::{SignedDuration, Timestamp};
use o365sync::cloud::Cloud;
use o365sync::content_type::ContentType;
use o365sync::doctor::{Options, Report, Status, diagnose, doctor_file};
use o365sync::emulator::{ContentSettings, Emulator, EmulatorConfig, EmulatorHandle};
use o365sync::exit::Outcome;

/// A certificate and its PKCS#8 key, valid `[not_before, not_after]`.
struct Cert {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

fn ymd(t: Timestamp) -> (i32, u8, u8) {
    let d = t.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    (i32::from(d.year()), d.month() as u8, d.day() as u8)
}

fn cert_valid(not_before: Timestamp, not_after: Timestamp) -> Cert {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "o365sync doctor test");
    let (y, m, d) = ymd(not_before);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = ymd(not_after);
    params.not_after = rcgen::date_time_ymd(y, m, d);
    let cert = params.self_signed(&key).expect("self-signed");
    Cert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

fn good_cert() -> Cert {
    let now = Timestamp::now();
    cert_valid(
        now - SignedDuration::from_hours(24 * 30),
        now + SignedDuration::from_hours(24 * 400),
    )
}

fn content() -> ContentSettings {
    ContentSettings {
        seed: 3,
        hours: 3,
        records_per_blob: 2,
        late_blobs: 0,
        ..ContentSettings::default().with_blobs_per_hour(2)
    }
}

async fn emulator(trust: &Cert, configure: impl FnOnce(&mut EmulatorConfig)) -> EmulatorHandle {
    let mut config = EmulatorConfig::trusting(trust.der.clone());
    config.initial_subscriptions = ContentType::ALL.to_vec();
    config.content = content();
    configure(&mut config);
    Emulator::start(config).await.expect("emulator starts")
}

/// Writes certificate, key (mode 0600) and job files into a fresh directory; the job points at `url`.
fn job_dir(cert: &Cert, key_pem: &str, url: &str, cloud: Cloud) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("certificate.pem"), &cert.cert_pem).expect("write cert");
    let key = dir.path().join("key.pem");
    std::fs::write(&key, key_pem).expect("write key");
    set_mode(&key, 0o600);
    let job = format!(
        "version: 1
name: doctor-test
tenant:
  id: {tenant}
  cloud: {cloud}
  client_id: {client}
  certificate: certificate.pem
  private_key: key.pem
content_types: [Audit.AzureActiveDirectory, Audit.Exchange, Audit.SharePoint, Audit.General, DLP.All]
sink:
  type: jsonl
  path: out
endpoints:
  login: {url}
  api: {url}
",
        tenant = o365sync::emulator::DEFAULT_TENANT_ID,
        client = o365sync::emulator::DEFAULT_CLIENT_ID,
    );
    std::fs::write(dir.path().join("job.yaml"), job).expect("write job");
    dir
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn options() -> Options {
    Options {
        token_retries: 0,
        ..Options::default()
    }
}

/// Runs the checks in-process; returns the report and the printed text.
async fn doctor(dir: &Path) -> (Report, String) {
    let loaded = o365sync::job::load_current(&dir.join("job.yaml")).expect("job loads");
    let options = Options {
        state_dir: Some(dir.join("state")),
        ..options()
    };
    let report = diagnose(&loaded, &options).await;
    let text = report.to_string();
    (report, text)
}

fn status<'a>(report: &'a Report, name: &str) -> &'a o365sync::doctor::Check {
    report
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` check in\n{report}"))
}

fn fix(report: &Report, name: &str) -> String {
    status(report, name).fix.clone().unwrap_or_default()
}

/// Runs the binary on `dir/job.yaml` with `--state-dir state` in `dir`.
async fn binary(dir: &Path) -> Output {
    let dir: PathBuf = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_o365sync"))
            .args(["--state-dir", "state", "doctor", "job.yaml"])
            .current_dir(&dir)
            .output()
            .expect("run o365sync")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_job_passes_every_check() {
    let cert = good_cert();
    let emu = emulator(&cert, |_| {}).await;
    let dir = job_dir(&cert, &cert.key_pem, &emu.url(), Cloud::Commercial);
    let (report, text) = doctor(dir.path()).await;
    assert!(
        report.checks.iter().all(|c| c.status == Status::Pass),
        "{text}"
    );
    for name in [
        "job file",
        "file permissions",
        "state and output",
        "certificate",
        "key match",
        "key size",
        "expiry",
        "clock skew",
        "token",
        "role",
        "audit search",
        "subscriptions",
    ] {
        status(&report, name);
    }
    assert!(
        status(&report, "audit search")
            .detail
            .contains("AuditLogsQuery.Read.All"),
        "{text}"
    );
    for ct in ContentType::ALL {
        let c = status(&report, &format!("listing {ct}"));
        assert!(c.detail.contains("blobs available"), "{text}");
    }
    // The thumbprints as the portal shows them and as the JWT header carries them.
    let thumbprint = o365sync::auth::Thumbprints::of_der(&cert.der);
    let certificate = &status(&report, "certificate").detail;
    assert!(
        certificate.contains(&format!(
            "thumbprint (SHA-1, as the Entra portal shows it): {}",
            thumbprint.sha1_hex
        )),
        "{text}"
    );
    assert!(
        certificate.contains(&format!("x5t: {}", thumbprint.x5t)),
        "{text}"
    );
    assert!(
        certificate.contains(&format!("x5t#S256: {}", thumbprint.x5t_s256)),
        "{text}"
    );
    assert!(
        text.contains("doctor: 17 passed, 0 warnings, 0 failed, 0 skipped"),
        "{text}"
    );

    let paths = &status(&report, "state and output").detail;
    assert!(paths.contains("state will be created by `run`"), "{text}");
    assert!(paths.contains("out will be created by `run`"), "{text}");
    assert!(
        !dir.path().join("state").exists(),
        "doctor created the state directory"
    );

    // No secret in the report: no JWT (access token or assertion; they start with `eyJ`), no key material.
    assert!(!text.contains("eyJ"), "{text}");
    let key_line = cert.key_pem.lines().nth(1).expect("key body");
    assert!(!text.contains(key_line), "{text}");

    // Through the binary: exit 0, the same report, no state directory, no subscription started.
    let out = binary(dir.path()).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("pass  role"), "{stdout}");
    assert!(!dir.path().join("state").exists(), "doctor wrote state");
    assert_eq!(emu.stats().requests.subscriptions_start, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_certificate_fails_the_token_check_with_aadsts700027() {
    let registered = good_cert();
    let ours = good_cert();
    let emu = emulator(&registered, |_| {}).await;
    let dir = job_dir(&ours, &ours.key_pem, &emu.url(), Cloud::Commercial);
    let (report, text) = doctor(dir.path()).await;
    let token = status(&report, "token");
    assert_eq!(token.status, Status::Fail, "{text}");
    assert!(token.detail.contains("AADSTS700027"), "{text}");
    let sha1 = o365sync::auth::Thumbprints::of_der(&ours.der).sha1_hex;
    assert!(token.detail.contains(&sha1), "{text}");
    assert!(
        token
            .detail
            .contains("upload it under Certificates & secrets"),
        "{text}"
    );
    assert!(
        fix(&report, "token").contains("compare the SHA-1 thumbprint"),
        "{text}"
    );
    // The endpoint answered, so the skew is known; everything needing a token is skipped.
    assert_eq!(status(&report, "clock skew").status, Status::Pass, "{text}");
    for name in ["role", "subscriptions", "listing Audit.Exchange"] {
        let c = status(&report, name);
        assert_eq!(c.status, Status::Skip, "{text}");
        assert!(c.detail.contains("depends on `token`"), "{text}");
    }
    assert_eq!(report.outcome(), Outcome::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_cloud_fails_the_token_check_and_names_tenant_cloud() {
    let cert = good_cert();
    // The emulator plays a GCC High tenant; the job says commercial.
    let emu = emulator(&cert, |c| c.cloud = Cloud::GccHigh).await;
    let dir = job_dir(&cert, &cert.key_pem, &emu.url(), Cloud::Commercial);
    let (report, text) = doctor(dir.path()).await;
    let token = status(&report, "token");
    assert_eq!(token.status, Status::Fail, "{text}");
    assert!(token.detail.contains("AADSTS500011"), "{text}");
    assert!(token.detail.contains("check `tenant.cloud`"), "{text}");
    assert!(
        token.detail.contains("https://manage.office.com/.default"),
        "{text}"
    );
    assert_eq!(report.outcome(), Outcome::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_role_warns_and_the_api_refuses_with_af10001() {
    let cert = good_cert();
    let emu = emulator(&cert, |c| c.roles = vec!["User.Read.All".into()]).await;
    let dir = job_dir(&cert, &cert.key_pem, &emu.url(), Cloud::Commercial);
    let (report, text) = doctor(dir.path()).await;
    let role = status(&report, "role");
    assert_eq!(role.status, Status::Warn, "{text}");
    assert!(role.detail.contains("User.Read.All"), "{text}");
    assert!(
        role.detail.contains("ActivityFeed.Read is missing"),
        "{text}"
    );
    let role_fix = fix(&report, "role");
    assert!(role_fix.contains("Office 365 Management APIs"), "{text}");
    assert!(role_fix.contains("ActivityFeed.ReadDlp"), "{text}");
    assert!(role_fix.contains("Grant admin consent"), "{text}");
    let subs = status(&report, "subscriptions");
    assert_eq!(subs.status, Status::Fail, "{text}");
    assert!(subs.detail.contains("AF10001"), "{text}");
    assert!(
        fix(&report, "subscriptions").contains("ActivityFeed.Read"),
        "{text}"
    );
    assert_eq!(
        status(&report, "listing DLP.All").status,
        Status::Skip,
        "{text}"
    );
    assert_eq!(report.outcome(), Outcome::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlp_without_readdlp_is_a_warning() {
    let cert = good_cert();
    let emu = emulator(&cert, |c| c.roles = vec!["ActivityFeed.Read".into()]).await;
    let dir = job_dir(&cert, &cert.key_pem, &emu.url(), Cloud::Commercial);
    let (report, text) = doctor(dir.path()).await;
    let role = status(&report, "role");
    assert_eq!(role.status, Status::Warn, "{text}");
    assert!(
        role.detail
            .contains("DLP.All is collected without ActivityFeed.ReadDlp"),
        "{text}"
    );
    // Without the Graph permission only `backfill` beyond 7 days is affected: a warning that says how to grant it.
    let search = status(&report, "audit search");
    assert_eq!(search.status, Status::Warn, "{text}");
    assert!(
        fix(&report, "audit search").contains("AuditLogsQuery.Read.All"),
        "{text}"
    );
    assert_eq!(report.outcome(), Outcome::Done, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_subscriptions_are_reported_not_started() {
    let cert = good_cert();
    let emu = emulator(&cert, |c| {
        c.initial_subscriptions = vec![ContentType::Exchange];
    })
    .await;
    let dir = job_dir(&cert, &cert.key_pem, &emu.url(), Cloud::Commercial);
    let (report, text) = doctor(dir.path()).await;
    let subs = status(&report, "subscriptions");
    assert_eq!(subs.status, Status::Warn, "{text}");
    assert!(subs.detail.contains("Audit.Exchange: enabled"), "{text}");
    assert!(subs.detail.contains("Audit.General: missing"), "{text}");
    let subs_fix = fix(&report, "subscriptions");
    assert!(subs_fix.contains("`o365sync run` starts"), "{text}");
    assert!(subs_fix.contains("12 hours"), "{text}");
    assert_eq!(
        status(&report, "listing Audit.Exchange").status,
        Status::Pass,
        "{text}"
    );
    let general = status(&report, "listing Audit.General");
    assert_eq!(general.status, Status::Skip, "{text}");
    assert!(
        general.detail.contains("`o365sync run` starts it"),
        "{text}"
    );
    assert_eq!(
        emu.stats().requests.subscriptions_start,
        0,
        "doctor started a subscription"
    );
    assert_eq!(report.outcome(), Outcome::Done, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_fails_the_token_check_and_skips_the_rest() {
    let cert = good_cert();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let dir = job_dir(&cert, &cert.key_pem, &url, Cloud::Gcc);
    let (report, text) = doctor(dir.path()).await;
    let token = status(&report, "token");
    assert_eq!(token.status, Status::Fail, "{text}");
    assert!(
        token
            .detail
            .contains("cannot reach the token endpoint 127.0.0.1"),
        "{text}"
    );
    assert!(fix(&report, "token").contains("network"), "{text}");
    assert_eq!(status(&report, "clock skew").status, Status::Skip, "{text}");
    assert_eq!(
        status(&report, "subscriptions").status,
        Status::Skip,
        "{text}"
    );
    // The offline checks still ran.
    assert_eq!(
        status(&report, "certificate").status,
        Status::Pass,
        "{text}"
    );

    let out = binary(dir.path()).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!dir.path().join("state").exists(), "doctor wrote state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_certificate_and_an_open_key_file_are_warnings() {
    let now = Timestamp::now();
    let cert = cert_valid(
        now - SignedDuration::from_hours(24 * 300),
        now + SignedDuration::from_hours(24 * 10),
    );
    let emu = emulator(&cert, |_| {}).await;
    let dir = job_dir(&cert, &cert.key_pem, &emu.url(), Cloud::Commercial);
    set_mode(&dir.path().join("key.pem"), 0o644);
    let (report, text) = doctor(dir.path()).await;
    let expiry = status(&report, "expiry");
    assert_eq!(expiry.status, Status::Warn, "{text}");
    assert!(expiry.detail.contains("days left (under 30)"), "{text}");
    assert!(
        fix(&report, "expiry").contains("upload it to the app registration"),
        "{text}"
    );
    let perms = status(&report, "file permissions");
    assert_eq!(perms.status, Status::Warn, "{text}");
    assert!(perms.detail.contains("mode 0644"), "{text}");
    assert!(
        fix(&report, "file permissions").contains("chmod 600"),
        "{text}"
    );
    // The expiry warning is reported once, under `expiry`, not again under `job file`.
    assert_eq!(status(&report, "job file").status, Status::Pass, "{text}");
    assert_eq!(report.outcome(), Outcome::Done, "{text}");
}

/// Runs the binary on a job the loader refuses and returns (exit code, stdout).
async fn refused(cert: &Cert, key_pem: &str) -> (Option<i32>, String, bool) {
    let dir = job_dir(cert, key_pem, "http://127.0.0.1:9", Cloud::Gcc);
    let out = binary(dir.path()).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), stdout, dir.path().join("state").exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_mismatch_is_refused_at_job_load_with_exit_2() {
    let cert = good_cert();
    let other = good_cert();
    let (code, stdout, state) = refused(&cert, &other.key_pem).await;
    assert_eq!(code, Some(2), "{stdout}");
    assert!(stdout.starts_with("fail  job file"), "{stdout}");
    // Located at `private_key:` (line 8, the value).
    assert!(stdout.contains("job.yaml:8:16: "), "{stdout}");
    assert!(
        stdout.contains("does not match the certificate"),
        "{stdout}"
    );
    assert!(
        stdout.contains("use the key generated together with this certificate"),
        "{stdout}"
    );
    // The certificate itself is fine: its facts are shown as a pass.
    let sha1 = o365sync::auth::Thumbprints::of_der(&cert.der).sha1_hex;
    assert!(stdout.contains("pass  certificate  "), "{stdout}");
    assert!(stdout.contains(&sha1), "{stdout}");
    assert!(!state, "doctor wrote state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_is_a_failed_check_with_exit_1() {
    let now = Timestamp::now();
    let cert = cert_valid(
        now - SignedDuration::from_hours(24 * 400),
        now - SignedDuration::from_hours(24 * 3),
    );
    let (code, stdout, state) = refused(&cert, &cert.key_pem).await;
    // a failed check (1), as doctor's contract says, not an invalid job file (2)
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("doctor: the certificate is outside its validity"),
        "{stdout}"
    );
    // Located at `certificate:` (line 7, the value).
    assert!(stdout.contains("job.yaml:7:16: "), "{stdout}");
    assert!(stdout.contains("expired at"), "{stdout}");
    assert!(
        stdout.contains("create a new certificate, upload it to the app registration"),
        "{stdout}"
    );
    // Doctor adds the certificate's facts, so the operator can find it in the portal.
    let sha1 = o365sync::auth::Thumbprints::of_der(&cert.der).sha1_hex;
    assert!(stdout.contains("fail  certificate  expired at"), "{stdout}");
    assert!(
        stdout.contains(&format!("as the Entra portal shows it): {sha1}")),
        "{stdout}"
    );
    assert!(stdout.contains("fix: create a new certificate"), "{stdout}");
    assert!(!state, "doctor wrote state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_not_yet_valid_is_a_failed_check_with_exit_1() {
    let now = Timestamp::now();
    let cert = cert_valid(
        now + SignedDuration::from_hours(24 * 2),
        now + SignedDuration::from_hours(24 * 400),
    );
    let (code, stdout, state) = refused(&cert, &cert.key_pem).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("fail  certificate  not valid before"),
        "{stdout}"
    );
    assert!(!state, "doctor wrote state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_with_another_error_in_the_job_file_is_still_exit_2() {
    let now = Timestamp::now();
    let cert = cert_valid(
        now - SignedDuration::from_hours(24 * 400),
        now - SignedDuration::from_hours(24 * 3),
    );
    let other = good_cert();
    // the key of another certificate: the job is invalid for more than its certificate's validity
    let (code, stdout, _) = refused(&cert, &other.key_pem).await;
    assert_eq!(code, Some(2), "{stdout}");
}

#[tokio::test]
async fn doctor_file_captures_the_report() {
    let cert = good_cert();
    let emu = emulator(&cert, |_| {}).await;
    let dir = job_dir(&cert, &cert.key_pem, &emu.url(), Cloud::Commercial);
    let mut out = Vec::new();
    let outcome = doctor_file(&dir.path().join("job.yaml"), &options(), &mut out).await;
    let text = String::from_utf8_lossy(&out);
    assert_eq!(outcome, Outcome::Done, "{text}");
    assert!(
        text.lines()
            .next()
            .unwrap_or_default()
            .starts_with("pass  job file"),
        "{text}"
    );
    assert!(text.contains("pass  listing DLP.All"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_in_place_of_the_output_directory_fails_the_paths_check() {
    let cert = good_cert();
    let emu = emulator(&cert, |_| {}).await;
    let dir = job_dir(&cert, &cert.key_pem, &emu.url(), Cloud::Commercial);
    std::fs::write(dir.path().join("out"), "not a directory").expect("write");
    let (report, text) = doctor(dir.path()).await;
    let paths = status(&report, "state and output");
    assert_eq!(paths.status, Status::Fail, "{text}");
    assert!(
        paths.detail.contains("out exists but is not a directory"),
        "{text}"
    );
    assert!(
        fix(&report, "state and output").contains("sink.path"),
        "{text}"
    );
    // The other checks are independent of it and still pass.
    assert_eq!(
        status(&report, "listing Audit.General").status,
        Status::Pass,
        "{text}"
    );
    assert_eq!(report.outcome(), Outcome::Failed);
}

/// A job directory holding fixture credential files (`fixtures/credentials/`, copied as `(fixture, name)`, mode
/// 0600) and a job whose tenant section is `tenant`.
fn fixture_job_dir(files: &[(&str, &str)], tenant: &str, url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/credentials");
    for (from, to) in files {
        let path = dir.path().join(to);
        std::fs::copy(fixtures.join(from), &path).expect("copy fixture");
        set_mode(&path, 0o600);
    }
    let job = format!(
        "version: 1
name: doctor-forms
tenant:
  id: {tenant_id}
  cloud: commercial
  client_id: {client}
{tenant}sink:
  type: jsonl
  path: out
endpoints:
  login: {url}
  api: {url}
",
        tenant_id = o365sync::emulator::DEFAULT_TENANT_ID,
        client = o365sync::emulator::DEFAULT_CLIENT_ID,
    );
    std::fs::write(dir.path().join("job.yaml"), job).expect("write job");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_check_names_the_form_it_read() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/credentials");
    let der = std::fs::read(fixtures.join("cert.cer")).expect("cert.cer");
    let trusted = Cert {
        cert_pem: String::new(),
        key_pem: String::new(),
        der: der.clone(),
    };
    let emu = emulator(&trusted, |_| {}).await;
    // (fixture files copied as, tenant lines, the certificate check's first detail line)
    type FormCase<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [FormCase<'_>; 3] = [
        (
            &[("aes.p12", "app.pfx")],
            "  certificate: app.pfx\n  private_key_passphrase_file: pass.txt\n",
            "read: PKCS#12 (AES-256-CBC, PBKDF2, HMAC-SHA256 MAC) from app.pfx: certificate + key",
        ),
        (
            &[("combined-utf16le-bom.pem", "combined.pem")],
            "  certificate: combined.pem\n  private_key: combined.pem\n",
            "read: PEM (UTF-16LE with BOM, CRLF) from combined.pem: certificate + key",
        ),
        (
            &[("cert.cer", "cert.cer"), ("key-pkcs1.der", "key.der")],
            "  certificate: cert.cer\n  private_key: key.der\n",
            "read: certificate: DER certificate from cert.cer; private key: DER PKCS#1 key from key.der",
        ),
    ];
    for (files, tenant, expected) in cases {
        let dir = fixture_job_dir(files, tenant, &emu.url());
        if tenant.contains("pass.txt") {
            std::fs::write(dir.path().join("pass.txt"), "fixture-aes\n").expect("pass");
            set_mode(&dir.path().join("pass.txt"), 0o600);
        }
        let (report, text) = doctor(dir.path()).await;
        let certificate = status(&report, "certificate");
        assert_eq!(certificate.status, Status::Pass, "{text}");
        assert!(
            certificate.detail.lines().next() == Some(expected),
            "expected `{expected}` first in:\n{text}"
        );
        assert_eq!(status(&report, "key match").status, Status::Pass, "{text}");
        assert_eq!(
            status(&report, "file permissions").status,
            Status::Pass,
            "{text}"
        );
        assert_eq!(status(&report, "token").status, Status::Pass, "{text}");
        assert!(!text.contains("fixture-aes"), "{text}");
    }

    // A DER certificate without its key does not load; doctor still shows the certificate's thumbprint.
    let dir = fixture_job_dir(
        &[("cert.cer", "cert.cer")],
        "  certificate: cert.cer\n",
        &emu.url(),
    );
    let mut out = Vec::new();
    let outcome = doctor_file(&dir.path().join("job.yaml"), &options(), &mut out).await;
    let text = String::from_utf8_lossy(&out);
    assert_eq!(outcome, Outcome::Invalid, "{text}");
    assert!(text.contains("add `tenant.private_key`"), "{text}");
    let sha1 = o365sync::auth::Thumbprints::of_der(&der).sha1_hex;
    assert!(
        text.contains(&format!("as the Entra portal shows it): {sha1}")),
        "{text}"
    );
}

#[test]
fn an_unloadable_job_with_a_pkcs12_file_still_shows_its_leaf_certificate() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/credentials");
    let dir = fixture_job_dir(
        &[("ca-first-chain.pfx", "app.pfx")],
        "  certificate: app.pfx\n  private_key_passphrase_file: pass.txt\n",
        "http://127.0.0.1:9",
    );
    std::fs::write(dir.path().join("pass.txt"), "fixture-chain\n").expect("pass");
    let leaf_pem = std::fs::read(fixtures.join("chain-leaf.pem")).expect("leaf");
    let leaf = o365sync::emulator::certificates_from_pem(&leaf_pem).expect("pem")[0].clone();
    let sha1 = o365sync::auth::Thumbprints::of_der(&leaf).sha1_hex;
    // Long after the fixtures expire: the facts come from the PKCS#12 file, opened with the job's passphrase, and
    // name the leaf (the certificate matching the key), not the CA stored before it.
    let at: Timestamp = "2200-01-01T00:00:00Z".parse().expect("time");
    let check = o365sync::doctor::certificate_of_unloadable_job(&dir.path().join("job.yaml"), at)
        .expect("certificate facts");
    assert_eq!(check.status, Status::Fail, "{}", check.detail);
    assert!(check.detail.starts_with("expired at"), "{}", check.detail);
    assert!(
        check.detail.contains("subject CN=o365sync-fixture-leaf"),
        "{}",
        check.detail
    );
    assert!(check.detail.contains(&sha1), "{}", check.detail);
    // Without the passphrase the certificates cannot be read: no facts, no guess.
    std::fs::remove_file(dir.path().join("pass.txt")).expect("rm");
    assert!(
        o365sync::doctor::certificate_of_unloadable_job(&dir.path().join("job.yaml"), at).is_none()
    );
}

/// Replaces the job's jsonl sink with `section` (its indented keys).
fn set_sink(dir: &Path, section: &str) {
    let path = dir.join("job.yaml");
    let yaml = std::fs::read_to_string(&path).expect("job");
    std::fs::write(
        &path,
        yaml.replace(
            "sink:\n  type: jsonl\n  path: out\n",
            &format!("sink:\n{section}"),
        ),
    )
    .expect("job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_destinations_are_probed_without_writing_an_event() {
    let cert = good_cert();
    let emu = emulator(&cert, |_| {}).await;
    let dir = job_dir(&cert, &cert.key_pem, &emu.url(), Cloud::Commercial);
    let hec = o365sync::emulator::hec::HecSettings::default();
    std::fs::write(dir.path().join("hec-token"), &hec.token).unwrap();

    // Logs Ingestion: a token for Azure Monitor, an empty write to the stream.
    set_sink(
        dir.path(),
        &format!(
            "  type: azure_logs_ingestion\n  endpoint: {}\n  dcr_immutable_id: {}\n  stream: {}\n",
            emu.url(),
            o365sync::emulator::ingestion::DEFAULT_DCR,
            o365sync::emulator::ingestion::DEFAULT_STREAM
        ),
    );
    let (report, text) = doctor(dir.path()).await;
    let check = status(&report, "destination");
    assert_eq!(check.status, Status::Pass, "{text}");
    assert!(
        check.detail.contains("https://monitor.azure.com/.default"),
        "{text}"
    );
    assert!(
        emu.receivers().ingestion.rows().is_empty(),
        "the probe stored nothing"
    );

    // A stream the rule does not declare fails with what to check.
    let yaml = std::fs::read_to_string(dir.path().join("job.yaml")).unwrap();
    std::fs::write(
        dir.path().join("job.yaml"),
        yaml.replace("stream: Custom-O365Audit_CL", "stream: Custom-Missing_CL"),
    )
    .unwrap();
    let (report, text) = doctor(dir.path()).await;
    assert_eq!(
        status(&report, "destination").status,
        Status::Fail,
        "{text}"
    );
    assert!(
        text.contains("check sink.dcr_immutable_id and sink.stream"),
        "{text}"
    );

    // Splunk HEC: the token is checked by an empty request.
    let dir = job_dir(&cert, &cert.key_pem, &emu.url(), Cloud::Commercial);
    std::fs::write(dir.path().join("hec-token"), &hec.token).unwrap();
    set_sink(
        dir.path(),
        &format!(
            "  type: splunk_hec\n  url: {}\n  token_file: hec-token\n",
            emu.url()
        ),
    );
    let (report, text) = doctor(dir.path()).await;
    assert_eq!(
        status(&report, "destination").status,
        Status::Pass,
        "{text}"
    );
    std::fs::write(
        dir.path().join("hec-token"),
        "99999999-9999-4999-8999-999999999999",
    )
    .unwrap();
    let (report, text) = doctor(dir.path()).await;
    assert_eq!(
        status(&report, "destination").status,
        Status::Fail,
        "{text}"
    );
    assert!(text.contains("Invalid token"), "{text}");
    assert!(
        !text.contains("99999999-9999-4999-8999-999999999999"),
        "the token leaked: {text}"
    );
    assert!(
        emu.receivers().hec.events().is_empty(),
        "the probe indexed nothing"
    );

    // Elasticsearch: GET / with the key.
    emu.receivers()
        .elastic
        .set(o365sync::emulator::elastic::ElasticSettings {
            api_key: Some("a2V5".into()),
            ..Default::default()
        });
    let dir = job_dir(&cert, &cert.key_pem, &emu.url(), Cloud::Commercial);
    std::fs::write(dir.path().join("es-key"), "a2V5\n").unwrap();
    set_sink(
        dir.path(),
        &format!(
            "  type: elasticsearch\n  url: {}\n  index: o365\n  api_key_file: es-key\n",
            emu.url()
        ),
    );
    let (report, text) = doctor(dir.path()).await;
    assert_eq!(
        status(&report, "destination").status,
        Status::Pass,
        "{text}"
    );
    assert!(
        status(&report, "destination").detail.contains("8.19.0"),
        "{text}"
    );
    std::fs::write(dir.path().join("es-key"), "bm9wZQ==\n").unwrap();
    let (report, text) = doctor(dir.path()).await;
    assert_eq!(
        status(&report, "destination").status,
        Status::Fail,
        "{text}"
    );
    assert!(text.contains("check the API key"), "{text}");
}
