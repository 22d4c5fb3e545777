"""``simulate_fast(RunSpec) -> RunResult``: one run of an eligible scenario, block by block with numpy.

The cluster is built exactly as the event engine builds it (model/world.py):
the same pods on the same nodes, the same endpoint tables, each node's
kube-proxy pickers with their own streams, the same CoreDNS. Nothing is
started; instead requests go through three stages a block at a time:

1. **issue**: each client's Poisson arrivals over its slots
   (:class:`~netsim.fast.draws.PoissonArrivals`), merged in time order (ids
   follow that order, as the event engine's shared counter does), then the wait
   for cluster DNS (:class:`~netsim.fast.dns.SlotCaches`);
2. **route**, in the order connections reach each chooser: the entry node (an
   external client's nodePort node, or the cloud LB's zone and target:
   ``CloudLoadBalancer.route_block``), the node's picker for the Service
   (``take``: the same picks as the event engine's calls), the first-packet cost,
   the hops there and back (:class:`~netsim.fast.draws.HopDelays`);
3. **serve**, in the order requests reach their pods: each pod's service times
   from its own stream, and every pod's c-worker FIFO with its waiting room by
   the recursions of :mod:`netsim.fast.queues`.

A block covers the requests issued in ``[t0, t1)``. A request that opens its
connection, or reaches its pod, at or after ``t1`` waits for the next block
(delays are never negative, so nothing issued later can come before it): every
picker and every pod sees its requests in time order, across blocks too.
Finished requests go to the same recorder as the event engine's
(``Recorder.extend``) and the run ends in the same :class:`RunResult`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from netsim.fast.dns import SlotCaches
from netsim.fast.draws import BlockDraws, HopDelays, OperationDraws, PoissonArrivals, distribution_draws
from netsim.fast.queues import QueueState, Served, group_by_pod, serve_grouped
from netsim.k8s.objects import TrafficPolicy
from netsim.model.dns import DnsDiscovery
from netsim.model.entry import external_ip
from netsim.model.first_packet import LB_IP_DESTINATION, FirstPacketCost, costs_nothing, extra_cost_s
from netsim.model.kube_proxy import draw_first_packet_jitter, draw_rule_position, first_packet_cost
from netsim.model.load_balancer import NO_TARGET
from netsim.model.network import Locality
from netsim.model.operations import COMPONENTS
from netsim.model.request import Outcome
from netsim.model.world import World
from netsim.recorder import REQUEST_SCHEMA, RunResult
from netsim.routing import HASH_SCHEDULERS
from netsim.spec import RunSpec

BLOCK_REQUESTS = 1 << 17
"""Requests per block (on average): large enough that per-block Python work (per node, per pod) is amortised."""
_FIELDS = ("id", "client", "slot", "t_issue", "op", "wait", "queries", "connect", "node", "pod", "pick_t", "arrival",
           "back", "proxy", "conn", "end", "outcome", "special")


def _empty() -> dict[str, np.ndarray]:
    return {name: np.empty(0) for name in _FIELDS}


def _concat(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not a["id"].size:
        return b
    if not b["id"].size:
        return a
    return {name: np.concatenate([a[name], b[name]]) for name in _FIELDS}


def _rows(batch: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {name: col[index] for name, col in batch.items()}


def _split_sorted(batch: dict[str, np.ndarray], key: str, t1: float) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``batch`` in order of ``key``, cut into the rows before ``t1`` and the rest (views: nothing copied when sorted)."""
    values = batch[key]
    if values.size > 1 and not (values[1:] >= values[:-1]).all():
        batch = _rows(batch, np.argsort(values, kind="stable"))
        values = batch[key]
    k = int(np.searchsorted(values, t1, side="left"))
    return {n: c[:k] for n, c in batch.items()}, {n: c[k:] for n, c in batch.items()}


