//! The record Ids a job has handed to its sink and not yet committed: what lets several blobs of a job await their
//! sink's acknowledgement at once without a record present in two of them going out twice.
//!
//! A blob's delivery checks the record ledger and reserves the Ids it will send in one step ([`InFlight::claim`],
//! serialized per job); a blob holding an Id another delivery has reserved waits until that delivery commits or
//! fails, then checks the ledger again. A reservation is released when its [`Claim`] is dropped: after the commit,
//! so the next check finds the Ids in the ledger, or on failure or cancellation, so the next check sends them.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::Notify;

/// The reserved Ids of one job.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    /// Serializes check-ledger → reserve.
    check: tokio::sync::Mutex<()>,
    ids: Mutex<HashSet<String>>,
    released: Notify,
}

/// The Ids one delivery reserved; dropping it releases them.
#[derive(Debug)]
pub(crate) struct Claim<'a> {
    in_flight: &'a InFlight,
    ids: Vec<String>,
}

impl InFlight {
    /// Waits until no Id of `ids` is reserved by another delivery, then runs `check` (the ledger lookup, which
    /// answers the Ids already delivered) and reserves the others. Returns `check`'s answer with the claim.
    pub(crate) async fn claim<'k, I, E, D>(
        &self,
        ids: I,
        check: impl Fn() -> Result<D, E>,
        delivered: impl Fn(&D, &str) -> bool,
    ) -> Result<(D, Claim<'_>), E>
    where
        I: Iterator<Item = &'k str> + Clone,
    {
        loop {
            // Registered before the look, so a release between the look and the wait still wakes this delivery.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let serial = self.check.lock().await;
            if self.holds_any(ids.clone()) {
                drop(serial);
                released.await;
                continue;
            }
            let answer = check()?;
            let fresh: Vec<String> = ids
                .clone()
                .filter(|id| !delivered(&answer, id))
                .map(str::to_owned)
                .collect();
            self.lock().extend(fresh.iter().cloned());
            return Ok((
                answer,
                Claim {
                    in_flight: self,
                    ids: fresh,
                },
            ));
        }
    }

    fn holds_any<'a>(&self, mut ids: impl Iterator<Item = &'a str>) -> bool {
        let held = self.lock();
        !held.is_empty() && ids.any(|id| held.contains(id))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // The set stays consistent even if a holder panicked: every operation on it is a single insert or remove.
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many Ids are reserved (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        {
            let mut held = self.in_flight.lock();
            for id in &self.ids {
                held.remove(id);
            }
        }
        self.in_flight.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn ledger(delivered: &[&str]) -> HashSet<String> {
        delivered.iter().map(|s| (*s).to_owned()).collect()
    }

    #[tokio::test]
    async fn a_claim_reserves_only_what_the_ledger_lacks_and_releases_on_drop() {
        let f = InFlight::default();
        let ids = ["a", "b", "c"];
        let (answer, claim) = f
            .claim(
                ids.iter().copied(),
                || Ok::<_, Infallible>(ledger(&["b"])),
                |d, id| d.contains(id),
            )
            .await
            .unwrap();
        assert!(answer.contains("b"));
        assert_eq!(claim.ids, vec!["a".to_owned(), "c".to_owned()]);
        assert_eq!(f.len(), 2);
        drop(claim);
        assert_eq!(f.len(), 0);
    }

    #[tokio::test]
    async fn an_overlapping_delivery_waits_and_then_sees_the_first_one_committed() {
        let f = Arc::new(InFlight::default());
        let committed = Arc::new(Mutex::new(HashSet::<String>::new()));
        let check = {
            let committed = Arc::clone(&committed);
            move || Ok::<_, Infallible>(committed.lock().unwrap().clone())
        };
        let (_, first) = f
            .claim(["x", "y"].into_iter(), check.clone(), |d, id| {
                d.contains(id)
            })
            .await
            .unwrap();
        let second = {
            let f = Arc::clone(&f);
            let check = check.clone();
            tokio::spawn(async move {
                let (seen, claim) = f
                    .claim(["y", "z"].into_iter(), check, |d, id| d.contains(id))
                    .await
                    .unwrap();
                (seen, claim.ids.clone())
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !second.is_finished(),
            "y is in flight: the second delivery waits"
        );
        // The first delivery commits, then releases.
        committed
            .lock()
            .unwrap()
            .extend(["x".to_owned(), "y".to_owned()]);
        drop(first);
        let (seen, reserved) = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("woken by the release")
            .unwrap();
        assert!(seen.contains("y"));
        assert_eq!(reserved, vec!["z".to_owned()], "y went out once");
    }

    #[tokio::test]
    async fn a_failed_delivery_releases_its_ids_for_the_next_one_to_send() {
        let f = Arc::new(InFlight::default());
        let none = || Ok::<_, Infallible>(HashSet::<String>::new());
        let (_, first) = f
            .claim(["x"].into_iter(), none, |d, id| d.contains(id))
            .await
            .unwrap();
        let second = {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                let (_, claim) = f
                    .claim(["x"].into_iter(), none, |d, id| d.contains(id))
                    .await
                    .unwrap();
                claim.ids.clone()
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first); // failed: nothing committed
        let reserved = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("woken by the release")
            .unwrap();
        assert_eq!(reserved, vec!["x".to_owned()]);
    }
}
