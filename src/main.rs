//! Thin entry point: parse the command line, hand it to the library, exit with its code.

fn main() -> std::process::ExitCode {
    o365sync::cli::main()
}
