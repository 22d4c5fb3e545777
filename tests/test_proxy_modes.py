"""kube-proxy modes against queueing theory, and the first-packet and sync cost models.

One node with one client pod: its kube-proxy is the only dispatcher, so IPVS rr
over N pods gives each pod Erlang-N inter-arrivals (E_N/M/1, k8s-facts §8.2),
random gives N independent M/M/1 queues (§8.1), and lc — which sees every
connection, one per request — lies between the pooled M/M/N bound and rr.
Tolerances come from batch means of the run itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from builders import deployment, experiment, service, simulate_one

from netsim import theory
from netsim.config.schema import KubeProxyConfig
from netsim.model import first_packet
from netsim.model.kube_proxy import first_packet_cost, sync_duration, sync_times
from netsim.model.request import Outcome

PODS, MU, RHO = 3, 1000.0, 0.7


def _latencies(mode: str, scheduler: str = "rr", duration: float = 40.0, nodes: int = 1) -> np.ndarray:
    """Latencies in issue order (one client pod per node, each node its own kube-proxy)."""
    config = experiment(replicas=PODS, rate=RHO * MU * PODS, mean_service=1 / MU, duration=duration, warmup=2.0,
                        nodes={"count": nodes})
    config["cluster"]["kube_proxy"] = {"mode": mode, "ipvs_scheduler": scheduler}
    result = simulate_one(config)
    req = result.requests
    ok = result.measured() & (req["outcome"] == Outcome.OK)
    order = np.argsort(req["t_issue_s"][ok], kind="stable")
    return req["latency_s"][ok][order]


def test_ipvs_rr_from_one_node_is_erlang_n_arrivals_per_pod() -> None:
    mean, se = theory.batch_means(_latencies("ipvs", "rr"), batches=25)
    expected = theory.ek_m1_mean_sojourn(PODS, RHO * MU, MU)
    assert abs(mean - expected) <= 4 * se, (mean, expected, se)
    assert mean < theory.mm1_mean_sojourn(RHO * MU, MU) - 4 * se  # and clearly better than random


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_random_modes_are_independent_mm1(mode: str) -> None:
    mean, se = theory.batch_means(_latencies(mode), batches=25)
    assert abs(mean - theory.mm1_mean_sojourn(RHO * MU, MU)) <= 4 * se


def test_lc_beats_rr_where_they_differ_and_lies_above_pooled_mmn() -> None:
    """Per-request connections from one node: lc sees every close, so it joins the shortest queue (the
    inactive TIME_WAIT counts grow alike on identical pods and only break ties); rr gives E_N/M/1.
    lc must lie between the pooled M/M/N bound and rr's E_N/M/1, and below the simulated rr by more
    than the noise of both runs."""
    lc, se_lc = theory.batch_means(_latencies("ipvs", "lc"), batches=25)
    rr, se_rr = theory.batch_means(_latencies("ipvs", "rr"), batches=25)
    lower = theory.mmc_mean_sojourn(RHO * MU * PODS, MU, PODS)
    upper = theory.ek_m1_mean_sojourn(PODS, RHO * MU, MU)
    assert lower - 4 * se_lc <= lc < upper - 4 * se_lc, (lower, lc, upper, se_lc)
    assert lc < rr - 4 * (se_lc + se_rr), (lc, rr, se_lc, se_rr)


def _fast_and_slow(scheduler: str, inactive_timeout: float, duration: float = 10.0):  # type: ignore[no-untyped-def]
    """Two pods behind one Service, one four times slower (0.5 ms vs 2 ms), 1200 rps of per-request connections."""
    fast = deployment("fast", 1, labels={"app": "web", "tier": "fast"})
    slow = deployment("slow", 1, labels={"app": "web", "tier": "slow"})
    config = experiment(rate=1200.0, duration=duration, warmup=0.0, manifests=[fast, slow, service("web", {"app": "web"})])
    workload = config["workloads"].pop("default")
    config["workloads"]["fast"] = dict(workload, service_time={"distribution": "exponential", "mean": "0.5ms"})
    config["workloads"]["slow"] = dict(workload, service_time={"distribution": "exponential", "mean": "2ms"})
    config["cluster"]["kube_proxy"] = {"mode": "ipvs", "ipvs_scheduler": scheduler, "ipvs_inactive_timeout": inactive_timeout}
    return config


def test_lc_counts_closed_connections_for_ipvs_timeout_and_they_steer_it() -> None:
    """The kernel's lc cost, activeconns × 256 + inactconns, with every closed connection held 120 s:

    - after a run shorter than the timeout, each endpoint's inactive count is the number of
      connections closed to its pod (one per request: the records count them);
    - 120 s after the last close they have all expired;
    - so at a high connection rate lc balances *connections opened* more than load: the slow pod
      (4× slower) gets a larger share than when closed connections do not count (join-the-shortest-
      queue), though still less than rr's half, and rr, blind to its queue, overloads it (ρ = 1.2).
    """
    from netsim.config import load_experiment
    from netsim.model.world import World

    world = World(load_experiment(_fast_and_slow("lc", 120.0)).runs()[0])
    world.start()
    world.env.run(until=world.drained)
    picker = world.proxies[0].picker(0)
    req = world.recorder.columns()
    done = np.bincount(req["pod"][req["outcome"] == Outcome.OK], minlength=2)
    assert world.env.time < 120.0
    assert picker.active.sum() == 0
    assert picker.inactive.tolist() == done[picker.table.pods].tolist()
    world.env.run(until=world.env.time + 120.0)
    picker()  # the next pick drops what IPVS's timer dropped
    assert picker.inactive.sum() == 0

    def slow_share(scheduler: str, timeout: float) -> tuple[float, float]:
        result = simulate_one(_fast_and_slow(scheduler, timeout))
        ok = result.measured() & (result.requests["outcome"] == Outcome.OK)
        pods = result.requests["pod"][ok]
        return float(np.mean(pods == 1)), float(result.requests["latency_s"][ok].mean())

    held, lc_latency = slow_share("lc", 120.0)
    not_held, _ = slow_share("lc", 0.0)
    half, rr_latency = slow_share("rr", 120.0)
    se = np.sqrt(0.25 / 12_000)  # binomial standard error of a share of 12,000 connections, at its largest
    assert not_held + 10 * se < held < half - 10 * se, (not_held, held, half)
    assert abs(half - 0.5) < 4 * se
    assert lc_latency < rr_latency / 10  # rr's slow pod is overloaded: its queue grows all run


def test_ipvs_rr_from_several_nodes_lies_between_one_nodes_ek_m1_and_random() -> None:
    """Every node's IPVS keeps its own rr pointer: a pod's arrivals merge M independent Erlang-N
    streams, which has no closed form. With one client node it is E_N/M/1; as client nodes are
    added the merged stream tends to Poisson (random routing, M/M/1). So the mean sojourn must lie
    between the two, and grow with the number of client nodes. The runs share their arrival
    stream (common random numbers), so the growth is judged on paired per-request differences."""
    lower, upper = theory.ek_m1_mean_sojourn(PODS, RHO * MU, MU), theory.mm1_mean_sojourn(RHO * MU, MU)
    runs = {m: _latencies("ipvs", "rr", duration=20.0, nodes=m) for m in (1, 4, 32)}
    for m, latency in runs.items():
        mean, se = theory.batch_means(latency, batches=25)
        assert lower - 4 * se <= mean <= upper + 4 * se, (m, lower, mean, upper, se)
    for few, many in ((1, 4), (4, 32)):
        gain, se = theory.batch_means(runs[many] - runs[few], batches=25)
        assert gain > 4 * se, (few, many, gain, se)


# --- first-packet cost -------------------------------------------------------------------------

PUBLISHED = {  # k8s-facts §1.5 measurement A: first-packet RTT (ms), p50/p90/p99
    5000: (0.049, 0.120, 0.155),
    10000: (0.061, 0.187, 0.262),
    30000: (0.274, 0.490, 0.715),
}
NFTABLES_FLOOR = ((0.0, 0.01, 0.5, 0.9, 0.99, 1.0), (0.008, 0.010, 0.014, 0.021, 0.037, 0.060))
"""The nftables row (same at every size): the RTT without the linear scan, as an inverse CDF."""


def _modelled_rtt_ms(config: KubeProxyConfig, services: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    position = rng.random(samples) * services
    jitter = np.exp(config.first_packet.jitter_sigma * rng.standard_normal(samples))
    floor = np.interp(rng.random(samples), *NFTABLES_FLOOR)
    return floor + first_packet_cost(config, position, jitter) * 1e3


def test_linear_scan_model_reproduces_most_published_percentiles() -> None:
    """The mechanism (``first_packet.model: linear``): within 20 % for p50/p90/p99, except the 10k p50
    (inconsistent with any linear scan; docs/config.md). The default ``measured`` model matches all.

    200,000 samples put the sampling error of a p99 near 1 %, far inside the band.
    """
    config = KubeProxyConfig(mode="iptables")
    rng = np.random.default_rng(2024)
    for services, published in PUBLISHED.items():
        modelled = np.percentile(_modelled_rtt_ms(config, services, 200_000, rng), [50, 90, 99])
        for q, model, pub in zip(("p50", "p90", "p99"), modelled, published, strict=True):
            if services == 10000 and q == "p50":
                continue
            assert abs(model / pub - 1) <= 0.20, f"{services} Services {q}: model {model:.3f} ms vs published {pub:.3f} ms"


def test_the_full_simulator_path_gives_the_published_first_packet_percentiles() -> None:
    """The default ``measured`` model is a calibration: what must hold is that the Service count reaches it
    and every new connection pays it once. ``netsim verify``'s published case runs requests through the whole
    path (DNS, kube-proxy, a 1 µs hop, a pod that answers at once) at 5k, 10k and 30k Services, paired with
    nftables, and compares p50/p90/p99 with the figures of measurement A as netsim/verify/published.py writes
    them from the source (not from the model's table: doubling the model's table fails here)."""
    from netsim.verify.runner import verify
    from netsim.verify.tables import console

    report = verify("quick", ("published",), ("first-packet",), jobs=1)
    assert len(report.rows) == 9
    assert report.passed, "\n" + console(report.rows, "first-packet")


def _linear_tail_ms(per_rule: float, unit: np.ndarray, floor: np.ndarray) -> np.ndarray:
    return np.percentile(floor + per_rule * unit * 1e3, [90, 99])


def _fit_linear(sizes: tuple[int, ...], units: dict, floor: np.ndarray) -> tuple[float, float]:
    """(per-rule cost, jitter sigma) minimising the worst relative error of p90 and p99 at ``sizes``."""
    from scipy.optimize import minimize_scalar

    best = (np.inf, 0.0, 0.0)
    for sigma in units:
        def worst(per_rule_ns: float, sigma: float = sigma) -> float:
            return max(abs(_linear_tail_ms(per_rule_ns * 1e-9, units[sigma][n], floor)[j] / PUBLISHED[n][j + 1] - 1)
                       for n in sizes for j in (0, 1))
        fit = minimize_scalar(worst, bounds=(2.0, 60.0), method="bounded", options={"xatol": 0.05})
        if fit.fun < best[0]:
            best = (fit.fun, fit.x * 1e-9, sigma)
    return best[1], best[2]


@pytest.mark.parametrize(("fitted", "predicted"), [((5000, 30000), 10000), ((5000, 10000), 30000), ((10000, 30000), 5000)])
def test_the_scan_mechanism_fitted_on_two_sizes_predicts_the_third_tail(fitted: tuple[int, int], predicted: int) -> None:
    """``linear`` (cost = per-rule cost × position × jitter, position uniform over the rules): fitted to p90/p99
    at two sizes, it predicts the third size's p90 and p99 within 25 % (5k+30k → 10k within 4 %; the two
    extrapolations within 18 %). Its p50 is not predicted: the published 10k median (0.061 ms) sits near the
    5k one while its tail grows, which no scan linear in the Service count gives (the fit puts it near 0.1 ms).
    A cost not linear in the rules ahead (constant, ∝ √n, ∝ n²) misses the third size by far more."""
    rng = np.random.default_rng(2024)
    samples = 20_000
    u, z = rng.random(samples), rng.standard_normal(samples)
    floor = np.interp(rng.random(samples), *NFTABLES_FLOOR)
    units = {}
    for sigma in np.round(np.linspace(0.0, 0.8, 9), 2):
        unit = KubeProxyConfig(mode="iptables", first_packet={"model": "linear", "iptables_per_service": 1.0, "jitter_sigma": sigma})
        units[sigma] = {n: first_packet_cost(unit, u * n, np.exp(sigma * z)) for n in PUBLISHED}
    per_rule, sigma = _fit_linear(fitted, units, floor)
    p90, p99 = _linear_tail_ms(per_rule, units[sigma][predicted], floor)
    for q, model, pub in (("p90", p90, PUBLISHED[predicted][1]), ("p99", p99, PUBLISHED[predicted][2])):
        assert abs(model / pub - 1) <= 0.25, f"{predicted} Services {q}: predicted {model:.3f} ms vs published {pub:.3f} ms"


def test_measured_model_grows_with_services_for_iptables_only() -> None:
    u = np.random.default_rng(3).random(50_000)
    small, large = (first_packet.extra_cost_s("iptables", n, u).mean() for n in (100, 20_000))
    assert large > 10 * small
    for mode in ("ipvs", "nftables"):
        assert not first_packet.extra_cost_s(mode, 20_000, u).any()  # O(1): nothing above the nftables dispatch


def test_iptables_cost_grows_with_background_services_ipvs_and_nftables_do_not() -> None:
    rng = np.random.default_rng(7)
    position_small, position_large = rng.random(10_000) * 100, rng.random(10_000) * 20_000
    jitter = np.exp(0.33 * rng.standard_normal(10_000))
    ipt = KubeProxyConfig(mode="iptables")
    assert first_packet_cost(ipt, position_large, jitter).mean() > 50 * first_packet_cost(ipt, position_small, jitter).mean()
    for mode in ("ipvs", "nftables"):
        cfg = KubeProxyConfig(mode=mode)
        assert np.array_equal(first_packet_cost(cfg, position_small, jitter), first_packet_cost(cfg, position_large, jitter))


def _mean_latency(mode: str, background: int) -> tuple[float, float]:
    config = experiment(replicas=2, rate=400.0, mean_service=0.001, duration=20.0, warmup=1.0, nodes={"count": 20},
                        network={"same_node": "10us", "same_zone": "10us", "cross_zone": "10us", "internet": "1ms"},
                        service_time={"distribution": "constant", "value": "1ms"})
    config["cluster"]["kube_proxy"] = {"mode": mode}
    config["cluster"]["background_services"] = background
    result = simulate_one(config)
    lat = result.requests["latency_s"][result.measured()]
    return float(lat.mean()), float(lat.std() / np.sqrt(lat.size))


def test_simulated_latency_grows_with_background_services_only_in_iptables_mode() -> None:
    """30,000 Services put the iptables scan near 0.26 ms on average over the 20 nodes' rule positions
    (each uniform; their mean falls below a quarter of the range with probability ~1e-5, i.e. 0.13 ms);
    IPVS/nftables stay unchanged."""
    small, se_small = _mean_latency("iptables", 0)
    large, se_large = _mean_latency("iptables", 30_000)
    assert large - small > 0.1e-3 + 4 * (se_small + se_large)
    for mode in ("ipvs", "nftables"):
        a, _ = _mean_latency(mode, 0)
        b, _ = _mean_latency(mode, 30_000)
        assert a == pytest.approx(b, rel=1e-12)  # same random streams, and nothing depends on the rule count


# --- sync cost ----------------------------------------------------------------------------------

def test_iptables_sync_duration_grows_with_rules_ipvs_does_not() -> None:
    ipt, ipvs = KubeProxyConfig(mode="iptables"), KubeProxyConfig(mode="ipvs")
    assert sync_duration(ipt, 160_000) > 100 * sync_duration(ipt, 8)
    assert sync_duration(ipvs, 160_000) == sync_duration(ipvs, 8)


def test_syncs_are_batched_by_min_sync_period_and_at_most_sync_period_apart() -> None:
    config = KubeProxyConfig(min_sync_period=1.0, sync_period=30.0)
    changes = np.array([0.1, 0.2, 0.3, 0.35, 5.0, 5.5])
    starts, ends = sync_times(config, changes, horizon=100.0, rules=1000)
    assert starts[0] == pytest.approx(0.1)
    # 0.2-0.35 batched into one sync, min_sync_period after the first *ended* (the runner's cooldown)
    assert starts[1] == pytest.approx(ends[0] + config.min_sync_period) and ends[0] > starts[0]
    assert np.all(starts[1:] - ends[:-1] >= config.min_sync_period - 1e-12)
    assert np.all(np.diff(starts) <= config.sync_period + 1e-12)
    assert np.all(starts[1:] >= ends[:-1])
    assert len(starts) < len(changes) + 100 / 30 + 1
