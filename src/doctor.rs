//! `o365sync doctor JOB`: preflight checks of one job, each printed as `pass`, `warn`, `fail` or `skip` with what to
//! do about it.
//!
//! # Checks, in order
//!
//! 1. **job file**: the job loads (parse, validate, certificate and key checked offline). A job that does not load is
//!    exit code 2 with the loader's located diagnostics (this covers a key that does not match the certificate, a
//!    weak key and a wrong passphrase); when the certificate file it names can be read (a PKCS#12 file with the job's
//!    passphrase source), its facts are printed too (thumbprints, validity; `fail` when expired or not yet valid),
//!    and nothing else runs. When the certificate's validity is the job's only error, that failed check makes the exit
//!    code 1, as any failed check does.
//! 2. **file permissions**: the private key (the certificate file when it is PKCS#12 holding the key) and passphrase
//!    file must not be readable by group or others.
//!    **state and output**: the state directory and the sink's directory exist as writable directories or can be
//!    created (inspected only, never created).
//! 3. **certificate**: the form read (`read: PKCS#12 (AES-256-CBC, PBKDF2, HMAC-SHA256 MAC) from app.pfx: certificate
//!    + key`, `read: PEM (UTF-16LE with BOM, CRLF) from …`, `DER certificate`, …), subject, issuer, validity, and the
//!    thumbprints as the Entra portal shows them (SHA-1 hex), plus the JWT header values `x5t` / `x5t#S256`.
//! 4. **key match** and **key size** (≥ 2048 bits), **expiry** (warn within 30 days).
//! 5. **clock skew**: local clock minus the token endpoint's `Date` header (warn beyond 2 minutes, fail beyond 5).
//! 6. **token**: one client-credentials request; a refusal carries the AADSTS advice.
//! 7. **role**: the token's `roles` claim holds `ActivityFeed.Read` (and `ActivityFeed.ReadDlp` when the job reads
//!    `DLP.All`).
//!    **audit search**: a Microsoft Graph token whose roles hold `AuditLogsQuery.Read.All` (or a per-service one), which
//!    `backfill` needs beyond the Management API's 7 days (a warning when missing; in GCC High and DoD, which have no
//!    Audit Search for applications, a note saying so).
//! 8. **subscriptions**: listed, never started; a missing or disabled one is a warning (`run` starts it).
//! 9. **listing CT**: one content listing of the last hour per subscribed content type.
//! 10. **destination** (network sinks): reachable, the credential accepted and the index or stream writable, checked
//!     without storing an event (Elasticsearch `GET /`; HEC an empty request, which checks the token; Logs Ingestion
//!     a token for Azure Monitor and an empty write to the stream).
//!
//! A check whose input failed is reported as `skip` with the check it depends on. Exit code: 0 when no check failed
//! (warnings allowed), 1 when one failed (an expired or not-yet-valid certificate included, though the job does not
//! load with it), 2 for a job file that does not load for any other reason. Doctor never writes to the state
//! directory and never starts a subscription.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::api::{ApiClient, ApiConfig, ApiRoot, RetryPolicy, Subscription, Window};
use crate::auth::{
    AccessToken, Credential, CredentialWarning, EXPIRY_WARNING_DAYS, MIN_RSA_BITS, Thumbprints,
    TokenProvider, TokenProviderConfig,
};
use crate::content_type::ContentType;
use crate::exit::Outcome;
use crate::global::GlobalArgs;
use crate::job::{Loaded, Passphrase, Sink, Tenant};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The job file.
    pub job: PathBuf,
}

/// The role every token must carry.
pub const READ_ROLE: &str = "ActivityFeed.Read";
/// The role that adds detected values to DLP events.
pub const DLP_ROLE: &str = "ActivityFeed.ReadDlp";
/// Clock skew above which `doctor` warns.
pub const SKEW_WARN: SignedDuration = SignedDuration::from_mins(2);
/// Clock skew above which `doctor` fails (Entra ID's tolerance for assertion times is about 5 minutes).
pub const SKEW_FAIL: SignedDuration = SignedDuration::from_mins(5);

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Fine.
    Pass,
    /// Works, but something needs attention.
    Warn,
    /// Broken: `run` would fail.
    Fail,
    /// Not run because a check it depends on failed.
    Skip,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        })
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Short name, e.g. `token` or `listing Audit.Exchange`.
    pub name: String,
    /// The verdict.
    pub status: Status,
    /// What was found (one or more lines).
    pub detail: String,
    /// What to do, for `warn` and `fail`.
    pub fix: Option<String>,
}

