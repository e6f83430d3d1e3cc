"""Replay a session journal through the backtest engine and diff the decisions.

Why: backtest/live divergence is the field's most-discussed failure. A journal
holds every market event a session saw and every command it sent; replaying the
market events through the backtest wiring (``adapters.live.paper.sim_engine``: the
one ``wire_engine`` with a ``SimulatedBroker`` and a ``Portfolio``) with the same strategy and
risk config must produce the same commands. A paper session replays with zero
divergence; a live one diverges only where the exchange filled differently from
the fill model, and the report shows the first place it did.

A live session's opening holdings are replayed too: the cash (``initial_cash``, the
quote balance) and the base ``positions`` of its ``session`` record, booked at their
``position_entries`` prices as ``open_live`` booked them, the ones it found to be
``dust`` marked so, and its ``fee_holdings`` (a fee asset held outside the symbols). The
simulated broker charges each market's ``fee_side`` (in the session's ``markets``) and
the session's ``fee_asset``, as the venue did.

What is replayed, in journal order: ``warmup_bar`` (primed after ``start``, as the
runner does), ``start`` (``engine.start``), ``bar`` and ``trade`` (``engine.step`` of a
``Bar`` / ``TradeTick``: the simulated broker matches resting orders at the tick, the
strategy's ``on_trade`` runs), ``kill`` (the runner's ``kill_engine``),
``pause``/``resume`` (the exchange marked degraded in the risk engine), ``degrade``/
``restore`` (symbols refused and allowed again after a reconciliation), ``universe``
(its ``block``/``allow`` lists applied by ``universe_gate.apply_universe``: the
journaled refresh, not a recomputation, so no store is needed), ``end``
(``engine.finish``). Exchange fills and order updates are not
inputs: the fill model produces its own.

Compared, in order: every ``submit`` (time, symbol, side, type, amount, quote
amount, price, stop price, reduce-only; client id too for paper sessions) and every
``cancel`` (time, order's client id). Amounts and prices match within a relative
1e-9.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeloom.adapters.live.journal import JournalRecord, read_journal
from tradeloom.adapters.live.journal_codec import bar_from_payload, tick_from_payload
from tradeloom.adapters.live.recovery import book_opening_position
from tradeloom.adapters.live.paper import sim_engine
from tradeloom.adapters.live.controls import (
    degrade_symbols,
    kill_engine,
    restore_symbols,
    set_paused,
)
from tradeloom.adapters.live.universe import apply_universe
from tradeloom.adapters.live.warmup import prime
from tradeloom.engine.costs.fees import FeeAsset
from tradeloom.engine.errors import DataError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.risk.config import RiskConfig
from tradeloom.engine.run.loop import Engine
from tradeloom.engine.strategy.base import Strategy

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
    keys = ("kind",) + (SUBMIT_FIELDS if cmd.get("kind") == "submit" else CANCEL_FIELDS)
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

    @property
    def ok(self) -> bool:
        return self.total_divergences == 0

    def format(self) -> str:
        head = (f"parity report for {self.journal_path} ({self.mode} session, {self.bars} bars): "
                f"{len(self.journal_commands)} journaled commands, "
                f"{len(self.replay_commands)} replayed")
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


def replay(journal_path: str | Path, strategy: Strategy, risk_config: RiskConfig | None, *,
           markets: dict[str, MarketSpec] | None = None, initial_cash: float | None = None,
           limit: int = 10) -> ParityReport:
    """Run ``strategy`` with ``risk_config`` over the journal's market events; diff commands.

    ``markets`` and ``initial_cash`` default to the journal's ``session`` record, so
    the replay trades under the exchange rules and balance the session had.
    """
    path = Path(journal_path)
    records = read_journal(path)
    session = next((r.payload for r in records if r.kind == "session"), None)
    if session is None:
        raise DataError(f"journal {path} has no session record; it was not written by "
                        "tradeloom paper/live (or its first lines are missing)")
    if markets is None:
        markets = {s: MarketSpec(**spec) for s, spec in session["markets"].items()}
    cash = float(session["initial_cash"] if initial_cash is None else initial_cash)
    risk = RiskEngine(risk_config, exchange=session["exchange"]) if risk_config else None
    replayed: list[dict[str, Any]] = []

    def emit(kind: str, payload: dict[str, Any], engine_ts: int) -> None:
        if kind in ("submit", "cancel"):
            replayed.append({"kind": kind, **payload})

    engine = sim_engine(strategy, symbols=session["symbols"], timeframe=session["timeframe"],
                        markets=markets, initial_cash=cash, risk=risk, emit=emit,
                        run_id=session["run_id"], seed=int(session.get("seed", 0)),
                        fee_asset=_fee_asset(session, markets))
    _open_positions(engine, session, records)
    if risk is not None:
        risk.bind(exchange=session["exchange"])
    exchange = str(session["exchange"])
    warm: list[Any] = []
    started = ended = False
    paused_at_start = False
    universe_at_start: list[dict[str, Any]] = []
    bars = 0
    for rec in records:
        kind, p = rec.kind, rec.payload
        if kind == "warmup_bar":
            warm.append(bar_from_payload(p, f"journal {path} record {rec.seq}"))
        elif kind == "pause" and not started:
            paused_at_start = True
        elif kind == "universe" and not started:
            universe_at_start.append(p)
        elif kind == "start":
            engine.start(int(p["ts"]))
            prime(engine, warm)
            started = True
            if paused_at_start:
                set_paused(risk, exchange, True, int(p["ts"]))
            for u in universe_at_start:
                apply_universe(risk, u["block"], u["allow"], int(u["ts"]))
        elif not started:
            continue
        elif kind == "bar":
            engine.step(bar_from_payload(p, f"journal {path} record {rec.seq}"))
            bars += 1
        elif kind == "trade":
            engine.step(tick_from_payload(p))
        elif kind == "universe":
            apply_universe(risk, p["block"], p["allow"], int(p["ts"]))
        elif kind == "kill":
            kill_engine(engine, risk, int(p["ts"]), str(p.get("reason", "kill")))
        elif kind in ("pause", "resume"):
            set_paused(risk, exchange, kind == "pause", int(p["ts"]))
        elif kind == "degrade":
            degrade_symbols(risk, p["symbols"], int(p["ts"]))
        elif kind == "restore":
            restore_symbols(risk, p["symbols"], int(p["ts"]))
        elif kind == "end":
            engine.finish()
            ended = True
    if started and not ended:
        engine.finish()  # a crashed session: what it would have done at a clean end
    journal_cmds = _commands(records)
    found, total = diff_commands(journal_cmds, replayed,
                                 compare_client_ids=session.get("mode") == "paper", limit=limit)
    return ParityReport(path, str(session.get("mode")), bars, journal_cmds, replayed, found, total)


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
    for symbol, amount in (session.get("positions") or {}).items():
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


__all__ = ["Divergence", "ParityReport", "diff_commands", "replay"]
