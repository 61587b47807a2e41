//! The pure window planner: from a content type's checkpoint and the clock reading the caller passes in, the exact
//! half-open `[start, end)` windows of `contentCreated` to list next.
//!
//! No I/O and no clock: the caller passes `now`, so a plan is a deterministic function of its input. Every window the
//! planner returns is valid for the Management Activity API (management-api.md §2): whole seconds, `start < end`,
//! at most 24 h (and at most the job's `window`) long, never older than the retention limit (`now − 167h55m`) and never
//! in the future.
//!
//! Live planning ([`plan_live`]) covers, in slices cut at multiples of `window` (so hourly windows are clock hours):
//! - everything from the origin (the watermark, or on the first run the job's start) up to `now` that is not inside a
//!   completed window, and
//! - the `lookback` before the frontier (the end of the completed run that begins at the origin), re-listed for late
//!   content; the caller skips content IDs its ledger already holds.
//!
//! Unsynced time that fell out of retention becomes a [`PlanReport::gaps`] entry, never silently skipped. On the first
//! run a `start` older than retention is clamped to the retention limit (the API cannot serve it; nothing was ever
//! promised before the first run), reported in [`PlanReport::clamped_start`] rather than as a gap.
//!
//! Backfill planning ([`plan_backfill`]) covers a `[from, to)` range against its own progress, never the watermark.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// How far back the API serves content: 7 days less five minutes of safety (Elastic's proven `167h55m`).
pub const RETENTION: SignedDuration = SignedDuration::from_secs(167 * 3600 + 55 * 60);
/// The API's longest listing window.
pub const MAX_WINDOW: SignedDuration = SignedDuration::from_hours(24);
/// The shortest window a job may configure.
pub const MIN_WINDOW: SignedDuration = SignedDuration::from_mins(1);

/// A half-open interval `[start, end)` of `contentCreated` instants, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Window {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
}

impl Window {
    /// A window from its bounds (no checks; see [`Window::is_empty`]).
    pub fn new(start: Timestamp, end: Timestamp) -> Window {
        Window { start, end }
    }

    /// True when the window contains no instant (`start >= end`).
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// The window's length (zero when empty).
    pub fn len(&self) -> SignedDuration {
        if self.is_empty() {
            SignedDuration::ZERO
        } else {
            self.end.duration_since(self.start)
        }
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

/// The input of live planning for one (job, content type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveInput<'a> {
    /// The clock reading of this run (truncated to whole seconds).
    pub now: Timestamp,
    /// The exclusive upper bound of fully complete time, or `None` before the first completed run.
    pub watermark: Option<Timestamp>,
    /// Windows already completed, in any order, possibly overlapping (they are merged).
    pub completed: &'a [Window],
    /// The job's first-run start as an instant (`now − sync.start`, or the configured instant).
    pub start: Timestamp,
    /// The job's listing window (clamped to 1 s ..= 24 h).
    pub window: SignedDuration,
    /// How much before the frontier to re-list for late content (negative counts as zero).
    pub lookback: SignedDuration,
}

/// What live planning decided, with the reasons a reader of `plan` needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanReport {
    /// `now`, truncated to whole seconds.
    pub now: Timestamp,
    /// The oldest instant the API still serves: `now − 167h55m`.
    pub retention_floor: Timestamp,
    /// Where unsynced time begins: the watermark, or the (clamped) start on the first run.
    pub origin: Timestamp,
    /// On the first run, the configured start when it was older than retention and got clamped.
    pub clamped_start: Option<Timestamp>,
    /// The end of the completed run beginning at the origin; the lookback is measured back from here.
    pub frontier: Timestamp,
    /// The windows to list, sorted, disjoint, each valid for the API.
    pub windows: Vec<Window>,
    /// Unsynced time that fell out of retention: data that can no longer be read (record these as gaps).
    pub gaps: Vec<Window>,
}

/// The input of backfill planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillInput<'a> {
    /// The clock reading of this run.
    pub now: Timestamp,
    /// Inclusive start of the requested range.
    pub from: Timestamp,
    /// Exclusive end of the requested range.
    pub to: Timestamp,
    /// Windows of this backfill already completed (its own progress, never the live watermark).
    pub completed: &'a [Window],
    /// The job's listing window (clamped to 1 s ..= 24 h).
    pub window: SignedDuration,
}

