"""The generated bad-input corpus (tests/bad_corpus.py): every case refused in one line, exit 2, nothing run.

The mass of cases runs in this process through ``netsim.cli.main`` (the cost of a case
is then its own, not an interpreter start), each under a watchdog (SIGALRM) and an
address-space cap; a representative subset runs as real ``python -m netsim.cli``
processes under ``RLIMIT_AS`` and a timeout, where a hang, a runaway allocation or a
crash of the interpreter would show as what it is. A case passes only when the exit
code is 2, stderr is exactly one ``netsim: error:`` line mentioning what the mutation
touched, and no results folder, run record or stray file appeared.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import signal
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bad_corpus as bc
import pytest

from netsim.cli import main

CASES = bc.all_cases()
WATCHDOG_S = 20
MEMORY = 3 << 30


def test_the_corpus_covers_every_class_of_the_issue():
    kinds = Counter(case.kind for case in CASES)
    assert len(CASES) >= 500, kinds
    for kind in ("type", "non-finite", "extreme", "unit", "unknown-key", "missing-key", "limits", "manifest", "special-file",
                 "yaml-bomb", "python-tag", "duplicate-key", "encoding", "nonsense", "names"):
        assert kinds[kind] >= 3, (kind, kinds)
    assert len({case.id for case in CASES}) == len(CASES), "case ids are unique"


class _Watchdog(Exception):
    pass


@contextlib.contextmanager
def _guarded(seconds: float, memory: int) -> Iterator[None]:
    """Raise in this thread after ``seconds``; cap this process's address space growth to ``memory`` bytes more."""
    def bark(signum, frame):  # type: ignore[no-untyped-def]
        raise _Watchdog(f"still running after {seconds}s")

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = _address_space()
    cap = used + memory if hard == resource.RLIM_INFINITY else min(hard, used + memory)
    previous = signal.signal(signal.SIGALRM, bark)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, previous)


def _address_space() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def run_in_process(case: bc.Case, folder: Path) -> bc.Outcome:
    bc.materialize(case, folder)
    err = io.StringIO()
    cwd = os.getcwd()
    code: int | None = None
    timed_out = False
    try:
        os.chdir(folder)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), _guarded(WATCHDOG_S, MEMORY):
            code = main(["run", *case.argv, *bc.RUN_FLAGS])
    except _Watchdog:
        timed_out = True
    except MemoryError:
        err.write("MemoryError\n")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 99
    except Exception as exc:  # a traceback in the CLI would have reached the user: record it as one
        err.write(f"Traceback (most recent call last):\n{type(exc).__name__}: {exc}\n")
    finally:
        os.chdir(cwd)
    return bc.Outcome(case, bc.classify(case, code, err.getvalue(), timed_out), code, err.getvalue(), 0.0,
                      bc.ran_something(folder, case))


def _report(outcomes: list[bc.Outcome]) -> str:
    counts = Counter(o.outcome for o in outcomes)
    bad = [o for o in outcomes if o.outcome != "refused" or o.ran]
    lines = [f"{len(bad)} of {len(outcomes)} cases not refused cleanly: {dict(counts)}"]
    lines += [f"  {o.outcome}{' (ran)' if o.ran else ''} {o.case.id}: {o.stderr.strip()[-240:]}" for o in bad[:25]]
    return "\n".join(lines)


def test_every_case_is_refused_in_one_line_before_anything_runs(tmp_path):
    outcomes = [run_in_process(case, tmp_path / f"case-{i}") for i, case in enumerate(CASES)]
    assert all(o.outcome == "refused" and not o.ran for o in outcomes), _report(outcomes)


SUBPROCESS_CASES = [
    "limits:replications-1e9", "limits:rate-1e12", "limits:duration-1e15s", "limits:nodes-1e6", "limits:maglev-1000000007",
    "limits:churn-every-1ns", "special-file:experiment-fifo", "special-file:manifest-dev-zero", "special-file:samples-fifo",
    "special-file:samples-huge-real", "yaml-bomb:bomb-annotations", "yaml-bomb:bomb-set", "yaml-bomb:deep-flow",
    "yaml-bomb:deep-block-seq", "python-tag:tag-python-object-apply:os.system", "encoding:utf-16-le",
    "duplicate-key:duplicate-run", "nonsense:lognormal-sigma-100", "names:name-dotdot", "manifest:set-replica",
]
"""The cases that hung, crashed the interpreter, exhausted memory or escaped results/ before issue 11, and a few more."""


def test_dangerous_cases_are_refused_by_a_real_process_under_limits(tmp_path):
    by_id = {case.id: case for case in CASES}
    missing = [i for i in SUBPROCESS_CASES if i not in by_id]
    assert not missing, f"subprocess cases not in the corpus: {missing}"
    chosen = [by_id[i] for i in SUBPROCESS_CASES]
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda ic: bc.run_subprocess(ic[1], tmp_path / f"case-{ic[0]}", timeout=60, memory=2 << 30),
                                 enumerate(chosen)))
    assert all(o.outcome == "refused" and not o.ran for o in outcomes), _report(outcomes)


@pytest.mark.parametrize("outcome", ["accepted", "traceback", "multiline", "misleading", "hang"])
def test_the_classifier_tells_each_failure(outcome):
    """The corpus can fail: each way a case can go wrong is told apart from a clean refusal."""
    case = bc.Case("x", "type", (), words=("rate",))
    got = {
        "accepted": bc.classify(case, 0, "results written to results/x/\n", False),
        "traceback": bc.classify(case, 1, "Traceback (most recent call last):\n  ...\nKeyError: 'x'\n", False),
        "multiline": bc.classify(case, 2, "warning: a\nnetsim: error: clients.users.arrival.rate: bad\n", False),
        "misleading": bc.classify(case, 2, "netsim: error: clients.[1, 2].name: expected a string\n", False),
        "hang": bc.classify(case, None, "", True),
    }[outcome]
    assert got == outcome
    assert bc.classify(case, 2, "netsim: error: clients.users.arrival.rate: expected a number\n", False) == "refused"