impl Check {
    fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Pass, detail)
    }

    fn warn(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(name, Status::Warn, detail).with_fix(fix)
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check::new(name, Status::Fail, detail).with_fix(fix)
    }

    fn skip(name: impl Into<String>, depends_on: &str) -> Check {
        Check::new(
            name,
            Status::Skip,
            format!("skipped: depends on `{depends_on}`, which failed"),
        )
    }

    fn with_fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// Every check of one job, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// The first check with this name.
    pub fn get(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// How many checks have this status.
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// Exit code: 1 when a check failed, else 0.
    pub fn outcome(&self) -> Outcome {
        if self.count(Status::Fail) > 0 {
            Outcome::Failed
        } else {
            Outcome::Done
        }
    }
}

impl Report {
    /// The checks as printed, without the summary line.
    pub fn render_checks(&self) -> String {
        let mut out = String::new();
        let _ = self.write_checks(&mut out);
        out
    }

    fn write_checks(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in &self.checks {
            let mut lines = c.detail.lines();
            writeln!(
                f,
                "{}  {:width$}  {}",
                c.status,
                c.name,
                lines.next().unwrap_or_default()
            )?;
            let indent = " ".repeat(width + 8);
            for line in lines {
                writeln!(f, "{indent}{line}")?;
            }
            if let Some(fix) = &c.fix {
                writeln!(f, "{indent}fix: {fix}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_checks(f)?;
        writeln!(
            f,
            "doctor: {} passed, {} warnings, {} failed, {} skipped",
            self.count(Status::Pass),
            self.count(Status::Warn),
            self.count(Status::Fail),
            self.count(Status::Skip)
        )
    }
}

/// Tuning of the network checks (tests shorten the retries).
#[derive(Debug, Clone)]
pub struct Options {
    /// Extra attempts of the token request after a transient failure.
    pub token_retries: u32,
    /// Timeout of each token request.
    pub token_timeout: Duration,
    /// Retry policy of the API calls.
    pub api_retry: RetryPolicy,
    /// The state directory `run` would use (`--state-dir`), inspected but never created; `None` skips it.
    pub state_dir: Option<PathBuf>,
}

impl Default for Options {
    /// One retry of the token request, three attempts per API call with short backoff: doctor answers quickly.
    fn default() -> Self {
        Options {
            token_retries: 1,
            token_timeout: Duration::from_secs(20),
            api_retry: RetryPolicy {
                max_attempts: 3,
                min_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(5),
            },
            state_dir: None,
        }
    }
}

/// `o365sync doctor JOB`: loads the job, runs every check and prints the report on stdout.
pub fn run(args: DoctorArgs, global: &GlobalArgs) -> Outcome {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Outcome::Failed;
        }
    };
    let mut out = std::io::stdout().lock();
    let options = Options {
        state_dir: Some(global.state_dir.clone()),
        ..Options::default()
    };
    runtime.block_on(doctor_file(&args.job, &options, &mut out))
}

/// Loads `file` against the process environment and the current time, runs every check and writes the report to
/// `out`. A job that does not load writes its diagnostics and returns [`Outcome::Invalid`].
pub async fn doctor_file(file: &Path, options: &Options, out: &mut dyn Write) -> Outcome {
    let loaded = match crate::job::load_current(file) {
        Ok(l) => l,
        Err(diagnostics) => {
            let _ = writeln!(out, "fail  job file  {} does not load", file.display());
            let _ = writeln!(out, "{diagnostics}");
            let check = certificate_of_unloadable_job(file, Timestamp::now());
            // The job file is fine but for its certificate's validity: that is a failed check (1), not an invalid
            // job file (2).
            let errors: Vec<_> = diagnostics
                .0
                .iter()
                .filter(|d| d.severity == crate::job::Severity::Error)
                .collect();
            let only_validity = check.as_ref().is_some_and(|c| c.status == Status::Fail)
                && errors.len() == 1
                && (errors[0].message.contains(") expired at ")
                    || errors[0].message.contains(") is not valid before "));
            if let Some(check) = check {
                let _ = write!(
                    out,
                    "{}",
                    Report {
                        checks: vec![check]
                    }
                    .render_checks()
                );
            }
            if only_validity {
                let _ = writeln!(
                    out,
                    "doctor: the certificate is outside its validity; the other checks need a valid certificate"
                );
                return Outcome::Failed;
            }
            let _ = writeln!(
                out,
                "doctor: the job file is invalid; fix the errors above (`o365sync validate {}` shows them too), the other checks need a valid job",
                file.display()
            );
            return Outcome::Invalid;
        }
    };
    let report = diagnose(&loaded, options).await;
    let _ = write!(out, "{report}");
    report.outcome()
}

/// For a job file that does not load: the facts of the certificate it names, when the file can be found and read
/// (the located diagnostics say what is wrong; this adds the thumbprints and validity an operator looks for in the
/// portal). `fail` for a certificate outside its validity at `now`, else `pass`.
pub fn certificate_of_unloadable_job(file: &Path, now: Timestamp) -> Option<Check> {
    let text = std::fs::read_to_string(file).ok()?;
    let raw = crate::job::parse(&text).ok()?;
    let named =
        crate::job::expand::expand(&raw.tenant.value.certificate.value, &crate::job::ProcessEnv)
            .ok()?;
    let base = file.parent().unwrap_or(Path::new(""));
    let path = base.join(named);
    let bytes = std::fs::read(&path).ok()?;
    // A PKCS#12 file's certificates are usually encrypted: use the job's passphrase source when it can be read.
    let tenant = &raw.tenant.value;
    let expanded = |t: &crate::job::raw::Text| {
        crate::job::expand::expand(&t.value, &crate::job::ProcessEnv).ok()
    };
    let source = match (
        &tenant.private_key_passphrase_env,
        &tenant.private_key_passphrase_file,
    ) {
        (Some(env), _) => expanded(env).map(crate::auth::PassphraseSource::Env),
        (None, Some(f)) => expanded(f).map(|f| crate::auth::PassphraseSource::File(base.join(f))),
        (None, None) => None,
    };
    let passphrase = source.and_then(|s| s.read().ok());
    let der =
        crate::auth::peek_certificate(&bytes, passphrase.as_ref().map(|p| p.expose().as_slice()))?;
    let cert = crate::auth::certificate_facts(&der).ok()?;
    let (not_before, not_after) = (cert.not_before, cert.not_after);
    let t = Thumbprints::of_der(&der);
    let detail = format!(
        "{}: subject {}\nvalid {not_before} .. {not_after}\nthumbprint (SHA-1, as the Entra portal shows it): {}\nx5t: {}   x5t#S256: {}",
        path.display(),
        cert.subject,
        t.sha1_hex,
        t.x5t,
        t.x5t_s256
    );
    Some(if now >= not_after {
        Check::fail(
            "certificate",
            format!("expired at {not_after}\n{detail}"),
            "create a new certificate, upload it to the app registration (remove this one by its thumbprint) and point `tenant.certificate` at it",
        )
    } else if now < not_before {
        Check::fail(
            "certificate",
            format!("not valid before {not_before}\n{detail}"),
            "check the system clock, or wait until the certificate is valid",
        )
    } else {
        Check::pass("certificate", detail)
    })
}

/// Runs every check of a loaded job.
pub async fn diagnose(loaded: &Loaded, options: &Options) -> Report {
    let job = &loaded.job;
    let mut report = Report::default();
    let credential_warnings: Vec<String> = loaded
        .credential
        .info()
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    let other_warnings: Vec<String> = loaded
        .warnings
        .iter()
        .filter(|w| !credential_warnings.contains(&w.message))
        .map(|w| {
            format!(
                "{}:{}:{}: {}",
                w.file.display(),
                w.line,
                w.column,
                w.message
            )
        })
        .collect();
    report.checks.push(if other_warnings.is_empty() {
        Check::pass(
            "job file",
            format!(
                "{} loads: job {}, {} cloud, tenant {}, client {}",
                job.file.display(),
                job.name,
                job.tenant.cloud,
                job.tenant.id,
                job.tenant.client_id
            ),
        )
    } else {
        Check::warn(
            "job file",
            other_warnings.join("\n"),
            format!(
                "see `o365sync validate {}` for each warning's help",
                job.file.display()
            ),
        )
    });
    report.checks.push(permissions(loaded));
    report
        .checks
        .push(paths_check(options.state_dir.as_deref(), &job.sink));
    offline_checks(loaded, &mut report);
    online_checks(loaded, options, &mut report).await;
    if let Some(check) = destination_check(loaded).await {
        report.checks.push(check);
    }
    report
}

/// The Microsoft Graph permission `backfill` needs beyond the Management API's 7 days (Purview Audit Search):
/// a Graph token whose roles hold `AuditLogsQuery.Read.All` or a per-service `AuditLogsQuery-….Read.All`. A warning
/// when it lacks them (live runs do not need it); informational in a cloud without Audit Search.
async fn audit_search_check(
    loaded: &Loaded,
    options: &Options,
    endpoints: &crate::cloud::Endpoints,
) -> Check {
    const NAME: &str = "audit search";
    let cloud = loaded.job.tenant.cloud;
    if !cloud.has_audit_search() {
        return Check::pass(
            NAME,
            format!(
                "{cloud} has no Purview Audit Search for applications: `backfill` records what is older than the Management API's 7 days as a gap"
            ),
        );
    }
    let mut endpoints = endpoints.clone();
    endpoints.scope = cloud.graph_scope();
    let mut config = TokenProviderConfig::new(loaded.job.tenant.client_id.to_string(), endpoints);
    config.retries = options.token_retries;
    config.timeout = options.token_timeout;
    let fix = "only `backfill` beyond 7 days needs it: in the app registration add the Microsoft Graph application permission AuditLogsQuery.Read.All (API permissions → Add a permission → Microsoft Graph → Application permissions), then grant admin consent";
    match TokenProvider::new(Arc::clone(&loaded.credential), config)
        .token()
        .await
    {
        Err(e) => Check::warn(NAME, format!("no Microsoft Graph token: {e}"), fix),
        Ok(token) => {
            let roles = token.roles();
            let granted: Vec<&String> = roles
                .iter()
                .filter(|r| {
                    *r == "AuditLogsQuery.Read.All"
                        || (r.starts_with("AuditLogsQuery-") && r.ends_with(".Read.All"))
                })
                .collect();
            if granted.is_empty() {
                Check::warn(
                    NAME,
                    format!(
                        "the Microsoft Graph token's roles ({}) lack AuditLogsQuery.Read.All: `backfill` cannot read beyond the Management API's 7 days",
                        if roles.is_empty() {
                            "none".to_owned()
                        } else {
                            roles.join(", ")
                        }
                    ),
                    fix,
                )
            } else {
                Check::pass(
                    NAME,
                    format!(
                        "the Microsoft Graph token holds {}: `backfill` reads what is older than 7 days from Purview Audit Search",
                        granted
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            }
        }
    }
}

/// A network sink's destination: reachable, the credential accepted, the index or stream writable (the sink's own
/// probe, which stores nothing). `None` for the file sinks.
async fn destination_check(loaded: &Loaded) -> Option<Check> {
    // Opening a file sink would create its directory or database: doctor only inspects those (`paths_check`).
    if matches!(
        loaded.job.sink,
        Sink::Jsonl { .. } | Sink::Sqlite { .. } | Sink::Stdout
    ) {
        return None;
    }
    let sink = match crate::exec::open_sink(loaded) {
        Ok(s) => s,
        Err(e) => {
            return Some(Check::fail(
                "destination",
                e.to_string(),
                "make the credential's environment variable or file available to o365sync",
            ));
        }
    };
    let name = "destination";
    Some(match sink.probe().await? {
        Ok(detail) => Check::pass(name, format!("{}: {detail}", sink.describe())),
        Err(e) => Check::fail(
            name,
            e.to_string(),
            "follow the hint above; docs/sentinel.md and docs/elasticsearch.md describe the set-up",
        ),
    })
}

/// Group/other permission bits of the secret files.
fn permissions(loaded: &Loaded) -> Check {
    let tenant = &loaded.job.tenant;
    // Without `private_key` the certificate file (PKCS#12) holds the key.
    let key_of = |t: &Tenant| {
        t.private_key
            .clone()
            .unwrap_or_else(|| t.certificate.clone())
    };
    let key_file = key_of(tenant);
    let mut secret_files = vec![("private key", key_file.clone())];
    if let Some(Passphrase::File(p)) = &tenant.passphrase {
        secret_files.push(("passphrase file", p.clone()));
    }
    if let Some((auth, _)) = sink_auth(loaded) {
        secret_files.push(("sink.auth private key", key_of(auth)));
        if let Some(Passphrase::File(p)) = &auth.passphrase {
            secret_files.push(("sink.auth passphrase file", p.clone()));
        }
    }
    let mut open = Vec::new();
    for (what, path) in &secret_files {
        if let Some(mode) = mode_of(path)
            && mode & 0o077 != 0
        {
            open.push(format!(
                "{what} {} has mode {:04o}: group or others can read it",
                path.display(),
                mode & 0o7777
            ));
        }
    }
    if open.is_empty() {
        Check::pass(
            "file permissions",
            format!(
                "certificate {} readable; private key {} readable by its owner only",
                tenant.certificate.display(),
                key_file.display()
            ),
        )
    } else {
        let paths: Vec<String> = secret_files
            .iter()
            .map(|(_, p)| p.display().to_string())
            .collect();
        Check::warn(
            "file permissions",
            open.join("\n"),
            format!(
                "restrict it to the user running o365sync: chmod 600 {}",
                paths.join(" ")
            ),
        )
    }
}

/// Where a directory `run` writes stands, without creating anything.
fn directory_state(path: &Path) -> Result<String, String> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_dir() => Err(format!("{} exists but is not a directory", path.display())),
        Ok(m) if m.permissions().readonly() => Err(format!(
            "{} is not writable (no write permission bits)",
            path.display()
        )),
        Ok(_) => Ok(format!("{} exists", path.display())),
        Err(_) => {
            let ancestor = path
                .ancestors()
                .skip(1)
                .find(|a| a.as_os_str().is_empty() || a.exists())
                .unwrap_or(Path::new(""));
            let shown = if ancestor.as_os_str().is_empty() {
                Path::new(".")
            } else {
                ancestor
            };
            if shown.is_dir() {
                Ok(format!("{} will be created by `run`", path.display()))
            } else {
                Err(format!(
                    "{} cannot be created: {} is not a directory",
                    path.display(),
                    shown.display()
                ))
            }
        }
    }
}

/// The state directory and the sink's output location, inspected read-only.
fn paths_check(state_dir: Option<&Path>, sink: &Sink) -> Check {
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    if let Some(dir) = state_dir {
        match directory_state(dir) {
            Ok(line) => lines.push(format!("state directory {line}")),
            Err(problem) => problems.push(format!("state directory {problem}")),
        }
    }
    let output = match sink {
        Sink::Jsonl { path, .. } => Some(("output directory", path.clone())),
        Sink::Sqlite { path, .. } => match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => {
                if path.is_dir() {
                    problems.push(format!("sqlite database {} is a directory", path.display()));
                }
                Some(("database directory", parent.to_path_buf()))
            }
            _ => None,
        },
        Sink::Stdout => {
            lines.push("sink: standard output".to_owned());
            None
        }
        Sink::Elasticsearch(_) | Sink::SplunkHec(_) | Sink::AzureLogsIngestion { .. } => None,
    };
    if let Some((what, path)) = output {
        match directory_state(&path) {
            Ok(line) => lines.push(format!("{what} {line}")),
            Err(problem) => problems.push(format!("{what} {problem}")),
        }
    }
    if problems.is_empty() {
        Check::pass("state and output", lines.join("\n"))
    } else {
        problems.extend(lines);
        Check::fail(
            "state and output",
            problems.join("\n"),
            "move the file out of the way or fix `--state-dir` / `sink.path` (relative sink paths are relative to the job file), and make the directory writable by the user running o365sync",
        )
    }
}

