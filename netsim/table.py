"""A small tidy table that a run can write without pandas: rows in, CSV bytes out, a DataFrame on request.

Importing pandas costs a short ``netsim run`` about a third of its time, and the
run itself needs no DataFrame: its tables are a few hundred rows built from the
tally. :class:`Table` holds the rows and writes them exactly as
``pandas.DataFrame(rows, columns=columns).to_csv(index=False, lineterminator="\\n")``
would (the results' files are read back by ``netsim check``, compared by baselines
and diffed by users: not a byte may change). Two things decide pandas' bytes:

- the **kind** of each column, which pandas infers from its values
  (:func:`infer_kind`): whole numbers are ``int`` (written ``3``); numbers with a
  missing value or a fraction are ``float`` (``3.0``, NaN written empty);
  ``True``/``False`` alone are ``bool``; anything else is ``object`` (each value
  by ``str``, missing ones empty);
- how a float is spelt: numpy's ``astype(str)`` (shortest round-trip digits),
  which is what pandas calls, so it is called here too.

Quoting is the standard library's ``csv`` writer, as in pandas. A notebook or the
report gets ``Table.to_frame()``: the DataFrame those rows always made.
tests/test_table.py checks the bytes against pandas on awkward values.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

INT, FLOAT, BOOL, OBJECT = "int", "float", "bool", "object"
_ABSENT = object()
"""A row without the column: pandas fills it with NaN (a float)."""


def is_missing(value: Any) -> bool:
    """None or NaN: what pandas writes as an empty field and leaves out of means."""
    return value is None or value is _ABSENT or (isinstance(value, float) and math.isnan(value))


def infer_kind(values: Iterable[Any]) -> str:
    """The dtype pandas gives a column of these Python values (``DataFrame(list_of_dicts)``)."""
    ints = floats = bools = nones = others = 0
    for v in values:
        if v is None:
            nones += 1
        elif v is _ABSENT:
            floats += 1  # NaN
        elif isinstance(v, bool | np.bool_):
            bools += 1
        elif isinstance(v, int | np.integer):
            ints += 1
        elif isinstance(v, float | np.floating):
            floats += 1
        else:
            others += 1
    if others:
        return OBJECT
    if bools:
        return BOOL if not (ints or floats or nones) else OBJECT
    if floats or (ints and nones):
        return FLOAT
    if ints:
        return INT
    return OBJECT  # empty, or every value None


class Table:
    """Columns and rows (mappings); a row may lack a column (NaN there, as in pandas).

    Args:
        columns: the column names, in order; keys of a row not among them are ignored.
        rows: the rows, each a mapping from column name to a plain Python value.
        kinds: the kind of some columns when known (a table read from a DataFrame); the rest are inferred.
    """

    def __init__(self, columns: Sequence[str], rows: Sequence[Mapping[str, Any]] = (),
                 kinds: Mapping[str, str] | None = None) -> None:
        self.columns = list(columns)
        self.rows = list(rows)
        self._kinds = dict(kinds or {})
        self._frame: pd.DataFrame | None = None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Table:
        """A DataFrame's columns, rows and dtypes (the kinds are its dtypes, not inferred again)."""
        import pandas as pd

        kinds = {}
        for column in frame.columns:
            dtype = frame[column].dtype
            kinds[column] = (BOOL if pd.api.types.is_bool_dtype(dtype) else INT if pd.api.types.is_integer_dtype(dtype)
                             else FLOAT if pd.api.types.is_float_dtype(dtype) else OBJECT)
        table = cls([str(c) for c in frame.columns], frame.to_dict("records"), kinds)
        table._frame = frame
        return table

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def empty(self) -> bool:
        """No rows (or no columns), as ``DataFrame.empty``."""
        return not self.rows or not self.columns

    def __contains__(self, column: object) -> bool:
        return column in self.columns

    def column(self, name: str) -> list[Any]:
        """The column's values, top to bottom (None where a row lacks it)."""
        return [row.get(name) for row in self.rows]

    def kind(self, name: str) -> str:
        """``int``, ``float``, ``bool`` or ``object``: the dtype pandas gives the column."""
        kind = self._kinds.get(name)
        if kind is None:
            kind = self._kinds[name] = infer_kind(row.get(name, _ABSENT) for row in self.rows)
        return kind

    def cell(self, row: Mapping[str, Any], name: str) -> Any:
        """``row``'s value of ``name`` as the column holds it in pandas (``iloc``): a whole number in a float column
        is a float, a missing one NaN; what a new table made from it infers follows the old column's kind."""
        value = row.get(name, _ABSENT)
        kind = self.kind(name)
        if kind == FLOAT:
            return float("nan") if is_missing(value) else float(value)
        if value is _ABSENT:
            return float("nan")
        return value

    def is_numeric(self, name: str) -> bool:
        """pandas' ``is_numeric_dtype``: booleans count."""
        return self.kind(name) in (INT, FLOAT, BOOL)

    def to_csv(self) -> bytes:
        """``to_csv(index=False, lineterminator="\\n")`` of :meth:`to_frame`, without pandas."""
        cells = [self._cells(name) for name in self.columns]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        if not self.columns:
            return b"\n" if not self.rows else ("\n" * (len(self.rows) + 1)).encode()
        writer.writerow(self.columns)
        writer.writerows(zip(*cells, strict=True))
        return out.getvalue().encode()

    def _cells(self, name: str) -> list[Any]:
        """What pandas hands the csv writer for a column (pandas' ``get_values_for_csv``)."""
        values = [row.get(name, _ABSENT) for row in self.rows]
        kind = self.kind(name)
        if kind == FLOAT:
            array = np.array([np.nan if is_missing(v) else v for v in values], dtype=np.float64)
            text = array.astype(str).tolist()
            return ["" if math.isnan(x) else t for x, t in zip(array.tolist(), text, strict=True)]
        if kind == INT:
            return [int(v) for v in values]
        if kind == BOOL:
            return [bool(v) for v in values]
        return ["" if is_missing(v) else v.item() if isinstance(v, np.generic) else v for v in values]

    def to_frame(self) -> pd.DataFrame:
        """The rows as a DataFrame (built once; the same frame ``pd.DataFrame(rows, columns=columns)`` makes)."""
        if self._frame is None:
            import pandas as pd

            self._frame = pd.DataFrame(self.rows, columns=self.columns)
        return self._frame


