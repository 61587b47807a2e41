//! Loading a certificate credential from the files operators have (PEM in any of the encodings Windows tools write,
//! DER, PKCS#12) and checking it before any network call.
//!
//! Each file's form is found from its content, not its name: a byte-order mark (UTF-8, UTF-16LE, UTF-16BE) or
//! `-----BEGIN` means PEM text; otherwise a DER `SEQUENCE` is tried as an X.509 certificate, a PKCS#12 PFX, a PKCS#8
//! key (plain or encrypted) and a PKCS#1 RSA key, in that order.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use der::{Decode as _, Encode as _};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::pem::{PemBlock, PemError, TextEncoding, TextError, decode_text, parse_blocks};
use super::pfx::{self, PfxError};
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
    /// The certificate: PEM (first `CERTIFICATE` block is the leaf; chains and combined files are fine), DER, or
    /// PKCS#12 (`.pfx`/`.p12`, whose leaf is the certificate matching its key).
    pub certificate: PathBuf,
    /// The private key: PEM, DER (PKCS#8 or PKCS#1) or PKCS#12; may be the same file as `certificate`. `None`: the
    /// certificate file is a PKCS#12 file that holds the key too.
    pub private_key: Option<PathBuf>,
    /// Passphrase of an encrypted private key or PKCS#12 file, if any.
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
        let key_bytes = match &self.private_key {
            Some(path) if *path != self.certificate => {
                Some((path.as_path(), read_file(path, FileRole::PrivateKey)?))
            }
            _ => None,
        };
        let key = match (&self.private_key, &key_bytes) {
            (_, Some((path, bytes))) => KeyInput::File(path, bytes.expose()),
            (Some(_), None) => KeyInput::SameFile,
            (None, _) => KeyInput::Absent,
        };
        let passphrase = match &self.passphrase {
            Some(source) => Passphrase::Source(source),
            None => Passphrase::None,
        };
        load(
            (&self.certificate, cert_bytes.expose()),
            key,
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
    /// The forms the certificate and the key were read in (PEM and its encoding, DER, PKCS#12 and its scheme).
    pub source: SourceForm,
    /// The leaf's thumbprints.
    pub thumbprints: Thumbprints,
    /// Warnings raised while loading.
    pub warnings: Vec<CredentialWarning>,
}

/// The form one credential file was read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileForm {
    /// PEM text.
    Pem {
        /// UTF-8, or the byte-order mark found.
        encoding: TextEncoding,
        /// Windows line endings.
        crlf: bool,
    },
    /// A binary (DER) X.509 certificate (`.cer`, `.crt`, `.der`).
    DerCertificate,
    /// A binary (DER) private key.
    DerKey(DerKeyKind),
    /// A PKCS#12 file (`.pfx`, `.p12`).
    Pkcs12 {
        /// How it was protected, e.g. `AES-256-CBC, PBKDF2, HMAC-SHA256 MAC`.
        scheme: String,
    },
}

/// Which DER private key structure a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DerKeyKind {
    /// PKCS#8 `PrivateKeyInfo`.
    Pkcs8,
    /// PKCS#8 `EncryptedPrivateKeyInfo`.
    EncryptedPkcs8,
    /// PKCS#1 `RSAPrivateKey`.
    Pkcs1,
}

impl fmt::Display for FileForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileForm::Pem { encoding, crlf } => {
                let mut notes = Vec::new();
                if *encoding != TextEncoding::Utf8 {
                    notes.push(encoding.to_string());
                }
                if *crlf {
                    notes.push("CRLF".to_owned());
                }
                if notes.is_empty() {
                    f.write_str("PEM")
                } else {
                    write!(f, "PEM ({})", notes.join(", "))
                }
            }
            FileForm::DerCertificate => f.write_str("DER certificate"),
            FileForm::DerKey(DerKeyKind::Pkcs8) => f.write_str("DER PKCS#8 key"),
            FileForm::DerKey(DerKeyKind::EncryptedPkcs8) => f.write_str("DER encrypted PKCS#8 key"),
            FileForm::DerKey(DerKeyKind::Pkcs1) => f.write_str("DER PKCS#1 key"),
            FileForm::Pkcs12 { scheme } => write!(f, "PKCS#12 ({scheme})"),
        }
    }
}

/// The forms a credential was read in: shown by `doctor` so an operator sees what o365sync made of the files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceForm {
    /// The certificate file's form.
    pub certificate: FileForm,
    /// The certificate file's name.
    pub certificate_file: String,
    /// The key file's form and name; `None` when the key came from the certificate's file.
    pub private_key: Option<(FileForm, String)>,
}

