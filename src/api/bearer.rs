//! The seam between the API client and the token provider: something that hands out a bearer token and can be told
//! that the service rejected one. The auth module's `TokenProvider` implements it; the client never sees how tokens
//! are obtained, and tokens never appear in its logs or errors.

use std::future::Future;

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
pub trait BearerSource: Send + Sync + 'static {
    /// A token. Its `Debug` must not show the secret.
    type Token: Clone + Send + Sync + 'static;

    /// A valid token (cached while valid).
    fn bearer(&self) -> impl Future<Output = Result<Self::Token, BearerError>> + Send;

    /// The clear token, for the `Authorization: Bearer …` header only.
    fn secret(token: &Self::Token) -> &str;

    /// The service answered 401 to `rejected`: forget it so the next [`BearerSource::bearer`] fetches a fresh one
    /// (unless a newer token already replaced it).
    fn invalidate(&self, rejected: &Self::Token) -> impl Future<Output = ()> + Send;
}

/// The auth module's cached, refreshing token provider is the production (and test) source of tokens.
impl BearerSource for crate::auth::TokenProvider {
    type Token = crate::auth::AccessToken;

    async fn bearer(&self) -> Result<Self::Token, BearerError> {
        self.token().await.map_err(|e| BearerError {
            transient: e.is_transient(),
            message: e.to_string(),
        })
    }

    fn secret(token: &Self::Token) -> &str {
        token.expose()
    }

    async fn invalidate(&self, rejected: &Self::Token) {
        crate::auth::TokenProvider::invalidate(self, rejected).await;
    }
}
