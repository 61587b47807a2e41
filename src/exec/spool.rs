//! One blob's normalized events between its fetch and its turn at the sink.
//!
//! The commit protocol needs a blob whole before its sink write (check the record ledger, write, acknowledge,
//! commit), but a blob can be 50 MB of records (over 100 MB of OCSF lines). A [`Spool`] keeps a blob's events in
//! memory while the job's [`MemoryBudget`] allows; beyond it, it spills them to an anonymous temporary file in the
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

use crate::sink::{EventParts, SinkError, SinkEvent};
use crate::state::RecordKey;

/// Bytes of event lines the spools of one job may hold in memory together.
pub(crate) const SPOOL_MEMORY: usize = 16 << 20;

/// Bytes of lines read back from a spill file per sink part.
const PART_BYTES: usize = 1 << 20;

/// The bytes of event lines a job's spools hold in memory, against a cap.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    used: AtomicUsize,
    cap: usize,
}

impl MemoryBudget {
    pub(crate) fn new(cap: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            used: AtomicUsize::new(0),
            cap,
        })
    }

    /// Takes `n` bytes if they fit under the cap.
    fn try_take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&u| u <= self.cap)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes taken now.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
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

/// The ledger keys of the events a sink write takes, shared with the parts that read them back.
pub(crate) type Keys = Arc<Vec<RecordKey>>;

/// The heap an event held in memory takes: its buffers' capacities and the event itself.
fn footprint(event: &SinkEvent) -> usize {
    event.line.capacity()
        + event.id.capacity()
        + event.tenant.capacity()
        + std::mem::size_of::<SinkEvent>()
}

/// A spilled event: everything but its line, which is in the file.
#[derive(Debug)]
struct Spilled {
    time: Timestamp,
    class_uid: u32,
    len: usize,
}

/// One blob's normalized events, in order, with their ledger keys.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    tenant: Arc<str>,
    /// The ledger key of every event, in order.
    keys: Vec<RecordKey>,
    /// The positions in `keys`, by record `Id` (the Ids are not stored twice).
    index: hashbrown::HashTable<usize>,
    hasher: RandomState,
    /// The events, while they are in memory.
    events: Vec<SinkEvent>,
    reservation: Reservation,
    /// Once spilled: every event's line, in order, and the rest of each event.
    file: Option<BufWriter<File>>,
    spilled: Vec<Spilled>,
}

impl Spool {
    /// An empty spool drawing memory from `budget` and spilling into `dir`.
    pub(crate) fn new(budget: Arc<MemoryBudget>, dir: &Path, tenant: Arc<str>) -> Spool {
        Spool {
            dir: dir.to_owned(),
            tenant,
            keys: Vec::new(),
            index: hashbrown::HashTable::new(),
            hasher: RandomState::new(),
            events: Vec::new(),
            reservation: Reservation { budget, bytes: 0 },
            file: None,
            spilled: Vec::new(),
        }
    }

    /// The events' ledger keys, in order.
    pub(crate) fn keys(&self) -> &[RecordKey] {
        &self.keys
    }

    /// Whether the events went to a file.
    pub(crate) fn is_spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Whether an event of record `id` is in the spool.
    pub(crate) fn contains(&self, id: &str) -> bool {
        let hash = self.hasher.hash_one(id);
        self.index.find(hash, |&i| self.keys[i].id == id).is_some()
    }

    /// Appends one event (the caller checked with [`Spool::contains`] that its `Id` is new).
    pub(crate) fn push(&mut self, key: RecordKey, event: SinkEvent) -> io::Result<()> {
        if self.file.is_none() && !self.reservation.take(footprint(&event)) {
            self.spill()?;
        }
        match &mut self.file {
            Some(file) => {
                file.write_all(&event.line)?;
                self.spilled.push(Spilled {
                    time: event.time,
                    class_uid: event.class_uid,
                    len: event.line.len(),
                });
            }
            None => self.events.push(event),
        }
        let (keys, hasher) = (&self.keys, &self.hasher);
        let hash = hasher.hash_one(key.id.as_str());
        self.index
            .insert_unique(hash, keys.len(), |&i| hasher.hash_one(keys[i].id.as_str()));
        self.keys.push(key);
        Ok(())
    }

