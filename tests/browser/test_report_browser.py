"""Reports looked at as a person would: opened in headless Chromium, screenshotted, checked.

Needs Debian's ``chromium`` (``apt-get install -y chromium``); without it these
tests FAIL with that instruction rather than skip, because CI installs it and a
silently skipped browser test would hide a broken report. Each test asserts
that every plotly chart drew a sized ``svg.main-svg``, that the page logged no
console errors or exceptions, that it requested nothing but itself (no
network), and that the screenshot is not blank inside each chart's box.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import report_sample as rs
from browser import BrowserError, PageShot, chromium_path, open_page
from PIL import Image

from tradeloom.research.reports.report import render_report, render_sweep_report

REPORT_PLOTS = {"plot-equity", "plot-candles-BTC-USDT", "plot-monthly", "plot-rolling",
                "plot-pnl", "plot-exposure"}  # fmt: skip


def shoot(path: Path, tmp_path: Path) -> PageShot:
    """Open ``path`` in headless chromium; a missing chromium FAILS the test (CI installs it)."""
    try:
        chromium_path()
    except BrowserError as exc:
        pytest.fail(str(exc), pytrace=False)
    return open_page(path, tmp_path / "profile")


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return rs.sample_bars()


def check_page(shot: PageShot, expected_plots: set[str], out: Path) -> Image.Image:
    """The assertions every report page must pass; saves the screenshot to ``out``."""
    out.write_bytes(shot.png)
    assert shot.errors == [], f"console errors: {shot.errors}"
    foreign = [u for u in shot.requests if not u.startswith(("file:", "data:", "about:", "blob:"))]
    assert foreign == [], f"the report fetched {foreign}; it must be self-contained"
    assert {p.id for p in shot.plots} == expected_plots
    img = Image.open(BytesIO(shot.png)).convert("RGB")
    assert img.size == (1400, shot.height)
    for p in shot.plots:
        assert p.svg and p.w > 600 and p.h > 150, f"{p.id} has box {p.w}x{p.h}"
        box = (int(p.x), int(p.y), int(p.x + p.w), int(p.y + p.h))
        region = np.asarray(img.crop(box), dtype=np.float64)
        colors = len(np.unique(region.reshape(-1, 3), axis=0))
        gray = region.mean(axis=2)
        assert gray.std() > 8.0, f"{p.id}: plot area looks blank (std {gray.std():.1f})"
        assert colors > 30, f"{p.id}: only {colors} colours drawn"
        ink = (gray < 200).mean()
        assert ink > 0.003, f"{p.id}: only {ink:.2%} of the plot area is drawn on"
    return img


def test_backtest_report_renders(bars: pd.DataFrame, tmp_path: Path) -> None:
    path = render_report(rs.build_result(bars), tmp_path / "report.html", bars=bars)
    shot = shoot(path, tmp_path)
    assert shot.title == "hand_made backtest report"
    check_page(shot, REPORT_PLOTS, tmp_path / "report.png")
    by_id = {p.id: p for p in shot.plots}
    ys = [by_id[i].y for i in ("plot-equity", "plot-candles-BTC-USDT", "plot-monthly")]
    assert ys == sorted(ys)  # page order as documented
    candle = by_id["plot-candles-BTC-USDT"]
    assert candle.traces >= 5  # candles, entries, exits, stop and take-profit levels


def test_empty_run_renders(bars: pd.DataFrame, tmp_path: Path) -> None:
    result = rs.build_result(bars, trips=(), risk_decisions=[])
    path = render_report(result, tmp_path / "empty.html", bars=bars)
    shot = shoot(path, tmp_path)
    check_page(shot, REPORT_PLOTS, tmp_path / "empty.png")


def test_sweep_report_renders(tmp_path: Path) -> None:
    rows = [{"fast": f, "slow": s, "sharpe": f / s * 3 - 0.2}
            for f in (5, 10, 15, 20, 30) for s in (40, 60, 100, 150, 200)]  # fmt: skip
    path = render_sweep_report(pd.DataFrame(rows), "fast", "slow", "sharpe", tmp_path / "s.html")
    shot = shoot(path, tmp_path)
    check_page(shot, {"plot-sweep-heatmap"}, tmp_path / "sweep.png")
