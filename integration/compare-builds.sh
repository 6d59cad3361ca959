#!/usr/bin/env bash
# Two builds of sge-milter, alternated in one run, for before/after figures on a
# noisy host:
#
#     integration/compare-builds.sh DIR_A DIR_B [ROUNDS] [DURATION_SECONDS] [LOAD_ARGS...]
#
# DIR_A and DIR_B each hold sge-milter and sge-milter-load (copies of a
# target/release). Starts a loopback knotd serving load.test, both sge-milters (every
# check on, TCP) and the no-op milter, all at once, then for each round drives the
# no-op milter, A and B in turn with DIR_A's sge-milter-load (16 connections, the
# mixed corpus unless LOAD_ARGS say otherwise) and prints msg/s, the milter's CPU
# time per message (utime+stime from /proc/PID/stat around the run), p99 and EOM p99.
# Compare A and B within a round: the host's speed drifts between rounds, and more
# than the change being measured (compare-cpu.sh runs one build at a time).
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 2 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
A="$1"; B="$2"; ROUNDS="${3:-5}"; DURATION="${4:-5}"
shift "$(( $# < 4 ? $# : 4 ))"
BIN="$A"
. integration/compare-lib.sh

DNS_PORT=$(free_port)
start_knot 127.0.0.1 "$DNS_PORT"
P_A=$(free_port); P_B=$(free_port); P_NOOP=$(free_port)
sge_config "$WORK/a.toml" "inet:127.0.0.1:$P_A" "127.0.0.1:$DNS_PORT"
sge_config "$WORK/b.toml" "inet:127.0.0.1:$P_B" "127.0.0.1:$DNS_PORT"
"$A/sge-milter" run --config "$WORK/a.toml" 2>"$WORK/a.log" & PIDS+=($!); PID_A=$!
"$B/sge-milter" run --config "$WORK/b.toml" 2>"$WORK/b.log" & PIDS+=($!); PID_B=$!
"$A/sge-milter-load" noop --listen "inet:127.0.0.1:$P_NOOP" & PIDS+=($!); PID_NOOP=$!
wait_port 127.0.0.1 "$P_A"; wait_port 127.0.0.1 "$P_B"; wait_port 127.0.0.1 "$P_NOOP"

LOAD=("$A/sge-milter-load" run --concurrency 16 --sign-key "$WORK/key.pem"
      --sign-selector load --domain load.test --warmup 200 "$@")
TICKS=$(getconf CLK_TCK)

echo "load: $(load_average), $(nproc) CPUs; $ROUNDS rounds of ${DURATION}s; A=$A B=$B"
for port in "$P_NOOP" "$P_A" "$P_B"; do
    "${LOAD[@]}" --target "inet:127.0.0.1:$port" --duration 2 >/dev/null
done
for round in $(seq "$ROUNDS"); do
    for run in "noop $P_NOOP $PID_NOOP" "A $P_A $PID_A" "B $P_B $PID_B"; do
        read -r name port pid <<<"$run"
        before=$(cpu_ticks "$pid")
        "${LOAD[@]}" --target "inet:127.0.0.1:$port" --duration "$DURATION" --json >"$WORK/result.json"
        after=$(cpu_ticks "$pid")
        python3 - "$round" "$name" "$before" "$after" "$TICKS" "$WORK/result.json" <<'PY'
import json, sys
round_, name, before, after, ticks, result_file = sys.argv[1:]
r = json.load(open(result_file))
cpu = (int(after) - int(before)) / int(ticks) / r["messages"] * 1e6
print(f"round {round_} {name:4} {r['msg_per_s']:6.0f} msg/s  milter {cpu:5.0f} µs/msg"
      f"  p99 {r['p99_ms']:6.2f} ms  eom p99 {r['eom_p99_ms']:5.2f} ms")
PY
    done
done
