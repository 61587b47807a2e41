//! Shared set-up of the API client tests: a token provider that signs with a throwaway certificate against the
//! emulator's token endpoint, with the API root on `api_base` (the emulator itself, or a stand-in server).

#![allow(dead_code)]

use std::sync::Arc;

use jiff::Timestamp;
use o365sync::auth::{Credential, SigningAlgorithm, TokenProvider, TokenProviderConfig};
use o365sync::cloud::{Cloud, EndpointOverrides, Endpoints};
use o365sync::emulator::EmulatorHandle;

/// The provider and endpoints of a commercial-cloud tenant served by `emu` (tokens) and `api_base` (API).
pub fn provider(
    emu: &EmulatorHandle,
    cert_pem: &str,
    key_pem: &str,
    api_base: String,
) -> (TokenProvider, Endpoints) {
    let credential = Credential::from_pem(
        cert_pem.as_bytes(),
        key_pem.as_bytes(),
        None,
        SigningAlgorithm::Rs256,
        Timestamp::now(),
    )
    .expect("credential");
    let endpoints = Cloud::Commercial
        .endpoints(
            emu.tenant_id(),
            &EndpointOverrides {
                login: Some(emu.url()),
                api: Some(api_base),
            },
        )
        .expect("endpoints");
    let provider = TokenProvider::new(
        Arc::new(credential),
        TokenProviderConfig::new(emu.client_id(), endpoints.clone()),
    );
    (provider, endpoints)
}
