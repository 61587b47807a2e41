//! What the fuzz targets share: the checks of a normalized event (the same file the test suite uses), and a
//! deterministic way to cut a body into chunks.

#[path = "../../tests/normalize_support/checks.rs"]
pub mod checks;

/// Cuts `body` into chunks whose lengths come from a small generator seeded by `seed` (1 to 64 bytes, now and then
/// up to 4 KiB): the same input always gives the same cuts, so a finding reproduces.
pub fn chunks(body: &[u8], seed: u64) -> Vec<&[u8]> {
    let mut state = seed | 1;
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = if state % 16 == 0 {
            (state >> 8) % 4096
        } else {
            (state >> 8) % 64
        } as usize
            + 1;
        let (head, tail) = rest.split_at(len.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

/// Whether this input also gets the slow checks (OCSF schema validation, about 100 times the cost of normalizing
/// under the sanitizers): one input in 16, chosen by a hash of its bytes so that a finding reproduces, and only when
/// `FUZZ_SCHEMA` is set (`fuzz/run.sh` sets it for its long runs; the CI smoke's unoptimized build would spend
/// minutes compiling the schemas).
pub fn sampled(data: &[u8]) -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*ON.get_or_init(|| std::env::var_os("FUZZ_SCHEMA").is_some()) {
        return false;
    }
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % 16 == 0
}
