#!/usr/bin/env bash
# Builds the helm CLI from the pinned wrapper module in dev/chronos/devcluster/helm into a cache
# directory outside the repository (like build-binaries.sh for the control plane).
# Usage: build-helm.sh OUT_DIR   (prints progress; OUT_DIR/.complete marks success)
set -euo pipefail
out=${1:?usage: build-helm.sh OUT_DIR}
here=$(cd "$(dirname "$0")/helm" && pwd)
helm_version=$(awk '$1 == "helm.sh/helm/v3" {print $2; exit}' "$here/go.mod")
client_go=$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$here/go.mod")
k8s_minor=$(echo "$client_go" | cut -d. -f2)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
# The same stamps as Helm's own Makefile: version, and the Kubernetes version that
# `helm lint` and `helm template` assume (client-go v0.N -> Kubernetes 1.N).
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done
mkdir -p "$out.tmp"
cd "$here"
start=$(date +%s)
echo "[devcluster] building helm $helm_version ..." >&2
go build -trimpath -ldflags "$ldflags" -o "$out.tmp/" helm.sh/helm/v3/cmd/helm
echo "[devcluster] built helm in $(( $(date +%s) - start ))s" >&2
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/.complete"
