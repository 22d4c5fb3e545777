"""netsim: a discrete-event performance simulator of Kubernetes Service networking.

The library is what the CLI and notebooks share::

    import netsim
    results = netsim.run_experiment("experiments/quickstart.yaml", run__duration="20s")
    results.summary          # a tidy DataFrame
    netsim.load_results("results/quickstart")
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_experiment", "load_results", "run_experiment", "simulate"]


def __getattr__(name: str) -> Any:
    # Lazy: `import netsim` stays cheap and does no work (style.md §8).
    if name == "run_experiment":
        from netsim.experiment import run_experiment

        return run_experiment
    if name == "load_results":
        from netsim.results import load_results

        return load_results
    if name == "load_experiment":
        from netsim.config import load_experiment

        return load_experiment
    if name == "simulate":
        from netsim.engine import simulate

        return simulate
    raise AttributeError(f"module 'netsim' has no attribute {name!r}")
