"""What a feature *kind* is, and the registry that maps kind names to computations.

A kind ("ret", "rsi", "parkinson", ...) knows, for a set of parameters:

- which bar columns it reads (``inputs``);
- its warm-up: the index of its first defined value on a clean series
  (``warmup``), which also validates the parameters;
- a batch computation over whole columns (``batch``: numba kernels and the
  indicator batch functions);
- a streaming step (``stream(params)`` returns a callable taking one bar as a
  ``dict`` of column -> value and returning the feature's float), repeating the
  batch arithmetic operation by operation so the two agree bit for bit.

Kinds live in ``feature_kinds.py`` (returns, volatility, candles, ranks,
calendar, raw columns) and ``feature_kinds_ind.py`` (indicator families). A
project can add its own with :func:`register_kind`.

>>> import tradeloom.research.features.pipeline  # registers the built-in kinds
>>> get_kind("ret").name
'ret'
>>> get_kind("rett")
Traceback (most recent call last):
...
tradeloom.engine.errors.ConfigError: unknown feature kind 'rett'; did you mean 'ret'? ...
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.errors import ConfigError, DataError

__all__ = [
    "FEATURE_KINDS", "REQUIRED", "BatchInput", "FeatureKind", "Step", "get_kind", "register_kind",
]

Step = Callable[[Mapping[str, Any]], float]
REQUIRED = "<required>"  # default marking a parameter the feature must set


class BatchInput:
    """Whole columns of one symbol's bars for batch kinds, with a per-call memo.

    ``col(name)`` returns a contiguous float64 array (``ts``: int64 ms);
    ``memo(key, fn)`` computes ``fn()`` once per batch call, so features sharing
    an indicator (Bollinger %b and width) compute it once.
    """

    __slots__ = ("_cache", "_frame", "_memo")

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame
        self._cache: dict[str, np.ndarray] = {}
        self._memo: dict[tuple, Any] = {}

    def __len__(self) -> int:
        return len(self._frame)

    def col(self, name: str) -> np.ndarray:
        """Column ``name`` as a contiguous array (float64; int64 for ``ts``)."""
        if name not in self._cache:
            if name not in self._frame.columns:
                raise DataError(
                    f"feature input column {name!r} is missing; the frame has "
                    f"{list(self._frame.columns)}; add it (e.g. with feature_join.asof_join) "
                    "or drop the features that read it"
                )
            dtype = np.int64 if name == "ts" else np.float64
            self._cache[name] = np.ascontiguousarray(self._frame[name].to_numpy(dtype=dtype))
        return self._cache[name]

    def memo(self, key: tuple, fn: Callable[[], Any]) -> Any:
        """``fn()``, computed once per batch call for this ``key``."""
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]


@dataclass(frozen=True)
class FeatureKind:
    """One feature computation with its batch and streaming forms (see the module doc)."""

    name: str
    defaults: Mapping[str, Any]
    inputs: Callable[[Mapping[str, Any]], tuple[str, ...]]
    warmup: Callable[[Mapping[str, Any]], int]
    batch: Callable[[BatchInput, Mapping[str, Any]], np.ndarray]
    stream: Callable[[Mapping[str, Any]], Step]
    doc: str = ""

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` completed with defaults; ConfigError on unknown or missing names."""
        for key in params:
            if key not in self.defaults:
                hint = difflib.get_close_matches(key, list(self.defaults), n=1)
                did = f"did you mean {hint[0]!r}? " if hint else ""
                raise ConfigError(
                    f"feature kind {self.name!r} has no parameter {key!r}; {did}"
                    f"parameters: {', '.join(self.defaults) or 'none'}"
                )
        full = {k: params.get(k, v) for k, v in self.defaults.items()}
        missing = [k for k, v in full.items() if v == REQUIRED]
        if missing:
            raise ConfigError(
                f"feature kind {self.name!r} needs parameter(s) {missing}; "
                f"e.g. params={{{missing[0]!r}: 14}}"
            )
        return full


FEATURE_KINDS: dict[str, FeatureKind] = {}


def register_kind(kind: FeatureKind) -> FeatureKind:
    """Add ``kind`` to the registry; ConfigError if the name is taken."""
    if kind.name in FEATURE_KINDS:
        raise ConfigError(f"feature kind {kind.name!r} is already registered; pick another name")
    FEATURE_KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> FeatureKind:
    """The registered kind ``name``; ConfigError with a did-you-mean if unknown."""
    try:
        return FEATURE_KINDS[name]
    except KeyError:
        hint = difflib.get_close_matches(str(name), list(FEATURE_KINDS), n=1)
        did = f"did you mean {hint[0]!r}? " if hint else ""
        raise ConfigError(
            f"unknown feature kind {name!r}; {did}known: {', '.join(sorted(FEATURE_KINDS))}"
        ) from None
