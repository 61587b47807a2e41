//! Property tests of the pure window planner: for arbitrary checkpoints, clocks and job settings, the plan has no
//! gaps, overlaps completed time only inside the lookback, gives only windows the API accepts, and is deterministic.

use jiff::{SignedDuration, Timestamp};
use o365sync::plan::{
    BackfillInput, LiveInput, MAX_WINDOW, RETENTION, Window, advance, merge, plan_backfill,
    plan_live,
};
use proptest::prelude::*;

const HOUR: i64 = 3600;
/// 2026-11-26T00:00:00Z, the base of generated clocks.
const BASE: i64 = 1_795_651_200;

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

fn secs(t: Timestamp) -> i64 {
    t.as_second()
}

/// Completed windows as offsets (in seconds) before `now`, possibly overlapping and unsorted.
fn completed_strategy() -> impl Strategy<Value = Vec<(i64, i64)>> {
    prop::collection::vec((0i64..12 * 24 * HOUR, 1i64..30 * HOUR), 0..8)
}

#[derive(Debug, Clone)]
struct Case {
    now: i64,
    watermark: Option<i64>,
    completed: Vec<Window>,
    start: i64,
    window: i64,
    lookback: i64,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        0i64..400 * 24 * HOUR,
        prop::option::of(-2 * HOUR..12 * 24 * HOUR),
        completed_strategy(),
        -2 * HOUR..12 * 24 * HOUR,
        prop_oneof![60i64..=24 * HOUR, Just(HOUR), Just(24 * HOUR)],
        prop_oneof![Just(0i64), 0i64..=7 * 24 * HOUR, Just(2 * HOUR)],
    )
        .prop_map(|(now_off, wm_back, done, start_back, window, lookback)| {
            let now = BASE + now_off;
            Case {
                now,
                watermark: wm_back.map(|b| now - b),
                completed: done
                    .into_iter()
                    .map(|(back, len)| Window::new(ts(now - back), ts(now - back + len)))
                    .collect(),
                start: now - start_back,
                window,
                lookback,
            }
        })
}

fn input(c: &Case) -> LiveInput<'_> {
    LiveInput {
        now: ts(c.now),
        watermark: c.watermark.map(ts),
        completed: &c.completed,
        start: ts(c.start),
        window: SignedDuration::from_secs(c.window),
        lookback: SignedDuration::from_secs(c.lookback),
    }
}

/// True when `[lo, hi)` is covered by the union of `parts`.
fn covered(lo: i64, hi: i64, parts: &[Window]) -> bool {
    let merged = merge(parts);
    let mut cur = lo;
    for w in merged {
        if secs(w.start) <= cur && secs(w.end) > cur {
            cur = secs(w.end);
        }
    }
    cur >= hi
}

fn overlap(a: &Window, b: &Window) -> Option<(i64, i64)> {
    let s = secs(a.start).max(secs(b.start));
    let e = secs(a.end).min(secs(b.end));
    (s < e).then_some((s, e))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_window_is_valid_for_the_api(c in case_strategy()) {
        let plan = plan_live(&input(&c));
        let floor = c.now - RETENTION.as_secs();
        for w in &plan.windows {
            prop_assert!(w.start < w.end, "empty window {w}");
            prop_assert!(w.len() <= MAX_WINDOW, "window over 24 h: {w}");
            prop_assert!(w.len().as_secs() <= c.window, "window longer than configured: {w}");
            prop_assert!(secs(w.start) >= floor, "window older than retention: {w}");
            prop_assert!(secs(w.end) <= c.now, "window in the future: {w}");
            prop_assert_eq!(w.start.subsec_nanosecond(), 0);
            prop_assert_eq!(w.end.subsec_nanosecond(), 0);
        }
        for pair in plan.windows.windows(2) {
            prop_assert!(pair[0].end <= pair[1].start, "windows overlap or are unsorted: {} {}", pair[0], pair[1]);
            // Inside a contiguous stretch, windows are cut at multiples of the window size.
            if pair[0].end == pair[1].start {
                prop_assert_eq!(secs(pair[0].end).rem_euclid(c.window), 0, "unaligned cut {}", pair[0].end);
            }
        }
    }

    #[test]
    fn no_gaps_every_instant_is_completed_planned_or_reported(c in case_strategy()) {
        let plan = plan_live(&input(&c));
        let floor = c.now - RETENTION.as_secs();
        // On the first run the start is clamped to retention; afterwards the watermark is where unsynced time begins.
        let lo = match c.watermark {
            Some(w) => w,
            None => c.start.max(floor),
        };
        let mut parts = c.completed.clone();
        parts.extend(plan.windows.iter().copied());
        parts.extend(plan.gaps.iter().copied());
        prop_assert!(covered(lo, c.now, &parts), "hole in [{}, {})", ts(lo), ts(c.now));
        for g in &plan.gaps {
            prop_assert!(secs(g.end) <= floor, "a gap inside retention: {g}");
            prop_assert!(c.watermark.is_some(), "a gap on the first run: {g}");
        }
    }

    #[test]
    fn completed_time_is_relisted_only_inside_the_lookback(c in case_strategy()) {
        let plan = plan_live(&input(&c));
        let frontier = secs(plan.frontier);
        prop_assert_eq!(plan.frontier, advance(plan.origin, &c.completed));
        let mut done = c.completed.clone();
        // Before the watermark everything is complete by definition.
        if let Some(w) = c.watermark {
            done.push(Window::new(ts(w - 100 * 24 * HOUR), ts(w)));
        }
        for w in &plan.windows {
            for d in &done {
                if let Some((s, e)) = overlap(w, d) {
                    prop_assert!(
                        s >= frontier - c.lookback && e <= frontier,
                        "{w} re-lists completed [{}, {}) outside the lookback before {}",
                        ts(s), ts(e), plan.frontier
                    );
                }
            }
        }
    }

    #[test]
    fn planning_is_deterministic_for_a_fixed_now(c in case_strategy()) {
        let mut shuffled = c.clone();
        shuffled.completed.reverse();
        prop_assert_eq!(plan_live(&input(&c)), plan_live(&input(&c)));
        prop_assert_eq!(plan_live(&input(&c)), plan_live(&input(&shuffled)));
    }

    #[test]
    fn backfill_covers_its_range_and_never_relists_its_progress(
        c in case_strategy(),
        from_back in 0i64..12 * 24 * HOUR,
        len in 1i64..10 * 24 * HOUR,
    ) {
        let from = c.now - from_back;
        let to = from + len;
        let plan = plan_backfill(&BackfillInput {
            now: ts(c.now),
            from: ts(from),
            to: ts(to),
            completed: &c.completed,
            window: SignedDuration::from_secs(c.window),
        }).unwrap();
        let floor = c.now - RETENTION.as_secs();
        for w in &plan.windows {
            prop_assert!(w.start < w.end && w.len().as_secs() <= c.window.min(24 * HOUR));
            prop_assert!(secs(w.start) >= floor.max(from) && secs(w.end) <= c.now.min(to));
            for d in &c.completed {
                prop_assert!(overlap(w, d).is_none(), "{w} re-lists completed {d}");
            }
        }
        let mut parts = c.completed.clone();
        parts.extend(plan.windows.iter().copied());
        parts.extend(plan.unavailable);
        parts.extend(plan.future);
        prop_assert!(covered(from, to, &parts));
        prop_assert_eq!(plan.unavailable.is_some(), from < floor);
    }
}

