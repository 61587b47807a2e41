//! One emulator serving many tenants over real HTTP: each tenant its own content, tokens, subscriptions and
//! throttle window; tokens bound to their tenant; per-tenant observation (ground truth, request counts, the peak of
//! distinct tenants in flight); ten thousand tenants starting at once; `--tenants-file`.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use o365sync::content_type::ContentType;
use o365sync::emulator::{
    ContentSettings, DEFAULT_TENANT_ID, Emulator, EmulatorConfig, EmulatorError, EmulatorHandle,
    Faults, MAX_TENANTS, Throttle, ThrottleStyle, ThrowawayCertificate, tenant_id,
    throwaway_certificate, x5t,
};
use serde_json::{Value, json};

const PUBLISHER: &str = "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718";

fn cert() -> &'static ThrowawayCertificate {
    static CERT: OnceLock<ThrowawayCertificate> = OnceLock::new();
    CERT.get_or_init(|| throwaway_certificate("tenant tests").expect("certificate"))
}

fn small_content() -> ContentSettings {
    ContentSettings {
        seed: 11,
        hours: 2,
        records_per_blob: 3,
        duplicate_record_rate: 0.2,
        late_blobs: 1,
        ..ContentSettings::default()
    }
    .with_blobs_per_hour(1)
}

