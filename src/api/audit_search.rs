//! Microsoft Purview Audit Search through Microsoft Graph: the unified audit log beyond the Management API's 7 days
//! (audit-search.md). An asynchronous search: [`AuditSearch::create`] a query for a time range,
//! [`AuditSearch::status`] until it has run, then [`AuditSearch::page`] through its records following
//! `@odata.nextLink`, which must stay on the Graph host the job named (the token never goes anywhere else).
//!
//! Every call is retried on 429 (honouring `Retry-After`), 5xx and network failures, with backoff; a 401 refreshes
//! the token once; a 403 is the missing `AuditLogsQuery.Read.All` permission, said as such.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use super::client::retry_after;
use super::retry::RetryPolicy;
use crate::auth::TokenProvider;

/// Where a query stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryStatus {
    /// Accepted, not running yet.
    NotStarted,
    /// Running.
    Running,
    /// Done: its records can be read.
    Succeeded,
    /// Ended without records (`failed` or `cancelled`).
    Failed(String),
}

impl QueryStatus {
    fn parse(s: &str) -> QueryStatus {
        match s {
            "notStarted" => QueryStatus::NotStarted,
            "running" => QueryStatus::Running,
            "succeeded" => QueryStatus::Succeeded,
            other => QueryStatus::Failed(other.to_owned()),
        }
    }
}

/// One page of a query's records.
#[derive(Debug)]
pub struct Page {
    /// Graph's `auditLogRecord` objects.
    pub records: Vec<Value>,
    /// The next page, when there is one.
    pub next: Option<Url>,
}

/// Why an Audit Search call failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// 403: the app registration lacks the permission.
    #[error(
        "audit search refused the job's app registration ({detail}): grant the Microsoft Graph application permission AuditLogsQuery.Read.All (or the per-service AuditLogsQuery-….Read.All ones) with admin consent"
    )]
    Permission {
        /// The service's answer.
        detail: String,
    },
    /// 404 for a query: it is gone (expired or never existed); create it again.
    #[error("audit search no longer knows query {id}: it is created again")]
    QueryGone {
        /// The query ID.
        id: String,
    },
    /// A `@odata.nextLink` to another host than the Graph host.
    #[error(
        "audit search sent a next link to another host ({host}); the token is only sent to {expected}"
    )]
    ForeignLink {
        /// The host named by the link.
        host: String,
        /// The Graph host.
        expected: String,
    },
    /// No token.
    #[error("audit search: {0}")]
    Token(String),
    /// A refusal that is not retried, or attempts used up.
    #[error("audit search: {operation} failed: {detail}")]
    Failed {
        /// What was being done.
        operation: &'static str,
        /// The last answer or failure.
        detail: String,
    },
}

impl SearchError {
    /// Whether the job must stop (no permission, no token) rather than record a gap for one window.
    pub fn is_fatal(&self) -> bool {
        matches!(self, SearchError::Permission { .. } | SearchError::Token(_))
    }
}

/// A client of one tenant's Audit Search.
pub struct AuditSearch {
    http: reqwest::Client,
    root: Url,
    tokens: TokenProvider,
    retry: RetryPolicy,
    requests: std::sync::atomic::AtomicU64,
    throttled: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for AuditSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSearch")
            .field("root", &self.root.as_str())
            .finish_non_exhaustive()
    }
}

impl AuditSearch {
    /// A client of the Audit Search at `root` (`…/v1.0/security/auditLog/`), with tokens for Graph's scope.
    pub fn new(root: Url, tokens: TokenProvider, retry: RetryPolicy) -> Result<Self, SearchError> {
        let http = reqwest::Client::builder()
            .user_agent(super::USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| SearchError::Failed {
                operation: "building the http client",
                detail: e.to_string(),
            })?;
        Ok(AuditSearch {
            http,
            root,
            tokens,
            retry,
            requests: Default::default(),
            throttled: Default::default(),
        })
    }

