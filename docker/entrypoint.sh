#!/usr/bin/env bash
set -e
# shellcheck disable=SC1090
source "/opt/ros/${ROS_DISTRO:-kilted}/setup.bash"
source /ws/install/setup.bash
exec "$@"
