"""netsim.table writes the bytes pandas' to_csv writes, and aggregates as pandas does, without importing pandas.

pandas is the reference here (the results' files were always written by it): every
check builds the same rows into a DataFrame and compares.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsim.table import Table, group_rows, infer_kind, nanmean

AWKWARD_FLOATS = [0.1, 1 / 3, 1e16, 1e15, 123456789012345.6, 1e-5, 1e-4, 5e-324, 1.7976931348623157e308, -0.0, 0.0,
                  2.5, 3.0, -1e-300, 1e22, 0.000123456789, float("inf"), float("-inf"), float("nan"), 100.0, 1e100]
AWKWARD_TEXT = ["plain", "with,comma", 'with "quotes"', "new\nline", "", " space ", "naïve", "a;b", "'single'"]


def pandas_csv(rows: list[dict], columns: list[str]) -> bytes:
    return pd.DataFrame(rows, columns=columns).to_csv(index=False, lineterminator="\n").encode()


COLUMNS = {
    "ints": [1, 2, -3, 0, 10**15],
    "ints_and_none": [1, None, 3, 4, 5],
    "ints_as_floats": [1, 2.0, 3, 4, 5],
    "floats": AWKWARD_FLOATS[:5],
    "floats_and_none": [None, 0.1, float("nan"), 2.0, 1e-7],
    "bools": [True, False, True, True, False],
    "bools_and_none": [True, None, False, True, True],
    "text": AWKWARD_TEXT[:5],
    "text_and_none": ["a", None, "b,c", float("nan"), '"q"'],
    "text_and_numbers": ["a", 1, 2.5, True, None],
    "all_none": [None] * 5,
}


@pytest.mark.parametrize("name", list(COLUMNS))
def test_each_kind_of_column_is_written_as_pandas_writes_it(name: str) -> None:
    rows = [{"k": i, name: v} for i, v in enumerate(COLUMNS[name])]
    assert Table(["k", name], rows).to_csv() == pandas_csv(rows, ["k", name])
    assert infer_kind(COLUMNS[name]) == _kind_of(pd.DataFrame(rows, columns=["k", name])[name])


def _kind_of(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    return "float" if pd.api.types.is_float_dtype(series) else "object"


def test_awkward_floats_and_text_and_absent_keys() -> None:
    rows = [{"x": x, "t": AWKWARD_TEXT[i % len(AWKWARD_TEXT)]} for i, x in enumerate(AWKWARD_FLOATS)]
    rows[3].pop("x")  # a row without the column: NaN, as pandas fills it
    rows.append({"t": "only"})
    columns = ["t", "x", "never"]
    assert Table(columns, rows).to_csv() == pandas_csv(rows, columns)


def test_empty_tables() -> None:
    assert Table(["a", "b"], []).to_csv() == pandas_csv([], ["a", "b"])
    assert Table(["only"], [{"only": ""}, {"only": None}]).to_csv() == pandas_csv([{"only": ""}, {"only": None}], ["only"])


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**62), 2**62), st.floats(allow_nan=True, allow_infinity=True),
                    st.floats(min_value=-1e6, max_value=1e6).map(lambda x: round(x, 3)), st.text(max_size=6))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(scalars, scalars, st.integers(0, 5), st.floats(allow_nan=True)), min_size=0, max_size=12))
def test_any_rows_give_pandas_bytes(data: list[tuple]) -> None:
    rows = [{"a": a, "b": b, "n": n, "f": f} for a, b, n, f in data]
    columns = ["a", "b", "n", "f"]
    assert Table(columns, rows).to_csv() == pandas_csv(rows, columns)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.just(float("nan")), st.floats(min_value=-1e12, max_value=1e12)), max_size=40))
def test_means_are_pandas_means_bit_for_bit(values: list) -> None:
    series = pd.Series(np.array([np.nan if v is None else v for v in values], dtype=float))
    expected = float(series.mean())
    got = nanmean(values)
    assert got == expected or (math.isnan(got) and math.isnan(expected))


def test_groups_come_in_order_of_first_appearance_with_missing_keys() -> None:
    rows = [{"k": "b", "p": 1.0}, {"k": "a", "p": None}, {"k": "b", "p": 1.0}, {"k": "a", "p": float("nan")}, {"k": None, "p": 2.0}]
    frame = pd.DataFrame(rows)
    for dropna in (True, False):
        expected = [len(g) for _, g in frame.groupby(["k", "p"], sort=False, dropna=dropna)]
        assert [len(g) for g in group_rows(rows, ["k", "p"], dropna=dropna).values()] == expected


@pytest.mark.parametrize("values", [[1e16, 1.0, 1.0, 1.0, -1e16], [0.1] * 9 + [1e16, 3.0, -1e16, None], [1 / 3] * 17 + [2e15] * 3,
    [-5100000.0, -16000000000000.0, 0.0017, 1100000000.0, -1200000000000.0, -680000000000.0, -7200000000000.0, -0.94,
     -9800000.0, 950000000000.0, 360.0, -0.51]])
def test_means_where_the_order_of_summing_shows(values: list) -> None:
    """Values where sequential and pairwise sums differ: the mean must be pandas' own (``Series.mean``)."""
    series = pd.Series(np.array([np.nan if v is None else v for v in values], dtype=float))
    assert nanmean(values) == float(series.mean())


def _pandas_format_summary(summary: pd.DataFrame) -> str:
    """netsim's console summary as it was made with pandas (the reference for the pandas-free one)."""
    from netsim.humanize import integer, number, percent

    columns = {
        "scenario": "scenario", "client": "client", "service": "service", "service_type": "type",
        "requests": "requests", "errors": "errors", "error_rate": "error %", "latency_mean_ms": "mean ms",
        "latency_p50_ms": "p50 ms", "latency_p99_ms": "p99 ms", "pod_load_cv": "load cv",
    }
    table = summary[[c for c in columns if c in summary]].rename(columns=columns)
    for column, fmt in (("requests", integer), ("errors", integer), ("error %", percent)):
        if column in table:
            table[column] = table[column].map(fmt)
    for column in ("mean ms", "p50 ms", "p99 ms", "load cv"):
        if column in table:
            table[column] = table[column].map(number)
    return table.to_string(index=False)


names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["C", "Z"]), min_size=1, max_size=12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(names, names, st.integers(0, 10**7), st.floats(0, 1), st.one_of(st.none(), st.floats(0, 1e4)),
                          st.floats(0, 3)), min_size=1, max_size=5))
def test_the_console_summary_is_laid_out_as_pandas_did(data: list[tuple]) -> None:
    from netsim.cli import format_summary

    rows = [{"scenario": s, "client": c, "service": "web", "service_type": "ClusterIP", "requests": n, "errors": n // 3,
             "error_rate": e, "latency_mean_ms": m, "latency_p50_ms": m, "latency_p99_ms": m, "pod_load_cv": cv}
            for s, c, n, e, m, cv in data]
    frame = pd.DataFrame(rows)
    assert format_summary(Table(list(frame.columns), rows)) == _pandas_format_summary(frame)
    assert format_summary(frame) == _pandas_format_summary(frame)
