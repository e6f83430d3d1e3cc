"""The README's paper/live path, as a first-time user runs it, against the venue-faithful
Binance emulator (real ccxt client, 127.0.0.1 only; ``--api-url``/``--ws-url`` are the
only additions to the examples as written):

- ``tradeloom doctor examples/live.toml``: good keys pass; a bad signature, a skewed
  clock and a missing market each fail at their check with what to fix;
- ``tradeloom paper examples/paper.toml`` and ``tradeloom live examples/live.toml
  --confirm-live`` (no ``run_id`` in either) start, publish, journal and stop cleanly
  on SIGINT; live refuses while the deployment is not promoted to live;
- ``tradeloom kill examples/live.toml`` stops the running live session and prints the
  count it confirmed;
- ``--restart-on-crash``: a SIGKILLed runner comes back and reconciles first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner
from venues.testing import API_KEY, SECRET

from tradeloom.adapters.live.journal import read_journal
from tradeloom.cli.main import app
from tradeloom.research.promotion.config import load_deployment
from tradeloom.research.promotion.deployments import Action, DeploymentStore
from tradeloom.research.promotion.lifecycle import Stage

pytest_plugins = ["venues.fixtures"]

ROOT = Path(__file__).resolve().parents[2]
ENV = {"TRADELOOM_API_KEY": API_KEY, "TRADELOOM_API_SECRET": SECRET}


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A scratch directory with the repository's examples, as a user's working copy."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def doctor(emu, *args, env=ENV):
    return CliRunner().invoke(app, ["doctor", *args, "--json", "--api-url", emu.api_url],
                              env=env, catch_exceptions=False)


def checks(result) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in json.loads(result.output)["checks"]}


def test_doctor_passes_good_keys_and_names_each_problem(binance, checkout):
    good = doctor(binance, "examples/live.toml")
    found = checks(good)
    assert good.exit_code == 0, good.output
    assert [found[n]["status"] for n in ("connection", "markets", "clock", "credentials",
                                         "authentication", "permissions", "rate limit")] == \
        ["ok"] * 7
    assert "BTC/USDT tick 0.01" in found["markets"]["detail"]
    assert found["key age"]["status"] == "warn" and "key_created" in found["key age"]["fix"]
    assert API_KEY not in good.output and SECRET not in good.output

    bad = doctor(binance, "examples/live.toml", env={**ENV, "TRADELOOM_API_SECRET": "nope"})
    found = checks(bad)
    assert bad.exit_code == 1 and found["authentication"]["status"] == "fail"
    assert "-1022" in found["authentication"]["detail"]
    assert "check the key and secret" in found["authentication"]["fix"]
    assert found["permissions"]["status"] == "skipped"

    binance.clock_offset_ms = 5_000  # the exchange's clock 5 s ahead of ours
    skewed = doctor(binance, "examples/live.toml")
    found = checks(skewed)
    binance.clock_offset_ms = 0
    assert skewed.exit_code == 1 and found["clock"]["status"] == "fail"
    assert "limit 1000 ms" in found["clock"]["detail"]
    assert "synchronise the system clock" in found["clock"]["fix"]

    doge = checkout / "doge.toml"
    doge.write_text((ROOT / "examples" / "live.toml").read_text().replace(
        'symbols = ["BTC/USDT"]', 'symbols = ["DOGE/USDT"]'))
    missing = doctor(binance, str(doge))
    found = checks(missing)
    assert missing.exit_code == 1 and found["markets"]["status"] == "fail"
    assert "DOGE/USDT" in found["markets"]["detail"]
    assert found["clock"]["status"] == "skipped"


# --------------------------------------------------------------------------- sessions

def _promote_to_live(catalog: Path) -> None:
    """The registry as after ``tradeloom promote sma-btc --to live`` (gates are tested in
    test_deployments.py; here only the stage matters)."""
    store = DeploymentStore(catalog)
    spec = load_deployment(ROOT / "examples" / "deployments" / "sma-btc.toml")
    store.register(spec, source="examples/deployments/sma-btc.toml", when_ms=1, by="ana")
    for i, (frm, to) in enumerate(((Stage.RESEARCH, Stage.BACKTEST_APPROVED),
                                   (Stage.BACKTEST_APPROVED, Stage.PAPER),
                                   (Stage.PAPER, Stage.LIVE))):
        store.transition("sma-btc", expect=frm, to=to, action=Action.PROMOTE, when_ms=2 + i,
                         by="ana", reason="test set-up", evidence={}, gates=[])


def _start(args: list[str], cwd: Path, catalog: Path) -> subprocess.Popen[str]:
    env = {**os.environ, **ENV, "TRADELOOM_CATALOG": str(catalog)}
    return subprocess.Popen([sys.executable, "-m", "tradeloom", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait(predicate, what: str, proc: subprocess.Popen[str], timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"{what}: the process ended early:\n{proc.stdout.read()}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"{what}: not within {timeout} s:\n{proc.stdout.read()}")


def _sessions(state: Path) -> list[dict]:
    path = state / "sessions.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _started(journal: Path) -> bool:
    return journal.is_file() and any(r.kind == "start" for r in read_journal(journal))


def _running_pid(state: Path, run_id: str) -> int | None:
    path = state / "status" / f"{run_id}.json"
    if not path.is_file():
        return None
    status = json.loads(path.read_text())
    return int(status["pid"]) if status["state"] == "running" else None


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out


def _paper_until_started(config: str, server, checkout: Path, state_name: str
                         ) -> tuple[dict, Path]:
    """``tradeloom paper CONFIG`` against ``server``, stopped (SIGINT) once its session
    started; its registry entry and journal. The exit code must be 0."""
    proc = _start(["paper", config, "--api-url", server.api_url, "--ws-url", server.ws_url],
                  checkout, checkout / "catalog")
    state = checkout / "state" / state_name
    try:
        (entry,) = _wait(lambda: _sessions(state), "paper session registered", proc)
        journal = checkout / entry["journal"]
        _wait(lambda: _started(journal), "paper session started", proc)
    finally:
        code, out = _stop(proc)
    assert code == 0, out
    return entry, journal


def test_paper_example_starts_without_a_run_id_and_stops_cleanly(binance, checkout):
    entry, journal = _paper_until_started("examples/paper.toml", binance, checkout, "paper")
    state = checkout / "state" / "paper"
    assert entry["run_id"].startswith("p") and entry["mode"] == "paper"
    assert journal.parent == state / "journals" and journal.name.startswith(entry["run_id"])
    assert read_journal(journal)[-1].kind == "end"
    status = json.loads((state / "status" / f"{entry['run_id']}.json").read_text())
    assert (status["state"], status["stopped_cleanly"]) == ("stopped", True)


def test_live_example_runs_only_promoted_then_kill_and_a_clean_stop(binance, checkout):
    catalog = checkout / "catalog"
    args = ["live", "examples/live.toml", "--confirm-live", "--api-url", binance.api_url,
            "--ws-url", binance.ws_url]
    refused = _start(args, checkout, catalog)
    out, _ = refused.communicate(timeout=60)
    assert refused.returncode == 2 and "live trading refused: no deployment named 'sma-btc'" \
        in out
    assert "--override-promotion" in out and not (checkout / "state").exists()

    _promote_to_live(catalog)
    proc = _start(args, checkout, catalog)
    state = checkout / "state" / "live"
    try:
        (entry,) = _wait(lambda: _sessions(state), "live session registered", proc)
        journal = checkout / entry["journal"]
        _wait(lambda: _started(journal), "live session started", proc)
        _wait(lambda: _running_pid(state, entry["run_id"]), "status published", proc)
        kill = CliRunner().invoke(app, ["kill", "examples/live.toml", "--wait", "30"],
                                  catch_exceptions=False)
    finally:
        code, out = _stop(proc)
    assert code == 0, out
    assert kill.exit_code == 0, kill.output
    assert f"runner {entry['run_id']} (account binance-main): 0 orders cancelled in" in \
        kill.output
    assert entry["run_id"].startswith("l") and "deployment 'sma-btc'" in out
    kinds = [r.kind for r in read_journal(journal)]
    assert {"session", "reconcile", "start", "kill", "kill_done", "end"} <= set(kinds)


def test_restart_on_crash_brings_a_killed_runner_back_and_it_reconciles(binance, checkout):
    catalog = checkout / "catalog"
    _promote_to_live(catalog)
    binance.set_balance(API_KEY, "BTC", "0.01")
    proc = _start(["live", "examples/live.toml", "--confirm-live", "--restart-on-crash",
                   "--api-url", binance.api_url, "--ws-url", binance.ws_url], checkout,
                  catalog)
    state = checkout / "state" / "live"
    try:
        (first,) = _wait(lambda: _sessions(state), "first session", proc)
        pid = _wait(lambda: _running_pid(state, first["run_id"]), "first runner up", proc)
        os.kill(pid, signal.SIGKILL)  # the OOM killer, a segfault: no clean end
        second = _wait(lambda: _sessions(state)[1:], "the restarted session", proc)[0]
        journal = checkout / second["journal"]
        _wait(lambda: _started(journal), "the restart started", proc)
    finally:
        code, out = _stop(proc, signal.SIGTERM)
    assert code == 0, out
    assert "killed by signal 9 (SIGKILL); restart 1 in 1.0 s" in out
    assert second["run_id"] == first["run_id"]  # the same state, resumed
    records = read_journal(journal)
    recon = [r.payload for r in records if r.kind == "reconcile"]
    assert recon and recon[0]["ok"]
    kinds = [r.kind for r in records]
    first_trade = next((i for i, k in enumerate(kinds) if k in ("bar", "submit")), len(kinds))
    assert kinds.index("reconcile") < first_trade  # reconciled before any decision
    session = next(r.payload for r in records if r.kind == "session")
    assert session["positions"] == {"BTC/USDT": 0.01}  # what the exchange holds
    restart = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in restart].count("restart") == 1


def _paper_example(config: str, server, futures, checkout: Path, state_name: str) -> list:
    """``_paper_until_started`` while the USDⓈ-M venue ``futures`` keeps its clock on
    wall time, as a real venue's is; the journal's records."""
    import threading

    futures.set_time(int(time.time() * 1000))
    futures.set_price("BTC/USDT:USDT", "30000")
    done = threading.Event()

    def wall_clock() -> None:
        while not done.wait(0.2):
            futures.set_time(int(time.time() * 1000))

    ticker = threading.Thread(target=wall_clock, daemon=True)
    ticker.start()
    try:
        _, journal = _paper_until_started(config, server, checkout, state_name)
    finally:
        done.set()
        ticker.join()
    return read_journal(journal)


def test_paper_perps_example_starts_on_the_futures_emulator_and_stops_cleanly(checkout):
    """``tradeloom paper examples/paper_perps.toml`` against the Binance USDⓈ-M emulator:
    markets with their contract, the [perps] settings in force, and a clean stop."""
    from venues.binance_usdm import BinanceUsdmEmulator

    with BinanceUsdmEmulator(["BTC/USDT:USDT"]) as usdm:
        records = _paper_example("examples/paper_perps.toml", usdm, usdm, checkout,
                                 "paper-perps")
    session = next(r.payload for r in records if r.kind == "session")
    contract = session["markets"]["BTC/USDT:USDT"]["contract"]
    assert session["exchange"] == "binanceusdm" and contract["settle"] == "USDT"
    assert session["perps"] == {"margin_mode": "isolated", "leverage": {"BTC/USDT:USDT": 3.0}}
    settings = next(r.payload for r in records if r.kind == "perp_settings")
    assert settings["symbols"]["BTC/USDT:USDT"] == {"leverage": 3.0, "margin_mode": "isolated"}
    assert records[-1].kind == "end"


def test_paper_carry_example_starts_on_one_client_for_spot_and_the_perpetual(checkout):
    """``tradeloom paper examples/paper_carry.toml`` against the emulator serving Binance
    spot and USDⓈ-M on one server: both markets load on one ccxt.binance client, the
    perpetual with its contract, the spot leg without, and the session stops cleanly."""
    from venues.binance_usdm.combined import BinanceSpotPerpEmulator

    with BinanceSpotPerpEmulator(["BTC/USDT"], ["BTC/USDT:USDT"]) as both:
        records = _paper_example("examples/paper_carry.toml", both, both.perp, checkout,
                                 "paper-carry")
    session = next(r.payload for r in records if r.kind == "session")
    assert session["exchange"] == "binance" and session["symbols"] == ["BTC/USDT",
                                                                       "BTC/USDT:USDT"]
    markets = session["markets"]
    assert markets["BTC/USDT"].get("contract") is None
    assert markets["BTC/USDT:USDT"]["contract"]["settle"] == "USDT"
    settings = next(r.payload for r in records if r.kind == "perp_settings")
    assert settings["symbols"]["BTC/USDT:USDT"] == {"leverage": 2.0, "margin_mode": "cross"}
    assert records[-1].kind == "end"
