#!/usr/bin/env bash
# Fetches the browser files finpulse embeds (GraphiQL, React, graphql-ws) from the npm registry
# into web-demo/vendor/, which git ignores: third-party code is installed, never committed.
# Idempotent: with the lock file unchanged and the files in place it does nothing.
set -euo pipefail
cd "$(dirname "$0")/../web-demo"
export npm_config_cache="${XDG_CACHE_HOME:-$HOME/.cache}/finpulse/npm"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

stamp=vendor/.lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" && -f vendor/graphiql.min.js ]]; then
  exit 0
fi

npm ci --silent --no-progress
mkdir -p vendor
cp node_modules/react/umd/react.production.min.js \
   node_modules/react-dom/umd/react-dom.production.min.js \
   node_modules/graphiql/graphiql.min.js \
   node_modules/graphiql/graphiql.min.css \
   node_modules/graphql-ws/umd/graphql-ws.min.js \
   vendor/
echo "$want" > "$stamp"
echo "web files ready in web-demo/vendor"
