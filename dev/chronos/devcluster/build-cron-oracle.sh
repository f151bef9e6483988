#!/usr/bin/env bash
# Builds the cron oracle (dev/chronos/devcluster/cron-oracle/main.go against robfig/cron v3.0.1) into
# a cache directory outside the repository (like build-helm.sh).
# Usage: build-cron-oracle.sh OUT_DIR   (prints progress; OUT_DIR/.complete marks success)
set -euo pipefail
out=${1:?usage: build-cron-oracle.sh OUT_DIR}
here=$(cd "$(dirname "$0")/cron-oracle" && pwd)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
mkdir -p "$out.tmp"
cd "$here"
echo "[devcluster] building cron-oracle ..." >&2
go build -trimpath -o "$out.tmp/cron-oracle" .
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/.complete"
