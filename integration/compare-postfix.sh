#!/usr/bin/env bash
# Throughput through Postfix, no-op milter vs sge-milter, same machine, same run:
#
#     sudo integration/compare-postfix.sh [MESSAGES] [SESSIONS] [ROUNDS]
#
# One private loopback Postfix instance per milter (own config dir, queue and ports;
# no chroot; the recipe of tests/common/postfix.rs), each smtpd with one milter:
#   noop       the no-op indymilter (sge-milter-load noop), over TCP: the reference
#   sge-tcp    sge-milter, every check on, over TCP
#   sge-unix   sge-milter over a unix socket
# and every recipient goes to Postfix's `discard` transport. smtp-source sends
# MESSAGES copies of one 20 KB DKIM-signed, marked message (from the load corpus,
# `sge-milter-load corpus --out`) over SESSIONS parallel SMTP sessions, one message
# per session, round after round in turn. DNS (SPF, the DKIM key, DMARC for
# load.test) comes from a loopback knotd. sge-milter treats mail from 127.0.0.1 as
# inbound here ([direction] trusted_networks = []), so every message gets SPF, DKIM,
# DMARC, ARC, marking and DLP checks.
#
# msg/s = MESSAGES / wall time of smtp-source (until smtpd has answered the last
# DATA, i.e. after the milter's end of message and Postfix's queue file write).
# Prints each one's median and its ratio to the no-op milter. Needs root (Postfix).
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES="${1:-2000}"
SESSIONS="${2:-16}"
ROUNDS="${3:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$CARGO_TARGET_DIR/release"

[ "$(id -u)" = 0 ] || { echo "compare-postfix.sh: run as root (private Postfix instances)" >&2; exit 1; }
command -v smtp-source >/dev/null || { echo "smtp-source missing (Debian: postfix)" >&2; exit 1; }
[ -n "${SGE_COMPARE_NO_BUILD:-}" ] || nice -n 5 cargo build --release --bins --quiet

. integration/compare-lib.sh

P_DNS=$(free_port)
start_knot 127.0.0.1 "$P_DNS"

# --- the message: signed, marked, without DLP hits, about 20 KB ---
"$BIN/sge-milter-load" corpus --corpus 40 --fixed-size 20KiB --sign-key "$WORK/key.pem" \
    --sign-selector load --domain load.test --out "$WORK/corpus"
