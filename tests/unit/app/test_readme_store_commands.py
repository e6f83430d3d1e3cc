"""Every command in README.md's "Market data: the store" blocks runs and exits 0.

Blocks are marked ``<!-- readme-commands: KIND -->`` before their fence:

- ``offline``: run in order against a fresh catalog;
- ``exchange``: run in order with ``--api-url`` pointed at the Binance spot emulator, or the
  USD-M futures emulator for ``--market-type swap`` commands (both on 127.0.0.1);
- ``s3``: ``export`` lines are the environment the test sets for its S3 API server on
  127.0.0.1; ``s3://my-bucket/...`` is mapped to the test bucket.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from emulator import BinanceEmulator, BinanceFuturesEmulator
from s3_helpers import BUCKET, s3_env, s3_server  # noqa: F401 - fixtures
from typer.testing import CliRunner

from tradeloom.cli import context as clictx
from tradeloom.cli.main import app

REPO = Path(__file__).resolve().parents[3]
README = (REPO / "README.md").read_text(encoding="utf-8")


def block(kind: str) -> list[str]:
    match = re.search(rf"<!-- readme-commands: {kind} -->\n```\n(.*?)```", README, re.DOTALL)
    assert match, f"README.md has no '{kind}' command block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def invoke(args: list[str], monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, args)
    clictx.set_catalog(None)
    assert result.exit_code == 0, f"{shlex.join(args)}\n{result.output}"


def test_the_offline_commands_run(tmp_path, monkeypatch):
    lines = block("offline")
    assert len(lines) >= 10
    for line in lines:
        words = shlex.split(line)
        assert words[0] == "tradeloom"
        invoke(["--catalog", str(tmp_path / "catalog"), *words[1:]], monkeypatch)


def test_the_exchange_commands_run_against_the_emulators(tmp_path, monkeypatch):
    with BinanceEmulator(["BTC/USDT", "ETH/USDT"]) as spot, BinanceFuturesEmulator() as perp:
        for line in block("exchange"):
            words = shlex.split(line)
            url = perp.base_url if "swap" in words else spot.base_url
            invoke(["--catalog", str(tmp_path / "catalog"), *words[1:], "--api-url", url],
                   monkeypatch)


@pytest.mark.slow
def test_the_object_store_commands_run_on_the_s3_server(s3_env, monkeypatch):  # noqa: F811
    lines = block("s3")
    assert lines[0].startswith("export AWS_ENDPOINT_URL=")
    for line in lines[1:]:
        words = [w.replace("s3://my-bucket/tradeloom", s3_env) for w in shlex.split(line)]
        invoke(words[1:], monkeypatch)
    assert s3_env.startswith(f"s3://{BUCKET}/")
