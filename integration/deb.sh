#!/usr/bin/env bash
# The Debian package, end to end (called by integration/test.sh; as root only):
#
#     sudo integration/deb.sh
#
# 1. packaging/debian/sge-milter.toml is what packaging/debian/etc-config.sh makes
#    of sge-milter.toml (not stale);
# 2. `cargo deb` (cargo-deb pinned below, installed when missing) builds the .deb;
#    with SGE_DEB_PREBUILT=1 it packages the release binary `cargo bench --no-run`
#    left in the target dir instead of building again;
# 3. `dpkg -i` installs it (`apt-get install -f` for missing dependencies), then:
#    conffiles, the system user and its postfix group, the socket directory;
#    `systemd-analyze verify` on the installed unit (offline: no running systemd
#    is needed); the installed binary's `check-rules` on the installed config;
# 4. the installed binary runs as user sge-milter (setpriv, with the unit's
#    no-new-privileges and empty capability sets) on the installed socket path;
#    the socket must be sge-milter:postfix 0660, and a private loopback Postfix
#    (own config and queue, free port), with the README's main.cf line
#    `smtpd_milters = unix:sge-milter/sge-milter.sock`, must get the milter's
#    verdicts over it:
#    a clean message is queued (with milter_default_action = tempfail, so only a
#    working milter lets it through) and the test keyword is rejected with the
#    rule id;
# 5. `dpkg --purge` removes the package, its user and its directories again.
#
# Everything started here is stopped by PID on exit. A machine where sge-milter is
# already installed is left alone (the script refuses to run).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
SOCKET=/var/spool/postfix/sge-milter/sge-milter.sock
CONFIG=/etc/sge-milter/sge-milter.toml

step() { printf '\n==> deb: %s\n' "$*"; }
die() { printf 'integration/deb.sh: %s\n' "$*" >&2; exit 1; }

if [[ $(id -u) -ne 0 ]]; then
    echo "integration/deb.sh: skipped: installing a .deb, a system user and a private Postfix need root"
    exit 0
fi
if dpkg-query -W -f='${Status}' sge-milter 2>/dev/null | grep -q 'ok installed'; then
    die "the sge-milter package is already installed here; not touching it"
fi

step "packaging/debian/sge-milter.toml is current"
diff -u packaging/debian/sge-milter.toml <(packaging/debian/etc-config.sh) \
    || die "stale: run packaging/debian/etc-config.sh > packaging/debian/sge-milter.toml"

if ! cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
    step "cargo install --locked cargo-deb --version $CARGO_DEB_VERSION"
    cargo install --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi

# SGE_DEB_PREBUILT=1 (integration/test.sh, right after `cargo bench --no-run`):
# package the release binary that build left in the target dir. A plain `cargo deb`
# would rebuild the library and binary, because dev-dependencies unify some
# dependencies' features differently in a bench build (see docs/deployment.md).
target_dir=${CARGO_TARGET_DIR:-target}
# --strip: [profile.release] debug = 1 (for profiling) would otherwise ship ~130 MB.
deb_args=(--strip)
if [[ "${SGE_DEB_PREBUILT:-}" == 1 ]]; then
    [[ -x "$target_dir/release/sge-milter" ]] || die "SGE_DEB_PREBUILT=1 but no $target_dir/release/sge-milter"
    deb_args+=(--no-build)
fi
step "cargo deb ${deb_args[*]}"
t=$SECONDS
deb=$(cargo deb "${deb_args[@]}" 2>&1 | tee /dev/stderr | tail -n 1)
printf '    (cargo deb: %ss)\n' $((SECONDS - t))
[[ -f "$deb" ]] || die "cargo deb printed no package path (last line: $deb)"

work=$(mktemp -d /tmp/sge-deb.XXXXXX)
chmod 755 "$work"
milter_pid=
postfix_started=
installed=
cleanup() {
    local rc=$?
    [[ -n "$milter_pid" ]] && kill "$milter_pid" 2>/dev/null && wait "$milter_pid" 2>/dev/null
    [[ -n "$postfix_started" ]] && postfix -c "$work/etc" stop >/dev/null 2>&1
    [[ -n "$installed" ]] && dpkg --purge sge-milter >/dev/null 2>&1
    if ((rc != 0)); then
        echo "--- milter log"; cat "$work/milter.log" 2>/dev/null
        echo "--- postfix log"; cat "$work/maillog" 2>/dev/null
    fi
    rm -rf "$work"
    return "$rc"
}
trap cleanup EXIT

step "dpkg -i $deb"
installed=1
dpkg -i "$deb" || apt-get install -f -y -q --no-install-recommends
dpkg-query -W -f='${Status}\n' sge-milter | grep -q 'ok installed' || die "sge-milter is not installed"

step "conffiles, user, socket directory"
conffiles=$(dpkg-query --control-show sge-milter conffiles)
for f in "$CONFIG" /etc/sge-milter/rules/keywords.toml /etc/sge-milter/rules/dlp.toml \
    /etc/sge-milter/rules/markings.toml; do
    grep -qxF "$f" <<<"$conffiles" || die "$f is not a conffile: $conffiles"