    /// Moves the events held in memory to a new anonymous file and gives their memory back.
    fn spill(&mut self) -> io::Result<()> {
        let mut file = BufWriter::with_capacity(256 * 1024, tempfile::tempfile_in(&self.dir)?);
        for event in self.events.drain(..) {
            file.write_all(&event.line)?;
            self.spilled.push(Spilled {
                time: event.time,
                class_uid: event.class_uid,
                len: event.line.len(),
            });
        }
        self.events = Vec::new();
        self.reservation.release();
        self.file = Some(file);
        Ok(())
    }

    /// Forgets every event (a fetch attempt failed half-way and the blob starts again).
    pub(crate) fn clear(&mut self) {
        self.keys.clear();
        self.index.clear();
        self.events.clear();
        self.reservation.release();
        self.file = None;
        self.spilled.clear();
    }

    /// The events whose record `Id` is not in `skip`, as sink parts, and the keys of those events.
    pub(crate) fn into_parts(
        mut self,
        skip: &HashSet<String>,
    ) -> io::Result<(Box<dyn EventParts>, Keys)> {
        self.index = hashbrown::HashTable::new();
        let keep: Vec<bool> = self.keys.iter().map(|k| !skip.contains(&k.id)).collect();
        let keys: Keys = Arc::new(
            std::mem::take(&mut self.keys)
                .into_iter()
                .zip(&keep)
                .filter_map(|(k, &kept)| kept.then_some(k))
                .collect(),
        );
        let Some(file) = self.file.take() else {
            let mut kept = keep.iter();
            self.events
                .retain(|_| kept.next().copied().unwrap_or(false));
            let parts = InMemory {
                events: std::mem::take(&mut self.events),
                given: false,
                _reservation: Reservation {
                    budget: Arc::clone(&self.reservation.budget),
                    bytes: std::mem::take(&mut self.reservation.bytes),
                },
            };
            return Ok((Box::new(parts), keys));
        };
        let mut file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.rewind()?;
        let parts = SpoolParts {
            reader: BufReader::with_capacity(256 * 1024, file),
            spilled: std::mem::take(&mut self.spilled).into_iter().zip(keep),
            keys: Arc::clone(&keys),
            next_key: 0,
            tenant: Arc::clone(&self.tenant),
            part: Vec::new(),
        };
        Ok((Box::new(parts), keys))
    }
}

/// The events of a spool that stayed in memory, as one part; their memory is given back when the write is over.
struct InMemory {
    events: Vec<SinkEvent>,
    given: bool,
    _reservation: Reservation,
}

impl EventParts for InMemory {
    fn next_part(&mut self) -> Result<Option<&[SinkEvent]>, SinkError> {
        if std::mem::replace(&mut self.given, true) {
            return Ok(None);
        }
        Ok(Some(&self.events))
    }
}

/// The events of a spilled spool, read back about [`PART_BYTES`] of lines at a time.
pub(crate) struct SpoolParts {
    reader: BufReader<File>,
    spilled: std::iter::Zip<std::vec::IntoIter<Spilled>, std::vec::IntoIter<bool>>,
    /// The keys of the events kept, in order, and the next one's position.
    keys: Keys,
    next_key: usize,
    tenant: Arc<str>,
    part: Vec<SinkEvent>,
}

impl EventParts for SpoolParts {
    fn next_part(&mut self) -> Result<Option<&[SinkEvent]>, SinkError> {
        self.part.clear();
        let mut bytes = 0;
        while bytes < PART_BYTES {
            let Some((event, kept)) = self.spilled.next() else {
                break;
            };
            let len = u64::try_from(event.len).unwrap_or(u64::MAX);
            if !kept {
                self.reader
                    .seek_relative(event.len as i64)
                    .map_err(spool_error)?;
                continue;
            }
            let mut line = Vec::with_capacity(event.len);
            (&mut self.reader)
                .take(len)
                .read_to_end(&mut line)
                .map_err(spool_error)?;
            if line.len() != event.len {
                return Err(spool_error(io::ErrorKind::UnexpectedEof.into()));
            }
            bytes += line.len();
            let id = self
                .keys
                .get(self.next_key)
                .map(|k| k.id.clone())
                .unwrap_or_default();
            self.next_key += 1;
            self.part.push(SinkEvent {
                id,
                time: event.time,
                class_uid: event.class_uid,
                tenant: self.tenant.to_string(),
                line,
            });
        }
        Ok((!self.part.is_empty()).then_some(&self.part[..]))
    }
}

