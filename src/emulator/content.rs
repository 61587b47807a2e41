//! The seeded catalog of blobs: which blobs exist, when they became available, which records each holds.
//!
//! Nothing but blob metadata is kept in memory: a blob's body is generated on request from the seed, so a
//! duplicated record is byte-for-byte the record of its first blob and the ground truth is a pure function of the
//! settings.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::config::ContentSettings;
use super::records;
use super::time::{self, DAY, HOUR};
use crate::content_type::ContentType;

/// A deterministic 64-bit mix (SplitMix64 finalizer).
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hashes several values into one.
pub(crate) fn hash(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x5151_aaaa_0f0f_3c3c, |acc, p| mix(acc ^ mix(*p)))
}

/// A value in `[0, 1)` from a hash.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A small deterministic generator (SplitMix64).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A value in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        unit(self.next()) < p
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A random (version 4 shaped) GUID.
    pub(crate) fn guid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

fn type_no(ct: ContentType) -> u64 {
    ContentType::ALL
        .iter()
        .position(|c| *c == ct)
        .unwrap_or_default() as u64
}

// Hash domains.
const D_CREATED: u64 = 1;
const D_DUP: u64 = 2;
const D_DUP_BLOB: u64 = 3;
const D_DUP_SLOT: u64 = 4;
const D_ID: u64 = 5;
const D_RECORD: u64 = 6;
const D_LATE: u64 = 7;
const D_CID: u64 = 8;
const D_TENANT: u64 = 9;

/// The content seed of tenant `index`: the base seed itself for tenant 0 (so a one-tenant emulator serves what it
/// always served), a hash of the base seed and the index for the others.
pub(crate) fn tenant_seed(base: u64, index: usize) -> u64 {
    if index == 0 {
        base
    } else {
        hash(&[base, index as u64, D_TENANT])
    }
}

/// One blob of the catalog.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub content_type: ContentType,
    /// Position among the blobs of its content type (late blobs come after the regular ones).
    pub index: u32,
    pub content_id: String,
    pub created_ms: i64,
    pub late: bool,
}

/// One entry of a content listing (a blob may have two).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListingEntry {
    pub created_ms: i64,
    pub seq: u32,
    pub blob: usize,
}

/// A blob as described to callers of the handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobInfo {
    /// Its content type.
    pub content_type: ContentType,
    /// Its `contentId`.
    pub content_id: String,
    /// Its `contentCreated` in milliseconds since the epoch.
    pub content_created_ms: i64,
    /// Whether it is a late blob (listable only after a delay or a control call).
    pub late: bool,
    /// Whether it appears twice in listings.
    pub listed_twice: bool,
    /// The `Id` of each record it holds, in order (duplicates included).
    pub record_ids: Vec<String>,
}

/// Every blob, by content type, with its listings.
pub(crate) struct Catalog {
    settings: ContentSettings,
    tenant_id: String,
    pub blobs: Vec<Blob>,
    per_type: BTreeMap<ContentType, Vec<usize>>,
    listing: BTreeMap<ContentType, Vec<ListingEntry>>,
    listed_twice: BTreeSet<usize>,
}

