"""Download exchange history with ccxt into the market store: paged, durable, resumable,
idempotent; every kind the store holds (bars, mark/index bars, funding, open
interest, trades).

For each symbol, :func:`ingest` works out what is *missing* in ``[since, until)``:
before the first stored row, every hole inside (kinds with a grid), after the last
row, and every file that no longer reads (dropped, then fetched again). Ranges
already known to be empty (acknowledged gaps, or ranges the exchange answered
with nothing before) are skipped. It pages through each missing range and writes
what arrived **at least every** ``write_every_rows`` rows **or** ``write_every_s``
seconds, each write atomic, so a kill (SIGKILL, OOM, power cut) loses at most the
pages fetched since the last write, and the next run fetches exactly those again.
Re-running a complete range fetches nothing and never duplicates a row.

Rules, decided here once:

- the range is half-open: rows with ``since <= ts < until``;
- only closed bars are stored: a bar opening at ``ts`` is closed when
  ``ts + timeframe <= min(now_ms(), exchange time)``; the exchange's clock is read
  once per run (``fetch_time``) so a fast local clock cannot let a partial bar in;
- when the exchange answers a range with no rows (a page that starts later than
  asked, or skips periods), that range is recorded as a known gap of origin
  ``exchange``: ``data check`` accepts it and later runs do not ask again;
- requests are spaced by ccxt's own limiter (``enableRateLimit``) and retried on
  :class:`TransientExchangeError` with jittered exponential backoff (Retry-After
  honoured); every other error stops the run;
- every run saves the exchange's trading rules (:class:`MarketSpec` of every listed
  market, plus the raw ccxt entries of the ingested symbols) as a market snapshot;
- each run is recorded in the catalog (``ingest_runs``) as running when it starts,
  then ok, failed or interrupted; a run whose process was killed is recorded as
  died by the next run (:mod:`~tradeloom.adapters.store.ingest_runs`).
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from tradeloom.adapters.ccxt.exchange import (
    Credentials,
    ExchangeSettings,
    call_ccxt,
    did_you_mean,
    make_client,
    market_specs_from_ccxt,
    retry_transient,
)
from tradeloom.adapters.store.catalog import IngestRun, KnownGap
from tradeloom.adapters.store.ingest_fetch import Page, PageSource, empty_frame
from tradeloom.adapters.store.ingest_runs import finish_run, run_lock, start_run
from tradeloom.adapters.store.kinds import DataKind, check_kind, check_kind_timeframe, spec
from tradeloom.engine.errors import ConfigError, DataError, TradeloomError, UnknownSymbol
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import format_utc_ms

if TYPE_CHECKING:
    from tradeloom.adapters.store.market_store import MarketStore

BAR_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]
EXCHANGE_GAP_REASON = "the exchange returned no rows for this range"


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

    ``bars_fetched`` counts rows received in range; ``rows_added`` those already
    written to the store (pages are written in groups, see :func:`ingest`).
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
    exclusive), rows added, requests made, the newest stored row afterwards, the
    missing ranges it fetched and the damaged files it replaced."""

    symbol: str
    start_ts: int
    stop_ts: int
    rows_added: int
    pages: int
    last_ts: int | None
    ranges: tuple[tuple[int, int], ...] = ()
    repaired: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IngestSummary:
    """Result of a successful :func:`ingest` run (``died``: earlier runs found dead)."""

    run_id: str
    exchange: str
    timeframe: str
    symbols: tuple[SymbolSummary, ...]
    exchange_now_ms: int
    kind: str = "ohlcv"
    died: tuple[IngestRun, ...] = ()

    @property
    def rows_added(self) -> int:
        return sum(s.rows_added for s in self.symbols)

    @property
    def pages(self) -> int:
        return sum(s.pages for s in self.symbols)


