//! `POST /{tenant}/oauth2/v2.0/token`: client credentials with a certificate (JWT client assertion), verified for
//! real, answered like Entra ID; and the access tokens it issues.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use super::Shared;
use super::cert::RegisteredCertificate;
use super::stats::bump;
use super::time::{self, HOUR, MINUTE, SECOND};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An Entra-shaped refusal.
struct Refusal {
    status: StatusCode,
    error: &'static str,
    code: u32,
    message: String,
}

fn refuse(
    status: StatusCode,
    error: &'static str,
    code: u32,
    message: impl Into<String>,
) -> Refusal {
    Refusal {
        status,
        error,
        code,
        message: message.into(),
    }
}

fn invalid_client(code: u32, message: impl Into<String>) -> Refusal {
    refuse(StatusCode::UNAUTHORIZED, "invalid_client", code, message)
}

fn invalid_request(code: u32, message: impl Into<String>) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, "invalid_request", code, message)
}

fn missing(field: &str) -> Refusal {
    invalid_request(
        900144,
        format!("The request body must contain the following parameter: '{field}'."),
    )
}

impl Refusal {
    fn into_response(self, rng_seed: u64) -> Response {
        let mut rng = super::content::Rng::new(rng_seed);
        let trace = rng.guid();
        let correlation = rng.guid();
        let now = time::now_ms();
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {} Correlation ID: {} Timestamp: {}",
                self.code,
                self.message,
                trace,
                correlation,
                time::format(now, "%Y-%m-%d %H:%M:%SZ")
            ),
            "error_codes": [self.code],
            "timestamp": time::format(now, "%Y-%m-%d %H:%M:%SZ"),
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// The token endpoint.
pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    bump(&shared.counters.token);
    if let Some(t) = shared.tenant(&tenant) {
        bump(&t.token_requests);
    }
    let _in_flight = super::stats::InFlight::enter(&shared.counters);
    let latency = shared.faults().latency_ms;
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let n = shared
        .request_no
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match issue(&shared, &tenant, &headers, &body) {
        Ok(resp) => {
            bump(&shared.counters.tokens_issued);
            resp
        }
        Err(refusal) => {
            bump(&shared.counters.tokens_refused);
            refusal.into_response(super::content::hash(&[shared.seed, n, 99]))
        }
    }
}

/// The directory and app registration a token request is answered for: the Microsoft 365 tenant's, or the
/// workspace's (which issues Azure Monitor tokens only).
#[derive(Clone, Copy)]
struct Directory<'a> {
    tenant_id: &'a str,
    client_id: &'a str,
    cloud: crate::cloud::Cloud,
    certs: &'a [RegisteredCertificate],
    roles: &'a [String],
    workspace: bool,
    /// The index of the tenant (`None`: the workspace's directory).
    tenant: Option<usize>,
}

impl<'a> Directory<'a> {
    fn find(shared: &'a Shared, tenant: &str) -> Option<Self> {
        // Every tenant registers the same application trusting the same certificates.
        if let Some(t) = shared.tenant(tenant) {
            return Some(Directory {
                tenant_id: t.id(),
                client_id: &shared.client_id,
                cloud: shared.cloud,
                certs: &shared.certs,
                roles: &shared.roles,
                workspace: false,
                tenant: Some(t.index),
            });
        }
        shared
            .workspace
            .as_ref()
            .filter(|w| tenant.eq_ignore_ascii_case(&w.tenant_id))
            .map(|w| Directory {
                tenant_id: &w.tenant_id,
                client_id: &w.client_id,
                cloud: w.cloud,
                certs: &w.certs,
                roles: &[],
                workspace: true,
                tenant: None,
            })
    }
}

