//! The Office 365 Management Activity API client: subscriptions, content listing with host-pinned paging, streamed
//! blob fetches, the error taxonomy, throttling and retries (management-api.md).
//!
//! One [`ApiClient`] serves one tenant. Every request goes through the tenant's shared [`Budget`], carries
//! `PublisherIdentifier` and the `User-Agent` `o365sync/<version>`, and is retried per [`RetryPolicy`]. Tokens come
//! from a [`BearerSource`] and are only ever sent to the API root's scheme, host and port.

pub mod audit_search;
pub mod bearer;
pub mod blob;
pub mod budget;
pub mod client;
pub mod clock;
pub mod error;
pub mod fetch;
pub mod listing;
pub mod retry;
pub mod subscriptions;
pub mod urls;
pub mod window;

pub use bearer::{BearerError, BearerSource};
pub use blob::{ArrayParser, BlobError, RawRecord};
pub use budget::{Budget, Budgets, DEFAULT_REQUESTS_PER_MINUTE, MAX_BURST};
pub use client::{
    ApiClient, ApiConfig, ApiStats, ClientBuildError, DEFAULT_CONCURRENCY, USER_AGENT, http_client,
};
pub use error::{ApiError, ErrorClass, GapReason, ServiceError};
pub use fetch::{BlobOutcome, Fetched, RecordSink};
pub use listing::{ContentBlob, Listing};
pub use retry::RetryPolicy;
pub use subscriptions::{START_INTERVAL, Subscription, SubscriptionAction, SubscriptionCheck};
pub use urls::{ApiRoot, UriError};
pub use window::{Clamped, Window, WindowError};
