# Sourced by ./run-tests: the Debian packages the tests need (a real redis-server, and
# ip + unshare for the private network namespace of the media tests, Debian's chromium
# for the browser tests; Playwright drives it, it never downloads a browser; nginx-light
# as the caching proxy in front of the LL-HLS output).
# Installs the missing ones when it can (root with apt-get), else says what is missing.

SYSTEM_PACKAGES=(redis-server iproute2 util-linux chromium nginx-light)
SYSTEM_COMMANDS=(redis-server ip unshare chromium nginx)
SYSTEM_PACKAGES+=(janus); SYSTEM_COMMANDS+=(janus)  # WHIP egress tests (issue 15): a real SFU

ensure_system_deps() {
  local missing=() i
  ensure_simple_whip_server  # WHIP egress tests (issue 15); never fatal
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

# simple-whip-server (Debian's WHIP front for Janus; tests/helpers/janus.py starts it):
# installed when it can be. Where Debian's package cannot install -- NodeSource's nodejs
# conflicts with the libnode108 its node-websocket needs -- it and its node-* dependencies
# are unpacked (dpkg -x, no maintainer scripts) into .cache/simple-whip-server, which the
# tests use with the installed node. Without either the WHIP tests skip, saying why.
ensure_simple_whip_server() {
  local root="$PWD/.cache/simple-whip-server" tmp pkgs f
  [ -f /usr/share/simple-whip-server/src/server.js ] && return 0
  [ -f "$root/usr/share/simple-whip-server/src/server.js" ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "The WHIP tests need simple-whip-server (sudo apt-get install simple-whip-server)" >&2
    return 0
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    simple-whip-server >/dev/null 2>&1 && return 0
  echo "simple-whip-server cannot be installed here (nodejs conflict): unpacking it into $root" >&2
  tmp=$(mktemp -d)
  pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances simple-whip-server | grep -E '^(simple-whip-server|node-|libjs-)' | sort -u)
  # shellcheck disable=SC2086  # one word per package
  if (cd "$tmp" && apt-get download $pkgs >/dev/null 2>&1); then
    mkdir -p "$root"
    for f in "$tmp"/*.deb; do dpkg -x "$f" "$root"; done
  else
    echo "could not download simple-whip-server: the WHIP tests will skip" >&2
  fi
  rm -rf "$tmp"
  return 0
}
