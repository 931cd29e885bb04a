#!/usr/bin/env bash
# `npm run bench`: the verify scenario (bench/verify.ts), then the serve scenario (bench/serve.ts),
# then the render scenario (bench/render.ts), then the ipam scenario (bench/ipam.ts: allocation in
# a /16 with 60,000 addresses in use). BENCH_SCENARIO=verify|serve|render|ipam|all (default all)
# picks which. Each scenario's output is its own;
# the exit status is the first non-zero one (1: the verify target was missed, or a scenario failed).
set -u
scenario=${BENCH_SCENARIO:-all}
case $scenario in
  verify | serve | render | ipam | all) ;;
  *)
    echo "bench: BENCH_SCENARIO must be verify, serve, render, ipam or all, not \"$scenario\"" >&2
    exit 2
    ;;
esac
cd "$(dirname "$0")/.."
status=0
if [ "$scenario" = verify ] || [ "$scenario" = all ]; then
  node --import tsx bench/verify.ts || status=$?
fi
if [ "$scenario" = serve ] || [ "$scenario" = all ]; then
  echo
  node --import tsx bench/serve.ts || { s=$?; [ "$status" -eq 0 ] && status=$s; }
fi
if [ "$scenario" = render ] || [ "$scenario" = all ]; then
  echo
  node --import tsx bench/render.ts || { s=$?; [ "$status" -eq 0 ] && status=$s; }
fi
if [ "$scenario" = ipam ] || [ "$scenario" = all ]; then
  echo
  node --import tsx bench/ipam.ts || { s=$?; [ "$status" -eq 0 ] && status=$s; }
fi
exit "$status"
