#!/usr/bin/env bash
# The memory targets of issue 11, one command:
#
#     integration/memory.sh [IDLE_CONNECTIONS] [BIG_MESSAGES] [BIG_SIZE]
#
# 1. Idle: a fresh sge-milter ([milter] max_connections raised), IDLE_CONNECTIONS
#    (default 1000) milter connections opened and greeted and held, one message
#    sent; the milter's peak (VmHWM) and current (VmRSS) resident memory while they
#    are open. Target: <= 64 MB.
# 2. Big: a fresh sge-milter ([limits] max_in_flight_bytes raised so nothing is
#    refused), BIG_MESSAGES (default 256) connections each sending one BIG_SIZE
#    (default 8MiB) message, each waiting after its body until all have sent theirs
#    (--hold-eom), so BIG x BIG_SIZE bytes are in the milter at once; the milter's
#    peak RSS. Target: <= 1.25 x bytes in flight + 64 MB.
# Every check is on (loopback knotd for load.test). Prints one table; MB here are
# MiB (what /proc reports, divided by 1024).
set -euo pipefail
cd "$(dirname "$0")/.."

IDLE="${1:-1000}"
BIG="${2:-256}"
BIG_SIZE="${3:-8MiB}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$CARGO_TARGET_DIR/release"
[ -n "${SGE_COMPARE_NO_BUILD:-}" ] || nice -n 5 cargo build --release --bins --quiet

. integration/compare-lib.sh

# The client holds one socket per connection too.
ulimit -n $((IDLE + BIG + 1024)) 2>/dev/null || true
P_DNS=$(free_port)
start_knot 127.0.0.1 "$P_DNS"

# start_sge NAME MILTER_LINES EXTRA_TOML: a fresh sge-milter; sets SGE_PID, SGE_ADDR.
start_sge() {
    local port
    port=$(free_port)
    sge_config "$WORK/$1.toml" "inet:127.0.0.1:$port" "127.0.0.1:$P_DNS" "$2" "$3"
    "$BIN/sge-milter" run --config "$WORK/$1.toml" 2>"$WORK/$1.log" & PIDS+=($!)
    SGE_PID=$!
    SGE_ADDR="inet:127.0.0.1:$port"
    wait_port 127.0.0.1 "$port"
}
field() { python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[sys.argv[1]])' "$1"; }
LOAD=("$BIN/sge-milter-load" run --json --sign-key "$WORK/key.pem" --sign-selector load --domain load.test)

# --- 1. idle connections ---
start_sge idle "max_connections = $((IDLE + 64))" ""
start_rss=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$SGE_PID/status")
"${LOAD[@]}" --label idle --target "$SGE_ADDR" -c 1 -n 1 --idle "$IDLE" --watch-pid "$SGE_PID" >"$WORK/idle.json"
idle_peak=$(field peak_rss_mb <"$WORK/idle.json")
idle_now=$(field rss_mb <"$WORK/idle.json" 2>/dev/null || echo "n/a")
kill "$SGE_PID"

# --- 2. many big messages at once ---
start_sge big "max_connections = $((BIG + 64))" "[limits]
max_in_flight_bytes = \"64GiB\""
"${LOAD[@]}" --label big --target "$SGE_ADDR" -c "$BIG" -n "$BIG" --fixed-size "$BIG_SIZE" \
    --corpus 4 --outbound-percent 0 --hold-eom --watch-pid "$SGE_PID" >"$WORK/big.json"
big_peak=$(field peak_rss_mb <"$WORK/big.json")
big_errors=$(field errors <"$WORK/big.json")
big_msgs=$(field messages <"$WORK/big.json")
kill "$SGE_PID"

echo
echo "load: $(load_average), $(nproc) CPUs"
python3 - "$IDLE" "$start_rss" "$idle_peak" "$idle_now" "$BIG" "$BIG_SIZE" "$big_peak" "$big_msgs" "$big_errors" <<'PY'
import sys
idle, start, ipeak, inow, big, size, bpeak, bmsgs, berr = sys.argv[1:]
units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
n = next((float(size[:-3]) * m for u, m in units.items() if size.endswith(u)), None) or float(size)
in_flight_mb = int(big) * n / (1 << 20)
limit = 1.25 * in_flight_mb + 64
print("| case | measured | target | |")
print("|---|---|---|---|")
inow = f"{float(inow):.1f}" if inow.replace(".", "", 1).isdigit() else inow
print(f"| {idle} idle connections | peak {float(ipeak):.1f} MB, at the end {inow} MB (fresh process: {start} MB) | <= 64 MB | {'ok' if float(ipeak) <= 64 else 'OVER'} |")
print(f"| {big} x {size} at once ({bmsgs} decided, {berr} errors) | peak {float(bpeak):.0f} MB = {float(bpeak) / in_flight_mb:.2f} x {in_flight_mb:.0f} MB in flight | <= {limit:.0f} MB | {'ok' if float(bpeak) <= limit else 'OVER'} |")
PY
