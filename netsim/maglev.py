"""Maglev consistent hashing and 5-tuple flow hashing, as pure functions on arrays.

Maglev (Eisenbud et al., NSDI 2016; the lineage of GCP's passthrough load
balancers, also Envoy's and Cilium's) gives every backend a permutation of a
prime-sized lookup table, ``(offset + j * skip) mod M``, and lets the backends
take turns claiming their next still-free preferred slot until the table is
full. So every backend owns ``floor(M/N)`` or ``ceil(M/N)`` slots (shares differ
by at most one slot), and removing one of N backends moves about 1/N of the
slots (its own) plus a small extra fraction that shrinks as M/N grows
(k8s-facts §4, Published measurement D). A flow's 5-tuple hash indexes the
table, so all packets of a connection reach the same backend.

The permutations, the hashing and the lookups are vectorised; the fill itself
is the paper's sequential turn-taking loop (each turn depends on every earlier
one), written over plain lists, which takes a few tens of milliseconds for
M = 65 537. Tables are rebuilt only when the set of healthy backends changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

DEFAULT_TABLE_SIZE = 65537
"""The paper's and Envoy's default table size (a prime)."""

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    f = 3
    while f * f <= n:
        if n % f == 0:
            return False
        f += 2
    return True


def _key_hashes(keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes of each backend name (stable across runs and machines)."""
    h1, h2 = [], []
    for key in keys:
        digest = hashlib.blake2b(str(key).encode(), digest_size=16).digest()
        h1.append(int.from_bytes(digest[:8], "little"))
        h2.append(int.from_bytes(digest[8:], "little"))
    return np.array(h1, dtype=np.uint64), np.array(h2, dtype=np.uint64)


def permutation_parameters(keys: Sequence[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each backend's ``(offset, skip)``: offset in [0, M), skip in [1, M) so every row is a permutation."""
    h1, h2 = _key_hashes(keys)
    offsets = (h1 % np.uint64(size)).astype(np.int64)
    skips = (h2 % np.uint64(size - 1)).astype(np.int64) + 1
    return offsets, skips


def build_table(keys: Sequence[str], size: int = DEFAULT_TABLE_SIZE) -> np.ndarray:
    """The Maglev lookup table: ``table[slot]`` is the position in ``keys`` of the slot's backend.

    Args:
        keys: a stable name per backend (its identity: a node or pod name), in any order.
        size: the table size M, a prime (M > 100·N keeps shares within 1 %).

    Returns:
        int32 array of length M; all -1 when ``keys`` is empty.
    """
    if not is_prime(size):
        raise ValueError(f"maglev table size must be prime, got {size}")
    n = len(keys)
    if n == 0:
        return np.full(size, -1, dtype=np.int32)
    offsets, skips = permutation_parameters(keys, size)
    offset, skip = offsets.tolist(), skips.tolist()
    nexts = [0] * n
    entry = [-1] * size
    filled = 0
    while True:
        for i in range(n):
            o, k, j = offset[i], skip[i], nexts[i]
            c = (o + j * k) % size
            while entry[c] >= 0:
                j += 1
                c = (o + j * k) % size
            entry[c] = i
            nexts[i] = j + 1
            filled += 1
            if filled == size:
                return np.asarray(entry, dtype=np.int32)


def slot_counts(table: np.ndarray, backends: int) -> np.ndarray:
    """How many slots each backend owns."""
    return np.bincount(table[table >= 0], minlength=backends)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijective, well-mixing 64-bit hash, vectorised."""
    z = np.asarray(x, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z & _MASK64


def flow_hash(src_ip: np.ndarray, src_port: np.ndarray, dst_ip: int, dst_port: int, protocol: int = 6) -> np.ndarray:
    """The 5-tuple hash an L4 load balancer uses to keep a connection on one backend (vectorised)."""
    with np.errstate(over="ignore"):
        h = mix64(np.asarray(src_ip, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15))
        h = mix64(h ^ np.asarray(src_port, dtype=np.uint64))
        h = mix64(h ^ np.uint64(dst_ip))
        h = mix64(h ^ np.uint64((dst_port << 8) | protocol))
    return h


def pick_hashed(candidates: int, hashes: np.ndarray) -> np.ndarray:
    """Plain hash-mod-N (flow-hash LBs): the position of each flow's backend among ``candidates``."""
    if candidates == 0:
        return np.full(np.shape(hashes), -1, dtype=np.intp)
    return (np.asarray(hashes, dtype=np.uint64) % np.uint64(candidates)).astype(np.intp)


def pick_maglev(table: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """The backend position of each flow: ``table[hash mod M]``."""
    return table[(np.asarray(hashes, dtype=np.uint64) % np.uint64(table.size)).astype(np.intp)].astype(np.intp)
