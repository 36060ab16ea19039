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

# -- Qt's runtime libraries (Linux) -----------------------------------------------------
# PySide6's wheel carries Qt itself but not the system libraries its xcb platform plugin
# loads; without one, Qt aborts (exit 134) naming only the first it missed. The list is
# `ldd` of PySide6/Qt/plugins/platforms/libqxcb.so and lib/libQt6XcbQpa.so.6 (PySide6
# 6.x), minus what every Linux has (libc, libstdc++): soname, then the package that
# ships it on Debian/Ubuntu, Fedora and Arch.
QT_RUNTIME_LIBS=(
  "libxcb-cursor.so.0      libxcb-cursor0      xcb-util-cursor     xcb-util-cursor"
  "libxcb-icccm.so.4       libxcb-icccm4       xcb-util-wm         xcb-util-wm"
  "libxcb-keysyms.so.1     libxcb-keysyms1     xcb-util-keysyms    xcb-util-keysyms"
  "libxcb-image.so.0       libxcb-image0       xcb-util-image      xcb-util-image"
  "libxcb-render-util.so.0 libxcb-render-util0 xcb-util-renderutil xcb-util-renderutil"
  "libxcb-util.so.1        libxcb-util1        xcb-util            xcb-util"
  "libxcb-randr.so.0       libxcb-randr0       libxcb              libxcb"
  "libxcb-shape.so.0       libxcb-shape0       libxcb              libxcb"
  "libxcb-shm.so.0         libxcb-shm0         libxcb              libxcb"
  "libxcb-sync.so.1        libxcb-sync1        libxcb              libxcb"
  "libxcb-xfixes.so.0      libxcb-xfixes0      libxcb              libxcb"
  "libxcb-xkb.so.1         libxcb-xkb1         libxcb              libxcb"
  "libxcb-render.so.0      libxcb-render0      libxcb              libxcb"
  "libxcb.so.1             libxcb1             libxcb              libxcb"
  "libX11-xcb.so.1         libx11-xcb1         libX11-xcb          libx11"
  "libX11.so.6             libx11-6            libX11              libx11"
  "libxkbcommon.so.0       libxkbcommon0       libxkbcommon        libxkbcommon"
  "libxkbcommon-x11.so.0   libxkbcommon-x11-0  libxkbcommon-x11    libxkbcommon-x11"
  "libGL.so.1              libgl1              libglvnd-glx        libglvnd"
  "libEGL.so.1             libegl1             libglvnd-egl        libglvnd"
  "libfontconfig.so.1      libfontconfig1      fontconfig          fontconfig"
  "libfreetype.so.6        libfreetype6        freetype            freetype2"
  "libdbus-1.so.3          libdbus-1-3         dbus-libs           dbus"
  "libglib-2.0.so.0        libglib2.0-0        glib2               glib2"
)

# qt_missing_packages FAMILY [ARCH]: reads `ldconfig -p` output on stdin; prints, one a
# line and without repeats, the packages (FAMILY: deb, rpm or arch) whose library is not
# listed. ARCH (e.g. "x86-64", as ldconfig tags lines) ignores other architectures' copies.
qt_missing_packages() {
  local family="$1" arch="${2:-}" column listed entry soname
  case "$family" in deb) column=2 ;; rpm) column=3 ;; arch) column=4 ;;
    *) echo "qt_missing_packages: unknown family $family" >&2; return 2 ;; esac
  listed="$(grep -F -- "$arch" | awk '{print $1}')"
  for entry in "${QT_RUNTIME_LIBS[@]}"; do
    soname="$(echo "$entry" | awk '{print $1}')"
    if ! grep -qxF "$soname" <<<"$listed"; then
      echo "$entry" | awk -v c="$column" '{print $c}'
    fi
  done | awk '!seen[$0]++'
}

# distro_family [OS_RELEASE_FILE]: deb, rpm, arch, or "" when unknown (ID and ID_LIKE).
distro_family() {
  local file="${1:-/etc/os-release}" ids
  ids="$( (. "$file" 2>/dev/null && echo "${ID:-} ${ID_LIKE:-}") )"
  case " $ids " in
    *" debian "*|*" ubuntu "*) echo deb ;;
    *" fedora "*|*" rhel "*|*" centos "*) echo rpm ;;
    *" arch "*) echo arch ;;
    *) echo "" ;;
  esac
}

# install_command FAMILY PACKAGES...: the exact command a person runs for them.
install_command() {
  local family="$1"; shift
  case "$family" in
    deb) echo "sudo apt-get install -y $*" ;;
    rpm) echo "sudo dnf install -y $*" ;;
    arch) echo "sudo pacman -S --needed $*" ;;
  esac
}

# ensure_qt_runtime: 0 when the window can start (Linux with its Qt libraries, or not
# Linux); installs what is missing when it can (root with apt-get/dnf/pacman); otherwise
# prints the command to run and returns 1 (the caller then serves headless).
ensure_qt_runtime() {
  [ "$(uname -s)" = Linux ] || return 0
  command -v ldconfig >/dev/null 2>&1 || [ -x /sbin/ldconfig ] || return 0
  local family missing ldc
  ldc="$(command -v ldconfig || echo /sbin/ldconfig)"
  family="$(distro_family)"
  local arch=""
  case "$(uname -m)" in x86_64) arch="x86-64" ;; aarch64) arch="AArch64" ;; esac
  missing="$("$ldc" -p | qt_missing_packages "${family:-deb}" "$arch" | tr '\n' ' ')"
  missing="${missing% }"
  [ -n "$missing" ] || return 0
  if [ "$(id -u)" = 0 ]; then
    echo "Installing the system libraries Qt's window needs: $missing ..." >&2
    case "$family" in
      deb) DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 \
                --no-install-recommends $missing >&2 && return 0 ;;
      rpm) dnf install -y $missing >&2 && return 0 ;;
      arch) pacman -S --needed --noconfirm $missing >&2 && return 0 ;;
    esac
  fi
  echo "Wrencos Studio's window needs system libraries that are missing here." >&2
  if [ -n "$family" ]; then
    echo "Install them with:" >&2
    echo "    $(install_command "$family" $missing)" >&2
  else
    echo "Install the packages that provide: $missing (names as on Debian)" >&2
  fi
  echo "Meanwhile the studio runs headless: customers can watch and chat; the window" >&2
  echo "opens at the next start once they are installed." >&2
  return 1
}
