"""The request record: one fixed columnar schema, filled during the run, tidy after it.

The schema is defined once, here, and used by the recorder, the DataFrame
builder and the tests. Inside the run rows go to a short Python list and are
flushed in chunks into preallocated numpy columns that grow by doubling; no
pandas in the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from struct import Struct
from typing import Any

import numpy as np

from netsim.model.request import Outcome

REQUEST_SCHEMA: dict[str, str] = {
    "id": "int64",            # the request's id (unique in the run; its retries keep it)
    "client": "int16",        # index into RunResult.clients
    "client_pod": "int32",    # index of the sending pod (slot) within its client
    "service": "int16",       # index into RunResult.services
    "operation": "int16",     # index into RunResult.operation_names
    "entry_node": "int16",    # node where the request entered the data plane
    "pod": "int32",           # index into RunResult.pods; -1 when no pod took it
    "t_issue_s": "float64",   # when the client issued it (simulated seconds)
    "latency_s": "float64",   # issue to response (or to the error) as the client saw it
    "outcome": "int8",        # netsim.model.request.Outcome
    "dns_queries": "int8",    # DNS queries this request waited for
    "connection": "int64",    # id of the connection that carried it; -1: a connection of its own (per-request)
    "queueing_s": "float64",  # OK: waited at its pod for a worker; -1: its breakdown has other parts (RunResult.breakdown)
    "work_s": "float64",      # OK: the pod's work on it
}



ROW = Struct("<" + "".join("d" if dtype.startswith("float") else "q" for dtype in REQUEST_SCHEMA.values()))
"""One request's record as bytes (REQUEST_SCHEMA's order; integers as int64, times as float64): the hot path
packs each row with one C call, and a block of rows becomes numpy columns without converting Python objects."""
ROW_DTYPE = np.dtype([(name, "<f8" if dtype.startswith("float") else "<i8") for name, dtype in REQUEST_SCHEMA.items()])
"""The numpy view of packed rows (:data:`ROW`)."""
pack_row = ROW.pack
"""``pack_row(*fields)``: the bytes of one row, in REQUEST_SCHEMA's order, for :attr:`Recorder.rows`."""


class Recorder:
    """Takes one row per finished request, folds them into a tally, and keeps them only when asked.

    The hot path appends packed rows (:func:`pack_row`) to :attr:`rows` directly, a
    bound ``list.append`` with no Python frame; :meth:`flush`, called every few
    thousand arrivals, turns them into numpy columns in one go once enough have
    gathered, folds them into ``tally`` (netsim/tally.py: every per-run figure) and,
    with ``keep`` (``--save-requests``, or a library caller that wants the rows),
    also stores them in columns that grow by doubling. Without ``keep`` memory does
    not grow with the number of requests.
    """

    FOLD_AT = 1 << 14
    """Rows gathered before a fold: numpy's per-call cost spread over many requests."""

    def __init__(self, tally: Any = None, keep: bool = True, capacity: int = 1 << 16) -> None:
        self.tally = tally
        self.keep = keep
        self._columns = {name: np.empty(capacity if keep else 0, dtype=dtype) for name, dtype in REQUEST_SCHEMA.items()}
        self._size = 0
        self._folded = 0
        self.rows: list[bytes] = []

    def flush(self, force: bool = False) -> None:
        """Fold the buffered rows (when enough have gathered, or ``force``)."""
        rows = self.rows
        if not rows or (len(rows) < self.FOLD_AT and not force):
            return
        # packed rows are the columns' bytes already (a tuple per row converted by np.fromiter cost ~4x more)
        block = np.frombuffer(b"".join(rows), dtype=ROW_DTYPE)
        rows.clear()  # in place: the hot path holds a bound ``rows.append``
        self._take({name: block[name] for name in REQUEST_SCHEMA})

    def _take(self, block: dict[str, np.ndarray]) -> None:
        n = len(block["outcome"])
        self._folded += n
        if self.tally is not None:
            self.tally.fold(block)
        if self.keep:
            need = self._grow(n)
            for name in REQUEST_SCHEMA:
                self._columns[name][self._size : need] = block[name]
            self._size = need

    def _grow(self, n: int) -> int:
        """Make room for ``n`` more rows (doubling the columns); returns the new size."""
        need = self._size + n
        capacity = len(self._columns["outcome"])
        if need > capacity:
            capacity = max(capacity, 1)
            while capacity < need:
                capacity *= 2
            for name, col in self._columns.items():
                grown = np.empty(capacity, dtype=col.dtype)
                grown[: self._size] = col[: self._size]
                self._columns[name] = grown
        return need

    def extend(self, block: dict[str, np.ndarray]) -> None:
        """Record a block of finished requests given as columns (every name of REQUEST_SCHEMA, equal lengths).

        The fast engine (netsim/fast/) hands its requests over this way; the event
        engine's rows arrive through :attr:`rows`. Both end in the same tally (and columns).
        """
        self.flush(force=True)
        self._take(block)

    def columns(self) -> dict[str, np.ndarray]:
        """The kept columns, trimmed to the rows recorded (empty columns without ``keep``)."""
        self.flush(force=True)
        return {name: col[: self._size].copy() for name, col in self._columns.items()}

    def __len__(self) -> int:
        return self._folded + len(self.rows)


