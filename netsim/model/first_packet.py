"""What rule evaluation adds to a new connection's first packet, calibrated to a measurement.

Published measurement A (k8s-facts §1.5: Kubernetes blog "NFTables mode for
kube-proxy", 2025) gives first-packet round-trip percentiles (p01/p50/p90/p99)
for iptables with 5k, 10k and 30k Services, and for nftables, flat at every
size. The spread of iptables grows with the number of Services because
``KUBE-SERVICES`` is scanned linearly, but not as any single linear law would
have it: the 10k median sits close to the 5k one while its tail does not. So the
default (``first_packet.model: measured``) reproduces the measurement itself:

- each percentile is interpolated linearly in the number of Services between
  the measured sizes (0 Services = the nftables row; beyond 30k, the 10k→30k
  slope continues), giving an inverse CDF through (p01, p50, p90, p99);
- a connection draws one uniform ``u`` and pays ``Q_mode(u) - Q_nftables(u)``:
  what its mode costs above the O(1) dispatch of nftables, whose round trip the
  network hops already model. With the same ``u`` for both, ``Q_nftables(u) +
  cost`` is exactly the measured iptables percentile.

IPVS is "≈ nftables, slightly worse" in the same source (not digitised): it is
given the nftables row. ``model: linear`` keeps the mechanism instead (a
per-rule scan cost times the Service's position; see kube_proxy.first_packet_cost).

Where the packet's rule sits (kube-proxy ``pkg/proxy/iptables/proxier.go``): a
Service's ClusterIP rule, and right after it its LoadBalancer-IP rule, sit at the
Service's place in ``KUBE-SERVICES`` (Go map order: uniform, re-drawn each sync);
the jump to ``KUBE-NODEPORTS`` is the chain's *last* rule, so a connection to
nodeIP:nodePort walks past every Service's rule first. In
``linear`` the position is a number of rules; in ``measured`` it is the level
``u`` of the measured inverse CDF (the measurement mixes Services at every
position, so a position's share of the chain is its level): uniform per
connection for a Service's own rule, ``u = 1`` (the distribution's end) for the
last rule. nftables and IPVS stay O(1) wherever the packet is headed.
"""

from __future__ import annotations

import functools

import numpy as np

from netsim.model.kube_proxy import draw_first_packet_jitter, first_packet_cost

LEVELS = (0.01, 0.5, 0.9, 0.99)
NFTABLES_MS = (0.010, 0.014, 0.021, 0.037)
LB_IP_DESTINATION = frozenset({"gcp", "azure"})
"""Load balancers that deliver with their own address as destination, so the LB-IP rule matches (at its
Service's place): GCE's passthrough Network LB, Azure LB with floating IP (which cloud-provider-azure
enables on its rules). The others (AWS NLB instance targets, the CLB proxy, ``generic``) send to
nodeIP:nodePort, matched by ``KUBE-NODEPORTS`` at the end."""
IPTABLES_MS = {  # Services in the cluster -> first-packet RTT percentiles (ms), digitised from the blog's figure
    5_000: (0.017, 0.049, 0.120, 0.155),
    10_000: (0.010, 0.061, 0.187, 0.262),
    30_000: (0.041, 0.274, 0.490, 0.715),
}


@functools.lru_cache(maxsize=16)
def rtt_percentiles_ms(mode: str, services: int) -> np.ndarray:
    """First-packet RTT at :data:`LEVELS` for ``mode`` in a cluster with ``services`` Services (read-only).

    Cached: every node × Service × sender sampler that traffic touches asks for the same row when it first draws."""
    row = _rtt_percentiles_ms(mode, services)
    row.setflags(write=False)
    return row


def _rtt_percentiles_ms(mode: str, services: int) -> np.ndarray:
    if mode != "iptables":
        return np.asarray(NFTABLES_MS)
    sizes = np.array([0, *IPTABLES_MS])
    rows = np.array([NFTABLES_MS, *IPTABLES_MS.values()])
    if services <= sizes[-1]:
        return np.array([np.interp(services, sizes, rows[:, j]) for j in range(len(LEVELS))])
    slope = (rows[-1] - rows[-2]) / (sizes[-1] - sizes[-2])
    return rows[-1] + slope * (services - sizes[-1])


def inverse_cdf_ms(percentiles: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Piecewise-linear inverse CDF through the percentiles, with short linear tails outside p01-p99."""
    q01, _, q90, q99 = percentiles
    levels = (0.0, *LEVELS, 1.0)
    values = (0.8 * q01, *percentiles, q99 + (q99 - q90))
    return np.interp(u, levels, values)


def extra_cost_s(mode: str, services: int, u: np.ndarray) -> np.ndarray:
    """Seconds a new connection's first packet pays above nftables' O(1) dispatch, for uniforms ``u``."""
    mine = inverse_cdf_ms(rtt_percentiles_ms(mode, services), u)
    base = inverse_cdf_ms(np.asarray(NFTABLES_MS), u)
    return np.maximum(mine - base, 0.0) * 1e-3


def costs_nothing(config, services: int) -> bool:  # type: ignore[no-untyped-def]
    """Whether every new connection's first packet costs exactly 0 in this mode (then no sampler is built).

    ``measured``: every mode but iptables is the nftables row itself, and iptables with no
    Services in the cluster interpolates to it. ``linear``: the mode's constant is 0 (and, for
    iptables, so is the per-rule cost).
    """
    fp = config.first_packet
    if fp.model == "measured":
        return config.mode != "iptables" or services <= 0
    if config.mode == "iptables":
        return fp.iptables == 0.0 and fp.iptables_per_service == 0.0
    return (fp.ipvs if config.mode == "ipvs" else fp.nftables) == 0.0


class FirstPacketCost:
    """One node's first-packet cost for one client's Service, per new connection.

    ``measured`` (default): drawn from the published measurement for this cluster size
    (above), at its end for the last rule. ``linear``: this node's rule position is fixed
    (``position``, or every rule for the last one), jitter per connection.
    """

    FIRST, BLOCK = 16, 256
    """The first batch of draws, and at most this many held: one sampler per node × Service × sender that traffic uses."""

    def __init__(self, config, position: float, rng: np.random.Generator, services: int, last_rule: bool = False) -> None:  # type: ignore[no-untyped-def]
        self._config = config
        self._position = float(max(services, 1)) if last_rule else position
        self._last_rule = last_rule
        """The packet matches ``KUBE-NODEPORTS``, the last rule of ``KUBE-SERVICES`` (a nodePort connection)."""
        self._services = services
        self._rng = rng
        self._values: list[float] = []
        self._i = 0
        self._next = self.FIRST
        """Draws in the next batch: small at first (thousands of node × client samplers, most used little), doubling."""

    def __call__(self) -> float:
        i = self._i
        if i >= len(self._values):
            size, self._next = self._next, min(self._next * 2, self.BLOCK)
            if self._config.first_packet.model == "measured":
                u = np.ones(size) if self._last_rule else self._rng.random(size)
                self._values = extra_cost_s(self._config.mode, self._services, u).tolist()
            else:
                jitter = draw_first_packet_jitter(self._config, self._rng, size)
                self._values = first_packet_cost(self._config, np.full(size, self._position), jitter).tolist()
            i = 0
        self._i = i + 1
        return self._values[i]