impl fmt::Display for SourceForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.private_key {
            None => write!(
                f,
                "{} from {}: certificate + key",
                self.certificate, self.certificate_file
            ),
            Some((form, file)) => write!(
                f,
                "certificate: {} from {}; private key: {form} from {file}",
                self.certificate, self.certificate_file
            ),
        }
    }
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
    /// Loads a credential from in-memory file contents (the certificate and the key may be the same text). Despite
    /// the name, every form [`CredentialSource::load`] reads is accepted (PEM in any encoding, DER, PKCS#12).
    ///
    /// Error messages name the inputs `<certificate>` and `<private key>`.
    pub fn from_pem(
        certificate_pem: &[u8],
        private_key_pem: &[u8],
        passphrase: Option<Secret<Vec<u8>>>,
        signing: SigningAlgorithm,
        now: Timestamp,
    ) -> Result<Credential, CredentialError> {
        Credential::from_bytes(
            certificate_pem,
            Some(private_key_pem),
            passphrase,
            signing,
            now,
        )
    }

    /// Loads a credential from in-memory file contents as [`CredentialSource::load`] reads files: `private_key`
    /// `None` means the certificate's contents must hold the key too (PKCS#12, or PEM with both blocks).
    ///
    /// Error messages name the inputs `<certificate>` and `<private key>`.
    pub fn from_bytes(
        certificate: &[u8],
        private_key: Option<&[u8]>,
        passphrase: Option<Secret<Vec<u8>>>,
        signing: SigningAlgorithm,
        now: Timestamp,
    ) -> Result<Credential, CredentialError> {
        let passphrase = match passphrase {
            Some(value) => Passphrase::Value(value),
            None => Passphrase::None,
        };
        let key = match private_key {
            Some(bytes) => KeyInput::File(Path::new("<private key>"), bytes),
            None => KeyInput::SameFile,
        };
        load(
            (Path::new("<certificate>"), certificate),
            key,
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
    /// The file is neither PEM text, nor a DER certificate or key, nor PKCS#12.
    #[error(
        "{} is not a PEM, DER or PKCS#12 file ({what} expected): export the {what} again as PEM (`-----BEGIN …`), DER (.cer) or PKCS#12 (.pfx)",
        path.display()
    )]
    NotPem {
        /// The path.
        path: PathBuf,
        /// `certificate` or `private key`.
        what: &'static str,
    },
    /// The file is UTF-16 text without a byte-order mark, so its byte order is unknown.
    #[error(
        "{} looks like UTF-16 text without a byte-order mark: save it as UTF-8 (PowerShell: `Set-Content -Encoding ascii`, or `iconv -f UTF-16LE -t UTF-8`)",
        path.display()
    )]
    Utf16WithoutBom {
        /// The path.
        path: PathBuf,
    },
    /// A DER file (certificate, key or PKCS#12) is shorter than its own header says.
    #[error(
        "{} is cut short ({actual} of the {expected} bytes its header announces): copy or export the file again",
        path.display()
    )]
    Truncated {
        /// The path.
        path: PathBuf,
        /// Bytes the outer DER header announces.
        expected: usize,
        /// Bytes in the file.
        actual: usize,
    },
    /// The certificate is not PKCS#12 and no private key file was given.
    #[error(
        "{} holds no private key for o365sync to use ({form}): add `tenant.private_key` naming the key file, or point `tenant.certificate` at a PKCS#12 (.pfx) file holding both",
        path.display()
    )]
    PrivateKeyRequired {
        /// The certificate path.
        path: PathBuf,
        /// The form the certificate file was read in.
        form: String,
    },
    /// A PKCS#12 file that is not valid DER PKCS#12.
    #[error(
        "{} is not a valid PKCS#12 file ({reason}): export the .pfx again, or convert it with `openssl pkcs12 -in old.pfx -nodes | openssl pkcs12 -export -out new.pfx`",
        path.display()
    )]
    InvalidPkcs12 {
        /// The path.
        path: PathBuf,
        /// The decoder's complaint.
        reason: String,
    },
    /// A PKCS#12 file whose MAC does not verify with the configured passphrase.
    #[error(
        "cannot open PKCS#12 file {}: the passphrase is wrong (the file's integrity check failed); check the value behind `tenant.private_key_passphrase_env` or `tenant.private_key_passphrase_file`",
        path.display()
    )]
    Pkcs12WrongPassphrase {
        /// The path.
        path: PathBuf,
    },
    /// A passphrase-protected PKCS#12 file and no passphrase configured.
    #[error(
        "the PKCS#12 file {} is protected by a passphrase: set `tenant.private_key_passphrase_env` (an environment variable name) or `tenant.private_key_passphrase_file`",
        path.display()
    )]
    Pkcs12PassphraseMissing {
        /// The path.
        path: PathBuf,
    },
    /// A PKCS#12 file protected with a scheme o365sync does not read.
    #[error(
        "the PKCS#12 file {} uses {scheme}, which o365sync does not read: export it again with AES (`openssl pkcs12 -export` writes AES-256-CBC by default; Windows: Export-PfxCertificate -CryptoAlgorithmOption AES256_SHA256)",
        path.display()
    )]
    Pkcs12Unsupported {
        /// The path.
        path: PathBuf,
        /// The scheme found.
        scheme: String,
    },
    /// A PKCS#12 file without a private key, and no separate key file.
    #[error(
        "the PKCS#12 file {} holds no private key (exported without it): export it again with the private key (Windows: \"Yes, export the private key\"), or set `tenant.private_key` to the key file",
        path.display()
    )]
    Pkcs12NoKey {
        /// The path.
        path: PathBuf,
    },
    /// A PKCS#12 file without a certificate.
    #[error(
        "the PKCS#12 file {} holds no certificate: export it again with the certificate registered on the app registration",
        path.display()
    )]
    Pkcs12NoCertificate {
        /// The path.
        path: PathBuf,
    },
    /// Several private keys, and not exactly one of them matches a certificate.
    #[error(
        "{} holds {keys} private keys and {matching} of them match a certificate: o365sync cannot tell which one to use; export a file holding only the application's certificate and key",
        path.display()
    )]
    AmbiguousKeys {
        /// The path holding the keys.
        path: PathBuf,
        /// Keys found.
        keys: usize,
        /// Keys matching one of the certificates.
        matching: usize,
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
        "client secrets are not supported: o365sync signs in with a certificate; remove `client_secret` and set `tenant.certificate` (a .pfx, or a certificate with `tenant.private_key`; see the README)"
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

    fn get(&self) -> Result<Option<Secret<Vec<u8>>>, CredentialError> {
        match self {
            Passphrase::None => Ok(None),
            Passphrase::Source(source) => source.read().map(Some),
            Passphrase::Value(value) => Ok(Some(value.clone())),
        }
    }
}