CALL_SCHEMA: dict[str, str] = {
    "edge": "int32",          # index into RunResult.edges: (caller, callee Service, callee operation)
    "caller_pod": "int32",    # the calling pod (index into RunResult.pods)
    "pod": "int32",           # the pod that served it; -1 when none did
    "pod_node": "int16",      # that pod's node (-1: none)
    "entry_node": "int16",    # the caller's node (where the call entered the data plane)
    "t_root_s": "float64",    # issue time of the entry request it belongs to (decides whether it is measured)
    "t_issue_s": "float64",   # when the call was sent
    "latency_s": "float64",   # sent to answered (or to its failure, or its timeout)
    "outcome": "int8",        # netsim.model.request.Outcome
}
OUTCOMES = len(Outcome)
"""How many :class:`netsim.model.request.Outcome` kinds there are (the width of per-kind counts)."""


class CallLedger:
    """Calls between Services, folded into per-edge figures as they end: memory does not grow with the calls.

    Rows are buffered as tuples (CALL_SCHEMA order) and, every few thousand, folded
    with numpy into, per edge: calls, errors by kind, the latency histogram of the OK
    ones (netsim/histogram.py), their latency sum, how many crossed nodes and zones,
    retries; and per Service and pod, the OK calls it served. Only calls whose entry
    request was issued inside the measurement window count. With ``keep_rows`` the
    measured rows are also kept (``--save-requests``).
    """

    FLUSH_AT = 8192

    def __init__(self, edges: int, window: tuple[float, float], node_zone: list[int], edge_service: list[int],
                 keep_rows: bool = False) -> None:
        from netsim import histogram

        self.rows: list[tuple[Any, ...]] = []
        self._window = window
        self._zone = np.asarray([*node_zone, -1], dtype=np.int64)  # index -1: no node
        self._edge_service = np.asarray(edge_service, dtype=np.int64)
        self.calls = np.zeros(edges, dtype=np.int64)
        self.outcomes = np.zeros((edges, OUTCOMES), dtype=np.int64)
        self.latency_sum = np.zeros(edges)
        self.histogram = np.zeros((edges, histogram.BUCKETS), dtype=np.int64)
        self.cross_node = np.zeros(edges, dtype=np.int64)
        self.cross_zone = np.zeros(edges, dtype=np.int64)
        self.served = np.zeros(edges, dtype=np.int64)
        self.retries = np.zeros(edges, dtype=np.int64)
        self.pod_served: dict[int, np.ndarray] = {}
        """Per callee Service index: OK calls served by each pod (index = pod id)."""
        self._keep = keep_rows
        self._kept: list[np.ndarray] = []

    def retried(self, edge: int, t_root: float) -> None:
        if self._window[0] <= t_root < self._window[1]:
            self.retries[edge] += 1

    def flush(self) -> None:
        from netsim import histogram

        rows = self.rows
        if not rows:
            return
        width = len(CALL_SCHEMA)
        block = np.fromiter(chain.from_iterable(rows), np.float64, count=len(rows) * width).reshape(-1, width)
        rows.clear()
        t_root = block[:, 5]
        block = block[(t_root >= self._window[0]) & (t_root < self._window[1])]
        if not len(block):
            return
        if self._keep:
            self._kept.append(block)
        edge = block[:, 0].astype(np.int64)
        pod = block[:, 2].astype(np.int64)
        pod_node = block[:, 3].astype(np.int64)
        entry = block[:, 4].astype(np.int64)
        latency = block[:, 7]
        outcome = block[:, 8].astype(np.int64)
        n = self.calls.size
        self.calls += np.bincount(edge, minlength=n)
        np.add.at(self.outcomes, (edge, outcome), 1)
        ok = outcome == 0
        self.latency_sum += np.bincount(edge[ok], weights=latency[ok], minlength=n)
        np.add.at(self.histogram, (edge[ok], histogram.buckets(latency[ok])), 1)
        served = ok & (pod >= 0)
        self.served += np.bincount(edge[served], minlength=n)
        self.cross_node += np.bincount(edge[served & (pod_node != entry)], minlength=n)
        self.cross_zone += np.bincount(edge[served & (self._zone[pod_node] != self._zone[entry])], minlength=n)
        for service in np.unique(self._edge_service[edge[served]]).tolist():
            mine = served & (self._edge_service[edge] == service)
            counts = np.bincount(pod[mine])
            have = self.pod_served.get(service)
            if have is None or have.size < counts.size:
                grown = np.zeros(max(counts.size, 0 if have is None else have.size), dtype=np.int64)
                if have is not None:
                    grown[: have.size] = have
                have = self.pod_served[service] = grown
            have[: counts.size] += counts

    def figures(self) -> dict[str, Any]:
        """Everything folded so far (after a last flush), as plain arrays and lists."""
        self.flush()
        out: dict[str, Any] = {
            "calls": self.calls, "outcomes": self.outcomes, "latency_sum_s": self.latency_sum, "histogram": self.histogram,
            "cross_node": self.cross_node, "cross_zone": self.cross_zone, "served": self.served, "retries": self.retries,
            "pod_served": {int(k): v for k, v in self.pod_served.items()},
        }
        if self._keep:
            block = np.concatenate(self._kept) if self._kept else np.zeros((0, len(CALL_SCHEMA)))
            out["rows"] = {name: block[:, j].astype(dtype) for j, (name, dtype) in enumerate(CALL_SCHEMA.items())}
        return out


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
    operation_names: list[str] = field(default_factory=lambda: ["default"])
    """Every operation name of the scenario (the ``operation`` column indexes it)."""
    edges: list[dict[str, Any]] = field(default_factory=list)
    """Calls between Services: per edge, ``caller``, ``caller_kind`` (Deployment), ``service``, ``operation``."""
    calls: dict[str, Any] = field(default_factory=dict)
    """The call ledger's figures (:meth:`CallLedger.figures`): per edge counts, histograms; per Service and pod, OK calls."""
    breakdown: list[dict[int, list[float]]] = field(default_factory=list)
    """Per client, per operation id, over its ``special`` OK measured requests: [count, Σ latency s, Σ each
    breakdown component s] (the others' breakdown comes from ``requests``: netsim/edges.py)."""
    pod_busy: list[dict[str, float]] = field(default_factory=list)
    """Per pod: ``busy_s`` (worker-seconds in the measured window), ``workers``, ``alive_s`` (its time in the window)."""

    tally: dict[str, Any] = field(default_factory=dict)
    """The requests folded as they finished (netsim/tally.py): what every per-run table is computed from."""

    def figures(self) -> dict[str, Any]:
        """The tally; for a result made without one (by hand, from columns), the tally of ``requests``."""
        if not self.tally:
            from netsim.tally import tally_of

            names = [n["name"] for n in self.nodes]
            zones = sorted({n["zone"] for n in self.nodes})
            self.tally = tally_of(
                self.requests, len(self.clients), len(self.services), len(self.operation_names), self.window,
                [zones.index(n["zone"]) for n in self.nodes],
                [names.index(p["node"]) if p["node"] in names else -1 for p in self.pods],
                self.window[1] if self.ready_endpoints else None,
            )
        return self.tally

    def measured(self) -> np.ndarray:
        """Boolean mask of the requests issued inside the measurement window."""
        t = self.requests["t_issue_s"]
        return (t >= self.window[0]) & (t < self.window[1])
