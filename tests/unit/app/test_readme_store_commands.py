"""Every command in README.md's marked blocks runs and exits 0 (docs that cannot drift).

"Market data: the store" blocks are marked ``<!-- readme-commands: KIND -->`` before their
fence:

- ``offline``: run in order against a fresh catalog;
- ``exchange``: run in order with ``--api-url`` pointed at the Binance spot emulator, or the
  USD-M futures emulator for ``--market-type swap`` commands (both on 127.0.0.1);
- ``s3``: ``export`` lines are the environment the test sets for its S3 API server on
  127.0.0.1; ``s3://my-bucket/...`` is mapped to the test bucket.

Examples elsewhere (backtests, several timeframes, portfolios of strategies) are marked
``<!-- readme-test -->``: a shell block runs command by command (continuation lines
joined, ``#`` comments dropped), a ``python`` block as one script, from a scratch
directory laid out like the repository (``research/``, ``examples/`` and ``.venv`` linked
in, ``datasets/catalog`` holding the bundled sample, ``TRADELOOM_CATALOG`` pointing at it),
so what they write (``runs/...``) stays out of the repository.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from emulator import BinanceEmulator, BinanceFuturesEmulator
from s3_helpers import BUCKET, s3_env, s3_server  # noqa: F401 - fixtures
from typer.testing import CliRunner

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.sample import load_sample
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


# ------------------------------------------------------------ <!-- readme-test --> examples

MARKER = "<!-- readme-test -->"
_FENCE = re.compile(r"^```(\w*)\s*$")


def marked_blocks(text: str) -> list[tuple[str, str, int]]:
    """``(language, code, line)`` of every fenced block right after the marker."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == MARKER:
            start = _FENCE.match(lines[i + 1])
            assert start, f"README.md line {i + 2}: the marker must be followed by a ``` fence"
            end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
            out.append((start.group(1), "\n".join(lines[i + 2:end]), i + 1))
            i = end
        i += 1
    return out


def shell_commands(code: str) -> list[str]:
    """Commands of a shell block: ``\\`` continuations joined, comments and blanks dropped."""
    joined = code.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


BLOCKS = marked_blocks(README)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("readme")
    for name in ("research", "examples", ".venv"):
        (work / name).symlink_to(REPO / name)
    load_sample(MarketStore(work / "datasets" / "catalog"))
    return work


def test_the_readme_marks_its_new_examples_for_this_test():
    kinds = [lang or "shell" for lang, _, _ in BLOCKS]
    assert kinds.count("python") >= 2 and kinds.count("shell") >= 2


@pytest.mark.parametrize(("lang", "code", "line"), BLOCKS, ids=[f"line{b[2]}" for b in BLOCKS])
def test_readme_example_runs(lang: str, code: str, line: int, workdir: Path) -> None:
    env = {**os.environ, "TRADELOOM_CATALOG": str(workdir / "datasets" / "catalog")}
    if lang == "python":
        runs = [[sys.executable, "-c", code]]
    else:
        runs = [shlex.split(c) for c in shell_commands(code)]
    for argv in runs:
        proc = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        assert proc.returncode == 0, (
            f"README.md block at line {line}: {' '.join(argv)[:200]} exited {proc.returncode}\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
