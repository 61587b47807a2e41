//! Thin entry point: parse the command line, hand it to the library, exit with its code.

/// mimalloc instead of the system allocator: the pipeline allocates a little per record on every core, where
/// glibc's per-thread arenas kept freed memory resident and spent a fifth of the CPU time in `malloc`/`free`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`: its position in `mi_option_e` (the same in mimalloc's v2 and v3 `mimalloc.h`; the sys
/// crate exports no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the system 100 ms after it was freed, instead of mimalloc's default second: a sync
/// frees blobs' worth of events continuously, and a second of them kept resident was a third of the peak (measured
/// in BENCHMARKS.md: 116 → 84 MiB, for about 3 % more CPU time).
const PURGE_DELAY_MS: std::ffi::c_long = 100;

fn main() -> std::process::ExitCode {
    // SAFETY: `mi_option_set` stores an integer option (thread-safe, no preconditions); mimalloc reads it at its
    // next purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    o365sync::cli::main()
}
