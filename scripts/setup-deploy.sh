#!/usr/bin/env bash
# What the deployment test needs besides scripts/setup.sh (idempotent, never prompts): PostgreSQL (Debian), and the
# Temporal server and its SQL schema tool built from their Go module (go.temporal.io/server), pinned, into
# .local/go/bin. The Go module and build caches are the machine's own (go env GOMODCACHE, GOCACHE), kept between
# runs and clones: the first build downloads about 1.6 GB of modules and took 383 s here.
set -euo pipefail
quiet=false
[ "${1:-}" = "--quiet" ] && quiet=true
cd "$(dirname "$0")/.."
TEMPORAL_SERVER_VERSION=v1.29.1
BIN=.local/bin
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "setup-deploy: installing PostgreSQL (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
pgbin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
ln -sfn "$pgbin" "$BIN/postgresql"
if [ ! -x .local/go/bin/server ] || [ "$(.local/go/bin/server --version 2>/dev/null | awk '{print $NF}')" != "${TEMPORAL_SERVER_VERSION#v}" ]; then
  echo "setup-deploy: building the Temporal server ${TEMPORAL_SERVER_VERSION} from its Go module (first time: minutes)"
  export GOBIN="$PWD/.local/go/bin" GOFLAGS=-mod=mod
  go install "go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}" "go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}"
fi
ln -sfn "$PWD/.local/go/bin/server" "$BIN/temporal-server"
ln -sfn "$PWD/.local/go/bin/sql" "$BIN/temporal-sql-tool"
# The schema files ship in the module.
ln -sfn "$(go env GOMODCACHE)/go.temporal.io/server@${TEMPORAL_SERVER_VERSION}/schema" .local/temporal-schema
$quiet || echo "setup-deploy: PostgreSQL in $pgbin, temporal-server ${TEMPORAL_SERVER_VERSION}"
