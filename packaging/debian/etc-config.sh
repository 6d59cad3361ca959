#!/usr/bin/env bash
# Prints the /etc/sge-milter/sge-milter.toml the Debian package installs: the
# repository's sge-milter.toml (the embedded default) with three changes, so the
# two never drift apart:
#   - the milter listens on a unix socket inside Postfix's chroot, group postfix,
#     mode 0660 (the systemd unit may write only there: ReadWritePaths=);
#   - the rules are read from /etc/sge-milter/rules (also installed, as conffiles);
#   - DMARC reports go out over SMTP: under the unit's NoNewPrivileges and
#     read-only file system, Postfix's sendmail (setgid postdrop) cannot queue mail;
#   - the header says where the file comes from.
# packaging/debian/sge-milter.toml is this script's output, committed because
# cargo-deb packages files as they are; integration/deb.sh fails when it is stale:
#
#     packaging/debian/etc-config.sh > packaging/debian/sge-milter.toml
set -euo pipefail
cd "$(dirname "$0")/../.."

out=$(
    {
        echo "# sge-milter configuration, installed by the sge-milter Debian package."
        echo "# The embedded default (the repository's sge-milter.toml) except: the socket is in"
        echo "# Postfix's chroot for group postfix, the rules are read from /etc/sge-milter/rules, and"
        echo "# DMARC reports are sent over SMTP."
        echo "# Every key is optional. After an edit: sge-milter check-rules -c"
        echo "# /etc/sge-milter/sge-milter.toml, then systemctl reload sge-milter (a changed"
        echo "# listen or socket_* key takes effect at the next restart)."
        echo
        sed -e '1,/^$/d' \
            -e 's|^listen = "inet:127.0.0.1:8894"$|listen = "unix:/var/spool/postfix/sge-milter/sge-milter.sock"|' \
            -e 's|^# socket_group = "postfix"$|socket_group = "postfix"|' \
            -e 's|^# socket_mode = "0660"$|socket_mode = "0660"|' \
            -e 's|^# dir = "/etc/sge-milter/rules"$|dir = "/etc/sge-milter/rules"|' \
            -e 's|^send_via = "sendmail:/usr/sbin/sendmail" .*$|send_via = "smtp:127.0.0.1:25"   # the unit cannot run sendmail (setgid postdrop, read-only spool)|' \
            sge-milter.toml
    }
)
# Each substitution must have matched: a reworded default must not silently
# ship a package config that listens on TCP or ignores /etc/sge-milter/rules.
for line in 'listen = "unix:/var/spool/postfix/sge-milter/sge-milter.sock"' \
    'socket_group = "postfix"' 'socket_mode = "0660"' 'dir = "/etc/sge-milter/rules"' \
    'send_via = "smtp:127.0.0.1:25"   # the unit cannot run sendmail (setgid postdrop, read-only spool)'; do
    grep -qxF "$line" <<<"$out" || { echo "etc-config.sh: no line '$line' after the edits" >&2; exit 1; }
done
printf '%s\n' "$out"
