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
  sysctl:procps ping:iputils-ping fping:fping nc:netcat-openbsd /usr/bin/time:time python3:python3 make:make g++:g++ \
  named-checkzone:bind9-utils named:bind9 nsupdate:bind9-dnsutils dig:bind9-dnsutils dnsmasq:dnsmasq-base kea-dhcp4:kea-dhcp4-server \
  ansible-inventory:ansible-core cloud-init:cloud-init genisoimage:genisoimage isoinfo:genisoimage \
  curl:curl nginx:nginx-light nsenter:util-linux unshare:util-linux mountpoint:util-linux /usr/bin/chromium:chromium \
  libvirtd:libvirt-daemon-system virsh:libvirt-clients qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils \
  mmdebstrap:mmdebstrap sfdisk:fdisk mkfs.ext4:e2fsprogs flock:util-linux findmnt:mount \
  pgbackrest:pgbackrest setpriv:util-linux sudo:sudo; do
  bin=${pair%%:*} pkg=${pair#*:}
  case "$bin" in
    /*) [ -x "$bin" ] || need+=("$pkg") ;;
    *) command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || need+=("$pkg") ;;
  esac
done
# pgbackrest and sudo: the lab's backups twin runs pgBackRest, and Keel runs a backup's commands
# as `sudo -n -u USER` when the inventory names a user.
# The store tests and the backups twin start PostgreSQL servers; Debian keeps its binaries off PATH.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The daemons are started by the lab and the tests in their own namespaces; do not let the
  # packages start system-wide services (Prometheus on :9090, nginx on :80, ...) while installing
  # (invoke-rc.d(8): a policy-rc.d that exits 101 forbids it). Ours is removed afterwards.
  # libvirt too: the VM tests start a private libvirtd of their own (test/helpers/libvirt.ts).
  policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ -z "$policy" ] || rm -f "$policy"
fi
# The cloud-init renderer's tests only run `cloud-init schema`; cloud-init must never configure
# this machine itself (its boot services would rewrite users, SSH keys and the network).
# cloud-init(1): the file /etc/cloud/cloud-init.disabled disables it.
if command -v cloud-init >/dev/null 2>&1 && [ ! -e /etc/cloud/cloud-init.disabled ]; then
  mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: build" >&2
npm run --silent build
