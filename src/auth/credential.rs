//! Loading a certificate credential from PEM files and checking it before any network call.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use x509_parser::prelude::{FromDer as _, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::pem::{PemBlock, PemError, parse_blocks};
use super::secret::Secret;

/// A certificate expiring within this many days loads with a [`CredentialWarning::ExpiresSoon`].
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Smallest RSA modulus Entra ID accepts (AADSTS50032).
pub const MIN_RSA_BITS: usize = 2048;

/// How the client assertion is signed (job-file `tenant.signing`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256; header thumbprint `x5t` (SHA-1). The default.
    #[default]
    #[serde(rename = "RS256")]
    Rs256,
    /// RSASSA-PSS with SHA-256; header thumbprint `x5t#S256` (SHA-256).
    #[serde(rename = "PS256")]
    Ps256,
}

impl SigningAlgorithm {
    /// The JOSE name (`RS256`, `PS256`).
    pub const fn name(self) -> &'static str {
        match self {
            SigningAlgorithm::Rs256 => "RS256",
            SigningAlgorithm::Ps256 => "PS256",
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown signing algorithm name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signing algorithm `{0}`: use RS256 (default) or PS256")]
pub struct UnknownSigningAlgorithm(pub String);

impl FromStr for SigningAlgorithm {
    type Err = UnknownSigningAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RS256" => Ok(SigningAlgorithm::Rs256),
            "PS256" => Ok(SigningAlgorithm::Ps256),
            other => Err(UnknownSigningAlgorithm(other.to_owned())),
        }
    }
}

/// Where the passphrase of an encrypted private key comes from. Never inline in a job file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassphraseSource {
    /// The name of an environment variable (`private_key_passphrase_env`).
    Env(String),
    /// A file whose content (minus one trailing newline) is the passphrase (`private_key_passphrase_file`).
    File(PathBuf),
}

impl PassphraseSource {
    /// Reads the passphrase.
    pub fn read(&self) -> Result<Secret<Vec<u8>>, CredentialError> {
        let bytes = match self {
            PassphraseSource::Env(var) => {
                let value = std::env::var_os(var)
                    .ok_or_else(|| CredentialError::PassphraseEnvUnset { var: var.clone() })?;
                value.into_encoded_bytes()
            }
            PassphraseSource::File(path) => {
                let mut bytes = std::fs::read(path).map_err(|source| {
                    CredentialError::PassphraseFileUnreadable {
                        path: path.clone(),
                        source,
                    }
                })?;
                if bytes.last() == Some(&b'\n') {
                    bytes.pop();
                    if bytes.last() == Some(&b'\r') {
                        bytes.pop();
                    }
                }
                bytes
            }
        };
        if bytes.is_empty() {
            return Err(CredentialError::PassphraseEmpty {
                source_name: self.describe(),
            });
        }
        Ok(Secret::new(bytes))
    }

    fn describe(&self) -> String {
        match self {
            PassphraseSource::Env(var) => format!("environment variable {var}"),
            PassphraseSource::File(path) => format!("file {}", path.display()),
        }
    }
}

/// The files of one certificate credential (the job file's `tenant` section, paths already resolved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSource {
    /// PEM file whose first `CERTIFICATE` block is the leaf certificate (chains and combined files are fine).
    pub certificate: PathBuf,
    /// PEM file holding the private key; may be the same file as `certificate`.
    pub private_key: PathBuf,
    /// Passphrase of an `ENCRYPTED PRIVATE KEY`, if any.
    pub passphrase: Option<PassphraseSource>,
    /// How to sign the client assertion.
    pub signing: SigningAlgorithm,
}

impl CredentialSource {
    /// Loads and checks the credential against the current time.
    pub fn load(&self) -> Result<Credential, CredentialError> {
        self.load_at(Timestamp::now())
    }

    /// Loads and checks the credential against `now` (validity window, expiry warning).
    pub fn load_at(&self, now: Timestamp) -> Result<Credential, CredentialError> {
        let cert_bytes = read_file(&self.certificate, FileRole::Certificate)?;
        let key_bytes = if self.private_key == self.certificate {
            None
        } else {
            Some(read_file(&self.private_key, FileRole::PrivateKey)?)
        };
        let key_bytes = key_bytes.as_ref().unwrap_or(&cert_bytes);
        let passphrase = match &self.passphrase {
            Some(source) => Passphrase::Source(source),
            None => Passphrase::None,
        };
        load(
            (&self.certificate, cert_bytes.expose()),
            (&self.private_key, key_bytes.expose()),
            passphrase,
            self.signing,
            now,
        )
    }
}

