"""Pydantic's validation errors, told as one line a user can act on.

Pydantic reports locations as tuples of keys and list indices, and messages
written for programmers. Users think in dotted paths with named items
(``clients.users.arrival.rate``) and want to know what would fix it.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from netsim.config.churn_events import ACTIONS
from netsim.distributions import DISTRIBUTION_NAMES
from netsim.errors import ConfigError, did_you_mean, one_of
from netsim.k8s.manifests import object_key

_NAMED_LISTS = {"clients", "scenarios", "nodes"}
_WRAPPERS = {"function-after", "function-before", "function-wrap", "function-plain"}


def to_config_error(exc: ValidationError, raw: Any, root: type[BaseModel], suffix: str = "") -> ConfigError:
    """The most specific error of ``exc`` as a :class:`ConfigError` with a readable path."""
    errors = sorted(exc.errors(), key=_specificity, reverse=True)
    err = errors[0]
    loc = tuple(err["loc"])
    path, parent, found = _readable_path(loc, raw)
    message = _message(err, loc, parent, found, root)
    return ConfigError(path, message + suffix)


def _specificity(err: dict[str, Any]) -> tuple[int, int, int]:
    generic = err["type"] in {"model_type", "list_type", "dict_type", "model_attributes_type"}
    # A misspelt key also shows up as the required field it failed to fill ({gamma, shap: 2} lacks
    # 'shape'): the unknown key, with its "did you mean", is the one worth telling.
    typo = err["type"] == "extra_forbidden"
    return (0 if generic else 1, len(err["loc"]), 1 if typo else 0)


def _readable_path(loc: tuple[Any, ...], raw: Any) -> tuple[str, Any, bool]:
    """Dotted path for ``loc`` walking the raw data; also the parent value and whether the leaf exists."""
    parts: list[str] = []
    node, parent, found = raw, None, True
    for i, seg in enumerate(loc):
        if isinstance(node, dict) and seg in node and i + 1 < len(loc) and not isinstance(node[seg], dict | list) and (
            loc[i + 1] in node or seg in ACTIONS
        ):
            continue  # a union member's tag that is also a key (churn's 'fail'): the error is in this same mapping
        if isinstance(node, list) and isinstance(seg, int) and seg < len(node):
            item = node[seg]
            if parts and parts[-1] == "manifests" and isinstance(item, dict):
                parts[-1] = object_key(item)
            elif parts and parts[-1] in _NAMED_LISTS and _usable_name(item):
                parts.append(item["name"])
            else:
                parts.append(str(seg))
            parent, node = node, item
        elif isinstance(node, dict) and seg in node:
            parts.append(str(seg))
            parent, node = node, node[seg]
        elif isinstance(node, dict) and isinstance(seg, str) and not _is_tag(seg):
            parts.append(seg)
            parent, node, found = node, None, False
        # else: a union member tag or validator wrapper pydantic adds; not part of the user's path
    return ".".join(parts), parent, found


def _usable_name(item: Any) -> bool:
    """A list item is addressed by its name only when the name is plain text: else by its position."""
    name = item.get("name") if isinstance(item, dict) else None
    return isinstance(name, str) and bool(name) and "." not in name and len(name) <= 100


def _is_tag(seg: str) -> bool:
    return seg in DISTRIBUTION_NAMES or "[" in seg or seg.split("[")[0] in _WRAPPERS or seg[:1].isupper()


def _message(err: dict[str, Any], loc: tuple[Any, ...], parent: Any, found: bool, root: type[BaseModel]) -> str:
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], root)
        hint = did_you_mean(str(loc[-1]), allowed)
        listing = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return f"unknown key{hint}{listing}"
    if kind == "missing":
        return "required field is missing; add it"
    if kind == "union_tag_invalid":
        tag = ctx.get("tag")
        return f"unknown distribution '{tag}'{did_you_mean(str(tag), DISTRIBUTION_NAMES)}; use one of {one_of(DISTRIBUTION_NAMES)}"
    if kind == "union_tag_not_found":
        return f"a distribution needs a 'distribution' key: one of {one_of(DISTRIBUTION_NAMES)}, or write a plain duration such as 10ms"
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        choices = [c.strip(" '") for c in expected.replace(" or ", ",").split(",") if c.strip()]
        return f"'{value}' is not allowed{did_you_mean(str(value), choices)}; use {expected}"
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()), "")
        bound = f"{bound:g}" if isinstance(bound, float) else bound
        given = f"{value:g}" if isinstance(value, float) else repr(value)
        return f"must be {op} {bound}, got {given}; {_fix_for_bound(kind, bound)}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length', 1)} item(s)"
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return f"expected a whole number, got {_shown(value)}{_unquote_hint(value)}"
    if kind in {"float_parsing", "float_type"}:
        return f"expected a number, got {_shown(value)}{_unquote_hint(value)}"
    if kind == "finite_number":
        return f"must be a finite number, got {_shown(value)}; give an ordinary number"
    if kind in {"string_type", "string_sub_type"}:
        return f"expected a string, got {_shown(value)}; quote it if it is meant as text"
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        return f"expected a mapping of keys to values, got {value!r:.40}"
    if kind == "list_type":
        return f"expected a list, got {value!r:.40}"
    if kind in {"bool_parsing", "bool_type"}:
        return f"expected true or false, got {_shown(value)}"
    message = str(err.get("msg", "invalid value"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _shown(value: Any) -> str:
    """A value as the user wrote it in YAML (true, not True), shortened."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the text {value!r:.60}"
    if isinstance(value, float):
        return {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}.get(str(value), f"{value:g}")
    return f"{value!r:.60}"


def _unquote_hint(value: Any) -> str:
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return "; write the number without quotes"
    return ""


def _fix_for_bound(kind: str, bound: Any) -> str:
    if kind == "greater_than":
        return "give a positive number" if str(bound) == "0" else f"give a number above {bound}"
    if kind == "greater_than_equal":
        return f"give {bound} or more"
    if kind == "less_than":
        return f"give a number below {bound}"
    return f"give {bound} or less"


def _allowed_keys(loc: tuple[Any, ...], root: type[BaseModel]) -> list[str]:
    """Field names (by alias) of the model found at ``loc``, for "did you mean"."""
    candidates: list[type[BaseModel]] = [root]
    for seg in loc:
        nxt: list[type[BaseModel]] = []
        for model in candidates:
            if isinstance(seg, str) and seg[:1].isupper() and model.__name__ == seg.split("[")[0]:
                nxt.append(model)
                continue
            for name, field in model.model_fields.items():
                if seg in (name, field.alias):
                    nxt.extend(_models_in(field.annotation))
        if isinstance(seg, int) or (isinstance(seg, str) and not nxt and not _is_tag(seg)):
            nxt = nxt or candidates  # list index or dict key: the element type is the same model
        if nxt:
            candidates = list(dict.fromkeys(nxt))
        elif isinstance(seg, str) and "[" in seg:  # a union member such as 'list[NodeConfig]'
            candidates = [m for m in candidates if m.__name__ in seg] or candidates
        elif isinstance(seg, str) and seg in DISTRIBUTION_NAMES:
            candidates = [m for m in candidates if seg in str(m.model_fields.get("distribution", ""))] or candidates
    keys: list[str] = []
    for model in candidates:
        keys.extend(field.alias or name for name, field in model.model_fields.items() if not field.exclude)
    return list(dict.fromkeys(keys))


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models_in(args[0])
    if origin in (typing.Union, types.UnionType, list, dict, tuple) or args:
        found: list[type[BaseModel]] = []
        for arg in args:
            found.extend(_models_in(arg))
        return found
    return []
