#!/usr/bin/env bash
# Unpacks Debian's Sendmail into a private directory for the Sendmail end-to-end
# tests (tests/sendmail_e2e.rs), without installing it: Debian's sendmail-bin
# conflicts with postfix, which the other tests need. libwrap0 and m4 (which the
# extracted binary and the .mc -> .cf step need) come from integration/deps/*.apt.
#
#     integration/sendmail-prepare.sh [DIR]     (default /var/tmp/sge-sendmail-root)
#
# Idempotent: a finished unpack leaves DIR/.complete and is reused.
set -euo pipefail
root="${1:-${SGE_SENDMAIL_ROOT:-/var/tmp/sge-sendmail-root}}"
[[ -f "$root/.complete" ]] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download -q sendmail-bin sendmail-base sendmail-cf libmilter1.0.1 >/dev/null
mkdir unpacked
for deb in ./*.deb; do
    dpkg -x "$deb" unpacked
done
test -x unpacked/usr/libexec/sendmail/sendmail
test -f unpacked/usr/share/sendmail/cf/m4/cf.m4
mkdir -p "$(dirname "$root")"
rm -rf "$root"
mv unpacked "$root"
touch "$root/.complete"
echo "sendmail unpacked into $root"
