"""Real bars from ``datasets/sample`` and the price path an emulator walks through a bar.

Bars are the bundled sample files (real Binance/Coinbase history, see
``datasets/sample/PROVENANCE.md``). Stepping a bar moves the emulated price through
open, the nearer extreme, the farther extreme and close (open-low-high-close for a
rising bar, open-high-low-close for a falling one), each point rounded to the tick,
so resting limit orders inside the bar's range are crossed as they would be.

>>> bars = sample_bars("BTC/USDT")
>>> int(bars.ts[0]), [str(x) for x in bars.row(0)]
(1606780800000, ['19695.87', '19720.0', '19479.8', '19565.47', '4570.361518'])
>>> [str(p) for p in price_path(bars.row(0), tick=dec("0.01"))]
['19695.87', '19720.00', '19479.80', '19565.47']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from venues.common.money import Decimal, dec, floor_to_step

REPO_ROOT = Path(__file__).resolve().parents[4]
SAMPLE_DIR = REPO_ROOT / "datasets" / "sample"


@dataclass(frozen=True)
class Bars:
    """OHLCV rows (open time ``ts`` in ms) of one symbol, oldest first."""

    symbol: str
    ts: np.ndarray
    values: np.ndarray  # float64 rows: open, high, low, close, volume

    def __len__(self) -> int:
        return len(self.ts)

    def row(self, i: int) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """Bar ``i`` as exact decimals (the floats' shortest text)."""
        o, h, low, c, v = (dec(float(x)) for x in self.values[i])
        return o, h, low, c, v


def sample_bars(symbol: str, venue: str = "binance", timeframe: str = "1h") -> Bars:
    """The bundled sample bars of ``symbol`` (e.g. ``'BTC/USDT'``)."""
    base, quote = symbol.split("/")
    path = SAMPLE_DIR / venue / f"{base}-{quote}_{timeframe}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"no sample bars for {symbol} at {path}; pass your own "
                                "frame with columns ts, open, high, low, close, volume")
    return bars_from_frame(symbol, pd.read_parquet(path))


def bars_from_frame(symbol: str, frame: pd.DataFrame) -> Bars:
    """Bars from a frame with ``ts`` (int ms) and OHLCV float columns."""
    frame = frame.sort_values("ts").reset_index(drop=True)
    return Bars(symbol, frame["ts"].to_numpy("int64"),
                frame[["open", "high", "low", "close", "volume"]].to_numpy("float64"))


def price_path(row: tuple[Decimal, ...], *, tick: Decimal) -> list[Decimal]:
    """Open, nearer extreme, farther extreme, close of one bar, floored to ``tick``."""
    o, h, low, c = row[:4]
    points = [o, low, h, c] if c >= o else [o, h, low, c]
    return [floor_to_step(p, tick) for p in points]
