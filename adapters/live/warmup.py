"""Warm-up before the first live decision: how many bars, where from, how they are applied.

Why: a strategy whose indicators are still NaN on the first live bar either does
nothing for hours or, worse, decides on a half-filled window. The runner loads the
strategy's need from the store, tops it up from the exchange up to the last closed
bar, and *primes* the engine with it before the first live bar.

**Need.** ``warmup_need(engine)`` (after ``engine.start``, so the strategy's
``on_start`` has asked for its indicators): ``Engine.warmup_bars()`` (the largest
indicator ``warmup`` + 1, the bar history kept) and the configured minimum.

**Priming** (``prime``) applies each warm-up bar exactly as ``Engine.step`` does
*for data*: the symbol's mark, the risk engine's ``on_bar`` (staleness, day), the
streaming indicators and ``ctx.history``. It does not call ``strategy.on_bar`` and
the broker never sees the bar: no decision is taken on history, as a live trader
would not trade bars that closed before they started. Replay primes with the very
same function, so a replayed session starts from the same state.

Priming is ``Engine.prime(bar)``, one bar at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import ccxt

from tradeloom.adapters.ccxt.bar_feed import bar_from_row
from tradeloom.adapters.ccxt.exchange import map_ccxt_error
from tradeloom.engine.errors import TradeloomError
from tradeloom.engine.orders import Bar
from tradeloom.engine.run.loop import Engine

if TYPE_CHECKING:
    from tradeloom.adapters.store.market_store import MarketStore

log = logging.getLogger(__name__)


def warmup_need(engine: Engine, minimum: int = 0) -> int:
    """Bars per symbol the started ``engine``'s strategy needs before its first decision
    (``Engine.warmup_bars``), at least ``minimum``."""
    return max(int(minimum), engine.warmup_bars())


def prime(engine: Engine, bars: Iterable[Bar]) -> int:
    """Feed warm-up ``bars`` to marks, risk, indicators and history (no decisions); count."""
    n = 0
    for bar in bars:
        engine.prime(bar)
        n += 1
    return n


async def load_warmup(client: Any, symbols: Sequence[str], timeframe: str, tf_ms: int, need: int,
                      *, exchange_now: int, store: MarketStore | None = None,
                      exchange_id: str = "") -> list[Bar]:
    """The last ``need`` closed bars per symbol before ``exchange_now``: store first, exchange top-up.

    Returns bars in ``(close_ts, symbol)`` order. The open bar is never included.
    """
    if need <= 0:
        return []
    last_close = exchange_now - exchange_now % tf_ms  # close of the newest closed bar
    start = last_close - need * tf_ms
    out: list[Bar] = []
    for symbol in symbols:
        bars = _from_store(store, exchange_id, timeframe, symbol, start, last_close, tf_ms)
        have = bars[-1].ts + tf_ms if bars else start
        if have < last_close:
            bars.extend(await _from_exchange(client, symbol, timeframe, tf_ms, have, last_close))
        if len(bars) < need:
            log.warning("warm-up for %s: %d of %d bars available", symbol, len(bars), need)
        out.extend(bars[-need:])
    out.sort(key=lambda b: (b.close_ts, b.symbol))
    return out


def _from_store(store: MarketStore | None, exchange_id: str, timeframe: str, symbol: str, start: int, end: int,
                tf_ms: int) -> list[Bar]:
    if store is None:
        return []
    try:
        frame = store.read_bars(exchange_id, timeframe, symbol, start=start, end=end)
    except TradeloomError as exc:  # nothing stored for this dataset: the exchange has it
        log.info("warm-up for %s: not in the store (%s); reading the exchange", symbol, exc)
        return []
    return [Bar(symbol, int(r.ts), int(r.ts) + tf_ms, float(r.open), float(r.high), float(r.low),
                float(r.close), float(r.volume)) for r in frame.itertuples(index=False)]


async def _from_exchange(client: Any, symbol: str, timeframe: str, tf_ms: int, start: int,
                         end: int) -> list[Bar]:
    out: list[Bar] = []
    since = start
    while since < end:
        try:
            rows = await client.fetch_ohlcv(symbol, timeframe, since=since, limit=1000)
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc, context=f"{client.id} warm-up fetch_ohlcv {symbol}") from exc
        got = [bar_from_row(symbol, row, tf_ms) for row in rows]
        got = [b for b in got if since <= b.ts and b.close_ts <= end]
        if not got:
            break
        out.extend(got)
        since = got[-1].ts + tf_ms
    return out


__all__ = ["load_warmup", "prime", "warmup_need"]
