"""Random streams: one per concern, one per entity within it.

``SeedSequence([seed, replication])`` is split into one child per concern
(arrivals, service, routing, network, dns, churn); an entity (a client, a pod,
a node's kube-proxy) gets its own stream keyed by its *name*, not by its
position. So adding churn, a Service or a node does not shift anybody else's
numbers, scenarios that share a seed share their arrival streams (common random
numbers), and results never depend on which worker ran them.
"""

from __future__ import annotations

import zlib

import numpy as np

CONCERNS = ("arrivals", "service", "routing", "network", "dns", "churn", "health")


class Streams:
    def __init__(self, root: np.random.SeedSequence) -> None:
        self._concerns = dict(zip(CONCERNS, root.spawn(len(CONCERNS)), strict=True))

    def rng(self, concern: str, name: str) -> np.random.Generator:
        """The generator of ``name`` (a client, pod, node...) within ``concern``."""
        parent = self._concerns[concern]
        child = np.random.SeedSequence(parent.entropy, spawn_key=(*parent.spawn_key, zlib.crc32(name.encode())))
        return np.random.default_rng(child)
