"""``netsim verify``: the quick table passes, its statistics keep their promise, docs/validation.md is current.

The quick table is the simulator against queueing theory (netsim/verify/analytic.py):
each line compares a figure of the public tables with its exact reference within
the run's own standard error, so a slower pod, a wrong queue limit or a broken
routing rule fails a line here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netsim.cli import main
from netsim.verify import registry
from netsim.verify.registry import Case, Check
from netsim.verify.runner import TABLE_TITLES, planned_rows, verify
from netsim.verify.statistics import FAMILY_ALPHA, judge, z_limit
from netsim.verify.tables import cells, console, parse_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "validation.md"


def test_quick_table_passes() -> None:
    report = verify("quick", ("analytic",), jobs=2)
    keys = {row.key for row in report.rows}
    assert {"mm1", "mmc", "mmck", "md1", "mg1-gamma", "mg1-lognormal", "ekm1", "random", "local-shares",
            "keepalive-10", "timeout-tail"} <= keys
    assert report.passed, "\n" + console(report.rows, "quick validation table")


def test_the_limit_fails_a_correct_table_at_most_alpha_of_the_time() -> None:
    """Tables of m lines, each the mean of R normal replications around the truth: at most ~1 % fail anywhere."""
    rng = np.random.default_rng(3)
    tables, lines, reps = 3000, 20, 16
    values = rng.normal(0.0, 1.0, (tables, lines, reps))
    mean = values.mean(axis=2)
    se = values.std(axis=2, ddof=1) / np.sqrt(reps)
    failed = (np.abs(mean / se) > z_limit(reps - 1, lines)).any(axis=1).mean()
    assert failed <= FAMILY_ALPHA + 3 * np.sqrt(FAMILY_ALPHA / tables)
    assert failed >= FAMILY_ALPHA / 3  # and the limit is not so wide that nothing ever fails


def test_judge_two_sided_bound_and_published_uncertainty() -> None:
    x = np.array([1.0, 1.2, 0.8, 1.1, 0.9])
    se = x.std(ddof=1) / np.sqrt(x.size)
    v = judge(x, 0.5, "=", lines=1)
    assert v.z == pytest.approx((1.0 - 0.5) / se) and not v.passed
    assert judge(x, 1.0, "=", lines=1).passed
    # a published reference's uncertainty widens the spread and so shrinks z
    assert abs(judge(x, 0.5, "=", lines=1, reference_sd=0.5).z) < abs(v.z)
    # a bound passes only when the upper end of the 95 % interval is inside it
    assert judge(x, 2.0, "<=", lines=1).passed
    assert not judge(x, 1.05, "<=", lines=1).passed
    assert not judge(np.array([1.0]), 1.0, "=", lines=1).passed  # one replication has no error estimate


def test_docs_validation_md_is_current() -> None:
    """Case list, parameters, quantities, references and run sizes in docs/validation.md match the registry.

    Recomputed here without simulating; regenerate with ``netsim verify --published -o docs/``.
    """
    text = DOC.read_text(encoding="utf-8")
    planned = planned_rows("full", ("analytic", "published"))
    for table in ("analytic", "published"):
        section = text.split(f"## {TABLE_TITLES[table]}\n", 1)[1].split("\n## ", 1)[0]
        written = [[line[0], line[1], line[2], line[3], line[7]] for line in parse_markdown(section)]
        expected = []
        for row in (r for r in planned if r.table == table):
            c = cells(row)
            expected.append([row.case, row.parameters, c[2], c[3], c[7]])
        assert written == expected, f"docs/validation.md is stale ({table}): run netsim verify --published -o docs/"
    for entry in registry.entries():
        case = entry.build("full")
        assert case.formula in text and case.source in text, f"{entry.key}: formula or source missing from docs/validation.md"


def _broken(size: registry.Size) -> Case:
    good = registry.entry("local-shares").build(size)
    return Case("broken", "a pod share that is not 1/2", (Check("share of pod 3", 0.4),), good.experiment,
                lambda r: [good.measure(r)[2]], "none", "none")


def test_cli_writes_the_table_and_exits_1_on_a_failed_line(tmp_path, capsys) -> None:
    code = main(["verify", "--quick", "--case", "local-shares", "-o", str(tmp_path)])
    out, _ = capsys.readouterr()
    assert code == 0 and "externalTrafficPolicy: Local shares" in out and "3 of 3 lines pass" in out
    assert (tmp_path / "validation.md").read_text().count("| externalTrafficPolicy") == 1
    assert (tmp_path / "validation.csv").read_text().count("local-shares") == 3
    registry.register("test-broken", quick=False)(_broken)
    try:
        code = main(["verify", "--quick", "--case", "test-broken"])
    finally:
        del registry._REGISTRY["test-broken"]
    out, _ = capsys.readouterr()
    assert code == 1 and "FAIL" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--jobs", "0"], "--jobs: must be 1 or more"),
    (["--case", "mm2"], "--case: no validation case 'mm2'"),
])
def test_cli_bad_input(argv, message, capsys) -> None:
    assert main(["verify", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("size", ["quick", "full"])
def test_p99_cases_use_windows_of_at_least_r_seconds(size: registry.Size) -> None:
    """A window's p99 is biased low ~1/T while the SE over R replications is ~1/√(RT): T ≥ R keeps bias ≲ SE/4."""
    for entry in registry.entries("analytic"):
        case = entry.build(size)
        if any("p99" in c.quantity for c in case.checks):
            assert case.duration_s >= case.replications, entry.key
