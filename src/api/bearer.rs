//! The seam between the API client and the token provider: something that hands out a bearer token and can be told
//! that the service rejected one. The auth module's `TokenProvider` implements it; the client never sees how tokens
//! are obtained, and tokens never appear in `Debug` output, logs or errors.

use std::fmt;
use std::future::Future;

/// An access token, sent only as `Authorization: Bearer …` to the pinned API origin. `Debug`/`Display` redact it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps an access token.
    pub fn new(token: impl Into<String>) -> BearerToken {
        BearerToken(token.into())
    }

    /// The clear token, for the `Authorization` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

impl fmt::Display for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A token could not be obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not obtain an access token: {message}")]
pub struct BearerError {
    /// What went wrong and what to do (never contains a secret).
    pub message: String,
    /// Whether trying again later may help (network trouble) rather than a configuration problem.
    pub transient: bool,
}

/// A source of bearer tokens for the Management Activity API.
pub trait BearerSource: Send + Sync {
    /// A valid token (cached while valid).
    fn bearer(&self) -> impl Future<Output = Result<BearerToken, BearerError>> + Send;

    /// The service answered 401 to `rejected`: forget it so the next [`BearerSource::bearer`] fetches a fresh one
    /// (unless a newer token already replaced it).
    fn invalidate(&self, rejected: &BearerToken);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_redacted() {
        let t = BearerToken::new("eyJ0eXAiOiJKV1QiLCJhbGciOi");
        assert_eq!(format!("{t:?}"), "BearerToken([redacted])");
        assert_eq!(format!("{t}"), "[redacted]");
        assert_eq!(t.expose(), "eyJ0eXAiOiJKV1QiLCJhbGciOi");
    }
}
