"""A rule file trades paper through the same loader as a class: a session of the SMA(3, 8)
rule file against the emulator sends the orders and gets the fills of ``SmaCross(3, 8)``'s
backtest on the same bars."""

from __future__ import annotations

from runner_helpers import backtest_same_bars, run_paper

from tradeloom.adapters.live.journal import read_journal
from tradeloom.research.rules.files import EXAMPLES


def test_a_rule_file_paper_session_equals_the_class_backtest(emulator, tmp_path):
    rules = tmp_path / "sma_3_8.toml"
    rules.write_text((EXAMPLES / "sma_cross.toml").read_text()
                     .replace("period = 10", "period = 3").replace("period = 50", "period = 8"))
    session, summary = run_paper(emulator, tmp_path, start=300, bars=120, strategy=str(rules),
                                 params={})
    records = read_journal(session.journal_path)
    assert summary.bars == 120 and summary.warmup_bars == 8
    submits = [r.payload for r in records if r.kind == "submit"]
    fills = [r.payload for r in records if r.kind == "fill"]
    bt = backtest_same_bars(session.journal_path)  # SmaCross(fast=3, slow=8)
    assert len(submits) >= 4
    assert [(s["ts"], s["side"], s["type"]) for s in submits] == [
        (int(o.created_ts), o.side, o.type) for o in bt.orders.itertuples()]
    assert [(f["ts"], f["side"], f["price"], f["amount"], f["fee"]) for f in fills] == [
        (int(f.ts), f.side, f.price, f.amount, f.fee) for f in bt.fills.itertuples()]
