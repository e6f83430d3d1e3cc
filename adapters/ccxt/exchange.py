"""Exchange connection settings, the ccxt client factory, and the ccxt edge.

Everything ccxt-specific that more than one adapter needs lives here, once:

- :class:`ExchangeSettings`: which exchange, which market type, where to connect
  (``api_url``/``ws_url`` overrides point the real client at an emulator or a
  proxy), ccxt options. Frozen and strict so it can be embedded in the run config.
- :func:`make_client`: a ccxt (sync), ccxt.async_support or ccxt.pro client (its
  credentials registered with the log redactor, ``adapters.secrets``).
- :func:`market_specs_from_ccxt`: ccxt markets -> :class:`MarketSpec`; no ccxt dict
  crosses into ``engine/``.
- :func:`map_ccxt_error` / :func:`call_ccxt`: ccxt exceptions -> tradeloom errors,
  the original chained; only :class:`TransientExchangeError` is worth retrying.
- :func:`retry_transient`: exponential backoff with jitter, honouring Retry-After.
"""

from __future__ import annotations

import difflib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import ccxt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradeloom.adapters.ccxt.contracts import contract_from_ccxt
from tradeloom.adapters.secrets import redact_secrets_in_logs, scrub
from tradeloom.engine.errors import (
    ConfigError,
    ExchangeAuthenticationError,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    TradeloomError,
    TransientExchangeError,
    UnknownSymbol,
)
from tradeloom.engine.market import FeeSide, MarketSpec

log = logging.getLogger(__name__)

T = TypeVar("T")

MarketType = Literal["spot", "swap", "future"]

# Options that keep Binance's load_markets() to one request (GET /api/v3/exchangeInfo
# for spot) instead of seven, and allow fetch_open_orders() without a symbol.
_BINANCE_MARKET_TYPES: Mapping[str, list[str]] = {
    "spot": ["spot"], "swap": ["linear"], "future": ["linear"],
}


#: ccxt ids of venues that list only derivatives (Binance USDⓈ-M futures): their
#: ``market_type`` defaults to ``swap``.
SWAP_ONLY_EXCHANGES: frozenset[str] = frozenset({"binanceusdm"})


