"""Every command and example in the README's machine-learning section runs as written.

The section's ``sh`` block is run command by command through the CLI (a leading
``.venv/bin/tradeloom`` or ``tradeloom`` dropped), then its ``python`` block is executed, in
a working directory that looks like the project root to them: a copy of ``examples/``,
the strategies under ``research/``, and the catalog (``TRADELOOM_CATALOG``) that the
section's own ``data load-sample`` fills.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
from pathlib import Path

import pytest
from ml_helpers import sample_store
from typer.testing import CliRunner

from tradeloom.cli import context as clictx
from tradeloom.cli.main import app
from tradeloom.research.ml.registry import ModelRegistry

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def ml_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("### Machine learning")
    end = text.index("\n### ", start + 1)
    return text[start:end]


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", ml_section(), flags=re.S)


def commands() -> list[list[str]]:
    out = []
    for block in blocks("sh"):
        for line in block.splitlines():
            argv = shlex.split(line, comments=True)
            if argv:
                assert argv[0] in (".venv/bin/tradeloom", "tradeloom"), line
                out.append(argv[1:])
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readme_ml")
    shutil.copytree(REPO / "examples", root / "examples")
    (root / "research").mkdir()
    shutil.copytree(REPO / "research" / "strategies", root / "research" / "strategies")
    sample_store(root / "catalog")  # also loaded by the section's first command: idempotent
    return root


@pytest.fixture(autouse=True)
def _env(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clictx.set_catalog(None)
    monkeypatch.setenv(clictx.ENV_CATALOG, str(workdir / "catalog"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(workdir)


def test_the_section_shows_commands_and_an_example():
    names = [argv[0] for argv in commands()]
    assert {"train", "retrain", "models", "schedule", "backtest"} <= set(names)
    assert len(blocks("python")) == 1


def test_every_command_runs(workdir: Path):
    runner = CliRunner()
    outputs = {}
    for argv in commands():
        res = runner.invoke(app, argv)
        assert res.exit_code == 0, f"tradeloom {' '.join(argv)} failed:\n{res.output}"
        outputs[" ".join(argv[:2])] = res.stdout
    reg = ModelRegistry(workdir / "catalog")
    assert (workdir / "runs" / "btc_dir.html").is_file()
    assert {v.ref for v in reg.list_versions()} >= {"btc_dir@1", "btc_dir@2", "btc_meta@1"}
    assert "CRON_TZ=UTC" in outputs["schedule examples/ml/schedule.toml"]
    meta = reg.get("btc_meta@1")
    assert meta.label["primary"] == {"rule": "sma_cross", "params": {"fast": 12, "slow": 48}}
    assert meta.scores["cpcv"]["n_paths"] == 5 and len(meta.scores["cpcv"]["paths"]) == 5


def test_the_python_example_runs_and_prints_what_its_comments_say(workdir: Path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks("python")[0], "README.md", "exec"), {"__name__": "readme"})
    text = out.getvalue()
    assert "[0.61111111 0.44444444 0.61111111]" in text
    assert "[5. 3. 6.]" in text
    assert "[ 1.     -0.5    -0.125  -0.0625]" in text
    assert "0.2 {'p_value':" in text
    assert "15 5" in text
