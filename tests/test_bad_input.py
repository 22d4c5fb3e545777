"""Bad input ends in one line naming the field and the fix, exit code 2, no traceback (issue 2, item 6).

Every case runs the real command line (``netsim.cli.main``; a few through a
subprocess). Messages are checked for their dotted path and key words, never as
whole sentences, so wording can improve without breaking the tests. Also here:
inputs that look wrong but are valid (a Service that selects no pod) and an
overloaded system, which must finish with bounded queues and count what overflowed.
"""

from __future__ import annotations

import copy
import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from netsim.cli import main
from netsim.config import load_experiment
from netsim.engine import simulate
from netsim.errors import ConfigError
from netsim.model.request import Outcome

WEB_DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}]},
        },
    },
}
WEB_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
}
BASE: dict[str, Any] = {
    "name": "bad-input",
    "run": {"duration": "1s", "warmup": "0s", "replications": 1, "seed": 1},
    "cluster": {"nodes": {"count": 2, "zones": ["zone-a", "zone-b"]}},
    "manifests": [WEB_DEPLOYMENT, WEB_SERVICE],
    "workloads": {"web": {"service_time": "5ms", "concurrency": 2}},
    "clients": [{"name": "users", "target": "web", "arrival": {"process": "poisson", "rate": 50}}],
}


