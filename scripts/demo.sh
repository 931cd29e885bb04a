#!/usr/bin/env bash
# Quick start, command 1: set up (Debian packages, npm ci, build), bring up the example lab twin
# (examples/lab/keel.yaml: real sshd, node_exporter, Prometheus, WireGuard, BIND in network namespaces)
# and run `keel verify` on it, showing the report. The twin stays up for you to explore;
# `node dist/cli/main.js lab down examples/lab/keel.yaml` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
inv=examples/lab/keel.yaml
node dist/cli/main.js lab up "$inv"
echo
echo "\$ keel verify $inv --verbose"
set +e
node dist/cli/main.js verify "$inv" --verbose
code=$?
set -e
echo
echo "The lab twin is still up: try 'node dist/cli/main.js lab status $inv', 'node dist/cli/main.js history $inv',"
echo "and remove it with 'node dist/cli/main.js lab down $inv'."
exit $code