fn issue(
    shared: &Shared,
    tenant: &str,
    headers: &HeaderMap,
    body: &str,
) -> Result<Response, Refusal> {
    let Some(dir) = Directory::find(shared, tenant) else {
        return Err(invalid_request(
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        None => return Err(missing("grant_type")),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            ));
        }
    }
    if field("resource").is_some() {
        return Err(invalid_request(
            901002,
            "The 'resource' request parameter is not supported.",
        ));
    }
    if field("client_secret").is_some() {
        return Err(invalid_client(
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                dir.client_id
            ),
        ));
    }
    let client_id = field("client_id").ok_or_else(|| missing("client_id"))?;
    if !client_id.eq_ignore_ascii_case(dir.client_id) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
                dir.tenant_id
            ),
        ));
    }
    let scope = field("scope").ok_or_else(|| missing("scope"))?;
    // The workspace's directory has no Office 365 Management API: only Azure Monitor tokens come from it.
    let expected_scope = if dir.workspace {
        dir.cloud.monitor_scope()
    } else {
        dir.cloud.scope()
    };
    let audience = match (scope == dir.cloud.monitor_scope(), dir.workspace) {
        (true, false) => Audience::Monitor,
        (true, true) => Audience::WorkspaceMonitor,
        (false, false) if scope == dir.cloud.graph_scope() => Audience::Graph,
        (false, _) => Audience::ManagementApi,
    };
    if scope != expected_scope && audience == Audience::ManagementApi {
        let other_resource = crate::cloud::Cloud::ALL
            .into_iter()
            .any(|c| c.scope() == scope || c.monitor_scope() == scope);
        return Err(if other_resource {
            refuse(
                StatusCode::BAD_REQUEST,
                "invalid_resource",
                500011,
                format!(
                    "The resource principal named {} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
                    scope.trim_end_matches("/.default"),
                    dir.tenant_id
                ),
            )
        } else {
            refuse(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                70011,
                format!(
                    "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid; use {expected_scope}."
                ),
            )
        });
    }
    match field("client_assertion_type") {
        Some(ASSERTION_TYPE) => {}
        Some(_) | None => {
            return Err(invalid_request(
                90014,
                format!(
                    "The required field 'client_assertion_type' is missing or invalid: it must be '{ASSERTION_TYPE}'."
                ),
            ));
        }
    }
    let assertion = field("client_assertion").ok_or_else(|| {
        invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    })?;
    let expected_aud = format!(
        "http://{}/{}/oauth2/v2.0/token",
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default(),
        tenant
    );
    let claims = verify_assertion(dir, assertion, &expected_aud, client_id)?;
    let now = time::now_ms();
    let jti = claims.get("jti").and_then(Value::as_str).ok_or_else(|| {
        invalid_client(
            50027,
            "JWT token is invalid or malformed: the 'jti' claim is missing.",
        )
    })?;
    {
        let mut inner = shared.inner();
        if !inner.used_jti.insert(jti.to_owned()) {
            return Err(invalid_client(
                50013,
                "Assertion failed validation: the 'jti' claim was already used (replayed assertion). Create a new assertion for every token request.",
            ));
        }
    }
    let lifetime = shared.token_lifetime_ms;
    let exp = now + lifetime;
    let token = access_token(shared, dir, now, exp, audience)?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    {
        let mut inner = shared.inner();
        let generation = inner.token_gen;
        inner.token_gen += 1;
        inner.tokens.insert(
            digest.as_ref().to_vec(),
            Issued {
                exp,
                generation,
                audience,
                tenant: dir.tenant,
            },
        );
    }
    let secs = lifetime / SECOND;
    Ok(axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": secs,
        "ext_expires_in": secs,
        "access_token": token,
    }))
    .into_response())
}

fn access_token(
    shared: &Shared,
    dir: Directory<'_>,
    now: i64,
    exp: i64,
    audience: Audience,
) -> Result<String, Refusal> {
    let resource = match audience {
        Audience::ManagementApi => dir.cloud.profile().resource,
        Audience::Monitor | Audience::WorkspaceMonitor => dir.cloud.monitor_resource(),
        Audience::Graph => match dir.cloud.graph_host() {
            "graph.microsoft.com" => "https://graph.microsoft.com",
            "graph.microsoft.us" => "https://graph.microsoft.us",
            _ => "https://dod-graph.microsoft.us",
        },
    };
    let claims = json!({
        "aud": resource,
        "iss": format!("https://sts.windows.net/{}/", dir.tenant_id),
        "iat": now / SECOND,
        "nbf": now / SECOND,
        "exp": exp / SECOND,
        "appid": dir.client_id,
        "appidacr": "2",
        "idtyp": "app",
        "oid": dir.client_id,
        "sub": dir.client_id,
        "tid": dir.tenant_id,
        "roles": dir.roles,
        "ver": "1.0",
        "uti": super::content::Rng::new(super::content::hash(&[shared.seed, now as u64, exp as u64])).guid(),
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&shared.token_key),
    )
    .map_err(|e| {
        refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            50000,
            format!("There was an error issuing a token: {e}."),
        )
    })
}

fn hex_upper(b64: &str) -> String {
    URL_SAFE_NO_PAD
        .decode(b64)
        .map(|bytes| bytes.iter().map(|b| format!("{b:02X}")).collect())
        .unwrap_or_else(|_| b64.to_owned())
}

