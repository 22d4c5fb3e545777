"""The request record: one fixed columnar schema, filled during the run, tidy after it.

The schema is defined once, here, and used by the recorder, the DataFrame
builder and the tests. Inside the run rows go to a short Python list and are
flushed in chunks into preallocated numpy columns that grow by doubling; no
pandas in the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

REQUEST_SCHEMA: dict[str, str] = {
    "client": "int16",        # index into RunResult.clients
    "client_pod": "int32",    # index of the sending pod within its client
    "service": "int16",       # index into RunResult.services
    "entry_node": "int16",    # node where the request entered the data plane
    "pod": "int32",           # index into RunResult.pods; -1 when no pod took it
    "t_issue_s": "float64",   # when the client issued it (simulated seconds)
    "latency_s": "float64",   # issue to response (or to the error) as the client saw it
    "outcome": "int8",        # netsim.model.request.Outcome
    "dns_queries": "int8",    # DNS queries this request waited for
    "connection": "int64",    # id of the connection that carried it; -1: a connection of its own (per-request)
}


class Recorder:
    """Collects one row per finished request.

    The hot path appends tuples (in schema order) to :attr:`rows` directly, a
    bound ``list.append`` with no Python frame; :meth:`flush`, called every few
    thousand arrivals, moves them into the numpy columns in one conversion.
    """

    def __init__(self, capacity: int = 1 << 16) -> None:
        self._columns = {name: np.empty(capacity, dtype=dtype) for name, dtype in REQUEST_SCHEMA.items()}
        self._size = 0
        self.rows: list[tuple[Any, ...]] = []

    def flush(self) -> None:
        """Move buffered rows into the columns (growing them by doubling)."""
        rows = self.rows
        if not rows:
            return
        block = np.array(rows, dtype=np.float64)  # every field is numeric; float64 holds them exactly
        rows.clear()  # in place: the hot path holds a bound ``rows.append``
        need = self._size + len(block)
        capacity = len(self._columns["outcome"])
        if need > capacity:
            while capacity < need:
                capacity *= 2
            for name, col in self._columns.items():
                grown = np.empty(capacity, dtype=col.dtype)
                grown[: self._size] = col[: self._size]
                self._columns[name] = grown
        for j, name in enumerate(REQUEST_SCHEMA):
            self._columns[name][self._size : need] = block[:, j]
        self._size = need

    def columns(self) -> dict[str, np.ndarray]:
        """The recorded columns, trimmed to the rows recorded."""
        self.flush()
        return {name: col[: self._size].copy() for name, col in self._columns.items()}

    def __len__(self) -> int:
        return self._size + len(self.rows)


@dataclass
class RunResult:
    """Everything one replication produced, as numpy columns and small lists: picklable and pandas-free."""

    scenario: str
    replication: int
    seed: int
    parameters: dict[str, Any]
    window: tuple[float, float]
    """Requests issued in [start, end) are measured; the rest are warm-up (or drained after the end)."""
    requests: dict[str, np.ndarray]
    clients: list[str]
    services: list[dict[str, Any]]
    """name, type, port, and the pod indices that are its endpoints."""
    pods: list[dict[str, Any]]
    """name, deployment, node, zone of every pod (index = pod id)."""
    nodes: list[dict[str, Any]]
    generated: int
    """Requests the clients generated (warm-up included); each must appear once in ``requests``."""
    events: int = 0
    wall_time_s: float = 0.0
    client_entry_hops: list[int] = field(default_factory=list)
    """Per client: links crossed before the entry node (0 in-cluster, 1 NodePort/internet, 2 via a cloud LB)."""
    client_ip_preserved: list[int] = field(default_factory=list)
    """Per client: 1 when pods see the client's own IP (no SNAT on the way). Constant per client, so kept here,
    not in every request row."""
    warnings: list[str] = field(default_factory=list)
    traffic: dict[str, Any] = field(default_factory=dict)
    """Wire sizes for cross-zone pricing: ``request_bytes``/``response_bytes`` per client, ``cost_per_gb``."""
    programming: dict[str, np.ndarray] = field(default_factory=dict)
    """Every endpoint change on every node: ``service``, ``node`` (indices), ``change_s``, ``programmed_s``."""
    ready_endpoints: list[list[tuple[float, int]]] = field(default_factory=list)
    """Per service, ``(time, ready endpoints in the API)`` at the start and after every change."""
    churn_log: list[tuple[float, str, str, str]] = field(default_factory=list)
    """``(time, action, target, detail)``: churn events and what controllers did (events.csv)."""
    retries: list[tuple[float, int]] = field(default_factory=list)
    """``(time, client)`` of every retry (a retried request is still recorded once, in ``requests``)."""

    def measured(self) -> np.ndarray:
        """Boolean mask of the requests issued inside the measurement window."""
        t = self.requests["t_issue_s"]
        return (t >= self.window[0]) & (t < self.window[1])
