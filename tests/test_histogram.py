"""Log-bucket latency histograms: percentiles within the documented relative error of the exact ones."""

from __future__ import annotations

import numpy as np
import pytest

from netsim import histogram


@pytest.mark.parametrize("draw", [
    lambda rng, n: rng.exponential(0.01, n),
    lambda rng, n: rng.lognormal(np.log(0.002), 1.5, n),
    lambda rng, n: 1e-5 + rng.pareto(1.5, n) * 1e-3,
    lambda rng, n: rng.uniform(0.0495, 0.0505, n),  # a narrow spread: every value in a few buckets
])
def test_percentiles_are_within_the_bound_of_the_exact_nearest_rank(draw) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    values = draw(rng, 200_000)
    hist = histogram.counts(values)
    qs = [0.5, 0.9, 0.99, 0.999]
    exact = np.sort(values)[np.ceil(np.asarray(qs) * values.size).astype(int) - 1]  # nearest rank
    got = histogram.quantiles(hist, qs)
    assert np.all(np.abs(got / exact - 1) <= histogram.MAX_RELATIVE_ERROR + 1e-12), got / exact - 1
    assert histogram.MAX_RELATIVE_ERROR <= 0.005


def test_histograms_add_and_empty_ones_have_no_percentiles() -> None:
    a, b = np.array([0.001, 0.002]), np.array([0.003])
    assert np.array_equal(histogram.counts(a) + histogram.counts(b), histogram.counts(np.concatenate([a, b])))
    assert np.isnan(histogram.quantiles(np.zeros(histogram.BUCKETS, dtype=np.int64), [0.5])).all()
    assert histogram.quantiles(histogram.counts(np.array([1e-12, 1e9])), [0.0, 1.0]).tolist() == pytest.approx(
        [histogram.LOW * histogram.RATIO ** 0.5, histogram.LOW * histogram.RATIO ** (histogram.BUCKETS - 0.5)])
