//! Sharding a directory of jobs across machines: `run --shard INDEX/COUNT` runs only the jobs whose stable hash of
//! `name` falls in shard `INDEX` of `COUNT`.

use std::fmt;
use std::str::FromStr;

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
                index
                    .rsplit_once('-')
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

impl Shard {
    /// Whether the job named `name` belongs to this shard.
    pub fn contains(&self, name: &str) -> bool {
        shard_of(name, self.count) == self.index
    }
}

/// The shard of `count` the job named `name` belongs to: SHA-256 of the name, its first 8 bytes as a big-endian
/// integer, placed by jump consistent hash (Lamping and Veach, 2014). Stable across platforms and versions.
pub fn shard_of(name: &str, count: u32) -> u32 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    let mut key = u64::from_be_bytes(bytes);
    let (mut b, mut j) = (-1i64, 0i64);
    while j < i64::from(count) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    u32::try_from(b.max(0)).unwrap_or(0)
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
