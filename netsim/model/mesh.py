"""Service-mesh proxies on the request path (``cluster.mesh``): Istio/Linkerd sidecars and Istio ambient.

What a mesh changes (docs/config.md, "Data planes", with sources):

- **Sidecar** (``mode: sidecar``): the sender's traffic is redirected to its own pod's
  proxy, which chooses a pod *per request* (:mod:`netsim.mesh_policies`) from the
  endpoints its control plane pushed (:class:`MeshControlPlane`: EndpointSlice
  writes reach the proxies after ``propagation``, not through kube-proxy), holds its
  own connections to every pod (so HTTP/2 and gRPC streams spread over pods), and
  sends the request to the chosen pod's own sidecar, which hands it to the app.
  kube-proxy (or Cilium's socket balancing, bypassed as Istio on Cilium requires)
  takes no part. Each proxy is a FIFO queue with ``workers`` threads and a time per
  request (:class:`ProxyQueue`); its queueing and work are the breakdown's ``proxy``.
- **Ambient** (``mode: ambient``): each node's ztunnel carries the connection (an L4
  proxy: it chooses a pod per *connection*, so gRPC pinning stays) from the sender's
  node to the pod's node, where the pod's node's ztunnel delivers it
  (:class:`AmbientEntry`). With ``waypoint: true`` an L7 waypoint proxy per Service
  (one queue, on one node) sits between the ztunnels and chooses per request.
- Around the choice, the sender's proxy (the waypoint in ambient) may retry a
  failed request on another pod (``retries``, with an optional retry budget), and
  ejects pods after consecutive errors (``outlier_detection``). A mesh ``timeout``
  cuts the sender's own (the proxy answers 504 at that time).

``workloads.<name>.mesh: false`` keeps a Deployment out: its pods send through kube-proxy (or Cilium)
and receive without a proxy on their side.

Simplified: a proxy spends its time on the way out (a request's cost covers its
response too); responses pass the proxies without queueing; the app's connection
to its own sidecar is free and unlimited; calls from outside the cluster
(NodePort, LoadBalancer) enter without a mesh ingress gateway and meet no proxy; a
retry by the proxy is not queued again at the proxy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from heapq import heappush
from typing import Any

import numpy as np

from netsim.config.dataplane import MeshConfig
from netsim.distributions import BlockSampler, Constant
from netsim.mesh_policies import Balancer
from netsim.model.entry import CALLER_IP_BASE, EXTERNAL_IP_BASE, NO_PROXY, Connection, Entry
from netsim.model.events import PRIORITY, Environment, Wakeup, call_later
from netsim.model.network import Network
from netsim.model.request import Outcome, Request, add_proxy_cost, part
from netsim.routing import EndpointTable

RETRY_ON = {"refused": Outcome.REFUSED, "reset": Outcome.RESET, "rejected": Outcome.REJECTED, "upstream": Outcome.UPSTREAM}
ERRORS = frozenset({Outcome.REFUSED, Outcome.RESET, Outcome.REJECTED, Outcome.UPSTREAM, Outcome.TIMEOUT})
"""What outlier detection counts as a pod's error (Envoy's consecutive_5xx: 5xx answers, resets, connect
failures and timeouts, local and upstream alike)."""


class ProxyQueue:
    """One proxy (a sidecar, a ztunnel, a waypoint): ``workers`` threads in front of a FIFO queue.

    ``cost`` None: the proxy takes no time (it passes requests on at once and is never busy).
    """

    __slots__ = ("env", "workers", "busy", "queue", "cost", "busy_s", "requests")

    def __init__(self, env: Environment, workers: int, cost: BlockSampler | None) -> None:
        self.env = env
        self.workers = workers
        self.busy = 0
        self.queue: deque[tuple[Request, Callable[[Request], None], float]] = deque()
        self.cost = cost
        self.busy_s = 0.0
        """Worker-seconds spent so far (CPU)."""
        self.requests = 0

    def submit(self, request: Request, then: Callable[[Request], None]) -> None:
        self.requests += 1
        if self.cost is None:
            then(request)
        elif self.busy < self.workers:
            self._start(request, then, self.env.time)
        else:
            self.queue.append((request, then, self.env.time))

    def _start(self, request: Request, then: Callable[[Request], None], arrived: float) -> None:
        self.busy += 1
        took = self.cost()  # type: ignore[misc]
        self.busy_s += took
        env = self.env
        heappush(env.heap, (env.time + took, PRIORITY, next(env.ids), Wakeup(env, self._done, (request, then, arrived))))

    def _done(self, args: tuple[Request, Callable[[Request], None], float]) -> None:
        request, then, arrived = args
        add_proxy_cost(request, self.env.time - arrived)
        self.busy -= 1
        if self.queue:
            self._start(*self.queue.popleft())
        if not request.ended:
            then(request)


class MeshControlPlane:
    """The endpoints every proxy has (istiod's EDS push): each EndpointSlice write, ``propagation`` later."""

    def __init__(self, env: Environment, tables: Sequence[EndpointTable], propagation: BlockSampler) -> None:
        self.env = env
        self.views = [t.snapshot() for t in tables]
        self._propagation = propagation
        self._version = [0] * len(tables)
        self._applied = [0] * len(tables)

    def written(self, service: int, snapshot: EndpointTable) -> None:
        """A slice write reached the API server: the proxies get it after the push delay."""
        self._version[service] += 1
        call_later(self.env, self._propagation(), self._push, (service, self._version[service], snapshot))

    def _push(self, args: tuple[int, int, EndpointTable]) -> None:
        service, version, snapshot = args
        if version > self._applied[service]:
            self._applied[service] = version
            self.views[service].assign(snapshot)


class Mesh:
    """The mesh of one run: its proxies, their balancers, retry budget and outlier detection."""

    def __init__(self, env: Environment, config: MeshConfig, tables: Sequence[EndpointTable], nodes: int,
                 rng: Callable[[str], np.random.Generator]) -> None:
        self.env = env
        self.config = config
        self._rng = rng
        self.control_plane = MeshControlPlane(env, tables, BlockSampler(config.propagation, rng("mesh/propagation")))
        self.sidecars: dict[int, ProxyQueue] = {}
        """Per sender address (client pod, calling pod): its sidecar."""
        self.inbound: dict[int, ProxyQueue] = {}
        """Per serving pod: its sidecar (the inbound side)."""
        self.ztunnels = [self._proxy(config.ztunnel_workers, config.ztunnel_cost, f"ztunnel/{n}") for n in range(nodes)]
        self.waypoints: dict[int, ProxyQueue] = {}
        self.balancers: dict[tuple[int, int], Balancer] = {}
        self.retries = 0
        self.retries_refused = 0
        """Retries the budget did not allow."""
        self.ejections = 0
        retry = config.retries
        self.retry_on = {RETRY_ON[k] for k in retry.on} if retry is not None else set()
        self.attempts = retry.attempts if retry is not None else 0
        self.budget = retry.budget if retry is not None else None
        self.outlier = config.outlier_detection
        self.outside: set[str] = set()
        """Deployments whose pods stay out of the mesh (``workloads.<name>.mesh: false``): no proxy on their side."""
        self.window_busy: list[float] = []
        """The proxies' CPU seconds at the start and the end of the measured window."""

    def _proxy(self, workers: int, cost: Any, name: str) -> ProxyQueue:
        free = isinstance(cost, Constant) and cost.mean == 0.0  # costs nothing: requests skip the queue
        return ProxyQueue(self.env, workers, None if free else BlockSampler(cost, self._rng(f"mesh/{name}")))

    def sidecar(self, source: int) -> ProxyQueue:
        """The sidecar of the sender at address ``source``: a calling pod's is its own (inbound) sidecar, whose
        workers serve both directions; a client pod's is its own."""
        if CALLER_IP_BASE <= source < EXTERNAL_IP_BASE:
            return self.inbound_sidecar(source - CALLER_IP_BASE)
        proxy = self.sidecars.get(source)
        if proxy is None:
            proxy = self.sidecars[source] = self._proxy(self.config.workers, self.config.cost, f"sidecar/{source}")
        return proxy

    def inbound_sidecar(self, pod: int) -> ProxyQueue:
        proxy = self.inbound.get(pod)
        if proxy is None:
            proxy = self.inbound[pod] = self._proxy(self.config.workers, self.config.cost, f"inbound/{pod}")
        return proxy

    def waypoint(self, service: int) -> ProxyQueue:
        proxy = self.waypoints.get(service)
        if proxy is None:
            proxy = self.waypoints[service] = self._proxy(self.config.workers, self.config.waypoint_cost, f"waypoint/{service}")
        return proxy

    def balancer(self, proxy: int, service: int, policy: str | None = None) -> Balancer:
        """The balancer of ``proxy`` (an address, or -1 - service for a waypoint) for ``service``."""
        key = (proxy, service)
        balancer = self.balancers.get(key)
        if balancer is None:
            balancer = self.balancers[key] = Balancer(self.control_plane.views[service], policy or self.config.policy,
                                                      self._rng(f"mesh/lb/{proxy}/{service}"))
        return balancer

    def busy_s(self) -> float:
        """CPU seconds spent by every proxy so far (a request's whole cost counts when its work starts)."""
        proxies = [*self.sidecars.values(), *self.inbound.values(), *self.ztunnels, *self.waypoints.values()]
        return sum(p.busy_s for p in proxies)

    def measured_busy_s(self) -> float:
        """CPU seconds the proxies spent in the measured window."""
        marks = [*self.window_busy, self.busy_s()][:2]
        return marks[1] - marks[0] if len(marks) == 2 else 0.0

    # -- what the sender's proxy does with an answer ---------------------------------------------

    def may_retry(self, balancer: Balancer, retries_in_flight: int) -> bool:
        """Envoy's retry budget: retries in flight below max(min_concurrency, percent × active requests)."""
        budget = self.budget
        if budget is None:
            return True
        allowed = max(budget.min_concurrency, budget.percent / 100.0 * balancer.in_flight)
        if retries_in_flight < allowed:
            return True
        self.retries_refused += 1
        return False

    def observe(self, balancer: Balancer, position: int, outcome: Outcome, errors: dict[int, int]) -> None:
        """Outlier detection: count a pod's errors in a row; eject it for base × times ejected."""
        outlier = self.outlier
        if outlier is None:
            return
        if outcome not in ERRORS:
            errors.pop(position, None)
            return
        errors[position] = errors.get(position, 0) + 1
        if errors[position] < outlier.consecutive_errors:
            return
        now = self.env.time
        hosts = int(np.count_nonzero(balancer.view.ready))
        if balancer.ejected(now) + 1 > max(1, int(outlier.max_ejection_percent / 100.0 * hosts)):
            return
        errors[position] = 0
        times = balancer.ejections[position] = balancer.ejections.get(position, 0) + 1
        balancer.eject(position, now + outlier.base_ejection_time * times)
        self.ejections += 1


class _InFlight:
    """What the choosing proxy remembers of a request it sent to a pod."""

    __slots__ = ("balancer", "position", "sent", "proxy_before", "tries", "retry", "errors")

    def __init__(self, balancer: Balancer, position: int, sent: float, proxy_before: float, tries: int, retry: bool,
                 errors: dict[int, int]) -> None:
        self.balancer = balancer
        self.position = position
        self.sent = sent
        self.proxy_before = proxy_before
        self.tries = tries
        self.retry = retry
        self.errors = errors


class MeshLayer:
    """The app's connection to its local proxy: free, one per request; the proxy learns when a try times out."""

    pooled = False

    def __init__(self, entry: PerRequestMeshEntry) -> None:
        self._entry = entry
        self.send = entry.connect

    def finished(self, request: Request, conn: Connection, timed_out: bool) -> None:
        if timed_out:
            self._entry.reset(request)


class PerRequestMeshEntry(Entry):
    """Sidecars (the sender's proxy chooses) or ambient with a waypoint (the Service's waypoint chooses), per request."""

    def __init__(self, env: Environment, network: Network, pods: Sequence[Any], mesh: Mesh, service: int, waypoint_node: int | None) -> None:
        super().__init__(env, network, pods)
        self._mesh = mesh
        self._service = service
        self._view = mesh.control_plane.views[service]
        self._waypoint_node = waypoint_node
        self._inflight: dict[Request, _InFlight] = {}
        self._errors: dict[int, dict[int, int]] = {}
        self._token = Connection(-1, None, NO_PROXY, 0.0)
        self._hash_request = mesh.config.hash_key == "request"

    def broken(self, conn: Connection) -> bool:
        return False

    # -- out -------------------------------------------------------------------------------------

    def connect(self, request: Request) -> None:
        request.conn = self._token
        request.special = True
        mesh = self._mesh
        if self._waypoint_node is None:
            mesh.sidecar(self._source(request)).submit(request, self._balance)
        else:
            mesh.ztunnels[request.node].submit(request, self._to_waypoint)

    @staticmethod
    def _source(request: Request) -> int:
        return request.route.slot_source[request.slot]

    def _to_waypoint(self, request: Request) -> None:
        waypoint = self._mesh.waypoint(self._service)
        self._later(self._network.delay(request.node, self._waypoint_node), lambda r: waypoint.submit(r, self._balance), request)

    def _balancer(self, request: Request) -> Balancer:
        proxy = self._source(request) if self._waypoint_node is None else -1 - self._service
        return self._mesh.balancer(proxy, self._service)

    def _balance(self, request: Request, avoid: int = -1, tries: int = 0, retry: bool = False) -> None:
        if request.ended:
            return
        balancer = self._balancer(request)
        now = self.env.time
        key = request.id if self._hash_request else self._source(request)
        position = balancer.pick(now, key, avoid)
        if position < 0:
            self._answer(request, Outcome.REFUSED)  # "no healthy upstream": the proxy answers 503
            return
        errors = self._errors.setdefault(id(balancer), {})
        self._inflight[request] = _InFlight(balancer, position, now, part(request, "proxy"), tries, retry, errors)
        balancer.started(position)
        pod = self._pods[int(self._view.pods[position])]
        request.pod = pod
        here = request.node if self._waypoint_node is None else self._waypoint_node
        self._later(self._network.delay(here, pod.node), self._at_pod_side, request)

    def _at_pod_side(self, request: Request) -> None:
        pod = request.pod
        if pod.deployment in self._mesh.outside:
            pod.accept(request)
        elif self._waypoint_node is None:
            self._mesh.inbound_sidecar(pod.index).submit(request, pod.accept)
        else:
            self._mesh.ztunnels[pod.node].submit(request, pod.accept)

    # -- back ------------------------------------------------------------------------------------

    def respond(self, request: Request, outcome: Outcome) -> None:
        """The pod answered: back to the proxy that chose it."""
        here = request.node if self._waypoint_node is None else self._waypoint_node
        self._later(self._network.delay(request.pod.node, here), self._at_proxy, (request, outcome))

    def _at_proxy(self, args: tuple[Request, Outcome]) -> None:
        request, outcome = args
        state = self._inflight.pop(request, None)
        if state is None:
            return  # the try was reset (timed out) already
        mesh = self._mesh
        now = self.env.time
        balancer = state.balancer
        balancer.finished(state.position, now, now - state.sent)
        if state.retry:
            balancer.retries_in_flight -= 1
        mesh.observe(balancer, state.position, outcome, state.errors)
        if (outcome in mesh.retry_on and state.tries < mesh.attempts and not request.ended
                and mesh.may_retry(balancer, balancer.retries_in_flight)):
            balancer.retries_in_flight += 1
            mesh.retries += 1
            request.proxy = state.proxy_before + (now - state.sent)  # the failed attempt, spent behind the proxy
            self._balance(request, state.position, state.tries + 1, True)
            return
        self._answer(request, outcome)

    def _answer(self, request: Request, outcome: Outcome) -> None:
        if self._waypoint_node is None:
            request.route.answered(request, outcome)
        else:  # waypoint -> the sender's node
            self._later(self._network.delay(self._waypoint_node, request.node), self._ended, (request, outcome))

    def reset(self, request: Request) -> None:
        """The try timed out: the proxy resets its stream to the pod (the pod's request no longer counts as active)."""
        state = self._inflight.pop(request, None)
        if state is not None:
            state.balancer.finished(state.position, self.env.time, None)
            if state.retry:
                state.balancer.retries_in_flight -= 1
            self._mesh.observe(state.balancer, state.position, Outcome.TIMEOUT, state.errors)

    def open(self, request: Request) -> Connection | None:  # pragma: no cover - MeshLayer sends per request
        raise NotImplementedError("the mesh's own layer sends every request to the local proxy")


class AmbientEntry(Entry):
    """Istio ambient without a waypoint: the sender's node's ztunnel picks a pod per connection (L4) and carries
    it to the pod's node's ztunnel. Used under any connection layer, like kube-proxy's entry."""

    def __init__(self, env: Environment, network: Network, pods: Sequence[Any], mesh: Mesh, service: int) -> None:
        super().__init__(env, network, pods)
        self._mesh = mesh
        self._service = service
        self._view = mesh.control_plane.views[service]

    def _pick(self, request: Request) -> Any:
        balancer = self._mesh.balancer(-1_000_000 - request.node, self._service, "random")
        position = balancer.pick(self.env.time, 0)
        if position < 0:
            request.route.answered(request, Outcome.REFUSED)
            return None
        return self._pods[int(self._view.pods[position])]

    def connect(self, request: Request) -> None:
        pod = self._pick(request)
        if pod is not None:
            self._carry(request, pod)

    def open(self, request: Request) -> Connection | None:
        pod = self._pick(request)
        return None if pod is None else Connection(next(self.connection_ids), pod, NO_PROXY, self.env.time)

    def deliver(self, request: Request, conn: Connection, first: bool) -> None:
        self._carry(request, conn.pod)

    def _carry(self, request: Request, pod: Any) -> None:
        request.pod = pod
        request.special = True
        ztunnels = self._mesh.ztunnels

        def across(r: Request) -> None:
            if pod.deployment in self._mesh.outside:
                self._later(self._network.delay(r.node, pod.node), pod.accept, r)
            else:
                self._later(self._network.delay(r.node, pod.node), lambda r2: ztunnels[pod.node].submit(r2, pod.accept), r)

        ztunnels[request.node].submit(request, across)

    def respond(self, request: Request, outcome: Outcome) -> None:
        self._later(self._network.delay(request.pod.node, request.node), self._ended, (request, outcome))


def mesh_entry(mesh: Mesh, env: Environment, network: Network, pods: Sequence[Any], service: int, nodes: int) -> Entry:
    """The entry a meshed sender's route to ``service`` takes."""
    config = mesh.config
    if config.mode == "sidecar":
        return PerRequestMeshEntry(env, network, pods, mesh, service, None)
    if config.waypoint:
        return PerRequestMeshEntry(env, network, pods, mesh, service, service % nodes)
    return AmbientEntry(env, network, pods, mesh, service)


def build(cluster: Any, scenario: Any, streams: Any) -> Mesh | None:
    """The run's mesh (watching the EndpointSlices), or None without one."""
    config = scenario.cluster.mesh
    if config.mode == "none":
        return None
    mesh = Mesh(cluster.env, config, cluster.tables, len(scenario.nodes), lambda name: streams.rng("routing", name))
    mesh.outside = {name for name, workload in scenario.workloads.items() if not workload.mesh}
    cluster.slices.watchers.append(mesh.control_plane.written)
    start = scenario.run.warmup
    for t in (start, start + scenario.run.duration):
        cluster.env.push(t, Wakeup(cluster.env, lambda _: mesh.window_busy.append(mesh.busy_s()), None))
    return mesh


def timeout(mesh: Mesh | None, sender_timeout: float) -> float:
    """The sender's timeout, cut to the mesh's (the proxy answers 504 then)."""
    if mesh is None or mesh.config.timeout is None:
        return sender_timeout
    return min(sender_timeout, mesh.config.timeout)