/// Verifies signature and claims of a client assertion; returns its claims.
fn verify_assertion(
    dir: Directory<'_>,
    assertion: &str,
    expected_aud: &str,
    client_id: &str,
) -> Result<serde_json::Map<String, Value>, Refusal> {
    let malformed =
        |why: &str| invalid_client(50027, format!("JWT token is invalid or malformed: {why}."));
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| malformed("the header cannot be read"))?;
    let cert = match header.alg {
        Algorithm::RS256 => {
            let Some(t) = header.x5t.as_deref() else {
                return Err(match header.x5t_s256 {
                    Some(_) => invalid_client(
                        700027,
                        "Client assertion failed signature validation. [Reason - The key was not found.] An RS256 assertion must name its certificate by 'x5t' (SHA-1 thumbprint).",
                    ),
                    None => malformed(
                        "the header carries no certificate thumbprint ('x5t' or 'x5t#S256')",
                    ),
                });
            };
            dir.certs.iter().find(|c| c.x5t == t).ok_or_else(|| {
                invalid_client(700027, format!("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]", hex_upper(t), dir.client_id))
            })?
        }
        Algorithm::PS256 => {
            let Some(t) = header.x5t_s256.as_deref() else {
                return Err(match header.x5t {
                    Some(_) => invalid_client(
                        700027,
                        "Client assertion failed signature validation. [Reason - The key was not found.] A PS256 assertion must name its certificate by 'x5t#S256' (SHA-256 thumbprint).",
                    ),
                    None => malformed(
                        "the header carries no certificate thumbprint ('x5t' or 'x5t#S256')",
                    ),
                });
            };
            dir.certs.iter().find(|c| c.x5t_s256 == t).ok_or_else(|| {
                invalid_client(700027, format!("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]", hex_upper(t), dir.client_id))
            })?
        }
        other => {
            return Err(invalid_client(
                5002738,
                format!(
                    "Invalid JWT token. '{other:?}' is not a supported signature algorithm. Supported signing algorithms are: 'RS256, PS256'."
                ),
            ));
        }
    };
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(assertion, &cert.key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => invalid_client(
                700027,
                "Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]",
            ),
            _ => malformed("the payload cannot be read"),
        })?;
    let claims = data.claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    match claims.get("aud") {
        Some(Value::String(aud)) if aud == expected_aud => {}
        Some(aud) => {
            return Err(malformed(&format!(
                "the audience {aud} is not the token endpoint the assertion was posted to ({expected_aud})"
            )));
        }
        None => return Err(malformed("the 'aud' claim is missing")),
    }
    let iss = text("iss").ok_or_else(|| malformed("the 'iss' claim is missing"))?;
    let sub = text("sub").ok_or_else(|| malformed("the 'sub' claim is missing"))?;
    if iss != sub {
        return Err(invalid_client(
            50048,
            "Subject mismatches Issuer claim in the client assertion.",
        ));
    }
    if !iss.eq_ignore_ascii_case(client_id) {
        return Err(invalid_client(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    let now_s = time::now_ms() / SECOND;
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let exp =
        number("exp").ok_or_else(|| malformed("the 'exp' claim is missing or not a number"))?;
    let out_of_range = |why: &str| {
        invalid_client(
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, {why}.",
                time::rfc3339_millis(now_s * SECOND)
            ),
        )
    };
    if exp <= now_s {
        return Err(out_of_range(&format!(
            "expiry time of assertion {}",
            time::rfc3339_millis(exp * SECOND)
        )));
    }
    if exp > now_s + HOUR / SECOND {
        return Err(out_of_range(&format!(
            "expiry time of assertion {} is more than an hour away",
            time::rfc3339_millis(exp * SECOND)
        )));
    }
    if let Some(v) = claims.get("nbf") {
        let nbf = v
            .as_i64()
            .ok_or_else(|| malformed("the 'nbf' claim is not a number"))?;
        if nbf > now_s + 5 * MINUTE / SECOND {
            return Err(out_of_range(&format!(
                "assertion valid from {}",
                time::rfc3339_millis(nbf * SECOND)
            )));
        }
    }
    Ok(claims)
}

/// An access token issued here.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Issued {
    /// Expiry (ms since the epoch).
    exp: i64,
    /// Issue number (tokens below `tokens_revoked_below` are refused).
    generation: u64,
    audience: Audience,
    /// The index of the tenant that issued it (`None`: the workspace's directory).
    tenant: Option<usize>,
}

/// Whom an access token is for: the Management API or Azure Monitor (the Logs Ingestion receiver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    ManagementApi,
    /// Azure Monitor, from the Microsoft 365 tenant's directory.
    Monitor,
    /// Azure Monitor, from the workspace's directory ([`super::WorkspaceRegistration`]).
    WorkspaceMonitor,
    /// Microsoft Graph (Purview Audit Search).
    Graph,
}

/// The index of the tenant that issued the request's access token, if it carries a live one for the Management API.
pub(crate) fn management_bearer(shared: &Shared, headers: &HeaderMap) -> Option<usize> {
    match bearer(shared, headers)? {
        (Audience::ManagementApi, tenant) => tenant,
        _ => None,
    }
}

/// The audience of the request's access token, if it carries one that was issued here and is live.
pub(crate) fn bearer_audience(shared: &Shared, headers: &HeaderMap) -> Option<Audience> {
    bearer(shared, headers).map(|(audience, _)| audience)
}

/// The audience of the request's access token and the tenant that issued it, if it carries one that was issued
/// here and is live.
pub(crate) fn bearer(shared: &Shared, headers: &HeaderMap) -> Option<(Audience, Option<usize>)> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.trim().as_bytes());
    let inner = shared.inner();
    let issued = inner.tokens.get(digest.as_ref()).copied()?;
    (issued.exp > time::now_ms() && issued.generation >= inner.tokens_revoked_below)
        .then_some((issued.audience, issued.tenant))
}
