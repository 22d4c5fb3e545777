"""docs/config.md cannot silently fall behind the code.

Every field of the experiment file's JSON schema (recursively), every choice a
field allows and every output column must be mentioned in ``docs/config.md``
(as code: in backticks). A field added to ``netsim/config/schema.py`` without a
line in the docs fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from netsim import metrics
from netsim.config.schema import BUILTIN_WORKLOAD, ExperimentConfig

DOCS = Path(__file__).resolve().parents[1] / "docs" / "config.md"


@pytest.fixture(scope="module")
def docs() -> str:
    return DOCS.read_text(encoding="utf-8")


def _walk(node: Any, fields: set[str], choices: set[str]) -> None:
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            fields.update(properties)
        if isinstance(node.get("const"), str):
            choices.add(node["const"])
        if isinstance(node.get("enum"), list):
            choices.update(v for v in node["enum"] if isinstance(v, str))
        for value in node.values():
            _walk(value, fields, choices)
    elif isinstance(node, list):
        for value in node:
            _walk(value, fields, choices)


def _schema_names() -> tuple[set[str], set[str]]:
    fields: set[str] = set()
    choices: set[str] = set()
    _walk(ExperimentConfig.model_json_schema(by_alias=True), fields, choices)
    return fields, choices


def _code_spans(text: str) -> set[str]:
    """Words that appear inside `backticks`, split on the characters that join them in examples."""
    words: set[str] = set()
    for span in re.findall(r"`([^`\n]+)`", text):
        words.add(span.strip())
        words.update(w for w in re.split(r"[\s.,:=\[\]{}()/|]+", span) if w)
    return words


def test_schema_walk_finds_nested_fields():
    fields, choices = _schema_names()
    assert {"run", "duration", "same_zone", "cache_ttl", "arrival", "rate", "shape", "p99", "from"} <= fields
    assert {"exponential", "iptables", "in-cluster", "poisson"} <= choices


def test_every_schema_field_is_documented(docs):
    fields, _ = _schema_names()
    missing = sorted(fields - _code_spans(docs))
    assert not missing, f"docs/config.md does not mention these fields (in backticks): {missing}"


def test_every_allowed_choice_is_documented(docs):
    _, choices = _schema_names()
    missing = sorted(choices - _code_spans(docs))
    assert not missing, f"docs/config.md does not mention these allowed values (in backticks): {missing}"


def test_builtin_workload_default_is_documented(docs):
    for key, value in BUILTIN_WORKLOAD.items():
        assert f"`{key}`" in docs
        if isinstance(value, int):
            assert f"`{key}` {value}" in docs, f"the built-in default {key}={value} is not in docs/config.md"


def test_every_output_column_is_documented(docs):
    spans = _code_spans(docs)
    columns = {c for name in dir(metrics) if name.endswith("_COLUMNS") for c in getattr(metrics, name)}
    assert {"latency_p99_ms", "jain_index", "errors_refused", "share"} <= columns
    missing = sorted(columns - spans)
    assert not missing, f"docs/config.md does not explain these output columns: {missing}"


def test_the_commands_on_experiment_files_are_documented(docs):
    for command in ("netsim run", "netsim validate", "netsim schema", "--set", "--output", "--save-requests", "--jobs"):
        assert command in docs, command


def test_docs_are_self_contained(docs):
    """A user's clone has docs/config.md but not the team's notes: no reference may point there."""
    for outside in ("k8s-facts", "/".join(("..", "shared")), "design.md"):  # the team folder beside the clone
        assert outside not in docs, outside


def test_every_outcome_and_service_type_is_listed(docs):
    from netsim.k8s.objects import ServiceType
    from netsim.model.request import Outcome

    parquet = docs.split("### requests.parquet")[1].split("###")[0]
    for outcome in Outcome:
        assert f"`{outcome.name.lower()}`" in parquet, f"requests.parquet's outcome {outcome.name.lower()} is not listed"
    row = next(line for line in docs.splitlines() if line.startswith("| `service_type` |"))
    for kind in ServiceType:
        assert f"`{kind.value}`" in row, kind


def test_the_first_packet_default_is_the_one_the_code_uses(docs):
    from netsim.config.schema import FirstPacketConfig

    assert f"| `model` | | `{FirstPacketConfig().model}` |" in docs


def test_every_command_and_option_is_documented(docs):
    import argparse

    from netsim.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        assert f"netsim {name}" in docs, name
        for action in command._actions:
            longest = max(action.option_strings, key=len, default=None)
            if longest and longest != "--help":
                assert longest in docs, f"netsim {name} {longest}"
