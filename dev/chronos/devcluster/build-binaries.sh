#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kubectl, the real node's
# kube-scheduler, kubelet and kube-proxy, and the kubeadm of kind's node image (docs/kind.md) from
# the pinned wrapper module in dev/chronos/devcluster/go into a cache directory outside the repository.
# Usage: build-binaries.sh OUT_DIR   (prints progress; OUT_DIR/.complete marks success)
set -euo pipefail
out=${1:?usage: build-binaries.sh OUT_DIR}
here=$(cd "$(dirname "$0")/go" && pwd)
kube_version=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$here/go.mod")
minor=$(echo "$kube_version" | cut -d. -f2)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
mkdir -p "$out.tmp"
cd "$here"
pkgs=(./cmd/etcd)
for cmd in kube-apiserver kube-controller-manager kubectl kube-scheduler kubelet kube-proxy kubeadm; do
  pkgs+=("k8s.io/kubernetes/cmd/$cmd")
done
i=0
for pkg in "${pkgs[@]}"; do
  i=$((i + 1))
  start=$(date +%s)
  echo "[devcluster] building $(basename "$pkg") ($i/${#pkgs[@]}, Kubernetes $kube_version) ..." >&2
  go build -trimpath -ldflags "$ldflags" -o "$out.tmp/" "$pkg"
  echo "[devcluster] built $(basename "$pkg") in $(( $(date +%s) - start ))s" >&2
done
rm -rf "$out"
mv "$out.tmp" "$out"
touch "$out/.complete"
