"""Result frames: fixed column schemas, building frames from domain objects, JSON checks.

Both ``BacktestResult.build`` and the loader in ``tradeloom.adapters.store.results_io``
construct frames through :func:`make_frame`, so a frame and its loaded copy have
identical dtypes. Column kinds: ``int64``, ``float64``, ``bool``, ``str`` (pandas'
string dtype, missing = NaN), and the nullable ``Int64`` and ``boolean``.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
from collections.abc import Mapping, Sequence
from enum import Enum
from functools import lru_cache
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.orders import Fill, Order
from tradeloom.engine.results.trades import TRADE_COLUMNS, Trade

# --------------------------------------------------------------------------- columns

ColumnKind = str  # "int64" | "float64" | "bool" | "str" | "Int64" | "boolean"

ORDER_COLUMNS: dict[str, ColumnKind] = {
    "id": "int64",
    "symbol": "str",
    "side": "str",
    "type": "str",
    "amount": "float64",
    "created_ts": "int64",
    "price": "float64",
    "quote_amount": "float64",
    "stop_price": "float64",
    "trail_amount": "float64",
    "trail_pct": "float64",
    "tif": "str",
    "post_only": "bool",
    "reduce_only": "bool",
    "client_id": "str",
    "tag": "str",
    "strategy_id": "str",
    "parent_id": "Int64",
    "oco_group": "Int64",
    "status": "str",
    "filled": "float64",
    "avg_price": "float64",
    "fee": "float64",
    "triggered": "bool",
    "updated_ts": "int64",
    "reason": "str",
    "history": "str",  # JSON list of [ts, status]
}
"""Columns of ``result.orders``; optional prices are NaN when unset."""

FILL_COLUMNS: dict[str, ColumnKind] = {
    "order_id": "int64",
    "symbol": "str",
    "side": "str",
    "ts": "int64",
    "price": "float64",
    "amount": "float64",
    "fee": "float64",
    "liquidity": "str",
    "client_id": "str",
    "tag": "str",
    "strategy_id": "str",
    "fee_currency": "str",
    "fee_cost": "float64",
}
"""Columns of ``result.fills``: ``fee`` is the fee's value in the quote currency,
``fee_currency``/``fee_cost`` what the venue charged (``engine.orders.Fill``)."""

_TRADE_KINDS = {"int": "int64", "float": "float64", "bool": "bool", "str": "str"}
TRADE_COLUMN_KINDS: dict[str, ColumnKind] = {
    name: _TRADE_KINDS[str(Trade.__annotations__[name])] for name in TRADE_COLUMNS
}
"""Columns of ``result.trades`` (see :class:`.trades.Trade`)."""

EQUITY_COLUMNS: dict[str, ColumnKind] = {
    "ts": "int64",
    "equity": "float64",
    "cash": "float64",
    "exposure": "float64",
    "fees_cum": "float64",
}


def make_frame(
    columns: Mapping[str, Sequence[Any] | np.ndarray], kinds: Mapping[str, ColumnKind]
) -> pd.DataFrame:
    """A DataFrame with exactly ``kinds``' columns and dtypes and a RangeIndex.

    Used both when building and when loading results, so the two give identical
    dtypes. ``None`` becomes NaN (float, str) or ``<NA>`` (Int64, boolean).

    >>> make_frame({"a": [1, 2], "b": ["x", None]}, {"a": "int64", "b": "str"}).dtypes.tolist()
    [dtype('int64'), <StringDtype(na_value=nan)>]
    """
    data: dict[str, Any] = {}
    n: int | None = None
    for name, kind in kinds.items():
        arr = column_array(columns[name], kind)
        if n is not None and len(arr) != n:
            raise DataError(f"column {name!r} has {len(arr)} values, expected {n}")
        n = len(arr)
        data[name] = arr
    return pd.DataFrame(data, index=pd.RangeIndex(n or 0), columns=list(kinds))


def column_array(values: Sequence[Any] | np.ndarray, kind: ColumnKind) -> Any:
    """The array ``make_frame`` stores for ``values`` of column kind ``kind`` (an array
    passed back to ``make_frame`` is stored as it is: no second conversion)."""
    if kind == "float64":
        return _float_array(values)
    if kind in ("int64", "bool"):
        return np.asarray(values, dtype=kind)
    if kind == "str":
        return _str_array(values)
    return _masked_array(values, kind)


def _repeats(values: Sequence[Any], value: Any) -> bool:
    """Whether a non-empty list or tuple holds nothing but ``value`` (a ``str`` or ``None``).

    ``count`` runs at C speed and compares by identity first, so a column of one shared
    object costs a pointer check per value; the last value is looked at first, so most
    columns that vary are not scanned at all.
    """
    if not (isinstance(values, (list, tuple)) and values):
        return False
    last = values[-1]
    if not (last is value or (isinstance(last, str) and last == value)):
        return False
    try:
        return values.count(value) == len(values)
    except ValueError:  # a value whose == is not a bool (an array): not one repeated value
        return False


def _float_array(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """float64 array of ``values`` with ``None`` as NaN.

    numpy itself stores ``None`` as NaN when converting to float64 (the one quiet NaN,
    the same bits as ``math.nan``), so the values go to numpy as they are; a column of
    nothing but ``None`` (an order type's unused prices) is NaN throughout without
    numpy's slow path for ``None``.
    """
    if isinstance(values, np.ndarray):
        return np.asarray(values, dtype=np.float64)
    if not isinstance(values, (list, tuple)):
        values = list(values)
    if values and values[0] is None and _repeats(values, None):
        return np.full(len(values), math.nan)
    return np.asarray(values, dtype=np.float64)


def _masked_array(values: Sequence[Any], kind: ColumnKind) -> Any:
    """``pd.array(list(values), dtype=kind)`` for the nullable kinds (``Int64``, ``boolean``).

    A column of nothing but ``None`` (no parent orders, no OCO groups) is the one-value
    array ``pd.array([None], dtype=kind)`` repeated by ``take``: the same data and mask
    as the general conversion, without inspecting every ``None``.
    """
    if isinstance(values, (list, tuple)) and values and values[0] is None and _repeats(
        values, None
    ):
        return pd.array([None], dtype=kind).take(np.zeros(len(values), dtype=np.intp))
    return pd.array(list(values), dtype=kind)


def _str_array(values: Sequence[Any]) -> Any:
    """``pd.array(list(values), dtype="str")``, through Arrow when every value is a ``str``
    or ``None``: the same array (large_string, missing = NaN) about six times faster.

    ``str`` subclasses (the ``(str, Enum)`` members: ``Side.BUY`` *is* the string
    ``"buy"``) are their characters to Arrow and to pandas alike, as ``str.__str__``
    gives them. A column of one value repeated (one symbol, no client ids, every order
    filled) is that value repeated by Arrow, without converting each. Other values
    (numbers, NaN) are not strings to Arrow (``ArrowTypeError``); pandas then converts
    them itself, as it always did.
    """
    if not isinstance(values, np.ndarray):
        first = values[0] if isinstance(values, (list, tuple)) and values else 0
        if first is None and _repeats(values, None):
            return pd.array(pa.nulls(len(values), pa.large_string()), dtype="str")
        if isinstance(first, str) and _repeats(values, first):
            scalar = pa.scalar(str.__str__(first), pa.large_string())
            return pd.array(pa.repeat(scalar, len(values)), dtype="str")
        try:
            return pd.array(pa.array(values, type=pa.large_string()), dtype="str")
        except pa.ArrowTypeError:
            pass  # not all str/None: pandas' own conversion below handles any value
    return pd.array(list(values), dtype="str")


def equity_frame_from_block(ts: np.ndarray, block: np.ndarray) -> pd.DataFrame:
    """The ``EQUITY_COLUMNS`` frame from int64 ``ts`` and a C-contiguous float64 ``(4, n)``
    ``block`` (rows equity, cash, exposure, fees_cum), adopting both arrays: the block
    becomes the frame's one float block as it is, no copy. Same columns, dtypes, values
    and index as :func:`make_frame` gives.
    """
    n = ts.shape[0]
    if _from_blocks is not None:  # pandas >= 2.3: ts adopted too (as a (1, n) view)
        return _from_blocks(
            [(ts.reshape(1, n), np.array([0])), (block, np.arange(1, 1 + block.shape[0]))],
            index=pd.RangeIndex(n),
            columns=pd.Index(list(EQUITY_COLUMNS)),
        )
    floats = [name for name in EQUITY_COLUMNS if name != "ts"]
    frame = pd.DataFrame(block.T, index=pd.RangeIndex(n), columns=floats, copy=False)
    frame.insert(0, "ts", ts)
    return frame


try:
    from pandas.api.internals import create_dataframe_from_blocks as _from_blocks
except ImportError:  # older pandas
    _from_blocks = None


def infer_kinds(records: Sequence[Mapping[str, Any]]) -> dict[str, ColumnKind]:
    """Column kinds for free-form records (risk decisions), keys in first-seen order.

    bool -> bool, int -> int64, numbers -> float64, str -> str; a column with
    missing values becomes nullable (``boolean``/``Int64``); any other mix is
    stored as JSON text (``json`` kind, a ``str`` column).

    >>> infer_kinds([{"code": "max_exposure", "limit": 0.25, "n": 1}, {"code": "x", "n": None}])
    {'code': 'str', 'limit': 'float64', 'n': 'Int64'}
    """
    keys: dict[str, None] = {}
    for rec in records:
        for k in rec:
            keys.setdefault(str(k), None)
    kinds: dict[str, ColumnKind] = {}
    for k in keys:
        values = [rec.get(k) for rec in records]
        present = [v for v in values if v is not None]
        missing = len(present) < len(values)
        types = {type(v) for v in present}
        if types and types <= {bool, np.bool_}:
            kinds[k] = "boolean" if missing else "bool"
        elif types and all(
            issubclass(t, (int, np.integer)) and not issubclass(t, (bool, np.bool_)) for t in types
        ):
            kinds[k] = "Int64" if missing else "int64"
        elif types and all(
            issubclass(t, (int, float, np.integer, np.floating))
            and not issubclass(t, (bool, np.bool_))
            for t in types
        ):
            kinds[k] = "float64"
        elif all(issubclass(t, str) for t in types):
            kinds[k] = "str"
        else:
            kinds[k] = "json"
    return kinds


def records_frame(records: Sequence[Any], where: str = "risk_decisions") -> pd.DataFrame:
    """Free-form records (risk decisions) as a DataFrame with :func:`infer_kinds` dtypes.

    Records are mappings or dataclass instances. Enum values are stored by
    ``.value``; "json" columns hold ``json.dumps`` text of JSON-checked values.

    >>> records_frame([{"code": "max_exposure", "observed": 0.31}]).to_dict("records")
    [{'code': 'max_exposure', 'observed': 0.31}]
    """
    plain = [
        {str(k): _plain(v) for k, v in as_mapping(rec, f"{where}[{i}]").items()}
        for i, rec in enumerate(records)
    ]
    kinds = infer_kinds(plain)
    cols: dict[str, list[Any]] = {}
    for k, kind in kinds.items():
        values = [rec.get(k) for rec in plain]
        if kind == "json":
            values = [
                json.dumps(check_json(v, f"{where}[{i}].{k}"), sort_keys=True)
                for i, v in enumerate(values)
            ]
        cols[k] = values
    return make_frame(cols, {k: ("str" if kind == "json" else kind) for k, kind in kinds.items()})


def as_mapping(record: Any, where: str) -> Mapping[str, Any]:
    """A mapping or a dataclass instance as a mapping of its fields; ConfigError otherwise."""
    if isinstance(record, Mapping):
        return record
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    raise ConfigError(
        f"{where} is a {type(record).__name__}; pass a mapping or a dataclass instance"
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    return value


# --------------------------------------------------------------------------- JSON values


def check_json(value: Any, where: str) -> Any:
    """A deep copy of ``value`` as plain JSON types, or ConfigError naming the bad path.

    Enums become their values; tuples become lists; dict keys must be strings and come back sorted (so the
    in-memory dict and the one loaded from a sorted-keys file agree); floats must
    be finite (use ``None`` for "no value").

    >>> check_json({"params": {"fast": 10, "w": (0.5, 0.5)}}, "manifest")
    {'params': {'fast': 10, 'w': [0.5, 0.5]}}
    """
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(
                f"{where} is {value!r}; JSON results need finite numbers (use null instead)"
            )
        return float(value)
    if isinstance(value, Mapping):
        for k in value:
            if not isinstance(k, str):
                raise ConfigError(
                    f"{where} has key {k!r} of type {type(k).__name__}; use string keys"
                )
        return {k: check_json(value[k], f"{where}.{k}") for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [check_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ConfigError(
        f"{where} is a {type(value).__module__}.{type(value).__name__} ({value!r:.60}), which is not "
        "JSON-serialisable; convert it to str, int, float, bool, None, list or dict"
    )


# --------------------------------------------------------------------------- builders


def _columns(rows: Sequence[Any], names: Sequence[str]) -> dict[str, list[Any]]:
    """Objects -> one list per attribute: :func:`_slot_columns` for objects of one slotted
    type (the orders, the fills), else one C-level ``map`` per attribute.

    Either way it allocates no per-row container (tens of thousands of short-lived
    containers would wake the garbage collector, which then scans every order of the run).
    """
    cols = _slot_columns(rows, names)
    if cols is None:
        cols = {name: list(map(attrgetter(name), rows)) for name in names}
    return cols


def _slot_columns(rows: Sequence[Any], names: Sequence[str]) -> dict[str, list[Any]] | None:
    """``{name: [getattr(row, name) for row in rows]}`` through one ``gc.get_referents``
    call, or ``None`` when that does not apply.

    ``gc.get_referents(*rows)`` lists what each row's C-level traversal visits, row after
    row: for an instance of a slotted class, the value of every slot that is set and the
    class itself, in an order fixed by the class (:func:`_slot_layout` finds it on a
    probe). So when every row is exactly of that class and the list is exactly rows x
    layout long (no slot unset anywhere), slot ``name``'s values are the slice
    ``flat[position::width]``: the very objects ``getattr`` returns, read by C in one
    pass instead of one ``map`` per attribute (a third of the time on a 1M-bar run's
    orders, which lie scattered in memory by then).
    """
    if not isinstance(rows, (list, tuple)) or not rows:
        return None
    kind = type(rows[0])
    layout = _slot_layout(kind)
    if layout is None:
        return None
    positions, width = layout
    if not all(name in positions for name in names) or set(map(type, rows)) != {kind}:
        return None
    cols: dict[str, list[Any]] = {}
    for start in range(0, len(rows), _SLOT_CHUNK):  # the flat list stays small
        part = rows[start:start + _SLOT_CHUNK]
        flat = gc.get_referents(*part)
        if len(flat) != width * len(part):
            return None
        for name in names:
            values = flat[positions[name]::width]
            if start:
                cols[name] += values
            else:
                cols[name] = values
    return cols


#: Rows per ``gc.get_referents`` call in ``_slot_columns``: its flat list (width x rows
#: references) stays a few MB however many orders a run made.
_SLOT_CHUNK = 65_536


@lru_cache(maxsize=32)
def _slot_layout(kind: type) -> tuple[dict[str, int], int] | None:
    """Where ``gc.get_referents`` lists each slot of an instance of ``kind`` (slot ->
    position, and how many references one instance gives), or ``None`` unless ``kind``
    keeps its values in slots only.

    Found on a probe instance whose every slot holds its own marker: each marker must
    appear exactly once and the one other reference must be ``kind`` itself, so an
    instance with every slot set gives exactly ``width`` references, each in its place.
    """
    slots: list[str] = []
    for cls in kind.__mro__:
        own = cls.__dict__.get("__slots__", ())
        slots.extend([own] if isinstance(own, str) else own)
    if not slots or len(set(slots)) != len(slots):
        return None
    try:
        probe = object.__new__(kind)
        markers = [object() for _ in slots]
        for name, marker in zip(slots, markers):
            object.__setattr__(probe, name, marker)
    except (TypeError, AttributeError):  # not a plain slotted class: read with getattr
        return None
    if hasattr(probe, "__dict__"):
        return None
    refs = gc.get_referents(probe)
    where = {id(ref): i for i, ref in enumerate(refs)}
    positions = {name: where.get(id(marker), -1) for name, marker in zip(slots, markers)}
    taken = set(positions.values())
    others = [ref for i, ref in enumerate(refs) if i not in taken]
    if len(refs) != len(slots) + 1 or -1 in positions.values() or others != [kind]:
        return None
    return positions, len(refs)


@lru_cache(maxsize=256)
def _json_str(s: str) -> str:
    """``json.dumps(s)``, memoised: history holds a handful of distinct status strings."""
    return json.dumps(s)


def _history_json(history: Sequence[tuple[int, str]]) -> str:
    """``json.dumps([[int(ts), str(s)] for ts, s in history])``, byte for byte, faster.

    ``json.dumps`` writes an int as ``int.__repr__`` and separates items with ``", "``;
    the status strings are quoted by ``json.dumps`` itself (memoised).
    """
    if len(history) == 2:  # most orders: accepted, then filled or cancelled
        (t0, s0), (t1, s1) = history
        return f"[[{int(t0)!r}, {_json_str(str(s0))}], [{int(t1)!r}, {_json_str(str(s1))}]]"
    return "[" + ", ".join([f"[{int(ts)!r}, {_json_str(str(s))}]" for ts, s in history]) + "]"


def orders_frame(orders: Sequence[Order]) -> pd.DataFrame:
    """``result.orders``: one row per order, enums as their string values (``_str_array``
    stores a ``str`` enum member as its value)."""
    cols = _columns(orders, ORDER_COLUMNS)
    cols["history"] = list(map(_history_json, cols["history"]))
    return make_frame(cols, ORDER_COLUMNS)


def fill_columns(fills: Sequence[Fill]) -> dict[str, list[Any]]:
    """One list per ``FILL_COLUMNS`` attribute, enums still as members (for ``trade_rows``)."""
    return _columns(fills, FILL_COLUMNS)


def fill_arrays(columns: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray]:
    """The numeric columns of :func:`fill_columns`' lists as the arrays :func:`make_frame`
    stores (``column_array``), converted once for the trades and the fills frame."""
    return {
        name: column_array(columns[name], kind)
        for name, kind in FILL_COLUMNS.items()
        if kind in ("int64", "float64")
    }


def fills_frame(fills: Sequence[Fill]) -> pd.DataFrame:
    """``result.fills``: one row per fill in execution order."""
    return fills_frame_from_columns(fill_columns(fills))


def fills_frame_from_columns(columns: Mapping[str, list[Any]]) -> pd.DataFrame:
    """:func:`fills_frame` from :func:`fill_columns`' lists (which are left unchanged; the
    enums are stored as their values by ``_str_array``), or from those lists with some
    replaced by :func:`fill_arrays`' arrays."""
    return make_frame(columns, FILL_COLUMNS)


