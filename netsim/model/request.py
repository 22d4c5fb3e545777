"""A request in flight, and how it can end.

A request is a small record moved along by callbacks, not a process with its
own generator: the data plane handles hundreds of thousands per second.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Outcome(IntEnum):
    """How a request ended. Every generated request ends exactly once, with one of these."""

    OK = 0
    REFUSED = 1
    """No ready endpoint (kube-proxy REJECTs), or the Service selects no pod."""
    REJECTED = 2
    """The pod's waiting room (``queue_limit``) was full: the server answered 503."""
    TIMEOUT = 3
    """The client gave up after its ``timeout``."""
    NO_LOCAL_ENDPOINT = 4
    """A traffic policy ``Local`` found no ready endpoint on the node: kube-proxy dropped it.

    (The client would see a connect timeout; netsim ends the request when it is dropped.)"""
    DISCOVERY = 5
    """The client could not find the Service: NXDOMAIN, or no env var (the pod is older than the Service)."""
    RESET = 6
    """The connection was reset: the pod's process died (crash, SIGKILL at the end of the grace period)
    with the request in flight."""
    CLIENT_DOWN = 7
    """The client pod that would have sent it is down (its node failed) or the client has no Ready pod:
    the request is lost at the source (model/client_pods.py)."""

    @property
    def column(self) -> str:
        return f"errors_{self.name.lower()}"


class Request:
    """What travels: who sent it, where it entered, which pod took it, when it started."""

    __slots__ = ("client", "client_pod", "dns_queries", "node", "pod", "t_issue", "via", "source", "conn", "tries", "t_try")

    def __init__(self, client: Any, client_pod: int, node: int, t_issue: float) -> None:
        self.client = client
        self.client_pod = client_pod
        self.node = node
        self.t_issue = t_issue
        self.pod: Any = None
        self.dns_queries = 0
        # External paths only (set there, never read on the in-cluster path):
        # ``via`` the LB zone front end it passed (-1: none); ``source`` the client IP kube-proxy sees.