/// Where the private key comes from.
enum KeyInput<'a> {
    /// `tenant.private_key` not given: the certificate file must hold the key (PKCS#12).
    Absent,
    /// `tenant.private_key` names the certificate file itself.
    SameFile,
    /// A separate key file.
    File(&'a Path, &'a [u8]),
}

/// One credential file, its form found from its content.
enum Parsed {
    Pem(Vec<PemBlock>),
    DerCertificate(Vec<u8>),
    DerKey(DerKeyKind, Secret<Vec<u8>>),
    Pkcs12(Secret<Vec<u8>>),
}

/// Finds the form of a file from its bytes: PEM (any encoding), DER certificate, PKCS#12, DER key.
fn parse_file(
    path: &Path,
    bytes: &[u8],
    what: &'static str,
) -> Result<(Parsed, FileForm), CredentialError> {
    let (text, encoding) = decode_text(bytes).map_err(|e| match e {
        TextError::Utf16WithoutBom => CredentialError::Utf16WithoutBom {
            path: path.to_owned(),
        },
        TextError::BadUtf16 => CredentialError::MalformedPem {
            path: path.to_owned(),
            reason: e.to_string(),
        },
    })?;
    let is_text =
        encoding != TextEncoding::Utf8 || memchr::memmem::find(&text, b"-----BEGIN ").is_some();
    if is_text || text.first() != Some(&0x30) {
        let blocks = parse_blocks(&text).map_err(|e| match e {
            PemError::NoBlocks => CredentialError::NotPem {
                path: path.to_owned(),
                what,
            },
            other => CredentialError::MalformedPem {
                path: path.to_owned(),
                reason: other.to_string(),
            },
        })?;
        let crlf = memchr::memmem::find(&text, b"\r\n").is_some();
        return Ok((Parsed::Pem(blocks), FileForm::Pem { encoding, crlf }));
    }
    // Binary: the outer SEQUENCE's header says how long the file should be.
    let named_pfx = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("pfx") || e.eq_ignore_ascii_case("p12"));
    let not_recognized = |reason: String| {
        if named_pfx {
            CredentialError::InvalidPkcs12 {
                path: path.to_owned(),
                reason,
            }
        } else {
            CredentialError::NotPem {
                path: path.to_owned(),
                what,
            }
        }
    };
    let header = der::SliceReader::new(bytes)
        .and_then(|mut reader| der::Header::decode(&mut reader))
        .map_err(|e| {
            if bytes.get(1) == Some(&0x80) {
                not_recognized("BER indefinite-length encoding, not DER".to_owned())
            } else {
                not_recognized(e.to_string())
            }
        })?;
    let header_len = header.encoded_len().map(u32::from).unwrap_or_default() as usize;
    let expected = header_len + u32::from(header.length) as usize;
    if expected > bytes.len() {
        return Err(CredentialError::Truncated {
            path: path.to_owned(),
            expected,
            actual: bytes.len(),
        });
    }
    // Bytes after the structure (padding some tools append) are ignored.
    let der = &bytes[..expected];
    if x509_cert::Certificate::from_der(der).is_ok() {
        return Ok((
            Parsed::DerCertificate(der.to_vec()),
            FileForm::DerCertificate,
        ));
    }
    if pfx::is_pfx(der) {
        let form = FileForm::Pkcs12 {
            scheme: String::new(),
        };
        return Ok((Parsed::Pkcs12(Secret::new(der.to_vec())), form));
    }
    let key = |kind| {
        (
            Parsed::DerKey(kind, Secret::new(der.to_vec())),
            FileForm::DerKey(kind),
        )
    };
    if pkcs8::PrivateKeyInfo::try_from(der).is_ok() {
        return Ok(key(DerKeyKind::Pkcs8));
    }
    if pkcs1::RsaPrivateKey::try_from(der).is_ok() {
        return Ok(key(DerKeyKind::Pkcs1));
    }
    if pkcs8::EncryptedPrivateKeyInfo::try_from(der).is_ok() {
        return Ok(key(DerKeyKind::EncryptedPkcs8));
    }
    Err(not_recognized(
        pfx::pfx_decode_error(der).unwrap_or_else(|| "not PKCS#12".to_owned()),
    ))
}

