//! Half-open time windows and the pure interval arithmetic behind completed windows and the watermark.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A half-open window `[start, end)` of `contentCreated` instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Window {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
}

impl Window {
    /// A window `[start, end)`; `None` unless `start < end`.
    pub fn new(start: Timestamp, end: Timestamp) -> Option<Window> {
        (start < end).then_some(Window { start, end })
    }

    /// Whether `t` lies inside `[start, end)`.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

/// Adds `w` to a sorted, disjoint, non-adjacent list of windows, merging it with every window it overlaps or
/// touches. The result is again sorted, disjoint and non-adjacent.
pub fn merge_into(windows: &[Window], w: Window) -> Vec<Window> {
    let mut out = Vec::with_capacity(windows.len() + 1);
    let mut merged = w;
    let mut placed = false;
    for &x in windows {
        if x.end < merged.start {
            out.push(x);
        } else if merged.end < x.start {
            if !placed {
                out.push(merged);
                placed = true;
            }
            out.push(x);
        } else {
            merged.start = merged.start.min(x.start);
            merged.end = merged.end.max(x.end);
        }
    }
    if !placed {
        out.push(merged);
    }
    out
}

/// The watermark reached from `watermark` by crossing contiguous completed windows: the end of the window that
/// contains or starts exactly at `watermark`, or `watermark` itself when there is none. Never moves backwards.
pub fn advance(watermark: Timestamp, windows: &[Window]) -> Timestamp {
    windows
        .iter()
        .find(|w| w.start <= watermark && watermark <= w.end)
        .map_or(watermark, |w| w.end.max(watermark))
}

/// Cuts every window at `t`: what lies at or after `t` is dropped, a window straddling `t` ends at `t`.
pub fn truncate_at(windows: &[Window], t: Timestamp) -> Vec<Window> {
    windows
        .iter()
        .filter_map(|w| Window::new(w.start, w.end.min(t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(h: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + h * 3600).unwrap()
    }

    fn w(a: i64, b: i64) -> Window {
        Window::new(ts(a), ts(b)).unwrap()
    }

    #[test]
    fn adjacent_and_overlapping_windows_merge() {
        let v = merge_into(&[], w(2, 3));
        let v = merge_into(&v, w(5, 6));
        assert_eq!(v, vec![w(2, 3), w(5, 6)]);
        let v = merge_into(&v, w(3, 4));
        assert_eq!(v, vec![w(2, 4), w(5, 6)]);
        let v = merge_into(&v, w(0, 1));
        assert_eq!(v, vec![w(0, 1), w(2, 4), w(5, 6)]);
        let v = merge_into(&v, w(1, 5));
        assert_eq!(v, vec![w(0, 6)]);
        assert_eq!(merge_into(&v, w(2, 3)), vec![w(0, 6)]);
    }

    #[test]
    fn watermark_advances_only_across_contiguous_windows() {
        assert_eq!(advance(ts(0), &[w(1, 2)]), ts(0));
        assert_eq!(advance(ts(0), &[w(0, 2), w(3, 4)]), ts(2));
        assert_eq!(advance(ts(1), &[w(0, 2)]), ts(2));
        assert_eq!(advance(ts(2), &[w(0, 2)]), ts(2));
        assert_eq!(advance(ts(5), &[w(0, 2)]), ts(5));
    }

    #[test]
    fn truncation_cuts_straddling_windows() {
        assert_eq!(
            truncate_at(&[w(0, 2), w(3, 6), w(7, 8)], ts(4)),
            vec![w(0, 2), w(3, 4)]
        );
        assert_eq!(truncate_at(&[w(3, 6)], ts(3)), vec![]);
    }

    proptest! {
        #[test]
        fn merging_in_any_order_gives_the_union(parts in proptest::collection::vec((0i64..48, 1i64..6), 0..20)) {
            let windows: Vec<Window> = parts.iter().map(|&(a, l)| w(a, a + l)).collect();
            let mut acc = Vec::new();
            for &x in &windows {
                acc = merge_into(&acc, x);
            }
            // sorted, disjoint, non-adjacent
            for pair in acc.windows(2) {
                prop_assert!(pair[0].end < pair[1].start);
            }
            // covers exactly the union, hour by hour
            for h in 0..60 {
                let t = ts(h);
                let inside_any = windows.iter().any(|x| x.contains(t));
                let inside_acc = acc.iter().any(|x| x.contains(t));
                prop_assert_eq!(inside_any, inside_acc);
            }
        }
    }
}
