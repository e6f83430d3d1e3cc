"""Download OHLCV history with ccxt into the market store: paged, resumable, idempotent.

For each symbol, :func:`ingest_ohlcv` pages ``fetch_ohlcv`` forward from
``max(since, last stored bar + timeframe)`` and writes every page to the store as
soon as it arrives, so an interrupted run keeps what it fetched and the next run
continues after it; re-running a finished range fetches nothing and never
duplicates a bar. Extending *before* the first stored bar is not attempted: ingest
only appends; gaps are reported by the store's validation.

Rules, decided here once:

- the range is half-open: bars with ``since <= ts < until``;
- only closed bars are stored: a bar opening at ``ts`` is closed when
  ``ts + timeframe <= min(now_ms(), exchange time)``; the exchange's clock is read
  once per run (``fetch_time``) so a fast local clock cannot let a partial bar in;
- requests are spaced by ccxt's own limiter (``enableRateLimit``) and retried on
  :class:`TransientExchangeError` with jittered exponential backoff (Retry-After
  honoured); every other error stops the run;
- every run saves the exchange's trading rules (:class:`MarketSpec` of every listed
  market, plus the raw ccxt entries of the ingested symbols) as a market snapshot;
- each run is recorded in the catalog (``ingest_runs``) as ok, failed or
  interrupted, with the rows it added and the error message.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from tradeloom.adapters.store.catalog import IngestRun
from tradeloom.adapters.ccxt.exchange import (
    ExchangeSettings,
    call_ccxt,
    did_you_mean,
    make_client,
    market_specs_from_ccxt,
    retry_transient,
)
from tradeloom.engine.errors import ConfigError, DataError, TradeloomError, UnknownSymbol
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import format_utc_ms

if TYPE_CHECKING:
    from tradeloom.adapters.store.market_store import MarketStore

BAR_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient exchange errors are retried; ``seed`` makes the jitter reproducible."""

    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    seed: int = 0


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """Where one symbol's download stands; passed to the ``progress`` callback per page.

    ``bars_fetched`` counts closed bars received in range; ``rows_added`` those already
    written to the store (pages are written in batches of ``write_every_rows``).
    """

    symbol: str
    start_ts: int
    stop_ts: int
    cursor_ts: int
    bars_fetched: int
    rows_added: int
    pages: int
    done: bool

    @property
    def fraction(self) -> float:
        """Share of ``[start_ts, stop_ts)`` covered so far, in [0, 1]."""
        span = self.stop_ts - self.start_ts
        if span <= 0 or self.done:
            return 1.0
        return min(1.0, max(0.0, (self.cursor_ts - self.start_ts) / span))


ProgressCallback = Callable[[IngestProgress], None]


@dataclass(frozen=True, slots=True)
class SymbolSummary:
    """What one symbol's download did: the range asked of the exchange (``stop_ts``
    exclusive), rows added, requests made and the newest stored bar afterwards."""

    symbol: str
    start_ts: int
    stop_ts: int
    rows_added: int
    pages: int
    last_ts: int | None


@dataclass(frozen=True, slots=True)
class IngestSummary:
    """Result of a successful :func:`ingest_ohlcv` run."""

    run_id: str
    exchange: str
    timeframe: str
    symbols: tuple[SymbolSummary, ...]
    exchange_now_ms: int

    @property
    def rows_added(self) -> int:
        return sum(s.rows_added for s in self.symbols)

    @property
    def pages(self) -> int:
        return sum(s.pages for s in self.symbols)


@dataclass
class _RunState:
    rows_added: int = 0


