//! One blob's normalized events between its fetch and its turn at the sink.
//!
//! The commit protocol needs a blob whole before its sink write (check the record ledger, write, acknowledge,
//! commit), but a blob can be 50 MB of records (over 100 MB of OCSF lines). A [`Spool`] keeps a blob's events in
//! memory while the job's share of the run's memory budget ([`RunMemory`], [`MemoryBudget`]) allows; beyond it, it spills them to an anonymous temporary file in the
//! state directory (created mode 0600 and unlinked from the start, so a crash leaves nothing behind) and reads them
//! back part by part ([`SpoolParts`]) when the blob is written. Memory then stays bounded by the budget plus one
//! part per sink write, whatever the blobs' sizes.

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::Timestamp;

use crate::sink::{EventParts, OnePart, SinkError, SinkEvent};
use crate::state::RecordKey;

/// Bytes of event lines the spools of a whole run may hold in memory together, whatever the number of jobs.
pub(crate) const RUN_MEMORY: usize = 64 << 20;

/// Bytes of event lines the spools of one job may hold in memory together, even when it runs alone.
pub(crate) const JOB_MEMORY: usize = 16 << 20;

/// Bytes of lines read back from a spill file per sink part.
const PART_BYTES: usize = 1 << 20;

/// The memory budget of a whole run, shared fairly by the jobs running: each job may hold at most `cap / jobs`
/// (and at most `per_job`), where `jobs` is the number of jobs holding a [`MemoryBudget`] of it at that moment. A job
/// over its share spills; nothing waits for memory, so a job can never be starved of it.
#[derive(Debug)]
pub(crate) struct RunMemory {
    used: AtomicUsize,
    cap: usize,
    per_job: usize,
    jobs: AtomicUsize,
}

impl RunMemory {
    pub(crate) fn new(cap: usize, per_job: usize) -> Arc<RunMemory> {
        Arc::new(RunMemory {
            used: AtomicUsize::new(0),
            cap,
            per_job,
            jobs: AtomicUsize::new(0),
        })
    }

    /// The budget of one job, counted among the jobs sharing the run's budget until it is dropped.
    pub(crate) fn for_job(self: &Arc<Self>) -> Arc<MemoryBudget> {
        self.jobs.fetch_add(1, Ordering::AcqRel);
        Arc::new(MemoryBudget {
            used: AtomicUsize::new(0),
            run: Arc::clone(self),
        })
    }

    /// What one job may hold now.
    fn share(&self) -> usize {
        (self.cap / self.jobs.load(Ordering::Acquire).max(1)).min(self.per_job)
    }

    /// Bytes held by every job together.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// The bytes of event lines one job's spools hold in memory: within the job's fair share of the run's
/// [`RunMemory`] and within the run's cap.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    used: AtomicUsize,
    run: Arc<RunMemory>,
}

impl MemoryBudget {
    /// A budget of `cap` bytes for a job alone in its run.
    #[cfg(test)]
    pub(crate) fn new(cap: usize) -> Arc<MemoryBudget> {
        RunMemory::new(cap, cap).for_job()
    }

