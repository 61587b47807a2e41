#!/usr/bin/env bash
# Runs the fuzz targets: `fuzz/run.sh SECONDS [TARGET...]` (default: every target of `cargo fuzz list`), two at a time.
# Builds them first (cargo fuzz, nightly; cargo-fuzz is installed when missing) unless FUZZ_NO_BUILD is set;
# FUZZ_DEV=1 builds them unoptimized. Each run starts from the committed
# seeds (fuzz/seeds/TARGET) and the working corpus it grows (fuzz/corpus/TARGET, not committed); a crashing input is
# written to fuzz/artifacts/TARGET/ and fails the script. The last status line of each run is printed and kept in
# fuzz/logs/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift

# Nightly for `cargo fuzz` (sanitizer flags); without a nightly toolchain, the stable one with RUSTC_BOOTSTRAP.
if rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=(+nightly)
else
    echo "no nightly toolchain: building the fuzz targets with the stable one (RUSTC_BOOTSTRAP=1)" >&2
    toolchain=()
    export RUSTC_BOOTSTRAP=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi
# FUZZ_DEV=1 (the CI smoke): an unoptimized build, three times quicker to build cold, slower to run, and without
# the schema validation of the normalizer targets.
build=(--codegen-units 16)
bin=fuzz/target/x86_64-unknown-linux-gnu/release
if [ -n "${FUZZ_DEV:-}" ]; then
    build+=(--dev)
    bin=fuzz/target/x86_64-unknown-linux-gnu/debug
else
    # the normalizer targets validate one input in 16 against its OCSF schema (fuzz/src/lib.rs)
    export FUZZ_SCHEMA=1
fi
if [ -z "${FUZZ_NO_BUILD:-}" ]; then
    cargo "${toolchain[@]}" fuzz build "${build[@]}"
fi
mkdir -p fuzz/logs

run_one() {
    local target=$1 seconds=$2 max_len=16384
    case $target in
        state_open) max_len=131072 ;;
    esac
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    if "$bin/$target" "fuzz/corpus/$target" "fuzz/seeds/$target" \
        -max_total_time="$seconds" -max_len="$max_len" -timeout=120 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$target/" >"fuzz/logs/$target.log" 2>&1; then
        echo "$target: $(grep -E '^#[0-9]+.*DONE' "fuzz/logs/$target.log" | tail -n 1)"
    else
        echo "$target: FAILED, see fuzz/logs/$target.log and fuzz/artifacts/$target/"
        grep -E "panicked at|SUMMARY|Test unit written" -A2 "fuzz/logs/$target.log" | head -n 12
        return 1
    fi
}
export -f run_one
export bin
printf '%s\n' "${targets[@]}" | xargs -P 2 -I{} bash -c 'run_one "$1" "$2"' _ {} "$seconds"