def ingest_ohlcv(store: MarketStore, settings: ExchangeSettings, symbols: Sequence[str],
                 timeframe: str, since_ms: int, until_ms: int | None = None, *,
                 progress: ProgressCallback | None = None, now_ms: Callable[[], int],
                 run_id: str, page_limit: int = 1000, write_every_rows: int = 50_000,
                 retry: RetryPolicy = RetryPolicy(),
                 sleep: Callable[[float], None] = time.sleep) -> IngestSummary:
    """Download closed ``timeframe`` bars of ``symbols`` in ``[since_ms, until_ms)`` into ``store``.

    ``now_ms`` is the caller's clock (wall clock in the CLI, simulated in tests);
    ``run_id`` names the catalog record. Pages are buffered and written every
    ``write_every_rows`` bars (the store rewrites a year file per write), and the
    buffer is written before any error propagates, so only whole pages are kept.
    Raises :class:`UnknownSymbol` (with a did-you-mean) before downloading anything
    if a symbol is not listed, and re-raises whatever stopped the run after recording
    it as failed/interrupted.
    """
    symbols = list(dict.fromkeys(symbols))
    if not symbols:
        raise ConfigError("ingest: no symbols given; pass e.g. --symbols BTC/USDT,ETH/USDT")
    tf_ms = timeframe_to_ms(timeframe)
    if until_ms is not None and until_ms <= since_ms:
        raise ConfigError(
            f"ingest: until {format_utc_ms(until_ms)} must be after since "
            f"{format_utc_ms(since_ms)}; widen the range"
        )
    if page_limit < 1 or write_every_rows < 1:
        raise ConfigError(f"ingest: page_limit ({page_limit}) and write_every_rows "
                          f"({write_every_rows}) must be >= 1")
    started = now_ms()
    state = _RunState()

    def record(status: Literal["ok", "failed", "interrupted"], message: str) -> None:
        store.record_ingest_run(IngestRun(
            run_id=run_id, exchange=settings.id, timeframe=timeframe, symbols=tuple(symbols),
            since_ts=since_ms, until_ts=until_ms, status=status, rows_added=state.rows_added,
            message=message, started_ts=started, finished_ts=now_ms(),
        ))

    try:
        summary = _run(store, settings, symbols, timeframe, tf_ms, since_ms, until_ms,
                       progress=progress, now_ms=now_ms, run_id=run_id, page_limit=page_limit,
                       write_every_rows=write_every_rows, retry=retry, sleep=sleep,
                       state=state)
    except KeyboardInterrupt as exc:
        _record_failure(record, exc, "interrupted",
                        f"interrupted after adding {state.rows_added} rows; re-run the same "
                        "command to resume from the last stored bar")
        raise
    except TradeloomError as exc:
        _record_failure(record, exc, "failed", str(exc))
        raise
    except Exception as exc:
        _record_failure(record, exc, "failed", f"unexpected {type(exc).__name__}: {exc}")
        raise
    record("ok", f"{state.rows_added} rows added over {summary.pages} pages")
    return summary


def _record_failure(record: Callable[[str, str], None], exc: BaseException, status: str,
                    message: str) -> None:
    """Record a stopped run; if even that fails, attach the reason to the original error."""
    try:
        record(status, message)
    except Exception as rec_exc:  # noqa: BLE001 - not swallowed: noted on the error raised
        exc.add_note(f"also failed to record ingest run as {status}: "
                     f"{type(rec_exc).__name__}: {rec_exc}")


def _run(store: MarketStore, settings: ExchangeSettings, symbols: list[str], timeframe: str,
         tf_ms: int, since_ms: int, until_ms: int | None, *, progress: ProgressCallback | None,
         now_ms: Callable[[], int], run_id: str, page_limit: int, write_every_rows: int,
         retry: RetryPolicy, sleep: Callable[[float], None], state: _RunState
         ) -> IngestSummary:
    client = make_client(settings)
    rng = random.Random(retry.seed)

    def call(method: str, *args: Any, context: str, **kwargs: Any) -> Any:
        return retry_transient(
            lambda: call_ccxt(client, method, *args, context=context, **kwargs),
            attempts=retry.attempts, base_delay_s=retry.base_delay_s,
            max_delay_s=retry.max_delay_s, rng=rng, sleep=sleep)

    try:
        markets = call("load_markets", context=f"{settings.id} load_markets")
        _check_request(client, settings, symbols, timeframe, markets)
        store.save_markets(
            settings.id, market_specs_from_ccxt(markets, precision_mode=client.precisionMode,
                                                exchange_id=settings.id,
                                                fee_side=settings.fee_side),
            fetched_ts=now_ms(),
            # raw ccxt entries of the ingested symbols only: all markets run to megabytes
            raw_json=json.dumps({s: markets[s] for s in symbols}, sort_keys=True, default=str))
        exchange_now = now_ms()
        if client.has.get("fetchTime"):
            exchange_now = min(exchange_now, int(call("fetch_time",
                                                      context=f"{settings.id} fetch_time")))
        closed_stop = exchange_now - tf_ms + 1  # bars opening before this are closed
        stop = closed_stop if until_ms is None else min(until_ms, closed_stop)
        summaries = tuple(
            _ingest_symbol(store, call, settings.id, symbol, timeframe, tf_ms, since_ms, stop,
                           page_limit=page_limit, write_every_rows=write_every_rows,
                           run_id=run_id, progress=progress, state=state)
            for symbol in symbols)
    finally:
        session = getattr(client, "session", None)
        if session is not None:
            session.close()
    return IngestSummary(run_id, settings.id, timeframe, summaries, exchange_now)


