//! The emulator over real HTTP: every token rule, every API rule, every fault, and the completeness contract (a
//! sequential client following the documented protocol receives exactly the ground truth; one ignoring
//! `NextPageUri` does not).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use o365sync::cloud::Cloud;
use o365sync::content_type::ContentType;
use o365sync::emulator::{
    ContentSettings, Emulator, EmulatorConfig, EmulatorHandle, Faults, Throttle, ThrottleStyle,
    ThrowawayCertificate, throwaway_certificate, x5t, x5t_s256,
};
use serde_json::{Value, json};

const PUBLISHER: &str = "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718";

fn cert() -> &'static ThrowawayCertificate {
    static CERT: OnceLock<ThrowawayCertificate> = OnceLock::new();
    CERT.get_or_init(|| throwaway_certificate("emulator tests").expect("certificate"))
}

fn other_cert() -> &'static ThrowawayCertificate {
    static CERT: OnceLock<ThrowawayCertificate> = OnceLock::new();
    CERT.get_or_init(|| throwaway_certificate("unregistered").expect("certificate"))
}

fn small_content() -> ContentSettings {
    ContentSettings {
        seed: 7,
        hours: 3,
        records_per_blob: 4,
        duplicate_record_rate: 0.2,
        late_blobs: 1,
        ..ContentSettings::default()
    }
    .with_blobs_per_hour(2)
}

fn config() -> EmulatorConfig {
    EmulatorConfig {
        content: small_content(),
        ..EmulatorConfig::trusting(cert().certificate_der.clone())
    }
}

async fn start(config: EmulatorConfig) -> EmulatorHandle {
    Emulator::start(config).await.expect("emulator starts")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Claims of a valid client assertion for this emulator.
fn claims(emu: &EmulatorHandle) -> serde_json::Map<String, Value> {
    let now = now_s();
    let Value::Object(m) = json!({
        "aud": emu.token_url(),
        "iss": emu.client_id(),
        "sub": emu.client_id(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    }) else {
        unreachable!()
    };
    m
}

fn sign(header: &Header, claims: &serde_json::Map<String, Value>, key_pem: &str) -> String {
    let key = EncodingKey::from_rsa_pem(key_pem.as_bytes()).expect("key");
    jsonwebtoken::encode(header, claims, &key).expect("sign")
}

fn rs256(claims: &serde_json::Map<String, Value>) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.x5t = Some(x5t(&cert().certificate_der));
    sign(&h, claims, &cert().private_key_pem)
}

fn form(emu: &EmulatorHandle, assertion: &str) -> Vec<(String, String)> {
    vec![
        ("grant_type".into(), "client_credentials".into()),
        ("client_id".into(), emu.client_id().into()),
        ("scope".into(), emu.scope()),
        (
            "client_assertion_type".into(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ),
        ("client_assertion".into(), assertion.into()),
    ]
}

async fn post_token(emu: &EmulatorHandle, form: &[(String, String)]) -> (u16, Value) {
    let resp = http()
        .post(emu.token_url())
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("token json"))
}

async fn token(emu: &EmulatorHandle) -> String {
    let (status, body) = post_token(emu, &form(emu, &rs256(&claims(emu)))).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

/// Asserts an Entra-shaped refusal.
fn assert_aadsts(status: u16, body: &Value, want_status: u16, error: &str, code: u64) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    let desc = body["error_description"].as_str().expect("description");
    assert!(desc.starts_with(&format!("AADSTS{code}:")), "{desc}");
    assert_eq!(body["error_codes"], json!([code]), "{body}");
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("payload part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64")).expect("json")
}

/// An authenticated API client.
struct Api {
    client: reqwest::Client,
    root: String,
    token: String,
}

impl Api {
    async fn new(emu: &EmulatorHandle) -> Self {
        Api {
            client: http(),
            root: emu.api_root(),
            token: token(emu).await,
        }
    }

    async fn send(&self, method: reqwest::Method, url: &str) -> reqwest::Response {
        self.client
            .request(method, url)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("api request")
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.send(reqwest::Method::GET, url).await
    }

    async fn post(&self, url: &str) -> reqwest::Response {
        self.send(reqwest::Method::POST, url).await
    }

    fn url(&self, rest: &str) -> String {
        let sep = if rest.contains('?') { '&' } else { '?' };
        format!("{}/{rest}{sep}PublisherIdentifier={PUBLISHER}", self.root)
    }

    async fn start(&self, ct: ContentType) -> reqwest::Response {
        self.post(&self.url(&format!("subscriptions/start?contentType={ct}")))
            .await
    }

    async fn start_all(&self) {
        for ct in ContentType::ALL {
            assert_eq!(self.start(ct).await.status(), 200);
        }
    }

    fn content_url(&self, ct: ContentType, from: &str, to: &str) -> String {
        self.url(&format!(
            "subscriptions/content?contentType={ct}&startTime={from}&endTime={to}"
        ))
    }
}

async fn af_code(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("error json");
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn fmt(ms: i64, pattern: &str) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .expect("timestamp")
        .strftime(pattern)
        .to_string()
}

fn secs(ms: i64) -> String {
    fmt(ms, "%Y-%m-%dT%H:%M:%S")
}

