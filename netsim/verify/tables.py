"""The validation table as text: a console table, a markdown table, a tidy CSV frame.

One formatting of each cell (:func:`cells`) serves all three, so docs/validation.md,
the console and the staleness test read the same strings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from netsim.verify.runner import Row

HEADER = ("case", "parameters", "quantity", "reference", "simulation ± 95 % CI", "z", "limit", "runs", "result")
"""``limit``: the largest |z| that passes (a bound line: its 95 % interval must stay within the reference)."""


def number(x: float) -> str:
    """Four significant digits, plain notation where it reads better."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x == 0:
        return "0"
    if 1e-4 <= abs(x) < 1e6:
        text = f"{x:.4g}"
        return text if "e" not in text else f"{x:.4f}"
    return f"{x:.4g}"


def reference_cell(row: Row) -> str:
    return ("≤ " if row.relation == "<=" else "") + number(row.reference)


def runs_cell(row: Row) -> str:
    return f"{row.replications} × {row.duration_s:g} s"


def cells(row: Row) -> list[str]:
    """The row's cells, in :data:`HEADER` order."""
    v = row.verdict
    if row.error or v is None:
        measured = ["—", "—", "—"]
        result = "ERROR"
    else:
        measured = [
            f"{number(v.mean)} ± {number(v.ci95)}",
            "—" if row.relation == "<=" else f"{v.z:+.2f}" if math.isfinite(v.z) else str(v.z),
            ("CI ≤ ref" if row.relation == "<=" else f"{v.limit:.2f}"),
        ]
        result = "pass" if v.passed else "FAIL"
    return [row.case, row.parameters, row.quantity, reference_cell(row), *measured, runs_cell(row), result]


def _grouped(rows: Sequence[Row]) -> list[list[str]]:
    """Cells, with a case's name and parameters written on its first line only."""
    out = []
    previous = None
    for row in rows:
        line = cells(row)
        if row.key == previous:
            line[0] = line[1] = ""
        previous = row.key
        out.append(line)
    return out


def console(rows: Sequence[Row], title: str) -> str:
    lines = [list(HEADER), *_grouped(rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    text = [title, "  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True)).rstrip()]
    text.append("  ".join("-" * w for w in widths))
    text += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines[1:]]
    return "\n".join(text)


def markdown(rows: Sequence[Row]) -> str:
    def escape(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(escape(c) for c in line) + " |" for line in _grouped(rows)]
    return "\n".join(lines)


def parse_markdown(text: str) -> list[list[str]]:
    """The cells of a table written by :func:`markdown`, names and parameters carried down (for tests)."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith("| case |"):
            continue
        parts = [p.strip().replace("\\|", "|") for p in _split_cells(line)]
        if rows and not parts[0] and not parts[1]:
            parts[0], parts[1] = rows[-1][0], rows[-1][1]
        rows.append(parts)
    return rows


def _split_cells(line: str) -> list[str]:
    cells_: list[str] = []
    current = ""
    escaped = False
    for ch in line.strip()[1:-1]:
        if ch == "|" and not escaped:
            cells_.append(current)
            current = ""
        else:
            current += ch
        escaped = ch == "\\"
    cells_.append(current)
    return cells_


def frame_rows(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Tidy records for validation.csv: one per line, numbers unformatted."""
    out = []
    for row in rows:
        v = row.verdict
        out.append({
            "table": row.table, "case_key": row.key, "case": row.case, "parameters": row.parameters,
            "quantity": row.quantity, "relation": row.relation, "reference": row.reference,
            "replications": row.replications, "duration_s": row.duration_s,
            "mean": v.mean if v else math.nan, "ci95": v.ci95 if v else math.nan, "se": v.se if v else math.nan,
            "z": v.z if v else math.nan, "z_limit": v.limit if v else math.nan,
            "passed": row.passed, "error": row.error.splitlines()[0] if row.error else "",
        })
    return out
