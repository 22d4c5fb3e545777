"""The network between nodes: a hop costs the one-way latency of its locality.

Like SimPy's ``Cable`` example, delay lives in this component, not in senders
or receivers. A hop is same-node (veth, no wire), same-zone (node to node), or
cross-zone; traffic from outside the cluster crosses the internet first.
Setting every latency to 0 removes hops entirely, leaving an exact queueing
model for theory to check.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

import numpy as np

from netsim.config.schema import NetworkConfig
from netsim.distributions import BlockSampler
from netsim.spec import NodeSpec


class Locality(IntEnum):
    SAME_NODE = 0
    SAME_ZONE = 1
    CROSS_ZONE = 2
    INTERNET = 3


def locality_of(zone: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The :class:`Locality` of hops from nodes ``src`` to nodes ``dst`` (arrays), nodes in zones ``zone``."""
    return np.where(src == dst, Locality.SAME_NODE,
                    np.where(zone[src] == zone[dst], Locality.SAME_ZONE, Locality.CROSS_ZONE)).astype(np.int64)


class Network:
    """Draws hop delays; one sampler per locality, from the run's network stream."""

    def __init__(self, config: NetworkConfig, nodes: Sequence[NodeSpec], rng: np.random.Generator) -> None:
        dists = (config.same_node, config.same_zone, config.cross_zone, config.internet)
        self._samplers = [BlockSampler(d, rng) for d in dists]
        self.zero = [d.is_zero for d in dists]
        zones = {z: i for i, z in enumerate(dict.fromkeys(n.zone for n in nodes))}
        self.zone: list[int] = [zones[n.zone] for n in nodes]
        """Each node's zone as a number: a hop's locality is computed, not looked up in a nodes × nodes table."""
        self._zones = np.asarray(self.zone, dtype=np.int64)

    def delay(self, src: int, dst: int) -> float:
        """One-way latency of a hop from node ``src`` to node ``dst``."""
        zone = self.zone
        return self._samplers[0 if src == dst else 1 if zone[src] == zone[dst] else 2]()

    def locality(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """The :class:`Locality` of hops from nodes ``src`` to nodes ``dst`` (arrays, for the fast engine)."""
        return locality_of(self._zones, src, dst)

    def delay_of(self, locality: int) -> float:
        """One-way latency of a hop of the given :class:`Locality` (e.g. ``INTERNET``, or LB to node)."""
        return self._samplers[locality]()

    def is_free(self) -> bool:
        """True when no in-cluster hop costs anything (lets callers skip scheduling hops)."""
        return all(self.zero[:3])
