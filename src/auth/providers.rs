//! One [`TokenProvider`] per (tenant, client, scope) for a whole run, so jobs that share an app registration share
//! its tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::credential::Credential;
use super::token::{TokenProvider, TokenProviderConfig};

/// The cache key: tenant and client compared case-insensitively, the exact scope and token URL, and the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: String,
    client_id: String,
    scope: String,
    token_url: String,
    certificate_sha256: String,
}

/// The token providers of one run, keyed by (tenant, client, scope). Cheap to clone; clones share the map.
#[derive(Debug, Clone, Default)]
pub struct TokenProviders {
    map: Arc<Mutex<HashMap<Key, TokenProvider>>>,
}

impl TokenProviders {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The provider for this (tenant, client, scope, token URL, certificate), created on first use with `http`.
    pub fn provider(
        &self,
        credential: Arc<Credential>,
        config: TokenProviderConfig,
        http: &reqwest::Client,
    ) -> TokenProvider {
        let key = Key {
            tenant: config.endpoints.tenant.to_ascii_lowercase(),
            client_id: config.client_id.to_ascii_lowercase(),
            scope: config.endpoints.scope.clone(),
            token_url: config.endpoints.token_url.as_str().to_ascii_lowercase(),
            certificate_sha256: credential.thumbprints().sha256_hex.clone(),
        };
        // A poisoned lock only means another thread panicked while inserting; the map itself is still sound.
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key)
            .or_insert_with(|| TokenProvider::with_client(credential, config, http.clone()))
            .clone()
    }

    /// How many distinct providers exist.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no provider exists yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