#[cfg(unix)]
fn mode_of(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode())
}

#[cfg(not(unix))]
fn mode_of(_path: &std::path::Path) -> Option<u32> {
    None
}

/// The Logs Ingestion sink's own registration (`sink.auth`) and its credential, when it has one.
fn sink_auth(loaded: &Loaded) -> Option<(&Tenant, &Credential)> {
    match (&loaded.job.sink, &loaded.sink_credential) {
        (
            Sink::AzureLogsIngestion {
                auth: Some(auth), ..
            },
            Some(credential),
        ) => Some((auth, credential)),
        _ => None,
    }
}

/// Certificate facts, key match, key size, expiry: all from the credentials the job loader checked (the tenant's,
/// then a Logs Ingestion sink's own, its checks named `sink.auth …`).
fn offline_checks(loaded: &Loaded, report: &mut Report) {
    credential_checks("", &loaded.job.tenant, &loaded.credential, report);
    if let Some((auth, credential)) = sink_auth(loaded) {
        credential_checks("sink.auth ", auth, credential, report);
    }
}

fn credential_checks(prefix: &str, tenant: &Tenant, credential: &Credential, report: &mut Report) {
    let info = credential.info();
    let t = &info.thumbprints;
    report.checks.push(Check::pass(
        format!("{prefix}certificate"),
        format!(
            "read: {}\nsubject {}, issuer {}, serial {}\nvalid {} .. {}, {} certificate(s) in the file\nthumbprint (SHA-1, as the Entra portal shows it): {}\nSHA-256: {}\nx5t: {}   x5t#S256: {}   signing: {}",
            info.source,
            info.subject,
            info.issuer,
            info.serial,
            info.not_before,
            info.not_after,
            info.chain_len,
            t.sha1_hex,
            t.sha256_hex,
            t.x5t,
            t.x5t_s256,
            credential.signing()
        ),
    ));
    report.checks.push(Check::pass(
        format!("{prefix}key match"),
        format!(
            "the private key in {} belongs to the certificate",
            tenant
                .private_key
                .as_ref()
                .unwrap_or(&tenant.certificate)
                .display()
        ),
    ));
    report.checks.push(if info.key_bits >= MIN_RSA_BITS {
        Check::pass(format!("{prefix}key size"), format!("RSA {} bits", info.key_bits))
    } else {
        Check::fail(
            format!("{prefix}key size"),
            format!("RSA {} bits", info.key_bits),
            "Entra ID requires at least 2048 bits (AADSTS50032): create a new certificate with a 2048-bit key",
        )
    });
    let expiring = info.warnings.iter().find_map(|w| match w {
        CredentialWarning::ExpiresSoon {
            not_after,
            days_left,
        } => Some((*not_after, *days_left)),
        CredentialWarning::PassphraseUnused => None,
    });
    report.checks.push(match expiring {
        Some((not_after, days_left)) => Check::warn(
            format!("{prefix}expiry"),
            format!("the certificate expires at {not_after}: {days_left} days left (under {EXPIRY_WARNING_DAYS})"),
            "create a new certificate (`openssl req -newkey rsa:2048 -nodes -keyout key.pem -x509 -days 365 -out certificate.pem`), upload it to the app registration next to the old one, then point the job at it",
        ),
        None => {
            let days = info.not_after.duration_since(Timestamp::now()).as_hours() / 24;
            Check::pass(
                format!("{prefix}expiry"),
                format!("the certificate expires at {}: {days} days left", info.not_after),
            )
        }
    });
    if info.warnings.contains(&CredentialWarning::PassphraseUnused) {
        report.checks.push(Check::warn(
            format!("{prefix}passphrase"),
            "a private key passphrase is configured but the key is not encrypted",
            "remove `private_key_passphrase_env` / `private_key_passphrase_file` from the job",
        ));
    }
}