/// What backfill planning decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackfillPlan {
    /// `now`, truncated to whole seconds.
    pub now: Timestamp,
    /// The oldest instant the API still serves.
    pub retention_floor: Timestamp,
    /// The part of the range older than retention: unreadable (refuse, or record as a gap).
    pub unavailable: Option<Window>,
    /// The part of the range in the future, which is left out.
    pub future: Option<Window>,
    /// The windows still to list, sorted, disjoint, each valid for the API.
    pub windows: Vec<Window>,
}

/// A backfill range that cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// `from` is not before `to`.
    #[error(
        "backfill range is empty: --from {from} is not before --to {to}; give an earlier --from or a later --to"
    )]
    EmptyRange {
        /// Requested start.
        from: Timestamp,
        /// Requested end.
        to: Timestamp,
    },
}

/// Plans the next live run of one content type.
pub fn plan_live(input: &LiveInput<'_>) -> PlanReport {
    let now = secs(input.now);
    let floor = now.saturating_sub(RETENTION.as_secs());
    let step = step_secs(input.window);
    let lookback = input.lookback.as_secs().max(0);
    let completed = merge_secs(input.completed);

    let first_run = input.watermark.is_none();
    let configured = match input.watermark {
        Some(w) => secs(w),
        None => secs(input.start),
    };
    // The first run cannot reach past retention: clamp (and say so) instead of asking the API for the impossible.
    let (origin, clamped_start) = if first_run && configured < floor {
        (floor, Some(configured))
    } else {
        (configured, None)
    };
    let frontier = advance_secs(origin, &completed);

    // Everything from the origin to now that no completed window covers must be listed (or is a gap).
    let uncovered = subtract(&[(origin, now)], &completed);
    // The lookback before the frontier is re-listed even though complete; on the first run never before the start.
    let lookback_floor = if first_run { origin } else { i64::MIN };
    let relist = (
        frontier.saturating_sub(lookback).max(lookback_floor),
        frontier.min(now),
    );

    let mut wanted = uncovered.clone();
    wanted.push(relist);
    let wanted = merge_pairs(wanted);
    let listable = intersect(&wanted, (floor, now));

    let gaps = if first_run {
        Vec::new()
    } else {
        intersect(&uncovered, (i64::MIN, floor))
    };

    PlanReport {
        now: ts(now),
        retention_floor: ts(floor),
        origin: ts(origin),
        clamped_start: clamped_start.map(ts),
        frontier: ts(frontier),
        windows: slice(&listable, step),
        gaps: gaps.into_iter().map(window).collect(),
    }
}

/// Plans a backfill of `[from, to)` against its own progress.
pub fn plan_backfill(input: &BackfillInput<'_>) -> Result<BackfillPlan, PlanError> {
    let now = secs(input.now);
    let floor = now.saturating_sub(RETENTION.as_secs());
    let (from, to) = (secs(input.from), secs(input.to));
    if from >= to {
        return Err(PlanError::EmptyRange {
            from: input.from,
            to: input.to,
        });
    }
    let step = step_secs(input.window);
    let completed = merge_secs(input.completed);
    let unavailable = intersect(&[(from, to)], (i64::MIN, floor));
    let future = intersect(&[(from, to)], (now, i64::MAX));
    let todo = subtract(&intersect(&[(from, to)], (floor, now)), &completed);
    Ok(BackfillPlan {
        now: ts(now),
        retention_floor: ts(floor),
        unavailable: unavailable.first().copied().map(window),
        future: future.first().copied().map(window),
        windows: slice(&todo, step),
    })
}

/// Merges windows into a sorted list of disjoint, non-touching windows (empty ones dropped).
pub fn merge(windows: &[Window]) -> Vec<Window> {
    merge_secs(windows).into_iter().map(window).collect()
}

/// The watermark after `completed`: the end of the run of completed windows that begins at or before `watermark`
/// and covers it without a hole. The executor advances the watermark to this value after completing windows, passing
/// the completed windows together with the gaps it recorded (a recorded gap is terminal).
pub fn advance(watermark: Timestamp, completed: &[Window]) -> Timestamp {
    ts(advance_secs(secs(watermark), &merge_secs(completed)))
}

/// The retention floor for a clock reading: the oldest instant the API still serves.
pub fn retention_floor(now: Timestamp) -> Timestamp {
    ts(secs(now).saturating_sub(RETENTION.as_secs()))
}

