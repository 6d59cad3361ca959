#!/usr/bin/env bash
# What one 20 MB message does to everyone else's latency, same run:
#
#     integration/compare-hog.sh [DURATION_SECONDS] [CONCURRENCY] [ROUNDS] [HOG_SIZE]
#
# sge-milter (every check on, TCP, loopback knotd for load.test) and, as the
# reference, the no-op milter, each driven by sge-milter-load with the mixed corpus
# at CONCURRENCY, in alternating rounds without and with --hog-size HOG_SIZE (one
# more connection sending HOG_SIZE messages back to back, not counted). Prints the
# median p99 and EOM p99 of the counted messages both ways and the difference.
# The hog also takes CPU: on a small machine part of the difference is the CPU it
# uses, which the no-op milter's row shows for the client side.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
CONC="${2:-16}"
ROUNDS="${3:-3}"
HOG="${4:-20MiB}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$CARGO_TARGET_DIR/release"
[ -n "${SGE_COMPARE_NO_BUILD:-}" ] || nice -n 5 cargo build --release --bins --quiet

. integration/compare-lib.sh

P_DNS=$(free_port); P_SGE=$(free_port); P_NOOP=$(free_port)
start_knot 127.0.0.1 "$P_DNS"
sge_config "$WORK/sge.toml" "inet:127.0.0.1:$P_SGE" "127.0.0.1:$P_DNS"
"$BIN/sge-milter" run --config "$WORK/sge.toml" 2>"$WORK/sge.log" & PIDS+=($!)
"$BIN/sge-milter-load" noop --listen "inet:127.0.0.1:$P_NOOP" & PIDS+=($!)
wait_port 127.0.0.1 "$P_SGE"; wait_port 127.0.0.1 "$P_NOOP"

LOAD=("$BIN/sge-milter-load" run --json --concurrency "$CONC"
      --sign-key "$WORK/key.pem" --sign-selector load --domain load.test)
# Warm the caches once.
"${LOAD[@]}" --label warm --target "inet:127.0.0.1:$P_SGE" -n 200 >/dev/null
: >"$WORK/results.jsonl"
for r in $(seq "$ROUNDS"); do
    for target in sge:$P_SGE noop:$P_NOOP; do
        name=${target%%:*}; port=${target#*:}
        "${LOAD[@]}" --duration "$DURATION" --label "$name" --target "inet:127.0.0.1:$port" >>"$WORK/results.jsonl"
        "${LOAD[@]}" --duration "$DURATION" --label "$name+hog" --target "inet:127.0.0.1:$port" --hog-size "$HOG" >>"$WORK/results.jsonl"
        echo "round $r $name done" >&2
    done
done

echo
echo "load: $(load_average), $(nproc) CPUs; ${ROUNDS} rounds of ${DURATION}s at c${CONC}, hog: one connection sending $HOG messages"
python3 - "$WORK/results.jsonl" <<'PY'
import json, sys, statistics
by = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    by.setdefault(r["label"], []).append(r)
med = lambda k, rs: statistics.median(x[k] for x in rs)
print("| milter | p99 ms without | p99 ms with hog | p99 delta ms | eom p99 ms without | eom p99 ms with hog | msg/s with/without | hog messages per round |")
print("|---|---|---|---|---|---|---|---|")
for name in ("sge", "noop"):
    a, b = by[name], by[name + "+hog"]
    print(f"| {name} | {med('p99_ms', a):.1f} | {med('p99_ms', b):.1f} | {med('p99_ms', b) - med('p99_ms', a):+.1f} | "
          f"{med('eom_p99_ms', a):.2f} | {med('eom_p99_ms', b):.2f} | {med('msg_per_s', b) / med('msg_per_s', a):.2f} | "
          f"{' '.join(str(x.get('hog_messages')) for x in b)} |")
PY