impl Catalog {
    /// Builds the catalog of blobs whose history ends at `anchor_ms`.
    pub fn new(settings: &ContentSettings, tenant_id: &str, anchor_ms: i64) -> Self {
        let seed = settings.seed;
        let mut blobs = Vec::new();
        let mut per_type = BTreeMap::new();
        let mut listing = BTreeMap::new();
        let mut listed_twice = BTreeSet::new();
        let history = i64::from(settings.hours.max(1)) * HOUR;
        let first = anchor_ms - history;
        for ct in ContentType::ALL {
            let bph = settings.blobs_per_hour.get(&ct).copied().unwrap_or(0);
            if bph == 0 {
                continue;
            }
            let t = type_no(ct);
            let regular = settings.hours * bph;
            let spacing = HOUR / i64::from(bph);
            let mut indexes = Vec::new();
            let mut entries = Vec::new();
            let total = regular + settings.late_blobs;
            for k in 0..total {
                let late = k >= regular;
                let created = if late {
                    first + (hash(&[seed, t, u64::from(k), D_LATE]) % history as u64) as i64
                } else {
                    first
                        + i64::from(k) * spacing
                        + (hash(&[seed, t, u64::from(k), D_CREATED]) % spacing.max(1) as u64) as i64
                };
                let content_id = content_id(ct, seed, k, created);
                let idx = blobs.len();
                blobs.push(Blob {
                    content_type: ct,
                    index: k,
                    content_id,
                    created_ms: created,
                    late,
                });
                indexes.push(idx);
                entries.push(ListingEntry {
                    created_ms: created,
                    seq: k,
                    blob: idx,
                });
            }
            if settings.blob_listed_twice && regular > 0 {
                let k = regular / 2;
                let idx = indexes[k as usize];
                listed_twice.insert(idx);
                entries.push(ListingEntry {
                    created_ms: blobs[idx].created_ms,
                    seq: total,
                    blob: idx,
                });
            }
            entries.sort_by_key(|e| (e.created_ms, e.seq));
            per_type.insert(ct, indexes);
            listing.insert(ct, entries);
        }
        Catalog {
            settings: settings.clone(),
            tenant_id: tenant_id.to_owned(),
            blobs,
            per_type,
            listing,
            listed_twice,
        }
    }

    /// The blob with this content ID. A content ID names its content type and its position (`…$Audit_Exchange$nam0007`),
    /// so no index of IDs is kept: the named blob is looked up and its ID compared.
    pub fn find(&self, content_id: &str) -> Option<usize> {
        let (rest, last) = content_id.rsplit_once('$')?;
        let digits = last.find(|c: char| c.is_ascii_digit())?;
        let k: usize = last.get(digits..)?.parse().ok()?;
        let (_, type_part) = rest.rsplit_once('$')?;
        let ct: ContentType = type_part.replace('_', ".").parse().ok()?;
        let i = *self.per_type.get(&ct)?.get(k)?;
        (self.blobs.get(i)?.content_id == content_id).then_some(i)
    }

    /// Listing entries of `ct` with `from <= created < to`, keyed after `after`, visible late blobs only when
    /// `late_visible`; at most `limit`, and whether more follow.
    pub fn list(
        &self,
        ct: ContentType,
        from: i64,
        to: i64,
        after: Option<(i64, u32)>,
        limit: usize,
        late_visible: bool,
    ) -> (Vec<ListingEntry>, bool) {
        let Some(entries) = self.listing.get(&ct) else {
            return (Vec::new(), false);
        };
        let begin = match after {
            Some(a) => {
                entries.partition_point(|e| e.created_ms < from || (e.created_ms, e.seq) <= a)
            }
            None => entries.partition_point(|e| e.created_ms < from),
        };
        let mut out = Vec::new();
        for e in &entries[begin..] {
            if e.created_ms >= to {
                break;
            }
            if self.blobs[e.blob].late && !late_visible {
                continue;
            }
            if out.len() == limit {
                return (out, true);
            }
            out.push(*e);
        }
        (out, false)
    }

    /// Resolves a record slot to the slot that first produced its record.
    fn origin(&self, ct: ContentType, mut k: u32, mut j: u32) -> (u32, u32) {
        let seed = self.settings.seed;
        let t = type_no(ct);
        let rate = self.settings.duplicate_record_rate;
        while k > 0 && unit(hash(&[seed, t, u64::from(k), u64::from(j), D_DUP])) < rate {
            let nk =
                (hash(&[seed, t, u64::from(k), u64::from(j), D_DUP_BLOB]) % u64::from(k)) as u32;
            // the slot must exist in the blob it points at (large blobs hold more records)
            let per_blob = self.records_in(nk).max(1);
            let nj = (hash(&[seed, t, u64::from(k), u64::from(j), D_DUP_SLOT])
                % u64::from(per_blob)) as u32;
            k = nk;
            j = nj;
        }
        (k, j)
    }