/// Token, clock skew, role, subscriptions and one listing per content type.
async fn online_checks(loaded: &Loaded, options: &Options, report: &mut Report) {
    let job = &loaded.job;
    let endpoints = match job.endpoints() {
        Ok(e) => e,
        Err(e) => {
            report.checks.push(Check::fail(
                "endpoints",
                e.to_string(),
                "fix `tenant.id` or `endpoints` in the job file",
            ));
            for name in ["clock skew", "token", "role", "subscriptions"] {
                report.checks.push(Check::skip(name, "endpoints"));
            }
            for ct in &job.content_types {
                report
                    .checks
                    .push(Check::skip(format!("listing {ct}"), "endpoints"));
            }
            return;
        }
    };
    let mut config = TokenProviderConfig::new(job.tenant.client_id.to_string(), endpoints.clone());
    config.retries = options.token_retries;
    config.timeout = options.token_timeout;
    let provider = TokenProvider::new(Arc::clone(&loaded.credential), config);
    let token = provider.token().await;

    report.checks.push(match provider.clock_skew() {
        None => Check::skip("clock skew", "token"),
        Some(skew) => skew_check(skew, &endpoints.login_host()),
    });
    let token = match token {
        Ok(t) => {
            report.checks.push(Check::pass(
                "token",
                format!(
                    "access token for {} from {} (expires at {})",
                    endpoints.scope,
                    endpoints.login_host(),
                    t.expires_at()
                        .round(jiff::Unit::Second)
                        .unwrap_or(t.expires_at())
                ),
            ));
            t
        }
        Err(e) => {
            let fix = match e.aadsts() {
                Some(code) if matches!(code.0, 700027 | 50012 | 50013 | 50032) => format!(
                    "see {code} in docs/troubleshooting.md; compare the SHA-1 thumbprint above with the app registration's Certificates & secrets"
                ),
                Some(code) => format!(
                    "see {code} in docs/troubleshooting.md; the message above says what to change"
                ),
                None => "check the network path to the token endpoint, `tenant.cloud` and `endpoints.login`; see docs/troubleshooting.md".to_owned(),
            };
            report.checks.push(Check::fail("token", e.to_string(), fix));
            report.checks.push(Check::skip("role", "token"));
            report.checks.push(Check::skip("subscriptions", "token"));
            for ct in &job.content_types {
                report
                    .checks
                    .push(Check::skip(format!("listing {ct}"), "token"));
            }
            return;
        }
    };
    report.checks.push(role_check(&token, &job.content_types));
    report
        .checks
        .push(audit_search_check(loaded, options, &endpoints).await);

    let root = match ApiRoot::from_root_url(
        endpoints.api_root.clone(),
        &job.tenant.publisher_id.to_string(),
    ) {
        Ok(r) => r,
        Err(e) => {
            report.checks.push(Check::fail(
                "subscriptions",
                e.to_string(),
                "fix `endpoints.api` in the job file",
            ));
            return;
        }
    };
    let mut api_config = ApiConfig::new(root);
    api_config.retry = options.api_retry;
    api_config.max_requests_per_minute = job.sync.max_requests_per_minute;
    api_config.connect_timeout = Duration::from_secs(10);
    api_config.read_timeout = Duration::from_secs(30);
    let client = match ApiClient::new(api_config, provider) {
        Ok(c) => c,
        Err(e) => {
            report.checks.push(Check::fail(
                "subscriptions",
                e.to_string(),
                "check the system's TLS set-up",
            ));
            return;
        }
    };
    let subscriptions = match client.list_subscriptions().await {
        Ok(list) => list,
        Err(e) => {
            report.checks.push(Check::fail(
                "subscriptions",
                e.to_string(),
                "grant the app ActivityFeed.Read (Office 365 Management APIs, application permission) with admin consent, and check `tenant.cloud` and `endpoints.api`; see docs/troubleshooting.md",
            ));
            for ct in &job.content_types {
                report
                    .checks
                    .push(Check::skip(format!("listing {ct}"), "subscriptions"));
            }
            return;
        }
    };
    let (check, enabled) = subscription_check(&subscriptions, &job.content_types);
    report.checks.push(check);

    let now = client.server_now();
    let window = Window::new(now - SignedDuration::from_hours(1), now);
    for ct in &job.content_types {
        let name = format!("listing {ct}");
        if !enabled.contains(ct) {
            report.checks.push(Check::new(
                name,
                Status::Skip,
                format!("skipped: no enabled subscription to {ct} (`o365sync run` starts it)"),
            ));
            continue;
        }
        let window = match &window {
            Ok(w) => *w,
            Err(e) => {
                report
                    .checks
                    .push(Check::fail(name, e.to_string(), "check the local clock"));
                continue;
            }
        };
        report.checks.push(match client.list_content(*ct, window).await {
            Ok(listing) => Check::pass(
                name,
                format!(
                    "{} blobs available in {} ({} pages)",
                    listing.blobs.len(),
                    listing.window,
                    listing.pages
                ),
            ),
            Err(e) => Check::fail(
                name,
                e.to_string(),
                "see docs/troubleshooting.md for the AF code; `o365sync run` would fail the same way",
            ),
        });
    }
}

