//! Sharding a directory of jobs across machines: `run --shard INDEX/COUNT` runs only the jobs whose stable hash of
//! `name` falls in shard `INDEX` of `COUNT` ([`shard_of`]); `o365sync shards DIR --count N` prints the assignment
//! ([`cli`]).
//!
//! [`shard_of`] is a compatibility boundary: a job's state lives on the volume of the shard that runs it, so changing
//! the function would move every job to another shard, away from its state. Its pinned test vectors must never
//! change.

pub mod cli;

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The shard (0-based, below `count`) that runs the job called `name` when the jobs are split into `count` shards;
/// a `count` of 0 is taken as 1.
///
/// The key is the first 8 bytes (big-endian) of the SHA-256 of the UTF-8 name, the same on every platform and in
/// every version; the shard is the jump consistent hash of that key ([`jump_hash`]). When the count grows from `C`
/// to `C + 1`, about `1 / (C + 1)` of the jobs move, all of them to the new shard `C`; every other job stays where
/// it was, with its state. Shrinking from `C + 1` to `C` moves back exactly the jobs of shard `C`.
pub fn shard_of(name: &str, count: u32) -> u32 {
    let digest = Sha256::digest(name.as_bytes());
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    jump_hash(u64::from_be_bytes(key), count.max(1))
}

/// Jump consistent hash: John Lamping and Eric Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm" (2014,
/// arXiv:1406.2294), figure 1, transcribed with the same 64-bit linear congruential step and the same IEEE-754
/// double arithmetic (exact in Rust on every platform), so it gives the paper's buckets. `buckets` must be at
/// least 1; the result is below it.
fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let buckets = i64::from(buckets);
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < buckets {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        // `as` saturates: a jump past i64::MAX ends the loop like any jump past `buckets`.
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    // 0 <= b < buckets <= u32::MAX
    u32::try_from(b).unwrap_or(0)
}

/// One shard of `count` (0-based `index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index, below `count`.
    pub index: u32,
    /// How many shards share the jobs (at least 1).
    pub count: u32,
}

/// A `--shard` / `O365SYNC_SHARD` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not `INDEX/COUNT`.
    #[error(
        "`{0}` is not INDEX/COUNT: give a 0-based shard index and the number of shards, such as 0/3, or a \
         StatefulSet pod name and the count, such as o365sync-2/3"
    )]
    Malformed(String),
    /// `COUNT` is 0.
    #[error("the shard count in `{0}` is 0: give at least 1")]
    ZeroCount(String),
    /// `INDEX` is not below `COUNT`.
    #[error(
        "shard index {index} is not below the count {count}: indexes are 0-based, so the shards of {count} are \
         0 to {last}",
        last = count.saturating_sub(1)
    )]
    IndexOutOfRange {
        /// The index given.
        index: u32,
        /// The count given.
        count: u32,
    },
}

impl Shard {
    /// Whether the job called `name` belongs to this shard.
    pub fn contains(&self, name: &str) -> bool {
        shard_of(name, self.count) == self.index
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    /// `INDEX/COUNT`, where `INDEX` is a number or a StatefulSet pod name ending in `-ORDINAL` (`o365sync-2`).
    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let malformed = || ShardError::Malformed(s.to_owned());
        let (index, count) = s.trim().rsplit_once('/').ok_or_else(malformed)?;
        let number = |t: &str| {
            (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<u32>().ok())
                .flatten()
        };
        let count = number(count).ok_or_else(malformed)?;
        let index = number(index)
            .or_else(|| {
                // A pod name: a non-empty name, `-`, the ordinal (`-1` alone is no pod name).
                index
                    .rsplit_once('-')
                    .filter(|(pod, _)| !pod.is_empty())
                    .and_then(|(_, ordinal)| number(ordinal))
            })
            .ok_or_else(malformed)?;
        if count == 0 {
            return Err(ShardError::ZeroCount(s.to_owned()));
        }
        if index >= count {
            return Err(ShardError::IndexOutOfRange { index, count });
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Pinned: these assignments decide which volume holds each job's state. If this test fails, `shard_of` changed
    /// and every deployment's jobs would move away from their state: change the function back.
    #[test]
    fn shard_of_is_pinned() {
        let pinned: [(&str, [u32; 6]); 8] = [
            ("contoso", [0, 0, 0, 0, 383, 1_565_243_656]),
            ("fabrikam-gcc", [0, 0, 0, 7, 153, 586_129_669]),
            ("tailspin_audit", [0, 1, 1, 6, 493, 975_983_845]),
            ("demo", [0, 0, 0, 0, 950, 3_107_262_760]),
            ("a", [0, 1, 1, 1, 912, 2_160_598_349]),
            ("job-042", [0, 1, 1, 3, 120, 4_002_701_124]),
            ("north-wind-dlp", [0, 1, 1, 1, 625, 140_556_086]),
            ("\u{fc}", [0, 1, 1, 8, 734, 1_493_075_825]),
        ];
        for (name, shards) in pinned {
            let got = [1, 2, 3, 10, 1000, u32::MAX].map(|count| shard_of(name, count));
            assert_eq!(got, shards, "{name}");
        }
        assert_eq!(shard_of("contoso", 0), 0, "a count of 0 is taken as 1");
    }

    #[test]
    fn contains_is_shard_of() {
        assert!(
            Shard {
                index: 7,
                count: 10
            }
            .contains("fabrikam-gcc")
        );
        assert!(
            !Shard {
                index: 0,
                count: 10
            }
            .contains("fabrikam-gcc")
        );
        assert!(Shard { index: 0, count: 1 }.contains("anything"));
    }

    #[test]
    fn shards_are_roughly_even() {
        let mut sizes = [0u32; 10];
        for i in 0..10_000 {
            sizes[shard_of(&format!("job-{i}"), 10) as usize] += 1;
        }
        assert!(
            sizes.iter().all(|&n| (850..=1150).contains(&n)),
            "{sizes:?}"
        );
    }

    proptest! {
        #[test]
        fn every_name_is_in_exactly_one_shard(name in "\\PC{0,40}", count in 1u32..64) {
            let s = shard_of(&name, count);
            prop_assert!(s < count);
            let holders = (0..count).filter(|&index| Shard { index, count }.contains(&name)).count();
            prop_assert_eq!(holders, 1);
        }

        #[test]
        fn growing_the_count_moves_names_only_to_the_new_shard(name in "[a-z0-9][a-z0-9_-]{0,30}", count in 1u32..64) {
            let before = shard_of(&name, count);
            let after = shard_of(&name, count + 1);
            prop_assert!(after == before || after == count, "{} moved from {} to {}", name, before, after);
        }
    }

    #[test]
    fn shards_parse_from_numbers_and_pod_names() {
        assert_eq!("0/3".parse(), Ok(Shard { index: 0, count: 3 }));
        assert_eq!("o365sync-2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(
            "o365sync-3/3".parse::<Shard>(),
            Err(ShardError::IndexOutOfRange { index: 3, count: 3 })
        );
        assert!(matches!(
            "1/0".parse::<Shard>(),
            Err(ShardError::ZeroCount(_))
        ));
        for bad in [
            "",
            "3",
            "a/3",
            "1/",
            "/3",
            "-1/3",
            "1/3/4x",
            "o365sync/3",
            "1/+3",
        ] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
