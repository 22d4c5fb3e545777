"""kube-proxy: on every node, the rules that send a new connection to one endpoint.

kube-proxy balances *connections*, not requests: the endpoint is chosen when a
connection opens and conntrack keeps the connection there. For now every
request opens a new connection. Each node's kube-proxy chooses on its own, with
its own random stream and, for IPVS, its own rr pointer: nodes share no state.

Modes: ``iptables`` (the KUBE-SVC chain's probability cascade, uniform over ready
endpoints), ``nftables`` (``numgen random`` over a verdict map, also uniform),
``ipvs`` (``rr``: ready endpoints in turn).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from netsim.config.schema import KubeProxyConfig
from netsim.routing import BatchedPicker, EndpointTable, random_picker, round_robin_picker


def make_picker(config: KubeProxyConfig, table: EndpointTable, rng: np.random.Generator) -> BatchedPicker:
    """The picker kube-proxy's mode implies."""
    if config.mode == "ipvs":
        return round_robin_picker(table, rng)
    return random_picker(table, rng)


class KubeProxy:
    """One node's kube-proxy: a picker per Service port it has rules for."""

    def __init__(self, node: int, config: KubeProxyConfig, pickers: Mapping[int, BatchedPicker]) -> None:
        self.node = node
        self.mode = config.mode
        self._pickers = dict(pickers)

    def picker(self, service: int) -> BatchedPicker:
        """The picker for ``service``: callers on the hot path keep it and call it directly."""
        return self._pickers[service]

    def connect(self, service: int) -> int:
        """Choose the pod for a new connection to ``service``; -1 means no ready endpoint (refused)."""
        return self._pickers[service]()
