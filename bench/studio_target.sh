#!/usr/bin/env bash
# The studio window as a hub_bench.sh target: `bench/studio_target.sh PORT DATA_DIR`.
# Writes the studio's settings (its port, the test source, so the preview runs) into the data
# dir, then becomes the studio (exec: the benchmark measures this very process) with Qt's
# offscreen platform. WRENCOS_DATA_DIR must point at DATA_DIR (run_hub_bench.sh sets it), and
# WRENCOS_BIN may name the executable (default: the repo's .venv).
set -euo pipefail
PORT="${1:?usage: studio_target.sh PORT DATA_DIR}"
DATA="${2:?usage: studio_target.sh PORT DATA_DIR}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${WRENCOS_BIN:-$REPO/.venv/bin/wrencos-studio}"
[ "${WRENCOS_DATA_DIR:-}" = "$DATA" ] || { echo "WRENCOS_DATA_DIR must be $DATA" >&2; exit 2; }
mkdir -p "$DATA"
printf '{"port": %d, "source": "testsrc"}\n' "$PORT" >"$DATA/studio-settings.json"
export QT_QPA_PLATFORM=offscreen
exec "$BIN"
