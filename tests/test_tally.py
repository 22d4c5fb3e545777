"""The tally (netsim/tally.py): per-run figures folded as requests finish agree with the same figures
computed directly from every request's row, and its memory does not grow with the requests."""

from __future__ import annotations

import numpy as np
import pytest

from netsim import histogram, metrics
from netsim.model.request import Outcome
from netsim.recorder import REQUEST_SCHEMA, Recorder, pack_row
from netsim.tally import RequestTally
from tests.builders import experiment, simulate_one

NETWORK = {"same_node": "50us", "same_zone": "200us", "cross_zone": "1ms", "internet": "10ms"}


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    config = experiment(replicas=5, concurrency=2, mean_service=0.004, rate=400.0, duration=20.0, warmup=2.0,
                        nodes={"count": 4, "zones": ["a", "b"]}, network=NETWORK)
    config["workloads"]["default"]["queue_limit"] = 3  # some rejections: errors counted apart from latencies
    return simulate_one(config)


def test_run_figures_match_the_requests_rows(result) -> None:  # type: ignore[no-untyped-def]
    req = result.requests
    measured = result.measured()
    ok = measured & (req["outcome"] == Outcome.OK)
    row = metrics.run_rows(result)[0]
    assert row["requests"] == int(measured.sum()) and row["errors"] == int((measured & ~ok).sum()) > 0
    ms = np.sort(req["latency_s"][ok]) * 1000.0
    assert row["latency_mean_ms"] == pytest.approx(ms.mean(), rel=1e-9)
    for q, column in [(0.5, "latency_p50_ms"), (0.99, "latency_p99_ms"), (0.999, "latency_p999_ms")]:
        exact = ms[int(np.ceil(q * ms.size)) - 1]  # nearest rank
        assert abs(row[column] / exact - 1) <= histogram.MAX_RELATIVE_ERROR + 1e-12, column
    pod_node = np.array([[n["name"] for n in result.nodes].index(p["node"]) for p in result.pods])
    crossed = pod_node[req["pod"][ok]] != req["entry_node"][ok]
    assert row["cross_node_fraction"] == pytest.approx(crossed.mean(), rel=1e-12) and 0 < crossed.mean() < 1
    done = req["t_issue_s"] + req["latency_s"]
    completed = (req["outcome"] == Outcome.OK) & (done >= result.window[0]) & (done < result.window[1])
    assert row["throughput_rps"] == pytest.approx(completed.sum() / (result.window[1] - result.window[0]))
    served = {r["pod"]: r["requests"] for r in metrics.pod_rows(result)}
    names = [p["name"] for p in result.pods]
    assert served == {names[p]: int(n) for p, n in enumerate(np.bincount(req["pod"][ok], minlength=len(names)))}


def _block(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    block = {name: np.zeros(n, dtype=dtype) for name, dtype in REQUEST_SCHEMA.items()}
    block["client"] = rng.integers(0, 3, n).astype(np.int16)
    block["service"] = rng.integers(0, 2, n).astype(np.int16)
    block["pod"] = rng.integers(-1, 6, n).astype(np.int32)
    block["entry_node"] = rng.integers(0, 3, n).astype(np.int16)
    block["t_issue_s"] = rng.uniform(0, 10, n)
    block["latency_s"] = rng.lognormal(np.log(0.003), 1.0, n)
    block["outcome"] = np.where(rng.random(n) < 0.9, 0, rng.integers(1, 9, n)).astype(np.int8)
    block["connection"] = np.where(rng.random(n) < 0.5, -1, rng.integers(0, 20, n))
    block["queueing_s"] = np.where(rng.random(n) < 0.5, -1.0, 0.001)
    return block


def _tally() -> RequestTally:
    return RequestTally(3, 2, 1, (1.0, 9.0), [0, 0, 1], lambda: [0, 1, 2, 0, 1, 2], timeline_end=10.0)


def test_folding_in_pieces_equals_folding_at_once() -> None:
    block = _block(np.random.default_rng(5), 50_000)
    whole, pieces = _tally(), _tally()
    whole.fold(block)
    for cut in np.array_split(np.arange(50_000), 7):
        pieces.fold({name: col[cut] for name, col in block.items()})
    a, b = whole.figures(), pieces.figures()
    order_a, order_b = np.argsort(a["group_keys"]), np.argsort(b["group_keys"])
    for name in ("outcomes", "histogram", "latency_bins"):
        assert np.array_equal(a[name][order_a], b[name][order_b]), name
    np.testing.assert_allclose(a["scalars"][order_a], b["scalars"][order_b], rtol=1e-12)
    for name in ("pod_keys", "pod_values", "connections", "timeline_keys", "timeline_values", "timeline_hist_values"):
        assert np.array_equal(a[name], b[name]), name


def test_memory_does_not_grow_with_the_requests() -> None:
    rng = np.random.default_rng(6)
    sizes = []
    for n in (20_000, 200_000):
        recorder = Recorder(_tally(), keep=False)
        for _ in range(n // 20_000):
            recorder.extend(_block(rng, 20_000))
        figures = recorder.tally.figures()
        assert len(recorder) == n and figures["recorded"] == n
        assert all(col.size == 0 for col in recorder.columns().values())  # no row kept
        sizes.append(sum(v.nbytes for v in figures.values() if isinstance(v, np.ndarray)))
    # ten times the requests: the dense parts stay, the sparse ones gain only newly occupied latency buckets
    row_bytes = sum(np.dtype(d).itemsize for d in REQUEST_SCHEMA.values())
    assert sizes[1] < 1.5 * sizes[0] and sizes[1] < 20_000 * row_bytes


def test_rows_and_columns_end_in_the_same_tally() -> None:
    block = _block(np.random.default_rng(7), 30_000)
    by_rows, by_columns = Recorder(_tally()), Recorder(_tally())
    names = list(REQUEST_SCHEMA)
    by_rows.rows.extend(pack_row(*row) for row in zip(*(block[name].tolist() for name in names), strict=True))
    by_rows.flush(force=True)
    by_columns.extend(block)
    for name in names:
        np.testing.assert_array_equal(by_rows.columns()[name], by_columns.columns()[name])
    a, b = by_rows.tally.figures(), by_columns.tally.figures()
    assert np.array_equal(a["histogram"], b["histogram"]) and np.array_equal(a["pod_values"], b["pod_values"])


def test_the_t_table_is_scipys() -> None:
    from scipy import stats

    assert [metrics.t975(df) for df in range(1, 40)] == [float(stats.t.ppf(0.975, df)) for df in range(1, 40)]
