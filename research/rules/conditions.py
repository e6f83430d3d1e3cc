"""What a rule condition means, once, and its two evaluations: whole arrays and bar by bar.

A condition tree is flattened into ``Node``s (children before parents). Both
evaluators walk the same nodes with the same float expressions, over values that
agree bit for bit (batch and streaming indicators of the library do), so they give
the same booleans on every bar:

- ``left < right`` (``<=``, ``>``, ``>=``): false when either side is NaN (warm-up).
- ``crosses_above``: with ``d = left - right`` on this bar and ``p`` on the previous
  bar, ``p <= 0 < d``; ``crosses_below``: ``p >= 0 > d`` (``SmaCross``'s definition;
  false on the first bar and wherever ``p`` or ``d`` is NaN).
- ``all`` / ``any`` / ``not``: and, or, negation of the children's values (every child
  is evaluated on every bar, so crossing and ``for_bars`` state never skip a bar).
- ``for_bars = N``: the node's value held on this bar and the ``N - 1`` bars before.
- an operand ``x[k]`` is ``x`` as it was ``k`` bars ago (NaN before that).

>>> import numpy as np
>>> from tradeloom.research.rules.schema import Compare
>>> nodes = flatten(Compare(left="close", op="crosses_above", right=100.0, for_bars=1))
>>> close = np.array([99.0, 101.0, 102.0, 98.0, 100.5])
>>> batch_values(nodes, lambda ref: close if ref.name == "close" else None).tolist()
[False, True, False, False, True]
>>> stream = StreamNodes(nodes)
>>> [stream.step({("close", None): c}) for c in close]
[False, True, False, False, True]
"""

from __future__ import annotations

import difflib
import math
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeloom.research.rules.schema import (
    FIELDS,
    MAX_LAG,
    AllOf,
    AnyOf,
    Compare,
    NotOf,
    Op,
    RuleSet,
)

__all__ = ["Node", "Ref", "StreamNodes", "batch_values", "flatten", "parse_operand",
           "reference_problems", "refs_of"]

_REF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?(?:\[(\d+)\])?$")
_CMP = {Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}


@dataclass(frozen=True)
class Ref:
    """One operand: a constant (``name`` is None), a bar field or an indicator output, ``lag`` bars ago."""

    name: str | None
    output: str | None = None
    lag: int = 0
    value: float = math.nan

    @property
    def series(self) -> tuple[str, str | None]:
        """The series this operand reads (``(name, output)``), lag aside."""
        return (self.name or "", self.output)


def parse_operand(value: float | str) -> Ref:
    """``30`` -> constant; ``"close"``, ``"rsi"``, ``"bands.upper"``, ``"chan.upper[1]"`` -> refs.

    >>> parse_operand("chan.upper[1]")
    Ref(name='chan', output='upper', lag=1, value=nan)
    """
    if isinstance(value, (int, float)):
        return Ref(None, value=float(value))
    m = _REF.match(value.strip())
    if m is None:
        raise ValueError(f"{value!r} is not an operand: write a number, a bar field "
                         f"({', '.join(FIELDS)}), an indicator name, name.output, and [k] for k bars ago")
    name, output, lag = m.group(1), m.group(2), int(m.group(3) or 0)
    return Ref(name, output, lag)


@dataclass(frozen=True)
class Node:
    """One condition node; ``children`` index earlier nodes of the flattened list."""

    kind: str  # "cmp" | "all" | "any" | "not"
    for_bars: int
    op: Op | None = None
    left: Ref | None = None
    right: Ref | None = None
    children: tuple[int, ...] = ()


def flatten(condition: Any) -> list[Node]:
    """The condition tree as nodes, children first; the last node is the root."""
    out: list[Node] = []

    def visit(c: Any) -> int:
        if isinstance(c, Compare):
            out.append(Node("cmp", c.for_bars, c.op, parse_operand(c.left), parse_operand(c.right)))
        elif isinstance(c, (AllOf, AnyOf)):
            kids = tuple(visit(k) for k in (c.all if isinstance(c, AllOf) else c.any))
            out.append(Node("all" if isinstance(c, AllOf) else "any", c.for_bars, children=kids))
        elif isinstance(c, NotOf):
            kid = visit(c.not_)
            out.append(Node("not", c.for_bars, children=(kid,)))
        else:
            raise TypeError(f"not a condition: {c!r}")
        return len(out) - 1

    visit(condition)
    return out


