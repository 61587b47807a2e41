//! Phase 3: resolve. Paths become relative to the job file's directory, and the files the auth module reads
//! (certificate, private key, passphrase file) must exist and be readable, each failure located where the path was
//! written. Then the auth module loads the credential and checks it offline (PEM shape, key match, validity, key size,
//! passphrase); its errors and warnings are located at the key that names the file at fault. A Logs Ingestion sink
//! with its own `auth` gets the same treatment for its credential.

use std::fs::File;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::diag::{Issue, Loc};
use super::model::{ElasticAuth, Job, Passphrase, SecretSource, Sink, Tenant};
use super::validate::{Checked, PathLocs};
use crate::auth::{Credential, CredentialError, CredentialSource};

/// A resolved job with its loaded credentials and the credentials' warnings.
pub(crate) struct Built {
    pub job: Job,
    pub credential: Credential,
    /// The Logs Ingestion sink's own credential (`sink.auth`), when it has one.
    pub sink_credential: Option<Credential>,
    pub warnings: Vec<Issue>,
}

/// Resolves a validated job read from `file` and loads its credentials as of `now`.
pub(crate) fn build(checked: Checked, file: &Path, now: Timestamp) -> Result<Built, Vec<Issue>> {
    let Checked {
        mut job,
        locs,
        sink_auth_locs,
        ..
    } = checked;
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut errors = Vec::new();

    job.file = file.to_path_buf();
    resolve_credential_paths(&mut job.tenant, &base, &locs, &mut errors);
    match &mut job.sink {
        Sink::Jsonl { path, .. } | Sink::Sqlite { path, .. } => *path = base_join(&base, path),
        Sink::Stdout | Sink::AzureLogsIngestion { auth: None, .. } => {}
        Sink::AzureLogsIngestion {
            auth: Some(auth), ..
        } => resolve_credential_paths(
            auth,
            &base,
            sink_auth_locs.as_ref().unwrap_or(&PathLocs::default()),
            &mut errors,
        ),
        Sink::Elasticsearch(es) => {
            if let Some(ca) = &mut es.ca_file {
                *ca = base_join(&base, ca);
            }
            match &mut es.auth {
                ElasticAuth::ApiKey(SecretSource::File(p))
                | ElasticAuth::Basic {
                    password: SecretSource::File(p),
                    ..
                } => *p = base_join(&base, p),
                _ => {}
            }
        }
        Sink::SplunkHec(hec) => {
            if let Some(ca) = &mut hec.ca_file {
                *ca = base_join(&base, ca);
            }
            if let SecretSource::File(p) = &mut hec.token {
                *p = base_join(&base, p);
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut warnings = Vec::new();
    let credential = load_credential(&job.tenant, &locs, now, &mut warnings, &mut errors);
    let sink_credential = match &job.sink {
        Sink::AzureLogsIngestion {
            auth: Some(auth), ..
        } => load_credential(
            auth,
            sink_auth_locs.as_ref().unwrap_or(&PathLocs::default()),
            now,
            &mut warnings,
            &mut errors,
        )
        .map(Some),
        _ => Some(None),
    };
    match (credential, sink_credential) {
        (Some(credential), Some(sink_credential)) if errors.is_empty() => Ok(Built {
            job,
            credential,
            sink_credential,
            warnings,
        }),
        _ => Err(errors),
    }
}

/// Resolves a credential's paths against the job file's directory and checks that each file can be read.
fn resolve_credential_paths(
    tenant: &mut Tenant,
    base: &Path,
    locs: &PathLocs,
    errors: &mut Vec<Issue>,
) {
    tenant.certificate = base_join(base, &tenant.certificate);
    check_readable(&tenant.certificate, "certificate", locs.certificate, errors);
    if let Some(key) = &mut tenant.private_key {
        *key = base_join(base, key);
        check_readable(key, "private key", locs.private_key, errors);
    }
    if let Some(Passphrase::File(p)) = &mut tenant.passphrase {
        *p = base_join(base, p);
        check_readable(p, "passphrase file", locs.passphrase_file, errors);
    }
}

/// Loads and checks a credential; its warnings and its error are located at the keys naming its files.
fn load_credential(
    tenant: &Tenant,
    locs: &PathLocs,
    now: Timestamp,
    warnings: &mut Vec<Issue>,
    errors: &mut Vec<Issue>,
) -> Option<Credential> {
    match tenant.credential_source().load_at(now) {
        Ok(credential) => {
            let at = locs.certificate.unwrap_or(Loc::START);
            warnings.extend(credential.info().warnings.iter().map(|w| {
                Issue::warning(
                    at,
                    w.to_string(),
                    "renew the certificate and upload the new one to the app registration",
                )
            }));
            Some(credential)
        }
        Err(e) => {
            let key_path = tenant
                .private_key
                .as_ref()
                .filter(|k| **k != tenant.certificate);
            errors.push(credential_issue(&e, locs, key_path));
            None
        }
    }
}

impl Job {
    /// The auth module's view of the tenant's certificate files.
    pub fn credential_source(&self) -> CredentialSource {
        self.tenant.credential_source()
    }
}

impl Tenant {
    /// The auth module's view of this registration's certificate files.
    pub fn credential_source(&self) -> CredentialSource {
        CredentialSource {
            certificate: self.certificate.clone(),
            private_key: self.private_key.clone(),
            passphrase: self.passphrase.clone(),
            signing: self.signing,
        }
    }
}

/// A credential error, located at the key naming the file at fault.
fn credential_issue(e: &CredentialError, locs: &PathLocs, key_path: Option<&PathBuf>) -> Issue {
    use CredentialError as E;
    let at = match e {
        E::PassphraseEnvUnset { .. } | E::PassphraseEmpty { .. } => {
            locs.passphrase_env.or(locs.passphrase_file)
        }
        E::PassphraseFileUnreadable { .. } => locs.passphrase_file,
        E::KeyUnreadable { .. }
        | E::NoPrivateKey { .. }
        | E::UnsupportedKey { .. }
        | E::InvalidPrivateKey { .. }
        | E::LegacyEncryptedKey { .. }
        | E::PassphraseMissing { .. }
        | E::WrongPassphrase { .. }
        | E::UnsupportedKeyEncryption { .. }
        | E::KeyMismatch { .. } => locs.private_key.or(locs.certificate),
        E::NotPem { path, .. }
        | E::MalformedPem { path, .. }
        | E::Utf16WithoutBom { path }
        | E::Truncated { path, .. }
        | E::InvalidPkcs12 { path, .. }
        | E::Pkcs12WrongPassphrase { path }
        | E::Pkcs12PassphraseMissing { path }
        | E::Pkcs12Unsupported { path, .. }
        | E::AmbiguousKeys { path, .. }
            if Some(path) == key_path =>
        {
            locs.private_key
        }
        _ => locs.certificate,
    };
    Issue::error(
        at.unwrap_or(Loc::START),
        e.to_string(),
        "o365sync checks the certificate and key before any network call; `o365sync doctor JOB` shows the certificate's thumbprints",
    )
}

/// `path` relative to `base` unless it is absolute.
fn base_join(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn check_readable(path: &Path, what: &str, loc: Option<Loc>, errors: &mut Vec<Issue>) {
    let loc = loc.unwrap_or(Loc::START);
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => errors.push(Issue::error(
            loc,
            format!("{what} file {shown} does not exist"),
            "relative paths are relative to the job file's directory; check the path, or create the file",
        )),
        Err(e) => errors.push(Issue::error(
            loc,
            format!("cannot read {what} file {shown}: {e}"),
            "make the file readable by the user running o365sync",
        )),
        Ok(m) if !m.is_file() => errors.push(Issue::error(
            loc,
            format!("{what} path {shown} is not a file"),
            "point it at the file itself",
        )),
        Ok(_) => {
            if let Err(e) = File::open(path) {
                errors.push(Issue::error(
                    loc,
                    format!("cannot read {what} file {shown}: {e}"),
                    "make the file readable by the user running o365sync",
                ));
            }
        }
    }
}
