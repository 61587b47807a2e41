//! Progress of a run: per (job, content type) counters, drawn as indicatif bars on a terminal.
//!
//! The counters ([`Counts`]) are plain atomics updated by the executor at every window and blob; drawing is separate:
//! each bar redraws itself on a steady tick (a few times per second), reading the counters, so a blob costs a handful
//! of atomic additions and never a redraw. Without a terminal on standard error (tests, cron, CI, `-q`) no bar is
//! created and nothing but the counters exists: no escape code is ever written.
//!
//! While bars are shown, the log writer of [`crate::logging`] prints each log line through the bars'
//! [`MultiProgress::suspend`], so a log line never lands inside a bar.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::content_type::ContentType;

/// How often a bar redraws itself.
const TICK: Duration = Duration::from_millis(250);

/// The progress display of a whole run (every job of it). Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// No bars: counters only.
    pub fn hidden() -> Progress {
        Progress { multi: None }
    }

    /// Bars on standard error when `wanted` (not `-q`) and standard error is a terminal (and `TERM` is not `dumb`);
    /// otherwise [`Progress::hidden`]. While bars are shown, log lines are printed above them.
    pub fn for_stderr(wanted: bool) -> Progress {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        if !wanted || dumb || !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        crate::logging::route_through(Some(multi.clone()));
        Progress { multi: Some(multi) }
    }

    /// Whether bars are drawn.
    pub fn is_drawn(&self) -> bool {
        self.multi.is_some()
    }

    /// The progress of one content type of a job: a bar when drawn, counters always.
    pub fn content_type(&self, job: &str, ct: ContentType) -> ContentProgress {
        let counts = Arc::new(Counts::default());
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(0).with_style(style(&counts)));
            bar.set_prefix(format!("{job} {ct}"));
            // Drawn once now, then by the ticker alone: the executor's updates never draw.
            bar.tick();
            bar.enable_steady_tick(TICK);
            bar
        });
        ContentProgress { counts, bar }
    }

    /// The progress of a backfill's Purview Audit Search part: a bar of days when drawn, counters always.
    pub fn audit_search(&self, job: &str, days: u64) -> SearchProgress {
        let counts = Arc::new(SearchCounts::default());
        let bar = self.multi.as_ref().map(|m| {
            let (q, r) = (counts.clone(), counts.clone());
            let style = ProgressStyle::with_template(
                "{prefix:<32!} {bar:20.cyan/blue} {pos}/{len} days · {queries} · {records} records read · {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
            .with_key("queries", move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(
                    w,
                    "{} queries running, {} paging",
                    q.running.load(Ordering::Relaxed),
                    q.paging.load(Ordering::Relaxed)
                );
            })
            .with_key("records", move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", r.records_read.load(Ordering::Relaxed));
            });
            let bar = m.add(ProgressBar::new(days).with_style(style));
            bar.set_prefix(format!("{job} Audit Search"));
            bar.tick();
            bar.enable_steady_tick(TICK);
            bar
        });
        SearchProgress { counts, bar }
    }

    /// Ends the display: clears every bar and prints log lines directly again.
    pub fn finish(&self) {
        if let Some(m) = &self.multi {
            crate::logging::route_through(None);
            let _ = m.clear();
        }
    }
}

fn style(counts: &Arc<Counts>) -> ProgressStyle {
    let (b, r, t) = (counts.clone(), counts.clone(), counts.clone());
    ProgressStyle::with_template(
        "{prefix:<32!} {bar:20.cyan/blue} {pos}/{len} windows · {blobs} blobs · {records} records ({rate}) · {elapsed} · eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
    .with_key("blobs", move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
        let s = b.snapshot();
        let _ = write!(w, "{}/{}", s.blobs_done, s.blobs_listed);
    })
    .with_key(
        "records",
        move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}", r.snapshot().records_written);
        },
    )
    .with_key("rate", move |st: &ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(
            w,
            "{:.0}/s",
            per_second(t.snapshot().records_written, st.elapsed())
        );
    })
}

/// `n` per second over `elapsed` (0 before any time passed).
fn per_second(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

/// The counters of one content type's run.
#[derive(Debug, Default)]
pub struct Counts {
    windows_total: AtomicU64,
    windows_done: AtomicU64,
    blobs_listed: AtomicU64,
    blobs_done: AtomicU64,
    records_written: AtomicU64,
}

/// A copy of [`Counts`] at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Windows planned.
    pub windows_total: u64,
    /// Windows finished (completed, failed or abandoned).
    pub windows_done: u64,
    /// Blobs listed so far.
    pub blobs_listed: u64,
    /// Blobs finished: skipped as already terminal, delivered, recorded as a gap, or failed.
    pub blobs_done: u64,
    /// Records written to the sink.
    pub records_written: u64,
}

impl Counts {
    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            windows_total: self.windows_total.load(Ordering::Relaxed),
            windows_done: self.windows_done.load(Ordering::Relaxed),
            blobs_listed: self.blobs_listed.load(Ordering::Relaxed),
            blobs_done: self.blobs_done.load(Ordering::Relaxed),
            records_written: self.records_written.load(Ordering::Relaxed),
        }
    }
}

