"""``LiveConfig``: one strict, frozen model for ``tradeloom paper`` and ``tradeloom live``.

A config never holds credentials. Any key that looks like one (``api_key``,
``apiKey``, ``secret``, ``password``, ``private_key``, ``token``...), anywhere in the
file (``exchange.options`` included), is refused with a ``ConfigError`` that names
the key and never repeats its value. Credentials come from environment variables
(names in ``[credentials]``, defaults ``TRADELOOM_API_KEY``/``TRADELOOM_API_SECRET``)
or from a ``secrets_file`` (TOML with ``api_key``, ``secret``, optional
``password``; must not be readable by group or others).

Example ``paper.toml``::

    strategy = "research/strategies/sma_cross.py:SmaCross"
    symbols = ["BTC/USDT"]
    timeframe = "1h"
    risk_profile = "moderate"
    account = "binance-main"
    state_dir = "state"

    [params]
    fast = 10
    slow = 50

    [exchange]
    id = "binance"

    [paper]
    initial_cash = 10000.0

A portfolio of strategies sharing the account replaces ``strategy``/``params``/``symbols``
with ``[[sleeve]]`` tables (``tradeloom.research.portfolio``: strategy, params, symbols,
budget_pct and optional caps per sleeve); the session adds their budgets and caps to the
risk engine.

Operations (both optional):

- ``audit_log``: the append-only audit log (``adapters.audit``) where the runner
  records kills (flag file, status page, API) and restarts (a session opened in a
  ``state_dir`` that already had one). Default ``<state_dir>/audit.jsonl``; point it at
  the deployments' log (``<catalog>/audit.jsonl``, what ``tradeloom promote`` writes)
  to keep promotions and kills in one chain. Check it with ``tradeloom audit verify``.
- ``alerts``: an alerts TOML (``tradeloom.adapters.ops.alerts_config``: sinks, de-duplication,
  escalation). With it, breaker trips, the kill switch, stale data, clock drift,
  reconciliation mismatches and repeated errors (``runner.error_alert_after`` in a
  row) are sent to its sinks; a failing sink is logged and never stops trading.
  Without it, those events are only logged, journaled and shown in the status.

Fees and order updates (both optional):

- ``[fee_asset]`` ``asset = "BNB"`` (``discount = 0.25``): the account pays fees with
  BNB. Live books whatever the venue charged (the coin received, USDT or BNB) and holds
  the BNB balance valued at its market; paper and replay charge it as the venue does.
  Without it, a live fill charged in BNB stops trading with a message naming this
  setting. ``exchange.fee_side`` overrides the fee side ccxt reports for the markets.
- ``runner.user_stream = "auto"`` (default): order updates pushed by the venue
  (ccxt.pro ``watch_my_trades``/``watch_orders``), polling as the fallback; ``"off"``:
  polling only.

A reconciliation mismatch refuses new entries until it is explained or a person
accepts the exchange's state: ``tradeloom reconcile CONFIG --accept`` (audited).

Perpetual swaps (``symbols = ["BTC/USDT:USDT"]``) need the venue's derivatives client:
``[exchange] id = "binanceusdm"`` (``market_type`` then defaults to ``swap``; a perpetual
on a spot client is refused unless the client loads linear markets too: Binance
``fetchMarkets`` types ``["spot", "linear"]``, spot and perpetuals on one client, as
``FundingCarry`` needs). ``[perps]``: ``margin_mode`` (``isolated``/``cross``, every
perpetual) and ``[perps.leverage]`` (per symbol), applied before the strategy's
``on_start`` - live sets them on the venue first and refuses to start when the venue
refuses (``app.session.venue_perp_settings``). Funding, positions, reconciliation and
liquidations: README "Perpetual futures" and ``adapters.ccxt.funding`` /
``adapters.ccxt.positions``.

Market data and universe (both optional):

- ``runner.trades = true``: public trades (ccxt.pro ``watch_trades``) reach the strategy's
  ``on_trade`` as ``TradeTick`` events, ordered before the bar closing at the same time;
  paper orders resting in the simulated broker fill at the tick. ``runner.feed =
  "trades"`` builds the bars themselves from trades (``adapters.trade_feed``);
  ``"auto"`` picks it for an exchange with ``watch_trades`` but no ``watch_ohlcv``.
- ``[universe]``: ``path = "universe.toml"`` or ``[universe.rules]`` inline, and
  ``refresh_every = "1d"``; new entries only on symbols in the current universe,
  recomputed from the store (``adapters.universe_gate``; needs a ``risk_profile``).

>>> cfg = LiveConfig(strategy="s.py:S", symbols=["BTC/USDT"], exchange={"id": "binance"})
>>> cfg.runner.kill_poll_s, cfg.credentials.api_key_env
(1.0, 'TRADELOOM_API_KEY')
>>> LiveConfig(strategy="s.py:S", symbols=["BTC/USDT"], exchange={"id": "binance"},
...            api_key="abc")
Traceback (most recent call last):
...
tradeloom.engine.errors.ConfigError: config key 'api_key' looks like a credential; credentials never go in a config file - set the environment variables named in [credentials] (default TRADELOOM_API_KEY / TRADELOOM_API_SECRET) or name a secrets_file
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tradeloom.adapters.ccxt.exchange import Credentials, ExchangeSettings
from tradeloom.adapters.config.files import load_config, read_config_file, validate_config
from tradeloom.adapters.live.state import check_run_id
from tradeloom.adapters.secrets import reject_credentials
from tradeloom.engine.config import StrictModel, Symbols, Timeframe
from tradeloom.engine.contracts import is_perp_symbol
from tradeloom.engine.errors import ConfigError
from tradeloom.research.portfolio import portfolio_fields
from tradeloom.research.universe.tiers import UniverseConfig


class CredentialSource(StrictModel):
    """Where live credentials come from: a secrets file, else environment variables.

    ``key_created`` (a date) and ``rotate_after_days`` drive the key-age warning
    (``app.key_rotation``); a secrets file may carry ``created = YYYY-MM-DD`` instead.
    """

    secrets_file: Path | None = None
    api_key_env: str = "TRADELOOM_API_KEY"
    secret_env: str = "TRADELOOM_API_SECRET"
    password_env: str | None = None
    key_created: dt.date | None = Field(None, description="when the API key was created")
    rotate_after_days: int = Field(90, ge=1, le=3_650,
                                   description="warn when the key is older than this")


class RunnerSection(StrictModel):
    """Runner scheduling and safety thresholds (see ``adapters/live/runner.py``)."""

    feed: Literal["auto", "poll", "watch", "trades"] = "poll"
    poll_delay_ms: int = Field(1_500, ge=0, le=60_000)
    retry_delay_ms: int = Field(1_000, ge=50, le=60_000)
    kill_poll_s: float = Field(1.0, gt=0, le=5.0)
    drift_check_s: float = Field(300.0, gt=0)
    max_drift_ms: int = Field(1_000, gt=0)
    broker_poll_s: float = Field(1.0, gt=0, le=60.0)
    cancel_timeout_s: float = Field(10.0, gt=0, le=60.0)
    warmup_min_bars: int = Field(0, ge=0, le=10_000)
    #: Live: reconcile with the exchange on start and every this many seconds.
    reconcile_every_s: float = Field(300.0, gt=0)
    #: A ``repeated_errors`` alert after this many errors with no good bar in between.
    error_alert_after: int = Field(3, ge=1, le=1_000)
    #: Public trades as ``TradeTick`` events (``watch_trades``; the strategy's ``on_trade``,
    #: paper resting orders matched at the tick); journaled as ``trade`` records.
    trades: bool = False
    #: Reload the exchange's markets (tick/lot sizes, minimums) this often; 0: never.
    markets_ttl_s: float = Field(3_600.0, ge=0)
    #: Live: order updates pushed by the venue's user-data stream (ccxt.pro
    #: ``watch_my_trades``/``watch_orders``) where it has one; polling stays the fallback.
    #: ``off``: polling only.
    user_stream: Literal["auto", "off"] = "auto"


class UniverseSection(StrictModel):
    """Universe gating (``adapters.universe_gate``): entries only inside the universe.

    Exactly one of ``path`` (a universe TOML, ``research.universe.UniverseConfig`` keys)
    or ``rules`` (the same keys inline, ``[universe.rules]``).
    """

    path: Path | None = None
    rules: UniverseConfig | None = None
    refresh_every: Timeframe = "1d"

    @model_validator(mode="after")
    def _one_source(self) -> UniverseSection:
        if (self.path is None) == (self.rules is None):
            raise ValueError("set exactly one of universe.path (a universe TOML) or "
                             "[universe.rules] (the rules inline)")
        return self

    def load(self) -> UniverseConfig:
        """The rules (read from ``path`` when given)."""
        if self.rules is not None:
            return self.rules
        assert self.path is not None  # _one_source
        if not self.path.is_file():
            raise ConfigError(f"universe.path {self.path} does not exist; point it at a universe "
                              "TOML (the keys of `tradeloom universe --config`)")
        return load_config(UniverseConfig, self.path)


class PaperSection(StrictModel):
    """Virtual balance of a paper session (the quote currency of the symbols)."""

    initial_cash: float = Field(10_000.0, gt=0)


class FeeAssetSection(StrictModel):
    """The account pays trading fees with a third asset (Binance: "use BNB to pay fees").

    Paper charges fees in ``asset`` at ``discount`` when enough of it is held (so the
    run must trade ``<asset>/<quote>``, whose bars value it); live books what the venue
    charged and values ``asset`` at its mark, else at the venue's order book. Without
    this section a live fill charging a fee in another asset stops trading with a
    message naming the setting.
    """

    asset: str = Field(pattern=r"^[A-Z0-9]{1,16}$", description="e.g. 'BNB'")
    discount: float = Field(0.25, ge=0.0, lt=1.0)


class PerpsSection(StrictModel):
    """Leverage and margin mode of the perpetual symbols, set on the venue at start.

    ``margin_mode`` applies to every perpetual of the config, ``leverage`` per symbol
    (``[perps.leverage]`` ``"BTC/USDT:USDT" = 3``). Both are applied before the
    strategy's ``on_start``, whose own ``ctx.set_leverage``/``ctx.set_margin_mode``
    calls come after and win. Unset: the strategy's calls only (and, for a symbol it
    does not set, the venue's current setting stays; paper uses the engine's default,
    1x cross).
    """

    margin_mode: Literal["isolated", "cross"] | None = None
    leverage: dict[str, float] = Field(default_factory=dict)

    @field_validator("leverage")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not v >= 1.0}
        if bad:
            raise ValueError(f"perps.leverage {bad}: leverage must be >= 1 (the venue's "
                             "brackets set the maximum per symbol)")
        return value


class LiveConfig(StrictModel):
    """Everything a paper or live session needs (see the module docstring)."""

    strategy: str = Field(description="'path/to/file.py:Class' or 'package.module:Class'")
    params: dict[str, Any] = Field(default_factory=dict)
    symbols: Symbols
    timeframe: Timeframe = "1h"
    exchange: ExchangeSettings
    account: str = Field("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    risk_profile: str | None = None
    credentials: CredentialSource = Field(default_factory=CredentialSource)
    state_dir: Path = Path("state")
    journal: Path | None = None
    store: Path | None = Field(None, description="market store for warm-up; None: the catalog")
    run_id: str | None = Field(None, description="1-16 lowercase letters or digits; None: "
                               "the account's stored id, else one derived from the exchange, "
                               "account and strategy (see LiveConfig.resolved_run_id)")
    seed: int = 0
    runner: RunnerSection = Field(default_factory=RunnerSection)
    paper: PaperSection = Field(default_factory=PaperSection)
    perps: PerpsSection = Field(default_factory=PerpsSection)
    fee_asset: FeeAssetSection | None = Field(
        None, description="the account pays fees with this asset (BNB); None: it does not")
    audit_log: Path | None = Field(None, description="audit log; None: <state_dir>/audit.jsonl")
    alerts: Path | None = Field(None, description="alerts config (TOML); None: no alert sinks")
    universe: UniverseSection | None = Field(None, description="trade only the current universe")
    deployment: str | None = Field(None, description="the registered deployment this config "
                                   "runs; live checks it is promoted to live (None: any "
                                   "live deployment that matches)")

    @property
    def audit_log_path(self) -> Path:
        """``audit_log``, else ``<state_dir>/audit.jsonl``."""
        return self.audit_log if self.audit_log is not None else self.state_dir / "audit.jsonl"

    @model_validator(mode="after")
    def _perps_on_a_swap_client(self) -> LiveConfig:
        """Perpetual symbols (``BTC/USDT:USDT``) need the venue's derivatives client:
        ``exchange.market_type = "swap"`` (``binanceusdm`` implies it)."""
        perps = [s for s in self.symbols if is_perp_symbol(s)]
        types = (self.exchange.ccxt_options().get("fetchMarkets") or {}).get("types") or []
        if perps and self.exchange.market_type == "spot" and "linear" not in types:
            raise ValueError(
                f"{perps} are perpetual swaps but exchange.market_type is 'spot' "
                f"({self.exchange.id!r}); use the venue's futures client (exchange.id = "
                "'binanceusdm' for Binance USDⓈ-M), set exchange.market_type = 'swap', or "
                "load both kinds of markets on one client (Binance: [exchange.options."
                "fetchMarkets] types = [\"spot\", \"linear\"])")
        unknown = sorted(set(self.perps.leverage) - set(perps))
        if unknown:
            raise ValueError(f"perps.leverage names {unknown}, which are not perpetual symbols "
                             f"of this config (perpetuals: {perps})")
        return self

    @field_validator("run_id")
    @classmethod
    def _run_id_rule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_run_id(value)  # the state store's rule, not a copy of it
        except ConfigError as exc:
            raise PydanticCustomError("run_id", str(exc)) from None

    @model_validator(mode="before")
    @classmethod
    def _no_credentials(cls, data: Any) -> Any:
        reject_credentials(data)  # raises ConfigError itself: pydantic would echo the value
        return data

    @model_validator(mode="before")
    @classmethod
    def _sleeves(cls, data: Any) -> Any:
        """``[[sleeve]]`` tables become the portfolio strategy, its params and symbols."""
        if not isinstance(data, dict):
            return data
        try:
            return portfolio_fields(data, "sleeve")
        except ConfigError as exc:  # reported by pydantic, so with the file's name
            raise ValueError(str(exc)) from None


def load_live_config(path: Path | str) -> LiveConfig:
    """Read and validate a paper/live config file (credential keys refused first)."""
    data = read_config_file(path)
    try:
        reject_credentials(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return validate_config(LiveConfig, data, str(path))


def load_credentials(source: CredentialSource, environ: Mapping[str, str] | None = None,
                     *, base_dir: Path | None = None) -> Credentials:
    """Credentials from ``source.secrets_file`` or the environment; ``ConfigError`` if absent."""
    env = os.environ if environ is None else environ
    if source.secrets_file is not None:
        path = source.secrets_file
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        if not path.is_file():
            raise ConfigError(f"secrets_file {path} does not exist; create it (TOML with api_key "
                              "and secret, chmod 600) or use environment variables")
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"secrets_file {path} is readable by other users "
                              f"(mode {stat.filemode(mode)}); run: chmod 600 {path}")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError:
            raise ConfigError(f"secrets_file {path} is not valid TOML; expected lines "
                              "api_key = \"...\" and secret = \"...\"") from None
        key, secret = data.get("api_key"), data.get("secret")
        missing = [n for n, v in (("api_key", key), ("secret", secret)) if not v]
        if missing:
            raise ConfigError(f"secrets_file {path} lacks {', '.join(missing)}")
        password = data.get("password")
        return Credentials(str(key), str(secret), None if password is None else str(password))
    key, secret = env.get(source.api_key_env), env.get(source.secret_env)
    if not key or not secret:
        unset = [n for n, v in ((source.api_key_env, key), (source.secret_env, secret)) if not v]
        raise ConfigError(
            f"live trading needs credentials: environment variable(s) {', '.join(unset)} "
            "not set; export them or set credentials.secrets_file in the config")
    password = env.get(source.password_env) if source.password_env else None
    return Credentials(key, secret, password)


__all__ = ["CredentialSource", "FeeAssetSection", "LiveConfig", "PaperSection", "PerpsSection",
           "RunnerSection",
           "UniverseSection", "load_credentials", "load_live_config", "reject_credentials"]