fn spool_error(cause: io::Error) -> SinkError {
    SinkError::Spool { cause }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: usize, len: usize) -> (RecordKey, SinkEvent) {
        let id = format!("id-{i}");
        let line = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(len));
        (
            RecordKey {
                id: id.clone(),
                created: None,
            },
            SinkEvent {
                id,
                time: Timestamp::from_second(i as i64).unwrap(),
                class_uid: 6003,
                tenant: "t".into(),
                line: line.into_bytes(),
            },
        )
    }

    fn drain(parts: &mut dyn EventParts) -> (Vec<Vec<SinkEvent>>, usize) {
        let mut out = Vec::new();
        let mut n = 0;
        while let Some(p) = parts.next_part().unwrap() {
            n += p.len();
            out.push(p.to_vec());
        }
        (out, n)
    }

    #[test]
    fn a_small_blob_stays_in_memory_and_gives_its_memory_back() {
        let dir = tempfile::tempdir().unwrap();
        let budget = MemoryBudget::new(1 << 20);
        let mut spool = Spool::new(Arc::clone(&budget), dir.path(), "t".into());
        for i in 0..10 {
            let (k, e) = event(i, 100);
            assert!(!spool.contains(&k.id));
            spool.push(k, e).unwrap();
        }
        assert!(spool.contains("id-3") && !spool.contains("id-10"));
        assert!(!spool.is_spilled());
        assert!(budget.used() > 1000);
        let skip = HashSet::from(["id-3".to_owned()]);
        let (mut parts, keys) = spool.into_parts(&skip).unwrap();
        assert_eq!(keys.len(), 9);
        let (all, n) = drain(parts.as_mut());
        assert_eq!((all.len(), n), (1, 9));
        assert!(all[0].iter().all(|e| e.id != "id-3"));
        drop(parts);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_blob_over_the_budget_spills_and_reads_back_exactly_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let budget = MemoryBudget::new(64 * 1024);
        let mut spool = Spool::new(Arc::clone(&budget), dir.path(), "t".into());
        let mut expected = Vec::new();
        for i in 0..3000 {
            let (k, e) = event(i, 500 + i % 7);
            expected.push(e.clone());
            spool.push(k, e).unwrap();
        }
        assert!(spool.is_spilled());
        assert_eq!(budget.used(), 0, "a spilled spool holds no budget");
        // the spill file is anonymous: nothing in the directory
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let skip: HashSet<String> = (0..3000).step_by(10).map(|i| format!("id-{i}")).collect();
        let (mut parts, keys) = spool.into_parts(&skip).unwrap();
        let (all, n) = drain(parts.as_mut());
        assert_eq!(n, 2700);
        assert_eq!(keys.len(), 2700);
        assert!(all.len() > 1, "read back in several parts");
        let got: Vec<SinkEvent> = all.into_iter().flatten().collect();
        let want: Vec<SinkEvent> = expected
            .into_iter()
            .filter(|e| !skip.contains(&e.id))
            .collect();
        assert_eq!(got, want);
        assert!(keys.iter().zip(&got).all(|(k, e)| k.id == e.id));
    }

    #[test]
    fn clearing_forgets_everything_and_the_spool_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let budget = MemoryBudget::new(4096);
        let mut spool = Spool::new(Arc::clone(&budget), dir.path(), "t".into());
        for i in 0..100 {
            let (k, e) = event(i, 100);
            spool.push(k, e).unwrap();
        }
        assert!(spool.is_spilled());
        assert!(spool.contains("id-99"));
        spool.clear();
        assert!(!spool.is_spilled());
        assert!(!spool.contains("id-99"));
        assert!(spool.keys().is_empty());
        let (k, e) = event(7, 10);
        spool.push(k, e).unwrap();
        let (mut parts, keys) = spool.into_parts(&HashSet::new()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(drain(parts.as_mut()).1, 1);
        drop(parts);
        assert_eq!(budget.used(), 0);
    }
}