def _check_request(client: Any, settings: ExchangeSettings, symbols: list[str], timeframe: str,
                   markets: dict[str, Any]) -> None:
    unknown = [s for s in symbols if s not in markets]
    if unknown:
        hints = "; ".join(f"{s!r}{did_you_mean(s, list(markets))}" for s in unknown)
        raise UnknownSymbol(
            f"{settings.id} ({settings.market_type}) does not list {hints}; use ccxt's unified "
            "form BASE/QUOTE (e.g. 'BTC/USDT'), and market_type 'swap' for perpetuals"
        )
    supported = getattr(client, "timeframes", None) or {}
    if supported and timeframe not in supported:
        raise ConfigError(
            f"{settings.id} has no {timeframe!r} candles; use one of {', '.join(supported)}"
        )


def _ingest_symbol(store: MarketStore, call: Callable[..., Any], exchange: str, symbol: str,
                   timeframe: str, tf_ms: int, since_ms: int, stop: int, *, page_limit: int,
                   write_every_rows: int, run_id: str, progress: ProgressCallback | None,
                   state: _RunState) -> SymbolSummary:
    last = store.last_ts(exchange, timeframe, symbol)
    start = since_ms if last is None else max(since_ms, last + tf_ms)
    cursor, pages, fetched, added = start, 0, 0, 0
    buffer: list[pd.DataFrame] = []

    def flush() -> None:
        nonlocal added, buffer, last
        frames, buffer = buffer, []
        if frames:
            result = store.write_bars(exchange, timeframe, symbol,
                                      pd.concat(frames, ignore_index=True),
                                      source=f"ccxt:{exchange}", run_id=run_id)
            added += result.rows_added
            state.rows_added += result.rows_added
            last = result.last_ts

    def report(done: bool) -> None:
        if progress is not None:
            progress(IngestProgress(symbol, start, stop, cursor, fetched, added, pages, done))

    context = f"{exchange} fetch_ohlcv {symbol} {timeframe}"
    try:
        report(cursor >= stop)
        while cursor < stop:
            rows = call("fetch_ohlcv", symbol, timeframe, cursor, page_limit,
                        context=f"{context} since {format_utc_ms(cursor)}")
            pages += 1
            frame = _page_frame(rows, context)
            if frame.empty:
                break  # nothing at or after cursor: the exchange has no more history
            kept = frame[(frame["ts"] >= cursor) & (frame["ts"] < stop)]
            if not kept.empty:
                buffer.append(kept)
                fetched += len(kept)
                if sum(len(f) for f in buffer) >= write_every_rows:
                    flush()
            next_cursor = int(frame["ts"].iloc[-1]) + tf_ms
            if next_cursor <= cursor:
                raise DataError(
                    f"{context}: the exchange answered since={cursor} with bars up to "
                    f"{int(frame['ts'].iloc[-1])} only, so paging cannot advance; it may "
                    "ignore 'since' for this timeframe - try another timeframe or exchange"
                )
            cursor = next_cursor
            if cursor >= stop:
                flush()  # so the final progress report counts every row as written
            report(cursor >= stop)
    except BaseException:
        flush()  # keep the complete pages fetched before the error; then re-raise it
        raise
    flush()
    report(True)
    return SymbolSummary(symbol, start, stop, added, pages, last)


def _page_frame(rows: list[list[Any]], context: str) -> pd.DataFrame:
    """ccxt OHLCV rows -> bar frame, sorted by ts with duplicate timestamps rejected."""
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "ts" else "float64")
                             for c in BAR_COLUMNS})
    frame = pd.DataFrame([r[:6] for r in rows], columns=BAR_COLUMNS)
    frame = frame.astype({"ts": "int64", **{c: "float64" for c in BAR_COLUMNS[1:]}})
    frame = frame.sort_values("ts", kind="stable").reset_index(drop=True)
    if frame["ts"].duplicated().any():
        dup = int(frame.loc[frame["ts"].duplicated(), "ts"].iloc[0])
        raise DataError(f"{context}: the exchange sent two bars opening at {dup}; "
                        "re-run the ingest, and report it if it repeats")
    return frame
