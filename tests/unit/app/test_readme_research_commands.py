"""The README's sections on optimize, the overfitting statistics, pandas/Jupyter results,
the vectorized single run and idealised runs run as written.

Every ``.venv/bin/tradeloom`` command of those sections runs in a scratch folder that sees
the repository's ``research/``, ``datasets/sample`` and ``.venv`` and a catalog loaded with
the bundled sample (``TRADELOOM_CATALOG``, also linked as ``datasets/catalog``); each must
exit 0. Every Python block of those sections runs too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from readme_sections import ReadmeSections
from sweep_helpers import make_store

REPO = Path(__file__).resolve().parents[3]
SECTIONS = ("### Search beyond grids", "### Overfitting statistics", "### Results in pandas and Jupyter",
            "### The vectorized single run", "### Idealised runs and missing data")


README_PART = ReadmeSections(*SECTIONS)
blocks, commands = README_PART.blocks, README_PART.commands


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("readme_commands")
    make_store(root / "catalog")
    for name in ("research", ".venv"):
        (root / name).symlink_to(REPO / name)
    (root / "datasets").mkdir()
    (root / "datasets" / "catalog").symlink_to(root / "catalog")
    (root / "datasets" / "sample").symlink_to(REPO / "datasets" / "sample")
    (root / "runs").mkdir()
    env = {**os.environ, "TRADELOOM_CATALOG": str(root / "catalog")}
    return root, env


def test_the_sections_show_the_commands_they_promise() -> None:
    shown = [" ".join(c[1:3]) for c in commands()]
    assert shown == ["optimize research/strategies/sma_cross.py:SmaCross",
                     "optimize research/strategies/rsi_reversion.py:RsiReversion",
                     "sweep research/strategies/sma_cross.py:SmaCross",
                     "backtest research/strategies/sma_cross.py:SmaCross"]
    assert len(blocks("python")) == 3


@pytest.mark.parametrize("argv", commands(), ids=lambda c: " ".join(c[1:3] + c[-2:]))
def test_each_command_runs(scratch, argv: list[str]) -> None:
    root, env = scratch
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    if argv[1] in ("optimize", "sweep"):
        assert "overfitting:" in done.stdout


@pytest.mark.parametrize("index", range(3), ids=["overfit", "pandas", "run_signals"])
def test_each_python_block_runs(scratch, index: int) -> None:
    root, env = scratch
    done = subprocess.run([sys.executable, "-c", blocks("python")[index]], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    expected = ["DSR 0.9004", "'equity'", "1h "][index]
    assert expected in done.stdout, done.stdout
