#!/usr/bin/env bash
# The one command that runs the whole sge-milter test suite:
#
#     sudo integration/test.sh
#
# As root it installs what the tests need (the Debian packages listed in
# integration/deps/*.apt, the PyPI packages in integration/deps/*.pip), then runs
# cargo fmt --check, cargo clippy -D warnings, every test (including the ones that
# run private Postfix instances) and compiles the benchmarks. It also checks that
# no library module imports a module that imports it back (check_module_cycles.py). Not as root it says
# exactly what is missing and how to install it, and exits non-zero: the Postfix
# tests start their own loopback-only Postfix instances, which needs root.
#
# It never touches a system Postfix: the tests use their own config and queue
# directories in temp dirs and free loopback ports. Installing the postfix package
# is preseeded to "No configuration", so no system MTA is started on port 25.
#
# Then integration/deb.sh builds the Debian package, installs it, checks the unit
# and sends Postfix mail through the installed milter, and purges it again.
#
# Last, every fuzz target in fuzz/ runs for a bounded time (integration/fuzz.sh, on
# the stable toolchain; cargo-fuzz is installed from crates.io when missing).
#
# Environment: SGE_SKIP_INSTALL=1 skips the install step; SGE_SKIP_FUZZ=1 skips the
# fuzz step; SGE_FUZZ_SECONDS (default 20) per fuzz target; CARGO_TARGET_DIR as usual.
set -euo pipefail

cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'integration/test.sh: %s\n' "$*" >&2; exit 1; }

# Package lists: one name per line, '#' comments and blank lines ignored.
list() { cat "$@" 2>/dev/null | sed -e 's/#.*//' -e 's/[[:space:]]//g' | grep -v '^$' | sort -u; }
mapfile -t APT_PKGS < <(list integration/deps/*.apt)
mapfile -t PIP_PKGS < <(list integration/deps/*.pip)

PYTHON="${PYTHON:-python3}"

missing_apt() {
    local p
    for p in "${APT_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
    done
}

missing_pip() {
    local spec name
    command -v "$PYTHON" >/dev/null || { printf '%s\n' "${PIP_PKGS[@]}"; return; }
    for spec in "${PIP_PKGS[@]}"; do
        name="${spec%%[<>=!~;[]*}"
        "$PYTHON" -m pip show -q "$name" >/dev/null 2>&1 || echo "$spec"
    done
}

pip_install() {
    # Debian's own python3 refuses pip installs (PEP 668) unless told otherwise.
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@" \
        || "$PYTHON" -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}

install_deps() {
    local apt pip
    mapfile -t apt < <(missing_apt)
    if ! command -v "$PYTHON" >/dev/null; then
        apt+=(python3 python3-pip)
    elif ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
        apt+=(python3-pip)
    fi
    if ((${#apt[@]})); then
        step "apt-get install ${apt[*]}"
        # "No configuration": install the binaries only; no main.cf, no MTA on port 25.
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        apt-get update -qq
        apt-get install -y -q --no-install-recommends "${apt[@]}"
    fi
    mapfile -t pip < <(missing_pip)
    if ((${#pip[@]})); then
        step "pip install ${pip[*]}"
        pip_install "${pip[@]}"
    fi
    # Sendmail conflicts with postfix: unpack it privately for tests/sendmail_e2e.rs.
    step "unpack sendmail (integration/sendmail-prepare.sh)"
    bash integration/sendmail-prepare.sh
}

if [[ $(id -u) -ne 0 ]]; then
    mapfile -t apt < <(missing_apt)
    mapfile -t pip < <(missing_pip)
    {
        echo "integration/test.sh must run as root: the Postfix end-to-end tests start"
        echo "private Postfix instances (own queue and config dirs, loopback ports)."
        if ((${#apt[@]})); then
            echo "Missing Debian packages: ${apt[*]}"
            echo "  install: sudo sh -c 'echo postfix postfix/main_mailer_type select No configuration | debconf-set-selections; DEBIAN_FRONTEND=noninteractive apt-get install -y ${apt[*]}'"
        fi
        if ((${#pip[@]})); then
            echo "Missing Python packages: ${pip[*]}"
            echo "  install: sudo $PYTHON -m pip install ${pip[*]}"
        fi
        if ! ((${#apt[@]} + ${#pip[@]})); then
            echo "All packages are installed."
        fi
        echo "Then run: sudo integration/test.sh"
    } >&2
    exit 1
fi

# cargo-fuzz, for the fuzz step. `--locked` builds the versions it was released with
# (about 2 minutes on 2 busy cores, once per machine).
install_cargo_fuzz() {
    cargo fuzz --version >/dev/null 2>&1 && return
    step "cargo install --locked cargo-fuzz"
    cargo install --locked cargo-fuzz
}

if [[ "${SGE_SKIP_INSTALL:-}" != 1 ]]; then
    install_deps
    [[ "${SGE_SKIP_FUZZ:-}" == 1 ]] || install_cargo_fuzz
fi
left=$(missing_apt; missing_pip)
[[ -z "$left" ]] || die "still missing after install: $left"

# A system Postfix may run (on port 25, its own queue); the tests neither use nor
# disturb it. Say so, since its presence explains extra processes named master.
if [[ -f /etc/postfix/main.cf ]] && postfix status >/dev/null 2>&1; then
    echo "note: a system Postfix is running; the tests use their own instances and leave it alone."
fi

start=$SECONDS
timed() {
    local t=$SECONDS
    step "$*"
    "$@"
    printf '    (%ss)\n' $((SECONDS - t))
}

# Order matters for build time: clippy's check build and the test build share
# nothing but the dependency downloads, so each runs once; the benches' release
# build is the last and largest.
timed cargo fmt --all --check
# No library module may import a module that imports it back (top-level modules
# and their direct children); prints the loop with file:line when one appears.
timed "$PYTHON" integration/check_module_cycles.py
timed cargo clippy --all-targets -- -D warnings
timed cargo test --all-targets --no-fail-fast
timed cargo test --doc
timed cargo bench --no-run
# Build, install, verify, run and purge the .deb; it packages the release binary
# the bench build just made (a plain `cargo deb` would rebuild the crate).
SGE_DEB_PREBUILT=1 timed integration/deb.sh
if [[ "${SGE_SKIP_FUZZ:-}" != 1 ]]; then
    cargo fuzz --version >/dev/null 2>&1 || die "cargo-fuzz is missing: cargo install --locked cargo-fuzz (or SGE_SKIP_FUZZ=1)"
    SGE_FUZZ_SECONDS="${SGE_FUZZ_SECONDS:-20}" timed integration/fuzz.sh
fi

printf '\nintegration/test.sh: all checks passed in %ss\n' $((SECONDS - start))
