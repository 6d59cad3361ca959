#!/usr/bin/env bash
# Soak through the load harness (not run by CI): the release sge-milter under the
# mixed corpus of sge-milter-load (2 KB-2 MB, signed and unsigned, marked, DLP hits,
# attachments) at a fixed concurrency for a long time, every check on, DNS from a
# loopback knotd. As root:
#
#     integration/soak-harness.sh [MINUTES] [CONCURRENCY]      # default 30 16
#
# Samples the milter's resident memory and open fds every 10 s. After a warm-up (the
# first fifth of the samples) the mean of the last fifth must be within 5% of the
# mean of the first fifth after warm-up; the harness must count no error and the
# milter's errors_total must stay at zero. Exits non-zero otherwise.
# integration/soak.sh is the same check through a private Postfix.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES="${1:-30}"
CONC="${2:-16}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$CARGO_TARGET_DIR/release"
[ "$(id -u)" = 0 ] || { echo "soak-harness.sh: run as root (knotd on a private loopback address)" >&2; exit 1; }
[ -n "${SGE_SOAK_NO_BUILD:-}" ] || nice -n 5 cargo build --release --bins --quiet

source integration/compare-lib.sh
DNS_PORT=$(free_port)
start_knot 127.0.0.1 "$DNS_PORT"
MILTER_PORT=$(free_port); METRICS_PORT=$(free_port)
sge_config "$WORK/sge-milter.toml" "inet:127.0.0.1:$MILTER_PORT" "127.0.0.1:$DNS_PORT" "" \
    "[metrics]
listen = \"127.0.0.1:$METRICS_PORT\""
"$BIN/sge-milter" run --config "$WORK/sge-milter.toml" 2>"$WORK/sge.log" & PIDS+=($!); SGE_PID=$!
wait_port 127.0.0.1 "$MILTER_PORT"

"$BIN/sge-milter-load" run --json --concurrency "$CONC" --duration "$((MINUTES * 60))" \
    --sign-key "$WORK/key.pem" --sign-selector load --domain load.test --warmup 200 \
    --target "inet:127.0.0.1:$MILTER_PORT" --label soak >"$WORK/result.json" & LOAD_PID=$!
PIDS+=("$LOAD_PID")

: >"$WORK/samples"
while kill -0 "$LOAD_PID" 2>/dev/null; do
    sleep 10
    kill -0 "$LOAD_PID" 2>/dev/null || break   # sample only while the load runs
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SGE_PID/status")
    fds=$(ls "/proc/$SGE_PID/fd" | wc -l)
    echo "$rss $fds" >>"$WORK/samples"
    echo "t=$(( $(wc -l <"$WORK/samples") * 10 ))s rss=${rss} KiB fds=${fds}"
done
wait "$LOAD_PID"
errors_total=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics" \
    | awk '/^sgemilter_errors_total/ {s += $2} END {print s + 0}')

python3 - "$WORK/samples" "$WORK/result.json" "$errors_total" "$MINUTES" "$CONC" <<'PY'
import json, sys
samples = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
result = json.load(open(sys.argv[2]))
errors_total = float(sys.argv[3])
fifth = max(len(samples) // 5, 1)
after = samples[fifth:]
first, last = after[:fifth], after[-fifth:]
mean = lambda xs: sum(xs) / len(xs)
rss0, rss1 = mean([s[0] for s in first]), mean([s[0] for s in last])
fd0, fd1 = mean([s[1] for s in first]), mean([s[1] for s in last])
drift = lambda a, b: (b - a) / a * 100
print(f"soak-harness: {sys.argv[4]} min, c{sys.argv[5]}, {result['messages']} messages "
      f"({result['msg_per_s']:.0f}/s), p99 {result['p99_ms']:.1f} ms, "
      f"rss {rss0:.0f} -> {rss1:.0f} KiB ({drift(rss0, rss1):+.1f}%), "
      f"fds {fd0:.1f} -> {fd1:.1f} ({drift(fd0, fd1):+.1f}%), "
      f"harness errors {result['errors']}, errors_total {errors_total:.0f}")
ok = abs(drift(rss0, rss1)) <= 5 and abs(drift(fd0, fd1)) <= 5 \
    and result["errors"] == 0 and errors_total == 0
sys.exit(0 if ok else 1)
PY