    /// Takes `n` bytes if they fit in the job's share and under the run's cap.
    fn try_take(&self, n: usize) -> bool {
        let share = self.run.share();
        let take = |used: &AtomicUsize, cap: usize| {
            used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|&u| u <= cap)
            })
            .is_ok()
        };
        if !take(&self.used, share) {
            return false;
        }
        if !take(&self.run.used, self.run.cap) {
            self.used.fetch_sub(n, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
        self.run.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes taken now.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

impl Drop for MemoryBudget {
    fn drop(&mut self) {
        self.run.jobs.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Bytes taken from a [`MemoryBudget`], given back on drop.
#[derive(Debug)]
struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Reservation {
    fn take(&mut self, n: usize) -> bool {
        let ok = self.budget.try_take(n);
        if ok {
            self.bytes += n;
        }
        ok
    }

    fn release(&mut self) {
        self.budget.give_back(std::mem::take(&mut self.bytes));
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release();
    }
}

/// The heap an event held in memory takes: its buffers' capacities, the event itself and its creation time.
fn footprint(event: &SinkEvent) -> usize {
    event.line.capacity()
        + event.id.capacity()
        + std::mem::size_of::<SinkEvent>()
        + std::mem::size_of::<Option<Timestamp>>()
}

/// One blob's normalized events, in order, with what the record ledger needs of each (its `Id` and the record's
/// creation time).
///
/// Per event, a spool keeps in memory only a 128-bit digest of the record `Id` (to drop repeats within the blob)
/// once it has spilled; everything else is in the file, one entry per event: a fixed header ([`HEADER`]: line
/// length, `class_uid`, `Id` length, event time, creation time), the `Id`, the line.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    tenant: Arc<str>,
    /// Digests of the record `Id`s in the spool: two independently keyed 64-bit hashes (a false match needs both
    /// to collide, about one chance in 2^128 per pair of Ids).
    digests: hashbrown::HashSet<u128>,
    hashers: (RandomState, RandomState),
    /// The events and their records' creation times, while they are in memory.
    events: Vec<SinkEvent>,
    created: Vec<Option<Timestamp>>,
    reservation: Reservation,
    /// Once spilled: every event, in order.
    file: Option<BufWriter<File>>,
}

/// Bytes of the header of each event in a spill file.
const HEADER: usize = 4 + 4 + 4 + 12 + 1 + 12;

impl Spool {
    /// An empty spool drawing memory from `budget` and spilling into `dir`.
    pub(crate) fn new(budget: Arc<MemoryBudget>, dir: &Path, tenant: Arc<str>) -> Spool {
        Spool {
            dir: dir.to_owned(),
            tenant,
            digests: hashbrown::HashSet::new(),
            hashers: (RandomState::new(), RandomState::new()),
            events: Vec::new(),
            created: Vec::new(),
            reservation: Reservation { budget, bytes: 0 },
            file: None,
        }
    }

    /// Events in the spool.
    pub(crate) fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether the events went to a file.
    pub(crate) fn is_spilled(&self) -> bool {
        self.file.is_some()
    }

    fn digest(&self, id: &str) -> u128 {
        (u128::from(self.hashers.0.hash_one(id)) << 64) | u128::from(self.hashers.1.hash_one(id))
    }

    /// Whether an event of record `id` is in the spool.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.digests.contains(&self.digest(id))
    }

    /// Appends one event whose record was created at `created` (the caller checked with [`Spool::contains`] that
    /// its `Id` is new).
    pub(crate) fn push(&mut self, created: Option<Timestamp>, event: SinkEvent) -> io::Result<()> {
        if self.file.is_none() && !self.reservation.take(footprint(&event)) {
            self.spill()?;
        }
        let digest = self.digest(&event.id);
        match &mut self.file {
            Some(file) => write_entry(file, created, &event)?,
            None => {
                self.events.push(event);
                self.created.push(created);
            }
        }
        self.digests.insert(digest);
        Ok(())
    }

    /// Moves the events held in memory to a new anonymous file and gives their memory back.
    fn spill(&mut self) -> io::Result<()> {
        let mut file = BufWriter::with_capacity(256 * 1024, tempfile::tempfile_in(&self.dir)?);
        for (event, created) in self.events.drain(..).zip(self.created.drain(..)) {
            write_entry(&mut file, created, &event)?;
        }
        self.events = Vec::new();
        self.created = Vec::new();
        self.reservation.release();
        self.file = Some(file);
        Ok(())
    }

    /// Forgets every event (a fetch attempt failed half-way and the blob starts again).
    pub(crate) fn clear(&mut self) {
        self.digests.clear();
        self.events.clear();
        self.created.clear();
        self.reservation.release();
        self.file = None;
    }

    /// The ledger key of every event, in order (read back from the file when spilled). Call it after the last
    /// [`Spool::push`].
    pub(crate) fn keys(&mut self) -> io::Result<Vec<RecordKey>> {
        let Some(file) = &mut self.file else {
            return Ok(self
                .events
                .iter()
                .zip(&self.created)
                .map(|(e, &created)| RecordKey {
                    id: e.id.clone(),
                    created,
                })
                .collect());
        };
        file.flush()?;
        let mut reader = BufReader::with_capacity(256 * 1024, file.get_ref());
        reader.rewind()?;
        let mut keys = Vec::with_capacity(self.digests.len());
        while let Some(h) = read_header(&mut reader)? {
            let id = read_id(&mut reader, h.id_len)?;
            reader.seek_relative(h.line_len as i64)?;
            keys.push(RecordKey {
                id,
                created: h.created,
            });
        }
        drop(reader);
        file.get_ref().seek(io::SeekFrom::End(0))?;
        Ok(keys)
    }

    /// The events whose record `Id` is not in `skip`, as sink parts.
    pub(crate) fn into_parts(mut self, skip: HashSet<String>) -> io::Result<Box<dyn EventParts>> {
        let Some(file) = self.file.take() else {
            self.events.retain(|e| !skip.contains(&e.id));
            return Ok(Box::new(InMemory {
                part: OnePart::new(std::mem::take(&mut self.events)),
                _reservation: Reservation {
                    budget: Arc::clone(&self.reservation.budget),
                    bytes: std::mem::take(&mut self.reservation.bytes),
                },
            }));
        };
        let mut file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.rewind()?;
        Ok(Box::new(SpoolParts {
            reader: BufReader::with_capacity(256 * 1024, file),
            skip,
            tenant: Arc::clone(&self.tenant),
            part: Vec::new(),
        }))
    }
}

/// The fixed part of a spilled event.
struct Header {
    line_len: usize,
    class_uid: u32,
    id_len: usize,
    time: Timestamp,
    created: Option<Timestamp>,
}

fn put_time(out: &mut Vec<u8>, t: Timestamp) {
    out.extend_from_slice(&t.as_second().to_le_bytes());
    out.extend_from_slice(&t.subsec_nanosecond().to_le_bytes());
}

fn write_entry(
    out: &mut impl Write,
    created: Option<Timestamp>,
    event: &SinkEvent,
) -> io::Result<()> {
    let len = |n: usize| {
        u32::try_from(n).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "event too large"))
    };
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(&len(event.line.len())?.to_le_bytes());
    header.extend_from_slice(&event.class_uid.to_le_bytes());
    header.extend_from_slice(&len(event.id.len())?.to_le_bytes());
    put_time(&mut header, event.time);
    header.push(u8::from(created.is_some()));
    put_time(&mut header, created.unwrap_or(Timestamp::UNIX_EPOCH));
    out.write_all(&header)?;
    out.write_all(event.id.as_bytes())?;
    out.write_all(&event.line)
}

