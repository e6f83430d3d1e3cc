"""The research notebooks run top to bottom on the bundled sample, and are committed clean.

Each notebook is executed with nbclient (a fresh ``python3`` kernel whose working
directory is ``notebooks/``); any cell error fails the test with the cell's
traceback. Each must finish within ``TIMEOUT_S``. Outputs must not be committed:
``execution_count`` null and no outputs in every code cell (clear them with
``jupyter nbconvert --clear-output --inplace notebooks/*.ipynb``).
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
TIMEOUT_S = 60


def test_the_issue_notebooks_exist():
    names = {p.stem for p in NOTEBOOKS}
    assert {"01_quickstart", "02_sweep", "03_custom_strategy", "06_optimize_overfitting"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("TRADELOOM_CATALOG", raising=False)  # the bundled sample in a temporary catalog
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}
    )
    started = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{exc}", pytrace=False)
    elapsed = time.perf_counter() - started
    assert elapsed < TIMEOUT_S, f"{path.name} took {elapsed:.0f} s; notebooks must run in under a minute"


def test_the_notebook_extra_installs_jupyterlab_and_what_the_notebooks_import():
    import tomllib

    extras = tomllib.loads((NOTEBOOKS_DIR.parent / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    names = " ".join(extras["notebook"])
    assert "jupyterlab" in names and "ipykernel" in names
    assert "tradeloom[report,optimize,ml]" in extras["notebook"]


@pytest.mark.slow
def test_a_notebook_works_in_the_catalog_tradeloom_catalog_names(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch):
    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.app.sample import load_sample

    catalog = tmp_path / "my catalog"
    load_sample(MarketStore(catalog))
    monkeypatch.setenv("TRADELOOM_CATALOG", str(catalog))
    path = NOTEBOOKS_DIR / "01_quickstart.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}).execute()
    first = next(c for c in nb.cells if c.cell_type == "code")
    shown = first.outputs[-1]["data"]["text/plain"]
    assert str(catalog) in shown  # the notebook's catalog is the one the variable names
    # the last cell cleans up its reports but leaves a catalog that is not its own
    assert {d.symbol for d in MarketStore(catalog).list_datasets()} >= {"BTC/USDT"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} have outputs or an execution count; clear them with "
        f"jupyter nbconvert --clear-output --inplace {path.relative_to(NOTEBOOKS_DIR.parent)}"
    )
