"""The search space of ``tradeloom optimize``: one ``--space NAME=...`` spec per parameter.

Syntax (the sweep grid's, read as ranges to search rather than values to enumerate):

- ``fast=5:50`` — every integer from 5 to 50 (both ends included); ``stop=0.01:0.05`` —
  any real number in between (a number with a ``.`` or an ``e`` makes the range real);
- ``fast=5:50:5`` — a stepped range: 5, 10, ..., 50 (``0.01:0.05:0.01`` likewise);
- ``stop=0.001:0.1:log`` — a real (or integer) range searched on a log scale;
- ``mode=fast,slow`` — a list of choices (any text; ``flag=true,false``);
- ``x=7`` — fixed: every trial gets 7 (not searched).

Values reach the strategy as text or numbers and its ``Param`` declarations type them,
as in a sweep. ``Space.distributions()`` gives the optuna distributions (optuna is
imported only there).

>>> s = Space.parse(["fast=5:50", "slow=60:240:20", "stop=0.001:0.1:log", "mode=a,b", "k=7"])
>>> [(d.name, d.kind) for d in s.dims]
[('fast', 'int'), ('slow', 'int'), ('stop', 'float'), ('mode', 'choice'), ('k', 'fixed')]
>>> s.dims[1].low, s.dims[1].high, s.dims[1].step, s.dims[2].log
(60, 240, 20, True)
>>> s.specs()
['fast=5:50', 'slow=60:240:20', 'stop=0.001:0.1:log', 'mode=a,b', 'k=7']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from tradeloom.engine.errors import ConfigError
from tradeloom.research.sweeps.grid import is_param_name

__all__ = ["SPACE_SYNTAX", "Dim", "Space"]

SPACE_SYNTAX = (
    "use --space NAME=LOW:HIGH (integers, or reals with a '.'), NAME=LOW:HIGH:STEP, "
    "NAME=LOW:HIGH:log, NAME=A,B,C (choices) or NAME=VALUE (fixed), e.g. --space fast=5:50 "
    "--space stop=0.005:0.05:log"
)


@dataclass(frozen=True)
class Dim:
    """One parameter of the space; ``kind`` is ``int``, ``float``, ``choice`` or ``fixed``."""

    name: str
    kind: str
    low: Any = None
    high: Any = None
    step: Any = None
    log: bool = False
    choices: tuple[str, ...] = ()
    spec: str = ""


def _number(text: str, where: str) -> int | float:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"--space {where}: {text!r} is not a number; {SPACE_SYNTAX}") from None
    if not value.is_finite():
        raise ConfigError(f"--space {where}: {text!r} is not a finite number")
    is_int = "." not in text and "e" not in text.lower()
    return int(value) if is_int else float(value)


def _parse_dim(spec: str) -> Dim:
    name, sep, rhs = spec.partition("=")
    name, rhs = name.strip(), rhs.strip()
    if not sep:
        raise ConfigError(f"--space {spec!r}: missing '='; {SPACE_SYNTAX}")
    if not is_param_name(name):
        raise ConfigError(f"--space {spec!r}: {name!r} is not a parameter name; {SPACE_SYNTAX}")
    if not rhs:
        raise ConfigError(f"--space {name}=: no values given; {SPACE_SYNTAX}")
    text = f"{name}={rhs}"
    if "," in rhs:
        choices = tuple(v.strip() for v in rhs.split(","))
        if any(not v for v in choices) or len(set(choices)) != len(choices):
            raise ConfigError(f"--space {text}: choices must be distinct and non-empty")
        return Dim(name, "choice", choices=choices, spec=text)
    if ":" not in rhs:
        return Dim(name, "fixed", choices=(rhs,), spec=text)
    parts = [p.strip() for p in rhs.split(":")]
    if len(parts) not in (2, 3):
        raise ConfigError(f"--space {text}: use LOW:HIGH or LOW:HIGH:STEP|log; {SPACE_SYNTAX}")
    low, high = _number(parts[0], text), _number(parts[1], text)
    log, step = False, None
    if len(parts) == 3:
        if parts[2].lower() == "log":
            log = True
        else:
            step = _number(parts[2], text)
            if not step > 0:
                raise ConfigError(f"--space {text}: the step must be > 0")
    kind = "int" if all(isinstance(v, int) for v in (low, high, step) if v is not None) else "float"
    if kind == "float":
        low, high = float(low), float(high)
        step = float(step) if step is not None else None
    if not low < high:
        raise ConfigError(f"--space {text}: LOW must be below HIGH")
    if log and not low > 0:
        raise ConfigError(f"--space {text}: a log range needs LOW > 0")
    return Dim(name, kind, low, high, step, log, spec=text)


@dataclass(frozen=True)
class Space:
    """The parameters a study searches, in the order the specs were given."""

    dims: tuple[Dim, ...]

    @classmethod
    def parse(cls, specs: Sequence[str] | Mapping[str, str]) -> Space:
        items = [f"{k}={v}" for k, v in specs.items()] if isinstance(specs, Mapping) else list(specs)
        if not items:
            raise ConfigError(f"the search space is empty; {SPACE_SYNTAX}")
        dims = tuple(_parse_dim(s) for s in items)
        names = [d.name for d in dims]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"--space names {dupes} more than once; give each parameter once")
        return cls(dims)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dims)

    def searched(self) -> tuple[Dim, ...]:
        """The dimensions the sampler draws (all but the fixed ones)."""
        return tuple(d for d in self.dims if d.kind != "fixed")

    def fixed(self) -> dict[str, str]:
        return {d.name: d.choices[0] for d in self.dims if d.kind == "fixed"}

    def specs(self) -> list[str]:
        return [d.spec for d in self.dims]

    def distributions(self) -> dict[str, Any]:
        """``{name: optuna distribution}`` of the searched dimensions."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        out: dict[str, Any] = {}
        for d in self.searched():
            if d.kind == "choice":
                out[d.name] = CategoricalDistribution(list(d.choices))
            elif d.kind == "int":
                out[d.name] = IntDistribution(d.low, d.high, log=d.log, step=d.step or 1)
            else:
                out[d.name] = FloatDistribution(d.low, d.high, log=d.log, step=d.step)
        return out