def default_options(exchange_id: str, market_type: MarketType) -> dict[str, Any]:
    """ccxt options tradeloom uses unless ``ExchangeSettings.options`` overrides them.

    >>> default_options("binanceusdm", "swap")["fetchMarkets"]
    {'types': ['linear']}
    """
    options: dict[str, Any] = {"defaultType": market_type}
    if exchange_id == "binanceusdm":  # one request (GET /fapi/v1/exchangeInfo) per load
        options.update({
            "fetchMarkets": {"types": ["linear"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "warnOnFetchOpenOrdersWithoutSymbol": False,
        })
    if exchange_id == "binance":
        options.update({
            "fetchMarkets": {"types": list(_BINANCE_MARKET_TYPES[market_type])},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "warnOnFetchOpenOrdersWithoutSymbol": False,
        })
    return options


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def did_you_mean(name: str, known: list[str] | Mapping[str, Any], n: int = 3) -> str:
    """``" (did you mean 'BTC/USDT'?)"`` for the closest known names, or ``""``.

    >>> did_you_mean("btc/usdtt", ["BTC/USDT", "ETH/USDT"])
    " (did you mean 'BTC/USDT'?)"
    """
    target = name.upper()
    scored = sorted(((difflib.SequenceMatcher(None, target, str(k).upper()).ratio(), str(k))
                     for k in known), key=lambda pair: (-pair[0], pair[1]))
    if not scored or scored[0][0] < 0.6:
        return ""
    best = scored[0][0]
    close = [k for ratio, k in scored[:n] if ratio >= best - 0.05]  # near-ties only
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)"


def _check_base_url(value: str | None, schemes: tuple[str, ...], setting: str) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(
            f"{setting} {value!r} must be an absolute URL with scheme {' or '.join(schemes)} "
            f"and a host, e.g. '{schemes[0]}://127.0.0.1:8080'"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{setting} {value!r} must not have a query string or fragment")
    return value.rstrip("/")


class ExchangeSettings(BaseModel):
    """How to reach one exchange through ccxt.

    ``api_url``/``ws_url`` replace the scheme, host and port of every REST/websocket
    URL ccxt knows for the exchange (``urls['api']``, ``urls['test']``,
    ``urls['demo']``) and keep each URL's path, so
    ``https://api.binance.com/api/v3`` becomes ``http://127.0.0.1:8080/api/v3``.
    ``options`` are ccxt options merged over :func:`default_options`.

    >>> ExchangeSettings(id="binance").market_type
    'spot'
    >>> ExchangeSettings(id="binanceusdm").market_type  # a futures-only venue
    'swap'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="ccxt exchange id, e.g. 'binance'")
    market_type: MarketType = "spot"
    api_url: str | None = Field(default=None, description="REST base URL override")
    ws_url: str | None = Field(default=None, description="websocket base URL override")
    options: dict[str, Any] = Field(default_factory=dict, description="ccxt options")
    timeout_ms: int = Field(default=10_000, gt=0, description="per-request timeout")
    enable_rate_limit: bool = True
    rate_limit_ms: float | None = Field(
        default=None, ge=0, description="ms between requests; None keeps ccxt's per-exchange value"
    )
    sandbox: bool = False
    fee_side: Literal["get", "give", "base", "quote"] | None = Field(
        default=None,
        description=("which currency the venue charges spot fees in, when ccxt's market "
                     "feeSide is wrong or missing; None: ccxt's feeSide, else VENUE_FEE_SIDE"))

    @model_validator(mode="before")
    @classmethod
    def _swap_venue(cls, data: Any) -> Any:
        """A futures-only venue (``SWAP_ONLY_EXCHANGES``) trades swaps unless told otherwise."""
        if isinstance(data, dict) and data.get("id") in SWAP_ONLY_EXCHANGES \
                and "market_type" not in data:
            return {**data, "market_type": "swap"}
        return data

    @field_validator("id")
    @classmethod
    def _known_exchange(cls, value: str) -> str:
        if value not in ccxt.exchanges:
            hint = did_you_mean(value, ccxt.exchanges)
            raise ValueError(f"unknown ccxt exchange id {value!r}{hint}; "
                             "ccxt.exchanges lists every id")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str | None) -> str | None:
        return _check_base_url(value, ("http", "https"), "api_url")

    @field_validator("ws_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        return _check_base_url(value, ("ws", "wss"), "ws_url")

    def ccxt_options(self) -> dict[str, Any]:
        """The options the client is built with: defaults, then ``options`` on top."""
        return _deep_merge(default_options(self.id, self.market_type), self.options)


@dataclass(frozen=True, slots=True)
class Credentials:
    """API credentials; never printed (``repr`` hides them)."""

    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    password: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"


def _rewrite(url: str, base: str) -> str:
    """``base``'s scheme and host with ``url``'s path (``base``'s own path prefixed)."""
    src, dst = urlsplit(url), urlsplit(base)
    return urlunsplit((dst.scheme, dst.netloc, dst.path + src.path, src.query, src.fragment))


def _rewrite_tree(node: Any, base: str, schemes: tuple[str, ...]) -> Any:
    if isinstance(node, str):
        return _rewrite(node, base) if urlsplit(node).scheme in schemes else node
    if isinstance(node, dict):
        return {k: _rewrite_tree(v, base, schemes) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_tree(v, base, schemes) for v in node]
    return node


def redirect_urls(client: ccxt.Exchange, *, api_url: str | None, ws_url: str | None) -> None:
    """Point every API URL of ``client`` (live, test and demo sets) at the given bases."""
    for key in ("api", "test", "demo"):
        tree = client.urls.get(key)
        if tree is None:
            continue
        if api_url is not None:
            tree = _rewrite_tree(tree, api_url, ("http", "https"))
        if ws_url is not None:
            tree = _rewrite_tree(tree, ws_url, ("ws", "wss"))
        client.urls[key] = tree


def make_client(settings: ExchangeSettings, *, credentials: Credentials | None = None,
                async_: bool = False) -> ccxt.Exchange:
    """Build the ccxt client for ``settings``.

    ``async_=False``: the sync REST client. ``async_=True``: the ccxt.pro client
    (async REST plus websockets) where ccxt.pro supports the exchange, else the
    ccxt.async_support one; the caller must ``await client.close()``.
    """
    if async_:
        from ccxt import async_support, pro

        module = pro if settings.id in pro.exchanges else async_support
    else:
        module = ccxt
    config: dict[str, Any] = {
        "enableRateLimit": settings.enable_rate_limit,
        "timeout": settings.timeout_ms,
        "options": settings.ccxt_options(),
    }
    if settings.rate_limit_ms is not None:
        config["rateLimit"] = settings.rate_limit_ms
    if credentials is not None:
        redact_secrets_in_logs(credentials.api_key, credentials.secret, credentials.password)
        config.update({"apiKey": credentials.api_key, "secret": credentials.secret})
        if credentials.password is not None:
            config["password"] = credentials.password
    client = getattr(module, settings.id)(config)
    if settings.options.get("fetchCurrencies") is False:
        # Binance reads it as an option; OKX/Bybit only look at ``has``: without this,
        # their load_markets() makes a private currencies call (keys needed, and slow).
        client.has["fetchCurrencies"] = False
    redirect_urls(client, api_url=settings.api_url, ws_url=settings.ws_url)
    if settings.api_url is not None and settings.id == "binanceusdm":
        # ccxt 4.5.90 maps USDⓈ-M error codes (-2019 margin insufficient, -2022 reduce-only
        # rejected, -4046 margin type already set...) only on https://fapi.binance.com/;
        # on a redirected host (a proxy, an emulator) they would all be plain
        # ExchangeErrors: lift the linear table to the top level, as on the venue
        linear = client.exceptions.get("linear") or {}
        client.exceptions = {"exact": dict(linear.get("exact", {})),
                             "broad": dict(linear.get("broad", {}))}
    if settings.sandbox:
        try:
            client.set_sandbox_mode(True)
        except ccxt.NotSupported as exc:
            raise ConfigError(
                f"exchange {settings.id!r} has no sandbox in ccxt; set sandbox = false"
            ) from exc
    return client


# --- ccxt markets -> MarketSpec ----------------------------------------------------

def _step(value: Any, precision_mode: int) -> float | None:
    if value is None:
        return None
    if precision_mode == ccxt.TICK_SIZE:
        return float(value)
    if precision_mode == ccxt.DECIMAL_PLACES:
        return 10.0 ** -int(value)
    return None  # SIGNIFICANT_DIGITS has no fixed step


def _limit(market: Mapping[str, Any], kind: str) -> float:
    value = ((market.get("limits") or {}).get(kind) or {}).get("min")
    return float(value) if value is not None else 0.0


#: Spot venues whose fee side ccxt does not declare on the market (``feeSide``) although
#: their docs state it. OKX: "fee in the currency received" (docs v5, order channel
#: ``fee``/``feeCcy``; captured fills charge the base coin on buys).
VENUE_FEE_SIDE: Mapping[str, FeeSide] = {
    "okx": FeeSide.GET, "myokx": FeeSide.GET, "okxus": FeeSide.GET,
}


def market_fee_side(market: Mapping[str, Any], exchange_id: str | None = None,
                    override: str | None = None) -> FeeSide:
    """The fee side of one ccxt market: ``override`` (``ExchangeSettings.fee_side``), else
    the market's ``feeSide`` (Binance, Bybit: ``get``), else ``VENUE_FEE_SIDE``, else
    ccxt's default ``quote``.

    >>> market_fee_side({"feeSide": "get"}), market_fee_side({}, "okx").value
    (<FeeSide.GET: 'get'>, 'get')
    >>> market_fee_side({"feeSide": "get"}, "binance", override="quote").value
    'quote'
    """
    if override is not None:
        return FeeSide(override)
    declared = market.get("feeSide")
    if declared in ("get", "give", "base", "quote"):
        return FeeSide(declared)
    if exchange_id is not None and exchange_id in VENUE_FEE_SIDE:
        return VENUE_FEE_SIDE[exchange_id]
    return FeeSide.QUOTE


def market_specs_from_ccxt(markets: Mapping[str, Mapping[str, Any]], *,
                           precision_mode: int = ccxt.TICK_SIZE,
                           exchange_id: str | None = None,
                           fee_side: str | None = None,
                           tiers: Mapping[str, Any] | None = None) -> dict[str, MarketSpec]:
    """Trading rules per unified symbol from ccxt's ``load_markets()`` result.

    ``precision_mode`` is the client's ``precisionMode``: in TICK_SIZE mode (Binance
    and most exchanges) ``precision['price']`` is the tick and ``precision['amount']``
    the lot step; in DECIMAL_PLACES mode they are decimal counts. The fee side comes
    from :func:`market_fee_side` (``exchange_id``: the client's id; ``fee_side``: the
    config's override). A swap market carries its ``ContractSpec``
    (``adapters.ccxt.contracts``), its brackets from ``tiers`` (ccxt
    ``fetch_leverage_tiers``' answer, by symbol) when given.
    """
    specs: dict[str, MarketSpec] = {}
    for symbol, market in markets.items():
        precision = market.get("precision") or {}
        fees = {k: float(market[k]) for k in ("maker", "taker") if market.get(k) is not None}
        specs[symbol] = MarketSpec(
            symbol=symbol,
            tick_size=_step(precision.get("price"), precision_mode),
            lot_step=_step(precision.get("amount"), precision_mode),
            min_amount=_limit(market, "amount"),
            min_notional=_limit(market, "cost"),
            **{f"{k}_fee": v for k, v in fees.items()},
            # a linear swap charges its fees in the settle (quote) currency
            fee_side=(FeeSide.QUOTE if market.get("swap")
                      else market_fee_side(market, exchange_id, fee_side)),
            contract=contract_from_ccxt(market, (tiers or {}).get(symbol),
                                        exchange_id=exchange_id or ""),
        )
    return specs


# --- ccxt errors -> tradeloom errors -----------------------------------------------

class RateLimitedError(TransientExchangeError):
    """The exchange asked us to slow down (HTTP 429/418); ``retry_after_s`` if it said when."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


# (ccxt class, tradeloom class, what to do). First match wins, so subclasses first.
_ERROR_TABLE: tuple[tuple[type[Exception], type[TradeloomError], str], ...] = (
    (ccxt.AuthenticationError, ExchangeAuthenticationError,
     ("check the API key and secret (environment or secrets file), their permissions and "
      "IP whitelist")),
    (ccxt.InsufficientFunds, InsufficientFunds,
     "the account balance does not cover this order; reduce the size or fund the account"),
    (ccxt.BadSymbol, UnknownSymbol,
     "check the symbol against the exchange's markets (unified form, e.g. 'BTC/USDT')"),
    (ccxt.InvalidOrder, InvalidOrder,
     "the exchange refused the order; check it against the market's limits and precision"),
    (ccxt.OperationFailed, TransientExchangeError,
     ("temporary network or exchange trouble; retried with backoff - if it persists, check "
      "connectivity, the exchange status and the api_url setting")),
    (ccxt.BaseError, ExchangeError,
     "the exchange refused the request; read its message above"),
)


def map_ccxt_error(exc: BaseException, *, context: str = "",
                   retry_after_s: float | None = None) -> TradeloomError:
    """The tradeloom error for a ccxt exception; raise it ``from exc``.

    ``context`` (e.g. ``"binance fetch_ohlcv BTC/USDT 1h"``) leads the message.
    Rate limits (RateLimitExceeded/DDoSProtection) become :class:`RateLimitedError`
    carrying ``retry_after_s``. Request signatures and registered secrets are scrubbed
    from the message (``adapters.secrets.scrub``).
    """
    detail = scrub(str(exc)) or type(exc).__name__
    prefix = f"{context}: " if context else ""
    if isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
        return RateLimitedError(
            f"{prefix}rate limited by the exchange ({type(exc).__name__}: {detail}); retried "
            "after the advised delay - lower the request rate (rate_limit_ms) if it persists",
            retry_after_s=retry_after_s,
        )
    for ccxt_type, ours, hint in _ERROR_TABLE:
        if isinstance(exc, ccxt_type):
            return ours(f"{prefix}{type(exc).__name__}: {detail}; {hint}")
    return ExchangeError(f"{prefix}{type(exc).__name__}: {detail}; not a ccxt error")


def _retry_after(client: ccxt.Exchange) -> float | None:
    headers = getattr(client, "last_response_headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date instead of seconds: fall back to our own backoff
        return None


def call_ccxt(client: ccxt.Exchange, method: str, *args: Any, context: str = "",
              **kwargs: Any) -> Any:
    """``client.<method>(*args, **kwargs)`` with ccxt errors mapped by :func:`map_ccxt_error`."""
    try:
        return getattr(client, method)(*args, **kwargs)
    except ccxt.BaseError as exc:
        retry_after = _retry_after(client) if isinstance(
            exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)) else None
        raise map_ccxt_error(exc, context=context or f"{client.id} {method}",
                             retry_after_s=retry_after) from exc


# --- retries -----------------------------------------------------------------------

def backoff_delay(attempt: int, *, base_delay_s: float, max_delay_s: float,
                  rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (1-based): "equal jitter" exponential backoff.

    Half of ``min(max_delay_s, base_delay_s * 2**(attempt-1))`` is fixed, the other half
    drawn uniformly, so concurrent clients spread out but never retry immediately.
    """
    cap = min(max_delay_s, base_delay_s * 2 ** (attempt - 1))
    return cap / 2 + rng.uniform(0, cap / 2)


def retry_transient(fn: Callable[[], T], *, attempts: int, base_delay_s: float,
                    max_delay_s: float, rng: random.Random,
                    sleep: Callable[[float], None] = time.sleep,
                    on_retry: Callable[[int, float, TransientExchangeError], None] | None = None,
                    ) -> T:
    """Call ``fn`` up to ``attempts`` times, sleeping between tries on transient errors only.

    Any other error propagates at once. A :class:`RateLimitedError` with
    ``retry_after_s`` waits at least that long. After the last attempt the final error
    is raised again with the attempt count in its message.
    """
    if attempts < 1:
        raise ConfigError(f"retry attempts must be >= 1, got {attempts}")
    attempt = 1
    while True:
        try:
            return fn()
        except TransientExchangeError as err:
            if attempt >= attempts:
                raise TransientExchangeError(
                    f"{err} (gave up after {attempts} attempts)") from err
            delay = backoff_delay(attempt, base_delay_s=base_delay_s, max_delay_s=max_delay_s,
                                  rng=rng)
            advised = getattr(err, "retry_after_s", None)
            if advised is not None:
                delay = max(delay, advised)
            log.warning("transient exchange error (attempt %d/%d), retrying in %.2f s: %s",
                        attempt, attempts, delay, err)
            if on_retry is not None:
                on_retry(attempt, delay, err)
            sleep(delay)
            attempt += 1