def refs_of(nodes: list[Node]) -> Iterator[Ref]:
    """Every non-constant operand of ``nodes``."""
    for node in nodes:
        for ref in (node.left, node.right):
            if ref is not None and ref.name is not None:
                yield ref


def _walk(condition: Any, path: str) -> Iterator[tuple[str, Compare]]:
    if isinstance(condition, Compare):
        yield path, condition
    elif isinstance(condition, AllOf):
        for i, c in enumerate(condition.all):
            yield from _walk(c, f"{path}.all.{i}")
    elif isinstance(condition, AnyOf):
        for i, c in enumerate(condition.any):
            yield from _walk(c, f"{path}.any.{i}")
    elif isinstance(condition, NotOf):
        yield from _walk(condition.not_, f"{path}.not")


def reference_problems(rules: RuleSet) -> list[tuple[str, str]]:
    """Operands that name nothing in the file, with their field paths (empty: all good)."""
    problems: list[tuple[str, str]] = []
    known = dict(rules.indicators)
    trees = [("entry.when", rules.entry.when)]
    if rules.exit.when is not None:
        trees.append(("exit.when", rules.exit.when))
    for root, tree in trees:
        for path, cmp in _walk(tree, root):
            refs = []
            for side in ("left", "right"):
                raw = getattr(cmp, side)
                try:
                    ref = parse_operand(raw)
                except ValueError as exc:
                    problems.append((f"{path}.{side}", str(exc)))
                    continue
                refs.append(ref)
                why = _ref_problem(ref, known)
                if why:
                    problems.append((f"{path}.{side}", why))
            if len(refs) == 2 and all(r.name is None for r in refs):
                problems.append((path, "both sides are numbers; compare a bar field or an indicator"))
    return problems