def as_table(data: Table | pd.DataFrame) -> Table:
    """A Table for either a Table or a DataFrame (functions that serve the run and notebooks take both)."""
    return data if isinstance(data, Table) else Table.from_frame(data)


def group_rows(rows: Iterable[Mapping[str, Any]], keys: Sequence[str], dropna: bool = True) -> dict[tuple[Any, ...], list[Mapping[str, Any]]]:
    """Rows by their values of ``keys``, groups in order of first appearance: ``groupby(keys, sort=False)``.

    Missing values (None, NaN) form one group with ``dropna=False`` and are left out otherwise;
    a group's key holds its first row's values.
    """
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    first: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in rows:
        values = tuple(row.get(k) for k in keys)
        if dropna and any(is_missing(v) for v in values):
            continue
        norm = tuple(None if is_missing(v) else v for v in values)
        key = first.setdefault(norm, values)
        groups.setdefault(key, []).append(row)
    return groups


def nanmean(values: Iterable[Any]) -> float:
    """pandas' ``Series.mean()`` of float values, bit for bit: NaN and None skipped, numpy's pairwise sum ÷ count."""
    x = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if x.size == 0:
        return float("nan")
    mask = np.isnan(x)
    x[mask] = 0.0
    count = float(x.size - int(mask.sum()))
    return float(x.sum() / count) if count > 0 else float("nan")

