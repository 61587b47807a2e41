//! Subscriptions: list first, start only what is missing or disabled, AF20024 is success, and never two start
//! requests for one content type within 15 minutes. The time of the last start is an input and an output: the
//! state module persists it so separate runs respect the rule.

use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde::Deserialize;

use crate::api::bearer::BearerSource;
use crate::api::client::{ApiClient, Failure};
use crate::api::error::{ApiError, ErrorClass};
use crate::api::listing::{Listing, read_body};
use crate::api::window::Window;
use crate::content_type::ContentType;

/// Microsoft's minimum interval between two start requests.
pub const START_INTERVAL: SignedDuration = SignedDuration::from_mins(15);

/// One entry of `subscriptions/list`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// The content type as the service spelled it.
    pub content_type: String,
    /// `enabled` or `disabled`.
    #[serde(default)]
    pub status: String,
}

impl Subscription {
    /// Whether the subscription is enabled (case-insensitive).
    pub fn is_enabled(&self) -> bool {
        self.status.eq_ignore_ascii_case("enabled")
    }
}

/// What was done about one content type's subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionAction {
    /// Listed as enabled: nothing to do.
    Enabled,
    /// A start request created or re-enabled it; first content can take up to 12 hours.
    Started,
    /// A start request answered AF20024 (already enabled).
    AlreadyEnabled,
    /// Missing or disabled, but a start was sent less than 15 minutes ago: the next one is allowed at this time.
    Deferred {
        /// Earliest time of the next start request.
        next_allowed: Timestamp,
    },
}

/// The result for one content type, with the last-start time to persist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionCheck {
    /// The content type.
    pub content_type: ContentType,
    /// What was done.
    pub action: SubscriptionAction,
    /// The time of the last start request, including one sent now: store it.
    pub last_start: Option<Timestamp>,
}

/// When the next start request is allowed, or `None` if it is allowed at `now`.
pub fn next_start_allowed(last_start: Option<Timestamp>, now: Timestamp) -> Option<Timestamp> {
    let next = last_start?.checked_add(START_INTERVAL).ok()?;
    (next > now).then_some(next)
}

impl<B: BearerSource> ApiClient<B> {
    /// `GET subscriptions/list`.
    pub async fn list_subscriptions(&self) -> Result<Vec<Subscription>, ApiError> {
        let url = self.root().list_subscriptions();
        self.with_retry(|| async {
            let resp = self.attempt(Method::GET, &url).await?;
            let body = read_body(resp, 1024 * 1024).await?;
            serde_json::from_slice::<Vec<Subscription>>(&body).map_err(|e| {
                self.count_bad_body();
                Failure::Body(format!(
                    "the subscription list is not a JSON array of subscriptions: {e}"
                ))
            })
        })
        .await
        .map_err(|f| f.into_api_error("listing subscriptions", None))
    }

    /// Sends a start request now if the 15-minute rule allows it (`Deferred` otherwise). AF20024 counts as success.
    pub async fn start_subscription(
        &self,
        content_type: ContentType,
        last_start: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<SubscriptionCheck, ApiError> {
        if let Some(next_allowed) = next_start_allowed(last_start, now) {
            return Ok(SubscriptionCheck {
                content_type,
                action: SubscriptionAction::Deferred { next_allowed },
                last_start,
            });
        }
        let operation = format!("starting the {content_type} subscription");
        let url = self.root().start_subscription(content_type);
        let result = self
            .with_retry(|| async {
                let resp = self.attempt(Method::POST, &url).await?;
                // the body ({"contentType","status","webhook"}) carries nothing we need
                let _ = read_body(resp, 1024 * 1024).await;
                Ok(())
            })
            .await;
        let action = match result {
            Ok(()) => {
                tracing::warn!(
                    %content_type,
                    "started the {content_type} subscription: its first content can take up to 12 hours to appear"
                );
                SubscriptionAction::Started
            }
            Err(Failure::Service(e)) if e.class() == ErrorClass::AlreadyEnabled => {
                SubscriptionAction::AlreadyEnabled
            }
            Err(f) => return Err(f.into_api_error(&operation, None)),
        };
        Ok(SubscriptionCheck {
            content_type,
            action,
            last_start: Some(now),
        })
    }

    /// Lists the subscriptions once, then starts each wanted content type that is missing or disabled, respecting
    /// its last start time. Returns one check per wanted content type, in order.
    pub async fn ensure_subscriptions(
        &self,
        wanted: &[(ContentType, Option<Timestamp>)],
        now: Timestamp,
    ) -> Result<Vec<SubscriptionCheck>, ApiError> {
        let listed = self.list_subscriptions().await?;
        let mut checks = Vec::with_capacity(wanted.len());
        for &(content_type, last_start) in wanted {
            let enabled = listed.iter().any(|s| {
                s.content_type.eq_ignore_ascii_case(content_type.as_str()) && s.is_enabled()
            });
            if enabled {
                checks.push(SubscriptionCheck {
                    content_type,
                    action: SubscriptionAction::Enabled,
                    last_start,
                });
            } else {
                checks.push(
                    self.start_subscription(content_type, last_start, now)
                        .await?,
                );
            }
        }
        Ok(checks)
    }

    /// Lists a window; on AF20022/AF20023 starts the subscription (when the 15-minute rule allows) and lists once
    /// more. `last_start` is read and updated in place: persist it afterwards.
    pub async fn list_content_subscribing(
        &self,
        content_type: ContentType,
        window: Window,
        last_start: &mut Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Listing, ApiError> {
        match self.list_content(content_type, window).await {
            Err(ApiError::NotSubscribed {
                operation, detail, ..
            }) => {
                let check = self
                    .start_subscription(content_type, *last_start, now)
                    .await?;
                *last_start = check.last_start;
                if let SubscriptionAction::Deferred { next_allowed } = check.action {
                    return Err(ApiError::NotSubscribed {
                        operation,
                        content_type,
                        detail: format!(
                            "{detail}; a start was already sent at {}, the next is allowed at {next_allowed}",
                            last_start.map(|t| t.to_string()).unwrap_or_default()
                        ),
                    });
                }
                self.list_content(content_type, window).await
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifteen_minute_rule() {
        let now: Timestamp = "2026-11-26T22:30:00Z".parse().unwrap();
        assert_eq!(next_start_allowed(None, now), None);
        let last: Timestamp = "2026-11-26T22:20:00Z".parse().unwrap();
        assert_eq!(
            next_start_allowed(Some(last), now),
            Some("2026-11-26T22:35:00Z".parse().unwrap())
        );
        let last: Timestamp = "2026-11-26T22:15:00Z".parse().unwrap();
        assert_eq!(next_start_allowed(Some(last), now), None);
    }

    #[test]
    fn subscription_list_parses() {
        let subs: Vec<Subscription> = serde_json::from_str(
            r#"[{"contentType":"Audit.Exchange","status":"enabled","webhook":null},
                {"contentType":"Audit.General","status":"Disabled","webhook":{"address":"x"}}]"#,
        )
        .unwrap();
        assert!(subs[0].is_enabled());
        assert!(!subs[1].is_enabled());
    }
}