fn skew_check(skew: SignedDuration, host: &str) -> Check {
    let detail = format!(
        "local clock minus the `Date` of {host}: {}s",
        skew.as_secs()
    );
    let fix = "synchronise the clock (NTP: `timedatectl set-ntp true`, chrony): Entra ID refuses client assertions outside their time range (AADSTS700024) and the API's 7-day rule depends on the clock";
    if skew.abs() > SKEW_FAIL {
        Check::fail("clock skew", detail, fix)
    } else if skew.abs() > SKEW_WARN {
        Check::warn("clock skew", detail, fix)
    } else {
        Check::pass("clock skew", detail)
    }
}

fn role_check(token: &AccessToken, content_types: &[ContentType]) -> Check {
    let roles = token.roles();
    let shown = if roles.is_empty() {
        "none".to_owned()
    } else {
        roles.join(", ")
    };
    if !roles.iter().any(|r| r == READ_ROLE) {
        return Check::warn(
            "role",
            format!("the token's roles: {shown}; {READ_ROLE} is missing"),
            format!(
                "in the app registration: API permissions > Add a permission > Office 365 Management APIs > Application permissions > {READ_ROLE} (and {DLP_ROLE} for DLP detail), then Grant admin consent; a new token carries the role after consent"
            ),
        );
    }
    if content_types.contains(&ContentType::DlpAll) && !roles.iter().any(|r| r == DLP_ROLE) {
        return Check::warn(
            "role",
            format!("the token's roles: {shown}; DLP.All is collected without {DLP_ROLE}"),
            format!(
                "DLP events arrive without their detected values: add the {DLP_ROLE} application permission with admin consent, or accept the reduced detail"
            ),
        );
    }
    Check::pass("role", format!("the token's roles: {shown}"))
}

