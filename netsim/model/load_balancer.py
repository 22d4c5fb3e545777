"""The cloud load balancer in front of a ``type: LoadBalancer`` Service.

What the clouds do (k8s-facts §3–§4): the LB has a front end in every zone (its
DNS name returns one address per zone and each connection goes to one of them);
a front end sends a new connection to one *in-service* target, chosen by the
LB's algorithm — ``round-robin``, ``flow-hash`` (a hash of the 5-tuple, so a
connection stays on its target) or ``maglev`` (consistent hashing through a
prime-sized lookup table, :mod:`netsim.maglev`). Without ``cross_zone`` a front
end only uses targets in its own zone, and a zone with none is taken out of the
LB's DNS. If no target is in service anywhere the LB fails open and uses them all
(AWS NLB/ALB behaviour).

Targets are nodes at the Service's nodePort (``target_type: instance``; kube-proxy
on the node then picks the pod) or the pods themselves (``ip``; no kube-proxy).
Health checks are SimPy processes, one per target, each probing every
``interval`` from its own random phase: ``unhealthy_threshold`` consecutive
failures take a target out of service, ``healthy_threshold`` successes put it
back. With ``externalTrafficPolicy: Local`` an instance target is probed on
``healthCheckNodePort``, which kube-proxy answers 200 only while the node has a
ready local endpoint; with ``Cluster`` the LB probes kube-proxy's own health
port (10256), which every live node passes. So a node that loses its last ready
pod leaves the target list after (unhealthy − 1)·interval + U(0, interval)
(k8s-facts §8.6), and connections sent to it meanwhile are dropped.

A probe that gets an answer (200, or kube-proxy's 503, or a refused connection)
has its verdict at once; a probe that gets none (the node failed, the pod hung)
fails only when its ``timeout`` runs out, so a dead node leaves the list after
(unhealthy − 1)·interval + U(0, interval) + timeout (k8s-facts §8.6). Probes keep
their grid: the next one starts ``interval`` after the last one started.
With ``ip`` targets the LB controller also follows the pods (the AWS Load
Balancer Controller watches the Service's endpoints): a pod created during the
run is registered and health-checked: it is in the ``initial`` state, getting no
traffic, until it passes ``healthy_threshold`` checks (in service; a readiness
gate on it turns True then, :mod:`netsim.model.readiness_gates`) or fails
``unhealthy_threshold`` (unhealthy). Failing open uses the registered targets
that are not ``initial`` (AWS: the LB fails open over *unhealthy* targets), so a
rollout that deletes the old pods before the LB has seen a new one healthy
leaves the LB nothing to send to. And a Terminating pod's target is
deregistered: the LB stops sending it new connections ``deregistration_lag``
after the pod turned Terminating (the controller's reaction and the LB's own
propagation; netsim's assumption, default 5 s), which is what a preStop sleep
has to cover. Its health checks stop then.

Simplified: targets start in their probed state (the LB was set up long before
the run); no connection draining (in-flight requests are the pod's business); a
not-ready but running pod stays registered.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from netsim.maglev import build_table, mix64
from netsim.model.events import call_later
from netsim.model.network import Locality
from netsim.routing import EndpointTable

if TYPE_CHECKING:  # netsim.spec imports the config package, which imports the model's users
    from netsim.spec import HealthCheckSpec, LoadBalancerSpec, NodeSpec

NO_TARGET = -1


class CloudLoadBalancer:
    """One Service's cloud LB: zone front ends, a target list kept by health checks, an algorithm.

    Attributes:
        targets: node indices (instance targets) or endpoint positions in the Service's table (ip targets).
        in_service: per target, whether health checks currently keep it in the list.
        changes: ``(time, target, in_service)`` for every change the health checks made.
    """

    BLOCK = 4096

    def __init__(
        self,
        env: simpy.Environment,
        spec: LoadBalancerSpec,
        name: str,
        local_policy: bool,
        nodes: Sequence[NodeSpec],
        table: EndpointTable,
        pods: Sequence[Any],
        rng: np.random.Generator,
        health_rng: np.random.Generator,
        probe: Callable[[CloudLoadBalancer, int], bool | None] | None = None,
        on_in_service: Callable[[int], None] | None = None,
    ) -> None:
        """``probe(lb, target)``: what a target really answers under churn (node up, pod serving, the node's own
        view); None: the static answer from the table. ``on_in_service(target)``: health checks put it in service."""
        self.env = env
        self.spec = spec
        self.name = name
        self.instance = spec.target_type == "instance"
        self.local_policy = local_policy
        self.table = table
        self.zone_names = sorted({n.zone for n in nodes})
        node_zone = [self.zone_names.index(n.zone) for n in nodes]
        self.node_zone = node_zone
        if self.instance:
            self.targets = list(range(len(nodes)))
            self._keys = [n.name for n in nodes]
            self.target_zone = node_zone
        else:
            self.targets = list(range(len(table)))
            self._keys = [pods[p].name for p in table.pods.tolist()]
            self.target_zone = [node_zone[n] for n in table.nodes.tolist()]
        self.check: HealthCheckSpec = spec.local_health_check if (self.instance and local_policy) else spec.cluster_health_check
        self.probe_fn = probe
        self.on_in_service = on_in_service
        self.in_service = [self._static_probe(t) for t in range(len(self.targets))]
        self.changes: list[tuple[float, int, bool]] = []
        self.deregistered: set[int] = set()
        """``ip`` targets whose pod is Terminating and whose deregistration has taken effect."""
        self.initial: set[int] = set()
        """``ip`` targets registered during the run and not yet judged healthy or unhealthy: no traffic, not even failing open."""
        self._rng = rng
        self._health_rng = health_rng
        self._pods = pods
        self._uniforms: list[float] = []
        self._port_hashes: list[int] = []
        self._i = 0
        self._ip_hash: dict[int, int] = {}
        self._rr = [0] * len(self.zone_names)
        self._tables: dict[tuple[int, ...], np.ndarray] = {}
        self._rebuild()

    # -- health checks -------------------------------------------------------------------------

    def probe(self, target: int) -> bool | None:
        """What the target answers to a health check now: pass, fail, or None when nothing answers."""
        if self.probe_fn is not None:
            return self.probe_fn(self, target)
        return self._static_probe(target)

    def _static_probe(self, target: int) -> bool:
        """What the endpoints say, the LB having been set up long before the run (the state at the start)."""
        if self.instance:
            if not self.local_policy:
                return True  # kube-proxy's /healthz on 10256: the node and its kube-proxy are up
            return bool((self.table.ready & (self.table.nodes == self.targets[target])).any())
        return bool(self.table.ready[target])

    def start(self) -> None:
        """Start one health-check process per target, each from a random phase within the interval."""
        phases = self._health_rng.uniform(0.0, self.check.interval, len(self.targets))
        for target, phase in enumerate(phases.tolist()):
            self.env.process(self._health_check(target, phase))

    def add_targets(self) -> None:
        """``ip`` targets: pods created during the run are registered (``initial``, out of service), then health-checked."""
        if self.instance:
            return
        for position in range(len(self.targets), len(self.table)):
            self.targets.append(position)
            self._keys.append(self._pods[int(self.table.pods[position])].name)
            self.target_zone.append(self.node_zone[int(self.table.nodes[position])])
            self.in_service.append(False)
            self.initial.add(position)
            phase = float(self._health_rng.uniform(0.0, self.check.interval))
            self.env.process(self._health_check(position, phase))
        self._rebuild()

    def deregister(self, target: int) -> None:
        """``ip`` targets: the target's pod turned Terminating; new connections stop after the deregistration lag."""
        if not self.instance:
            call_later(self.env, self.spec.deregistration_lag_s, self._deregistered, target)

    def _deregistered(self, target: int) -> None:
        if target in self.deregistered:
            return
        self.deregistered.add(target)
        if self.in_service[target]:
            self._set(target, False)
        else:
            self._rebuild()

    def _health_check(self, target: int, phase: float) -> Generator[simpy.Event, None, None]:
        check = self.check
        passed = failed = 0
        yield self.env.timeout(phase)
        while target not in self.deregistered:
            verdict = self.probe(target)
            if verdict is None:  # no answer: the probe fails when its timeout runs out
                yield self.env.timeout(check.timeout)
                verdict = False
                wait = check.interval - check.timeout
            else:
                wait = check.interval
            if target in self.deregistered:  # deregistered while the probe waited for its timeout
                return
            if verdict:
                passed, failed = passed + 1, 0
                if not self.in_service[target] and passed >= check.healthy_threshold:
                    self.initial.discard(target)
                    self._set(target, True)
                    if self.on_in_service is not None:
                        self.on_in_service(target)
            else:
                passed, failed = 0, failed + 1
                if self.in_service[target] and failed >= check.unhealthy_threshold:
                    self._set(target, False)
                elif target in self.initial and failed >= check.unhealthy_threshold:
                    self.initial.discard(target)  # now unhealthy: a candidate when the LB fails open
                    self._rebuild()
            yield self.env.timeout(wait)

    def _set(self, target: int, in_service: bool) -> None:
        self.in_service[target] = in_service
        self.changes.append((self.env.now, target, in_service))
        self._rebuild()

    # -- routing -------------------------------------------------------------------------------

    def _rebuild(self) -> None:
        """Each zone front end's candidate targets (and Maglev table) after a change of the target list."""
        healthy = [t for t in range(len(self.targets)) if self.in_service[t]]
        if not healthy:  # fail open, over the targets still registered
            healthy = [t for t in range(len(self.targets)) if t not in self.deregistered and t not in self.initial]
        self._candidates = [
            healthy if self.spec.cross_zone else [t for t in healthy if self.target_zone[t] == z]
            for z in range(len(self.zone_names))
        ]
        self._live_zones = [z for z, c in enumerate(self._candidates) if c]
        self._serving = [{self.targets[t] for t in c} for c in self._candidates]
        if self.spec.algorithm == "maglev":
            self._maglev = [self._table_for(tuple(c)) for c in self._candidates]

    def _table_for(self, candidates: tuple[int, ...]) -> np.ndarray:
        table = self._tables.get(candidates)
        if table is None:
            table = build_table([self._keys[t] for t in candidates], self.spec.maglev_table_size)
            self._tables[candidates] = table
        return table

    def _refill(self) -> None:
        self._uniforms = self._rng.random(self.BLOCK).tolist()
        ports = self._rng.integers(32768, 61000, self.BLOCK, dtype=np.uint64)  # Linux ephemeral ports
        self._port_hashes = mix64(ports * np.uint64(0x9E3779B97F4A7C15)).tolist()
        self._i = 0

    def route(self, source_ip: int) -> tuple[int, int]:
        """``(zone front end, target)`` for a new connection from ``source_ip``; target -1 if there is none."""
        i = self._i
        if i >= len(self._uniforms):
            self._refill()
            i = 0
        self._i = i + 1
        live = self._live_zones
        if not live:
            return 0, NO_TARGET
        zone = live[int(self._uniforms[i] * len(live))]
        candidates = self._candidates[zone]
        algorithm = self.spec.algorithm
        if algorithm == "round-robin":
            k = self._rr[zone] % len(candidates)
            self._rr[zone] = k + 1
            return zone, self.targets[candidates[k]]
        ip_hash = self._ip_hash.get(source_ip)
        if ip_hash is None:
            ip_hash = self._ip_hash[source_ip] = int(mix64(np.array([source_ip + 1], dtype=np.uint64))[0])
        flow = ip_hash ^ self._port_hashes[i]  # the 5-tuple's hash: source IP and port vary, the rest is fixed
        if algorithm == "flow-hash":
            return zone, self.targets[candidates[flow % len(candidates)]]
        table = self._maglev[zone]
        return zone, self.targets[candidates[int(table[flow % table.size])]]

    def route_block(self, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`route` for many new connections at once, in order (the fast engine's way): the same draws,
        round-robin pointers and hashes as that many calls, while the target list does not change."""
        n = int(sources.size)
        u = np.empty(n)
        port = np.empty(n, dtype=np.uint64)
        done = 0
        while done < n:
            if self._i >= len(self._uniforms):
                self._refill()
            take = min(n - done, len(self._uniforms) - self._i)
            u[done : done + take] = self._uniforms[self._i : self._i + take]
            port[done : done + take] = np.asarray(self._port_hashes[self._i : self._i + take], dtype=np.uint64)
            self._i += take
            done += take
        live = np.asarray(self._live_zones, dtype=np.int64)
        if not live.size:
            return np.zeros(n, dtype=np.int64), np.full(n, NO_TARGET, dtype=np.int64)
        zone = live[(u * live.size).astype(np.int64)]
        target = np.empty(n, dtype=np.int64)
        targets = np.asarray(self.targets, dtype=np.int64)
        flow = mix64(np.asarray(sources, dtype=np.uint64) + np.uint64(1)) ^ port
        for z in np.unique(zone).tolist():
            mine = np.flatnonzero(zone == z)
            candidates = np.asarray(self._candidates[z], dtype=np.int64)
            size = candidates.size
            if self.spec.algorithm == "round-robin":
                k = (self._rr[z] + np.arange(mine.size)) % size
                self._rr[z] = int(k[-1]) + 1
                target[mine] = targets[candidates[k]]
            elif self.spec.algorithm == "flow-hash":
                target[mine] = targets[candidates[(flow[mine] % np.uint64(size)).astype(np.int64)]]
            else:
                table = self._maglev[z]
                target[mine] = targets[candidates[table[(flow[mine] % np.uint64(table.size)).astype(np.int64)]]]
        return zone, target

    def serves(self, zone: int, target: int) -> bool:
        """Whether zone front end ``zone`` sends new connections to ``target`` now (health checks, deregistration;
        while failing open, unhealthy targets too)."""
        return target in self._serving[zone]

    def leg(self, zone: int, node: int) -> Locality:
        """Locality of the hop between a zone front end and a node."""
        return Locality.SAME_ZONE if self.node_zone[node] == zone else Locality.CROSS_ZONE