def _ref_problem(ref: Ref, known: dict[str, Any]) -> str:
    if ref.name is None:
        return "" if math.isfinite(ref.value) else "numbers must be finite"
    if ref.lag > MAX_LAG:
        return f"[{ref.lag}] looks back more than {MAX_LAG} bars"
    if ref.name in FIELDS:
        return f"bar field {ref.name!r} has no outputs; write {ref.name!r}" if ref.output else ""
    if ref.name not in known:
        names = list(known) + list(FIELDS)
        close = difflib.get_close_matches(ref.name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return (f"{ref.name!r} is not an indicator of this file ({', '.join(known) or 'none'}) nor a "
                f"bar field ({', '.join(FIELDS)}){hint}")
    outputs = known[ref.name].outputs
    if ref.output is None and len(outputs) > 1:
        return f"{ref.name} ({known[ref.name].kind}) has outputs {', '.join(outputs)}: write " \
               f"{ref.name}.{outputs[0]}"
    if ref.output is not None and ref.output not in outputs:
        return (f"{ref.name} ({known[ref.name].kind}) has no output {ref.output!r}; outputs: "
                f"{', '.join(outputs)}")
    return ""


# ----------------------------------------------------------------------------- batch


def _lagged(a: np.ndarray, k: int) -> np.ndarray:
    if k == 0:
        return a
    out = np.full(a.shape[0], np.nan)
    if k < a.shape[0]:
        out[k:] = a[:-k]
    return out


def _held(values: np.ndarray, n_bars: int) -> np.ndarray:
    """True where ``values`` held on this bar and the ``n_bars - 1`` before."""
    if n_bars <= 1:
        return values
    idx = np.arange(values.shape[0])
    last_false = np.maximum.accumulate(np.where(values, -1, idx))
    return (idx - last_false) >= n_bars


def batch_values(nodes: list[Node], series: Callable[[Ref], np.ndarray]) -> np.ndarray:
    """The root's value on every bar; ``series(ref)`` gives an operand's array (lag 0)."""
    vals: list[np.ndarray] = []

    def operand(ref: Ref, n: int) -> np.ndarray | float:
        if ref.name is None:
            return ref.value
        return _lagged(np.asarray(series(ref), dtype=np.float64), ref.lag)

    n = None
    for node in nodes:
        if node.kind == "cmp":
            probe = [series(r) for r in (node.left, node.right) if r.name is not None]
            n = probe[0].shape[0] if probe else n
            left, right = operand(node.left, n), operand(node.right, n)
            with np.errstate(invalid="ignore"):
                if node.op is Op.LT:
                    v = np.less(left, right)
                elif node.op is Op.LE:
                    v = np.less_equal(left, right)
                elif node.op is Op.GT:
                    v = np.greater(left, right)
                elif node.op is Op.GE:
                    v = np.greater_equal(left, right)
                else:
                    d = np.subtract(left, right)
                    p = _lagged(d, 1)
                    v = (p <= 0.0) & (0.0 < d) if node.op is Op.CROSSES_ABOVE else (p >= 0.0) & (0.0 > d)
        elif node.kind == "all":
            v = np.logical_and.reduce([vals[c] for c in node.children])
        elif node.kind == "any":
            v = np.logical_or.reduce([vals[c] for c in node.children])
        else:
            v = ~vals[node.children[0]]
        vals.append(_held(np.asarray(v, dtype=np.bool_), node.for_bars))
    return vals[-1]


# ----------------------------------------------------------------------------- streaming


class StreamNodes:
    """Bar-by-bar evaluation of flattened nodes; ``step(values)`` once per bar.

    ``values`` maps every series the nodes read (``Ref.series``) to its value on this
    bar. Lagged operands are served from small buffers kept here.
    """

    __slots__ = ("_bufs", "_nodes", "_prev", "_runs", "_vals")

    def __init__(self, nodes: list[Node]) -> None:
        self._nodes = nodes
        self._prev = [math.nan] * len(nodes)  # d of the previous bar, crossing nodes
        self._runs = [0] * len(nodes)  # consecutive bars true, for_bars
        self._vals = [False] * len(nodes)
        depth: dict[tuple[str, str | None], int] = {}
        for ref in refs_of(nodes):
            depth[ref.series] = max(depth.get(ref.series, 0), ref.lag)
        self._bufs = {s: deque(maxlen=k + 1) for s, k in depth.items() if k > 0}

    def _operand(self, ref: Ref, values: dict[tuple[str, str | None], float]) -> float:
        if ref.name is None:
            return ref.value
        if ref.lag == 0:
            return values[ref.series]
        buf = self._bufs[ref.series]
        return buf[-1 - ref.lag] if len(buf) > ref.lag else math.nan

    def step(self, values: dict[tuple[str, str | None], float]) -> bool:
        """The root's value on this bar (every node's state advances)."""
        for key, buf in self._bufs.items():
            buf.append(values[key])
        vals = self._vals
        for k, node in enumerate(self._nodes):
            if node.kind == "cmp":
                left = self._operand(node.left, values)  # type: ignore[arg-type]
                right = self._operand(node.right, values)  # type: ignore[arg-type]
                op = node.op
                if op is Op.LT:
                    v = left < right
                elif op is Op.LE:
                    v = left <= right
                elif op is Op.GT:
                    v = left > right
                elif op is Op.GE:
                    v = left >= right
                else:
                    d = left - right
                    p = self._prev[k]
                    self._prev[k] = d
                    v = (p <= 0.0 < d) if op is Op.CROSSES_ABOVE else (p >= 0.0 > d)
            elif node.kind == "all":
                v = all([vals[c] for c in node.children])
            elif node.kind == "any":
                v = any([vals[c] for c in node.children])
            else:
                v = not vals[node.children[0]]
            if node.for_bars > 1:
                self._runs[k] = self._runs[k] + 1 if v else 0
                v = self._runs[k] >= node.for_bars
            vals[k] = bool(v)
        return vals[-1]