def trades_frame(trades: Sequence[Trade]) -> pd.DataFrame:
    """``result.trades``: one row per round trip, columns of :class:`.trades.Trade`."""
    cols = _columns(trades, TRADE_COLUMNS)
    return make_frame(cols, TRADE_COLUMN_KINDS)


def trades_frame_from_rows(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """:func:`trades_frame` from :func:`.trades.trade_rows`' tuples (``TRADE_COLUMNS`` order)."""
    if rows:
        cols = dict(zip(TRADE_COLUMNS, map(list, zip(*rows))))
    else:
        cols = {name: [] for name in TRADE_COLUMNS}
    return make_frame(cols, TRADE_COLUMN_KINDS)


# --------------------------------------------------------------------------- comparison


def diff_frames(a: pd.DataFrame, b: pd.DataFrame, name: str) -> str:
    """One line describing the first difference between two frames, or ''.

    Checks column names, dtypes, row count, index, then values row by row (NaN
    equals NaN, exact otherwise) and reports the first differing row with every
    differing column in it.

    >>> x = pd.DataFrame({"pnl": [1.0, 2.0]}); y = pd.DataFrame({"pnl": [1.0, 2.5]})
    >>> diff_frames(x, y, "trades")
    'trades row 1: pnl 2.0 != 2.5'
    """
    if list(a.columns) != list(b.columns):
        only_a = [c for c in a.columns if c not in b.columns]
        only_b = [c for c in b.columns if c not in a.columns]
        return f"{name} columns differ: only in first {only_a}, only in second {only_b}" + (
            "" if only_a or only_b else " (order differs)"
        )
    for c in a.columns:
        if a[c].dtype != b[c].dtype:
            return f"{name}.{c} dtype {a[c].dtype} != {b[c].dtype}"
    if len(a) != len(b):
        return f"{name}: {len(a)} rows != {len(b)} rows"
    if not a.index.equals(b.index):
        return f"{name}: index differs"
    if len(a) == 0:
        return ""
    mismatch = np.zeros(len(a), dtype=bool)
    per_col: dict[str, np.ndarray] = {}
    for c in a.columns:
        neq = _neq(a[c], b[c])
        per_col[c] = neq
        mismatch |= neq
    if not mismatch.any():
        return ""
    i = int(np.argmax(mismatch))
    parts = [
        f"{c} {_py(a[c].iloc[i])!r} != {_py(b[c].iloc[i])!r}" for c in a.columns if per_col[c][i]
    ]
    return f"{name} row {i}: " + "; ".join(parts)


def _py(value: Any) -> Any:
    """numpy scalar -> Python scalar so messages read ``1.5``, not ``np.float64(1.5)``."""
    return value.item() if isinstance(value, np.generic) else value


def _neq(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise "differs" with NaN/NA equal to NaN/NA and exact comparison otherwise."""
    na_a = a.isna().to_numpy(dtype=bool)
    na_b = b.isna().to_numpy(dtype=bool)
    eq = pd.array(a.array == b.array)
    eq_np = np.asarray(eq.fillna(False) if hasattr(eq, "fillna") else eq, dtype=bool)
    return ~((eq_np & ~na_a & ~na_b) | (na_a & na_b))
