#!/usr/bin/env bash
# Runs the chaos harness (chaos/, built with the tag chaos; needs root):
# $1 is quick (make chaos-quick, the CI subset) or full (make chaos). The
# test's output goes to the terminal and to chaos-<mode>.log; the last
# line printed is the checker's summary,
#   scenarios=N operations=N lost=N duplicated=N split_brain=N ...
# and the exit status is the test's.
set -uo pipefail
mode=${1:?usage: chaos.sh quick|full}
log=chaos-$mode.log
timeout=30m
[ "$mode" = full ] && timeout=120m
TRIAD_CHAOS=$mode go test -tags chaos -race -count=1 -timeout "$timeout" -v -run '^TestChaos$' ./chaos/ 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
summary=$(grep -E '^scenarios=[0-9]+ ' "$log" | tail -n 1)
echo
if [ -z "$summary" ]; then
	echo "scenarios=0 operations=0 lost=? duplicated=? split_brain=? (the run ended before its check: see $log)"
	exit $(( status == 0 ? 1 : status ))
fi
echo "$summary"
exit "$status"