fn config(tenants: usize) -> EmulatorConfig {
    EmulatorConfig {
        tenants,
        content: small_content(),
        initial_subscriptions: ContentType::ALL.to_vec(),
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

/// A signed client assertion for the token endpoint of `tenant`.
fn assertion(emu: &EmulatorHandle, tenant: &str) -> String {
    let now = jiff::Timestamp::now().as_second();
    let claims = json!({
        "aud": emu.token_url_of(tenant),
        "iss": emu.client_id(),
        "sub": emu.client_id(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    });
    let mut h = Header::new(Algorithm::RS256);
    h.x5t = Some(x5t(&cert().certificate_der));
    let key = EncodingKey::from_rsa_pem(cert().private_key_pem.as_bytes()).expect("key");
    jsonwebtoken::encode(&h, &claims, &key).expect("sign")
}

async fn post_token(emu: &EmulatorHandle, tenant: &str, scope: &str) -> (u16, Value) {
    let resp = http()
        .post(emu.token_url_of(tenant))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", emu.client_id()),
            ("scope", scope),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion(emu, tenant)),
        ])
        .send()
        .await
        .expect("token request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("token json"))
}

async fn token(emu: &EmulatorHandle, tenant: &str) -> String {
    let (status, body) = post_token(emu, tenant, &emu.scope()).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned()
}

/// An API client of one tenant.
struct Api {
    client: reqwest::Client,
    root: String,
    token: String,
}

impl Api {
    async fn new(emu: &EmulatorHandle, tenant: &str) -> Self {
        Api {
            client: http(),
            root: emu.api_root_of(tenant),
            token: token(emu, tenant).await,
        }
    }

    /// The same token on another tenant's feed.
    fn on(&self, emu: &EmulatorHandle, tenant: &str) -> Api {
        Api {
            client: self.client.clone(),
            root: emu.api_root_of(tenant),
            token: self.token.clone(),
        }
    }

    fn url(&self, rest: &str) -> String {
        let sep = if rest.contains('?') { '&' } else { '?' };
        format!("{}/{rest}{sep}PublisherIdentifier={PUBLISHER}", self.root)
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.client
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("api request")
    }

    async fn list_subscriptions(&self) -> reqwest::Response {
        self.get(&self.url("subscriptions/list")).await
    }

    /// Every record `Id` of every blob listed (last 24 hours, all pages, all content types), and the content URIs.
    async fn everything(&self) -> (BTreeSet<String>, Vec<String>) {
        let mut ids = BTreeSet::new();
        let mut uris = Vec::new();
        for ct in ContentType::ALL {
            let mut next = Some(self.url(&format!("subscriptions/content?contentType={ct}")));
            while let Some(url) = next.take() {
                let resp = self.get(&url).await;
                assert_eq!(resp.status(), 200, "{url}");
                next = resp
                    .headers()
                    .get("NextPageUri")
                    .and_then(|v| v.to_str().ok())
                    .map(|u| format!("{u}&PublisherIdentifier={PUBLISHER}"));
                let page: Vec<Value> = resp.json().await.expect("listing json");
                for entry in page {
                    uris.push(entry["contentUri"].as_str().expect("uri").to_owned());
                }
            }
        }
        for uri in &uris {
            let resp = self
                .get(&format!("{uri}?PublisherIdentifier={PUBLISHER}"))
                .await;
            assert_eq!(resp.status(), 200, "{uri}");
            let records: Vec<Value> = resp.json().await.expect("blob json");
            for r in records {
                let id = r.get("Id").or_else(|| r.get("id")).and_then(Value::as_str);
                ids.insert(id.expect("record id").to_owned());
            }
        }
        (ids, uris)
    }
}

async fn af_code(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("error json");
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[test]
fn generated_tenant_ids_are_stable_distinct_lowercase_guids() {
    assert_eq!(tenant_id(1), "7e4a47e0-0000-4000-8000-000000000001");
    assert_eq!(tenant_id(255), "7e4a47e0-0000-4000-8000-0000000000ff");
    let ids: BTreeSet<String> = (1..2000).map(tenant_id).collect();
    assert_eq!(ids.len(), 1999);
    for id in &ids {
        let parsed = uuid::Uuid::parse_str(id).expect("a guid");
        assert_eq!(&parsed.to_string(), id, "lowercase hyphenated");
    }
}

#[tokio::test]
async fn three_tenants_each_serve_their_own_content_to_their_own_tokens() {
    let emu = start(config(3)).await;
    emu.release_late();
    let ids = emu.tenant_ids();
    assert_eq!(
        ids,
        vec![DEFAULT_TENANT_ID.to_owned(), tenant_id(1), tenant_id(2)]
    );
    let listed: Vec<String> = http()
        .get(format!("{}/_emulator/tenants", emu.url()))
        .send()
        .await
        .expect("tenants")
        .json()
        .await
        .expect("json");
    assert_eq!(listed, ids);

    let mut seen: Vec<BTreeSet<String>> = Vec::new();
    for id in &ids {
        let api = Api::new(&emu, id).await;
        let (records, uris) = api.everything().await;
        assert!(!records.is_empty());
        assert!(
            uris.iter()
                .all(|u| u.starts_with(&format!("{}/audit/", emu.api_root_of(id)))),
            "blob urls carry their tenant: {uris:?}"
        );
        let truth = emu.ground_truth_of(id).expect("known tenant");
        assert_eq!(records, truth.all(), "tenant {id}");
        // The control endpoint agrees with the handle.
        let by_type: Value = http()
            .get(format!("{}/_emulator/ground-truth?tenant={id}", emu.url()))
            .send()
            .await
            .expect("ground truth")
            .json()
            .await
            .expect("json");
        let from_control: BTreeSet<String> = by_type
            .as_object()
            .expect("object")
            .values()
            .flat_map(|v| v.as_array().expect("array").clone())
            .map(|v| v.as_str().expect("id").to_owned())
            .collect();
        assert_eq!(from_control, records);
        seen.push(records);
    }
    for (i, a) in seen.iter().enumerate() {
        for b in &seen[i + 1..] {
            assert!(a.is_disjoint(b), "tenants share record ids");
        }
    }
    assert_eq!(
        emu.ground_truth(),
        emu.ground_truth_of(&ids[0]).expect("t0")
    );
    assert_eq!(
        emu.ground_truth_of("00000000-0000-0000-0000-000000000000"),
        None
    );
    assert_eq!(emu.ground_truth_of(&tenant_id(3)), None);
    let unknown = http()
        .get(format!(
            "{}/_emulator/ground-truth?tenant={}",
            emu.url(),
            tenant_id(3)
        ))
        .send()
        .await
        .expect("ground truth");
    assert_eq!(unknown.status(), 404);

    let stats = emu.stats();
    assert_eq!(stats.requests_by_tenant.len(), 3, "{stats:?}");
    assert!(
        stats.requests_by_tenant.values().all(|n| *n > 5),
        "{stats:?}"
    );
    assert_eq!(
        stats
            .token_requests_by_tenant
            .values()
            .copied()
            .collect::<Vec<_>>(),
        vec![1, 1, 1]
    );
    assert_eq!(
        stats.requests_by_tenant.values().sum::<u64>(),
        stats.requests.content_list + stats.requests.blob_fetch
    );
    let over_http: o365sync::emulator::Stats = http()
        .get(format!("{}/_emulator/stats", emu.url()))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(over_http.requests_by_tenant, stats.requests_by_tenant);
    assert_eq!(
        over_http.peak_tenants_in_flight,
        stats.peak_tenants_in_flight
    );
}

#[tokio::test]
async fn tenant_zero_serves_exactly_what_a_one_tenant_emulator_serves() {
    let anchor: jiff::Timestamp = jiff::Timestamp::now();
    let with_anchor = |tenants| EmulatorConfig {
        content: ContentSettings {
            anchor: Some(anchor),
            ..small_content()
        },
        ..config(tenants)
    };
    let one = start(with_anchor(1)).await;
    let many = start(with_anchor(4)).await;
    assert_eq!(one.blobs(), many.blobs());
    assert_eq!(one.ground_truth(), many.ground_truth());
    let other = many.blobs_of(&tenant_id(1)).expect("tenant 1");
    assert_eq!(other.len(), one.blobs().len(), "same settings, same shape");
    assert_ne!(other, one.blobs());
    // Same bodies over HTTP for tenant 0.
    let (a, b) = (
        Api::new(&one, DEFAULT_TENANT_ID).await,
        Api::new(&many, DEFAULT_TENANT_ID).await,
    );
    let blob = one.blobs().into_iter().find(|x| !x.late).expect("blob");
    let path = format!("audit/{}", blob.content_id);
    let body_a = a.get(&a.url(&path)).await.text().await.expect("body");
    let body_b = b.get(&b.url(&path)).await.text().await.expect("body");
    assert_eq!(body_a, body_b);
}

#[tokio::test]
async fn a_token_is_bound_to_its_tenant() {
    let emu = start(config(3)).await;
    let (a, b) = (emu.tenant_id().to_owned(), tenant_id(2));
    let api_a = Api::new(&emu, &a).await;
    let api_b = Api::new(&emu, &b).await;
    assert_eq!(api_a.list_subscriptions().await.status(), 200);
    assert_eq!(api_b.list_subscriptions().await.status(), 200);

    // A's token on B's feed: the service's tenant mismatch, naming both tenants.
    let crossed = api_a.on(&emu, &b);
    let (status, code, message) = af_code(crossed.list_subscriptions().await).await;
    assert_eq!((status, code.as_str()), (400, "AF20010"), "{message}");
    assert!(message.contains(&b) && message.contains(&a), "{message}");
    let (status, code, _) = af_code(api_b.on(&emu, &a).list_subscriptions().await).await;
    assert_eq!((status, code.as_str()), (400, "AF20010"));

    // A blob of A fetched under B's URL with B's token is not B's content.
    emu.release_late();
    let blob_a = emu.blobs().into_iter().find(|x| !x.late).expect("blob");
    let under_b = api_b.url(&format!("audit/{}", blob_a.content_id));
    let (status, code, _) = af_code(api_b.get(&under_b).await).await;
    assert_eq!((status, code.as_str()), (404, "AF20050"));

    // An unknown tenant has no token endpoint.
    let (status, body) = post_token(&emu, &tenant_id(3), &emu.scope()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error_codes"], json!([90002]), "{body}");

    // Audit Search is emulated for tenant 0 only.
    let graph_scope = "https://graph.microsoft.com/.default";
    let (status, body) = post_token(&emu, &b, graph_scope).await;
    assert_eq!(status, 200, "{body}");
    let resp = http()
        .post(format!("{}/v1.0/security/auditLog/queries", emu.url()))
        .bearer_auth(body["access_token"].as_str().expect("token"))
        .json(&json!({"filterStartDateTime": "2024-01-01T00:00:00Z", "filterEndDateTime": "2024-01-02T00:00:00Z"}))
        .send()
        .await
        .expect("audit search");
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn throttling_one_tenant_leaves_another_unthrottled() {
    let emu = start(EmulatorConfig {
        faults: Faults {
            throttle: Some(Throttle {
                requests_per_minute: 3,
                style: ThrottleStyle::Status429,
            }),
            ..Faults::default()
        },
        ..config(2)
    })
    .await;
    let a = Api::new(&emu, emu.tenant_id()).await;
    let b = Api::new(&emu, &tenant_id(1)).await;
    let mut statuses_a = Vec::new();
    for _ in 0..5 {
        statuses_a.push(a.list_subscriptions().await.status().as_u16());
    }
    assert_eq!(statuses_a, vec![200, 200, 200, 429, 429]);
    for _ in 0..3 {
        assert_eq!(b.list_subscriptions().await.status(), 200);
    }
    assert_eq!(b.list_subscriptions().await.status(), 429);
    assert_eq!(emu.stats().throttled, 3);
}

#[tokio::test]
async fn peak_tenants_in_flight_counts_distinct_tenants_served_at_once() {
    let emu = start(config(3)).await;
    let apis = [
        Api::new(&emu, emu.tenant_id()).await,
        Api::new(&emu, &tenant_id(1)).await,
        Api::new(&emu, &tenant_id(2)).await,
    ];
    assert_eq!(
        emu.stats().peak_tenants_in_flight,
        0,
        "token requests do not count"
    );
    emu.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    })
    .expect("faults");
    // One tenant after the other: never two at once.
    for api in &apis {
        assert_eq!(api.list_subscriptions().await.status(), 200);
    }
    assert_eq!(emu.stats().peak_tenants_in_flight, 1);
    // Two requests of one tenant at once are still one tenant.
    let (x, y) = futures::join!(apis[0].list_subscriptions(), apis[0].list_subscriptions());
    assert_eq!((x.status().as_u16(), y.status().as_u16()), (200, 200));
    let stats = emu.stats();
    assert_eq!(stats.peak_tenants_in_flight, 1);
    assert!(stats.peak_concurrency >= 2, "{stats:?}");
    // Two tenants at once.
    let (x, y) = futures::join!(apis[0].list_subscriptions(), apis[1].list_subscriptions());
    assert_eq!((x.status().as_u16(), y.status().as_u16()), (200, 200));
    assert_eq!(emu.stats().peak_tenants_in_flight, 2);
    // All three, refused or not (a crossed token is still a request of the tenant its URL names).
    let crossed = apis[0].on(&emu, &tenant_id(2));
    let (x, y, z) = futures::join!(
        apis[0].list_subscriptions(),
        apis[1].list_subscriptions(),
        crossed.list_subscriptions()
    );
    assert_eq!(
        (
            x.status().as_u16(),
            y.status().as_u16(),
            z.status().as_u16()
        ),
        (200, 200, 400)
    );
    assert_eq!(emu.stats().peak_tenants_in_flight, 3);
}

#[tokio::test]
async fn ten_thousand_tenants_start_quickly_and_the_last_one_serves() {
    let began = Instant::now();
    let emu = start(config(10_000)).await;
    let took = began.elapsed();
    assert!(took < Duration::from_secs(2), "start took {took:?}");
    assert_eq!(emu.tenant_count(), 10_000);
    let last = tenant_id(9_999);
    assert_eq!(emu.tenant_ids().last(), Some(&last));
    let api = Api::new(&emu, &last).await;
    let (records, _) = api.everything().await;
    emu.release_late();
    let truth = emu.ground_truth_of(&last).expect("last tenant");
    assert!(records.is_subset(&truth.all()));
    assert_eq!(
        emu.ground_truth_of(&last.to_uppercase()),
        Some(truth),
        "tenant ids match in any letter case"
    );
    let stats = emu.stats();
    assert_eq!(
        stats.requests_by_tenant.keys().collect::<Vec<_>>(),
        vec![&last]
    );
    let (status, body) = post_token(&emu, &tenant_id(10_000), &emu.scope()).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn bad_tenant_counts_and_colliding_ids_are_config_errors() {
    for tenants in [0, MAX_TENANTS + 1] {
        let err = Emulator::start(config(tenants)).await.expect_err("refused");
        assert!(matches!(err, EmulatorError::Config(_)), "{err}");
    }
    let colliding = EmulatorConfig {
        tenant_id: tenant_id(1),
        ..config(2)
    };
    let err = Emulator::start(colliding).await.expect_err("refused");
    assert!(matches!(err, EmulatorError::Config(_)), "{err}");
    // Outside the generated range, a pattern id is an ordinary tenant 0.
    let fine = EmulatorConfig {
        tenant_id: tenant_id(5),
        ..config(2)
    };
    let emu = start(fine).await;
    assert_eq!(emu.tenant_ids(), vec![tenant_id(5), tenant_id(1)]);
    assert_eq!(
        Api::new(&emu, &tenant_id(5))
            .await
            .list_subscriptions()
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn the_emulator_command_writes_its_tenant_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port_file = dir.path().join("port");
    let tenants_file = dir.path().join("tenants.txt");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .args([
            "emulator",
            "--addr",
            "127.0.0.1:0",
            "--hours",
            "1",
            "--tenants",
            "3",
        ])
        .arg("--port-file")
        .arg(&port_file)
        .arg("--tenants-file")
        .arg(&tenants_file)
        .arg("--cert-dir")
        .arg(dir.path().join("cert"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !port_file.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let port = std::fs::read_to_string(&port_file);
    let tenants = std::fs::read_to_string(&tenants_file);
    let listed = match &port {
        Ok(p) => http()
            .get(format!("http://127.0.0.1:{}/_emulator/tenants", p.trim()))
            .send()
            .await
            .ok(),
        Err(_) => None,
    };
    let listed: Option<Vec<String>> = match listed {
        Some(r) => r.json().await.ok(),
        None => None,
    };
    let _ = child.kill();
    let _ = child.wait();
    port.expect("port file");
    let expected = vec![DEFAULT_TENANT_ID.to_owned(), tenant_id(1), tenant_id(2)];
    let tenants = tenants.expect("tenants file");
    assert_eq!(tenants.lines().collect::<Vec<_>>(), expected);
    assert!(tenants.ends_with('\n'));
    assert_eq!(listed, Some(expected));
}
