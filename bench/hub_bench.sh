#!/usr/bin/env bash
# Hub fan-out benchmark: Node baseline vs ours, level by level in one run, then idle memory per connection.
#   bench/hub_bench.sh        knobs: LEVELS, BENCH_SECONDS, IDLE_MEMORY, IDLE_CLIENTS, WRENCOS_SHARED, WRENCOS_BIN
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${WRENCOS_SHARED:-$REPO/../shared/bench}"
BIN="${WRENCOS_BIN:-$REPO/.venv/bin/wrencos-studio}"
PY="$REPO/.venv/bin/python3"
[ -x "$PY" ] || PY=python3
OURS="$BIN serve --host 127.0.0.1 --port {port} --data-dir {data}"
LEVELS="${LEVELS:-500:50:50 2000:50:50 2000:200:100}"
export BENCH_SECONDS="${BENCH_SECONDS:-10}"

[ -x "$SHARED/run_hub_bench.sh" ] || { echo "no $SHARED/run_hub_bench.sh (set WRENCOS_SHARED)" >&2; exit 2; }
mkdir -p "$REPO/bench/results"
OUT="$REPO/bench/results/hub-$(date +%Y%m%d-%H%M%S).jsonl"
echo "# results: $OUT" >&2

status=0
for level in $LEVELS; do
  for server in baseline ours; do
    if [ "$server" = baseline ]; then cmd=baseline; else cmd="$OURS"; fi
    raw="$(LEVELS="$level" WRENCOS_SERVER_CMD="$cmd" "$SHARED/run_hub_bench.sh")" || status=1
    printf '%s\n' "$raw" | "$PY" "$REPO/bench/compare.py" --tag "$server" "$level" | tee -a "$OUT" >&2
  done
done

if [ "${IDLE_MEMORY:-1}" != 0 ]; then
  "$PY" "$REPO/bench/idle_memory.py" --clients "${IDLE_CLIENTS:-2000}" --jsonl "$OUT" >&2 || status=1
fi

echo >&2
"$PY" "$REPO/bench/compare.py" "$OUT" || status=1
exit "$status"