/// The next header, or `None` at the end of the file.
fn read_header(input: &mut impl Read) -> io::Result<Option<Header>> {
    let mut h = [0u8; HEADER];
    loop {
        match input.read(&mut h[..1]) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    input.read_exact(&mut h[1..])?;
    let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let time_at = |i: usize| {
        let mut s = [0u8; 8];
        s.copy_from_slice(&h[i..i + 8]);
        let nanos = u32_at(i + 8) as i32;
        Timestamp::new(i64::from_le_bytes(s), nanos)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    };
    Ok(Some(Header {
        line_len: u32_at(0) as usize,
        class_uid: u32_at(4),
        id_len: u32_at(8) as usize,
        time: time_at(12)?,
        created: if h[24] == 1 { Some(time_at(25)?) } else { None },
    }))
}

fn read_id(input: &mut impl Read, len: usize) -> io::Result<String> {
    let mut id = vec![0u8; len];
    input.read_exact(&mut id)?;
    String::from_utf8(id).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The events of a spool that stayed in memory, as one part; their memory is given back when the write is over.
struct InMemory {
    part: OnePart,
    _reservation: Reservation,
}

impl EventParts for InMemory {
    fn next_part(&mut self) -> Result<Option<&[SinkEvent]>, SinkError> {
        self.part.next_part()
    }
}

/// The events of a spilled spool, read back about [`PART_BYTES`] of lines at a time.
struct SpoolParts {
    reader: BufReader<File>,
    /// The record `Id`s to leave out (already delivered).
    skip: HashSet<String>,
    tenant: Arc<str>,
    part: Vec<SinkEvent>,
}

impl SpoolParts {
    fn fill(&mut self) -> io::Result<()> {
        self.part.clear();
        let mut bytes = 0;
        while bytes < PART_BYTES {
            let Some(h) = read_header(&mut self.reader)? else {
                break;
            };
            let id = read_id(&mut self.reader, h.id_len)?;
            if self.skip.contains(&id) {
                self.reader.seek_relative(h.line_len as i64)?;
                continue;
            }
            let mut line = vec![0u8; h.line_len];
            self.reader.read_exact(&mut line)?;
            bytes += line.len();
            self.part.push(SinkEvent {
                id,
                time: h.time,
                class_uid: h.class_uid,
                tenant: Arc::clone(&self.tenant),
                line,
            });
        }
        Ok(())
    }
}

impl EventParts for SpoolParts {
    fn next_part(&mut self) -> Result<Option<&[SinkEvent]>, SinkError> {
        self.fill().map_err(|cause| SinkError::Spool { cause })?;
        Ok((!self.part.is_empty()).then_some(&self.part[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize, len: usize) -> (Option<Timestamp>, SinkEvent) {
        let line = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(len));
        let created =
            (!i.is_multiple_of(3)).then(|| Timestamp::new(1_800_000_000 + i as i64, 123).unwrap());
        (
            created,
            SinkEvent {
                id: format!("id-{i}"),
                time: Timestamp::new(1_700_000_000 + i as i64, 456_789).unwrap(),
                class_uid: 6003,
                tenant: "t".into(),
                line: line.into_bytes(),
            },
        )
    }

    fn fill(spool: &mut Spool, n: usize, len: usize) -> Vec<(Option<Timestamp>, SinkEvent)> {
        let mut all = Vec::new();
        for i in 0..n {
            let (c, e) = event(i, len + i % 7);
            assert!(!spool.contains(&e.id));
            all.push((c, e.clone()));
            spool.push(c, e).unwrap();
        }
        all
    }

    fn drain(parts: &mut dyn EventParts) -> Vec<Vec<SinkEvent>> {
        let mut out = Vec::new();
        while let Some(p) = parts.next_part().unwrap() {
            out.push(p.to_vec());
        }
        out
    }

    fn check_round_trip(spool: &mut Spool, all: &[(Option<Timestamp>, SinkEvent)]) {
        let keys = spool.keys().unwrap();
        let want_keys: Vec<RecordKey> = all
            .iter()
            .map(|(c, e)| RecordKey {
                id: e.id.clone(),
                created: *c,
            })
            .collect();
        assert_eq!(keys, want_keys);
    }

    #[test]
    fn a_small_blob_stays_in_memory_and_gives_its_memory_back() {
        let dir = tempfile::tempdir().unwrap();
        let budget = MemoryBudget::new(1 << 20);
        let mut spool = Spool::new(Arc::clone(&budget), dir.path(), "t".into());
        let all = fill(&mut spool, 10, 100);
        assert!(spool.contains("id-3") && !spool.contains("id-10"));
        assert!(!spool.is_spilled());
        assert_eq!(spool.len(), 10);
        assert!(budget.used() > 1000);
        check_round_trip(&mut spool, &all);
        let skip = HashSet::from(["id-3".to_owned()]);
        let mut parts = spool.into_parts(skip.clone()).unwrap();
        let got = drain(parts.as_mut());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), 9);
        assert!(got[0].iter().all(|e| e.id != "id-3"));
        drop(parts);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_blob_over_the_budget_spills_and_reads_back_exactly_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let budget = MemoryBudget::new(64 * 1024);
        let mut spool = Spool::new(Arc::clone(&budget), dir.path(), "t".into());
        let all = fill(&mut spool, 3000, 500);
        assert!(spool.is_spilled());
        assert!(spool.contains("id-2999") && !spool.contains("id-3000"));
        assert_eq!(budget.used(), 0, "a spilled spool holds no budget");
        // the spill file is anonymous: nothing in the directory
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        check_round_trip(&mut spool, &all);
        // reading the keys leaves the spool writable at its end
        let (c, e) = event(3000, 10);
        spool.push(c, e.clone()).unwrap();
        let mut all = all;
        all.push((c, e));
        check_round_trip(&mut spool, &all);
        let skip: HashSet<String> = (0..3001).step_by(10).map(|i| format!("id-{i}")).collect();
        let mut parts = spool.into_parts(skip.clone()).unwrap();
        let got = drain(parts.as_mut());
        assert!(got.len() > 1, "read back in several parts");
        let got: Vec<SinkEvent> = got.into_iter().flatten().collect();
        let want: Vec<SinkEvent> = all
            .into_iter()
            .map(|(_, e)| e)
            .filter(|e| !skip.contains(&e.id))
            .collect();
        assert_eq!(got.len(), 2700);
        assert_eq!(got, want);
    }

    #[test]
    fn clearing_forgets_everything_and_the_spool_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let budget = MemoryBudget::new(4096);
        let mut spool = Spool::new(Arc::clone(&budget), dir.path(), "t".into());
        fill(&mut spool, 100, 100);
        assert!(spool.is_spilled());
        assert!(spool.contains("id-99"));
        spool.clear();
        assert!(!spool.is_spilled());
        assert!(!spool.contains("id-99"));
        assert_eq!(spool.len(), 0);
        let (c, e) = event(7, 10);
        spool.push(c, e).unwrap();
        assert_eq!(spool.keys().unwrap().len(), 1);
        let mut parts = spool.into_parts(HashSet::new()).unwrap();
        assert_eq!(drain(parts.as_mut()).concat().len(), 1);
        drop(parts);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn the_run_budget_is_shared_fairly_by_the_jobs_holding_it() {
        let run = RunMemory::new(1000, 800);
        let a = run.for_job();
        // alone, a job may take up to the per-job cap
        assert!(a.try_take(800));
        assert!(!a.try_take(1));
        a.give_back(800);
        let b = run.for_job();
        // two jobs: 500 each
        assert!(a.try_take(500));
        assert!(!a.try_take(1));
        assert!(b.try_take(500));
        assert_eq!(run.used(), 1000);
        assert!(!b.try_take(1), "the run's cap holds");
        b.give_back(500);
        drop(b);
        // the share grows back when a job leaves, but never past the run's cap
        assert!(a.try_take(300));
        assert!(!a.try_take(1));
        a.give_back(800);
        assert_eq!(run.used(), 0);
        drop(a);
        assert_eq!(run.jobs.load(Ordering::Acquire), 0);
    }
}
