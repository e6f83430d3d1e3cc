"""The store on S3-compatible object storage, end to end through the CLI in real processes:
ingest, list, check, backtest and a Dask sweep against ``s3://bucket/prefix`` on a real
S3 API server on 127.0.0.1 (moto), credentials from the environment and never printed.

Each CLI process gets its own catalog cache directory, as a different machine would:
what one process writes, the next reads through the catalog copy published on S3.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from emulator import BinanceEmulator
from s3_helpers import BUCKET, SECRET_KEY, s3_server  # noqa: F401 - fixture

from tradeloom.adapters.store.market_store import MarketStore

REPO = Path(__file__).resolve().parents[2]
TRADELOOM = [sys.executable, "-c", "from tradeloom.cli import main; main()"]


@pytest.fixture(scope="module")
def emu():
    with BinanceEmulator(["BTC/USDT", "ETH/USDT"]) as emulator:
        yield emulator


class Machine:
    """Runs the CLI as a separate process with its own catalog cache (its own 'disk')."""

    def __init__(self, server, root: Path, name: str) -> None:
        self.env = {**os.environ, **server.env(str(root / f"cache-{name}"))}
        self.env.pop("TRADELOOM_CATALOG", None)
        self.outputs: list[str] = []

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([*TRADELOOM, *args], cwd=REPO, env=self.env, capture_output=True,
                              text=True, timeout=600, check=False)
        self.outputs += [proc.stdout, proc.stderr]
        if ok:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc


@pytest.fixture
def location(s3_server, tmp_path) -> str:  # noqa: F811
    return f"s3://{BUCKET}/e2e-{tmp_path.name}"


def test_ingest_list_check_backtest_and_dask_sweep_on_s3(s3_server, tmp_path, emu,  # noqa: F811
                                                         location):
    ts = [int(t) for t in emu.bars("BTC/USDT")["ts"]]
    writer = Machine(s3_server, tmp_path, "writer")
    reader = Machine(s3_server, tmp_path, "reader")
    writer.run("--catalog", location, "ingest", "--exchange", "binance", "--symbols",
               "BTC/USDT,ETH/USDT", "--timeframe", "1h", "--since", str(ts[0]), "--api-url",
               emu.base_url, "--quiet")

    listed = json.loads(reader.run("--catalog", location, "data", "list", "--json").stdout)
    assert [(d["symbol"], d["rows"]) for d in listed] == [
        ("BTC/USDT", len(emu.closed_bars("BTC/USDT"))), ("ETH/USDT",
                                                         len(emu.closed_bars("ETH/USDT")))]
    checked = json.loads(reader.run("--catalog", location, "data", "check", "--json").stdout)
    assert all(r["ok"] for r in checked)  # the sample's outages were confirmed by the exchange

    backtest = ["backtest", "research/strategies/sma_cross.py:SmaCross", "--symbols",
                "BTC/USDT", "--timeframe", "1h", "--param", "fast=10", "--param", "slow=50",
                "--json"]
    on_s3 = json.loads(reader.run("--catalog", location, *backtest).stdout)
    local = tmp_path / "local"
    Machine(s3_server, tmp_path, "local").run(
        "--catalog", str(local), "ingest", "--exchange", "binance", "--symbols", "BTC/USDT",
        "--timeframe", "1h", "--since", str(ts[0]), "--api-url", emu.base_url, "--quiet")
    on_disk = json.loads(reader.run("--catalog", str(local), *backtest).stdout)
    assert on_s3["metrics"] == on_disk["metrics"]
    assert on_s3["manifest"]["data_fingerprint"] == on_disk["manifest"]["data_fingerprint"]

    sweep = reader.run("--catalog", location, "sweep", "research/strategies/sma_cross.py:SmaCross",
                       "--symbols", "BTC/USDT", "--timeframe", "1h", "--grid", "fast=5,10",
                       "--grid", "slow=30,50", "--engine", "event", "--cluster", "local:2",
                       "--json", "--quiet")
    assert json.loads(sweep.stdout)["best"]["fast"] in (5, 10)

    everything = "\n".join(writer.outputs + reader.outputs)
    assert SECRET_KEY not in everything
    for machine_dir in tmp_path.glob("cache-*"):
        for path in machine_dir.rglob("*"):
            if path.is_file():
                assert SECRET_KEY.encode() not in path.read_bytes(), path


def test_a_missing_bucket_is_a_message_not_a_traceback(s3_server, tmp_path):  # noqa: F811
    machine = Machine(s3_server, tmp_path, "m")
    proc = machine.run("--catalog", "s3://no-such-bucket/x", "data", "load-sample", ok=False)
    assert proc.returncode == 2
    assert "object store s3://no-such-bucket/x" in proc.stderr
    assert "Traceback" not in proc.stderr and SECRET_KEY not in proc.stderr + proc.stdout


def test_a_write_on_one_machine_is_read_on_another(s3_server, tmp_path, location,  # noqa: F811
                                                   monkeypatch):
    for key, value in s3_server.env(str(tmp_path / "cache-a")).items():
        monkeypatch.setenv(key, value)
    a = MarketStore(location)
    from tradeloom.app.sample import load_sample

    load_sample(a)
    monkeypatch.setenv("TRADELOOM_CACHE_DIR", str(tmp_path / "cache-b"))
    b = MarketStore(location)
    assert b.list_datasets() == a.list_datasets()
    assert b.check()[0].ok
    a.delete("ohlcv", "binance", "1h", "ADA/USDT")
    assert "ADA/USDT" not in {d.symbol for d in b.list_datasets()}
    assert repr(b) == f"MarketStore({location!r})"
