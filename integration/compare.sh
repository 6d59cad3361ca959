#!/usr/bin/env bash
# Side-by-side milter throughput, same machine, same corpus, same run:
#
#     sudo integration/compare.sh [DURATION_SECONDS] [CONCURRENCY] [ROUNDS]
#
# Starts a loopback knotd serving load.test (SPF, a DKIM key, DMARC), then measures
# with target/release/sge-milter-load, round after round in turn:
#   noop       the no-op indymilter (sge-milter-load noop): the reference
#   noop-unix  the same over a unix socket (only with SGE_COMPARE_MILTERS, below)
#   sge-tcp    sge-milter, every check on, over TCP
#   sge-unix   sge-milter over a unix socket
#   opendkim   OpenDKIM 2.11 verifying (Debian package)
#   opendmarc  OpenDMARC 1.4 with its own SPF (Debian package)
# and prints each one's median msg/s, p50/p99 and its ratio to the no-op milter.
#
# OpenDKIM and OpenDMARC have no setting for a DNS server port, so knotd listens on
# port 53 of a private loopback address (OpenDKIM: Nameservers) and OpenDMARC runs in
# a mount namespace whose /etc/resolv.conf points there (the system's is not touched).
#
# The client leaves TCP_NODELAY off, as Postfix does. libmilter milters (OpenDKIM,
# OpenDMARC) do not set it either, so over TCP they wait on delayed ACKs; set
# SGE_COMPARE_NODELAY=1 to see them without that (the client then sets it).
# Root is needed for that and to install opendkim/opendmarc when they are missing.
#
# SGE_COMPARE_MILTERS="noop sge-tcp" measures only those; SGE_COMPARE_LOAD_ARGS adds
# sge-milter-load options, e.g. "--fixed-size 20KiB --corpus 20" for the warm EOM
# figure on 20 KB messages.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${1:-10}"
CONC="${2:-16}"
ROUNDS="${3:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$CARGO_TARGET_DIR/release"

