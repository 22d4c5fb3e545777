"""``netsim init``: an experiment file for a user's own manifests that validates as written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from netsim.cli import main
from netsim.config import load_experiment
from netsim.config.yaml_io import read_yaml_documents

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))


def manifests_of(experiment: Path) -> list[dict]:
    """The manifests an experiment runs: inline, then its files (when this clone has them)."""
    raw = yaml.safe_load(experiment.read_text())
    docs = list(raw.get("manifests") or [])
    for name in raw.get("manifest_files") or []:
        path = experiment.parent / name
        if path.is_file():
            docs += [d for d in read_yaml_documents(path) if isinstance(d, dict)]
    return docs


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_init_on_the_bundled_experiments_manifests_validates(experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = manifests_of(experiment)
    if not any(d.get("kind") == "Service" for d in docs):
        pytest.skip("its manifest files are not in this clone")
    manifests = tmp_path / "k8s" / "app.yaml"
    manifests.parent.mkdir()
    manifests.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    out = tmp_path / "sim" / "experiment.yaml"
    out.parent.mkdir()
    assert main(["init", str(manifests), "-o", str(out)]) == 0, capsys.readouterr().err
    text = out.read_text()
    assert "  - ../k8s/app.yaml" in text  # relative to the written file
    spec = load_experiment(out)
    (scenario,) = spec.scenarios
    services = {s.name: s for s in scenario.services}
    deployments = {d.name for d in scenario.deployments}
    written = yaml.safe_load(text)["workloads"]
    assert set(written) == deployments
    assert all(set(w) == {"service_time", "concurrency", "queue_limit", "startup", "prestop"} for w in written.values())
    for client in scenario.clients:
        kind = services[client.service].type.value
        assert client.location == ("external" if kind in ("NodePort", "LoadBalancer") else "in-cluster"), (client.name, kind)
    assert not any("Pending" in w for w in spec.warnings), spec.warnings  # pinned nodes exist


NAMESPACED = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers:
        - name: shop
          ports: [{containerPort: 8080, name: http}]
          lifecycle: {preStop: {exec: {command: [/bin/drain]}}}
---
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: shop}
spec: {type: LoadBalancer, selector: {app: shop}, ports: [{port: 80, targetPort: http, name: web}, {port: 9090, name: metrics}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: inventory, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: inventory}}
  template:
    metadata: {labels: {app: inventory}}
    spec: {containers: [{name: inventory, ports: [{containerPort: 7000}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: inventory, namespace: shop}
spec: {selector: {app: inventory}, ports: [{port: 7000}]}
---
apiVersion: v1
kind: Service
metadata: {name: payments, namespace: shop}
spec: {type: ExternalName, externalName: api.payments.example.com}
"""


def test_init_on_a_namespaced_set_validates_with_a_client_per_service(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "shop.yaml").write_text(NAMESPACED)
    out = tmp_path / "shop-sim.yaml"
    assert main(["init", str(tmp_path / "shop.yaml"), "-o", str(out)]) == 0
    assert "2 Deployment(s), 3 Service(s), 3 client(s)" in capsys.readouterr().err
    text = out.read_text()
    assert "# its preStop exec hook takes this long: measure it" in text
    spec = load_experiment(out)
    (scenario,) = spec.scenarios
    clients = {c.name: c for c in scenario.clients}
    assert {n: (c.location, c.service) for n, c in clients.items()} == {
        "shop-clients": ("external", "shop"), "inventory-clients": ("in-cluster", "inventory"), "payments-clients": ("in-cluster", "payments")}
    # about half of what the pods serve with the default workload: replicas × 1 worker / 10 ms × 0.5
    assert clients["shop-clients"].rate == 150 and clients["inventory-clients"].rate == 100
    assert scenario.workloads["shop"].concurrency == 1 and scenario.workloads["shop"].queue_limit == 1000
    assert not any("preStop" in w for w in spec.warnings)  # init spells prestop out


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "shop.yaml").write_text(NAMESPACED)
    out = tmp_path / "experiment.yaml"
    out.write_text("mine")
    assert main(["init", str(tmp_path / "shop.yaml"), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == "mine"
