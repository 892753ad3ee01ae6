#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl (pinned in test/kube/envtest-build/go.mod) into the cache, once, and
# prints the directory holding them (`--dir`: only print it). Each binary present is reused; safe to run again after
# an interrupted build. kubectl is built too: the tests need one of the same minor version as the API server
# (`apply -k`, `--subresource`), which Debian's kubernetes-client package is not.
set -euo pipefail
KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.6.4
here="$(cd "$(dirname "$0")" && pwd)"
cache="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}"
bin="$cache/envtest/kubernetes-$KUBE_VERSION-etcd-$ETCD_VERSION"
if [[ "${1:-}" == "--dir" ]]; then
  echo "$bin"
  exit 0
fi
# openssl makes the tests' keys and certificates.
if ! command -v openssl >/dev/null; then
  apt-get update >&2 && apt-get install -y openssl >&2
fi
declare -A packages=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
  [etcd]=./etcd
)
missing=()
for name in kube-apiserver etcd kubectl; do [[ -x "$bin/$name" ]] || missing+=("$name"); done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "install-envtest: the Go toolchain is needed to build ${missing[*]}" >&2; exit 1; }
mkdir -p "$bin"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# A copy: resolving the module writes go.sum, which the repository does not keep.
cp -r "$here/envtest-build/." "$work/"
cd "$work"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
export GOMODCACHE="${GOMODCACHE:-$cache/go/mod}" GOCACHE="${GOCACHE_ENVTEST:-$cache/go/build}"
version="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"
version="$version -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=34"
start=$SECONDS
go mod download >&2
for name in "${missing[@]}"; do
  go build -trimpath -ldflags "-s -w $version" -o "$bin/$name.partial" "${packages[$name]}" >&2
  mv "$bin/$name.partial" "$bin/$name"
done
echo "install-envtest: built ${missing[*]} (kubernetes $KUBE_VERSION, etcd $ETCD_VERSION) in $((SECONDS - start))s" >&2
echo "$bin"
