#!/usr/bin/env bash
# Builds kube-apiserver and etcd (pinned in test/kube/envtest-build/go.mod) into the cache, once, and prints the
# directory holding them (`--dir`: only print it). Reused when both binaries are present; safe to run again after an interrupted build.
set -euo pipefail
KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.6.4
here="$(cd "$(dirname "$0")" && pwd)"
cache="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}"
bin="$cache/envtest/kubernetes-$KUBE_VERSION-etcd-$ETCD_VERSION"
if [[ "${1:-}" == "--dir" ]]; then  # where the binaries are (or would be), without building
  echo "$bin"
  exit 0
fi
if [[ -x "$bin/kube-apiserver" && -x "$bin/etcd" ]]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "install-envtest: the Go toolchain is needed to build kube-apiserver and etcd" >&2; exit 1; }
mkdir -p "$bin"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A copy: `go mod tidy`-like resolution writes go.sum, which the repository does not keep.
cp -r "$here/envtest-build/." "$work/"
cd "$work"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
export GOMODCACHE="${GOMODCACHE:-$cache/go/mod}" GOCACHE="${GOCACHE_ENVTEST:-$cache/go/build}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"
start=$SECONDS
go mod download >&2
go build -trimpath -ldflags "$ldflags" -o "$bin/kube-apiserver.partial" k8s.io/kubernetes/cmd/kube-apiserver >&2
go build -trimpath -ldflags "-s -w" -o "$bin/etcd.partial" ./etcd >&2
mv "$bin/kube-apiserver.partial" "$bin/kube-apiserver"
mv "$bin/etcd.partial" "$bin/etcd"
echo "install-envtest: built kube-apiserver $KUBE_VERSION and etcd $ETCD_VERSION in $((SECONDS - start))s" >&2
echo "$bin"