/// The three thumbprints of a certificate, computed over its original DER bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Thumbprints {
    /// Upper-case hex SHA-1, as the Entra portal shows it under "Certificates & secrets".
    pub sha1_hex: String,
    /// Upper-case hex SHA-256.
    pub sha256_hex: String,
    /// base64url (no padding) of the raw SHA-1 digest: the JWT header `x5t`.
    pub x5t: String,
    /// base64url (no padding) of the raw SHA-256 digest: the JWT header `x5t#S256`.
    pub x5t_s256: String,
}

impl Thumbprints {
    /// Thumbprints of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> Self {
        let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der);
        let sha256 = digest::digest(&digest::SHA256, der);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        Thumbprints {
            sha1_hex: hex_upper(sha1.as_ref()),
            sha256_hex: hex_upper(sha256.as_ref()),
            x5t: b64.encode(sha1.as_ref()),
            x5t_s256: b64.encode(sha256.as_ref()),
        }
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Something worth telling the operator about a credential that still loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialWarning {
    /// The certificate expires within [`EXPIRY_WARNING_DAYS`] days.
    ExpiresSoon {
        /// When it expires.
        not_after: Timestamp,
        /// Whole days left.
        days_left: i64,
    },
    /// A passphrase is configured but the private key is not encrypted.
    PassphraseUnused,
}

impl fmt::Display for CredentialWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialWarning::ExpiresSoon {
                not_after,
                days_left,
            } => write!(
                f,
                "certificate expires at {not_after} ({days_left} days left): create a new certificate and upload it to the app registration before then"
            ),
            CredentialWarning::PassphraseUnused => f.write_str(
                "a private key passphrase is configured but the key is not encrypted: remove the passphrase setting",
            ),
        }
    }
}

/// What an operator needs to know about a loaded certificate (for `doctor` and logs; nothing secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject distinguished name, e.g. `CN=o365sync`.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number, colon-separated hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// RSA modulus size in bits.
    pub key_bits: usize,
    /// Number of certificates in the file (leaf first).
    pub chain_len: usize,
    /// The leaf's thumbprints.
    pub thumbprints: Thumbprints,
    /// Warnings raised while loading.
    pub warnings: Vec<CredentialWarning>,
}

/// A loaded, checked certificate credential: the leaf certificate, its private key and the signing algorithm.
///
/// `Debug` shows only the certificate facts; the key never leaves this type except as a signature.
pub struct Credential {
    certificate_der: Vec<u8>,
    pub(crate) key: Secret<jsonwebtoken::EncodingKey>,
    signing: SigningAlgorithm,
    info: CertificateInfo,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("subject", &self.info.subject)
            .field("sha1", &self.info.thumbprints.sha1_hex)
            .field("signing", &self.signing)
            .field("key", &self.key)
            .finish()
    }
}

impl Credential {
    /// Loads a credential from in-memory PEM text (the certificate and the key may be the same text).
    ///
    /// Error messages name the inputs `<certificate>` and `<private key>`.
    pub fn from_pem(
        certificate_pem: &[u8],
        private_key_pem: &[u8],
        passphrase: Option<Secret<Vec<u8>>>,
        signing: SigningAlgorithm,
        now: Timestamp,
    ) -> Result<Credential, CredentialError> {
        let passphrase = match passphrase {
            Some(value) => Passphrase::Value(value),
            None => Passphrase::None,
        };
        load(
            (Path::new("<certificate>"), certificate_pem),
            (Path::new("<private key>"), private_key_pem),
            passphrase,
            signing,
            now,
        )
    }

    /// Facts about the certificate.
    pub fn info(&self) -> &CertificateInfo {
        &self.info
    }

    /// The leaf certificate's thumbprints.
    pub fn thumbprints(&self) -> &Thumbprints {
        &self.info.thumbprints
    }

    /// The leaf certificate's original DER bytes.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The signing algorithm of the client assertion.
    pub fn signing(&self) -> SigningAlgorithm {
        self.signing
    }
}