/// The subscriptions check and the content types whose subscription is enabled.
fn subscription_check(
    subscriptions: &[Subscription],
    wanted: &[ContentType],
) -> (Check, Vec<ContentType>) {
    let mut enabled = Vec::new();
    let mut lines = Vec::new();
    let mut missing = Vec::new();
    for ct in wanted {
        let found = subscriptions
            .iter()
            .find(|s| s.content_type.eq_ignore_ascii_case(ct.as_str()));
        match found {
            Some(s) if s.is_enabled() => {
                enabled.push(*ct);
                lines.push(format!("{ct}: enabled"));
            }
            Some(s) => {
                missing.push(*ct);
                lines.push(format!("{ct}: {} (disabled)", s.status));
            }
            None => {
                missing.push(*ct);
                lines.push(format!("{ct}: missing"));
            }
        }
    }
    let detail = lines.join("\n");
    let check = if missing.is_empty() {
        Check::pass("subscriptions", detail)
    } else {
        Check::warn(
            "subscriptions",
            detail,
            format!(
                "`o365sync run` starts the missing or disabled subscriptions ({}); doctor never starts them. The first content can take up to 12 hours to appear",
                missing
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    };
    (check, enabled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_thresholds() {
        assert_eq!(
            skew_check(SignedDuration::from_secs(30), "h").status,
            Status::Pass
        );
        assert_eq!(
            skew_check(SignedDuration::from_secs(-200), "h").status,
            Status::Warn
        );
        assert_eq!(
            skew_check(SignedDuration::from_secs(400), "h").status,
            Status::Fail
        );
    }

    #[test]
    fn subscriptions_missing_and_disabled_are_warnings_naming_run() {
        let subs = vec![
            Subscription {
                content_type: "Audit.Exchange".into(),
                status: "enabled".into(),
            },
            Subscription {
                content_type: "Audit.General".into(),
                status: "disabled".into(),
            },
        ];
        let (check, enabled) = subscription_check(
            &subs,
            &[
                ContentType::Exchange,
                ContentType::General,
                ContentType::SharePoint,
            ],
        );
        assert_eq!(enabled, [ContentType::Exchange]);
        assert_eq!(check.status, Status::Warn);
        assert!(check.detail.contains("Audit.General: disabled (disabled)"));
        assert!(check.detail.contains("Audit.SharePoint: missing"));
        let fix = check.fix.unwrap_or_default();
        assert!(fix.contains("`o365sync run` starts"), "{fix}");
        assert!(fix.contains("Audit.General, Audit.SharePoint"), "{fix}");
    }

    #[test]
    fn report_renders_fix_lines_and_counts() {
        let report = Report {
            checks: vec![
                Check::pass("a", "fine"),
                Check::fail("bb", "broken\nsecond line", "do this"),
                Check::skip("c", "bb"),
            ],
        };
        let text = report.to_string();
        assert!(text.contains("pass  a   fine\n"), "{text}");
        assert!(text.contains("fail  bb  broken\n"), "{text}");
        assert!(text.contains("          second line\n"), "{text}");
        assert!(text.contains("          fix: do this\n"), "{text}");
        assert!(
            text.contains("skip  c   skipped: depends on `bb`"),
            "{text}"
        );
        assert!(text.ends_with("doctor: 1 passed, 0 warnings, 1 failed, 1 skipped\n"));
        assert_eq!(report.outcome(), Outcome::Failed);
    }
}
