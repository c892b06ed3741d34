#!/usr/bin/env bash
# Installs what the tests need beyond cargo, idempotently: the web files finpulse embeds, the
# Node packages of e2e/ (graphql-http, playwright-core) and Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${XDG_CACHE_HOME:-$HOME/.cache}/finpulse"
export npm_config_cache="$cache/npm" npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

scripts/setup-web.sh

stamp=e2e/node_modules/.lock-sha256
want=$(sha256sum e2e/package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  (cd e2e && npm ci --silent --no-progress)
  echo "$want" > "$stamp"
fi

if ! command -v chromium >/dev/null; then
  echo "installing Debian's chromium for the browser tests"
  sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get install -y -q chromium >/dev/null || {
    "${sudo_cmd[@]}" apt-get update -q >/dev/null && "${sudo_cmd[@]}" apt-get install -y -q chromium >/dev/null
  }
fi
