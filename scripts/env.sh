# Sourced by ./studio and ./run-tests: finds Python >= 3.12 and keeps .venv installed.
# Python 3.12+ is deliberate: PyAV 19 needs it, and PySide6 6.12 with qasync was seen
# aborting at exit on 3.11 after heavy UDP traffic, while 3.12 exits cleanly.

find_python() {
  local candidates=("${WRENCOS_PYTHON:-}" python3.12 python3.13 python3)
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  for dir in "$root"/versions/3.12* "$root"/versions/3.13*; do
    [ -x "$dir/bin/python3" ] && candidates+=("$dir/bin/python3")
  done
  for py in "${candidates[@]}"; do
    [ -n "$py" ] || continue
    if "$py" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' \
        >/dev/null 2>&1; then
      command -v "$py" 2>/dev/null || echo "$py"
      return 0
    fi
  done
  echo "Wrencos Studio needs Python 3.12 or newer (set WRENCOS_PYTHON to one)." >&2
  return 1
}

# ensure_venv EXTRAS: create .venv on first use; reinstall when pyproject.toml changes.
ensure_venv() {
  local extras="$1" spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  local stamp=".venv/.installed-${extras:-base}"
  if [ ! -x .venv/bin/python ]; then
    local py
    py="$(find_python)"
    echo "Creating .venv with $py ..." >&2
    "$py" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "Installing Wrencos Studio and its dependencies into .venv ..." >&2
    .venv/bin/python -m pip install --quiet -e "$spec" >&2
    touch "$stamp"
  fi
}