/// A certificate that may be the leaf, with what the checks need.
struct CertCandidate {
    der: Vec<u8>,
    local_key_id: Option<Vec<u8>>,
}

impl From<pfx::Bag<Vec<u8>>> for CertCandidate {
    fn from(b: pfx::Bag<Vec<u8>>) -> Self {
        CertCandidate {
            der: b.value,
            local_key_id: b.local_key_id,
        }
    }
}

/// A private key (PKCS#1 DER), with its public half for matching. `Debug` redacts the key (it is a [`Secret`]).
#[derive(Debug)]
struct KeyCandidate {
    pkcs1: Secret<Vec<u8>>,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
    local_key_id: Option<Vec<u8>>,
}

/// The facts of an X.509 certificate that the checks and `doctor` use.
pub(crate) struct CertFacts {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// RSA (modulus, exponent) without leading zeros, or the name of the key algorithm.
    pub public_key: Result<(Vec<u8>, Vec<u8>), String>,
}

/// Parses a DER certificate with `x509-cert` (the thumbprints are taken over `der` itself, never a re-encoding).
pub(crate) fn certificate_facts(der: &[u8]) -> Result<CertFacts, String> {
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| e.to_string())?;
    let tbs = &cert.tbs_certificate;
    let spki = &tbs.subject_public_key_info;
    let public_key = if spki.algorithm.oid.to_string() == RSA_ENCRYPTION_OID {
        let rsa = pkcs1::RsaPublicKey::from_der(spki.subject_public_key.raw_bytes())
            .map_err(|e| format!("RSA public key: {e}"))?;
        Ok((
            strip_zeros(rsa.modulus.as_bytes()).to_vec(),
            strip_zeros(rsa.public_exponent.as_bytes()).to_vec(),
        ))
    } else {
        Err(match spki.algorithm.oid.to_string().as_str() {
            "1.2.840.10045.2.1" => "EC".to_owned(),
            "1.2.840.10040.4.1" => "DSA".to_owned(),
            "1.3.101.112" => "Ed25519".to_owned(),
            "1.3.101.113" => "Ed448".to_owned(),
            "1.2.840.113549.1.1.10" => "RSA-PSS restricted".to_owned(),
            other => format!("non-RSA ({other})"),
        })
    };
    let serial = tbs
        .serial_number
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let time = |t: &x509_cert::time::Time| to_timestamp(t.to_unix_duration().as_secs() as i64);
    Ok(CertFacts {
        subject: tbs.subject.to_string(),
        issuer: tbs.issuer.to_string(),
        serial,
        not_before: time(&tbs.validity.not_before),
        not_after: time(&tbs.validity.not_after),
        public_key,
    })
}

/// The leaf certificate's DER bytes of a certificate file in any form, for `doctor` on a job that does not load.
/// A PKCS#12 file is opened with `passphrase` (or the empty password); its leaf is the certificate matching its key
/// when that can be told, else its first certificate.
pub(crate) fn peek_certificate(bytes: &[u8], passphrase: Option<&[u8]>) -> Option<Vec<u8>> {
    match parse_file(Path::new(""), bytes, "certificate").ok()?.0 {
        Parsed::Pem(blocks) => blocks
            .into_iter()
            .find(|b| b.label == "CERTIFICATE")
            .map(|b| b.der),
        Parsed::DerCertificate(der) => Some(der),
        Parsed::Pkcs12(der) => {
            let contents = pfx::open(der.expose(), passphrase).ok()?;
            let certs: Vec<CertCandidate> = contents
                .certificates
                .into_iter()
                .map(CertCandidate::from)
                .collect();
            let p = Path::new("");
            let leaf = pkcs12_key_candidates(p, contents.keys)
                .ok()
                .and_then(|keys| select(p, p, &certs, keys).ok())
                .map_or(0, |(leaf, _)| leaf);
            certs.into_iter().nth(leaf).map(|c| c.der)
        }
        Parsed::DerKey(..) => None,
    }
}

