#!/bin/sh
# Installs what the benchmarks need beyond the Python packages: wrk (Debian's package), the closed-loop load
# generator of scripts/benchlib.py. Safe to repeat.
set -eu
if command -v wrk >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "wrk is missing; run this script as root (apt-get install -y wrk)" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
wrk --version 2>&1 | head -1
