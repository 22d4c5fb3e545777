"""Reading YAML safely, with errors that point at a line.

Only plain data is accepted: a ``!!python/...`` tag is refused, never executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from netsim.errors import ConfigError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml_error(path: str, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else path
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in str(problem):
        tag = str(problem).split("tag", 1)[1].strip(" '\"")
        return ConfigError(where, f"the tag '{tag}' is not allowed: netsim reads plain YAML data only; remove the tag")
    return ConfigError(where, f"YAML syntax error: {problem}; fix the file at that line")


def read_yaml_documents(path: str | Path) -> list[Any]:
    """All documents of a (possibly multi-document) YAML file, empty ones dropped."""
    text = _read_text(path)
    try:
        return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
    except yaml.YAMLError as exc:
        raise _yaml_error(str(path), exc) from None


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A single-document YAML file that must hold a mapping (an experiment file)."""
    docs = read_yaml_documents(path)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ConfigError(str(path), "an experiment file must hold one YAML mapping (name, run, cluster, manifests, clients, ...)")
    return docs[0]


def parse_yaml_value(text: str, where: str) -> Any:
    """A ``--set`` value: YAML scalars, so ``3`` is a number, ``true`` a bool, ``10ms`` a string."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        if isinstance(exc, yaml.constructor.ConstructorError):
            raise _yaml_error(where, exc) from None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            where, f"the value '{text}' is not valid YAML ({problem}); close its brackets or quote it, e.g. --set 'PATH={{a: 1}}'"
        ) from None


def _read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found; check the path (relative paths start at the experiment file's folder)") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read the file: {exc.strerror}") from None