/// The checks of one certificate: RSA, at least [`MIN_RSA_BITS`]. Returns its facts and key size.
fn check_certificate(path: &Path, der: &[u8]) -> Result<(CertFacts, usize), CredentialError> {
    let facts = certificate_facts(der).map_err(|reason| CredentialError::InvalidCertificate {
        path: path.to_owned(),
        reason,
    })?;
    let bits = match &facts.public_key {
        Ok((modulus, _)) => bit_len(modulus),
        Err(algorithm) => {
            return Err(CredentialError::NotRsa {
                path: path.to_owned(),
                algorithm: algorithm.clone(),
            });
        }
    };
    if bits < MIN_RSA_BITS {
        return Err(CredentialError::WeakKey {
            path: path.to_owned(),
            bits,
        });
    }
    Ok((facts, bits))
}

/// Opens a PKCS#12 file, mapping its failures to what the operator should do.
fn open_pkcs12(
    path: &Path,
    der: &[u8],
    passphrase: &Passphrase<'_>,
) -> Result<pfx::Contents, CredentialError> {
    let secret = passphrase.get()?;
    let configured = secret.is_some();
    pfx::open(der, secret.as_ref().map(|s| s.expose().as_slice())).map_err(|e| match e {
        PfxError::MacMismatch | PfxError::DecryptFailed if configured => {
            CredentialError::Pkcs12WrongPassphrase {
                path: path.to_owned(),
            }
        }
        PfxError::MacMismatch | PfxError::DecryptFailed => {
            CredentialError::Pkcs12PassphraseMissing {
                path: path.to_owned(),
            }
        }
        PfxError::Malformed(reason) => CredentialError::InvalidPkcs12 {
            path: path.to_owned(),
            reason,
        },
        PfxError::Unsupported(scheme) => CredentialError::Pkcs12Unsupported {
            path: path.to_owned(),
            scheme,
        },
    })
}

fn key_candidate(
    path: &Path,
    pkcs1: Secret<Vec<u8>>,
    local_key_id: Option<Vec<u8>>,
) -> Result<KeyCandidate, CredentialError> {
    let key = pkcs1::RsaPrivateKey::try_from(pkcs1.expose().as_slice()).map_err(|e| {
        CredentialError::InvalidPrivateKey {
            path: path.to_owned(),
            reason: e.to_string(),
        }
    })?;
    let modulus = strip_zeros(key.modulus.as_bytes()).to_vec();
    let exponent = strip_zeros(key.public_exponent.as_bytes()).to_vec();
    Ok(KeyCandidate {
        pkcs1,
        modulus,
        exponent,
        local_key_id,
    })
}

/// The private key of a PEM file (the first `… PRIVATE KEY` block), as PKCS#1.
fn key_of_pem(
    path: &Path,
    blocks: &[PemBlock],
    passphrase: &Passphrase<'_>,
    used_passphrase: &mut bool,
) -> Result<Secret<Vec<u8>>, CredentialError> {
    let block = blocks
        .iter()
        .find(|b| b.label.ends_with("PRIVATE KEY"))
        .ok_or_else(|| CredentialError::NoPrivateKey {
            path: path.to_owned(),
        })?;
    match block.label.as_str() {
        "RSA PRIVATE KEY" => {
            if block
                .header("Proc-Type")
                .is_some_and(|v| v.contains("ENCRYPTED"))
            {
                return Err(CredentialError::LegacyEncryptedKey {
                    path: path.to_owned(),
                });
            }
            Ok(Secret::new(block.der.clone()))
        }
        "PRIVATE KEY" => pkcs8_to_pkcs1(path, &block.der),
        "ENCRYPTED PRIVATE KEY" => {
            *used_passphrase = true;
            decrypt_key(path, &block.der, passphrase)
        }
        other => Err(CredentialError::UnsupportedKey {
            path: path.to_owned(),
            label: other.to_owned(),
        }),
    }
}

fn decrypt_key(
    path: &Path,
    der: &[u8],
    passphrase: &Passphrase<'_>,
) -> Result<Secret<Vec<u8>>, CredentialError> {
    let pass = passphrase
        .get()?
        .ok_or_else(|| CredentialError::PassphraseMissing {
            path: path.to_owned(),
        })?;
    let plain = decrypt_pkcs8(path, der, &pass)?;
    pkcs8_to_pkcs1(path, plain.expose())
}