fn millis(ms: i64) -> String {
    fmt(ms, "%Y-%m-%dT%H:%M:%S%.3f")
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

const HOUR: i64 = 3_600_000;

fn next_page(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .iter()
        .find(|(k, _)| k.as_str().eq_ignore_ascii_case("NextPageUri"))
        .and_then(|(_, v)| v.to_str().ok())
        .map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------------------------
// Token endpoint
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn rs256_with_x5t_and_ps256_with_x5t_s256_get_app_tokens() {
    let emu = start(config()).await;
    let (status, body) = post_token(&emu, &form(&emu, &rs256(&claims(&emu)))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    let access = payload(body["access_token"].as_str().expect("token"));
    assert_eq!(access["aud"], "https://manage.office.com");
    assert_eq!(access["tid"], emu.tenant_id());
    assert_eq!(access["roles"][0], "ActivityFeed.Read");
    assert!(access["exp"].as_i64().expect("exp") > now_s());

    let mut h = Header::new(Algorithm::PS256);
    h.x5t_s256 = Some(x5t_s256(&cert().certificate_der));
    let ps = sign(&h, &claims(&emu), &cert().private_key_pem);
    let (status, body) = post_token(&emu, &form(&emu, &ps)).await;
    assert_eq!(status, 200, "{body}");
    let stats = emu.stats();
    assert_eq!((stats.requests.token, stats.tokens_issued), (2, 2));
}

#[tokio::test]
async fn thumbprint_and_signature_failures_answer_like_entra() {
    let emu = start(config()).await;
    let der = &cert().certificate_der;

    // A SHA-256 digest in x5t.
    let mut h = Header::new(Algorithm::RS256);
    h.x5t = Some(x5t_s256(der));
    let (s, b) = post_token(
        &emu,
        &form(&emu, &sign(&h, &claims(&emu), &cert().private_key_pem)),
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);

    // The hex string instead of the raw digest.
    let mut h = Header::new(Algorithm::RS256);
    let hex: String = URL_SAFE_NO_PAD
        .decode(x5t(der))
        .expect("b64")
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    h.x5t = Some(URL_SAFE_NO_PAD.encode(hex));
    let (s, b) = post_token(
        &emu,
        &form(&emu, &sign(&h, &claims(&emu), &cert().private_key_pem)),
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);

    // No thumbprint at all.
    let h = Header::new(Algorithm::RS256);
    let (s, b) = post_token(
        &emu,
        &form(&emu, &sign(&h, &claims(&emu), &cert().private_key_pem)),
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 50027);

    // RS256 naming its certificate only by x5t#S256, PS256 only by x5t.
    let mut h = Header::new(Algorithm::RS256);
    h.x5t_s256 = Some(x5t_s256(der));
    let (s, b) = post_token(
        &emu,
        &form(&emu, &sign(&h, &claims(&emu), &cert().private_key_pem)),
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);
    let mut h = Header::new(Algorithm::PS256);
    h.x5t = Some(x5t(der));
    let (s, b) = post_token(
        &emu,
        &form(&emu, &sign(&h, &claims(&emu), &cert().private_key_pem)),
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);

    // A certificate that is not registered.
    let mut h = Header::new(Algorithm::RS256);
    h.x5t = Some(x5t(&other_cert().certificate_der));
    let (s, b) = post_token(
        &emu,
        &form(
            &emu,
            &sign(&h, &claims(&emu), &other_cert().private_key_pem),
        ),
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);

    // The registered thumbprint but another key: the signature does not verify.
    let mut h = Header::new(Algorithm::RS256);
    h.x5t = Some(x5t(der));
    let (s, b) = post_token(
        &emu,
        &form(
            &emu,
            &sign(&h, &claims(&emu), &other_cert().private_key_pem),
        ),
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);
    assert!(
        b["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("signature")
    );

    // HMAC is not a certificate credential.
    let mut h = Header::new(Algorithm::HS256);
    h.x5t = Some(x5t(der));
    let hs = jsonwebtoken::encode(&h, &claims(&emu), &EncodingKey::from_secret(b"secret"))
        .expect("sign");
    let (s, b) = post_token(&emu, &form(&emu, &hs)).await;
    assert_aadsts(s, &b, 401, "invalid_client", 5002738);

    // Garbage.
    let (s, b) = post_token(&emu, &form(&emu, "not.a.jwt")).await;
    assert_aadsts(s, &b, 401, "invalid_client", 50027);
    assert_eq!(emu.stats().tokens_issued, 0);
    assert_eq!(emu.stats().tokens_refused, 9);
}

#[tokio::test]
async fn every_claim_rule_is_enforced() {
    let emu = start(config()).await;
    let now = now_s();
    let cases: Vec<(&str, Value, u64)> = vec![
        (
            "aud",
            json!("https://login.microsoftonline.com/x/oauth2/v2.0/token"),
            50027,
        ),
        ("aud", json!(format!("{}/", emu.token_url())), 50027),
        ("sub", json!("someone-else"), 50048),
        ("exp", json!(now - 5), 700024),
        ("exp", json!(now + 3600 + 120), 700024),
        ("nbf", json!(now + 600), 700024),
    ];
    for (claim, value, code) in cases {
        let mut c = claims(&emu);
        c.insert(claim.into(), value.clone());
        let (s, b) = post_token(&emu, &form(&emu, &rs256(&c))).await;
        assert_aadsts(s, &b, 401, "invalid_client", code);
    }
    // iss = sub but not the client ID.
    let mut c = claims(&emu);
    c.insert("iss".into(), json!("11111111-2222-3333-4444-555555555555"));
    c.insert("sub".into(), json!("11111111-2222-3333-4444-555555555555"));
    let (s, b) = post_token(&emu, &form(&emu, &rs256(&c))).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700021);
    // Missing claims.
    for claim in ["aud", "iss", "exp", "jti"] {
        let mut c = claims(&emu);
        c.remove(claim);
        let (s, b) = post_token(&emu, &form(&emu, &rs256(&c))).await;
        assert_aadsts(s, &b, 401, "invalid_client", 50027);
    }
    // Within the five-minute skew, nbf in the future is accepted; a reused jti is not.
    let mut c = claims(&emu);
    c.insert("nbf".into(), json!(now + 240));
    let assertion = rs256(&c);
    let (s, b) = post_token(&emu, &form(&emu, &assertion)).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = post_token(&emu, &form(&emu, &assertion)).await;
    assert_aadsts(s, &b, 401, "invalid_client", 50013);
}

#[tokio::test]
async fn form_rules_scope_secret_resource_client_tenant_and_grant() {
    let emu = start(EmulatorConfig {
        cloud: Cloud::Gcc,
        ..config()
    })
    .await;
    let good = form(&emu, &rs256(&claims(&emu)));
    let with = |name: &str, value: &str| {
        let mut f: Vec<(String, String)> =
            good.iter().filter(|(k, _)| k != name).cloned().collect();
        f.push((name.to_owned(), value.to_owned()));
        f
    };
    let without = |name: &str| -> Vec<(String, String)> {
        good.iter().filter(|(k, _)| k != name).cloned().collect()
    };

    let (s, b) = post_token(&emu, &with("scope", "https://manage.office.com/.default")).await;
    assert_aadsts(s, &b, 400, "invalid_resource", 500011);
    let (s, b) = post_token(&emu, &with("scope", "https://manage-gcc.office.com")).await;
    assert_aadsts(s, &b, 400, "invalid_scope", 70011);
    let (s, b) = post_token(&emu, &without("scope")).await;
    assert_aadsts(s, &b, 400, "invalid_request", 900144);
    let (s, b) = post_token(&emu, &with("client_secret", "hunter2")).await;
    assert_aadsts(s, &b, 401, "invalid_client", 7000215);
    let (s, b) = post_token(&emu, &with("resource", "https://manage-gcc.office.com")).await;
    assert_aadsts(s, &b, 400, "invalid_request", 901002);
    let (s, b) = post_token(
        &emu,
        &with("client_id", "00000000-0000-0000-0000-000000000001"),
    )
    .await;
    assert_aadsts(s, &b, 400, "unauthorized_client", 700016);
    let (s, b) = post_token(&emu, &with("grant_type", "password")).await;
    assert_aadsts(s, &b, 400, "unsupported_grant_type", 70003);
    let (s, b) = post_token(&emu, &with("client_assertion_type", "jwt")).await;
    assert_aadsts(s, &b, 400, "invalid_request", 90014);
    let (s, b) = post_token(&emu, &without("client_assertion")).await;
    assert_aadsts(s, &b, 401, "invalid_client", 7000218);

    let resp = http()
        .post(format!("{}/common/oauth2/v2.0/token", emu.url()))
        .form(&good)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let b: Value = resp.json().await.expect("json");
    assert_aadsts(status, &b, 400, "invalid_request", 90002);

    // The untouched form for GCC (scope https://manage-gcc.office.com/.default) succeeds.
    assert_eq!(emu.scope(), "https://manage-gcc.office.com/.default");
    let (s, b) = post_token(&emu, &good).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        payload(b["access_token"].as_str().expect("token"))["aud"],
        "https://manage-gcc.office.com"
    );
}

#[tokio::test]
async fn expired_unknown_and_missing_tokens_get_401() {
    let emu = start(EmulatorConfig {
        token_lifetime: Duration::ZERO,
        ..config()
    })
    .await;
    let api = Api::new(&emu).await;
    let list = api.url("subscriptions/list");
    assert_eq!(
        api.get(&list).await.status(),
        401,
        "a zero-lifetime token is expired at once"
    );
    let resp = http().get(&list).send().await.expect("send");
    assert_eq!(resp.status(), 401);
    let resp = http()
        .get(&list)
        .bearer_auth("eyJhbGciOi.forged.token")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer error=\"invalid_token\"")
    );
    assert_eq!(emu.stats().unauthorized, 3);
}

