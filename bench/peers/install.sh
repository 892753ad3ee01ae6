#!/usr/bin/env bash
# Installs the peer routers the benchmarks compare Switchyard with, into Python venvs under
# ${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}/peers/ (outside the repository), with pinned versions. Idempotent: a venv
# whose stamp file lists the same pins is left alone. Run on demand by `npm run bench` / `npm run bench:routing`
# (never by `npm test`); also runnable by hand: `bench/peers/install.sh [router|litellm|all]`.
#
#   venv/          smg (Shepherd Model Gateway, the former SGLang router), vllm-router, inference-perf
#   litellm-venv/  litellm[proxy]: its own venv because its pins (fastapi, pydantic, ...) fight the others'
#
# LiteLLM is pinned to 1.108.7, the newest release whose `[proxy]` extra resolves on the package index this machine
# reaches: from 1.108.8 it pins litellm-enterprise==0.1.79.post2 (the index has 0.1.79.post1), from 1.108.13
# litellm-proxy-extras==0.4.110.post1 (the index has 0.4.110), and from 1.110 the proxy moved into a separate
# `litellm-proxy` package the index does not serve. Needs Python >= 3.12 (inference-perf): $PYTHON, else the first of
# python3.12, pyenv's 3.12, python3.13, pyenv's 3.13, python3 that is new enough (tried with 3.12.1).
set -euo pipefail

ROUTER_PINS=(smg==1.13.0 vllm-router==0.1.17 inference-perf==0.7.0)
LITELLM_PINS=('litellm[proxy]==1.108.7')
DIR="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}/peers"
WHAT="${1:-all}"

find_python() {
  local candidates=()
  [[ -n "${PYTHON:-}" ]] && candidates+=("$PYTHON")
  candidates+=(python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3 python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3 python3)
  local python
  for python in "${candidates[@]}"; do
    if command -v "$python" >/dev/null 2>&1 &&
      "$python" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
      echo "$python"
      return 0
    fi
  done
  return 1
}

# install_venv NAME PIN...: creates $DIR/NAME and installs the pins unless its stamp already lists exactly them.
install_venv() {
  local name="$1"
  shift
  local venv="$DIR/$name"
  local stamp="$venv/.switchyard-pins"
  local wanted
  wanted="$(printf '%s\n' "$@")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
    echo "peers: $name up to date ($(echo "$wanted" | tr '\n' ' '))"
    return 0
  fi
  local python
  if ! python="$(find_python)"; then
    echo "peers: no Python >= 3.12 found (set PYTHON=/path/to/python3.12)" >&2
    return 1
  fi
  echo "peers: installing $* into $venv with $python ..."
  mkdir -p "$DIR"
  [[ -x "$venv/bin/pip" ]] || "$python" -m venv "$venv"
  local log="$DIR/$name-install.log"
  if ! "$venv/bin/pip" install --disable-pip-version-check -q "$@" >"$log" 2>&1; then
    echo "peers: pip install $* failed (log: $log):" >&2
    tail -n 5 "$log" >&2
    return 1
  fi
  echo "$wanted" >"$stamp"
  echo "peers: $name ready"
}

status=0
case "$WHAT" in
  router | all) install_venv venv "${ROUTER_PINS[@]}" || status=1 ;;&
  litellm | all) install_venv litellm-venv "${LITELLM_PINS[@]}" || status=1 ;;
  router) ;;
  *) echo "usage: $0 [router|litellm|all]" >&2; exit 2 ;;
esac
exit "$status"
