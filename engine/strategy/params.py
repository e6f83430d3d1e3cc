"""Typed strategy parameters: declared on the class, validated once at construction.

``Param`` is a descriptor that only answers on the class (``SmaCross.fast`` is the
declaration); instances store the validated value in their own ``__dict__``, so
``self.fast`` on the hot path is a plain attribute read.

Values given as strings (from a CLI or a sweep file) are coerced to the declared
type: ``"10"`` -> ``10``, ``"0.5"`` -> ``0.5``, ``"yes"``/``"true"``/``"1"`` -> ``True``.

>>> p = Param(int, 10, min=1, help="fast SMA period")
>>> p.name = "fast"
>>> p.coerce("12")
12
>>> try:
...     p.coerce(0)
... except StrategyError as exc:
...     print(exc)
param 'fast': 0 is below the minimum 1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Generic, TypeVar, overload

from tradeloom.engine.errors import StrategyError

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}
_SUPPORTED = (int, float, bool, str)


class Param(Generic[T]):
    """One declared strategy parameter: type, default, bounds, choices and help text."""

    __slots__ = ("choices", "default", "help", "max", "min", "name", "owner", "type")

    def __init__(
        self,
        type: type[T],
        default: T,
        *,
        min: float | None = None,
        max: float | None = None,
        choices: Sequence[T] | None = None,
        help: str = "",
    ) -> None:
        if type not in _SUPPORTED:
            raise StrategyError(
                f"Param type must be one of int, float, bool, str; got {type!r}"
            )
        self.type = type
        self.min = min
        self.max = max
        self.choices = tuple(choices) if choices is not None else None
        self.help = help
        self.name = "?"
        self.owner = "?"
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.owner = owner.__name__

    @overload
    def __get__(self, instance: None, owner: type) -> Param[T]: ...

    @overload
    def __get__(self, instance: object, owner: type) -> T: ...

    def __get__(self, instance: object | None, owner: type) -> Any:
        if instance is None:
            return self
        # Only reached before the instance stored its value (non-data descriptor).
        return self.default

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={getattr(self, k)!r}" for k in ("min", "max", "choices") if getattr(self, k) is not None
        )
        return f"Param({self.type.__name__}, {self.default!r}{extra})"

    def coerce(self, value: Any) -> T:
        """Convert ``value`` to the declared type and check bounds and choices."""
        where = f"param {self.name!r}"
        out: Any
        if self.type is bool:
            if isinstance(value, bool):
                out = value
            elif isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                out = value.strip().lower() in _TRUE
            elif isinstance(value, int) and value in (0, 1):
                out = bool(value)
            else:
                raise StrategyError(
                    f"{where}: {value!r} is not a bool; use true/false (or 1/0, yes/no)"
                )
        elif self.type is int:
            if isinstance(value, bool):
                raise StrategyError(f"{where}: expected an int, got the bool {value!r}")
            if isinstance(value, int):
                out = value
            elif isinstance(value, float) and value.is_integer():
                out = int(value)
            elif isinstance(value, str):
                try:
                    out = int(value.strip())
                except ValueError:
                    raise StrategyError(
                        f"{where}: {value!r} is not a whole number (e.g. {self.default!r})"
                    ) from None
            else:
                raise StrategyError(f"{where}: expected an int, got {value!r}")
        elif self.type is float:
            if isinstance(value, bool):
                raise StrategyError(f"{where}: expected a float, got the bool {value!r}")
            try:
                out = float(value)
            except (TypeError, ValueError):
                raise StrategyError(
                    f"{where}: {value!r} is not a number (e.g. {self.default!r})"
                ) from None
            if not math.isfinite(out):
                raise StrategyError(f"{where}: {value!r} is not finite")
        else:
            if not isinstance(value, str):
                raise StrategyError(f"{where}: expected a str, got {value!r}")
            out = value
        if self.min is not None and out < self.min:
            raise StrategyError(f"{where}: {out!r} is below the minimum {self.min!r}")
        if self.max is not None and out > self.max:
            raise StrategyError(f"{where}: {out!r} is above the maximum {self.max!r}")
        if self.choices is not None and out not in self.choices:
            raise StrategyError(
                f"{where}: {out!r} is not one of {', '.join(repr(c) for c in self.choices)}"
            )
        return out

    def describe(self) -> str:
        """One line for ``--help`` listings: ``fast: int = 10 (>= 1) fast SMA period``."""
        bounds = []
        if self.min is not None:
            bounds.append(f">= {self.min}")
        if self.max is not None:
            bounds.append(f"<= {self.max}")
        if self.choices is not None:
            bounds.append("one of " + ", ".join(repr(c) for c in self.choices))
        rule = f" ({'; '.join(bounds)})" if bounds else ""
        text = f" {self.help}" if self.help else ""
        return f"{self.name}: {self.type.__name__} = {self.default!r}{rule}{text}"