/// Picks the leaf certificate and its key. A single certificate is the leaf (PEM: the first `CERTIFICATE` block);
/// among several (PKCS#12), the leaf is the one whose public key matches the key, `localKeyId` breaking ties.
fn select(
    cert_path: &Path,
    key_path: &Path,
    certs: &[CertCandidate],
    keys: Vec<KeyCandidate>,
) -> Result<(usize, KeyCandidate), CredentialError> {
    let publics: Vec<Option<(Vec<u8>, Vec<u8>)>> = certs
        .iter()
        .map(|c| {
            certificate_facts(&c.der)
                .ok()
                .and_then(|f| f.public_key.ok())
        })
        .collect();
    let matches_at = |i: usize, key: &KeyCandidate| {
        publics[i]
            .as_ref()
            .is_some_and(|(m, e)| *m == key.modulus && *e == key.exponent)
    };
    let mismatch = || CredentialError::KeyMismatch {
        key_path: key_path.to_owned(),
        certificate_path: cert_path.to_owned(),
        thumbprint: certs
            .first()
            .map(|c| Thumbprints::of_der(&c.der).sha1_hex)
            .unwrap_or_default(),
    };
    let key_count = keys.len();
    let mut matching: Vec<KeyCandidate> = keys
        .into_iter()
        .filter(|k| (0..certs.len()).any(|i| matches_at(i, k)))
        .collect();
    let key = match (key_count, matching.len()) {
        (1, 0) => return Err(mismatch()),
        (_, 1) => matching.remove(0),
        (keys, matching) => {
            return Err(CredentialError::AmbiguousKeys {
                path: key_path.to_owned(),
                keys,
                matching,
            });
        }
    };
    let by_id = (0..certs.len()).find(|&i| {
        key.local_key_id.is_some()
            && certs[i].local_key_id == key.local_key_id
            && matches_at(i, &key)
    });
    let leaf = by_id
        .or_else(|| (0..certs.len()).find(|&i| matches_at(i, &key)))
        .ok_or_else(mismatch)?;
    Ok((leaf, key))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn load(
    (cert_path, cert_bytes): (&Path, &[u8]),
    key_input: KeyInput<'_>,
    passphrase: Passphrase<'_>,
    signing: SigningAlgorithm,
    now: Timestamp,
) -> Result<Credential, CredentialError> {
    let mut used_passphrase = false;
    // 1. The certificate file: its certificates (the leaf candidates), and its keys when it holds the key too.
    let (cert_parsed, mut cert_form) = parse_file(cert_path, cert_bytes, "certificate")?;
    let mut pkcs12_keys = None;
    let (certs, chain_len) = match &cert_parsed {
        Parsed::Pem(blocks) => {
            let all: Vec<&PemBlock> = blocks.iter().filter(|b| b.label == "CERTIFICATE").collect();
            let leaf = all.first().ok_or_else(|| CredentialError::NoCertificate {
                path: cert_path.to_owned(),
            })?;
            let leaf = CertCandidate {
                der: leaf.der.clone(),
                local_key_id: None,
            };
            (vec![leaf], all.len())
        }
        Parsed::DerCertificate(der) => (
            vec![CertCandidate {
                der: der.clone(),
                local_key_id: None,
            }],
            1,
        ),
        Parsed::DerKey(..) => {
            return Err(CredentialError::NoCertificate {
                path: cert_path.to_owned(),
            });
        }
        Parsed::Pkcs12(der) => {
            let contents = open_pkcs12(cert_path, der.expose(), &passphrase)?;
            used_passphrase = true;
            cert_form = FileForm::Pkcs12 {
                scheme: contents.scheme.clone(),
            };
            if contents.certificates.is_empty() {
                return Err(CredentialError::Pkcs12NoCertificate {
                    path: cert_path.to_owned(),
                });
            }
            let certs: Vec<CertCandidate> = contents
                .certificates
                .into_iter()
                .map(CertCandidate::from)
                .collect();
            let n = certs.len();
            pkcs12_keys = Some(contents.keys);
            (certs, n)
        }
    };
    if let [only] = certs.as_slice() {
        check_certificate(cert_path, &only.der)?;
    }

    // 2. The private key(s).
    let key_path = match &key_input {
        KeyInput::File(path, _) => *path,
        KeyInput::Absent | KeyInput::SameFile => cert_path,
    };
    let mut key_form = None;
    let keys: Vec<KeyCandidate> = match (&key_input, &cert_parsed) {
        (KeyInput::Absent | KeyInput::SameFile, Parsed::Pkcs12(_)) => {
            let keys = pkcs12_keys.take().unwrap_or_default();
            if keys.is_empty() {
                return Err(CredentialError::Pkcs12NoKey {
                    path: cert_path.to_owned(),
                });
            }
            pkcs12_key_candidates(cert_path, keys)?
        }
        (KeyInput::Absent, _) => {
            return Err(CredentialError::PrivateKeyRequired {
                path: cert_path.to_owned(),
                form: cert_form.to_string(),
            });
        }
        (KeyInput::SameFile, Parsed::Pem(blocks)) => {
            let pkcs1 = key_of_pem(cert_path, blocks, &passphrase, &mut used_passphrase)?;
            vec![key_candidate(cert_path, pkcs1, None)?]
        }
        (KeyInput::SameFile, _) => {
            return Err(CredentialError::NoPrivateKey {
                path: cert_path.to_owned(),
            });
        }
        (KeyInput::File(path, bytes), _) => {
            let (parsed, mut form) = parse_file(path, bytes, "private key")?;
            let keys = match parsed {
                Parsed::Pem(blocks) => {
                    let pkcs1 = key_of_pem(path, &blocks, &passphrase, &mut used_passphrase)?;
                    vec![key_candidate(path, pkcs1, None)?]
                }
                Parsed::DerKey(kind, der) => {
                    let pkcs1 = match kind {
                        DerKeyKind::Pkcs1 => der,
                        DerKeyKind::Pkcs8 => pkcs8_to_pkcs1(path, der.expose())?,
                        DerKeyKind::EncryptedPkcs8 => {
                            used_passphrase = true;
                            decrypt_key(path, der.expose(), &passphrase)?
                        }
                    };
                    vec![key_candidate(path, pkcs1, None)?]
                }
                Parsed::Pkcs12(der) => {
                    let contents = open_pkcs12(path, der.expose(), &passphrase)?;
                    used_passphrase = true;
                    form = FileForm::Pkcs12 {
                        scheme: contents.scheme,
                    };
                    if contents.keys.is_empty() {
                        return Err(CredentialError::NoPrivateKey {
                            path: path.to_path_buf(),
                        });
                    }
                    pkcs12_key_candidates(path, contents.keys)?
                }
                Parsed::DerCertificate(_) => {
                    return Err(CredentialError::NoPrivateKey {
                        path: path.to_path_buf(),
                    });
                }
            };
            key_form = Some((form, file_name(path)));
            keys
        }
    };
    let mut warnings = Vec::new();
    if passphrase.configured() && !used_passphrase {
        warnings.push(CredentialWarning::PassphraseUnused);
    }

    // 3. The key must belong to the certificate: compare modulus and exponent with the certificate's SPKI.
    let (leaf, key) = select(cert_path, key_path, &certs, keys)?;
    let certificate_der = certs[leaf].der.clone();
    let (facts, key_bits) = check_certificate(cert_path, &certificate_der)?;
    let thumbprints = Thumbprints::of_der(&certificate_der);
    let key_pair = RsaKeyPair::from_der(key.pkcs1.expose()).map_err(|e| {
        CredentialError::InvalidPrivateKey {
            path: key_path.to_owned(),
            reason: e.description_().to_owned(),
        }
    })?;
    let public = key_pair.public_key();
    let (cert_modulus, cert_exponent) = facts.public_key.clone().unwrap_or_default();
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
    let CertFacts {
        subject,
        issuer,
        serial,
        not_before,
        not_after,
        ..
    } = facts;
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
        subject,
        issuer,
        serial,
        not_before,
        not_after,
        key_bits,
        chain_len,
        source: SourceForm {
            certificate: cert_form,
            certificate_file: file_name(cert_path),
            private_key: key_form,
        },
        thumbprints,
        warnings,
    };
    tracing::debug!(
        certificate = %cert_path.display(),
        form = %info.source,
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
        key: Secret::new(jsonwebtoken::EncodingKey::from_rsa_der(key.pkcs1.expose())),
        signing,
        info,
    })
}

