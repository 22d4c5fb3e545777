"""Latency histograms on a log scale: percentiles in bounded memory, with a known relative error.

A value ``x`` (seconds) falls in bucket ``k = floor(log(x / LOW) / log(RATIO))``;
bucket ``k`` covers ``[LOW·RATIO^k, LOW·RATIO^(k+1))``. A percentile is reported
as the geometric middle of the bucket that holds it, so its relative error is at
most ``sqrt(RATIO) − 1`` (0.499 % for RATIO = 1.01) whatever the distribution,
for values between LOW and HIGH; smaller values fall in the first bucket, larger
ones in the last. Counts are int64 arrays: adding histograms is adding arrays.
"""

from __future__ import annotations

import math

import numpy as np

LOW = 1e-7
"""Smallest latency resolved (0.1 µs); anything smaller counts in the first bucket."""
HIGH = 1e5
"""Largest latency resolved (about 28 hours)."""
RATIO = 1.01
"""Each bucket is 1 % wider than the one before: percentiles within ±0.5 %."""
BUCKETS = math.ceil(math.log(HIGH / LOW) / math.log(RATIO)) + 1
MAX_RELATIVE_ERROR = math.sqrt(RATIO) - 1.0
_LOG_RATIO = math.log(RATIO)


def buckets(values: np.ndarray) -> np.ndarray:
    """The bucket of each value (seconds)."""
    x = np.maximum(np.asarray(values, dtype=np.float64), LOW)
    return np.minimum((np.log(x / LOW) / _LOG_RATIO).astype(np.int64), BUCKETS - 1)


def counts(values: np.ndarray) -> np.ndarray:
    """A histogram of ``values``."""
    return np.bincount(buckets(values), minlength=BUCKETS)


def quantiles(histogram: np.ndarray, q: np.ndarray | list[float]) -> np.ndarray:
    """The ``q`` quantiles (0..1) of a histogram, each the geometric middle of its bucket (NaN when empty)."""
    q = np.asarray(q, dtype=float)
    total = histogram.sum()
    if total == 0:
        return np.full(q.shape, np.nan)
    cumulative = np.cumsum(histogram)
    # the smallest bucket whose cumulative count reaches ceil(q·n) (the nearest-rank percentile)
    rank = np.maximum(np.ceil(q * total), 1)
    k = np.searchsorted(cumulative, rank, side="left")
    return LOW * RATIO ** (k + 0.5)

