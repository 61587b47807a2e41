//! Retry policy: a bounded number of attempts with exponential backoff and jitter (backon), `Retry-After` honoured
//! when the service sends it.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// How failed requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request in total (first try included); at least 1.
    pub max_attempts: u32,
    /// First backoff delay.
    pub min_delay: Duration,
    /// Longest backoff delay (and longest `Retry-After` honoured).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The backoff delays between attempts: `max_attempts − 1` of them, growing exponentially with jitter.
    pub fn backoff(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .build()
    }

    /// The delay before the next attempt: `Retry-After` (capped at `max_delay`) when given, else the backoff's.
    pub fn delay(&self, backoff: Duration, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(d) => d.min(self.max_delay),
            None => backoff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_bounded_and_delays_grow() {
        let p = RetryPolicy {
            max_attempts: 5,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let delays: Vec<_> = p.backoff().collect();
        assert_eq!(delays.len(), 4);
        // jitter adds up to one more base delay
        assert!(delays[0] >= Duration::from_millis(100) && delays[0] <= Duration::from_millis(200));
        assert!(delays[3] >= Duration::from_millis(800));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)));
        assert_eq!(
            p.delay(Duration::from_millis(5), Some(Duration::from_secs(3))),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.delay(Duration::from_millis(5), None),
            Duration::from_millis(5)
        );
        assert_eq!(
            RetryPolicy {
                max_attempts: 1,
                ..p
            }
            .backoff()
            .count(),
            0
        );
    }
}
