"""Label selectors: how a Service finds its pods and a Deployment owns its pods.

A Service's ``spec.selector`` is plain equality on every key; a Deployment's
``spec.selector`` is a LabelSelector (``matchLabels`` plus ``matchExpressions``).
"""

from __future__ import annotations

from collections.abc import Mapping


def matches_equality(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Service selector semantics: every selector key present with the same value.

    An empty selector matches nothing here: a Service without a selector gets its
    endpoints from elsewhere (manually managed EndpointSlices), never from pods.
    """
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def matches_label_selector(selector: Mapping[str, object], labels: Mapping[str, str]) -> bool:
    """``metav1.LabelSelector`` semantics (matchLabels AND every matchExpression)."""
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping) or any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, Mapping):
            return False
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True
