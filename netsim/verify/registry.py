"""The validation cases: what each one simulates, which figures it checks, and against what.

A case is a function of the run size (``"quick"`` or ``"full"``) that returns a
:class:`Case`: an experiment mapping for :func:`netsim.run_experiment` (exact
queueing models: zero network and DNS latency), the figures to check with their
references (theory, or a published measurement), and how to read each figure's
per-replication values from the run's ``Results.runs`` / ``Results.pods``
tables. Cases never reach into the model: only the public tables are read, so
the engine can change underneath them.

Adding a case (e.g. the call-graph references: tandem/Jackson, held-worker
M/G/1, fork-join) is writing one function in a module of this package and
decorating it with :func:`register`; the module goes in :data:`CASE_MODULES`.
The command, the table, the CSV, docs/validation.md and its staleness test pick
it up from here.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Size = Literal["quick", "full"]
Table = Literal["analytic", "published"]

CASE_MODULES = ("netsim.verify.analytic", "netsim.verify.graphs", "netsim.verify.published")
"""Modules whose import registers cases, in table order."""


@dataclass(frozen=True)
class Check:
    """One figure of a case: one line of the table.

    ``relation`` ``"="``: the simulated mean must agree with ``reference`` (two-sided
    z test); ``"<="``: a bound the simulation must stay under (its upper 95 % limit).
    ``reference_sd``: the standard uncertainty of the reference itself (a published
    figure read off a chart); 0 for exact theory.
    """

    quantity: str
    reference: float
    relation: Literal["=", "<="] = "="
    reference_sd: float = 0.0


@dataclass(frozen=True)
class Case:
    """An experiment and the figures it must reproduce."""

    name: str
    parameters: str
    checks: tuple[Check, ...]
    experiment: Mapping[str, Any]
    measure: Callable[[Any], list[np.ndarray]]
    """``Results`` -> one array of per-replication values per check, in order."""
    formula: str
    """The reference, written out (for docs/validation.md)."""
    source: str
    """Where the reference comes from: textbook, paper, documentation."""
    notes: str = ""
    """What is compared and how finite-run bias is handled, when it needs saying."""

    @property
    def replications(self) -> int:
        return int(self.experiment["run"]["replications"])

    @property
    def duration_s(self) -> float:
        return float(self.experiment["run"]["duration"])


@dataclass(frozen=True)
class Entry:
    key: str
    build: Callable[[Size], Case]
    table: Table
    quick: bool
    """Part of ``--quick`` (the CI-sized subset)."""


_REGISTRY: dict[str, Entry] = {}


def register(key: str, *, table: Table = "analytic", quick: bool = True) -> Callable[[Callable[[Size], Case]], Callable[[Size], Case]]:
    """Add a case function to the registry under ``key`` (a short, stable, command-line name)."""

    def add(build: Callable[[Size], Case]) -> Callable[[Size], Case]:
        if key in _REGISTRY:
            raise ValueError(f"validation case '{key}' is registered twice")
        _REGISTRY[key] = Entry(key, build, table, quick)
        return build

    return add


def entries(table: Table | None = None, *, quick: bool = False) -> list[Entry]:
    """The registered cases, in registration order; only the quick ones with ``quick``."""
    for module in CASE_MODULES:
        importlib.import_module(module)
    return [e for e in _REGISTRY.values() if (table is None or e.table == table) and (e.quick or not quick)]


def entry(key: str) -> Entry:
    entries()
    return _REGISTRY[key]


def case_seed(key: str, seed: int = 0) -> int:
    """A case's root seed: stable per case, so adding a case never changes another's random numbers."""
    return zlib.crc32(f"{key}/{seed}".encode())


def pick(size: Size, quick: tuple[int, float], full: tuple[int, float]) -> tuple[int, float]:
    """``(replications, measured duration in s)`` for this size."""
    return quick if size == "quick" else full
