//! Certificate authentication against Entra ID: from the files an operator has to a cached access token.
//!
//! # Public API
//!
//! - [`CredentialSource`] names the files (`certificate`, `private_key` — may be the same combined file, or absent
//!   when `certificate` is a PKCS#12 file holding the key — an optional [`PassphraseSource`] for an encrypted key or
//!   PKCS#12 file, and the [`SigningAlgorithm`]). Each file's [`FileForm`] is found from its content: PEM (UTF-8, or
//!   UTF-8/UTF-16 with a byte-order mark, [`TextEncoding`]), DER certificate or key ([`DerKeyKind`]), or PKCS#12.
//!   [`CredentialSource::load`] reads and checks them before any network call and returns a [`Credential`]: the leaf
//!   certificate (first PEM `CERTIFICATE` block; in PKCS#12 the certificate matching the key), its [`Thumbprints`]
//!   (SHA-1 hex as the portal shows it, base64url `x5t` / `x5t#S256`), and [`CertificateInfo`] (subject, validity,
//!   key size, the [`SourceForm`] read, [`CredentialWarning`]s such as expiry within 30 days).
//!   Every bad input is one [`CredentialError`] variant whose message says what to do.
//! - [`Credential::client_assertion`] signs the JWT client assertion (RS256 + `x5t`, or PS256 + `x5t#S256`).
//! - [`crate::cloud::Endpoints`] resolves the token URL, API root and scope from a cloud and the job's `endpoints`.
//! - [`TokenProvider`] (cheap to clone, shareable across tasks) returns a cached [`AccessToken`] from
//!   [`TokenProvider::token`], refreshes it ahead of expiry with a single request shared by concurrent callers, and
//!   drops a token the API answered 401 to via [`TokenProvider::invalidate`]. Failures are [`TokenError`]s, one
//!   message per AADSTS code of the reference table. [`TokenProviders`] hands out one provider per
//!   (tenant, client, scope) for a whole run, so jobs sharing an app registration share one token.
//! - Exit codes: [`CredentialError::outcome`] and [`crate::cloud::EndpointError::outcome`] are configuration errors
//!   (exit 2, nothing written); [`TokenError::outcome`] is a runtime failure (exit 1).
//!
//! # Secrets
//!
//! Private keys, passphrases, client assertions and access tokens live only in [`Secret`] (or types built on it),
//! whose `Debug` and `Display` print `[redacted]`. Nothing in this module logs them, and no error carries them.

mod aadsts;
mod assertion;
mod credential;
mod pem;
mod pfx;
mod providers;
mod secret;
mod token;
pub(crate) use token::network_reason;

pub use aadsts::AadstsCode;
pub use assertion::{ASSERTION_LIFETIME, AssertionError, ClientAssertion};
pub use credential::{
    CertificateInfo, Credential, CredentialError, CredentialSource, CredentialWarning, DerKeyKind,
    EXPIRY_WARNING_DAYS, FileForm, MIN_RSA_BITS, PassphraseSource, SigningAlgorithm, SourceForm,
    Thumbprints, UnknownSigningAlgorithm,
};
pub(crate) use credential::{certificate_facts, peek_certificate};
pub use pem::TextEncoding;
pub(crate) use pem::{decode_text, parse_blocks};
pub use providers::TokenProviders;
pub use secret::Secret;
pub use token::{
    AccessToken, DEFAULT_REFRESH_MARGIN, TokenError, TokenProvider, TokenProviderConfig,
};
