"""Test-session setup shared by all tests.

Every test session gets its own ROS_DOMAIN_ID so that graph tests never see another session's
nodes (a second checkout, a running bringup). It is chosen before anything creates a DDS
participant and can be pinned with PHYSWORLD_TEST_DOMAIN_ID.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")


def _session_domain_id() -> int:
    pinned = os.environ.get("PHYSWORLD_TEST_DOMAIN_ID")
    if pinned:
        return int(pinned)
    avoid = os.environ.get("ROS_DOMAIN_ID")
    domain = os.getpid() % 100 + 1
    if avoid is not None and str(domain) == avoid:
        domain = domain % 100 + 1
    return domain


os.environ["ROS_DOMAIN_ID"] = str(_session_domain_id())
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