/// The counters of an Audit Search part.
#[derive(Debug, Default)]
pub struct SearchCounts {
    running: AtomicU64,
    paging: AtomicU64,
    records_read: AtomicU64,
}

/// The progress of a backfill's Audit Search part: days done (the bar), queries running and being paged, records
/// read.
#[derive(Debug, Clone)]
pub struct SearchProgress {
    counts: Arc<SearchCounts>,
    bar: Option<ProgressBar>,
}

impl SearchProgress {
    /// A query started running (`true`) or stopped (`false`).
    pub fn running(&self, on: bool) {
        bump(&self.counts.running, on);
    }

    /// A query's pages started (`true`) or stopped (`false`) being read.
    pub fn paging(&self, on: bool) {
        bump(&self.counts.paging, on);
    }

    /// `n` records were read.
    pub fn records_read(&self, n: u64) {
        self.counts.records_read.fetch_add(n, Ordering::Relaxed);
    }

    /// A day reached its end for this run (done, skipped or a gap).
    pub fn day_done(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn bump(counter: &AtomicU64, up: bool) {
    if up {
        counter.fetch_add(1, Ordering::Relaxed);
    } else {
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
    }
}

/// The progress of one content type of a job: counters, and a bar when drawn. Cloning shares it.
#[derive(Debug, Clone)]
pub struct ContentProgress {
    counts: Arc<Counts>,
    bar: Option<ProgressBar>,
}

impl ContentProgress {
    /// Counters without a bar.
    pub fn hidden() -> ContentProgress {
        ContentProgress {
            counts: Arc::default(),
            bar: None,
        }
    }

    /// `n` more windows were planned.
    pub fn windows_planned(&self, n: u64) {
        self.counts.windows_total.fetch_add(n, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.inc_length(n);
        }
    }

    /// A window finished (completed, failed or abandoned).
    pub fn window_done(&self) {
        self.counts.windows_done.fetch_add(1, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    /// `n` blobs were listed.
    pub fn blobs_listed(&self, n: u64) {
        self.counts.blobs_listed.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` blobs reached an end for this run.
    pub fn blobs_done(&self, n: u64) {
        self.counts.blobs_done.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` records were written to the sink.
    pub fn records_written(&self, n: u64) {
        self.counts.records_written.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        self.counts.snapshot()
    }

    /// Removes the bar (the run report follows).
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_and_snapshots_copy_them() {
        let p = Progress::hidden().content_type("job", ContentType::Exchange);
        assert_eq!(p.snapshot(), Snapshot::default());
        p.windows_planned(3);
        p.windows_planned(2);
        p.blobs_listed(10);
        p.blobs_done(4);
        p.blobs_done(1);
        p.records_written(40);
        p.window_done();
        let shared = p.clone();
        shared.window_done();
        shared.records_written(2);
        assert_eq!(
            p.snapshot(),
            Snapshot {
                windows_total: 5,
                windows_done: 2,
                blobs_listed: 10,
                blobs_done: 5,
                records_written: 42,
            }
        );
        p.finish();
    }

    #[test]
    fn counters_are_shared_across_threads() {
        let p = ContentProgress::hidden();
        std::thread::scope(|s| {
            for _ in 0..4 {
                let p = p.clone();
                s.spawn(move || {
                    for _ in 0..1000 {
                        p.blobs_done(1);
                        p.records_written(3);
                    }
                });
            }
        });
        let s = p.snapshot();
        assert_eq!(s.blobs_done, 4000);
        assert_eq!(s.records_written, 12_000);
    }

    #[test]
    fn hidden_progress_draws_nothing() {
        let p = Progress::hidden();
        assert!(!p.is_drawn());
        assert!(p.content_type("j", ContentType::General).bar.is_none());
        p.finish();
    }

    /// A terminal that records what is drawn.
    #[derive(Debug, Clone, Default)]
    struct Recorder(Arc<std::sync::Mutex<String>>);

    impl indicatif::TermLike for Recorder {
        fn width(&self) -> u16 {
            200
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)?;
            self.write_str("\n")
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_bar_renders_the_counters() {
        let term = Recorder::default();
        let counts = Arc::new(Counts::default());
        let bar = ProgressBar::with_draw_target(
            Some(0),
            ProgressDrawTarget::term_like(Box::new(term.clone())),
        )
        .with_style(style(&counts));
        bar.set_prefix("j Audit.Exchange");
        let p = ContentProgress {
            counts,
            bar: Some(bar.clone()),
        };
        p.windows_planned(4);
        p.blobs_listed(7);
        p.blobs_done(6);
        p.records_written(60);
        p.window_done();
        bar.tick();
        let drawn = term.0.lock().unwrap().clone();
        assert!(drawn.contains("j Audit.Exchange"), "{drawn}");
        assert!(drawn.contains("1/4 windows"), "{drawn}");
        assert!(drawn.contains("6/7 blobs"), "{drawn}");
        assert!(drawn.contains("60 records"), "{drawn}");
        assert!(drawn.contains("/s)"), "{drawn}");
    }

    #[test]
    fn throughput_is_zero_before_time_passes() {
        assert_eq!(per_second(100, Duration::ZERO), 0.0);
        assert_eq!(per_second(100, Duration::from_secs(4)), 25.0);
    }
}
