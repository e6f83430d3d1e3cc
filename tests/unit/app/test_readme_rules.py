"""The README's rule-strategy and fast-path sections run as written.

Every ``.venv/bin/tradeloom`` command of those sections runs in a scratch folder that sees
the repository's ``examples/`` and ``research/`` and a catalog loaded with the bundled
sample (``TRADELOOM_CATALOG``); each must exit 0. ``serve`` is started, asked for the
builder page, and stopped. The complete Python block runs too, and the TOML shown is
``examples/rules/breakout.toml``'s rule set.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from readme_sections import ReadmeSections
from sweep_helpers import make_store

from tradeloom.research.rules.files import EXAMPLES, read_rule_file
from tradeloom.research.rules.schema import validate_rules

REPO = Path(__file__).resolve().parents[3]
SECTIONS = ("### Rule strategies", "### The fast path for any strategy")


README_PART = ReadmeSections(*SECTIONS)
blocks, commands = README_PART.blocks, README_PART.commands


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("readme")
    make_store(root / "catalog")
    for name in ("examples", "research", ".venv"):
        (root / name).symlink_to(REPO / name)
    (root / "datasets").mkdir()
    (root / "datasets" / "catalog").symlink_to(root / "catalog")
    env = {**os.environ, "TRADELOOM_CATALOG": str(root / "catalog")}
    return root, env


def test_the_sections_show_the_commands_they_promise() -> None:
    shown = [" ".join(c[1:3]) for c in commands()]
    assert shown == ["backtest examples/rules/sma_cross.toml", "backtest examples/rules/breakout.toml",
                     "sweep examples/rules/sma_cross.toml", "walkforward examples/rules/rsi_reversion.toml",
                     "check-fast examples/rules/breakout.toml", "serve --rules-dir",
                     "check-fast research/strategies/rsi_reversion.py:RsiReversion"]


@pytest.mark.parametrize("argv", [c for c in commands() if c[1] != "serve"], ids=lambda c: " ".join(c[1:3]))
def test_each_command_runs(scratch, argv: list[str]) -> None:
    root, env = scratch
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_serve_answers_with_the_builder(scratch) -> None:
    root, env = scratch
    argv = next(c for c in commands() if c[1] == "serve") + ["--port", "0"]
    proc = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline, url = time.monotonic() + 60, None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
            url = found.group(1) if found else None
        assert url, "serve did not announce its address"
        with urllib.request.urlopen(url + "/builder", timeout=30) as resp:
            assert resp.status == 200 and b"strategy builder" in resp.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


def test_the_python_example_runs(scratch) -> None:
    root, env = scratch
    runnable = [b for b in blocks("python") if "    ..." not in b]
    assert len(runnable) == 1
    done = subprocess.run([sys.executable, "-c", runnable[0]], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "SAME fills, trades and equity" in done.stdout


def test_the_toml_shown_is_the_breakout_example() -> None:
    [shown] = blocks("toml")
    example = read_rule_file(EXAMPLES / "breakout.toml")
    assert validate_rules(tomllib.loads(shown)) == example.model_copy(update={"description": ""})
