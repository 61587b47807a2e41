//! Thin entry point: parse the command line, hand it to the library, exit with its code.

/// mimalloc instead of the system allocator: the pipeline allocates a little per record on every core, where
/// glibc's per-thread arenas kept freed memory resident and spent a fifth of the CPU time in `malloc`/`free`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    o365sync::cli::main()
}