[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root (mount namespace, apt-get)" >&2; exit 1; }
for p in opendkim opendmarc knot; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$p" >/dev/null
done
[ -n "${SGE_COMPARE_NO_BUILD:-}" ] || nice -n 5 cargo build --release --bins --quiet

. integration/compare-lib.sh

# --- DNS: zone test. with load.test, on port 53 of a private loopback address ---
DNS_IP="127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).1"
start_knot "$DNS_IP" 53
echo "nameserver $DNS_IP" >"$WORK/resolv.conf"
# A namespace where /etc/resolv.conf is ours, for the milters that read it.
with_resolv() { exec unshare -m sh -c "mount --bind '$WORK/resolv.conf' /etc/resolv.conf && exec \"\$@\"" sh "$@"; }

# --- the milters ---
P_NOOP=$(free_port); P_SGE=$(free_port); P_DKIM=$(free_port); P_DMARC=$(free_port)
"$BIN/sge-milter-load" noop --listen "inet:127.0.0.1:$P_NOOP" & PIDS+=($!)
"$BIN/sge-milter-load" noop --listen "unix:$WORK/noop.sock" & PIDS+=($!)

sge_config "$WORK/sge-milter.toml" "inet:127.0.0.1:$P_SGE" "$DNS_IP:53"
cp "$WORK/sge-milter.toml" "$WORK/sge-unix.toml"
sed -i "s|^listen = .*|listen = \"unix:$WORK/sge.sock\"|" "$WORK/sge-unix.toml"
"$BIN/sge-milter" run --config "$WORK/sge-milter.toml" 2>"$WORK/sge.log" & PIDS+=($!); SGE_PID=$!
"$BIN/sge-milter" run --config "$WORK/sge-unix.toml" 2>"$WORK/sge-unix.log" & PIDS+=($!)

cat >"$WORK/opendkim.conf" <<CONF
Mode v
Socket inet:$P_DKIM@127.0.0.1
Background no
Syslog no
UserID opendkim
PidFile $WORK/opendkim.pid
Nameservers $DNS_IP
AuthservID gw.load.test
AlwaysAddARHeader yes
CONF
(with_resolv opendkim -f -x "$WORK/opendkim.conf" 2>"$WORK/opendkim.log") & PIDS+=($!)

cat >"$WORK/opendmarc.conf" <<CONF
Socket inet:$P_DMARC@127.0.0.1
AuthservID gw.load.test
TrustedAuthservIDs gw.load.test
SPFSelfValidate true
SPFIgnoreResults true
IgnoreAuthenticatedClients true
RejectFailures false
Syslog false
UserID opendmarc
PidFile $WORK/opendmarc.pid
CONF
(with_resolv opendmarc -f -c "$WORK/opendmarc.conf" 2>"$WORK/opendmarc.log") & PIDS+=($!)

for p in $P_NOOP $P_SGE $P_DKIM $P_DMARC; do wait_port 127.0.0.1 "$p"; done
wait_sock "$WORK/sge.sock"; wait_sock "$WORK/noop.sock"

# --- the runs ---
LOAD=("$BIN/sge-milter-load" run --json --concurrency "$CONC" --duration "$DURATION"
      --sign-key "$WORK/key.pem" --sign-selector load --domain load.test --warmup 200
      ${SGE_COMPARE_NODELAY:+--nodelay} ${SGE_COMPARE_LOAD_ARGS:-})
declare -A TARGET=(
    [noop]="inet:127.0.0.1:$P_NOOP" [noop-unix]="unix:$WORK/noop.sock"
    [sge-tcp]="inet:127.0.0.1:$P_SGE"
    [sge-unix]="unix:$WORK/sge.sock" [opendkim]="inet:127.0.0.1:$P_DKIM"
    [opendmarc]="inet:127.0.0.1:$P_DMARC"
)
read -r -a ORDER <<<"${SGE_COMPARE_MILTERS:-noop sge-tcp sge-unix opendkim opendmarc}"
: >"$WORK/results.jsonl"
for r in $(seq "$ROUNDS"); do
    for name in "${ORDER[@]}"; do
        "${LOAD[@]}" --label "$name" --target "${TARGET[$name]}" >>"$WORK/results.jsonl"
        tail -n1 "$WORK/results.jsonl" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("round", '"$r"', r["label"], round(r["msg_per_s"]), "msg/s", "errors", r["errors"], file=sys.stderr)'
    done
done

echo
echo "load: $(load_average), $(nproc) CPUs; ${ROUNDS} rounds of ${DURATION}s at c${CONC}; corpus: 200 messages 2 KB-2 MB (mean ~110 KB), half DKIM-signed, 20% outbound${SGE_COMPARE_LOAD_ARGS:+; with $SGE_COMPARE_LOAD_ARGS}"
python3 - "$WORK/results.jsonl" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["label"], []).append(r)
med = lambda k, rs: statistics.median(r[k] for r in rs)
noop = med("msg_per_s", by["noop"])
print(f"| milter | msg/s vs no-op (median of {len(by['noop'])}) | MB/s vs no-op | p50 ms | p99 ms | eom p99 ms | errors |")
print("|---|---|---|---|---|---|---|")
noop_mb = med("mb_per_s", by["noop"])
for name, rs in by.items():
    print(f"| {name} | {med('msg_per_s', rs)/noop:.2f}x | {med('mb_per_s', rs)/noop_mb:.2f}x | "
          f"{med('p50_ms', rs):.2f} | {med('p99_ms', rs):.2f} | {med('eom_p99_ms', rs):.2f} | "
          f"{sum(r['errors'] for r in rs)} |")
print()
print("absolute (this machine, this load; not for the README):")
for name, rs in by.items():
    print(f"  {name:10} {med('msg_per_s', rs):8.0f} msg/s {med('mb_per_s', rs):7.1f} MB/s")
PY