fn pkcs12_key_candidates(
    path: &Path,
    keys: Vec<pfx::Bag<Secret<Vec<u8>>>>,
) -> Result<Vec<KeyCandidate>, CredentialError> {
    keys.into_iter()
        .map(|bag| {
            let pkcs1 = pkcs8_to_pkcs1(path, bag.value.expose())?;
            key_candidate(path, pkcs1, bag.local_key_id)
        })
        .collect()
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
    const KNOWN: [(&str, &str); 5] = [
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/credentials")
            .join(name);
        std::fs::read(path).expect("fixture")
    }

    fn cert(name: &str, local_key_id: Option<Vec<u8>>) -> CertCandidate {
        let (parsed, _) = parse_file(Path::new(name), &fixture(name), "certificate").unwrap();
        let Parsed::Pem(blocks) = parsed else {
            panic!("{name} is not PEM")
        };
        CertCandidate {
            der: blocks[0].der.clone(),
            local_key_id,
        }
    }

    fn key(name: &str, local_key_id: Option<Vec<u8>>) -> KeyCandidate {
        let (parsed, _) = parse_file(Path::new(name), &fixture(name), "private key").unwrap();
        let Parsed::Pem(blocks) = parsed else {
            panic!("{name} is not PEM")
        };
        let mut used = false;
        let pkcs1 = key_of_pem(Path::new(name), &blocks, &Passphrase::None, &mut used).unwrap();
        key_candidate(Path::new(name), pkcs1, local_key_id).unwrap()
    }

    #[test]
    fn the_leaf_is_the_certificate_matching_the_key_wherever_it_is() {
        let p = Path::new("x.pfx");
        let certs = [
            cert("ca.pem", None),
            cert("other-cert.pem", None),
            cert("chain-leaf.pem", None),
        ];
        let (leaf, _) = select(p, p, &certs, vec![key("chain-key.pem", None)]).unwrap();
        assert_eq!(leaf, 2);
        // Two unrelated keys, one matching: that one.
        let (leaf, k) = select(
            p,
            p,
            &certs,
            vec![key("key.pem", None), key("other-key.pem", None)],
        )
        .unwrap();
        assert_eq!(leaf, 1);
        assert_eq!(k.modulus, key("other-key.pem", None).modulus);
        // The same certificate twice: localKeyId decides.
        let twice = [
            cert("cert.pem", Some(vec![1])),
            cert("cert.pem", Some(vec![2])),
        ];
        let (leaf, _) = select(p, p, &twice, vec![key("key.pem", Some(vec![2]))]).unwrap();
        assert_eq!(leaf, 1);
    }

    #[test]
    fn several_keys_none_or_many_matching_and_a_lone_mismatch_are_refused() {
        let p = Path::new("x.pfx");
        let none = select(
            p,
            p,
            &[cert("cert.pem", None)],
            vec![key("other-key.pem", None), key("chain-key.pem", None)],
        )
        .unwrap_err();
        assert!(
            matches!(
                none,
                CredentialError::AmbiguousKeys {
                    keys: 2,
                    matching: 0,
                    ..
                }
            ),
            "{none}"
        );
        let many = select(
            p,
            p,
            &[cert("cert.pem", None), cert("other-cert.pem", None)],
            vec![key("key.pem", None), key("other-key.pem", None)],
        )
        .unwrap_err();
        assert!(
            matches!(
                many,
                CredentialError::AmbiguousKeys {
                    keys: 2,
                    matching: 2,
                    ..
                }
            ),
            "{many}"
        );
        let lone = select(
            p,
            p,
            &[cert("cert.pem", None)],
            vec![key("other-key.pem", None)],
        )
        .unwrap_err();
        assert!(
            matches!(lone, CredentialError::KeyMismatch { .. }),
            "{lone}"
        );
    }

    #[test]
    fn der_is_recognized_by_content_and_cut_or_padded_der_is_handled() {
        let cer = fixture("cert.cer");
        let (_, form) = parse_file(Path::new("x.pem"), &cer, "certificate").unwrap();
        assert_eq!(form, FileForm::DerCertificate);
        let mut padded = cer.clone();
        padded.extend([0, 0]);
        let (parsed, _) = parse_file(Path::new("x.cer"), &padded, "certificate").unwrap();
        assert!(matches!(parsed, Parsed::DerCertificate(d) if d == cer));
        let err = parse_file(Path::new("x.cer"), &cer[..cer.len() - 10], "certificate")
            .err()
            .unwrap();
        assert!(matches!(err, CredentialError::Truncated { .. }), "{err}");
        for (name, kind) in [
            ("key-pkcs8.der", DerKeyKind::Pkcs8),
            ("key-pkcs1.der", DerKeyKind::Pkcs1),
        ] {
            let (_, form) = parse_file(Path::new(name), &fixture(name), "private key").unwrap();
            assert_eq!(form, FileForm::DerKey(kind));
        }
        // A .pfx that is BER or noise says so; the same bytes under another name are "not PEM, DER or PKCS#12".
        let ber = [0x30, 0x80, 0x02, 0x01, 0x03, 0x00, 0x00];
        let err = parse_file(Path::new("a.pfx"), &ber, "certificate")
            .err()
            .unwrap();
        assert!(err.to_string().contains("BER indefinite-length"), "{err}");
        let err = parse_file(Path::new("a.bin"), &ber, "certificate")
            .err()
            .unwrap();
        assert!(matches!(err, CredentialError::NotPem { .. }), "{err}");
    }

    #[test]
    fn forms_display_what_was_read() {
        let pem = FileForm::Pem {
            encoding: TextEncoding::Utf8,
            crlf: false,
        };
        assert_eq!(pem.to_string(), "PEM");
        let source = SourceForm {
            certificate: FileForm::DerCertificate,
            certificate_file: "app.cer".into(),
            private_key: Some((FileForm::DerKey(DerKeyKind::EncryptedPkcs8), "k.der".into())),
        };
        assert_eq!(
            source.to_string(),
            "certificate: DER certificate from app.cer; private key: DER encrypted PKCS#8 key from k.der"
        );
    }
}
