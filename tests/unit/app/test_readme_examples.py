"""The README's examples marked ``<!-- readme-test -->`` run as written (docs that cannot drift).

The backtest, several-timeframes and portfolio-of-strategies examples are marked with a
``<!-- readme-test -->`` line before their fence: a shell block runs command by command
(continuation lines joined, ``#`` comments dropped), a ``python`` block as one script,
from a scratch directory laid out like the repository (``research/``, ``examples/`` and
``.venv`` linked in, ``datasets/catalog`` holding the bundled sample, ``TRADELOOM_CATALOG``
pointing at it), so what they write (``runs/...``) stays out of the repository. Each must
exit 0.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.sample import load_sample

REPO = Path(__file__).resolve().parents[3]
README = (REPO / "README.md").read_text(encoding="utf-8")
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
