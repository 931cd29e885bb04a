#!/usr/bin/env bash
# `npm run bench`: the verify scenario (bench/verify.ts), then the serve scenario (bench/serve.ts),
# then the render scenario (bench/render.ts), then the ipam scenario (bench/ipam.ts: allocation in
# a /16 with 60,000 addresses in use), then the machines scenario (bench/machines.ts: keel plan
# for 1,000 libvirt domains, 10 parallel creates). BENCH_SCENARIO=verify|serve|render|ipam|machines|all (default all)
# picks which. Each scenario's output is its own;
# the exit status is the first non-zero one (1: the verify target was missed, or a scenario failed).
set -u
scenario=${BENCH_SCENARIO:-all}
case $scenario in
  verify | serve | render | ipam | machines | all) ;;
  *)
    echo "bench: BENCH_SCENARIO must be verify, serve, render, ipam, machines or all, not \"$scenario\"" >&2
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
if [ "$scenario" = machines ] || [ "$scenario" = all ]; then
  echo
  node --import tsx bench/machines.ts || { s=$?; [ "$status" -eq 0 ] && status=$s; }
fi
exit "$status"
