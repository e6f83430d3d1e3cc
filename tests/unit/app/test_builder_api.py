"""The strategy builder's API in ``tradeloom serve``: token rules, JSON-only writes, problems
with field paths, saving into the rules folder, a backtest with its report."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sweep_helpers import make_store

from tradeloom.research.backtest import run_backtest
from tradeloom.research.rules.document import to_document
from tradeloom.research.rules.files import EXAMPLES, read_rule_file
from tradeloom.serve.server import ServerSettings, make_app

TOKEN = "s3cr3t-token-0123456789abcdef"
SMA = to_document(read_rule_file(EXAMPLES / "sma_cross.toml"))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("builder_catalog")
    make_store(root)
    return root


def call(settings, requests):
    async def main():
        async with TestClient(TestServer(make_app(settings), host="127.0.0.1")) as client:
            return await requests(client)

    return asyncio.run(main())


def test_the_token_guards_the_builder_and_its_api(tmp_path: Path, catalog: Path) -> None:
    settings = ServerSettings(tmp_path, token=TOKEN, catalog=catalog, rules_dir=tmp_path / "rules")

    async def requests(c):
        page = await c.get("/builder")
        api = await c.get("/api/builder/meta")
        ok = await c.get("/api/builder/meta", headers={"Authorization": f"Bearer {TOKEN}"})
        return page.status, await page.text(), api.status, ok.status

    page, text, api, ok = call(settings, requests)
    assert page == 401 and 'name="next" value="/builder"' in text  # the login form comes back here
    assert api == 401 and ok == 200


def test_writes_must_be_same_origin_json(tmp_path: Path, catalog: Path) -> None:
    settings = ServerSettings(tmp_path, catalog=catalog, rules_dir=tmp_path / "rules")

    async def requests(c):
        form = await c.post("/api/builder/save", data={"name": "x"})
        cross = await c.post("/api/builder/save", json={"document": SMA, "name": "x"},
                             headers={"Origin": "http://evil.example"})
        return form.status, cross.status

    assert call(settings, requests) == (415, 403)
    assert not (tmp_path / "rules").exists()


def test_validation_lists_problems_by_field_path_and_the_toml(tmp_path: Path, catalog: Path) -> None:
    settings = ServerSettings(tmp_path, catalog=catalog, rules_dir=tmp_path / "rules")
    bad = copy.deepcopy(SMA)
    bad["entry"]["when"]["right"] = "slwo"

    async def requests(c):
        good = await (await c.post("/api/builder/validate", json={"document": SMA})).json()
        wrong = await (await c.post("/api/builder/validate", json={"document": bad})).json()
        return good, wrong

    good, wrong = call(settings, requests)
    assert good["ok"] and good["toml"].startswith('name = "SmaCross"') and good["problems"] == []
    assert not wrong["ok"] and wrong["problems"] == [{
        "path": "entry.when.right",
        "message": "'slwo' is not an indicator of this file (fast, slow) nor a bar field (open, "
                   "high, low, close, volume); did you mean 'slow'?"}]
    assert 'right = "slwo"' in wrong["toml"]  # the file the form would write, problems and all


def test_save_writes_the_rules_folder_and_refuses_bad_names(tmp_path: Path, catalog: Path) -> None:
    rules = tmp_path / "rules"
    settings = ServerSettings(tmp_path, catalog=catalog, rules_dir=rules)

    async def requests(c):
        saved = await c.post("/api/builder/save", json={"document": SMA, "name": "my_cross"})
        escape = await c.post("/api/builder/save", json={"document": SMA, "name": "../x"})
        files = await (await c.get("/api/builder/files")).json()
        loaded = await (await c.get("/api/builder/file?source=rules&name=my_cross.toml")).json()
        return saved.status, await saved.json(), escape.status, await escape.json(), files, loaded

    status, body, esc_status, esc_body, files, loaded = call(settings, requests)
    assert status == 200 and body["path"] == str(rules / "my_cross.toml")
    assert read_rule_file(rules / "my_cross.toml") == read_rule_file(EXAMPLES / "sma_cross.toml")
    assert esc_status == 400 and "use letters, digits, _ and -" in esc_body["error"]
    assert {"source": "rules", "name": "my_cross.toml"} in files["files"]
    assert loaded["document"] == SMA


def test_a_backtest_returns_metrics_and_serves_its_report(tmp_path: Path, catalog: Path) -> None:
    settings = ServerSettings(tmp_path, catalog=catalog, rules_dir=tmp_path / "rules")

    async def requests(c):
        run = await (await c.post("/api/builder/backtest",
                                  json={"document": SMA, "start": "2021-01-01", "end": "2021-03-01"})).json()
        report = await c.get(run["report_url"])
        return run, report.status, report.headers["Content-Security-Policy"], await report.text()

    run, status, csp, html = call(settings, requests)
    ref = run_backtest("research/strategies/sma_cross.py:SmaCross", "BTC/USDT", "1h", "2021-01-01",
                       "2021-03-01", {"fast": 10, "slow": 50}, catalog)
    assert run["ok"] and run["trades"] == len(ref.trades) == 18
    assert run["metrics"]["total_return"] == ref.metrics["total_return"]
    assert status == 200 and "default-src 'none'" in csp and "js-plotly-plot" in html
