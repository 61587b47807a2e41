//! Listing a window's content: one call per window, `NextPageUri` followed to the end on the pinned origin, page
//! loops detected, the window listed afresh on AF20031, blobs listed twice kept once.

use std::collections::HashSet;

use jiff::Timestamp;
use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};

use crate::api::bearer::BearerSource;
use crate::api::client::{ApiClient, Failure, next_page_header};
use crate::api::error::{ApiError, ErrorClass};
use crate::api::window::Window;
use crate::content_type::ContentType;

/// How many times a window is listed afresh after AF20031 before giving up.
pub const MAX_RELISTS: u32 = 3;

/// Pages followed at most in one listing (a safety net beyond loop detection).
pub const MAX_PAGES: usize = 100_000;

/// Largest listing page body read.
const MAX_PAGE_BYTES: usize = 256 * 1024 * 1024;

/// One available content blob, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlob {
    /// The content type as the service spelled it.
    #[serde(default)]
    pub content_type: String,
    /// Opaque ID (contains `$`); the ledger key.
    pub content_id: String,
    /// Where to fetch it (must be on the API origin).
    pub content_uri: String,
    /// When the blob became available (the listing filter), if parseable.
    #[serde(default, deserialize_with = "lenient_time")]
    pub content_created: Option<Timestamp>,
    /// When the blob stops being fetchable, if parseable.
    #[serde(default, deserialize_with = "lenient_time")]
    pub content_expiration: Option<Timestamp>,
}

impl ContentBlob {
    /// Whether the blob is past its expiration at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.content_expiration.is_some_and(|e| e <= now)
    }
}

/// Accepts RFC 3339 with an offset, or a zone-less date-time read as UTC; anything else becomes `None`.
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.and_then(|s| parse_time(&s)))
}

pub(crate) fn parse_time(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok().or_else(|| {
        s.parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|dt| jiff::tz::TimeZone::UTC.to_timestamp(dt).ok())
    })
}

/// The complete listing of one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The window listed (the requested one, its start clamped to the retention limit).
    pub window: Window,
    /// The older part of the requested window that lay beyond the retention limit and was not listed: a gap to
    /// record, `[requested start, window.start)`.
    pub cut: Option<(Timestamp, Timestamp)>,
    /// Every distinct blob, in listing order.
    pub blobs: Vec<ContentBlob>,
    /// Pages read (over all fresh listings).
    pub pages: usize,
    /// Entries dropped because their `contentId` was already listed.
    pub duplicates: usize,
    /// Fresh listings after AF20031.
    pub relists: u32,
}

impl<B: BearerSource> ApiClient<B> {
    /// Lists every blob of `content_type` whose `contentCreated` lies in `window`. Succeeds only when the last page
    /// was reached: any error means the window is not complete.
    ///
    /// The window's start is first clamped to the retention limit (`now − 167h55m`, with `now` corrected by the clock
    /// skew seen in `Date` headers); the part cut off is reported in [`Listing::cut`], and a window entirely beyond
    /// the limit is an [`ApiError::Window`] error, never an empty listing.
    pub async fn list_content(
        &self,
        content_type: ContentType,
        window: Window,
    ) -> Result<Listing, ApiError> {
        let operation = format!("listing {content_type} {window}");
        let clamped =
            Window::clamped(window.start(), window.end(), self.server_now()).map_err(|error| {
                ApiError::Window {
                    operation: operation.clone(),
                    error,
                }
            })?;
        let window = clamped.window;
        let mut listing = Listing {
            window,
            cut: clamped.cut,
            blobs: Vec::new(),
            pages: 0,
            duplicates: 0,
            relists: 0,
        };
        let mut ids: HashSet<String> = HashSet::new();
        'fresh: loop {
            let mut url = self.root().list_content(content_type, &window);
            let mut visited: HashSet<String> = HashSet::from([url.to_string()]);
            let mut page_no = 0usize;
            loop {
                page_no += 1;
                let page = self.with_retry(|| self.list_page(&url)).await;
                let (blobs, next) = match page {
                    Ok(p) => p,
                    Err(Failure::Service(e)) if e.class() == ErrorClass::InvalidNextPage => {
                        if listing.relists >= MAX_RELISTS {
                            return Err(ApiError::StaleNextPage {
                                operation,
                                relists: listing.relists,
                            });
                        }
                        listing.relists += 1;
                        tracing::info!(%content_type, %window, "stale next-page link (AF20031): listing the window afresh");
                        continue 'fresh;
                    }
                    Err(f) => return Err(f.into_api_error(&operation, Some(content_type))),
                };
                listing.pages += 1;
                for blob in blobs {
                    if ids.insert(blob.content_id.clone()) {
                        listing.blobs.push(blob);
                    } else {
                        listing.duplicates += 1;
                    }
                }
                let Some(next) = next else {
                    return Ok(listing);
                };
                url = self.root().pin(&next).map_err(|error| ApiError::Uri {
                    operation: operation.clone(),
                    error,
                })?;
                if !visited.insert(url.to_string()) || page_no >= MAX_PAGES {
                    return Err(ApiError::PageLoop {
                        operation,
                        page: page_no,
                    });
                }
            }
        }
    }

    /// One page: the blobs and the raw next-page URI.
    async fn list_page(
        &self,
        url: &url::Url,
    ) -> Result<(Vec<ContentBlob>, Option<String>), Failure> {
        let resp = self.attempt(Method::GET, url).await?;
        let next = next_page_header(resp.headers());
        let body = read_body(resp, MAX_PAGE_BYTES)
            .await
            .inspect_err(|_| self.count_bad_body())?;
        let blobs: Vec<ContentBlob> = serde_json::from_slice(&body).map_err(|e| {
            self.count_bad_body();
            Failure::Body(format!(
                "the content listing is not a valid JSON array of blobs: {e}"
            ))
        })?;
        Ok((blobs, next))
    }
}

/// Reads a whole (small) body; a connection dropped mid-body is a transient failure.
pub(crate) async fn read_body(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() + c.len() > limit {
                    return Err(Failure::Body(format!(
                        "response body larger than {limit} bytes"
                    )));
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(out),
            Err(e) => {
                return Err(Failure::Transport(format!(
                    "reading the response failed: {}",
                    e.without_url()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_entries_parse_leniently() {
        let body = r#"[
          {"contentType":"Audit.Exchange","contentId":"20200705152230936019353$20200705152411486034089$audit_exchange$Audit_Exchange$emea0036",
           "contentUri":"https://manage.office.com/api/v1.0/t/activity/feed/audit/20200705152230936019353$x",
           "contentCreated":"2020-07-05T15:24:11.486Z","contentExpiration":"2020-07-12T15:22:30.936Z"},
          {"contentId":"b","contentUri":"u","contentCreated":"2020-07-05T15:24:11","contentExpiration":"soon"}
        ]"#;
        let blobs: Vec<ContentBlob> = serde_json::from_str(body).unwrap();
        assert_eq!(
            blobs[0].content_created,
            Some("2020-07-05T15:24:11.486Z".parse().unwrap())
        );
        assert_eq!(
            blobs[1].content_created,
            Some("2020-07-05T15:24:11Z".parse().unwrap())
        );
        assert_eq!(blobs[1].content_expiration, None);
        assert!(blobs[0].is_expired("2020-07-12T15:22:30.936Z".parse().unwrap()));
        assert!(!blobs[1].is_expired("2030-01-01T00:00:00Z".parse().unwrap()));
    }
}
