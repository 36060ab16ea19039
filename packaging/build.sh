#!/usr/bin/env bash
# Builds the one-folder app (packaging/dist/wrencos-studio/) for this OS with PyInstaller,
# then checks that the bundle starts: `wrencos-studio serve --help`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/env.sh
ensure_venv "test"
.venv/bin/python -m PyInstaller --noconfirm --log-level WARN \
  --distpath packaging/dist --workpath packaging/build packaging/wrencos-studio.spec
app=packaging/dist/wrencos-studio/wrencos-studio
"$app" serve --help >/dev/null
echo "built $app ($(du -sh packaging/dist/wrencos-studio | cut -f1))"
