#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time on the stable toolchain.
#
#     integration/fuzz.sh [TARGET...]
#
# Stable rustc accepts cargo-fuzz's -Z flags with RUSTC_BOOTSTRAP=1; `-s none` builds
# without a sanitizer runtime (libFuzzer still finds panics, aborts and hangs; a panic
# anywhere aborts the process). Each target starts from its seed corpus in
# fuzz/seeds/TARGET (read only) plus whatever earlier runs added to fuzz/corpus/TARGET.
# Targets run two at a time (CI has 2 cores).
#
# Environment: SGE_FUZZ_SECONDS (default 20) per target; SGE_FUZZ_JOBS (default 2).
# A crash leaves its input in fuzz/artifacts/TARGET/: add it to fuzz/seeds/TARGET and a
# regression test to the normal suite, then fix the bug.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1
SECONDS_PER_TARGET="${SGE_FUZZ_SECONDS:-20}"
JOBS="${SGE_FUZZ_JOBS:-2}"

if (($#)); then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build -s none
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

run_one() {
    local t=$1 secs=$2 logs=$3
    mkdir -p "corpus/$t"
    if cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -timeout=30 -print_final_stats=1 >"$logs/$t.log" 2>&1; then
        printf '    %-16s ok   %s\n' "$t" "$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$') runs"
    else
        printf '    %-16s FAILED\n' "$t"
        tail -n 60 "$logs/$t.log"
        return 1
    fi
}
export -f run_one

printf '%s\n' "${targets[@]}" |
    xargs -P "$JOBS" -I{} bash -c 'run_one "$@"' _ {} "$SECONDS_PER_TARGET" "$logs" ||
    { echo "integration/fuzz.sh: a fuzz target failed; its input is in fuzz/artifacts/" >&2; exit 1; }
