"""Every experiment in ``experiments/`` runs (style.md §7: examples run).

Each file is run through the real command line, shortened with ``--set``, into
a temporary folder. New files are picked up by the glob, so an example that
stops working fails here, not in a user's hands.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from netsim.cli import main
from netsim.config import load_experiment, parse_set

EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.y*ml"))
SHORT = ["run.duration=2s", "run.warmup=0.5s", "run.replications=1"]


def test_there_are_experiments():
    assert any(path.name == "quickstart.yaml" for path in EXPERIMENTS)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_runs(path, tmp_path, capsys):
    sets = [arg for s in SHORT for arg in ("--set", s)]
    code = main(["run", str(path), *sets, "-o", str(tmp_path / "out"), "--quiet"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err
    for name in ("summary.csv", "runs.csv", "pods.csv", "manifest.json"):
        assert (tmp_path / "out" / name).is_file(), name

    spec = load_experiment(path, [parse_set(s) for s in SHORT])
    expected = {(s.name, c.name, c.service) for s in spec.scenarios for c in s.clients}
    with open(tmp_path / "out" / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(expected), "one row per scenario x client x service"
    assert {(r["scenario"], r["client"], r["service"]) for r in rows} == expected
    for row in rows:
        assert int(row["requests"]) > 0, row
        assert int(row["replications"]) == 1


def test_no_experiment_reads_a_file_outside_the_repository():
    """A user clones only this repository: every file an experiment reads lies inside it."""
    repo = Path(__file__).resolve().parents[1]
    for path in EXPERIMENTS:
        spec_files = load_experiment(path, [parse_set(s) for s in SHORT]).scenarios[0].config.get("manifest_files", [])
        for name in spec_files:
            resolved = (path.parent / name).resolve()
            assert resolved.is_relative_to(repo), f"{path.name} reads {name}, outside the repository"
            assert resolved.is_file(), f"{path.name} reads {name}, which does not exist"
