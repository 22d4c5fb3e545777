"""Generate netsim/k8s/k8s_fields.json: the field tree of the Kubernetes kinds netsim reads.

netsim checks manifests as ``kubectl apply --validate=strict`` would, against one
Kubernetes version's API: every field known (unknown ones are errors), every value of
its type. The field names and types come from the official OpenAPI specification, here
through the Kubernetes Python client, which is generated from it (client 37.y is
Kubernetes 1.37; its ``configuration.py`` names the OpenAPI document ``release-1.37``).
This script reads the client's model sources with ``ast`` (nothing is imported or
executed) and keeps only the types reachable from Service (v1), Deployment (apps/v1)
and HorizontalPodAutoscaler (autoscaling/v2 and v1), without their descriptions.

Usage (the client is not a dependency of netsim; fetch its source once)::

    pip download kubernetes==37.0.2 --no-deps --no-binary :all: -d /tmp/k8s
    tar xzf /tmp/k8s/kubernetes-37.0.2.tar.gz -C /tmp/k8s
    python tools/k8s_field_tree.py /tmp/k8s/kubernetes-37.0.2 > netsim/k8s/k8s_fields.json

The Python client names Quantity fields only as strings; the OpenAPI schema's
``resource.Quantity`` fields (which also take plain numbers) are listed in
:data:`QUANTITY_FIELDS` below from the Kubernetes API reference.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOTS = {
    "v1/Service": "V1Service",
    "apps/v1/Deployment": "V1Deployment",
    "autoscaling/v2/HorizontalPodAutoscaler": "V2HorizontalPodAutoscaler",
    "autoscaling/v1/HorizontalPodAutoscaler": "V1HorizontalPodAutoscaler",
}
QUANTITY_FIELDS = {
    ("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests"),
    ("V1VolumeResourceRequirements", "limits"), ("V1VolumeResourceRequirements", "requests"),
    ("V1PodSpec", "overhead"), ("V1EmptyDirVolumeSource", "sizeLimit"), ("V1ResourceFieldSelector", "divisor"),
    ("V2MetricTarget", "value"), ("V2MetricTarget", "averageValue"),
    ("V2MetricValueStatus", "value"), ("V2MetricValueStatus", "averageValue"),
    ("V1PersistentVolumeClaimStatus", "capacity"), ("V1PersistentVolumeClaimStatus", "allocatedResources"),
}
"""(type, JSON field) pairs whose values are ``resource.Quantity`` (``"500m"``, ``"1Gi"`` or a number)."""

SCALARS = {"StrictStr": "string", "StrictInt": "integer", "StrictBool": "boolean", "StrictFloat": "number", "datetime": "time",
           "Any": "any", "object": "any", "StrictBytes": "string", "bytes": "string", "str": "string", "int": "integer"}
LICENSE = ("Derived from the Kubernetes API's OpenAPI specification (release-1.37), via the Kubernetes Python client 37.0.2 "
           "generated from it. Copyright The Kubernetes Authors. Licensed under the Apache License, Version 2.0 "
           "(https://www.apache.org/licenses/LICENSE-2.0). Only field names, types and required-ness are kept.")


def type_of(node: ast.expr) -> Any:
    """A field annotation as JSON: a scalar name, a type name, ["list", T], ["map", T] or ["union", ...]."""
    if isinstance(node, ast.Name):
        return SCALARS.get(node.id, node.id)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return type_of(ast.parse(node.value, mode="eval").body)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([type_of(node.left), type_of(node.right)])
    if isinstance(node, ast.Subscript):
        head = node.value.id if isinstance(node.value, ast.Name) else ast.unparse(node.value)
        args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Optional":
            return type_of(args[0])
        if head == "List":
            return ["list", type_of(args[0])]
        if head == "Dict":
            return ["map", type_of(args[1])]
        if head == "Union":
            return _union([type_of(a) for a in args])
        if head == "Annotated":
            return type_of(args[0])
    raise ValueError(f"cannot read the annotation {ast.unparse(node)}")


def _union(members: list[Any]) -> Any:
    flat = []
    for m in members:
        flat.extend(m[1:] if isinstance(m, list) and m[0] == "union" else [m])
    names = set(map(json.dumps, flat))
    if names == {'"integer"', '"string"'}:
        return "int-or-string"
    if names == {'"integer"', '"number"'}:
        return "number"
    if names == {'"string"'}:
        return "string"
    return ["union", *flat]


def read_models(models_dir: Path) -> dict[str, dict[str, Any]]:
    """Every model class: ``{name: {"fields": {json_name: type}, "required": [json_name, ...]}}``."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(models_dir.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
            fields: dict[str, Any] = {}
            required: list[str] = []
            for stmt in cls.body:
                if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                    continue
                if isinstance(stmt.annotation, ast.Subscript) and ast.unparse(stmt.annotation.value) == "ClassVar":
                    continue
                name = stmt.target.id
                call = stmt.value if isinstance(stmt.value, ast.Call) else None
                keywords = {k.arg: k.value for k in call.keywords} if call else {}
                alias = keywords.get("serialization_alias")
                json_name = alias.value if isinstance(alias, ast.Constant) else name
                fields[json_name] = type_of(stmt.annotation)
                optional = ast.unparse(stmt.annotation).startswith("Optional[")
                has_default = stmt.value is not None and (call is None or "default" in keywords or "default_factory" in keywords)
                if not has_default and not optional:
                    required.append(json_name)
            if fields:
                out[cls.name] = {"fields": fields, "required": required}
    return out


def reachable(models: dict[str, dict[str, Any]], roots: list[str]) -> dict[str, dict[str, Any]]:
    keep: dict[str, dict[str, Any]] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        if name not in models:
            raise KeyError(f"type {name} is not among the client's models")
        keep[name] = models[name]
        for t in models[name]["fields"].values():
            todo.extend(_type_names(t))
    return dict(sorted(keep.items()))


def _type_names(t: Any) -> list[str]:
    if isinstance(t, list):
        return [n for part in t[1:] for n in _type_names(part)]
    return [t] if re.match(r"^[A-Z]", t) else []


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    client = Path(argv[0])
    config = (client / "kubernetes/client/configuration.py").read_text(encoding="utf-8")
    release = re.search(r"OpenAPI document: (release-[0-9.]+)", config)
    models = reachable(read_models(client / "kubernetes/client/models"), list(ROOTS.values()))
    for type_name, field in QUANTITY_FIELDS:
        if type_name in models and field in models[type_name]["fields"]:
            kind = models[type_name]["fields"][field]
            models[type_name]["fields"][field] = ["map", "quantity"] if isinstance(kind, list) and kind[0] == "map" else "quantity"
    data = {
        "kubernetes": release.group(1).removeprefix("release-") if release else "unknown",
        "source": f"kubernetes Python client {client.name.split('-')[-1]} (kubernetes/client/models), generated from the official OpenAPI spec",
        "license": LICENSE,
        "generated_by": "tools/k8s_field_tree.py",
        "kinds": ROOTS,
        "types": models,
    }
    json.dump(data, sys.stdout, indent=0, sort_keys=False, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