@dataclass
class _RunState:
    rows_added: int = 0
    died: list[IngestRun] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one run pages: sizes, flush policy, clocks."""

    kind: DataKind
    timeframe: str
    tf_ms: int
    page_limit: int
    write_every_rows: int
    write_every_s: float
    monotonic: Callable[[], float]
    now_ms: Callable[[], int]
    run_id: str


def ingest(store: MarketStore, settings: ExchangeSettings, symbols: Sequence[str],
           timeframe: str, since_ms: int, until_ms: int | None = None, *,
           kind: str | DataKind = DataKind.OHLCV, progress: ProgressCallback | None = None,
           now_ms: Callable[[], int], run_id: str, page_limit: int = 1000,
           write_every_rows: int = 10_000, write_every_s: float = 5.0,
           monotonic: Callable[[], float] = time.monotonic,
           retry: RetryPolicy = RetryPolicy(),
           sleep: Callable[[float], None] = time.sleep,
           credentials: Credentials | None = None) -> IngestSummary:
    """Download ``kind`` rows of ``symbols`` in ``[since_ms, until_ms)`` into ``store``.

    The exchange's market snapshot is stored first; a perpetual's carries its contract
    (``adapters.ccxt.contracts``) and, with ``credentials`` (Binance's leverageBracket is
    a signed request), the venue's leverage brackets from ``fetch_leverage_tiers``, so a
    backtest margins and liquidates by the venue's table (without: default brackets,
    the contract's ``source`` saying so).

    ``timeframe`` is the bar (or open-interest period) length; funding and trades have
    none (pass ``""``). ``now_ms`` is the caller's clock (wall clock in the CLI,
    simulated in tests); ``run_id`` names the catalog record. Raises
    :class:`UnknownSymbol` (with a did-you-mean) before downloading anything if a
    symbol is not listed, and re-raises whatever stopped the run after recording it
    as failed/interrupted.
    """
    kind = check_kind(kind)
    timeframe = check_kind_timeframe(kind, timeframe)
    symbols = list(dict.fromkeys(symbols))
    if not symbols:
        raise ConfigError("ingest: no symbols given; pass e.g. --symbols BTC/USDT,ETH/USDT")
    tf_ms = timeframe_to_ms(timeframe) if timeframe else 0
    if until_ms is not None and until_ms <= since_ms:
        raise ConfigError(
            f"ingest: until {format_utc_ms(until_ms)} must be after since "
            f"{format_utc_ms(since_ms)}; widen the range"
        )
    if page_limit < 1 or write_every_rows < 1 or write_every_s <= 0:
        raise ConfigError(f"ingest: page_limit ({page_limit}), write_every_rows "
                          f"({write_every_rows}) and write_every_s ({write_every_s}) must be > 0")
    plan = _Plan(kind, timeframe, tf_ms, page_limit, write_every_rows, write_every_s,
                 monotonic, now_ms, run_id)
    started = now_ms()
    state = _RunState()

    def run_record(status: Literal["ok", "failed", "interrupted", "running"],
                   message: str) -> IngestRun:
        return IngestRun(
            run_id=run_id, exchange=settings.id, timeframe=timeframe, symbols=tuple(symbols),
            since_ts=since_ms, until_ts=until_ms, status=status, rows_added=state.rows_added,
            message=message, started_ts=started, finished_ts=now_ms(), kind=kind.value)

    def record(status: Literal["ok", "failed", "interrupted"], message: str) -> None:
        finish_run(store, run_record(status, message))

    with run_lock(store, run_id):
        state.died = start_run(store, run_record("running", "started"), started)
        try:
            summary = _run(store, settings, symbols, since_ms, until_ms, plan,
                           progress=progress, retry=retry, sleep=sleep, state=state,
                           credentials=credentials)
        except KeyboardInterrupt as exc:
            _record_failure(record, exc, "interrupted",
                            f"interrupted after adding {state.rows_added} rows; re-run the same "
                            "command to resume where it stopped")
            raise
        except TradeloomError as exc:
            _record_failure(record, exc, "failed", str(exc))
            raise
        except Exception as exc:
            _record_failure(record, exc, "failed", f"unexpected {type(exc).__name__}: {exc}")
            raise
        record("ok", f"{state.rows_added} rows added over {summary.pages} pages")
    return summary


def ingest_ohlcv(store: MarketStore, settings: ExchangeSettings, symbols: Sequence[str],
                 timeframe: str, since_ms: int, until_ms: int | None = None,
                 **kwargs: Any) -> IngestSummary:
    """:func:`ingest` of OHLCV bars (the keyword arguments are :func:`ingest`'s)."""
    return ingest(store, settings, symbols, timeframe, since_ms, until_ms,
                  kind=DataKind.OHLCV, **kwargs)


def _record_failure(record: Callable[[str, str], None], exc: BaseException, status: str,
                    message: str) -> None:
    """Record a stopped run; if even that fails, attach the reason to the original error."""
    try:
        record(status, message)
    except Exception as rec_exc:  # noqa: BLE001 - not swallowed: noted on the error raised
        exc.add_note(f"also failed to record ingest run as {status}: "
                     f"{type(rec_exc).__name__}: {rec_exc}")


def _run(store: MarketStore, settings: ExchangeSettings, symbols: list[str], since_ms: int,
         until_ms: int | None, plan: _Plan, *, progress: ProgressCallback | None,
         retry: RetryPolicy, sleep: Callable[[float], None], state: _RunState,
         credentials: Credentials | None = None) -> IngestSummary:
    client = make_client(settings, credentials=credentials)
    rng = random.Random(retry.seed)

    def call(method: str, *args: Any, context: str, **kwargs: Any) -> Any:
        return retry_transient(
            lambda: call_ccxt(client, method, *args, context=context, **kwargs),
            attempts=retry.attempts, base_delay_s=retry.base_delay_s,
            max_delay_s=retry.max_delay_s, rng=rng, sleep=sleep)

    try:
        markets = call("load_markets", context=f"{settings.id} load_markets")
        _check_request(client, settings, symbols, plan, markets)
        swaps = [s for s in symbols if markets[s].get("swap")]
        tiers = (call("fetch_leverage_tiers", swaps,
                      context=f"{settings.id} fetch_leverage_tiers {','.join(swaps)}")
                 if swaps and credentials is not None else {})
        store.save_markets(
            settings.id, market_specs_from_ccxt(markets, precision_mode=client.precisionMode,
                                                exchange_id=settings.id,
                                                fee_side=settings.fee_side, tiers=tiers),
            fetched_ts=plan.now_ms(),
            # raw ccxt entries of the ingested symbols only: all markets run to megabytes
            raw_json=json.dumps({s: markets[s] for s in symbols}, sort_keys=True, default=str))
        exchange_now = plan.now_ms()
        if client.has.get("fetchTime"):
            exchange_now = min(exchange_now, int(call("fetch_time",
                                                      context=f"{settings.id} fetch_time")))
        # bars (and open-interest periods) opening before this are closed; events
        # (funding, trades) up to the exchange's now are final
        closed_stop = exchange_now - plan.tf_ms + 1 if plan.tf_ms else exchange_now
        stop = closed_stop if until_ms is None else min(until_ms, closed_stop)
        summaries = tuple(
            _SymbolIngest(store, call, settings.id, symbol, plan, progress, state).run(
                since_ms, stop)
            for symbol in symbols)
    finally:
        session = getattr(client, "session", None)
        if session is not None:
            session.close()
    return IngestSummary(plan.run_id, settings.id, plan.timeframe, summaries, exchange_now,
                         plan.kind.value, tuple(state.died))


def _check_request(client: Any, settings: ExchangeSettings, symbols: list[str], plan: _Plan,
                   markets: dict[str, Any]) -> None:
    unknown = [s for s in symbols if s not in markets]
    if unknown:
        hints = "; ".join(f"{s!r}{did_you_mean(s, list(markets))}" for s in unknown)
        raise UnknownSymbol(
            f"{settings.id} ({settings.market_type}) does not list {hints}; use ccxt's unified "
            "form BASE/QUOTE (e.g. 'BTC/USDT'), and market_type 'swap' for perpetuals"
        )
    if plan.kind in (DataKind.MARK, DataKind.INDEX, DataKind.FUNDING, DataKind.OPEN_INTEREST):
        spot = [s for s in symbols if not markets[s].get("contract")]
        if spot:
            raise ConfigError(
                f"{plan.kind.value} data exists for derivatives only; {spot} are spot markets: "
                "use --market-type swap and perpetual symbols such as 'BTC/USDT:USDT'")
    supported = getattr(client, "timeframes", None) or {}
    if plan.timeframe and supported and plan.timeframe not in supported:
        raise ConfigError(
            f"{settings.id} has no {plan.timeframe!r} candles; use one of {', '.join(supported)}"
        )


class _SymbolIngest:
    """Fetch every missing range of one symbol, writing page groups as they fill."""

    def __init__(self, store: MarketStore, call: Callable[..., Any], exchange: str,
                 symbol: str, plan: _Plan, progress: ProgressCallback | None,
                 state: _RunState) -> None:
        self.store, self.exchange, self.symbol, self.plan = store, exchange, symbol, plan
        self.progress, self.state = progress, state
        self.source = PageSource(call, plan.kind, exchange, symbol, plan.timeframe, plan.tf_ms,
                                 plan.page_limit)
        self.grid = spec(plan.kind).has_timeframe
        self.buffer: list[pd.DataFrame] = []
        self.gaps: list[KnownGap] = []
        self.added = self.fetched = self.pages = 0
        self.last: int | None = None
        self.flushed_at = plan.monotonic()
        self.start = self.stop = self.cursor = 0

    def run(self, since_ms: int, stop: int) -> SymbolSummary:
        kind, tf = self.plan.kind, self.plan.timeframe
        ranges, damaged = self.store.missing(kind, self.exchange, tf, self.symbol, since_ms, stop)
        if damaged:
            self.store.drop_parts(kind, self.exchange, tf, self.symbol, damaged)
            ranges, _ = self.store.missing(kind, self.exchange, tf, self.symbol, since_ms, stop)
        self.last = self.store.last_ts(self.exchange, tf, self.symbol, kind=kind)
        self.start = ranges[0][0] if ranges else max(since_ms, stop)
        self.stop = stop
        self.cursor = self.start
        try:
            self.report(not ranges)
            for lo, hi in ranges:
                self.fetch_range(lo, hi)
        except BaseException:
            self.flush()  # keep the complete pages fetched before the error; then re-raise
            raise
        self.flush()
        self.cursor = stop
        self.report(True)
        return SymbolSummary(self.symbol, self.start, stop, self.added, self.pages, self.last,
                             tuple(ranges), tuple(p.path for p in damaged))

    def fetch_range(self, lo: int, hi: int) -> None:
        cursor = lo
        self.cursor = cursor
        while cursor < hi:
            page = self.source.fetch(cursor)
            self.pages += 1
            nxt = self.take_page(page, cursor, hi)
            if nxt is None or nxt >= hi:
                cursor = hi
            else:
                cursor = nxt
            self.cursor = min(hi, cursor)
            if cursor >= hi:
                self.flush()  # so the range's final progress report counts every row written
            elif (sum(len(f) for f in self.buffer) >= self.plan.write_every_rows
                  or self.plan.monotonic() - self.flushed_at >= self.plan.write_every_s):
                self.flush()
            self.report(cursor >= hi >= self.stop)

    def take_page(self, page: Page, cursor: int, hi: int) -> int | None:
        """Buffer the page's rows in range; record empty ranges; return the next cursor
        (None: the exchange has nothing more)."""
        frame = page.frame
        end = hi if page.covers_to is None else min(hi, page.covers_to)
        ts = frame["ts"].to_numpy()
        after = ts[ts >= cursor]
        kept = frame[(frame["ts"] >= cursor) & (frame["ts"] < end)]
        if self.grid:
            self.confirm_empty(cursor, after, end, page)
        if not kept.empty:
            self.buffer.append(kept)
            self.fetched += len(kept)
        if len(after) == 0:
            return None if page.covers_to is None else page.covers_to
        return self.next_cursor(page, cursor, int(after[-1]))

    def next_cursor(self, page: Page, cursor: int, last: int) -> int:
        kind = self.plan.kind
        if kind is DataKind.TRADES:
            if not page.full:
                return page.covers_to
            if last <= cursor:
                raise DataError(
                    f"{self.source.context}: more than {self.source.limit} trades at "
                    f"{format_utc_ms(cursor)} alone, so paging cannot advance; raise the page "
                    "limit")
            return last  # trades at the same ms may continue on the next page (deduped by id)
        if kind is DataKind.FUNDING:
            return last + 1
        nxt = last + self.plan.tf_ms
        if page.covers_to is not None and not page.full:
            nxt = max(nxt, page.covers_to)
        if nxt <= cursor:
            raise DataError(
                f"{self.source.context}: the exchange answered since={cursor} with rows up to "
                f"{last} only, so paging cannot advance; it may ignore 'since' for this "
                "timeframe - try another timeframe or exchange")
        return nxt

    def confirm_empty(self, cursor: int, after, end: int, page: Page) -> None:
        """Record the grid periods in [cursor, end) the exchange showed to be empty."""
        tf = self.plan.tf_ms
        points = [int(t) for t in after]
        empty: list[tuple[int, int]] = []
        if not points:
            if not page.full:
                empty.append((cursor, end))
        else:
            if points[0] > cursor:
                empty.append((cursor, min(points[0], end)))
            for a, b in itertools.pairwise(points):
                if b - a > tf and a + tf < end:
                    empty.append((a + tf, min(b, end)))
        now = self.plan.now_ms()
        for lo, hi in empty:
            if hi > lo:
                self.gaps.append(KnownGap(
                    self.plan.kind.value, self.exchange, self.plan.timeframe, self.symbol, lo,
                    hi, EXCHANGE_GAP_REASON, f"ingest run {self.plan.run_id}", now, "exchange"))

    def flush(self) -> None:
        frames, self.buffer = self.buffer, []
        gaps, self.gaps = self.gaps, []
        self.flushed_at = self.plan.monotonic()
        if not frames and not gaps:
            return
        frame = pd.concat(frames, ignore_index=True) if frames else empty_frame(self.plan.kind)
        result = self.store.write(self.plan.kind, self.exchange, self.plan.timeframe,
                                  self.symbol, frame, source=f"ccxt:{self.exchange}",
                                  run_id=self.plan.run_id, gaps=gaps)
        self.added += result.rows_added
        self.state.rows_added += result.rows_added
        if result.last_ts is not None:
            self.last = result.last_ts

    def report(self, done: bool) -> None:
        if self.progress is not None:
            self.progress(IngestProgress(self.symbol, self.start, self.stop, self.cursor,
                                         self.fetched, self.added, self.pages, done))


__all__ = ["IngestProgress", "IngestSummary", "RetryPolicy", "SymbolSummary", "ingest",
           "ingest_ohlcv"]
