#!/usr/bin/env bash
# What one 20 MB message does to everyone else's latency, same run:
#
#     integration/compare-hog.sh [DURATION_SECONDS] [CONCURRENCY] [ROUNDS] [HOG_SIZE] [HOG_EVERY] [HOG_KIND]
#
# sge-milter (every check on, TCP, loopback knotd for load.test) and, as the
# reference, the no-op milter, each driven by sge-milter-load with the mixed corpus
# at CONCURRENCY, in alternating rounds of three runs:
#   - no hog;
#   - one message: one more connection sends one HOG_SIZE message every HOG_EVERY
#     seconds (--hog-every); the counted messages in flight at the same time as a
#     hog message are compared with the others of the same run (the issue's "one
#     20 MB message must not raise other connections' p99 by more than 10 ms");
#   - back to back (the harsh variant): that connection sends HOG_SIZE messages
#     without a pause, compared with the run without a hog.
# HOG_KIND is text (default: plain text, scanned as it arrives) or gzip (a gzip
# attachment of word text, opened at the end of the message). The hog's messages
# are not counted. Prints the medians over the rounds.
# The hog also takes CPU: on a small machine part of the difference is the CPU it
# uses, which the no-op milter's row shows for the client side.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
CONC="${2:-16}"
ROUNDS="${3:-3}"
HOG="${4:-20MiB}"
EVERY="${5:-2}"
KIND="${6:-text}"
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
        "${LOAD[@]}" --duration "$DURATION" --label "$name+one" --target "inet:127.0.0.1:$port" --hog-size "$HOG" --hog-kind "$KIND" --hog-every "$EVERY" >>"$WORK/results.jsonl"
        "${LOAD[@]}" --duration "$DURATION" --label "$name+b2b" --target "inet:127.0.0.1:$port" --hog-size "$HOG" --hog-kind "$KIND" >>"$WORK/results.jsonl"
        echo "round $r $name done" >&2
    done
done

echo
echo "load: $(load_average), $(nproc) CPUs; ${ROUNDS} rounds of ${DURATION}s at c${CONC}; hog: $HOG $KIND messages, one every ${EVERY}s or back to back"
python3 - "$WORK/results.jsonl" <<'PY'
import json, sys, statistics
by = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    by.setdefault(r["label"], []).append(r)
def med(rs, *path):
    def get(x):
        for k in path:
            x = x[k]
        return x
    return statistics.median(get(x) for x in rs)
hogs = lambda rs: " ".join(str(x.get("hog_messages")) for x in rs)
print("One message: p99 (ms) of the messages in flight while a hog message is, against the other messages of the same run.")
print("| milter | p99 no hog (own run) | p99 outside hog | p99 while hog in flight | delta | messages while in flight | p99 whole run | hog messages per round |")
print("|---|---|---|---|---|---|---|---|")
for name in ("sge", "noop"):
    a, o = by[name], by[name + "+one"]
    out, dur = med(o, "outside_window", "p99_ms"), med(o, "hog_window", "p99_ms")
    print(f"| {name} | {med(a, 'p99_ms'):.1f} | {out:.1f} | {dur:.1f} | {dur - out:+.1f} | "
          f"{med(o, 'hog_window', 'messages'):.0f} | {med(o, 'p99_ms'):.1f} | {hogs(o)} |")
print()
print("Back to back: p99 (ms) with a hog message always in flight, against the run without a hog.")
print("| milter | p99 without | p99 with hog | p99 delta | eom p99 without | eom p99 with hog | msg/s with/without | hog messages per round |")
print("|---|---|---|---|---|---|---|---|")
for name in ("sge", "noop"):
    a, b = by[name], by[name + "+b2b"]
    print(f"| {name} | {med(a, 'p99_ms'):.1f} | {med(b, 'p99_ms'):.1f} | {med(b, 'p99_ms') - med(a, 'p99_ms'):+.1f} | "
          f"{med(a, 'eom_p99_ms'):.2f} | {med(b, 'eom_p99_ms'):.2f} | {med(b, 'msg_per_s') / med(a, 'msg_per_s'):.2f} | {hogs(b)} |")
PY
