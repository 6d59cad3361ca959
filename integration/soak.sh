#!/usr/bin/env bash
# Soak test (not run by CI): the release build behind a private Postfix under steady
# load for a long time; resident memory and open fds must stay flat after warm-up
# and no error may occur. As root (it starts a private Postfix):
#
#     integration/soak.sh [MINUTES] [CONCURRENCY]      # default 30 16
#
# It runs the ignored test tests/fault_soak.rs in the release profile and prints a
# sample every 10 s and a summary line ("soak: ...").
set -euo pipefail
cd "$(dirname "$0")/.."
export SGE_SOAK_MINUTES="${1:-30}" SGE_SOAK_CONCURRENCY="${2:-16}"
exec cargo test --release --test fault_soak -- --ignored --nocapture
