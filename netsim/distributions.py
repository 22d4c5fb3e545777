"""Random durations: service times, network latencies, DNS latencies, startup times.

A duration in a config is either a constant (``10ms``) or a mapping with a
``distribution`` key. Every distribution knows its mean (so theory can check the
simulator) and draws whole numpy batches from a ``Generator`` it is handed: the
model never draws one number at a time from numpy, it takes numbers from a
:class:`BlockSampler` that refills in blocks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from netsim.errors import ConfigError
from netsim.input_files import SAMPLES_FILE_LIMIT, read_text
from netsim.units import parse_duration

_Z99 = 2.3263478740408408  # standard normal 99th percentile
MAX_LOGNORMAL_SIGMA = 10.0
"""Largest lognormal ``sigma`` accepted at all: the mean of n draws has a relative standard error of
sqrt((exp(sigma^2) - 1) / n), which at sigma 10 is above 10^15 even for 10^12 draws, and far enough out
every draw under- or overflows. How many draws a run makes is checked too (netsim.limits)."""


def _duration(value: Any) -> float:
    return parse_duration(value)


class _Distribution(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    @property
    def mean(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def is_zero(self) -> bool:
        """True when every draw is exactly 0 (lets the model skip a scheduled event)."""
        return False

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class Constant(_Distribution):
    """Always the same duration: what theory needs to make a hop disappear."""

    distribution: Literal["constant"] = "constant"
    value: float = Field(ge=0, description="the duration (seconds or with a unit)")

    _v = field_validator("value", mode="before")(lambda cls, v: _duration(v))

    @property
    def mean(self) -> float:
        return self.value

    @property
    def is_zero(self) -> bool:
        return self.value == 0.0

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, self.value)


class Exponential(_Distribution):
    """Memoryless durations: the M in M/M/1."""

    distribution: Literal["exponential"]
    mean_: float = Field(alias="mean", gt=0, description="mean duration")

    _v = field_validator("mean_", mode="before")(lambda cls, v: _duration(v))

    @property
    def mean(self) -> float:
        return self.mean_

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.exponential(self.mean_, size)


class LogNormal(_Distribution):
    """Heavy-ish right tail, the usual shape of real service times.

    Given by its mean and either ``sigma`` (the standard deviation of the log) or
    ``p99`` (from which sigma is solved: ln p99 = ln mean - sigma^2/2 + z99 sigma).
    """

    distribution: Literal["lognormal"]
    mean_: float = Field(alias="mean", gt=0)
    sigma: float | None = Field(default=None, gt=0)
    p99: float | None = Field(default=None, gt=0)

    _v = field_validator("mean_", "p99", mode="before")(lambda cls, v: None if v is None else _duration(v))

    @field_validator("sigma")
    @classmethod
    def _convergent(cls, sigma: float | None) -> float | None:
        if sigma is not None and sigma > MAX_LOGNORMAL_SIGMA:
            raise ValueError(
                f"sigma {sigma:g} is above {MAX_LOGNORMAL_SIGMA:g}: the mean of n draws then has a relative standard error of "
                "sqrt((exp(sigma^2)-1)/n) > 10^15 for any feasible n, so no run measures the mean it was given "
                "(nearly every draw is far below it); real service times have sigma 0.2-2 (or give p99 instead)"
            )
        return sigma

    @model_validator(mode="after")
    def _one_shape(self) -> LogNormal:
        if (self.sigma is None) == (self.p99 is None):
            raise ValueError("give exactly one of 'sigma' or 'p99' beside 'mean'")

        if self.p99 is not None:
            ratio = math.log(self.p99 / self.mean_)
            if ratio <= 0 or 2 * ratio > _Z99**2:
                raise ValueError(
                    f"no lognormal has mean {self.mean_:g}s and p99 {self.p99:g}s: "
                    f"p99 must lie between the mean and {self.mean_ * math.exp(_Z99**2 / 2):.3g}s"
                )
        return self

    @property
    def log_sigma(self) -> float:
        if self.sigma is not None:
            return self.sigma
        ratio = math.log(self.p99 / self.mean_)  # type: ignore[operator]
        return _Z99 - math.sqrt(_Z99**2 - 2 * ratio)

    @property
    def mean(self) -> float:
        return self.mean_

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        s = self.log_sigma
        return rng.lognormal(math.log(self.mean_) - s * s / 2, s, size)


class Gamma(_Distribution):
    """Gamma with a mean and a ``shape`` k (cv = 1/sqrt(k)); k = 1 is exponential."""

    distribution: Literal["gamma"]
    mean_: float = Field(alias="mean", gt=0)
    shape: float = Field(gt=0)

    _v = field_validator("mean_", mode="before")(lambda cls, v: _duration(v))

    @property
    def mean(self) -> float:
        return self.mean_

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.gamma(self.shape, self.mean_ / self.shape, size)


class Uniform(_Distribution):
    """Uniform between ``low`` and ``high``."""

    distribution: Literal["uniform"]
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    _v = field_validator("low", "high", mode="before")(lambda cls, v: _duration(v))

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("'high' must not be below 'low'")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def is_zero(self) -> bool:
        return self.high == 0.0

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, size)


class Empirical(_Distribution):
    """Resampled measurements: one number per line in ``file`` (relative to the experiment file).

    ``unit`` says what the numbers are in (default seconds), so a file of
    milliseconds exported from a tracing system can be used as is.
    """

    distribution: Literal["empirical"]
    file: str
    unit: Literal["s", "ms", "us"] = "s"
    samples: tuple[float, ...] = Field(default=(), exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _read(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict) or data.get("samples") or "file" not in data:
            return data
        if not isinstance(data["file"], str) or not data["file"]:
            raise ValueError(f"'file' must be a path (a string), got {data['file']!r:.40}")
        base = Path((info.context or {}).get("base_dir", "."))
        path = Path(data["file"])
        path = path if path.is_absolute() else base / path
        try:
            text = read_text(path, SAMPLES_FILE_LIMIT, "samples file")
        except ConfigError as exc:
            raise ValueError(f"samples file {exc}; fix 'file': relative paths start at the experiment file's folder") from None
        scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6}.get(str(data.get("unit", "s")), 1.0)
        return {**data, "file": str(path), "samples": tuple((read_samples(text, str(path)) * scale).tolist())}

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.choice(np.asarray(self.samples), size)


def read_samples(text: str, where: str) -> np.ndarray:
    """The numbers of a samples file (one or more per line, ``#`` starts a comment): finite and non-negative."""
    tokens = [tok for line in text.splitlines() for tok in line.split("#", 1)[0].replace(",", " ").split()]
    try:
        values = np.array(tokens, dtype=float)
    except ValueError:
        bad = next(tok for tok in tokens if not _is_number(tok))
        raise ValueError(f"'{where}' must hold numbers only, found {bad!r:.30} on line {_line_of(text, bad)}") from None
    if values.size == 0:
        raise ValueError(f"'{where}' holds no numbers; give at least one sample, one per line")
    wrong = ~np.isfinite(values) | (values < 0)
    if wrong.any():
        bad = tokens[int(np.argmax(wrong))]
        what = "a negative number" if np.isfinite(values[int(np.argmax(wrong))]) else "a value that is not finite"
        raise ValueError(f"'{where}' holds {what} ({bad}) on line {_line_of(text, bad)}; every sample must be a finite number >= 0")
    return values


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _line_of(text: str, token: str) -> int:
    return next((i for i, line in enumerate(text.splitlines(), 1) if token in line.split("#", 1)[0]), 0)


DistributionSpec = Annotated[
    Constant | Exponential | LogNormal | Gamma | Uniform | Empirical, Field(discriminator="distribution")
]
DISTRIBUTION_NAMES = ("constant", "exponential", "lognormal", "gamma", "uniform", "empirical")


def coerce_distribution(value: Any) -> Any:
    """Let a bare duration stand for a constant distribution (``latency: 10ms``)."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return {"distribution": "constant", "value": value}
    return value


class BlockSampler:
    """Hands out one draw at a time from numpy batches, small at first and doubling up to ``BLOCK``.

    Why: asking numpy for one number costs about a microsecond; taking the next
    item of a list costs tens of nanoseconds. A sampler that is used a few times
    (one of thousands of pods, a rare retry backoff) draws only a few: batches start
    at ``FIRST`` and double with use up to ``BLOCK``, so memory follows use, not the
    number of samplers (a cluster of 150,000 pods has as many service-time samplers). numpy's generators draw these distributions one value after another,
    so the values do not depend on how they are batched.
    """

    __slots__ = ("_buf", "_constant", "_dist", "_i", "_next", "_rng")

    BLOCK = 256
    FIRST = 16

    def __init__(self, dist: _Distribution, rng: np.random.Generator) -> None:
        self._dist = dist
        self._rng = rng
        self._buf: list[float] = []
        self._i = 0
        self._next = self.FIRST
        self._constant = dist.mean if isinstance(dist, Constant) else None

    def _size(self) -> int:
        size = self._next
        self._next = min(size * 2, self.BLOCK)
        return size

    def block(self) -> list[float]:
        """The next batch of draws at once, for a caller that indexes them itself (a pod's hot path).

        The same values, in the same order, as calls would give; a sampler is used
        either way, never both.
        """
        if self._constant is not None:
            return [self._constant] * self._size()
        return self._dist.sample(self._rng, self._size()).tolist()

    def __call__(self) -> float:
        if self._constant is not None:
            return self._constant
        i = self._i
        if i >= len(self._buf):
            self._buf = self._dist.sample(self._rng, self._size()).tolist()
            i = 0
        self._i = i + 1
        return self._buf[i]
