#!/usr/bin/env bash
# Installs everything Keel and its tests need on Debian 12 (as root), then `npm ci` and build.
# Safe to run again: Debian packages are installed only when a binary is missing, npm ci only
# when package-lock.json is newer than node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in \
  sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client \
  prometheus-node-exporter:prometheus-node-exporter prometheus:prometheus \
  prometheus-blackbox-exporter:prometheus-blackbox-exporter prometheus-alertmanager:prometheus-alertmanager \
  wireguard-go:wireguard-go wg:wireguard-tools nft:nftables ip:iproute2 ss:iproute2 \
  sysctl:procps ping:iputils-ping nc:netcat-openbsd /usr/bin/time:time python3:python3 make:make g++:g++ \
  curl:curl nsenter:util-linux unshare:util-linux mountpoint:util-linux /usr/bin/chromium:chromium; do
  bin=${pair%%:*} pkg=${pair#*:}
  case "$bin" in
    /*) [ -x "$bin" ] || need+=("$pkg") ;;
    *) command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || need+=("$pkg") ;;
  esac
done
# The store tests start a throwaway PostgreSQL server; Debian keeps its binaries off PATH.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: build" >&2
npm run --silent build