#[tokio::test]
async fn tokens_expire_mid_run_on_a_control_call_and_fresh_ones_work() {
    let emu = start(config()).await;
    let mut api = Api::new(&emu).await;
    let list = api.url("subscriptions/list");
    assert_eq!(api.get(&list).await.status(), 200);
    let resp = http()
        .post(format!("{}/_emulator/expire-tokens", emu.url()))
        .send()
        .await
        .expect("control");
    assert_eq!(resp.status(), 204);
    assert_eq!(api.get(&list).await.status(), 401);
    api.token = token(&emu).await;
    assert_eq!(api.get(&list).await.status(), 200);
    emu.expire_tokens();
    assert_eq!(api.get(&list).await.status(), 401);
}

#[tokio::test]
async fn tokens_expire_every_n_api_requests_when_asked() {
    let emu = start(EmulatorConfig {
        faults: Faults {
            expire_tokens_every: Some(3),
            ..Faults::default()
        },
        ..config()
    })
    .await;
    let mut api = Api::new(&emu).await;
    let list = api.url("subscriptions/list");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let status = api.get(&list).await.status().as_u16();
        if status == 401 {
            api.token = token(&emu).await;
        }
        statuses.push(status);
    }
    // Each event expires the tokens already issued at the previous one: the first token dies at the second event
    // (request 6); its replacement outlives the third (request 9) and dies at the fourth (request 12).
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 401, 200, 200, 200, 200, 200, 401]
    );
    assert_eq!(emu.stats().faults.tokens_expired, 4);
    assert_eq!(emu.stats().unauthorized, 2);
}

#[tokio::test]
async fn a_token_without_activity_feed_read_gets_af10001() {
    let emu = start(EmulatorConfig {
        roles: vec!["ActivityFeed.ReadDlp".to_owned()],
        ..config()
    })
    .await;
    let api = Api::new(&emu).await;
    assert_eq!(
        payload(&api.token)["roles"],
        json!(["ActivityFeed.ReadDlp"])
    );
    let resp = api.get(&api.url("subscriptions/list")).await;
    assert_eq!(af_code(resp).await, (401, "AF10001".into()));
}

