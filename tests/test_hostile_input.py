"""Hostile input, one rule at a time (issue 11): files, YAML, strict types, names, strict manifests.

The corpus (test_bad_corpus.py) shows every mutation is refused; these tests pin down
each rule and its message, and show that what is legitimate stays accepted (aliases
and merges, ``1e9`` as a number, whole floats as counts, fields Kubernetes accepts but
netsim does not model, other kinds skipped).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import experiment

from netsim.config import load_experiment, parse_set, yaml_io
from netsim.errors import ConfigError
from netsim.input_files import read_bytes, read_text
from netsim.k8s import strict

REPO = Path(__file__).resolve().parents[1]


def refused(config: dict[str, Any], sets: list[tuple[str, Any]] = ()) -> ConfigError:  # type: ignore[assignment]
    with pytest.raises(ConfigError) as info:
        load_experiment(config, sets)
    return info.value


# --- files ------------------------------------------------------------------------------------------


def test_only_regular_files_are_read(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "folder").mkdir()
    for name, kind in (("fifo", "named pipe"), ("zero", "character device"), ("folder", "a folder")):
        with pytest.raises(ConfigError, match=kind):
            read_bytes(tmp_path / name, 1 << 20)


def test_the_size_cap_is_checked_before_reading_and_reading_is_bounded(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a" * 100)
    assert len(read_bytes(path, 100)) == 100
    with pytest.raises(ConfigError, match="above the 99 bytes limit"):
        read_bytes(path, 99)
    sparse = tmp_path / "huge"
    with open(sparse, "wb") as handle:
        handle.truncate(1 << 40)  # a terabyte that takes no disk: refused from its size alone
    with pytest.raises(ConfigError, match="above the 16 MiB limit"):
        read_bytes(sparse, 16 << 20)


@pytest.mark.parametrize("data, words", [
    ("name: é\n".encode("latin-1"), "byte 0xe9 on line 1"),
    ("name: x\n".encode("utf-16"), "UTF-16"),
    ("name: x\n".encode("utf-16-le"), "UTF-16"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not text"),
])
def test_only_utf8_text_is_read(tmp_path, data, words):
    path = tmp_path / "f.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=words):
        read_text(path, 1 << 20)


def test_utf8_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_bytes("\ufeffname: é\n".encode())
    assert read_text(path, 1 << 20) == "name: é\n"


def test_samples_files_must_hold_finite_non_negative_numbers(tmp_path):
    config = experiment(duration=1.0, service_time={"distribution": "empirical", "file": str(tmp_path / "s.txt")})
    for content, words in (("0.001\nnan\n", "not finite"), ("0.001 inf\n", "not finite"), ("1e400\n", "not finite"),
                           ("0.001\n-0.5\n", "negative"), ("0.001\nfast\n", "'fast' on line 2"), ("# only a comment\n", "no numbers")):
        (tmp_path / "s.txt").write_text(content)
        assert words in refused(config).message, content
    (tmp_path / "s.txt").write_text("# milliseconds from tracing\n0.001, 0.002  # two\n0.003\n")
    assert load_experiment(config).scenarios[0].workloads["web"].service_time.samples == (0.001, 0.002, 0.003)


# --- YAML -------------------------------------------------------------------------------------------


def test_a_key_twice_in_a_mapping_is_an_error_with_both_lines():
    with pytest.raises(ConfigError) as info:
        yaml_io.load_text("run: {duration: 1s}\nname: x\nrun: {duration: 2s}\n", "e.yaml")
    assert info.value.path == "e.yaml:3" and "'run' appears twice" in info.value.message and "line 1" in info.value.message


def test_merges_and_aliases_stay_legal():
    docs = yaml_io.load_text("base: &b {a: 1, b: 2}\nx: {<<: *b, b: 3}\ny: *b\n", "e.yaml")
    assert docs == [{"base": {"a": 1, "b": 2}, "x": {"a": 1, "b": 3}, "y": {"a": 1, "b": 2}}]


def test_an_alias_bomb_is_refused_at_any_depth():
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(6))
    deep = "spec:\n  template:\n    metadata:\n      annotations:\n" + "".join("        " + line + "\n" for line in laughs.splitlines())
    for text in (laughs, deep):
        with pytest.raises(ConfigError, match="expands to more than 2,000,000 values"):
            yaml_io.load_text(text, "e.yaml")
    yaml_io.load_text(laughs.rsplit("\n", 2)[0] + "\n", "e.yaml")  # 10^5 values once expanded: fine


def test_text_bombs_count_characters():
    text = "s: &s " + "x" * 10_000 + "\n" + "".join(
        f"t{i}: &t{i} [{', '.join(['*' + ('s' if i == 0 else f't{i - 1}')] * 10)}]\n" for i in range(4))
    with pytest.raises(ConfigError, match="MiB of text"):
        yaml_io.load_text(text, "e.yaml")


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "- " * 5000 + "x\n", "{a: " * 5000 + "1" + "}" * 5000])
def test_deep_nesting_is_refused_before_the_parser_recurses(text):
    with pytest.raises(ConfigError, match="nested more than 100 levels"):
        yaml_io.load_text(text, "e.yaml")


def test_numbers_are_read_as_kubernetes_reads_them():
    assert yaml_io.load_text("a: 1e9\nb: 2.5E-3\nc: 1_000\nd: '1e9'\ne: 1e\n", "e.yaml") == [
        {"a": 1e9, "b": 2.5e-3, "c": 1000, "d": "1e9", "e": "1e"}]


@pytest.mark.parametrize("value", ["!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!!set {a, b}"])
def test_tags_are_never_constructed_in_a_set_value(value):
    if value.startswith("!!set"):
        assert parse_set(f"description={value}")[1] == {"a", "b"}  # plain YAML data (a set); the schema refuses it
        return
    with pytest.raises(ConfigError, match="is not allowed"):
        parse_set(f"description={value}")


# --- strict types and positions ----------------------------------------------------------------------


@pytest.mark.parametrize("sets, path, words", [
    ([("clients.load.arrival.rate", "1200")], "clients.load.arrival.rate", "the text '1200'; write the number without quotes"),
    ([("run.replications", True)], "run.replications", "got true"),
    ([("run.seed", 1.5)], "run.seed", "whole number"),
    ([("cluster.dns.aaaa", "yes")], "cluster.dns.aaaa", "true or false"),
    ([("clients.load.arrival.rate", float("inf"))], "clients.load.arrival.rate", "finite"),
    ([("run.duration", float("nan"))], "run.duration", "not a finite duration"),
    ([("cluster.network.same_zone", "1e400s")], "cluster.network.same_zone", "not a finite duration"),
    ([("cluster.network.same_zone", "10 parsecs")], "cluster.network.same_zone", "unknown unit 'parsecs'"),
    ([("name", "../elsewhere")], "name", "cannot name a results folder"),
    ([("name", "/tmp/x")], "name", "cannot name a results folder"),
    ([("name", "..")], "name", "cannot name a results folder"),
])
def test_values_of_the_wrong_kind_are_refused_at_their_position(sets, path, words):
    error = refused(experiment(duration=1.0), sets)
    assert error.path == path and words in error.message, error


def test_whole_floats_count_as_whole_numbers():
    spec = load_experiment(experiment(duration=1.0), [("run.replications", 2.0), ("run.seed", 1e3)])
    assert spec.scenarios[0].run.replications == 2 and spec.scenarios[0].run.seed == 1000


def test_an_error_path_names_a_position_not_the_bad_value():
    config = experiment(duration=1.0)
    config["clients"][0]["name"] = [1, 2]
    error = refused(config)
    assert error.path == "clients.0.name" and "[1, 2]" not in error.path


def test_a_target_in_another_namespace_says_where_it_looked():
    config = experiment(duration=1.0)
    config["clients"][0]["target"] = "web.other-ns.svc.cluster.local"
    error = refused(config)
    assert "in namespace 'other-ns'" in error.message and "is in namespace 'default'" in error.message
    assert "did you mean 'web'" not in error.message


# --- strict Kubernetes objects ---------------------------------------------------------------------


def with_manifest(index: int, change: Any) -> dict[str, Any]:
    config = experiment(duration=1.0)
    change(config["manifests"][index])
    return config


@pytest.mark.parametrize("change, path, words", [
    (lambda d: d["spec"].__setitem__("tpye", "NodePort"), "Service/web.spec.tpye", "did you mean 'type'"),
    (lambda d: d.__setitem__("apiVersion", "apps/v1"), "Service/web.apiVersion", "use v1"),
    (lambda d: d.pop("apiVersion"), "Service/web.apiVersion", "required"),
    (lambda d: d["spec"].__setitem__("ports", [{"port": 80}, {"port": 80, "targetPort": 81}]), "Service/web.spec.ports.1", "listed twice"),
    (lambda d: d["spec"].__setitem__("ports", [{"name": "a", "port": 80}, {"name": "a", "port": 81}]), "Service/web.spec.ports.1.name",
     "used twice"),
    (lambda d: d["metadata"].__setitem__("labels", {"tier": 3}), "Service/web.metadata.labels.tier", "expected a string"),
])
def test_a_service_is_checked_as_the_api_server_would(change, path, words):
    error = refused(with_manifest(1, change))
    assert error.path == path and words in error.message, error


@pytest.mark.parametrize("change, path, words", [
    (lambda d: d.__setitem__("apiVersion", "extensions/v1beta1"), "Deployment/web.apiVersion", "Kubernetes 1.37 does not serve"),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("image", 12), "containers.0.image", "expected a string"),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("name", ["a"]), "containers.0.name", "expected a string"),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"), "containers.0.name", "required"),
    (lambda d: d["spec"]["template"]["spec"].__setitem__("containers", []), "spec.template.spec.containers", "at least one container"),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__(
        "readinessProbe", {"tcpSocket": {"port": 8080}, "periodSecond": 5}), "readinessProbe.periodSecond", "did you mean 'periodSeconds'"),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__(
        "resources", {"limits": {"memory": "lots"}}), "resources.limits.memory", "not a quantity"),
])
def test_a_deployment_and_its_pod_template_are_checked(change, path, words):
    error = refused(with_manifest(0, change))
    assert error.path.endswith(path) and words in error.message, error


def test_a_set_that_reaches_an_unknown_field_is_refused():
    error = refused(experiment(duration=1.0), [("Deployment/web.spec.replica", 3)])
    assert error.path == "Deployment/web.spec.replica" and "did you mean 'replicas'" in error.message


def test_fields_kubernetes_accepts_but_netsim_does_not_model_stay_accepted():
    def rich(d: dict[str, Any]) -> None:
        pod = d["spec"]["template"]["spec"]
        pod["securityContext"] = {"runAsNonRoot": True, "fsGroup": 1000}
        pod["volumes"] = [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
        container = pod["containers"][0]
        container.update(image="nginx:1.27", env=[{"name": "A", "value": "1"}], resources={"requests": {"cpu": 0.5, "memory": "64Mi"}},
                         livenessProbe={"httpGet": {"path": "/", "port": "http"}}, volumeMounts=[{"name": "tmp", "mountPath": "/tmp"}])
        d["metadata"]["annotations"] = {"example.com/x": "y"}
        d["spec"]["replicas"] = 3.0  # a whole float is a count, as YAML 1.2 writes 3e0

    spec = load_experiment(with_manifest(0, rich))
    assert spec.scenarios[0].deployments[0].replicas == 3


def test_other_kinds_are_skipped_with_a_warning_not_checked():
    config = experiment(duration=1.0)
    config["manifests"].append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "y"}, "bogus": 1})
    assert any("skipped 1 ConfigMap" in w for w in load_experiment(config).warnings)


def test_the_real_manifests_pass_the_strict_check():
    for path in sorted((REPO / "experiments").glob("*.yaml")):
        try:
            load_experiment(path, [("run.duration", "1s"), ("run.warmup", "0s"), ("run.replications", 1)])
        except ConfigError as exc:
            if "file not found" in exc.message:
                pytest.skip(f"{path.name}: its manifest files are not beside the repository")
            raise


def test_the_field_tree_names_its_version_source_and_license():
    data = json.loads((REPO / "netsim" / "k8s" / "k8s_fields.json").read_text())
    assert data["kubernetes"] == strict.kubernetes_version() == "1.37"
    assert "Apache License, Version 2.0" in data["license"] and "OpenAPI" in data["source"]
    assert set(data["kinds"]) == {"v1/Service", "apps/v1/Deployment", "autoscaling/v2/HorizontalPodAutoscaler",
                                  "autoscaling/v1/HorizontalPodAutoscaler"}
    docs = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    assert f"Kubernetes {data['kubernetes']}" in docs
    # spot checks against the Kubernetes API reference
    types = data["types"]
    assert types["V1ServicePort"]["fields"]["targetPort"] == "int-or-string" and types["V1ServicePort"]["required"] == ["port"]
    assert types["V1Container"]["required"] == ["name"] and types["V1PodSpec"]["required"] == ["containers"]
    assert set(types["V1DeploymentSpec"]["required"]) == {"selector", "template"}
    assert types["V1ResourceRequirements"]["fields"]["requests"] == ["map", "quantity"]


def test_the_field_tree_tool_reproduces_the_committed_file(tmp_path):
    """When the Kubernetes client's source is at hand (NETSIM_K8S_CLIENT_SRC), the generator gives the committed file."""
    source = os.environ.get("NETSIM_K8S_CLIENT_SRC")
    if not source:
        pytest.skip("set NETSIM_K8S_CLIENT_SRC to an unpacked kubernetes-37.0.2 source tree to check the generator")
    import subprocess
    import sys

    made = subprocess.run([sys.executable, str(REPO / "tools" / "k8s_field_tree.py"), source], capture_output=True, text=True, check=True)
    assert made.stdout == (REPO / "netsim" / "k8s" / "k8s_fields.json").read_text()


def test_a_copy_of_a_manifest_is_returned_not_changed():
    doc = copy.deepcopy(experiment()["manifests"][0])
    doc["spec"]["replicas"] = 2.0
    before = copy.deepcopy(doc)
    assert strict.check_object(doc, "Deployment/web")["spec"]["replicas"] == 2
    assert doc == before


def test_yaml_dump_of_a_corpus_value_round_trips():
    """The corpus writes non-finite floats as YAML does; netsim reads them back as non-finite (and refuses them)."""
    assert yaml_io.load_text(yaml.safe_dump({"x": float("inf")}), "e")[0]["x"] == float("inf")
