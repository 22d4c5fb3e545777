"""Cloud load balancer presets: the defaults each provider documents (k8s-facts.md §4).

Each value can be overridden under ``cluster.load_balancer``; the merged values are
written to ``manifest.json``. Health checks are ``(interval s, timeout s, healthy
threshold, unhealthy threshold)``; ``cluster`` is the check of kube-proxy's health port
(10256, ``externalTrafficPolicy: Cluster``), ``local`` the check of
``healthCheckNodePort`` (``Local``).

Sources and choices:

- ``aws-nlb``: NLB by the AWS Load Balancer Controller, 10 s / 10 s / 3 / 3 for both
  checks [V aws-load-balancer-controller model builder]; cross-zone off by default [R AWS
  docs; the in-tree provider also sets it off]; flow hash on the 5-tuple; client IP kept
  (instance targets).
- ``aws-clb``: Classic ELB created by the Kubernetes AWS cloud provider, 10 s / 5 s / 2 / 6
  [V cloud-provider-aws ``defaultElbHC*``]; cross-zone off (API default [R]); round robin
  for TCP listeners [M]; a proxy, so nodes see the LB's address, not the client's.
- ``gcp``: GCE L4 passthrough LB as the Kubernetes GCE provider configures it: Cluster
  8 s / 1 s / 1 / 3, Local 3 s / 1 s / 1 / 2 [V gce_loadbalancer*.go]; Maglev [R paper];
  regional, so targets in every zone.
- ``azure``: 5-tuple hash [M learn.microsoft.com distribution modes]; probe every 5 s,
  down after 2 failures [M: not in k8s-facts, Azure's documented probe defaults]; zone
  redundant.
- ``generic``: round robin with the Pod readiness-probe defaults 10 s / 1 s / 1 / 3 [M].

The LB's own forwarding latency has no published figure (k8s-facts gives Maglev's
~350 ns per packet); 50 µs for passthrough LBs and 500 µs for the proxying CLB are netsim
assumptions, to be overridden.
"""

from __future__ import annotations

from typing import Any

DEFAULT_MAGLEV_TABLE_SIZE = 65537

PRESETS: dict[str, dict[str, Any]] = {
    "aws-nlb": {
        "algorithm": "flow-hash", "latency": "50us", "cross_zone": False, "target_type": "instance",
        "preserves_client_ip": True, "cluster": (10.0, 10.0, 3, 3), "local": (10.0, 10.0, 3, 3),
    },
    "aws-clb": {
        "algorithm": "round-robin", "latency": "500us", "cross_zone": False, "target_type": "instance",
        "preserves_client_ip": False, "cluster": (10.0, 5.0, 2, 6), "local": (10.0, 5.0, 2, 6),
    },
    "gcp": {
        "algorithm": "maglev", "latency": "50us", "cross_zone": True, "target_type": "instance",
        "preserves_client_ip": True, "cluster": (8.0, 1.0, 1, 3), "local": (3.0, 1.0, 1, 2),
    },
    "azure": {
        "algorithm": "flow-hash", "latency": "50us", "cross_zone": True, "target_type": "instance",
        "preserves_client_ip": True, "cluster": (5.0, 5.0, 1, 2), "local": (5.0, 5.0, 1, 2),
    },
    "generic": {
        "algorithm": "round-robin", "latency": "50us", "cross_zone": True, "target_type": "instance",
        "preserves_client_ip": True, "cluster": (10.0, 1.0, 1, 3), "local": (10.0, 1.0, 1, 3),
    },
}
