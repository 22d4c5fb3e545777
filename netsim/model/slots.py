"""Per-slot state that exists only for the sender slots traffic has used.

A route has a slot per sender: a client pod on every node, a calling pod, an
external address (model/route.py). Production-sized clusters have thousands of
nodes and Services, and every in-cluster client has a pod on every node, so a
run holds tens of millions of slots of which a run of a million requests uses at
most a million. The stages that keep state per slot (the resolver's cache in
model/dns.py, the connection pools in model/connections.py) keep it in dicts
keyed by slot number that fill in a slot the first time it is used: a slot that
never sent costs nothing, and one that has sent costs what it holds.

They are :class:`collections.defaultdict` rather than a ``dict`` subclass with
``__missing__``: the per-request reads stay C-level lookups (a Python-level
subclass costs about twice as much per read).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from itertools import repeat
from typing import Any


def slot_values(default: Any) -> defaultdict[int, Any]:
    """``slot -> value`` (an immutable one: a time, a flag), ``default`` for a slot until it sets its own."""
    return defaultdict(repeat(default).__next__)


def slot_objects(make: Callable[[], Any]) -> defaultdict[int, Any]:
    """``slot -> a mutable object`` (a list, a deque), made by ``make()`` the first time the slot asks for it."""
    return defaultdict(make)
