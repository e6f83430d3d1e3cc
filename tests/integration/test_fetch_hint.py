"""A symbol or timeframe missing from the catalog: the error names the exact ``tradeloom
ingest`` command that fetches it, and running that very command (against the loopback
Binance emulator) makes the read work."""

from __future__ import annotations

import shlex

import pytest
from emulator import BinanceEmulator
from typer.testing import CliRunner

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.cli import context as clictx
from tradeloom.cli.main import app
from tradeloom.engine.errors import UnknownSymbol


def _ingest_argv(message: str) -> list[str]:
    """The ``tradeloom ... ingest ...`` command quoted in an error message, as argv."""
    text = message[message.index("tradeloom --catalog"):].split(", or ")[0]
    argv = shlex.split(text)
    assert argv[0] == "tradeloom" and "ingest" in argv
    return argv[1:]


def test_the_named_ingest_command_fetches_the_missing_symbol(tmp_path, emulator: BinanceEmulator) -> None:
    root = tmp_path / "cat"
    store = MarketStore(root)
    btc = emulator.bars("BTC/USDT")
    store.write_bars("binance", "1h", "BTC/USDT", btc.iloc[:48], source="test")
    emulator.now_ms = int(btc["ts"].iloc[48]) + 123
    with pytest.raises(UnknownSymbol) as err:
        store.read_bars("binance", "1h", "ETH/USDT")
    message = str(err.value)
    argv = _ingest_argv(message)
    assert argv == ["--catalog", str(root), "ingest", "--exchange", "binance", "--symbols", "ETH/USDT",
                    "--timeframe", "1h", "--since", message.split("--since ")[1].split(",")[0]]
    clictx.set_catalog(None)
    result = CliRunner().invoke(app, [*argv, "--api-url", emulator.base_url, "--option",
                                      "adjustForTimeDifference=false", "--quiet"])
    assert result.exit_code == 0, result.output
    clictx.set_catalog(None)
    assert len(store.read_bars("binance", "1h", "ETH/USDT")) > 0


def test_a_missing_timeframe_names_ingest_and_import(tmp_path, emulator: BinanceEmulator) -> None:
    store = MarketStore(tmp_path / "cat")
    store.write_bars("binance", "1h", "BTC/USDT", emulator.bars("BTC/USDT").iloc[:10], source="test")
    with pytest.raises(UnknownSymbol) as err:
        store.read_bars("binance", "4h", "BTC/USDT", start=1_609_459_200_000)
    message = str(err.value)
    assert "stored timeframes for binance: ['1h']" in message
    assert "ingest --exchange binance --symbols BTC/USDT --timeframe 4h --since 2021-01-01" in message
    assert (f"tradeloom --catalog {tmp_path / 'cat'} data import BARS.csv --exchange binance "
            "--symbol BTC/USDT --timeframe 4h") in message
