"""Helpers shared by the graph tests (imported as ``ros_graph_utils``: pytest puts this folder on
``sys.path``, it has no ``__init__.py``)."""

from __future__ import annotations

import time


def wait_future(future, timeout: float, what: str):
    """The future's result, waiting (the executor spins in another thread) at most ``timeout`` s."""
    end = time.monotonic() + timeout
    while not future.done():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)
    return future.result()


def service_client(node, srv_type, name: str, renew: bool = False):
    """The client of service ``name`` on ``node``, created on first use and reused afterwards: a client
    created later, while a long goal ran, was now and then never matched within 30 s (full suite here
    and in CI), while the first client of a name kept working. ``renew``: destroy the cached client
    and make a new one (new endpoints, matched afresh)."""
    clients = node.__dict__.setdefault("_test_service_clients", {})
    if renew and name in clients:
        node.destroy_client(clients.pop(name))
    if name not in clients:
        clients[name] = node.create_client(srv_type, name)
    return clients[name]


def call(client, request, timeout: float = 10.0, response_timeout: float | None = None):
    """The response of ``client``'s service to ``request``: waits ``timeout`` s for the service, then
    ``response_timeout`` s (default ``timeout``) for the answer; the executor spins in another thread."""
    name = client.srv_name
    assert client.wait_for_service(timeout_sec=timeout), f"service {name} did not appear"
    wait = timeout if response_timeout is None else response_timeout
    return wait_future(client.call_async(request), wait, f"{name} response")


def call_service(node, srv_type, name: str, request, timeout: float = 10.0):
    """Call ``name`` through :func:`service_client` (the executor spins ``node`` in another thread).
    A client that does not see the service within ``timeout`` s is replaced by a new one, which gets
    another ``timeout`` s: in the full suite a client of a service that was up was now and then never
    matched (rmw_fastrtps, 2 busy cores: "service arm_controller/change_state did not appear" after
    30 s while get_state on the same node answered)."""
    client = service_client(node, srv_type, name)
    if not client.wait_for_service(timeout_sec=timeout):
        client = service_client(node, srv_type, name, renew=True)
    return call(client, request, timeout)


def change_state(node, target: str, transition: str, timeout: float = 30.0) -> bool:
    """``ros2 lifecycle set <target> <transition>``: lifecycle_msgs/srv/ChangeState on <target>/change_state."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    tid = getattr(Transition, f"TRANSITION_{transition.upper()}")
    request = ChangeState.Request(transition=Transition(id=tid))
    return call_service(node, ChangeState, f"{target}/change_state", request, timeout).success


def lifecycle_state(node, target: str, timeout: float = 10.0) -> str:
    """``ros2 lifecycle get <target>``: the label of lifecycle_msgs/srv/GetState on <target>/get_state."""
    from lifecycle_msgs.srv import GetState

    return call_service(node, GetState, f"{target}/get_state", GetState.Request(), timeout).current_state.label
