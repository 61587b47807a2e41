//! Many jobs in one run, bounded by the run and not by the number of jobs.
//!
//! At most `max_jobs` jobs run at once; the others wait in a queue, in the order of the job files. A running job
//! holds everything a job costs (its state database connection and lock, its HTTP connection pools, its spill
//! files, its share of the run's memory budget); a queued job holds nothing but its loaded job file.
//!
//! Fairness: a job runs for a turn ([`TURN`]). When its turn is over and other jobs are waiting, it starts no new
//! window, lets the windows in flight finish and commit, closes its state and releases its lock, and goes to the
//! back of the queue; the next turn plans again from its checkpoints, so nothing is read twice. A job alone, or
//! with nobody waiting, keeps running. One tenant with a week of backlog therefore delays the others by at most a
//! turn plus the windows it had in flight, and every job makes progress in each turn (at least the windows it
//! started). Jobs of the same tenant share the tenant's request budget; jobs of different tenants never wait on
//! each other's budgets.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{JobReport, Mode, Settings};
use crate::job::Loaded;

/// How long a job runs before it yields to jobs waiting for a turn.
pub const TURN: Duration = Duration::from_secs(30);

/// The default `--max-jobs`: 16 jobs per CPU core, at least 16 and at most 256. Most of a job's time is spent
/// waiting on the network and its tenant's request budget, so many jobs per core keep the cores busy; each running
/// job costs about a megabyte of memory (its state database cache, connection pools and buffers).
pub fn default_max_jobs() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (16 * cores).clamp(16, 256)
}

/// File descriptors a running job may hold at once: its state database (3, with the WAL and shared memory), its
/// lock, up to 8 spill files and 8 connections of blobs in flight, its sink's files or connections, with room.
pub const OPEN_FILES_PER_JOB: u64 = 32;

/// File descriptors kept for everything else (standard streams, the runtime, idle pooled connections, logs).
const OPEN_FILES_RESERVED: u64 = 128;

/// Raises the soft limit of open files to the hard limit and returns how many jobs fit in it: `max_jobs`, or fewer
/// with a warning saying how to raise the limit.
pub fn fit_open_files(max_jobs: usize) -> usize {
    let wanted = max_jobs as u64 * OPEN_FILES_PER_JOB + OPEN_FILES_RESERVED;
    let limit = match rlimit::increase_nofile_limit(wanted.max(4096)) {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!("cannot read or raise the limit of open files: {e}");
            return max_jobs;
        }
    };
    if limit >= wanted {
        return max_jobs;
    }
    let fit = usize::try_from(limit.saturating_sub(OPEN_FILES_RESERVED) / OPEN_FILES_PER_JOB)
        .unwrap_or(usize::MAX)
        .max(1);
    tracing::warn!(
        max_jobs,
        open_files_limit = limit,
        "{max_jobs} jobs at once need {wanted} open files but the limit is {limit}: running {fit} at once; raise \
         the limit (`ulimit -n`, systemd `LimitNOFILE=`) or lower --max-jobs"
    );
    fit
}

/// What bounds a run over many jobs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Jobs running at once.
    pub max_jobs: usize,
    /// How long a job runs before yielding to waiting jobs.
    pub turn: Duration,
}

impl Limits {
    /// `max_jobs` (at least 1) with the default turn; the turn can be shortened for tests by
    /// `O365SYNC_TEST_TURN_MS`.
    pub fn new(max_jobs: usize) -> Limits {
        let turn = std::env::var("O365SYNC_TEST_TURN_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(TURN, Duration::from_millis);
        Limits {
            max_jobs: max_jobs.max(1),
            turn,
        }
    }
}

/// The slots of a run: how many jobs run, wait, and ran at most at once.
#[derive(Debug)]
pub(crate) struct Slots {
    semaphore: tokio::sync::Semaphore,
    turn: Duration,
    waiting: AtomicUsize,
    active: AtomicUsize,
    peak: AtomicUsize,
    turns: AtomicUsize,
}

/// A job's current turn: whether it should yield at the next window boundary.
#[derive(Debug)]
pub struct Turn {
    slots: Option<Arc<Slots>>,
    started: Instant,
    yielded: AtomicBool,
}

impl Turn {
    /// A turn that never ends (a backfill, the demo, a run of one job).
    pub fn unlimited() -> Turn {
        Turn {
            slots: None,
            started: Instant::now(),
            yielded: AtomicBool::new(false),
        }
    }

