//! The per-tenant request budget (`max_requests_per_minute`), shared by every content type and every concurrent
//! fetch of a tenant, plus a shared pause when the service says it is throttling us.
//!
//! Requests are paced by a GCRA limiter (`governor`) at `n` per minute with a burst of one second's worth capped at
//! [`MAX_BURST`] (`clamp(n/60, 1, 5)`), so in any 60-second span the client sends at most `n + 5` requests.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

/// Microsoft's documented per-tenant budget.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 2000;

/// The most requests sent at once after an idle period.
pub const MAX_BURST: u32 = 5;

/// A shared request budget for one tenant.
#[derive(Debug)]
pub struct Budget {
    limiter: DefaultDirectRateLimiter,
    per_minute: NonZeroU32,
    burst: NonZeroU32,
    paused_until: Mutex<Option<Instant>>,
    /// Purview Audit Search queries of the tenant running at once, across its jobs in the run.
    audit_queries: tokio::sync::Semaphore,
}

/// Purview Audit Search queries one tenant runs at once (Microsoft limits concurrent queries per tenant).
pub const AUDIT_QUERIES_PER_TENANT: usize = 2;

impl Budget {
    /// A slot for one Purview Audit Search query of the tenant, held while it runs and its pages are read.
    pub async fn audit_query_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed.
        self.audit_queries.acquire().await.ok()
    }

    /// A budget of `per_minute` requests per minute (0 is treated as 1).
    pub fn per_minute(per_minute: u32) -> Budget {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst =
            NonZeroU32::new((per_minute.get() / 60).min(MAX_BURST)).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_secs(60) / per_minute.get();
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        Budget {
            limiter: RateLimiter::direct(quota),
            per_minute,
            burst,
            audit_queries: tokio::sync::Semaphore::new(AUDIT_QUERIES_PER_TENANT),
            paused_until: Mutex::new(None),
        }
    }

    /// Requests per minute.
    pub fn rate(&self) -> u32 {
        self.per_minute.get()
    }

    /// Requests that may go out at once after an idle period.
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// Waits until one more request may be sent: first out any shared throttling pause, then for a budget slot.
    pub async fn acquire(&self) {
        loop {
            let until = self.paused_until.lock().map(|g| *g).unwrap_or(None);
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => break,
            }
        }
        self.limiter.until_ready().await;
    }

    /// Until when requests are held back after throttling, if a pause was ever set.
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until.lock().map(|g| *g).unwrap_or(None)
    }

    /// The service throttled us: hold every request of this tenant back for `delay`.
    pub fn pause_for(&self, delay: Duration) {
        let until = Instant::now() + delay;
        if let Ok(mut g) = self.paused_until.lock() {
            match *g {
                Some(t) if t >= until => {}
                _ => *g = Some(until),
            }
        }
    }
}

/// The budgets of one run, one per tenant, so that several jobs reading the same tenant share its budget.
#[derive(Debug, Clone, Default)]
pub struct Budgets {
    map: std::sync::Arc<Mutex<std::collections::HashMap<String, std::sync::Arc<Budget>>>>,
}

impl Budgets {
    /// No budgets yet.
    pub fn new() -> Budgets {
        Budgets::default()
    }

    /// The budget of `tenant` (case-insensitive), created at `per_minute` on first use. A later job of the same
    /// tenant asking for a different rate shares the existing budget (a warning says so).
    pub fn for_tenant(&self, tenant: &str, per_minute: u32) -> std::sync::Arc<Budget> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let budget = map
            .entry(tenant.to_ascii_lowercase())
            .or_insert_with(|| std::sync::Arc::new(Budget::per_minute(per_minute)));
        if budget.rate() != per_minute.max(1) {
            tracing::warn!(
                tenant,
                requested = per_minute,
                shared = budget.rate(),
                "jobs of one tenant ask for different max_requests_per_minute; they share the first one's budget"
            );
        }
        std::sync::Arc::clone(budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_is_one_seconds_worth_up_to_five() {
        assert_eq!(Budget::per_minute(2000).burst(), 5);
        assert_eq!(Budget::per_minute(240).burst(), 4);
        assert_eq!(Budget::per_minute(300).burst(), 5);
        assert_eq!(Budget::per_minute(30).burst(), 1);
        assert_eq!(Budget::per_minute(0).rate(), 1);
    }

    #[test]
    fn one_budget_per_tenant() {
        let budgets = Budgets::new();
        let a = budgets.for_tenant("Contoso-GUID", 300);
        let b = budgets.for_tenant("contoso-guid", 2000);
        let c = budgets.for_tenant("fabrikam", 2000);
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        assert_eq!(b.rate(), 300);
        assert!(!std::sync::Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn a_shorter_pause_never_cuts_a_longer_one() {
        let b = Budget::per_minute(6000);
        assert_eq!(b.paused_until(), None);
        b.pause_for(Duration::from_secs(30));
        let long = b.paused_until().unwrap();
        b.pause_for(Duration::from_secs(1));
        assert_eq!(b.paused_until(), Some(long));
        b.pause_for(Duration::from_secs(60));
        assert!(b.paused_until().unwrap() > long);
    }

    #[tokio::test]
    async fn acquire_waits_out_a_pause() {
        let b = Budget::per_minute(6000);
        b.pause_for(Duration::from_millis(30));
        let until = b.paused_until().unwrap();
        b.acquire().await;
        assert!(Instant::now() >= until);
    }
}