def base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def write(tmp_path: Path, data: dict[str, Any] | str, name: str = "experiment.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def netsim(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_bad_input(code: int, err: str, path: str, *words: str) -> str:
    """Exit 2 and exactly one stderr line: ``netsim: error: <path>: <message with words>``."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    line = lines[0]
    prefix = f"netsim: error: {path}: "
    assert line.startswith(prefix), f"{line!r} does not start with {prefix!r}"
    for word in words:
        assert word.lower() in line.lower(), f"{word!r} missing from {line!r}"
    return line


# --- one --set at a time on a valid base: (sets, dotted path, key words of the message) -------------

SET_CASES = {
    # unknown keys, with a "did you mean"
    "typo-in-client": (["clients.users.arival.rate=5"], "clients.users.arival", ["unknown key", "did you mean 'arrival'"]),
    "typo-in-run": (["run.duraton=3s"], "run.duraton", ["unknown key", "did you mean 'duration'"]),
    "typo-in-network": (["cluster.network.same_zon=1ms"], "cluster.network.same_zon", ["did you mean 'same_zone'", "cross_zone"]),
    "typo-top-level": (["clientz=3"], "clientz", ["did you mean 'clients'"]),
    "typo-in-node-list": (["cluster.nodes=[{name: a, zonee: b}]"], "cluster.nodes.a.zonee", ["did you mean 'zone'"]),
    "typo-in-distribution": (
        ["workloads.web.service_time={distribution: gamma, mean: 1ms, shap: 2}"],
        "workloads.web.service_time.shap", ["did you mean 'shape'"],
    ),
    # wrong types
    "whole-number": (["run.replications=two"], "run.replications", ["whole number", "two"]),
    "number": (["clients.users.arrival.rate=fast"], "clients.users.arrival.rate", ["number", "fast"]),
    "mapping": (["run=5"], "run", ["mapping"]),
    "list": (["clients=everyone"], "clients", ["list"]),
    "duration": (["run.duration=soon"], "run.duration", ["not a duration", "10ms"]),
    "latency": (["cluster.network.same_zone=near"], "cluster.network.same_zone", ["not a duration"]),
    "replicas-type": (["Deployment/web.spec.replicas=many"], "Deployment/web.spec.replicas", ["integer", "many"]),
    # negative or zero
    "negative-rate": (["clients.users.arrival.rate=-5"], "clients.users.arrival.rate", ["> 0", "-5", "positive"]),
    "zero-rate": (["clients.users.arrival.rate=0"], "clients.users.arrival.rate", ["> 0", "positive"]),
    "zero-concurrency": (["workloads.web.concurrency=0"], "workloads.web.concurrency", [">= 1", "1 or more"]),
    "negative-duration": (["run.duration=-2s"], "run.duration", ["negative"]),
    "zero-duration": (["run.duration=0"], "run.duration", ["> 0"]),
    "negative-mean": (
        ["workloads.web.service_time={distribution: exponential, mean: -1}"], "workloads.web.service_time.mean", ["> 0"],
    ),
    "negative-replicas": (["Deployment/web.spec.replicas=-1"], "Deployment/web.spec.replicas", ["0 or more"]),
    # unknown choices
    "distribution-typo": (
        ["workloads.web.service_time.distribution=normal"], "workloads.web.service_time",
        ["unknown distribution 'normal'", "did you mean 'lognormal'", "exponential"],
    ),
    "distribution-abbreviated": (
        ["workloads.web.service_time={distribution: expo, mean: 1ms}"], "workloads.web.service_time",
        ["did you mean 'exponential'"],
    ),
    "distribution-unknown": (
        ["workloads.web.service_time={distribution: weibull, mean: 1ms}"], "workloads.web.service_time",
        ["unknown distribution 'weibull'", "constant", "empirical"],
    ),
    "distribution-missing": (["workloads.web.service_time={mean: 1ms}"], "workloads.web.service_time", ["'distribution'"]),
    "lognormal-shape": (
        ["workloads.web.service_time={distribution: lognormal, mean: 1ms}"], "workloads.web.service_time", ["sigma", "p99"],
    ),
    "proxy-mode": (["cluster.kube_proxy.mode=ipvss"], "cluster.kube_proxy.mode", ["did you mean 'ipvs'", "iptables"]),
    "service-type": (["Service/web.spec.type=Nodeport"], "Service/web.spec.type", ["did you mean 'NodePort'"]),
    # names that do not exist
    "target": (["clients.users.target=wbe"], "clients.users.target", ["no Service named 'wbe'", "did you mean 'web'"]),
    "target-port": (["clients.users.target=web:81"], "clients.users.target", ["no port '81'", "80"]),
    "workload-name": (["workloads.wbe.concurrency=2"], "workloads.wbe", ["no Deployment", "did you mean 'web'"]),
    "client-name": (["clients.usr.arrival.rate=3"], "clients.usr", ["did you mean 'users'"]),
    "from-shape": (["clients.users.from=web"], "clients.users.from", ["Deployment/<name>"]),
    "from-name": (["clients.users.from=Deployment/wbe"], "clients.users.from", ["did you mean 'web'"]),
    "manifest-name": (
        ["Deployment/wbe.spec.replicas=3"], "Deployment/wbe.spec.replicas", ["no manifest", "did you mean 'Deployment/web'"],
    ),
    # ports
    "node-port-range": (
        ["Service/web.spec.type=NodePort", "Service/web.spec.ports.0.nodePort=8080"], "Service/web.spec.ports.0.nodePort",
        ["outside", "30000-32767", "node_port_range"],
    ),
    "node-port-custom-range": (
        ["cluster.node_port_range=31000-31999", "Service/web.spec.type=NodePort", "Service/web.spec.ports.0.nodePort=30080"],
        "Service/web.spec.ports.0.nodePort", ["outside", "31000-31999"],
    ),
    "node-port-on-cluster-ip": (["Service/web.spec.ports.0.nodePort=30080"], "Service/web.spec.ports.0.nodePort", ["NodePort", "LoadBalancer"]),
    "port-number": (["Service/web.spec.ports.0.port=70000"], "Service/web.spec.ports.0.port", ["65535"]),
    # reachability: ClusterIP is in-cluster only
    "external-to-cluster-ip": (["clients.users.location=external"], "clients.users.location", ["ClusterIP", "in-cluster", "NodePort"]),
    # the rest of the command line
    "manifest-files-by-set": (["manifest_files=[missing.yaml]"], "manifest_files.0", ["not found"]),
    "scenarios-by-set": (["scenarios=[]"], "--set scenarios", ["cannot be changed"]),
}


@pytest.mark.parametrize(("sets", "path", "words"), list(SET_CASES.values()), ids=list(SET_CASES))
def test_bad_value_names_field_and_fix(tmp_path, capsys, sets, path, words):
    file = write(tmp_path, base())
    code, _, err = netsim(capsys, "validate", file, *[a for s in sets for a in ("--set", s)])
    assert_bad_input(code, err, path, *words)


def test_the_base_is_valid(tmp_path, capsys):
    """The cases above fail because of their one change, not because the base is broken."""
    code, out, err = netsim(capsys, "validate", write(tmp_path, base()))
    assert code == 0, err
    assert "valid" in out


@pytest.mark.parametrize(("text", "path", "word"), [
    ("rate500", "--set", "PATH=VALUE"),
    ("=500", "--set", "PATH=VALUE"),
    ("clients..users.arrival.rate=5", "clients..users.arrival.rate", "dotted path"),
    (".run.duration=2s", ".run.duration", "dotted path"),
    ("Deployment/web=3", "Deployment/web", "Deployment/web.spec.replicas"),
    ("run.duration.seconds=2", "run.duration", "not a duration"),
])
def test_bad_set_syntax(tmp_path, capsys, text, path, word):
    code, _, err = netsim(capsys, "validate", write(tmp_path, base()), "--set", text)
    assert_bad_input(code, err, path, word)


def test_bad_set_value_yaml(tmp_path, capsys):
    code, _, err = netsim(capsys, "validate", write(tmp_path, base()), "--set", "run={duration: 2s")
    assert_bad_input(code, err, "--set run", "not valid YAML", "quote")


# --- whole files ------------------------------------------------------------------------------------


def test_yaml_syntax_error_gives_file_and_line(tmp_path, capsys):
    text = "name: broken\nrun:\n  duration: 2s\n  warmup: [1s\nclients: []\n"
    file = write(tmp_path, text)
    code, _, err = netsim(capsys, "validate", file)
    line = assert_bad_input(code, err, f"{file}:{_yaml_error_line(text)}", "YAML syntax error")
    assert "line" in line  # says where to look


def _yaml_error_line(text: str) -> int:
    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        return exc.problem_mark.line + 1
    raise AssertionError("the text should not parse")


def test_unknown_key_in_the_file_itself(tmp_path, capsys):
    data = base()
    data["clients"][0]["arival"] = data["clients"][0].pop("arrival")
    code, _, err = netsim(capsys, "validate", write(tmp_path, data))
    assert_bad_input(code, err, "clients.users.arival", "did you mean 'arrival'")


def test_python_tags_are_refused_not_executed(tmp_path, capsys):
    marker = tmp_path / "executed"
    text = f"name: evil\nrun: !!python/object/apply:os.system ['touch {marker}']\nclients: []\n"
    file = write(tmp_path, text)
    code, _, err = netsim(capsys, "validate", file)
    assert_bad_input(code, err, f"{file}:2", "python/object/apply", "not allowed")
    assert not marker.exists()


def test_python_tags_are_refused_in_manifest_files(tmp_path, capsys):
    marker = tmp_path / "executed"
    write(tmp_path, f"kind: Service\nmetadata: !!python/object/apply:os.system ['touch {marker}']\n", "evil.yaml")
    data = base()
    data["manifest_files"] = ["evil.yaml"]
    code, _, err = netsim(capsys, "validate", write(tmp_path, data))
    assert_bad_input(code, err, "manifest_files.0", "not allowed", ":2")
    assert not marker.exists()


def test_yaml_error_in_manifest_file_names_it_and_its_line(tmp_path, capsys):
    write(tmp_path, "---\nkind: Service\nmetadata: {name: a\n", "bad-manifests.yaml")
    data = base()
    data["manifest_files"] = ["bad-manifests.yaml"]
    code, _, err = netsim(capsys, "validate", write(tmp_path, data))
    assert_bad_input(code, err, "manifest_files.0", "bad-manifests.yaml:", "YAML syntax error")


def test_duplicate_node_port(tmp_path, capsys):
    data = base()
    data["manifests"][1]["spec"].update(type="NodePort")
    data["manifests"][1]["spec"]["ports"][0]["nodePort"] = 30080
    other = copy.deepcopy(data["manifests"][1])
    other["metadata"]["name"] = "web-2"
    data["manifests"].append(other)
    code, _, err = netsim(capsys, "validate", write(tmp_path, data))
    assert_bad_input(code, err, "Service/web-2.spec.ports.0.nodePort", "30080", "already used by Service/web")


def test_unknown_path_in_scenario_set(tmp_path, capsys):
    data = base()
    data["scenarios"] = [{"name": "base", "set": {}}, {"name": "scaled", "set": {"Deployment/wbe.spec.replicas": 3}}]
    code, _, err = netsim(capsys, "validate", write(tmp_path, data))
    assert_bad_input(code, err, "scenarios.scaled.set.Deployment/wbe.spec.replicas", "did you mean 'Deployment/web'")


def test_bad_value_in_one_scenario_names_the_scenario(tmp_path, capsys):
    data = base()
    data["scenarios"] = [{"name": "ok", "set": {}}, {"name": "broken", "set": {"clients.users.arrival.rate": 0}}]
    code, _, err = netsim(capsys, "validate", write(tmp_path, data))
    assert_bad_input(code, err, "clients.users.arrival.rate", "> 0", "scenario 'broken'")


def test_missing_empirical_file(tmp_path, capsys):
    data = base()
    data["workloads"]["web"]["service_time"] = {"distribution": "empirical", "file": "samples-ms.txt", "unit": "ms"}
    file = write(tmp_path, data)
    code, _, err = netsim(capsys, "validate", file)
    assert_bad_input(code, err, "workloads.web.service_time", "samples-ms.txt", "fix 'file'")
    (tmp_path / "samples-ms.txt").write_text("1.5\n2.5\n")  # the fix the message asks for works
    code, _, err = netsim(capsys, "validate", file)
    assert code == 0, err


def test_missing_experiment_and_manifest_files(tmp_path, capsys):
    code, _, err = netsim(capsys, "validate", tmp_path / "nope.yaml")
    assert_bad_input(code, err, str(tmp_path / "nope.yaml"), "not found")
    data = base()
    data["manifest_files"] = ["k8s/app.yaml"]
    code, _, err = netsim(capsys, "run", write(tmp_path, data), "-o", tmp_path / "out")
    assert_bad_input(code, err, "manifest_files.0", "not found", "app.yaml")
    assert not (tmp_path / "out").exists()


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ConfigError) as info:
        main(["--debug", "validate", str(write(tmp_path, base())), "--set", "run.duraton=3s"])
    assert info.value.path == "run.duraton"


@pytest.mark.parametrize(("sets", "path"), [
    (["clients.users.arival.rate=5"], "clients.users.arival"),
    (["clients.users.location=external"], "clients.users.location"),
])
def test_bad_input_from_a_real_process(tmp_path, sets, path):
    file = write(tmp_path, base())
    argv = [sys.executable, "-m", "netsim", "run", str(file), "-o", str(tmp_path / "out")]
    proc = subprocess.run([*argv, *[a for s in sets for a in ("--set", s)]], capture_output=True, text=True, timeout=60)
    assert_bad_input(proc.returncode, proc.stderr, path)
    assert proc.stdout == ""


def test_python_tag_from_a_real_process(tmp_path):
    marker = tmp_path / "executed"
    file = write(tmp_path, f"name: evil\nrun: !!python/object/apply:os.system ['touch {marker}']\nclients: []\n")
    proc = subprocess.run([sys.executable, "-m", "netsim", "validate", str(file)], capture_output=True, text=True, timeout=60)
    assert_bad_input(proc.returncode, proc.stderr, f"{file}:2", "not allowed")
    assert not marker.exists()


# --- looks wrong, is valid -------------------------------------------------------------------------


@pytest.mark.parametrize("selector", [{"app": "nobody"}, None], ids=["matches-no-pod", "no-selector"])
def test_service_without_endpoints_runs_and_refuses(tmp_path, capsys, selector):
    """Kubernetes accepts such a Service; every request to it is refused, and a warning says why."""
    data = base()
    data["manifests"][1]["spec"]["selector"] = selector
    code, _, err = netsim(capsys, "run", write(tmp_path, data), "-o", tmp_path / "out", "--quiet")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert any("Service/web" in w and "refused" in w for w in warnings), err
    assert "Traceback" not in err
    with open(tmp_path / "out" / "runs.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1
    row = rows[0]
    assert int(row["requests"]) > 0
    assert int(row["errors_refused"]) == int(row["requests"]) == int(row["errors"])


# --- overload: rho >= 1 must not grow without bound ------------------------------------------------


def _overloaded(queue_limit: int | None, rate: float, service_time: str, timeout: str = "30s") -> dict[str, Any]:
    """One single-worker pod, zero network and DNS latency: capacity is exactly 1/service_time."""
    data = base()
    data["run"] = {"duration": "2s", "warmup": "0s", "replications": 1, "seed": 3}
    data["cluster"]["network"] = {"same_node": 0, "same_zone": 0, "cross_zone": 0, "internet": 0}
    data["cluster"]["dns"] = {"latency": 0}
    data["manifests"][0]["spec"]["replicas"] = 1
    workload: dict[str, Any] = {"service_time": {"distribution": "constant", "value": service_time}, "concurrency": 1}
    if queue_limit is not None:
        workload["queue_limit"] = queue_limit
    data["workloads"] = {"web": workload}
    data["clients"][0]["arrival"]["rate"] = rate
    data["clients"][0]["timeout"] = timeout
    return data


def _simulate(data: dict[str, Any]):  # type: ignore[no-untyped-def]
    spec = load_experiment(data)
    return spec.scenarios[0], simulate(spec.runs()[0])


@pytest.mark.parametrize("queue_limit", [5, None], ids=["queue_limit-5", "default-queue_limit"])
def test_overload_is_bounded_by_queue_limit(queue_limit):
    service_s = 0.001  # capacity 1000/s; offered 3000/s: rho = 3, the default queue fills in about 0.5 s
    scenario, result = _simulate(_overloaded(queue_limit, rate=3000, service_time="1ms"))
    limit = scenario.workloads["web"].queue_limit
    req = result.requests
    outcome = req["outcome"]
    assert result.generated == len(outcome) > 0, "every generated request is recorded exactly once"
    assert (outcome == Outcome.REJECTED).sum() > 0, "overflow is counted as errors"
    ok = outcome == Outcome.OK
    assert ok.sum() > 0
    # A served request waited behind at most queue_limit others and a busy worker: the queue is bounded.
    assert req["latency_s"][ok].max() <= (limit + 1) * service_s + 1e-9
    # The pod served no more than its capacity allows over the run (plus the one in service at the end).
    assert ok.sum() <= (result.window[1] + req["latency_s"].max()) / service_s + 1


def test_overload_with_client_timeout_records_each_request_once():
    """With a huge queue, the client's timeout is what bounds the wait; late answers are not counted twice."""
    scenario, result = _simulate(_overloaded(100_000, rate=1000, service_time="2ms", timeout="100ms"))
    req = result.requests
    outcome = req["outcome"]
    assert result.generated == len(outcome)
    timeouts = outcome == Outcome.TIMEOUT
    assert timeouts.sum() > 0
    assert np.all(req["latency_s"] <= scenario.clients[0].timeout + 1e-9)
    assert np.all(req["latency_s"][timeouts] == pytest.approx(scenario.clients[0].timeout))
