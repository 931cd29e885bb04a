#!/usr/bin/env bash
# The whole test suite: set-up, lint, type check, the layers' import rules, unit tests,
# integration tests on the lab twin and in VMs (the Debian test image is built first, cached).
#   bash scripts/test.sh            everything (this is what .ci/run runs)
#   bash scripts/test.sh unit       unit tests only
#   bash scripts/test.sh integration  integration tests only
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
what=${1:-all}
if [ "$what" = all ]; then
  npx biome ci --error-on-warnings .
  npm run --silent typecheck
  npm run --silent deps
fi
files=()
case "$what" in
  unit) dirs=(test/unit) ;;
  integration) dirs=(test/integration) ;;
  all) dirs=(test/unit test/integration) ;;
  *) echo "usage: scripts/test.sh [unit|integration|all]" >&2; exit 2 ;;
esac
for d in "${dirs[@]}"; do
  [ -d "$d" ] && while IFS= read -r f; do files+=("$f"); done < <(find "$d" -name '*.test.ts' | sort)
done
if [ ${#files[@]} -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
# The VM tests boot the Debian test image; build it (once per machine and version of the script,
# cached outside the work tree) before the clock of a test file starts.
if [ "$what" != unit ]; then bash scripts/vm-image.sh >/dev/null; fi
exec node --import tsx --test --test-reporter=spec --test-concurrency=1 --test-timeout=1200000 "${files[@]}"
