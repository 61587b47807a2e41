//! The JWT client assertion that proves possession of the certificate's key (entra-certificate-auth.md).

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;

use super::credential::{Credential, SigningAlgorithm};
use super::secret::Secret;

/// Lifetime of a client assertion (`exp - iat`). Entra accepts 5–10 minutes; a fresh one is signed per request.
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

/// A signed client assertion. `Debug` shows only its `jti`.
#[derive(Clone)]
pub struct ClientAssertion {
    jwt: Secret<String>,
    jti: String,
}

impl ClientAssertion {
    /// The compact JWT, for the `client_assertion` form field only.
    pub fn expose(&self) -> &str {
        self.jwt.expose()
    }

    /// The assertion's unique id (not secret; fine for logs).
    pub fn jti(&self) -> &str {
        &self.jti
    }
}

impl fmt::Debug for ClientAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAssertion")
            .field("jti", &self.jti)
            .field("jwt", &self.jwt)
            .finish()
    }
}

/// Signing the assertion failed.
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    /// The signer rejected the key or the input.
    #[error(
        "cannot sign the client assertion ({0}): check that the private key is a valid RSA key"
    )]
    Sign(String),
    /// The clock is outside the representable range.
    #[error("the system clock is out of range: check the system time")]
    Clock,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: &'a str,
    nbf: i64,
    iat: i64,
    exp: i64,
}

impl Credential {
    /// Signs a client assertion for `client_id` whose audience is exactly `token_url`, valid from now.
    pub fn client_assertion(
        &self,
        client_id: &str,
        token_url: &str,
    ) -> Result<ClientAssertion, AssertionError> {
        self.client_assertion_at(client_id, token_url, Timestamp::now())
    }

    /// Signs a client assertion valid from `now` for [`ASSERTION_LIFETIME`].
    ///
    /// Header: `alg` RS256 with `x5t` (base64url SHA-1 of the DER), or PS256 with `x5t#S256`; `typ` JWT.
    /// Claims: `aud` = the token URL, `iss` = `sub` = the client ID, a fresh `jti`, `nbf` = `iat` = now,
    /// `exp` = now + 10 minutes.
    pub fn client_assertion_at(
        &self,
        client_id: &str,
        token_url: &str,
        now: Timestamp,
    ) -> Result<ClientAssertion, AssertionError> {
        let mut header = match self.signing() {
            SigningAlgorithm::Rs256 => {
                let mut h = Header::new(Algorithm::RS256);
                h.x5t = Some(self.thumbprints().x5t.clone());
                h
            }
            SigningAlgorithm::Ps256 => {
                let mut h = Header::new(Algorithm::PS256);
                h.x5t_s256 = Some(self.thumbprints().x5t_s256.clone());
                h
            }
        };
        header.typ = Some("JWT".to_owned());
        let jti = uuid::Uuid::new_v4().to_string();
        let iat = now.as_second();
        let lifetime =
            i64::try_from(ASSERTION_LIFETIME.as_secs()).map_err(|_| AssertionError::Clock)?;
        let claims = Claims {
            aud: token_url,
            iss: client_id,
            sub: client_id,
            jti: &jti,
            nbf: iat,
            iat,
            exp: iat.checked_add(lifetime).ok_or(AssertionError::Clock)?,
        };
        let jwt = jsonwebtoken::encode(&header, &claims, self.key.expose())
            .map_err(|e| AssertionError::Sign(e.to_string()))?;
        Ok(ClientAssertion {
            jwt: Secret::new(jwt),
            jti,
        })
    }
}
