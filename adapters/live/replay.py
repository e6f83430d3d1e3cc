"""Replay a session journal through the backtest engine and diff the decisions.

Why: backtest/live divergence is the field's most-discussed failure. A journal
holds every market event a session saw and every command it sent; replaying the
market events through the backtest wiring (``adapters.live.paper.sim_engine``: the
one ``wire_engine`` with a ``SimulatedBroker`` and a ``Portfolio``) with the same strategy and
risk config must produce the same commands.

Where the fills come from (``fills``):

- ``"model"`` (the default for paper sessions): the simulated broker's fill model makes
  its own fills, as it did in the paper session - zero divergence expected.
- ``"journal"`` (the default for live sessions): the exchange's fills and order
  updates, as journaled, are inputs (``replay_broker.JournalBroker``): a cancel takes
  effect when the exchange confirmed it, a fill when the exchange made it. Zero
  divergence means the strategy and risk engine took the same decisions on the same
  events - what a restart, a code change or a nondeterministic strategy would break.
  ``fills="model"`` on a live journal instead shows the first place the exchange
  filled differently from the fill model (``tradeloom replay --fills model``).

A live session's opening holdings are replayed too: the cash (``initial_cash``, the
quote balance) and the base ``positions`` of its ``session`` record, booked at their
``position_entries`` prices as ``open_live`` booked them, the ones it found to be
``dust`` marked so, and its ``fee_holdings`` (a fee asset held outside the symbols).
Perpetuals: the session's ``[perps]`` settings (``perps``) before the strategy's
``on_start``, and its opening positions (signed, at their venue entry prices). The
simulated broker charges each market's ``fee_side`` (in the session's ``markets``) and
the session's ``fee_asset``, as the venue did.

A journal may hold several sessions (segments, each starting with its ``session``
record: a configured ``journal`` file that a restart appended to, also after a crash).
Each is replayed from its own start, as the restarted runner ran: a fresh strategy
and risk engine, its opening cash and positions, the working orders it took over from
the exchange (``restored_orders``, under the same engine ids) and its
``next_order_id``. A segment cut short by a crash (no ``end``)
may have died while deciding on its last event: the commands it never journaled for
that event are dropped from the comparison, with a note.

What is replayed, in journal order: ``warmup_bar`` (primed after ``start``, as the
runner does), ``start`` (``engine.start``), ``bar`` and ``trade`` (``engine.step`` of a
``Bar`` / ``TradeTick``: the simulated broker matches resting orders at the tick, the
strategy's ``on_trade`` runs), ``funding`` (a perpetual's ``FundingEvent`` at its
``engine_ts``: the rate and mark the paper session charged, the amount the venue booked
live), ``liquidation`` (a venue's liquidation, ``Engine.book_liquidation``), ``kill`` (the runner's ``kill_engine``),
``pause``/``resume`` (the exchange marked degraded in the risk engine), ``markets``
(new market rules, ``Engine.update_markets``), ``degrade``/``restore`` (symbols refused
and allowed again after a reconciliation), ``universe``
(its ``block``/``allow`` lists applied by ``universe_gate.apply_universe``: the
journaled refresh, not a recomputation, so no store is needed), ``end``
(``engine.finish``); with ``fills="journal"`` also ``fill`` (a ``FillEvent`` at its
``engine_ts``) and ``order`` (the status the engine drained, at the point of the step
the journal shows it).

Compared, in order: every ``submit`` (time, symbol, side, type, amount, quote
amount, price, stop price, reduce-only; client id too for paper sessions) and every
``cancel`` (time, order's client id). Amounts and prices match within a relative
1e-9. Perpetuals: every funding payment the session booked (``funding_booked``: time,
symbol, amount) against the replay's (``diff_cash_flows``), after the commands.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tradeloom.adapters.ccxt.funding import funding_from_payload
from tradeloom.adapters.live.controls import (
    degrade_symbols,
    kill_engine,
    restore_symbols,
    set_paused,
)
from tradeloom.adapters.live.journal import JournalRecord, read_journal
from tradeloom.adapters.live.journal_codec import (
    bar_from_payload,
    fill_from_payload,
    restored_order,
    tick_from_payload,
)
from tradeloom.adapters.live.paper import sim_engine
from tradeloom.adapters.live.perp_settings import apply_perp_settings
from tradeloom.adapters.live.recorder import CommandRecorder
from tradeloom.adapters.live.recovery import book_opening_position, open_perp_position
from tradeloom.adapters.live.replay_broker import JournalBroker, schedule
from tradeloom.adapters.live.universe import apply_universe
from tradeloom.adapters.live.warmup import prime
from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.costs.fees import FeeAsset
from tradeloom.engine.errors import DataError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import OrderStatus
from tradeloom.engine.ports import Broker
from tradeloom.engine.risk.config import RiskConfig
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.run.events import FillEvent
from tradeloom.engine.run.loop import Engine
from tradeloom.engine.strategy.base import Strategy

#: Where the replay's fills come from (see ``replay``).
FillSource = Literal["journal", "model"]
#: Journal records the live engine stepped (order updates are scheduled within them).
_ANCHORS = frozenset({"start", "bar", "trade", "kill", "fill", "funding", "liquidation"})

SUBMIT_FIELDS = ("ts", "symbol", "side", "type", "amount", "quote_amount", "price", "stop_price",
                 "reduce_only")
CANCEL_FIELDS = ("ts", "order_id")
_FLOAT_FIELDS = {"amount", "quote_amount", "price", "stop_price"}


@dataclass(frozen=True, slots=True)
class Divergence:
    """The ``index``-th command differs (or exists on one side only)."""

    index: int
    field: str
    journal: Any
    replay: Any
    journal_command: dict[str, Any] | None
    replay_command: dict[str, Any] | None

    def describe(self) -> str:
        j, r = self.journal_command, self.replay_command
        return (f"command #{self.index + 1}: {self.field} differs - journal {self.journal!r}, "
                f"replay {self.replay!r}\n    journal: {_short(j)}\n    replay:  {_short(r)}")


def _short(cmd: dict[str, Any] | None) -> str:
    if cmd is None:
        return "(none)"
    kind = cmd.get("kind")
    keys = ("kind",) + (SUBMIT_FIELDS if kind == "submit" else
                        ("ts", "symbol", "amount") if kind == "funding" else CANCEL_FIELDS)
    return " ".join(f"{k}={cmd.get(k)!r}" for k in keys if cmd.get(k) is not None)


@dataclass
class ParityReport:
    """The diff of a journal's commands against the replay's."""

    journal_path: Path
    mode: str
    bars: int
    journal_commands: list[dict[str, Any]]
    replay_commands: list[dict[str, Any]]
    divergences: list[Divergence] = field(default_factory=list)
    total_divergences: int = 0
    #: Sessions in the journal (a restart appends one to a configured journal file).
    segments: int = 1
    #: What the reader must know (a segment cut short by a crash).
    notes: list[str] = field(default_factory=list)
    #: Where the replay's fills came from: ``journal`` (the exchange's) or ``model``.
    fills: str = "model"
    #: Perpetuals: the funding payments and liquidations the replay booked.
    funding: list[dict[str, Any]] = field(default_factory=list)
    liquidations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.total_divergences == 0

    def format(self) -> str:
        sessions = f"{self.segments} sessions, " if self.segments > 1 else ""
        source = "the exchange's fills" if self.fills == "journal" else "the fill model"
        head = (f"parity report for {self.journal_path} ({self.mode} session, {sessions}"
                f"{self.bars} bars, {source}): {len(self.journal_commands)} journaled "
                f"commands, {len(self.replay_commands)} replayed")
        head = "\n".join([head, *(f"note: {n}" for n in self.notes)])
        if self.ok:
            return head + "\nzero divergence: the backtest engine took the same decisions"
        lines = [head, f"{self.total_divergences} divergence(s); first {len(self.divergences)}:"]
        lines += ["  " + d.describe() for d in self.divergences]
        return "\n".join(lines)


def _same(a: Any, b: Any, name: str) -> bool:
    if name in _FLOAT_FIELDS and isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _commands(records: Sequence[JournalRecord]) -> list[dict[str, Any]]:
    return [{"kind": r.kind, **r.payload} for r in records if r.kind in ("submit", "cancel")]


def diff_commands(journal: list[dict[str, Any]], replay: list[dict[str, Any]], *,
                  compare_client_ids: bool, limit: int = 10) -> tuple[list[Divergence], int]:
    """The first ``limit`` divergences and their total count."""
    found: list[Divergence] = []
    total = 0
    for i in range(max(len(journal), len(replay))):
        j = journal[i] if i < len(journal) else None
        r = replay[i] if i < len(replay) else None
        diffs: list[tuple[str, Any, Any]] = []
        if j is None or r is None:
            diffs.append(("presence", "missing" if j is None else j.get("kind"),
                          "missing" if r is None else r.get("kind")))
        elif j["kind"] != r["kind"]:
            diffs.append(("kind", j["kind"], r["kind"]))
        else:
            names = SUBMIT_FIELDS if j["kind"] == "submit" else CANCEL_FIELDS
            if compare_client_ids:
                names = (*names, "client_id")
            diffs += [(n, j.get(n), r.get(n)) for n in names if not _same(j.get(n), r.get(n), n)]
        if diffs:
            total += 1
            if len(found) < limit:
                name, a, b = diffs[0]
                found.append(Divergence(i, name, a, b, j, r))
    return found, total


def segments(records: Sequence[JournalRecord]) -> list[list[JournalRecord]]:
    """The sessions of a journal, each from its ``session`` record to the next one's.

    A journal written by one session has one; a config naming one ``journal`` file
    gets a segment per session (a restart, also after a crash, appends one).
    """
    out: list[list[JournalRecord]] = []
    for rec in records:
        if rec.kind == "session":
            out.append([rec])
        elif out:
            out[-1].append(rec)
    return out


def replay(journal_path: str | Path, strategy: Strategy, risk_config: RiskConfig | None, *,
           markets: dict[str, MarketSpec] | None = None, initial_cash: float | None = None,
           limit: int = 10, fills: FillSource | None = None) -> ParityReport:
    """Run ``strategy`` with ``risk_config`` over the journal's market events; diff commands.

    ``markets`` and ``initial_cash`` default to the journal's ``session`` record, so
    the replay trades under the exchange rules and balance the session had. Each
    segment (session) of the journal is replayed from its own start with a fresh
    strategy and risk engine, as the restarted runner was (``initial_cash`` replaces
    the first segment's only). ``fills``: ``"journal"`` (default for live sessions)
    takes the exchange's fills and order updates from the journal
    (``replay_broker.JournalBroker``), ``"model"`` (default for paper) lets the
    simulated broker's fill model make its own.
    """
    path = Path(journal_path)
    records = read_journal(path)
    parts = segments(records)
    if not parts:
        raise DataError(f"journal {path} has no session record; it was not written by "
                        "tradeloom paper/live (or its first lines are missing)")
    replayed: list[dict[str, Any]] = []
    notes: list[str] = []
    funding: list[dict[str, Any]] = []
    liquidations: list[dict[str, Any]] = []
    bars = 0
    first = parts[0][0].payload
    source: FillSource = fills or ("journal" if first.get("mode") == "live" else "model")
    if source not in ("journal", "model"):
        raise DataError(f"replay fills={source!r}: use 'journal' (the exchange's fills) or "
                        "'model' (the simulated broker's)")
    for n, part in enumerate(parts):
        fresh = strategy if n == 0 else type(strategy)(**strategy.params_dict())
        out, seg_bars, note = _replay_segment(
            path, part, fresh, risk_config, markets=markets,
            initial_cash=initial_cash if n == 0 else None, fills=source,
            funding=funding, liquidations=liquidations)
        replayed += out
        bars += seg_bars
        if note:
            notes.append(f"segment {n + 1}: {note}")
    journal_cmds = _commands(records)
    found, total = diff_commands(journal_cmds, replayed,
                                 compare_client_ids=first.get("mode") == "paper", limit=limit)
    booked = [{"kind": "funding", "ts": int(r.payload["ts"]), "symbol": r.payload["symbol"],
               "amount": float(r.payload["amount"])} for r in records
              if r.kind == "funding_booked"]
    cash, cash_total = diff_cash_flows(booked, funding, offset=len(journal_cmds),
                                       limit=max(0, limit - len(found)))
    return ParityReport(path, str(first.get("mode")), bars, journal_cmds, replayed,
                        found + cash, total + cash_total, segments=len(parts), notes=notes,
                        fills=source, funding=funding, liquidations=liquidations)


def diff_cash_flows(journal: list[dict[str, Any]], replay: list[dict[str, Any]], *,
                    offset: int = 0, limit: int = 10) -> tuple[list[Divergence], int]:
    """Perpetual funding: the payments the session booked (``funding_booked``) against the
    replay's, in order (time, symbol, amount within a relative 1e-9).

    >>> a = [{"kind": "funding", "ts": 8, "symbol": "BTC/USDT:USDT", "amount": 0.98}]
    >>> diff_cash_flows(a, a)
    ([], 0)
    >>> found, total = diff_cash_flows(a, [])
    >>> total, found[0].field
    (1, 'presence')
    """
    found: list[Divergence] = []
    total = 0
    for i in range(max(len(journal), len(replay))):
        j = journal[i] if i < len(journal) else None
        r = replay[i] if i < len(replay) else None
        if j is None or r is None:
            diff = ("presence", "missing" if j is None else "funding",
                    "missing" if r is None else "funding")
        elif (j["ts"], j["symbol"]) != (r["ts"], r["symbol"]):
            diff = ("ts", (j["ts"], j["symbol"]), (r["ts"], r["symbol"]))
        elif not math.isclose(j["amount"], r["amount"], rel_tol=1e-9, abs_tol=1e-12):
            diff = ("amount", j["amount"], r["amount"])
        else:
            continue
        total += 1
        if len(found) < limit:
            found.append(Divergence(offset + i, *diff, j, r))
    return found, total


def _replay_segment(path: Path, records: Sequence[JournalRecord], strategy: Strategy,
                    risk_config: RiskConfig | None, *, markets: dict[str, MarketSpec] | None,
                    initial_cash: float | None, fills: FillSource,
                    funding: list[dict[str, Any]], liquidations: list[dict[str, Any]]
                    ) -> tuple[list[dict[str, Any]], int, str]:
    """One session's replayed commands, its live bar count and a note (a torn end)."""
    session = records[0].payload
    if markets is None:
        markets = {s: MarketSpec(**spec) for s, spec in session["markets"].items()}
    cash = float(session["initial_cash"] if initial_cash is None else initial_cash)
    risk = RiskEngine(risk_config, exchange=session["exchange"]) if risk_config else None
    replayed: list[dict[str, Any]] = []

    def emit(kind: str, payload: dict[str, Any], engine_ts: int) -> None:
        if kind in ("submit", "cancel"):
            replayed.append({"kind": kind, **payload})

    next_id = session.get("next_order_id")
    journal_broker: list[JournalBroker] = []

    def from_journal(m: Mapping[str, MarketSpec], pf: Portfolio,
                     ids: Callable[[], int]) -> Broker:
        journal_broker.append(JournalBroker(m, pf, ids))
        return journal_broker[0]

    engine = sim_engine(strategy, symbols=session["symbols"], timeframe=session["timeframe"],
                        markets=markets, initial_cash=cash, risk=risk, emit=emit,
                        run_id=session["run_id"], seed=int(session.get("seed", 0)),
                        first_order_id=None if next_id is None else int(next_id),
                        broker=from_journal if fills == "journal" else None,
                        fee_asset=_fee_asset(session, markets))
    jb = journal_broker[0] if journal_broker else None
    sched = schedule(records, _ANCHORS) if jb is not None else {}
    _open_positions(engine, session, records)  # as live: the venue's positions, then [perps]
    apply_perp_settings(engine.portfolio, session.get("perps") or {}, markets)
    if risk is not None:
        risk.bind(exchange=session["exchange"])
    exchange = str(session["exchange"])
    warm: list[Any] = []
    started = ended = False
    paused_at_start = False
    universe_at_start: list[dict[str, Any]] = []
    bars = 0
    last_event_at = 0  # replayed commands before the last inbound event was stepped
    journal_after_last = 0  # journaled commands after the last inbound event
    for rec in records:
        kind, p = rec.kind, rec.payload
        if kind in ("submit", "cancel"):
            journal_after_last += 1
        if jb is not None and kind in _ANCHORS and (started or kind == "start"):
            jb.begin(sched.get(rec.seq, ()))
        if kind == "warmup_bar":
            warm.append(bar_from_payload(p, f"journal {path} record {rec.seq}"))
        elif kind == "pause" and not started:
            paused_at_start = True
        elif kind == "universe" and not started:
            universe_at_start.append(p)
        elif kind == "start":
            engine.start(int(p["ts"]))
            prime(engine, warm)
            _restore_orders(engine, session, int(p["ts"]), jb)
            started = True
            if paused_at_start:
                set_paused(risk, exchange, True, int(p["ts"]))
            for u in universe_at_start:
                apply_universe(risk, u["block"], u["allow"], int(u["ts"]))
        elif not started:
            continue
        elif kind in ("bar", "trade", "kill", "funding", "liquidation") or \
                (kind == "fill" and jb is not None):
            last_event_at, journal_after_last = len(replayed), 0
            if kind == "funding":
                engine.step(funding_from_payload(p))
            elif kind == "liquidation":
                engine.book_liquidation(str(p["symbol"]), int(p["engine_ts"]),
                                        float(p["price"]), float(p["fee"]), str(p["source"]))
            elif kind == "bar":
                engine.step(bar_from_payload(p, f"journal {path} record {rec.seq}"))
                bars += 1
            elif kind == "trade":
                engine.step(tick_from_payload(p))
            elif kind == "fill":
                fill = fill_from_payload(p)
                if jb.book_fill(fill):  # not for an order the replay never made
                    engine.step(FillEvent(fill))
            else:
                kill_engine(engine, risk, int(p["ts"]), str(p.get("reason", "kill")))
        elif kind == "universe":
            apply_universe(risk, p["block"], p["allow"], int(p["ts"]))
        elif kind in ("pause", "resume"):
            set_paused(risk, exchange, kind == "pause", int(p["ts"]))
        elif kind == "degrade":
            degrade_symbols(risk, p["symbols"], int(p["ts"]))
        elif kind == "markets":
            engine.update_markets({s: MarketSpec(**m) for s, m in p["markets"].items()})
        elif kind == "restore":
            restore_symbols(risk, p["symbols"], int(p["ts"]))
        elif kind == "end":
            engine.finish()
            ended = True
    note = ""
    if started and not ended:
        engine.finish()  # a crashed session: what it would have done at a clean end
        cut = last_event_at + journal_after_last
        if len(replayed) > cut:
            note = (f"the session ended without an end record (a crash) while deciding on "
                    f"its last event; {len(replayed) - cut} command(s) it never journaled "
                    "are not compared")
            del replayed[cut:]
    funding.extend({"kind": "funding", "ts": int(f.ts), "symbol": f.symbol,
                    "amount": float(f.amount)} for f in engine.portfolio.funding)
    liquidations.extend({"kind": "liquidation", "ts": int(e["ts"]), "symbol": e["symbol"],
                         "qty": float(e["qty"]), "price": float(e["price"])}
                        for e in engine.events if e.get("kind") == "liquidation")
    return replayed, bars, note


def _restore_orders(engine: Engine, session: dict[str, Any], ts: int,
                    journal_broker: JournalBroker | None) -> None:
    """The working orders a restarted live session took over (the engine's own ids; no
    command sent): as they were (``journal_broker``), or resting in the simulated broker
    with their unfilled rest."""
    recorder = engine.broker  # replay records commands; a restored order is not one
    broker = recorder.inner if isinstance(recorder, CommandRecorder) else recorder
    for payload in session.get("restored_orders") or []:
        order = restored_order(payload)
        if journal_broker is not None:
            order.amount = float(payload["amount"])
            order.filled = float(payload.get("filled") or 0.0)
            order.status = OrderStatus(str(payload.get("status") or "open"))
            journal_broker.restore(order)
        else:
            broker.submit(order, ts)


def _fee_asset(session: dict[str, Any], markets: dict[str, MarketSpec]) -> FeeAsset | None:
    """The session's fee asset; valued at the rate the venue gave at the session's start
    when the symbols do not include its market (``fee_holdings``)."""
    section = session.get("fee_asset")
    if not section:
        return None
    quote = markets[session["symbols"][0]].quote
    symbol = f"{section['asset']}/{quote}"
    held = (session.get("fee_holdings") or {}).get(symbol)
    rate = float(held[1]) if held and symbol not in session["symbols"] else None
    return FeeAsset(section["asset"], float(section.get("discount", 0.25)), rate)


def _open_positions(engine: Engine, session: dict[str, Any],
                    records: Sequence[JournalRecord]) -> None:
    """The base amounts a live session started with (``session.positions``), booked at
    their recorded entry prices (else the last warm-up close), as the runner did."""
    entries = session.get("position_entries") or {}
    perps = session.get("perp_opening") or {}
    for symbol, amount in (session.get("positions") or {}).items():
        if symbol in perps:  # the venue's position, leverage and margin mode
            open_perp_position(engine.portfolio, symbol, float(amount), float(entries[symbol]),
                               float(perps[symbol]["leverage"]), perps[symbol]["margin_mode"])
            continue
        price = entries.get(symbol)
        if price is None:
            closes = [r.payload["close"] for r in records
                      if r.kind == "warmup_bar" and r.payload.get("symbol") == symbol]
            if not closes:
                raise DataError(f"journal session holds {amount} {symbol} at start but records "
                                "no entry price nor warm-up bars to value it")
            price = closes[-1]
        book_opening_position(engine.portfolio, symbol, float(amount), float(price))
    for symbol in session.get("dust") or []:  # held, not a position: as the session opened
        engine.portfolio.set_dust(symbol)
    quote = engine.portfolio.quote
    for symbol, (amount, rate) in (session.get("fee_holdings") or {}).items():
        engine.portfolio.hold_fee_asset(symbol.removesuffix(f"/{quote}"), float(amount),
                                        float(rate))


__all__ = ["Divergence", "FillSource", "ParityReport", "diff_commands", "replay", "segments"]
