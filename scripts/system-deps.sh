# Sourced by ./run-tests: the Debian packages the tests need (a real redis-server, and
# ip + unshare for the private network namespace of the media tests, Debian's chromium
# for the browser tests; Playwright drives it, it never downloads a browser; nginx-light
# as the caching proxy in front of the LL-HLS output).
# Installs the missing ones when it can (root with apt-get), else says what is missing.

SYSTEM_PACKAGES=(redis-server iproute2 util-linux chromium nginx-light)
SYSTEM_COMMANDS=(redis-server ip unshare chromium nginx)

ensure_system_deps() {
  local missing=() i
  for i in "${!SYSTEM_COMMANDS[@]}"; do
    command -v "${SYSTEM_COMMANDS[$i]}" >/dev/null 2>&1 || missing+=("${SYSTEM_PACKAGES[$i]}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing ${missing[*]} (Debian packages the tests need) ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >&2
  else
    echo "The tests need: ${missing[*]} (e.g. sudo apt-get install ${missing[*]})" >&2
    return 1
  fi
}
