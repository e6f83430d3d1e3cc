"""Parameter grids for sweeps: parse ``--grid`` specs, enumerate them, sample them.

Syntax of one ``--grid`` spec (``NAME=VALUES``):

- ``fast=5:50:5`` — a range ``start:stop:step``. ``stop`` is **included when it lies
  on the grid** (``start + k * step == stop``), like the ranges people write on
  paper, and unlike Python's ``range``: ``5:50:5`` is 5, 10, ..., 50 and
  ``5:52:5`` stops at 50. ``start:stop`` means step 1. Arithmetic is decimal, so
  ``0.1:0.5:0.1`` gives exactly 0.1, 0.2, 0.3, 0.4, 0.5 (no 0.30000000000000004).
  A negative step counts down (``50:5:-5``).
- ``x=1,2,3`` — an explicit list (any text: ``mode=fast,slow``; ``flag=true,false``).
- ``x=7`` — a single value (the param is fixed in every combination).

Values stay text here; the strategy's ``Param`` declarations give them their
types (``"5"`` -> ``5`` for an ``int`` param) when the sweep builds the strategies.

Combinations are enumerated in a fixed order: the cartesian product in the order
the ``--grid`` flags were given, the last flag varying fastest, each param's
values in the order written. Random search draws distinct combinations from that
same product with ``numpy.random.default_rng(seed)``, so one seed always gives
the same draw, and lists them in grid order.

>>> g = ParamGrid.parse(["fast=5:15:5", "slow=60,80"])
>>> len(g), g.names
(6, ('fast', 'slow'))
>>> g.combination(0), g.combination(5)
({'fast': '5', 'slow': '60'}, {'fast': '15', 'slow': '80'})
>>> parse_values("0.1:0.5:0.1")
('0.1', '0.2', '0.3', '0.4', '0.5')
>>> [c["fast"] for c in g.sample(3, seed=7)] == [c["fast"] for c in g.sample(3, seed=7)]
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np

from tradeloom.engine.errors import ConfigError

__all__ = ["GRID_SYNTAX", "MAX_RANGE_VALUES", "ParamGrid", "is_param_name", "parse_spec", "parse_values"]

GRID_SYNTAX = (
    "use --grid NAME=START:STOP:STEP (STOP included when on the grid, e.g. fast=5:50:5), "
    "--grid NAME=A,B,C (a list, e.g. slow=60,120,240) or --grid NAME=VALUE"
)
#: A single range may not expand to more values than this (a typo guard: 1:1e9:1).
MAX_RANGE_VALUES = 100_000


def parse_values(text: str, name: str = "param") -> tuple[str, ...]:
    """The values of one spec's right-hand side, as text (see the module docstring).

    >>> parse_values("5:50:15")
    ('5', '20', '35', '50')
    >>> parse_values("50:5:-20")
    ('50', '30', '10')
    >>> parse_values("1,2,3")
    ('1', '2', '3')
    >>> parse_values("2:4")
    ('2', '3', '4')
    """
    text = text.strip()
    if not text:
        raise ConfigError(f"--grid {name}=: no values given; {GRID_SYNTAX}")
    if "," in text:
        values = tuple(v.strip() for v in text.split(","))
        if any(not v for v in values):
            raise ConfigError(f"--grid {name}={text}: empty value in the list; {GRID_SYNTAX}")
        _check_unique(name, text, values)
        return values
    if ":" in text:
        return _parse_range(name, text)
    return (text,)


def _parse_range(name: str, text: str) -> tuple[str, ...]:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise ConfigError(
            f"--grid {name}={text}: a range has 2 or 3 parts (START:STOP[:STEP]); {GRID_SYNTAX}"
        )
    try:
        nums = [Decimal(p.strip()) for p in parts]
    except InvalidOperation:
        raise ConfigError(
            f"--grid {name}={text}: range bounds and step must be numbers; {GRID_SYNTAX}"
        ) from None
    if not all(n.is_finite() for n in nums):
        raise ConfigError(f"--grid {name}={text}: range parts must be finite numbers")
    start, stop = nums[0], nums[1]
    step = nums[2] if len(nums) == 3 else Decimal(1)
    if step == 0:
        raise ConfigError(f"--grid {name}={text}: step must not be 0; {GRID_SYNTAX}")
    if (stop - start) * step < 0:
        raise ConfigError(
            f"--grid {name}={text}: step {step} never reaches {stop} from {start}; "
            f"use a {'negative' if stop < start else 'positive'} step"
        )
    count = int((stop - start) / step) + 1  # int() truncates toward zero: stop kept if on grid
    if count > MAX_RANGE_VALUES:
        raise ConfigError(
            f"--grid {name}={text}: {count} values (more than {MAX_RANGE_VALUES}); use a larger "
            "step, or --random N to sample a big grid"
        )
    return tuple(_fmt(start + i * step) for i in range(count))


def _fmt(value: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros ('5', '0.3', '-2.5')."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def _check_unique(name: str, text: str, values: Sequence[str]) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ConfigError(f"--grid {name}={text}: {v!r} is listed twice; list each value once")
        seen.add(v)


def parse_spec(spec: str) -> tuple[str, tuple[str, ...]]:
    """One ``NAME=VALUES`` spec into ``(name, values)``.

    >>> parse_spec("slow=60:100:20")
    ('slow', ('60', '80', '100'))
    >>> try:
    ...     parse_spec("fast 5:50")
    ... except ConfigError as exc:
    ...     print(str(exc)[:60])
    --grid 'fast 5:50': missing '=' between the param name and i
    """
    if "=" not in spec:
        raise ConfigError(
            f"--grid {spec!r}: missing '=' between the param name and its values; {GRID_SYNTAX}"
        )
    name, _, text = spec.partition("=")
    name = name.strip()
    if not is_param_name(name):
        raise ConfigError(f"--grid {spec!r}: {name!r} is not a param name; {GRID_SYNTAX}")
    return name, parse_values(text, name)


def is_param_name(name: str) -> bool:
    """A Python identifier, or a rule file's dotted path to a number (parts are
    identifiers or list indexes).

    >>> [is_param_name(n) for n in ("fast", "indicators.fast.period", "exit.take_profit.0.at", "1x", "a..b")]
    [True, True, True, False, False]
    """
    parts = name.split(".")
    return parts[0].isidentifier() and all(p.isidentifier() or p.isdigit() for p in parts[1:])


@dataclass(frozen=True)
class ParamGrid:
    """The cartesian product of named value lists, in a fixed order (see the module docstring)."""

    names: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.values):
            raise ConfigError("ParamGrid: one value list per name is required")
        dup = sorted({n for n in self.names if self.names.count(n) > 1})
        if dup:
            raise ConfigError(
                f"--grid {dup[0]} is given more than once; give each param one --grid "
                f"(e.g. --grid {dup[0]}=1,2,3)"
            )
        for name, vals in zip(self.names, self.values):
            if not vals:
                raise ConfigError(f"--grid {name}: no values; {GRID_SYNTAX}")

    @classmethod
    def parse(cls, specs: Sequence[str]) -> ParamGrid:
        """Build from ``--grid`` specs; an empty list is one combination of defaults."""
        pairs = [parse_spec(s) for s in specs]
        return cls(tuple(n for n, _ in pairs), tuple(v for _, v in pairs))

    def __len__(self) -> int:
        return math.prod(len(v) for v in self.values)

    def combination(self, index: int) -> dict[str, str]:
        """The ``index``-th combination (mixed radix, last name fastest)."""
        if not 0 <= index < len(self):
            raise IndexError(f"combination {index} outside 0..{len(self) - 1}")
        out: dict[str, str] = {}
        for name, vals in zip(reversed(self.names), reversed(self.values)):
            index, digit = divmod(index, len(vals))
            out[name] = vals[digit]
        return {n: out[n] for n in self.names}

    def __iter__(self) -> Iterator[dict[str, str]]:
        return (self.combination(i) for i in range(len(self)))

    def sample_indices(self, n: int, seed: int) -> list[int]:
        """``n`` distinct combination indices drawn with ``default_rng(seed)``, ascending.

        ``n`` at or above the grid size returns every index (the whole grid).
        """
        if n < 1:
            raise ConfigError(f"--random {n}: the number of samples must be at least 1")
        total = len(self)
        if n >= total:
            return list(range(total))
        rng = np.random.default_rng(seed)
        picked = rng.choice(total, size=n, replace=False, shuffle=False)
        return sorted(int(i) for i in picked)

    def sample(self, n: int, seed: int) -> list[dict[str, str]]:
        """``n`` distinct combinations drawn with ``seed`` (see ``sample_indices``)."""
        return [self.combination(i) for i in self.sample_indices(n, seed)]

    def specs(self) -> list[str]:
        """The grid back as ``NAME=A,B,...`` specs (for manifests and messages)."""
        return [f"{n}={','.join(v)}" for n, v in zip(self.names, self.values)]
