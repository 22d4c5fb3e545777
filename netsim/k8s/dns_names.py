"""How a pod's resolver turns a name into DNS queries: resolv.conf search list and ``ndots``.

With ``dnsPolicy: ClusterFirst`` a pod's resolv.conf reads ``search <ns>.svc.cluster.local
svc.cluster.local cluster.local [node domains]`` and ``options ndots:5`` (k8s-facts §5). A
name with fewer than ``ndots`` dots is tried with each search domain appended before it is
tried as is; a name with at least ``ndots`` dots (or a trailing dot) is tried as is first.
Every try that misses costs a query answered NXDOMAIN. So a short same-namespace name
(``web``) resolves at the first query, ``web.default.svc.cluster.local`` (4 dots) only at
the fourth, and ``api.example.com`` after three NXDOMAINs (more with node search domains,
twice as many when the resolver asks A and AAAA) — KEP-504's "query amplification".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

CLUSTER_DOMAIN = "cluster.local"


def search_list(namespace: str, extra: Sequence[str] = ()) -> list[str]:
    """The search domains of a pod in ``namespace`` (cluster ones first, then ``extra``)."""
    return [f"{namespace}.svc.{CLUSTER_DOMAIN}", f"svc.{CLUSTER_DOMAIN}", CLUSTER_DOMAIN, *extra]


def service_fqdn(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.svc.{CLUSTER_DOMAIN}"


def lookup_sequence(name: str, namespace: str, ndots: int = 5, extra: Sequence[str] = ()) -> list[str]:
    """The absolute names a pod's resolver tries for ``name``, in order."""
    if name.endswith("."):
        return [name[:-1]]
    searched = [f"{name}.{domain}" for domain in search_list(namespace, extra)]
    return [*searched, name] if name.count(".") < ndots else [name, *searched]


def resolve_name(
    name: str, namespace: str, records: Mapping[str, str], ndots: int = 5, extra: Sequence[str] = ()
) -> tuple[str | None, int]:
    """``(what the name resolved to, queries sent)``; ``None`` when every try is NXDOMAIN.

    ``records`` maps absolute names that exist (e.g. Service FQDNs) to what they stand for.
    Queries count one per try (double them for A + AAAA).
    """
    tries = lookup_sequence(name, namespace, ndots, extra)
    for i, candidate in enumerate(tries):
        if candidate in records:
            return records[candidate], i + 1
    return None, len(tries)