// ---------------------------------------------------------------------------------------------------------------
// Management API rules
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn subscription_lifecycle_and_the_fifteen_minute_rule() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let ct = ContentType::Exchange;
    let now = now_ms();
    let listing = api.content_url(ct, &secs(now - HOUR), &secs(now));
    assert_eq!(
        af_code(api.get(&listing).await).await,
        (400, "AF20022".into())
    );
    let subs: Value = api
        .get(&api.url("subscriptions/list"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(subs, json!([]));

    let resp = api.start(ct).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body,
        json!({"contentType": "Audit.Exchange", "status": "enabled", "webhook": null})
    );
    assert_eq!(af_code(api.start(ct).await).await, (400, "AF20024".into()));
    assert_eq!(api.get(&listing).await.status(), 200);
    let subs: Value = api
        .get(&api.url("subscriptions/list"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        subs,
        json!([{"contentType": "Audit.Exchange", "status": "enabled", "webhook": null}])
    );

    let stop = api
        .post(&api.url("subscriptions/stop?contentType=Audit.Exchange"))
        .await;
    assert_eq!(stop.status(), 200);
    assert_eq!(
        af_code(api.get(&listing).await).await,
        (400, "AF20023".into())
    );
    let subs: Value = api
        .get(&api.url("subscriptions/list"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(subs[0]["status"], "disabled");

    // Another content type's first start is not "too soon"; this type's third start is.
    assert_eq!(api.start(ContentType::General).await.status(), 200);
    assert_eq!(api.start(ct).await.status(), 200);
    let stats = emu.stats();
    assert_eq!(stats.requests.subscriptions_start, 4);
    assert_eq!(stats.starts_too_soon, 2);
    let bad = api
        .post(&api.url("subscriptions/start?contentType=Audit.Teams"))
        .await;
    assert_eq!(af_code(bad).await, (400, "AF20020".into()));
}

#[tokio::test]
async fn every_window_rule_answers_af20055() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    api.start(ContentType::General).await;
    let ct = ContentType::General;
    let now = now_ms();
    let base = api.url("subscriptions/content?contentType=Audit.General");
    let bad = [
        format!("{base}&startTime={}", secs(now - HOUR)),
        format!("{base}&endTime={}", secs(now)),
        api.content_url(ct, &secs(now), &secs(now)),
        api.content_url(ct, &secs(now), &secs(now - HOUR)),
        api.content_url(ct, &secs(now - 25 * HOUR), &secs(now)),
        api.content_url(
            ct,
            &secs(now - 7 * 24 * HOUR - 2 * HOUR),
            &secs(now - 7 * 24 * HOUR),
        ),
        api.content_url(ct, "yesterday", &secs(now)),
    ];
    for url in &bad {
        assert_eq!(
            af_code(api.get(url).await).await,
            (400, "AF20055".into()),
            "{url}"
        );
    }
    assert_eq!(emu.stats().window_errors, bad.len() as u64);
    let good = [
        base.clone(),
        api.content_url(ct, &secs(now - 24 * HOUR), &secs(now)),
        api.content_url(
            ct,
            &secs(now - 7 * 24 * HOUR - HOUR / 2),
            &secs(now - 7 * 24 * HOUR),
        ),
        api.content_url(ct, &fmt(now, "%Y-%m-%d"), &fmt(now + 24 * HOUR, "%Y-%m-%d")),
        api.content_url(
            ct,
            &fmt(now - HOUR, "%Y-%m-%dT%H:%M"),
            &fmt(now, "%Y-%m-%dT%H:%M"),
        ),
        api.content_url(
            ct,
            &format!("{}Z", secs(now - HOUR)),
            &format!("{}Z", secs(now)),
        ),
    ];
    for url in &good {
        assert_eq!(api.get(url).await.status(), 200, "{url}");
    }
}

#[tokio::test]
async fn listing_is_half_open_on_content_created() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    api.start_all().await;
    let blob = emu
        .blobs()
        .into_iter()
        .find(|b| b.content_type == ContentType::SharePoint && !b.late)
        .expect("a blob");
    let t = blob.content_created_ms;
    let ct = ContentType::SharePoint;
    let ids = |v: Value| -> Vec<String> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|e| e["contentId"].as_str().expect("id").to_owned())
            .collect()
    };
    let at: Value = api
        .get(&api.content_url(ct, &millis(t), &millis(t + 1)))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(ids(at.clone()), vec![blob.content_id.clone()]);
    let entry = &at[0];
    assert_eq!(entry["contentType"], "Audit.SharePoint");
    assert_eq!(entry["contentCreated"], fmt(t, "%Y-%m-%dT%H:%M:%S%.3fZ"));
    assert_eq!(
        entry["contentExpiration"],
        fmt(t + 7 * 24 * HOUR, "%Y-%m-%dT%H:%M:%S%.3fZ")
    );
    assert_eq!(
        entry["contentUri"],
        format!("{}/audit/{}", emu.api_root(), blob.content_id)
    );
    let before: Value = api
        .get(&api.content_url(ct, &millis(t - HOUR), &millis(t)))
        .await
        .json()
        .await
        .expect("json");
    assert!(
        !ids(before).contains(&blob.content_id),
        "endTime is exclusive"
    );
}

/// Lists one window following every `NextPageUri` (host-pinned, `PublisherIdentifier` appended); returns the
/// content entries and the next-page URIs seen.
async fn list_all(api: &Api, first: &str) -> (Vec<Value>, Vec<String>) {
    let mut entries = Vec::new();
    let mut pages = Vec::new();
    let mut url = first.to_owned();
    loop {
        let resp = api.get(&url).await;
        assert_eq!(resp.status(), 200, "{url}");
        let next = next_page(&resp);
        let page: Vec<Value> = resp.json().await.expect("page");
        entries.extend(page);
        let Some(next) = next else { break };
        assert!(
            next.starts_with(&api.root[..api.root.find("/api/").expect("api")]),
            "foreign {next}"
        );
        pages.push(next.clone());
        url = format!("{next}&PublisherIdentifier={PUBLISHER}");
    }
    (entries, pages)
}

#[tokio::test]
async fn pages_chain_through_next_page_uri_written_with_api_v1() {
    let emu = start(EmulatorConfig {
        page_size: 2,
        ..config()
    })
    .await;
    let api = Api::new(&emu).await;
    api.start_all().await;
    let now = now_ms();
    let first = api.content_url(
        ContentType::AzureActiveDirectory,
        &secs(now - 4 * HOUR),
        &secs(now + 60_000),
    );
    let (entries, pages) = list_all(&api, &first).await;
    // 3 hours × 2 blobs, one listed twice, the late blob hidden: 7 entries on 4 pages.
    assert_eq!(entries.len(), 7);
    assert_eq!(pages.len(), 3);
    for p in &pages {
        assert!(p.contains("/api/v1/"), "{p}");
        assert!(!p.contains("/api/v1.0/"), "{p}");
        assert!(!p.to_lowercase().contains("publisheridentifier"), "{p}");
    }
    let distinct: BTreeSet<_> = entries
        .iter()
        .map(|e| e["contentId"].as_str().expect("id"))
        .collect();
    assert_eq!(distinct.len(), 6, "one blob is listed twice");
    let bad = format!("{}&nextPage=garbage", first);
    assert_eq!(af_code(api.get(&bad).await).await, (400, "AF20031".into()));
}

#[tokio::test]
async fn blobs_serve_records_and_refuse_unknown_and_expired_content() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let blobs = emu.blobs();
    let b = blobs.iter().find(|b| !b.late).expect("blob");
    let uri = api.url(&format!("audit/{}", b.content_id));
    let resp = api.get(&uri).await;
    assert_eq!(resp.status(), 200);
    let records: Vec<Value> = resp.json().await.expect("records");
    let ids: Vec<String> = records
        .iter()
        .map(|r| {
            r.get("Id")
                .or_else(|| r.get("id"))
                .and_then(Value::as_str)
                .expect("Id")
                .to_owned()
        })
        .collect();
    assert_eq!(ids, b.record_ids);
    assert_eq!(emu.stats().blob_refetches, 0);
    assert_eq!(api.get(&uri).await.status(), 200);
    assert_eq!(emu.stats().blob_refetches, 1);

    // The /api/v1/ spelling serves the same blob; a client forgetting PublisherIdentifier is counted.
    let v1 = format!(
        "{}/api/v1/{}/activity/feed/audit/{}",
        emu.url(),
        emu.tenant_id(),
        b.content_id
    );
    let resp = api.get(&v1).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(emu.stats().without_publisher_identifier, 1);
    let v2 = format!(
        "{}/api/v2.0/{}/activity/feed/audit/{}",
        emu.url(),
        emu.tenant_id(),
        b.content_id
    );
    assert_eq!(api.get(&v2).await.status(), 404);

    let unknown = api.url(
        "audit/20200101000000000000$20200101000000000000$audit_exchange$Audit_Exchange$nam0001",
    );
    assert_eq!(
        af_code(api.get(&unknown).await).await,
        (404, "AF20050".into())
    );
    assert!(emu.expire_blob(&b.content_id));
    assert_eq!(af_code(api.get(&uri).await).await, (400, "AF20051".into()));
    // The expired blob's records leave the ground truth (unless another blob repeats them).
    let expected: BTreeSet<String> = blobs
        .iter()
        .filter(|o| o.content_id != b.content_id)
        .flat_map(|o| o.record_ids.iter().cloned())
        .collect();
    assert_eq!(emu.ground_truth().all(), expected);
    let stats = emu.stats();
    assert_eq!((stats.expired_fetches, stats.unknown_fetches), (1, 1));

    let wrong_tenant = format!(
        "{}/api/v1.0/00000000-0000-0000-0000-000000000000/activity/feed/subscriptions/list",
        emu.url()
    );
    assert_eq!(
        af_code(api.get(&wrong_tenant).await).await,
        (400, "AF20010".into())
    );
}