// --- whole-second interval arithmetic (total: no panics, saturating at the ends of time) ---

type Pair = (i64, i64);

/// Whole seconds, rounded down (the API takes second precision; flooring keeps half-open bounds consistent).
fn secs(t: Timestamp) -> i64 {
    let s = t.as_second();
    if t.subsec_nanosecond() < 0 { s - 1 } else { s }
}

fn ts(s: i64) -> Timestamp {
    let clamped = s.clamp(Timestamp::MIN.as_second() + 1, Timestamp::MAX.as_second());
    Timestamp::from_second(clamped).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn window((start, end): Pair) -> Window {
    Window::new(ts(start), ts(end))
}

fn step_secs(window: SignedDuration) -> i64 {
    window.as_secs().clamp(1, MAX_WINDOW.as_secs())
}

fn merge_secs(windows: &[Window]) -> Vec<Pair> {
    merge_pairs(
        windows
            .iter()
            .map(|w| (secs(w.start), secs(w.end)))
            .collect(),
    )
}

fn merge_pairs(mut pairs: Vec<Pair>) -> Vec<Pair> {
    pairs.retain(|(s, e)| s < e);
    pairs.sort_unstable();
    let mut out: Vec<Pair> = Vec::with_capacity(pairs.len());
    for (s, e) in pairs {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

fn advance_secs(mut mark: i64, merged: &[Pair]) -> i64 {
    for &(s, e) in merged {
        if s <= mark && e > mark {
            mark = e;
        }
    }
    mark
}

/// `from` minus the merged, sorted `minus`.
fn subtract(from: &[Pair], minus: &[Pair]) -> Vec<Pair> {
    let mut out = Vec::new();
    for &(s, e) in from {
        let mut cur = s;
        for &(ms, me) in minus {
            if me <= cur || ms >= e {
                continue;
            }
            if ms > cur {
                out.push((cur, ms));
            }
            cur = cur.max(me);
            if cur >= e {
                break;
            }
        }
        if cur < e {
            out.push((cur, e));
        }
    }
    out
}

fn intersect(pairs: &[Pair], (lo, hi): Pair) -> Vec<Pair> {
    pairs
        .iter()
        .map(|&(s, e)| (s.max(lo), e.min(hi)))
        .filter(|(s, e)| s < e)
        .collect()
}

/// Cuts intervals at multiples of `step` since the Unix epoch (so an hourly job lists whole clock hours after its
/// first, partial window, and runs cut the same boundaries).
fn slice(pairs: &[Pair], step: i64) -> Vec<Window> {
    let mut out = Vec::new();
    for &(s, e) in pairs {
        let mut cur = s;
        while cur < e {
            let boundary = cur.div_euclid(step).saturating_add(1).saturating_mul(step);
            let next = boundary.min(e);
            out.push(window((cur, next)));
            cur = next;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn first_run_lists_from_start_in_window_slices_up_to_now() {
        let now = t("2026-11-26T12:30:00Z");
        let plan = plan_live(&LiveInput {
            now,
            watermark: None,
            completed: &[],
            start: t("2026-11-26T10:00:00Z"),
            window: SignedDuration::from_hours(1),
            lookback: SignedDuration::from_hours(2),
        });
        let got: Vec<String> = plan.windows.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            got,
            [
                "[2026-11-26T10:00:00Z, 2026-11-26T11:00:00Z)",
                "[2026-11-26T11:00:00Z, 2026-11-26T12:00:00Z)",
                "[2026-11-26T12:00:00Z, 2026-11-26T12:30:00Z)",
            ]
        );
        assert!(plan.gaps.is_empty());
        assert_eq!(plan.clamped_start, None);
    }

    #[test]
    fn start_older_than_retention_is_clamped_not_a_gap() {
        let now = t("2026-11-26T12:00:00Z");
        let plan = plan_live(&LiveInput {
            now,
            watermark: None,
            completed: &[],
            start: t("2026-11-01T00:00:00Z"),
            window: SignedDuration::from_hours(24),
            lookback: SignedDuration::ZERO,
        });
        assert_eq!(plan.clamped_start, Some(t("2026-11-01T00:00:00Z")));
        assert_eq!(plan.origin, t("2026-11-19T12:05:00Z"));
        assert_eq!(
            plan.windows[0],
            Window::new(t("2026-11-19T12:05:00Z"), t("2026-11-20T00:00:00Z"))
        );
        assert_eq!(plan.windows.len(), 8);
        assert!(plan.gaps.is_empty());
    }

    #[test]
    fn watermark_older_than_retention_records_the_lost_part_as_a_gap() {
        let now = t("2026-11-26T12:00:00Z");
        let plan = plan_live(&LiveInput {
            now,
            watermark: Some(t("2026-11-10T00:00:00Z")),
            completed: &[],
            start: t("2026-11-01T00:00:00Z"),
            window: SignedDuration::from_hours(24),
            lookback: SignedDuration::from_hours(2),
        });
        assert_eq!(
            plan.gaps,
            [Window::new(
                t("2026-11-10T00:00:00Z"),
                t("2026-11-19T12:05:00Z")
            )]
        );
        assert_eq!(plan.windows[0].start, t("2026-11-19T12:05:00Z"));
    }

    #[test]
    fn lookback_relists_before_the_frontier_and_completed_islands_are_skipped() {
        let now = t("2026-11-26T12:00:00Z");
        let completed = [
            Window::new(t("2026-11-26T00:00:00Z"), t("2026-11-26T06:00:00Z")),
            Window::new(t("2026-11-26T08:00:00Z"), t("2026-11-26T09:00:00Z")),
        ];
        let plan = plan_live(&LiveInput {
            now,
            watermark: Some(t("2026-11-26T03:00:00Z")),
            completed: &completed,
            start: t("2026-11-20T00:00:00Z"),
            window: SignedDuration::from_hours(2),
            lookback: SignedDuration::from_hours(1),
        });
        assert_eq!(plan.frontier, t("2026-11-26T06:00:00Z"));
        let got: Vec<String> = plan.windows.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            got,
            [
                "[2026-11-26T05:00:00Z, 2026-11-26T06:00:00Z)",
                "[2026-11-26T06:00:00Z, 2026-11-26T08:00:00Z)",
                "[2026-11-26T09:00:00Z, 2026-11-26T10:00:00Z)",
                "[2026-11-26T10:00:00Z, 2026-11-26T12:00:00Z)",
            ]
        );
    }

    #[test]
    fn backfill_splits_off_the_unavailable_and_future_parts_and_skips_its_progress() {
        let now = t("2026-11-26T12:00:00Z");
        let done = [Window::new(
            t("2026-11-25T00:00:00Z"),
            t("2026-11-25T12:00:00Z"),
        )];
        let plan = plan_backfill(&BackfillInput {
            now,
            from: t("2026-11-18T00:00:00Z"),
            to: t("2026-11-27T00:00:00Z"),
            completed: &done,
            window: SignedDuration::from_hours(24),
        })
        .unwrap();
        assert_eq!(
            plan.unavailable,
            Some(Window::new(
                t("2026-11-18T00:00:00Z"),
                t("2026-11-19T12:05:00Z")
            ))
        );
        assert_eq!(
            plan.future,
            Some(Window::new(
                t("2026-11-26T12:00:00Z"),
                t("2026-11-27T00:00:00Z")
            ))
        );
        assert!(
            plan.windows
                .iter()
                .all(|w| w.end <= done[0].start || w.start >= done[0].end)
        );
        assert_eq!(plan.windows.first().unwrap().start, plan.retention_floor);
        assert_eq!(plan.windows.last().unwrap().end, now);
        let err = plan_backfill(&BackfillInput {
            now,
            from: now,
            to: now,
            completed: &[],
            window: SignedDuration::from_hours(1),
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("backfill range is empty"));
    }

    #[test]
    fn advance_follows_contiguous_completed_windows_only() {
        let w = |a: &str, b: &str| Window::new(t(a), t(b));
        let done = [
            w("2026-11-26T01:00:00Z", "2026-11-26T02:00:00Z"),
            w("2026-11-26T00:00:00Z", "2026-11-26T01:00:00Z"),
            w("2026-11-26T03:00:00Z", "2026-11-26T04:00:00Z"),
        ];
        assert_eq!(
            advance(t("2026-11-26T00:30:00Z"), &done),
            t("2026-11-26T02:00:00Z")
        );
        assert_eq!(
            advance(t("2026-11-26T02:30:00Z"), &done),
            t("2026-11-26T02:30:00Z")
        );
        assert_eq!(merge(&done).len(), 2);
    }
}
