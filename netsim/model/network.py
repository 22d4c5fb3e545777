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


def locality_matrix(nodes: Sequence[NodeSpec]) -> list[list[int]]:
    """``m[a][b]``: the :class:`Locality` of a hop from node ``a`` to node ``b``."""
    return [
        [
            Locality.SAME_NODE if a is b else Locality.SAME_ZONE if a.zone == b.zone else Locality.CROSS_ZONE
            for b in nodes
        ]
        for a in nodes
    ]


class Network:
    """Draws hop delays; one sampler per locality, from the run's network stream."""

    def __init__(self, config: NetworkConfig, nodes: Sequence[NodeSpec], rng: np.random.Generator) -> None:
        dists = (config.same_node, config.same_zone, config.cross_zone, config.internet)
        self._samplers = [BlockSampler(d, rng) for d in dists]
        self.zero = [d.is_zero for d in dists]
        self.locality = locality_matrix(nodes)

    def delay(self, src: int, dst: int) -> float:
        """One-way latency of a hop from node ``src`` to node ``dst``."""
        return self._samplers[self.locality[src][dst]]()

    def delay_of(self, locality: int) -> float:
        """One-way latency of a hop of the given :class:`Locality` (e.g. ``INTERNET``, or LB to node)."""
        return self._samplers[locality]()

    def is_free(self) -> bool:
        """True when no in-cluster hop costs anything (lets callers skip scheduling hops)."""
        return all(self.zero[:3])