#[tokio::test]
async fn blobs_older_than_seven_days_are_listable_for_an_hour_but_expired() {
    let mut cfg = config();
    cfg.content = ContentSettings {
        hours: 7 * 24 + 1,
        late_blobs: 0,
        ..small_content()
    }
    .with_blobs_per_hour(0)
    .with_type_blobs_per_hour(&[(ContentType::Exchange, 1)]);
    let emu = start(cfg).await;
    let api = Api::new(&emu).await;
    api.start(ContentType::Exchange).await;
    let now = now_ms();
    let window = api.content_url(
        ContentType::Exchange,
        &secs(now - 7 * 24 * HOUR - HOUR + 60_000),
        &secs(now - 7 * 24 * HOUR + 60_000),
    );
    let (entries, _) = list_all(&api, &window).await;
    assert!(!entries.is_empty());
    let mut expired = BTreeSet::new();
    for e in &entries {
        let expiration = e["contentExpiration"].as_str().expect("expiration");
        let expiration: jiff::Timestamp = expiration.parse().expect("rfc 3339");
        if expiration.as_millisecond() < now {
            let uri = format!(
                "{}?PublisherIdentifier={PUBLISHER}",
                e["contentUri"].as_str().expect("uri")
            );
            assert_eq!(af_code(api.get(&uri).await).await, (400, "AF20051".into()));
            expired.insert(e["contentId"].as_str().expect("id").to_owned());
        }
    }
    assert!(!expired.is_empty(), "the oldest hour has expired blobs");
    // Expiry moves with the clock: compare with what is certainly expired and certainly alive.
    let gt = emu.ground_truth().all();
    let alive_after = now_ms() - 7 * 24 * HOUR;
    let blobs = emu.blobs();
    let not_expired: BTreeSet<String> = blobs
        .iter()
        .filter(|b| !expired.contains(&b.content_id))
        .flat_map(|b| b.record_ids.iter().cloned())
        .collect();
    assert!(
        gt.is_subset(&not_expired),
        "records of expired blobs left the ground truth"
    );
    for b in blobs.iter().filter(|b| b.content_created_ms > alive_after) {
        assert!(b.record_ids.iter().all(|id| gt.contains(id)));
    }
    assert_eq!(emu.stats().expired_fetches, expired.len() as u64);
}

#[tokio::test]
async fn late_blobs_appear_in_past_windows_only_after_release() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    api.start_all().await;
    let late: Vec<_> = emu.blobs().into_iter().filter(|b| b.late).collect();
    assert_eq!(late.len(), 5, "one late blob per content type");
    let now = now_ms();
    for b in &late {
        assert!(
            b.content_created_ms < now - 60_000,
            "late content has a past contentCreated"
        );
    }
    let b = &late[0];
    let window = api.content_url(b.content_type, &secs(now - 4 * HOUR), &secs(now));
    let listed = |entries: &[Value]| {
        entries
            .iter()
            .any(|e| e["contentId"] == b.content_id.as_str())
    };
    let (entries, _) = list_all(&api, &window).await;
    assert!(!listed(&entries));
    let fetch = api.url(&format!("audit/{}", b.content_id));
    assert_eq!(
        af_code(api.get(&fetch).await).await,
        (404, "AF20050".into())
    );
    let gt = emu.ground_truth();
    assert!(
        b.record_ids.iter().all(|id| gt.all().contains(id)),
        "late records belong to the ground truth"
    );

    let resp: Value = http()
        .post(format!("{}/_emulator/release-late", emu.url()))
        .send()
        .await
        .expect("control")
        .json()
        .await
        .expect("json");
    assert_eq!(resp["released"], 5);
    let (entries, _) = list_all(&api, &window).await;
    assert!(listed(&entries));
    assert_eq!(api.get(&fetch).await.status(), 200);
}

