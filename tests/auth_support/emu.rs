//! Emulator set-up shared by the token tests.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use o365sync::auth::{Credential, SigningAlgorithm, TokenProvider, TokenProviderConfig};
use o365sync::cloud::{Cloud, EndpointOverrides, Endpoints};
use o365sync::emulator::{
    ContentSettings, Emulator, EmulatorConfig, EmulatorHandle, ThrowawayCertificate,
    throwaway_certificate,
};

/// One throwaway certificate per test binary (RSA key generation is the slow part).
pub fn certificate() -> &'static ThrowawayCertificate {
    static CERT: OnceLock<ThrowawayCertificate> = OnceLock::new();
    CERT.get_or_init(|| throwaway_certificate("o365sync-auth-test").expect("throwaway certificate"))
}

/// An emulator of `cloud` trusting [`certificate`], with no content, issuing tokens of `lifetime`.
pub async fn start(cloud: Cloud, lifetime: Duration) -> EmulatorHandle {
    start_trusting(cloud, lifetime, certificate().certificate_der.clone()).await
}

/// An emulator of `cloud` trusting one certificate.
pub async fn start_trusting(cloud: Cloud, lifetime: Duration, der: Vec<u8>) -> EmulatorHandle {
    let mut config = EmulatorConfig::trusting(der);
    config.cloud = cloud;
    config.token_lifetime = lifetime;
    let mut content = ContentSettings::default().with_blobs_per_hour(0);
    content.late_blobs = 0;
    content.blob_listed_twice = false;
    config.content = content;
    Emulator::start(config).await.expect("emulator starts")
}

/// Endpoints of `cloud` with both hosts replaced by the emulator's.
pub fn endpoints(emu: &EmulatorHandle, cloud: Cloud) -> Endpoints {
    let overrides = EndpointOverrides {
        login: Some(emu.url()),
        api: Some(emu.url()),
    };
    cloud
        .endpoints(emu.tenant_id(), &overrides)
        .expect("loopback endpoints")
}

/// The throwaway credential, loaded from memory.
pub fn credential(signing: SigningAlgorithm) -> Arc<Credential> {
    let c = certificate();
    Arc::new(
        Credential::from_pem(
            c.certificate_pem.as_bytes(),
            c.private_key_pem.as_bytes(),
            None,
            signing,
            jiff::Timestamp::now(),
        )
        .expect("throwaway credential loads"),
    )
}

/// A provider for the emulator's client on `cloud`, without retries.
pub fn provider(emu: &EmulatorHandle, cloud: Cloud, credential: Arc<Credential>) -> TokenProvider {
    let mut config = TokenProviderConfig::new(emu.client_id(), endpoints(emu, cloud));
    config.retries = 0;
    TokenProvider::new(credential, config)
}

/// `GET {api_root}/subscriptions/list` with `token`; returns the HTTP status.
pub async fn list_subscriptions(endpoints: &Endpoints, token: &o365sync::auth::AccessToken) -> u16 {
    let url = format!(
        "{}/subscriptions/list?PublisherIdentifier={}",
        endpoints.api_root, endpoints.tenant
    );
    let mut request = reqwest::Client::new().get(url);
    if let Some(h) = token.authorization() {
        request = request.header(reqwest::header::AUTHORIZATION, h);
    }
    request
        .send()
        .await
        .expect("api reachable")
        .status()
        .as_u16()
}