    /// Whether the job should start no new window: its turn is over and other jobs wait for one. Once true, the job
    /// is queued again after it ends.
    pub(crate) fn is_over(&self) -> bool {
        if self.yielded.load(Ordering::Acquire) {
            return true;
        }
        let over = self.slots.as_ref().is_some_and(|s| {
            self.started.elapsed() >= s.turn && s.waiting.load(Ordering::Acquire) > 0
        });
        if over {
            self.yielded.store(true, Ordering::Release);
        }
        over
    }

    fn yielded(&self) -> bool {
        self.yielded.load(Ordering::Acquire)
    }
}

/// How a run over many jobs went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunFigures {
    /// The most jobs that ran at once.
    pub peak_jobs: usize,
    /// Turns run (a job that yielded runs more than one).
    pub turns: usize,
}

/// Observes the jobs running and queued (for the metrics of the service mode).
pub trait Observer: Send + Sync {
    /// Called whenever a job starts or ends a turn.
    fn jobs(&self, active: usize, queued: usize);
}

impl Observer for () {
    fn jobs(&self, _: usize, _: usize) {}
}

/// Runs `jobs` live within `limits` and returns their reports (one per job, its turns merged), in order.
pub async fn run_jobs(
    jobs: &[Arc<Loaded>],
    settings: &Settings,
    limits: Limits,
    observer: Arc<dyn Observer>,
) -> (Vec<JobReport>, RunFigures) {
    let slots = Arc::new(Slots {
        semaphore: tokio::sync::Semaphore::new(limits.max_jobs),
        turn: limits.turn,
        waiting: AtomicUsize::new(0),
        active: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        turns: AtomicUsize::new(0),
    });
    let notify = |s: &Slots| {
        observer.jobs(
            s.active.load(Ordering::Acquire),
            s.waiting.load(Ordering::Acquire),
        )
    };
    // Every job is queued at once, in order: the semaphore serves waiters first come, first served.
    slots.waiting.fetch_add(jobs.len(), Ordering::AcqRel);
    notify(&slots);
    let runs = jobs.iter().map(|loaded| {
        let slots = Arc::clone(&slots);
        let notify = &notify;
        async move {
            let mut merged: Option<JobReport> = None;
            let mut queued = true;
            loop {
                if !queued {
                    slots.waiting.fetch_add(1, Ordering::AcqRel);
                }
                // The semaphore is never closed.
                let permit = slots.semaphore.acquire().await.ok();
                slots.waiting.fetch_sub(1, Ordering::AcqRel);
                queued = false;
                let active = slots.active.fetch_add(1, Ordering::AcqRel) + 1;
                slots.peak.fetch_max(active, Ordering::AcqRel);
                slots.turns.fetch_add(1, Ordering::AcqRel);
                notify(&slots);
                let turn = Arc::new(Turn {
                    slots: Some(Arc::clone(&slots)),
                    started: Instant::now(),
                    yielded: AtomicBool::new(false),
                });
                // Each turn is a task of its own, so jobs spread over every core.
                let task = tokio::spawn({
                    let loaded = Arc::clone(loaded);
                    let settings = settings.clone();
                    let turn = Arc::clone(&turn);
                    async move { super::run_turn(&loaded, &settings, Mode::Live, &turn).await }
                });
                let report = match task.await {
                    Ok(r) => r,
                    Err(e) => JobReport::crashed(&loaded.job.name, &e.to_string()),
                };
                slots.active.fetch_sub(1, Ordering::AcqRel);
                drop(permit);
                notify(&slots);
                let again = turn.yielded() && !settings.stop.is_requested() && !report.halted();
                if again {
                    tracing::debug!(job = %loaded.job.name, "turn over while other jobs wait: queued again");
                }
                merged = Some(match merged {
                    None => report,
                    Some(mut m) => {
                        m.absorb_turn(report);
                        m
                    }
                });
                if !again {
                    break;
                }
            }
            merged.unwrap_or_else(|| JobReport::crashed(&loaded.job.name, "the job never ran"))
        }
    });
    let reports = futures::future::join_all(runs).await;
    let figures = RunFigures {
        peak_jobs: slots.peak.load(Ordering::Acquire),
        turns: slots.turns.load(Ordering::Acquire),
    };
    (reports, figures)
}