#[tokio::test]
async fn late_blobs_release_themselves_after_the_configured_delay() {
    let mut cfg = config();
    cfg.content.late_after = Some(Duration::ZERO);
    let emu = start(cfg).await;
    let api = Api::new(&emu).await;
    let b = emu.blobs().into_iter().find(|b| b.late).expect("late blob");
    assert_eq!(
        api.get(&api.url(&format!("audit/{}", b.content_id)))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn records_repeat_across_blobs_and_one_blob_is_listed_twice() {
    let mut cfg = config();
    cfg.content.duplicate_record_rate = 0.5;
    let emu = start(cfg).await;
    let blobs = emu.blobs();
    let slots: usize = blobs.iter().map(|b| b.record_ids.len()).sum();
    let gt = emu.ground_truth();
    assert!(
        gt.len() < slots,
        "with a 50% duplicate rate some records repeat"
    );
    assert_eq!(blobs.iter().filter(|b| b.listed_twice).count(), 5);
    let mut seen_in: BTreeMap<&str, usize> = BTreeMap::new();
    for b in &blobs {
        for id in b.record_ids.iter().collect::<BTreeSet<_>>() {
            *seen_in.entry(id.as_str()).or_default() += 1;
        }
    }
    assert!(
        seen_in.values().any(|n| *n > 1),
        "a record appears in two blobs"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn throttling_mixes_429_with_retry_after_and_403_af429() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let resp = http()
        .put(format!("{}/_emulator/faults", emu.url()))
        .json(&json!({"throttle": {"requests_per_minute": 3, "style": "mixed"}}))
        .send()
        .await
        .expect("control");
    assert_eq!(resp.status(), 204);
    let list = api.url("subscriptions/list");
    let mut answers = Vec::new();
    for _ in 0..7 {
        let resp = api.get(&list).await;
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("json");
        answers.push((
            status,
            retry.is_some(),
            body["error"]["code"].as_str().unwrap_or("").to_owned(),
        ));
        if let Some(r) = retry {
            assert!((1..=60).contains(&r), "{r}");
        }
    }
    assert!(answers[..3].iter().all(|a| a.0 == 200), "{answers:?}");
    for a in &answers[3..] {
        match a.0 {
            429 => assert!(a.1 && a.2 == "AF429", "{a:?}"),
            403 => assert!(!a.1 && a.2 == "AF429", "{a:?}"),
            other => panic!("unexpected {other}"),
        }
    }
    let stats = emu.stats();
    assert_eq!(stats.throttled, 4);
    assert_eq!(
        (stats.faults.throttled_429, stats.faults.throttled_403),
        (2, 2)
    );

    // Switched off at runtime through the handle.
    emu.set_faults(Faults::default()).expect("faults");
    assert_eq!(api.get(&list).await.status(), 200);
    // 403-only style.
    emu.set_faults(Faults {
        throttle: Some(Throttle {
            requests_per_minute: 1,
            style: ThrottleStyle::Status403,
        }),
        ..Faults::default()
    })
    .expect("faults");
    assert_eq!(api.get(&list).await.status(), 403);
}

#[tokio::test]
async fn transient_errors_answer_500_and_503_with_af50000() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    emu.set_faults(Faults {
        transient_error_rate: 1.0,
        ..Faults::default()
    })
    .expect("faults");
    let list = api.url("subscriptions/list");
    let mut statuses = BTreeSet::new();
    for _ in 0..12 {
        let (status, code) = af_code(api.get(&list).await).await;
        assert_eq!(code, "AF50000");
        statuses.insert(status);
    }
    assert_eq!(statuses, BTreeSet::from([500, 503]));
    let f = emu.stats().faults;
    assert_eq!(f.transient_500 + f.transient_503, 12);
    emu.set_faults(Faults::default()).expect("faults");
    assert_eq!(api.get(&list).await.status(), 200);
    assert!(
        emu.set_faults(Faults {
            transient_error_rate: 1.5,
            ..Faults::default()
        })
        .is_err()
    );
}

#[tokio::test]
async fn truncated_bodies_break_mid_way_and_do_not_count_as_served() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    api.start_all().await;
    let b = emu.blobs().into_iter().find(|b| !b.late).expect("blob");
    let uri = api.url(&format!("audit/{}", b.content_id));
    emu.set_faults(Faults {
        truncated_body_rate: 1.0,
        ..Faults::default()
    })
    .expect("faults");
    let resp = api.get(&uri).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err(), "the body must break off");
    let now = now_ms();
    let resp = api
        .get(&api.content_url(b.content_type, &secs(now - 4 * HOUR), &secs(now)))
        .await;
    assert!(resp.bytes().await.is_err(), "listings break off too");
    assert_eq!(emu.stats().faults.truncated, 2);
    assert_eq!(emu.stats().blobs_served, 0);
    emu.set_faults(Faults::default()).expect("faults");
    let records: Vec<Value> = api.get(&uri).await.json().await.expect("whole body");
    assert_eq!(records.len(), b.record_ids.len());
    assert_eq!(
        emu.stats().blob_refetches,
        0,
        "a retry after a cut-off body is not a re-fetch"
    );
}

#[tokio::test]
async fn latency_holds_requests_in_flight_and_peak_concurrency_is_counted() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    emu.set_faults(Faults {
        latency_ms: 150,
        ..Faults::default()
    })
    .expect("faults");
    let list = api.url("subscriptions/list");
    let all = futures::future::join_all((0..4).map(|_| api.get(&list))).await;
    assert!(all.iter().all(|r| r.status() == 200));
    assert!(emu.stats().peak_concurrency >= 2, "{:?}", emu.stats());
}