/// One run of a simulated executor: plan, complete a subset of the windows (as a failing run would), advance the
/// watermark over the contiguous completed part.
#[derive(Debug, Clone)]
struct Run {
    /// Seconds since the previous run.
    after: i64,
    /// Which planned windows complete (by index modulo), `None`: all of them.
    fail_from: Option<usize>,
}

fn runs_strategy() -> impl Strategy<Value = Vec<Run>> {
    prop::collection::vec(
        (
            prop_oneof![
                60i64..6 * HOUR,
                6 * HOUR..3 * 24 * HOUR,
                Just(9 * 24 * HOUR)
            ],
            prop::option::of(0usize..6),
        )
            .prop_map(|(after, fail_from)| Run { after, fail_from }),
        1..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn successive_runs_leave_no_unreported_hole(
        runs in runs_strategy(),
        start_back in 0i64..10 * 24 * HOUR,
        window in prop_oneof![Just(HOUR), 60i64..=24 * HOUR],
        lookback in 0i64..=6 * HOUR,
    ) {
        let mut now = BASE;
        let start = ts(BASE - start_back);
        let mut watermark: Option<Timestamp> = None;
        let mut completed: Vec<Window> = Vec::new();
        let mut gaps: Vec<Window> = Vec::new();
        let mut first_origin = None;
        for run in &runs {
            now += run.after;
            let plan = plan_live(&LiveInput {
                now: ts(now),
                watermark,
                completed: &completed,
                start,
                window: SignedDuration::from_secs(window),
                lookback: SignedDuration::from_secs(lookback),
            });
            // The executor persists the origin on the first run.
            let origin = *first_origin.get_or_insert(plan.origin);
            let mark = watermark.unwrap_or(origin);
            gaps.extend(plan.gaps.iter().copied());
            let done = match run.fail_from {
                Some(k) => plan.windows.iter().copied().enumerate().filter(|(i, _)| *i != k).map(|(_, w)| w).collect(),
                None => plan.windows.clone(),
            };
            completed.extend(done);
            // Gaps are terminal too: the watermark may pass them once recorded.
            let mut terminal = completed.clone();
            terminal.extend(gaps.iter().copied());
            watermark = Some(advance(mark, &terminal));
            completed = merge(&completed);
        }
        let origin = first_origin.unwrap();
        let mut parts = completed.clone();
        parts.extend(gaps.iter().copied());
        let mark = secs(watermark.unwrap());
        // Everything below the watermark is either delivered or a recorded gap.
        prop_assert!(covered(secs(origin), mark, &parts), "unreported hole below the watermark {}", ts(mark));
        // With a final successful run, everything up to now is.
        let plan = plan_live(&LiveInput {
            now: ts(now),
            watermark,
            completed: &completed,
            start,
            window: SignedDuration::from_secs(window),
            lookback: SignedDuration::from_secs(lookback),
        });
        parts.extend(plan.windows.iter().copied());
        parts.extend(plan.gaps.iter().copied());
        prop_assert!(covered(secs(origin), now, &parts));
        for g in gaps.iter().chain(&plan.gaps) {
            for d in &completed {
                prop_assert!(overlap(g, d).is_none(), "gap {g} overlaps delivered {d}");
            }
        }
    }
}
