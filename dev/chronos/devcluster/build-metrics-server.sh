#!/usr/bin/env bash
# Builds metrics-server from the pinned wrapper module in dev/chronos/devcluster/metrics-server into a
# cache directory outside the repository (like build-helm.sh).
# Usage: build-metrics-server.sh OUT_DIR   (prints progress; OUT_DIR/.complete marks success)
set -euo pipefail
out=${1:?usage: build-metrics-server.sh OUT_DIR}
here=$(cd "$(dirname "$0")/metrics-server" && pwd)
version=$(awk '$1 == "sigs.k8s.io/metrics-server" {print $2; exit}' "$here/go.mod")
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
# The same stamp as metrics-server's own Makefile (it reports client-go's version package).
ldflags="-s -w -X k8s.io/client-go/pkg/version.gitVersion=$version"
mkdir -p "$out.tmp"
cd "$here"
start=$(date +%s)
echo "[devcluster] building metrics-server $version ..." >&2
go build -trimpath -ldflags "$ldflags" -o "$out.tmp/" sigs.k8s.io/metrics-server/cmd/metrics-server
echo "[devcluster] built metrics-server in $(( $(date +%s) - start ))s" >&2
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/.complete"
