"""The indexes that make large clusters cheap choose exactly what the scans they replace chose."""

from __future__ import annotations

import random
import types

from netsim.k8s.selectors import LabelIndex, matches_equality
from netsim.model.scheduler import feasible_nodes, place_pods


def _scan(deployments, nodes):  # type: ignore[no-untyped-def]
    """The scheduler's scoring read literally: fewest own pods, then fewest pods, then node order."""
    total, out = [0] * len(nodes), []
    for d in deployments:
        own, candidates = [0] * len(nodes), feasible_nodes(d, nodes)
        for r in range(d.replicas):
            if not candidates:
                break
            n = min(candidates, key=lambda i: (own[i], total[i], i))
            own[n] += 1
            total[n] += 1
            out.append((d.name, f"{d.name}-{r + 1}", n))
    return out


def test_heap_placement_equals_the_scan() -> None:
    rng = random.Random(1)
    for _ in range(300):
        nodes = [types.SimpleNamespace(name=f"n{i}", labels={"zone": str(i % 3)}) for i in range(rng.randint(1, 12))]
        deployments = [
            types.SimpleNamespace(name=f"d{k}", replicas=rng.randint(0, 20), node_name=None,
                                  node_selector={"zone": "1"} if rng.random() < 0.3 else {},
                                  pod_name=lambda n, k=k: f"d{k}-{n}")
            for k in range(rng.randint(1, 8))
        ]
        placed = [(p.deployment, p.name, p.node) for p in place_pods(deployments, nodes)[0]]
        assert placed == _scan(deployments, nodes)


def test_label_index_finds_what_matching_every_item_finds() -> None:
    rng = random.Random(2)
    keys, values = ["app", "tier", "zone"], ["a", "b", "c"]
    items = [{k: rng.choice(values) for k in rng.sample(keys, rng.randint(0, 3))} for _ in range(200)]
    index = LabelIndex()
    for i, labels in enumerate(items):
        index.add(i, labels)
    for _ in range(100):
        selector = {k: rng.choice(values) for k in rng.sample(keys, rng.randint(1, 3))}
        assert index.having(selector) == [i for i, labels in enumerate(items) if matches_equality(selector, labels)]
        touching = index.touching(selector)
        assert set(index.having(selector)) <= set(touching)
        assert all(any(labels.get(k) == v for k, v in selector.items()) for labels in (items[i] for i in touching))