done
id sge-milter | grep -q '(postfix)' || die "sge-milter is not in group postfix: $(id sge-milter)"
[[ $(getent passwd sge-milter | cut -d: -f6,7) == /var/lib/sge-milter:/usr/sbin/nologin ]] \
    || die "sge-milter home/shell: $(getent passwd sge-milter)"
[[ $(stat -c '%U:%G %a' "$(dirname "$SOCKET")") == "sge-milter:postfix 750" ]] \
    || die "socket directory: $(stat -c '%U:%G %a' "$(dirname "$SOCKET")")"

step "systemd-analyze verify"
unit=/usr/lib/systemd/system/sge-milter.service
[[ -f "$unit" ]] || die "no unit at $unit"
systemd-analyze verify "$unit"
# What the unit promises, present in what was installed.
for line in User=sge-milter ProtectSystem=strict NoNewPrivileges=yes CapabilityBoundingSet= \
    RuntimeDirectory=sge-milter StateDirectory=sge-milter PrivateTmp=yes \
    SystemCallFilter=@system-service 'ExecReload=/bin/kill -HUP $MAINPID' Restart=on-failure; do
    grep -qxF "$line" "$unit" || die "$unit lacks $line"
done

step "check-rules on the installed config (as sge-milter)"
setpriv --reuid=sge-milter --regid=sge-milter --init-groups -- \
    /usr/bin/sge-milter check-rules --config "$CONFIG"

step "the installed binary as sge-milter on $SOCKET"
# The installed config with the metrics endpoint off: its port (9894) may be held
# by a parallel test run. Everything else, socket and rules included, as installed.
sed 's|^listen = "127.0.0.1:9894"$|listen = ""|' "$CONFIG" >"$work/sge-milter.toml"
grep -q '^listen = ""$' "$work/sge-milter.toml" || die "no [metrics] listen line in $CONFIG"
setpriv --reuid=sge-milter --regid=sge-milter --init-groups --no-new-privs \
    --inh-caps=-all --bounding-set=-all -- \
    /usr/bin/sge-milter run --config "$work/sge-milter.toml" >"$work/milter.log" 2>&1 &
milter_pid=$!
for _ in $(seq 100); do
    [[ -S "$SOCKET" ]] && break
    kill -0 "$milter_pid" 2>/dev/null || die "the milter exited"
    sleep 0.2
done
[[ -S "$SOCKET" ]] || die "no socket at $SOCKET"
[[ $(stat -c '%U:%G %a' "$SOCKET") == "sge-milter:postfix 660" ]] \
    || die "socket: $(stat -c '%U:%G %a' "$SOCKET")"

step "a private Postfix sends through $SOCKET"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/etc" "$work/queue" "$work/data"
chown postfix "$work/data"
# The README's relative socket path, resolved in this instance's queue directory as
# the system Postfix resolves it in /var/spool/postfix (its chroot and cwd).
ln -s "$(dirname "$SOCKET")" "$work/queue/sge-milter"
cat >"$work/etc/main.cf" <<EOF
# Written by integration/deb.sh: a loopback-only test instance (tests/common/postfix.rs).
compatibility_level = 3.6
queue_directory = $work/queue
data_directory = $work/data
maillog_file = $work/maillog
maillog_file_prefixes = $work
syslog_name = sge-deb
mail_owner = postfix
setgid_group = postdrop
myhostname = gateway.sge-deb.invalid
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Nothing listens there: accepted mail just waits in the queue.
relayhost = [127.0.0.1]:9
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtpd_milters = unix:sge-milter/sge-milter.sock
milter_protocol = 6
milter_default_action = tempfail
EOF
{
    echo "127.0.0.1:$port inet n - n - - smtpd"
    sed -n '/^const MASTER_SERVICES/,/^";/p' tests/common/postfix.rs | sed '1d;$d'
} >"$work/etc/master.cf"
postfix -c "$work/etc" check
postfix -c "$work/etc" start
postfix_started=1

python3 - "$port" <<'EOF'
import smtplib, sys

port = int(sys.argv[1])

# From loopback, so outbound: marked, as outbound mail must be.
def send(body):
    msg = (
        "From: a@sender.example\r\nTo: b@dest.example\r\nSubject: deb test [SEC=UNOFFICIAL]\r\n"
        f"Message-ID: <{abs(hash(body))}@sender.example>\r\n\r\n{body}\r\n"
    )
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        try:
            s.sendmail("a@sender.example", ["b@dest.example"], msg)
            return 250, ""
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error.decode(errors="replace")

code, reply = send("An ordinary message.")
assert code == 250, f"clean message: {code} {reply}"
code, reply = send("has SGE-MILTER-TEST-REJECT-4F1C9 in it")
assert code == 550 and "[sge:sge.test.reject]" in reply, f"test keyword: {code} {reply}"
print("deb: clean message queued; test keyword rejected:", code, reply)
EOF

step "dpkg --purge"
kill "$milter_pid"
wait "$milter_pid" || die "the milter did not exit cleanly on SIGTERM"
milter_pid=
dpkg --purge sge-milter
installed=
! getent passwd sge-milter >/dev/null || die "user sge-milter left after purge"
for p in /etc/sge-milter /var/lib/sge-milter "$(dirname "$SOCKET")" /usr/bin/sge-milter; do
    [[ ! -e "$p" ]] || die "$p left after purge"
done
echo "integration/deb.sh: package built, installed, verified, run and purged"
