"""The report's application figures: breakdown bars add up to the mean latency, the call graph reads left to right."""

from __future__ import annotations

import numpy as np
import pandas as pd

from netsim.plots_calls import breakdown_bars, call_graph, call_rates, layers


def test_layers_follow_the_longest_chain_of_calls() -> None:
    """A diamond with a shortcut (a→c and a→b→c): c sits after b, not beside it."""
    edges = pd.DataFrame({"caller": ["load", "a", "a", "b"], "service": ["a", "b", "c", "c"]})
    assert layers(edges) == {"load": 0, "a": 1, "b": 2, "c": 3}


def test_call_rates_divide_totals_by_every_replication_s_window() -> None:
    edges = pd.DataFrame({"scenario": ["s", "t"], "calls": [8000, 300], "replications": [2, 3]})
    np.testing.assert_allclose(call_rates(edges, {"s": 5.0, "t": 10.0}), [800.0, 10.0])


def test_breakdown_bars_are_as_long_as_the_mean_latency() -> None:
    """Each stacked bar's segments sum to the latency_mean_ms column (measured from latencies, not from the parts)."""
    rows = []
    for scenario, parts, mean in (("a", {"network": 1.0, "queueing": 2.0, "work": 3.0}, 6.0),
                                  ("b", {"network": 0.5, "dns": 0.25, "work": 3.0}, 3.75)):
        rows += [{"scenario": scenario, "client": "load", "operation": "default", "component": c, "ms": v,
                  "latency_mean_ms": mean} for c, v in parts.items()]
    figure = breakdown_bars(pd.DataFrame(rows), ["a", "b"])
    ax = figure.axes[0]
    totals: dict[float, float] = {}
    for patch in ax.patches:
        y = round(patch.get_y() + patch.get_height() / 2, 6)
        totals[y] = totals.get(y, 0.0) + patch.get_width()
    assert sorted(totals.values()) == [3.75, 6.0]
    assert {t.get_text() for t in figure.legends[0].get_texts()} == {"network", "DNS", "queueing for a worker", "work"}


def test_call_graph_skips_a_single_hop_and_draws_an_application() -> None:
    one = pd.DataFrame({"scenario": ["s"], "caller": ["load"], "caller_kind": ["client"], "service": ["web"],
                        "operation": ["default"], "calls": [10], "replications": [1], "latency_p99_ms": [1.0]})
    assert call_graph(one, "s", {"s": 1.0}) is None
    app = pd.concat([one, one.assign(caller="web", caller_kind="Deployment", service="db")])
    figure = call_graph(app, "s", {"s": 1.0})
    texts = {t.get_text() for t in figure.axes[0].texts}
    assert {"load", "web", "db"} <= texts and any("10/s" in t for t in texts)
