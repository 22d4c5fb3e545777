"""Resolved, immutable descriptions of what to simulate.

The config layer turns an experiment file into an :class:`ExperimentSpec`: one
:class:`ScenarioSpec` per scenario, every default filled in, every name checked.
A :class:`RunSpec` is one replication of one scenario: all the engine needs, and
small enough to send to another process or a Dask worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from netsim.config.schema import ClusterConfig, RunConfig
from netsim.distributions import DistributionSpec
from netsim.k8s.objects import Deployment, Service, ServicePort


@dataclass(frozen=True)
class NodeSpec:
    name: str
    zone: str
    labels: dict[str, str]


@dataclass(frozen=True)
class WorkloadSpec:
    """How one Deployment's pods serve: service time, workers, waiting room."""

    service_time: DistributionSpec
    concurrency: int
    queue_limit: int


@dataclass(frozen=True)
class ClientSpec:
    """A traffic source, resolved: which Service and port, from which pods, how fast."""

    name: str
    location: str
    service: str
    port: ServicePort
    from_deployment: str | None
    rate: float
    timeout: float


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    run: RunConfig
    cluster: ClusterConfig
    nodes: tuple[NodeSpec, ...]
    deployments: tuple[Deployment, ...]
    workloads: dict[str, WorkloadSpec]
    services: tuple[Service, ...]
    clients: tuple[ClientSpec, ...]
    parameters: dict[str, Any] = field(default_factory=dict)
    """The dotted-path settings that make this scenario differ from the base (for output tables)."""
    config: dict[str, Any] = field(default_factory=dict, repr=False)
    """The resolved experiment config as plain data, written to manifest.json."""

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    scenarios: tuple[ScenarioSpec, ...]
    warnings: tuple[str, ...] = ()
    source: str | None = None
    config_hash: str = ""

    def runs(self) -> list[RunSpec]:
        """Every (scenario, replication) pair, in a stable order.

        Scenarios share seeds replication by replication (common random numbers),
        so their differences are paired.
        """
        return [
            RunSpec(scenario=s, replication=r, seed=s.run.seed)
            for s in self.scenarios
            for r in range(s.run.replications)
        ]


@dataclass(frozen=True)
class RunSpec:
    scenario: ScenarioSpec
    replication: int
    seed: int

    @property
    def seed_sequence(self) -> np.random.SeedSequence:
        """The root of every random stream of this run; independent of executor and worker count."""
        return np.random.SeedSequence([self.seed, self.replication])

    @property
    def key(self) -> str:
        return f"{self.scenario.name}/rep-{self.replication}"
