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


class LabelIndex:
    """Things (pods, or Services' selectors) indexed by ``(key, value)`` label: a selector finds its
    matches without scanning every pod, and a new pod its Services without scanning every Service."""

    def __init__(self) -> None:
        self._by_label: dict[tuple[str, str], list[int]] = {}

    def add(self, item: int, labels: Mapping[str, str]) -> None:
        """Index ``item`` under each of its labels (items are added in increasing order)."""
        for pair in labels.items():
            self._by_label.setdefault(pair, []).append(item)

    def having(self, labels: Mapping[str, str]) -> list[int]:
        """The items indexed under *every* one of ``labels`` (in the order added); none for no labels."""
        if not labels:
            return []
        lists = sorted((self._by_label.get(pair, []) for pair in labels.items()), key=len)
        if len(lists) == 1:
            return list(lists[0])
        others = [set(x) for x in lists[1:]]
        return [i for i in lists[0] if all(i in o for o in others)]

    def touching(self, labels: Mapping[str, str]) -> list[int]:
        """The items indexed under *any* of ``labels`` (candidates, to check in full), each once, in order."""
        found = {i for pair in labels.items() for i in self._by_label.get(pair, [])}
        return sorted(found)