/// Everything that can be wrong with the certificate, key and passphrase inputs. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The certificate file cannot be read.
    #[error(
        "cannot read certificate file {}: {source}: check `tenant.certificate` (relative paths are relative to the job file) and the file's permissions",
        path.display()
    )]
    CertificateUnreadable {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The private key file cannot be read.
    #[error(
        "cannot read private key file {}: {source}: check `tenant.private_key` (relative paths are relative to the job file) and the file's permissions",
        path.display()
    )]
    KeyUnreadable {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file holds no PEM text at all (binary DER, PFX, or garbage).
    #[error(
        "{} is not a PEM file ({what} expected): convert a .pfx with `openssl pkcs12 -in cert.pfx -out combined.pem -nodes`, a DER .cer with `openssl x509 -inform der -in cert.cer -out certificate.pem`",
        path.display()
    )]
    NotPem {
        /// The path.
        path: PathBuf,
        /// `certificate` or `private key`.
        what: &'static str,
    },
    /// A PEM block is cut short or not base64.
    #[error("{} is damaged: {reason}: export the file again", path.display())]
    MalformedPem {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The certificate file has PEM blocks but no `CERTIFICATE`.
    #[error(
        "{} contains no CERTIFICATE block: point `tenant.certificate` at the PEM certificate uploaded to the app registration",
        path.display()
    )]
    NoCertificate {
        /// The path.
        path: PathBuf,
    },
    /// The first `CERTIFICATE` block is not a valid X.509 certificate.
    #[error(
        "{} holds an invalid certificate ({reason}): export the certificate again as PEM",
        path.display()
    )]
    InvalidCertificate {
        /// The path.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },
    /// The certificate's key is not RSA.
    #[error(
        "the certificate in {} has a {algorithm} key: o365sync needs an RSA certificate of at least 2048 bits",
        path.display()
    )]
    NotRsa {
        /// The path.
        path: PathBuf,
        /// The key algorithm found.
        algorithm: String,
    },
    /// The RSA key is shorter than 2048 bits.
    #[error(
        "{} has a {bits}-bit RSA key: Entra ID requires at least 2048 bits (AADSTS50032); create a new certificate with a 2048-bit or larger key and upload it to the app registration",
        path.display()
    )]
    WeakKey {
        /// The path.
        path: PathBuf,
        /// The modulus size.
        bits: usize,
    },
    /// The key file has no private key block.
    #[error(
        "{} contains no PRIVATE KEY or RSA PRIVATE KEY block: point `tenant.private_key` at the key generated with the certificate",
        path.display()
    )]
    NoPrivateKey {
        /// The path.
        path: PathBuf,
    },
    /// The private key is not RSA.
    #[error(
        "the private key in {} is not an RSA key ({label}): o365sync needs the RSA key of the certificate",
        path.display()
    )]
    UnsupportedKey {
        /// The path.
        path: PathBuf,
        /// What was found.
        label: String,
    },
    /// The private key block cannot be parsed.
    #[error(
        "{} holds an invalid private key ({reason}): export the key again as PKCS#8 with `openssl pkcs8 -topk8 -in key.pem -out key-pkcs8.pem`",
        path.display()
    )]
    InvalidPrivateKey {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Legacy OpenSSL `Proc-Type: 4,ENCRYPTED` key.
    #[error(
        "{} uses legacy OpenSSL `Proc-Type: 4,ENCRYPTED` encryption, which o365sync does not read: convert it to encrypted PKCS#8 with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.pem -out key.pem`",
        path.display()
    )]
    LegacyEncryptedKey {
        /// The path.
        path: PathBuf,
    },
    /// An encrypted key without a configured passphrase.
    #[error(
        "the private key in {} is encrypted: set `tenant.private_key_passphrase_env` (an environment variable name) or `tenant.private_key_passphrase_file`",
        path.display()
    )]
    PassphraseMissing {
        /// The path.
        path: PathBuf,
    },
    /// The passphrase environment variable is not set.
    #[error(
        "environment variable {var} (tenant.private_key_passphrase_env) is not set: export it with the key's passphrase"
    )]
    PassphraseEnvUnset {
        /// The variable name.
        var: String,
    },
    /// The passphrase file cannot be read.
    #[error(
        "cannot read passphrase file {}: {source}: check `tenant.private_key_passphrase_file` and the file's permissions",
        path.display()
    )]
    PassphraseFileUnreadable {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The passphrase source is empty.
    #[error(
        "the private key passphrase from {source_name} is empty: put the key's passphrase there"
    )]
    PassphraseEmpty {
        /// Where it came from.
        source_name: String,
    },
    /// Decryption failed: wrong passphrase.
    #[error(
        "cannot decrypt the private key in {}: the passphrase is wrong; check the value behind `tenant.private_key_passphrase_env` or `tenant.private_key_passphrase_file`",
        path.display()
    )]
    WrongPassphrase {
        /// The path.
        path: PathBuf,
    },
    /// Encrypted with an algorithm we do not support.
    #[error(
        "the private key in {} is encrypted with an unsupported scheme ({reason}): re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key-aes.pem`",
        path.display()
    )]
    UnsupportedKeyEncryption {
        /// The path.
        path: PathBuf,
        /// The decoder's complaint.
        reason: String,
    },
    /// The key does not belong to the certificate.
    #[error(
        "the private key in {} does not match the certificate in {} (SHA-1 thumbprint {thumbprint}): use the key generated together with this certificate",
        key_path.display(), certificate_path.display()
    )]
    KeyMismatch {
        /// The key path.
        key_path: PathBuf,
        /// The certificate path.
        certificate_path: PathBuf,
        /// The certificate's SHA-1 hex thumbprint.
        thumbprint: String,
    },
    /// The certificate has expired.
    #[error(
        "the certificate in {} (SHA-1 thumbprint {thumbprint}) expired at {not_after}: create a new certificate, upload it to the app registration and point `tenant.certificate` at it",
        path.display()
    )]
    Expired {
        /// The path.
        path: PathBuf,
        /// End of validity.
        not_after: Timestamp,
        /// The certificate's SHA-1 hex thumbprint.
        thumbprint: String,
    },
    /// The certificate is not valid yet.
    #[error(
        "the certificate in {} (SHA-1 thumbprint {thumbprint}) is not valid before {not_before}: check the system clock, or wait until then",
        path.display()
    )]
    NotYetValid {
        /// The path.
        path: PathBuf,
        /// Start of validity.
        not_before: Timestamp,
        /// The certificate's SHA-1 hex thumbprint.
        thumbprint: String,
    },
    /// A `client_secret` was configured (for the job loader).
    #[error(
        "client secrets are not supported: o365sync signs in with a certificate; remove `client_secret` and set `tenant.certificate` and `tenant.private_key` (see the README)"
    )]
    ClientSecretNotSupported,
}

