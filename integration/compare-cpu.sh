#!/usr/bin/env bash
# CPU time per message, milter and client side, same run:
#
#     integration/compare-cpu.sh [DURATION_SECONDS] [CONCURRENCY]
#
# Starts a loopback knotd serving load.test, the no-op milter and sge-milter (every
# check on, TCP), then drives each with sge-milter-load on the mixed corpus for
# DURATION seconds and prints msg/s and the CPU seconds per message of the milter
# (utime+stime from /proc/PID/stat around the run) and of the client (/usr/bin/time).
# The ratio compare.sh prints is (client + no-op) / (client + sge-milter) per
# message; this shows each term, and SGE_COMPARE_BIN=DIR runs the binaries of
# another build (e.g. a copy of an earlier target/release) to compare absolute cost.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
CONC="${2:-16}"
BIN="${SGE_COMPARE_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release}"
command -v /usr/bin/time >/dev/null || { echo "compare-cpu.sh: needs /usr/bin/time (Debian package time)" >&2; exit 1; }
[ -n "${SGE_COMPARE_NO_BUILD:-}${SGE_COMPARE_BIN:-}" ] || nice -n 5 cargo build --release --bins --quiet

. integration/compare-lib.sh

DNS_PORT=$(free_port)
start_knot 127.0.0.1 "$DNS_PORT"
P_SGE=$(free_port); P_NOOP=$(free_port)
sge_config "$WORK/sge-milter.toml" "inet:127.0.0.1:$P_SGE" "127.0.0.1:$DNS_PORT"
"$BIN/sge-milter" run --config "$WORK/sge-milter.toml" 2>"$WORK/sge.log" & PIDS+=($!); SGE_PID=$!
"$BIN/sge-milter-load" noop --listen "inet:127.0.0.1:$P_NOOP" & PIDS+=($!); NOOP_PID=$!
wait_port 127.0.0.1 "$P_SGE"; wait_port 127.0.0.1 "$P_NOOP"

LOAD=("$BIN/sge-milter-load" run --concurrency "$CONC" --sign-key "$WORK/key.pem"
      --sign-selector load --domain load.test --warmup 200)
TICKS=$(getconf CLK_TCK)

echo "load: $(load_average), $(nproc) CPUs; ${DURATION}s at c${CONC}; binaries: $BIN"
for run in "noop $P_NOOP $NOOP_PID" "sge-milter $P_SGE $SGE_PID"; do
    read -r name port pid <<<"$run"
    "${LOAD[@]}" --target "inet:127.0.0.1:$port" --duration 2 >/dev/null
    before=$(cpu_ticks "$pid")
    /usr/bin/time -f "%U %S" -o "$WORK/time" "${LOAD[@]}" --target "inet:127.0.0.1:$port" \
        --duration "$DURATION" --json >"$WORK/result.json"
    after=$(cpu_ticks "$pid")
    python3 - "$name" "$before" "$after" "$TICKS" "$WORK/time" "$WORK/result.json" <<'PY'
import json, sys
name, before, after, ticks, time_file, result_file = sys.argv[1:]
r = json.load(open(result_file))
user, system = map(float, open(time_file).read().split()[-2:])
messages = r["messages"]
milter = (int(after) - int(before)) / int(ticks)
client = user + system
print(f"{name:11} {r['msg_per_s']:7.0f} msg/s  milter {milter / messages * 1e6:5.0f} µs/msg"
      f"  client {client / messages * 1e6:5.0f} µs/msg  ({messages} messages)")
PY
done
