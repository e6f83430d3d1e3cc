"""Point a ccxt client's URL tree at an emulator, keeping every path.

Written independently of tradeloom's ``redirect_urls`` (the oracle must not share
product code) but with the same convention, so an emulator's ``api_url``/``ws_url``
work both here and as tradeloom's ``ExchangeSettings(api_url=..., ws_url=...)``:
scheme, host and port are replaced by the base's, the base's path is prefixed to
the original path (``/stream`` + ``/ws-api/v3``).

>>> rewrite_tree({"rest": "https://{hostname}", "ws": {"a": "wss://x.com:9443/ws"}},
...              "http://127.0.0.1:5", "ws://127.0.0.1:5/stream")
{'rest': 'http://127.0.0.1:5', 'ws': {'a': 'ws://127.0.0.1:5/stream/ws'}}
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit


def _rewrite(url: str, base: str) -> str:
    src, dst = urlsplit(url), urlsplit(base)
    return urlunsplit((dst.scheme, dst.netloc, dst.path + src.path, src.query, src.fragment))


def rewrite_tree(node: Any, http_base: str, ws_base: str) -> Any:
    """A copy of ``node`` (ccxt ``urls`` subtree) with http(s)/ws(s) URLs rewritten."""
    if isinstance(node, str):
        scheme = urlsplit(node).scheme
        if scheme in ("http", "https"):
            return _rewrite(node, http_base)
        if scheme in ("ws", "wss"):
            return _rewrite(node, ws_base)
        return node
    if isinstance(node, dict):
        return {key: rewrite_tree(value, http_base, ws_base) for key, value in node.items()}
    if isinstance(node, list):
        return [rewrite_tree(value, http_base, ws_base) for value in node]
    return node


def ccxt_urls(exchange_id: str, http_base: str, ws_base: str) -> dict[str, Any]:
    """The ``urls`` config for ``exchange_id`` (ccxt.pro's tree: REST and websocket
    URLs, live/test/demo sets) pointed at the emulator; pass it as ``config['urls']``."""
    import ccxt.pro

    urls = getattr(ccxt.pro, exchange_id)().urls
    return {key: rewrite_tree(urls[key], http_base, ws_base)
            for key in ("api", "test", "demo") if key in urls}
