"""Helpers for the deployment tests: a sample market store, a regress config with a fresh
golden for the runner tests' SMA settings, and deployment files that point at them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner_helpers import PARAMS, SMA

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.regress import run_regress
from tradeloom.app.sample import load_sample

#: Same strategy and params as the paper sessions of ``runner_helpers``.
CASES = f'''
goldens = "goldens"

[[case]]
name = "sma_btc"
strategy = "tradeloom.research.strategies.sma_cross:SmaCross"
symbols = ["BTC/USDT"]
timeframe = "1h"
start = "2021-01-01"
end = "2021-02-01"
risk_profile = "moderate"
params = {{ fast = {PARAMS["fast"]}, slow = {PARAMS["slow"]} }}

[[case]]
name = "sma_btc_no_golden"
strategy = "tradeloom.research.strategies.sma_cross:SmaCross"
symbols = ["BTC/USDT"]
timeframe = "1h"
start = "2021-01-01"
end = "2021-02-01"
params = {{ fast = {PARAMS["fast"]}, slow = {PARAMS["slow"]} }}

[[case]]
name = "coin_flip"
strategy = "coin_flip.py:CoinFlip"
symbols = ["BTC/USDT"]
timeframe = "1h"
start = "2021-01-01"
end = "2021-01-10"
risk_profile = "moderate"
'''

#: A strategy that depends on something besides its inputs: regress must catch it.
COIN_FLIP = '''
import os
from tradeloom.engine.strategy.base import Strategy


class CoinFlip(Strategy):
    def on_bar(self, ctx, bar):
        ctx.target_percent(bar.symbol, 0.5 if os.urandom(1)[0] % 2 else 0.0)
'''


def sample_store(folder: Path) -> MarketStore:
    store = MarketStore(folder)
    load_sample(store)
    return store


def regress_config(folder: Path, store: MarketStore) -> Path:
    """``regress.toml`` with its ``sma_btc`` golden written (as ``regress --update`` does)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "coin_flip.py").write_text(COIN_FLIP)
    path = folder / "regress.toml"
    path.write_text(CASES)
    report = run_regress(path, store, update=True, cases=["sma_btc"])
    assert report.ok, report.format()
    return path


def deployment_file(folder: Path, name: str, regress: Path, *, case: str = "sma_btc",
                    risk_profile: str | None = "moderate", params: dict[str, Any] | None = None,
                    strategy: str = SMA, gates: dict[str, Any] | None = None,
                    live_config: Path | None = None,
                    symbols: tuple[str, ...] = ("BTC/USDT",)) -> Path:
    """A deployment TOML; relative paths are written relative to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    p = dict(PARAMS if params is None else params)
    lines = [f'name = "{name}"', f'strategy = "{strategy}"',
             "params = { " + ", ".join(f"{k} = {v}" for k, v in p.items()) + " }",
             "symbols = [" + ", ".join(f'"{x}"' for x in symbols) + "]", 'timeframe = "1h"',
             f'regress_config = "{regress}"', f'regress_case = "{case}"']
    if risk_profile is not None:
        lines.append(f'risk_profile = "{risk_profile}"')
    if live_config is not None:
        lines.append(f'live_config = "{live_config}"')
    lines.append("[gates]")
    lines += [f"{k} = {v}" for k, v in (gates or {}).items()]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path