#[tokio::test]
async fn a_foreign_next_page_uri_counts_the_tokens_handed_to_it() {
    let emu = start(EmulatorConfig {
        page_size: 1,
        ..config()
    })
    .await;
    let api = Api::new(&emu).await;
    api.start_all().await;
    emu.set_faults(Faults {
        foreign_next_page: true,
        ..Faults::default()
    })
    .expect("faults");
    let now = now_ms();
    let resp = api
        .get(&api.content_url(ContentType::Exchange, &secs(now - 4 * HOUR), &secs(now)))
        .await;
    let next = next_page(&resp).expect("next page");
    assert!(next.starts_with(&emu.foreign_url()), "{next}");
    assert_eq!(emu.stats().foreign_bearer_tokens, 0);
    // A naive client follows it with its token.
    let page: Vec<Value> = api.get(&next).await.json().await.expect("json");
    assert!(page.is_empty());
    let stats = emu.stats();
    assert_eq!(
        (stats.foreign_requests, stats.foreign_bearer_tokens),
        (1, 1)
    );
    assert_eq!(stats.faults.foreign_next_page, 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Ground truth, determinism, control endpoints
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn same_seed_same_content_other_seed_other_content() {
    let mut anchored = config();
    anchored.content.anchor = Some(jiff::Timestamp::now());
    let a = start(anchored.clone()).await;
    // b keeps no generated body: every fetch generates it again
    let b = start(EmulatorConfig {
        body_cache_bytes: 0,
        ..anchored
    })
    .await;
    assert_eq!(a.blobs(), b.blobs());
    assert_eq!(a.ground_truth(), b.ground_truth());
    let mut other = config();
    other.content.seed = 8;
    let c = start(other).await;
    assert!(a.ground_truth().all().is_disjoint(&c.ground_truth().all()));
    let blob = a.blobs().into_iter().find(|x| !x.late).expect("blob");
    let (api_a, api_b) = (Api::new(&a).await, Api::new(&b).await);
    let body_a = api_a
        .get(&api_a.url(&format!("audit/{}", blob.content_id)))
        .await
        .bytes()
        .await
        .expect("a");
    let body_b = api_b
        .get(&api_b.url(&format!("audit/{}", blob.content_id)))
        .await
        .bytes()
        .await
        .expect("b");
    assert_eq!(body_a, body_b);
    // a second fetch from a is served from its cache, byte for byte the same
    let again = api_a
        .get(&api_a.url(&format!("audit/{}", blob.content_id)))
        .await
        .bytes()
        .await
        .expect("again");
    assert_eq!(again, body_a);
}

#[tokio::test]
async fn control_endpoints_agree_with_the_handle() {
    let emu = start(config()).await;
    let _ = Api::new(&emu).await;
    let client = http();
    let stats: o365sync::emulator::Stats = client
        .get(format!("{}/_emulator/stats", emu.url()))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats, emu.stats());
    let gt: BTreeMap<String, BTreeSet<String>> = client
        .get(format!("{}/_emulator/ground-truth", emu.url()))
        .send()
        .await
        .expect("gt")
        .json()
        .await
        .expect("json");
    let all: BTreeSet<String> = gt.values().flatten().cloned().collect();
    assert_eq!(all, emu.ground_truth().all());
    let one: BTreeSet<String> = client
        .get(format!(
            "{}/_emulator/ground-truth?contentType=DLP.All",
            emu.url()
        ))
        .send()
        .await
        .expect("gt")
        .json()
        .await
        .expect("json");
    assert_eq!(one, emu.ground_truth().of(ContentType::DlpAll));
    let faults: Faults = client
        .get(format!("{}/_emulator/faults", emu.url()))
        .send()
        .await
        .expect("faults")
        .json()
        .await
        .expect("json");
    assert_eq!(faults, emu.faults());
    let bad = client
        .put(format!("{}/_emulator/faults", emu.url()))
        .json(&json!({"truncated_body_rate": 2.0}))
        .send()
        .await
        .expect("put");
    assert_eq!(bad.status(), 400);
    emu.shutdown().await;
}

/// A simple sequential client following the documented protocol: token, list subscriptions, start what is missing,
/// list each content type in ≤ 24 h windows following every `NextPageUri` on the API host (appending
/// `PublisherIdentifier`), fetch each new content ID once, collect record IDs (`Id`, whatever the key case).
async fn sequential_client(emu: &EmulatorHandle, follow_next_page: bool) -> BTreeSet<String> {
    let api = Api::new(emu).await;
    let subs: Vec<Value> = api
        .get(&api.url("subscriptions/list"))
        .await
        .json()
        .await
        .expect("subs");
    for ct in ContentType::ALL {
        let enabled = subs
            .iter()
            .any(|s| s["contentType"] == ct.as_str() && s["status"] == "enabled");
        if !enabled {
            let resp = api.start(ct).await;
            assert!(resp.status() == 200 || af_code(resp).await.1 == "AF20024");
        }
    }
    let now = now_ms();
    let mut seen_blobs = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for ct in ContentType::ALL {
        let mut from = now - 5 * HOUR;
        while from < now + 60_000 {
            let to = (from + 24 * HOUR).min(now + 60_000);
            let first = api.content_url(ct, &secs(from), &secs(to));
            let entries = if follow_next_page {
                list_all(&api, &first).await.0
            } else {
                api.get(&first)
                    .await
                    .json::<Vec<Value>>()
                    .await
                    .expect("page")
            };
            for e in entries {
                let id = e["contentId"].as_str().expect("contentId").to_owned();
                if !seen_blobs.insert(id) {
                    continue;
                }
                let uri = format!(
                    "{}?PublisherIdentifier={PUBLISHER}",
                    e["contentUri"].as_str().expect("uri")
                );
                let records: Vec<Value> = api.get(&uri).await.json().await.expect("records");
                for r in records {
                    let id = r
                        .get("Id")
                        .or_else(|| r.get("id"))
                        .and_then(Value::as_str)
                        .expect("record id");
                    ids.insert(id.to_owned());
                }
            }
            from = to;
        }
    }
    ids
}

#[tokio::test]
async fn a_sequential_client_following_the_protocol_receives_exactly_the_ground_truth() {
    let emu = start(EmulatorConfig {
        page_size: 2,
        ..config()
    })
    .await;
    emu.release_late();
    let ids = sequential_client(&emu, true).await;
    let gt = emu.ground_truth();
    assert_eq!(ids, gt.all());
    assert_eq!(gt.len(), ids.len());
    let stats = emu.stats();
    assert_eq!(stats.without_publisher_identifier, 0);
    assert_eq!(stats.blob_refetches, 0);
    assert_eq!(stats.foreign_bearer_tokens, 0);
    assert!(stats.requests.content_list > 5, "paging was exercised");
    assert_eq!(
        stats.requests.blob_fetch,
        emu.blobs().len() as u64,
        "each content ID fetched once, the twice-listed blob included"
    );
}

#[tokio::test]
async fn a_client_ignoring_next_page_uri_misses_records() {
    let emu = start(EmulatorConfig {
        page_size: 2,
        ..config()
    })
    .await;
    emu.release_late();
    let ids = sequential_client(&emu, false).await;
    let gt = emu.ground_truth().all();
    assert!(ids.is_subset(&gt));
    assert!(
        ids.len() < gt.len(),
        "{} of {} records",
        ids.len(),
        gt.len()
    );
}

#[tokio::test]
async fn a_retrying_client_still_gets_everything_through_transient_errors_and_cut_off_bodies() {
    let emu = start(EmulatorConfig {
        page_size: 3,
        faults: Faults {
            transient_error_rate: 0.2,
            truncated_body_rate: 0.2,
            ..Faults::default()
        },
        ..config()
    })
    .await;
    emu.release_late();
    let api = Api::new(&emu).await;
    api.start_all().await;
    async fn fetch(api: &Api, url: &str) -> (Vec<Value>, Option<String>) {
        for _ in 0..50 {
            let resp = api.get(url).await;
            if !resp.status().is_success() {
                continue;
            }
            let next = next_page(&resp);
            if let Ok(bytes) = resp.bytes().await
                && let Ok(v) = serde_json::from_slice(&bytes)
            {
                return (v, next);
            }
        }
        panic!("no success after 50 attempts: {url}");
    }
    let now = now_ms();
    let mut ids = BTreeSet::new();
    for ct in ContentType::ALL {
        let mut url = api.content_url(ct, &secs(now - 5 * HOUR), &secs(now + 60_000));
        loop {
            let (entries, next) = fetch(&api, &url).await;
            for e in entries {
                let uri = format!(
                    "{}?PublisherIdentifier={PUBLISHER}",
                    e["contentUri"].as_str().expect("uri")
                );
                for r in fetch(&api, &uri).await.0 {
                    ids.insert(
                        r.get("Id")
                            .or_else(|| r.get("id"))
                            .and_then(Value::as_str)
                            .expect("id")
                            .to_owned(),
                    );
                }
            }
            match next {
                Some(n) => url = format!("{n}&PublisherIdentifier={PUBLISHER}"),
                None => break,
            }
        }
    }
    assert_eq!(ids, emu.ground_truth().all());
    let f = emu.stats().faults;
    assert!(
        f.transient_500 + f.transient_503 > 0 && f.truncated > 0,
        "{f:?}"
    );
}

#[tokio::test]
async fn records_are_realistic_across_all_five_content_types() {
    let mut cfg = config();
    cfg.content.hours = 12;
    cfg.content.records_per_blob = 10;
    cfg.content.large_record_rate = 0.01;
    cfg.content.large_record_parameters = 300;
    let emu = start(cfg).await;
    emu.release_late();
    let api = Api::new(&emu).await;
    let mut types = BTreeSet::new();
    let mut messy = BTreeMap::<&str, usize>::new();
    let mut largest = 0;
    for b in emu.blobs() {
        let body = api
            .get(&api.url(&format!("audit/{}", b.content_id)))
            .await
            .bytes()
            .await
            .expect("body");
        let records: Vec<Value> = serde_json::from_slice(&body).expect("json");
        for r in records {
            let text = r.to_string();
            largest = largest.max(text.len());
            let rt = r
                .get("RecordType")
                .or_else(|| r.get("recordtype"))
                .expect("RecordType");
            let n = rt
                .as_i64()
                .or_else(|| rt.as_str().and_then(|s| s.parse().ok()))
                .expect("number");
            types.insert(n.min(300));
            let creation = r
                .get("CreationTime")
                .or_else(|| r.get("creationtime"))
                .and_then(Value::as_str)
                .expect("time");
            let checks = [
                ("string RecordType", rt.is_string()),
                ("lower-case keys", r.get("recordtype").is_some()),
                ("zone-less CreationTime", !creation.ends_with('Z')),
                ("[ipv6]:port", text.contains("\"[2001:db8:")),
                ("JSON in a string", text.contains("\\\"")),
                ("unknown RecordType", n >= 300),
            ];
            for (name, hit) in checks {
                *messy.entry(name).or_default() += usize::from(hit);
            }
        }
    }
    for rt in [1, 2, 6, 8, 11, 13, 14, 15, 28, 33, 40] {
        assert!(types.contains(&rt), "RecordType {rt} missing: {types:?}");
    }
    assert_eq!(messy.len(), 6);
    assert!(messy.values().all(|n| *n > 0), "{messy:?}");
    assert!(largest > 10_000, "no very large record ({largest} bytes)");
}

// ---------------------------------------------------------------------------------------------------------------
// `o365sync emulator`
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_emulator_command_serves_and_names_its_throwaway_certificate() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tempdir");
    let port_file = dir.path().join("port");
    let cert_dir = dir.path().join("cert");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .args([
            "emulator",
            "--addr",
            "127.0.0.1:0",
            "--seed",
            "5",
            "--hours",
            "2",
            "--subscribed",
        ])
        .args(["--type-blobs-per-hour", "DLP.All=0"])
        .arg("--port-file")
        .arg(&port_file)
        .arg("--ground-truth-file")
        .arg(dir.path().join("truth.json"))
        .arg("--cert-dir")
        .arg(&cert_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.expect("line");
            let done = line.starts_with("control:");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    })
    .await
    .expect("read stdout");
    let text = lines.join("\n");
    let port: u16 = std::fs::read_to_string(&port_file)
        .expect("port file")
        .trim()
        .parse()
        .expect("port");
    let url = format!("http://127.0.0.1:{port}");
    assert!(text.contains(&format!("listening on {url}")), "{text}");
    assert!(
        text.contains(o365sync::emulator::DEFAULT_TENANT_ID),
        "{text}"
    );
    assert!(
        text.contains(o365sync::emulator::DEFAULT_CLIENT_ID),
        "{text}"
    );
    assert!(
        text.contains(&cert_dir.join("certificate.pem").display().to_string()),
        "{text}"
    );

    // The written key signs an assertion the served token endpoint accepts.
    let key = std::fs::read_to_string(cert_dir.join("key.pem")).expect("key");
    let pem = std::fs::read(cert_dir.join("certificate.pem")).expect("cert");
    let der = o365sync::emulator::certificates_from_pem(&pem)
        .expect("der")
        .remove(0);
    let token_url = format!(
        "{url}/{}/oauth2/v2.0/token",
        o365sync::emulator::DEFAULT_TENANT_ID
    );
    let now = now_s();
    let claims = json!({"aud": token_url, "iss": o365sync::emulator::DEFAULT_CLIENT_ID, "sub": o365sync::emulator::DEFAULT_CLIENT_ID,
        "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "exp": now + 300});
    let mut h = Header::new(Algorithm::RS256);
    h.x5t = Some(x5t(&der));
    let assertion = jsonwebtoken::encode(
        &h,
        &claims,
        &EncodingKey::from_rsa_pem(key.as_bytes()).expect("key"),
    )
    .expect("sign");
    let resp = http()
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", o365sync::emulator::DEFAULT_CLIENT_ID),
            ("scope", "https://manage.office.com/.default"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .expect("token");
    let status = resp.status();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200);
    let truth: BTreeMap<String, BTreeSet<String>> =
        serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).expect("truth file"))
            .expect("json");
    assert_eq!(truth.len(), 4, "DLP.All was given no blobs");
    // 2 hours × 2 blobs + 1 late blob, 10 records each, minus repeats.
    assert!(
        truth.values().all(|ids| !ids.is_empty() && ids.len() <= 50),
        "{truth:?}"
    );
}

