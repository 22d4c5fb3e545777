"""Experiment files in, :class:`~netsim.spec.ExperimentSpec` out.

The pipeline: read YAML safely → load ``manifest_files`` beside inline
``manifests`` → for each scenario, patch a copy of the base with the scenario's
``set`` and then the command line's ``--set`` → validate with pydantic → resolve
names across sections. Every failure is a :class:`~netsim.errors.ConfigError`.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from netsim import limits
from netsim.config.messages import to_config_error
from netsim.config.paths import _find_manifest, _list_index, apply_sets, split_path
from netsim.config.resolve import build_scenario
from netsim.config.schema import ExperimentConfig, ScenarioConfig
from netsim.config.yaml_io import manifest_file_documents, parse_yaml_value, read_yaml_mapping
from netsim.errors import ConfigError, did_you_mean
from netsim.k8s.manifests import check_documents

if TYPE_CHECKING:
    from netsim.spec import ExperimentSpec, ScenarioSpec

# ``netsim.spec`` imports this package for the config types: when it is imported first it is
# only partly initialised here, so bind the module and look ExperimentSpec up when it is used.
import netsim.spec as _spec

__all__ = ["MISSING", "ExperimentConfig", "load_experiment", "parse_set", "value_at"]


def parse_set(text: str) -> tuple[str, Any]:
    """``"PATH=VALUE"`` from the command line, the value read as a YAML scalar."""
    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise ConfigError("--set", f"'{text}' must look like PATH=VALUE, e.g. --set clients.users.arrival.rate=500")
    return path.strip(), parse_yaml_value(value, f"--set {path.strip()}")


def load_experiment(source: str | Path | Mapping[str, Any], sets: Iterable[tuple[str, Any]] = ()) -> ExperimentSpec:
    """Read, patch, validate and resolve an experiment; raises ConfigError on bad input.

    Each scenario is the base patched, in order, by its ``scenarios[].set``, its ``vary:``
    combination and the command line's ``--set`` (later ones win).
    """
    if isinstance(source, Mapping):
        raw, base_dir, origin = copy.deepcopy(dict(source)), Path.cwd(), None
    else:
        raw, base_dir, origin = read_yaml_mapping(source), Path(source).resolve().parent, str(source)
    sets = _apply_early_sets(raw, list(sets))
    sources = _load_manifest_files(raw, base_dir)
    # The manifests as written, checked before any scenario patches them: a scenario's set names them by
    # Kind/name, and a broken manifest is broken even where every scenario overrides the broken field.
    check_documents(raw["manifests"], sources)
    if isinstance(raw.get("deferred"), list):
        check_documents(raw["deferred"], ["deferred"] * len(raw["deferred"]), "deferred")
    scenarios = _validate_scenarios(raw.pop("scenarios", None) or [])
    # Sweep settings describe the set of scenarios, not any one of them: kept out of each scenario's
    # config (and so out of its hash), which lets a grown sweep reuse the runs it already has.
    sweep = {key: raw.pop(key) for key in _SWEEP_KEYS if key in raw}
    _apply_sweep_sets(sweep, [(p, v) for p, v in sets if p.split(".")[0] in _SWEEP_KEYS])
    sets = [(p, v) for p, v in sets if p.split(".")[0] not in _SWEEP_KEYS]
    context = {"base_dir": str(base_dir)}
    warnings: list[str] = []

    base = _validated({**copy.deepcopy(raw), **sweep}, sets, context, suffix="")
    specs = []
    configs = []
    points = _points(base.name, scenarios, base.vary, base.run.limits)
    swept = {path: prefix for _, point in points for prefix, point_sets in point for path in point_sets}
    for name, point in points:
        patched = copy.deepcopy(raw)
        for prefix, point_sets in point:
            try:
                apply_sets(patched, point_sets.items())
            except ConfigError as exc:
                raise ConfigError(f"{prefix}.{exc.path}", exc.message) from None
        _refuse_overridden_sweep(patched, name, point, swept, sets)
        where = f" (in scenario '{name}')" if scenarios or base.vary else ""
        config = _validated(patched, sets, context, suffix=where)
        configs.append(config)
        limits.check_runs(sum(c.run.replications for c in configs), base.run.limits)
        parameters = {k: v for _, point_sets in point for k, v in point_sets.items()}
        try:
            limits.check_config(config, where)
            specs.append(build_scenario(name, config, {**parameters, **dict(sets)}, sources, warnings))
            warnings.extend(limits.check_scenario(specs[-1], where))
            _check_engine(specs[-1])
        except ConfigError as exc:
            raise ConfigError(exc.path, exc.message + (where if where not in exc.message else "")) from None
    names = [s.name for s in specs]
    if base.compare_to is not None and base.compare_to not in names:
        raise ConfigError(
            "compare_to", f"no scenario named '{base.compare_to}'{did_you_mean(base.compare_to, names)}; scenarios: {', '.join(names)}"
        )
    digest = hashlib.sha256(json.dumps([_without_limits(s.config) for s in specs], sort_keys=True, default=str).encode()).hexdigest()
    return _spec.ExperimentSpec(
        name=base.name,
        scenarios=tuple(specs),
        warnings=tuple(dict.fromkeys(warnings)),
        source=origin,
        config_hash=digest[:16],
        compare_to=base.compare_to or names[0],
    )


_SWEEP_KEYS = ("vary", "compare_to")


def _without_limits(config: dict[str, Any]) -> dict[str, Any]:
    """A config for hashing: what a run may cost (run.limits) does not change what it computes, and the engine
    (run.engine) computes the same model (a baseline records its engine; ``netsim check`` warns when they differ)."""
    return {**config, "run": {k: v for k, v in config.get("run", {}).items() if k not in ("limits", "engine")}}


def _apply_sweep_sets(sweep: dict[str, Any], sets: list[tuple[str, Any]]) -> None:
    """``--set vary.<dotted path>=[...]`` replaces that path's values (vary's keys are dotted paths themselves)."""
    for path, value in sets:
        head, _, rest = path.partition(".")
        if head == "vary" and rest:
            if not isinstance(sweep.get("vary"), dict):
                sweep["vary"] = {}
            sweep["vary"][rest] = value
        else:
            apply_sets(sweep, [(path, value)])


def _refuse_overridden_sweep(patched: dict[str, Any], scenario: str, point: Point, swept: dict[str, str],
                             sets: list[tuple[str, Any]]) -> None:
    """A ``--set`` that changes the value of a path the scenarios vary is refused.

    ``swept`` maps every path any scenario's ``set`` or ``vary`` gives to where it is
    set. The command line is applied last, so it would win: every scenario of a sweep
    would run with the same value while each is named after the one it no longer uses,
    and the tables would say the opposite of what ran. Renaming cannot mend it (sweep
    points collapse into duplicates; a named scenario has no name to derive), so the
    combination is refused with the way to say what was meant. A ``--set`` that leaves
    every swept value as it was (another path, or the same value) passes.
    """
    if not sets or not swept:
        return
    own = {path: (prefix, value) for prefix, point_sets in point for path, value in point_sets.items()}
    for cli_path, cli_value in sets:
        ran = copy.deepcopy(patched)
        apply_sets(ran, [(cli_path, cli_value)])
        for path, where in swept.items():
            if value_at(ran, path) == value_at(patched, path):
                continue
            if path in own:
                where, value = own[path]
            if where == "vary":
                raise ConfigError(
                    f"--set {cli_path}", f"overrides vary: {path}, so every scenario of the sweep would run with the same value, each "
                    f"named after a value it did not use (e.g. '{scenario}'); narrow the sweep instead: --set 'vary.{path}=[{_label(cli_value)}]'"
                )
            if path in own:
                raise ConfigError(
                    f"--set {cli_path}", f"overrides what scenario '{scenario}' sets ({path}: {_label(value)}), so it would run under a name "
                    f"that no longer says what ran; drop this --set, or change {where}.{path} in the file"
                )
            owner = where.removeprefix("scenarios.").removesuffix(".set")
            raise ConfigError(
                f"--set {cli_path}", f"changes {path}, which scenario '{owner}' sets and scenario '{scenario}' takes from the file, so "
                f"'{scenario}' would run under a name that no longer says what ran; drop this --set, or edit the scenarios in the file"
            )


MISSING = object()


def value_at(raw: dict[str, Any], path: str) -> Any:
    """The value a dotted path addresses in a raw config, or a scenario's config in manifest.json (``MISSING`` when none)."""
    head, rest = split_path(path)
    try:
        node: Any = raw
        if "/" in head:
            node, rest = _find_manifest(raw, head, rest, path)
        for part in rest if "/" in head else [head, *rest]:
            if isinstance(node, list):
                node = node[_list_index(node, part, path)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return MISSING
    except ConfigError:
        return MISSING
    return node


Point = list[tuple[str, dict[str, Any]]]
"""The patches that make one scenario: ``(where, {dotted path: value})`` pairs, applied in order."""


def _points(base_name: str, scenarios: list[ScenarioConfig], vary: Mapping[str, list[Any]], run_limits: Any = None) -> list[tuple[str, Point]]:
    """Every scenario to simulate: ``scenarios`` crossed with the combinations of ``vary``."""
    named: list[tuple[str, Point]] = [(s.name, [(f"scenarios.{s.name}.set", dict(s.set))]) for s in scenarios]
    if not vary:
        return named or [(base_name, [])]
    limits.check_runs(max(len(named), 1) * math.prod(len(v) for v in vary.values()), run_limits)  # before listing them
    combos = _vary_combinations(vary)
    if not named:
        return [(label, [("vary", combo)]) for label, combo in combos]
    return [(f"{name},{label}", [*point, ("vary", combo)]) for name, point in named for label, combo in combos]


def _vary_combinations(vary: Mapping[str, list[Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The cartesian product of ``vary``, each named ``label=value,...`` by the paths' last parts."""
    paths = list(vary)
    last = [p.rsplit(".", 1)[-1] for p in paths]
    labels = [short if last.count(short) == 1 else path for short, path in zip(last, paths, strict=True)]
    out: list[tuple[str, dict[str, Any]]] = []
    for values in itertools.product(*vary.values()):
        name = ",".join(f"{label}={_label(v)}" for label, v in zip(labels, values, strict=True))
        out.append((name, dict(zip(paths, values, strict=True))))
    seen: set[str] = set()
    for name, _ in out:
        if name in seen:
            raise ConfigError("vary", f"two combinations are both named '{name}': give each path distinct values (e.g. not both 1 and '1')")
        seen.add(name)
    return out


def _label(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)


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
    for scenario in out:
        for path in scenario.set:
            if path.split(".")[0] in {"manifest_files", "scenarios", *_SWEEP_KEYS}:
                raise ConfigError(f"scenarios.{scenario.name}.set.{path}", "a scenario cannot change this; set fields of the manifests instead, e.g. Deployment/web.spec.replicas")
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
        found = manifest_file_documents(path, f"manifest_files.{i}")
        docs.extend(found)
        sources.extend([path.name] * len(found))
    raw["manifests"] = docs
    return sources


def _apply_early_sets(raw: dict[str, Any], sets: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Apply ``--set manifest_files...`` now (the files are read first); refuse what --set cannot reach.

    Returns the other sets, to be applied to each scenario.
    """
    for path, _ in sets:
        if path.split(".")[0] == "scenarios":
            raise ConfigError(f"--set {path}", "scenarios cannot be changed with --set; edit the file, or --set the value itself (it then applies to every scenario)")
    early = [(p, v) for p, v in sets if p.split(".")[0] == "manifest_files"]
    apply_sets(raw, early)
    return [(p, v) for p, v in sets if p.split(".")[0] != "manifest_files"]


def _check_engine(scenario: ScenarioSpec) -> None:
    """``run.engine: fast`` on a scenario the fast engine cannot simulate: say which feature, and the fix."""
    if scenario.run.engine != "fast":
        return
    from netsim.fast.eligibility import why_not_fast

    reason = why_not_fast(scenario)
    if reason is not None:
        raise ConfigError("run.engine", f"fast cannot simulate this scenario ({reason}); use engine: auto or events")
