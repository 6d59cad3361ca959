# Shared by integration/compare.sh, compare-builds.sh, compare-cpu.sh,
# compare-postfix.sh, memory.sh and soak-harness.sh (sourced, not run): a work
# directory cleaned up on exit, port helpers, and a loopback knotd serving load.test
# (SPF, a DKIM key, DMARC) for the load corpus.
#
# The caller sets BIN (directory of sge-milter and sge-milter-load) and may set
# SGE_COMPARE_KEEP=1 to keep the work directory.

WORK="$(mktemp -d /tmp/sge-compare.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
# Extra cleanup steps (e.g. stopping Postfix instances), run before the kills.
CLEANUP_HOOKS=()
cleanup() {
    for h in "${CLEANUP_HOOKS[@]}"; do eval "$h" || true; done
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${SGE_COMPARE_KEEP:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# cpu_ticks PID: the user and system CPU time PID has used, in clock ticks
# (getconf CLK_TCK per second).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing listens on $1:$2" >&2; exit 1; }
wait_sock() { for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done; echo "no socket $1" >&2; exit 1; }

# start_knot IP PORT: writes a DKIM key ($WORK/key.pem, selector load) and serves
# zone test. (load.test's SPF allows 127.0.0.1 and 192.0.2.0/24) on IP:PORT.
start_knot() {
    "$BIN/sge-milter" dkim-keygen --domain load.test --selector load --out "$WORK/key.pem" >"$WORK/keygen.txt"
    {
        echo '$ORIGIN test.'
        echo '$TTL 3600'
        echo '@ SOA ns.test. hostmaster.test. 1 3600 600 86400 300'
        echo '@ NS ns.test.'
        echo 'ns A 127.0.0.1'
        echo 'load TXT "v=spf1 ip4:192.0.2.0/24 ip4:127.0.0.1 -all"'
        echo '_dmarc.load TXT "v=DMARC1; p=none"'
        grep '_domainkey' "$WORK/keygen.txt" | sed 's/\.test\. IN TXT/.test. TXT/'
    } >"$WORK/test.zone"
    sed -e "s|@DIR@|$WORK|g" -e "s|127.0.0.1@@PORT@|$1@$2|" integration/dns/knot.conf.in >"$WORK/knot.conf"
    mkdir -p "$WORK/db"
    knotd -c "$WORK/knot.conf" 2>"$WORK/knot.log" & PIDS+=($!)
    wait_port "$1" "$2"
}

# sge_config FILE LISTEN DNS_IP:PORT [MILTER_LINES] [EXTRA_TOML]: an sge-milter
# configuration with every check on, the load.test signing key and the loopback DNS
# server; MILTER_LINES go into [milter], EXTRA_TOML (whole tables) at the end.
sge_config() {
    cat >"$1" <<TOML
[milter]
listen = "$2"
socket_mode = "0666"
${4:-}
[dns]
nameservers = ["$3"]
[auth]
authserv_id = "gw.load.test"
[[auth.dkim_keys]]
domain = "load.test"
selector = "load"
key_file = "$WORK/key.pem"
${5:-}
TOML
}

# uptime's load average, for the result header.
load_average() { uptime | sed 's/.*load average/load average/'; }
