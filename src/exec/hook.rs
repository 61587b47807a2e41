//! A test-only pause point, so crash tests can SIGKILL the binary at an exact step of the commit protocol.
//!
//! With `O365SYNC_TEST_PAUSE_AT=ack:N` (or `commit:N`, `listed:N`, `polled:N`, `paged:N`) and `O365SYNC_TEST_PAUSE_FILE=PATH`, the process creates
//! `PATH` when it reaches the N-th sink acknowledgement (before its ledger commit) the N-th ledger commit or the N-th window listing entered into the ledger, then
//! stops in place until it is killed. Without both variables this costs one relaxed atomic load per blob.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// A step of the commit protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    /// A window's listing was entered into the content ledger.
    Listed,
    /// The sink acknowledged a durable write; the blob is not committed yet.
    Ack,
    /// The blob is committed in the state.
    Commit,
    /// An Audit Search query was polled and had not finished (its ID is in the state).
    Polled,
    /// An Audit Search page was delivered and committed; the query's next link is not saved yet.
    Paged,
}

struct Pause {
    point: Point,
    nth: u64,
    file: PathBuf,
    seen: AtomicU64,
}

fn pause() -> Option<&'static Pause> {
    static PAUSE: OnceLock<Option<Pause>> = OnceLock::new();
    PAUSE
        .get_or_init(|| {
            let at = std::env::var("O365SYNC_TEST_PAUSE_AT").ok()?;
            let file = std::env::var_os("O365SYNC_TEST_PAUSE_FILE")?;
            let (point, nth) = at.split_once(':')?;
            let point = match point {
                "listed" => Point::Listed,
                "ack" => Point::Ack,
                "commit" => Point::Commit,
                "polled" => Point::Polled,
                "paged" => Point::Paged,
                _ => return None,
            };
            Some(Pause {
                point,
                nth: nth.parse().ok()?,
                file: file.into(),
                seen: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Notes that `point` was reached; pauses the process for good when it is the configured one.
pub(crate) fn reached(point: Point) {
    let Some(p) = pause() else { return };
    if p.point != point {
        return;
    }
    if p.seen.fetch_add(1, Ordering::SeqCst) + 1 == p.nth {
        let _ = std::fs::write(&p.file, format!("{point:?}:{}\n", p.nth));
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
