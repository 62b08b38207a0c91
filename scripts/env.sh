# Source this file (bash) to get the project's environment in the current shell:
#   source scripts/env.sh
# It activates .venv (Python 3.11 + ROS 2 Kilted wheels), overlays the colcon install/ space and
# picks a ROS_DOMAIN_ID derived from this checkout's path so that two checkouts on one machine
# do not see each other's topics. An exported ROS_DOMAIN_ID is kept.
_pw_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PHYSWORLD_ROOT="$_pw_root"
export VIRTUAL_ENV="$_pw_root/.venv"
case ":$PATH:" in *":$VIRTUAL_ENV/bin:"*) ;; *) export PATH="$VIRTUAL_ENV/bin:$PATH" ;; esac
unset PYTHONHOME

_pw_prepend() {  # _pw_prepend VAR DIR: put DIR first in VAR once
  local var="$1" dir="$2" cur
  cur="${!var:-}"
  case ":$cur:" in *":$dir:"*) ;; *) export "$var=$dir${cur:+:$cur}" ;; esac
}
_pw_prepend AMENT_PREFIX_PATH "$VIRTUAL_ENV"
_pw_prepend CMAKE_PREFIX_PATH "$VIRTUAL_ENV"

if [ "${1:-}" != "--no-overlay" ]; then
  for _pw_pkg in physworld_interfaces physworld; do
    _pw_prefix="$_pw_root/install/$_pw_pkg"
    [ -d "$_pw_prefix" ] || continue
    _pw_prepend AMENT_PREFIX_PATH "$_pw_prefix"
    _pw_prepend CMAKE_PREFIX_PATH "$_pw_prefix"
    [ -d "$_pw_prefix/lib" ] && _pw_prepend LD_LIBRARY_PATH "$_pw_prefix/lib"
    [ -d "$_pw_prefix/lib/python3.11/site-packages" ] && _pw_prepend PYTHONPATH "$_pw_prefix/lib/python3.11/site-packages"
  done
  # the core package from the source tree (colcon's symlink install points here as well), and the
  # build folder holding its egg-info: the installed executables (lib/physworld/<node>) find their
  # entry points through it, as colcon's own setup.bash arranges
  [ -d "$_pw_root/build/physworld" ] && _pw_prepend PYTHONPATH "$_pw_root/build/physworld"
  _pw_prepend PYTHONPATH "$_pw_root/src/physworld"
fi

export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# Images between processes: Fast DDS's LARGE_DATA builtin transports (SHM + TCP for big samples)
# measured p99 3.9 ms against 15 ms with the defaults for 640x480 rgb8 at 30 Hz on an idle machine
# (docs/benchmarks.md, "ROS 2 graph"). Override by exporting FASTDDS_BUILTIN_TRANSPORTS=DEFAULT.
export FASTDDS_BUILTIN_TRANSPORTS="${FASTDDS_BUILTIN_TRANSPORTS:-LARGE_DATA}"
# ROS_AUTOMATIC_DISCOVERY_RANGE is left to the user (ROS default: SUBNET). LOCALHOST would keep
# discovery on this machine, but rmw_fastrtps then replaces the builtin transports with its own
# (UDP on localhost + a default-size shared-memory segment) and ignores FASTDDS_BUILTIN_TRANSPORTS:
# 640x480 colour took p50 15.5 ms with it against 6.0 ms without (docs/benchmarks.md). The
# per-checkout ROS_DOMAIN_ID below keeps two checkouts apart; the test suite uses LOCALHOST.
if [ -z "${ROS_DOMAIN_ID:-}" ]; then
  # 1..100: valid for Fast DDS on Linux, and 0 (everyone's default) is avoided.
  ROS_DOMAIN_ID=$(( $(printf '%s' "$_pw_root" | cksum | cut -d' ' -f1) % 100 + 1 ))
  export ROS_DOMAIN_ID
fi
unset _pw_root _pw_pkg _pw_prefix
unset -f _pw_prepend