class _FirstPacket:
    """One node's first-packet costs for one client (model/first_packet.py's FirstPacketCost, as arrays)."""

    def __init__(self, config: Any, rng: np.random.Generator, rules: int, last_rule: bool = False) -> None:
        position = draw_rule_position(rng, rules)  # drawn whatever the model, as the event engine's build does
        if last_rule:  # KUBE-NODEPORTS, the last rule: the top of the measured law, or every rule
            position = float(max(rules, 1))
        batches = {"first": FirstPacketCost.FIRST, "most": FirstPacketCost.BLOCK}  # the event engine's batches: one per pair traffic uses
        if config.first_packet.model == "measured":
            self.draws = BlockDraws(lambda n: extra_cost_s(config.mode, rules, np.ones(n) if last_rule else rng.random(n)),
                                    **batches)
        else:
            self.draws = BlockDraws(
                lambda n: first_packet_cost(config, np.full(n, position), draw_first_packet_jitter(config, rng, n)), **batches)


class _Route:
    """What the fast engine needs of one client's route (built by the event engine's TrafficBuilder)."""

    def __init__(self, world: World, index: int) -> None:
        scenario = world.run.scenario
        spec = scenario.clients[index]
        client = world.clients[index]
        route = client.route
        service = world.cluster.services[route.service]
        self.spec = spec
        self.service = route.service
        self.external = spec.location == "external"
        self.slot_node = np.asarray(route.slot_node, dtype=np.int64)
        self.slot_source = np.asarray(route.slot_source, dtype=np.int64)
        self.timeout = route.timeout
        self.connect_timeout = route.connect_timeout
        """A SYN nobody answers (a Local policy's DROP) is retransmitted until this, or the timeout, whichever first."""
        self.table = world.cluster.tables[route.service]
        policy = service.external_traffic_policy if self.external else service.internal_traffic_policy
        self.local = policy is TrafficPolicy.LOCAL
        config = scenario.cluster.kube_proxy
        self.hashing = not self.external and config.mode == "ipvs" and config.ipvs_scheduler in HASH_SCHEDULERS
        """The connection is opened through the scheduler with the source address (and gets an id)."""
        self.hops_free = not self.external and world.network.is_free()
        rules = scenario.cluster.background_services + len(scenario.services)
        self.pays_first_packet = not self.external and not self.hops_free and not costs_nothing(config, rules)
        self._first_packet: dict[int, _FirstPacket] = {}
        self.entry_draws: BlockDraws | None = None
        self.lb = world.load_balancers.get(route.service) if self.external and not spec.entry_nodes else None
        # External traffic meets the entry node's rules too (model/entry.py): nodeIP:nodePort matches KUBE-NODEPORTS,
        # the last rule; an LB that keeps its own address as destination matches that address's rule instead.
        last_rule = self.external and (self.lb is None or scenario.load_balancer.provider not in LB_IP_DESTINATION)
        self.pays_entry_first_packet = self.external and (self.lb is None or self.lb.instance) \
            and not world.network.is_free() and not costs_nothing(config, rules)
        self._fp_args = (world, config, rules, service.name, last_rule)
        """The cloud LB in front of a LoadBalancer Service (its targets fixed: nothing churns)."""
        self.lb_latency = None if self.lb is None else \
            distribution_draws(self.lb.spec.latency, world.streams.rng("network", f"lb/{service.name}"))
        if self.external and self.lb is None:
            nodes = np.asarray(spec.entry_nodes or range(len(scenario.nodes)), dtype=np.float64)
            rng = world.streams.rng("routing", f"entry/{spec.name}")
            self.entry_draws = BlockDraws(lambda n: nodes[rng.integers(0, nodes.size, n)])
        self.arrivals = PoissonArrivals(world.streams.rng("arrivals", spec.name), spec.rate, spec.rate_steps,
                                        len(route.slot_node), scenario.run.warmup + scenario.run.duration)
        interned = {name: i for i, name in enumerate(scenario.operation_names)}
        weighted = len(spec.operations) > 1 and bool(spec.operation_weights)
        self.operations = OperationDraws([interned[o] for o in spec.operations], spec.operation_weights,
                                         world.streams.rng("arrivals", f"{spec.name}/operations") if weighted else None)
        discovery = route.discovery
        per_try = 2 if scenario.cluster.dns.aaaa else 1
        self.dns = (len(route.slot_node), max(spec.dns_queries // per_try, 1), spec.dns_queries, service.type.value == "ExternalName") \
            if isinstance(discovery, DnsDiscovery) else None

    def first_packet(self, node: int) -> _FirstPacket:
        fp = self._first_packet.get(node)
        if fp is None:
            world, config, rules, name, last_rule = self._fp_args
            rng = world.streams.rng("network", f"first-packet/{world.run.scenario.nodes[node].name}/{name}/{self.spec.name}")
            fp = self._first_packet[node] = _FirstPacket(config, rng, rules, last_rule)
        return fp


class FastRun:
    """The state of one fast run between blocks: streams, caches, queues, counters and the figures so far."""

    def __init__(self, run: RunSpec, keep_requests: bool = True) -> None:
        self.world = world = World(run, keep_requests=keep_requests)
        scenario = run.scenario
        self.routes = [_Route(world, c) for c in range(len(scenario.clients))]
        self.caches = SlotCaches(world.dns, [r.dns for r in self.routes])
        self.hops = HopDelays(scenario.cluster.network, world.streams.rng("network", "hops"))
        self.locality = world.network.locality
        pods = world.cluster.pods
        self.pod_node = np.asarray([p.node for p in pods], dtype=np.int64)
        self.lb_table_pods = {s: np.asarray(world.cluster.tables[s].pods, dtype=np.int64) for s in world.load_balancers}
        self.queues = QueueState.idle([p.concurrency for p in pods], [p.queue_limit for p in pods], pods=len(pods))
        self.service_draws = [
            distribution_draws(scenario.workloads[p.deployment].service_time, world.streams.rng("service", p.name)) for p in pods
        ]
        self.window = world.window
        self.busy = np.zeros(len(pods))
        self.breakdown: list[dict[int, list[float]]] = [{} for _ in scenario.clients]
        self.next_id = 0
        self.next_conn = 0
        self.generated = 0
        self._pickers: dict[tuple[bool, int, int], Any] = {}
        self._timeouts = np.asarray([r.timeout for r in self.routes], dtype=np.float64)

    # -- 1. issue ------------------------------------------------------------------------------

    def issue(self, t1: float) -> dict[str, np.ndarray]:
        """Every request issued before ``t1`` not issued yet, in time order, with its DNS wait."""
        parts = []
        for c, route in enumerate(self.routes):
            times, slots = route.arrivals.until(t1)
            if times.size:
                parts.append((np.full(times.size, c), slots, times, route.operations.take(times.size)))
        if not parts:
            return _empty()
        client = np.concatenate([p[0] for p in parts])
        slot = np.concatenate([p[1] for p in parts])
        t = np.concatenate([p[2] for p in parts])
        op = np.concatenate([p[3] for p in parts])
        if len(parts) > 1:
            order = np.argsort(t, kind="stable")
            client, slot, t, op = client[order], slot[order], t[order], op[order]
        n = t.size
        ids = np.arange(self.next_id, self.next_id + n)
        self.next_id += n
        self.generated += n
        wait, queries = self.caches.wait(client, slot, t)
        batch = {name: np.empty(n) for name in _FIELDS}  # the rest is set by the route stage (or _drop_timed_out)
        batch.update(id=ids, client=client, slot=slot, t_issue=t, op=op, wait=wait, queries=queries, connect=t + wait,
                     special=wait > 0.0)
        return batch

    # -- 2. route ------------------------------------------------------------------------------

    def _picker(self, external: bool, node: int, service: int) -> Any:
        key = (external, node, service)
        picker = self._pickers.get(key)
        if picker is None:
            proxy = self.world.proxies[node]
            picker = self._pickers[key] = proxy.external_picker(service) if external else proxy.picker(service)
        return picker

    def route(self, b: dict[str, np.ndarray]) -> None:
        """Choose each request's pod (``b`` is in connection order) and its hops; fills ``b`` in place.

        Each chooser — a cloud LB, a node's kube-proxy picker for a Service — takes the
        connections that reach it in the order they reach it, whoever sends them.
        """
        n = b["id"].size
        client = b["client"].astype(np.int64)
        slot = b["slot"].astype(np.int64)
        node = np.zeros(n, dtype=np.int64)
        pick_t = b["connect"].copy()
        internet_out = np.zeros(n)
        external = np.zeros(n, dtype=bool)
        service = np.zeros(n, dtype=np.int64)
        source = np.zeros(n, dtype=np.int64)
        pod = np.full(n, -2, dtype=np.int64)  # -2: a kube-proxy picker chooses
        outcome = np.full(n, -1, dtype=np.int64)
        lb_rows: dict[int, list[np.ndarray]] = {}
        if n and client[0] == client[-1] and (client == client[0]).all():
            rows_of = {int(client[0]): np.arange(n)}
        else:
            rows_of = {c: np.flatnonzero(client == c) for c in np.unique(client).tolist()}
        for c, rows in rows_of.items():
            route = self.routes[c]
            service[rows] = route.service
            if route.external:
                external[rows] = True
                internet_out[rows] = self.hops.draw(np.full(rows.size, Locality.INTERNET))
                pick_t[rows] += internet_out[rows]
                if route.lb is not None:
                    source[rows] = external_ip(c, 0) + slot[rows]
                    lb_rows.setdefault(route.service, []).append(rows)
                else:
                    node[rows] = route.entry_draws.take(rows.size).astype(np.int64)  # type: ignore[union-attr]
            else:
                node[rows] = route.slot_node[slot[rows]]
                if route.hashing:
                    source[rows] = route.slot_source[slot[rows]]
        lb_zone = np.zeros(n, dtype=np.int64)
        lb_forward = np.zeros(n)
        for s, parts in lb_rows.items():  # each LB's front ends, in the order connections reach them
            rows = np.concatenate(parts)
            rows = rows[np.argsort(pick_t[rows], kind="stable")]
            lb = self.world.load_balancers[s]
            zone, target = lb.route_block(source[rows])
            lb_zone[rows] = zone
            none = target == NO_TARGET
            outcome[rows[none]] = Outcome.REFUSED
            pod[rows[none]] = -1
            sent = rows[~none]
            for c in np.unique(client[sent]).tolist():  # LB forwarding: each client's own latency stream
                mine = sent[client[sent] == c]
                lb_forward[mine] = self.routes[c].lb_latency.take(mine.size)  # type: ignore[union-attr]
            if lb.instance:
                node[sent] = target[~none]
                pick_t[sent] += lb_forward[sent] + self.hops.draw(self._lb_leg(lb, lb_zone[sent], node[sent]))
            else:
                pod[sent] = self.lb_table_pods[s][target[~none]]
                node[sent] = self.pod_node[pod[sent]]
        choose = np.flatnonzero(pod == -2)
        if choose.size:  # each node's picker takes its connections in the order they reach it
            services = int(service.max()) + 1
            key = (external[choose].astype(np.int64) * len(self.world.proxies) + node[choose]) * services + service[choose]
            times = pick_t[choose]
            if (times[1:] >= times[:-1]).all():  # already in time order (in-cluster, or constant hops): a radix sort by key
                by_key = group_by_pod(key, 2 * len(self.world.proxies) * services)
            else:
                by_key = np.lexsort((times, key))
            order, keys = choose[by_key], key[by_key]
            cuts = np.concatenate([[0], np.flatnonzero(np.diff(keys)) + 1, [order.size]])
            for a, z in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
                rows = order[a:z]
                r0 = rows[0]
                pod[rows] = self._picker(bool(external[r0]), int(node[r0]), int(service[r0])).take(rows.size, source[rows])
        picked = pod >= 0
        pod_node = np.zeros(n, dtype=np.int64)  # (a scenario may have no pod at all)
        pod_node[picked] = self.pod_node[pod[picked]]
        arrival = pick_t.copy()
        back = np.zeros(n)
        proxy = np.zeros(n)
        conn = np.full(n, -1, dtype=np.int64)
        special = b["special"]
        for c, rows in rows_of.items():
            route = self.routes[c]
            ok = rows[picked[rows]]
            bad = rows[(~picked[rows]) & (outcome[rows] < 0)]
            if bad.size:
                no_local = route.local and bool(route.table.ready.any())
                outcome[bad] = Outcome.NO_LOCAL_ENDPOINT if no_local else Outcome.REFUSED
            rules_cost = self._entry_first_packet(route, node[ok], pick_t[ok]) if route.pays_entry_first_packet else 0.0
            if route.lb is not None:
                lb = self.world.load_balancers[route.service]
                if lb.instance:
                    arrival[ok] += rules_cost + self.hops.draw(self.locality(node[ok], pod_node[ok]))
                    back[ok] = self.hops.draw(self.locality(pod_node[ok], node[ok]))
                else:
                    arrival[ok] += lb_forward[ok] + self.hops.draw(self._lb_leg(lb, lb_zone[ok], pod_node[ok]))
                returned = route.lb_latency.take(ok.size)  # type: ignore[union-attr]
                back[ok] = (back[ok] + self.hops.draw(self._lb_leg(lb, lb_zone[ok], node[ok]))) \
                    + (returned + self.hops.draw(np.full(ok.size, Locality.INTERNET)))
                proxy[ok] = (lb_forward[ok] + rules_cost) + returned
                special[ok] = True
                continue
            if route.external:
                if route.pays_entry_first_packet:
                    proxy[ok] = rules_cost
                    special[ok] = True
                arrival[ok] += rules_cost + self.hops.draw(self.locality(node[ok], pod_node[ok]))
                back[ok] = self.hops.draw(self.locality(pod_node[ok], node[ok])) + self.hops.draw(np.full(ok.size, Locality.INTERNET))
                continue
            if route.hashing:  # connections opened through the scheduler get ids (in the order they open)
                conn[ok] = -2
            if route.hops_free:
                continue
            out = self.hops.draw(self.locality(node[ok], pod_node[ok]))
            back[ok] = self.hops.draw(self.locality(pod_node[ok], node[ok]))
            if route.pays_first_packet:
                for m in np.unique(node[ok]).tolist():
                    mine = ok[node[ok] == m]
                    proxy[mine] = route.first_packet(m).draws.take(mine.size)
                out += proxy[ok]
                special[ok] = True
            arrival[ok] += out
        opened = np.flatnonzero(conn == -2)  # b is in connection order: ids in that order
        conn[opened] = np.arange(self.next_conn, self.next_conn + opened.size)
        self.next_conn += opened.size
        b.update(node=node, pod=np.where(picked, pod, -1), pick_t=pick_t, arrival=arrival, back=back, proxy=proxy,
                 conn=conn, outcome=outcome, special=special)
        end = np.where(picked, np.nan, pick_t)
        dropped = outcome == Outcome.NO_LOCAL_ENDPOINT  # the SYN was dropped: the sender waits (model/route.py unanswered)
        if dropped.any():
            end[dropped] += np.asarray([r.connect_timeout for r in self.routes])[client[dropped]]
        b["end"] = end

    @staticmethod
    def _entry_first_packet(route: _Route, entry: np.ndarray, reach: np.ndarray) -> np.ndarray:
        """Each new connection's first-packet cost at its entry node's rules, drawn per node in the order the
        connections reach it (``reach``), as the event engine draws them."""
        cost = np.zeros(entry.size)
        for m in np.unique(entry).tolist():
            mine = np.flatnonzero(entry == m)
            mine = mine[np.argsort(reach[mine], kind="stable")]
            cost[mine] = route.first_packet(m).draws.take(mine.size)
        return cost

    def _lb_leg(self, lb: Any, zone: np.ndarray, node: np.ndarray) -> np.ndarray:
        """Locality of the hops between LB zone front ends and nodes (CloudLoadBalancer.leg, vectorised)."""
        same = np.asarray(lb.node_zone, dtype=np.int64)[node] == zone
        return np.where(same, Locality.SAME_ZONE, Locality.CROSS_ZONE)

    def _drop_timed_out(self, b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Requests whose DNS answer came after their deadline end there, never sent (as model/route.py does)."""
        timeout = self._timeouts[b["client"].astype(np.int64)] if b["id"].size else np.empty(0)
        late = b["connect"] > b["t_issue"] + timeout
        if not late.any():
            return b
        gone = _rows(b, np.flatnonzero(late))
        client = gone["client"].astype(np.int64)
        gone.update(pod=np.full(client.size, -1), conn=np.full(client.size, -1), pick_t=gone["connect"], end=gone["connect"], outcome=np.full(client.size, -1),
                    node=np.asarray([self.routes[c].slot_node[s] for c, s in zip(client.tolist(), gone["slot"].astype(np.int64).tolist(),
                                                                                  strict=True)]))
        self.finish(gone, gone["connect"], gone["connect"])
        return _rows(b, np.flatnonzero(~late))

    # -- 3. serve ------------------------------------------------------------------------------

    def serve(self, b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Queue ``b`` (in order of arrival at the pods) at its pods; returns start and service of each request."""
        pod = b["pod"].astype(np.int64)
        n = pod.size
        order = group_by_pod(pod, self.queues.pods)  # each pod's arrivals, in time order
        seg = np.zeros(self.queues.pods + 1, np.int64)
        np.cumsum(np.bincount(pod, minlength=self.queues.pods), out=seg[1:])
        grouped_service = np.empty(n)
        for p in np.flatnonzero(np.diff(seg)).tolist():
            grouped_service[seg[p] : seg[p + 1]] = self.service_draws[p].take(int(seg[p + 1] - seg[p]))
        grouped, self.queues = serve_grouped(self.queues, seg, b["arrival"][order], grouped_service)
        served = Served(*(np.empty(n), np.empty(n), np.empty(n, bool)))
        for mine, theirs in zip(served, grouped, strict=True):
            mine[order] = theirs
        service = np.empty(n)
        service[order] = grouped_service
        rejected = served.rejected
        b["outcome"] = np.where(rejected, Outcome.REJECTED, Outcome.OK)
        b["end"] = np.where(rejected, b["arrival"], served.departure) + b["back"]
        w0, w1 = self.window
        counted = ~rejected & (served.start >= w0) & (served.start < w1)
        self.busy += np.bincount(pod[counted], weights=service[counted], minlength=self.busy.size)
        return {"start": np.where(rejected, b["arrival"], served.start), "departure": np.where(rejected, b["arrival"], served.departure)}

    # -- the end of a request ------------------------------------------------------------------

    def finish(self, b: dict[str, np.ndarray], start: np.ndarray, departure: np.ndarray) -> None:
        """Record finished requests as the event engine's client does (timeouts, breakdown, the row)."""
        client = b["client"].astype(np.int64)
        timeout = np.asarray([r.timeout for r in self.routes])[client]
        t_issue = b["t_issue"]
        deadline = t_issue + timeout
        outcome = b["outcome"].astype(np.int64)
        latency = b["end"] - t_issue
        late = (b["end"] > deadline) | (latency > timeout)
        latency = np.where(late, np.minimum(deadline - t_issue, timeout), latency)
        outcome = np.where(late & (outcome != Outcome.NO_LOCAL_ENDPOINT), Outcome.TIMEOUT, outcome)  # a dropped SYN keeps its cause
        pod = np.where(late & (b["pick_t"] > deadline), -1, b["pod"].astype(np.int64))
        ok = outcome == Outcome.OK
        special = b["special"].astype(bool)
        plain = ok & ~special
        queueing = np.where(plain, start - b["arrival"], -1.0)
        work = np.where(plain, departure - start, 0.0)
        w0, w1 = self.window
        summed = ok & special & (t_issue >= w0) & (t_issue < w1)
        if summed.any():
            self._add_breakdown(b, summed, latency, start, departure)
        columns = {
            "id": b["id"], "client": client, "client_pod": b["slot"], "service": np.asarray([r.service for r in self.routes])[client],
            "operation": b["op"], "entry_node": b["node"], "pod": pod, "t_issue_s": t_issue, "latency_s": latency,
            "outcome": outcome, "dns_queries": b["queries"], "connection": b["conn"], "queueing_s": queueing, "work_s": work,
        }
        self.world.recorder.extend({name: np.asarray(columns[name]).astype(dtype) for name, dtype in REQUEST_SCHEMA.items()})

    def _add_breakdown(self, b: dict[str, np.ndarray], mask: np.ndarray, latency: np.ndarray, start: np.ndarray,
                       departure: np.ndarray) -> None:
        """Per client and operation, sums of the breakdown of its ``special`` OK measured requests (model/operations.py)."""
        client = b["client"][mask].astype(np.int64)
        op = b["op"][mask].astype(np.int64)
        dns, proxy = b["wait"][mask], b["proxy"][mask]
        queue = start[mask] - b["arrival"][mask]
        work = departure[mask] - start[mask]
        lat = latency[mask]
        net = lat - dns - proxy - (departure[mask] - b["arrival"][mask])
        parts = np.zeros((lat.size, len(COMPONENTS)))
        parts[:, 0], parts[:, 1], parts[:, 2], parts[:, 4], parts[:, 5] = net, dns, proxy, queue, work
        for c, o in {(int(x), int(y)) for x, y in zip(client.tolist(), op.tolist(), strict=True)}:
            rows = (client == c) & (op == o)
            sums = self.breakdown[c].setdefault(o, [0.0] * (2 + len(COMPONENTS)))
            sums[0] += float(rows.sum())
            sums[1] += float(lat[rows].sum())
            for k in range(len(COMPONENTS)):
                sums[2 + k] += float(parts[rows, k].sum())

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> None:
        scenario = self.world.run.scenario
        stop = scenario.run.warmup + scenario.run.duration
        rate = sum(max([c.rate, *[r for _, r in c.rate_steps]]) for c in scenario.clients if c.closed is None)
        step = BLOCK_REQUESTS / rate if rate > 0 else stop
        to_route, to_serve = _empty(), _empty()
        t0 = 0.0
        while True:
            t1 = t0 + step
            last = t1 >= stop
            issued = self.issue(stop if last else t1)
            if last:
                t1 = np.inf
            to_route = _concat(to_route, issued)
            if to_route["id"].size:
                routing, to_route = _split_sorted(to_route, "connect", t1)
                routing = self._drop_timed_out(routing)
                if routing["id"].size:
                    self.route(routing)
                    refused = np.isfinite(routing["end"])
                    if refused.any():
                        gone = _rows(routing, np.flatnonzero(refused))
                        self.finish(gone, gone["connect"], gone["connect"])
                    to_serve = _concat(to_serve, _rows(routing, np.flatnonzero(~refused)) if refused.any() else routing)
            if to_serve["id"].size:
                serving, to_serve = _split_sorted(to_serve, "arrival", t1)
                if serving["id"].size:
                    times = self.serve(serving)
                    self.finish(serving, times["start"], times["departure"])
            if last:
                return
            t0 = t1


def simulate_fast(run: RunSpec, keep_requests: bool = True) -> RunResult:
    """Simulate one run of an eligible scenario (netsim/fast/eligibility.py) with the fast engine.

    ``keep_requests``: keep every row in ``RunResult.requests`` too (the tables come from the tally either way)."""
    from netsim.engine import run_result

    started = time.perf_counter()
    fast = FastRun(run, keep_requests)
    fast.run()
    world = fast.world
    duration = world.window[1] - world.window[0]
    pod_busy = [{"busy_s": float(fast.busy[i]), "workers": float(p.concurrency), "alive_s": duration}
                for i, p in enumerate(world.cluster.pods)]
    return run_result(world, started, generated=fast.generated, pod_busy=pod_busy, breakdown=fast.breakdown)