    /// Records held by the blob at position `k` of its content type: `large_blob_records` for the first
    /// `large_blobs` regular blobs, `records_per_blob` for the others.
    fn records_in(&self, k: u32) -> u32 {
        if k < self.settings.large_blobs {
            self.settings.large_blob_records
        } else {
            self.settings.records_per_blob
        }
    }

    fn record_id(&self, ct: ContentType, k: u32, j: u32) -> String {
        let mut rng = Rng::new(hash(&[
            self.settings.seed,
            type_no(ct),
            u64::from(k),
            u64::from(j),
            D_ID,
        ]));
        rng.guid()
    }

    /// The `Id` of every record of a blob, in order.
    pub fn record_ids(&self, blob: usize) -> Vec<String> {
        let b = &self.blobs[blob];
        (0..self.records_in(b.index))
            .map(|j| {
                let (k0, j0) = self.origin(b.content_type, b.index, j);
                self.record_id(b.content_type, k0, j0)
            })
            .collect()
    }

    /// The body of a blob: a JSON array of audit records.
    pub fn body(&self, blob: usize) -> Vec<u8> {
        let b = &self.blobs[blob];
        let ct = b.content_type;
        let per_type = &self.per_type[&ct];
        let records: Vec<serde_json::Value> = (0..self.records_in(b.index))
            .map(|j| {
                let (k0, j0) = self.origin(ct, b.index, j);
                let origin_blob = &self.blobs[per_type[k0 as usize]];
                let ctx = records::RecordContext {
                    id: self.record_id(ct, k0, j0),
                    tenant_id: &self.tenant_id,
                    available_ms: origin_blob.created_ms,
                    large_rate: self.settings.large_record_rate,
                    large_parameters: self.settings.large_record_parameters,
                };
                let mut rng = Rng::new(hash(&[
                    self.settings.seed,
                    type_no(ct),
                    u64::from(k0),
                    u64::from(j0),
                    D_RECORD,
                ]));
                records::record(ct, &ctx, &mut rng)
            })
            .collect();
        serde_json::to_vec(&records).unwrap_or_else(|_| b"[]".to_vec())
    }

    /// Describes every blob.
    pub fn describe(&self) -> Vec<BlobInfo> {
        (0..self.blobs.len())
            .map(|i| {
                let b = &self.blobs[i];
                BlobInfo {
                    content_type: b.content_type,
                    content_id: b.content_id.clone(),
                    content_created_ms: b.created_ms,
                    late: b.late,
                    listed_twice: self.listed_twice.contains(&i),
                    record_ids: self.record_ids(i),
                }
            })
            .collect()
    }
}

fn content_id(ct: ContentType, seed: u64, k: u32, created: i64) -> String {
    let t = type_no(ct);
    let h = hash(&[seed, t, u64::from(k), D_CID]);
    let lower = ct.as_str().replace('.', "_");
    let region = ["nam", "emea", "apac", "gcc"][(h % 4) as usize];
    format!(
        "{}{:06}${}{:06}${}${}${}{:04}",
        time::format(created, "%Y%m%d%H%M%S%3f"),
        h % 1_000_000,
        time::format(created + 97_000 + (h % 60_000) as i64, "%Y%m%d%H%M%S%3f"),
        (h >> 20) % 1_000_000,
        lower.to_lowercase(),
        lower,
        region,
        k,
    )
}

