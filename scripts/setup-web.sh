#!/usr/bin/env bash
# The browser files finpulse embeds, all git ignored (third-party code is installed and built
# output made here, never committed):
#   web-demo/vendor/  GraphiQL, React and graphql-ws prebuilt bundles from the npm registry;
#   web-demo/dist/    the dashboard and the support-chat widget (`widget.js`, with its demo
#                     page): typed operations generated from schema.graphql, type checked
#                     and bundled by Vite.
# Idempotent: with the lock file and the dashboard's sources unchanged it does nothing.
set -euo pipefail
cd "$(dirname "$0")/../web-demo"
export npm_config_cache="${XDG_CACHE_HOME:-$HOME/.cache}/finpulse/npm"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

lock=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f node_modules/.lock-sha256 || $(cat node_modules/.lock-sha256) != "$lock" ]]; then
  npm ci --silent --no-progress
  echo "$lock" > node_modules/.lock-sha256
fi

if [[ ! -f vendor/.lock-sha256 || $(cat vendor/.lock-sha256) != "$lock" || ! -f vendor/graphiql.min.js ]]; then
  mkdir -p vendor
  cp node_modules/react/umd/react.production.min.js \
     node_modules/react-dom/umd/react-dom.production.min.js \
     node_modules/graphiql/graphiql.min.js \
     node_modules/graphiql/graphiql.min.css \
     node_modules/graphql-ws/umd/graphql-ws.min.js \
     vendor/
  echo "$lock" > vendor/.lock-sha256
  echo "GraphiQL files ready in web-demo/vendor"
fi

sources=$( (echo "$lock"; cat schema.graphql index.html vite.config.ts vite.widget.config.ts tsconfig.json scripts/codegen.mjs; \
  find src public -path src/generated -prune -o -type f -print | LC_ALL=C sort | xargs cat) | sha256sum | cut -d' ' -f1)
if [[ ! -f dist/.sources-sha256 || $(cat dist/.sources-sha256) != "$sources" ]]; then
  npm run --silent build
  echo "$sources" > dist/.sources-sha256
  echo "dashboard built into web-demo/dist"
fi
