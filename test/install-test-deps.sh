#!/usr/bin/env bash
# Everything the tests need besides npm packages, installed once and reused: Debian's openssl (test certificates)
# and redis-server (global rate limits), and kube-apiserver, etcd and kubectl built with Go into the cache
# (test/kube/install-envtest.sh). `npm test` runs this first (its pretest script); a second run takes well under a
# second. Needs root (or sudo) for apt-get when a package is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
apt_get() { if [ "$(id -u)" = 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt_get install -y --no-install-recommends "${missing[@]}" >&2 \
    || { apt_get update >&2 && apt_get install -y --no-install-recommends "${missing[@]}" >&2; }
fi
bash "$here/kube/install-envtest.sh" >/dev/null
