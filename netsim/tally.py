"""Every per-run figure of the requests, folded as they finish: memory grows with what traffic touches, not with requests.

The recorder hands each flushed block of finished requests (REQUEST_SCHEMA columns)
to :meth:`RequestTally.fold`, which adds it to online accumulators and lets the rows go
(they are kept only with ``--save-requests``):

- per **group** (client × Service × operation), one row of dense arrays: measured
  requests, outcome counts, the OK latencies' sum and log-bucket histogram
  (netsim/histogram.py: p50/p99/p99.9 within ±0.5 % of the exact order statistic),
  the ``latency.csv`` bins, served / cross-node / cross-zone counts, DNS queries,
  requests completed OK inside the window, and the latency breakdown sums;
- per **(client, Service, pod)**: OK measured requests served and those that came
  on a connection of their own (sparse: only pairs that occurred); per
  **(Service, pod, connection)**: the distinct connections (a set);
- per **(Service, time bin)** (only when a timeline is drawn): outcome counts and a
  sparse latency histogram.

A group gets its row the first time a request of it finishes, so a cluster of
thousands of Services costs only for the pairs that send. Folding is numpy per
block (a few dozen array operations per 16k requests), never a scan per pair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from netsim import histogram
from netsim.model.request import Outcome

OUTCOMES = len(Outcome)
"""How many :class:`netsim.model.request.Outcome` kinds there are (OK is 0): the width of per-kind counts."""
LATENCY_EDGES_MS = np.logspace(-3, 6, 9 * 40 + 1)
"""Upper bin edges of the per-run latency histogram (``latency.csv``): 1 µs to 1000 s, 40 a decade (each bin ±3 %)."""
POD_BITS = 32
"""Sparse keys pack (client × Service) above a pod index of this many bits."""
SCALARS = ("measured", "ok_latency_s", "served", "cross_node", "cross_zone", "dns_queries", "completed_ok",
           "plain", "plain_latency_s", "plain_queueing_s", "plain_work_s")
"""Per-group sums (float64; the counts among them are exact up to 2^53)."""


class SparseCounts:
    """int64 keys → rows of int64 counts, kept sorted; adding a block is a merge, not a dict loop."""

    def __init__(self, width: int = 1) -> None:
        self.keys = np.zeros(0, dtype=np.int64)
        self.values = np.zeros((0, width), dtype=np.int64)

    def add(self, keys: np.ndarray, values: np.ndarray | None = None) -> None:
        """Add ``values`` (n × width; 1 each when None) at ``keys`` (n)."""
        if keys.size == 0:
            return
        unique, inverse = np.unique(keys, return_inverse=True)
        width = self.values.shape[1]
        if values is None:
            summed = np.bincount(inverse, minlength=unique.size).reshape(-1, 1).astype(np.int64)
        else:
            summed = np.stack([np.bincount(inverse, weights=values[:, j], minlength=unique.size) for j in range(width)],
                              axis=1).astype(np.int64)
        at = np.searchsorted(self.keys, unique)
        found = at < self.keys.size
        found[found] = self.keys[at[found]] == unique[found]
        self.values[at[found]] += summed[found]
        new = ~found
        if new.any():
            self.keys = np.insert(self.keys, at[new], unique[new])
            self.values = np.insert(self.values, at[new], summed[new], axis=0)



def with_prefix(keys: np.ndarray, values: np.ndarray, high: int, bits: int = POD_BITS) -> tuple[np.ndarray, np.ndarray]:
    """The low parts and values of the sorted ``keys`` whose high part is ``high``."""
    lo, hi = np.searchsorted(keys, [high << bits, (high + 1) << bits])
    return keys[lo:hi] & ((1 << bits) - 1), values[lo:hi]


class RequestTally:
    """Online accumulators of a run's requests (see the module docstring); :meth:`figures` hands them over.

    Args:
        clients, services, operations: how many of each the run has (indices of the request columns).
        window: requests issued in [start, end) are measured.
        node_zone: zone index of each node.
        pod_nodes: returns the node of every pod so far (pods created during the run are appended).
        timeline_end: when given, per-Service 1 s bins of issue time up to it are kept (runs with churn).
    """

    def __init__(self, clients: int, services: int, operations: int, window: tuple[float, float],
                 node_zone: Sequence[int], pod_nodes: Callable[[], Sequence[int]], timeline_end: float | None = None,
                 timeline_bin_s: float = 1.0) -> None:
        self.shape = (max(clients, 1), max(services, 1), max(operations, 1))
        self.window = window
        self._zone = np.asarray([*node_zone, -1], dtype=np.int64)  # index -1: no node
        self._pod_nodes_of = pod_nodes
        self._pod_node = np.zeros(0, dtype=np.int64)
        self.recorded = 0
        self.group_keys: list[int] = []
        """Key of each group row: (client × Services + Service) × operations + operation."""
        self._row: dict[int, int] = {}
        self.scalars = np.zeros((0, len(SCALARS)))
        self.outcomes = np.zeros((0, OUTCOMES), dtype=np.int64)
        self.histogram = np.zeros((0, histogram.BUCKETS), dtype=np.int64)
        self.latency_bins = np.zeros((0, LATENCY_EDGES_MS.size), dtype=np.int64)
        self.pod_counts = SparseCounts(2)
        """(client × Services + Service) << 32 | pod → [OK measured served, of them on a connection of their own]."""
        self.connections: set[tuple[int, int, int]] = set()
        """(Service, pod, connection) of every pooled connection that carried an OK measured request."""
        self.timeline_bins = 0 if timeline_end is None else max(int(np.floor(timeline_end / timeline_bin_s + 0.5)), 0)
        self.timeline_bin_s = timeline_bin_s
        self.timeline = SparseCounts(OUTCOMES) if timeline_end is not None else None
        """Service × bins + bin → outcome counts of the requests issued in it."""
        self.timeline_histogram = SparseCounts(1) if timeline_end is not None else None
        """(Service × bins + bin) × BUCKETS + latency bucket → OK requests."""

    # -- folding ---------------------------------------------------------------------------------

    def _rows_of(self, keys: np.ndarray) -> np.ndarray:
        """The group row of each key, adding rows for keys seen for the first time."""
        unique, inverse = np.unique(keys, return_inverse=True)
        rows = np.empty(unique.size, dtype=np.int64)
        fresh = 0
        for i, key in enumerate(unique.tolist()):
            row = self._row.get(key)
            if row is None:
                row = self._row[key] = len(self.group_keys)
                self.group_keys.append(key)
                fresh += 1
            rows[i] = row
        if fresh:
            self._grow(len(self.group_keys))
        return rows[inverse]

    def _grow(self, n: int) -> None:
        have = self.scalars.shape[0]
        if n <= have:
            return
        size = max(n, 2 * have, 4)
        for name in ("scalars", "outcomes", "histogram", "latency_bins"):
            old = getattr(self, name)
            grown = np.zeros((size, *old.shape[1:]), dtype=old.dtype)
            grown[:have] = old
            setattr(self, name, grown)

    def _nodes_of(self, pods: np.ndarray) -> np.ndarray:
        """Node of each pod index (-1 for -1)."""
        top = int(pods.max()) if pods.size else -1
        if top >= self._pod_node.size:
            self._pod_node = np.asarray(list(self._pod_nodes_of()), dtype=np.int64)
        table = np.append(self._pod_node, -1)
        return table[pods]

    def fold(self, block: dict[str, np.ndarray]) -> None:
        """Add a block of finished requests (REQUEST_SCHEMA columns; any dtypes that hold the values)."""
        n = len(block["outcome"])
        if n == 0:
            return
        self.recorded += n
        _, services, operations = self.shape
        client = np.asarray(block["client"], dtype=np.int64)
        service = np.asarray(block["service"], dtype=np.int64)
        pair = client * services + service
        row = self._rows_of(pair * operations + np.asarray(block["operation"], dtype=np.int64))
        t = np.asarray(block["t_issue_s"], dtype=np.float64)
        latency = np.asarray(block["latency_s"], dtype=np.float64)
        outcome = np.asarray(block["outcome"], dtype=np.int64)
        pod = np.asarray(block["pod"], dtype=np.int64)
        entry = np.asarray(block["entry_node"], dtype=np.int64)
        start, end = self.window
        ok = outcome == 0
        done = t + latency
        self._add(row, "completed_ok", ok & (done >= start) & (done < end))
        if self.timeline is not None:
            self._fold_timeline(service, t, outcome, latency)
        measured = (t >= start) & (t < end)
        if not measured.any():
            return
        row, outcome, latency, pod, entry, ok, pair = (
            a[measured] for a in (row, outcome, latency, pod, entry, ok, pair))
        self._add(row, "measured", None)
        self._add(row, "dns_queries", None, np.asarray(block["dns_queries"], dtype=np.float64)[measured])
        np.add.at(self.outcomes, (row, outcome), 1)
        r_ok, lat_ok = row[ok], latency[ok]
        self._add(r_ok, "ok_latency_s", None, lat_ok)
        self._add_2d(self.histogram, r_ok, histogram.buckets(lat_ok))
        ms = lat_ok * 1000.0
        # bin i holds (edge[i-1], edge[i]]; out-of-range values go to the first or last bin
        self._add_2d(self.latency_bins, r_ok,
                     np.clip(np.searchsorted(LATENCY_EDGES_MS, ms, side="left"), 0, LATENCY_EDGES_MS.size - 1))
        served = ok & (pod >= 0)  # an ExternalName's requests are served outside (pod -1)
        pod_node = self._nodes_of(np.where(served, pod, -1))
        cross = served & (pod_node != entry)
        self._add(row, "served", served)
        self._add(row, "cross_node", cross)
        self._add(row, "cross_zone", served & (self._zone[pod_node] != self._zone[entry]))
        queueing = np.asarray(block["queueing_s"], dtype=np.float64)[measured]
        plain = ok & (queueing >= 0)
        if plain.any():
            work = np.asarray(block["work_s"], dtype=np.float64)[measured]
            self._add(row, "plain", plain)
            self._add(row, "plain_latency_s", plain, latency)
            self._add(row, "plain_queueing_s", plain, queueing)
            self._add(row, "plain_work_s", plain, work)
        if served.any():
            connection = np.asarray(block["connection"], dtype=np.int64)[measured][served]
            own = (connection < 0).astype(np.int64)
            self.pod_counts.add((pair[served] << POD_BITS) | pod[served], np.stack([np.ones_like(own), own], axis=1))
            pooled = connection >= 0
            if pooled.any():
                triples = np.unique(np.stack([(pair[served] % services)[pooled], pod[served][pooled], connection[pooled]]), axis=1)
                self.connections.update(zip(*triples.tolist(), strict=True))

    def _add(self, row: np.ndarray, name: str, mask: np.ndarray | None, weights: np.ndarray | None = None) -> None:
        j = SCALARS.index(name)
        if mask is not None:
            row = row[mask]
            weights = None if weights is None else weights[mask]
        self.scalars[:, j] += np.bincount(row, weights=weights, minlength=self.scalars.shape[0])

    @staticmethod
    def _add_2d(into: np.ndarray, row: np.ndarray, column: np.ndarray) -> None:
        flat, counts = np.unique(row * into.shape[1] + column, return_counts=True)
        into.reshape(-1)[flat] += counts

    def _fold_timeline(self, service: np.ndarray, t: np.ndarray, outcome: np.ndarray, latency: np.ndarray) -> None:
        bins = self.timeline_bins
        b = np.minimum((t / self.timeline_bin_s).astype(np.int64), bins)
        inside = b < bins
        key = service[inside] * bins + b[inside]
        kinds = outcome[inside]
        self.timeline.add(key, np.eye(OUTCOMES, dtype=np.int64)[kinds])  # type: ignore[union-attr]
        ok = kinds == 0
        self.timeline_histogram.add(key[ok] * histogram.BUCKETS + histogram.buckets(latency[inside][ok]))  # type: ignore[union-attr]

    # -- handing over ----------------------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        """The accumulators, trimmed to the groups that occurred (picklable arrays)."""
        g = len(self.group_keys)
        out: dict[str, Any] = {
            "shape": self.shape, "recorded": self.recorded, "group_keys": np.asarray(self.group_keys, dtype=np.int64),
            "scalars": self.scalars[:g].copy(), "outcomes": self.outcomes[:g].copy(), "histogram": self.histogram[:g].copy(),
            "latency_bins": self.latency_bins[:g].copy(),
            "pod_keys": self.pod_counts.keys, "pod_values": self.pod_counts.values,
            "connections": np.asarray(sorted(self.connections), dtype=np.int64).reshape(-1, 3),
            "timeline_bins": self.timeline_bins, "timeline_bin_s": self.timeline_bin_s,
        }
        if self.timeline is not None:
            out["timeline_keys"], out["timeline_values"] = self.timeline.keys, self.timeline.values
            out["timeline_hist_keys"] = self.timeline_histogram.keys  # type: ignore[union-attr]
            out["timeline_hist_values"] = self.timeline_histogram.values[:, 0]  # type: ignore[union-attr]
        return out


def tally_of(requests: dict[str, np.ndarray], clients: int, services: int, operations: int, window: tuple[float, float],
             node_zone: Sequence[int], pod_node: Sequence[int], timeline_end: float | None) -> dict[str, Any]:
    """The figures of recorded request columns folded at once (for a RunResult made without a tally)."""
    tally = RequestTally(clients, services, operations, window, node_zone, lambda: pod_node, timeline_end)
    tally.fold(requests)
    return tally.figures()


class TallyView:
    """Reads a tally's figures by client × Service (× operation), for the per-run tables."""

    def __init__(self, figures: dict[str, Any]) -> None:
        self.figures = figures
        _, services, operations = figures["shape"]
        keys = np.asarray(figures["group_keys"], dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        self.order = order
        pair = keys // operations
        self.operation = keys % operations
        self.client = pair // services
        self.service = pair % services
        self._pairs: dict[tuple[int, int], list[int]] = {}
        self._clients: dict[int, list[int]] = {}
        for g in order.tolist():
            self._pairs.setdefault((int(self.client[g]), int(self.service[g])), []).append(g)
            self._clients.setdefault(int(self.client[g]), []).append(g)
        self.scalars = {name: figures["scalars"][:, j] for j, name in enumerate(SCALARS)}

    def pairs(self) -> list[tuple[int, int]]:
        """Every (client, Service) that recorded a request (warm-up included), client-major."""
        return list(self._pairs)

    def of_client(self, client: int) -> list[int]:
        """The group rows of a client, by Service then operation."""
        return self._clients.get(client, [])

    def groups(self, client: int, service: int) -> list[int]:
        """The group rows of a pair, by operation."""
        return self._pairs.get((client, service), [])

    def total(self, rows: Sequence[int], name: str) -> Any:
        """Sum of a scalar (or of ``outcomes``/``histogram``/``latency_bins`` rows) over some groups."""
        if name in self.scalars:
            return float(self.scalars[name][list(rows)].sum())
        return np.asarray(self.figures[name])[list(rows)].sum(axis=0)

    def served_by_pod(self, client: int, service: int, pods: int) -> np.ndarray:
        """OK measured requests of a pair served by each pod (index = pod id)."""
        low, values = with_prefix(np.asarray(self.figures["pod_keys"], dtype=np.int64),
                                  np.asarray(self.figures["pod_values"], dtype=np.int64).reshape(-1, 2),
                                  client * self.figures["shape"][1] + service)
        out = np.zeros(max(pods, int(low.max()) + 1 if low.size else 0), dtype=np.int64)
        out[low] = values[:, 0]
        return out

    def by_service_pod(self, pods: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(Service, pod, OK served, of them on their own connection), summed over clients, sorted by Service."""
        keys = np.asarray(self.figures["pod_keys"], dtype=np.int64)
        values = np.asarray(self.figures["pod_values"], dtype=np.int64).reshape(-1, 2)
        services = self.figures["shape"][1]
        service = (keys >> POD_BITS) % services
        pod = keys & ((1 << POD_BITS) - 1)
        merged, inverse = np.unique(service * (pods + 1) + pod, return_inverse=True)
        served = np.bincount(inverse, weights=values[:, 0], minlength=merged.size).astype(np.int64)
        own = np.bincount(inverse, weights=values[:, 1], minlength=merged.size).astype(np.int64)
        return merged // (pods + 1), merged % (pods + 1), served, own
