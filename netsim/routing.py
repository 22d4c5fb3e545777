"""The vectorised routing core: endpoint tables and pickers as pure functions on arrays.

kube-proxy turns a Service's EndpointSlices into rules on every node; a new
connection to the Service is then sent to one *ready* endpoint. Here an
:class:`EndpointTable` is that rule set as numpy arrays, and a picker is a pure
function from the table's ready mask and a batch of pre-drawn uniforms to a
batch of endpoint positions (``-1``: no ready endpoint, the connection is
refused). The model takes picks from a :class:`BatchedPicker`, which computes
them thousands at a time, so the per-request cost is a list lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

NO_ENDPOINT = -1


@dataclass
class EndpointTable:
    """One Service port's endpoints as kube-proxy programs them.

    Attributes:
        pods: global pod index of each endpoint.
        nodes: node index of each endpoint's pod (for locality and traffic policies).
        ports: the resolved target port of each endpoint.
        ready: the EndpointSlice ``ready`` condition of each endpoint.
    """

    pods: np.ndarray
    nodes: np.ndarray
    ports: np.ndarray
    ready: np.ndarray

    @classmethod
    def build(cls, pods: list[int], nodes: list[int], ports: list[int]) -> EndpointTable:
        return cls(
            pods=np.asarray(pods, dtype=np.int32),
            nodes=np.asarray(nodes, dtype=np.int32),
            ports=np.asarray(ports, dtype=np.int32),
            ready=np.ones(len(pods), dtype=bool),
        )

    def __len__(self) -> int:
        return int(self.pods.size)


def pick_random(ready: np.ndarray, u: np.ndarray) -> np.ndarray:
    """iptables ``statistic --mode random`` (and nftables ``numgen random``): uniform over ready endpoints.

    iptables walks the chain with probabilities 1/n, 1/(n-1), ..., 1; the product
    gives every endpoint exactly 1/n, which one uniform draw per pick reproduces.
    """
    idx = np.flatnonzero(ready)
    if idx.size == 0:
        return np.full(u.shape, NO_ENDPOINT, dtype=np.intp)
    return idx[np.minimum((u * idx.size).astype(np.intp), idx.size - 1)]


def pick_round_robin(ready: np.ndarray, start: int, count: int) -> tuple[np.ndarray, int]:
    """IPVS ``rr``: ready endpoints in turn, from a pointer that this node's scheduler keeps.

    Returns the picks and the pointer for the next batch (a position in the ready list).
    """
    idx = np.flatnonzero(ready)
    if idx.size == 0:
        return np.full(count, NO_ENDPOINT, dtype=np.intp), start
    turns = (start + np.arange(count)) % idx.size
    return idx[turns], int((start + count) % idx.size)


class BatchedPicker:
    """Hands out one pick at a time from batches computed by a vectorised picker.

    ``refill(n)`` returns ``n`` endpoint positions; the picker translates them to
    pod indices once per batch. Call :meth:`invalidate` when the table changes
    (a pod became ready or went away): the rest of the batch is dropped.
    """

    __slots__ = ("_i", "_picks", "_refill", "block", "table")

    def __init__(self, table: EndpointTable, refill: Callable[[int], np.ndarray], block: int = 4096) -> None:
        self.table = table
        self._refill = refill
        self.block = block
        self._picks: list[int] = []
        self._i = 0

    def __call__(self) -> int:
        """The pod index for the next new connection, or -1 when no endpoint is ready."""
        i = self._i
        if i >= len(self._picks):
            positions = self._refill(self.block)
            if len(self.table) == 0:
                self._picks = [NO_ENDPOINT] * len(positions)
            else:
                self._picks = np.where(positions >= 0, self.table.pods[np.maximum(positions, 0)], NO_ENDPOINT).tolist()
            i = 0
        self._i = i + 1
        return self._picks[i]

    def invalidate(self) -> None:
        self._picks = []
        self._i = 0


def random_picker(table: EndpointTable, rng: np.random.Generator) -> BatchedPicker:
    """A per-node random picker (iptables, nftables) drawing from ``rng``."""
    return BatchedPicker(table, lambda n: pick_random(table.ready, rng.random(n)))


def round_robin_picker(table: EndpointTable, rng: np.random.Generator) -> BatchedPicker:
    """A per-node IPVS rr picker; its pointer starts at a random place, as nodes' do in practice."""
    state = {"next": int(rng.integers(0, max(len(table), 1)))}

    def refill(n: int) -> np.ndarray:
        picks, state["next"] = pick_round_robin(table.ready, state["next"], n)
        return picks

    return BatchedPicker(table, refill, block=max(len(table), 1) * 64)
