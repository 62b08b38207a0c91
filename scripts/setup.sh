#!/usr/bin/env bash
# One-command setup: bare Debian 12 + Python 3.11 -> .venv with ROS 2 Kilted wheels and the
# project's pinned dependencies -> colcon build of physworld_interfaces and physworld into install/.
# Idempotent: with nothing changed it only checks stamps and exits in a few seconds.
#   ./scripts/setup.sh            # set up or refresh
#   ./scripts/setup.sh --force    # reinstall and rebuild everything
#   ./scripts/setup.sh --check    # exit 0 if the environment is up to date, 1 if not (changes nothing)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
STAMPS="$ROOT/.stamps"
LOCK="$ROOT/requirements.lock"
PYTHON="${PHYSWORLD_PYTHON:-python3.11}"
# open3d's CPU build links libusb; PHYSWORLD_APT_PACKAGES overrides the list (space-separated)
read -r -a APT_PACKAGES <<< "${PHYSWORLD_APT_PACKAGES:-libusb-1.0-0}"
FORCE=0; CHECK=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    --check) CHECK=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$a' (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# --- stamps: what each step depends on ------------------------------------------------------
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
deps_hash() { hash_of "$LOCK" scripts/setup.sh; }
build_hash() {
  { find src -type f \( -name '*.msg' -o -name '*.srv' -o -name '*.action' -o -name 'CMakeLists.txt' \
      -o -name 'package.xml' -o -name 'setup.py' -o -name 'setup.cfg' \) | sort | xargs cat;
    find launch config urdf -type f | sort; deps_hash; } | sha256sum | cut -c1-16
}
stamp_ok() { [ "$FORCE" = 0 ] && [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }

if [ "$CHECK" = 1 ]; then
  [ -x "$VENV/bin/python" ] && stamp_ok deps "$(deps_hash)" && stamp_ok build "$(build_hash)" && exit 0
  exit 1
fi

# --- 1. Python ------------------------------------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
command -v "$PYTHON" >/dev/null 2>&1 || die "no python3 found. Install Python 3.11 (the ROS 2 Kilted wheels on PyPI are cp311 only)."
PYVER="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$PYVER" = "3.11" ] || die "Python 3.11 is required (ROS 2 Kilted wheels are cp311 only); '$PYTHON' is $PYVER. Set PHYSWORLD_PYTHON=/path/to/python3.11."
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || die "'$PYTHON' lacks venv/ensurepip: apt-get install python3.11-venv"

# --- 2. Debian packages ---------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
for tool in cmake g++ git; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  else
    die "missing Debian packages: ${missing[*]}. Run as root, or: sudo apt-get install -y ${missing[*]}"
  fi
fi

# --- 3. venv and pinned Python packages -----------------------------------------------------
mkdir -p "$STAMPS"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if ! stamp_ok deps "$(deps_hash)"; then
  say "installing pinned packages from requirements.lock (first run: a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade "pip==26.3" 2>&1 | { grep -v "^WARNING: Location" || true; }
  if ! "$VENV/bin/python" -m pip install -q --no-deps -r "$LOCK" 2>&1 | { grep -v "^WARNING: Location" || true; }; then
    die "pip install -r requirements.lock failed (see above)"
  fi
  "$VENV/bin/python" -m pip check >/dev/null || { "$VENV/bin/python" -m pip check; die "pip check found broken requirements"; }
  # The ROS 2 wheels' exported CMake targets name the wheel build machine's include paths.
  # CMake rejects imported targets whose include dirs do not exist: point them at this venv.
  PYINC="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  NPINC="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
  { grep -rl --include='*.cmake' '/opt/python/cp311-cp311' "$VENV/share" 2>/dev/null || true; } | while read -r f; do
    sed -i -e "s#/opt/python/cp311-cp311/include/python3.11#$PYINC#g" \
           -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NPINC#g" "$f"
  done
  deps_hash > "$STAMPS/deps"
  rm -f "$STAMPS/build"
fi

# --- 4. colcon build --------------------------------------------------------------------------
if ! stamp_ok build "$(build_hash)"; then
  say "colcon build (physworld_interfaces, physworld) -> install/"
  # shellcheck disable=SC1091
  source "$ROOT/scripts/env.sh" --no-overlay
  [ "$FORCE" = 1 ] && rm -rf "$ROOT/build" "$ROOT/install"
  mkdir -p "$ROOT/log"
  colcon --log-base "$ROOT/log" build --base-paths src --build-base "$ROOT/build" --install-base "$ROOT/install" \
    --symlink-install --event-handlers console_cohesion- summary+ \
    --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python" -Wno-dev \
    > "$ROOT/log/colcon_build.txt" 2>&1 || { tail -60 "$ROOT/log/colcon_build.txt"; die "colcon build failed; full log: log/colcon_build.txt"; }
  build_hash > "$STAMPS/build"
fi
say "ready. Run commands through ./physworld, or: source scripts/env.sh"