MSG=""
for f in "$WORK"/corpus/*.eml; do
    if grep -q '^DKIM-Signature:' "$f" && grep -q 'SEC=UNCLASSIFIED' "$f" && ! grep -q '4111 1111' "$f"; then
        MSG="$f"; break
    fi
done
[ -n "$MSG" ] || { echo "no signed, marked message without DLP hits in the corpus" >&2; exit 1; }
# smtp-source -F appends CRLF to each line itself.
tr -d '\r' <"$MSG" >"$WORK/message.txt"

# --- the milters ---
P_NOOP=$(free_port); P_SGE=$(free_port)
"$BIN/sge-milter-load" noop --listen "inet:127.0.0.1:$P_NOOP" & PIDS+=($!)
INBOUND='[direction]
trusted_networks = []'
sge_config "$WORK/sge-tcp.toml" "inet:127.0.0.1:$P_SGE" "127.0.0.1:$P_DNS" "" "$INBOUND"
sge_config "$WORK/sge-unix.toml" "unix:$WORK/sge.sock" "127.0.0.1:$P_DNS" "" "$INBOUND"
"$BIN/sge-milter" run --config "$WORK/sge-tcp.toml" 2>"$WORK/sge-tcp.log" & PIDS+=($!)
"$BIN/sge-milter" run --config "$WORK/sge-unix.toml" 2>"$WORK/sge-unix.log" & PIDS+=($!)
wait_port 127.0.0.1 "$P_NOOP"; wait_port 127.0.0.1 "$P_SGE"; wait_sock "$WORK/sge.sock"

# --- one Postfix instance per milter ---
# postfix_instance NAME MILTER: starts it; its smtpd port goes to PORT[NAME].
postfix_instance() {
    local d="$WORK/pf-$1" port
    mkdir -p "$d/etc" "$d/queue" "$d/data"
    chown postfix "$d/data"
    port=$(free_port)
    cat >"$d/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
maillog_file = $d/maillog
maillog_file_prefixes = $d
syslog_name = sge-perf-$1
mail_owner = postfix
setgid_group = postdrop
myhostname = gateway.perf.invalid
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
default_transport = discard
relay_transport = discard
smtpd_milters = $2
milter_protocol = 6
milter_default_action = tempfail
biff = no
CF
    {
        echo "127.0.0.1:$port inet n - n - - smtpd"
        # The internal services, as the tests' private Postfix has them (one list).
        sed -n '/^const MASTER_SERVICES/,/^";/p' tests/common/postfix.rs | sed '1d;$d'
    } >"$d/etc/master.cf"
    postfix -c "$d/etc" check >&2
    postfix -c "$d/etc" start >&2
    CLEANUP_HOOKS+=("postfix -c '$d/etc' stop >/dev/null 2>&1")
    wait_port 127.0.0.1 "$port"
    PORT[$1]=$port
}
ORDER=(noop sge-tcp sge-unix)
declare -A MILTER=(
    [noop]="inet:127.0.0.1:$P_NOOP" [sge-tcp]="inet:127.0.0.1:$P_SGE" [sge-unix]="unix:$WORK/sge.sock"
)
declare -A PORT
for name in "${ORDER[@]}"; do postfix_instance "$name" "${MILTER[$name]}"; done

# send NAME COUNT: one smtp-source run; prints the seconds it took.
send() {
    local t0 t1
    t0=$(date +%s.%N)
    smtp-source -s "$SESSIONS" -m "$2" -F "$WORK/message.txt" -f sender@load.test \
        -t recipient@agency.govt.nz "127.0.0.1:${PORT[$1]}" 2>>"$WORK/smtp-source-$1.err"
    t1=$(date +%s.%N)
    python3 -c "print($t1 - $t0)"
}

# --- the runs: a warm-up (caches, Postfix processes), then the rounds ---
for name in "${ORDER[@]}"; do send "$name" 200 >/dev/null; done
: >"$WORK/results.txt"
for r in $(seq "$ROUNDS"); do
    for name in "${ORDER[@]}"; do
        secs=$(send "$name" "$MESSAGES")
        echo "$name $secs" >>"$WORK/results.txt"
        echo "round $r $name $(python3 -c "print(round($MESSAGES / $secs))") msg/s" >&2
    done
done

# Every message must have been accepted and reached discard: smtp-source reports
# SMTP errors on stderr, Postfix logs milter trouble.
sleep 2
for name in "${ORDER[@]}"; do
    log="$WORK/pf-$name/maillog"
    sent=$(grep -c 'status=sent' "$log" || true)
    problems=$(grep -cE 'milter-reject|warning: milter|status=(deferred|bounced)' "$log" || true)
    errs=$(wc -l <"$WORK/smtp-source-$name.err")
    echo "$name: $sent delivered to discard, $problems milter warnings/rejects/deferrals, $errs smtp-source error lines" >&2
done

echo
echo "load: $(load_average), $(nproc) CPUs; ${ROUNDS} rounds of $MESSAGES messages, smtp-source -s $SESSIONS, one message per session; message: $(wc -c <"$MSG") bytes, DKIM-signed, marked"
python3 - "$WORK/results.txt" "$MESSAGES" <<'PY'
import sys, statistics
n = int(sys.argv[2])
by = {}
for line in open(sys.argv[1]):
    name, secs = line.split()
    by.setdefault(name, []).append(n / float(secs))
noop = statistics.median(by["noop"])
print(f"| milter (through Postfix) | msg/s vs no-op (median of {len(by['noop'])}) | each round vs that round's no-op |")
print("|---|---|---|")
for name, rs in by.items():
    per_round = " ".join(f"{r / o:.2f}" for r, o in zip(rs, by["noop"]))
    print(f"| {name} | {statistics.median(rs)/noop:.2f}x | {per_round} |")
print()
print("absolute (this machine, this load; not for the README):")
for name, rs in by.items():
    print(f"  {name:10} {statistics.median(rs):8.0f} msg/s")
PY
