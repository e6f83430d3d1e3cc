"""OKX v5 error answers.

Envelope (OKX docs "Error Code", REST): ``{"code": "...", "msg": "...", "data": [...]}``
with HTTP 200 for trade-class codes. Order operations answer per order in ``data``
with ``sCode``/``sMsg`` and an envelope ``code`` "1" (all failed), "2" (partly) or
"0"; a captured failure reads ``{"code":"1","data":[{"clOrdId":"...","ordId":"",
"sCode":"51000","sMsg":"Parameter px error ","tag":"","ts":"..."}],"inTime":"...",
"msg":"All operations failed","outTime":"..."}`` (okxapi/python-okx issue #97).
Texts are the docs' "Error Code" tables (www.okx.com/docs-v5/en/#error-code-rest-api-
public, mirrored in the code corpus), by code:

>>> OkxError.insufficient("BTC").msg
'Order failed. Insufficient BTC balance in account'
>>> OkxError.rate_limited().status, OkxError.rate_limited().code
(429, '50011')
"""

from __future__ import annotations

from typing import Any


class OkxError(Exception):
    """An OKX error: ``code`` (a string, as OKX sends it), ``msg``, HTTP ``status``."""

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.status = code, msg, status

    def envelope(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg, "data": []}

    # -- trade class (51xxx), "Error Code" / "Trade Class" ----------------------------
    @classmethod
    def bad_param(cls, name: str) -> OkxError:
        # 51000 "Parameter {param0} error"; the captured sMsg for an off-tick price
        # carries a trailing space: "Parameter px error " (python-okx issue #97)
        return cls("51000", f"Parameter {name} error ")

    @classmethod
    def no_instrument(cls) -> OkxError:
        return cls("51001", "Instrument ID, Instrument ID code or Spread ID doesn't exist.")

    @classmethod
    def insufficient(cls, ccy: str) -> OkxError:
        return cls("51008", f"Order failed. Insufficient {ccy} balance in account")

    @classmethod
    def duplicate_client_id(cls) -> OkxError:
        return cls("51016", "Client order ID already exists.")

    @classmethod
    def below_min_size(cls) -> OkxError:
        return cls("51020", "Your order should meet or exceed the minimum order amount.")

    @classmethod
    def not_lot_multiple(cls) -> OkxError:
        return cls("51121", "Order quantity must be a multiple of the lot size.")

    @classmethod
    def cancel_failed(cls) -> OkxError:
        return cls("51400", "Order cancellation failed as the order has been filled, "
                            "canceled or does not exist.")

    @classmethod
    def no_order(cls) -> OkxError:
        return cls("51603", "Order does not exist.")

    # -- general / API class (50xxx) --------------------------------------------------
    @classmethod
    def rate_limited(cls) -> OkxError:
        return cls("50011", "Too Many Requests", 429)

    @classmethod
    def empty_param(cls, name: str) -> OkxError:
        return cls("50014", f"Parameter {name} can not be empty.", 400)
