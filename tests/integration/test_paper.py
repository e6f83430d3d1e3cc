"""A paper session of the SMA example against the emulator equals a backtest on the same bars."""

from __future__ import annotations

from runner_helpers import HOUR, backtest_same_bars, run_paper

from tradeloom.adapters.live.journal import read_journal


def test_paper_session_orders_and_fills_equal_backtest(emulator, tmp_path):
    session, summary = run_paper(emulator, tmp_path, start=300, bars=200)
    records = read_journal(session.journal_path)
    kinds = [r.kind for r in records]
    assert kinds[0] in ("drift", "session") and "start" in kinds and kinds[-1] == "end"
    live = [r.payload for r in records if r.kind == "bar"]
    assert summary.bars == len(live) == 200
    # bars arrive once, in order, each closed before the local time it was journaled;
    # the sample's real gaps (no bar from the exchange) are reported, not invented
    closes = [b["close_ts"] for b in live]
    assert closes == sorted(set(closes))
    holes = [(a, b) for a, b in zip(closes, closes[1:]) if b - a != HOUR]
    gaps = [r.payload for r in records if r.kind == "feed_gap"]
    assert [(g["after_ts"] + HOUR, g["next_ts"] + HOUR) for g in gaps] == holes
    assert all(r.local_ts >= r.payload["close_ts"] for r in records if r.kind == "bar")
    assert summary.warmup_bars == 8  # SMA(8): 8 bars before the first decision

    bt = backtest_same_bars(session.journal_path)
    submits = [r.payload for r in records if r.kind == "submit"]
    assert len(submits) >= 4, "the window should trade a few times"
    bt_orders = bt.orders
    assert [(s["ts"], s["symbol"], s["side"], s["type"]) for s in submits] == [
        (int(o.created_ts), o.symbol, o.side, o.type) for o in bt_orders.itertuples()]
    fills = [r.payload for r in records if r.kind == "fill"]
    assert [(f["ts"], f["side"], f["price"], f["amount"], f["fee"]) for f in fills] == [
        (int(f.ts), f.side, f.price, f.amount, f.fee) for f in bt.fills.itertuples()]
    stages = summary.stages
    assert stages["decision"]["count"] == len(submits)
    assert stages["decision"]["p99_ms"] < 50.0