impl CredentialError {
    /// Every credential error is a configuration error: exit code 2, nothing written.
    pub fn outcome(&self) -> crate::exit::Outcome {
        crate::exit::Outcome::Invalid
    }
}

#[derive(Clone, Copy)]
enum FileRole {
    Certificate,
    PrivateKey,
}

fn read_file(path: &Path, role: FileRole) -> Result<Secret<Vec<u8>>, CredentialError> {
    std::fs::read(path)
        .map(Secret::new)
        .map_err(|source| match role {
            FileRole::Certificate => CredentialError::CertificateUnreadable {
                path: path.to_owned(),
                source,
            },
            FileRole::PrivateKey => CredentialError::KeyUnreadable {
                path: path.to_owned(),
                source,
            },
        })
}

fn blocks_of(
    path: &Path,
    bytes: &[u8],
    what: &'static str,
) -> Result<Vec<PemBlock>, CredentialError> {
    parse_blocks(bytes).map_err(|e| match e {
        PemError::NoBlocks => CredentialError::NotPem {
            path: path.to_owned(),
            what,
        },
        other => CredentialError::MalformedPem {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    })
}

const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";

/// Strips leading zero bytes of a big-endian integer.
fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn bit_len(be: &[u8]) -> usize {
    let be = strip_zeros(be);
    match be.first() {
        None => 0,
        Some(top) => (be.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

/// The passphrase, read only when the key turns out to be encrypted.
enum Passphrase<'a> {
    None,
    Source(&'a PassphraseSource),
    Value(Secret<Vec<u8>>),
}

impl Passphrase<'_> {
    fn configured(&self) -> bool {
        !matches!(self, Passphrase::None)
    }

    fn get(self) -> Result<Option<Secret<Vec<u8>>>, CredentialError> {
        match self {
            Passphrase::None => Ok(None),
            Passphrase::Source(source) => source.read().map(Some),
            Passphrase::Value(value) => Ok(Some(value)),
        }
    }
}

fn load(
    (cert_path, cert_bytes): (&Path, &[u8]),
    (key_path, key_bytes): (&Path, &[u8]),
    passphrase: Passphrase<'_>,
    signing: SigningAlgorithm,
    now: Timestamp,
) -> Result<Credential, CredentialError> {
    let passphrase_configured = passphrase.configured();
    // 1. The leaf certificate: the first CERTIFICATE block.
    let cert_blocks = blocks_of(cert_path, cert_bytes, "certificate")?;
    let certs: Vec<&PemBlock> = cert_blocks
        .iter()
        .filter(|b| b.label == "CERTIFICATE")
        .collect();
    let leaf = certs
        .first()
        .ok_or_else(|| CredentialError::NoCertificate {
            path: cert_path.to_owned(),
        })?;
    let certificate_der = leaf.der.clone();
    let (_, cert) = X509Certificate::from_der(&certificate_der).map_err(|e| {
        CredentialError::InvalidCertificate {
            path: cert_path.to_owned(),
            reason: e.to_string(),
        }
    })?;
    let thumbprints = Thumbprints::of_der(&certificate_der);
    let (cert_modulus, cert_exponent) = match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => (strip_zeros(rsa.modulus), strip_zeros(rsa.exponent)),
        Ok(other) => {
            let algorithm = match other {
                PublicKey::EC(_) => "EC",
                PublicKey::DSA(_) => "DSA",
                PublicKey::GostR3410(_) | PublicKey::GostR3410_2012(_) => "GOST",
                _ => "non-RSA",
            };
            return Err(CredentialError::NotRsa {
                path: cert_path.to_owned(),
                algorithm: algorithm.to_owned(),
            });
        }
        Err(e) => {
            return Err(CredentialError::InvalidCertificate {
                path: cert_path.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    let key_bits = bit_len(cert_modulus);
    if key_bits < MIN_RSA_BITS {
        return Err(CredentialError::WeakKey {
            path: cert_path.to_owned(),
            bits: key_bits,
        });
    }

    // 2. The private key.
    let key_blocks = blocks_of(key_path, key_bytes, "private key")?;
    let key_block = key_blocks
        .iter()
        .find(|b| b.label.ends_with("PRIVATE KEY"))
        .ok_or_else(|| CredentialError::NoPrivateKey {
            path: key_path.to_owned(),
        })?;
    let mut warnings = Vec::new();
    let pkcs1: Secret<Vec<u8>> = match key_block.label.as_str() {
        "RSA PRIVATE KEY" => {
            if key_block
                .header("Proc-Type")
                .is_some_and(|v| v.contains("ENCRYPTED"))
            {
                return Err(CredentialError::LegacyEncryptedKey {
                    path: key_path.to_owned(),
                });
            }
            if passphrase_configured {
                warnings.push(CredentialWarning::PassphraseUnused);
            }
            Secret::new(key_block.der.clone())
        }
        "PRIVATE KEY" => {
            if passphrase_configured {
                warnings.push(CredentialWarning::PassphraseUnused);
            }
            pkcs8_to_pkcs1(key_path, &key_block.der)?
        }
        "ENCRYPTED PRIVATE KEY" => {
            let pass = passphrase
                .get()?
                .ok_or_else(|| CredentialError::PassphraseMissing {
                    path: key_path.to_owned(),
                })?;
            let plain = decrypt_pkcs8(key_path, &key_block.der, &pass)?;
            pkcs8_to_pkcs1(key_path, plain.expose())?
        }
        other => {
            return Err(CredentialError::UnsupportedKey {
                path: key_path.to_owned(),
                label: other.to_owned(),
            });
        }
    };
    let key_pair = RsaKeyPair::from_der(pkcs1.expose()).map_err(|e| {
        if e.description_() == "TooSmall" {
            // The certificate's key passed the size check, so this shorter key cannot be its key.
            CredentialError::KeyMismatch {
                key_path: key_path.to_owned(),
                certificate_path: cert_path.to_owned(),
                thumbprint: thumbprints.sha1_hex.clone(),
            }
        } else {
            CredentialError::InvalidPrivateKey {
                path: key_path.to_owned(),
                reason: e.description_().to_owned(),
            }
        }
    })?;

    // 3. The key must belong to the certificate: compare modulus and exponent with the certificate's SPKI.
    let public = key_pair.public_key();
    let matches = strip_zeros(public.modulus().big_endian_without_leading_zero()) == cert_modulus
        && strip_zeros(public.exponent().big_endian_without_leading_zero()) == cert_exponent;
    if !matches {
        return Err(CredentialError::KeyMismatch {
            key_path: key_path.to_owned(),
            certificate_path: cert_path.to_owned(),
            thumbprint: thumbprints.sha1_hex.clone(),
        });
    }

    // 4. Validity window.
    let validity = cert.validity();
    let not_before = to_timestamp(validity.not_before.timestamp());
    let not_after = to_timestamp(validity.not_after.timestamp());
    if now < not_before {
        return Err(CredentialError::NotYetValid {
            path: cert_path.to_owned(),
            not_before,
            thumbprint: thumbprints.sha1_hex,
        });
    }
    if now >= not_after {
        return Err(CredentialError::Expired {
            path: cert_path.to_owned(),
            not_after,
            thumbprint: thumbprints.sha1_hex,
        });
    }
    let left = not_after.duration_since(now);
    if left < SignedDuration::from_hours(24 * EXPIRY_WARNING_DAYS) {
        warnings.push(CredentialWarning::ExpiresSoon {
            not_after,
            days_left: left.as_secs() / 86_400,
        });
    }

    let info = CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_before,
        not_after,
        key_bits,
        chain_len: certs.len(),
        thumbprints,
        warnings,
    };
    tracing::debug!(
        certificate = %cert_path.display(),
        subject = %info.subject,
        sha1 = %info.thumbprints.sha1_hex,
        x5t = %info.thumbprints.x5t,
        x5t_s256 = %info.thumbprints.x5t_s256,
        not_after = %info.not_after,
        key_bits = info.key_bits,
        chain_len = info.chain_len,
        "certificate and private key loaded"
    );
    for warning in &info.warnings {
        tracing::warn!(certificate = %cert_path.display(), sha1 = %info.thumbprints.sha1_hex, "{warning}");
    }
    Ok(Credential {
        certificate_der,
        key: Secret::new(jsonwebtoken::EncodingKey::from_rsa_der(pkcs1.expose())),
        signing,
        info,
    })
}

fn to_timestamp(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).unwrap_or(if seconds < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

fn pkcs8_to_pkcs1(path: &Path, der: &[u8]) -> Result<Secret<Vec<u8>>, CredentialError> {
    let info =
        pkcs8::PrivateKeyInfo::try_from(der).map_err(|e| CredentialError::InvalidPrivateKey {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    let oid = info.algorithm.oid.to_string();
    if oid != RSA_ENCRYPTION_OID {
        let label = match oid.as_str() {
            "1.2.840.10045.2.1" => "EC".to_owned(),
            "1.3.101.112" => "Ed25519".to_owned(),
            "1.2.840.113549.1.1.10" => "RSA-PSS restricted".to_owned(),
            other => format!("algorithm {other}"),
        };
        return Err(CredentialError::UnsupportedKey {
            path: path.to_owned(),
            label,
        });
    }
    Ok(Secret::new(info.private_key.to_vec()))
}

fn decrypt_pkcs8(
    path: &Path,
    der: &[u8],
    passphrase: &Secret<Vec<u8>>,
) -> Result<Secret<Vec<u8>>, CredentialError> {
    use pkcs8::pkcs5;
    let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(der).map_err(|e| {
        CredentialError::UnsupportedKeyEncryption {
            path: path.to_owned(),
            reason: describe_scheme(&e.to_string()),
        }
    })?;
    match encrypted.decrypt(passphrase.expose()) {
        Ok(doc) => Ok(Secret::new(doc.as_bytes().to_vec())),
        Err(pkcs8::Error::EncryptedPrivateKey(
            e @ (pkcs5::Error::UnsupportedAlgorithm { .. }
            | pkcs5::Error::AlgorithmParametersInvalid { .. }),
        )) => Err(CredentialError::UnsupportedKeyEncryption {
            path: path.to_owned(),
            reason: describe_scheme(&e.to_string()),
        }),
        // A wrong passphrase yields bad padding, or (rarely) good padding over bytes that are not DER.
        Err(_) => Err(CredentialError::WrongPassphrase {
            path: path.to_owned(),
        }),
    }
}

/// Names the encryption scheme behind a decoder complaint about an unknown OID.
fn describe_scheme(reason: &str) -> String {
    const KNOWN: [(&str, &str); 6] = [
        (
            "1.2.840.113549.3.7",
            "DES-EDE3-CBC (3DES, what `openssl req` writes by default in OpenSSL 3.0)",
        ),
        ("1.3.14.3.2.7", "DES-CBC"),
        ("1.2.840.113549.1.5.3", "PBES1 with MD5 and DES"),
        ("1.2.840.113549.1.5.10", "PBES1 with SHA-1 and DES"),
        ("1.2.840.113549.1.12.1.", "PKCS#12 PBE (3DES or RC2)"),
        ("1.2.840.113549.2.7", "PBKDF2 with HMAC-SHA1"),
    ];
    KNOWN
        .iter()
        .find(|(oid, _)| reason.contains(oid))
        .map(|(_, name)| (*name).to_owned())
        .unwrap_or_else(|| reason.to_owned())
}
