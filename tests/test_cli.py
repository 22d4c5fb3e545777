"""The command line: ``validate``, ``schema``, ``--set`` in its three path styles, reproducibility."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from netsim.cli import main
from netsim.config import load_experiment, parse_set
from netsim.errors import ConfigError

EXPERIMENT: dict[str, Any] = {
    "name": "cli",
    "run": {"duration": "1s", "warmup": "0.2s", "replications": 2, "seed": 9},
    "cluster": {"nodes": {"count": 3, "zones": ["zone-a", "zone-b"]}},
    "manifests": [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "web", "ports": [{"containerPort": 9376}]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 9376}]}},
    ],
    "workloads": {"web": {"service_time": {"distribution": "exponential", "mean": "4ms"}, "concurrency": 2}},
    "clients": [{"name": "users", "target": "web", "arrival": {"process": "poisson", "rate": 300}}],
}


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def netsim(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def with_scenarios(*scenarios: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(EXPERIMENT)
    data["scenarios"] = list(scenarios)
    return data


# --- validate ---------------------------------------------------------------------------------------


def test_validate_prints_the_resolved_scenarios(tmp_path, capsys):
    data = with_scenarios(
        {"name": "small", "set": {}},
        {"name": "big", "set": {"Deployment/web.spec.replicas": 5, "clients.users.arrival.rate": 900}},
    )
    code, out, err = netsim(capsys, "validate", write(tmp_path, data))
    assert code == 0, err
    assert "valid" in out.splitlines()[0]
    assert "2 scenario(s)" in out and "4 run(s)" in out
    blocks = dict(_scenario_blocks(out))
    assert set(blocks) == {"small", "big"}
    assert "Deployment/web: 2 replica(s)" in blocks["small"]
    assert "Deployment/web: 5 replica(s)" in blocks["big"]
    assert "900 req/s" in blocks["big"] and "300 req/s" in blocks["small"]
    assert "Deployment/web.spec.replicas=5" in blocks["big"]  # what makes it differ is shown
    for block in blocks.values():
        assert "Service/web: ClusterIP" in block and "80->9376" in block
        assert "3 in zones" in block
    assert not (tmp_path / "results").exists()


def _scenario_blocks(out: str) -> list[tuple[str, str]]:
    blocks = []
    for chunk in out.split("\nscenario ")[1:]:
        name, _, body = chunk.partition("\n")
        blocks.append((name.strip(), body))
    return blocks


def test_validate_does_not_simulate(tmp_path, capsys):
    data = copy.deepcopy(EXPERIMENT)
    data["run"]["duration"] = "100h"  # would take forever to run
    code, out, _ = netsim(capsys, "validate", write(tmp_path, data))
    assert code == 0 and "360000s" in out


# --- schema -----------------------------------------------------------------------------------------


def test_schema_is_json_schema_of_the_experiment_file(capsys):
    code, out, _ = netsim(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["type"] == "object"
    for section in ("name", "run", "cluster", "manifests", "manifest_files", "workloads", "clients", "scenarios"):
        assert section in schema["properties"], section
    assert "clients" in schema["required"]
    defs = schema["$defs"]
    assert {"duration", "warmup", "replications", "seed"} <= set(defs["RunConfig"]["properties"])
    assert "from" in defs["ClientConfig"]["properties"]  # aliases, as users write them
    assert {"Constant", "Exponential", "LogNormal", "Gamma", "Uniform", "Empirical"} <= set(defs)
    rate = defs["ArrivalConfig"]["properties"]["rate"]
    assert {"type": "number", "exclusiveMinimum": 0} in rate["anyOf"]


# --- --set, in its three path styles, and scenarios[].set -----------------------------------------

SETS = ["cluster.kube_proxy.mode=ipvs", "Deployment/web.spec.replicas=3", "clients.users.arrival.rate=500"]


def _assert_three_styles(scenario) -> None:  # type: ignore[no-untyped-def]
    assert scenario.cluster.kube_proxy.mode == "ipvs"
    assert scenario.deployments[0].replicas == 3
    assert scenario.clients[0].rate == 500.0


def test_set_parses_values_as_yaml():
    assert parse_set("Deployment/web.spec.replicas=3") == ("Deployment/web.spec.replicas", 3)
    assert parse_set("clients.users.arrival.rate=2.5") == ("clients.users.arrival.rate", 2.5)
    assert parse_set("run.duration=10ms") == ("run.duration", "10ms")
    assert parse_set("Service/web.spec.selector={app: api}") == ("Service/web.spec.selector", {"app": "api"})
    assert parse_set(" run.seed = 4") == ("run.seed", 4)


def test_set_three_path_styles_in_the_library(tmp_path):
    spec = load_experiment(write(tmp_path, EXPERIMENT), [parse_set(s) for s in SETS])
    (scenario,) = spec.scenarios
    _assert_three_styles(scenario)
    assert scenario.parameters == {"cluster.kube_proxy.mode": "ipvs", "Deployment/web.spec.replicas": 3,
                                   "clients.users.arrival.rate": 500}


def test_set_three_path_styles_on_the_command_line(tmp_path, capsys):
    file = write(tmp_path, EXPERIMENT)
    code, before, _ = netsim(capsys, "validate", file)
    assert code == 0 and "kube-proxy iptables" in before and "2 replica(s)" in before and "300 req/s" in before
    code, after, err = netsim(capsys, "validate", file, *[a for s in SETS for a in ("--set", s)])
    assert code == 0, err
    assert "kube-proxy ipvs" in after and "Deployment/web: 3 replica(s)" in after and "500 req/s" in after


def test_set_list_items_by_name_or_index_and_new_keys(tmp_path):
    spec = load_experiment(write(tmp_path, EXPERIMENT), [
        ("Service/web.spec.ports.0.port", 8080), ("clients.0.timeout", "2s"), ("workloads.web.queue_limit", 7),
        ("Service/web.spec.type", "NodePort"),
    ])
    (scenario,) = spec.scenarios
    assert scenario.services[0].ports[0].port == 8080
    assert scenario.clients[0].timeout == 2.0
    assert scenario.workloads["web"].queue_limit == 7
    assert scenario.services[0].type.value == "NodePort"


def test_scenario_set_uses_the_same_paths_and_does_not_leak(tmp_path):
    data = with_scenarios(
        {"name": "base", "set": {}},
        {"name": "patched", "set": {k: yaml.safe_load(v) for k, v in (s.split("=") for s in SETS)}},
    )
    spec = load_experiment(write(tmp_path, data))
    base, patched = spec.scenarios
    _assert_three_styles(patched)
    assert base.cluster.kube_proxy.mode == "iptables"
    assert base.deployments[0].replicas == 2
    assert base.clients[0].rate == 300.0


def test_command_line_set_over_a_scenario_set_path_is_refused(tmp_path):
    """issue 14: the command line was applied last, so every scenario ran with its value while keeping a name
    that said otherwise. Refused; a --set of a path no scenario sets still applies to every scenario."""
    data = with_scenarios({"name": "a", "set": {"clients.users.arrival.rate": 100}}, {"name": "b", "set": {}})
    with pytest.raises(ConfigError, match=r"^--set clients.users.arrival.rate: overrides what scenario 'a' sets "
                                          r"\(clients.users.arrival.rate: 100\), so it would run under a name that no longer says what ran"):
        load_experiment(write(tmp_path, data), [("clients.users.arrival.rate", 42)])
    with pytest.raises(ConfigError, match="overrides what scenario 'a' sets"):  # the same path, spelled by index
        load_experiment(write(tmp_path, data), [("clients.0.arrival.rate", 42)])
    spec = load_experiment(write(tmp_path, data), [("clients.users.timeout", "2s")])
    assert [s.clients[0].rate for s in spec.scenarios] == [100.0, 300.0]
    assert [s.clients[0].timeout for s in spec.scenarios] == [2.0, 2.0]


def test_command_line_set_over_a_path_other_scenarios_set_is_refused(tmp_path):
    data = with_scenarios({"name": "small", "set": {}}, {"name": "big", "set": {"Deployment/web.spec.replicas": 6}})
    with pytest.raises(ConfigError, match=r"changes Deployment/web\.spec\.replicas, which scenario 'big' sets and scenario 'small' takes from the file"):
        load_experiment(write(tmp_path, data), [("Deployment/web.spec.replicas", 3)])


def test_command_line_set_over_a_vary_path_is_refused_and_the_sweep_can_be_narrowed(tmp_path, capsys):
    data = copy.deepcopy(EXPERIMENT)
    data["vary"] = {"cluster.kube_proxy.mode": ["iptables", "ipvs"], "Deployment/web.spec.replicas": [2, 4]}
    file = write(tmp_path, data)
    code, _, err = netsim(capsys, "validate", file, "--set", "cluster.kube_proxy.mode=ipvs")
    assert code == 2
    assert err.strip() == ("netsim: error: --set cluster.kube_proxy.mode: overrides vary: cluster.kube_proxy.mode, so every scenario of "
                           "the sweep would run with the same value, each named after a value it did not use (e.g. 'mode=iptables,replicas=2'); "
                           "narrow the sweep instead: --set 'vary.cluster.kube_proxy.mode=[ipvs]'")
    spec = load_experiment(file, [parse_set("vary.cluster.kube_proxy.mode=[ipvs]")])
    assert [s.name for s in spec.scenarios] == ["mode=ipvs,replicas=2", "mode=ipvs,replicas=4"]
    assert all(s.cluster.kube_proxy.mode == "ipvs" for s in spec.scenarios)


def test_an_exec_prestop_without_a_duration_is_warned_about(tmp_path):
    data = copy.deepcopy(EXPERIMENT)
    container = data["manifests"][0]["spec"]["template"]["spec"]["containers"][0]
    container["lifecycle"] = {"preStop": {"exec": {"command": ["/bin/drain"]}}}
    spec = load_experiment(write(tmp_path, data))
    assert ("Deployment/web: its preStop exec hook takes its duration from workloads.web.prestop, which is not set, so it counts as "
            "0s (the same as no hook); set workloads.web.prestop to how long the hook runs, e.g. 5s") in spec.warnings
    data["workloads"]["web"]["prestop"] = "5s"
    assert not any("preStop" in w for w in load_experiment(write(tmp_path, data)).warnings)
    container["lifecycle"] = {"preStop": {"sleep": {"seconds": 5}}}  # a sleep carries its own duration
    data["workloads"]["web"].pop("prestop")
    assert not any("preStop" in w for w in load_experiment(write(tmp_path, data)).warnings)


def test_validate_shows_placement_service_policies_the_load_balancer_and_external_names(tmp_path, capsys):
    data = copy.deepcopy(EXPERIMENT)
    data["manifests"][0]["spec"]["template"]["spec"]["nodeName"] = "node-2"
    data["manifests"][1]["spec"].update(type="LoadBalancer", externalTrafficPolicy="Local", sessionAffinity="ClientIP")
    data["manifests"].append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "payments"},
                              "spec": {"type": "ExternalName", "externalName": "api.payments.example.com"}})
    data["cluster"]["load_balancer"] = {"provider": "aws-nlb"}
    code, out, err = netsim(capsys, "validate", write(tmp_path, data))
    assert code == 0, err
    assert "pods: web-1 on node-2 (zone-b), web-2 on node-2 (zone-b)" in out
    assert "nodes without pods: node-1 (zone-a), node-3 (zone-a)" in out
    assert "Service/web: LoadBalancer, selector app=web, ports 80->9376 (nodePort 30000)" in out
    assert "externalTrafficPolicy Local, internalTrafficPolicy Cluster, sessionAffinity ClientIP (10800s), healthCheckNodePort 30001" in out
    assert "load balancer: aws-nlb, algorithm flow-hash, instance targets, cross-zone off, client IP kept" in out
    assert "Service/payments: ExternalName -> api.payments.example.com" in out
    assert "{'" not in out  # no raw Python dicts


# --- run: reproducible, and other arguments ---------------------------------------------------------


def _run(capsys, file: Path, out: Path, *extra: str) -> bytes:  # type: ignore[no-untyped-def]
    code, _, err = netsim(capsys, "run", file, "-o", out, *extra)
    assert code == 0, err
    return (out / "summary.csv").read_bytes()


def test_same_seed_gives_byte_identical_summary(tmp_path, capsys):
    file = write(tmp_path, EXPERIMENT)
    first = _run(capsys, file, tmp_path / "a", "--quiet")
    second = _run(capsys, file, tmp_path / "b", "--quiet")
    assert first == second
    assert (tmp_path / "a" / "runs.csv").read_bytes() == (tmp_path / "b" / "runs.csv").read_bytes()
    other_seed = _run(capsys, file, tmp_path / "c", "--quiet", "--set", "run.seed=10")
    assert other_seed.splitlines()[1:] != first.splitlines()[1:], "the seed must matter"


def test_results_do_not_depend_on_the_number_of_jobs(tmp_path, capsys):
    file = write(tmp_path, EXPERIMENT)
    serial = _run(capsys, file, tmp_path / "serial", "--quiet")
    parallel = _run(capsys, file, tmp_path / "parallel", "--quiet", "--jobs", "2")
    assert serial == parallel


def test_run_prints_a_summary_table(tmp_path, capsys):
    code, out, err = netsim(capsys, "run", write(tmp_path, EXPERIMENT), "-o", tmp_path / "out")
    assert code == 0, err
    header, row = out.strip().splitlines()[:2]
    assert "p99 ms" in header and "users" in row and "web" in row
    assert str(tmp_path / "out") in err


@pytest.mark.parametrize("argv", [["run"], ["frobnicate"], ["run", "x.yaml", "--jobs", "many"], []])
def test_bad_arguments_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "netsim: error:" in err and "Traceback" not in err


def test_jobs_must_be_positive(tmp_path, capsys):
    code, _, err = netsim(capsys, "run", write(tmp_path, EXPERIMENT), "--jobs", "0", "-o", tmp_path / "out")
    assert code == 2
    assert err.strip().startswith("netsim: error: --jobs:")
