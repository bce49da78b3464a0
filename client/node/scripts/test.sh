#!/bin/sh
# The CTest entry of the Node client: installs the locked dependencies when
# node_modules is absent (npm ci), then runs the tests against the lossd in
# $LOSSD_BINARY.
set -eu
cd "$(dirname "$0")/.."
if [ ! -d node_modules/@grpc/grpc-js ] || [ ! -d node_modules/@grpc/proto-loader ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is missing: install it (Debian: apt-get install npm)" >&2
    exit 1
  fi
  npm ci --no-audit --no-fund
fi
exec node --test test/*.test.js
