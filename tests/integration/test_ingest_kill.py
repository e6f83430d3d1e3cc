"""SIGKILL during ingest: a real ``kill -9`` of an ingest subprocess (real ccxt against the
Binance emulator on 127.0.0.1), then a re-run that is exact.

The subprocess pages 100 bars per request (every request delayed by the emulator) and
writes every 3 pages. The test kills it once some writes have committed and checks:
what is stored is a clean prefix of the exchange's bars, at most one page group plus
the page in flight is lost, the catalog still says the run is running; then a second
run records the first as died (with the rows it wrote) and leaves the store equal,
bar for bar and fingerprint for fingerprint, to an ingest that was never killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from emulator import BinanceEmulator, Fault

from tradeloom.adapters.ccxt.exchange import ExchangeSettings
from tradeloom.adapters.store.ingest import ingest_ohlcv
from tradeloom.adapters.store.market_store import MarketStore

REPO = Path(__file__).resolve().parents[2]
KLINES = "/api/v3/klines"
PAGE, GROUP = 100, 3

CHILD = """
import sys
from tradeloom.adapters.ccxt.exchange import ExchangeSettings
from tradeloom.adapters.store.ingest import ingest_ohlcv
from tradeloom.adapters.store.market_store import MarketStore
catalog, url, since, now = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
settings = ExchangeSettings(id="binance", api_url=url, rate_limit_ms=1, timeout_ms=10_000)
ingest_ohlcv(MarketStore(catalog), settings, ["BTC/USDT"], "1h", since, None,
             now_ms=lambda: now, run_id="killed", page_limit=%d, write_every_rows=%d,
             write_every_s=3600)
""" % (PAGE, PAGE * GROUP)  # noqa: UP031 - a code template: braces stay literal


def stored_rows(store: MarketStore) -> int:
    found = store.list_datasets()
    return found[0].rows if found else 0


def test_sigkill_loses_at_most_a_page_group_and_the_rerun_is_exact(tmp_path):
    with BinanceEmulator(["BTC/USDT"]) as emu:
        settings = ExchangeSettings(id="binance", api_url=emu.base_url, rate_limit_ms=1)
        ts = [int(t) for t in emu.bars("BTC/USDT")["ts"]]
        emu.faults.inject(Fault.hang(0.15), path=KLINES, times=10_000)
        catalog = tmp_path / "killed"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(catalog), emu.base_url, str(ts[0]),
             str(emu.now_ms)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        store = MarketStore(catalog)
        deadline = time.monotonic() + 120
        while stored_rows(store) < 3 * PAGE * GROUP and child.poll() is None:
            assert time.monotonic() < deadline, "the ingest child never wrote"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()
        emu.faults.clear()

        # what survived: a clean prefix of the exchange's bars, whole page groups only
        served = emu.log.count(KLINES)
        kept = store.read_bars("binance", "1h", "BTC/USDT")
        pd.testing.assert_frame_equal(kept, emu.closed_bars("BTC/USDT", ts[0], ts[len(kept)]))
        assert len(kept) % (PAGE * GROUP) == 0
        assert served * PAGE - len(kept) <= (GROUP + 1) * PAGE  # one group + the page in flight
        (running,) = store.ingest_runs()
        assert (running.run_id, running.status, running.rows_added) == ("killed", "running",
                                                                         len(kept))

        # the next run notices the dead one and completes exactly
        summary = ingest_ohlcv(store, settings, ["BTC/USDT"], "1h", ts[0], None,
                               now_ms=lambda: emu.now_ms, run_id="rerun")
        assert [r.run_id for r in summary.died] == ["killed"]
        runs = {r.run_id: r for r in store.ingest_runs()}
        assert runs["killed"].status == "died" and runs["killed"].rows_added == len(kept)
        assert "re-run the same command" in runs["killed"].message
        assert runs["rerun"].status == "ok"
        assert summary.rows_added == len(emu.closed_bars("BTC/USDT")) - len(kept)
        pd.testing.assert_frame_equal(store.read_bars("binance", "1h", "BTC/USDT"),
                                      emu.closed_bars("BTC/USDT"))
        (report,) = store.check()
        assert report.ok, report.problems()

        fresh = MarketStore(tmp_path / "never-killed")
        ingest_ohlcv(fresh, settings, ["BTC/USDT"], "1h", ts[0], None,
                     now_ms=lambda: emu.now_ms, run_id="clean")
        assert fresh.fingerprint("binance", "1h", "BTC/USDT") == store.fingerprint(
            "binance", "1h", "BTC/USDT")
        assert fresh.list_datasets() == store.list_datasets()
