"""Experiment files in, :class:`~netsim.spec.ExperimentSpec` out.

The pipeline: read YAML safely → load ``manifest_files`` beside inline
``manifests`` → for each scenario, patch a copy of the base with the scenario's
``set`` and then the command line's ``--set`` → validate with pydantic → resolve
names across sections. Every failure is a :class:`~netsim.errors.ConfigError`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from netsim.config.messages import to_config_error
from netsim.config.paths import apply_sets
from netsim.config.resolve import build_scenario
from netsim.config.schema import ExperimentConfig, ScenarioConfig
from netsim.config.yaml_io import parse_yaml_value, read_yaml_documents, read_yaml_mapping
from netsim.errors import ConfigError
from netsim.spec import ExperimentSpec

__all__ = ["ExperimentConfig", "load_experiment", "parse_set"]


def parse_set(text: str) -> tuple[str, Any]:
    """``"PATH=VALUE"`` from the command line, the value read as a YAML scalar."""
    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise ConfigError("--set", f"'{text}' must look like PATH=VALUE, e.g. --set clients.users.arrival.rate=500")
    return path.strip(), parse_yaml_value(value, f"--set {path.strip()}")


def load_experiment(source: str | Path | Mapping[str, Any], sets: Iterable[tuple[str, Any]] = ()) -> ExperimentSpec:
    """Read, patch, validate and resolve an experiment; raises ConfigError on bad input."""
    if isinstance(source, Mapping):
        raw, base_dir, origin = copy.deepcopy(dict(source)), Path.cwd(), None
    else:
        raw, base_dir, origin = read_yaml_mapping(source), Path(source).resolve().parent, str(source)
    sets = list(sets)
    # ``manifest_files`` is read before anything else, so a --set of it must be applied first too;
    # ``scenarios`` shape the runs rather than the system, so --set cannot reach them.
    early = [(p, v) for p, v in sets if p.split(".")[0] == "manifest_files"]
    for path, _ in sets:
        if path.split(".")[0] == "scenarios":
            raise ConfigError(f"--set {path}", "scenarios cannot be changed with --set; edit the file, or --set the value itself (it then applies to every scenario)")
    apply_sets(raw, early)
    sets = [s for s in sets if s not in early]
    sources = _load_manifest_files(raw, base_dir)
    scenarios_raw = raw.pop("scenarios", None) or []
    scenarios = _validate_scenarios(scenarios_raw)
    context = {"base_dir": str(base_dir)}
    warnings: list[str] = []

    base = _validated(copy.deepcopy(raw), sets, context, suffix="")
    specs = []
    if not scenarios:
        specs.append(build_scenario(base.name, base, dict(sets), sources, warnings))
    for scenario in scenarios:
        patched = copy.deepcopy(raw)
        where = f" (in scenario '{scenario.name}')"
        for path in scenario.set:
            if path.split(".")[0] in {"manifest_files", "scenarios"}:
                raise ConfigError(f"scenarios.{scenario.name}.set.{path}", "a scenario cannot change this; set fields of the manifests instead, e.g. Deployment/web.spec.replicas")
        try:
            apply_sets(patched, scenario.set.items())
        except ConfigError as exc:
            raise ConfigError(f"scenarios.{scenario.name}.set.{exc.path}", exc.message) from None
        config = _validated(patched, sets, context, suffix=where)
        try:
            specs.append(build_scenario(scenario.name, config, {**scenario.set, **dict(sets)}, sources, warnings))
        except ConfigError as exc:
            raise ConfigError(exc.path, exc.message + where) from None
    digest = hashlib.sha256(json.dumps([s.config for s in specs], sort_keys=True, default=str).encode()).hexdigest()
    return ExperimentSpec(
        name=base.name,
        scenarios=tuple(specs),
        warnings=tuple(dict.fromkeys(warnings)),
        source=origin,
        config_hash=digest[:16],
    )


def _validated(raw: dict[str, Any], sets: list[tuple[str, Any]], context: dict[str, Any], suffix: str) -> ExperimentConfig:
    apply_sets(raw, sets)
    try:
        return ExperimentConfig.model_validate(raw, context=context)
    except ValidationError as exc:
        raise to_config_error(exc, raw, ExperimentConfig, suffix) from None


def _validate_scenarios(items: Any) -> list[ScenarioConfig]:
    if not isinstance(items, list):
        raise ConfigError("scenarios", "must be a list of {name, set}")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(ScenarioConfig.model_validate(item))
        except ValidationError as exc:
            err = to_config_error(exc, {"scenarios": items}, ExperimentConfig)
            raise ConfigError(err.path or f"scenarios.{i}", err.message) from None
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ConfigError("scenarios", "scenario names must be unique")
    return out


def _load_manifest_files(raw: dict[str, Any], base_dir: Path) -> list[str]:
    """Append the documents of ``manifest_files`` to ``manifests``; returns each document's source."""
    inline = raw.get("manifests") or []
    files = raw.get("manifest_files") or []
    if not isinstance(inline, list):
        raise ConfigError("manifests", "must be a list of Kubernetes manifests")
    if not isinstance(files, list):
        raise ConfigError("manifest_files", "must be a list of file paths")
    sources = ["manifests"] * len(inline)
    docs = list(inline)
    for i, name in enumerate(files):
        path = Path(str(name))
        path = path if path.is_absolute() else base_dir / path
        try:
            loaded = read_yaml_documents(path)
        except ConfigError as exc:
            raise ConfigError(f"manifest_files.{i}", f"{exc.path}: {exc.message}") from None
        for doc in loaded:
            items = doc.get("items") if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
            docs.extend(items or [])
            sources.extend([path.name] * len(items or []))
    raw["manifests"] = docs
    return sources
