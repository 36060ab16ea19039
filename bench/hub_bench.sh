#!/usr/bin/env bash
# Hub fan-out benchmark: the Node baseline, `serve` and the studio window under the same load,
# interleaved in one run (round after round, level after level, target after target), then idle
# memory per connection. Ends with the medians over the rounds and the ratios.
#
#   bench/hub_bench.sh [--targets node,serve,studio] [--levels 500x50,2000x50,2000x200]
#                      [--rounds 3] [--seconds 10] [--no-idle-memory]
#
# A level is NxR (N customers, R chat messages/s in total) or NxRxK (K chatters; default
# K = R up to 50, else R/2: the contract limits chat per connection, keep R/K <= 2).
# Targets: node, serve, serve-asyncio (serve on asyncio's loop, not uvloop), studio (the window,
# offscreen, preview on), serve@/DIR (serve from the wrencos_studio in DIR, to A/B a change).
# Env knobs (flags win): TARGETS, LEVELS (also the old N:R:K form), ROUNDS, BENCH_SECONDS,
# IDLE_MEMORY, IDLE_CLIENTS, WRENCOS_SHARED, WRENCOS_BIN.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${WRENCOS_SHARED:-$REPO/../shared/bench}"
BIN="${WRENCOS_BIN:-$REPO/.venv/bin/wrencos-studio}"
PY="$REPO/.venv/bin/python3"
[ -x "$PY" ] || PY=python3
TARGETS="${TARGETS:-node,serve}"
LEVELS="${LEVELS:-500x50 2000x50 2000x200}"
ROUNDS="${ROUNDS:-3}"
IDLE_MEMORY="${IDLE_MEMORY:-1}"
export BENCH_SECONDS="${BENCH_SECONDS:-10}"

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --targets) TARGETS="$2"; shift 2 ;;
    --levels) LEVELS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --seconds) BENCH_SECONDS="$2"; shift 2 ;;
    --no-idle-memory) IDLE_MEMORY=0; shift ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

# Levels as N:R:K, the form run_hub_bench.sh takes.
levels=()
for lv in ${LEVELS//,/ }; do
  IFS='x:' read -r n r k <<<"$lv"
  if ! [[ "$n" =~ ^[0-9]+$ && "$r" =~ ^[0-9]+$ && "${k:-0}" =~ ^[0-9]+$ ]]; then
    echo "bad level: $lv (want NxR or NxRxK)" >&2; exit 2
  fi
  [ -n "${k:-}" ] || k=$((r <= 50 ? r : (r + 1) / 2))
  levels+=("$n:$r:$k")
done
[[ "$ROUNDS" =~ ^[1-9]$ ]] || { echo "--rounds: 1-9" >&2; exit 2; }

command_for() { # target -> WRENCOS_SERVER_CMD ({port}, {data} filled in by run_hub_bench.sh)
  case "$1" in
    node) echo baseline ;;
    serve) echo "$BIN serve --host 127.0.0.1 --port {port} --data-dir {data}" ;;
    # serve on asyncio's own loop instead of uvloop: what uvloop gains, in the same run.
    serve-asyncio) echo "env WRENCOS_EVENT_LOOP=asyncio $BIN serve --host 127.0.0.1 --port {port} --data-dir {data}" ;;
    studio) echo "$REPO/bench/studio_target.sh {port} {data}" ;;
    # serve@DIR: serve from another checkout's wrencos_studio (A/B a change in one run), e.g.
    # git archive HEAD~1 wrencos_studio | tar -x -C /tmp/before; --targets node,serve,serve@/tmp/before
    serve@/*) echo "env PYTHONPATH=${1#serve@} $PY -m wrencos_studio serve --host 127.0.0.1 --port {port} --data-dir {data}" ;;
    *) return 1 ;;
  esac
}
targets=()
for t in ${TARGETS//,/ }; do
  command_for "$t" >/dev/null || { echo "unknown target: $t (node, serve, serve-asyncio, studio, serve@/DIR)" >&2; exit 2; }
  if [[ "$t" == serve@* && ! -f "${t#serve@}/wrencos_studio/__main__.py" ]]; then
    echo "no ${t#serve@}/wrencos_studio/__main__.py" >&2; exit 2
  fi
  targets+=("$t")
done

[ -x "$SHARED/run_hub_bench.sh" ] || { echo "no $SHARED/run_hub_bench.sh (set WRENCOS_SHARED)" >&2; exit 2; }
mkdir -p "$REPO/bench/results"
OUT="$REPO/bench/results/hub-$(date +%Y%m%d-%H%M%S).jsonl"
echo "# results: $OUT (targets ${targets[*]}, levels ${levels[*]}, $ROUNDS rounds)" >&2

status=0
for round in $(seq 1 "$ROUNDS"); do
  # Rotate who goes first each round, so a slow minute does not always hit the same target.
  n=${#targets[@]}
  order=()
  for i in $(seq 0 $((n - 1))); do order+=("${targets[$(((i + round - 1) % n))]}"); done
  for level in "${levels[@]}"; do
    for target in "${order[@]}"; do
      echo "# round $round/$ROUNDS, $level, $target" >&2
      raw="$(LEVELS="$level" WRENCOS_SERVER_CMD="$(command_for "$target")" \
        "$SHARED/run_hub_bench.sh")" || status=1
      printf '%s\n' "$raw" | "$PY" "$REPO/bench/compare.py" --tag "$target" "$level" "$round" \
        | tee -a "$OUT" >&2
    done
  done
done

if [ "$IDLE_MEMORY" != 0 ]; then
  "$PY" "$REPO/bench/idle_memory.py" --clients "${IDLE_CLIENTS:-2000}" --jsonl "$OUT" >&2 || status=1
fi

echo >&2
"$PY" "$REPO/bench/compare.py" "$OUT" || status=1
exit "$status"