    /// Requests sent and answered 429.
    pub fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.requests.load(Relaxed), self.throttled.load(Relaxed))
    }

    /// Creates a query for records created in `[from, to)`; returns its ID.
    pub async fn create(
        &self,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
        display_name: &str,
    ) -> Result<String, SearchError> {
        let url = self.url("queries")?;
        let body = json!({
            "displayName": display_name,
            "filterStartDateTime": from.to_string(),
            "filterEndDateTime": to.to_string(),
        });
        let v = self
            .call("creating a query", &url, Some(&body), None)
            .await?;
        v.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| SearchError::Failed {
                operation: "creating a query",
                detail: "the answer carries no query id".to_owned(),
            })
    }

    /// The status of query `id`.
    pub async fn status(&self, id: &str) -> Result<QueryStatus, SearchError> {
        let url = self.url(&format!("queries/{id}"))?;
        let v = self.call("polling a query", &url, None, Some(id)).await?;
        Ok(QueryStatus::parse(
            v.get("status").and_then(Value::as_str).unwrap_or_default(),
        ))
    }

    /// The first page of query `id`'s records, or the page at `next` (a link a previous page gave).
    pub async fn page(&self, id: &str, next: Option<&str>) -> Result<Page, SearchError> {
        let url = match next {
            Some(link) => self.on_graph_host(link)?,
            None => self.url(&format!("queries/{id}/records"))?,
        };
        let mut v = self
            .call("reading query records", &url, None, Some(id))
            .await?;
        let records = match v.get_mut("value").map(Value::take) {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let next = match v.get("@odata.nextLink").and_then(Value::as_str) {
            Some(link) => Some(self.on_graph_host(link)?),
            None => None,
        };
        Ok(Page { records, next })
    }

    fn url(&self, path: &str) -> Result<Url, SearchError> {
        self.root.join(path).map_err(|e| SearchError::Failed {
            operation: "building a url",
            detail: e.to_string(),
        })
    }

    /// A next link, accepted only on the Graph host (scheme, host and port) the job named.
    fn on_graph_host(&self, link: &str) -> Result<Url, SearchError> {
        let url = Url::parse(link).map_err(|e| SearchError::Failed {
            operation: "following a next link",
            detail: format!("not a url: {e}"),
        })?;
        if url.origin() != self.root.origin() {
            return Err(SearchError::ForeignLink {
                host: crate::cloud::host_of(&url),
                expected: crate::cloud::host_of(&self.root),
            });
        }
        Ok(url)
    }

    /// One logical call: retried on 429, 5xx and network failures; the token refreshed once on 401.
    async fn call(
        &self,
        operation: &'static str,
        url: &Url,
        body: Option<&Value>,
        query: Option<&str>,
    ) -> Result<Value, SearchError> {
        use std::sync::atomic::Ordering::Relaxed;
        let mut backoff = self.retry.backoff();
        let mut refreshed = false;
        loop {
            let token = self
                .tokens
                .token()
                .await
                .map_err(|e| SearchError::Token(e.to_string()))?;
            let Some(authorization) = token.authorization() else {
                return Err(SearchError::Token(
                    "the access token cannot be sent as a header".to_owned(),
                ));
            };
            let req = match body {
                Some(b) => self.http.post(url.clone()).json(b),
                None => self.http.get(url.clone()),
            };
            self.requests.fetch_add(1, Relaxed);
            let (status, retry, text) = match req
                .header(reqwest::header::AUTHORIZATION, authorization)
                .send()
                .await
            {
                Ok(resp) => {
                    let status = resp.status();
                    let retry = retry_after(resp.headers());
                    match resp.bytes().await {
                        Ok(b) if status.is_success() => {
                            return serde_json::from_slice(&b).map_err(|e| SearchError::Failed {
                                operation,
                                detail: format!("the answer is not json: {e}"),
                            });
                        }
                        Ok(b) => (
                            Some(status),
                            retry,
                            String::from_utf8_lossy(&b).into_owned(),
                        ),
                        Err(e) => (
                            None,
                            None,
                            format!("reading the answer failed: {}", e.without_url()),
                        ),
                    }
                }
                Err(e) => (None, None, format!("request failed: {}", e.without_url())),
            };
            let excerpt = super::error::sanitize(&text);
            match status {
                Some(StatusCode::UNAUTHORIZED) if !refreshed => {
                    refreshed = true;
                    self.tokens.invalidate(&token).await;
                    continue;
                }
                Some(StatusCode::UNAUTHORIZED) => {
                    return Err(SearchError::Token(format!(
                        "Microsoft Graph rejected a fresh access token ({excerpt}); check that the job's cloud has \
                         Audit Search and that `endpoints.graph` names its Graph host"
                    )));
                }
                Some(StatusCode::FORBIDDEN) => {
                    return Err(SearchError::Permission { detail: excerpt });
                }
                Some(StatusCode::NOT_FOUND) if query.is_some() => {
                    return Err(SearchError::QueryGone {
                        id: query.unwrap_or_default().to_owned(),
                    });
                }
                Some(StatusCode::TOO_MANY_REQUESTS) => {
                    self.throttled.fetch_add(1, Relaxed);
                }
                Some(s) if s.is_server_error() => {}
                None => {}
                Some(s) => {
                    return Err(SearchError::Failed {
                        operation,
                        detail: format!("HTTP {s}: {excerpt}"),
                    });
                }
            }
            let Some(delay) = backoff.next() else {
                return Err(SearchError::Failed {
                    operation,
                    detail: format!("attempts used up; last answer: {excerpt}"),
                });
            };
            tokio::time::sleep(self.retry.delay(delay, retry)).await;
        }
    }
}

/// The Management API's record inside a Graph `auditLogRecord`: its `auditData` without OData annotations, and with
/// `CreationTime` as the Management API writes it (without the `Z` Graph appends). `None` for a record without
/// `auditData`.
pub fn management_record(rec: Value) -> Option<serde_json::Map<String, Value>> {
    let Value::Object(mut outer) = rec else {
        return None;
    };
    let Some(Value::Object(data)) = outer.remove("auditData") else {
        return None;
    };
    let mut out = serde_json::Map::with_capacity(data.len());
    for (k, mut v) in data {
        if k.starts_with("@odata.") || k.ends_with("@odata.type") {
            continue;
        }
        if k.eq_ignore_ascii_case("CreationTime")
            && let Value::String(s) = &mut v
            && s.len() >= 20
            && s.ends_with('Z')
            && s.as_bytes().get(10) == Some(&b'T')
            && !s[..s.len() - 1].contains(['+', 'z'])
        {
            s.pop();
        }
        out.insert(k, v);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_management_record_loses_only_the_transport_artefacts() {
        let rec = serde_json::json!({
            "id": "a", "createdDateTime": "2026-11-20T10:00:00Z",
            "auditData": {
                "@odata.type": "#microsoft.graph.security.defaultAuditData",
                "Id": "a", "CreationTime": "2026-11-20T10:00:00Z", "RecordType": 15,
                "RecordType@odata.type": "#Int64", "Workload": "AzureActiveDirectory"
            }
        });
        let m = management_record(rec).unwrap();
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"Id": "a", "CreationTime": "2026-11-20T10:00:00", "RecordType": 15, "Workload": "AzureActiveDirectory"})
        );
        assert!(management_record(serde_json::json!({"id": "x"})).is_none());
    }
}
