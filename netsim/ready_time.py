"""How long each pod was ready in the measured window, from ``events.csv``: a pod's fair share under churn.

Without churn every endpoint pod of a Service is ready the whole window, and an even
spread gives each 1/n of the requests. During a rollout or after a kill, pods come and
go: a pod ready for half the window *should* serve about half as much as one ready
throughout, so comparing it with 1/n calls a correct spread uneven. The fair share
of a pod is its ready time in the window over the ready time of all the Service's
endpoint pods (time-weighted). The events give the transitions:

- ready from the start when the pod has no ``pod-created`` event (it existed at time 0),
  else from its ``pod-ready``; ready again at every later ``pod-ready`` (a restart);
- not ready from ``pod-deleted`` (the endpoint turns not-ready at once), ``pod-gone``,
  ``kill-crash``/``kill-hang`` (the process stops answering), and a ``fail`` of its node.

What kube-proxy on each node saw lags these times (propagation); over a window of
tens of seconds that lag shifts a share by a little, which is what the figure's
reader wants to see beyond.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

UP = {"pod-ready"}
DOWN = {"pod-deleted", "pod-gone", "kill-crash", "kill-hang"}


def ready_seconds(pods: Iterable[str], nodes: dict[str, str], events: pd.DataFrame, window: tuple[float, float]) -> dict[str, float]:
    """Seconds each pod was ready inside ``window``, from one run's events (``t_s``, ``action``, ``target``)."""
    start, end = window
    ordered = events.sort_values("t_s", kind="stable")
    created = {str(t).split("/", 1)[-1] for t in ordered.loc[ordered["action"] == "pod-created", "target"]}
    out = {}
    for pod in pods:
        ready_since: float | None = None if pod in created else 0.0
        total = 0.0
        for t, action, target in ordered[["t_s", "action", "target"]].itertuples(index=False):
            kind, _, name = str(target).partition("/")
            mine = (kind == "pod" and name == pod) or (kind == "node" and action == "fail" and nodes.get(pod) == name)
            if not mine:
                continue
            if action in UP and ready_since is None:
                ready_since = float(t)
            elif (action in DOWN or action == "fail") and ready_since is not None:
                total += _overlap(ready_since, float(t), start, end)
                ready_since = None
        if ready_since is not None:
            total += _overlap(ready_since, end, start, end)
        out[pod] = total
    return out


def _overlap(a: float, b: float, start: float, end: float) -> float:
    return max(0.0, min(b, end) - max(a, start))


def fair_shares(pods: pd.DataFrame, events: pd.DataFrame, windows: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Per scenario, service and pod: the time-weighted fair share, mean over replications.

    ``pods`` is ``pods.csv``; ``windows`` the measured window of each scenario. Scenarios
    without events get 1/n (every pod ready throughout).
    """
    rows = []
    for (scenario, replication, service), part in pods.groupby(["scenario", "replication", "service"], sort=False):
        names = list(dict.fromkeys(part["pod"].astype(str)))
        run_events = events[(events["scenario"] == scenario) & (events["replication"] == replication)] if not events.empty else events
        if run_events.empty or scenario not in windows:
            seconds = dict.fromkeys(names, 1.0)
        else:
            nodes = dict(zip(part["pod"].astype(str), part["node"].astype(str), strict=False))
            seconds = ready_seconds(names, nodes, run_events, windows[scenario])
        total = sum(seconds.values())
        for pod in names:
            rows.append({"scenario": scenario, "replication": replication, "service": service, "pod": pod,
                         "fair_share": seconds[pod] / total if total > 0 else np.nan})
    frame = pd.DataFrame(rows, columns=["scenario", "replication", "service", "pod", "fair_share"])
    return frame.groupby(["scenario", "service", "pod"], sort=False)["fair_share"].mean().reset_index()
