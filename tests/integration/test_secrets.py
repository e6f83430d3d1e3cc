"""Secrets: one credential-name rule (configs, journals, audit entries) and one redactor
(log records of ccxt's loggers and ours, exception messages); a live session's key and
secret never reach a log record, the journal or the audit log."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import ccxt
import pytest
from runner_helpers import make_config

from tradeloom.adapters.ccxt.exchange import map_ccxt_error
from tradeloom.adapters.live.runner import RunnerSettings
from tradeloom.adapters.secrets import (
    REDACTOR,
    credential_keys,
    is_credential_key,
    redact_secrets_in_logs,
    reject_credentials,
    scrub,
)
from tradeloom.app.session import open_live
from tradeloom.cli.live import ccxt_broker_factory
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.orders import Bar
from tradeloom.engine.strategy.base import Strategy


@pytest.mark.parametrize(("name", "credential"), [
    ("apiKey", True),              # ccxt's config key
    ("api_key", True),
    ("X-MBX-APIKEY", True),        # Binance's header
    ("secret", True),
    ("client_secret", True),
    ("password", True),
    ("passphrase", True),          # OKX
    ("privateKey", True),
    ("auth_token", True),
    ("X-signature", True),
    ("credential", True),
    ("uid", True),
    ("api_key_env", False),        # where a secret comes from, not a secret
    ("secret_env", False),
    ("password_env", False),
    ("token_env", False),
    ("secrets_file", False),
    ("key", False),                # an alert's dedupe key
    ("config_hash", False),
    ("fluid", False),              # uid only as the whole name
    ("liquidity", False),
])
def test_one_rule_names_credentials(name, credential):
    assert is_credential_key(name) is credential


def test_credential_keys_walks_tables_and_lists_with_dotted_paths():
    data = {"exchange": {"id": "binance", "options": {"secret": "s"}},
            "sinks": [{"name": "ops", "password": "p"}], "credentials": {"api_key_env": "K"}}
    assert list(credential_keys(data)) == ["exchange.options.secret", "sinks.password"]


def test_the_credentials_table_is_allowed_but_a_credentials_value_is_not():
    reject_credentials({"credentials": {"secrets_file": "/etc/tl.toml"}})
    with pytest.raises(ConfigError, match="'credentials' looks like a credential"):
        reject_credentials({"credentials": "key:secret"})


def test_a_record_of_ccxts_logger_loses_the_key_and_the_signature():
    redact_secrets_in_logs("tlKEYsecretsA1", "tlSECRETsecretsA2")
    record = logging.LogRecord(
        "ccxt.base.exchange", logging.DEBUG, "", 0, "%s %s, Request: %s %s",
        ("GET", "http://127.0.0.1/api/v3/order?timestamp=1&signature=9f8e7d6c5b4a",
         {"X-MBX-APIKEY": "tlKEYsecretsA1"}, None), None)
    assert REDACTOR in logging.getLogger("ccxt.base.exchange").filters
    assert REDACTOR.filter(record)
    assert record.getMessage() == ("GET http://127.0.0.1/api/v3/order?timestamp=1&signature="
                                   "<redacted>, Request: {'X-MBX-APIKEY': '<redacted>'} None")


def test_a_traceback_carrying_a_secret_is_scrubbed():
    redact_secrets_in_logs("tlSECRETsecretsB1")
    try:
        raise RuntimeError("boom tlSECRETsecretsB1")
    except RuntimeError:
        record = logging.LogRecord("tradeloom.adapters.ccxt.sender", logging.ERROR, "", 0,
                                   "failed", (), sys.exc_info())
    REDACTOR.filter(record)
    text = logging.Formatter().format(record)
    assert "tlSECRETsecretsB1" not in text and "boom <redacted>" in text


def test_every_existing_tradeloom_logger_is_filtered():
    """Filters do not apply to records of child loggers, so each logger gets the filter."""
    logging.getLogger("tradeloom.adapters.live.warmup")
    redact_secrets_in_logs("tlKEYsecretsC1")
    for name in ("tradeloom.adapters.live.warmup", "tradeloom.alerts", "ccxt.base.exchange",
                 "urllib3.connectionpool", "tradeloom.adapters.live.runner"):
        assert REDACTOR in logging.getLogger(name).filters, name


def test_ccxt_errors_lose_registered_secrets_and_signatures():
    redact_secrets_in_logs("tlKEYsecretsD1")
    mapped = map_ccxt_error(ccxt.AuthenticationError(
        "GET /api/v3/account?signature=deadbeef01 key tlKEYsecretsD1 -2015"))
    assert "deadbeef01" not in str(mapped) and "tlKEYsecretsD1" not in str(mapped)
    assert "signature=<redacted>" in str(mapped) and "key <redacted>" in str(mapped)
    assert scrub("nothing secret") == "nothing secret"


class RestingLimit(Strategy):
    """One below-market limit buy on the first bar: a signed order request to the exchange."""

    def on_bar(self, ctx, bar):
        if not ctx.open_orders():
            ctx.buy(bar.symbol, 0.01, price=round(bar.close * 0.95, 2))


def test_a_live_sessions_secrets_reach_no_log_record_journal_or_audit_entry(
        emulator, tmp_path, caplog):
    key, secret = "tlKEYsession7e21", "tlSECRETsession4c90"
    emulator.add_account(key, secret)
    caplog.set_level(logging.DEBUG)
    open_ts = int(emulator.bars("BTC/USDT")["ts"].iloc[300])
    emulator.now_ms = open_ts + 1_000
    cfg = make_config(emulator, tmp_path, strategy=f"{os.path.abspath(__file__)}:RestingLimit",
                      params={}, risk_profile="moderate")
    settings = RunnerSettings(kill_poll_s=1.0, max_drift_ms=10**13, broker_poll_s=1.0,
                              settle_orders=True)

    async def main():
        session = await open_live(cfg, confirm_live=True, broker_factory=ccxt_broker_factory,
                                  environ={"TRADELOOM_API_KEY": key,
                                           "TRADELOOM_API_SECRET": secret},
                                  settings=settings)
        runner = session.runner
        try:
            await runner.start()
            row = emulator.bars("BTC/USDT").iloc[299]
            runner.on_bar(Bar("BTC/USDT", int(row.ts), int(row.ts) + 3_600_000,
                              float(row.open), float(row.high), float(row.low),
                              float(row.close), float(row.volume)))
            logging.getLogger("tradeloom.adapters.live.runner").warning(
                "a careless message with the key %s", key)
            task = asyncio.create_task(runner.run())
            runner.kill("test", actor="ana")  # cancels the order; an audit entry
            for _ in range(1_000):
                if not emulator.trading.open_orders(key):
                    break
                await asyncio.sleep(0.01)
            runner.stop()
            await task
        finally:
            await session.close()
        return session

    session = asyncio.run(main())
    ccxt_records = [r for r in caplog.records if r.name == "ccxt.base.exchange"]
    ours = [r for r in caplog.records if r.name.startswith("tradeloom.")]
    # the exchange requests were logged with their headers, and the key scrubbed from them
    assert any("X-MBX-APIKEY': '<redacted>'" in r.getMessage() for r in ccxt_records)
    assert any("the key <redacted>" in r.getMessage() for r in ours)
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert key not in text and secret not in text, record.name
    journal = session.journal_path.read_text(encoding="utf-8")
    audit = cfg.audit_log_path.read_text(encoding="utf-8")
    assert '"kind":"kill"' in audit and '"kind":"submit"' in journal
    for text in (journal, audit, caplog.text):
        assert key not in text and secret not in text