#[test]
fn the_emulator_command_trusts_a_given_certificate_and_refuses_bad_knobs() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = dir.path().join("app.pem");
    std::fs::write(&pem, &cert().certificate_pem).expect("write pem");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .args(["emulator", "--addr", "127.0.0.1:0", "--hours", "1"])
        .arg("--trust-cert")
        .arg(&pem)
        .arg("--cert-dir")
        .arg(dir.path().join("unused"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut text = String::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("line");
        let done = line.starts_with("control:");
        text.push_str(&line);
        text.push('\n');
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        text.contains(&format!("trusting the certificate(s) in {}", pem.display())),
        "{text}"
    );
    assert!(
        !dir.path().join("unused").exists(),
        "no throwaway certificate is written"
    );

    let bad = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_o365sync"))
            .args(["emulator", "--addr", "127.0.0.1:0"])
            .args(args)
            .output()
            .expect("run")
    };
    let out = bad(&[
        "--trust-cert",
        dir.path().join("missing.pem").to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read"),
        "{out:?}"
    );
    let out = bad(&[
        "--throttle-rpm",
        "0",
        "--trust-cert",
        pem.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("throttle budget"),
        "{out:?}"
    );
    let out = bad(&["--type-blobs-per-hour", "Audit.Teams=3"]);
    assert_eq!(out.status.code(), Some(2));
}