/// Retention of a blob after `contentCreated`.
pub(crate) const RETENTION: i64 = 7 * DAY;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn every_blob_is_found_by_its_content_id_and_garbage_is_not() {
        let cat = Catalog::new(&settings(), "t", 1_700_000_000_000);
        for (i, b) in cat.blobs.iter().enumerate() {
            assert_eq!(cat.find(&b.content_id), Some(i), "{}", b.content_id);
        }
        let some = &cat.blobs[3].content_id;
        for bad in [
            "",
            "$",
            "$$",
            "x$Audit_Exchange$nam",
            "x$Audit_Nothing$nam0001",
            "x$Audit_Exchange$nam99999999999999999999999",
            &some[..some.len() - 1],
            &format!("1{some}"),
        ] {
            assert_eq!(cat.find(bad), None, "{bad}");
        }
    }

    #[test]
    fn tenant_zero_keeps_the_base_seed_and_others_differ() {
        assert_eq!(tenant_seed(7, 0), 7);
        let seeds: BTreeSet<u64> = (0..100).map(|i| tenant_seed(7, i)).collect();
        assert_eq!(seeds.len(), 100);
    }

    fn settings() -> ContentSettings {
        ContentSettings {
            hours: 3,
            records_per_blob: 6,
            duplicate_record_rate: 0.3,
            ..ContentSettings::default()
        }
    }

    #[test]
    fn same_seed_same_catalog_other_seed_other_ids() {
        let a = Catalog::new(&settings(), "t", 1_700_000_000_000);
        let b = Catalog::new(&settings(), "t", 1_700_000_000_000);
        assert_eq!(a.describe(), b.describe());
        assert_eq!(a.body(3), b.body(3));
        let c = Catalog::new(
            &ContentSettings {
                seed: 2,
                ..settings()
            },
            "t",
            1_700_000_000_000,
        );
        assert_ne!(a.describe()[0].record_ids, c.describe()[0].record_ids);
    }

    #[test]
    fn duplicated_records_are_identical_to_their_first_occurrence() {
        let cat = Catalog::new(&settings(), "t", 1_700_000_000_000);
        let mut seen: HashMap<String, serde_json::Value> = HashMap::new();
        let mut repeats = 0;
        for i in 0..cat.blobs.len() {
            let body: Vec<serde_json::Value> = serde_json::from_slice(&cat.body(i)).expect("json");
            for (rec, id) in body.iter().zip(cat.record_ids(i)) {
                if let Some(prev) = seen.get(&id) {
                    assert_eq!(prev, rec);
                    repeats += 1;
                } else {
                    seen.insert(id, rec.clone());
                }
            }
        }
        assert!(repeats > 0, "a 30% duplicate rate produced no repeats");
    }

    #[test]
    fn large_blobs_hold_their_own_record_count_and_repeats_stay_consistent() {
        let settings = ContentSettings {
            large_blobs: 2,
            large_blob_records: 40,
            ..settings()
        };
        let cat = Catalog::new(&settings, "t", 1_700_000_000_000);
        let mut seen: HashMap<String, serde_json::Value> = HashMap::new();
        for i in 0..cat.blobs.len() {
            let body: Vec<serde_json::Value> = serde_json::from_slice(&cat.body(i)).expect("json");
            let expected = if cat.blobs[i].index < 2 { 40 } else { 6 };
            assert_eq!(body.len(), expected, "blob {i}");
            assert_eq!(cat.record_ids(i).len(), expected);
            for (rec, id) in body.iter().zip(cat.record_ids(i)) {
                let rec_id = rec.get("Id").or_else(|| rec.get("id"));
                assert_eq!(rec_id.and_then(|v| v.as_str()), Some(id.as_str()));
                if let Some(prev) = seen.get(&id) {
                    assert_eq!(prev, rec);
                } else {
                    seen.insert(id, rec.clone());
                }
            }
        }
    }

    #[test]
    fn content_ids_are_unique_and_contain_dollars() {
        let cat = Catalog::new(&settings(), "t", 1_700_000_000_000);
        let ids: BTreeSet<_> = cat.blobs.iter().map(|b| b.content_id.clone()).collect();
        assert_eq!(ids.len(), cat.blobs.len());
        assert!(
            cat.blobs
                .iter()
                .all(|b| b.content_id.matches('$').count() == 4)
        );
    }
}
